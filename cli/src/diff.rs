//! `vmm diff`: the host kernel as the oracle. A portable C program is built twice, with the
//! host's C compiler and as a guest, run both ways, and what each printed is compared line by
//! line.
//!
//! A program prints its observations, one a line: call results with errno names, `mincore`
//! vectors, `IPC_STAT` fields, never an address (see `guests/posix/observe.h`). Several
//! processes are several guests: a program that says `// vmm-guests: N` starts N processes with
//! `guests/posix/procs.h` (natively it forks; as guests, `--copies N` and `vmm_barrier`), and
//! its output is each process's lines in turn, process 0 first, however they interleaved in
//! time. Its status is the first non-zero status in the same order.
//!
//! A program may use vmm's test helpers (`#include <vmm_test.h>`): natively they stand for one
//! process on a kernel that pages on its own (`vmm_reclaim` reclaims nothing), so such a program
//! prints only what holds both ways.
//!
//! A program may say what the host must allow, `// vmm-needs: root` (privilege, for `SHM_LOCK`
//! or `mlockall` without a limit) or `// vmm-needs: linux`; where the host does not, the
//! comparison is skipped and says why.

use crate::testing::build_c;
use anyhow::{bail, Context as _};
use parking_lot::Mutex;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use vmm::machine::{Cred, GuestConfig, Machine, MachineConfig};
use vmm::rules::Semantics;
use vmm::runtime::{run_guests_io, wasi, DumpConfig, GuestSpec, Run, Runtime};
use vmm::vm::swap::SwapBacking;
use vmm::Caps;

/// What one run of a program printed on its standard output, and its exit status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    /// The standard output, each process's lines in turn.
    pub stdout: String,
    /// The exit status (the first non-zero one, in process order).
    pub status: i32,
}

/// How a comparison came out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Both runs printed the same and ended with the same status.
    Same(Observed),
    /// They differ: the unified diff, native first.
    Differs(String),
    /// Not compared, and why.
    Skipped(String),
}

/// The rule set that stands for the host's kernel, if this project has one for it.
pub fn host_semantics() -> Option<Semantics> {
    match std::env::consts::OS {
        "linux" => Some(Semantics::Linux),
        "freebsd" => Some(Semantics::Freebsd),
        "illumos" | "solaris" => Some(Semantics::Illumos),
        _ => None,
    }
}

/// How many processes the program starts (`// vmm-guests: N`, 1 by default).
pub fn processes(text: &str) -> anyhow::Result<u32> {
    match directive(text, "vmm-guests") {
        None => Ok(1),
        Some(v) => match v.parse::<u32>() {
            Ok(n @ 1..=16) => Ok(n),
            _ => bail!("`// vmm-guests:` must be a number from 1 to 16, not `{v}`"),
        },
    }
}

fn directive<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("// {name}:");
    text.lines()
        .find_map(|l| l.trim().strip_prefix(key.as_str()))
        .map(str::trim)
}

/// Why the host cannot run the program natively, if it cannot.
pub fn host_refuses(text: &str) -> Option<String> {
    for need in directive(text, "vmm-needs")
        .unwrap_or("")
        .split_whitespace()
    {
        match need {
            "linux" if std::env::consts::OS != "linux" => {
                return Some(format!(
                    "needs Linux; this host runs {}",
                    std::env::consts::OS
                ))
            }
            "root" if !is_root() => {
                return Some("needs privilege (CAP_IPC_LOCK for SHM_LOCK); run as root".to_string())
            }
            "linux" | "root" => {}
            other => return Some(format!("unknown need `{other}` in `// vmm-needs:`")),
        }
    }
    None
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .is_some_and(|s| s.trim() == "0")
}

