//! The process around the memory calls: a guest's user and group ids (`setuid`, `seteuid`,
//! `setgid`, `setegid`), its capability sets (`capset`) and its resource limits
//! (`getrlimit`, `setrlimit`).
//!
//! The rules are Linux's, read from its source and cited where each applies; the other rule
//! sets keep them too, since they decide nothing there that differs for these calls except who
//! is privileged, which [`Cred::capable`] answers per rule set (effective uid 0 outside
//! `linux`). The one writer of a guest's [`Cred`] after it is added, and of its limits, is this
//! module. Of the limits only `RLIMIT_MEMLOCK` binds anything: its soft limit is the guest's
//! locked-memory limit the wiring checks read ([`crate::vm::wiring::lock_limits`]).

use crate::base::addr::GuestId;
use crate::base::errno::Errno;
use crate::base::types::{Caps, Cred, Resource, Rlimit};
use crate::vm::state::State;

/// Which id a call sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdCall {
    /// `setuid(uid)`.
    Setuid,
    /// `seteuid(uid)`.
    Seteuid,
    /// `setgid(gid)`.
    Setgid,
    /// `setegid(gid)`.
    Setegid,
}

impl IdCall {
    /// The call's name.
    pub fn name(self) -> &'static str {
        match self {
            IdCall::Setuid => "setuid",
            IdCall::Seteuid => "seteuid",
            IdCall::Setgid => "setgid",
            IdCall::Setegid => "setegid",
        }
    }
}

/// A capability triple as `capset` takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapSets {
    /// Effective.
    pub effective: Caps,
    /// Permitted.
    pub permitted: Caps,
    /// Inheritable.
    pub inheritable: Caps,
}

/// `CAP_SETPCAP` (8): add to the inheritable set what is not permitted.
const SETPCAP: Caps = Caps::from_bits_retain(1 << 8);

/// Sets one id of guest `g`.
///
/// `setuid` (Linux `kernel/sys.c:__sys_setuid`): with `CAP_SETUID`, the real, effective and
/// saved ids all become `id`; without, only the effective one, and only to the real or saved
/// id (`EPERM` otherwise). `seteuid` is glibc's `setresuid(-1, id, -1)`
/// (`kernel/sys.c:__sys_setresuid`): without `CAP_SETUID` the effective id may become the
/// real, effective or saved id. The group calls are the same with `CAP_SETGID`
/// (`__sys_setgid`, `__sys_setresgid`). A uid change then adjusts the capabilities as
/// `security/commoncap.c:cap_emulate_setxuid` does.
pub(crate) fn set_id(s: &mut State, g: GuestId, call: IdCall, id: u32) -> Result<(), Errno> {
    // Linux refuses `(uid_t)-1` (`uid_valid`); the ABI cannot return an id that reads as a
    // negated errno either (`get*id` answer in an `i32`), so the ids above 2^32 - 4096 are
    // refused with it.
    if id > u32::MAX - 4095 {
        return Err(Errno::EINVAL);
    }
    let policy = s.policy;
    let old = s.guest(g)?.cred();
    let mut new = old;
    match call {
        IdCall::Setuid => {
            if old.capable(Caps::SETUID, &policy) {
                new.ruid = id;
                new.suid = id;
            } else if id != old.ruid && id != old.suid {
                return Err(Errno::EPERM);
            }
            new.uid = id;
        }
        IdCall::Seteuid => {
            if !old.capable(Caps::SETUID, &policy) && ![old.ruid, old.uid, old.suid].contains(&id) {
                return Err(Errno::EPERM);
            }
            new.uid = id;
        }
        IdCall::Setgid => {
            if old.capable(Caps::SETGID, &policy) {
                new.rgid = id;
                new.sgid = id;
            } else if id != old.rgid && id != old.sgid {
                return Err(Errno::EPERM);
            }
            new.gid = id;
        }
        IdCall::Setegid => {
            if !old.capable(Caps::SETGID, &policy) && ![old.rgid, old.gid, old.sgid].contains(&id) {
                return Err(Errno::EPERM);
            }
            new.gid = id;
        }
    }
    fix_caps_after_setuid(&old, &mut new);
    s.guest_mut(g)?.set_cred(new);
    Ok(())
}

