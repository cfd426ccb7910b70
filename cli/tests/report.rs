//! `vmm test --report`: the HTML report of a two-guest scenario under two rule sets, rendered
//! in a real browser. Headless Chromium loads the file (no network: it needs nothing from
//! elsewhere), runs its script, and the DOM it dumps says the script finished without an error
//! and drew the guests and segments the run had; a screenshot is taken too. Skipped where
//! Chromium or the C toolchain for guests is missing (`.ci/run` installs both).

use std::path::{Path, PathBuf};
use std::process::Command;
use vmm_cli::testing::skip;

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

fn headless(browser: &str, args: &[&str], file: &Path) -> std::process::Output {
    Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .args(args)
        .arg(format!("file://{}", file.display()))
        .output()
        .unwrap()
}

#[test]
fn a_report_of_two_guests_renders_in_a_browser() {
    let Some(browser) = chromium() else {
        return skip(
            "a_report_of_two_guests_renders_in_a_browser",
            "headless Chromium",
        );
    };
    if !vmm_cli::testing::clang_available() {
        return skip(
            "a_report_of_two_guests_renders_in_a_browser",
            "clang for wasm32",
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let scenario = "../guests/wiring-interactions/one_locks_other_unlocks.c";
    let o = Command::new(env!("CARGO_BIN_EXE_vmm"))
        .args(["test", "-q", "--semantics", "netbsd-2019", "--report"])
        .arg(dir.path())
        .arg(scenario)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let files: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "one file per test: {files:?}");
    let report = &files[0];
    let html = std::fs::read_to_string(report).unwrap();
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("src="));

    let dom = headless(browser, &["--dump-dom"], report);
    let dom = String::from_utf8_lossy(&dom.stdout);
    let body = dom
        .lines()
        .find(|l| l.contains("<body"))
        .unwrap_or_else(|| panic!("no body in the DOM: {dom}"));
    assert!(
        body.contains(r#"data-ok="1""#),
        "the script did not finish: {body}"
    );
    assert!(!body.contains("data-error"), "a script error: {body}");
    assert!(body.contains(r#"data-guests="2""#), "{body}");
    assert!(body.contains(r#"data-segments="1""#), "{body}");
    assert!(
        body.contains(r#"data-runs="2""#),
        "both rule sets side by side: {body}"
    );
    // Each run's section, its page map with both guests, and the segment drawn once.
    for sem in ["proposed", "netbsd-2019"] {
        assert!(dom.contains(&format!(r#"data-semantics="{sem}""#)), "{sem}");
    }
    assert!(dom.contains("Segments (drawn once)"));
    assert!(
        dom.contains("machine state corrupt"),
        "the old rules' breakage is shown"
    );

    let shot = dir.path().join("report.png");
    let s = headless(
        browser,
        &[
            "--window-size=1400,900",
            &format!("--screenshot={}", shot.display()),
        ],
        report,
    );
    let png = std::fs::read(&shot).unwrap_or_else(|e| {
        panic!(
            "no screenshot ({e}): {}",
            String::from_utf8_lossy(&s.stderr)
        )
    });
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
}
