//! Runs every port of a public kernel test suite in `guests/ported/` ([docs/ported.md]) the way
//! `vmm diff` does: built with the host's C compiler and run natively, built as a guest and run
//! under the rule set that stands for the host kernel (`linux`), the two outputs and exit
//! statuses compared. A program prints what the host prints, or it is in [`BLOCKED`] with what
//! it is waiting for, and then it must still differ or fail to build: a program that starts
//! printing what the host prints fails this test until its line leaves the table, so the table
//! cannot go stale. Every program builds natively, the forking ones ([`FORKING`]) included.
//!
//! Needs clang and wasi-libc for the guest builds; without them the test is reported as skipped
//! (and fails under `VMM_REQUIRE_TOOLS=1`, as the other guest tests do).
//!
//! [docs/ported.md]: ../../docs/ported.md

use std::path::{Path, PathBuf};
use std::time::Instant;
use vmm::runtime::Runtime;
use vmm::Semantics;
use vmm_cli::diff::{guest, host_refuses, host_semantics, native, unified, GuestRun, Observed};
use vmm_cli::testing::{skip, skip_for_privilege, wasi_libc_available};

/// Programs that do not yet print under vmm what Linux prints, each with the first thing it
/// waits for (docs/ported.md has every difference and its cause).
const BLOCKED: &[(&str, &str)] = &[
    ("freebsd_mlock_test.c", "<sys/ptrace.h>, fork, waitpid; file-backed mmap (MAP_SHARED of a file)"),
    ("gvisor_mlock.c", "mremap (MREMAP_MAYMOVE), fork"),
    ("gvisor_mmap_lock_protect.c", "<setjmp.h>, sigaction and SIGSEGV delivery, fork"),
    ("gvisor_shm.c", "<signal.h> (SIGSEGV), ipc_perm.__key, fork"),
    ("ltp_mincore01.c", "munmap(NULL, 8192) in its cleanup unmaps the guest's own first pages (wasm data starts at address 0), file-backed mmap"),
    ("ltp_mincore02.c", "file-backed mmap (MAP_SHARED of a file: ENODEV)"),
    ("ltp_mincore04.c", "<sys/wait.h>, pipe, fork, file-backed mmap"),
    ("ltp_shmctl05.c", "<pthread.h> (threads), syscall(SYS_remap_file_pages)"),
    ("ltp_shmctl06.c", "wasm32 has the time_high fields x86_64 lacks, so the guest runs the check the host skips"),
    ("ltp_shmget05.c", "writing /proc/sys/kernel/shm_next_id (read-only here: EACCES)"),
    ("ltp_shmget06.c", "writing /proc/sys/kernel/shm_next_id (read-only here: EACCES)"),
    ("ltp_shmt02.c", "fork"),
    ("ltp_shmt04.c", "fork"),
    ("ltp_shmt07.c", "fork"),
    ("ltp_shmt09.c", "sbrk of a negative increment (wasi-libc aborts)"),
    ("ltp_shmt10.c", "fork"),
    ("netbsd_t_sysv_shm.c", "<signal.h> (sigaction, SIGCHLD, sigsuspend), <sys/wait.h>, fork"),
];

/// Programs with a case that forks (`ported_fork`, which is ENOSYS for a guest): they must
/// build natively.
const FORKING: &[&str] = &[
    "freebsd_mlock_test.c",
    "gvisor_mlock.c",
    "gvisor_mmap_lock_protect.c",
    "gvisor_shm.c",
    "ltp_mincore04.c",
    "ltp_shmt02.c",
    "ltp_shmt04.c",
    "ltp_shmt07.c",
    "ltp_shmt10.c",
    "netbsd_t_sysv_shm.c",
];

/// Whether the tests run as root, where the host runs every program (they say
/// `// vmm-needs: root` where they need privilege).
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    // /proc/self belongs to the process's effective user.
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// How the guest side came out.
enum Guest {
    /// It printed what the host printed and ended with the same status.
    Same,
    /// It ran and printed something else: the unified diff, native first.
    Differs(String),
    /// It did not build, or did not finish (a trap, a broken machine): why.
    Failed(String),
}

