//! The `vmm` command as a person meets it: clear one-line errors, exit codes, closing lines.

use std::process::Command;

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

fn have_clang() -> bool {
    Command::new("clang")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn old_rules_replay_side_by_side_and_report_the_corruption() {
    if !have_clang() {
        eprintln!("clang is not here: the scenarios are C; skipped");
        return;
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
    assert!(err.contains("proposed or netbsd-2019"), "{err}");
}
