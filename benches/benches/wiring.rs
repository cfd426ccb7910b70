//! Wiring and paging benchmarks, each next to the host kernel doing the same where it can.
//!
//! `cargo bench -p vmm-benches` (or `just bench`); `VMM_BENCH_QUICK=1` for a quick pass.
//! `python3 benches/report.py` turns the results into the table of ratios in docs/benchmarks.md.

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use std::time::{Duration, Instant};
use vmm::runtime::{run_guests, GuestSpec, Runtime};
use vmm::{
    FaultAhead, GuestConfig, GuestId, Machine, MachineConfig, MapFlags, MlockallFlags, Prot,
    ShmCmd, SwapBacking, Vaddr,
};
use vmm_benches::{native_wiring_allowed, sigsegv_roundtrips, BenchGuest, HostRegion, HostSegment};

const P: u64 = 4096;
const SIZES: [u64; 4] = [1, 16, 256, 4096];
const ANON: MapFlags = MapFlags::ANON.union(MapFlags::PRIVATE);

fn machine(frames: u64) -> Machine {
    Machine::new(
        MachineConfig::default()
            .phys_mem(frames * P)
            .wired_max(frames * P)
            .swap(4 * frames * P)
            .swap_backing(SwapBacking::Memory),
    )
    .expect("machine")
}

/// A guest with `pages` mapped and resident pages at the returned address.
fn resident(m: &Machine, pages: u64) -> (GuestId, Vaddr) {
    let g = m.add_guest(GuestConfig::default()).unwrap();
    let a = m.mmap(g, Vaddr(0), pages * P, Prot::RW, ANON).unwrap();
    for i in 0..pages {
        m.write(g, Vaddr(a.0 + i * P), &[1]).unwrap();
    }
    (g, a)
}

/// 1. mlock+munlock pairs on resident ranges: core API, guest host calls, host kernel.
fn mlock_munlock(c: &mut Criterion) {
    let native = native_wiring_allowed();
    let rt = Runtime::new().unwrap();
    let mut grp = c.benchmark_group("mlock_munlock_resident");
    for pages in SIZES {
        grp.throughput(Throughput::Elements(pages));
        let m = machine(2 * pages + 64);
        let (g, a) = resident(&m, pages);
        grp.bench_with_input(BenchmarkId::new("core", pages), &pages, |b, _| {
            b.iter(|| {
                m.mlock(g, a, pages * P).unwrap();
                m.munlock(g, a, pages * P).unwrap();
            })
        });
        let mut guest = BenchGuest::new(&rt, &m).unwrap();
        let ga = guest.setup((pages * P) as u32);
        grp.bench_with_input(BenchmarkId::new("guest", pages), &pages, |b, _| {
            b.iter_custom(|iters| guest.lock_loop(ga, (pages * P) as u32, iters))
        });
        if native {
            let r = HostRegion::resident(pages as usize);
            grp.bench_with_input(BenchmarkId::new("native", pages), &pages, |b, _| {
                b.iter(|| {
                    r.mlock().unwrap();
                    r.munlock().unwrap();
                })
            });
        }
    }
    grp.finish();
}

/// 2. SHM_LOCK+SHM_UNLOCK of a segment attached by 1 and by 8 guests.
fn shm_lock_unlock(c: &mut Criterion) {
    let mut grp = c.benchmark_group("shm_lock_unlock");
    // 1,000 attachers at the smallest and largest size only (what matters is that the cost does
    // not follow them).
    for (attachers, sizes) in [
        (1usize, &SIZES[..]),
        (8, &SIZES[..]),
        (1000, &[1, 4096][..]),
    ] {
        for &pages in sizes {
            grp.throughput(Throughput::Elements(pages));
            let m = machine(2 * pages + 64);
            let gs: Vec<_> = (0..attachers)
                .map(|_| m.add_guest(GuestConfig::default()).unwrap())
                .collect();
            let id = m.shmget(gs[0], 0, pages * P, 0o600).unwrap();
            for &g in &gs {
                let at = m.shmat(g, id, Vaddr(0), 0).unwrap();
                m.write(g, at, &[1]).unwrap();
            }
            let label = format!("{pages}p x{attachers}");
            grp.bench_function(BenchmarkId::new("core", &label), |b| {
                b.iter(|| {
                    m.shmctl(gs[0], id, ShmCmd::Lock).unwrap();
                    m.shmctl(gs[0], id, ShmCmd::Unlock).unwrap();
                })
            });
            match HostSegment::new(pages as usize, attachers) {
                Ok(seg) => {
                    grp.bench_function(BenchmarkId::new("native", &label), |b| {
                        b.iter(|| seg.lock_unlock().unwrap())
                    });
                }
                Err(e) => eprintln!("note: no host SysV segment ({e}); native SHM_LOCK skipped"),
            }
        }
    }
    grp.finish();
}

