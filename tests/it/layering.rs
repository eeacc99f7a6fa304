//! The dependency direction (docs/architecture.md, "Layers"), read off the sources: a `use` or path that reaches a
//! module of its own layer or of a layer above fails here, with the file and line; so does a circle of imports
//! between files. Comments are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The modules of `src/`, lowest layer first. A module may name modules of the layers below its own only: never
/// one of its own layer (they stay apart) nor one above. `main` is the binary (`src/main.rs`, through the
/// library's public paths).
const LAYERS: &[&[&str]] = &[
    // The foundation: injectable clocks, logging set-up.
    &["clock", "logging"],
    // Domain types, including the events and faults that cross channels. No I/O.
    &["model"],
    // Pure computation over the domain types and the history seam.
    &["analytics"],
    // The owners of I/O, each apart from the others: the history store, the live state, the gateway feeds.
    &["store", "live", "feeds"],
    // The simulator, served as one more feed.
    &["sim"],
    // The config file: read, checked, turned into the settings types of the parts below.
    &["config"],
    // What the window and the headless commands start alike; the operator's machine; the recorder's schedule.
    &["startup", "backend", "workstation", "scheduled"],
    &["ui"],
    &["app"],
    &["gui", "cli"],
    &["gateway"],
    &["bench"],
    &["main"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`store` for `src/store/site/mod.rs`).
fn module_of(file: &Path) -> String {
    let rel = file.strip_prefix(src()).expect("under src");
    let first = rel.components().next().expect("a component").as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_owned()
}

/// Each non-comment line of `file` with its number.
fn code_lines(file: &Path) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(file).expect("read");
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .map(|(n, line)| (n + 1, line.to_owned()))
        .collect()
}

/// The path segments after each occurrence of `prefix` in `line` (`crate::store::site::X` → `[store, site, X]`).
fn paths_after(line: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().next_back();
        let after = &rest[at + prefix.len()..];
        rest = after;
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let path: String = after.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
        found.push(path.split("::").filter(|s| !s.is_empty()).map(str::to_owned).collect());
    }
    found
}

/// Every import of one top-level module by another: (importer, imported, where).
fn module_edges() -> Vec<(String, String, String)> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut edges = Vec::new();
    for file in files {
        let module = module_of(&file);
        if module == "lib" {
            continue;
        }
        let prefix = if module == "main" { "watchfloor::" } else { "crate::" };
        for (n, line) in code_lines(&file) {
            for path in paths_after(&line, prefix) {
                let Some(target) = path.first() else { continue };
                if *target != module {
                    edges.push((module.clone(), target.clone(), format!("{}:{n}: {}", file.display(), line.trim())));
                }
            }
        }
    }
    edges
}

/// The imports that go sideways or up.
fn wrong_way(edges: &[(String, String, String)]) -> Vec<String> {
    let mut wrong = Vec::new();
    for (from, to, at) in edges {
        match (layer_of(from), layer_of(to)) {
            (Some(a), Some(b)) if b < a => {}
            (None, _) => wrong.push(format!("{from} is in no layer (add it to LAYERS): {at}")),
            (_, None) => wrong.push(format!("{to} is in no layer (add it to LAYERS): {at}")),
            (Some(a), Some(b)) if a == b => wrong.push(format!("{from} imports {to}, of its own layer: {at}")),
            _ => wrong.push(format!("{from} imports {to}, of a layer above: {at}")),
        }
    }
    wrong
}

#[test]
fn every_module_is_in_a_layer() {
    for module in std::fs::read_dir(src()).expect("src").map(|e| e.expect("entry").path()) {
        let name = module.file_stem().expect("a name").to_string_lossy().into_owned();
        if name != "lib" {
            assert!(
                layer_of(&name).is_some(),
                "src/{name} is in no layer: add it to LAYERS and to docs/architecture.md"
            );
        }
    }
}

