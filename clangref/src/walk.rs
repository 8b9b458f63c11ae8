//! From a translation unit to plain facts: definitions of the main file and the
//! calls inside them.

use clang_sys::{
    CXCursor, CXCursor_ArraySubscriptExpr, CXCursor_CStyleCastExpr, CXCursor_CallExpr, CXCursor_DeclRefExpr,
    CXCursor_FunctionDecl, CXCursor_MemberRefExpr, CXCursor_ParenExpr, CXCursor_UnaryOperator, CXCursor_UnexposedExpr,
};

use crate::model::{ClangCall, ClangFunction};
use crate::unit::{self, Position, Unit};

/// What a call expression calls, before its position is resolved.
struct Callee {
    name: String,
    /// The cursor whose location is the callee's name (the call itself if none).
    at: CXCursor,
    indirect: bool,
    /// A compiler builtin or a compile-time check, left out of the output.
    excluded: bool,
}

pub(crate) fn main_file_facts(unit: &Unit<'_>, text: &[u8]) -> (Vec<ClangFunction>, Vec<ClangCall>) {
    let mut functions = Vec::new();
    let mut calls = Vec::new();
    for def in unit::children(unit.root()).into_iter().filter(|c| is_main_file_definition(unit, *c)) {
        let name = unit::spelling(def);
        let (line, col, _) = main_position(unit, def, text, &name);
        for call in unit::descendants_of_kind(def, CXCursor_CallExpr) {
            let callee = resolve_callee(call);
            if callee.excluded {
                continue;
            }
            let (line, col, via_macro) = main_position(unit, callee.at, text, &callee.name);
            calls.push(ClangCall {
                caller: name.clone(),
                callee: callee.name,
                line,
                col,
                via_macro,
                indirect: callee.indirect,
            });
        }
        functions.push(ClangFunction { name, line, col });
    }
    functions.sort_by(|a, b| (a.line, a.col, &a.name).cmp(&(b.line, b.col, &b.name)));
    calls.sort_by(|a, b| {
        (a.line, a.col, &a.caller, &a.callee, a.via_macro, a.indirect).cmp(&(
            b.line,
            b.col,
            &b.caller,
            &b.callee,
            b.via_macro,
            b.indirect,
        ))
    });
    (functions, calls)
}

/// A function definition whose name is written in the main file, or produced by a
/// macro used there (`SYSCALL_DEFINE3(pipe2, ...)`): the expansion point decides.
fn is_main_file_definition(unit: &Unit<'_>, c: CXCursor) -> bool {
    unit::kind(c) == CXCursor_FunctionDecl
        && unit::is_definition(c)
        && unit.is_main(unit::expansion_position(unit::location(c)).file)
}

/// `BUILD_BUG_ON` & co. call `__compiletime_assert_<__COUNTER__>()`, a function that
/// exists only to fail the build: never a real call, and its name changes with every
/// edit above it.
const COMPILE_TIME_CHECK: &str = "__compiletime_assert_";

/// Direct call: a `DeclRefExpr` to a function, under casts and parentheses.
/// Anything else calls through a pointer; the member or variable holding it names it.
fn resolve_callee(call: CXCursor) -> Callee {
    let target = unit::children(call).first().copied().and_then(callee_reference);
    let Some(reference) = target else {
        return Callee { name: String::new(), at: call, indirect: true, excluded: false };
    };
    let name = unit::spelling(reference);
    let declaration = unit::referenced(reference);
    let is_function = unit::kind(reference) == CXCursor_DeclRefExpr
        && declaration.is_some_and(|d| unit::kind(d) == CXCursor_FunctionDecl);
    let excluded = is_function
        && (name.starts_with("__builtin_")
            || name.starts_with(COMPILE_TIME_CHECK)
            || declaration.is_some_and(is_implicit));
    Callee { name, at: reference, indirect: !is_function, excluded }
}

/// The reference naming the callee inside the callee expression, if there is one.
fn callee_reference(expr: CXCursor) -> Option<CXCursor> {
    match unit::kind(expr) {
        k if k == CXCursor_DeclRefExpr || k == CXCursor_MemberRefExpr => Some(expr),
        k if k == CXCursor_UnexposedExpr
            || k == CXCursor_ParenExpr
            || k == CXCursor_UnaryOperator
            || k == CXCursor_CStyleCastExpr
            || k == CXCursor_ArraySubscriptExpr =>
        {
            unit::children(expr).into_iter().find_map(callee_reference)
        }
        _ => None,
    }
}

/// Declarations clang makes up itself (library builtins) have no file.
fn is_implicit(declaration: CXCursor) -> bool {
    unit::file_position(unit::location(declaration)).file.is_null()
}

/// Position in the main file of `at`, and whether `name` is *not* written there
/// (the call comes from a macro body). Macro arguments keep their own spelling.
fn main_position(unit: &Unit<'_>, at: CXCursor, text: &[u8], name: &str) -> (u32, u32, bool) {
    let loc = unit::location(at);
    let written = unit::file_position(loc);
    if unit.is_main(written.file) {
        let hidden = !name.is_empty() && !is_written_at(text, written, name);
        return (written.line, written.col, hidden);
    }
    let used = unit::expansion_position(loc);
    (used.line, used.col, true)
}

/// `name` is the whole identifier starting at `at` in the main file's text.
fn is_written_at(text: &[u8], at: Position, name: &str) -> bool {
    let start = at.offset as usize;
    let end = start + name.len();
    let after = text.get(end).copied();
    text.get(start..end) == Some(name.as_bytes()) && !after.is_some_and(|b| b == b'_' || b.is_ascii_alphanumeric())
}
