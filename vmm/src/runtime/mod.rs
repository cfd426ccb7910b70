//! The wasm edge: guests are WebAssembly modules whose linear memory is their address space.
//!
//! wasmtime appears only here. A [`Runtime`] holds the engine, configured so that every guest
//! memory comes from [`memory::VmmMemoryCreator`] (a view of the guest's address space at a
//! fixed base, `memory_init_cow(false)`, `memory_may_move(false)`), and the fault handler that
//! pages those views is installed once the engine exists. [`abi::add_to_linker`] adds the guest
//! ABI to any `Linker`. [`run_guests`] runs a set of modules as the guests of one machine, each
//! on its own thread.
//!
//! ```no_run
//! use vmm::runtime::{run_guests, GuestSpec, Runtime};
//! use vmm::{Machine, MachineConfig};
//! let rt = Runtime::new()?;
//! let module = rt.load("guests/wat/shm_basic.wat".as_ref())?;
//! let machine = Machine::new(MachineConfig::default().phys_mem(1 << 20))?;
//! let outcomes = run_guests(&rt, &machine, vec![GuestSpec::new(module)], |i, bytes| {
//!     print!("[guest {i}] {}", String::from_utf8_lossy(bytes));
//! });
//! assert!(outcomes.iter().all(|o| o.succeeded()));
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod abi;
pub mod memory;
pub(crate) mod process;
pub mod procfs;
pub mod snapshots;
pub mod thread;
pub mod trap;
pub mod wasi;

use crate::base::errno::Errno;
use crate::machine::{GuestConfig, Machine};
use crate::GuestId;
use anyhow::Context as _;
use parking_lot::{Condvar, Mutex};
use std::path::Path;
use std::sync::Arc;
use wasmtime::{Config, Engine, Linker, Module, Store};

/// The engine every guest runs on.
#[derive(Clone)]
pub struct Runtime {
    engine: Engine,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Runtime")
    }
}

static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();

/// Stops guest `g` of `machine` wherever it is: it traps with `why` at its next loop head or
/// call (or when its current host call returns), and is then exited like any trapped guest,
/// releasing everything it held.
pub fn stop_guest(machine: &Machine, g: GuestId, why: &str) -> Result<(), Errno> {
    machine.stop_guest(g, why)?;
    bump_epoch();
    Ok(())
}

/// Signal-safe (an atomic add): makes every store check its epoch deadline at its next check.
fn bump_epoch() {
    if let Some(e) = ENGINE.get() {
        e.increment_epoch();
    }
}

impl Runtime {
    /// The engine whose memories are guest address spaces (one per process, shared by every
    /// `Runtime`, since the fault handler serves them all).
    pub fn new() -> anyhow::Result<Runtime> {
        if let Some(e) = ENGINE.get() {
            return Ok(Runtime { engine: e.clone() });
        }
        let mut cfg = Config::new();
        cfg.with_host_memory(Arc::new(memory::VmmMemoryCreator));
        cfg.memory_init_cow(false);
        cfg.memory_may_move(false);
        cfg.memory_reservation(1 << 32);
        cfg.memory_reservation_for_growth(0);
        cfg.wasm_multi_memory(true);
        // What the spec scripts' modules use besides memory (typed references, GC types and
        // exception tags in `linking.wast` and `imports.wast`).
        cfg.wasm_function_references(true);
        cfg.wasm_gc(true);
        cfg.wasm_exceptions(true);
        // Epochs only move when host code hit a memory fault for a guest, which must then trap.
        cfg.epoch_interruption(true);
        // Before the engine: wasmtime chains to whatever handler it finds, and the faults it
        // declines must come to us, not to the default action.
        crate::vm::host::signals::install_catcher();
        let engine = Engine::new(&cfg)
            .map_err(anyhow::Error::from)
            .context("creating the wasm engine")?;
        let engine = ENGINE.get_or_init(|| engine).clone();
        // After the engine: wasmtime has installed its handlers, ours goes in front of them.
        crate::vm::host::signals::on_deferred_fault(bump_epoch);
        crate::vm::host::signals::install();
        Ok(Runtime { engine })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles a module from a `.wasm` or `.wat` file.
    pub fn load(&self, path: &Path) -> anyhow::Result<Module> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("reading guest module {}", path.display()))?;
        self.compile(&bytes)
            .with_context(|| format!("loading guest module {}", path.display()))
    }

    /// Compiles a module from wasm or wat bytes.
    pub fn compile(&self, bytes: &[u8]) -> anyhow::Result<Module> {
        Module::new(&self.engine, bytes).map_err(anyhow::Error::from)
    }

    /// Makes `store` trap when host code has hit a memory fault for a guest that `faulted`
    /// reports (a `memory.fill` over an unmapped page, say), at the next epoch check.
    pub fn guard_store<T: 'static>(
        store: &mut Store<T>,
        faulted: impl Fn() -> Option<String> + Send + Sync + 'static,
    ) {
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| match faulted() {
            Some(why) => Err(wasmtime::format_err!("guest trapped: {why}")),
            None => Ok(wasmtime::UpdateDeadline::Continue(1)),
        });
    }
}

