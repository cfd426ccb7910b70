//! The guest side, for Rust guests compiled to wasm32 (`#![no_std]` works): the host imports,
//! safe wrappers that return `Result<_, Errno>`, typed flags, and owners that undo on drop (a
//! [`Mapping`] unmaps, an [`Attachment`] detaches).
//!
//! ```no_run
//! use guest_abi::guest::{self, MapFlags, Prot, ShmFlags};
//! let id = guest::shmget(0, 2 * 4096, ShmFlags::CREAT.mode(0o600))?;
//! let seg = guest::Attachment::new(id, None, ShmFlags::NONE)?;
//! let buf = guest::Mapping::anonymous(4096, Prot::RW)?;
//! guest::mlock(buf.addr(), buf.len())?;
//! # Ok::<(), guest::Errno>(())
//! ```

use crate::{dump, errno, ipc, mman, shmid_ds};
use core::fmt;
use core::ops::BitOr;

mod sys {
    #[link(wasm_import_module = "vmm")]
    unsafe extern "C" {
        pub fn mmap(addr: i32, len: i32, prot: i32, flags: i32) -> i32;
        pub fn munmap(addr: i32, len: i32) -> i32;
        pub fn mprotect(addr: i32, len: i32, prot: i32) -> i32;
        pub fn mincore(addr: i32, len: i32, vec: i32) -> i32;
        pub fn mlock(addr: i32, len: i32) -> i32;
        pub fn munlock(addr: i32, len: i32) -> i32;
        pub fn mlockall(flags: i32) -> i32;
        pub fn munlockall() -> i32;
        pub fn mlock2(addr: i32, len: i32, flags: i32) -> i32;
        pub fn msync(addr: i32, len: i32, flags: i32) -> i32;
        pub fn madvise(addr: i32, len: i32, advice: i32) -> i32;
        pub fn shmget(key: i32, size: i32, flags: i32) -> i32;
        pub fn shmat(id: i32, addr: i32, flags: i32) -> i32;
        pub fn shmdt(addr: i32) -> i32;
        pub fn shmctl(id: i32, cmd: i32, buf: i32) -> i32;
        pub fn getpagesize() -> i32;
        pub fn vmm_guest_index() -> i32;
        pub fn vmm_guest_count() -> i32;
        pub fn vmm_barrier() -> i32;
        pub fn vmm_reclaim(npages: i32) -> i32;
        pub fn vmm_print(ptr: i32, len: i32) -> i32;
        pub fn vmm_dump(flags: i32) -> i32;
    }
}

/// An errno the host returned (NetBSD's numbers, [`crate::base::errno`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    /// `EINVAL`.
    pub const EINVAL: Errno = Errno(errno::EINVAL);
    /// `ENOMEM`.
    pub const ENOMEM: Errno = Errno(errno::ENOMEM);
    /// `EAGAIN`.
    pub const EAGAIN: Errno = Errno(errno::EAGAIN);
    /// `EPERM`.
    pub const EPERM: Errno = Errno(errno::EPERM);
    /// `EIDRM`.
    pub const EIDRM: Errno = Errno(errno::EIDRM);

    /// Its C name, if the interface uses it.
    pub fn name(self) -> Option<&'static str> {
        errno::name(self.0)
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "errno {}", self.0),
        }
    }
}

fn check(r: i32) -> Result<i32, Errno> {
    if crate::is_error(r) {
        Err(Errno(-r))
    } else {
        Ok(r)
    }
}

fn unit(r: i32) -> Result<(), Errno> {
    check(r).map(|_| ())
}

/// A wasm32 address as the ABI passes it.
fn a(addr: usize) -> i32 {
    addr as u32 as i32
}

macro_rules! flags {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $f:ident = $v:expr),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $name(pub i32);
        impl $name {
            $($(#[$fm])* pub const $f: $name = $name($v);)*
        }
        impl BitOr for $name {
            type Output = $name;
            fn bitor(self, o: $name) -> $name {
                $name(self.0 | o.0)
            }
        }
    };
}

flags!(
    /// Page protection.
    Prot {
        /// No access.
        NONE = mman::PROT_NONE,
        /// Readable.
        READ = mman::PROT_READ,
        /// Writable.
        WRITE = mman::PROT_WRITE,
        /// Readable and writable.
        RW = mman::PROT_READ | mman::PROT_WRITE,
    }
);

flags!(
    /// `mmap` flags (`ANON` is always added).
    MapFlags {
        /// Private (the default).
        PRIVATE = mman::MAP_PRIVATE,
        /// Exactly at the address, replacing what is there.
        FIXED = mman::MAP_FIXED,
    }
);

flags!(
    /// `mlockall` flags.
    Mcl {
        /// Lock what is mapped now.
        CURRENT = mman::MCL_CURRENT,
        /// Lock what is mapped later.
        FUTURE = mman::MCL_FUTURE,
        /// With either: lock on fault (Linux's).
        ONFAULT = mman::MCL_ONFAULT,
    }
);

