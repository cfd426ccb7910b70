//! The host layer: where resident pages really live, and the host address ranges guests run in.
//!
//! This is the one module that makes raw system calls on memory (with the fault handler in
//! [`crate::vm::host::signals`] and the swap file's `memfd`). It knows nothing of maps, pages or
//! guests' calls; [`crate::vm::pmap`] drives it from the machine state.
//!
//! Every page's data lives in a [`HostStore`], a sparse `memfd` indexed by page: one per guest
//! for its private anonymous memory (indexed by the guest's page number) and one per shared
//! segment (indexed by the object's page). A page that is not resident has no host memory: the
//! pagedaemon copies it out and punches a hole ([`HostStore::release`]), which hands the host
//! page back to the host kernel at once. Because a segment's data is one `memfd`, every guest
//! that maps it maps the same host pages.
//!
//! A guest may also have a [`View`]: a host address range (its wasm linear memory) where the
//! host stores are mapped at the guest's addresses, so guest code reaches its memory directly.
//! A non-resident page must fault there, and how depends on the [`PagingMode`]:
//! - `Userfault`: the view is registered with a userfaultfd in missing mode with the SIGBUS
//!   feature, so touching a hole of a store raises SIGBUS in the touching thread. Protections in
//!   the view are the entries' own.
//! - `Protect` (the fallback where userfaultfd is not permitted): a page is accessible in a view
//!   only after a fault entered it there; eviction makes it `PROT_NONE` again in every view that
//!   maps it, and the fault is a SIGSEGV.
//!
//! In both modes a page being paged out is first made inaccessible in every view that maps it,
//! so no guest can store to it between the copy to swap and the release.
//!
//! All `unsafe` of this module is the raw system calls and the fault registry; each block states
//! why it holds.
#![allow(unsafe_code)]

pub mod signals;

use crate::base::addr::{GuestId, PageRange, Vpn, PAGE_SIZE};
use crate::vm::map::Prot;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering};

/// A sparse, page-indexed store of host memory.
#[derive(Debug)]
pub struct HostStore {
    file: File,
    pages: u64,
}

impl HostStore {
    /// A store with room for `pages` pages, none of them holding host memory yet.
    pub fn new(name: &str, pages: u64) -> io::Result<HostStore> {
        let file = memfd(name)?;
        file.set_len(pages * PAGE_SIZE)?;
        Ok(HostStore { file, pages })
    }

    /// The store's size in pages.
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// The backing file, for mapping it into a guest's view.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Reads page `page` into `buf` (a hole reads as zeros).
    pub fn read_page(&self, page: u64, buf: &mut [u8]) -> io::Result<()> {
        debug_assert_eq!(buf.len() as u64, PAGE_SIZE);
        self.file.read_exact_at(buf, page * PAGE_SIZE)
    }

    /// Writes `data` (one page) at page `page`, giving it host memory.
    pub fn write_page(&self, page: u64, data: &[u8]) -> io::Result<()> {
        debug_assert_eq!(data.len() as u64, PAGE_SIZE);
        self.file.write_all_at(data, page * PAGE_SIZE)
    }

