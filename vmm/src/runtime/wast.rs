//! Runs WebAssembly spec-test scripts (`.wast`) with every memory on the paged VM: each memory a
//! script creates is a new guest of one machine, so a small physical memory makes pages leave
//! and come back throughout, and the scripts check that wasm cannot tell.

use super::memory::{with_target, MemoryTarget};
use super::Runtime;
use crate::machine::{GuestConfig, Machine};
use std::collections::HashMap;
use wasmtime::{Extern, Instance, Linker, Module, Store, Val};
use wast::core::{NanPattern, WastArgCore, WastRetCore};
use wast::parser::{self, ParseBuffer};
use wast::{QuoteWat, Wast, WastArg, WastDirective, WastExecute, WastInvoke, WastRet, Wat};

/// What a script's directives came to.
#[derive(Clone, Debug, Default)]
pub struct WastReport {
    /// Directives that held.
    pub passed: usize,
    /// Directives that did not, each with its line and why.
    pub failures: Vec<String>,
}

struct Ctx<'m> {
    machine: &'m Machine,
    store: Store<()>,
    linker: Linker<()>,
    modules: HashMap<String, Module>,
    instances: HashMap<String, Instance>,
    last: Option<Instance>,
}

/// Runs the script `text` (named `name` in messages) on `machine`. With `evict_each`, every
/// unwired page is paged out after each directive, so the next access to any page faults.
pub fn run_script(
    rt: &Runtime,
    machine: &Machine,
    name: &str,
    text: &str,
    evict_each: bool,
) -> anyhow::Result<WastReport> {
    let buf = ParseBuffer::new(text).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    let script: Wast = parser::parse(&buf).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    let mut store = Store::new(rt.engine(), ());
    let m = machine.clone();
    Runtime::guard_store(&mut store, move || {
        m.guests().into_iter().find_map(|g| m.pending_fault(g))
    });
    let mut cx = Ctx {
        machine,
        store,
        linker: Linker::new(rt.engine()),
        modules: HashMap::new(),
        instances: HashMap::new(),
        last: None,
    };
    let mut report = WastReport::default();
    for d in script.directives {
        let (line, _) = d.span().linecol_in(text);
        match cx.directive(rt, d) {
            Ok(()) => report.passed += 1,
            Err(e) => report.failures.push(format!("{name}:{}: {e}", line + 1)),
        }
        if evict_each {
            machine.reclaim(usize::MAX);
        }
    }
    Ok(report)
}

fn encode(q: &mut QuoteWat<'_>) -> Result<Vec<u8>, String> {
    q.encode().map_err(|e| e.to_string())
}