/// Where guest output goes: (guest index, bytes).
type Printer = Box<dyn Fn(u32, &[u8]) + Send + Sync>;

/// How dumps are written: text for people, JSON (one object per line) for tools.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DumpFormat {
    /// Tables, like `pmap -x`.
    #[default]
    Text,
    /// One JSON object per line (schema in [`crate::diag::dump`]).
    Json,
}

/// Where guests' `vmm_dump` calls and the dumps at exit go, and what they hold.
#[derive(Clone)]
pub struct DumpConfig {
    /// Text or JSON.
    pub format: DumpFormat,
    /// Dump each guest's map, with runs of pages if `pages`, just before it exits.
    pub at_exit: bool,
    /// Runs of like pages in dumps taken at exit.
    pub pages: bool,
    /// Receives each finished dump.
    pub sink: Arc<dyn Fn(&str) + Send + Sync>,
    /// Takes a page map of every guest at each `vmm_dump` and each exit, for a report.
    pub report: Option<Arc<snapshots::Collector>>,
}

impl Default for DumpConfig {
    /// Text to stderr, nothing at exit.
    fn default() -> DumpConfig {
        DumpConfig {
            format: DumpFormat::Text,
            at_exit: false,
            pages: false,
            sink: Arc::new(|s: &str| eprint!("{s}")),
            report: None,
        }
    }
}

impl std::fmt::Debug for DumpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DumpConfig")
            .field("format", &self.format)
            .field("at_exit", &self.at_exit)
            .field("pages", &self.pages)
            .finish()
    }
}

impl DumpConfig {
    /// Writes guest `g`'s map (with page runs if `pages`) and, if `whole`, the machine's view.
    pub fn write(&self, machine: &Machine, g: GuestId, why: &str, pages: bool, whole: bool) {
        let map = machine.dump_map(g, pages).ok();
        let mach = whole.then(|| machine.dump_machine());
        let mut out = String::new();
        match self.format {
            DumpFormat::Text => {
                out.push_str(&format!("== {why} ==\n"));
                if let Some(m) = &map {
                    out.push_str(&m.text());
                }
                if let Some(m) = &mach {
                    out.push_str(&m.text());
                }
            }
            DumpFormat::Json => {
                for v in [
                    map.as_ref().and_then(|m| serde_json::to_string(m).ok()),
                    mach.as_ref().and_then(|m| serde_json::to_string(m).ok()),
                ]
                .into_iter()
                .flatten()
                {
                    out.push_str(&v);
                    out.push('\n');
                }
            }
        }
        (self.sink)(&out);
        if let Some(r) = &self.report {
            r.snapshot(machine, why);
        }
    }
}

/// What a running machine's guests share: their number, the barrier, the output.
pub struct Run {
    count: u32,
    barrier: Mutex<BarrierState>,
    cv: Condvar,
    printer: Printer,
    /// Where guests' WASI standard output and error go, a line at a time.
    pub stdio: wasi::StdioSink,
    /// Where dumps go.
    pub dump: DumpConfig,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run").field("count", &self.count).finish()
    }
}

#[derive(Debug, Default)]
struct BarrierState {
    arrived: u32,
    generation: u64,
    gone: u32,
    /// The guests a barrier failed for, by index.
    abandoned: std::collections::BTreeSet<u32>,
}

impl Run {
    /// Shared state for `count` guests whose `vmm_print` output goes to `printer`.
    pub fn new(count: u32, printer: impl Fn(u32, &[u8]) + Send + Sync + 'static) -> Arc<Run> {
        Run::with_dump(count, printer, DumpConfig::default())
    }

