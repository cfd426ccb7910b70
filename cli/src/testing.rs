//! Guest test modules: finding them, building C ones, and running each in a fresh machine.
//!
//! A test module exports `main: () -> i32`; it passes when every instance returns 0 and the
//! machine's audit holds afterwards. It may say how many instances of it share the machine
//! (`vmm_guests`, default 1) and which must trap instead (`vmm_expect_trap`, a bit mask: bit i
//! for instance i): a WAT module exports `i32` globals of those names; a C file, which cannot
//! export a constant global, says `// vmm-guests: 2` and `// vmm-expect-trap: 1` in its text.
//! A test whose guests must trap says which kind of trap ([`TrapKind`]) in its text, as
//! `// vmm-expect-trap-kind: write-to-read-only` (`;;` in WAT): one kind for every guest that
//! must trap, or one each in index order. A guest that traps with another kind fails the test,
//! and a test that expects a trap but names no kind is an error.
//! A C test may give its instances identities, `// vmm-creds: 0:0 1000:100` (uid:gid per
//! instance, root for the rest). After the run the audit must hold and nothing may be left but
//! the segments nobody removed ([`leak`]).
//!
//! Under a rule set other than `proposed` a test may say what that rule set does to it, on a line
//! `// <rule set>: ...` (`// netbsd-2019:`, `// linux:`, `// freebsd:`, `// illumos:`):
//! `passes`, `corrupt <invariant>` (only for a rule set that replays a bug: a call finds that
//! invariant broken, a guest traps with "machine state corrupt", the machine stops) or
//! `check-fails <condition>` (a guest's `VMM_CHECK(<condition>)` fails: a wrong answer, or
//! this kernel's different answer, with the state still consistent; every other guest must end
//! as it would under the proposed rules, or stop short because a barrier failed once that guest
//! had gone, and the audit and leak checks must hold). Such a test passes under
//! that rule set only when it breaks exactly so; with no line it must pass there too. Under the
//! proposed rules the lines are ignored and the test must pass.

use crate::report::RunReport;
use anyhow::{bail, Context as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use vmm::machine::{Machine, MachineConfig, Stats};
use vmm::rules::Semantics;
use vmm::runtime::trap::TrapKind;
use vmm::runtime::{run_guests_io, DumpConfig, GuestOutcome, GuestSpec, Runtime};

/// One test module's result.
#[derive(Clone, Debug)]
pub enum TestResult {
    /// Every instance did what it should; the machine's counters at the end.
    Passed(Stats),
    /// Why not.
    Failed(String),
    /// Not run, and why (a C test without clang).
    Skipped(String),
    /// Under a rule set other than `proposed`, broke exactly as its `// <rule set>:` line says
    /// it must: how.
    BrokeAsExpected(String),
}

impl TestResult {
    /// Whether the test did what it must (passed, or broke as its `// <rule set>:` line says).
    pub fn is_ok(&self) -> bool {
        matches!(self, TestResult::Passed(_) | TestResult::BrokeAsExpected(_))
    }
}

/// How a test says a rule set other than `proposed` treats it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum OldRules {
    /// It passes under them too.
    Pass,
    /// A call finds this invariant broken and stops the machine.
    Corrupt(String),
    /// This `VMM_CHECK` condition fails.
    CheckFails(String),
}

fn old_rules(mode: Semantics, line: Option<String>) -> anyhow::Result<OldRules> {
    let Some(v) = line else {
        return Ok(OldRules::Pass);
    };
    let v = v.as_str();
    if v.trim() == "passes" {
        Ok(OldRules::Pass)
    } else if let Some(inv) = v.strip_prefix("corrupt ") {
        if !mode.policy().replays_bug {
            bail!("`{mode}:` cannot expect corrupt state: only a rule set replaying a kernel bug may break the audit");
        }
        Ok(OldRules::Corrupt(inv.trim().to_string()))
    } else if let Some(cond) = v.strip_prefix("check-fails ") {
        Ok(OldRules::CheckFails(cond.trim().to_string()))
    } else {
        bail!("`{mode}:` must be followed by `passes`, `corrupt <invariant>` or `check-fails <condition>`, not `{v}`")
    }
}

/// Every test module under `paths` (files as given, directories searched), sorted.
pub fn find_tests(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out).with_context(|| format!("reading {}", p.display()))?;
        } else if p.is_file() {
            out.push(p.clone());
        } else {
            bail!("{}: no such file or directory", p.display());
        }
    }
    Ok(out)
}

/// Whether `dir` is a Rust guest: a crate (`Cargo.toml`, `src/lib.rs`) built to a wasm module.
pub fn is_rust_guest(dir: &Path) -> bool {
    dir.join("Cargo.toml").is_file() && dir.join("src/lib.rs").is_file()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let p = e.path();
        if p.is_dir() && is_rust_guest(&p) {
            out.push(p);
        } else if p.is_dir() && p.file_name().is_some_and(|n| n != "target") {
            walk(&p, out)?;
        } else if matches!(
            p.extension().and_then(|x| x.to_str()),
            Some("wat" | "wasm" | "c")
        ) {
            out.push(p);
        }
    }
    Ok(())
}

