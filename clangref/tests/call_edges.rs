//! libclang must really run here: a missing libclang fails these tests (it is
//! never skipped). CI needs `libclang-14-dev` installed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use dynwalk_clangref::{call_edges, ClangError, ClangFile};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn args() -> Vec<String> {
    vec!["-std=gnu11".to_string()]
}

/// One line per fact: the text snapshot the tests compare.
fn render(file: &ClangFile) -> String {
    let mut out = format!("errors {}\n", file.diagnostics_errors);
    for f in &file.functions {
        writeln!(out, "fn {} {}:{}", f.name, f.line, f.col).unwrap();
    }
    for c in &file.calls {
        let kind = match (c.indirect, c.via_macro) {
            (true, true) => "indirect+macro",
            (true, false) => "indirect",
            (false, true) => "macro",
            (false, false) => "direct",
        };
        writeln!(out, "call {} -> {} {}:{} {kind}", c.caller, c.callee, c.line, c.col).unwrap();
    }
    out
}

#[test]
fn macro_hidden_calls_pointer_calls_and_builtins() {
    let file = call_edges(&fixture("calls.c"), &args()).expect("libclang-14 must be installed");
    let expected = "\
errors 0
fn _lock 9:13
fn get_7 17:1
fn run 19:5
call get_7 -> helper 17:1 macro
call run -> _lock 22:2 macro
call run -> start 24:6 indirect
call run -> cb 25:2 indirect
call run -> helper 26:15 direct
";
    assert_eq!(render(&file), expected);
}

#[test]
fn output_is_deterministic_and_round_trips_through_json() {
    let first = call_edges(&fixture("calls.c"), &args()).expect("libclang-14 must be installed");
    let second = call_edges(&fixture("calls.c"), &args()).expect("libclang-14 must be installed");
    assert_eq!(first, second);
    let json = serde_json::to_string(&first).unwrap();
    let back: ClangFile = serde_json::from_str(&json).unwrap();
    assert_eq!(back, first);
}

#[test]
fn clang_errors_are_data_not_failures() {
    let file = call_edges(&fixture("broken.c"), &args()).expect("a file with errors still parses");
    assert_eq!(file.diagnostics_errors, file.errors.len());
    assert!(file.diagnostics_errors >= 1, "{:?}", file.errors);
    assert!(file.errors.iter().all(|e| e.file.ends_with("broken.c") && e.line > 0));
    assert_eq!(render(&file).lines().filter(|l| l.starts_with("call ")).count(), 1, "{}", render(&file));
}

#[test]
fn missing_file_is_a_typed_error() {
    let err = call_edges(Path::new("/nonexistent/dir/x.c"), &args()).unwrap_err();
    assert!(matches!(err, ClangError::Unreadable { .. }), "{err:?}");
}

#[test]
fn argument_with_nul_is_a_typed_error() {
    let err = call_edges(&fixture("calls.c"), &["-DX=\0".to_string()]).unwrap_err();
    assert!(matches!(err, ClangError::ArgumentWithNul { index: 0 }), "{err:?}");
}

#[test]
fn binary_prints_json_and_uses_documented_exit_codes() {
    let bin = env!("CARGO_BIN_EXE_dynwalk-clangref");
    let ok = Command::new(bin).arg(fixture("calls.c")).arg("--").arg("-std=gnu11").output().unwrap();
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));
    let json: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["calls"].as_array().map(Vec::len), Some(5));

    let usage = Command::new(bin).output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
    let missing = Command::new(bin).args(["/nonexistent/x.c", "--"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(4));
}