flags!(
    /// `msync` flags.
    Ms {
        /// Schedule and return.
        ASYNC = mman::MS_ASYNC,
        /// Drop cached copies (refused over locked pages).
        INVALIDATE = mman::MS_INVALIDATE,
        /// Write and wait.
        SYNC = mman::MS_SYNC,
    }
);

flags!(
    /// `shmget` and `shmat` flags.
    ShmFlags {
        /// Nothing.
        NONE = 0,
        /// Create the segment if the key has none.
        CREAT = ipc::IPC_CREAT,
        /// With `CREAT`: fail if it exists.
        EXCL = ipc::IPC_EXCL,
        /// Attach read-only.
        RDONLY = ipc::SHM_RDONLY,
        /// Round the attach address down to `SHMLBA`.
        RND = ipc::SHM_RND,
    }
);

impl ShmFlags {
    /// The same flags with permission bits `mode` (`0o600`, say).
    pub fn mode(self, mode: i32) -> ShmFlags {
        ShmFlags(self.0 | (mode & ipc::MODE_MASK))
    }
}

/// A segment identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShmId(pub i32);

/// What `IPC_STAT` reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShmidDs {
    /// Owner user.
    pub uid: u32,
    /// Owner group.
    pub gid: u32,
    /// Permission bits, with `SHM_LOCKED` and `SHM_DEST` state bits.
    pub mode: u32,
    /// Size in bytes.
    pub segsz: u32,
    /// Attachments.
    pub nattch: u32,
}

impl ShmidDs {
    /// Whether the segment is `SHM_LOCK`ed.
    pub fn locked(&self) -> bool {
        self.mode & shmid_ds::SHM_LOCKED as u32 != 0
    }

    /// Whether the segment is marked for removal.
    pub fn removed(&self) -> bool {
        self.mode & shmid_ds::SHM_DEST as u32 != 0
    }
}

/// Maps `len` bytes of anonymous memory at `addr` (a hint unless `FIXED`).
pub fn mmap(addr: usize, len: usize, prot: Prot, flags: MapFlags) -> Result<usize, Errno> {
    // SAFETY: the host validates every argument; mapping new memory invalidates no Rust object
    // unless `FIXED` is given over memory the program uses, which the caller chose.
    let r = unsafe { sys::mmap(a(addr), a(len), prot.0, flags.0 | mman::MAP_ANON) };
    check(r).map(|v| v as u32 as usize)
}

/// Removes mappings (really unwiring them).
///
/// # Safety
/// Nothing the program still uses may live in the range.
pub unsafe fn munmap(addr: usize, len: usize) -> Result<(), Errno> {
    // SAFETY: the caller promises nothing in the range is in use.
    unit(unsafe { sys::munmap(a(addr), a(len)) })
}

/// Changes protection.
///
/// # Safety
/// Nothing the program touches in the range may need an access the new protection forbids.
pub unsafe fn mprotect(addr: usize, len: usize, prot: Prot) -> Result<(), Errno> {
    // SAFETY: the caller promises the new protection breaks no access it makes.
    unit(unsafe { sys::mprotect(a(addr), a(len), prot.0) })
}

/// Residency of each page of `[addr, addr + len)` (bit 0 of each byte), into `vec`.
pub fn mincore(addr: usize, len: usize, vec: &mut [u8]) -> Result<(), Errno> {
    let pages = len.div_ceil(crate::PAGE_SIZE as usize);
    if vec.len() < pages {
        return Err(Errno::EINVAL);
    }
    // SAFETY: the host writes `pages` bytes into `vec`, which holds at least that many.
    unit(unsafe { sys::mincore(a(addr), a(len), a(vec.as_mut_ptr() as usize)) })
}

/// POSIX lock (a flag: a second `mlock` changes nothing).
pub fn mlock(addr: usize, len: usize) -> Result<(), Errno> {
    // SAFETY: locking changes no memory contents.
    unit(unsafe { sys::mlock(a(addr), a(len)) })
}

/// POSIX unlock (one undoes any number of `mlock`s).
pub fn munlock(addr: usize, len: usize) -> Result<(), Errno> {
    // SAFETY: unlocking changes no memory contents.
    unit(unsafe { sys::munlock(a(addr), a(len)) })
}

/// Locks every mapping now and/or later.
pub fn mlockall(flags: Mcl) -> Result<(), Errno> {
    // SAFETY: locking changes no memory contents.
    unit(unsafe { sys::mlockall(flags.0) })
}