/// Builds `src` with the host's C compiler (`cc`) and runs it in `work` with `args` and exactly
/// `env`. `Ok(Err(why))` when the host has no C compiler.
pub fn native(
    src: &Path,
    work: &Path,
    args: &[String],
    env: &[(String, String)],
) -> anyhow::Result<Result<Observed, String>> {
    let stem = src
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("program");
    let exe = work.join(format!("{stem}.native"));
    // `<vmm_test.h>` builds natively too, its helpers standing for one process.
    let inc = work.join("native-include");
    std::fs::create_dir_all(&inc)?;
    std::fs::write(inc.join("vmm_test.h"), guest_abi::posix::TEST_HEADER)?;
    let built = match Command::new("cc")
        .args(["-Wall", "-O1", "-o"])
        .arg(&exe)
        .arg("-I")
        .arg(&inc)
        .arg(src)
        .output()
    {
        Ok(o) => o,
        Err(e) => return Ok(Err(format!("no host C compiler (cc: {e})"))),
    };
    if !built.status.success() {
        let err = String::from_utf8_lossy(&built.stderr);
        let first = err.lines().find(|l| l.contains("error")).unwrap_or("");
        bail!("{} does not build natively: {first}", src.display());
    }
    let o = Command::new(&exe)
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(work)
        .output()
        .with_context(|| format!("running {}", exe.display()))?;
    let status = match o.status.code() {
        Some(c) => c,
        None => bail!("{} was killed by a signal natively: {}", stem, o.status),
    };
    Ok(Ok(Observed {
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        status,
    }))
}

/// A guest's identity: ids and capabilities, and its `RLIMIT_MEMLOCK` (soft, hard; `None`:
/// the machine's default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Ids and capabilities.
    pub cred: Cred,
    /// `RLIMIT_MEMLOCK`, soft and hard, in bytes.
    pub memlock: Option<(u64, u64)>,
}

impl Identity {
    /// Root with every capability and no locked-memory limit of its own: the default of every
    /// rule set but `linux`.
    pub const ROOT: Identity = Identity {
        cred: Cred::ROOT,
        memlock: None,
    };

    /// The guest configuration it stands for.
    pub fn config(&self) -> GuestConfig {
        GuestConfig {
            cred: self.cred,
            memlock_limit: self.memlock.map(|l| l.0),
            memlock_hard: self.memlock.map(|l| l.1),
        }
    }
}

/// The invoking host process's identity: its real uid and gid and its effective capabilities
/// (`Uid`, `Gid` and `CapEff` of `/proc/self/status`), and its `RLIMIT_MEMLOCK` (`Max locked
/// memory` of `/proc/self/limits`), read from procfs rather than through libc so that the CLI
/// stays free of `unsafe`. On a host without procfs it is [`Identity::ROOT`]. Under
/// `--semantics linux` and in `vmm diff` a guest is this by default, so that a program meets
/// the limits it would meet natively.
pub fn host_identity() -> Identity {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return Identity::ROOT;
    };
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.split_whitespace().collect::<Vec<_>>())
    };
    let first_id = |name: &str| field(name)?.first()?.parse::<u32>().ok();
    let (Some(uid), Some(gid)) = (first_id("Uid:"), first_id("Gid:")) else {
        return Identity::ROOT;
    };
    let mut cred = Cred::new(uid, gid);
    if let Some(eff) =
        field("CapEff:").and_then(|v| v.first().and_then(|h| u64::from_str_radix(h, 16).ok()))
    {
        cred = cred.with_caps(Caps::from_bits_retain(eff));
    }
    let memlock = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| parse_memlock_line(&l));
    Identity { cred, memlock }
}

/// `Max locked memory  SOFT  HARD  bytes` of `/proc/self/limits` (`unlimited` is no limit).
fn parse_memlock_line(limits: &str) -> Option<(u64, u64)> {
    let rest = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max locked memory"))?;
    let mut v = rest.split_whitespace().map(|w| match w {
        "unlimited" => Some(u64::MAX),
        n => n.parse().ok(),
    });
    Some((v.next()??, v.next()??))
}

