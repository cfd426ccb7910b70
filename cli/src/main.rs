//! The `vmm` command: run guests, run guest tests, run spec-test scripts.

use anyhow::{bail, Context as _};
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use vmm::runtime::{run_guests_with, DumpConfig, DumpFormat, GuestOutcome, GuestSpec, Runtime};
use vmm::vm::pmap::PagingMode;
use vmm::{Caps, Cred, FaultAhead, Machine, MachineConfig, Semantics, Stats, SwapBacking};
use vmm_cli::diff::Identity;
use vmm_cli::testing::{find_tests, run_test_reported, TestResult};

#[derive(Parser)]
#[command(
    name = "vmm",
    version,
    about = "WebAssembly guests on a UVM-style paged, wired memory"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

// Parsed once per process: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Cmd {
    /// Run modules as the guests of one machine.
    Run {
        #[command(flatten)]
        machine: MachineArgs,
        /// Instances of each module (at most 16384 guests in all, the fault registry's size).
        /// Default: as many as the module is written for (an exported `vmm_guests` global, or a
        /// `// vmm-guests: N` line in a C source), else 1. Given, it wins: a module written for
        /// another number still runs this many, with a warning naming both.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=vmm::vm::pmap::MAX_VIEWS as i64))]
        copies: Option<u32>,
        #[command(flatten)]
        dump: DumpArgs,
        #[command(flatten)]
        identity: IdentityArgs,
        /// Identity of one guest, `INDEX=uid:gid` (guests count from 0 in command-line order,
        /// copies included); may be repeated.
        #[arg(long = "guest-cred", value_parser = parse_guest_cred)]
        guest_creds: Vec<(usize, Cred)>,
        /// An environment variable for every guest, `KEY=VALUE` (none of the host's is passed);
        /// may be repeated.
        #[arg(long = "env", value_parser = vmm::runtime::wasi::parse_env)]
        env: Vec<(String, String)>,
        /// A host directory every guest may use, `HOST[::GUEST]` (none by default); may be
        /// repeated.
        #[arg(long = "dir", value_parser = vmm::runtime::wasi::parse_dir)]
        dirs: Vec<(PathBuf, String)>,
        /// Guest modules (.wasm, .wat, or .c built with clang): WASI commands (`_start`, a C
        /// `int main`) or vmm test modules (`main: () -> i32`).
        #[arg(required = true)]
        modules: Vec<PathBuf>,
        /// Arguments for every guest, after `--`.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Run every test module found under the paths, each in a fresh machine.
    Test {
        #[command(flatten)]
        machine: MachineArgs,
        /// Do not show guest output.
        #[arg(long, short)]
        quiet: bool,
        /// Write one HTML report per test into this directory (each rule set side by side).
        #[arg(long, value_name = "DIR")]
        report: Option<PathBuf>,
        /// Test modules (.wat, .wasm, .c) or directories holding them.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Run WebAssembly spec-test scripts with every memory on the paged machine.
    Wast {
        #[command(flatten)]
        machine: MachineArgs,
        /// Page out every unwired page after each directive, so every access faults.
        #[arg(long)]
        evict_each: bool,
        /// Scripts (.wast).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Build portable C programs natively and as guests, run both, and print a unified diff of
    /// what they printed (exit 0 when every program printed the same both ways).
    Diff {
        /// The rule set that stands for the host's kernel (default: the host's own, detected).
        #[arg(long, value_parser = parse_one_semantics)]
        semantics: Option<Semantics>,
        #[command(flatten)]
        identity: IdentityArgs,
        /// A host directory the guests may use, `HOST[::GUEST]` (none by default; the native
        /// run sees the host's files as they are); may be repeated.
        #[arg(long = "dir", value_parser = vmm::runtime::wasi::parse_dir)]
        dirs: Vec<(PathBuf, String)>,
        /// Portable C programs (standard headers; see guests/posix/observe.h and procs.h).
        #[arg(required = true)]
        programs: Vec<PathBuf>,
    },
}

/// Who every guest is: ids, capabilities and `RLIMIT_MEMLOCK`.
#[derive(Args, Clone)]
struct IdentityArgs {
    /// Identity of every guest, `uid:gid` (real, effective and saved ids; every capability for
    /// uid 0, none for any other). Default: the invoking process's under `--semantics linux`
    /// and in `vmm diff`, else 0:0.
    #[arg(long, value_parser = parse_cred)]
    cred: Option<Cred>,
    /// Effective and permitted capabilities of every guest: `none`, `all`, or a comma-separated
    /// list of Linux capability names or numbers (`ipc_lock,cap_sys_resource,15`). Default: the
    /// invoking process's `CapEff` where the identity is the host's, else all for uid 0 and
    /// none otherwise. Only `--semantics linux` asks capabilities; the others ask for uid 0.
    #[arg(long, value_parser = parse_caps)]
    caps: Option<Caps>,
    /// `RLIMIT_MEMLOCK` of every guest, `SOFT[:HARD]` (sizes as `--phys-mem`, or `unlimited`;
    /// HARD defaults to SOFT). Default: the invoking process's where the identity is the
    /// host's, else `--memlock-limit`.
    #[arg(long, value_parser = parse_memlock)]
    memlock: Option<(u64, u64)>,
}

impl IdentityArgs {
    /// The identity the flags give, over the host's (`host`) or root with no limit.
    fn identity(&self, host: bool) -> Identity {
        let mut id = if host {
            vmm_cli::diff::host_identity()
        } else {
            Identity::ROOT
        };
        if let Some(c) = self.cred {
            id.cred = c;
        }
        if let Some(caps) = self.caps {
            id.cred = id.cred.with_caps(caps);
        }
        if let Some(m) = self.memlock {
            id.memlock = Some(m);
        }
        id
    }
}

/// Linux's capability names (`include/uapi/linux/capability.h`), by number.
const CAP_NAMES: [&str; 41] = [
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
];

fn parse_caps(s: &str) -> Result<Caps, String> {
    match s {
        "none" => return Ok(Caps::empty()),
        "all" => return Ok(Caps::FULL),
        _ => {}
    }
    let mut caps = Caps::empty();
    for item in s.split(',') {
        let name = item.trim().to_ascii_lowercase();
        let name = name.strip_prefix("cap_").unwrap_or(&name);
        let bit = match name.parse::<u32>() {
            Ok(n) if n < 64 => n,
            Ok(_) => return Err(format!("capability number {name} is not 0 to 63")),
            Err(_) => CAP_NAMES.iter().position(|c| *c == name).ok_or_else(|| {
                format!(
                    "unknown capability `{}` (none, all, or a comma-separated list of names such as ipc_lock, ipc_owner, sys_admin, sys_resource, or numbers 0 to 63)",
                    item.trim()
                )
            })? as u32,
        };
        caps |= Caps::from_bits_retain(1 << bit);
    }
    Ok(caps)
}

fn parse_memlock(s: &str) -> Result<(u64, u64), String> {
    let one = |v: &str| match v {
        "unlimited" | "infinity" => Ok(u64::MAX),
        v => parse_size(v).map_err(|e| format!("--memlock {s}: {e}")),
    };
    let (soft, hard) = match s.split_once(':') {
        Some((a, b)) => (one(a)?, one(b)?),
        None => (one(s)?, one(s)?),
    };
    if soft > hard {
        return Err(format!(
            "--memlock {s}: the soft limit is above the hard one"
        ));
    }
    Ok((soft, hard))
}

fn parse_one_semantics(s: &str) -> Result<Semantics, String> {
    s.parse()
}

#[derive(Args, Clone)]
struct MachineArgs {
    /// Physical memory (bytes, or with a K/M/G suffix).
    #[arg(long, default_value = "64M", value_parser = parse_size)]
    phys_mem: u64,
    /// Swap size.
    #[arg(long, default_value = "256M", value_parser = parse_size)]
    swap: u64,
    /// Swap backing: `file` (a temporary file), `memory`, or a path.
    #[arg(long, default_value = "file")]
    swap_backing: String,
    /// Most memory wired machine-wide (default: three quarters of physical memory).
    #[arg(long, value_parser = parse_size)]
    wired_max: Option<u64>,
    /// Locked-memory limit of each guest (default: none).
    #[arg(long, value_parser = parse_size)]
    memlock_limit: Option<u64>,
    /// Frames the pagedaemon thread keeps free (default: a thirty-second of memory, at least 1).
    #[arg(long)]
    free_target: Option<u64>,
    /// How guest memory faults: `auto`, `userfault` or `protect`.
    #[arg(long, default_value = "auto")]
    paging: String,
    /// Fault-ahead: `on` (a fault from swap brings in up to 3 paged-out neighbours before and 4
    /// after, more for sequential access) or `off` (one page per fault).
    #[arg(long, default_value = "on")]
    fault_ahead: String,
    /// Wiring rules: `proposed` (the fix), `netbsd-2019` (NetBSD's 2019 rules, replaying the bug),
    /// `linux`, `freebsd` or `illumos`. `vmm test` runs every test under `proposed` and the rule
    /// set given, side by side; `vmm test --semantics all` under all five.
    #[arg(long, default_value = "proposed", value_parser = parse_semantics)]
    semantics: SemanticsArg,
}

#[derive(Args, Clone)]
struct DumpArgs {
    /// Dump each guest's map just before it exits, and the machine's view at the end.
    #[arg(long)]
    dump_at_exit: bool,
    /// In dumps at exit, one row per run of like pages: residency and who wires them.
    #[arg(long)]
    dump_pages: bool,
    /// Dump format (for `--dump-at-exit` and guests' `vmm_dump` calls).
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Write dumps to this file instead of stderr.
    #[arg(long)]
    dump_file: Option<PathBuf>,
    /// Write a report of the run to this HTML file: a page map of every guest at each
    /// `vmm_dump` and exit, and a timeline of calls and events (one self-contained file).
    #[arg(long, value_name = "FILE.html")]
    report: Option<PathBuf>,
}

#[derive(clap::ValueEnum, Clone, Copy)]
enum Format {
    Text,
    Json,
}

impl DumpArgs {
    fn config(&self) -> anyhow::Result<DumpConfig> {
        let sink: Arc<dyn Fn(&str) + Send + Sync> = match &self.dump_file {
            None => Arc::new(|s: &str| eprint!("{s}")),
            Some(p) => {
                let f = std::fs::File::create(p)
                    .with_context(|| format!("creating the dump file {}", p.display()))?;
                let f = Mutex::new(f);
                Arc::new(move |s: &str| {
                    use std::io::Write as _;
                    let _ = f
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .write_all(s.as_bytes());
                })
            }
        };
        Ok(DumpConfig {
            format: match self.format {
                Format::Text => DumpFormat::Text,
                Format::Json => DumpFormat::Json,
            },
            at_exit: self.dump_at_exit,
            pages: self.dump_pages,
            sink,
            report: self
                .report
                .as_ref()
                .map(|_| vmm::runtime::snapshots::Collector::new()),
        })
    }
}

fn parse_cred(s: &str) -> Result<Cred, String> {
    let (u, g) = s
        .split_once(':')
        .ok_or_else(|| format!("`{s}` is not uid:gid"))?;
    Ok(Cred::new(
        u.parse().map_err(|_| format!("bad uid `{u}`"))?,
        g.parse().map_err(|_| format!("bad gid `{g}`"))?,
    ))
}

fn parse_guest_cred(s: &str) -> Result<(usize, Cred), String> {
    let (i, c) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not INDEX=uid:gid"))?;
    Ok((
        i.parse().map_err(|_| format!("bad guest index `{i}`"))?,
        parse_cred(c)?,
    ))
}

fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mul) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        None => (t, 1u64),
        Some((i, _)) => {
            let mul = match t[i..].to_ascii_uppercase().as_str() {
                "K" | "KB" | "KIB" => 1 << 10,
                "M" | "MB" | "MIB" => 1 << 20,
                "G" | "GB" | "GIB" => 1 << 30,
                "B" => 1,
                other => return Err(format!("unknown size suffix `{other}` (use K, M or G)")),
            };
            (&t[..i], mul)
        }
    };
    let n: u64 = num.parse().map_err(|_| format!("`{s}` is not a size"))?;
    n.checked_mul(mul)
        .ok_or_else(|| format!("`{s}` is too large"))
}

