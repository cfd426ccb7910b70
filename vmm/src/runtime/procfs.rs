//! The files of Linux's `/proc` that kernel tests read about these calls, made from the machine
//! when a guest opens one (`procfs_read`): under `--semantics linux` only, as Linux has them.
//!
//! | path | what it says |
//! |---|---|
//! | `/proc/self/status` (and `/proc/<pid>/status` of the caller) | `Pid`, `PPid`, `VmSize`, `VmLck` (pages under the POSIX lock flag, `mm->locked_vm`), `VmPin`, `VmRSS`, `VmSwap`, in Linux's layout |
//! | `/proc/meminfo` | `MemTotal`, `MemFree`, `Unevictable` and `Mlocked` (wired frames), `SwapTotal`, `SwapFree` |
//! | `/proc/sysvipc/shm` | Linux's header and one line per segment (`ipc/shm.c:sysvipc_shm_proc_show`) |
//! | `/proc/sys/kernel/shmmax`, `shmall`, `shmmni` | the machine's limits (`shmall` in pages) |
//! | `/proc/sys/kernel/shm_next_id` | `-1`: ids are chosen by the machine |
//! | `/proc/sys/kernel/ostype`, `osrelease` | `Linux` and the host's release (what `uname` reports) |
//!
//! Each file is the machine's state at the moment it is opened, as one `read` of a real procfs
//! file would see it. Anything else under `/proc` is `ENOENT`; they cannot be written (Linux
//! lets root write the `shm*` limits).

use super::GuestCtx;
use crate::base::addr::PAGE_SIZE;
use crate::base::errno::Errno;
use crate::rules::Semantics;
use std::fmt::Write as _;

