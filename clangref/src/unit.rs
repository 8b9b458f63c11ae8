//! Owned wrappers around libclang: loading, index, translation unit, strings,
//! locations, cursor children. Every `unsafe` call of the crate lives here.

use std::ffi::{CStr, CString};
use std::os::raw::c_uint;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr;

use clang_sys::*;

use crate::error::{ClangError, ParseFailure};
use crate::model::ClangDiagnostic;

/// Loads libclang for the current thread (clang-sys keeps it per thread).
/// `LIBCLANG_PATH` picks a directory; otherwise clang-sys searches the usual
/// places, which on Debian 12 finds libclang-14 under /usr/lib/llvm-14/lib.
pub(crate) fn ensure_loaded() -> Result<(), ClangError> {
    if clang_sys::is_loaded() {
        return Ok(());
    }
    clang_sys::load().map_err(ClangError::LibclangUnavailable)
}

pub(crate) struct Index(CXIndex);

impl Index {
    pub(crate) fn new() -> Result<Self, ClangError> {
        // SAFETY: libclang is loaded; both flags are plain ints.
        let raw = unsafe { clang_createIndex(0, 0) };
        if raw.is_null() {
            return Err(ClangError::IndexCreation);
        }
        Ok(Index(raw))
    }
}

impl Drop for Index {
    fn drop(&mut self) {
        // SAFETY: created by clang_createIndex, disposed once, after its units.
        unsafe { clang_disposeIndex(self.0) }
    }
}

/// A parsed file. Borrows its index, which must outlive it.
pub(crate) struct Unit<'i> {
    raw: CXTranslationUnit,
    main: CXFile,
    _index: &'i Index,
}

impl Drop for Unit<'_> {
    fn drop(&mut self) {
        // SAFETY: created by clang_parseTranslationUnit2, disposed once.
        unsafe { clang_disposeTranslationUnit(self.raw) }
    }
}

/// A position as libclang reports it, with the file it lies in.
#[derive(Clone, Copy)]
pub(crate) struct Position {
    pub(crate) file: CXFile,
    pub(crate) line: u32,
    pub(crate) col: u32,
    pub(crate) offset: u32,
}

pub(crate) fn parse<'i>(index: &'i Index, file: &Path, args: &[String]) -> Result<Unit<'i>, ClangError> {
    let c_file = CString::new(file.as_os_str().as_bytes()).map_err(|_| ClangError::PathWithNul(file.to_path_buf()))?;
    let c_args = args
        .iter()
        .enumerate()
        .map(|(index, a)| CString::new(a.as_bytes()).map_err(|_| ClangError::ArgumentWithNul { index }))
        .collect::<Result<Vec<_>, _>>()?;
    let argv: Vec<*const _> = c_args.iter().map(|a| a.as_ptr()).collect();
    let argc = i32::try_from(argv.len())
        .map_err(|_| ClangError::Parse { path: file.to_path_buf(), failure: ParseFailure::InvalidArguments })?;
    let mut raw: CXTranslationUnit = ptr::null_mut();
    // SAFETY: every pointer is valid for the call; no unsaved files.
    let code = unsafe {
        clang_parseTranslationUnit2(
            index.0,
            c_file.as_ptr(),
            argv.as_ptr(),
            argc,
            ptr::null_mut(),
            0,
            CXTranslationUnit_KeepGoing,
            &mut raw,
        )
    };
    if code != CXError_Success || raw.is_null() {
        let failure = match code {
            c if c == CXError_Crashed => ParseFailure::Crashed,
            c if c == CXError_InvalidArguments => ParseFailure::InvalidArguments,
            c if c == CXError_ASTReadError => ParseFailure::AstReadError,
            c if c == CXError_Failure || c == CXError_Success => ParseFailure::Failure,
            other => ParseFailure::Other(other),
        };
        return Err(ClangError::Parse { path: file.to_path_buf(), failure });
    }
    // SAFETY: `raw` is a live unit, the name a valid C string.
    let main = unsafe { clang_getFile(raw, c_file.as_ptr()) };
    Ok(Unit { raw, main, _index: index })
}

