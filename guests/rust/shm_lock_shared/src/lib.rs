//! Two Rust guests share a SHM_LOCKed segment: guest 0 creates and locks it and writes, guest 1
//! attaches and reads what guest 0 wrote; the segment stays resident through reclaim while
//! locked, munlock cannot unlock it, and after SHM_UNLOCK it pages out like any memory. Both
//! detach by dropping their attachments; guest 0 removes the segment.
// vmm-guests: 2
#![no_std]

use guest_abi::guest::{self as g, Attachment, Errno, ShmFlags};

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

const KEY: i32 = 0x7275_7374;
const PAGES: usize = 4;

fn run() -> Result<(), (u32, Errno)> {
    let step = |n: u32| move |e: Errno| (n, e);
    let p = g::page_size();
    let me = g::guest_index();
    let id = g::shmget(KEY, PAGES * p, ShmFlags::CREAT.mode(0o600)).map_err(step(1))?;
    let mut seg = Attachment::new(id, None, ShmFlags::NONE).map_err(step(2))?;
    if me == 0 {
        g::shm_lock(id).map_err(step(3))?;
        for i in 0..PAGES {
            seg.bytes()[i * p] = 0x40 + i as u8;
        }
    }
    g::barrier().map_err(step(4))?;
    // Locked: it stays, and a POSIX unlock of the attachment cannot release the SVID wiring.
    g::munlock(seg.addr(), seg.len()).map_err(step(5))?;
    g::reclaim(1000).map_err(step(6))?;
    if g::resident(seg.addr(), PAGES) != Some(true) || !g::shm_stat(id).map_err(step(7))?.locked() {
        return Err((8, Errno::EINVAL));
    }
    if (0..PAGES).any(|i| seg.bytes()[i * p] != 0x40 + i as u8) {
        return Err((9, Errno::EINVAL));
    }
    if g::shm_stat(id).map_err(step(10))?.nattch != 2 {
        return Err((11, Errno::EINVAL));
    }
    g::barrier().map_err(step(12))?;
    if me == 1 {
        g::shm_unlock(id).map_err(step(13))?;
        g::reclaim(1000).map_err(step(14))?;
        if g::resident(seg.addr(), PAGES) != Some(false) {
            return Err((15, Errno::EINVAL));
        }
    }
    g::barrier().map_err(step(16))?;
    drop(seg);
    if me == 0 {
        g::shm_remove(id).map_err(step(17))?;
    }
    Ok(())
}

/// The test's entry: 0 when every step held, else the step that failed.
#[export_name = "main"]
pub extern "C" fn vmm_main() -> i32 {
    match run() {
        Ok(()) => 0,
        Err((step, e)) => g::fail("shm_lock_shared", step, e),
    }
}
