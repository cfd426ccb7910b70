//! The fault registry holds at most `MAX_VIEWS` guest memories in one process; the next one is
//! refused with a message that says so, and freeing one makes room again. Its own test binary,
//! since the registry is process-wide.

use vmm::vm::pmap::{PagingMode, MAX_VIEWS};
use vmm::{GuestConfig, Machine, MachineConfig, SwapBacking};

#[test]
fn guest_memories_beyond_the_registry_get_a_clear_error() {
    vmm::vm::host::signals::install();
    let mut cfg = MachineConfig::default()
        .phys_mem(64 * 4096)
        .swap(64 * 4096)
        .swap_backing(SwapBacking::Memory)
        .space(1 << 20);
    // Protection faults need no descriptor per view.
    cfg.paging = Some(PagingMode::Protect);
    let m = Machine::new(cfg).unwrap();
    let mut views = Vec::new();
    for i in 0..MAX_VIEWS {
        let g = m.add_guest(GuestConfig::default()).unwrap();
        let v = m
            .create_view(g, 1 << 16)
            .unwrap_or_else(|e| panic!("view {i} of {MAX_VIEWS}: {e}"));
        views.push((g, v));
    }
    let g = m.add_guest(GuestConfig::default()).unwrap();
    let err = m.create_view(g, 1 << 16).unwrap_err().to_string();
    assert!(
        err.contains(&format!("at most {MAX_VIEWS}")),
        "unclear error: {err}"
    );
    let (old, v) = views.pop().unwrap();
    m.drop_view(old);
    drop(v);
    m.create_view(g, 1 << 16).expect("a freed slot is reused");
    m.audit().unwrap();
}