    /// Reads `buf.len()` bytes at byte `offset` (within one page).
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }

    /// Writes `data` at byte `offset` (within one page).
    pub fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.file.write_all_at(data, offset)
    }

    /// Gives page `page` zeroed host memory (a zero fill: the page is resident from now on).
    pub fn allocate(&self, page: u64) -> io::Result<()> {
        // SAFETY: fallocate on a file descriptor we own; no memory is passed.
        let r = unsafe {
            libc::fallocate(
                self.file.as_raw_fd(),
                0,
                (page * PAGE_SIZE) as libc::off_t,
                PAGE_SIZE as libc::off_t,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Releases the host memory of pages `[page, page + n)`: they read as zeros afterwards.
    pub fn release(&self, page: u64, n: u64) -> io::Result<()> {
        punch_hole(&self.file, page * PAGE_SIZE, n * PAGE_SIZE)
    }

    /// How many bytes of host memory the store holds right now.
    pub fn host_bytes(&self) -> io::Result<u64> {
        host_bytes(&self.file)
    }
}

/// A new, empty anonymous file in host memory (`memfd_create`), named `name` in `/proc`.
pub(crate) fn memfd(name: &str) -> io::Result<File> {
    let cname = std::ffi::CString::new(name).unwrap_or_else(|_| c"vmm".into());
    // SAFETY: `cname` is a valid NUL-terminated string; memfd_create has no memory effects.
    let fd = unsafe { libc::memfd_create(cname.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by memfd_create and is owned by nothing else.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Gives the host back the storage of `[offset, offset + len)` of `file`, keeping its size.
pub(crate) fn punch_hole(file: &File, offset: u64, len: u64) -> io::Result<()> {
    // SAFETY: fallocate on a file descriptor we own; no memory is passed.
    let r = unsafe {
        libc::fallocate(
            file.as_raw_fd(),
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            offset as libc::off_t,
            len as libc::off_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The bytes of storage the host holds for `file` (its allocated blocks).
pub(crate) fn host_bytes(file: &File) -> io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    Ok(file.metadata()?.blocks() * 512)
}

/// How non-resident pages fault in guest views.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PagingMode {
    /// userfaultfd, missing mode, SIGBUS feature.
    Userfault,
    /// Protection faults (`PROT_NONE` until entered).
    Protect,
}

impl PagingMode {
    /// The best mode this host permits, and why the fallback was taken if it was.
    pub fn detect() -> (PagingMode, Option<String>) {
        match Uffd::shared() {
            Ok(_) => (PagingMode::Userfault, None),
            Err(e) => (
                PagingMode::Protect,
                Some(format!(
                    "userfaultfd unavailable ({e}); using protection faults"
                )),
            ),
        }
    }
}

struct Uffd(OwnedFd);

#[repr(C)]
struct UffdioApi {
    api: u64,
    features: u64,
    ioctls: u64,
}

#[repr(C)]
struct UffdioRegister {
    start: u64,
    len: u64,
    mode: u64,
    ioctls: u64,
}

const UFFD_API: u64 = 0xaa;
const UFFD_USER_MODE_ONLY: libc::c_int = 1;
const UFFD_FEATURE_SIGBUS: u64 = 1 << 7;
const UFFDIO_REGISTER_MODE_MISSING: u64 = 1;
// _IOWR(0xaa, 0x3f, struct uffdio_api) and _IOWR(0xaa, 0x00, struct uffdio_register).
const UFFDIO_API: libc::c_ulong = 0xc018_aa3f;
const UFFDIO_REGISTER: libc::c_ulong = 0xc020_aa00;
// _IOWR(0xaa, 0x03, struct uffdio_copy)
const UFFDIO_COPY: libc::c_ulong = 0xc028_aa03;

#[repr(C)]
struct UffdioCopy {
    dst: u64,
    src: u64,
    len: u64,
    mode: u64,
    copy: i64,
}

impl Uffd {
    fn open() -> io::Result<Uffd> {
        let flags = libc::O_CLOEXEC | libc::O_NONBLOCK;
        // SAFETY: the userfaultfd system call takes flags only and returns a new descriptor.
        let mut fd = unsafe { libc::syscall(libc::SYS_userfaultfd, flags | UFFD_USER_MODE_ONLY) };
        if fd < 0 {
            // Kernels before 5.11 do not know UFFD_USER_MODE_ONLY.
            // SAFETY: as above.
            fd = unsafe { libc::syscall(libc::SYS_userfaultfd, flags) };
        }
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) };
        let mut api = UffdioApi {
            api: UFFD_API,
            features: UFFD_FEATURE_SIGBUS,
            ioctls: 0,
        };
        // SAFETY: UFFDIO_API reads and writes exactly one `struct uffdio_api`, which `api` is.
        if unsafe { libc::ioctl(fd.as_raw_fd(), UFFDIO_API, &mut api) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Uffd(fd))
    }

    /// The process's one userfaultfd, opened on first use and kept for the process's life.
    ///
    /// Every view registers its ranges with it: a registration belongs to the mapping it was
    /// made on and ends with it, and faults arrive as SIGBUS (the SIGBUS feature), never as
    /// messages on the descriptor, so one descriptor serves every guest. One per view would
    /// cost a descriptor per guest, and `ulimit -n` would bound the number of guests.
    fn shared() -> io::Result<&'static Uffd> {
        static SHARED: std::sync::OnceLock<Uffd> = std::sync::OnceLock::new();
        if let Some(u) = SHARED.get() {
            return Ok(u);
        }
        let u = Uffd::open()?;
        Ok(SHARED.get_or_init(|| u))
    }

    fn register(&self, start: usize, len: usize) -> io::Result<()> {
        let mut reg = UffdioRegister {
            start: start as u64,
            len: len as u64,
            mode: UFFDIO_REGISTER_MODE_MISSING,
            ioctls: 0,
        };
        // SAFETY: UFFDIO_REGISTER reads and writes one `struct uffdio_register`; the range is
        // inside a mapping this module made.
        if unsafe { libc::ioctl(self.0.as_raw_fd(), UFFDIO_REGISTER, &mut reg) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

fn host_prot(p: Prot) -> libc::c_int {
    let mut h = libc::PROT_NONE;
    if p.intersects(Prot::READ | Prot::WRITE) {
        h |= libc::PROT_READ;
    }
    if p.contains(Prot::WRITE) {
        h |= libc::PROT_WRITE;
    }
    h
}

/// A guest's memory as host addresses: a reservation in which host stores are mapped at the
/// guest's own addresses. Unmapped guest ranges are `PROT_NONE`.
#[derive(Debug)]
pub struct View {
    base: usize,
    len: usize,
    mode: PagingMode,
    uffd: Option<&'static Uffd>,
    slot: usize,
}

impl std::fmt::Debug for Uffd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "uffd({})", self.0.as_raw_fd())
    }
}

impl View {
    /// Reserves `len` bytes (page aligned) of host address space, all inaccessible, and
    /// registers them so that faults there reach `owner`.
    pub(crate) fn new(len: usize, mode: PagingMode, owner: FaultOwner) -> io::Result<View> {
        // SAFETY: a fresh anonymous reservation at an address of the kernel's choosing.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let uffd = match mode {
            PagingMode::Userfault => match Uffd::shared() {
                Ok(u) => Some(u),
                Err(e) => {
                    // SAFETY: unmapping the reservation made just above, used by nothing yet.
                    unsafe { libc::munmap(base, len) };
                    return Err(e);
                }
            },
            PagingMode::Protect => None,
        };
        let base = base as usize;
        let slot = match registry_insert(base, base + len, owner) {
            Some(s) => s,
            None => {
                // SAFETY: as above.
                unsafe { libc::munmap(base as *mut libc::c_void, len) };
                return Err(io::Error::other(format!(
                    "too many guest memories at once: at most {MAX_VIEWS} can exist in one process"
                )));
            }
        };
        Ok(View {
            base,
            len,
            mode,
            uffd,
            slot,
        })
    }

    /// The host address of guest address 0.
    pub fn base(&self) -> *mut u8 {
        self.base as *mut u8
    }

    /// The reservation's size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the reservation is empty (never: views are at least a page).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The paging mode of this view.
    pub fn mode(&self) -> PagingMode {
        self.mode
    }

    fn span(&self, r: PageRange) -> Option<(usize, usize)> {
        let start = usize::try_from(r.start.addr().0).ok()?;
        let len = usize::try_from(r.bytes()).ok()?;
        (start.checked_add(len)? <= self.len && len > 0).then(|| (self.base + start, len))
    }

    /// Maps `file` from page `file_page` at `range`, with the protection the mode gives a page
    /// that has not faulted here yet.
    pub(crate) fn map(
        &self,
        range: PageRange,
        file: &File,
        file_page: u64,
        prot: Prot,
    ) -> io::Result<()> {
        let Some((addr, len)) = self.span(range) else {
            return Ok(());
        };
        let hp = match self.mode {
            PagingMode::Userfault => host_prot(prot),
            PagingMode::Protect => libc::PROT_NONE,
        };
        // SAFETY: replaces part of our own reservation (checked by `span`) with a shared mapping
        // of a store that outlives it; nothing else lives at these addresses.
        let p = unsafe {
            libc::mmap(
                addr as *mut libc::c_void,
                len,
                hp,
                libc::MAP_SHARED | libc::MAP_FIXED,
                file.as_raw_fd(),
                (file_page * PAGE_SIZE) as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        if let Some(u) = &self.uffd {
            u.register(addr, len)?;
        }
        Ok(())
    }

    /// Makes `range` inaccessible and unbacked again.
    pub(crate) fn unmap(&self, range: PageRange) -> io::Result<()> {
        let Some((addr, len)) = self.span(range) else {
            return Ok(());
        };
        // SAFETY: replaces part of our own reservation with fresh inaccessible memory.
        let p = unsafe {
            libc::mmap(
                addr as *mut libc::c_void,
                len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Sets the host protection of `range` to what a page there may have now: the entry's
    /// protection if `entered`, else none.
    pub(crate) fn protect(&self, range: PageRange, prot: Prot, entered: bool) -> io::Result<()> {
        let Some((addr, len)) = self.span(range) else {
            return Ok(());
        };
        let hp = if entered {
            host_prot(prot)
        } else {
            libc::PROT_NONE
        };
        // SAFETY: changes protection inside our own reservation only.
        if unsafe { libc::mprotect(addr as *mut libc::c_void, len, hp) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Places one page of data at `vpn` with `UFFDIO_COPY` (userfault mode only): the store's
    /// page is filled and mapped here in one step. Fails where the page is already there.
    pub(crate) fn copy_page(&self, vpn: Vpn, data: &[u8]) -> io::Result<()> {
        self.copy_pages(vpn, data)
    }

    /// [`View::copy_page`] for consecutive pages from `vpn`, `data` holding them all: one
    /// `UFFDIO_COPY`. Fails where any of them is already there; the kernel may then have
    /// placed a prefix of the run, whose pages hold `data`'s bytes, which is what a caller's
    /// fallback writes to the store anyway.
    pub(crate) fn copy_pages(&self, vpn: Vpn, data: &[u8]) -> io::Result<()> {
        let Some(u) = &self.uffd else {
            return Err(io::Error::other("not a userfault view"));
        };
        let pages = data.len() as u64 / PAGE_SIZE;
        if pages == 0 || data.len() as u64 % PAGE_SIZE != 0 {
            return Err(io::Error::other("not whole pages"));
        }
        let Some((addr, len)) = self.span(PageRange::new(vpn, vpn.plus(pages))) else {
            return Err(io::Error::other("outside the view"));
        };
        if len != data.len() {
            return Err(io::Error::other("outside the view"));
        }
        let mut c = UffdioCopy {
            dst: addr as u64,
            src: data.as_ptr() as u64,
            len: len as u64,
            mode: 0,
            copy: 0,
        };
        // SAFETY: UFFDIO_COPY reads `len` bytes from `data` (which has them) and writes one
        // `struct uffdio_copy`; the destination is a registered page of our own view.
        if unsafe { libc::ioctl(u.0.as_raw_fd(), UFFDIO_COPY, &mut c) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Puts a private scratch page over `page`, so that an access the guest may not make, done
    /// by host code on the guest's behalf, completes without touching anything real. The guest
    /// is made to trap before its code runs on (see [`crate::vm::host::signals`]).
    pub(crate) fn scratch_page(&self, page: PageRange) -> io::Result<()> {
        let Some((addr, len)) = self.span(page) else {
            return Err(io::Error::other("outside the view"));
        };
        // SAFETY: replaces one page of our own reservation with fresh private memory.
        let p = unsafe {
            libc::mmap(
                addr as *mut libc::c_void,
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// The protection a mapping gets when created or changed: its own in userfault mode, none
    /// until a fault enters each page in protect mode.
    pub(crate) fn enters_eagerly(&self) -> bool {
        self.mode == PagingMode::Userfault
    }
}

impl Drop for View {
    fn drop(&mut self) {
        registry_remove(self.slot);
        // SAFETY: the reservation is ours and no guest code runs in it any more (a view is
        // dropped after its guest's memory is gone).
        unsafe { libc::munmap(self.base as *mut libc::c_void, self.len) };
    }
}

/// Who resolves faults in a view: the machine state and the guest.
///
/// `state` is the address of the machine's `Mutex<State>` inside its `Arc`, taken with
/// `Arc::as_ptr`: a plain pointer that keeps nothing alive. It is valid while the view is
/// registered because every holder of a view drops it before the machine handle it came with
/// (`GuestMemory` declares its view first; the state's views are dropped with the state itself, when
/// no guest runs), and the view leaves the registry in its `Drop`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FaultOwner {
    pub state: *const (),
    pub guest: GuestId,
}

/// How many views (guest memories) can exist in one process at once.
///
/// The registry is a fixed array so that the fault handler can search it without locks or
/// allocation; its untouched pages cost nothing, and a search stops at the highest slot ever
/// used ([`REG_HIGH`]), so a process with few guests scans few slots.
pub const MAX_VIEWS: usize = 16384;

struct RegSlot {
    start: AtomicUsize,
    end: AtomicUsize,
    state: AtomicPtr<()>,
    guest: AtomicU32,
    busy: AtomicU32,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: RegSlot = RegSlot {
    start: AtomicUsize::new(0),
    end: AtomicUsize::new(0),
    state: AtomicPtr::new(std::ptr::null_mut()),
    guest: AtomicU32::new(0),
    busy: AtomicU32::new(0),
};

/// Every live view, for the fault handler to find by address without locks or allocation.
static REGISTRY: [RegSlot; MAX_VIEWS] = [EMPTY; MAX_VIEWS];

/// One past the highest registry slot ever taken: searches stop here.
static REG_HIGH: AtomicUsize = AtomicUsize::new(0);

fn registry_insert(start: usize, end: usize, owner: FaultOwner) -> Option<usize> {
    for (i, s) in REGISTRY.iter().enumerate() {
        // A plain load first: with thousands of guests most slots are busy, and a failed
        // compare-exchange costs a locked instruction each.
        if s.busy.load(Ordering::Relaxed) == 0
            && s.busy
                .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            s.state.store(owner.state as *mut (), Ordering::Relaxed);
            s.guest.store(owner.guest.0, Ordering::Relaxed);
            s.end.store(end, Ordering::Relaxed);
            s.start.store(start, Ordering::Release);
            REG_HIGH.fetch_max(i + 1, Ordering::AcqRel);
            return Some(i);
        }
    }
    None
}

fn registry_remove(i: usize) {
    let s = &REGISTRY[i];
    s.start.store(0, Ordering::Release);
    s.end.store(0, Ordering::Relaxed);
    s.busy.store(0, Ordering::Release);
}

/// The owner of the view containing host address `addr`, with the guest offset.
///
/// Async-signal-safe: atomics only.
pub(crate) fn registry_lookup(addr: usize) -> Option<(FaultOwner, u64)> {
    let high = REG_HIGH.load(Ordering::Acquire);
    for s in REGISTRY[..high].iter() {
        let start = s.start.load(Ordering::Acquire);
        if start != 0 && start <= addr && addr < s.end.load(Ordering::Relaxed) {
            let owner = FaultOwner {
                state: s.state.load(Ordering::Relaxed),
                guest: GuestId(s.guest.load(Ordering::Relaxed)),
            };
            return Some((owner, (addr - start) as u64));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_pages_give_host_memory_back_and_read_as_zero() {
        let s = HostStore::new("test", 16).unwrap();
        assert_eq!(s.host_bytes().unwrap(), 0);
        let page = vec![0xabu8; PAGE_SIZE as usize];
        s.write_page(3, &page).unwrap();
        s.write_page(4, &page).unwrap();
        assert_eq!(s.host_bytes().unwrap(), 2 * PAGE_SIZE);
        s.release(3, 1).unwrap();
        assert_eq!(s.host_bytes().unwrap(), PAGE_SIZE);
        let mut buf = vec![1u8; PAGE_SIZE as usize];
        s.read_page(3, &mut buf).unwrap();
        assert!(buf.iter().all(|&b| b == 0));
        s.read_page(4, &mut buf).unwrap();
        assert!(buf.iter().all(|&b| b == 0xab));
    }
}