#[test]
fn modules_import_only_from_the_layers_below() {
    let wrong = wrong_way(&module_edges());
    assert!(wrong.is_empty(), "imports against the layer order:\n{}", wrong.join("\n"));
}

/// The check itself: an import up, and one sideways, are both found.
#[test]
fn the_check_finds_an_import_up_and_one_sideways() {
    let edges = vec![
        ("store".to_owned(), "config".to_owned(), "up".to_owned()),
        ("feeds".to_owned(), "store".to_owned(), "sideways".to_owned()),
        ("config".to_owned(), "feeds".to_owned(), "down".to_owned()),
    ];
    let wrong = wrong_way(&edges);
    assert_eq!(wrong.len(), 2, "{wrong:?}");
    assert!(wrong[0].contains("store imports config, of a layer above"));
    assert!(wrong[1].contains("feeds imports store, of its own layer"));
}

/// The file a path names, from `dir` (the folder of the module the path starts in): the deepest file or folder's
/// `mod.rs` the segments reach.
fn resolve(mut dir: PathBuf, mut file: Option<PathBuf>, segments: &[String]) -> Option<PathBuf> {
    for segment in segments {
        let as_dir = dir.join(segment);
        let as_file = dir.join(format!("{segment}.rs"));
        if as_dir.join("mod.rs").is_file() {
            file = Some(as_dir.join("mod.rs"));
            dir = as_dir;
        } else if as_file.is_file() {
            file = Some(as_file);
            dir = as_dir;
        } else {
            break;
        }
    }
    file
}

/// Every import between two files of `src/` through `crate::` or `super::` paths. Test files are left out.
fn file_edges() -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut edges: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
    for file in files.iter().filter(|f| !f.ends_with("tests.rs") && !f.ends_with("main.rs")) {
        let folder = file.parent().expect("a folder").to_owned();
        // The module `super` names: the folder's module for a file, the folder above's for a mod.rs.
        let (super_dir, super_file) = if file.ends_with("mod.rs") {
            let up = folder.parent().expect("above").to_owned();
            let f = if up == root { root.join("lib.rs") } else { up.join("mod.rs") };
            let f = if f.is_file() { f } else { up.with_extension("rs") };
            (up, f)
        } else {
            let f = if folder == root { root.join("lib.rs") } else { folder.join("mod.rs") };
            let f = if f.is_file() { f } else { folder.with_extension("rs") };
            (folder.clone(), f)
        };
        for (_, line) in code_lines(file) {
            // A `mod tests` inside a file reaches its own file through `super`: not an import.
            if line.contains("super::*") {
                continue;
            }
            let mut targets = Vec::new();
            for path in paths_after(&line, "crate::") {
                targets.extend(resolve(root.clone(), None, &path));
            }
            for path in paths_after(&line, "super::") {
                if path.first().is_some_and(|s| s == "super") {
                    continue;
                }
                targets.extend(resolve(super_dir.clone(), Some(super_file.clone()), &path));
            }
            for target in targets {
                if target != *file && target.file_name().is_some_and(|n| n != "lib.rs") {
                    edges.entry(file.clone()).or_default().insert(target);
                }
            }
        }
    }
    edges
}

/// A circle of imports, if there is one: the files on it, in order.
fn find_circle(edges: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Option<Vec<PathBuf>> {
    fn visit(
        node: &PathBuf,
        edges: &BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        state: &mut BTreeMap<PathBuf, bool>,
        stack: &mut Vec<PathBuf>,
    ) -> Option<Vec<PathBuf>> {
        state.insert(node.clone(), false);
        stack.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            match state.get(next) {
                Some(false) => {
                    let at = stack.iter().position(|n| n == next).expect("on the stack");
                    return Some(stack[at..].to_vec());
                }
                Some(true) => {}
                None => {
                    if let Some(circle) = visit(next, edges, state, stack) {
                        return Some(circle);
                    }
                }
            }
        }
        stack.pop();
        state.insert(node.clone(), true);
        None
    }
    let mut state = BTreeMap::new();
    for node in edges.keys() {
        if !state.contains_key(node)
            && let Some(circle) = visit(node, edges, &mut state, &mut Vec::new())
        {
            return Some(circle);
        }
    }
    None
}

