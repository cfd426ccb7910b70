//! The guest interface of vmm, stated once.
//!
//! Guests import host functions from the module [`IMPORT_MODULE`]. Every function takes and
//! returns `i32`: addresses and sizes are wasm32 offsets and lengths, and a result in
//! `-4095..=-1` is a negated errno ([`is_error`]); anything else is success. Constant and errno
//! numbers are NetBSD's (`<sys/mman.h>`, `<sys/ipc.h>`, `<sys/shm.h>`, `<sys/errno.h>`), since
//! the semantics are UVM's.
//!
//! The host registers exactly [`FUNCTIONS`]; `include/vmm.h` is the C view of the same numbers,
//! and a test checks that the two agree. [`posix`] is the POSIX layer standard C guests link
//! with, and on wasm32 `guest` is the Rust guest side: imports, safe wrappers and owners that
//! unmap or detach on drop. The crate is `no_std`.
//!
//! ```
//! use guest_abi::{errno, function, is_error};
//! assert_eq!(function("mlock").unwrap().params, 2);
//! assert!(is_error(-errno::EAGAIN));
//! assert!(!is_error(4096));
//! ```
#![deny(missing_docs)]
#![cfg_attr(not(test), no_std)]

#[cfg(target_arch = "wasm32")]
pub mod guest;

/// The wasm import module every host function lives in.
pub const IMPORT_MODULE: &str = "vmm";

/// `include/vmm.h`: the C header guests include (constants, `struct shmid_ds`, and POSIX-style
/// wrappers that return -1 and set `errno`).
pub const C_HEADER: &str = include_str!("../include/vmm.h");

/// The POSIX layer for standard C guests on wasi-libc: headers (`sys/mman.h`, `sys/ipc.h`,
/// `sys/shm.h`, a `unistd.h` that gives the host's page size) and the small library that
/// implements them with the host functions, translating the libc's numbers to the ABI's and
/// the ABI's errnos back to the libc's. Each entry is a path relative to the build directory
/// and the file's text; `include/` holds the headers, `vmm_posix.c` the library.
pub mod posix {
    /// Every file of the layer.
    pub const FILES: &[(&str, &str)] = &[
        (
            "include/sys/mman.h",
            include_str!("../include/posix/sys/mman.h"),
        ),
        (
            "include/sys/ipc.h",
            include_str!("../include/posix/sys/ipc.h"),
        ),
        (
            "include/sys/shm.h",
            include_str!("../include/posix/sys/shm.h"),
        ),
        (
            "include/unistd.h",
            include_str!("../include/posix/unistd.h"),
        ),
        (
            "include/vmm_abi.h",
            include_str!("../include/posix/vmm_abi.h"),
        ),
        (
            "include/vmm_test.h",
            include_str!("../include/posix/vmm_test.h"),
        ),
        ("include/vmm.h", include_str!("../include/posix/vmm.h")),
        ("vmm_posix.c", include_str!("../posix/vmm_posix.c")),
        (
            "include/sys/resource.h",
            include_str!("../include/posix/sys/resource.h"),
        ),
        (
            "include/sys/syscall.h",
            include_str!("../include/posix/sys/syscall.h"),
        ),
        (
            "include/linux/capability.h",
            include_str!("../include/posix/linux/capability.h"),
        ),
        (
            "include/linux/mman.h",
            include_str!("../include/posix/linux/mman.h"),
        ),
        ("include/pwd.h", include_str!("../include/posix/pwd.h")),
        ("include/grp.h", include_str!("../include/posix/grp.h")),
        (
            "include/pthread.h",
            include_str!("../include/posix/pthread.h"),
        ),
        (
            "include/setjmp.h",
            include_str!("../include/posix/setjmp.h"),
        ),
        ("vmm_process.c", include_str!("../posix/vmm_process.c")),
    ];

    /// The C library's functions the layer wraps (`-Wl,--wrap=` each when linking a guest), so
    /// that `/proc` files, which the layer serves from memory, open and read through the C
    /// library's own calls too (`fopen`, `fscanf`, `fclose`).
    pub const WRAPPED: &[&str] = &[
        "open",
        "__wasilibc_open_nomode",
        "read",
        "readv",
        "close",
        "lseek",
        "__lseek",
        "fstat",
        "access",
        "uname",
    ];

