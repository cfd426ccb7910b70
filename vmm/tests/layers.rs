//! The library's folders are its layers, and this file holds the one table of what each may
//! import ([`FOLDERS`]). Within the table, no module imports, directly or through others, a
//! module that imports it; and outside `rules/` no code names a particular rule set.
//!
//! Read from the sources: a module depends on every module it names as `crate::a::b` (or as
//! `super::x` from a folder's file), in library code rather than comments, string literals or
//! unit tests, with the crate root's re-exports (`crate::Machine`) resolved to the module that
//! defines them. Operations on the machine state are functions or traits a caller must import,
//! so this reading sees every dependency; the last test keeps it that way by refusing public
//! inherent methods on `State`, `Machine` or `Semantics` outside their own modules.
//!
//! Run it alone with `cargo test -p vmm --test layers` (or `just layers`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layers, bottom first: each folder (or top-level module) and what it may import besides
/// itself. A module of a folder may import any module of the folders listed, and of its own
/// folder when that creates no cycle.
const FOLDERS: &[(&str, &[&str], &str)] = &[
    (
        "base",
        &[],
        "addresses, errno, limits, plain types, the call log and event records",
    ),
    (
        "vm",
        &["base"],
        "map, amap, objects, pages, swap, segments, pagedaemon, fault, pmap, wiring; host memory in vm::host",
    ),
    (
        "rules",
        &["base", "vm"],
        "one file per rule set: its values (Policy) and its code (Rules)",
    ),
    (
        "calls",
        &["base", "vm", "rules"],
        "the calls guests make: mmap family, shm, unmap",
    ),
    (
        "diag",
        &["base", "vm", "rules", "calls"],
        "audit, dumps, fuzz call sequences",
    ),
    (
        "machine",
        &["base", "vm", "rules", "calls", "diag"],
        "the machine handle: one lock, the call log, the pagedaemon thread",
    ),
    (
        "callseq",
        &["base", "vm", "rules", "calls", "diag", "machine"],
        "bytes decoded into multi-guest call sequences, for fuzzing",
    ),
    (
        "runtime",
        &["base", "vm", "rules", "calls", "diag", "machine", "callseq"],
        "the wasm edge: guest memories, host functions, guest threads, running guests",
    ),
];

/// The modules allowed `#![allow(unsafe_code)]`: host memory and its signal handlers, and the
/// wasm edge's memory and threads.
const UNSAFE: &[&str] = &[
    "vm::host",
    "vm::host::signals",
    "runtime::memory",
    "runtime::thread",
];

/// Module path (`vm::state`, `rules`, `runtime::abi`) → its source, for every module of
/// `vmm/src` but the crate root and the binary.
fn modules() -> BTreeMap<String, String> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<String, String>) {
        for f in std::fs::read_dir(dir).unwrap() {
            let p = f.unwrap().path();
            let stem = p.file_stem().unwrap().to_str().unwrap().to_string();
            if p.is_dir() {
                let mut sub = prefix.to_vec();
                sub.push(stem);
                walk(&p, &sub, out);
                continue;
            }
            if p.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let mut path = prefix.to_vec();
            match stem.as_str() {
                "lib" | "main" if prefix.is_empty() => continue,
                "mod" => {}
                _ => path.push(stem),
            }
            let src = std::fs::read_to_string(&p).unwrap();
            // A module declared `#[cfg(test)]` in its folder is a test, as a `mod tests` is.
            let parent = std::fs::read_to_string(dir.join("mod.rs")).unwrap_or_default();
            if parent.contains(&format!("#[cfg(test)]\nmod {};", path.last().unwrap())) {
                continue;
            }
            out.insert(path.join("::"), src);
        }
    }
    let mut out = BTreeMap::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &[],
        &mut out,
    );
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
        let chars: Vec<char> = line.chars().collect();
        for (i, &c) in chars.iter().enumerate() {
            if !in_str && c == '/' && chars.get(i + 1) == Some(&'/') {
                break;
            }
            if c == '"' && prev != '\\' && !(prev == '\'' && chars.get(i + 1) == Some(&'\'')) {
                in_str = !in_str;
            }
            if !in_str {
                out.push(c);
            }
            prev = c;
        }
        out.push('\n');
    }
    out
}

