//! The fuzzers' seed corpus (and whatever `cargo fuzz` has added to `fuzz/corpus/`), run as an
//! ordinary test, plus a bounded pseudo-random pass over each decoder so CI explores beyond the
//! seeds even where libFuzzer cannot be built.

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect()
}

/// xorshift64*: reproducible bytes without a dependency.
fn bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.max(1);
    (0..n)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

#[test]
fn call_sequence_corpus_keeps_the_audit() {
    let seeds = corpus("calls");
    assert!(seeds.len() >= 7);
    let mut steps = 0;
    for (name, data) in &seeds {
        for mode in vmm::callseq::checked_modes() {
            let out = vmm::callseq::run_under(data, mode)
                .unwrap_or_else(|e| panic!("{name} under {mode}: {e}"));
            steps += out.steps;
        }
    }
    // The seed that replays the original bug runs every step, each accepted.
    let seed = seeds
        .iter()
        .find(|(n, _)| n.ends_with("seed_shm_lock_munlock_unlock_twice"))
        .unwrap();
    let out = vmm::callseq::run(&seed.1).unwrap();
    assert_eq!((out.steps, out.refused), (8, 0));
    let (mut runs, mut random_steps, mut deaths) = (0, 0, 0);
    for i in 0..400 {
        for mode in vmm::callseq::checked_modes() {
            let out = vmm::callseq::run_under(&bytes(i, 8 * 60), mode)
                .unwrap_or_else(|e| panic!("random input {i} under {mode}: {e}"));
            runs += 1;
            random_steps += out.steps;
            deaths += out.deaths;
        }
    }
    eprintln!(
        "{} corpus inputs under every checked rule set ({steps} steps) and {runs} random sequences ({random_steps} steps, {deaths} guest deaths): audit clean throughout",
        seeds.len()
    );
}

#[test]
fn guest_argument_corpus_keeps_the_promise() {
    let seeds = corpus("guest_args");
    assert!(seeds.len() >= 4);
    for (name, data) in &seeds {
        vmm_cli::hostile::run(data).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let mut calls = 0;
    for i in 0..40 {
        let out = vmm_cli::hostile::run(&bytes(i + 1000, 600))
            .unwrap_or_else(|e| panic!("random input {i}: {e}"));
        calls += out.calls;
    }
    assert!(calls > 1000, "{calls}");
}