/// One rule set, or every one (`vmm test` only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SemanticsArg {
    One(Semantics),
    All,
}

fn parse_semantics(s: &str) -> Result<SemanticsArg, String> {
    if s == "all" {
        Ok(SemanticsArg::All)
    } else {
        s.parse().map(SemanticsArg::One).map_err(|_| {
            let names: Vec<_> = Semantics::ALL.iter().map(|m| m.name()).collect();
            format!("unknown semantics `{s}` ({}, or all)", names.join(", "))
        })
    }
}

impl MachineArgs {
    /// The rule sets to run under: the one given, or all of them.
    fn modes(&self) -> Vec<Semantics> {
        match self.semantics {
            SemanticsArg::One(m) => vec![m],
            SemanticsArg::All => Semantics::ALL.to_vec(),
        }
    }

    /// Refuses `--semantics all` where one machine runs.
    fn one_mode(&self, cmd: &str) -> anyhow::Result<()> {
        if self.semantics == SemanticsArg::All {
            bail!("`vmm {cmd}` runs one machine: give one rule set to --semantics (`all` is for `vmm test`)");
        }
        Ok(())
    }

    fn config(&self) -> anyhow::Result<MachineConfig> {
        if self.phys_mem < vmm::PAGE_SIZE {
            bail!(
                "--phys-mem must be at least one page ({} bytes)",
                vmm::PAGE_SIZE
            );
        }
        if self.phys_mem > 64 << 30 || self.swap > 1 << 40 {
            bail!("--phys-mem is limited to 64G and --swap to 1T");
        }
        let backing = match self.swap_backing.as_str() {
            "file" => SwapBacking::TempFile,
            "memory" => SwapBacking::Memory,
            p => SwapBacking::Path(p.into()),
        };
        let frames = self.phys_mem.div_ceil(vmm::PAGE_SIZE);
        let mut cfg = MachineConfig::default()
            .semantics(self.modes()[0])
            .phys_mem(self.phys_mem)
            .swap(self.swap)
            .swap_backing(backing)
            .free_target(self.free_target.unwrap_or((frames / 32).max(1)).min(frames) as u32);
        if let Some(w) = self.wired_max {
            cfg = cfg.wired_max(w);
        }
        if let Some(l) = self.memlock_limit {
            cfg = cfg.memlock_limit(l);
        }
        cfg.paging = match self.paging.as_str() {
            "auto" => None,
            "userfault" => Some(PagingMode::Userfault),
            "protect" => Some(PagingMode::Protect),
            other => bail!("--paging must be auto, userfault or protect, not `{other}`"),
        };
        cfg.fault_ahead = match self.fault_ahead.as_str() {
            "on" => FaultAhead::NORMAL,
            "off" => FaultAhead::OFF,
            other => bail!("--fault-ahead must be on or off, not `{other}`"),
        };
        Ok(cfg)
    }
}

