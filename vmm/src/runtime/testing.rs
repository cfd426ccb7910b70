//! Guest test modules: finding them, building C ones, and running each in a fresh machine.
//!
//! A test module exports `main: () -> i32`; it passes when every instance returns 0 and the
//! machine's audit holds afterwards. It may say how many instances of it share the machine
//! (`vmm_guests`, default 1) and which must trap instead (`vmm_expect_trap`, a bit mask: bit i
//! for instance i): a WAT module exports `i32` globals of those names; a C file, which cannot
//! export a constant global, says `// vmm-guests: 2` and `// vmm-expect-trap: 1` in its text.
//! A C test may give its instances identities, `// vmm-creds: 0:0 1000:100` (uid:gid per
//! instance, root for the rest). After the run the audit must hold and nothing may be left but
//! the segments nobody removed ([`leak`]).
//!
//! Under the `netbsd-2019` wiring rules a test may say how the old rules break it, on a line
//! `// netbsd-2019: corrupt <invariant>` (a call finds that invariant broken, a guest traps with
//! "machine state corrupt", the machine stops) or `// netbsd-2019: check-fails <condition>` (a
//! guest's `VMM_CHECK(<condition>)` fails: a wrong answer, with the state still consistent).
//! Such a test passes under the old rules only when it breaks exactly so; under the proposed
//! rules the line is ignored and the test must pass.

use super::{run_guests_with, DumpConfig, GuestSpec, Runtime};
use crate::machine::{Machine, MachineConfig, Stats};
use crate::semantics::Semantics;
use anyhow::{bail, Context as _};
use std::path::{Path, PathBuf};
use std::process::Command;

/// One test module's result.
#[derive(Clone, Debug)]
pub enum TestResult {
    /// Every instance did what it should; the machine's counters at the end.
    Passed(Stats),
    /// Why not.
    Failed(String),
    /// Not run, and why (a C test without clang).
    Skipped(String),
    /// Under the old wiring rules, broke exactly as its `netbsd-2019:` line says it must: how.
    BrokeAsExpected(String),
}

impl TestResult {
    /// Whether the test did what it must (passed, or broke as expected under the old rules).
    pub fn is_ok(&self) -> bool {
        matches!(self, TestResult::Passed(_) | TestResult::BrokeAsExpected(_))
    }
}

/// How a test says the `netbsd-2019` rules break it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum OldRules {
    /// It passes under them too.
    Pass,
    /// A call finds this invariant broken and stops the machine.
    Corrupt(String),
    /// This `VMM_CHECK` condition fails.
    CheckFails(String),
}

