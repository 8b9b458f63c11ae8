//! Per-file facts: the plain-data contract between the syntax layer and everything after it.
//!
//! A `FileFacts` is self-contained: names are indices into its own string table (`names`),
//! so files can be extracted in parallel, compared for equality (salsa backdating) and
//! stored on disk independently. Global passes intern the names when they merge files.

use serde::{Deserialize, Serialize};

/// Version of the facts encoding; bump on any change of these types (the on-disk cache
/// refuses entries of another version and re-extracts them).
pub const FACTS_VERSION: u32 = 10;

/// Index into [`FileFacts::names`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Sym(pub u32);

/// A place in a file: byte offset plus 1-based line and column (column in bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Pos {
    pub offset: u32,
    pub line: u32,
    pub col: u32,
}

/// A byte range with the position of its start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Span {
    pub start: Pos,
    pub end: u32,
}

/// Storage classes and kernel attributes of a function definition (bit set).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FnAttrs(pub u16);

impl FnAttrs {
    pub const STATIC: u16 = 1;
    pub const INLINE: u16 = 2;
    pub const ALWAYS_INLINE: u16 = 4;
    pub const INIT: u16 = 8;
    pub const EXIT: u16 = 16;
    pub const NOTRACE: u16 = 32;
    pub const ASMLINKAGE: u16 = 64;
    pub const KNR: u16 = 128;
    pub const EXTERN: u16 = 256;
    pub const NOINLINE: u16 = 512;
    /// Defined through `SYSCALL_DEFINEn`/`COMPAT_SYSCALL_DEFINEn`: under an architecture's
    /// syscall wrappers the build emits stubs, not the function's own name.
    pub const SYSCALL: u16 = 1024;
    pub const NAMES: [(u16, &'static str); 11] = [
        (Self::STATIC, "static"),
        (Self::INLINE, "inline"),
        (Self::ALWAYS_INLINE, "__always_inline"),
        (Self::INIT, "__init"),
        (Self::EXIT, "__exit"),
        (Self::NOTRACE, "notrace"),
        (Self::ASMLINKAGE, "asmlinkage"),
        (Self::KNR, "k&r"),
        (Self::EXTERN, "extern"),
        (Self::NOINLINE, "noinline"),
        (Self::SYSCALL, "syscall"),
    ];
    pub fn has(self, bit: u16) -> bool {
        self.0 & bit != 0
    }
    pub fn names(self) -> Vec<&'static str> {
        Self::NAMES.iter().filter(|(b, _)| self.has(*b)).map(|(_, n)| *n).collect()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Function {
    pub name: Sym,
    /// The whole definition.
    pub span: Span,
    /// The name in the declarator.
    pub name_pos: Pos,
    /// Byte range of the body `{ ... }`.
    pub body: (u32, u32),
    pub attrs: FnAttrs,
    /// Return type as written (normalised whitespace, no storage class).
    pub ret: Sym,
    /// Parameters: (name, type text).
    pub params: Vec<(Sym, Sym)>,
    /// Hash of the body text with whitespace and comments folded, and without the
    /// branches that are not compiled under the configuration (for change detection).
    pub body_hash: u64,
    /// Defined inside an `#if` whose condition is unknown.
    pub conditional: bool,
    /// The body contains parse errors (its facts are still extracted).
    pub has_errors: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum CallKind {
    /// `foo(...)`
    Direct,
    /// `ops->read(...)` / `ops.read(...)`: the member is the callee name.
    Member,
    /// `(*fp)(...)` or `fp(...)` where `fp` is a local/parameter variable.
    Pointer,
    /// An iterator-like macro followed by a block, `list_for_each(p, h) { ... }`.
    MacroBlock,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    /// Index of the enclosing function in [`FileFacts::functions`], if any.
    pub caller: Option<u32>,
    /// Callee name: function or macro name, member name, or pointer variable name.
    pub callee: Sym,
    pub kind: CallKind,
    pub pos: Pos,
    /// For member calls: the base of the member access, if its type was resolved locally.
    pub base: Option<Base>,
    pub conditional: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AccessKind {
    Read,
    Write,
    AddressOf,
}

impl AccessKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessKind::Read => "read",
            AccessKind::Write => "write",
            AccessKind::AddressOf => "address-of",
        }
    }
}

/// What the object of a field access is, as far as one file can tell.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Base {
    /// A type written in the source (declaration, cast, `container_of`): e.g.
    /// `struct task_struct *` or `task_t`.
    Type(Sym),
    /// The result of another field access in this file (index into `accesses`).
    Member(u32),
    /// A name not declared in the function or the file: a global elsewhere, or a macro.
    Name(Sym),
    /// The value returned by a call to this function.
    Call(Sym),
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    pub caller: Option<u32>,
    pub field: Sym,
    /// `true` for `->`, `false` for `.`
    pub arrow: bool,
    pub kind: AccessKind,
    pub base: Base,
    pub pos: Pos,
    pub conditional: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TypeKind {
    Struct,
    Union,
    Enum,
    Typedef,
}

impl TypeKind {
    pub fn keyword(self) -> &'static str {
        match self {
            TypeKind::Struct => "struct",
            TypeKind::Union => "union",
            TypeKind::Enum => "enum",
            TypeKind::Typedef => "typedef",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    /// Empty name (`Sym` of "") for anonymous members.
    pub name: Sym,
    /// Type text as written, e.g. `struct mm_struct *` or `int`.
    pub ty: Sym,
    pub pos: Pos,
    /// Nesting path for members of anonymous inner structs/unions (0 = direct member).
    pub depth: u8,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeDef {
    pub kind: TypeKind,
    /// Tag or typedef name (anonymous aggregates get `<anon@line>`).
    pub name: Sym,
    pub span: Span,
    pub fields: Vec<Field>,
    /// For typedefs: the aliased type text (e.g. `struct task_struct`).
    pub aliased: Option<Sym>,
    /// For enums: the enumerator names.
    pub enumerators: Vec<Sym>,
    pub conditional: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MacroDef {
    pub name: Sym,
    /// `None` for object-like macros.
    pub params: Option<Box<[Sym]>>,
    pub pos: Pos,
    pub body_hash: u64,
    pub conditional: bool,
    /// The unknown `#if` conditions around the definition, as one C expression.
    pub condition: Option<Sym>,
    /// What the body names; `None` for bodies that name nothing (numeric constants, the
    /// millions of register definitions of some drivers), to keep those small.
    pub refs: Option<Box<MacroRefs>>,
}

/// The names a macro body uses.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MacroRefs {
    /// Names called in the body (`ident(`), in order of appearance, deduplicated.
    pub calls: Vec<Sym>,
    /// Identifiers used in the body that are not calls or parameters (for object-like
    /// macros standing for a call such as `current`, and for constant users).
    pub idents: Vec<Sym>,
    /// Field names used in the body (`->f` / `.f`).
    pub fields: Vec<Sym>,
    /// Parameters called in the body (`_p_func(...)`), by index: the callee is whatever
    /// the invocation passes there.
    pub param_calls: Vec<u8>,
    /// Single-identifier arguments of the calls in the body: (callee, argument index,
    /// argument), so a name passed down to a macro that calls it can be followed.
    pub call_args: Vec<(Sym, u8, MacroArg)>,
}

static NO_REFS: MacroRefs = MacroRefs {
    calls: Vec::new(),
    idents: Vec::new(),
    fields: Vec::new(),
    param_calls: Vec::new(),
    call_args: Vec::new(),
};

impl MacroDef {
    pub fn refs(&self) -> &MacroRefs {
        self.refs.as_deref().unwrap_or(&NO_REFS)
    }
}

/// An argument in a macro body: a plain name, or one of the macro's own parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MacroArg {
    Name(Sym),
    Param(u8),
}

/// A designated initializer in an ops table: `.open = foo_open`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpsInit {
    /// Struct type of the table, when written in the declaration.
    pub ty: Option<Sym>,
    /// The variable being initialised (if at file scope).
    pub var: Option<Sym>,
    pub field: Sym,
    pub func: Sym,
    pub pos: Pos,
}

/// A function name used as a value (not called): `&foo`, `x = foo`, `f(foo)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddrTaken {
    pub caller: Option<u32>,
    pub name: Sym,
    /// When assigned to a member: `p->ops = foo` gives `ops`.
    pub member: Option<Sym>,
    pub pos: Pos,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Global {
    pub name: Sym,
    pub ty: Sym,
    pub pos: Pos,
    pub is_static: bool,
    pub is_extern: bool,
    /// A `static` variable declared inside a function (index of that function).
    pub in_function: Option<u32>,
    /// Hash of the initializer text (0 when there is none).
    pub init_hash: u64,
    /// For an array declared without a length (`struct phy_driver drivers[] = {...}`):
    /// the number of elements its initializer list has in the active branches, which is
    /// the array's length.
    pub init_len: Option<u32>,
    pub conditional: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Include {
    pub path: Sym,
    pub system: bool,
    pub pos: Pos,
    pub conditional: bool,
}

/// A `sizeof` use of a type or expression; kept for layout questions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizeofUse {
    pub caller: Option<u32>,
    /// Type text or expression text.
    pub arg: Sym,
    pub pos: Pos,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Severity {
    Error,
    Warning,
    Note,
}

/// Stable diagnostic codes; docs/diagnostics.md explains each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DiagCode {
    /// DW0001: a syntax error inside a function body or at file scope.
    ParseError,
    /// DW0002: an `#if` without `#endif` or an `#endif`/`#else` without `#if`.
    UnbalancedConditional,
    /// DW0003: a file that is not valid UTF-8 (analysed lossily).
    NotUtf8,
}

impl DiagCode {
    pub fn code(self) -> &'static str {
        match self {
            DiagCode::ParseError => "DW0001",
            DiagCode::UnbalancedConditional => "DW0002",
            DiagCode::NotUtf8 => "DW0003",
        }
    }
}