const PDAEMON_PERIOD: std::time::Duration = std::time::Duration::from_millis(5);

fn summary(st: &Stats) -> String {
    format!(
        "{} faults, {} zero fills, {} page-ins, {} evictions, peak wired {} of {} frames",
        st.faults, st.zero_fills, st.page_ins, st.evictions, st.peak_wired, st.frames
    )
}

fn paging_note(cfg: &MachineConfig) -> anyhow::Result<()> {
    let m = Machine::new(cfg.clone()).context("building the machine")?;
    if let (PagingMode::Protect, Some(why)) = m.paging() {
        eprintln!("vmm: {why}");
    }
    Ok(())
}

/// How many guests of module `path` (`wasm`, its binary) `vmm run` starts: `--copies` if given,
/// else as many as the module is written for, else 1. When `--copies` disagrees with the
/// module, it wins and a warning names both numbers (a module written for two guests, run
/// alone, fails at its first barrier or check with no other word why).
fn instances(path: &std::path::Path, wasm: &[u8], copies: Option<u32>) -> anyhow::Result<u32> {
    let wanted = vmm_cli::testing::guests_wanted(path, wasm)?;
    let max = vmm::vm::pmap::MAX_VIEWS as i32;
    match (copies, wanted) {
        (Some(c), Some((w, how))) if i64::from(c) != i64::from(w) => {
            eprintln!(
                "vmm: warning: {} is written for {w} guests ({how}); running {c}, as --copies says",
                path.display()
            );
            Ok(c)
        }
        (Some(c), _) => Ok(c),
        (None, Some((w, how))) if !(1..=max).contains(&w) => bail!(
            "{}: {how} asks for {w} guests; it must be 1 to {max}",
            path.display()
        ),
        (None, Some((w, _))) => Ok(w as u32),
        (None, None) => Ok(1),
    }
}