    /// `include/posix/vmm_test.h` as checked in: what [`write_test_header`] writes (a test
    /// checks, and `VMM_UPDATE_HEADERS=1 cargo test -p guest-abi` rewrites it).
    pub const TEST_HEADER: &str = include_str!("../include/posix/vmm_test.h");

    /// Writes `<vmm_test.h>`, the test helpers for standard C programs, from the function
    /// table: every host function of vmm's own ([`crate::FUNCTIONS`] named `vmm_*`; the POSIX
    /// calls come from `<sys/mman.h>` and `<sys/shm.h>`), the `vmm_dump` flags, and
    /// `vmm_resident`. As a guest each helper calls the host and returns -1 with the libc's
    /// `errno` on failure; built natively (`vmm diff`) it stands for one process on a kernel that
    /// pages on its own, where that means something, and is left out where it does not.
    pub fn write_test_header(w: &mut impl core::fmt::Write) -> core::fmt::Result {
        w.write_str(TEST_HEADER_TOP)?;
        for (name, v) in [
            ("VMM_DUMP_PAGES", crate::dump::VMM_DUMP_PAGES),
            ("VMM_DUMP_MACHINE", crate::dump::VMM_DUMP_MACHINE),
        ] {
            writeln!(w, "#define {name} {v:#x}")?;
        }
        w.write_str("\n#ifdef __wasm__\n\nint __vmm_ret(int r);\n")?;
        for f in own_functions() {
            let (names, doc) = split_doc(f);
            let params = &names[..f.params];
            write!(w, "\n/* {}(", f.name)?;
            write_list(w, "", params)?;
            writeln!(w, "): {doc}. */")?;
            write!(
                w,
                "__attribute__((import_module(\"{}\"), import_name(\"{}\"))) int __vmm_host_{}(",
                crate::IMPORT_MODULE,
                f.name,
                f.name
            )?;
            write_params(w, params)?;
            write!(w, ");\nstatic inline int {}(", f.name)?;
            write_params(w, params)?;
            write!(w, ") {{ return __vmm_ret(__vmm_host_{}(", f.name)?;
            write_list(w, "", params)?;
            w.write_str(")); }\n")?;
        }
        w.write_str("\n#else /* built natively: one process, and the host kernel pages */\n")?;
        for f in own_functions() {
            let (names, _) = split_doc(f);
            let params = &names[..f.params];
            let Some((body, why)) = native_stand_in(f.name) else {
                writeln!(w, "\n/* {}: a guest's only; not here natively. */", f.name)?;
                continue;
            };
            writeln!(w, "\n/* {why}. */")?;
            write!(w, "static inline int {}(", f.name)?;
            write_params(w, params)?;
            w.write_str(") {")?;
            for p in params {
                write!(w, " (void){p};")?;
            }
            writeln!(w, " {body} }}")?;
        }
        w.write_str("\n#endif\n")?;
        w.write_str(TEST_HEADER_BOTTOM)
    }

