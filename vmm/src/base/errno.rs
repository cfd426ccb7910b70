//! The error numbers the VM core reports, with their values taken from `guest-abi`.

use guest_abi::errno as n;
use std::fmt;

/// An error a VM call returns to its caller (a guest sees it as a negated number).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Errno {
    /// Operation not permitted.
    EPERM = n::EPERM,
    /// No such segment.
    ENOENT = n::ENOENT,
    /// No such guest.
    ESRCH = n::ESRCH,
    /// Input/output error.
    EIO = n::EIO,
    /// Out of memory, or part of a range is not mapped.
    ENOMEM = n::ENOMEM,
    /// Permission denied.
    EACCES = n::EACCES,
    /// Bad address.
    EFAULT = n::EFAULT,
    /// Busy (locked pages an `msync(MS_INVALIDATE)` would drop).
    EBUSY = n::EBUSY,
    /// Segment exists.
    EEXIST = n::EEXIST,
    /// Invalid argument.
    EINVAL = n::EINVAL,
    /// No space left (segment table full).
    ENOSPC = n::ENOSPC,
    /// A wiring limit would be exceeded.
    EAGAIN = n::EAGAIN,
    /// Not implemented.
    ENOSYS = n::ENOSYS,
    /// The segment is marked for removal.
    EIDRM = n::EIDRM,
}

impl Errno {
    /// The positive errno number.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The errno with this number, if the interface uses it.
    pub fn from_code(code: i32) -> Option<Errno> {
        use Errno::*;
        [
            EPERM, ENOENT, ESRCH, EIO, ENOMEM, EACCES, EFAULT, EBUSY, EEXIST, EINVAL, ENOSPC,
            EAGAIN, ENOSYS, EIDRM,
        ]
        .into_iter()
        .find(|e| e.code() == code)
    }

    /// The C name (`"EAGAIN"`).
    pub fn name(self) -> &'static str {
        n::name(self.code()).unwrap_or("E?")
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

impl std::error::Error for Errno {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_abi_errno_has_a_variant_with_the_same_number() {
        for (name, code) in guest_abi::errno::ALL {
            let e = Errno::from_code(*code).unwrap();
            assert_eq!(e.name(), *name);
        }
        assert_eq!(Errno::EAGAIN.code(), 35);
        assert_eq!(Errno::EIDRM.code(), 82);
    }
}