impl Unit<'_> {
    pub(crate) fn root(&self) -> CXCursor {
        // SAFETY: live unit.
        unsafe { clang_getTranslationUnitCursor(self.raw) }
    }

    pub(crate) fn is_main(&self, file: CXFile) -> bool {
        // SAFETY: clang_File_isEqual accepts null handles.
        !file.is_null() && !self.main.is_null() && unsafe { clang_File_isEqual(file, self.main) } != 0
    }

    /// Diagnostics of severity error or fatal, in clang's order.
    pub(crate) fn errors(&self) -> Vec<ClangDiagnostic> {
        // SAFETY: live unit; each diagnostic is disposed after use.
        let count = unsafe { clang_getNumDiagnostics(self.raw) };
        let mut out = Vec::new();
        for i in 0..count {
            let diag = unsafe { clang_getDiagnostic(self.raw, i) };
            if diag.is_null() {
                continue;
            }
            if unsafe { clang_getDiagnosticSeverity(diag) } >= CXDiagnostic_Error {
                let at = file_position(unsafe { clang_getDiagnosticLocation(diag) });
                out.push(ClangDiagnostic {
                    file: file_name(at.file),
                    line: at.line,
                    col: at.col,
                    message: take_string(unsafe { clang_getDiagnosticSpelling(diag) }),
                });
            }
            unsafe { clang_disposeDiagnostic(diag) };
        }
        out
    }
}

pub(crate) fn take_string(s: CXString) -> String {
    // SAFETY: `s` came from libclang and is disposed exactly once here.
    unsafe {
        let p = clang_getCString(s);
        let out = if p.is_null() { String::new() } else { CStr::from_ptr(p).to_string_lossy().into_owned() };
        clang_disposeString(s);
        out
    }
}

fn file_name(file: CXFile) -> String {
    if file.is_null() {
        return String::new();
    }
    // SAFETY: non-null file handle of a live unit.
    take_string(unsafe { clang_getFileName(file) })
}

fn position_with(
    loc: CXSourceLocation,
    get: unsafe fn(CXSourceLocation, *mut CXFile, *mut c_uint, *mut c_uint, *mut c_uint),
) -> Position {
    let (mut file, mut line, mut col, mut offset): (CXFile, c_uint, c_uint, c_uint) = (ptr::null_mut(), 0, 0, 0);
    // SAFETY: out-pointers are valid locals; `get` is a libclang location query.
    unsafe { get(loc, &mut file, &mut line, &mut col, &mut offset) };
    Position { file, line, col, offset }
}

/// Where the text is written: the macro argument's spelling, or the macro use for
/// tokens of a macro body (libclang's `getFileLoc`).
pub(crate) fn file_position(loc: CXSourceLocation) -> Position {
    position_with(loc, clang_getFileLocation)
}

/// Where the outermost macro is used (the location itself outside macros).
pub(crate) fn expansion_position(loc: CXSourceLocation) -> Position {
    position_with(loc, clang_getExpansionLocation)
}

pub(crate) fn kind(c: CXCursor) -> CXCursorKind {
    // SAFETY: cursors are plain values of a live unit.
    unsafe { clang_getCursorKind(c) }
}

pub(crate) fn spelling(c: CXCursor) -> String {
    take_string(unsafe { clang_getCursorSpelling(c) })
}

pub(crate) fn location(c: CXCursor) -> CXSourceLocation {
    unsafe { clang_getCursorLocation(c) }
}

pub(crate) fn is_definition(c: CXCursor) -> bool {
    unsafe { clang_isCursorDefinition(c) != 0 }
}

/// The declaration a reference or call names; `None` for the null cursor.
pub(crate) fn referenced(c: CXCursor) -> Option<CXCursor> {
    let r = unsafe { clang_getCursorReferenced(c) };
    if unsafe { clang_Cursor_isNull(r) } != 0 {
        None
    } else {
        Some(r)
    }
}

/// Direct children, in source order.
pub(crate) fn children(c: CXCursor) -> Vec<CXCursor> {
    collect(c, false)
}

/// Every descendant whose kind is `wanted`, in pre-order.
pub(crate) fn descendants_of_kind(c: CXCursor, wanted: CXCursorKind) -> Vec<CXCursor> {
    collect(c, true).into_iter().filter(|d| kind(*d) == wanted).collect()
}

struct Visit {
    recurse: bool,
    found: Vec<CXCursor>,
}

extern "C" fn visit(cursor: CXCursor, _parent: CXCursor, data: CXClientData) -> CXChildVisitResult {
    // SAFETY: `data` is the `&mut Visit` handed to clang_visitChildren below, alive
    // and unaliased for the whole visit. Nothing here can panic but an allocation.
    let state = unsafe { &mut *(data as *mut Visit) };
    state.found.push(cursor);
    if state.recurse {
        CXChildVisit_Recurse
    } else {
        CXChildVisit_Continue
    }
}

fn collect(c: CXCursor, recurse: bool) -> Vec<CXCursor> {
    let mut state = Visit { recurse, found: Vec::new() };
    // SAFETY: `state` outlives the call; `visit` matches CXCursorVisitor.
    unsafe { clang_visitChildren(c, visit, &mut state as *mut Visit as CXClientData) };
    state.found
}
