//! The `vmm` command as a person meets it: clear one-line errors, exit codes, closing lines.

use std::process::Command;
use vmm_cli::testing::{clang_available, skip, skip_for_privilege, wasi_libc_available};

fn vmm(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_vmm"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

#[test]
fn test_command_closes_with_the_counts() {
    let (code, out, _) = vmm(&["test", "-q", "--phys-mem", "512K", "../guests/wat"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.lines().last().unwrap().ends_with("passed, 0 failed"),
        "{out}"
    );
    assert!(out.contains("ok      ../guests/wat/abi_smoke.wat"));
}

#[test]
fn run_reports_stats_and_guest_failures() {
    let (code, _, err) = vmm(&["run", "--phys-mem", "256K", "../guests/wat/abi_smoke.wat"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("1 guests;") && err.contains("1 evictions"),
        "{err}"
    );
    let (code, _, err) = vmm(&["run", "../guests/wat/unmapped_access_traps.wat"]);
    assert_eq!(code, 1);
    assert!(err.contains("guest 0 failed"), "{err}");
}

#[test]
fn bad_input_gives_one_line_and_no_panic() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"\0asm\x01\0\0\0\xff\xff").unwrap();
    let cases: Vec<Vec<String>> = vec![
        vec![
            "run".into(),
            "--phys-mem".into(),
            "12Q".into(),
            "x.wat".into(),
        ],
        vec!["run".into(), "no-such-file.wasm".into()],
        vec!["run".into(), junk.display().to_string()],
        vec![
            "run".into(),
            "--phys-mem".into(),
            "0".into(),
            "../guests/wat/abi_smoke.wat".into(),
        ],
        vec![
            "run".into(),
            "--paging".into(),
            "magic".into(),
            "../guests/wat/abi_smoke.wat".into(),
        ],
        vec!["wast".into(), "no-such.wast".into()],
        vec!["test".into(), "no-such-dir".into()],
        vec!["frobnicate".into()],
    ];
    for c in cases {
        let args: Vec<&str> = c.iter().map(|s| s.as_str()).collect();
        let (code, _, err) = vmm(&args);
        assert!(code == 1 || code == 2, "{args:?}: exit {code}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.trim().is_empty(), "{args:?}: no message");
        if code == 1 {
            assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
            assert!(err.starts_with("vmm: "), "{args:?}: {err}");
        }
    }
}

/// More guests than can run at once: clap's range for `--copies`, and the total over several
/// modules, each refused with a message that names the limit.
#[test]
fn too_many_guests_are_refused_with_the_limit_named() {
    let t = "../guests/wat/abi_smoke.wat";
    let (code, _, err) = vmm(&["run", "--copies", "20000", t]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("1..=16384"), "{err}");
    let (code, _, err) = vmm(&["run", "--copies", "16384", t, t]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("32768 guests") && err.contains("at most 16384"),
        "{err}"
    );
    // Within the registry but past what the host's mapping limit holds: refused before any
    // guest starts, with the limit named and the way to lift it.
    let (code, _, err) = vmm(&["run", "--copies", "16384", t]);
    if std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .is_ok_and(|s| s.trim().parse::<u64>().is_ok_and(|m| m < 16384 * 6))
    {
        assert_eq!(code, 1, "{err}");
        assert!(
            err.contains("vm.max_map_count") && err.contains("guests fit"),
            "{err}"
        );
    }
    assert!(!err.contains("panicked"), "{err}");
}

/// Many guests in one process: each attaches one segment, mlocks a private page and meets the
/// others (`vmm run --copies 10000` is the full-size run; this one keeps CI short).
#[test]
fn two_thousand_guests_attach_one_segment_and_meet() {
    if !clang_available() {
        return skip(
            "two_thousand_guests_attach_one_segment_and_meet",
            "clang for wasm32",
        );
    }
    let (code, _, err) = vmm(&["run", "--copies", "2000", "../guests/c/many_guests_meet.c"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("vmm: 2000 guests;") && err.contains("peak wired 2000 of"),
        "{err}"
    );
}

#[test]
fn old_rules_replay_side_by_side_and_report_the_corruption() {
    if !clang_available() {
        return skip(
            "old_rules_replay_side_by_side_and_report_the_corruption",
            "clang for wasm32",
        );
    }
    let seed = "../guests/wiring-interactions/shm_lock_munlock_unlock_twice.c";
    let (code, out, _) = vmm(&["test", "-q", "--semantics", "netbsd-2019", seed]);
    assert_eq!(code, 0, "{out}");
    let row = out.lines().rfind(|l| l.starts_with(seed)).expect(&out);
    assert!(row.contains("ok, audit clean"), "{row}");
    assert!(row.ends_with("corrupt: object-unwired-twice"), "{row}");
    assert!(out.contains("shmctl(0, SHM_UNLOCK) = -EIO"), "{out}");

    // `run` under the old rules: the guest traps, stderr carries the report, exit status 1.
    let (code, _, err) = vmm(&["run", "--semantics", "netbsd-2019", seed]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("guest 0 failed: machine state corrupt: object-unwired-twice"),
        "{err}"
    );
    assert!(
        err.contains("machine state corrupt (netbsd-2019 rules): object-unwired-twice"),
        "{err}"
    );
    assert!(err.contains("calls that led to it"), "{err}");
    // The fix holds.
    let (code, _, err) = vmm(&["run", seed]);
    assert_eq!(code, 0, "{err}");

    let (code, _, err) = vmm(&["test", "--semantics", "netbsd", seed]);
    assert_eq!(code, 2);
    assert!(
        err.contains("proposed, netbsd-2019, linux, freebsd, illumos, or all"),
        "{err}"
    );
}

#[test]
fn dumps_at_exit_as_json_parse_and_describe_each_guest() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dump.jsonl");
    let guest = dir.path().join("dumper.wat");
    std::fs::write(
        &guest,
        r#"(module
  (import "vmm" "mmap" (func $mmap (param i32 i32 i32 i32) (result i32)))
  (import "vmm" "mlock" (func $mlock (param i32 i32) (result i32)))
  (import "vmm" "vmm_dump" (func $dump (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "main") (result i32)
    (local $a i32)
    (local.set $a (call $mmap (i32.const 0) (i32.const 8192) (i32.const 3) (i32.const 0x1002)))
    (drop (call $mlock (local.get $a) (i32.const 4096)))
    (call $dump (i32.const 1))))"#,
    )
    .unwrap();
    let (code, _, err) = vmm(&[
        "run",
        "--copies",
        "2",
        "--dump-at-exit",
        "--dump-pages",
        "--format",
        "json",
        "--dump-file",
        file.to_str().unwrap(),
        guest.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&file).unwrap();
    let values: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    // Each guest's vmm_dump call and its dump at exit.
    let maps: Vec<_> = values.iter().filter(|v| v["kind"] == "map").collect();
    assert_eq!(maps.len(), 4, "{text}");
    let mut guests: Vec<u64> = maps.iter().map(|m| m["guest"].as_u64().unwrap()).collect();
    guests.sort();
    assert_eq!(guests, [0, 0, 1, 1]);
    for m in &maps {
        let entries = m["entries"].as_array().unwrap();
        assert!(!entries.is_empty());
        // Every page of every entry is in exactly one run.
        for e in entries {
            let pages: u64 = e["pages_detail"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["pages"].as_u64().unwrap())
                .sum();
            assert_eq!(pages, e["pages"].as_u64().unwrap());
        }
        let locked: Vec<_> = entries.iter().filter(|e| e["mlocked"] == true).collect();
        assert_eq!(locked.len(), 1, "{m}");
        assert_eq!(locked[0]["pages_detail"][0]["wire_count"], 1);
        assert_eq!(m["locked_pages"], 1);
    }
    let last = values.last().unwrap();
    assert_eq!(last["kind"], "machine");
    assert_eq!(
        last["guests"].as_array().unwrap().len(),
        0,
        "every guest has exited"
    );
    assert_eq!(last["wired_frames"], 0);

    let (code, _, err) = vmm(&["run", "--format", "xml", "../guests/wat/abi_smoke.wat"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn rust_log_turns_on_structured_events() {
    let run = |log: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_vmm"));
        c.args(["run", "--phys-mem", "256K", "../guests/wat/abi_smoke.wat"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_remove("RUST_LOG");
        if let Some(l) = log {
            c.env("RUST_LOG", l);
        }
        let o = c.output().unwrap();
        assert!(o.status.success());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let quiet = run(None);
    assert!(!quiet.contains("vmm::map"), "{quiet}");
    let loud = run(Some("vmm::map=debug,vmm::pdaemon=trace"));
    // Plain text when stderr is not a terminal: one event per line, target then message.
    assert!(!loud.contains('\x1b'), "{loud}");
    assert!(
        loud.lines()
            .any(|l| l.contains("vmm::map: map guest=0 start=0")),
        "{loud}"
    );
    assert!(
        loud.lines().any(|l| l.contains("vmm::pdaemon: evict")),
        "{loud}"
    );
}

#[test]
fn guest_identities_come_from_the_command_line() {
    if !clang_available() {
        return skip(
            "guest_identities_come_from_the_command_line",
            "clang for wasm32",
        );
    }
    let t = "../guests/c/permissions_and_isolation.c";
    let (code, _, err) = vmm(&["run", "--copies", "2", "--guest-cred", "1=1000:100", t]);
    assert_eq!(code, 0, "{err}");
    // As root, guest 1 is let do what the test expects refused.
    let (code, _, err) = vmm(&["run", "--copies", "2", t]);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("guest 1 returned"), "{err}");
    let (code, _, err) = vmm(&["run", "--copies", "2", "--guest-cred", "5=1:1", t]);
    assert_eq!(code, 1);
    assert!(err.contains("there are only 2 guests"), "{err}");
    let (code, _, err) = vmm(&["run", "--cred", "root", t]);
    assert_eq!(code, 2);
    assert!(err.contains("not uid:gid"), "{err}");
}

/// A standard C program runs unchanged: its arguments after `--`, only the environment given
/// with `--env`, its output on stdout, and its exit status as vmm's.
#[test]
fn a_portable_program_gets_its_arguments_environment_and_exit_status() {
    if !wasi_libc_available() {
        return skip(
            "a_portable_program_gets_its_arguments_environment_and_exit_status",
            "wasi-libc for wasm32",
        );
    }
    let t = "../guests/posix/args_env_exit.c";
    let (code, out, err) = vmm(&["run", "--env", "GREETING=hi", t, "--", "7", "x y"]);
    assert_eq!(code, 7, "{err}");
    assert_eq!(
        out,
        "2 arguments after the program\nargv[1] = 7\nargv[2] = x y\nGREETING = hi\nHOME = (unset)\n"
    );
    assert!(err.contains("guest 0 exited with status 7"), "{err}");
    // Several guests: each line carries its guest, and lines never mix.
    let (code, out, _) = vmm(&["run", "--copies", "3", t]);
    assert_eq!(code, 0);
    for i in 0..3 {
        assert!(
            out.contains(&format!("[guest {i}] GREETING = (unset)\n")),
            "{out}"
        );
    }
    assert!(out.lines().all(|l| l.starts_with("[guest ")), "{out}");
}

/// A module written for two guests runs two without being told: an exported `vmm_guests` (WAT)
/// or a `// vmm-guests: 2` line (C). `--copies` that disagrees wins, with a warning naming both
/// numbers, so that a lone guest failing at its first check is not left unexplained.
#[test]
fn run_starts_as_many_guests_as_the_module_is_written_for() {
    // Its guest 1 traps by design, so the run fails; what matters is that two guests ran.
    let (_, _, err) = vmm(&["run", "../guests/wat/dying_guest_releases_everything.wat"]);
    assert!(err.contains("vmm: 2 guests;"), "{err}");
    assert!(!err.contains("warning"), "{err}");
    if !clang_available() {
        return skip(
            "run_starts_as_many_guests_as_the_module_is_written_for",
            "clang for wasm32",
        );
    }
    let t = "../guests/c/shared_store_after_eviction.c";
    let (code, _, err) = vmm(&["run", t]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("vmm: 2 guests;"), "{err}");
    assert!(!err.contains("warning"), "{err}");
    let (code, _, err) = vmm(&["run", "--copies", "2", t]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("warning"), "{err}");
    let (code, _, err) = vmm(&["run", "--copies", "1", t]);
    assert_ne!(code, 0, "one guest of a two-guest test should fail: {err}");
    assert!(
        err.contains(&format!(
            "vmm: warning: {t} is written for 2 guests (its `vmm-guests:` line); running 1, as --copies says"
        )),
        "{err}"
    );
    assert!(err.contains("vmm: 1 guests;"), "{err}");
}

/// A standard C program that includes `<vmm.h>` (the freestanding ABI) is told, in one line, to
/// include `<vmm_test.h>`, and one that does gets vmm's helpers beside the libc's headers.
#[test]
fn a_standard_program_finds_the_helpers_in_vmm_test_h() {
    if !wasi_libc_available() {
        return skip(
            "a_standard_program_finds_the_helpers_in_vmm_test_h",
            "wasi-libc for wasm32",
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong.c");
    std::fs::write(
        &wrong,
        "#include <stdio.h>\n#include <vmm.h>\nint main(void) { return 0; }\n",
    )
    .unwrap();
    let (code, _, err) = vmm(&["run", wrong.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("includes <vmm_test.h>"), "{err}");
    let right = dir.path().join("right.c");
    std::fs::write(
        &right,
        "#include <stdio.h>\n#include <sys/mman.h>\n#include <vmm_test.h>\n\
         int main(void) {\n\
             printf(\"guest %d of %d\\n\", vmm_guest_index(), vmm_guest_count());\n\
             return vmm_barrier() == 0 && vmm_reclaim(16) >= 0 ? 0 : 1;\n\
         }\n",
    )
    .unwrap();
    let (code, out, err) = vmm(&["run", "--copies", "2", right.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("[guest 1] guest 1 of 2"), "{out}");
}

/// Bad guests get one clear line each, never a panic: no entry point, C that does not compile,
/// a `--dir` that does not exist, a malformed `--env`.
#[test]
fn bad_guests_are_reported_in_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let noentry = dir.path().join("noentry.wat");
    std::fs::write(&noentry, "(module (memory (export \"memory\") 1))").unwrap();
    let (code, _, err) = vmm(&["run", noentry.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("exports neither `_start` (a WASI command) nor `main`"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    if clang_available() {
        let bad = dir.path().join("bad.c");
        std::fs::write(&bad, "int main(void) { return undeclared; }\n").unwrap();
        let (code, _, err) = vmm(&["run", bad.to_str().unwrap()]);
        assert_eq!(code, 1, "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(
            err.contains("does not compile") && err.contains("undeclared"),
            "{err}"
        );
    }
    let ok = "../guests/wat/abi_smoke.wat";
    let (code, _, err) = vmm(&["run", "--dir", "/no/such/dir", ok]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("--dir /no/such/dir: no such directory"),
        "{err}"
    );
    let (code, _, err) = vmm(&["run", "--env", "NOEQUALS", ok]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is not KEY=VALUE"), "{err}");
}

/// A guest sees a host directory only when `--dir` grants it, at the path it names.
#[test]
fn host_directories_are_granted_by_dir_only() {
    if !wasi_libc_available() {
        return skip(
            "host_directories_are_granted_by_dir_only",
            "wasi-libc for wasm32",
        );
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("note.txt"), "from the host\n").unwrap();
    let src = dir.path().join("cat_note.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\n\
         int main(void) {\n\
             FILE *f = fopen(\"/data/note.txt\", \"r\");\n\
             char line[64];\n\
             if (!f || !fgets(line, sizeof line, f)) { puts(\"cannot read\"); return 1; }\n\
             fputs(line, stdout);\n\
             return 0;\n\
         }\n",
    )
    .unwrap();
    let grant = format!("{}::/data", dir.path().display());
    let (code, out, err) = vmm(&["run", "--dir", &grant, src.to_str().unwrap()]);
    assert_eq!((code, out.as_str()), (0, "from the host\n"), "{err}");
    let (code, out, _) = vmm(&["run", src.to_str().unwrap()]);
    assert_eq!((code, out.as_str()), (1, "cannot read\n"));
}

/// `vmm diff`: same output natively and as a guest under the host's rules is exit 0 with a
/// closing count; a difference is a unified diff and exit 1; `--semantics all` is refused
/// where one machine runs.
#[test]
fn diff_compares_a_program_with_the_host_kernel() {
    const TEST: &str = "diff_compares_a_program_with_the_host_kernel";
    if !wasi_libc_available() {
        return skip(TEST, "wasi-libc for wasm32");
    }
    if std::env::consts::OS != "linux" {
        return skip_for_privilege(TEST, "the host kernel is not Linux");
    }
    let (code, out, err) = vmm(&["diff", "../guests/posix/mlock_basics.c"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("same     ../guests/posix/mlock_basics.c"),
        "{out}"
    );
    assert!(
        out.ends_with("1 same, 0 differ, 0 skipped (native against vmm under linux)\n"),
        "{out}"
    );
    let (code, out, _) = vmm(&[
        "diff",
        "--semantics",
        "proposed",
        "../guests/posix/mlock_prot_none.c",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("DIFFERS  ../guests/posix/mlock_prot_none.c"),
        "{out}"
    );
    assert!(out.contains("--- native\n+++ vmm (proposed)\n@@ "), "{out}");
    assert!(
        out.contains("-mlock of PROT_NONE: ENOMEM\n+mlock of PROT_NONE: EINVAL\n"),
        "{out}"
    );
    let (code, _, err) = vmm(&["run", "--semantics", "all", "../guests/wat/abi_smoke.wat"]);
    assert_eq!(code, 1);
    assert!(err.contains("give one rule set to --semantics"), "{err}");
    let (code, _, err) = vmm(&["diff", "--semantics", "bsd", "x.c"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown semantics `bsd`"), "{err}");
}

/// `vmm test --semantics all` shows every rule set side by side.
#[test]
fn test_under_every_rule_set_prints_a_column_each() {
    if !clang_available() {
        return skip(
            "test_under_every_rule_set_prints_a_column_each",
            "clang for wasm32",
        );
    }
    let (code, out, _) = vmm(&[
        "test",
        "-q",
        "--semantics",
        "all",
        "../guests/wiring-interactions/munlock_under_shm_lock.c",
    ]);
    assert_eq!(code, 0, "{out}");
    let header = out.lines().find(|l| l.starts_with("test ")).unwrap();
    for m in ["proposed", "netbsd-2019", "linux", "freebsd", "illumos"] {
        assert!(header.contains(m), "{header}");
    }
    let row = out.lines().rfind(|l| l.starts_with("../guests")).unwrap();
    assert!(
        row.contains("wrong answer: munlock(s, N * P) == 0"),
        "{row}"
    );
    assert!(
        row.contains("answers differently: vmm_resident(s, N) == 1"),
        "{row}"
    );
    assert!(
        row.contains("answers differently: shmctl(id, SHM_LOCK, 0) == 0"),
        "{row}"
    );
    assert!(out.ends_with("5 passed, 0 failed\n"), "{out}");
}

/// A program that prints who it is: ids, `CAP_IPC_LOCK` and `CAP_SYS_RESOURCE`, and
/// `RLIMIT_MEMLOCK`.
const WHOAMI: &str = "#include <stdio.h>\n\
#include <unistd.h>\n\
#include <sys/resource.h>\n\
#include <sys/syscall.h>\n\
#include <linux/capability.h>\n\
int main(void) {\n\
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};\n\
    struct __user_cap_data_struct d[2];\n\
    struct rlimit r;\n\
    if (syscall(SYS_capget, &h, d) != 0 || getrlimit(RLIMIT_MEMLOCK, &r) != 0) return 1;\n\
    printf(\"%u %u %u %u\\n\", getuid(), geteuid(), getgid(), getegid());\n\
    printf(\"ipc_lock %u sys_resource %u\\n\", (d[0].effective >> CAP_IPC_LOCK) & 1,\n\
           (d[0].effective >> CAP_SYS_RESOURCE) & 1);\n\
    printf(\"memlock %llu %llu\\n\", (unsigned long long)r.rlim_cur, (unsigned long long)r.rlim_max);\n\
    return 0;\n\
}\n";

/// `--cred`, `--caps` and `--memlock` choose who a guest is; under `--semantics linux` it is by
/// default the invoking process; bad values are one clear line each.
#[test]
fn identity_flags_choose_who_a_guest_is() {
    const TEST: &str = "identity_flags_choose_who_a_guest_is";
    if !wasi_libc_available() {
        return skip(TEST, "wasi-libc for wasm32");
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("whoami.c");
    std::fs::write(&src, WHOAMI).unwrap();
    let src = src.to_str().unwrap();
    let (code, out, err) = vmm(&["run", src]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        format!(
            "0 0 0 0\nipc_lock 1 sys_resource 1\nmemlock {m} {m}\n",
            m = u64::MAX
        )
    );
    let (code, out, err) = vmm(&[
        "run",
        "--cred",
        "1000:100",
        "--caps",
        "CAP_IPC_LOCK",
        "--memlock",
        "64K:1M",
        src,
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "1000 1000 100 100\nipc_lock 1 sys_resource 0\nmemlock 65536 1048576\n"
    );
    let (code, out, err) = vmm(&["run", "--caps", "none", "--memlock", "unlimited", src]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ipc_lock 0 sys_resource 0\n"), "{out}");
    // Under linux: the host's own identity, as /proc/self/status and /proc/self/limits say.
    let host = vmm_cli::diff::host_identity();
    let (code, out, err) = vmm(&["run", "--semantics", "linux", src]);
    assert_eq!(code, 0, "{err}");
    let (soft, hard) = host.memlock.unwrap();
    assert!(
        out.starts_with(&format!("{} {}", host.cred.uid, host.cred.uid))
            && out.contains(&format!("memlock {soft} {hard}\n")),
        "{out} against {host:?}"
    );
    for (flag, value, says) in [
        ("--caps", "ipc_lok", "unknown capability `ipc_lok`"),
        ("--caps", "64", "not 0 to 63"),
        ("--memlock", "2M:1M", "soft limit is above the hard one"),
        ("--memlock", "lots", "--memlock lots"),
        ("--cred", "1000", "not uid:gid"),
    ] {
        let (code, _, err) = vmm(&["run", flag, value, src]);
        assert_eq!(code, 2, "{flag} {value}: {err}");
        assert!(err.contains(says), "{flag} {value}: {err}");
        assert_eq!(
            err.lines().filter(|l| l.contains("error")).count(),
            1,
            "{err}"
        );
    }
}

/// Every guest has a writable `/tmp` and working directory of its own, without `--dir`: two
/// guests do not see each other's files, and nothing a guest wrote is left on the host after it.
#[test]
fn every_guest_has_a_private_tmp_that_goes_with_it() {
    const TEST: &str = "every_guest_has_a_private_tmp_that_goes_with_it";
    if !wasi_libc_available() {
        return skip(TEST, "wasi-libc for wasm32");
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("tmp_files.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\n\
         #include <stdlib.h>\n\
         #include <unistd.h>\n\
         #include <sys/ipc.h>\n\
         #include <vmm_test.h>\n\
         int main(void) {\n\
             char path[32];\n\
             snprintf(path, sizeof path, \"/tmp/mark-%d\", vmm_guest_index());\n\
             FILE *f = fopen(path, \"w\");\n\
             FILE *g = fopen(\"here.txt\", \"w\");\n\
             char t[] = \"/tmp/tXXXXXX\";\n\
             if (!f || !g || mkstemp(t) < 0 || ftok(\".\", 1) == -1) { puts(\"cannot write\"); return 1; }\n\
             fclose(f); fclose(g);\n\
             if (vmm_barrier() != 0) return 2;\n\
             snprintf(path, sizeof path, \"/tmp/mark-%d\", 1 - vmm_guest_index());\n\
             printf(\"other's mark %s\\n\", access(path, F_OK) == 0 ? \"seen\" : \"unseen\");\n\
             return 0;\n\
         }\n",
    )
    .unwrap();
    let tmpdir = dir.path().join("host-tmp");
    std::fs::create_dir(&tmpdir).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_vmm"))
        .args(["run", "--copies", "2", "--swap-backing", "memory"])
        .arg(&src)
        .env("TMPDIR", &tmpdir)
        .output()
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert_eq!(
        out.lines()
            .filter(|l| l.ends_with("other's mark unseen"))
            .count(),
        2,
        "{out}"
    );
    let left: Vec<_> = std::fs::read_dir(&tmpdir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with("vmm-guest-"))
        .collect();
    assert!(left.is_empty(), "left on the host: {left:?}");
}

/// A header wasi-libc lacks stops the build with an error naming it, never one from inside the
/// host's glibc headers; a header a guest can never have says why.
#[test]
fn a_missing_header_is_named_and_never_a_glibc_internal() {
    const TEST: &str = "a_missing_header_is_named_and_never_a_glibc_internal";
    if !wasi_libc_available() {
        return skip(TEST, "wasi-libc for wasm32");
    }
    let dir = tempfile::tempdir().unwrap();
    for (header, says) in [
        ("linux/fs.h", "'linux/fs.h' file not found"),
        ("sys/sysmacros.h", "'sys/sysmacros.h' file not found"),
        ("pthread.h", "no threads"),
        ("setjmp.h", "no setjmp/longjmp"),
    ] {
        let src = dir.path().join("uses_header.c");
        std::fs::write(
            &src,
            format!("#include <{header}>\nint main(void) {{ return 0; }}\n"),
        )
        .unwrap();
        let (code, _, err) = vmm(&["run", src.to_str().unwrap()]);
        assert_eq!(code, 1, "{header}: {err}");
        assert!(err.contains(says), "{header}: {err}");
        assert!(!err.contains("bits/"), "{header}: {err}");
    }
    // The headers vmm provides build: the identity calls, pwd.h, grp.h, sys/resource.h.
    let src = dir.path().join("whoami.c");
    std::fs::write(
        &src,
        format!("#include <pwd.h>\n#include <grp.h>\n{WHOAMI}"),
    )
    .unwrap();
    let (code, _, err) = vmm(&["run", src.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
}

/// `vmm diff --dir` grants the guests a host directory, as `vmm run --dir` does.
#[test]
fn diff_takes_dir_and_identity_flags() {
    const TEST: &str = "diff_takes_dir_and_identity_flags";
    if !wasi_libc_available() {
        return skip(TEST, "wasi-libc for wasm32");
    }
    if std::env::consts::OS != "linux" {
        return skip_for_privilege(TEST, "vmm diff's oracle here is Linux");
    }
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = vmm(&["diff", "--dir", "/no/such/dir", "x.c"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("--dir /no/such/dir: no such directory"),
        "{err}"
    );
    let (code, out, err) = vmm(&[
        "diff",
        "--dir",
        &format!("{}::/data", dir.path().display()),
        "../guests/posix/process_identity.c",
    ]);
    if !out.contains("skipped") {
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("1 same, 0 differ"), "{out}");
    }
    // A guest given another identity than the host process's differs from it.
    let (code, out, _) = vmm(&[
        "diff",
        "--caps",
        "none",
        "../guests/posix/process_identity.c",
    ]);
    if !out.contains("skipped") {
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("+CAP_IPC_LOCK 0 CAP_IPC_OWNER 0"), "{out}");
    }
}
