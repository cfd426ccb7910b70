//! The host registers exactly guest-abi's table, with the signatures it states, and the C header
//! declares the same functions and numbers.

use vmm::runtime::{abi, GuestCtx, Run, Runtime};
use vmm::{GuestConfig, Machine, MachineConfig};
use wasmtime::{Extern, Linker, Store, ValType};

#[test]
fn host_functions_are_exactly_the_table() {
    let rt = Runtime::new().unwrap();
    let m = Machine::new(MachineConfig::default().phys_mem(1 << 20)).unwrap();
    let g = m.add_guest(GuestConfig::default()).unwrap();
    let ctx = GuestCtx {
        machine: m,
        guest: g,
        index: 0,
        run: Run::new(1, |_, _| {}),
    };
    let mut store = Store::new(rt.engine(), ctx);
    let mut linker = Linker::new(rt.engine());
    abi::add_to_linker(&mut linker, |c: &GuestCtx| c).unwrap();
    let defs: Vec<(String, String, Extern)> = linker
        .iter(&mut store)
        .map(|(module, name, e)| (module.to_string(), name.to_string(), e))
        .collect();
    assert_eq!(defs.len(), guest_abi::FUNCTIONS.len());
    for f in guest_abi::FUNCTIONS {
        let (_, _, e) = defs
            .iter()
            .find(|(m, n, _)| m == "vmm" && n == f.name)
            .unwrap_or_else(|| panic!("{} missing", f.name));
        let ty = e.clone().into_func().unwrap().ty(&store);
        assert_eq!(ty.params().len(), f.params, "{}", f.name);
        assert!(ty.params().all(|p| matches!(p, ValType::I32)), "{}", f.name);
        assert_eq!(
            ty.results()
                .map(|r| matches!(r, ValType::I32))
                .collect::<Vec<_>>(),
            vec![true],
            "{}",
            f.name
        );
    }
}

#[test]
fn the_c_header_declares_the_same_functions_and_numbers() {
    let h = guest_abi::C_HEADER;
    for f in guest_abi::FUNCTIONS {
        let decl = h
            .lines()
            .find(|l| l.starts_with(&format!("VMM_IMPORT({})", f.name)))
            .unwrap_or_else(|| panic!("{} not in vmm.h", f.name));
        let params = decl
            .split_once('(')
            .unwrap()
            .1
            .split_once('(')
            .unwrap()
            .1
            .trim_end_matches(");");
        let n = if params.trim() == "void" {
            0
        } else {
            params.split(',').count()
        };
        assert_eq!(n, f.params, "{decl}");
    }
    let imports = h.lines().filter(|l| l.starts_with("VMM_IMPORT(")).count();
    assert_eq!(imports, guest_abi::FUNCTIONS.len());
    let define = |name: &str| -> i32 {
        let line = h
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(name) && l.starts_with("#define"))
            .unwrap_or_else(|| panic!("{name} not defined"));
        let v = line.split_whitespace().nth(2).unwrap();
        if let Some(x) = v.strip_prefix("0x") {
            i32::from_str_radix(x, 16).unwrap()
        } else if v.len() > 1 && v.starts_with('0') {
            i32::from_str_radix(&v[1..], 8).unwrap()
        } else {
            v.parse().unwrap()
        }
    };
    for (name, v) in guest_abi::errno::ALL {
        assert_eq!(define(name), *v, "{name}");
    }
    use guest_abi::{ipc, mman};
    for (name, v) in [
        ("PROT_READ", mman::PROT_READ),
        ("PROT_WRITE", mman::PROT_WRITE),
        ("PROT_EXEC", mman::PROT_EXEC),
        ("MAP_SHARED", mman::MAP_SHARED),
        ("MAP_PRIVATE", mman::MAP_PRIVATE),
        ("MAP_FIXED", mman::MAP_FIXED),
        ("MAP_ANON", mman::MAP_ANON),
        ("MCL_CURRENT", mman::MCL_CURRENT),
        ("MCL_FUTURE", mman::MCL_FUTURE),
        ("IPC_CREAT", ipc::IPC_CREAT),
        ("IPC_EXCL", ipc::IPC_EXCL),
        ("IPC_RMID", ipc::IPC_RMID),
        ("IPC_SET", ipc::IPC_SET),
        ("IPC_STAT", ipc::IPC_STAT),
        ("SHM_LOCK", ipc::SHM_LOCK),
        ("SHM_UNLOCK", ipc::SHM_UNLOCK),
        ("SHM_RDONLY", ipc::SHM_RDONLY),
        ("SHM_RND", ipc::SHM_RND),
        ("SHMLBA", ipc::SHMLBA),
        ("SHM_LOCKED", guest_abi::shmid_ds::SHM_LOCKED),
        ("SHM_DEST", guest_abi::shmid_ds::SHM_DEST),
        ("VMM_DUMP_PAGES", guest_abi::dump::VMM_DUMP_PAGES),
        ("VMM_DUMP_MACHINE", guest_abi::dump::VMM_DUMP_MACHINE),
    ] {
        assert_eq!(define(name), v, "{name}");
    }
}
