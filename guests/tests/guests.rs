//! Runs every guest test module under `guests/` through the vmm runtime, in both paging modes,
//! each in a fresh machine small enough that the guests' `vmm_reclaim` calls and growth page
//! memory out and back. C modules need clang; without it they are reported as skipped.

use std::path::PathBuf;
use vmm::pmap::PagingMode;
use vmm::runtime::testing::{clang_available, find_tests, run_test, TestResult};
use vmm::runtime::Runtime;
use vmm::{MachineConfig, Semantics, SwapBacking};

fn run_all(mode: PagingMode) {
    let rt = Runtime::new().unwrap();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let tests = find_tests(&[dir.join("wat"), dir.join("c")]).unwrap();
    assert!(tests.len() >= 10, "found only {tests:?}");
    let mut cfg = MachineConfig::default()
        .phys_mem(1 << 20)
        .swap(16 << 20)
        .swap_backing(SwapBacking::Memory)
        .free_target(8);
    cfg.paging = Some(mode);
    let work = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for t in &tests {
        match run_test(&rt, &cfg, t, work.path(), true) {
            TestResult::Passed(st) => eprintln!(
                "ok      {} ({mode:?}, {} page-ins, {} evictions)",
                t.display(),
                st.page_ins,
                st.evictions
            ),
            TestResult::Skipped(why) => {
                eprintln!("skipped {}: {why}", t.display());
                assert!(
                    !clang_available(),
                    "a test was skipped although clang is here"
                );
            }
            TestResult::Failed(why) => failures.push(format!("{}: {why}", t.display())),
            TestResult::BrokeAsExpected(how) => failures.push(format!(
                "{}: only the netbsd-2019 rules may break a test: {how}",
                t.display()
            )),
        }
    }
    assert!(failures.is_empty(), "{mode:?}:\n{}", failures.join("\n"));
}

#[test]
fn guest_tests_pass_with_userfaultfd_paging() {
    if PagingMode::detect().0 != PagingMode::Userfault {
        eprintln!("userfaultfd is not permitted here; the protect-mode run covers the guests");
        return;
    }
    run_all(PagingMode::Userfault);
}

#[test]
fn guest_tests_pass_with_protection_fault_paging() {
    run_all(PagingMode::Protect);
}

#[test]
fn spec_scripts_pass_with_every_page_evicted_after_each_directive() {
    let rt = Runtime::new().unwrap();
    let spec = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/spec");
    let mut scripts: Vec<_> = std::fs::read_dir(&spec)
        .unwrap_or_else(|e| panic!("{}: {e}", spec.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wast"))
        .collect();
    scripts.sort();
    assert!(scripts.len() >= 5);
    let (mut page_ins, mut passed) = (0, 0);
    for s in &scripts {
        let m = vmm::Machine::new(
            MachineConfig::default()
                .phys_mem(32 << 10)
                .swap(64 << 20)
                .swap_backing(SwapBacking::Memory),
        )
        .unwrap();
        let text = std::fs::read_to_string(s).unwrap();
        let r =
            vmm::runtime::wast::run_script(&rt, &m, &s.display().to_string(), &text, true).unwrap();
        assert!(r.failures.is_empty(), "{}", r.failures.join("\n"));
        m.audit().unwrap();
        page_ins += m.stats().page_ins;
        passed += r.passed;
    }
    eprintln!("{passed} directives passed, {page_ins} page-ins");
    assert!(
        page_ins > 200,
        "the scripts must really page ({page_ins} page-ins)"
    );
}

/// Every scenario in `wiring-interactions/` passes under the proposed rules and breaks under
/// `netbsd-2019` exactly as its `netbsd-2019:` line says NetBSD broke.
#[test]
fn wiring_interactions_break_under_netbsd_2019_and_hold_under_proposed() {
    if !clang_available() {
        eprintln!("clang is not here: the wiring-interactions scenarios are C; skipped");
        return;
    }
    let rt = Runtime::new().unwrap();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("wiring-interactions");
    let tests = find_tests(&[dir]).unwrap();
    assert!(tests.len() >= 5, "found only {tests:?}");
    let work = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for t in &tests {
        let text = std::fs::read_to_string(t).unwrap();
        assert!(
            text.contains("// netbsd-2019: "),
            "{}: a scenario must say how the old rules break it",
            t.display()
        );
        for sem in Semantics::ALL {
            let cfg = MachineConfig::default()
                .semantics(sem)
                .phys_mem(1 << 20)
                .swap(16 << 20)
                .swap_backing(SwapBacking::Memory);
            let r = run_test(&rt, &cfg, t, work.path(), true);
            eprintln!("{} under {sem}: {r:?}", t.display());
            let good = match sem {
                Semantics::Proposed => matches!(r, TestResult::Passed(_)),
                Semantics::Netbsd2019 => matches!(r, TestResult::BrokeAsExpected(_)),
            };
            if !good {
                failures.push(format!("{} under {sem}: {r:?}", t.display()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
