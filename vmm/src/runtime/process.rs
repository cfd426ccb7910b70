//! The host functions of the process around the memory calls: ids, `getpid`, `capget` and
//! `capset`, `getrlimit` and `setrlimit` (the rules are in [`crate::calls::process`]).
//!
//! Guest structures are read and written through the machine's copy path, like `shmctl`'s
//! buffer: a bad pointer is `EFAULT`, and nothing changes when a read fails.

use super::GuestCtx;
use crate::base::addr::Vaddr;
use crate::base::errno::Errno;
use crate::base::types::{Caps, Resource, Rlimit};
use crate::calls::process::{CapSets, IdCall};
use guest_abi::process as p;

type R = Result<i32, Errno>;

fn addr(a: i32) -> Vaddr {
    Vaddr(u64::from(a as u32))
}

/// An id as a call returns it (the bits of the `u32`).
fn id_ret(id: u32) -> i32 {
    id as i32
}

/// `getuid`, `geteuid`, `getgid` or `getegid`: which one `pick` says.
pub(super) fn get_id(ctx: &GuestCtx, pick: fn(&crate::Cred) -> u32) -> R {
    Ok(id_ret(pick(&ctx.machine.cred(ctx.guest)?)))
}

/// `setuid`, `seteuid`, `setgid` or `setegid`.
pub(super) fn set_id(ctx: &GuestCtx, call: IdCall, id: i32) -> R {
    ctx.machine.set_id(ctx.guest, call, id as u32).map(|()| 0)
}

/// The guest's process id.
pub(super) fn getpid(ctx: &GuestCtx) -> R {
    Ok(own_pid(ctx)? as i32)
}

fn own_pid(ctx: &GuestCtx) -> Result<u32, Errno> {
    ctx.machine.pid(ctx.guest)
}

/// The header's version and pid, and how many data structs the version has (Linux
/// `kernel/capability.c:cap_validate_magic`; an unknown version is answered by writing
/// version 3 into the header, with `EINVAL`).
fn cap_header(ctx: &GuestCtx, hdrp: i32) -> Result<(i32, usize), Errno> {
    let mut h = [0u8; p::CAP_HEADER_SIZE as usize];
    ctx.machine.read(ctx.guest, addr(hdrp), &mut h)?;
    let version = u32::from_le_bytes(h[0..4].try_into().expect("4 bytes"));
    let pid = i32::from_le_bytes(h[4..8].try_into().expect("4 bytes"));
    let structs = match version {
        p::CAP_VERSION_1 => 1,
        p::CAP_VERSION_2 | p::CAP_VERSION_3 => 2,
        _ => {
            ctx.machine
                .write(ctx.guest, addr(hdrp), &p::CAP_VERSION_3.to_le_bytes())?;
            return Err(Errno::EINVAL);
        }
    };
    Ok((pid, structs))
}

/// `capget` (Linux `kernel/capability.c`): a null data pointer only probes the version (0,
/// even for an unknown version, which the header then holds); a negative pid is `EINVAL`,
/// another process's `ESRCH` (a guest sees no other process).
pub(super) fn capget(ctx: &GuestCtx, hdrp: i32, datap: i32) -> R {
    let (pid, structs) = match cap_header(ctx, hdrp) {
        Err(Errno::EINVAL) if datap == 0 => return Ok(0),
        r => r?,
    };
    if datap == 0 {
        return Ok(0);
    }
    if pid < 0 {
        return Err(Errno::EINVAL);
    }
    if pid != 0 && pid as u32 != own_pid(ctx)? {
        return Err(Errno::ESRCH);
    }
    let c = ctx.machine.cred(ctx.guest)?;
    let mut out = Vec::with_capacity(structs * p::CAP_DATA_SIZE as usize);
    for i in 0..structs {
        for set in [c.caps, c.permitted, c.inheritable] {
            out.extend_from_slice(&((set.bits() >> (32 * i)) as u32).to_le_bytes());
        }
    }
    ctx.machine.write(ctx.guest, addr(datap), &out)?;
    Ok(0)
}

/// `capset` (Linux `kernel/capability.c`): only on the caller (pid 0 or its own, `EPERM`
/// otherwise); a version 1 header sets capabilities 0 to 31 and clears the rest.
pub(super) fn capset(ctx: &GuestCtx, hdrp: i32, datap: i32) -> R {
    let (pid, structs) = cap_header(ctx, hdrp)?;
    if pid != 0 && pid as u32 != own_pid(ctx)? {
        return Err(Errno::EPERM);
    }
    let mut d = vec![0u8; structs * p::CAP_DATA_SIZE as usize];
    ctx.machine.read(ctx.guest, addr(datap), &mut d)?;
    let word = |i: usize, field: usize| {
        let o = i * p::CAP_DATA_SIZE as usize + 4 * field;
        u64::from(u32::from_le_bytes(d[o..o + 4].try_into().expect("4 bytes"))) << (32 * i)
    };
    let set = |field| Caps::from_bits_retain((0..structs).map(|i| word(i, field)).sum());
    let sets = CapSets {
        effective: set(0),
        permitted: set(1),
        inheritable: set(2),
    };
    ctx.machine.capset(ctx.guest, sets).map(|()| 0)
}

/// The resource an ABI number names (`EINVAL` for any other).
fn resource(r: i32) -> Result<Resource, Errno> {
    Ok(match r {
        p::RLIMIT_CPU => Resource::Cpu,
        p::RLIMIT_FSIZE => Resource::Fsize,
        p::RLIMIT_DATA => Resource::Data,
        p::RLIMIT_STACK => Resource::Stack,
        p::RLIMIT_CORE => Resource::Core,
        p::RLIMIT_RSS => Resource::Rss,
        p::RLIMIT_MEMLOCK => Resource::Memlock,
        p::RLIMIT_NPROC => Resource::Nproc,
        p::RLIMIT_NOFILE => Resource::Nofile,
        p::RLIMIT_AS => Resource::As,
        _ => return Err(Errno::EINVAL),
    })
}

/// `getrlimit(resource, rlim)`.
pub(super) fn getrlimit(ctx: &GuestCtx, r: i32, rlim: i32) -> R {
    let l = ctx.machine.getrlimit(ctx.guest, resource(r)?)?;
    let mut out = [0u8; p::RLIMIT_SIZE as usize];
    out[..8].copy_from_slice(&l.cur.to_le_bytes());
    out[8..].copy_from_slice(&l.max.to_le_bytes());
    ctx.machine.write(ctx.guest, addr(rlim), &out)?;
    Ok(0)
}

/// `setrlimit(resource, rlim)`.
pub(super) fn setrlimit(ctx: &GuestCtx, r: i32, rlim: i32) -> R {
    let r = resource(r)?;
    let mut b = [0u8; p::RLIMIT_SIZE as usize];
    ctx.machine.read(ctx.guest, addr(rlim), &mut b)?;
    let l = Rlimit {
        cur: u64::from_le_bytes(b[..8].try_into().expect("8 bytes")),
        max: u64::from_le_bytes(b[8..].try_into().expect("8 bytes")),
    };
    ctx.machine.setrlimit(ctx.guest, r, l).map(|()| 0)
}
