//! The guest ABI's host functions: exactly `guest_abi::FUNCTIONS`, each decoding its `i32`
//! arguments, calling the VM core and encoding the result (a negated errno on failure).
//!
//! Guest buffers (`mincore`'s vector, `shmctl`'s `shmid_ds`, `vmm_print`'s bytes) are read and
//! written only through the core's copy path, which makes each page resident first; no host
//! function hands guest memory to the host kernel.

use super::GuestCtx;
use crate::base::addr::{pages_for, Vaddr, PAGE_SIZE};
use crate::base::errno::Errno;
use crate::calls::mmap::{MapFlags, MlockallFlags, MsyncFlags};
use crate::calls::shm::{ShmCmd, ShmidDs};
use crate::machine::Violation;
use crate::vm::map::Prot;
use crate::ShmId;
use guest_abi::{ipc, shmid_ds as ds, IMPORT_MODULE};
use wasmtime::{AsContextMut, Caller, Extern, Linker};

type R = Result<i32, Errno>;

fn ret(r: R) -> i32 {
    r.unwrap_or_else(|e| -e.code())
}

fn addr(a: i32) -> Vaddr {
    Vaddr(u64::from(a as u32))
}

fn len(l: i32) -> u64 {
    u64::from(l as u32)
}

/// An address a guest call returns: never one that reads as an error.
fn addr_ret(a: Vaddr) -> R {
    let v = a.0 as u32 as i32;
    if guest_abi::is_error(v) {
        return Err(Errno::ENOMEM);
    }
    Ok(v)
}

/// The guest's exported memory and its size in bytes (0 without one).
fn memory<T>(caller: &mut Caller<'_, T>) -> (Option<wasmtime::Memory>, u64) {
    match caller.get_export("memory") {
        Some(Extern::Memory(m)) => {
            let size = m.data_size(&*caller) as u64;
            (Some(m), size)
        }
        _ => (None, 0),
    }
}

/// Grows the guest's memory so that it covers `[0, end)`.
fn grow_to<T>(caller: &mut Caller<'_, T>, end: u64) -> Result<(), Errno> {
    let (mem, size) = memory(caller);
    if end <= size {
        return Ok(());
    }
    let mem = mem.ok_or(Errno::ENOMEM)?;
    let wasm_page = 65536u64;
    let delta = (end - size).div_ceil(wasm_page);
    mem.grow(caller.as_context_mut(), delta)
        .map(|_| ())
        .map_err(|_| Errno::ENOMEM)
}

/// Room for `bytes` in the guest's memory: a free range inside it at or above `hint`, or fresh
/// room at its end after growing it (the growth is then unmapped for the caller to map).
fn place<T>(
    caller: &mut Caller<'_, T>,
    ctx: &GuestCtx,
    bytes: u64,
    hint: Vaddr,
) -> Result<Vaddr, Errno> {
    let (_, size) = memory(caller);
    // Never hand out the last page of the 4 GiB space: its addresses read as errors.
    let ceiling = Vaddr(size.min((1u64 << 32) - PAGE_SIZE));
    if let Some(a) = ctx.machine.find_space(ctx.guest, bytes, hint, ceiling)? {
        return Ok(a);
    }
    let start = Vaddr(size);
    let end = size
        .checked_add(pages_for(bytes) * PAGE_SIZE)
        .ok_or(Errno::ENOMEM)?;
    if end > (1u64 << 32) - PAGE_SIZE {
        return Err(Errno::ENOMEM);
    }
    grow_to(caller, end)?;
    ctx.machine.munmap(ctx.guest, start, end - size)?;
    Ok(start)
}

fn mmap<T>(caller: &mut Caller<'_, T>, ctx: &GuestCtx, a: i32, l: i32, prot: i32, flags: i32) -> R {
    let prot = Prot::from_guest(prot)?;
    let flags = MapFlags::from_guest(flags)?;
    let (a, l) = (addr(a), len(l));
    if l == 0 || !flags.contains(MapFlags::ANON) {
        return Err(Errno::EINVAL);
    }
    let at = if flags.contains(MapFlags::FIXED) {
        if !a.is_aligned() {
            return Err(Errno::EINVAL);
        }
        let end =
            a.0.checked_add(pages_for(l) * PAGE_SIZE)
                .ok_or(Errno::ENOMEM)?;
        grow_to(caller, end)?;
        a
    } else {
        place(caller, ctx, l, a)?
    };
    addr_ret(
        ctx.machine
            .mmap(ctx.guest, at, l, prot, flags | MapFlags::FIXED)?,
    )
}