    /// The host functions of vmm's own, in table order.
    fn own_functions() -> impl Iterator<Item = &'static crate::HostFn> {
        crate::FUNCTIONS
            .iter()
            .filter(|f| f.name.starts_with("vmm_"))
    }

    /// A function's parameter names (from its doc, `name(a, b): ...`, else `a0`, `a1`, ...)
    /// and the doc's sentence.
    fn split_doc(f: &crate::HostFn) -> ([&'static str; 4], &'static str) {
        const DEFAULT: [&str; 4] = ["a0", "a1", "a2", "a3"];
        let mut names = DEFAULT;
        let doc = match f
            .doc
            .strip_prefix(f.name)
            .and_then(|d| d.strip_prefix('('))
            .and_then(|d| d.split_once("): "))
        {
            Some((list, rest)) => {
                for (slot, n) in names.iter_mut().zip(list.split(", ")) {
                    *slot = n;
                }
                rest
            }
            None => f.doc,
        };
        (names, doc)
    }

    /// A C parameter list: `int a, int b`, or `void`.
    fn write_params(w: &mut impl core::fmt::Write, params: &[&str]) -> core::fmt::Result {
        if params.is_empty() {
            return w.write_str("void");
        }
        write_list(w, "int ", params)
    }

    /// `names` separated by commas, each after `prefix`.
    fn write_list(
        w: &mut impl core::fmt::Write,
        prefix: &str,
        names: &[&str],
    ) -> core::fmt::Result {
        for (i, n) in names.iter().enumerate() {
            write!(w, "{}{prefix}{n}", if i > 0 { ", " } else { "" })?;
        }
        Ok(())
    }

    /// What a helper does in a native build, and why that stands for the guest's.
    fn native_stand_in(name: &str) -> Option<(&'static str, &'static str)> {
        Some(match name {
            "vmm_guest_index" => ("return 0;", "One process: process 0"),
            "vmm_guest_count" => ("return 1;", "One process"),
            "vmm_barrier" => ("return 0;", "One process has nobody to wait for"),
            "vmm_reclaim" => (
                "return 0;",
                "The host kernel pages on its own: nothing reclaimed now",
            ),
            "vmm_dump" => ("return 0;", "No machine to dump"),
            _ => return None,
        })
    }

    const TEST_HEADER_TOP: &str = "\
/* <vmm_test.h>: vmm's test helpers for standard C programs (libc headers, `int main`, built with
 * clang --target=wasm32-wasi against wasi-libc), included beside the libc's headers. It declares
 * only vmm_* names: mmap, mlock, shmget and the rest come from <sys/mman.h> and <sys/shm.h>.
 * As a guest each helper calls the vmm host and returns -1 with errno set on failure; built
 * natively (vmm diff, the host kernel as oracle) each stands for one process on a kernel that
 * pages on its own. Freestanding guests (VMM_MAIN) include \"vmm.h\" instead.
 *
 * Generated by guest_abi::posix::write_test_header from the function table in
 * guest-abi/src/lib.rs; do not edit (VMM_UPDATE_HEADERS=1 cargo test -p guest-abi rewrites it). */
#ifndef VMM_TEST_H
#define VMM_TEST_H
#include <stddef.h>
#include <sys/mman.h>
#include <unistd.h>
#ifdef __cplusplus
extern \"C\" {
#endif

";

    const TEST_HEADER_BOTTOM: &str = "
/* Pages [p, p + pages * page size) all resident (1), none resident (0), or mixed or an error (-1). */
static inline int vmm_resident(const void *p, size_t pages) {
    long pg = sysconf(_SC_PAGESIZE);
    int all = 1, none = 1;
    for (size_t i = 0; i < pages; i++) {
        unsigned char v = 0;
        if (mincore((char *)p + i * pg, (size_t)pg, &v) != 0) return -1;
        if (v & 1) none = 0; else all = 0;
    }
    return all ? 1 : none ? 0 : -1;
}

#ifdef __cplusplus
}
#endif
#endif
";
}

/// The page size the guest sees (`getpagesize()`), in bytes.
pub const PAGE_SIZE: u32 = 4096;

/// Error numbers, as NetBSD's `<sys/errno.h>` defines them.
pub mod errno {
    /// Operation not permitted.
    pub const EPERM: i32 = 1;
    /// No such file or directory (no segment with that key).
    pub const ENOENT: i32 = 2;
    /// No such process (an unknown or exited guest).
    pub const ESRCH: i32 = 3;
    /// Input/output error.
    pub const EIO: i32 = 5;
    /// Cannot allocate memory.
    pub const ENOMEM: i32 = 12;
    /// Permission denied.
    pub const EACCES: i32 = 13;
    /// Bad address.
    pub const EFAULT: i32 = 14;
    /// Device or resource busy (`msync(MS_INVALIDATE)` of locked pages).
    pub const EBUSY: i32 = 16;
    /// File exists (segment exists and IPC_EXCL was given).
    pub const EEXIST: i32 = 17;
    /// Invalid argument.
    pub const EINVAL: i32 = 22;
    /// No space left on device (segment table full).
    pub const ENOSPC: i32 = 28;
    /// Resource temporarily unavailable (wiring limits).
    pub const EAGAIN: i32 = 35;
    /// Function not implemented.
    pub const ENOSYS: i32 = 78;
    /// Identifier removed.
    pub const EIDRM: i32 = 82;