/// Reports that `test` could not run here for want of `what` (a tool or a privilege), where a
/// person sees it: on the process's real standard error, which the test harness does not
/// capture, and as a line in the file `VMM_SKIP_LOG` names, if set (`just test` and `.ci/run`
/// count them at the end). With `VMM_REQUIRE_TOOLS=1` (set by `.ci/run` after `./setup`) a
/// skip is a failure instead: it panics naming what is missing.
pub fn skip(test: &str, what: &str) {
    if std::env::var_os("VMM_REQUIRE_TOOLS").is_some_and(|v| v == "1") {
        panic!("{test} needs {what}, not found here, and VMM_REQUIRE_TOOLS=1 says every tool must be here");
    }
    skip_for_privilege(
        test,
        &format!("needs {what}, not found here (./setup installs the toolchains)"),
    );
}

/// Reports, as [`skip`] does, that `test` could not run for a reason no installation fixes (a
/// kernel feature the host refuses, such as userfaultfd under a container's seccomp profile);
/// `VMM_REQUIRE_TOOLS` does not make this one fail.
pub fn skip_for_privilege(test: &str, why: &str) {
    use std::io::Write as _;
    let line = format!("skipped {test}: {why}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
    if let Some(log) = std::env::var_os("VMM_SKIP_LOG") {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            let _ = f.write_all(line.as_bytes());
        }
    }
}