/// 3. mlock+munlock of a range SHM_LOCK already wires: no page work, flat in the size.
fn mlock_of_shm_locked(c: &mut Criterion) {
    let mut grp = c.benchmark_group("mlock_of_shm_locked");
    for pages in SIZES {
        let m = machine(2 * pages + 64);
        let g = m.add_guest(GuestConfig::default()).unwrap();
        let id = m.shmget(g, 0, pages * P, 0o600).unwrap();
        let at = m.shmat(g, id, Vaddr(0), 0).unwrap();
        m.shmctl(g, id, ShmCmd::Lock).unwrap();
        grp.bench_with_input(BenchmarkId::new("core", pages), &pages, |b, _| {
            b.iter(|| {
                m.mlock(g, at, pages * P).unwrap();
                m.munlock(g, at, pages * P).unwrap();
            })
        });
    }
    grp.finish();
}

/// Guest with `n` one-page entries that cannot merge (alternating protection), all resident.
fn many_entries(m: &Machine, n: u64, pages_each: u64) -> (GuestId, Vaddr) {
    let g = m.add_guest(GuestConfig::default()).unwrap();
    let a = m
        .mmap(g, Vaddr(0), n * pages_each * P, Prot::RW, ANON)
        .unwrap();
    for i in (1..n).step_by(2) {
        m.mprotect(
            g,
            Vaddr(a.0 + i * pages_each * P),
            pages_each * P,
            Prot::READ,
        )
        .unwrap();
    }
    (g, a)
}

/// 4. mlockall(MCL_CURRENT)+munlockall with many entries.
fn mlockall(c: &mut Criterion) {
    let mut grp = c.benchmark_group("mlockall_munlockall");
    grp.sample_size(10);
    for n in [1u64, 64, 1024, 65536] {
        grp.throughput(Throughput::Elements(n));
        let m = machine(n + 64);
        let (g, a) = many_entries(&m, n, 1);
        for i in 0..n {
            m.read(g, Vaddr(a.0 + i * P), &mut [0]).unwrap();
        }
        grp.bench_with_input(BenchmarkId::new("core", n), &n, |b, _| {
            b.iter(|| {
                m.mlockall(g, MlockallFlags::CURRENT).unwrap();
                m.munlockall(g).unwrap();
            })
        });
    }
    grp.finish();
}

/// 5. Wiring a non-resident range: every page faults in first.
fn wire_nonresident(c: &mut Criterion) {
    let native = native_wiring_allowed();
    let pages = 256u64;
    let mut grp = c.benchmark_group("wire_nonresident");
    grp.throughput(Throughput::Elements(pages));
    let m = machine(2 * pages + 64);
    let (g, a) = resident(&m, pages);
    grp.bench_function("core_from_swap", |b| {
        b.iter_batched(
            || m.reclaim(usize::MAX),
            |_| {
                m.mlock(g, a, pages * P).unwrap();
                m.munlock(g, a, pages * P).unwrap();
            },
            BatchSize::PerIteration,
        )
    });
    if native {
        grp.bench_function("native_zero_fill", |b| {
            b.iter_batched(
                || HostRegion::fresh(pages as usize),
                |r| {
                    r.mlock().unwrap();
                    r.munlock().unwrap();
                    r
                },
                BatchSize::PerIteration,
            )
        });
    }
    grp.finish();
}