    /// The same, with dumps going where `dump` says.
    pub fn with_dump(
        count: u32,
        printer: impl Fn(u32, &[u8]) + Send + Sync + 'static,
        dump: DumpConfig,
    ) -> Arc<Run> {
        Run::with_io(count, printer, wasi::host_stdio(count), dump)
    }

    /// The same, with WASI standard output and error going to `stdio`.
    pub fn with_io(
        count: u32,
        printer: impl Fn(u32, &[u8]) + Send + Sync + 'static,
        stdio: wasi::StdioSink,
        dump: DumpConfig,
    ) -> Arc<Run> {
        Arc::new(Run {
            count,
            barrier: Mutex::new(BarrierState::default()),
            cv: Condvar::new(),
            printer: Box::new(printer),
            stdio,
            dump,
        })
    }

    /// How many guests the machine runs.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Guest `guest` waits until every guest arrives. Fails (`ESRCH`) once any guest has
    /// finished or died, since the meeting can then never happen.
    pub fn barrier(&self, guest: u32) -> Result<(), Errno> {
        let mut b = self.barrier.lock();
        if b.gone > 0 {
            b.abandoned.insert(guest);
            return Err(Errno::ESRCH);
        }
        b.arrived += 1;
        if b.arrived == self.count {
            b.arrived = 0;
            b.generation += 1;
            self.cv.notify_all();
            return Ok(());
        }
        let gen = b.generation;
        while b.generation == gen && b.gone == 0 {
            self.cv.wait(&mut b);
        }
        if b.generation == gen {
            b.abandoned.insert(guest);
            return Err(Errno::ESRCH);
        }
        Ok(())
    }

    /// Whether a barrier failed for guest `guest` because another guest had finished or died.
    pub fn abandoned(&self, guest: u32) -> bool {
        self.barrier.lock().abandoned.contains(&guest)
    }

    /// Records that a guest has finished or died, releasing everyone waiting at the barrier.
    pub fn leave(&self) {
        self.barrier.lock().gone += 1;
        self.cv.notify_all();
    }

    /// Passes guest output on.
    pub fn print(&self, guest: u32, bytes: &[u8]) {
        (self.printer)(guest, bytes);
    }
}

/// What a guest's host functions need: its machine, its id and the run it belongs to.
#[derive(Clone, Debug)]
pub struct GuestCtx {
    /// The machine.
    pub machine: Machine,
    /// The guest in it.
    pub guest: GuestId,
    /// Its index in the run, from 0.
    pub index: u32,
    /// What the run's guests share.
    pub run: Arc<Run>,
}

/// A guest to run.
#[derive(Clone, Debug)]
pub struct GuestSpec {
    /// Its module: a WASI command (exports `_start`) or a vmm test module (exports
    /// `main: () -> i32`).
    pub module: Module,
    /// Its identity and limits.
    pub config: GuestConfig,
    /// Its arguments, environment and host directories.
    pub wasi: wasi::WasiConfig,
}

impl GuestSpec {
    /// A privileged guest running `module`, with no arguments, environment or directories.
    pub fn new(module: Module) -> GuestSpec {
        let program = module_name(&module);
        GuestSpec {
            module,
            config: GuestConfig::default(),
            wasi: wasi::WasiConfig {
                program,
                ..Default::default()
            },
        }
    }
}

fn module_name(m: &Module) -> String {
    m.name().unwrap_or("guest").to_string()
}

/// A guest's store data: its vmm context and its WASI state.
pub struct GuestState {
    /// The vmm side.
    pub ctx: GuestCtx,
    /// The WASI side.
    pub wasi: wasmtime_wasi::p1::WasiP1Ctx,
}

/// How a guest ended.
#[derive(Clone, Debug)]
pub struct GuestOutcome {
    /// Its index in the run.
    pub index: u32,
    /// Its status (what `main` returned, what it passed to `proc_exit`, or 0 for a command
    /// whose `_start` returned), or why it has none (a trap, no entry point, an exit error).
    pub result: Result<i32, String>,
    /// What kind of trap it ended in, if it did (rather than returning, or failing to start).
    pub trap: Option<trap::TrapKind>,
    /// Whether the status came from WASI `proc_exit`.
    pub exited: bool,
}