fn with_status(o: &Observed) -> String {
    let mut s = o.stdout.clone();
    if !s.is_empty() && !s.ends_with('\n') {
        s.push('\n');
    }
    s.push_str(&format!("[exit status {}]\n", o.status));
    s
}

fn first_line(s: &str) -> &str {
    s.lines()
        .find(|l| l.starts_with('+') && !l.starts_with("+++"))
        .or_else(|| s.lines().next())
        .unwrap_or("")
}

#[test]
fn every_ported_kernel_test_prints_what_linux_prints_or_is_blocked_as_listed() {
    const TEST: &str = "every_ported_kernel_test_prints_what_linux_prints_or_is_blocked_as_listed";
    if !wasi_libc_available() {
        return skip(TEST, "clang and wasi-libc for wasm32");
    }
    if host_semantics() != Some(Semantics::Linux) {
        return skip_for_privilege(
            TEST,
            "the ports' expectations are Linux's; this host is not Linux",
        );
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ported");
    let mut programs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    programs.sort();
    assert!(
        programs.len() >= 27,
        "only {} ported programs",
        programs.len()
    );
    let name = |p: &Path| p.file_name().unwrap().to_str().unwrap().to_string();
    let names: Vec<String> = programs.iter().map(|p| name(p)).collect();
    for (b, _) in BLOCKED {
        assert!(
            names.iter().any(|n| n == b),
            "BLOCKED names {b}, which is not in guests/ported/"
        );
    }
    for f in FORKING {
        assert!(
            names.iter().any(|n| n == f),
            "FORKING names {f}, which is not in guests/ported/"
        );
    }

    let rt = Runtime::new().unwrap();
    let started = Instant::now();
    let mut failures = Vec::new();
    let (mut same, mut blocked) = (0, 0);
    for p in &programs {
        let n = name(p);
        let t0 = Instant::now();
        let text = std::fs::read_to_string(p).unwrap();
        assert_eq!(
            text.contains(" * Forks:"),
            FORKING.contains(&n.as_str()),
            "{n}: its header's `Forks:` line and FORKING disagree"
        );
        if let Some(why) = host_refuses(&text) {
            assert!(!is_root(), "{n}: the host refuses it as root: {why}");
            skip_for_privilege(TEST, &format!("{n}: {why}"));
            continue;
        }
        let work = tempfile::tempdir().unwrap();
        let host = match native(p, work.path(), &[], &[]) {
            Ok(Ok(o)) => o,
            Ok(Err(why)) => return skip(TEST, &format!("a host C compiler ({why})")),
            Err(e) => {
                failures.push(format!("{n}: does not build or run natively: {e:#}"));
                continue;
            }
        };
        let outcome = match guest(&rt, p, Semantics::Linux, work.path(), &GuestRun::host()) {
            Ok(Ok(g)) if g == host => Guest::Same,
            Ok(Ok(g)) => Guest::Differs(unified(
                &with_status(&host),
                &with_status(&g),
                "native",
                "vmm (linux)",
            )),
            Ok(Err(why)) => return skip(TEST, &why),
            Err(e) => Guest::Failed(format!("{e:#}")),
        };
        let listed = BLOCKED.iter().find(|(b, _)| *b == n).map(|(_, why)| *why);
        let secs = t0.elapsed().as_secs_f32();
        match (listed, &outcome) {
            (None, Guest::Same) => {
                same += 1;
                eprintln!("same     {n} ({secs:.1} s)");
            }
            (None, Guest::Differs(d)) => failures.push(format!("{n} differs from the host:\n{d}")),
            (None, Guest::Failed(why)) => failures.push(format!("{n}: {why}")),
            (Some(_), Guest::Same) => failures.push(format!(
                "{n} now prints what the host prints: take it out of BLOCKED (and docs/ported.md)"
            )),
            (Some(why), Guest::Differs(d)) => {
                blocked += 1;
                eprintln!(
                    "blocked  {n}: {why}; differs, first: {} ({secs:.1} s)",
                    first_line(d)
                );
            }
            (Some(why), Guest::Failed(e)) => {
                blocked += 1;
                eprintln!("blocked  {n}: {why}; {e} ({secs:.1} s)");
            }
        }
    }
    eprintln!(
        "{same} same, {blocked} blocked, of {} ported programs, in {:.0} s",
        programs.len(),
        started.elapsed().as_secs_f32()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
