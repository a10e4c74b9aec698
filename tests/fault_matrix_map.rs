//! `tests/FAULT_MATRIX.md` maps every row of the fault matrix to the tests
//! that check it. This keeps the map honest: every row is there, and every
//! test it names exists.

use std::path::Path;

/// The matrix's rows: section letter and row count.
const ROWS: &[(char, u32)] =
    &[('E', 12), ('H', 12), ('F', 14), ('T', 12), ('S', 15), ('C', 5), ('N', 12), ('I', 7), ('R', 5)];

fn map() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/FAULT_MATRIX.md")).unwrap()
}

/// Every `` `file::function` `` span in `text` (wildcards left out).
fn named_tests(text: &str) -> Vec<(String, String)> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|span| !span.contains(' ') && !span.ends_with('*'))
        .filter_map(|span| span.split_once("::"))
        .map(|(file, function)| (file.to_string(), function.to_string()))
        .collect()
}

/// Whether the source file a map entry names defines `function`.
fn defines(file: &str, function: &str) -> bool {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = if file.starts_with("src/") { root.join(file) } else { root.join("tests").join(format!("{file}.rs")) };
    let Ok(text) = std::fs::read_to_string(&path) else { return false };
    text.lines().any(|line| {
        let line = line.trim_start();
        let line = line.strip_prefix("async ").unwrap_or(line);
        line.strip_prefix("fn ").is_some_and(|rest| rest.strip_prefix(function).is_some_and(|r| r.starts_with('(')))
    })
}

#[test]
fn every_row_of_the_matrix_has_a_line() {
    let map = map();
    for &(section, count) in ROWS {
        for n in 1..=count {
            let row = format!("| {section}{n} |");
            assert!(map.contains(&row), "row {section}{n} is missing from tests/FAULT_MATRIX.md");
        }
    }
}

#[test]
fn every_test_the_map_names_exists() {
    let named = named_tests(&map());
    assert!(named.len() > 150, "only {} tests named: the parser is broken", named.len());
    let missing: Vec<String> =
        named.iter().filter(|(file, function)| !defines(file, function)).map(|(f, g)| format!("{f}::{g}")).collect();
    assert!(missing.is_empty(), "tests/FAULT_MATRIX.md names tests that do not exist: {missing:#?}");
}

#[test]
fn the_existence_check_notices_a_misspelt_name() {
    assert!(defines("fault_matrix_map", "every_test_the_map_names_exists"));
    assert!(!defines("fault_matrix_map", "every_test_the_map_names"));
    assert!(!defines("no_such_file", "every_test_the_map_names_exists"));
    assert_eq!(named_tests("a `x::y` b `c d::e` `z::w*`"), vec![("x".to_string(), "y".to_string())]);
}
