//! `openapi.yaml` describes exactly the routes `template.yaml` deploys (and the local router
//! serves), and every reference in it resolves. The answers themselves are validated against
//! its schemas by the end-to-end tests (`infra/devstack/tests/e2e.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::collections::BTreeSet;
use std::path::Path;

use serde_norway::Value;

fn openapi() -> Value {
    serde_norway::from_str(include_str!("../../openapi.yaml")).unwrap()
}

#[test]
fn the_spec_has_exactly_the_templates_routes() {
    let spec = openapi();
    let documented: BTreeSet<(String, String)> = spec["paths"]
        .as_mapping()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            let path = path.as_str().unwrap().to_owned();
            item.as_mapping()
                .unwrap()
                .keys()
                .filter_map(Value::as_str)
                .filter(|k| ["get", "put", "post", "patch", "delete"].contains(k))
                .map(move |m| (m.to_ascii_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let template =
        polite_adapters::provision::read_template(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml"))
            .unwrap();
    let deployed: BTreeSet<(String, String)> =
        template.functions.iter().flat_map(|f| f.routes.iter().cloned()).collect();
    assert_eq!(documented, deployed);
}

#[test]
fn every_reference_resolves_and_every_operation_answers_something() {
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Mapping(m) => {
                for (k, v) in m {
                    if k == "$ref" {
                        out.push(v.as_str().unwrap());
                    } else {
                        refs(v, out);
                    }
                }
            }
            Value::Sequence(s) => s.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let spec = openapi();
    let mut found = Vec::new();
    refs(&spec, &mut found);
    assert!(found.len() > 20, "the spec shares its schemas");
    for r in found {
        let mut node = &spec;
        for part in r.strip_prefix("#/").unwrap_or_else(|| panic!("{r}: only local references")).split('/') {
            node = &node[part];
        }
        assert!(!node.is_null(), "{r} does not resolve");
    }
    for (path, item) in spec["paths"].as_mapping().unwrap() {
        for (method, op) in item.as_mapping().unwrap() {
            if method == "parameters" {
                continue;
            }
            let answers = op["responses"].as_mapping().unwrap();
            let success = answers.keys().filter_map(Value::as_str).any(|s| s.starts_with('2'));
            assert!(success, "{path:?} {method:?} documents no success");
            assert!(op["operationId"].is_string(), "{path:?} {method:?} has no operationId");
        }
    }
}