/// `security/commoncap.c:cap_emulate_setxuid`: leaving uid 0 in all of the real, effective and
/// saved ids clears the permitted and effective sets; leaving effective uid 0 clears the
/// effective set; coming back to effective uid 0 makes the permitted set effective again.
fn fix_caps_after_setuid(old: &Cred, new: &mut Cred) {
    let had_root = [old.ruid, old.uid, old.suid].contains(&0);
    let has_root = [new.ruid, new.uid, new.suid].contains(&0);
    if had_root && !has_root {
        new.permitted = Caps::empty();
        new.caps = Caps::empty();
    }
    if old.uid == 0 && new.uid != 0 {
        new.caps = Caps::empty();
    }
    if old.uid != 0 && new.uid == 0 {
        new.caps = new.permitted;
    }
}

/// `capset` on the guest itself (Linux `security/commoncap.c:cap_capset`): the new
/// inheritable set within the old inheritable and permitted sets unless `CAP_SETPCAP` is
/// effective, the new permitted set within the old, and the new effective set within the new
/// permitted set; `EPERM` otherwise, and nothing changes.
pub(crate) fn capset(s: &mut State, g: GuestId, new: CapSets) -> Result<(), Errno> {
    let old = s.guest(g)?.cred();
    let may_add_inheritable = old.caps.contains(SETPCAP);
    if (!may_add_inheritable && !(old.inheritable | old.permitted).contains(new.inheritable))
        || !old.permitted.contains(new.permitted)
        || !new.permitted.contains(new.effective)
    {
        return Err(Errno::EPERM);
    }
    let mut c = old;
    c.caps = new.effective;
    c.permitted = new.permitted;
    c.inheritable = new.inheritable;
    s.guest_mut(g)?.set_cred(c);
    Ok(())
}

/// Guest `g`'s limit for `r`.
pub(crate) fn getrlimit(s: &State, g: GuestId, r: Resource) -> Result<Rlimit, Errno> {
    Ok(s.guest(g)?.rlimit(r))
}

/// Linux's `sysctl_nr_open` default (`fs/file.c`): the most `RLIMIT_NOFILE` may be.
const NR_OPEN: u64 = 1024 * 1024;

