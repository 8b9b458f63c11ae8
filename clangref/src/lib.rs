//! Clang reference front-end of dynwalk.
//!
//! Parses one C file with libclang (loaded at run time, libclang-14 on Debian 12)
//! and the flags of `scripts/clang-flags.sh`, and reports the function definitions
//! of that file with the calls in them, as clang sees them after preprocessing.
//! It is the yardstick for the tree-sitter extractor's accuracy (see
//! docs/accuracy-method.md), not part of the analysis pipeline.
//!
//! Invariants: no clang-sys type leaves this crate (`unit` owns all of them);
//! results are plain sorted data; bad input is a [`ClangError`], never a panic;
//! diagnostics of the parsed code are data ([`ClangFile::errors`]), not failures.

mod error;
mod model;
mod unit;
mod walk;

use std::path::Path;

pub use error::{ClangError, ParseFailure};
pub use model::{ClangCall, ClangDiagnostic, ClangFile, ClangFunction, SCHEMA_VERSION};

/// Parses `file` with clang arguments `args` (no file name, no `-c`/`-o`) and returns
/// the definitions located in `file` itself (not its headers) and the calls in them.
///
/// Direct calls name the called function, also when a macro produced them
/// (`via_macro`); calls through function pointers are `indirect` and name the
/// member or variable; compiler builtins (`__builtin_*` and declarations clang
/// creates implicitly) and the kernel's `__compiletime_assert_N()` checks are left out.
pub fn call_edges(file: &Path, args: &[String]) -> Result<ClangFile, ClangError> {
    let text = std::fs::read(file).map_err(|source| ClangError::Unreadable { path: file.to_path_buf(), source })?;
    unit::ensure_loaded()?;
    let index = unit::Index::new()?;
    let unit = unit::parse(&index, file, args)?;
    let errors = unit.errors();
    let (functions, calls) = walk::main_file_facts(&unit, &text);
    Ok(ClangFile { diagnostics_errors: errors.len(), errors, functions, calls })
}