/// The text of the `/proc` file at `path` for the guest of `ctx`.
///
/// Errors: `ENOENT` for a path this procfs does not have, and for every path under a rule set
/// other than `linux`.
pub fn read(ctx: &GuestCtx, path: &str) -> Result<String, Errno> {
    let m = &ctx.machine;
    if m.config().semantics != Semantics::Linux {
        return Err(Errno::ENOENT);
    }
    let pid = m.pid(ctx.guest)?;
    let path = path.trim_end_matches('/');
    let rest = path.strip_prefix("/proc/").ok_or(Errno::ENOENT)?;
    let rest = match rest.split_once('/') {
        Some(("self", r)) => format!("self/{r}"),
        Some((n, r)) if n.parse::<u32>() == Ok(pid) => format!("self/{r}"),
        _ => rest.to_string(),
    };
    let limits = m.config().limits;
    let kb = |pages: u64| pages * (PAGE_SIZE / 1024);
    let mut out = String::new();
    match rest.as_str() {
        "self/status" => {
            let d = m.dump_machine();
            let row = d
                .guests
                .iter()
                .find(|r| r.guest == ctx.guest.0)
                .ok_or(Errno::ESRCH)?;
            // `fs/proc/array.c:proc_pid_status`, `fs/proc/task_mmu.c:task_mem`.
            let _ = write!(
                out,
                "Name:\tguest\nState:\tR (running)\nTgid:\t{pid}\nPid:\t{pid}\nPPid:\t1\n"
            );
            for (name, pages) in [
                ("VmSize", row.mapped),
                ("VmLck", row.locked_pages),
                ("VmPin", 0),
                ("VmRSS", row.resident),
                ("VmSwap", row.swapped),
            ] {
                let _ = writeln!(out, "{name}:\t{:>8} kB", kb(pages));
            }
        }
        "meminfo" => {
            let d = m.dump_machine();
            // `fs/proc/meminfo.c:meminfo_proc_show`, `show_val_kb`.
            for (name, pages) in [
                ("MemTotal", d.frames as u64),
                ("MemFree", d.free_frames as u64),
                ("Unevictable", d.wired_frames as u64),
                ("Mlocked", d.wired_frames as u64),
                ("SwapTotal", u64::from(d.swap_slots)),
                ("SwapFree", u64::from(d.swap_slots - d.swap_used)),
            ] {
                let _ = writeln!(out, "{:<16}{:>8} kB", format!("{name}:"), kb(pages));
            }
        }
        "sysvipc/shm" => {
            let d = m.dump_machine();
            out.push_str("       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n");
            let max = m.shm_info(ctx.guest).map(|(_, max)| max)?;
            for idx in 0..=max {
                let Ok((id, s)) = m.shm_stat_index(ctx.guest, idx, true) else {
                    continue;
                };
                let row = d.segments.iter().find(|r| r.shmid == id.0);
                let (rss, swap) = row.map_or((0, 0), |r| (r.resident, r.swapped));
                // Linux's own mode bits: `SHM_DEST` 01000, `SHM_LOCKED` 02000.
                let bits = |abi: i32, linux: u32| {
                    if s.perm.mode & abi as u32 != 0 {
                        linux
                    } else {
                        0
                    }
                };
                let mode = (s.perm.mode & 0o777)
                    | bits(guest_abi::shmid_ds::SHM_DEST, 0o1000)
                    | bits(guest_abi::shmid_ds::SHM_LOCKED, 0o2000);
                let _ = writeln!(
                    out,
                    "{:>10} {:>10}  {:>4o} {:>21} {:>5} {:>5}  {:>5} {:>5} {:>5} {:>5} {:>5} {:>10} {:>10} {:>10} {:>21} {:>21}",
                    s.key,
                    id.0,
                    mode,
                    s.segsz,
                    s.cpid,
                    s.lpid,
                    s.nattch,
                    s.perm.uid,
                    s.perm.gid,
                    s.perm.cuid,
                    s.perm.cgid,
                    s.atime,
                    s.dtime,
                    s.ctime,
                    rss * PAGE_SIZE,
                    swap * PAGE_SIZE,
                );
            }
        }
        "sys/kernel/shmmax" => out = format!("{}\n", limits.shmmax),
        "sys/kernel/shmall" => out = format!("{}\n", limits.shmall),
        "sys/kernel/shmmni" => out = format!("{}\n", limits.shmmni),
        "sys/kernel/shm_next_id" => out = "-1\n".to_string(),
        "sys/kernel/ostype" => out = "Linux\n".to_string(),
        // The host's release where the host is Linux, as the guest's native build would see.
        "sys/kernel/osrelease" => {
            out = std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_else(|_| "6.1.0\n".to_string())
        }
        _ => return Err(Errno::ENOENT),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Run;
    use crate::{GuestConfig, Machine, MachineConfig, MapFlags, Prot, Vaddr};

    fn ctx(sem: Semantics) -> GuestCtx {
        let m = Machine::new(
            MachineConfig::default()
                .semantics(sem)
                .phys_mem(64 * PAGE_SIZE),
        )
        .unwrap();
        let guest = m.add_guest(GuestConfig::default()).unwrap();
        GuestCtx {
            machine: m,
            guest,
            index: 0,
            run: Run::new(1, |_, _| {}),
        }
    }

    fn field(text: &str, name: &str) -> u64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{name}:")))
            .unwrap_or_else(|| panic!("no {name} in {text}"));
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    #[test]
    fn status_counts_the_locked_resident_and_mapped_pages() {
        let c = ctx(Semantics::Linux);
        let (m, g) = (&c.machine, c.guest);
        let a = m
            .mmap(
                g,
                Vaddr(0),
                4 * PAGE_SIZE,
                Prot::RW,
                MapFlags::ANON | MapFlags::PRIVATE,
            )
            .unwrap();
        m.mlock(g, a, 2 * PAGE_SIZE).unwrap();
        let s = read(&c, "/proc/self/status").unwrap();
        assert_eq!(field(&s, "VmLck"), 8);
        assert_eq!(field(&s, "VmRSS"), 8);
        assert_eq!(field(&s, "VmSize"), 16);
        assert_eq!(field(&s, "Pid"), u64::from(m.pid(g).unwrap()));
        let by_pid = format!("/proc/{}/status", m.pid(g).unwrap());
        assert_eq!(read(&c, &by_pid).unwrap(), s);
        assert!(s.contains("VmLck:\t       8 kB\n"), "Linux's layout: {s}");
    }

    #[test]
    fn meminfo_sysvipc_and_the_shm_limits() {
        let c = ctx(Semantics::Linux);
        let (m, g) = (&c.machine, c.guest);
        let id = m.shmget(g, 42, 2 * PAGE_SIZE, 0o1640).unwrap();
        m.shmat(g, id, Vaddr(0), 0).unwrap();
        let shm = read(&c, "/proc/sysvipc/shm").unwrap();
        let lines: Vec<&str> = shm.lines().collect();
        assert_eq!(lines.len(), 2, "{shm}");
        let f: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(&f[..4], ["42", &id.0.to_string(), "640", "8192"], "{shm}");
        assert_eq!(f[6], "1", "nattch");
        let mem = read(&c, "/proc/meminfo").unwrap();
        assert_eq!(field(&mem, "MemTotal"), 64 * 4);
        let limits = m.config().limits;
        assert_eq!(
            read(&c, "/proc/sys/kernel/shmmni").unwrap(),
            format!("{}\n", limits.shmmni)
        );
        assert_eq!(read(&c, "/proc/sys/kernel/shm_next_id").unwrap(), "-1\n");
        assert_eq!(read(&c, "/proc/self/maps"), Err(Errno::ENOENT));
        assert_eq!(
            read(&c, "/proc/1/status"),
            Err(Errno::ENOENT),
            "another pid"
        );
        assert_eq!(read(&c, "/etc/passwd"), Err(Errno::ENOENT));
    }

    #[test]
    fn only_linux_has_a_proc() {
        for sem in [Semantics::Proposed, Semantics::Freebsd, Semantics::Illumos] {
            assert_eq!(
                read(&ctx(sem), "/proc/self/status"),
                Err(Errno::ENOENT),
                "{sem}"
            );
        }
    }
}