/// The paths that follow `prefix` in `code`, one per name of a `{...}` group, each as its
/// segments (`crate::vm::{map::Entry, state}` gives `[vm, map, Entry]` and `[vm, state]`).
fn paths_after(code: &str, prefix: &str) -> Vec<Vec<String>> {
    /// The segments at the start of `s`, and whether a `::{` group follows them.
    fn path(s: &str) -> (Vec<String>, Option<&str>) {
        let mut segs = Vec::new();
        let mut rest = s.trim_start();
        loop {
            let id: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if id.is_empty() {
                return (segs, rest.strip_prefix('{'));
            }
            rest = &rest[id.len()..];
            segs.push(id);
            match rest.strip_prefix("::") {
                Some(r) => rest = r,
                None => return (segs, None),
            }
        }
    }
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        match path(rest) {
            (head, Some(group)) => {
                let end = group.find('}').unwrap_or(group.len());
                for part in group[..end].split(',') {
                    let mut p = head.clone();
                    p.extend(path(part).0);
                    out.push(p);
                }
            }
            (head, None) => out.push(head),
        }
    }
    out
}

/// Names the crate root re-exports, and the module each comes from (`Machine` → `machine`).
fn reexports(lib: &str, mods: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for p in paths_after(
        &code(lib).replace("pub use ", "pub use crate::"),
        "use crate::",
    ) {
        if let Some(m) = longest_module(&p, mods) {
            out.insert(p.last().unwrap().clone(), m);
        }
    }
    out
}

/// The longest prefix of `path` that names a module.
fn longest_module(path: &[String], mods: &BTreeMap<String, String>) -> Option<String> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|m| mods.contains_key(m))
}

/// Module → the modules it depends on.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mods = modules();
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let re = reexports(&lib, &mods);
    let mut g = BTreeMap::new();
    for (name, src) in &mods {
        let c = code(src);
        let mut deps = BTreeSet::new();
        for p in paths_after(&c, "crate::") {
            let target = longest_module(&p, &mods)
                .or_else(|| re.get(&p[0]).cloned())
                .unwrap_or_else(|| panic!("{name}: `crate::{}` names no module", p.join("::")));
            deps.insert(target);
        }
        // `super::x` from a folder's file names the folder, or a sibling module.
        if let Some((parent, _)) = name.rsplit_once("::") {
            for p in paths_after(&c, "super::") {
                let sibling = format!("{parent}::{}", p[0]);
                deps.insert(if mods.contains_key(&sibling) {
                    sibling
                } else {
                    parent.to_string()
                });
            }
        }
        deps.remove(name);
        g.insert(name.clone(), deps);
    }
    g
}