    /// Every errno this interface returns, with its C name.
    pub const ALL: &[(&str, i32)] = &[
        ("EPERM", EPERM),
        ("ENOENT", ENOENT),
        ("ESRCH", ESRCH),
        ("EIO", EIO),
        ("ENOMEM", ENOMEM),
        ("EACCES", EACCES),
        ("EFAULT", EFAULT),
        ("EBUSY", EBUSY),
        ("EEXIST", EEXIST),
        ("EINVAL", EINVAL),
        ("ENOSPC", ENOSPC),
        ("EAGAIN", EAGAIN),
        ("ENOSYS", ENOSYS),
        ("EIDRM", EIDRM),
    ];

    /// The C name of an errno number, if this interface uses it.
    pub fn name(e: i32) -> Option<&'static str> {
        ALL.iter().find(|(_, v)| *v == e).map(|(n, _)| *n)
    }
}

/// Protections, mapping flags and lock flags, as NetBSD's `<sys/mman.h>` defines them.
pub mod mman {
    /// Pages may not be accessed.
    pub const PROT_NONE: i32 = 0x0;
    /// Pages may be read.
    pub const PROT_READ: i32 = 0x1;
    /// Pages may be written.
    pub const PROT_WRITE: i32 = 0x2;
    /// Pages may be executed (accepted, meaningless for wasm data).
    pub const PROT_EXEC: i32 = 0x4;
    /// Share changes (accepted for anonymous memory; behaves as private here).
    pub const MAP_SHARED: i32 = 0x0001;
    /// Changes are private.
    pub const MAP_PRIVATE: i32 = 0x0002;
    /// Map at exactly the given address, replacing what is there.
    pub const MAP_FIXED: i32 = 0x0010;
    /// Anonymous memory (the only kind `mmap` maps here).
    pub const MAP_ANON: i32 = 0x1000;
    /// Lock the new mapping, as if `mlock` followed (NetBSD's `MAP_WIRED`; the POSIX layer's
    /// `MAP_LOCKED`), under the rule sets that have it.
    pub const MAP_WIRED: i32 = 0x0800;
    /// Bring every page in before returning (Linux's `MAP_POPULATE`; this project's own bit,
    /// NetBSD has none).
    pub const MAP_POPULATE: i32 = 0x0010_0000;
    /// `mmap`'s failure value in C (the raw host call returns a negated errno instead).
    pub const MAP_FAILED: i32 = -1;
    /// `mlockall`: lock every current mapping.
    pub const MCL_CURRENT: i32 = 0x1;
    /// `mlockall`: lock every future mapping.
    pub const MCL_FUTURE: i32 = 0x2;
    /// `mlockall` (Linux's, with `MCL_CURRENT` or `MCL_FUTURE`): lock on fault. NetBSD has
    /// none; the number is Linux's.
    pub const MCL_ONFAULT: i32 = 0x4;
    /// `mlock2` (Linux's): lock on fault.
    pub const MLOCK_ONFAULT: i32 = 0x1;
    /// `madvise`: no special treatment.
    pub const MADV_NORMAL: i32 = 0;
    /// `madvise`: random access (no fault-ahead).
    pub const MADV_RANDOM: i32 = 1;
    /// `madvise`: sequential access (fault-ahead forward, far).
    pub const MADV_SEQUENTIAL: i32 = 2;
    /// `madvise`: bring the pages in now.
    pub const MADV_WILLNEED: i32 = 3;
    /// `madvise`: not needed soon (Linux drops private anonymous pages; the BSDs keep them).
    pub const MADV_DONTNEED: i32 = 4;
    /// `madvise`: the data may go.
    pub const MADV_FREE: i32 = 6;
    /// `madvise` (Linux's): `MADV_DONTNEED`, locked pages included. NetBSD has none; the
    /// number is Linux's.
    pub const MADV_DONTNEED_LOCKED: i32 = 24;
    /// `msync`: schedule the writes and return.
    pub const MS_ASYNC: i32 = 0x1;
    /// `msync`: drop cached copies (refused over locked pages).
    pub const MS_INVALIDATE: i32 = 0x2;
    /// `msync`: write and wait.
    pub const MS_SYNC: i32 = 0x4;
}