fn mincore(ctx: &GuestCtx, a: i32, l: i32, vec: i32) -> R {
    let (v, r) = ctx.machine.mincore_to_hole(ctx.guest, addr(a), len(l))?;
    ctx.machine.write(ctx.guest, addr(vec), &v)?;
    r.map(|()| 0)
}

/// `shmat`: a null address takes room inside the guest's memory (growing it when there is
/// none); any other is a fixed attach at the address, after `SHM_RND` rounding, with the memory
/// grown to cover it. A rounded address of 0 is a fixed attach at 0, as NetBSD and Linux treat
/// it, never "anywhere": the machine's own placement knows nothing of where the guest's memory
/// ends.
fn shmat<T>(caller: &mut Caller<'_, T>, ctx: &GuestCtx, id: i32, a: i32, flags: i32) -> R {
    let id = ShmId(id);
    let size = ctx.machine.shm_size(id)?;
    let at = if a == 0 {
        place(caller, ctx, size, Vaddr(0))?
    } else {
        let a = if flags & ipc::SHM_RND != 0 {
            Vaddr(addr(a).0 & !(ipc::SHMLBA as u64 - 1))
        } else {
            addr(a)
        };
        if !a.is_aligned() {
            return Err(Errno::EINVAL);
        }
        let end = a.0.checked_add(size).ok_or(Errno::EINVAL)?;
        let (_, mem) = memory(caller);
        if end > mem {
            // Room past the end of memory: grow, and give the growth to the segment.
            grow_to(caller, end)?;
            let from = Vaddr(mem.max(a.0));
            let (_, now) = memory(caller);
            ctx.machine.munmap(ctx.guest, from, now - from.0)?;
        }
        a
    };
    addr_ret(
        ctx.machine
            .shmat_at(ctx.guest, id, at, flags & !ipc::SHM_RND)?,
    )
}

fn encode(d: &ShmidDs) -> [u8; ds::SIZE as usize] {
    let fields: [(u32, u32); 13] = [
        (ds::UID, d.perm.uid),
        (ds::GID, d.perm.gid),
        (ds::CUID, d.perm.cuid),
        (ds::CGID, d.perm.cgid),
        (ds::MODE, d.perm.mode),
        (ds::KEY, d.key as u32),
        (ds::SEGSZ, d.segsz.min(u64::from(u32::MAX)) as u32),
        (ds::LPID, d.lpid),
        (ds::CPID, d.cpid),
        (ds::NATTCH, d.nattch),
        (ds::ATIME, d.atime),
        (ds::DTIME, d.dtime),
        (ds::CTIME, d.ctime),
    ];
    let mut out = [0u8; ds::SIZE as usize];
    for (off, v) in fields {
        out[off as usize..off as usize + 4].copy_from_slice(&v.to_le_bytes());
    }
    out
}

/// Little-endian 32-bit fields at their offsets (values past `u32::MAX` are clamped).
fn encode_fields<const N: usize>(fields: &[(u32, u64)]) -> [u8; N] {
    let mut out = [0u8; N];
    for &(off, v) in fields {
        let v = v.min(u64::from(u32::MAX)) as u32;
        out[off as usize..off as usize + 4].copy_from_slice(&v.to_le_bytes());
    }
    out
}

/// Linux's `shmctl` commands, where the rule set has them (the machine says `EINVAL`
/// elsewhere): `IPC_INFO` and `SHM_INFO` fill their structure and return the highest index in
/// use; `SHM_STAT` and `SHM_STAT_ANY` take an index for `id` and return the segment's id.
fn shmctl_linux(ctx: &GuestCtx, id: i32, cmd: i32, buf: i32) -> R {
    use guest_abi::{shm_info as si, shminfo as li};
    let (m, g) = (&ctx.machine, ctx.guest);
    match cmd {
        ipc::IPC_INFO => {
            let (i, max) = m.ipc_info(g)?;
            let b: [u8; li::SIZE as usize] = encode_fields(&[
                (li::SHMMAX, i.shmmax),
                (li::SHMMIN, i.shmmin),
                (li::SHMMNI, i.shmmni),
                (li::SHMSEG, i.shmseg),
                (li::SHMALL, i.shmall),
            ]);
            m.write(g, addr(buf), &b)?;
            Ok(max as i32)
        }
        ipc::SHM_INFO => {
            let (u, max) = m.shm_info(g)?;
            let b: [u8; si::SIZE as usize] = encode_fields(&[
                (si::USED_IDS, u64::from(u.used_ids)),
                (si::SHM_TOT, u.shm_tot),
                (si::SHM_RSS, u.shm_rss),
                (si::SHM_SWP, u.shm_swp),
            ]);
            m.write(g, addr(buf), &b)?;
            Ok(max as i32)
        }
        _ => {
            let idx = u32::try_from(id).map_err(|_| Errno::EINVAL)?;
            let (sid, d) = m.shm_stat_index(g, idx, cmd == ipc::SHM_STAT_ANY)?;
            m.write(g, addr(buf), &encode(&d))?;
            Ok(sid.0)
        }
    }
}