/// Linux's `mlock2`: with `on_fault` (`MLOCK_ONFAULT`) nothing is brought in and each page is
/// locked as it is touched. `ENOSYS` under a rule set without it.
pub fn mlock2(addr: usize, len: usize, on_fault: bool) -> Result<(), Errno> {
    let flags = if on_fault { mman::MLOCK_ONFAULT } else { 0 };
    // SAFETY: locking changes no memory contents.
    unit(unsafe { sys::mlock2(a(addr), a(len), flags) })
}

/// `msync`: checks the range (anonymous memory has no file to write back); `MS_INVALIDATE` is
/// refused over locked pages.
pub fn msync(addr: usize, len: usize, flags: Ms) -> Result<(), Errno> {
    // SAFETY: nothing is written back or dropped.
    unit(unsafe { sys::msync(a(addr), a(len), flags.0) })
}

/// `madvise` with one of `guest_abi::mman::MADV_*`.
///
/// # Safety
///
/// `MADV_DONTNEED` (under `linux`), `MADV_FREE` and `MADV_DONTNEED_LOCKED` drop the data of the
/// pages: nothing may be borrowed from them.
pub unsafe fn madvise(addr: usize, len: usize, advice: i32) -> Result<(), Errno> {
    // SAFETY: the caller keeps no borrow of pages whose data may be dropped.
    unit(unsafe { sys::madvise(a(addr), a(len), advice) })
}

/// Clears every lock flag and `MCL_FUTURE`.
pub fn munlockall() -> Result<(), Errno> {
    // SAFETY: unlocking changes no memory contents.
    unit(unsafe { sys::munlockall() })
}

/// Finds or creates the segment of `key` (0 is `IPC_PRIVATE`).
pub fn shmget(key: i32, size: usize, flags: ShmFlags) -> Result<ShmId, Errno> {
    // SAFETY: no memory is touched.
    check(unsafe { sys::shmget(key, a(size), flags.0) }).map(ShmId)
}

/// Attaches segment `id` at `addr` (anywhere for `None`); returns the address.
pub fn shmat(id: ShmId, addr: Option<usize>, flags: ShmFlags) -> Result<usize, Errno> {
    // SAFETY: attaching maps new memory; at a given address the host refuses an occupied range.
    let r = unsafe { sys::shmat(id.0, a(addr.unwrap_or(0)), flags.0) };
    check(r).map(|v| v as u32 as usize)
}

/// Detaches the segment attached at `addr`.
///
/// # Safety
/// Nothing the program still uses may live in the attachment.
pub unsafe fn shmdt(addr: usize) -> Result<(), Errno> {
    // SAFETY: the caller promises nothing in the attachment is in use.
    unit(unsafe { sys::shmdt(a(addr)) })
}

/// `IPC_STAT`.
pub fn shm_stat(id: ShmId) -> Result<ShmidDs, Errno> {
    let mut raw = [0u8; shmid_ds::SIZE as usize];
    // SAFETY: the host writes `shmid_ds::SIZE` bytes into `raw`.
    unit(unsafe { sys::shmctl(id.0, ipc::IPC_STAT, a(raw.as_mut_ptr() as usize)) })?;
    let field = |off: u32| {
        let o = off as usize;
        u32::from_le_bytes([raw[o], raw[o + 1], raw[o + 2], raw[o + 3]])
    };
    Ok(ShmidDs {
        uid: field(shmid_ds::UID),
        gid: field(shmid_ds::GID),
        mode: field(shmid_ds::MODE),
        segsz: field(shmid_ds::SEGSZ),
        nattch: field(shmid_ds::NATTCH),
    })
}

/// `IPC_RMID`: the segment goes with its last detach.
pub fn shm_remove(id: ShmId) -> Result<(), Errno> {
    // SAFETY: no memory is touched.
    unit(unsafe { sys::shmctl(id.0, ipc::IPC_RMID, 0) })
}

/// `SHM_LOCK`: the segment stays resident, attached or not, until `SHM_UNLOCK`.
pub fn shm_lock(id: ShmId) -> Result<(), Errno> {
    // SAFETY: no memory is touched.
    unit(unsafe { sys::shmctl(id.0, ipc::SHM_LOCK, 0) })
}

/// `SHM_UNLOCK`.
pub fn shm_unlock(id: ShmId) -> Result<(), Errno> {
    // SAFETY: no memory is touched.
    unit(unsafe { sys::shmctl(id.0, ipc::SHM_UNLOCK, 0) })
}

/// The page size the host pages by.
pub fn page_size() -> usize {
    // SAFETY: no arguments.
    unsafe { sys::getpagesize() as usize }
}

/// This guest's index in its machine, from 0.
pub fn guest_index() -> u32 {
    // SAFETY: no arguments.
    unsafe { sys::vmm_guest_index() as u32 }
}

/// How many guests the machine runs.
pub fn guest_count() -> u32 {
    // SAFETY: no arguments.
    unsafe { sys::vmm_guest_count() as u32 }
}