/// SysV IPC and shared-memory constants, as NetBSD's `<sys/ipc.h>` and `<sys/shm.h>` define them.
pub mod ipc {
    /// Key that always creates a new segment.
    pub const IPC_PRIVATE: i32 = 0;
    /// Create the segment if the key does not exist.
    pub const IPC_CREAT: i32 = 0o1000;
    /// With IPC_CREAT: fail if the key exists.
    pub const IPC_EXCL: i32 = 0o2000;
    /// Accepted and ignored (nothing here waits).
    pub const IPC_NOWAIT: i32 = 0o4000;
    /// `shmctl`: mark the segment for removal.
    pub const IPC_RMID: i32 = 0;
    /// `shmctl`: set owner and mode from the buffer.
    pub const IPC_SET: i32 = 1;
    /// `shmctl`: copy the segment's status into the buffer.
    pub const IPC_STAT: i32 = 2;
    /// `shmctl`: wire the segment (SVID, balanced).
    pub const SHM_LOCK: i32 = 3;
    /// `shmctl`: unwire the segment (SVID, balanced).
    pub const SHM_UNLOCK: i32 = 4;
    /// `shmctl` (Linux's, under `--semantics linux`): the limits into a [`super::shminfo`];
    /// returns the highest segment index in use. This project's number (Linux's `IPC_INFO` 3
    /// plus 0x100: NetBSD has none, and its 3 is `SHM_LOCK`).
    pub const IPC_INFO: i32 = 0x103;
    /// `shmctl` (Linux's): the status of the segment at index `shmid` into a `shmid_ds`;
    /// returns its id. Needs read permission.
    pub const SHM_STAT: i32 = 0x10d;
    /// `shmctl` (Linux's): the segments' use into a [`super::shm_info`]; returns the highest
    /// segment index in use.
    pub const SHM_INFO: i32 = 0x10e;
    /// `shmctl` (Linux's): `SHM_STAT` without the permission check.
    pub const SHM_STAT_ANY: i32 = 0x10f;
    /// `shmat`: attach read-only.
    pub const SHM_RDONLY: i32 = 0o10000;
    /// `shmat`: round the attach address down to SHMLBA.
    pub const SHM_RND: i32 = 0o20000;
    /// Attach address alignment: one page.
    pub const SHMLBA: i32 = super::PAGE_SIZE as i32;
    /// The permission bits of a mode.
    pub const MODE_MASK: i32 = 0o777;
}

/// The guest's view of `struct shmid_ds`: thirteen little-endian 32-bit fields, 52 bytes.
///
/// `shm_perm` (uid, gid, cuid, cgid, mode, key) comes first, then size, last and creating
/// guest, attach count and the three times (seconds since the Epoch).
pub mod shmid_ds {
    /// Size of the structure in guest memory.
    pub const SIZE: u32 = 52;
    /// Offset of `shm_perm.uid` (owner user).
    pub const UID: u32 = 0;
    /// Offset of `shm_perm.gid` (owner group).
    pub const GID: u32 = 4;
    /// Offset of `shm_perm.cuid` (creator user).
    pub const CUID: u32 = 8;
    /// Offset of `shm_perm.cgid` (creator group).
    pub const CGID: u32 = 12;
    /// Offset of `shm_perm.mode`: permission bits, plus [`SHM_LOCKED`] and [`SHM_DEST`] state bits.
    pub const MODE: u32 = 16;
    /// Offset of `shm_perm._key`.
    pub const KEY: u32 = 20;
    /// Offset of `shm_segsz` (bytes).
    pub const SEGSZ: u32 = 24;
    /// Offset of `shm_lpid` (pid of the last shmat or shmdt, 0 before any).
    pub const LPID: u32 = 28;
    /// Offset of `shm_cpid` (pid of the creator).
    pub const CPID: u32 = 32;
    /// Offset of `shm_nattch` (number of attachments).
    pub const NATTCH: u32 = 36;
    /// Offset of `shm_atime` (seconds since the Epoch at the last attach).
    pub const ATIME: u32 = 40;
    /// Offset of `shm_dtime` (seconds since the Epoch at the last detach).
    pub const DTIME: u32 = 44;
    /// Offset of `shm_ctime` (seconds since the Epoch at the last change).
    pub const CTIME: u32 = 48;
    /// Mode bit reported by IPC_STAT while the segment is SHM_LOCKed.
    pub const SHM_LOCKED: i32 = 0o4000;
    /// Mode bit reported by IPC_STAT once the segment is marked for removal.
    pub const SHM_DEST: i32 = 0o1000;
}