fn shmctl(ctx: &GuestCtx, id: i32, cmd: i32, buf: i32) -> R {
    let (m, g, id) = (&ctx.machine, ctx.guest, ShmId(id));
    let cmd = match cmd {
        ipc::IPC_INFO | ipc::SHM_INFO | ipc::SHM_STAT | ipc::SHM_STAT_ANY => {
            return shmctl_linux(ctx, id.0, cmd, buf)
        }
        ipc::IPC_STAT => ShmCmd::Stat,
        ipc::IPC_RMID => ShmCmd::Rmid,
        ipc::SHM_LOCK => ShmCmd::Lock,
        ipc::SHM_UNLOCK => ShmCmd::Unlock,
        ipc::IPC_SET => {
            let mut b = [0u8; ds::SIZE as usize];
            m.read(g, addr(buf), &mut b)?;
            let field = |o: u32| {
                u32::from_le_bytes(b[o as usize..o as usize + 4].try_into().expect("4 bytes"))
            };
            ShmCmd::Set {
                uid: field(ds::UID),
                gid: field(ds::GID),
                mode: field(ds::MODE),
            }
        }
        _ => return Err(Errno::EINVAL),
    };
    if let Some(d) = m.shmctl(g, id, cmd)? {
        m.write(g, addr(buf), &encode(&d))?;
    }
    Ok(0)
}

