//! POSIX locking from a Rust guest: mlock twice and munlock once unlocks; a locked range stays
//! resident through reclaim and leaves once unlocked; mlock of a hole is ENOMEM and of a
//! PROT_NONE mapping EINVAL, changing nothing.
#![no_std]

use guest_abi::guest::{self as g, Errno, Mapping, Prot};

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

fn run() -> Result<(), (u32, Errno)> {
    let step = |n: u32| move |e: Errno| (n, e);
    let p = g::page_size();
    let mut m = Mapping::anonymous(4 * p, Prot::RW).map_err(step(1))?;
    for (i, b) in m.bytes().iter_mut().enumerate().step_by(p) {
        *b = i as u8 ^ 0x5a;
    }
    g::mlock(m.addr(), m.len()).map_err(step(2))?;
    g::mlock(m.addr(), m.len()).map_err(step(3))?;
    g::reclaim(1000).map_err(step(4))?;
    if g::resident(m.addr(), 4) != Some(true) {
        return Err((5, Errno::EINVAL));
    }
    g::munlock(m.addr(), m.len()).map_err(step(6))?;
    g::reclaim(1000).map_err(step(7))?;
    if g::resident(m.addr(), 4) != Some(false) {
        return Err((8, Errno::EINVAL));
    }
    // The data comes back with the pages.
    if m.bytes()
        .iter()
        .enumerate()
        .step_by(p)
        .any(|(i, b)| *b != i as u8 ^ 0x5a)
    {
        return Err((9, Errno::EINVAL));
    }
    let end = m.addr() + m.len();
    drop(m);
    if g::mlock(end - p, p) != Err(Errno::ENOMEM) {
        return Err((10, Errno::EINVAL));
    }
    let none = Mapping::anonymous(p, Prot::NONE).map_err(step(11))?;
    if g::mlock(none.addr(), p) != Err(Errno::EINVAL) {
        return Err((12, Errno::EINVAL));
    }
    Ok(())
}

/// The test's entry: 0 when every step held, else the step that failed.
#[export_name = "main"]
pub extern "C" fn vmm_main() -> i32 {
    match run() {
        Ok(()) => 0,
        Err((step, e)) => g::fail("mlock_munlock", step, e),
    }
}
