//! A hostile guest: a wasm module that imports every host function of the ABI and lets the host
//! call any of them with any arguments, for garbage tests and argument fuzzing.
//!
//! [`Hostile::call`] checks the ABI's promise on each answer: a value or a negated errno the ABI
//! defines, never a trap; the caller audits the machine between calls. [`run`] decodes bytes into
//! calls: one byte picks the function, then each argument is one byte picking from
//! [`VALUES`] (below `0x80`) or, from `0x80` up, the four little-endian bytes after it.

use std::sync::Arc;
use vmm::base::errno::Errno;
use vmm::machine::{GuestConfig, Machine, MachineConfig};
use vmm::runtime::{abi, memory, DumpConfig, GuestCtx, Run, Runtime};
use vmm::vm::swap::SwapBacking;
use vmm::GuestId;
use wasmtime::{Linker, Store, TypedFunc};

/// Hostile values every argument may take: unaligned, at and past the end of memory, the top of
/// the 32-bit space, negative, unknown flag bits and commands.
pub const VALUES: &[i32] = &[
    0,
    1,
    3,
    0xfff,
    0x1000,
    0x1012,
    0x1_0000,
    0o5000,
    0x7fff_f000,
    0x7fff_ffff,
    i32::MIN,
    -4096,
    -1,
    99,
];

/// The guest's text: an import of every function in `guest_abi::FUNCTIONS` and an export
/// `call_<name>(a, b, c, d)` passing the first arguments on.
pub fn module_text() -> String {
    let mut w = String::from("(module\n");
    for f in guest_abi::FUNCTIONS {
        let params = " i32".repeat(f.params);
        w.push_str(&format!(
            "  (import \"vmm\" \"{0}\" (func ${0} (param{params}) (result i32)))\n",
            f.name
        ));
    }
    w.push_str("  (memory (export \"memory\") 1)\n");
    for f in guest_abi::FUNCTIONS {
        let args: String = (0..f.params).map(|i| format!(" (local.get {i})")).collect();
        w.push_str(&format!(
            "  (func (export \"call_{0}\") (param i32 i32 i32 i32) (result i32) (call ${0}{args}))\n",
            f.name
        ));
    }
    w.push(')');
    w
}

type Call4 = TypedFunc<(i32, i32, i32, i32), i32>;

/// One hostile guest in a machine.
pub struct Hostile {
    machine: Machine,
    guest: GuestId,
    store: Store<GuestCtx>,
    funcs: Vec<Call4>,
}

impl std::fmt::Debug for Hostile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hostile")
            .field("guest", &self.guest)
            .finish()
    }
}

impl Hostile {
    /// A hostile guest with identity `gc` in `machine`; its output and dumps are discarded.
    pub fn new(rt: &Runtime, machine: &Machine, gc: GuestConfig) -> anyhow::Result<Hostile> {
        let guest = machine
            .add_guest(gc)
            .map_err(|e| anyhow::anyhow!("adding the guest: {e}"))?;
        let run = Run::with_dump(
            1,
            |_, _| {},
            DumpConfig {
                sink: Arc::new(|_: &str| {}),
                ..DumpConfig::default()
            },
        );
        let ctx = GuestCtx {
            machine: machine.clone(),
            guest,
            index: 0,
            run,
        };
        // Compiled once per process: fuzzing makes many hostile guests.
        static MODULE: std::sync::OnceLock<wasmtime::Module> = std::sync::OnceLock::new();
        let module = match MODULE.get() {
            Some(m) => m.clone(),
            None => {
                let m = rt.compile(module_text().as_bytes())?;
                MODULE.get_or_init(|| m).clone()
            }
        };
        let mut store = Store::new(rt.engine(), ctx);
        let m = machine.clone();
        Runtime::guard_store(&mut store, move || m.pending_fault(guest));
        let mut linker = Linker::new(rt.engine());
        abi::add_to_linker(&mut linker, |c: &GuestCtx| c)?;
        let instance = memory::with_target(machine, memory::MemoryTarget::Guest(guest), || {
            linker.instantiate(&mut store, &module)
        })?;
        let funcs = guest_abi::FUNCTIONS
            .iter()
            .map(|f| instance.get_typed_func(&mut store, &format!("call_{}", f.name)))
            .collect::<Result<_, _>>()?;
        Ok(Hostile {
            machine: machine.clone(),
            guest,
            store,
            funcs,
        })
    }

    /// The guest's id.
    pub fn guest(&self) -> GuestId {
        self.guest
    }

    /// Calls function `f` (an index into `guest_abi::FUNCTIONS`) with `args` (extra ones are
    /// ignored); `Err` if the guest trapped or the answer is no value or errno of the ABI.
    pub fn call(&mut self, f: usize, args: [i32; 4]) -> Result<i32, String> {
        let name = guest_abi::FUNCTIONS[f].name;
        let r = self.funcs[f]
            .call(&mut self.store, (args[0], args[1], args[2], args[3]))
            .map_err(|e| format!("{name}{args:?} trapped: {}", e.root_cause()))?;
        if guest_abi::is_error(r) && Errno::from_code(-r).is_none() {
            return Err(format!(
                "{name}{args:?} returned {r}, which is no errno of the ABI"
            ));
        }
        Ok(r)
    }

    /// The guest exits; everything it held must come back.
    pub fn exit(self) -> Result<(), String> {
        self.machine
            .exit_guest(self.guest)
            .map_err(|e| format!("exiting: {e}"))?;
        drop(self.store);
        self.machine
            .audit()
            .map_err(|v| format!("after the guest exited: {v}"))
    }
}

/// What [`run`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Host calls made.
    pub calls: u64,
    /// Calls answered with an errno.
    pub refused: u64,
}

/// Runs the calls `bytes` encode from a hostile guest on a small machine (64 frames), auditing
/// after each; `Err` names the first broken promise.
pub fn run(bytes: &[u8]) -> Result<Outcome, String> {
    let rt = Runtime::new().map_err(|e| format!("{e:#}"))?;
    let machine = Machine::new(
        MachineConfig::default()
            .phys_mem(64 * vmm::PAGE_SIZE)
            .swap(256 * vmm::PAGE_SIZE)
            .swap_backing(SwapBacking::Memory),
    )
    .map_err(|e| format!("building the machine: {e}"))?;
    let mut h =
        Hostile::new(&rt, &machine, GuestConfig::default()).map_err(|e| format!("{e:#}"))?;
    let mut out = Outcome::default();
    let mut rest = bytes;
    let mut take = |n: usize| -> Option<&[u8]> {
        if rest.len() < n {
            return None;
        }
        let (a, b) = rest.split_at(n);
        rest = b;
        Some(a)
    };
    'calls: while let Some(&[sel]) = take(1) {
        let f = usize::from(sel) % guest_abi::FUNCTIONS.len();
        let mut args = [0i32; 4];
        for a in args.iter_mut().take(guest_abi::FUNCTIONS[f].params) {
            let Some(&[b]) = take(1) else { break 'calls };
            *a = if b < 0x80 {
                VALUES[usize::from(b) % VALUES.len()]
            } else {
                let Some(raw) = take(4) else { break 'calls };
                i32::from_le_bytes(raw.try_into().expect("4 bytes"))
            };
        }
        let r = h.call(f, args)?;
        out.calls += 1;
        out.refused += u64::from(guest_abi::is_error(r));
        machine
            .audit()
            .map_err(|v| format!("after {}{args:?} = {r}: {v}", guest_abi::FUNCTIONS[f].name))?;
    }
    h.exit()?;
    Ok(out)
}