/// Waits for every guest of the machine (`ESRCH` once one has ended).
pub fn barrier() -> Result<(), Errno> {
    // SAFETY: no arguments.
    unit(unsafe { sys::vmm_barrier() })
}

/// Asks the pagedaemon to reclaim up to `pages` unwired pages now; returns how many it did.
pub fn reclaim(pages: u32) -> Result<u32, Errno> {
    // SAFETY: no memory is touched.
    check(unsafe { sys::vmm_reclaim(pages.min(i32::MAX as u32) as i32) }).map(|n| n as u32)
}

/// Writes bytes to the machine's output.
pub fn print(bytes: &[u8]) {
    // SAFETY: the host reads `bytes.len()` bytes at `bytes`.
    unsafe { sys::vmm_print(a(bytes.as_ptr() as usize), a(bytes.len())) };
}

/// Writes this guest's map (`with_pages`: runs of pages) and, if `machine`, the machine's view
/// to the dump output.
pub fn dump(with_pages: bool, machine: bool) -> Result<(), Errno> {
    let f = if with_pages { dump::VMM_DUMP_PAGES } else { 0 }
        | if machine { dump::VMM_DUMP_MACHINE } else { 0 };
    // SAFETY: no memory is touched.
    unit(unsafe { sys::vmm_dump(f) })
}

/// A test's exit code for a failed step: prints `<test> failed at step <step>: <errno>` and
/// returns `step`, for a `main` that returns 0 when every step held.
pub fn fail(test: &str, step: u32, e: Errno) -> i32 {
    let mut digits = [0u8; 10];
    let mut n = step;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    print(test.as_bytes());
    print(b" failed at step ");
    print(&digits[i..]);
    print(b": ");
    print(e.name().unwrap_or("?").as_bytes());
    print(b"\n");
    step as i32
}

/// Whether every page of `[addr, addr + pages * page size)` is resident (`None` on error or
/// for more than 64 pages).
pub fn resident(addr: usize, pages: usize) -> Option<bool> {
    let mut v = [0u8; 64];
    let v = v.get_mut(..pages)?;
    mincore(addr, pages * page_size(), v).ok()?;
    Some(v.iter().all(|b| b & 1 == 1))
}

/// A range of guest memory: what a [`Mapping`] and an [`Attachment`] both are.
#[derive(Debug)]
pub struct Region {
    addr: usize,
    len: usize,
}

impl Region {
    /// Its address.
    pub fn addr(&self) -> usize {
        self.addr
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it is empty (never: `mmap` and `shmget` refuse length 0).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Its bytes (they must be readable). A segment's are shared with every other attacher.
    pub fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: the range is mapped for as long as its owner lives, and no other Rust
        // reference to it exists while this one does (it borrows the owner mutably). Other
        // guests may write a segment's bytes, which for plain bytes is a race only in the wasm
        // sense (no invalid values), as between processes sharing memory.
        unsafe { core::slice::from_raw_parts_mut(self.addr as *mut u8, self.len) }
    }
}

/// Anonymous memory that is unmapped when dropped.
#[derive(Debug)]
pub struct Mapping(Region);

impl Mapping {
    /// Maps `len` bytes wherever there is room.
    pub fn anonymous(len: usize, prot: Prot) -> Result<Mapping, Errno> {
        let addr = mmap(0, len, prot, MapFlags::PRIVATE)?;
        Ok(Mapping(Region { addr, len }))
    }
}

impl core::ops::Deref for Mapping {
    type Target = Region;
    fn deref(&self) -> &Region {
        &self.0
    }
}

impl core::ops::DerefMut for Mapping {
    fn deref_mut(&mut self) -> &mut Region {
        &mut self.0
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: no reference into the mapping outlives `self`.
        let _ = unsafe { munmap(self.0.addr, self.0.len) };
    }
}

/// A segment attachment that is detached when dropped.
#[derive(Debug)]
pub struct Attachment {
    id: ShmId,
    region: Region,
}

impl Attachment {
    /// Attaches segment `id` at `addr` (anywhere for `None`).
    pub fn new(id: ShmId, addr: Option<usize>, flags: ShmFlags) -> Result<Attachment, Errno> {
        let len = shm_stat(id)?.segsz as usize;
        let addr = shmat(id, addr, flags)?;
        Ok(Attachment {
            id,
            region: Region { addr, len },
        })
    }

    /// The segment.
    pub fn id(&self) -> ShmId {
        self.id
    }
}

impl core::ops::Deref for Attachment {
    type Target = Region;
    fn deref(&self) -> &Region {
        &self.region
    }
}

impl core::ops::DerefMut for Attachment {
    fn deref_mut(&mut self) -> &mut Region {
        &mut self.region
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        // SAFETY: no reference into the attachment outlives `self`.
        let _ = unsafe { shmdt(self.region.addr) };
    }
}
