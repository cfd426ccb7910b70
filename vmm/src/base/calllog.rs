//! The last VM calls a machine served, kept so a corruption report can show the sequence that
//! led to it.
//!
//! The log is a fixed ring of 32 records written under the machine lock;
//! recording a call copies one small record and allocates nothing.

use crate::base::addr::{GuestId, ShmId, Vaddr};
use crate::base::errno::Errno;
use crate::base::types::{ShmCmd, ShmidDs};
use std::fmt;

/// One argument of a logged call, kept in the form that reads best.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// An address or length, shown in hex.
    Addr(u64),
    /// A number, shown in decimal.
    Num(i64),
    /// A symbolic value (a command or flag name).
    Name(&'static str),
    /// Flags and permission bits, shown in octal as SysV writes them.
    Mode(u32),
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Addr(a) => write!(f, "{a:#x}"),
            Arg::Num(n) => write!(f, "{n}"),
            Arg::Name(s) => f.write_str(s),
            Arg::Mode(m) => write!(f, "{m:#o}"),
        }
    }
}

/// One VM call and what it returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallRecord {
    /// Its place in the machine's sequence of calls, from 1.
    pub seq: u64,
    /// The calling guest.
    pub guest: GuestId,
    /// The call's name.
    pub name: &'static str,
    args: [Option<Arg>; 4],
    /// What it returned: a value (an address, an id) or nothing on success, or the errno.
    pub result: Result<Option<Arg>, Errno>,
}

impl CallRecord {
    /// The call's arguments.
    pub fn args(&self) -> impl Iterator<Item = Arg> + '_ {
        self.args.iter().flatten().copied()
    }
}

impl fmt::Display for CallRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} guest {}: {}(", self.seq, self.guest.0, self.name)?;
        for (i, a) in self.args().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{a}")?;
        }
        f.write_str(")")?;
        match self.result {
            Ok(Some(v)) => write!(f, " = {v}"),
            Ok(None) => f.write_str(" = 0"),
            Err(e) => write!(f, " = -{}", e.name()),
        }
    }
}

/// A call about to run: who and what.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Call {
    pub guest: GuestId,
    pub name: &'static str,
    pub args: [Option<Arg>; 4],
}

impl Call {
    pub fn new<const N: usize>(guest: GuestId, name: &'static str, args: [Arg; N]) -> Call {
        let mut a = [None; 4];
        for (slot, v) in a.iter_mut().zip(args) {
            *slot = Some(v);
        }
        Call {
            guest,
            name,
            args: a,
        }
    }
}

/// A call result worth showing in the log.
pub(crate) trait Logged {
    fn logged(&self) -> Option<Arg>;
}

impl Logged for () {
    fn logged(&self) -> Option<Arg> {
        None
    }
}
impl Logged for Vaddr {
    fn logged(&self) -> Option<Arg> {
        Some(Arg::Addr(self.0))
    }
}
impl Logged for ShmId {
    fn logged(&self) -> Option<Arg> {
        Some(Arg::Num(i64::from(self.0)))
    }
}
impl Logged for Vec<u8> {
    fn logged(&self) -> Option<Arg> {
        None
    }
}
/// A `mincore` that wrote part of its vector before a hole: logged with the errno it returned.
impl Logged for (Vec<u8>, Result<(), crate::base::errno::Errno>) {
    fn logged(&self) -> Option<Arg> {
        self.1.err().map(|e| Arg::Name(e.name()))
    }
}
/// Linux's `IPC_INFO` and `SHM_INFO`: logged with the index they return.
impl<T> Logged for (T, u32) {
    fn logged(&self) -> Option<Arg> {
        Some(Arg::Num(i64::from(self.1)))
    }
}
/// `SHM_STAT`: logged with the id it returns.
impl Logged for (ShmId, ShmidDs) {
    fn logged(&self) -> Option<Arg> {
        self.0.logged()
    }
}
impl Logged for Option<ShmidDs> {
    fn logged(&self) -> Option<Arg> {
        None
    }
}

/// The name a `shmctl` command is logged under.
pub(crate) fn shm_cmd_name(cmd: &ShmCmd) -> &'static str {
    match cmd {
        ShmCmd::Stat => "IPC_STAT",
        ShmCmd::Set { .. } => "IPC_SET",
        ShmCmd::Rmid => "IPC_RMID",
        ShmCmd::Lock => "SHM_LOCK",
        ShmCmd::Unlock => "SHM_UNLOCK",
    }
}

/// The ring of recent calls.
#[derive(Debug)]
pub(crate) struct CallLog {
    ring: [Option<CallRecord>; CallLog::CAPACITY],
    next: u64,
}

impl CallLog {
    /// How many calls are kept.
    pub const CAPACITY: usize = 32;

    pub fn new() -> CallLog {
        CallLog {
            ring: [None; CallLog::CAPACITY],
            next: 0,
        }
    }

    pub fn record(&mut self, c: &Call, result: Result<Option<Arg>, Errno>) -> CallRecord {
        self.next += 1;
        let r = CallRecord {
            seq: self.next,
            guest: c.guest,
            name: c.name,
            args: c.args,
            result,
        };
        self.ring[(self.next as usize) % CallLog::CAPACITY] = Some(r);
        r
    }

    /// The kept calls, oldest first.
    pub fn recent(&self) -> Vec<CallRecord> {
        let mut v: Vec<CallRecord> = self.ring.iter().flatten().copied().collect();
        v.sort_by_key(|r| r.seq);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_calls_in_order() {
        let mut log = CallLog::new();
        for i in 0..(CallLog::CAPACITY as i64 + 5) {
            let c = Call::new(GuestId(1), "mlock", [Arg::Addr(0x1000), Arg::Num(i)]);
            log.record(&c, Ok(None));
        }
        let r = log.recent();
        assert_eq!(r.len(), CallLog::CAPACITY);
        assert_eq!(r[0].seq, 6);
        assert_eq!(r.last().unwrap().seq, CallLog::CAPACITY as u64 + 5);
        assert_eq!(
            r.last().unwrap().to_string(),
            format!(
                "#{} guest 1: mlock(0x1000, {}) = 0",
                CallLog::CAPACITY + 5,
                CallLog::CAPACITY + 4
            )
        );
    }

    #[test]
    fn shows_errors_and_values() {
        let mut log = CallLog::new();
        let c = Call::new(
            GuestId(0),
            "shmctl",
            [Arg::Num(65536), Arg::Name("SHM_UNLOCK")],
        );
        log.record(&c, Err(Errno::EIO));
        log.record(
            &Call::new(GuestId(2), "shmat", [Arg::Num(7)]),
            Ok(Some(Arg::Addr(0x20000))),
        );
        let r = log.recent();
        assert_eq!(
            r[0].to_string(),
            "#1 guest 0: shmctl(65536, SHM_UNLOCK) = -EIO"
        );
        assert_eq!(r[1].to_string(), "#2 guest 2: shmat(7) = 0x20000");
    }
}