/// The guest's view of Linux's `struct shminfo` (`shmctl(IPC_INFO)`): five little-endian
/// 32-bit fields, 20 bytes.
pub mod shminfo {
    /// Size of the structure in guest memory.
    pub const SIZE: u32 = 20;
    /// Offset of `shmmax` (largest segment, bytes).
    pub const SHMMAX: u32 = 0;
    /// Offset of `shmmin` (smallest segment, bytes).
    pub const SHMMIN: u32 = 4;
    /// Offset of `shmmni` (most segments).
    pub const SHMMNI: u32 = 8;
    /// Offset of `shmseg` (most attachments per guest).
    pub const SHMSEG: u32 = 12;
    /// Offset of `shmall` (most pages in all segments).
    pub const SHMALL: u32 = 16;
}

/// The guest's view of Linux's `struct shm_info` (`shmctl(SHM_INFO)`): six little-endian
/// 32-bit fields, 24 bytes; the page counts are pages.
pub mod shm_info {
    /// Size of the structure in guest memory.
    pub const SIZE: u32 = 24;
    /// Offset of `used_ids` (segments).
    pub const USED_IDS: u32 = 0;
    /// Offset of `shm_tot` (pages in all segments).
    pub const SHM_TOT: u32 = 4;
    /// Offset of `shm_rss` (of them, resident).
    pub const SHM_RSS: u32 = 8;
    /// Offset of `shm_swp` (of them, swapped out).
    pub const SHM_SWP: u32 = 12;
    /// Offset of `swap_attempts` (always 0, as Linux).
    pub const SWAP_ATTEMPTS: u32 = 16;
    /// Offset of `swap_successes` (always 0, as Linux).
    pub const SWAP_SUCCESSES: u32 = 20;
}

/// `vmm_dump(flags)` flags (this project's own; no NetBSD counterpart).
pub mod dump {
    /// Add one row per run of like pages (residency and who wires them) under each entry.
    pub const VMM_DUMP_PAGES: i32 = 0x1;
    /// Add the machine-wide view (frames, queues, swap, segments, per-guest totals).
    pub const VMM_DUMP_MACHINE: i32 = 0x2;
    /// Every flag the host knows.
    pub const ALL: i32 = VMM_DUMP_PAGES | VMM_DUMP_MACHINE;
}

/// Ids, capabilities and resource limits (`getuid` ... `setrlimit`): this project's numbers
/// for resources are NetBSD's (`<sys/resource.h>`); capabilities and `capget`'s structures
/// are Linux's (`<linux/capability.h>`), since only Linux has them.
pub mod process {
    /// CPU time in seconds.
    pub const RLIMIT_CPU: i32 = 0;
    /// Largest file in bytes.
    pub const RLIMIT_FSIZE: i32 = 1;
    /// Data segment in bytes.
    pub const RLIMIT_DATA: i32 = 2;
    /// Stack in bytes.
    pub const RLIMIT_STACK: i32 = 3;
    /// Core file in bytes.
    pub const RLIMIT_CORE: i32 = 4;
    /// Resident set in bytes.
    pub const RLIMIT_RSS: i32 = 5;
    /// Locked memory in bytes (the one limit the host enforces).
    pub const RLIMIT_MEMLOCK: i32 = 6;
    /// Processes.
    pub const RLIMIT_NPROC: i32 = 7;
    /// Open files.
    pub const RLIMIT_NOFILE: i32 = 8;
    /// Address space in bytes.
    pub const RLIMIT_AS: i32 = 10;
    /// No limit, in a `struct rlimit` field.
    pub const RLIM_INFINITY: u64 = u64::MAX;
    /// `struct rlimit` in guest memory: `rlim_cur` then `rlim_max`, little-endian u64s.
    pub const RLIMIT_SIZE: u32 = 16;
    /// `_LINUX_CAPABILITY_VERSION_1`: one data struct (capabilities 0 to 31).
    pub const CAP_VERSION_1: u32 = 0x1998_0330;
    /// `_LINUX_CAPABILITY_VERSION_2` (deprecated): two data structs.
    pub const CAP_VERSION_2: u32 = 0x2007_1026;
    /// `_LINUX_CAPABILITY_VERSION_3`: two data structs (capabilities 0 to 63).
    pub const CAP_VERSION_3: u32 = 0x2008_0522;
    /// `struct __user_cap_header_struct`: `version` (u32) then `pid` (i32).
    pub const CAP_HEADER_SIZE: u32 = 8;
    /// `struct __user_cap_data_struct`: `effective`, `permitted`, `inheritable` (u32 each).
    pub const CAP_DATA_SIZE: u32 = 12;
    /// `CAP_SETGID`.
    pub const CAP_SETGID: u32 = 6;
    /// `CAP_SETUID`.
    pub const CAP_SETUID: u32 = 7;
    /// `CAP_IPC_LOCK`.
    pub const CAP_IPC_LOCK: u32 = 14;
    /// `CAP_IPC_OWNER`.
    pub const CAP_IPC_OWNER: u32 = 15;
    /// `CAP_SYS_ADMIN`.
    pub const CAP_SYS_ADMIN: u32 = 21;
    /// `CAP_SYS_RESOURCE`.
    pub const CAP_SYS_RESOURCE: u32 = 24;
}

