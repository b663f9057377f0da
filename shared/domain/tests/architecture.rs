//! The domain's modules form layers: no two of them use each other, directly or around a
//! circle (docs/architecture.md, "Rooms"). Read from the sources, so a new
//! `use crate::…` that closes a circle fails here, naming it.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The text of a source file without its `#[cfg(test)]` items (tests may use anything) and
/// without comment lines (a doc link is not a dependency).
fn code_of(source: &str) -> String {
    let mut code = String::new();
    let mut rest = source;
    while let Some(at) = rest.find("#[cfg(test)]") {
        code.push_str(&rest[..at]);
        let item = &rest[at..];
        let Some(open) = item.find(['{', ';']) else { break };
        if item.as_bytes()[open] == b';' {
            rest = &item[open + 1..];
            continue;
        }
        let mut depth = 0usize;
        let mut end = item.len();
        for (i, c) in item.char_indices().skip_while(|(i, _)| *i < open) {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &item[end..];
    }
    code.push_str(rest);
    code.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// The top-level modules `code` names: `crate::name` paths and `use crate::{name::…, name}`.
fn modules_named(code: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let ident_at = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    let mut named = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let after = &code[at + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let group = &group[..group.find("};").unwrap_or(group.len())];
            let mut depth = 0;
            let mut start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if c.is_whitespace() => {}
                    _ if start && depth == 0 => {
                        named.insert(ident_at(&group[i..]));
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            named.insert(ident_at(after));
        }
    }
    named.retain(|m| modules.contains(m));
    named
}

fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("src is readable").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

fn domain_graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let top = |path: &Path| {
        let rel = path.strip_prefix(&src).expect("under src");
        let first = rel.components().next().expect("a file").as_os_str().to_string_lossy().into_owned();
        first.trim_end_matches(".rs").to_owned()
    };
    let files = sources(&src);
    let modules: BTreeSet<String> = files.iter().map(|f| top(f)).filter(|m| m != "lib").collect();
    let mut graph = Graph::new();
    for file in &files {
        let module = top(file);
        if module == "lib" {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(file).expect("readable"));
        let uses = graph.entry(module.clone()).or_default();
        uses.extend(modules_named(&code, &modules).into_iter().filter(|m| *m != module));
    }
    graph
}

/// A circle through `graph`, if there is one (depth-first search, the path kept).
fn a_circle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(node: &str, graph: &Graph, path: &mut Vec<String>, done: &mut BTreeSet<String>) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut circle = path[at..].to_vec();
            circle.push(node.to_owned());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, graph, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_two_domain_modules_use_each_other() {
    let graph = domain_graph();
    assert!(graph.len() > 15 && graph["gate"].contains("consent"), "the graph was read: {graph:?}");
    assert_eq!(a_circle(&graph), None, "a circle of modules");
}

#[test]
fn the_circle_finder_finds_circles() {
    let graph: Graph =
        [("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")].into_iter().fold(Graph::new(), |mut g, (from, to)| {
            g.entry(from.into()).or_default().insert(to.into());
            g
        });
    assert_eq!(a_circle(&graph), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
    let modules: BTreeSet<String> = ["gate", "message", "ids"].map(String::from).into();
    let code = code_of(
        "use crate::{gate::X, message::{A, B}, ids};\n// crate::nothing\n#[cfg(test)]\nmod tests { use crate::gate; }\n",
    );
    assert_eq!(modules_named(&code, &modules), modules);
    assert_eq!(modules_named(&code_of("#[cfg(test)]\nmod tests { use crate::gate; }"), &modules), BTreeSet::new());
}