/// What every guest of `vmm run` gets from the command line besides its module.
struct GuestArgs {
    identity: IdentityArgs,
    guest_creds: Vec<(usize, Cred)>,
    env: Vec<(String, String)>,
    dirs: Vec<(PathBuf, String)>,
    args: Vec<String>,
}

fn run(
    machine: MachineArgs,
    copies: Option<u32>,
    dump: DumpArgs,
    ga: GuestArgs,
    modules: Vec<PathBuf>,
) -> anyhow::Result<ExitCode> {
    machine.one_mode("run")?;
    let cfg = machine.config()?;
    let report_file = dump.report.clone();
    let dump = dump.config()?;
    paging_note(&cfg)?;
    let rt = Runtime::new()?;
    let work = tempfile::tempdir().context("creating a build directory")?;
    let specs = guest_specs(&rt, &cfg, work.path(), copies, ga, &modules)?;
    let semantics = cfg.semantics;
    let m = Machine::new(cfg).context("building the machine (swap backing?)")?;
    if report_file.is_some() {
        m.record_events(vmm_cli::report::EVENTS);
    }
    let guests = specs.len() as u32;
    let _pagedaemon = m
        .start_pagedaemon(PDAEMON_PERIOD)
        .context("starting the pagedaemon")?;
    let outcomes = run_guests_with(
        &rt,
        &m,
        specs,
        |i, b| print!("[guest {i}] {}", String::from_utf8_lossy(b)),
        dump.clone(),
    );
    if dump.at_exit {
        let d = m.dump_machine();
        (dump.sink)(&match dump.format {
            DumpFormat::Text => format!("== machine at the end ==\n{}", d.text()),
            DumpFormat::Json => format!("{}\n", serde_json::to_string(&d)?),
        });
    }
    let (ok, status) = judge_run(&m, &outcomes);
    if let (Some(file), Some(c)) = (&report_file, &dump.report) {
        write_run_report(file, c, &modules, semantics, guests, &m, &outcomes)?;
    }
    Ok(match (ok, status) {
        (true, _) => ExitCode::SUCCESS,
        (false, Some(s)) if s & 0xff != 0 => ExitCode::from((s & 0xff) as u8),
        _ => ExitCode::FAILURE,
    })
}