impl Ctx<'_> {
    fn instantiate(&mut self, module: &Module) -> anyhow::Result<Instance> {
        let (linker, store) = (&self.linker, &mut self.store);
        with_target(
            self.machine,
            MemoryTarget::NewGuest(GuestConfig::default()),
            || linker.instantiate(&mut *store, module),
        )
        .map_err(anyhow::Error::from)
    }

    fn directive(&mut self, rt: &Runtime, d: WastDirective<'_>) -> Result<(), String> {
        match d {
            WastDirective::Module(mut q) => {
                let name = q.name().map(|i| i.name().to_string());
                let bytes = encode(&mut q)?;
                let module = rt
                    .compile(&bytes)
                    .map_err(|e| format!("compiling: {e:#}"))?;
                let inst = self
                    .instantiate(&module)
                    .map_err(|e| format!("instantiating: {e:#}"))?;
                if let Some(n) = name {
                    self.instances.insert(n, inst);
                }
                self.last = Some(inst);
                Ok(())
            }
            WastDirective::ModuleDefinition(mut q) => {
                let name = q.name().map(|i| i.name().to_string());
                let bytes = encode(&mut q)?;
                let module = rt
                    .compile(&bytes)
                    .map_err(|e| format!("compiling: {e:#}"))?;
                if let Some(n) = name {
                    self.modules.insert(n, module);
                }
                Ok(())
            }
            WastDirective::ModuleInstance {
                instance, module, ..
            } => {
                let m = module
                    .and_then(|m| self.modules.get(m.name()))
                    .cloned()
                    .ok_or("unknown module definition")?;
                let inst = self
                    .instantiate(&m)
                    .map_err(|e| format!("instantiating: {e:#}"))?;
                if let Some(n) = instance {
                    self.instances.insert(n.name().to_string(), inst);
                }
                self.last = Some(inst);
                Ok(())
            }
            WastDirective::Register { name, module, .. } => {
                let inst = self.instance(module.map(|m| m.name()))?;
                self.linker
                    .instance(&mut self.store, name, inst)
                    .map(|_| ())
                    .map_err(|e| format!("register: {e:#}"))
            }
            WastDirective::Invoke(i) => self.invoke(&i).map(|_| ()),
            WastDirective::AssertReturn { exec, results, .. } => {
                let got = self.execute(rt, exec)?;
                if got.len() != results.len() {
                    return Err(format!("{} results, expected {}", got.len(), results.len()));
                }
                for (g, want) in got.iter().zip(&results) {
                    if !matches_ret(g, want) {
                        return Err(format!("got {g:?}, expected {want:?}"));
                    }
                }
                Ok(())
            }
            WastDirective::AssertTrap { exec, message, .. } => match self.execute(rt, exec) {
                Ok(v) => Err(format!("returned {v:?}, expected a trap ({message})")),
                Err(e) if e.contains(message) => Ok(()),
                Err(e) => Err(format!("trapped with `{e}`, expected `{message}`")),
            },
            WastDirective::AssertExhaustion { call, .. } => match self.invoke(&call) {
                Ok(_) => Err("returned, expected exhaustion".into()),
                Err(_) => Ok(()),
            },
            WastDirective::AssertInvalid { mut module, .. }
            | WastDirective::AssertMalformed { mut module, .. } => {
                match encode(&mut module).map(|b| rt.compile(&b)) {
                    Ok(Ok(_)) => Err("module was accepted".into()),
                    _ => Ok(()),
                }
            }
            WastDirective::AssertUnlinkable { mut module, .. } => {
                let bytes = module.encode().map_err(|e| e.to_string())?;
                let m = rt
                    .compile(&bytes)
                    .map_err(|e| format!("compiling: {e:#}"))?;
                match self.instantiate(&m) {
                    Ok(_) => Err("module linked".into()),
                    Err(_) => Ok(()),
                }
            }
            other => Err(format!("unsupported directive {other:?}")),
        }
    }

    fn instance(&self, name: Option<&str>) -> Result<Instance, String> {
        match name {
            Some(n) => self
                .instances
                .get(n)
                .copied()
                .ok_or_else(|| format!("no instance `{n}`")),
            None => self
                .last
                .ok_or_else(|| "no module instantiated yet".to_string()),
        }
    }

    fn invoke(&mut self, i: &WastInvoke<'_>) -> Result<Vec<Val>, String> {
        let inst = self.instance(i.module.map(|m| m.name()))?;
        let f = inst
            .get_func(&mut self.store, i.name)
            .ok_or_else(|| format!("no export `{}`", i.name))?;
        let args = i.args.iter().map(arg).collect::<Result<Vec<_>, _>>()?;
        let mut out = vec![Val::I32(0); f.ty(&self.store).results().len()];
        f.call(&mut self.store, &args, &mut out)
            .map_err(|e| format!("{e:#}"))?;
        let m = self.machine;
        if let Some(why) = m.guests().into_iter().find_map(|g| m.pending_fault(g)) {
            return Err(format!("guest trapped: {why}"));
        }
        Ok(out)
    }

    fn execute(&mut self, rt: &Runtime, e: WastExecute<'_>) -> Result<Vec<Val>, String> {
        match e {
            WastExecute::Invoke(i) => self.invoke(&i),
            WastExecute::Get { module, global, .. } => {
                let inst = self.instance(module.map(|m| m.name()))?;
                match inst.get_export(&mut self.store, global) {
                    Some(Extern::Global(g)) => Ok(vec![g.get(&mut self.store)]),
                    _ => Err(format!("no global `{global}`")),
                }
            }
            WastExecute::Wat(mut w) => {
                let bytes = encode_wat(&mut w)?;
                let m = rt.compile(&bytes).map_err(|e| format!("{e:#}"))?;
                self.instantiate(&m)
                    .map(|_| Vec::new())
                    .map_err(|e| format!("{e:#}"))
            }
        }
    }
}

fn encode_wat(w: &mut Wat<'_>) -> Result<Vec<u8>, String> {
    w.encode().map_err(|e| e.to_string())
}

fn arg(a: &WastArg<'_>) -> Result<Val, String> {
    match a {
        WastArg::Core(WastArgCore::I32(v)) => Ok(Val::I32(*v)),
        WastArg::Core(WastArgCore::I64(v)) => Ok(Val::I64(*v)),
        WastArg::Core(WastArgCore::F32(v)) => Ok(Val::F32(v.bits)),
        WastArg::Core(WastArgCore::F64(v)) => Ok(Val::F64(v.bits)),
        other => Err(format!("unsupported argument {other:?}")),
    }
}

fn matches_ret(v: &Val, want: &WastRet<'_>) -> bool {
    match (v, want) {
        (Val::I32(a), WastRet::Core(WastRetCore::I32(b))) => a == b,
        (Val::I64(a), WastRet::Core(WastRetCore::I64(b))) => a == b,
        (Val::F32(a), WastRet::Core(WastRetCore::F32(p))) => match p {
            NanPattern::CanonicalNan => a & 0x7fff_ffff == 0x7fc0_0000,
            NanPattern::ArithmeticNan => a & 0x7fc0_0000 == 0x7fc0_0000,
            NanPattern::Value(b) => *a == b.bits,
        },
        (Val::F64(a), WastRet::Core(WastRetCore::F64(p))) => match p {
            NanPattern::CanonicalNan => a & 0x7fff_ffff_ffff_ffff == 0x7ff8_0000_0000_0000,
            NanPattern::ArithmeticNan => a & 0x7ff8_0000_0000_0000 == 0x7ff8_0000_0000_0000,
            NanPattern::Value(b) => *a == b.bits,
        },
        _ => false,
    }
}