/// Adds the guest ABI to `linker`. `ctx` finds the [`GuestCtx`] in the store's data, so an
/// embedder can keep its own data type.
pub fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    ctx: fn(&T) -> &GuestCtx,
) -> wasmtime::Result<()> {
    // Most calls only read the guest's context; the two that grow memory need the caller too,
    // and take a copy of the context to keep it while the caller is borrowed mutably.
    macro_rules! host {
        ($name:literal, |$x:ident $(, $a:ident)*| $body:expr) => {
            linker.func_wrap(IMPORT_MODULE, $name, move |caller: Caller<'_, T> $(, $a: i32)*| -> wasmtime::Result<i32> {
                #[allow(unused_variables)]
                let $x = ctx(caller.data());
                let v: i32 = $body;
                stop_if_corrupt($x, v)
            })?
        };
    }
    macro_rules! host_mut {
        ($name:literal, |$c:ident, $x:ident $(, $a:ident)*| $body:expr) => {
            linker.func_wrap(IMPORT_MODULE, $name, move |mut caller: Caller<'_, T> $(, $a: i32)*| -> wasmtime::Result<i32> {
                let $x = ctx(caller.data()).clone();
                let $c = &mut caller;
                let v: i32 = $body;
                stop_if_corrupt(&$x, v)
            })?
        };
    }
    for f in guest_abi::FUNCTIONS {
        match f.name {
            "mmap" => host_mut!("mmap", |c, x, a, l, p, fl| ret(mmap(c, &x, a, l, p, fl))),
            "munmap" => host!("munmap", |x, a, l| ret(x
                .machine
                .munmap(x.guest, addr(a), len(l))
                .map(|()| 0))),
            "mprotect" => host!("mprotect", |x, a, l, p| ret(Prot::from_guest(p)
                .and_then(|p| x.machine.mprotect(x.guest, addr(a), len(l), p))
                .map(|()| 0))),
            "mincore" => host!("mincore", |x, a, l, v| ret(mincore(x, a, l, v))),
            "mlock" => host!("mlock", |x, a, l| ret(x
                .machine
                .mlock(x.guest, addr(a), len(l))
                .map(|()| 0))),
            "mlock2" => host!("mlock2", |x, a, l, fl| ret(match fl {
                0 | guest_abi::mman::MLOCK_ONFAULT => x
                    .machine
                    .mlock2(x.guest, addr(a), len(l), fl != 0)
                    .map(|()| 0),
                _ => Err(Errno::EINVAL),
            })),
            "munlock" => host!("munlock", |x, a, l| ret(x
                .machine
                .munlock(x.guest, addr(a), len(l))
                .map(|()| 0))),
            "mlockall" => host!("mlockall", |x, fl| ret(MlockallFlags::from_guest(fl)
                .and_then(|fl| x.machine.mlockall(x.guest, fl))
                .map(|()| 0))),
            "munlockall" => host!("munlockall", |x| ret(x
                .machine
                .munlockall(x.guest)
                .map(|()| 0))),
            "madvise" => host!("madvise", |x, a, l, adv| ret(crate::Madvice::from_guest(
                adv
            )
            .and_then(|adv| x.machine.madvise(x.guest, addr(a), len(l), adv))
            .map(|()| 0))),
            "msync" => host!("msync", |x, a, l, fl| ret(MsyncFlags::from_guest(fl)
                .and_then(|fl| x.machine.msync(x.guest, addr(a), len(l), fl))
                .map(|()| 0))),
            "shmget" => host!("shmget", |x, k, s, fl| ret(x
                .machine
                .shmget(x.guest, k, len(s), fl)
                .map(|id| id.0))),
            "shmat" => host_mut!("shmat", |c, x, id, a, fl| ret(shmat(c, &x, id, a, fl))),
            "shmdt" => host!("shmdt", |x, a| ret(x
                .machine
                .shmdt(x.guest, addr(a))
                .map(|()| 0))),
            "shmctl" => host!("shmctl", |x, id, cmd, b| ret(shmctl(x, id, cmd, b))),
            "getpagesize" => host!("getpagesize", |x| PAGE_SIZE as i32),
            "vmm_guest_index" => host!("vmm_guest_index", |x| x.index as i32),
            "vmm_guest_count" => host!("vmm_guest_count", |x| x.run.count() as i32),
            "vmm_barrier" => host!("vmm_barrier", |x| ret(x.run.barrier(x.index).map(|()| 0))),
            "vmm_reclaim" => host!("vmm_reclaim", |x, n| ret(if n < 0 {
                Err(Errno::EINVAL)
            } else {
                Ok(x.machine.reclaim(n as usize) as i32)
            })),
            "vmm_print" => host!("vmm_print", |x, p, l| ret(print(x, p, l))),
            "vmm_dump" => host!("vmm_dump", |x, fl| ret(dump(x, fl))),
            other => {
                wasmtime::bail!("guest-abi lists `{other}`, which the host does not implement")
            }
        };
    }
    Ok(())
}

/// What a guest traps with when a call finds the machine's state corrupt: the broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorruptStop(pub Violation);

impl std::fmt::Display for CorruptStop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "machine state corrupt: {}", self.0)
    }
}

impl std::error::Error for CorruptStop {}

/// A call that failed with `EIO` because the machine's state is corrupt traps the guest with the
/// broken invariant instead of returning: nothing a guest does next can be trusted.
fn stop_if_corrupt(ctx: &GuestCtx, v: i32) -> wasmtime::Result<i32> {
    if v == -Errno::EIO.code() {
        if let Some(c) = ctx.machine.corruption() {
            return Err(wasmtime::Error::new(CorruptStop(c.violation)));
        }
    }
    Ok(v)
}

fn dump(ctx: &GuestCtx, flags: i32) -> R {
    use guest_abi::dump::{ALL, VMM_DUMP_MACHINE, VMM_DUMP_PAGES};
    if flags & !ALL != 0 {
        return Err(Errno::EINVAL);
    }
    let why = format!("vmm_dump by guest {}", ctx.index);
    ctx.run.dump.write(
        &ctx.machine,
        ctx.guest,
        &why,
        flags & VMM_DUMP_PAGES != 0,
        flags & VMM_DUMP_MACHINE != 0,
    );
    Ok(0)
}

fn print(ctx: &GuestCtx, p: i32, l: i32) -> R {
    let l = usize::try_from(l).map_err(|_| Errno::EINVAL)?;
    if l > 1 << 20 {
        return Err(Errno::EINVAL);
    }
    let mut buf = vec![0u8; l];
    ctx.machine.read(ctx.guest, addr(p), &mut buf)?;
    ctx.run.print(ctx.index, &buf);
    Ok(l as i32)
}