#[test]
fn no_circle_of_imports_between_files() {
    let circle = find_circle(&file_edges());
    assert!(circle.is_none(), "a circle of imports: {:?}", circle.unwrap_or_default());
}

#[test]
fn the_circle_check_finds_a_circle() {
    let p = |s: &str| PathBuf::from(s);
    let mut edges: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
    edges.entry(p("a")).or_default().insert(p("b"));
    edges.entry(p("b")).or_default().insert(p("c"));
    edges.entry(p("c")).or_default().insert(p("a"));
    edges.entry(p("d")).or_default().insert(p("a"));
    assert_eq!(find_circle(&edges), Some(vec![p("a"), p("b"), p("c")]));
    edges.get_mut(&p("c")).expect("c").clear();
    assert_eq!(find_circle(&edges), None);
}

/// What the pure layers may not use at all, whatever the order says.
#[test]
fn the_pure_layers_use_no_io_and_no_ui_crates() {
    let mut files = Vec::new();
    rust_files(&src().join("model"), &mut files);
    rust_files(&src().join("analytics"), &mut files);
    let mut found = Vec::new();
    for file in files {
        for (n, line) in code_lines(&file) {
            for crate_name in ["rusqlite", "postgres", "egui", "tokio"] {
                if paths_after(&line, &format!("{crate_name}::")).iter().any(|_| true) {
                    found.push(format!("{}:{n}: {}", file.display(), line.trim()));
                }
            }
        }
    }
    assert!(found.is_empty(), "I/O or UI in a pure layer:\n{}", found.join("\n"));
}

/// The recorder's scheduled work (reports, notifications) is started by `record` only.
#[test]
fn the_scheduled_work_is_used_by_the_cli_only() {
    let users: BTreeSet<String> =
        module_edges().into_iter().filter(|(_, to, _)| to == "scheduled").map(|(from, _, _)| from).collect();
    let allowed: BTreeSet<String> = ["cli", "bench", "main"].into_iter().map(str::to_owned).collect();
    assert!(users.is_subset(&allowed), "scheduled/ is used by {users:?}");
}

/// Pairs the layer order allows but the design keeps apart: the store writes what analytics computes behind the
/// history seam (`model::history`), never calling analytics itself; the scheduled work reads the store, not the
/// live state, and draws nothing.
#[test]
fn pairs_kept_apart_although_the_order_allows_them() {
    let forbidden = [("store", "analytics"), ("scheduled", "live")];
    let found: Vec<String> = module_edges()
        .into_iter()
        .filter(|(from, to, _)| forbidden.contains(&(from.as_str(), to.as_str())))
        .map(|(_, _, at)| at)
        .collect();
    assert!(found.is_empty(), "imports kept apart by design:\n{}", found.join("\n"));
    let mut files = Vec::new();
    rust_files(&src().join("scheduled"), &mut files);
    for file in files {
        for (n, line) in code_lines(&file) {
            assert!(!line.contains("egui"), "scheduled/ draws: {}:{n}: {line}", file.display());
        }
    }
}

/// Rooms of one job each: no file of `src/` over 800 lines (split a file along its jobs when it grows).
#[test]
fn no_file_of_src_is_over_800_lines() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let long: Vec<String> = files
        .iter()
        .map(|f| (f, std::fs::read_to_string(f).expect("read").lines().count()))
        .filter(|(_, n)| *n > 800)
        .map(|(f, n)| format!("{}: {n} lines", f.display()))
        .collect();
    assert!(long.is_empty(), "files over 800 lines:\n{}", long.join("\n"));
}
