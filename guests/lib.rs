//! Guest test modules live beside this file; `tests/` runs them through the vmm runtime.