/// Sets guest `g`'s limit for `r` (Linux `kernel/sys.c:do_prlimit`): `EINVAL` when the soft
/// limit is above the hard one; `EPERM` when the hard limit rises without `CAP_SYS_RESOURCE`,
/// or `RLIMIT_NOFILE`'s passes `NR_OPEN`. Lowering either is always allowed, even below what
/// the guest holds locked now (its locks stay; new ones are refused).
pub(crate) fn setrlimit(s: &mut State, g: GuestId, r: Resource, new: Rlimit) -> Result<(), Errno> {
    let policy = s.policy;
    if new.cur > new.max {
        return Err(Errno::EINVAL);
    }
    if r == Resource::Nofile && new.max > NR_OPEN {
        return Err(Errno::EPERM);
    }
    let old = getrlimit(s, g, r)?;
    let vm = s.guest_mut(g)?;
    if new.max > old.max && !vm.cred().may_raise_hard_limit(&policy) {
        return Err(Errno::EPERM);
    }
    vm.set_rlimit(r, new);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::types::RLIM_INFINITY;
    use crate::machine::{GuestConfig, Machine, MachineConfig, Semantics};

    fn machine(sem: Semantics, cred: Cred) -> (Machine, GuestId) {
        let m = Machine::new(MachineConfig::default().semantics(sem).phys_mem(1 << 20)).unwrap();
        let g = m
            .add_guest(GuestConfig {
                cred,
                memlock_limit: Some(1 << 16),
                memlock_hard: Some(1 << 17),
            })
            .unwrap();
        (m, g)
    }

    fn cred(m: &Machine, g: GuestId) -> Cred {
        m.with(|s| s.guest(g).unwrap().cred())
    }

    #[test]
    fn an_unprivileged_guest_may_set_its_effective_uid_only_to_its_real_or_saved_one() {
        let (m, g) = machine(Semantics::Linux, Cred::new(1000, 100));
        m.with(|s| {
            assert_eq!(set_id(s, g, IdCall::Seteuid, 0), Err(Errno::EPERM));
            assert_eq!(set_id(s, g, IdCall::Setuid, 1001), Err(Errno::EPERM));
            assert_eq!(set_id(s, g, IdCall::Setegid, 0), Err(Errno::EPERM));
            assert_eq!(set_id(s, g, IdCall::Seteuid, 1000), Ok(()));
            assert_eq!(set_id(s, g, IdCall::Setgid, 100), Ok(()));
        });
    }

    /// Found by the `guest_args` fuzzer: root's `seteuid(-128)` made `geteuid` answer -128,
    /// which reads as an errno. Ids the ABI cannot return, `(uid_t)-1` among them, are refused.
    #[test]
    fn ids_that_read_as_errnos_are_refused() {
        let (m, g) = machine(Semantics::Linux, Cred::ROOT);
        m.with(|s| {
            for id in [u32::MAX, (-128i32) as u32, u32::MAX - 4094] {
                for call in [
                    IdCall::Setuid,
                    IdCall::Seteuid,
                    IdCall::Setgid,
                    IdCall::Setegid,
                ] {
                    assert_eq!(set_id(s, g, call, id), Err(Errno::EINVAL), "{call:?} {id}");
                }
            }
            assert_eq!(set_id(s, g, IdCall::Seteuid, u32::MAX - 4095), Ok(()));
        });
        assert_eq!(cred(&m, g).uid, u32::MAX - 4095);
    }

    #[test]
    fn root_seteuid_drops_the_effective_capabilities_and_seteuid_0_brings_them_back() {
        let (m, g) = machine(Semantics::Linux, Cred::ROOT);
        m.with(|s| set_id(s, g, IdCall::Seteuid, 1000)).unwrap();
        let c = cred(&m, g);
        assert_eq!((c.uid, c.ruid, c.suid), (1000, 0, 0));
        assert!(c.caps.is_empty() && c.permitted == Caps::FULL);
        m.with(|s| set_id(s, g, IdCall::Seteuid, 0)).unwrap();
        assert_eq!(cred(&m, g).caps, Caps::FULL);
    }

    #[test]
    fn root_setuid_sets_every_uid_and_loses_every_capability_for_good() {
        let (m, g) = machine(Semantics::Linux, Cred::ROOT);
        m.with(|s| set_id(s, g, IdCall::Setuid, 1000)).unwrap();
        let c = cred(&m, g);
        assert_eq!((c.uid, c.ruid, c.suid), (1000, 1000, 1000));
        assert!(c.caps.is_empty() && c.permitted.is_empty());
        assert_eq!(
            m.with(|s| set_id(s, g, IdCall::Seteuid, 0)),
            Err(Errno::EPERM)
        );
    }

    #[test]
    fn capset_may_only_drop_and_keeps_effective_within_permitted() {
        let (m, g) = machine(Semantics::Linux, Cred::ROOT);
        let sets = |e: Caps, p: Caps| CapSets {
            effective: e,
            permitted: p,
            inheritable: Caps::empty(),
        };
        m.with(|s| {
            assert_eq!(
                capset(s, g, sets(Caps::IPC_LOCK, Caps::empty())),
                Err(Errno::EPERM)
            );
            assert_eq!(capset(s, g, sets(Caps::empty(), Caps::IPC_LOCK)), Ok(()));
            assert_eq!(
                capset(s, g, sets(Caps::IPC_LOCK, Caps::IPC_LOCK | Caps::SYS_ADMIN)),
                Err(Errno::EPERM)
            );
            assert_eq!(capset(s, g, sets(Caps::IPC_LOCK, Caps::IPC_LOCK)), Ok(()));
        });
        assert_eq!(cred(&m, g).caps, Caps::IPC_LOCK);
    }

    #[test]
    fn setrlimit_follows_do_prlimit() {
        let (m, g) = machine(Semantics::Linux, Cred::new(1000, 100));
        let lim = |cur, max| Rlimit { cur, max };
        m.with(|s| {
            assert_eq!(
                getrlimit(s, g, Resource::Memlock),
                Ok(lim(1 << 16, 1 << 17))
            );
            assert_eq!(
                setrlimit(s, g, Resource::Memlock, lim(1 << 18, 1 << 17)),
                Err(Errno::EINVAL)
            );
            assert_eq!(
                setrlimit(s, g, Resource::Memlock, lim(1 << 16, 1 << 18)),
                Err(Errno::EPERM)
            );
            assert_eq!(
                setrlimit(s, g, Resource::Memlock, lim(1 << 17, 1 << 17)),
                Ok(())
            );
            assert_eq!(s.guest(g).unwrap().memlock_limit(), 1 << 17);
            assert_eq!(setrlimit(s, g, Resource::Memlock, lim(0, 1 << 12)), Ok(()));
            assert_eq!(
                setrlimit(s, g, Resource::Memlock, lim(0, 1 << 13)),
                Err(Errno::EPERM)
            );
            assert_eq!(
                setrlimit(s, g, Resource::Nofile, lim(10, 20)),
                Ok(()),
                "lowering is fine"
            );
            assert_eq!(getrlimit(s, g, Resource::Nofile), Ok(lim(10, 20)));
        });
    }

    #[test]
    fn cap_sys_resource_raises_a_hard_limit_where_uid_0_without_it_cannot() {
        let (m, g) = machine(Semantics::Linux, Cred::ROOT.with_caps(Caps::IPC_LOCK));
        let up = Rlimit {
            cur: 1,
            max: RLIM_INFINITY,
        };
        assert_eq!(
            m.with(|s| setrlimit(s, g, Resource::Memlock, up)),
            Err(Errno::EPERM)
        );
        let (m, g) = machine(Semantics::Proposed, Cred::ROOT.with_caps(Caps::empty()));
        assert_eq!(m.with(|s| setrlimit(s, g, Resource::Memlock, up)), Ok(()));
    }

    /// Under `linux` the capability decides, whatever the uid; elsewhere uid 0 does.
    #[test]
    fn linux_asks_the_capability_and_the_other_rule_sets_ask_for_uid_0() {
        use crate::base::addr::{Vaddr, PAGE_SIZE as P};
        use crate::calls::mmap::MapFlags;
        use crate::calls::shm::ShmCmd;
        use crate::vm::map::Prot;
        let anon = MapFlags::ANON | MapFlags::PRIVATE;
        let setup = |sem, owner: Cred, other: Cred| {
            let m =
                Machine::new(MachineConfig::default().semantics(sem).phys_mem(1 << 20)).unwrap();
            let add = |cred| {
                m.add_guest(GuestConfig {
                    cred,
                    memlock_limit: Some(P),
                    memlock_hard: None,
                })
                .unwrap()
            };
            let (a, b) = (add(owner), add(other));
            let id = m.shmget(a, 0, 2 * P, 0o1000 | 0o600).unwrap();
            (m, a, b, id)
        };
        // Root without CAP_IPC_LOCK is held to its limit under linux, root with it is not.
        for (caps, want) in [(Caps::empty(), Err(Errno::ENOMEM)), (Caps::FULL, Ok(()))] {
            let (m, a, _, _) = setup(Semantics::Linux, Cred::ROOT.with_caps(caps), Cred::ROOT);
            let at = m.mmap(a, Vaddr(0), 2 * P, Prot::RW, anon).unwrap();
            assert_eq!(m.mlock(a, at, 2 * P), want, "caps {caps:?}");
        }
        // uid 1000 with CAP_IPC_LOCK may SHM_LOCK root's segment, and with CAP_IPC_OWNER
        // attach it, under linux only.
        let user = Cred::new(1000, 100).with_caps(Caps::IPC_LOCK | Caps::IPC_OWNER);
        for (sem, want) in [
            (Semantics::Linux, Ok(None)),
            (Semantics::Proposed, Err(Errno::EPERM)),
            (Semantics::Illumos, Err(Errno::EPERM)),
        ] {
            let (m, _, b, id) = setup(sem, Cred::ROOT, user);
            assert_eq!(m.shmctl(b, id, ShmCmd::Lock), want, "{sem}");
            let attached = m.shmat(b, id, Vaddr(0), 0).map(|_| ());
            let want = if sem == Semantics::Linux {
                Ok(())
            } else {
                Err(Errno::EACCES)
            };
            assert_eq!(attached, want, "{sem}");
        }
        // seteuid(1000) by root loses SHM_LOCK under linux; seteuid(0) gives it back.
        let (m, a, _, id) = setup(Semantics::Linux, Cred::ROOT, Cred::ROOT);
        m.set_id(a, IdCall::Seteuid, 1000).unwrap();
        assert_eq!(m.shmctl(a, id, ShmCmd::Lock), Err(Errno::EPERM));
        m.set_id(a, IdCall::Seteuid, 0).unwrap();
        assert_eq!(m.shmctl(a, id, ShmCmd::Lock), Ok(None));
    }
}