impl GuestOutcome {
    /// Whether the guest ended with status 0.
    pub fn succeeded(&self) -> bool {
        matches!(self.result, Ok(0))
    }

    /// What a person is told of a guest that did not succeed, if it did not.
    pub fn failure(&self) -> Option<String> {
        match &self.result {
            Ok(0) => None,
            Ok(s) if self.exited => Some(format!("guest {} exited with status {s}", self.index)),
            Ok(s) => Some(format!("guest {} returned {s}", self.index)),
            Err(e) => Some(format!("guest {}: {e}", self.index)),
        }
    }
}

/// Runs every spec as a guest of `machine`, each on its own thread, and waits for all. A guest
/// that returns, traps or fails to start is exited: everything it held is released, and the
/// others go on.
pub fn run_guests(
    rt: &Runtime,
    machine: &Machine,
    specs: Vec<GuestSpec>,
    printer: impl Fn(u32, &[u8]) + Send + Sync + 'static,
) -> Vec<GuestOutcome> {
    run_guests_with(rt, machine, specs, printer, DumpConfig::default())
}

/// [`run_guests`], with dumps (guests' `vmm_dump` calls, and each guest's map at exit if asked)
/// going where `dump` says.
pub fn run_guests_with(
    rt: &Runtime,
    machine: &Machine,
    specs: Vec<GuestSpec>,
    printer: impl Fn(u32, &[u8]) + Send + Sync + 'static,
    dump: DumpConfig,
) -> Vec<GuestOutcome> {
    let count = specs.len() as u32;
    run_guests_io(
        rt,
        machine,
        specs,
        Run::with_io(count, printer, wasi::host_stdio(count), dump),
    )
}

/// [`run_guests`] with every output of the run (`vmm_print`, WASI standard output and error,
/// dumps) going where `run` says; `run` counts the guests.
pub fn run_guests_io(
    rt: &Runtime,
    machine: &Machine,
    specs: Vec<GuestSpec>,
    run: Arc<Run>,
) -> Vec<GuestOutcome> {
    if let Err(e) = thread::check_capacity(specs.len() as u64) {
        return (0..specs.len() as u32)
            .map(|index| GuestOutcome {
                index,
                result: Err(e.clone()),
                trap: None,
                exited: false,
            })
            .collect();
    }
    let threads: Vec<_> = specs
        .into_iter()
        .enumerate()
        .map(|(i, spec)| {
            let (rt, machine, run2) = (rt.clone(), machine.clone(), run.clone());
            // A lean thread: with thousands of guests, the process's mappings are the limit.
            let t = thread::GuestThread::spawn(move || {
                let (result, trap, exited) = run_one(&rt, &machine, &run2, i as u32, spec);
                run2.leave();
                GuestOutcome {
                    index: i as u32,
                    result,
                    trap,
                    exited,
                }
            });
            if t.is_err() {
                // The others must not wait for it at a barrier.
                run.leave();
            }
            t
        })
        .collect();
    threads
        .into_iter()
        .enumerate()
        .map(|(i, t)| match t {
            Ok(h) => h.join().unwrap_or_else(|_| GuestOutcome {
                index: i as u32,
                result: Err("guest thread panicked".into()),
                trap: None,
                exited: false,
            }),
            Err(e) => GuestOutcome {
                index: i as u32,
                result: Err(format!("could not start a thread: {e}")),
                trap: None,
                exited: false,
            },
        })
        .collect()
}

/// How a guest is entered.
enum Entry {
    /// A WASI command's `_start`.
    Command(wasmtime::TypedFunc<(), ()>),
    /// A vmm test module's `main: () -> i32`.
    Main(wasmtime::TypedFunc<(), i32>),
    /// `main: (i32, i32) -> i32`, as LLVM's wasm backend exports a `main` that takes nothing
    /// (it is given argc 0 and a null argv).
    MainArgs(wasmtime::TypedFunc<(i32, i32), i32>),
}