/// A host function of the guest interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostFn {
    /// The import name.
    pub name: &'static str,
    /// How many `i32` parameters it takes; it always returns one `i32`.
    pub params: usize,
    /// One line on what it does.
    pub doc: &'static str,
}

const fn f(name: &'static str, params: usize, doc: &'static str) -> HostFn {
    HostFn { name, params, doc }
}

/// Every host function, in the order the header lists them. The host registers exactly these.
pub const FUNCTIONS: &[HostFn] = &[
    f(
        "mmap",
        4,
        "mmap(addr, len, prot, flags): map anonymous memory; returns the address",
    ),
    f(
        "munmap",
        2,
        "munmap(addr, len): remove mappings, unwiring them",
    ),
    f(
        "mprotect",
        3,
        "mprotect(addr, len, prot): change protection",
    ),
    f(
        "mincore",
        3,
        "mincore(addr, len, vec): one byte per page, bit 0 = resident",
    ),
    f(
        "mlock",
        2,
        "mlock(addr, len): POSIX lock (a flag: not counted)",
    ),
    f(
        "mlock2",
        3,
        "mlock2(addr, len, flags): Linux's mlock; MLOCK_ONFAULT wires pages as they come in",
    ),
    f(
        "munlock",
        2,
        "munlock(addr, len): POSIX unlock (clears the flag)",
    ),
    f(
        "mlockall",
        1,
        "mlockall(flags): MCL_CURRENT and/or MCL_FUTURE",
    ),
    f(
        "munlockall",
        0,
        "munlockall(): clear every lock flag and MCL_FUTURE",
    ),
    f(
        "madvise",
        3,
        "madvise(addr, len, advice): fault-ahead advice, WILLNEED, DONTNEED, FREE, DONTNEED_LOCKED",
    ),
    f(
        "msync",
        3,
        "msync(addr, len, flags): MS_ASYNC, MS_SYNC or MS_INVALIDATE (refused over locked pages)",
    ),
    f(
        "shmget",
        3,
        "shmget(key, size, shmflg): find or create a segment",
    ),
    f(
        "shmat",
        3,
        "shmat(shmid, addr, shmflg): attach a segment; returns the address",
    ),
    f(
        "shmdt",
        1,
        "shmdt(addr): detach the segment attached at addr",
    ),
    f(
        "shmctl",
        3,
        "shmctl(shmid, cmd, buf): IPC_STAT, IPC_SET, IPC_RMID, SHM_LOCK, SHM_UNLOCK",
    ),
    f(
        "procfs_read",
        4,
        "procfs_read(path, pathlen, buf, cap): Linux's /proc file at path, made now; writes at most cap bytes, returns its length",
    ),
    f("getpagesize", 0, "getpagesize(): the page size in bytes"),
    f(
        "vmm_guest_index",
        0,
        "this guest's index in its machine, from 0",
    ),
    f("vmm_guest_count", 0, "how many guests the machine runs"),
    f(
        "vmm_barrier",
        0,
        "wait until every guest of the machine arrives; fails if one has died",
    ),
    f(
        "vmm_reclaim",
        1,
        "vmm_reclaim(npages): the pagedaemon reclaims up to npages unwired pages now",
    ),
    f(
        "vmm_print",
        2,
        "vmm_print(ptr, len): write guest bytes to the machine's output",
    ),
    f(
        "vmm_dump",
        1,
        "vmm_dump(flags): write this guest's map (and the machine's view) to the dump output",
    ),
    f("getuid", 0, "getuid(): the real user id"),
    f("geteuid", 0, "geteuid(): the effective user id"),
    f("getgid", 0, "getgid(): the real group id"),
    f("getegid", 0, "getegid(): the effective group id"),
    f(
        "setuid",
        1,
        "setuid(uid): with CAP_SETUID every user id, else the effective one to the real or saved id",
    ),
    f(
        "seteuid",
        1,
        "seteuid(uid): the effective user id (to the real or saved one unless CAP_SETUID)",
    ),
    f(
        "setgid",
        1,
        "setgid(gid): with CAP_SETGID every group id, else the effective one to the real or saved id",
    ),
    f(
        "setegid",
        1,
        "setegid(gid): the effective group id (to the real or saved one unless CAP_SETGID)",
    ),
    f("getpid", 0, "getpid(): this guest's process id, stable and not 0"),
    f(
        "capget",
        2,
        "capget(hdrp, datap): Linux's capget on a struct __user_cap_header_struct and its data",
    ),
    f(
        "capset",
        2,
        "capset(hdrp, datap): Linux's capset on the guest itself; may only drop capabilities",
    ),
    f(
        "getrlimit",
        2,
        "getrlimit(resource, rlim): the soft and hard limit, two little-endian u64s",
    ),
    f(
        "setrlimit",
        2,
        "setrlimit(resource, rlim): soft above hard EINVAL, raising hard without CAP_SYS_RESOURCE EPERM",
    ),
];

