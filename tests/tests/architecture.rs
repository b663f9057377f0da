//! The crate graph, as `cargo metadata` reads it from the manifests: functions → app → domain
//! and adapters → domain, nothing pointing back up, and no function crate depending on another
//! — not even in its tests (docs/architecture.md, "Rooms").

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

use std::collections::BTreeMap;

use serde_json::Value;

/// Where a workspace crate sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Room {
    Domain,
    App,
    Adapters,
    Function,
    /// The simulator, the dev stack, the test harness: they may use anything.
    Tooling,
}

fn room_of(manifest: &str) -> Room {
    let dir = manifest.trim_end_matches("/Cargo.toml");
    if dir.ends_with("/shared/domain") {
        Room::Domain
    } else if dir.ends_with("/shared/app") {
        Room::App
    } else if dir.ends_with("/shared/adapters") {
        Room::Adapters
    } else if dir.rsplit_once('/').is_some_and(|(parent, _)| parent.ends_with("/functions")) {
        Room::Function
    } else {
        Room::Tooling
    }
}

/// One dependency between workspace crates.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Edge {
    from: String,
    to: String,
    /// `normal`, `dev` or `build`.
    kind: String,
}

fn workspace() -> (BTreeMap<String, Room>, Vec<Edge>) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--no-deps", "--format-version", "1", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    let metadata: Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages = metadata["packages"].as_array().unwrap();
    let rooms: BTreeMap<String, Room> = packages
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_owned(), room_of(p["manifest_path"].as_str().unwrap())))
        .collect();
    let edges = packages
        .iter()
        .flat_map(|p| {
            let from = p["name"].as_str().unwrap().to_owned();
            p["dependencies"].as_array().unwrap().iter().filter_map(move |d| {
                let to = d["name"].as_str().unwrap();
                d["path"].is_string().then(|| Edge {
                    from: from.clone(),
                    to: to.to_owned(),
                    kind: d["kind"].as_str().unwrap_or("normal").to_owned(),
                })
            })
        })
        .collect();
    (rooms, edges)
}

/// The edges the layering forbids.
fn violations(rooms: &BTreeMap<String, Room>, edges: &[Edge]) -> Vec<String> {
    edges
        .iter()
        .filter(|e| {
            let (Some(&from), Some(&to)) = (rooms.get(&e.from), rooms.get(&e.to)) else { return false };
            let normal = e.kind == "normal";
            match from {
                Room::Domain => true,
                // The use cases' tests run on fakes: no adapters, no moto harness, even there.
                Room::App => to != Room::Domain,
                // The adapters' own tests may use the harness.
                Room::Adapters => to != Room::Domain && (normal || to != Room::Tooling),
                Room::Function => to == Room::Function || (normal && to == Room::Tooling),
                Room::Tooling => to == Room::Function && normal,
            }
        })
        .map(|e| format!("{} → {} ({})", e.from, e.to, e.kind))
        .collect()
}

#[test]
fn functions_use_app_and_adapters_which_use_the_domain_and_nothing_points_back_up() {
    let (rooms, edges) = workspace();
    let functions: Vec<&String> = rooms.iter().filter(|(_, r)| **r == Room::Function).map(|(n, _)| n).collect();
    for function in [
        "webhook-intake",
        "consent-updater",
        "contacts-api",
        "messages-api",
        "scheduler-tick",
        "message-sender",
        "status-processor",
        "template-registry",
        "event-publisher",
    ] {
        assert!(functions.iter().any(|f| *f == function), "{function} is a crate of its own: {functions:?}");
    }
    assert!(edges.iter().any(|e| e.from == "messages-api" && e.to == "polite-app"), "the graph was read");
    assert_eq!(violations(&rooms, &edges), Vec::<String>::new());
}

#[test]
fn every_deployed_function_is_the_crate_of_the_same_name() {
    let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    let binaries: Vec<&str> =
        template.lines().filter_map(|l| l.trim().strip_prefix("Binary: ")).map(str::trim).collect();
    assert_eq!(binaries.len(), 9, "{binaries:?}");
    let (rooms, _) = workspace();
    for binary in binaries {
        assert_eq!(rooms.get(binary), Some(&Room::Function), "{binary}: no functions/{binary} crate");
    }
}

#[test]
fn the_rules_catch_what_they_forbid() {
    let rooms: BTreeMap<String, Room> = [
        ("polite-domain", Room::Domain),
        ("polite-app", Room::App),
        ("polite-adapters", Room::Adapters),
        ("a", Room::Function),
        ("b", Room::Function),
        ("polite-tests", Room::Tooling),
    ]
    .into_iter()
    .map(|(n, r)| (n.to_owned(), r))
    .collect();
    let edge = |from: &str, to: &str, kind: &str| Edge { from: from.into(), to: to.into(), kind: kind.into() };
    let allowed = [
        edge("a", "polite-app", "normal"),
        edge("a", "polite-adapters", "normal"),
        edge("a", "polite-tests", "dev"),
        edge("polite-app", "polite-domain", "normal"),
        edge("polite-adapters", "polite-domain", "normal"),
        edge("polite-tests", "polite-adapters", "normal"),
    ];
    assert_eq!(violations(&rooms, &allowed), Vec::<String>::new());
    let forbidden = [
        edge("a", "b", "dev"),
        edge("polite-app", "polite-adapters", "normal"),
        edge("polite-app", "polite-tests", "dev"),
        edge("polite-domain", "polite-app", "normal"),
        edge("polite-adapters", "polite-app", "normal"),
        edge("polite-tests", "a", "normal"),
    ];
    assert_eq!(violations(&rooms, &forbidden).len(), forbidden.len());
}
