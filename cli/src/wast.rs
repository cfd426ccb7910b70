//! Runs WebAssembly spec-test scripts (`.wast`) with every memory on the paged VM: each memory a
//! script creates is a new guest of one machine, so a small physical memory makes pages leave
//! and come back throughout, and the scripts check that wasm cannot tell.
//!
//! The runner provides the `spectest` module every spec runner provides (the `print*`
//! functions, `global_i32/i64/f32/f64` = 666 or 666.6, a funcref `table` of 10..20 elements and a
//! `memory` of 1..2 pages, itself a guest), and matches trap messages as the reference
//! interpreter's scripts mean them: the expected text as a substring of the engine's, plus the
//! known wording differences wasmtime's own runner accepts (`uninitialized element 2` is
//! wasmtime's `uninitialized element`; a `null ... reference` is its `null reference`). Modules
//! that must not validate, decode or link may fail with any message: those are the engine's
//! words, not paging's concern.
//!
//! It is this crate's own rather than `wasmtime-wast`, which runs on these memories too but
//! runs a whole script as one call: it has no point between directives where `--evict-each`
//! can page everything out, and it stops a script at its first failing directive, where this
//! runner reports every directive. It would also bring the engine's `threads` feature and a
//! second version of the `wast` parser into the build.

use std::collections::HashMap;
use vmm::machine::{GuestConfig, Machine};
use vmm::runtime::memory::{with_target, MemoryTarget};
use vmm::runtime::Runtime;
use wasmtime::Extern;
use wasmtime::{
    ExternRef, Global, GlobalType, Instance, Linker, Memory, MemoryType, Module, Mutability, Ref,
    RefType, Store, Table, TableType, Val, ValType,
};
use wast::core::{AbstractHeapType, HeapType, NanPattern, V128Pattern, WastArgCore, WastRetCore};
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
    let mut linker = Linker::new(rt.engine());
    linker.allow_shadowing(true);
    let mut cx = Ctx {
        machine,
        store,
        linker,
        modules: HashMap::new(),
        instances: HashMap::new(),
        last: None,
    };
    cx.link_spectest()
        .map_err(|e| anyhow::anyhow!("{name}: the spectest module: {e:#}"))?;
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

/// Whether a trap's text is what a script expected, as the reference interpreter's scripts mean
/// it (see the module documentation).
pub fn trap_matches(actual: &str, expected: &str) -> bool {
    actual.contains(expected)
        || (expected.starts_with("uninitialized element")
            && actual.contains("uninitialized element"))
        || (expected.contains("null function")
            && (actual.contains("uninitialized element") || actual.contains("null reference")))
        || (expected.contains("null")
            && expected.contains("reference")
            && actual.contains("null reference"))
}

