//! The VM core's modules form layers: no module imports, directly or through others, a module
//! that imports it.
//!
//! Read from the sources: a module depends on every module it names as `crate::m` (or, in
//! `runtime/`, `super::`), in library code rather than comments or unit tests, with the crate root's re-exports
//! (`crate::Machine`) resolved to the module that defines them. Operations on the machine state
//! live in traits (`Fault`, `WireOps`, `MmapCalls`, ...) that a caller must import, so this
//! reading sees every dependency; the second test keeps it that way by refusing public inherent
//! methods on `State` or `Machine` outside their own modules.
//!
//! Run it alone with `cargo test -p vmm --test layers` (or `just layers`); on failure it prints
//! the cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module name → its source, for every module of `vmm/src` (runtime's submodules as
/// `runtime::name`).
fn modules() -> BTreeMap<String, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    for dir in [src.clone(), src.join("runtime")] {
        for f in std::fs::read_dir(&dir).unwrap() {
            let p = f.unwrap().path();
            if p.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let stem = p.file_stem().unwrap().to_str().unwrap().to_string();
            let name = match (dir == src, stem.as_str()) {
                (true, "lib" | "main") => continue,
                (true, _) => stem,
                (false, "mod") => "runtime".to_string(),
                (false, _) => format!("runtime::{stem}"),
            };
            out.insert(name, std::fs::read_to_string(&p).unwrap());
        }
    }
    out
}

/// The library code of a source: without its unit tests (the `#[cfg(test)]` module at the
/// bottom of a file, which may use higher layers such as the audit to check this one), comments
/// (the crate uses no block comments) and string literals' contents.
fn code(src: &str) -> String {
    let src = src.split("#[cfg(test)]\nmod tests").next().unwrap_or(src);
    let mut out = String::new();
    for line in src.lines() {
        let mut in_str = false;
        let mut prev = ' ';
        let mut kept = String::new();
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if !in_str && c == '/' && chars.get(i + 1) == Some(&'/') {
                break;
            }
            if c == '"' && prev != '\\' && !(prev == '\'' && chars.get(i + 1) == Some(&'\'')) {
                in_str = !in_str;
            }
            if !in_str {
                kept.push(c);
            }
            prev = c;
            i += 1;
        }
        out.push_str(&kept);
        out.push('\n');
    }
    out
}

/// Names the crate root re-exports, and the module each comes from (`Machine` → `machine`).
fn reexports(lib: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let flat = code(lib).replace('\n', " ");
    for stmt in flat.split(';') {
        let Some(rest) = stmt.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, names)) = rest.split_once("::") else {
            continue;
        };
        let names = names.trim().trim_start_matches('{').trim_end_matches('}');
        for n in names.split(',') {
            let n = n.trim();
            if !n.is_empty() {
                out.insert(n.to_string(), module.trim().to_string());
            }
        }
    }
    out
}

fn idents_after(code: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let id: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.push(id);
            }
        } else {
            out.push(
                rest.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect(),
            );
        }
    }
    out
}

/// Module → the modules it depends on.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mods = modules();
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let re = reexports(&lib);
    let top: BTreeSet<String> = mods
        .keys()
        .map(|m| m.split("::").next().unwrap().to_string())
        .collect();
    let mut g = BTreeMap::new();
    for (name, src) in &mods {
        let c = code(src);
        let mut deps = BTreeSet::new();
        for id in idents_after(&c, "crate::") {
            let target = if id == "runtime" {
                // `crate::runtime::x::...`: the submodule when named.
                "runtime".to_string()
            } else if top.contains(&id) {
                id
            } else if let Some(m) = re.get(&id) {
                m.clone()
            } else {
                panic!("{name}: `crate::{id}` is neither a module nor a root re-export");
            };
            deps.insert(target);
        }
        if name.starts_with("runtime::") {
            for id in idents_after(&c, "super::") {
                let sub = format!("runtime::{id}");
                deps.insert(if mods.contains_key(&sub) {
                    sub
                } else {
                    "runtime".to_string()
                });
            }
        }
        deps.remove(name);
        g.insert(name.clone(), deps);
    }
    g
}

/// A cycle through `start`, if there is one.
fn cycle_from(g: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    fn walk(
        g: &BTreeMap<String, BTreeSet<String>>,
        start: &str,
        node: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for d in g.get(node).into_iter().flatten() {
            if d == start {
                path.push(d.clone());
                return true;
            }
            if seen.insert(d.clone()) {
                path.push(d.clone());
                if walk(g, start, d, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_string()];
    let mut seen = BTreeSet::new();
    walk(g, start, start, &mut path, &mut seen).then_some(path)
}

#[test]
fn no_module_imports_a_module_that_imports_it() {
    let g = graph();
    assert!(g.len() > 20, "found only {} modules", g.len());
    let cycles: Vec<String> = g
        .keys()
        .filter_map(|m| cycle_from(&g, m))
        .map(|c| c.join(" → "))
        .collect();
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
    // The layer each module sits in: one more than the highest of what it imports.
    fn depth(g: &BTreeMap<String, BTreeSet<String>>, m: &str) -> usize {
        g[m].iter().map(|d| depth(g, d) + 1).max().unwrap_or(0)
    }
    let mut layers: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for m in g.keys() {
        layers.entry(depth(&g, m)).or_default().push(m);
    }
    for (d, ms) in &layers {
        println!("layer {d}: {}", ms.join(", "));
    }
}

#[test]
fn the_core_sits_below_the_machine_and_the_wasm_edge() {
    let g = graph();
    let below = |m: &str, other: &str| cycle_from(&g, m).is_none() && !reaches(&g, m, other);
    fn reaches(g: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) -> bool {
        let mut stack = vec![from.to_string()];
        let mut seen = BTreeSet::new();
        while let Some(n) = stack.pop() {
            if n == to {
                return true;
            }
            if seen.insert(n.clone()) {
                stack.extend(g[&n].iter().cloned());
            }
        }
        false
    }
    for m in ["addr", "errno", "limits", "types"] {
        for d in &g[m] {
            assert!(["addr", "errno"].contains(&d.as_str()), "{m} imports {d}");
        }
    }
    for m in [
        "host", "wire", "map", "page", "swap", "amap", "object", "segment", "state",
    ] {
        for upper in [
            "pmap",
            "pdaemon",
            "fault",
            "wiring",
            "semantics",
            "mmap",
            "shm",
            "machine",
        ] {
            assert!(below(m, upper), "{m} reaches {upper}");
        }
    }
    for m in g
        .keys()
        .filter(|m| !m.starts_with("runtime") && *m != "callseq")
    {
        assert!(!reaches(&g, m, "runtime"), "{m} reaches the wasm runtime");
    }
}

#[test]
fn state_and_machine_methods_are_public_only_in_their_own_modules() {
    // A public inherent method defined elsewhere could be called without importing its module,
    // hiding a dependency from the check above; operations are traits instead.
    for (name, src) in modules() {
        for (ty, home) in [("State", "state"), ("Machine", "machine")] {
            if name == home {
                continue;
            }
            let mut inside = false;
            for line in src.lines() {
                if line == format!("impl {ty} {{") {
                    inside = true;
                } else if inside && line == "}" {
                    inside = false;
                } else if inside && line.trim_start().starts_with("pub") {
                    panic!(
                        "{name}: public method on {ty} outside `{home}`: {}",
                        line.trim()
                    );
                }
            }
        }
    }
}
