//! Host memory: where resident pages really live, and what is really mapped.
//!
//! Every page's data lives in a [`HostStore`], a sparse `memfd` indexed by page: one per guest
//! for its private anonymous memory (indexed by the guest's page number) and one per shared
//! segment (indexed by the object's page). A page that is not resident has no host memory: the
//! pagedaemon copies it out and punches a hole ([`HostStore::release`]), which hands the host
//! page back to the host kernel at once. Because a segment's data is one `memfd`, every guest
//! that maps it maps the same host pages.
//!
//! All `unsafe` of this module is the raw system calls; each states why it holds.

use crate::addr::PAGE_SIZE;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::FileExt;

/// A sparse, page-indexed store of host memory.
#[derive(Debug)]
pub struct HostStore {
    file: File,
    pages: u64,
}

impl HostStore {
    /// A store with room for `pages` pages, none of them holding host memory yet.
    pub fn new(name: &str, pages: u64) -> io::Result<HostStore> {
        let cname = std::ffi::CString::new(name).unwrap_or_else(|_| c"vmm".into());
        // SAFETY: `cname` is a valid NUL-terminated string; memfd_create has no memory effects.
        let fd = unsafe { libc::memfd_create(cname.as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by memfd_create and is owned by nothing else.
        let file = unsafe { File::from_raw_fd(fd) };
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

    /// Releases the host memory of pages `[page, page + n)`: they read as zeros afterwards.
    pub fn release(&self, page: u64, n: u64) -> io::Result<()> {
        punch_hole(&self.file, page * PAGE_SIZE, n * PAGE_SIZE)
    }

    /// How many bytes of host memory the store holds right now.
    pub fn host_bytes(&self) -> io::Result<u64> {
        host_bytes(&self.file)
    }
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
