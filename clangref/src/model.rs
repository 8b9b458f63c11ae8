//! Plain-data results of one clang run. No libclang type appears here.

use serde::{Deserialize, Serialize};

/// Version of the JSON written by the `dynwalk-clangref` binary.
pub const SCHEMA_VERSION: u32 = 1;

/// What clang sees in one `.c` file: its function definitions and the calls in them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClangFile {
    /// Number of diagnostics of severity error or fatal (in the file or its headers).
    pub diagnostics_errors: usize,
    /// Those diagnostics, in clang's order, so that a bad flag set can be traced.
    pub errors: Vec<ClangDiagnostic>,
    /// Function definitions whose name is written (or expanded) in the main file,
    /// sorted by position.
    pub functions: Vec<ClangFunction>,
    /// Calls inside those definitions, sorted by position, then caller, then callee.
    pub calls: Vec<ClangCall>,
}

/// A function definition of the main file. `line`/`col` are 1-based and point at the
/// name, or at the macro use that produced it (`SYSCALL_DEFINE3(...)`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ClangFunction {
    pub name: String,
    pub line: u32,
    pub col: u32,
}

/// One call expression inside a function definition of the main file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ClangCall {
    /// The enclosing function definition.
    pub caller: String,
    /// Direct call: the called function. Indirect call: the member or variable that
    /// holds the pointer (`ops->start(x)` gives `start`), empty if there is none
    /// (`get_fn()(x)`, `(a ? f : g)(x)`).
    pub callee: String,
    /// 1-based position in the main file: where the callee name is written, or, when
    /// a macro body produced the call, where that macro is used.
    pub line: u32,
    pub col: u32,
    /// The callee's name is not written at `line:col`: the call comes from a macro
    /// body (`raw_spin_lock_irq(l)` calling `_raw_spin_lock_irq`, `current`).
    /// Calls written as macro *arguments* (`WARN_ON(!foo())`) are not `via_macro`.
    pub via_macro: bool,
    /// A call through a function pointer rather than to a declared function.
    pub indirect: bool,
}

/// An error-level diagnostic. `file` is as clang names it; empty when clang gives none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClangDiagnostic {
    pub file: String,
    pub line: u32,
    pub col: u32,
    pub message: String,
}