/// Builds `src` as a guest and runs as many guests as it starts processes, under `semantics`,
/// on a machine with the CLI's defaults. `Ok(Err(why))` when this machine cannot build guests.
pub fn guest(
    rt: &Runtime,
    src: &Path,
    semantics: Semantics,
    work: &Path,
    run: &GuestRun,
) -> anyhow::Result<Result<Observed, String>> {
    let (args, env) = (&run.args, &run.env);
    let text =
        std::fs::read_to_string(src).with_context(|| format!("reading {}", src.display()))?;
    let n = processes(&text)?;
    let Some(wasm) = build_c(src, work)? else {
        return Ok(Err(
            "cannot build guests here (clang for wasm32 and wasi-libc are needed)".to_string(),
        ));
    };
    let module = rt.load(&wasm)?;
    let machine = Machine::new(
        MachineConfig::default()
            .semantics(semantics)
            .phys_mem(64 << 20)
            .swap(64 << 20)
            .swap_backing(SwapBacking::Memory),
    )?;
    let lines: Arc<Mutex<Vec<Vec<u8>>>> = Arc::new(Mutex::new(vec![Vec::new(); n as usize]));
    let sink = lines.clone();
    let stdio: wasi::StdioSink = Arc::new(move |i, s, b| {
        if s == wasi::Stream::Out {
            if let Some(out) = sink.lock().get_mut(i as usize) {
                out.extend_from_slice(b);
            }
        }
    });
    let program = src
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("program")
        .to_string();
    let specs = (0..n)
        .map(|_| {
            let mut spec = GuestSpec::new(module.clone());
            spec.config = run.identity.config();
            spec.wasi.program = program.clone();
            spec.wasi.args = args.to_vec();
            spec.wasi.env = env.to_vec();
            spec.wasi.dirs = run.dirs.clone();
            spec
        })
        .collect();
    let run = Run::with_io(n, |_, _| {}, stdio, DumpConfig::default());
    let outcomes = run_guests_io(rt, &machine, specs, run);
    if let Some(c) = machine.corruption() {
        bail!("the machine's state broke: {c}");
    }
    machine
        .audit()
        .map_err(|v| anyhow::anyhow!("audit after the run: {v}"))?;
    let mut status = 0;
    for o in &outcomes {
        match &o.result {
            Ok(s) if status == 0 => status = *s,
            Ok(_) => {}
            Err(e) => bail!("guest {} did not finish: {e}", o.index),
        }
    }
    let stdout = lines
        .lock()
        .iter()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    Ok(Ok(Observed { stdout, status }))
}

/// What the guests of a comparison get besides their module: arguments, environment, host
/// directories and identity (natively the program runs with the host's own).
#[derive(Clone, Debug)]
pub struct GuestRun {
    /// Arguments after the program's name.
    pub args: Vec<String>,
    /// The environment, and nothing else.
    pub env: Vec<(String, String)>,
    /// Host directories, each with the path the guest sees it at.
    pub dirs: Vec<(std::path::PathBuf, String)>,
    /// The guests' identity ([`host_identity`] by default).
    pub identity: Identity,
}

impl GuestRun {
    /// No arguments, environment or directories, and the host's identity.
    pub fn host() -> GuestRun {
        GuestRun {
            args: Vec::new(),
            env: Vec::new(),
            dirs: Vec::new(),
            identity: host_identity(),
        }
    }
}

