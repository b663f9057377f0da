//! What time it is for polite's functions: the system's clock — or, on the dev stack only, a
//! clock its tests hold. When `POLITE_DEV_CLOCK` names a file, every [`now`] is the RFC 3339
//! instant written in it: time stands still there until the test writes a later one, so a
//! campaign at each person's 10:00 in six zones runs in minutes, not a day. The deployed
//! template never sets it (an unreadable file falls back to the system clock, with a warning).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use jiff::Timestamp;

/// The variable naming the dev stack's clock file.
pub const DEV_CLOCK: &str = "POLITE_DEV_CLOCK";

/// Now: the system's time, or the dev stack's test clock when `POLITE_DEV_CLOCK` is set.
pub fn now() -> Timestamp {
    static FILE: OnceLock<Option<PathBuf>> = OnceLock::new();
    match FILE.get_or_init(|| std::env::var_os(DEV_CLOCK).map(PathBuf::from)) {
        Some(path) => at(path),
        None => Timestamp::now(),
    }
}

/// Now on the clock file at `path`: its instant, or the system's time (with a warning) when
/// it cannot be read.
pub fn at(path: &Path) -> Timestamp {
    read(path).unwrap_or_else(|error| {
        tracing::warn!(%error, "the dev clock cannot be read; using the system clock");
        Timestamp::now()
    })
}

/// The instant a clock file holds.
///
/// # Errors
/// The file cannot be read or does not hold one RFC 3339 instant.
pub fn read(path: &Path) -> anyhow::Result<Timestamp> {
    let text = std::fs::read_to_string(path)?;
    Ok(text.trim().parse()?)
}

/// Sets the clock file at `path` to `at`, whole or not at all (a reader never sees half a
/// write).
///
/// # Errors
/// The file cannot be written.
pub fn set(path: &Path, at: Timestamp) -> std::io::Result<()> {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, format!("{at}\n"))?;
    std::fs::rename(partial, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_file_reads_back_the_instant_last_set() {
        let dir = std::env::temp_dir().join(format!("polite-clock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("clock");
        let first: Timestamp = "2026-12-10T01:00:00Z".parse().unwrap();
        set(&file, first).unwrap();
        assert_eq!(read(&file).unwrap(), first);
        let later = first + jiff::SignedDuration::from_mins(90);
        set(&file, later).unwrap();
        assert_eq!(read(&file).unwrap(), later);
        std::fs::write(&file, "ten o'clock").unwrap();
        assert!(read(&file).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
