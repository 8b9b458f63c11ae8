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

/// Every field survives JSON and back, on fixtures where each field holds a value other
/// than its default (a field serde skipped, renamed or defaulted would show); the JSON
/// reads back to the same bytes; and two runs in separate processes print the same bytes,
/// which read back into the library's own value.
#[test]
fn output_is_deterministic_and_round_trips_through_json() {
    let calls = call_edges(&fixture("calls.c"), &args()).expect("libclang-14 must be installed");
    let broken = call_edges(&fixture("broken.c"), &args()).expect("libclang-14 must be installed");
    assert!(calls.functions.iter().all(|f| !f.name.is_empty() && f.line > 0 && f.col > 0));
    assert!(calls.calls.iter().any(|c| c.via_macro) && calls.calls.iter().any(|c| c.indirect));
    assert!(broken.diagnostics_errors > 0 && !broken.errors.is_empty());
    assert!(broken.errors.iter().all(|e| !e.file.is_empty() && e.line > 0 && e.col > 0 && !e.message.is_empty()));
    for file in [&calls, &broken] {
        let json = serde_json::to_string(file).unwrap();
        let back: ClangFile = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, file);
        assert_eq!(serde_json::to_string(&back).unwrap(), json, "the same bytes after a round trip");
    }
    let v = serde_json::to_value(&calls).unwrap();
    let keys = |o: &serde_json::Value| o.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&v), ["calls", "diagnostics_errors", "errors", "functions"]);
    assert_eq!(keys(&v["calls"][0]), ["callee", "caller", "col", "indirect", "line", "via_macro"]);
    assert_eq!(keys(&v["functions"][0]), ["col", "line", "name"]);
    assert_eq!(keys(&serde_json::to_value(&broken).unwrap()["errors"][0]), ["col", "file", "line", "message"]);

    let bin = env!("CARGO_BIN_EXE_dynwalk-clangref");
    let run = || Command::new(bin).arg(fixture("calls.c")).arg("--").arg("-std=gnu11").output().unwrap();
    let (one, two) = (run(), run());
    assert_eq!(one.status.code(), Some(0), "{}", String::from_utf8_lossy(&one.stderr));
    assert_eq!(one.stdout, two.stdout, "two processes print the same bytes");
    let back: ClangFile = serde_json::from_slice(&one.stdout).unwrap();
    assert_eq!(back, calls, "the binary's JSON is the library's value");
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