/// The folder (first path segment) of a module.
fn folder(m: &str) -> &str {
    m.split("::").next().unwrap()
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
fn each_folder_imports_only_the_folders_below_it() {
    let g = graph();
    assert!(g.len() > 30, "found only {} modules", g.len());
    let mut wrong = Vec::new();
    for (m, deps) in &g {
        let Some((_, may, _)) = FOLDERS.iter().find(|(f, ..)| *f == folder(m)) else {
            wrong.push(format!("{m} is in no folder of the table"));
            continue;
        };
        for d in deps {
            if folder(d) != folder(m) && !may.contains(&folder(d)) {
                wrong.push(format!("{m} imports {d}"));
            }
        }
    }
    let table: Vec<String> = FOLDERS
        .iter()
        .map(|(f, may, what)| format!("  {f:<8} may import {may:?}: {what}"))
        .collect();
    assert!(
        wrong.is_empty(),
        "imports the layer table forbids:\n{}\nthe table:\n{}",
        wrong.join("\n"),
        table.join("\n")
    );
}

#[test]
fn no_module_imports_a_module_that_imports_it() {
    let g = graph();
    let cycles: Vec<String> = g
        .keys()
        .filter_map(|m| cycle_from(&g, m))
        .map(|c| c.join(" → "))
        .collect();
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn outside_rules_no_code_names_a_rule_set() {
    let names = ["Proposed", "Netbsd2019", "Linux", "Freebsd", "Illumos"];
    for (m, src) in modules() {
        if ["rules", "runtime"].contains(&folder(&m)) {
            continue;
        }
        let c = code(src.as_str());
        for n in names {
            assert!(
                !c.contains(&format!("Semantics::{n}")),
                "{m} names the rule set {n}: ask the rule set (`Policy`, `rules::of`) instead"
            );
        }
    }
}

#[test]
fn only_host_memory_and_the_wasm_edge_are_unsafe() {
    for (m, src) in modules() {
        if src.contains("#![allow(unsafe_code)]") {
            assert!(UNSAFE.contains(&m.as_str()), "{m} allows unsafe code");
        }
    }
}

#[test]
fn planting_a_forbidden_import_is_caught() {
    // The reading itself: a `vm` module naming `crate::calls` must show up as that import.
    let mods = modules();
    let src = "use crate::calls::mmap::MapFlags;\nuse crate::base::{addr::Vpn, errno};\n";
    let deps: BTreeSet<_> = paths_after(&code(src), "crate::")
        .into_iter()
        .filter_map(|p| longest_module(&p, &mods))
        .collect();
    assert_eq!(
        deps,
        ["base::addr", "base::errno", "calls::mmap"]
            .map(String::from)
            .into()
    );
}

#[test]
fn state_machine_and_semantics_methods_are_public_only_in_their_own_modules() {
    // A public inherent method defined elsewhere could be called without importing its module,
    // hiding a dependency from the checks above.
    for (name, src) in modules() {
        for (ty, home) in [
            ("State", "vm::state"),
            ("Machine", "machine"),
            ("Semantics", "rules"),
        ] {
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

/// The structs of the VM core (`vm`, `rules`, `calls`, `diag`, `machine`) whose fields may be
/// public: the parts a composition holds side by
/// side (so that an operation can borrow two of them at once), and plain records (settings, a
/// call's argument, a report). Every other field of a VM part is private to its module, with
/// one writer.
const OPEN_FIELDS: &[(&str, &str, &[&str])] = &[
    (
        "vm::state",
        "State",
        &["cfg", "policy", "phys", "shm", "guests", "diag", "views"],
    ),
    ("vm::state", "GuestVm", &["map", "amap"]),
    ("vm::state", "Phys", &["pool", "swap"]),
    ("vm::state", "MachineConfig", &["*"]),
    ("vm::state", "FaultAhead", &["*"]),
    ("vm::state", "GuestConfig", &["*"]),
    ("vm::segment", "NewSegment", &["*"]),
    ("vm::host", "FaultOwner", &["*"]),
    ("calls::process", "CapSets", &["*"]),
    ("machine", "Corruption", &["*"]),
    ("diag::dump", "*", &["*"]),
];

#[test]
fn the_parts_fields_are_private_to_their_modules() {
    let open = |m: &str, ty: &str, field: &str| {
        OPEN_FIELDS.iter().any(|(om, oty, fields)| {
            *om == m
                && (*oty == "*" || *oty == ty)
                && fields.iter().any(|f| *f == "*" || *f == field)
        })
    };
    let mut found = Vec::new();
    for (m, src) in modules() {
        if !["vm", "rules", "calls", "diag", "machine"].contains(&folder(&m)) {
            continue;
        }
        let mut ty: Option<String> = None;
        for line in code(&src).lines() {
            let t = line.trim_start();
            if let Some(rest) = ["pub struct ", "pub(crate) struct ", "struct "]
                .iter()
                .find_map(|p| t.strip_prefix(p))
            {
                if rest.trim_end().ends_with('{') {
                    ty = Some(
                        rest.split(|c: char| !c.is_alphanumeric() && c != '_')
                            .next()
                            .unwrap()
                            .to_string(),
                    );
                }
                continue;
            }
            if line == "}" {
                ty = None;
                continue;
            }
            let Some(ty) = &ty else { continue };
            let Some(rest) = t
                .strip_prefix("pub ")
                .or_else(|| t.strip_prefix("pub(crate) "))
            else {
                continue;
            };
            if let Some((field, _)) = rest.split_once(':') {
                if !field.contains(' ') && !field.contains('(') && !open(&m, ty, field) {
                    found.push(format!("{m}: {ty}.{field}"));
                }
            }
        }
    }
    assert!(found.is_empty(), "public fields of VM parts: {found:?}");
}