/// The guests `vmm run` starts: each module (a C source is built in `work` first) as many times
/// as `--copies` or its `vmm_guests` export says, with the identity and WASI set-up asked for.
fn guest_specs(
    rt: &Runtime,
    cfg: &MachineConfig,
    work: &Path,
    copies: Option<u32>,
    ga: GuestArgs,
    modules: &[PathBuf],
) -> anyhow::Result<Vec<GuestSpec>> {
    let identity = ga.identity.identity(cfg.semantics == Semantics::Linux);
    let mut specs = Vec::new();
    for p in modules {
        if !p.is_file() {
            bail!("{}: no such file", p.display());
        }
        let wasm = if p.extension().is_some_and(|x| x == "c") {
            vmm_cli::testing::build_c(p, work)?.context(
                "building a C guest needs clang and lld, and a standard C program also \
                     wasi-libc (apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32)",
            )?
        } else {
            p.clone()
        };
        let bytes = std::fs::read(&wasm)
            .with_context(|| format!("reading guest module {}", wasm.display()))?;
        let m = rt
            .compile(&bytes)
            .with_context(|| format!("loading guest module {}", p.display()))?;
        let binary = wat::parse_bytes(&bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
        let n = instances(p, &binary, copies)?;
        let program = p
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("guest")
            .to_string();
        specs.extend((0..n).map(|_| {
            let mut s = GuestSpec::new(m.clone());
            s.wasi = vmm::runtime::wasi::WasiConfig {
                program: program.clone(),
                args: ga.args.clone(),
                env: ga.env.clone(),
                dirs: ga.dirs.clone(),
            };
            s
        }));
    }
    for (host, _) in &ga.dirs {
        if !host.is_dir() {
            bail!("--dir {}: no such directory", host.display());
        }
    }
    if specs.len() > vmm::vm::pmap::MAX_VIEWS {
        bail!(
            "{} guests asked for ({} modules); at most {} can run at once",
            specs.len(),
            modules.len(),
            vmm::vm::pmap::MAX_VIEWS
        );
    }
    vmm::runtime::thread::check_capacity(specs.len() as u64).map_err(anyhow::Error::msg)?;
    for s in &mut specs {
        s.config = identity.config();
    }
    for (i, c) in ga.guest_creds {
        let n = specs.len();
        specs
            .get_mut(i)
            .with_context(|| format!("--guest-cred {i}=...: there are only {n} guests"))?
            .config
            .cred = c;
    }
    Ok(specs)
}

/// Says how each guest of a run ended and whether the machine held, on standard error; whether
/// all went well, and the first guest's non-zero status (vmm's own, as a shell sees a
/// program's).
fn judge_run(m: &Machine, outcomes: &[GuestOutcome]) -> (bool, Option<i32>) {
    let mut ok = true;
    let mut status = None;
    for o in outcomes {
        match &o.result {
            Ok(0) => {}
            Ok(s) => {
                ok = false;
                status.get_or_insert(*s);
                eprintln!("vmm: {}", o.failure().unwrap_or_default());
            }
            Err(e) => {
                ok = false;
                eprintln!(
                    "guest {} failed: {}",
                    o.index,
                    e.lines().next().unwrap_or(e)
                );
            }
        }
    }
    if let Some(c) = m.corruption() {
        eprintln!("vmm: {c}");
        ok = false;
    } else if let Err(v) = m.audit() {
        eprintln!("vmm: machine state corrupt: {v}");
        ok = false;
    }
    eprintln!("vmm: {} guests; {}", outcomes.len(), summary(&m.stats()));
    (ok, status)
}

/// Writes the HTML report of a run to `file`.
fn write_run_report(
    file: &Path,
    c: &Arc<vmm::runtime::snapshots::Collector>,
    modules: &[PathBuf],
    semantics: Semantics,
    guests: u32,
    m: &Machine,
    outcomes: &[GuestOutcome],
) -> anyhow::Result<()> {
    let title = modules
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let lines = outcomes
        .iter()
        .map(|o| match &o.result {
            Ok(s) => format!("guest {}: exit status {s}", o.index),
            Err(e) => format!(
                "guest {} failed: {}",
                o.index,
                e.lines().next().unwrap_or(e)
            ),
        })
        .chain(
            m.corruption()
                .map(|c| c.to_string().lines().next().unwrap_or("").to_string()),
        )
        .collect();
    let t = std::time::Instant::now();
    let r = vmm_cli::report::RunReport::gather(&title, semantics, guests, m, c, lines);
    let html = vmm_cli::report::render(std::slice::from_ref(&r));
    std::fs::write(file, &html)
        .with_context(|| format!("writing the report {}", file.display()))?;
    eprintln!(
        "vmm: report {} ({} events, {} page maps, {} KiB, written in {:.1} ms)",
        file.display(),
        r.events(),
        r.snapshots(),
        html.len().div_ceil(1024),
        t.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}

fn test(
    machine: MachineArgs,
    quiet: bool,
    report: Option<PathBuf>,
    paths: Vec<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let cfg = machine.config()?;
    if let Some(dir) = &report {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the report directory {}", dir.display()))?;
    }
    // Each test's runs (one per rule set), written as one file when the test is done.
    let write_report =
        |t: &std::path::Path, runs: Vec<vmm_cli::report::RunReport>| -> anyhow::Result<()> {
            let (Some(dir), false) = (&report, runs.is_empty()) else {
                return Ok(());
            };
            let name = t
                .to_string_lossy()
                .trim_start_matches("./")
                .replace(['/', '\\'], "_");
            let file = dir.join(format!("{name}.html"));
            std::fs::write(&file, vmm_cli::report::render(&runs))
                .with_context(|| format!("writing {}", file.display()))
        };
    paging_note(&cfg)?;
    let rt = Runtime::new()?;
    let tests = find_tests(&paths)?;
    let work = tempfile::tempdir().context("creating a build directory")?;
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let mut count = |r: &TestResult| match r {
        TestResult::Passed(_) | TestResult::BrokeAsExpected(_) => passed += 1,
        TestResult::Failed(_) => failed += 1,
        TestResult::Skipped(_) => skipped += 1,
    };
    let modes = match machine.semantics {
        SemanticsArg::One(Semantics::Proposed) => vec![Semantics::Proposed],
        SemanticsArg::One(m) => vec![Semantics::Proposed, m],
        SemanticsArg::All => Semantics::ALL.to_vec(),
    };
    if modes.len() == 1 {
        for t in &tests {
            let (r, rep) = run_test_reported(&rt, &cfg, t, work.path(), quiet, report.is_some());
            write_report(t, rep.into_iter().collect())?;
            count(&r);
            match &r {
                TestResult::Passed(st) => println!("ok      {} ({})", t.display(), summary(st)),
                TestResult::BrokeAsExpected(how) => println!("ok      {}: {how}", t.display()),
                TestResult::Failed(why) => println!("FAILED  {}: {why}", t.display()),
                TestResult::Skipped(why) => println!("skipped {}: {why}", t.display()),
            }
        }
    } else {
        // Every test under each rule set, side by side.
        let mut rows = Vec::new();
        for t in &tests {
            println!("{}", t.display());
            let mut row = vec![t.display().to_string()];
            let mut reps = Vec::new();
            for &mode in &modes {
                let (r, rep) = run_test_reported(
                    &rt,
                    &cfg.clone().semantics(mode),
                    t,
                    work.path(),
                    quiet,
                    report.is_some(),
                );
                reps.extend(rep);
                count(&r);
                let detail = match &r {
                    TestResult::Passed(st) => format!("passed, audit clean ({})", summary(st)),
                    TestResult::BrokeAsExpected(how) => format!("broke as expected: {how}"),
                    TestResult::Failed(why) => format!("FAILED: {why}"),
                    TestResult::Skipped(why) => format!("skipped: {why}"),
                };
                let mut lines = detail.lines();
                println!("  {:<12} {}", mode.to_string(), lines.next().unwrap_or(""));
                for l in lines {
                    println!("  {:<12} {l}", "");
                }
                row.push(short(&r, mode));
            }
            rows.push(row);
            write_report(t, reps)?;
        }
        let mut header = vec!["test".to_string()];
        header.extend(modes.iter().map(|m| m.to_string()));
        let widths: Vec<usize> = (0..header.len())
            .map(|i| {
                rows.iter()
                    .map(|r| r[i].len())
                    .chain([header[i].len()])
                    .max()
                    .unwrap_or(4)
            })
            .collect();
        println!();
        for r in std::iter::once(&header).chain(&rows) {
            let cells: Vec<String> = r
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            println!("{}", cells.join("  ").trim_end());
        }
    }
    if skipped > 0 {
        println!("{passed} passed, {failed} failed, {skipped} skipped");
    } else {
        println!("{passed} passed, {failed} failed");
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// One cell of the side-by-side table: a check that fails is a wrong answer under rules that
/// replay a bug, and this kernel's different answer under a kernel's rules.
fn short(r: &TestResult, mode: Semantics) -> String {
    match r {
        TestResult::Passed(_) => "ok, audit clean".into(),
        TestResult::BrokeAsExpected(how) => {
            let first = how.lines().next().unwrap_or("");
            match first.split_once(" rules): ") {
                Some((_, v)) => format!("corrupt: {}", v.split(':').next().unwrap_or(v)),
                None => format!(
                    "{}: {}",
                    if mode.policy().replays_bug {
                        "wrong answer"
                    } else {
                        "answers differently"
                    },
                    first.trim_start_matches("check failed: ")
                ),
            }
        }
        TestResult::Failed(_) => "FAILED".into(),
        TestResult::Skipped(_) => "skipped".into(),
    }
}

fn diff(
    semantics: Option<Semantics>,
    identity: IdentityArgs,
    dirs: Vec<(PathBuf, String)>,
    programs: Vec<PathBuf>,
) -> anyhow::Result<ExitCode> {
    use vmm_cli::diff::{compare, host_semantics, GuestRun, Outcome};
    for (host, _) in &dirs {
        if !host.is_dir() {
            bail!("--dir {}: no such directory", host.display());
        }
    }
    let guests = GuestRun {
        args: Vec::new(),
        env: Vec::new(),
        dirs,
        identity: identity.identity(true),
    };
    let semantics = match semantics.or_else(host_semantics) {
        Some(s) => s,
        None => bail!(
            "no rule set stands for this host's kernel ({}): give one with --semantics",
            std::env::consts::OS
        ),
    };
    let rt = Runtime::new()?;
    let work = tempfile::tempdir().context("creating a build directory")?;
    let (mut same, mut differ, mut skipped) = (0, 0, 0);
    for p in &programs {
        let outcome = match compare(&rt, p, semantics, work.path(), &guests) {
            Ok(o) => o,
            Err(e) => {
                // A program that cannot be built, or a guest run the machine refused (the
                // old rules' corrupt state), counts as a difference and the others still run.
                differ += 1;
                println!("FAILED   {}: {e:#}", p.display());
                continue;
            }
        };
        match outcome {
            Outcome::Same(o) => {
                same += 1;
                println!(
                    "same     {} ({} lines, exit {})",
                    p.display(),
                    o.stdout.lines().count(),
                    o.status
                );
            }
            Outcome::Differs(d) => {
                differ += 1;
                println!("DIFFERS  {}", p.display());
                print!("{d}");
            }
            Outcome::Skipped(why) => {
                skipped += 1;
                println!("skipped  {}: {why}", p.display());
            }
        }
    }
    println!(
        "{same} same, {differ} differ, {skipped} skipped (native against vmm under {semantics})"
    );
    Ok(if differ == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn wast(machine: MachineArgs, evict_each: bool, files: Vec<PathBuf>) -> anyhow::Result<ExitCode> {
    machine.one_mode("wast")?;
    let cfg = machine.config()?;
    paging_note(&cfg)?;
    let rt = Runtime::new()?;
    let (mut passed, mut failed) = (0, 0);
    let mut total = Stats::default();
    for f in &files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        let m = Machine::new(cfg.clone()).context("building the machine")?;
        let _pagedaemon = m
            .start_pagedaemon(PDAEMON_PERIOD)
            .context("starting the pagedaemon")?;
        let report =
            vmm_cli::wast::run_script(&rt, &m, &f.display().to_string(), &text, evict_each)?;
        let audit = m.audit();
        let st = m.stats();
        for fl in &report.failures {
            println!("FAILED  {fl}");
        }
        if let Err(v) = &audit {
            println!("FAILED  {}: audit: {v}", f.display());
        }
        let ok = report.failures.is_empty() && audit.is_ok();
        println!(
            "{:<7} {} ({} directives; {})",
            if ok { "ok" } else { "FAILED" },
            f.display(),
            report.passed + report.failures.len(),
            summary(&st)
        );
        passed += report.passed;
        failed += report.failures.len() + usize::from(audit.is_err());
        total.faults += st.faults;
        total.page_ins += st.page_ins;
        total.evictions += st.evictions;
    }
    println!(
        "paging: {} faults, {} page-ins, {} evictions in all",
        total.faults, total.page_ins, total.evictions
    );
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn main() -> ExitCode {
    // Structured events (map, wiring, faults, evictions, segments) when RUST_LOG asks for them,
    // e.g. RUST_LOG=vmm::wire=debug,vmm::shm=debug. Nothing is collected otherwise.
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init();
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(2);
        }
    };
    let r = match cli.cmd {
        Cmd::Run {
            machine,
            copies,
            dump,
            identity,
            guest_creds,
            env,
            dirs,
            modules,
            args,
        } => run(
            machine,
            copies,
            dump,
            GuestArgs {
                identity,
                guest_creds,
                env,
                dirs,
                args,
            },
            modules,
        ),
        Cmd::Test {
            machine,
            quiet,
            report,
            paths,
        } => test(machine, quiet, report, paths),
        Cmd::Wast {
            machine,
            evict_each,
            files,
        } => wast(machine, evict_each, files),
        Cmd::Diff {
            semantics,
            identity,
            dirs,
            programs,
        } => diff(semantics, identity, dirs, programs),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vmm: {e:#}");
            ExitCode::from(1)
        }
    }
}