/// Runs `src` natively and as guests under `semantics` and compares what they printed.
pub fn compare(
    rt: &Runtime,
    src: &Path,
    semantics: Semantics,
    work: &Path,
    run: &GuestRun,
) -> anyhow::Result<Outcome> {
    let (args, env) = (&run.args[..], &run.env[..]);
    let text =
        std::fs::read_to_string(src).with_context(|| format!("reading {}", src.display()))?;
    if let Some(why) = host_refuses(&text) {
        return Ok(Outcome::Skipped(why));
    }
    let native = match native(src, work, args, env)? {
        Ok(o) => o,
        Err(why) => return Ok(Outcome::Skipped(why)),
    };
    let guest = match guest(rt, src, semantics, work, run)? {
        Ok(o) => o,
        Err(why) => return Ok(Outcome::Skipped(why)),
    };
    if native == guest {
        return Ok(Outcome::Same(native));
    }
    let mut d = unified(
        &with_status(&native),
        &with_status(&guest),
        "native",
        &format!("vmm ({semantics})"),
    );
    if d.is_empty() {
        d = "(the outputs differ only in invisible characters)".to_string();
    }
    Ok(Outcome::Differs(d))
}

fn with_status(o: &Observed) -> String {
    let mut s = o.stdout.clone();
    if !s.is_empty() && !s.ends_with('\n') {
        s.push('\n');
    }
    s.push_str(&format!("[exit status {}]\n", o.status));
    s
}

/// A unified diff of two texts, line by line, with three lines of context; empty when equal.
pub fn unified(a: &str, b: &str, a_name: &str, b_name: &str) -> String {
    let a: Vec<&str> = a.lines().collect();
    let b: Vec<&str> = b.lines().collect();
    // Longest common subsequence, by dynamic programming: outputs are small.
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    // The edit script: each line kept, added or removed.
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', a[i]));
            i += 1;
        } else {
            ops.push(('+', b[j]));
            j += 1;
        }
    }
    if ops.iter().all(|(t, _)| *t == ' ') {
        return String::new();
    }
    let mut out = format!("--- {a_name}\n+++ {b_name}\n");
    let changed: Vec<usize> = (0..ops.len()).filter(|&k| ops[k].0 != ' ').collect();
    let mut k = 0;
    while k < changed.len() {
        let start = changed[k].saturating_sub(3);
        let mut end = (changed[k] + 4).min(ops.len());
        while k + 1 < changed.len() && changed[k + 1] < end + 3 {
            k += 1;
            end = (changed[k] + 4).min(ops.len());
        }
        let a_start = ops[..start].iter().filter(|(t, _)| *t != '+').count();
        let b_start = ops[..start].iter().filter(|(t, _)| *t != '-').count();
        let a_len = ops[start..end].iter().filter(|(t, _)| *t != '+').count();
        let b_len = ops[start..end].iter().filter(|(t, _)| *t != '-').count();
        out.push_str(&format!(
            "@@ -{},{a_len} +{},{b_len} @@\n",
            a_start + 1,
            b_start + 1
        ));
        for (t, l) in &ops[start..end] {
            out.push(*t);
            out.push_str(l);
            out.push('\n');
        }
        k += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_have_no_diff() {
        assert_eq!(unified("a\nb\n", "a\nb\n", "x", "y"), "");
    }

    #[test]
    fn a_changed_line_shows_with_its_context() {
        let a = "1\n2\n3\n4\n5\n6\n7\n8\n";
        let b = "1\n2\n3\n4\nfive\n6\n7\n8\n";
        let d = unified(a, b, "native", "vmm");
        assert_eq!(
            d,
            "--- native\n+++ vmm\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"
        );
    }

    #[test]
    fn the_memlock_line_of_proc_limits_is_read() {
        let l = "Max cpu time  unlimited  unlimited  seconds\nMax locked memory  8388608  unlimited  bytes\n";
        assert_eq!(parse_memlock_line(l), Some((8 << 20, u64::MAX)));
        assert_eq!(parse_memlock_line("nothing"), None);
    }

    #[test]
    fn directives_are_read_and_checked() {
        assert_eq!(processes("int main;").unwrap(), 1);
        assert_eq!(processes("// vmm-guests: 3\n").unwrap(), 3);
        assert!(processes("// vmm-guests: 99\n").is_err());
        assert!(host_refuses("// vmm-needs: teleport\n").is_some());
        assert_eq!(host_refuses("no needs"), None);
    }
}
