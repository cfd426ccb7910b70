//! Runs every guest test module under `guests/` through the vmm runtime, in both paging modes,
//! each in a fresh machine small enough that the guests' `vmm_reclaim` calls and growth page
//! memory out and back. C modules need clang; without it they are reported as skipped on standard
//! error (and fail under `VMM_REQUIRE_TOOLS=1`, as on CI).

use std::path::PathBuf;
use vmm::runtime::Runtime;
use vmm::vm::pmap::PagingMode;
use vmm::{MachineConfig, Semantics, SwapBacking};
use vmm_cli::testing::{
    can_build_c, clang_available, find_tests, run_test, rust_target_available, skip,
    skip_for_privilege, TestResult,
};

/// Whether the tests run as root, where the host kernel can run every portable program.
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    // /proc/self belongs to the process's effective user.
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn run_all(mode: PagingMode) {
    let rt = Runtime::new().unwrap();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let tests = find_tests(&[
        dir.join("wat"),
        dir.join("c"),
        dir.join("posix"),
        dir.join("rust"),
    ])
    .unwrap();
    assert!(tests.len() >= 30, "found only {tests:?}");
    assert!(
        tests.iter().filter(|t| t.is_dir()).count() >= 2,
        "no Rust guests found: {tests:?}"
    );
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
            TestResult::Skipped(_) => {
                let (could, tool) = if t.is_dir() {
                    (rust_target_available(), "the wasm32 Rust target")
                } else {
                    (can_build_c(t), "clang and wasi-libc for wasm32")
                };
                skip(&format!("{} ({mode:?} paging)", t.display()), tool);
                assert!(
                    !could,
                    "{} was skipped although it can be built here",
                    t.display()
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
        return skip_for_privilege("guest_tests_pass_with_userfaultfd_paging", "userfaultfd is not permitted here (the kernel or a seccomp profile refuses it): the primary paging mode is not tested in this run");
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
    let spec = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("spec");
    let mut scripts: Vec<_> = std::fs::read_dir(&spec)
        .unwrap_or_else(|e| panic!("{}: {e}", spec.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wast"))
        .collect();
    scripts.sort();
    assert!(scripts.len() >= 18, "found only {scripts:?}");
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
        let r = vmm_cli::wast::run_script(&rt, &m, &s.display().to_string(), &text, true).unwrap();
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
        return skip(
            "wiring_interactions_break_under_netbsd_2019_and_hold_under_proposed",
            "clang for wasm32",
        );
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
            // Every stated expectation holds: `proposed` passes, `netbsd-2019` breaks (each
            // scenario says how), and each other rule set does what the scenario's line for it
            // says (passes where there is none).
            let good = match sem {
                Semantics::Proposed => matches!(r, TestResult::Passed(_)),
                Semantics::Netbsd2019 => matches!(r, TestResult::BrokeAsExpected(_)),
                _ => r.is_ok(),
            };
            if !good {
                failures.push(format!("{} under {sem}: {r:?}", t.display()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// What a portable program printed and its exit status.
#[derive(Debug, PartialEq, Eq)]
struct Observed {
    stdout: String,
    status: i32,
}

/// Builds `src` with the host's C compiler and runs it with `args` and exactly `env`.
fn run_native(
    src: &std::path::Path,
    out: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Option<Observed> {
    let exe = out.join(src.file_stem().unwrap());
    let built = std::process::Command::new("cc")
        .args(["-Wall", "-O1", "-o"])
        .arg(&exe)
        .arg(src)
        .status()
        .ok()?;
    assert!(built.success(), "{} does not build natively", src.display());
    let o = std::process::Command::new(&exe)
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap();
    Some(Observed {
        stdout: String::from_utf8(o.stdout).unwrap(),
        status: o.status.code().unwrap(),
    })
}

/// Builds `src` as a guest and runs it on a small machine that pages, with `args` and `env`.
fn run_guest(
    src: &std::path::Path,
    out: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Observed, vmm::Stats) {
    use std::sync::Arc;
    use vmm::runtime::{run_guests_io, wasi, DumpConfig, GuestSpec, Run};
    let rt = Runtime::new().unwrap();
    let wasm = vmm_cli::testing::build_c(src, out).unwrap().unwrap();
    let module = rt.load(&wasm).unwrap();
    let m = vmm::Machine::new(
        MachineConfig::default()
            .phys_mem(1 << 20)
            .swap(16 << 20)
            .swap_backing(SwapBacking::Memory),
    )
    .unwrap();
    let stdout = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let sink = stdout.clone();
    let stdio: wasi::StdioSink = Arc::new(move |_, s, b| {
        if s == wasi::Stream::Out {
            sink.lock().extend_from_slice(b);
        }
    });
    let mut spec = GuestSpec::new(module);
    spec.wasi.program = src.file_stem().unwrap().to_string_lossy().into_owned();
    spec.wasi.args = args.iter().map(|s| s.to_string()).collect();
    spec.wasi.env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let run = Run::with_io(1, |_, _| {}, stdio, DumpConfig::default());
    let o = run_guests_io(&rt, &m, vec![spec], run).remove(0);
    m.audit().unwrap();
    let status = o
        .result
        .unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    let text = String::from_utf8(stdout.lock().clone()).unwrap();
    (
        Observed {
            stdout: text,
            status,
        },
        m.stats(),
    )
}

/// The portable programs of `posix/` print the same observations and end with the same status
/// as a guest as when built with the host's compiler and run natively (where the machine's
/// rules and Linux's agree, which these programs keep to).
#[test]
fn portable_programs_behave_as_guests_as_they_do_natively() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("posix");
    if !vmm_cli::testing::wasi_libc_available() {
        return skip(
            "portable_programs_behave_as_guests_as_they_do_natively",
            "wasi-libc for wasm32",
        );
    }
    let work = tempfile::tempdir().unwrap();
    type Case<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)]);
    let cases: [Case; 4] = [
        ("mlock_basics.c", &[], &[]),
        ("output_after_paging.c", &[], &[]),
        ("shm_basics.c", &[], &[]),
        (
            "args_env_exit.c",
            &["3", "two words"],
            &[("GREETING", "hello there")],
        ),
    ];
    for (name, args, env) in cases {
        let src = dir.join(name);
        let Some(native) = run_native(&src, work.path(), args, env) else {
            eprintln!("no host C compiler: {name} is checked as a guest only");
            continue;
        };
        let (guest, stats) = run_guest(&src, work.path(), args, env);
        if name == "output_after_paging.c" {
            assert!(
                stats.evictions > 0 && stats.page_ins > 0,
                "{name} did not page: {stats:?}"
            );
        }
        assert_eq!(
            guest, native,
            "{name}: the guest and the native build differ"
        );
        assert!(
            native.stdout.lines().count() >= 3,
            "{name} printed too little"
        );
    }
}

/// `vmm diff`'s comparison for every portable program of `posix/`: built with the host's C
/// compiler and run natively, built as guests and run under the rule set that stands for this
/// host's kernel, both print the same lines and end with the same status. Where the host cannot
/// run a program (not Linux, not privileged) it is skipped with the reason.
#[test]
fn every_portable_program_prints_what_the_host_kernel_prints() {
    use vmm_cli::diff::{compare, host_semantics, Outcome};
    if !vmm_cli::testing::wasi_libc_available() {
        return skip(
            "every_portable_program_prints_what_the_host_kernel_prints",
            "wasi-libc for wasm32",
        );
    }
    let Some(sem) = host_semantics() else {
        return skip_for_privilege(
            "every_portable_program_prints_what_the_host_kernel_prints",
            "no rule set stands for this host kernel (it is not Linux)",
        );
    };
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("posix");
    let mut programs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    programs.sort();
    assert!(
        programs.len() >= 12,
        "only {} portable programs",
        programs.len()
    );
    let multi = programs
        .iter()
        .filter(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            vmm_cli::diff::processes(&text).unwrap() > 1
        })
        .count();
    assert!(multi >= 3, "only {multi} programs run several processes");
    let rt = Runtime::new().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (mut same, mut differ, mut skipped) = (0, Vec::new(), Vec::new());
    for p in &programs {
        let (args, env): (Vec<String>, Vec<(String, String)>) = if p.ends_with("args_env_exit.c") {
            (
                vec!["3".into(), "two words".into()],
                vec![("GREETING".into(), "hello there".into())],
            )
        } else {
            (vec![], vec![])
        };
        let run = vmm_cli::diff::GuestRun {
            args,
            env,
            ..vmm_cli::diff::GuestRun::host()
        };
        match compare(&rt, p, sem, work.path(), &run).unwrap() {
            Outcome::Same(o) => {
                assert!(
                    o.stdout.lines().count() >= 3,
                    "{} printed too little",
                    p.display()
                );
                same += 1;
            }
            Outcome::Differs(d) => differ.push(format!("{}:\n{d}", p.display())),
            Outcome::Skipped(why) => skipped.push(format!("{}: {why}", p.display())),
        }
    }
    // As root the host runs every program (mlock, SHM_LOCK and the lock limits need no more
    // privilege than that), so a program the host could not run is a failure there; elsewhere
    // each is reported as skipped.
    if is_root() {
        assert!(
            skipped.is_empty(),
            "the host could not run, as root:\n{}",
            skipped.join("\n")
        );
    }
    for s in &skipped {
        skip_for_privilege(
            "every_portable_program_prints_what_the_host_kernel_prints",
            s,
        );
    }
    assert!(same >= 1, "no portable program ran on both sides");
    assert!(
        differ.is_empty(),
        "native and vmm ({sem}) differ:\n{}",
        differ.join("\n")
    );
    eprintln!(
        "{same} of {} programs print the same natively and under {sem}",
        programs.len()
    );
}

/// The other rule sets really differ from the host where the kernels do: `proposed` brings a
/// SHM_LOCKed segment in at once, Linux does not, and `vmm diff` shows it.
#[test]
fn a_rule_set_that_is_not_the_hosts_shows_its_difference() {
    use vmm_cli::diff::{compare, host_semantics, Outcome};
    const TEST: &str = "a_rule_set_that_is_not_the_hosts_shows_its_difference";
    if !vmm_cli::testing::wasi_libc_available() {
        return skip(TEST, "wasi-libc for wasm32");
    }
    if host_semantics() != Some(Semantics::Linux) {
        return skip_for_privilege(TEST, "the host kernel is not Linux");
    }
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("posix/shm_lock_residency.c");
    let rt = Runtime::new().unwrap();
    let work = tempfile::tempdir().unwrap();
    let run = vmm_cli::diff::GuestRun::host();
    match compare(&rt, &src, Semantics::Proposed, work.path(), &run).unwrap() {
        Outcome::Differs(d) => {
            assert!(d.contains("-locked, untouched: 0 0 0 0"), "{d}");
            assert!(d.contains("+locked, untouched: 1 1 1 1"), "{d}");
        }
        Outcome::Skipped(why) if !is_root() => skip_for_privilege(TEST, &why),
        other => panic!("expected a difference, got {other:?}"),
    }
}
