//! The dependency direction (DEVELOPERS.md): `model/` ← `analytics/` ← `store/`·`live/`·`feeds/` ← app, ui, cli.
//! Read off the sources: a `use` or path reaching the wrong way fails here, with the file and line.

use std::path::{Path, PathBuf};

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

/// Lines of code (comments left out) under `src/<part>` naming any of `forbidden`.
fn reaching(part: &str, forbidden: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let target = root.join(part);
    if target.is_dir() {
        rust_files(&target, &mut files);
    } else {
        files.push(target);
    }
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for f in forbidden {
                if code.contains(f) {
                    found.push(format!("{}:{}: {}", file.display(), n + 1, code));
                }
            }
        }
    }
    found
}

#[test]
fn model_depends_on_nothing_above_it() {
    let found = reaching(
        "model",
        &[
            "crate::analytics",
            "crate::store",
            "crate::feeds",
            "crate::live",
            "crate::config",
            "crate::cli",
            "crate::ui",
            "crate::scheduled",
            "rusqlite",
            "egui",
            "tokio",
        ],
    );
    assert!(found.is_empty(), "model/ reaches up:\n{}", found.join("\n"));
}

#[test]
fn analytics_reads_history_through_the_seam_only() {
    let found = reaching(
        "analytics",
        &[
            "crate::store",
            "crate::feeds",
            "crate::live",
            "crate::config",
            "crate::cli",
            "crate::ui",
            "crate::scheduled",
            "rusqlite",
            "postgres",
            "egui",
            "tokio",
        ],
    );
    assert!(found.is_empty(), "analytics/ reaches up:\n{}", found.join("\n"));
}

#[test]
fn the_store_does_not_import_analytics() {
    let found = reaching(
        "store",
        &["crate::analytics", "crate::config", "crate::cli", "crate::ui", "crate::live", "crate::scheduled"],
    );
    assert!(found.is_empty(), "store/ reaches up:\n{}", found.join("\n"));
}

#[test]
fn the_config_does_not_import_the_ui() {
    let found = reaching("config.rs", &["crate::ui", "crate::app", "crate::cli"]);
    assert!(found.is_empty(), "config.rs reaches up:\n{}", found.join("\n"));
}

#[test]
fn the_workstation_does_not_import_the_app() {
    let found = reaching("workstation", &["crate::app", "crate::cli", "crate::gui"]);
    assert!(found.is_empty(), "workstation/ reaches up:\n{}", found.join("\n"));
}

/// The recorder's scheduled work (reports, notifications) is I/O on top of the store: only `cli` starts it, and
/// nothing it builds on imports it back.
#[test]
fn the_scheduled_work_is_used_by_the_cli_only() {
    for part in ["feeds", "live", "config.rs", "app", "ui", "gui.rs", "workstation"] {
        let found = reaching(part, &["crate::scheduled"]);
        assert!(found.is_empty(), "{part} imports the scheduled work:\n{}", found.join("\n"));
    }
    let found = reaching("scheduled", &["crate::cli", "crate::ui", "crate::app", "crate::gui", "crate::live", "egui"]);
    assert!(found.is_empty(), "scheduled/ reaches up:\n{}", found.join("\n"));
}