/// 6. Demand page-in by a guest load, eviction, reclaim rate; a plain SIGSEGV round trip.
fn paging(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let pages = 256u64;
    let mut grp = c.benchmark_group("paging");
    grp.throughput(Throughput::Elements(pages));
    // One fault per page, then UVM's fault-ahead window (the default): a sequential pass over
    // 256 paged-out pages either way.
    for (name, ahead) in [
        ("guest_page_in_one_per_fault", FaultAhead::OFF),
        ("guest_page_in", FaultAhead::NORMAL),
        (
            "guest_page_in_ahead_16",
            FaultAhead {
                back: 0,
                forward: 16,
                sequential_max: 16,
            },
        ),
    ] {
        let m = Machine::new(
            MachineConfig::default()
                .phys_mem((2 * pages + 64) * P)
                .swap(8 * pages * P)
                .swap_backing(SwapBacking::Memory)
                .fault_ahead(ahead),
        )
        .expect("machine");
        let mut guest = BenchGuest::new(&rt, &m).unwrap();
        let a = guest.setup((pages * P) as u32);
        grp.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut t = Duration::ZERO;
                for _ in 0..iters {
                    m.reclaim(usize::MAX);
                    t += guest.touch(a, (pages * P) as u32);
                }
                t
            })
        });
    }
    let m = machine(2 * pages + 64);
    let mut guest = BenchGuest::new(&rt, &m).unwrap();
    let a = guest.setup((pages * P) as u32);
    grp.bench_function("evict", |b| {
        b.iter_custom(|iters| {
            let mut t = Duration::ZERO;
            for _ in 0..iters {
                guest.touch(a, (pages * P) as u32);
                let s = Instant::now();
                m.reclaim(usize::MAX);
                t += s.elapsed();
            }
            t
        })
    });
    grp.bench_function("native_sigsegv_roundtrip", |b| {
        b.iter_custom(|iters| sigsegv_roundtrips(iters * pages))
    });
    grp.finish();
}

/// 7. Map operations with 10, 1000 and 100000 entries.
fn map_ops(c: &mut Criterion) {
    let mut grp = c.benchmark_group("map_ops");
    for n in [10u64, 1000, 100_000] {
        let m = machine(256);
        let (g, a) = many_entries(&m, n, 4);
        let mid = Vaddr(a.0 + (n / 2) * 4 * P + P);
        grp.bench_with_input(BenchmarkId::new("lookup", n), &n, |b, _| {
            b.iter(|| m.page_info(g, mid).unwrap())
        });
        grp.bench_with_input(BenchmarkId::new("clip_merge", n), &n, |b, _| {
            let orig = m
                .entries(g)
                .unwrap()
                .iter()
                .find(|e| e.range().contains(mid.vpn()))
                .unwrap()
                .prot();
            let other = if orig == Prot::RW {
                Prot::READ
            } else {
                Prot::RW
            };
            b.iter(|| {
                m.mprotect(g, mid, P, other).unwrap();
                m.mprotect(g, mid, P, orig).unwrap();
            })
        });
        grp.bench_with_input(BenchmarkId::new("mlock_one_page", n), &n, |b, _| {
            b.iter(|| {
                m.mlock(g, mid, P).unwrap();
                m.munlock(g, mid, P).unwrap();
            })
        });
    }
    grp.finish();
}

/// 8. N guests on threads hammering lock/unlock of one shared segment.
fn scaling(c: &mut Criterion) {
    let mut grp = c.benchmark_group("scaling_shared_segment");
    let pages = 16u64;
    for n in [1usize, 2, 4, 8] {
        grp.throughput(Throughput::Elements(n as u64));
        let m = machine(256);
        let gs: Vec<_> = (0..n)
            .map(|_| m.add_guest(GuestConfig::default()).unwrap())
            .collect();
        let id = m.shmget(gs[0], 0, pages * P, 0o600).unwrap();
        let ats: Vec<_> = gs
            .iter()
            .map(|&g| m.shmat(g, id, Vaddr(0), 0).unwrap())
            .collect();
        grp.bench_with_input(BenchmarkId::new("mlock_munlock", n), &n, |b, _| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                std::thread::scope(|s| {
                    for (g, at) in gs.iter().zip(&ats) {
                        let m = &m;
                        s.spawn(move || {
                            for _ in 0..iters {
                                m.mlock(*g, *at, pages * P).unwrap();
                                m.munlock(*g, *at, pages * P).unwrap();
                            }
                        });
                    }
                });
                t.elapsed()
            })
        });
    }
    grp.finish();
}