/// Looks a host function up by name.
pub fn function(name: &str) -> Option<&'static HostFn> {
    FUNCTIONS.iter().find(|h| h.name == name)
}

/// Whether a raw host-call result is a negated errno.
pub fn is_error(ret: i32) -> bool {
    (-4095..=-1).contains(&ret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names_are_unique() {
        for (i, a) in FUNCTIONS.iter().enumerate() {
            assert!(
                FUNCTIONS[i + 1..].iter().all(|b| b.name != a.name),
                "{} twice",
                a.name
            );
        }
    }

    #[test]
    fn errno_names_round_trip() {
        for (name, v) in errno::ALL {
            assert_eq!(errno::name(*v), Some(*name));
            assert!(is_error(-v));
        }
        assert_eq!(errno::name(9999), None);
    }

    /// `include/posix/vmm_test.h` is what the table generates; `VMM_UPDATE_HEADERS=1` rewrites
    /// it.
    #[test]
    fn the_test_header_is_what_the_table_generates() {
        let mut h = String::new();
        posix::write_test_header(&mut h).unwrap();
        if std::env::var_os("VMM_UPDATE_HEADERS").is_some_and(|v| v == "1") {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/include/posix/vmm_test.h");
            std::fs::write(path, &h).unwrap();
            return;
        }
        assert!(
            h == posix::TEST_HEADER,
            "include/posix/vmm_test.h is stale: run VMM_UPDATE_HEADERS=1 cargo test -p guest-abi"
        );
        for f in FUNCTIONS.iter().filter(|f| f.name.starts_with("vmm_")) {
            let import = format!("import_name(\"{}\"))) int __vmm_host_{}(", f.name, f.name);
            let decl = h.lines().find(|l| l.contains(&import)).unwrap();
            let params = decl.rsplit_once('(').unwrap().1.trim_end_matches(");");
            let n = if params == "void" {
                0
            } else {
                params.split(',').count()
            };
            assert_eq!(n, f.params, "{decl}");
        }
        assert!(!h.contains(" mmap(") && !h.contains(" shmget("));
    }

    #[test]
    fn shmid_ds_fields_fit_and_do_not_overlap() {
        let offs = [
            shmid_ds::UID,
            shmid_ds::GID,
            shmid_ds::CUID,
            shmid_ds::CGID,
            shmid_ds::MODE,
            shmid_ds::KEY,
            shmid_ds::SEGSZ,
            shmid_ds::LPID,
            shmid_ds::CPID,
            shmid_ds::NATTCH,
            shmid_ds::ATIME,
            shmid_ds::DTIME,
            shmid_ds::CTIME,
        ];
        for (i, o) in offs.iter().enumerate() {
            assert_eq!(*o, 4 * i as u32);
        }
        assert_eq!(shmid_ds::SIZE, 4 * offs.len() as u32);
    }
}
