//! Dependencies point one way: each workspace crate depends only on the crates below it, and each
//! module of the `onecycle` crate uses only modules of lower layers. A new crate or module must
//! be given its place here, which is the point: the order is declared, not discovered.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Workspace crates, lowest first, with the workspace crates each may depend on.
const CRATES: &[(&str, &[&str])] = &[
    ("schedule", &[]),
    ("record", &["schedule"]),
    ("report", &["schedule", "record"]),
    ("onecycle", &["schedule", "record"]),
    ("vision", &["onecycle"]),
    (
        "recipe",
        &["schedule", "record", "report", "onecycle", "vision"],
    ),
    (
        "cli",
        &[
            "schedule", "record", "report", "onecycle", "vision", "recipe",
        ],
    ),
];

/// The `onecycle` crate's modules in layers, lowest first: a module may use modules of strictly
/// lower layers only (so no two modules of a layer use each other, and there are no cycles).
const ONECYCLE_LAYERS: &[&[&str]] = &[
    &["ops", "metrics", "checkpoint", "rng", "interrupt", "memory"],
    &["amp", "optim", "data", "lookahead"],
    &["device", "strategy"],
    &["engine", "dist", "learner"],
    &["history", "progress", "bench", "lr_find", "evaluate"],
    &["callbacks", "tune"],
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The workspace crates named in the `[dependencies]` table of `crates/<name>/Cargo.toml`.
fn workspace_deps(name: &str) -> BTreeSet<String> {
    let path = root().join("crates").join(name).join("Cargo.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let toml: toml::Table = text.parse().unwrap();
    let deps = toml.get("dependencies").and_then(|d| d.as_table());
    let known: BTreeSet<&str> = CRATES.iter().map(|(c, _)| *c).collect();
    deps.into_iter()
        .flat_map(|d| d.keys())
        .filter(|k| known.contains(k.as_str()))
        .cloned()
        .collect()
}

#[test]
fn every_crate_depends_only_on_crates_below_it() {
    let dirs: BTreeSet<String> = std::fs::read_dir(root().join("crates"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let declared: BTreeSet<String> = CRATES.iter().map(|(c, _)| c.to_string()).collect();
    assert_eq!(dirs, declared, "every crate has its place in CRATES");
    for (name, allowed) in CRATES {
        let allowed: BTreeSet<String> = allowed.iter().map(|s| s.to_string()).collect();
        let deps = workspace_deps(name);
        let extra: Vec<&String> = deps.difference(&allowed).collect();
        assert!(extra.is_empty(), "{name} depends on {extra:?} above it");
    }
}

/// The top-level module of `crate::<module>` paths used in a source file (doc links included).
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // e.g. `onecycle_crate::`
        }
        let rest = &text[at + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            used.insert(name);
        }
    }
    used
}

/// `(module, file)` for every source file of `src`: `a.rs` and `a/…` belong to module `a`.
fn module_files(src: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        if path.is_dir() {
            for file in std::fs::read_dir(&path).unwrap() {
                out.push((name.clone(), file.unwrap().path()));
            }
        } else if name != "lib" {
            out.push((name, path));
        }
    }
    out
}

#[test]
fn onecycle_modules_use_only_lower_layers() {
    let layer_of = |m: &str| ONECYCLE_LAYERS.iter().position(|l| l.contains(&m));
    let src = root().join("crates/onecycle/src");
    let mut wrong = Vec::new();
    for (module, file) in module_files(&src) {
        let Some(layer) = layer_of(&module) else {
            panic!("module {module} has no layer in ONECYCLE_LAYERS");
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for used in crate_paths(&text) {
            if used == module {
                continue;
            }
            match layer_of(&used) {
                Some(l) if l < layer => {}
                _ => wrong.push(format!("{} uses crate::{used}", file.display())),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layer order:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_path_scanner_sees_uses_and_doc_links() {
    let text =
        "use crate::data::Batch;\n/// See [`crate::learner::Learner`].\nlet x = my_crate::foo;";
    let found: Vec<String> = crate_paths(text).into_iter().collect();
    assert_eq!(found, ["data", "learner"]);
}