impl Ctx<'_> {
    /// The `spectest` module of the reference interpreter.
    fn link_spectest(&mut self) -> anyhow::Result<()> {
        let l = &mut self.linker;
        l.func_wrap("spectest", "print", || {})?;
        l.func_wrap("spectest", "print_i32", |_: i32| {})?;
        l.func_wrap("spectest", "print_i64", |_: i64| {})?;
        l.func_wrap("spectest", "print_f32", |_: f32| {})?;
        l.func_wrap("spectest", "print_f64", |_: f64| {})?;
        l.func_wrap("spectest", "print_i32_f32", |_: i32, _: f32| {})?;
        l.func_wrap("spectest", "print_f64_f64", |_: f64, _: f64| {})?;
        let st = &mut self.store;
        let globals = [
            ("global_i32", ValType::I32, Val::I32(666)),
            ("global_i64", ValType::I64, Val::I64(666)),
            ("global_f32", ValType::F32, Val::F32(0x4426_a666)),
            ("global_f64", ValType::F64, Val::F64(0x4084_d4cc_cccc_cccd)),
        ];
        for (name, ty, v) in globals {
            let g = Global::new(&mut *st, GlobalType::new(ty, Mutability::Const), v)?;
            self.linker.define(&mut *st, "spectest", name, g)?;
        }
        let table = Table::new(
            &mut *st,
            TableType::new(RefType::FUNCREF, 10, Some(20)),
            Ref::Func(None),
        )?;
        self.linker.define(&mut *st, "spectest", "table", table)?;
        let memory = with_target(
            self.machine,
            MemoryTarget::NewGuest(GuestConfig::default()),
            || Memory::new(&mut *st, MemoryType::new(1, Some(2))),
        )?;
        self.linker.define(&mut *st, "spectest", "memory", memory)?;
        Ok(())
    }

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
                    if !matches_ret(&mut self.store, g, want) {
                        return Err(format!("got {g:?}, expected {want:?}"));
                    }
                }
                Ok(())
            }
            WastDirective::AssertTrap { exec, message, .. } => match self.execute(rt, exec) {
                Ok(v) => Err(format!("returned {v:?}, expected a trap ({message})")),
                Err(e) if trap_matches(&e, message) => Ok(()),
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
        let args = i
            .args
            .iter()
            .map(|a| arg(&mut self.store, a))
            .collect::<Result<Vec<_>, _>>()?;
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

fn arg(store: &mut Store<()>, a: &WastArg<'_>) -> Result<Val, String> {
    let WastArg::Core(a) = a else {
        return Err(format!("unsupported argument {a:?}"));
    };
    Ok(match a {
        WastArgCore::I32(v) => Val::I32(*v),
        WastArgCore::I64(v) => Val::I64(*v),
        WastArgCore::F32(v) => Val::F32(v.bits),
        WastArgCore::F64(v) => Val::F64(v.bits),
        WastArgCore::V128(v) => Val::V128(u128::from_le_bytes(v.to_le_bytes()).into()),
        WastArgCore::RefNull(HeapType::Abstract { ty, .. }) => match ty {
            AbstractHeapType::Func | AbstractHeapType::NoFunc => Val::FuncRef(None),
            AbstractHeapType::Extern | AbstractHeapType::NoExtern => Val::ExternRef(None),
            AbstractHeapType::Exn | AbstractHeapType::NoExn => Val::ExnRef(None),
            _ => Val::AnyRef(None),
        },
        WastArgCore::RefNull(_) => Val::FuncRef(None),
        WastArgCore::RefExtern(n) => Val::ExternRef(Some(
            ExternRef::new(&mut *store, *n).map_err(|e| format!("externref: {e}"))?,
        )),
        other => return Err(format!("unsupported argument {other:?}")),
    })
}

fn nan32(a: u32, p: &NanPattern<wast::token::F32>) -> bool {
    match p {
        NanPattern::CanonicalNan => a & 0x7fff_ffff == 0x7fc0_0000,
        NanPattern::ArithmeticNan => a & 0x7fc0_0000 == 0x7fc0_0000,
        NanPattern::Value(b) => a == b.bits,
    }
}

fn nan64(a: u64, p: &NanPattern<wast::token::F64>) -> bool {
    match p {
        NanPattern::CanonicalNan => a & 0x7fff_ffff_ffff_ffff == 0x7ff8_0000_0000_0000,
        NanPattern::ArithmeticNan => a & 0x7ff8_0000_0000_0000 == 0x7ff8_0000_0000_0000,
        NanPattern::Value(b) => a == b.bits,
    }
}

fn v128_matches(v: u128, p: &V128Pattern) -> bool {
    let b = v.to_le_bytes();
    match p {
        V128Pattern::I8x16(x) => x.iter().enumerate().all(|(i, &e)| b[i] as i8 == e),
        V128Pattern::I16x8(x) => x
            .iter()
            .enumerate()
            .all(|(i, &e)| i16::from_le_bytes([b[2 * i], b[2 * i + 1]]) == e),
        V128Pattern::I32x4(x) => x.iter().enumerate().all(|(i, &e)| {
            i32::from_le_bytes(b[4 * i..4 * i + 4].try_into().expect("4 bytes")) == e
        }),
        V128Pattern::I64x2(x) => x.iter().enumerate().all(|(i, &e)| {
            i64::from_le_bytes(b[8 * i..8 * i + 8].try_into().expect("8 bytes")) == e
        }),
        V128Pattern::F32x4(x) => x.iter().enumerate().all(|(i, p)| {
            nan32(
                u32::from_le_bytes(b[4 * i..4 * i + 4].try_into().expect("4 bytes")),
                p,
            )
        }),
        V128Pattern::F64x2(x) => x.iter().enumerate().all(|(i, p)| {
            nan64(
                u64::from_le_bytes(b[8 * i..8 * i + 8].try_into().expect("8 bytes")),
                p,
            )
        }),
    }
}

fn matches_ret(store: &mut Store<()>, v: &Val, want: &WastRet<'_>) -> bool {
    match want {
        WastRet::Core(w) => matches_core(store, v, w),
        _ => false,
    }
}

fn matches_core(store: &mut Store<()>, v: &Val, want: &WastRetCore<'_>) -> bool {
    match (v, want) {
        (Val::I32(a), WastRetCore::I32(b)) => a == b,
        (Val::I64(a), WastRetCore::I64(b)) => a == b,
        (Val::F32(a), WastRetCore::F32(p)) => nan32(*a, p),
        (Val::F64(a), WastRetCore::F64(p)) => nan64(*a, p),
        (Val::V128(a), WastRetCore::V128(p)) => v128_matches(a.as_u128(), p),
        (_, WastRetCore::Either(alts)) => alts.iter().any(|w| matches_core(store, v, w)),
        (Val::FuncRef(f), WastRetCore::RefNull(_)) => f.is_none(),
        (Val::ExternRef(r), WastRetCore::RefNull(_)) => r.is_none(),
        (Val::AnyRef(r), WastRetCore::RefNull(_)) => r.is_none(),
        (Val::ExnRef(r), WastRetCore::RefNull(_)) => r.is_none(),
        (Val::FuncRef(f), WastRetCore::RefFunc(_)) => f.is_some(),
        (Val::ExternRef(Some(r)), WastRetCore::RefExtern(want)) => match want {
            None => true,
            Some(n) => r
                .data(&*store)
                .ok()
                .flatten()
                .and_then(|d| d.downcast_ref::<u32>())
                .is_some_and(|x| x == n),
        },
        (Val::AnyRef(Some(_)), WastRetCore::RefAny) => true,
        _ => false,
    }
}
