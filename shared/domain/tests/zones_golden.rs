//! The Rust lookup must give exactly libphonenumber's answers for its own example numbers
//! (generated with the table by `tools/gen_zone_table.py`).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

use polite_domain::WaId;
use polite_domain::ids::zones_for_number;

#[test]
fn every_example_number_resolves_to_the_zones_libphonenumber_gives() {
    let golden = include_str!("data/zones_golden.tsv");
    let mut checked = 0;
    let mut mismatches = Vec::new();
    for line in golden.lines().filter(|l| !l.starts_with('#')) {
        let (number, expected) = line.split_once('\t').expect("golden rows are tab-separated");
        let expected: Vec<&str> = expected.split(',').filter(|z| *z != "Etc/Unknown").collect();
        let Ok(id) = WaId::parse(number) else {
            mismatches.push(format!("{number}: refused by WaId::parse"));
            continue;
        };
        let got = zones_for_number(&id).zones;
        if got != expected {
            mismatches.push(format!("{number}: expected {expected:?}, got {got:?}"));
        }
        checked += 1;
    }
    assert!(checked > 400, "only {checked} golden numbers checked");
    assert!(mismatches.is_empty(), "{} mismatches:\n{}", mismatches.len(), mismatches.join("\n"));
}
