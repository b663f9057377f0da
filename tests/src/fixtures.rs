//! Committed Lambda event fixtures (`functions/<name>/fixtures/*.json`, usable with
//! `cargo lambda invoke --data-file`): built by a test from their sources and compared with
//! the committed file, so they cannot drift; `POLITE_REGENERATE_FIXTURES=1` rewrites them
//! after a deliberate change.

use std::path::Path;

/// Compares `value` with the committed fixture `dir/name.json` (or writes it when
/// regenerating).
///
/// # Panics
/// When the committed file is missing or differs (the test's failure report).
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "test support: a panic is the failure report")]
pub fn check(dir: &Path, name: &str, value: &serde_json::Value) {
    let path = dir.join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(value).unwrap() + "\n";
    if std::env::var_os("POLITE_REGENERATE_FIXTURES").is_some() {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (regenerate with POLITE_REGENERATE_FIXTURES=1)", path.display()));
    assert_eq!(committed, text, "{name}.json drifted from its source (regenerate with POLITE_REGENERATE_FIXTURES=1)");
}

/// The committed fixture `dir/name.json`.
///
/// # Panics
/// When it cannot be read.
#[allow(clippy::unwrap_used, reason = "test support: a panic is the failure report")]
pub fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap()
}