fn entry(store: &mut Store<GuestState>, instance: &wasmtime::Instance) -> Result<Entry, String> {
    if let Some(f) = instance.get_func(&mut *store, "_start") {
        return f
            .typed(&*store)
            .map(Entry::Command)
            .map_err(|_| "`_start` must take and return nothing".to_string());
    }
    if let Some(f) = instance.get_func(&mut *store, "main") {
        return f
            .typed(&*store)
            .map(Entry::Main)
            .or_else(|_| f.typed(&*store).map(Entry::MainArgs))
            .map_err(|_| {
                "`main` must take nothing (or argc and argv) and return an i32".to_string()
            });
    }
    Err(
        "the module exports neither `_start` (a WASI command) nor `main` (a vmm test module)"
            .into(),
    )
}

/// Runs one guest to its end; (status or why none, the kind of trap it ended in, exited through
/// `proc_exit`).
fn run_one(
    rt: &Runtime,
    machine: &Machine,
    run: &Arc<Run>,
    index: u32,
    spec: GuestSpec,
) -> (Result<i32, String>, Option<trap::TrapKind>, bool) {
    let guest = match machine.add_guest(spec.config) {
        Ok(g) => g,
        Err(e) => return (Err(format!("adding the guest: {e}")), None, false),
    };
    let (mut trap_kind, mut exited) = (None, false);
    let kind = |e: Option<&wasmtime::Error>| {
        trap::classify(
            e,
            machine.refused_fault(guest),
            machine.pending_fault(guest).is_some(),
        )
    };
    let ctx = GuestCtx {
        machine: machine.clone(),
        guest,
        index,
        run: run.clone(),
    };
    let result = {
        let w = match spec.wasi.build(run, index) {
            Ok(w) => w,
            Err(e) => {
                // Nothing ran; the guest's exit releases nothing a report needs.
                let _ = machine.exit_guest(guest);
                return (Err(format!("{e:#}")), None, false);
            }
        };
        let (out, err, private) = (w.out.clone(), w.err.clone(), w.private);
        let mut store = Store::new(rt.engine(), GuestState { ctx, wasi: w.ctx });
        let m = machine.clone();
        Runtime::guard_store(&mut store, move || m.pending_fault(guest));
        let mut linker = Linker::new(rt.engine());
        let r = abi::add_to_linker(&mut linker, |s: &GuestState| &s.ctx)
            .and_then(|()| wasi::add_to_linker(&mut linker, |s: &mut GuestState| &mut s.wasi))
            .map_err(|e| format!("{e:#}"))
            .and_then(|()| {
                let instance =
                    memory::with_target(machine, memory::MemoryTarget::Guest(guest), || {
                        linker.instantiate(&mut store, &spec.module)
                    })
                    .map_err(|e| format!("instantiating: {e:#}"))?;
                let called = match entry(&mut store, &instance)? {
                    Entry::Command(f) => f.call(&mut store, ()).map(|()| 0),
                    Entry::Main(f) => f.call(&mut store, ()),
                    Entry::MainArgs(f) => f.call(&mut store, (0, 0)),
                };
                let status = match called {
                    Ok(v) => v,
                    Err(e) => match e.downcast_ref::<wasi::I32Exit>() {
                        Some(x) => {
                            exited = true;
                            x.0
                        }
                        None => {
                            trap_kind = Some(kind(Some(&e)));
                            // The cause first (the machine's reason when it has one), then the
                            // context.
                            return Err(match machine.pending_fault(guest) {
                                Some(why) if !e.root_cause().to_string().contains(&why) => {
                                    format!("guest trapped: {why}\n{e:#}")
                                }
                                _ => format!("{}\n{e:#}", e.root_cause()),
                            });
                        }
                    },
                };
                // A fault host code hit for the guest after its last epoch check.
                if let Some(why) = machine.pending_fault(guest) {
                    trap_kind = Some(kind(None));
                    return Err(format!("guest trapped: {why}"));
                }
                Ok(status)
            });
        out.finish();
        err.finish();
        if run.dump.at_exit {
            let why = format!("guest {index} at exit");
            run.dump.write(machine, guest, &why, run.dump.pages, false);
        } else if let Some(r) = &run.dump.report {
            r.snapshot(machine, &format!("guest {index} exits"));
        }
        // The guest exits before its memory goes: its mappings and wirings are released while
        // the machine still knows them.
        let exit = machine.exit_guest(guest);
        drop(store);
        // Its files go with it.
        drop(private);
        // A guest's own failure says more than an exit refused because of it.
        r.and_then(|v| exit.map(|()| v).map_err(|e| format!("exiting: {e}")))
    };
    (result, trap_kind, exited)
}
