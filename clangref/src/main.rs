//! `dynwalk-clangref FILE.c -- CLANG_ARGS...`: prints what clang sees in FILE.c
//! (definitions, calls, error diagnostics) as one JSON object on stdout and a
//! one-line summary with the time taken on stderr.
//!
//! Exit codes: 0 done (even if clang reported errors: see `diagnostics_errors`),
//! 2 usage, 3 libclang unavailable, 4 input unreadable, 5 libclang could not parse,
//! 6 output could not be written.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use dynwalk_clangref::{call_edges, ClangError, ClangFile, SCHEMA_VERSION};
use serde::Serialize;

const USAGE: &str = "usage: dynwalk-clangref FILE.c -- [CLANG_ARGS...]\n\
    flags for a 6.1 kernel file: mapfile -t f < <(scripts/clang-flags.sh TREE FILE.c)";

#[derive(Serialize)]
struct Report<'a> {
    schema_version: u32,
    file: &'a str,
    #[serde(flatten)]
    result: &'a ClangFile,
}

struct Invocation {
    file: PathBuf,
    clang_args: Vec<String>,
}

fn parse_invocation(mut argv: impl Iterator<Item = String>) -> Result<Invocation, String> {
    let file = match argv.next() {
        Some(f) if f == "-h" || f == "--help" => return Err(String::new()),
        Some(f) if !f.starts_with('-') => PathBuf::from(f),
        Some(f) => return Err(format!("unexpected option {f}")),
        None => return Err("missing FILE.c".into()),
    };
    match argv.next() {
        Some(sep) if sep == "--" => {}
        Some(other) => return Err(format!("expected `--` after the file, got {other}")),
        None => {}
    }
    Ok(Invocation { file, clang_args: argv.collect() })
}

fn exit_code(e: &ClangError) -> u8 {
    match e {
        ClangError::LibclangUnavailable(_) | ClangError::IndexCreation => 3,
        ClangError::Unreadable { .. } | ClangError::PathWithNul(_) => 4,
        ClangError::ArgumentWithNul { .. } | ClangError::Parse { .. } => 5,
    }
}

fn main() -> ExitCode {
    let inv = match parse_invocation(std::env::args().skip(1)) {
        Ok(inv) => inv,
        Err(why) => {
            if !why.is_empty() {
                eprintln!("dynwalk-clangref: {why}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(if why.is_empty() { 0 } else { 2 });
        }
    };
    let started = Instant::now();
    let result = match call_edges(&inv.file, &inv.clang_args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("dynwalk-clangref: {e}");
            return ExitCode::from(exit_code(&e));
        }
    };
    let elapsed = started.elapsed();
    let file = inv.file.to_string_lossy();
    let report = Report { schema_version: SCHEMA_VERSION, file: &file, result: &result };
    let mut out = std::io::stdout().lock();
    let written =
        serde_json::to_writer_pretty(&mut out, &report).map_err(std::io::Error::from).and_then(|()| writeln!(out));
    if let Err(e) = written {
        eprintln!("dynwalk-clangref: cannot write output: {e}");
        return ExitCode::from(6);
    }
    eprintln!(
        "dynwalk-clangref: {file}: {} functions, {} calls ({} via macro, {} indirect), {} errors, {:.2}s",
        result.functions.len(),
        result.calls.len(),
        result.calls.iter().filter(|c| c.via_macro).count(),
        result.calls.iter().filter(|c| c.indirect).count(),
        result.diagnostics_errors,
        elapsed.as_secs_f64()
    );
    ExitCode::SUCCESS
}