/// 9. Many guests faulting at once: each of 1, 2, 4 and 8 guests, on its own thread, loads a
///    word from every page of its 256 paged-out pages; pages brought in per second, all
///    guests together (the workload that sank wasmtime's own userfaultfd allocator).
fn parallel_faults(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let pages = 256u64;
    let mut grp = c.benchmark_group("parallel_faults");
    for n in [1u64, 2, 4, 8] {
        grp.throughput(Throughput::Elements(n * pages));
        let m = machine(n * pages + 64);
        let mut guests: Vec<(BenchGuest, u32)> = (0..n)
            .map(|_| {
                let mut g = BenchGuest::new(&rt, &m).unwrap();
                let a = g.setup((pages * P) as u32);
                (g, a)
            })
            .collect();
        grp.bench_with_input(BenchmarkId::new("guests", n), &n, |b, _| {
            b.iter_custom(|iters| {
                let mut t = Duration::ZERO;
                for _ in 0..iters {
                    m.reclaim(usize::MAX);
                    let s = Instant::now();
                    std::thread::scope(|sc| {
                        for (g, a) in guests.iter_mut() {
                            sc.spawn(move || g.touch(*a, (pages * P) as u32));
                        }
                    });
                    t += s.elapsed();
                }
                t
            })
        });
    }
    grp.finish();
}

/// 11. Guest start and exit, per guest: 16 guests of a module that touches one page and
///     returns, run as one machine's guests (a thread, a view, an instance and an exit each),
///     next to wasmtime instantiating and calling the same module 16 times on its own default
///     engine (no threads, no VM).
fn guest_start(c: &mut Criterion) {
    const WAT: &str = r#"(module (memory 1)
        (func (export "main") (result i32) (i32.store (i32.const 64) (i32.const 1)) (i32.const 0)))"#;
    const N: usize = 16;
    let rt = Runtime::new().unwrap();
    let module = rt.compile(WAT.as_bytes()).unwrap();
    let m = machine(4 * N as u64 + 64);
    let mut grp = c.benchmark_group("guest_start");
    grp.throughput(Throughput::Elements(N as u64));
    grp.bench_function("vmm_run_guests", |b| {
        b.iter(|| {
            let specs = (0..N).map(|_| GuestSpec::new(module.clone())).collect();
            let out = run_guests(&rt, &m, specs, |_, _| {});
            assert!(out.iter().all(|o| o.succeeded()));
        })
    });
    let engine = wasmtime::Engine::default();
    let plain = wasmtime::Module::new(&engine, WAT).unwrap();
    grp.bench_function("wasmtime_instantiate", |b| {
        b.iter(|| {
            for _ in 0..N {
                let mut store = wasmtime::Store::new(&engine, ());
                let i = wasmtime::Instance::new(&mut store, &plain, &[]).unwrap();
                let main = i.get_typed_func::<(), i32>(&mut store, "main").unwrap();
                assert_eq!(main.call(&mut store, ()).unwrap(), 0);
            }
        })
    });
    grp.finish();
}

/// 10. Reports: what recording the run's events costs 100,000 calls, and writing a report of
///     a full event buffer (gathering it from the machine and rendering the page).
fn report(c: &mut Criterion) {
    use vmm::runtime::snapshots::Collector;
    use vmm_cli::report::{render, RunReport, EVENTS};
    let mut grp = c.benchmark_group("report");
    grp.sample_size(10);
    for recording in [false, true] {
        let name = if recording { "recording" } else { "plain" };
        grp.bench_function(BenchmarkId::new("calls_100k", name), |b| {
            b.iter_batched(
                || {
                    let m = machine(64);
                    if recording {
                        m.record_events(EVENTS);
                    }
                    let (g, a) = resident(&m, 1);
                    (m, g, a)
                },
                |(m, g, a)| {
                    for _ in 0..50_000 {
                        m.mlock(g, a, P).unwrap();
                        m.munlock(g, a, P).unwrap();
                    }
                    m
                },
                BatchSize::PerIteration,
            )
        });
    }
    let m = machine(64);
    m.record_events(EVENTS);
    let (g, a) = resident(&m, 1);
    for _ in 0..50_000 {
        m.mlock(g, a, P).unwrap();
        m.munlock(g, a, P).unwrap();
    }
    let col = Collector::new();
    col.snapshot(&m, "end");
    grp.bench_function("write_full_buffer", |b| {
        b.iter(|| {
            let r = RunReport::gather("bench", m.config().semantics, 1, &m, &col, vec![]);
            render(std::slice::from_ref(&r)).len()
        })
    });
    grp.finish();
}

fn config() -> Criterion {
    let c = Criterion::default().configure_from_args();
    if std::env::var_os("VMM_BENCH_QUICK").is_some() {
        c.warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1))
            .sample_size(10)
    } else {
        c
    }
}

criterion_group! {
    name = benches;
    config = config();
    targets = mlock_munlock, shm_lock_unlock, mlock_of_shm_locked, mlockall, wire_nonresident, paging, parallel_faults, map_ops, scaling, report, guest_start
}
criterion_main!(benches);
