//! Criterion benchmarks for vmm live in `benches/`.
