# Everyday recipes. `just --list` shows them.

# Build everything (release).
build:
    cargo build --release --workspace

# The README's test command: every unit, scenario, property, guest and spec test.
test:
    ./setup
    rm -f target/vmm-skips.log
    VMM_SKIP_LOG="$PWD/target/vmm-skips.log" cargo test --workspace --no-fail-fast; s=$?; echo "$(cat target/vmm-skips.log 2>/dev/null | wc -l) tests skipped"; cat target/vmm-skips.log 2>/dev/null; exit $s

# The main job: every guest test module, each in a fresh machine.
guests *ARGS:
    ./setup
    cargo run --release -p vmm-cli -- test {{ARGS}} guests

# The WebAssembly spec scripts under constant paging.
wast:
    cargo run --release -p vmm-cli -- wast --phys-mem 32K --evict-each guests/spec/*.wast

# The model-based property test with many cases (CASES=100000 by default, about 40 s).
proptest CASES="100000":
    PROPTEST_CASES={{CASES}} cargo test --release -p vmm --test model

# Formatting and lints, as CI would want them.
# Every portable program built natively and as guests, outputs compared (the host kernel as oracle).
diff *ARGS:
    cargo run --release -q -p vmm-cli -- diff {{ARGS}} guests/posix/*.c

# The report screenshot of docs/seeing-inside.md: one wiring interaction under the fix and the old rules.
report-screenshot:
    cargo run --release -q -p vmm-cli -- test -q --semantics netbsd-2019 --report target/report guests/wiring-interactions/one_locks_other_unlocks.c
    chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,900 --screenshot=docs/report.png "file://$PWD/target/report/guests_wiring-interactions_one_locks_other_unlocks.c.html"

# The VM core's import graph: fails on a cycle and prints the layers.
layers:
    cargo test -p vmm --test layers -- --nocapture

lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Every benchmark, ours next to the host kernel's, then the table of docs/benchmarks.md (a full run: ~25 min).
bench *ARGS:
    cargo bench -p vmm-benches {{ARGS}}
    python3 benches/report.py

# The same with short samples (a few minutes on 2 cores).
bench-quick *ARGS:
    VMM_BENCH_QUICK=1 cargo bench -p vmm-benches {{ARGS}}
    python3 benches/report.py

# The original bug replayed: every wiring-interactions scenario under the old and the new rules.
replay:
    cargo run --release -p vmm-cli -- test -q --semantics netbsd-2019 guests/wiring-interactions

# Fuzz one target with libFuzzer (calls or guest_args) for SECS seconds; new inputs join the corpus.
fuzz TARGET="calls" SECS="300":
    command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
    cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -s none {{TARGET}} -- -max_total_time={{SECS}}

# The concurrency stress test as a long soak.
soak ROUNDS="30000":
    STRESS_ROUNDS={{ROUNDS}} cargo test --release -p vmm --test stress -- --nocapture
