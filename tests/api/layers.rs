//! The shape of `src/`, kept by a test so the next change cannot quietly undo it: data
//! flows one way (no import circle between top-level modules), the store is reached only
//! through the desk, and no chat platform's types get below the doors.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level module → the top-level modules its code names (`crate::x…`, `use crate::{x, y}`).
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph = BTreeMap::new();
    for entry in std::fs::read_dir(&src).expect("src") {
        let path = entry.expect("entry").path();
        let Some(name) = path.file_stem().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        if name == "lib" || name == "main" || name == "bin" {
            continue;
        }
        let mut uses = BTreeSet::new();
        for file in rust_files(&path) {
            let text = std::fs::read_to_string(&file).expect("read");
            uses.extend(named_modules(&code_of(&text)));
        }
        uses.remove(&name);
        graph.insert(name, uses);
    }
    graph
}

fn rust_files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_owned()];
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).expect("dir") {
        let p = entry.expect("entry").path();
        if p.is_dir() {
            files.extend(rust_files(&p));
        } else if p.extension().is_some_and(|e| e == "rs") {
            files.push(p);
        }
    }
    files
}

/// The text without `//` comments (doc comments mention modules without using them).
fn code_of(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(at) if !l[..at].contains('"') => &l[..at],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules named after `crate::` in `code`.
fn named_modules(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        match rest.strip_prefix('{') {
            // `crate::{a::x, b}`: the first segment of each item (nested groups are
            // inside items, after their first segment).
            Some(group) => {
                let mut depth = 0;
                let mut item_start = true;
                for (i, c) in group.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => item_start = true,
                        c if item_start && !c.is_whitespace() => {
                            found.insert(ident(&group[i..]));
                            item_start = false;
                        }
                        _ => {}
                    }
                }
            }
            None => {
                found.insert(ident(rest));
            }
        }
    }
    found.remove("");
    found
}

/// A circle of imports, if there is one: the modules on it, the first repeated at the end.
fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == m) {
            let mut found = path[at..].to_vec();
            found.push(m.to_owned());
            return Some(found);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_owned());
        for next in graph.get(m).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(m.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|m| visit(m, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_import_circle_between_top_level_modules() {
    let graph = imports();
    assert!(
        graph.contains_key("desk") && graph.contains_key("doors"),
        "{graph:?}"
    );
    if let Some(circle) = circle(&graph) {
        panic!("import circle: {}", circle.join(" → "));
    }
}

#[test]
fn the_store_is_reached_only_through_the_desk() {
    let graph = imports();
    // The desk, and the composition root and configuration that build it.
    let allowed = ["desk", "app", "config"];
    let reaching: Vec<&String> = graph
        .iter()
        .filter(|(m, uses)| uses.contains("store") && !allowed.contains(&m.as_str()))
        .map(|(m, _)| m)
        .collect();
    assert!(
        reaching.is_empty(),
        "modules using crate::store: {reaching:?}"
    );
    assert!(
        !graph["store"].iter().any(|m| m != "domain"),
        "{:?}",
        graph["store"]
    );
}

#[test]
fn no_platform_type_gets_below_the_doors() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for layer in [
        "conversation",
        "desk",
        "domain",
        "flow",
        "outbox",
        "sla",
        "store",
    ] {
        let path = src.join(layer);
        let path = if path.is_dir() {
            path
        } else {
            src.join(format!("{layer}.rs"))
        };
        for file in rust_files(&path) {
            let code = code_of(&std::fs::read_to_string(&file).expect("read"));
            for platform in ["teloxide", "serenity", "crate::doors"] {
                assert!(
                    !code.contains(platform),
                    "{} uses {platform}",
                    file.display()
                );
            }
        }
    }
}

#[test]
fn the_scan_sees_every_way_of_naming_a_module() {
    let code = code_of(
        "use crate::desk::Desk;\nuse crate::{flow::{Lang, Outgoing}, outbox};\n\
         let x = crate::store::Store::connect(); // crate::doors in a comment\n",
    );
    let names: Vec<String> = named_modules(&code).into_iter().collect();
    assert_eq!(names, ["desk", "flow", "outbox", "store"]);
    let graph = BTreeMap::from([
        ("a".to_owned(), BTreeSet::from(["b".to_owned()])),
        ("b".to_owned(), BTreeSet::from(["c".to_owned()])),
        ("c".to_owned(), BTreeSet::from(["a".to_owned()])),
    ]);
    assert_eq!(circle(&graph).expect("found"), ["a", "b", "c", "a"]);
}
