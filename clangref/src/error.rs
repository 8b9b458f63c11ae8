//! Failures of the clang front-end itself (not diagnostics of the parsed code).

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why `call_edges` produced no result.
#[derive(Debug)]
pub enum ClangError {
    /// libclang could not be found or loaded (install `libclang-14-dev`, or set
    /// `LIBCLANG_PATH` to the directory holding `libclang.so`).
    LibclangUnavailable(String),
    /// The source file could not be read.
    Unreadable { path: PathBuf, source: io::Error },
    /// The path contains a NUL byte and cannot be handed to libclang.
    PathWithNul(PathBuf),
    /// Argument number `index` contains a NUL byte.
    ArgumentWithNul { index: usize },
    /// libclang refused to create an index.
    IndexCreation,
    /// libclang returned no translation unit.
    Parse { path: PathBuf, failure: ParseFailure },
}

/// libclang's `CXErrorCode` for a failed parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseFailure {
    Failure,
    Crashed,
    InvalidArguments,
    AstReadError,
    /// A code this crate does not know (a newer libclang).
    Other(i32),
}

impl fmt::Display for ParseFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseFailure::Failure => f.write_str("generic failure"),
            ParseFailure::Crashed => f.write_str("libclang crashed"),
            ParseFailure::InvalidArguments => f.write_str("invalid arguments"),
            ParseFailure::AstReadError => f.write_str("AST read error"),
            ParseFailure::Other(code) => write!(f, "error code {code}"),
        }
    }
}

impl fmt::Display for ClangError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClangError::LibclangUnavailable(why) => write!(f, "libclang unavailable: {why}"),
            ClangError::Unreadable { path, source } => {
                write!(f, "cannot read {}: {source}", path.display())
            }
            ClangError::PathWithNul(path) => {
                write!(f, "path contains a NUL byte: {}", path.display())
            }
            ClangError::ArgumentWithNul { index } => {
                write!(f, "clang argument #{index} contains a NUL byte")
            }
            ClangError::IndexCreation => f.write_str("libclang could not create an index"),
            ClangError::Parse { path, failure } => {
                write!(f, "libclang could not parse {}: {failure}", path.display())
            }
        }
    }
}

impl std::error::Error for ClangError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClangError::Unreadable { source, .. } => Some(source),
            _ => None,
        }
    }
}
