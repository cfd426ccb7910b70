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
    for (name, v) in guest_abi::errno::ALL {
        assert_eq!(define(h, name), *v, "{name}");
    }
    for (name, v) in numbers() {
        assert_eq!(define(h, name), v, "{name}");
    }
}

/// The POSIX layer's private copy of the ABI numbers (`VMM_ABI_*`) agrees with the table, and
/// its library imports only functions the host registers.
#[test]
fn the_posix_layer_uses_the_same_numbers_and_functions() {
    let file = |name: &str| {
        guest_abi::posix::FILES
            .iter()
            .find(|(p, _)| *p == name)
            .unwrap_or_else(|| panic!("{name} is not in the POSIX layer"))
            .1
    };
    let h = file("include/vmm_abi.h");
    for (name, v) in guest_abi::errno::ALL {
        assert_eq!(define(h, &format!("VMM_ABI_{name}")), *v, "{name}");
    }
    for (name, v) in numbers() {
        if name.starts_with("VMM_DUMP") || name == "SHMLBA" {
            continue;
        }
        assert_eq!(define(h, &format!("VMM_ABI_{name}")), v, "{name}");
    }
    use guest_abi::shmid_ds as ds;
    for (name, v) in [
        ("SIZE", ds::SIZE),
        ("UID", ds::UID),
        ("GID", ds::GID),
        ("CUID", ds::CUID),
        ("CGID", ds::CGID),
        ("MODE", ds::MODE),
        ("KEY", ds::KEY),
        ("SEGSZ", ds::SEGSZ),
        ("LPID", ds::LPID),
        ("CPID", ds::CPID),
        ("NATTCH", ds::NATTCH),
        ("ATIME", ds::ATIME),
        ("DTIME", ds::DTIME),
        ("CTIME", ds::CTIME),
    ] {
        assert_eq!(define(h, &format!("VMM_ABI_DS_{name}")), v as i32, "{name}");
    }
    use guest_abi::{shm_info as si, shminfo as li};
    for (name, v) in [
        ("SHMINFO_SIZE", li::SIZE),
        ("SHMINFO_SHMMAX", li::SHMMAX),
        ("SHMINFO_SHMMIN", li::SHMMIN),
        ("SHMINFO_SHMMNI", li::SHMMNI),
        ("SHMINFO_SHMSEG", li::SHMSEG),
        ("SHMINFO_SHMALL", li::SHMALL),
        ("SHM_INFO_SIZE", si::SIZE),
        ("SHM_INFO_USED_IDS", si::USED_IDS),
        ("SHM_INFO_SHM_TOT", si::SHM_TOT),
        ("SHM_INFO_SHM_RSS", si::SHM_RSS),
        ("SHM_INFO_SHM_SWP", si::SHM_SWP),
        ("SHM_INFO_SWAP_ATTEMPTS", si::SWAP_ATTEMPTS),
        ("SHM_INFO_SWAP_SUCCESSES", si::SWAP_SUCCESSES),
    ] {
        assert_eq!(define(h, &format!("VMM_ABI_{name}")), v as i32, "{name}");
    }
    let lib = file("vmm_posix.c");
    let imports: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("VMM_IMPORT(")?.split(')').next())
        .collect();
    assert!(imports.len() >= 12, "{imports:?}");
    for name in imports {
        let f = guest_abi::function(name).unwrap_or_else(|| panic!("{name} is not in the table"));
        let decl = lib
            .lines()
            .find(|l| l.starts_with(&format!("VMM_IMPORT({name})")))
            .unwrap();
        let params = decl.rsplit_once('(').unwrap().1.trim_end_matches(");");
        let n = if params.trim() == "void" {
            0
        } else {
            params.split(',').count()
        };
        assert_eq!(n, f.params, "{decl}");
    }
}

/// The value of `#define name` in a header (decimal, `0x` hex or `0` octal).
fn define(h: &str, name: &str) -> i32 {
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
}

/// Every flag and command number of the table, by its C name.
fn numbers() -> Vec<(&'static str, i32)> {
    use guest_abi::{ipc, mman};
    vec![
        ("PROT_READ", mman::PROT_READ),
        ("PROT_WRITE", mman::PROT_WRITE),
        ("PROT_EXEC", mman::PROT_EXEC),
        ("MAP_SHARED", mman::MAP_SHARED),
        ("MAP_PRIVATE", mman::MAP_PRIVATE),
        ("MAP_FIXED", mman::MAP_FIXED),
        ("MAP_ANON", mman::MAP_ANON),
        ("MCL_CURRENT", mman::MCL_CURRENT),
        ("MCL_FUTURE", mman::MCL_FUTURE),
        ("MCL_ONFAULT", mman::MCL_ONFAULT),
        ("MLOCK_ONFAULT", mman::MLOCK_ONFAULT),
        ("MAP_WIRED", mman::MAP_WIRED),
        ("MAP_POPULATE", mman::MAP_POPULATE),
        ("MADV_NORMAL", mman::MADV_NORMAL),
        ("MADV_RANDOM", mman::MADV_RANDOM),
        ("MADV_SEQUENTIAL", mman::MADV_SEQUENTIAL),
        ("MADV_WILLNEED", mman::MADV_WILLNEED),
        ("MADV_DONTNEED", mman::MADV_DONTNEED),
        ("MADV_FREE", mman::MADV_FREE),
        ("MADV_DONTNEED_LOCKED", mman::MADV_DONTNEED_LOCKED),
        ("MS_ASYNC", mman::MS_ASYNC),
        ("MS_INVALIDATE", mman::MS_INVALIDATE),
        ("MS_SYNC", mman::MS_SYNC),
        ("IPC_CREAT", ipc::IPC_CREAT),
        ("IPC_EXCL", ipc::IPC_EXCL),
        ("IPC_RMID", ipc::IPC_RMID),
        ("IPC_SET", ipc::IPC_SET),
        ("IPC_STAT", ipc::IPC_STAT),
        ("SHM_LOCK", ipc::SHM_LOCK),
        ("SHM_UNLOCK", ipc::SHM_UNLOCK),
        ("IPC_INFO", ipc::IPC_INFO),
        ("SHM_STAT", ipc::SHM_STAT),
        ("SHM_INFO", ipc::SHM_INFO),
        ("SHM_STAT_ANY", ipc::SHM_STAT_ANY),
        ("SHM_RDONLY", ipc::SHM_RDONLY),
        ("SHM_RND", ipc::SHM_RND),
        ("SHMLBA", ipc::SHMLBA),
        ("SHM_LOCKED", guest_abi::shmid_ds::SHM_LOCKED),
        ("SHM_DEST", guest_abi::shmid_ds::SHM_DEST),
        ("VMM_DUMP_PAGES", guest_abi::dump::VMM_DUMP_PAGES),
        ("VMM_DUMP_MACHINE", guest_abi::dump::VMM_DUMP_MACHINE),
    ]
}