fn old_rules(line: Option<String>) -> anyhow::Result<OldRules> {
    let Some(v) = line else {
        return Ok(OldRules::Pass);
    };
    let v = v.as_str();
    if let Some(inv) = v.strip_prefix("corrupt ") {
        Ok(OldRules::Corrupt(inv.trim().to_string()))
    } else if let Some(cond) = v.strip_prefix("check-fails ") {
        Ok(OldRules::CheckFails(cond.trim().to_string()))
    } else {
        bail!("`netbsd-2019:` must be followed by `corrupt <invariant>` or `check-fails <condition>`, not `{v}`")
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

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
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

/// Whether C tests can be built here.
pub fn clang_available() -> bool {
    Command::new("clang")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Compiles a C guest with `clang --target=wasm32` against `vmm.h`; `Ok(None)` when clang is
/// missing.
pub fn build_c(src: &Path, out_dir: &Path) -> anyhow::Result<Option<PathBuf>> {
    if !clang_available() {
        return Ok(None);
    }
    let inc = out_dir.join("include");
    std::fs::create_dir_all(&inc)?;
    std::fs::write(inc.join("vmm.h"), guest_abi::C_HEADER)?;
    let stem = src.file_stem().and_then(|s| s.to_str()).unwrap_or("guest");
    let out = out_dir.join(format!("{stem}.wasm"));
    let o = Command::new("clang")
        .args([
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
        .arg("-o")
        .arg(&out)
        .arg(src)
        .output()
        .context("running clang")?;
    if !o.status.success() {
        bail!(
            "clang failed on {}:\n{}",
            src.display(),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    Ok(Some(out))
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
    let seg_wired: u64 = d
        .segments
        .iter()
        .filter(|s| s.object_wired)
        .map(|s| s.pages)
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
fn parse_cred(s: &str) -> anyhow::Result<crate::machine::Cred> {
    let (u, g) = s
        .split_once(':')
        .with_context(|| format!("`{s}` is not uid:gid"))?;
    Ok(crate::machine::Cred {
        uid: u.parse().with_context(|| format!("bad uid in `{s}`"))?,
        gid: g.parse().with_context(|| format!("bad gid in `{s}`"))?,
    })
}

/// The text after `// name:` in a C test (`;; name:` in a WAT one), if it says one.
fn text_directive(path: &Path, name: &str) -> anyhow::Result<Option<String>> {
    let key = match path.extension().and_then(|x| x.to_str()) {
        Some("c") => format!("// {name}:"),
        Some("wat") => format!(";; {name}:"),
        _ => return Ok(None),
    };
    let text = std::fs::read_to_string(path)?;
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
    match run_test_inner(rt, cfg, path, work, quiet) {
        Ok(r) => r,
        Err(e) => TestResult::Failed(format!("{e:#}")),
    }
}

fn run_test_inner(
    rt: &Runtime,
    cfg: &MachineConfig,
    path: &Path,
    work: &Path,
    quiet: bool,
) -> anyhow::Result<TestResult> {
    let is_c = path.extension().and_then(|x| x.to_str()) == Some("c");
    let expect_old = if cfg.semantics == Semantics::Netbsd2019 {
        old_rules(text_directive(path, "netbsd-2019")?)?
    } else {
        OldRules::Pass
    };
    let directive = |name: &str| -> anyhow::Result<Option<i32>> {
        text_directive(path, name)?
            .map(|v| {
                v.parse()
                    .with_context(|| format!("`// {name}:` needs a number"))
            })
            .transpose()
    };
    let wasm_path = if is_c {
        match build_c(path, work)? {
            Some(p) => p,
            None => return Ok(TestResult::Skipped("clang not found".into())),
        }
    } else {
        path.to_path_buf()
    };
    let bytes =
        std::fs::read(&wasm_path).with_context(|| format!("reading {}", wasm_path.display()))?;
    let bytes = wat::parse_bytes(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        .into_owned();
    let copies = directive("vmm-guests")?
        .or(exported_global(&bytes, "vmm_guests")?)
        .unwrap_or(1);
    if !(1..=64).contains(&copies) {
        bail!("vmm_guests must be between 1 and 64, not {copies}");
    }
    let expect_trap = directive("vmm-expect-trap")?
        .or(exported_global(&bytes, "vmm_expect_trap")?)
        .unwrap_or(0) as u32;
    let creds = match text_directive(path, "vmm-creds")? {
        None => Vec::new(),
        Some(v) => v
            .split_whitespace()
            .map(parse_cred)
            .collect::<anyhow::Result<Vec<_>>>()?,
    };
    let module = rt.compile(&bytes).context("compiling")?;
    let machine = Machine::new(cfg.clone()).context("building the machine")?;
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
    let output = std::sync::Arc::new(parking_lot::Mutex::new(String::new()));
    let out = output.clone();
    let dump = DumpConfig {
        sink: std::sync::Arc::new(move |d: &str| {
            if !quiet {
                eprint!("{d}");
            }
        }),
        ..DumpConfig::default()
    };
    let outcomes = run_guests_with(
        rt,
        &machine,
        (0..copies as usize)
            .map(|i| GuestSpec {
                module: module.clone(),
                config: crate::machine::GuestConfig {
                    cred: creds.get(i).copied().unwrap_or(crate::machine::Cred::ROOT),
                    memlock_limit: None,
                },
            })
            .collect(),
        move |i, b| {
            let text = String::from_utf8_lossy(b);
            if !quiet {
                eprint!("[{name} #{i}] {text}");
            }
            out.lock().push_str(&text);
        },
        dump,
    );
    drop(pagedaemon);
    match expect_old {
        OldRules::Pass => {}
        OldRules::Corrupt(inv) => {
            let Some(c) = machine.corruption() else {
                bail!("the old rules should have corrupted the state ({inv}), but nothing broke");
            };
            if c.violation.invariant != inv {
                bail!("expected `{inv}` to break, but {}", c.violation);
            }
            let trapped = outcomes.iter().any(|o| {
                o.trapped && matches!(&o.result, Err(e) if e.contains("machine state corrupt"))
            });
            if !trapped {
                bail!(
                    "the state broke ({}) but no guest trapped for it",
                    c.violation
                );
            }
            return Ok(TestResult::BrokeAsExpected(c.to_string()));
        }
        OldRules::CheckFails(cond) => {
            let want = format!("check failed: {cond}");
            if let Some(c) = machine.corruption() {
                bail!("expected `{cond}` to fail, but the state broke: {c}");
            }
            if let Err(v) = machine.audit() {
                bail!("audit after the run: {v}");
            }
            if !output.lock().lines().any(|l| l == want) {
                bail!("expected the check `{cond}` to fail, but it did not");
            }
            return Ok(TestResult::BrokeAsExpected(want));
        }
    }
    let mut problems = Vec::new();
    for o in &outcomes {
        let must_trap = expect_trap & (1 << o.index) != 0;
        match (&o.result, must_trap) {
            (Ok(0), false) => {}
            (Ok(s), false) => problems.push(format!("guest {} returned {s}", o.index)),
            (Err(_), true) if o.trapped => {}
            (r, true) => problems.push(format!("guest {} should have trapped, got {r:?}", o.index)),
            (Err(e), false) => problems.push(format!(
                "guest {}: {}",
                o.index,
                e.lines().next().unwrap_or(e)
            )),
        }
    }
    if let Err(v) = machine.audit() {
        problems.push(format!("audit after the run: {v}"));
    } else if let Some(leak) = leak(&machine) {
        problems.push(leak);
    }
    if problems.is_empty() {
        Ok(TestResult::Passed(machine.stats()))
    } else {
        Ok(TestResult::Failed(problems.join("; ")))
    }
}