/// Whether C tests can be built here.
pub fn clang_available() -> bool {
    Command::new("clang")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether clang can build standard C programs for WASI here: wasi-libc, wasm-ld and the
/// wasm32 compiler-rt builtins (Debian: `clang lld wasi-libc libclang-rt-<version>-dev-wasm32`).
/// Probed once per process by building an empty program.
pub fn wasi_libc_available() -> bool {
    static PROBE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PROBE.get_or_init(|| {
        let Ok(dir) = tempfile::tempdir() else {
            return false;
        };
        let src = dir.path().join("probe.c");
        if std::fs::write(
            &src,
            "#include <stdio.h>\nint main(void) { puts(\"\"); return 0; }\n",
        )
        .is_err()
        {
            return false;
        }
        Command::new("clang")
            .args(["--target=wasm32-wasi", "-O1", "-o"])
            .arg(dir.path().join("probe.wasm"))
            .arg(&src)
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// The include path of a standard C guest: clang's own headers and wasi-libc's, and nothing of
/// the host's. clang for `wasm32-wasi` searches the host's `/usr/include` after wasi-libc's, so
/// a header wasi-libc lacks (`<pwd.h>` before vmm had one, `<linux/capability.h>`) would be the
/// host's glibc header and fail deep inside it (`bits/types.h` not found); with `-nostdinc` and
/// only these directories the error names the header the program asked for. Read once from
/// clang's own list (`-E -v`), keeping every directory but the host's `/usr/include` and
/// `/usr/local/include`.
fn wasi_include_args() -> Vec<String> {
    static ARGS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    ARGS.get_or_init(|| {
        let Ok(o) = Command::new("clang")
            .args(["--target=wasm32-wasi", "-E", "-v", "-x", "c", "-"])
            .stdin(std::process::Stdio::null())
            .output()
        else {
            return Vec::new();
        };
        let text = String::from_utf8_lossy(&o.stderr);
        let dirs = host_free_include_dirs(&text);
        if dirs.is_empty() {
            return Vec::new();
        }
        let mut args = vec!["-nostdinc".to_string()];
        for d in dirs {
            args.push("-isystem".to_string());
            args.push(d);
        }
        args
    })
    .clone()
}

/// The `#include <...>` directories of clang's `-v` output, less the host's own.
fn host_free_include_dirs(v: &str) -> Vec<String> {
    v.lines()
        .skip_while(|l| !l.starts_with("#include <...> search starts here:"))
        .skip(1)
        .take_while(|l| l.starts_with(' '))
        .map(|l| l.trim().to_string())
        .filter(|d| {
            let d = d.trim_end_matches('/');
            d != "/usr/include" && d != "/usr/local/include"
        })
        .collect()
}

/// Whether a C source is written against the raw ABI (`#include "vmm.h"`, `VMM_MAIN`) rather
/// than the standard headers.
fn uses_raw_abi(text: &str) -> bool {
    text.lines()
        .any(|l| l.trim_start().starts_with("#include") && l.contains("\"vmm.h\""))
}

/// Compiles a C guest; `Ok(None)` when this machine cannot build it (clang missing, or wasi-libc
/// missing for a standard program).
///
/// A source that includes `"vmm.h"` is built freestanding against the raw ABI (`VMM_MAIN`
/// exports `main`). Any other is an ordinary program (`int main(void)` or
/// `int main(int, char **)`, standard headers) built with `clang --target=wasm32-wasi` against
/// wasi-libc and the POSIX layer from `guest-abi` (`<sys/mman.h>`, `<sys/ipc.h>`, `<sys/shm.h>`,
/// the host's page size from `getpagesize()` and `sysconf`), linked automatically. A source that
/// does not compile is an error naming the compiler's first error.
pub fn build_c(src: &Path, out_dir: &Path) -> anyhow::Result<Option<PathBuf>> {
    if !clang_available() {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(src).with_context(|| format!("reading {}", src.display()))?;
    let stem = src.file_stem().and_then(|s| s.to_str()).unwrap_or("guest");
    let out = out_dir.join(format!("{stem}.wasm"));
    let mut cmd = Command::new("clang");
    if uses_raw_abi(&text) {
        let inc = out_dir.join("include");
        std::fs::create_dir_all(&inc)?;
        std::fs::write(inc.join("vmm.h"), guest_abi::C_HEADER)?;
        cmd.args([
            "--target=wasm32",
            "-O2",
            "-nostdlib",
            "-ffreestanding",
            "-Wall",
            "-Werror",
        ])
        .args([
            "-Wl,--no-entry",
            "-Wl,--export=main",
            "-Wl,--export=vmm_guests",
            "-Wl,--export=vmm_expect_trap",
        ])
        .args([
            "-Wl,--allow-undefined",
            "-Wl,--export-if-defined=vmm_guests",
        ])
        .arg("-I")
        .arg(&inc)
        .arg(src);
    } else {
        if !wasi_libc_available() {
            return Ok(None);
        }
        let posix = out_dir.join("posix");
        for (rel, body) in guest_abi::posix::FILES {
            let p = posix.join(rel);
            std::fs::create_dir_all(p.parent().expect("a relative path with a file name"))?;
            std::fs::write(&p, body)?;
        }
        cmd.args(["--target=wasm32-wasi", "-O2", "-Wall"])
            .arg("-I")
            .arg(posix.join("include"))
            .args(wasi_include_args())
            .arg(src)
            .arg(posix.join("vmm_posix.c"))
            .arg(posix.join("vmm_process.c"))
            // The POSIX layer's /proc answers the C library's own opens and reads too.
            .args(
                guest_abi::posix::WRAPPED
                    .iter()
                    .map(|f| format!("-Wl,--wrap={f}")),
            );
    }
    let o = cmd.arg("-o").arg(&out).output().context("running clang")?;
    if !o.status.success() {
        let stderr = String::from_utf8_lossy(&o.stderr);
        let first = stderr
            .lines()
            .find(|l| l.contains("error"))
            .or_else(|| stderr.lines().next())
            .unwrap_or("no message");
        bail!("{} does not compile: {first}", src.display());
    }
    Ok(Some(out))
}

/// The Rust target guests are built for.
pub const RUST_GUEST_TARGET: &str = "wasm32-unknown-unknown";

/// Whether Rust guests can be built here: the toolchain has the wasm32 target's standard
/// library (`rustup target add wasm32-unknown-unknown`).
pub fn rust_target_available() -> bool {
    static PROBE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PROBE.get_or_init(|| {
        Command::new("rustc")
            .args(["--print", "target-libdir", "--target", RUST_GUEST_TARGET])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| std::fs::read_dir(String::from_utf8_lossy(&o.stdout).trim()).ok())
            .is_some_and(|mut d| {
                d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("libcore-")))
            })
    })
}

/// Builds the Rust guest crate in `dir` for wasm32 (release) into `target_dir`; `Ok(None)` when
/// the wasm32 target is not installed. The module is the crate's `cdylib`.
pub fn build_rust(dir: &Path, target_dir: &Path) -> anyhow::Result<Option<PathBuf>> {
    if !rust_target_available() {
        return Ok(None);
    }
    let manifest = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("reading {}", manifest.display()))?;
    let name = text
        .lines()
        .find_map(|l| {
            let v = l
                .trim()
                .strip_prefix("name")?
                .trim_start()
                .strip_prefix('=')?;
            Some(v.trim().trim_matches('"').to_string())
        })
        .with_context(|| format!("{} names no package", manifest.display()))?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let o = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "--release",
            "--target",
            RUST_GUEST_TARGET,
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .context("running cargo")?;
    if !o.status.success() {
        let stderr = String::from_utf8_lossy(&o.stderr);
        let first = stderr
            .lines()
            .find(|l| l.starts_with("error"))
            .unwrap_or("no message");
        bail!("{} does not build: {first}", dir.display());
    }
    let wasm = target_dir
        .join(RUST_GUEST_TARGET)
        .join("release")
        .join(format!("{}.wasm", name.replace('-', "_")));
    if !wasm.is_file() {
        bail!("{} built no {}", dir.display(), wasm.display());
    }
    Ok(Some(wasm))
}

/// Whether `build_c` can build this source here (clang, and wasi-libc for standard programs).
pub fn can_build_c(src: &Path) -> bool {
    clang_available()
        && (std::fs::read_to_string(src).is_ok_and(|t| uses_raw_abi(&t)) || wasi_libc_available())
}

/// How many guests a module is written for, and where it says so: `// vmm-guests: N` in a C
/// source or a Rust guest's `src/lib.rs` (`;; vmm-guests: N` in WAT), else an exported `i32`
/// global `vmm_guests` in the module (`wasm`, its binary); `None` when it says nothing (one).
/// `vmm test` runs that many instances, and so does `vmm run` unless `--copies` says otherwise.
pub fn guests_wanted(path: &Path, wasm: &[u8]) -> anyhow::Result<Option<(i32, &'static str)>> {
    if let Some(v) = text_directive(path, "vmm-guests")? {
        let n = v
            .parse()
            .with_context(|| format!("`// vmm-guests:` needs a number, not `{v}`"))?;
        return Ok(Some((n, "its `vmm-guests:` line")));
    }
    Ok(exported_global(wasm, "vmm_guests")?.map(|n| (n, "its exported `vmm_guests`")))
}

/// The `i32` value of an exported global defined by the module (constant initialiser only).
pub fn exported_global(wasm: &[u8], name: &str) -> anyhow::Result<Option<i32>> {
    use wasmparser::{ExternalKind, Operator, Parser, Payload};
    let mut imported = 0u32;
    let mut globals: Vec<Option<i32>> = Vec::new();
    let mut export = None;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::ImportSection(s) => {
                for imp in s.into_imports() {
                    if matches!(imp?.ty, wasmparser::TypeRef::Global(_)) {
                        imported += 1;
                    }
                }
            }
            Payload::GlobalSection(s) => {
                for g in s {
                    let mut ops = g?.init_expr.get_operators_reader();
                    globals.push(match ops.read()? {
                        Operator::I32Const { value } => Some(value),
                        _ => None,
                    });
                }
            }
            Payload::ExportSection(s) => {
                for e in s {
                    let e = e?;
                    if e.name == name && e.kind == ExternalKind::Global {
                        export = Some(e.index);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(export
        .and_then(|i| i.checked_sub(imported))
        .and_then(|i| globals.get(i as usize).copied().flatten()))
}

/// Every guest has exited: only segments nobody removed may still hold frames, swap slots or
/// wirings. Says what is left over otherwise.
pub fn leak(machine: &Machine) -> Option<String> {
    let d = machine.dump_machine();
    let seg_resident: u64 = d.segments.iter().map(|s| s.resident).sum();
    let seg_swapped: u64 = d.segments.iter().map(|s| s.swapped).sum();
    // A segment whose object holds a wiring wires the pages it has resident: all of them after
    // an eager `SHM_LOCK`, those touched since under a lazy one (Linux).
    let seg_wired: u64 = d
        .segments
        .iter()
        .filter(|s| s.object_wired)
        .map(|s| s.resident)
        .sum();
    let in_use = (d.frames - d.free_frames) as u64;
    if in_use != seg_resident
        || u64::from(d.swap_used) != seg_swapped
        || d.wired_frames as u64 != seg_wired
    {
        return Some(format!(
            "leak after every guest exited: {in_use} frames in use, {} swap slots, {} wired; segments left hold {seg_resident}, {seg_swapped} and {seg_wired}",
            d.swap_used, d.wired_frames
        ));
    }
    None
}

/// A `uid:gid` pair.
fn parse_cred(s: &str) -> anyhow::Result<vmm::machine::Cred> {
    let (u, g) = s
        .split_once(':')
        .with_context(|| format!("`{s}` is not uid:gid"))?;
    Ok(vmm::machine::Cred::new(
        u.parse().with_context(|| format!("bad uid in `{s}`"))?,
        g.parse().with_context(|| format!("bad gid in `{s}`"))?,
    ))
}

/// The text after `// name:` in a C test (`;; name:` in a WAT one, `// name:` in a Rust guest's
/// `src/lib.rs`), if it says one.
fn text_directive(path: &Path, name: &str) -> anyhow::Result<Option<String>> {
    let (key, file) = match path.extension().and_then(|x| x.to_str()) {
        Some("c") => (format!("// {name}:"), path.to_path_buf()),
        Some("wat") => (format!(";; {name}:"), path.to_path_buf()),
        _ if path.is_dir() => (format!("// {name}:"), path.join("src/lib.rs")),
        _ => return Ok(None),
    };
    let text = std::fs::read_to_string(file)?;
    Ok(text
        .lines()
        .find_map(|l| l.trim().strip_prefix(key.as_str()))
        .map(|v| v.trim().to_string()))
}

/// Runs one test module in a fresh machine built from `cfg`.
pub fn run_test(
    rt: &Runtime,
    cfg: &MachineConfig,
    path: &Path,
    work: &Path,
    quiet: bool,
) -> TestResult {
    run_test_reported(rt, cfg, path, work, quiet, false).0
}

/// [`run_test`], and when `report` is set, the run's report (events and page maps, see
/// [`crate::report`]; `None` if the test could not run at all).
pub fn run_test_reported(
    rt: &Runtime,
    cfg: &MachineConfig,
    path: &Path,
    work: &Path,
    quiet: bool,
    report: bool,
) -> (TestResult, Option<RunReport>) {
    let mut rep = None;
    let r = match run_test_inner(rt, cfg, path, work, quiet, report.then_some(&mut rep)) {
        Ok(r) => r,
        Err(e) => TestResult::Failed(format!("{e:#}")),
    };
    if let Some(rep) = rep.as_mut() {
        rep.outcome.push(match &r {
            TestResult::Passed(_) => "test passed, audit clean".to_string(),
            TestResult::BrokeAsExpected(how) => format!(
                "broke as expected: {}",
                how.lines().next().unwrap_or_default()
            ),
            TestResult::Failed(why) => format!("test FAILED: {why}"),
            TestResult::Skipped(why) => format!("skipped: {why}"),
        });
    }
    (r, rep)
}

fn run_test_inner(
    rt: &Runtime,
    cfg: &MachineConfig,
    path: &Path,
    work: &Path,
    quiet: bool,
    report: Option<&mut Option<RunReport>>,
) -> anyhow::Result<TestResult> {
    let expect_old = if cfg.semantics == Semantics::Proposed {
        OldRules::Pass
    } else {
        old_rules(cfg.semantics, text_directive(path, cfg.semantics.name())?)?
    };
    let bytes = match module_bytes(path, work)? {
        Ok(b) => b,
        Err(why) => return Ok(TestResult::Skipped(why)),
    };
    let spec = TestSpec::read(path, &bytes)?;
    let ran = run_module(rt, cfg, path, &bytes, &spec, quiet, report)?;
    judge(cfg, &spec, expect_old, &ran)
}

/// The test module at `path` as wasm bytes: a Rust guest's crate or a C file built in `work`,
/// WAT or wasm as it is; `Err` with the reason when the tool that builds it is missing.
fn module_bytes(path: &Path, work: &Path) -> anyhow::Result<Result<Vec<u8>, String>> {
    let is_c = path.extension().and_then(|x| x.to_str()) == Some("c");
    let wasm_path = if path.is_dir() {
        // One target directory per process, shared by every Rust guest, so each builds once.
        static TARGET: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
        let target = TARGET.get_or_init(|| work.join("rust-target"));
        match build_rust(path, target)? {
            Some(p) => p,
            None => {
                return Ok(Err(format!(
                    "the {RUST_GUEST_TARGET} target is not installed (rustup target add {RUST_GUEST_TARGET})"
                )))
            }
        }
    } else if is_c {
        match build_c(path, work)? {
            Some(p) => p,
            None => {
                return Ok(Err(if clang_available() {
                    "wasi-libc not found (apt-get install wasi-libc libclang-rt-<clang version>-dev-wasm32)".into()
                } else {
                    "clang not found".into()
                }))
            }
        }
    } else {
        path.to_path_buf()
    };
    let bytes =
        std::fs::read(&wasm_path).with_context(|| format!("reading {}", wasm_path.display()))?;
    Ok(Ok(wat::parse_bytes(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        .into_owned()))
}

/// What a test module says of itself: how many guests, which must trap and how, and who they
/// are.
struct TestSpec {
    copies: u32,
    /// Per guest: the trap it must end in, or `None` for returning 0.
    expect: Vec<Option<TrapKind>>,
    creds: Vec<vmm::machine::Cred>,
}

impl TestSpec {
    /// Reads the directives of the module at `path` (its source lines and exported globals).
    fn read(path: &Path, bytes: &[u8]) -> anyhow::Result<TestSpec> {
        let directive = |name: &str| -> anyhow::Result<Option<i32>> {
            text_directive(path, name)?
                .map(|v| {
                    v.parse()
                        .with_context(|| format!("`// {name}:` needs a number"))
                })
                .transpose()
        };
        let copies = guests_wanted(path, bytes)?.map_or(1, |(n, _)| n);
        if !(1..=64).contains(&copies) {
            bail!("vmm_guests must be between 1 and 64, not {copies}");
        }
        let expect_trap = directive("vmm-expect-trap")?
            .or(exported_global(bytes, "vmm_expect_trap")?)
            .unwrap_or(0) as u32;
        let expect = expected_traps(
            expect_trap,
            copies as u32,
            text_directive(path, "vmm-expect-trap-kind")?,
        )?;
        let creds = match text_directive(path, "vmm-creds")? {
            None => Vec::new(),
            Some(v) => v
                .split_whitespace()
                .map(parse_cred)
                .collect::<anyhow::Result<Vec<_>>>()?,
        };
        Ok(TestSpec {
            copies: copies as u32,
            expect,
            creds,
        })
    }
}

/// What a run of a test module left: the machine, each guest's outcome and output, and the
/// run's barriers (which say which guests stopped short).
struct Ran {
    machine: Machine,
    outcomes: Vec<GuestOutcome>,
    output: Vec<String>,
    barriers: std::sync::Arc<vmm::runtime::Run>,
}

/// Runs `spec.copies` guests of the module on a machine built from `cfg`, filling `report` if
/// asked.
fn run_module(
    rt: &Runtime,
    cfg: &MachineConfig,
    path: &Path,
    bytes: &[u8],
    spec: &TestSpec,
    quiet: bool,
    report: Option<&mut Option<RunReport>>,
) -> anyhow::Result<Ran> {
    let module = rt.compile(bytes).context("compiling")?;
    let machine = Machine::new(cfg.clone()).context("building the machine")?;
    let collector = report.is_some().then(|| {
        machine.record_events(crate::report::EVENTS);
        vmm::runtime::snapshots::Collector::new()
    });
    let pagedaemon = if cfg.free_target > 0 {
        Some(
            machine
                .start_pagedaemon(std::time::Duration::from_millis(5))
                .context("starting the pagedaemon")?,
        )
    } else {
        None
    };
    let name = path.display().to_string();
    let output = std::sync::Arc::new(parking_lot::Mutex::new(vec![
        String::new();
        spec.copies as usize
    ]));
    // `vmm_print` and WASI standard output and error alike: shown unless quiet, and kept, each
    // guest's apart, for the `check-fails` directive.
    let out = output.clone();
    let emit = std::sync::Arc::new(move |i: u32, b: &[u8]| {
        let text = String::from_utf8_lossy(b);
        if !quiet {
            eprint!("[{name} #{i}] {text}");
        }
        if let Some(o) = out.lock().get_mut(i as usize) {
            o.push_str(&text);
        }
    });
    let dump = DumpConfig {
        sink: std::sync::Arc::new(move |d: &str| {
            if !quiet {
                eprint!("{d}");
            }
        }),
        report: collector.clone(),
        ..DumpConfig::default()
    };
    let print = emit.clone();
    let run = vmm::runtime::Run::with_io(
        spec.copies,
        move |i, b| print(i, b),
        std::sync::Arc::new(move |i, _, b| emit(i, b)),
        dump,
    );
    let barriers = run.clone();
    let program = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("guest")
        .to_string();
    let outcomes = run_guests_io(
        rt,
        &machine,
        (0..spec.copies as usize)
            .map(|i| GuestSpec {
                module: module.clone(),
                config: vmm::machine::GuestConfig {
                    cred: spec
                        .creds
                        .get(i)
                        .copied()
                        .unwrap_or(vmm::machine::Cred::ROOT),
                    memlock_limit: None,
                    ..Default::default()
                },
                wasi: vmm::runtime::wasi::WasiConfig {
                    program: program.clone(),
                    ..Default::default()
                },
            })
            .collect(),
        run,
    );
    drop(pagedaemon);
    if let (Some(out), Some(c)) = (report, &collector) {
        let lines = outcomes
            .iter()
            .map(|o| match &o.result {
                Ok(s) => format!("guest {}: returned {s}", o.index),
                Err(e) => format!("guest {}: {}", o.index, e.lines().next().unwrap_or(e)),
            })
            .collect();
        *out = Some(RunReport::gather(
            &path.display().to_string(),
            cfg.semantics,
            spec.copies,
            &machine,
            c,
            lines,
        ));
    }
    let output = std::mem::take(&mut *output.lock());
    Ok(Ran {
        machine,
        outcomes,
        output,
        barriers,
    })
}

/// Whether a run ended as its test says: every guest as expected (returned 0, failed the named
/// check, or trapped with its kind), the state as the rule set's line says, the audit and the
/// leak check clean.
fn judge(
    cfg: &MachineConfig,
    spec: &TestSpec,
    expect_old: OldRules,
    ran: &Ran,
) -> anyhow::Result<TestResult> {
    let failed_check = match expect_old {
        OldRules::Pass => None,
        OldRules::Corrupt(inv) => {
            let Some(c) = ran.machine.corruption() else {
                bail!(
                    "the {} rules should have corrupted the state ({inv}), but nothing broke",
                    cfg.semantics
                );
            };
            if c.violation.invariant.name() != inv {
                bail!("expected `{inv}` to break, but {}", c.violation);
            }
            if !ran
                .outcomes
                .iter()
                .any(|o| o.trap == Some(TrapKind::Corrupt))
            {
                bail!(
                    "the state broke ({}) but no guest trapped for it",
                    c.violation
                );
            }
            return Ok(TestResult::BrokeAsExpected(c.to_string()));
        }
        OldRules::CheckFails(cond) => {
            if let Some(c) = ran.machine.corruption() {
                bail!("expected `{cond}` to fail, but the state broke: {c}");
            }
            Some(cond)
        }
    };
    let want_line = failed_check.as_ref().map(|c| format!("check failed: {c}"));
    let mut problems = Vec::new();
    let mut check_failed = false;
    for o in &ran.outcomes {
        let failed_here = want_line.as_ref().is_some_and(|w| {
            matches!(o.result, Ok(s) if s != 0)
                && ran
                    .output
                    .get(o.index as usize)
                    .is_some_and(|t| t.lines().any(|l| l == w))
        });
        let must_trap = spec.expect[o.index as usize].is_some();
        if failed_here && !must_trap {
            check_failed = true;
        } else if want_line.is_some()
            && !must_trap
            && o.result.is_ok()
            && ran.barriers.abandoned(o.index)
        {
            // It stopped short when a barrier failed for it, because the guest whose check
            // failed had gone: a consequence of that failure, not one of its own.
        } else if let Some(p) = outcome_problem(o, spec.expect[o.index as usize]) {
            problems.push(p);
        }
    }
    if let Err(v) = ran.machine.audit() {
        problems.push(format!("audit after the run: {v}"));
    } else if let Some(leak) = leak(&ran.machine) {
        problems.push(leak);
    }
    if let Some(cond) = failed_check.as_ref().filter(|_| !check_failed) {
        problems.push(format!(
            "expected the check `{cond}` to fail, but it did not"
        ));
    }
    match (problems.is_empty(), want_line) {
        (true, None) => Ok(TestResult::Passed(ran.machine.stats())),
        (true, Some(line)) => Ok(TestResult::BrokeAsExpected(line)),
        (false, _) => Ok(TestResult::Failed(problems.join("; "))),
    }
}

/// What each of `copies` guests must end in: `Some(kind)` for a guest whose bit is set in
/// `mask` (`vmm_expect_trap`), from `kinds` (the `vmm-expect-trap-kind:` directive: one kind for
/// every such guest, or one each in index order), `None` for a guest that must return 0.
fn expected_traps(
    mask: u32,
    copies: u32,
    kinds: Option<String>,
) -> anyhow::Result<Vec<Option<TrapKind>>> {
    let trapping: Vec<u32> = (0..copies.min(32)).filter(|i| mask >> i & 1 == 1).collect();
    let all = || {
        TrapKind::ALL
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let named = match (kinds, trapping.is_empty()) {
        (None, true) => return Ok(vec![None; copies as usize]),
        (None, false) => bail!(
            "guests {trapping:?} must trap (vmm_expect_trap {mask}), but the test names no kind of \
             trap: say which with `vmm-expect-trap-kind: <kind>` (one of {})",
            all()
        ),
        (Some(_), true) => bail!(
            "`vmm-expect-trap-kind:` names a trap, but no guest must trap (vmm_expect_trap is {mask})"
        ),
        (Some(v), false) => v
            .split_whitespace()
            .map(|n| {
                TrapKind::from_name(n)
                    .with_context(|| format!("`{n}` is no kind of trap (one of {})", all()))
            })
            .collect::<anyhow::Result<Vec<_>>>()?,
    };
    if named.len() != 1 && named.len() != trapping.len() {
        bail!(
            "`vmm-expect-trap-kind:` names {} kinds for the {} guests that must trap: give one for \
             all, or one for each in index order",
            named.len(),
            trapping.len()
        );
    }
    let mut out = vec![None; copies as usize];
    for (n, &i) in trapping.iter().enumerate() {
        out[i as usize] = Some(named[n.min(named.len() - 1)]);
    }
    Ok(out)
}

/// What is wrong with how guest `o` ended, given the kind of trap it must end in (`None`: it
/// must return 0).
fn outcome_problem(o: &GuestOutcome, want: Option<TrapKind>) -> Option<String> {
    let first = |e: &str| e.lines().next().unwrap_or(e).to_string();
    match (&o.result, want, o.trap) {
        (Ok(0), None, _) => None,
        (Ok(_), None, _) => o.failure(),
        (Err(e), None, _) => Some(format!("guest {}: {}", o.index, first(e))),
        (Err(_), Some(k), Some(got)) if got == k => None,
        (Err(e), Some(k), Some(got)) => Some(format!(
            "guest {} should have trapped with {k}, but trapped with {got}: {}",
            o.index,
            first(e)
        )),
        (Err(e), Some(k), None) => Some(format!(
            "guest {} should have trapped with {k}, but did not run to a trap: {}",
            o.index,
            first(e)
        )),
        (Ok(s), Some(k), _) => Some(format!(
            "guest {} should have trapped with {k}, but returned {s}",
            o.index
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmm::SwapBacking;
    use vmm::PAGE_SIZE;

    const IMPORTS: &str = r#"
  (import "vmm" "mmap" (func $mmap (param i32 i32 i32 i32) (result i32)))
  (import "vmm" "munmap" (func $munmap (param i32 i32) (result i32)))
  (import "vmm" "shmget" (func $shmget (param i32 i32 i32) (result i32)))
  (import "vmm" "shmat" (func $shmat (param i32 i32 i32) (result i32)))
  (import "vmm" "vmm_guest_index" (func $me (result i32)))
  (import "vmm" "vmm_print" (func $print (param i32 i32) (result i32)))
  (memory (export "memory") 1)"#;

    /// A store through a `SHM_RDONLY` attachment.
    const WRITE_TO_READ_ONLY: &str = r#"
    (local.set $a (call $shmat (call $shmget (i32.const 0) (i32.const 4096) (i32.const 0x180))
                               (i32.const 0) (i32.const 4096)))
    (if (i32.lt_s (local.get $a) (i32.const 0)) (then (return (i32.const 1))))
    (i32.store (local.get $a) (i32.const 1))"#;

    /// A load from a page the guest unmapped.
    const OUT_OF_BOUNDS: &str = r#"
    (if (call $munmap (i32.const 4096) (i32.const 4096)) (then (return (i32.const 1))))
    (drop (i32.load (i32.const 4100)))"#;

    /// Maps 64 KiB at a time and touches every page, until no frame or swap slot is left.
    const OUT_OF_MEMORY: &str = r#"
    (loop $more
      (local.set $a (call $mmap (i32.const 0) (i32.const 65536) (i32.const 3) (i32.const 0x1002)))
      (if (i32.lt_s (local.get $a) (i32.const 0)) (then (return (i32.const 1))))
      (local.set $i (i32.const 0))
      (loop $touch
        (i32.store (i32.add (local.get $a) (local.get $i)) (local.get $i))
        (local.set $i (i32.add (local.get $i) (i32.const 4096)))
        (br_if $touch (i32.lt_u (local.get $i) (i32.const 65536))))
      (br $more))"#;

    /// A one-guest test module that must trap, saying so with `header` (directive lines), whose
    /// `main` runs `body`.
    fn trapping(header: &str, body: &str) -> String {
        format!(
            r#"{header}
(module {IMPORTS}
  (global (export "vmm_expect_trap") i32 (i32.const 1))
  (func (export "main") (result i32) (local $a i32) (local $i i32)
    {body}
    (i32.const 0)))"#
        )
    }

    /// Runs the test module `wat` in a machine of 64 frames and 64 swap slots under `semantics`.
    fn run_wat(wat: &str, semantics: Semantics) -> TestResult {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.wat");
        std::fs::write(&path, wat).unwrap();
        let cfg = MachineConfig::default()
            .phys_mem(64 * PAGE_SIZE)
            .swap(64 * PAGE_SIZE)
            .swap_backing(SwapBacking::Memory)
            .semantics(semantics);
        run_test(&Runtime::new().unwrap(), &cfg, &path, dir.path(), true)
    }

    fn failure(r: TestResult) -> String {
        match r {
            TestResult::Failed(why) => why,
            other => panic!("the test should have failed: {other:?}"),
        }
    }

    #[test]
    fn a_trap_of_the_kind_the_test_names_passes() {
        for (kind, body) in [
            ("write-to-read-only", WRITE_TO_READ_ONLY),
            ("out-of-bounds", OUT_OF_BOUNDS),
            ("out-of-memory", OUT_OF_MEMORY),
        ] {
            let header = format!(";; vmm-expect-trap-kind: {kind}");
            let r = run_wat(&trapping(&header, body), Semantics::Proposed);
            assert!(matches!(r, TestResult::Passed(_)), "{kind}: {r:?}");
        }
    }

    #[test]
    fn a_test_expecting_a_write_to_read_only_memory_fails_when_the_guest_traps_out_of_bounds() {
        let header = ";; vmm-expect-trap-kind: write-to-read-only";
        let why = failure(run_wat(
            &trapping(header, OUT_OF_BOUNDS),
            Semantics::Proposed,
        ));
        assert!(
            why.contains("guest 0 should have trapped with write-to-read-only, but trapped with out-of-bounds: wasm trap: out of bounds memory access"),
            "{why}"
        );
    }

    #[test]
    fn a_test_expecting_a_write_to_read_only_memory_fails_when_the_guest_runs_out_of_memory() {
        let header = ";; vmm-expect-trap-kind: write-to-read-only";
        let why = failure(run_wat(
            &trapping(header, OUT_OF_MEMORY),
            Semantics::Proposed,
        ));
        assert!(
            why.contains("guest 0 should have trapped with write-to-read-only, but trapped with out-of-memory: guest trapped: out of memory"),
            "{why}"
        );
    }

    #[test]
    fn a_test_that_expects_a_trap_but_names_no_kind_is_an_error() {
        let why = failure(run_wat(&trapping("", OUT_OF_BOUNDS), Semantics::Proposed));
        assert!(
            why.contains("must trap (vmm_expect_trap 1), but the test names no kind of trap"),
            "{why}"
        );
        let header = ";; vmm-expect-trap-kind: segfault";
        let why = failure(run_wat(
            &trapping(header, OUT_OF_BOUNDS),
            Semantics::Proposed,
        ));
        assert!(why.contains("`segfault` is no kind of trap"), "{why}");
    }

    /// Two guests under the Linux rules, which say guest 0's check `x == 1` fails: guest 0 prints
    /// that and returns 7, guest 1 returns `other`.
    fn check_fails_with_other_guest_returning(other: i32) -> TestResult {
        let wat = format!(
            r#";; vmm-guests: 2
;; linux: check-fails x == 1
(module {IMPORTS}
  (data (i32.const 16) "check failed: x == 1\n")
  (func (export "main") (result i32)
    (if (call $me) (then (return (i32.const {other}))))
    (drop (call $print (i32.const 16) (i32.const 21)))
    (i32.const 7)))"#
        );
        run_wat(&wat, Semantics::Linux)
    }

    #[test]
    fn check_fails_holds_when_the_named_check_fails_and_every_other_guest_passes() {
        let r = check_fails_with_other_guest_returning(0);
        assert!(
            matches!(&r, TestResult::BrokeAsExpected(how) if how == "check failed: x == 1"),
            "{r:?}"
        );
    }

    #[test]
    fn check_fails_fails_when_another_guest_fails_on_its_own() {
        let why = failure(check_fails_with_other_guest_returning(3));
        assert!(why.contains("guest 1 returned 3"), "{why}");
    }
}