/// A finding about the input: a value with a stable code, never a panic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    pub code: DiagCode,
    pub severity: Severity,
    pub pos: Pos,
    pub message: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileFacts {
    pub names: Vec<String>,
    pub functions: Vec<Function>,
    pub calls: Vec<Call>,
    pub accesses: Vec<Access>,
    pub types: Vec<TypeDef>,
    pub macros: Vec<MacroDef>,
    pub ops_inits: Vec<OpsInit>,
    pub addr_taken: Vec<AddrTaken>,
    pub globals: Vec<Global>,
    pub includes: Vec<Include>,
    pub sizeofs: Vec<SizeofUse>,
    pub diagnostics: Vec<Diagnostic>,
}

impl FileFacts {
    pub fn name(&self, s: Sym) -> &str {
        &self.names[s.0 as usize]
    }

    /// `f` takes no parameters (`f(void)`, `f()`, `SYSCALL_DEFINE0`).
    pub fn takes_no_args(&self, f: &Function) -> bool {
        f.params
            .iter()
            .all(|(p, t)| matches!(self.name(*p).trim(), "" | "void") && matches!(self.name(*t).trim(), "" | "void"))
    }
}

/// Counts of a set of facts, as printed by `dynwalk index`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub files: u64,
    pub functions: u64,
    pub calls: u64,
    pub accesses: u64,
    pub types: u64,
    pub fields: u64,
    pub macros: u64,
    pub ops_inits: u64,
    pub globals: u64,
    pub includes: u64,
    pub parse_errors: u64,
}

impl Counts {
    pub fn of(f: &FileFacts) -> Counts {
        Counts {
            files: 1,
            functions: f.functions.len() as u64,
            calls: f.calls.len() as u64,
            accesses: f.accesses.len() as u64,
            types: f.types.len() as u64,
            fields: f.types.iter().map(|t| t.fields.len() as u64).sum(),
            macros: f.macros.len() as u64,
            ops_inits: f.ops_inits.len() as u64,
            globals: f.globals.len() as u64,
            includes: f.includes.len() as u64,
            parse_errors: f.diagnostics.iter().filter(|d| d.code == DiagCode::ParseError).count() as u64,
        }
    }
    pub fn add(&mut self, o: &Counts) {
        self.files += o.files;
        self.functions += o.functions;
        self.calls += o.calls;
        self.accesses += o.accesses;
        self.types += o.types;
        self.fields += o.fields;
        self.macros += o.macros;
        self.ops_inits += o.ops_inits;
        self.globals += o.globals;
        self.includes += o.includes;
        self.parse_errors += o.parse_errors;
    }
}
