//! Stage 1, generate: from the plan and the patched text of each file that holds a new
//! version, the C source of an update module. No IO: texts in, texts out.
//!
//! Each source file `F` with versions becomes one generated file, in four parts:
//! 1. `F` as the patch leaves it, *pruned*: every include, macro, type and declaration
//!    stays where it is (so the versions compile in their own translation unit), but
//!    every function definition becomes a prototype, every non-static variable becomes
//!    an `extern` declaration (the kernel's, not a copy), and the invocations that would
//!    register something (`EXPORT_SYMBOL`, `module_init`, `*_initcall`, `__setup`...)
//!    are blanked. Line count is kept, so one `#line 1 "F"` maps it back.
//! 2. For every kernel name the versions reach that the module loader cannot resolve
//!    (not exported, or file-local), a pointer filled at load time by the runtime's
//!    kallsyms lookup; uses in the emitted code are rewritten to `(*dw_ksym__N)`.
//! 3. Copies of the file's functions the kernel does not have out of line (static
//!    inlines, helpers gcc inlined everywhere, functions the patch adds), verbatim.
//! 4. The versions: the patched function renamed `dw_body__F` and always inlined into
//!    `dw_ver__F`, which counts active invocations (the runtime's quiescence check) and
//!    is what the runtime redirects to; and the registration function.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use dynwalk_analyzer::facts::{FileFacts, FnAttrs, Function};
use dynwalk_analyzer::items::{top_level, Item, ItemKind};
use dynwalk_analyzer::lex::{Lexer, Tok, Token};

use crate::ksyms::Located;
use crate::shadow::{self, Site};
use crate::{Input, KsymUse, Refusal, SourceFile, VersionEntry, Want};

/// Names that, invoked at file scope, register or export something: a second copy in
/// the update module would register it twice (or define a second `init_module`).
fn is_registration(name: &str) -> bool {
    name.starts_with("EXPORT_")
        || name.starts_with("MODULE_")
        || name.starts_with("module_")
        || name.contains("initcall")
        || matches!(name, "__setup" | "__setup_param" | "early_param" | "core_param" | "__exitcall" | "builtin_driver")
        || name.starts_with("builtin_")
}

/// Words of a definition's head that belong to the original's storage or placement,
/// not to its type: the version decides its own.
const STORAGE_WORDS: &[&str] = &[
    "static",
    "extern",
    "inline",
    "__inline",
    "__inline__",
    "__always_inline",
    "noinline",
    "__init",
    "__exit",
    "__cold",
    "__weak",
    "__visible",
    "notrace",
    "__latent_entropy",
    "__used",
    "__maybe_unused",
];

/// Type keywords and the kernel's common typedefs.
const TYPE_WORDS: &[&str] = &[
    "int", "char", "short", "long", "unsigned", "signed", "void", "float", "double", "_Bool", "bool", "const",
    "volatile", "u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64", "__u8", "__u16", "__u32", "__u64", "__s8",
    "__s16", "__s32", "__s64", "__le16", "__le32", "__le64", "__be16", "__be32", "__be64",
];

/// C keywords that may stand before a name without declaring it.
const NOT_A_TYPE: &[&str] =
    &["return", "case", "sizeof", "else", "do", "goto", "typeof", "__typeof__", "if", "while", "for", "switch"];

/// One file's generated text and what it decided.
pub(crate) struct FileOut {
    pub c_name: String,
    pub text: String,
    pub init_fn: String,
    pub versions: Vec<VersionEntry>,
    pub ksyms: Vec<KsymUse>,
    pub copies: Vec<String>,
    pub notes: Vec<String>,
}

/// A static function to replace that the running kernel has no symbol for was inlined
/// by gcc into its callers: their code holds it, so they are replaced instead (clones,
/// as the plan does for `inline` functions), climbing until every target has a symbol.
/// The function itself is then emitted as a copy where the new callers use it.
fn retarget_inlined(inp: &Input, cx: &FileCtx, wanted: Vec<Want>, notes: &mut Vec<String>) -> Vec<Want> {
    let mut want: BTreeMap<String, Want> = wanted.into_iter().map(|w| (w.name.clone(), w)).collect();
    let mut dropped: BTreeSet<String> = BTreeSet::new();
    loop {
        let missing: Vec<String> = want
            .keys()
            .filter(|n| !inp.kernel.has(n))
            .filter(|n| cx.func(n).is_some_and(|f| f.attrs.has(FnAttrs::STATIC)))
            .cloned()
            .collect();
        if missing.is_empty() {
            break;
        }
        for m in missing {
            want.remove(&m);
            dropped.insert(m.clone());
            let mut callers: BTreeSet<String> = BTreeSet::new();
            for c in &cx.facts.calls {
                if cx.facts.name(c.callee) != m {
                    continue;
                }
                if let Some(ci) = c.caller {
                    let f = &cx.facts.functions[ci as usize];
                    if f.attrs.has(FnAttrs::INIT) || f.attrs.has(FnAttrs::EXIT) {
                        continue;
                    }
                    callers.insert(cx.facts.name(f.name).to_string());
                }
            }
            callers.retain(|c| !dropped.contains(c) && *c != m);
            if callers.is_empty() {
                notes.push(format!(
                    "{}: `{m}` has no symbol in the running kernel and no caller left to replace here",
                    cx.path
                ));
            }
            for c in callers {
                want.entry(c.clone()).or_insert_with(|| Want {
                    name: c,
                    kind: "clone",
                    reason: format!("calls {m}, which the running kernel inlined (it has no symbol of its own)"),
                    symbols: Vec::new(),
                });
            }
            notes.push(format!("{}: `{m}` is inlined in the running kernel: its callers are replaced", cx.path));
        }
    }
    want.into_values().collect()
}

/// Fills in the symbols the target's build emits for each syscall to replace (its arch
/// stubs): the plan gives them; for a caller the walker itself chose to replace (an
/// inlined helper's), the plan's rule is applied here. Left empty when unknown.
fn fill_syscall_stubs(inp: &Input, cx: &FileCtx, wanted: &mut [Want]) {
    for w in wanted.iter_mut().filter(|w| w.symbols.is_empty()) {
        let Some(f) = cx.func(&w.name).filter(|f| f.attrs.has(FnAttrs::SYSCALL)) else { continue };
        let Some(config) = inp.config else { continue };
        let zero = cx.facts.takes_no_args(f);
        w.symbols = dynwalk_analyzer::plan::syscall_entry_symbols(&w.name, zero, config).unwrap_or_default();
    }
}

/// The module's own stub for the kernel's stub `symbol` of syscall `function`: the
/// version's `SYSCALL_DEFINEn(dw_<n>, ...)` defines `__x64_sys_dw_<n>` for
/// `__x64_sys_<n>`.
fn module_stub(symbol: &str, function: &str) -> String {
    let prefix = &symbol[..symbol.len().saturating_sub(function.len())];
    let (kind, stem) = match function.strip_prefix("compat_sys_") {
        Some(n) => ("compat_sys_", n),
        None => ("sys_", function.strip_prefix("sys_").unwrap_or(function)),
    };
    format!("{prefix}{kind}dw_{stem}")
}

/// `SYSCALL_DEFINE1(newuname, struct new_utsname __user *, name)` with the syscall's
/// name given `dw_`: the kernel's own macro then defines the module's stubs.
fn syscall_head(text: &str, f: &Function) -> Option<String> {
    let h = &text[f.span.start.offset as usize..f.body.0 as usize];
    let open = h.find('(')?;
    let after = &h[open + 1..];
    let lead = after.len() - after.trim_start().len();
    Some(format!("{}dw_{}", &h[..open + 1 + lead], &after[lead..]).trim_end().replace('\n', " "))
}

impl FileOut {
    /// A file left with nothing to replace: no source, only its notes.
    fn empty(notes: Vec<String>) -> FileOut {
        FileOut {
            c_name: String::new(),
            text: String::new(),
            init_fn: String::new(),
            versions: Vec::new(),
            ksyms: Vec::new(),
            copies: Vec::new(),
            notes,
        }
    }
}

fn ident_tokens(text: &[u8]) -> Vec<Token> {
    Lexer::new(text).collect()
}

fn tok<'t>(text: &'t [u8], t: &Token) -> &'t str {
    std::str::from_utf8(&text[t.start..t.end]).unwrap_or("")
}

/// Identifiers used as names (not after `.`/`->`) in `text`.
fn used_names(text: &[u8]) -> BTreeSet<String> {
    let toks = ident_tokens(text);
    let mut out = BTreeSet::new();
    for (i, t) in toks.iter().enumerate() {
        if t.kind != Tok::Ident {
            continue;
        }
        let after_member = i > 0 && matches!(tok(text, &toks[i - 1]), "." | "->");
        if !after_member {
            out.insert(tok(text, t).to_string());
        }
    }
    out
}

/// The names declared (locals and parameters) in `text`: a name that follows a type
/// name or a `*`, and is followed by what ends a declarator.
fn declared_names(text: &[u8]) -> BTreeSet<String> {
    let toks = ident_tokens(text);
    let mut out = BTreeSet::new();
    for (i, t) in toks.iter().enumerate() {
        if t.kind != Tok::Ident || i == 0 {
            continue;
        }
        let next = toks.get(i + 1).map(|n| tok(text, n)).unwrap_or("");
        if !matches!(next, "=" | ";" | "," | ")" | "[") {
            continue;
        }
        let mut j = i - 1;
        while j > 0 && tok(text, &toks[j]) == "*" {
            j -= 1;
        }
        let prev = &toks[j];
        if prev.kind != Tok::Ident || NOT_A_TYPE.contains(&tok(text, prev)) {
            continue;
        }
        let starred = j + 1 < i;
        // `T name`: two names side by side are a declaration. `x * name` is one only
        // when `x` is a type: a type keyword, a tagged type, or a typedef's spelling.
        let w = tok(text, prev);
        let tagged = j > 0 && matches!(tok(text, &toks[j - 1]), "struct" | "union" | "enum");
        let typeish = TYPE_WORDS.contains(&w) || w.ends_with("_t") || tagged;
        if !starred || typeish {
            out.insert(tok(text, t).to_string());
        }
    }
    out
}

/// Replaces the identifier tokens of `text` (not member names) found in `map`.
fn rename(text: &str, map: &BTreeMap<String, String>) -> String {
    let bytes = text.as_bytes();
    let toks = ident_tokens(bytes);
    let mut out = String::with_capacity(text.len() + 64);
    let mut at = 0;
    for (i, t) in toks.iter().enumerate() {
        if t.kind != Tok::Ident {
            continue;
        }
        let after_member = i > 0 && matches!(tok(bytes, &toks[i - 1]), "." | "->");
        if after_member {
            continue;
        }
        if let Some(new) = map.get(tok(bytes, t)) {
            out.push_str(&text[at..t.start]);
            out.push_str(new);
            at = t.end;
        }
    }
    out.push_str(&text[at..]);
    out
}

/// Spaces in place of `text[a..b]`, newlines kept (so line numbers stay).
fn blank(out: &mut [u8], a: usize, b: usize) {
    for c in &mut out[a..b] {
        if *c != b'\n' {
            *c = b' ';
        }
    }
}

fn line_of(text: &[u8], at: usize) -> usize {
    text[..at.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

/// The head of a definition (`static int foo(struct x *p)`) with its storage words left
/// out and its name replaced.
fn head(text: &str, f: &Function, new_name: &str) -> String {
    let start = f.span.start.offset as usize;
    let name_at = f.name_pos.offset as usize;
    let body = f.body.0 as usize;
    let before = &text.as_bytes()[start..name_at];
    let mut words = Vec::new();
    for t in Lexer::new(before) {
        let w = tok(before, &t);
        if t.kind == Tok::Directive || STORAGE_WORDS.contains(&w) {
            continue;
        }
        words.push(w.to_string());
    }
    let name_len = text[name_at..].bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'_').count();
    let rest = text[name_at + name_len..body].trim_end();
    let mut h = words.join(" ").replace("* ", "*");
    if !h.is_empty() && !h.ends_with('*') {
        h.push(' ');
    }
    format!("{h}{new_name}{}", rest.replace('\n', " "))
}

struct FileCtx<'a> {
    path: &'a str,
    text: &'a str,
    facts: FileFacts,
    items: Vec<Item>,
    /// Functions defined in the patched file, by name (index into `facts.functions`).
    fns: BTreeMap<String, usize>,
    /// File-scope variables of the patched file: name -> (static, const).
    vars: BTreeMap<String, (bool, bool)>,
    /// Names the file defined at file scope before the patch (functions and variables).
    old_names: BTreeSet<String>,
    /// Every name the file defines at file scope (for kallsyms neighbourhoods).
    all_names: BTreeSet<String>,
    /// Macros of the file: name -> identifiers their bodies name.
    macros: BTreeMap<String, BTreeSet<String>>,
}

fn file_vars(items: &[Item]) -> BTreeMap<String, (bool, bool)> {
    let mut vars = BTreeMap::new();
    for it in items {
        if let ItemKind::Declaration { names, functions, is_static, is_extern, is_const, .. } = &it.kind {
            if *is_extern {
                continue;
            }
            for ((n, _), is_fn) in names.iter().zip(functions) {
                if !is_fn {
                    vars.insert(n.clone(), (*is_static, *is_const));
                }
            }
        }
    }
    vars
}

fn read_file<'a>(file: &'a SourceFile, inp: &Input) -> FileCtx<'a> {
    let text = file.new_text.as_str();
    // Only files linked into vmlinux get here: kbuild compiled them without MODULE, and
    // the plan read them so (`Config::for_object`); read them the same way.
    let config = inp.config.map(|c| c.for_object(false));
    let facts = dynwalk_analyzer::extract(text.as_bytes(), config.as_ref());
    let items = top_level(text.as_bytes(), config.as_ref());
    let vars = file_vars(&items);
    let mut old_names = BTreeSet::new();
    if let Some(old) = &file.old_text {
        // Names only: the top-level items of the old text hold them all.
        let old_items = top_level(old.as_bytes(), config.as_ref());
        old_names.extend(old_items.iter().filter_map(|it| match &it.kind {
            ItemKind::Function { name, .. } => Some(name.clone()),
            _ => None,
        }));
        old_names.extend(file_vars(&old_items).into_keys());
    }
    let fns: BTreeMap<String, usize> =
        facts.functions.iter().enumerate().map(|(i, f)| (facts.name(f.name).to_string(), i)).collect();
    let mut all_names: BTreeSet<String> = fns.keys().cloned().collect();
    all_names.extend(vars.keys().cloned());
    let mut macros = BTreeMap::new();
    for m in &facts.macros {
        let idents: BTreeSet<String> = m
            .refs
            .as_ref()
            .map(|r| r.idents.iter().chain(r.calls.iter()).map(|s| facts.name(*s).to_string()).collect())
            .unwrap_or_default();
        macros.insert(facts.name(m.name).to_string(), idents);
    }
    FileCtx { path: &file.path, text, facts, items, fns, vars, old_names, all_names, macros }
}

impl FileCtx<'_> {
    fn func(&self, name: &str) -> Option<&Function> {
        self.fns.get(name).map(|&i| &self.facts.functions[i])
    }
}

/// How generated code reaches one name of the file or of the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Reach {
    /// A version of this update: the renamed entry.
    Version,
    /// Emitted in the module (a static inline, a helper the kernel has no symbol for,
    /// new data, const data the kernel folded away).
    Copy,
    /// Through the runtime's kallsyms lookup, renamed in the emitted text.
    Ksym(u32, &'static str),
    /// A global kernel name the first build left unlinked (often from a header inline:
    /// `lock_task_sighand` calls `__lock_task_sighand`): a `#define` before the includes
    /// turns the headers' own declaration of it into the declaration of its pointer.
    GlobalKsym,
    /// The module loader links it (exported), or it is not a kernel name at all.
    Link,
}

/// How the emitted code reaches the name `n` it uses, with a note for the reader when
/// the choice deserves one; a refusal when no choice keeps the kernel's state.
fn decide(inp: &Input, cx: &FileCtx, n: &str, versions: &BTreeSet<String>) -> Result<(Reach, Option<String>), Refusal> {
    let path = cx.path;
    let refusal = |code, message: String, help: &str| Refusal {
        code,
        file: path.to_string(),
        line: 0,
        message,
        help: help.to_string(),
    };
    if versions.contains(n) {
        return Ok((Reach::Version, None));
    }
    let is_fn = cx.func(n).is_some();
    let Some(&(_, is_const)) = cx.vars.get(n).or(is_fn.then_some(&(false, false))) else {
        return Ok((Reach::Link, None)); // not a name of this file: the headers' or the kernel's
    };
    let existed = cx.old_names.contains(n);
    if is_fn && cx.func(n).is_some_and(|g| g.attrs.has(FnAttrs::INLINE) || g.attrs.has(FnAttrs::ALWAYS_INLINE)) {
        return Ok((Reach::Copy, None));
    }
    if !existed {
        let note = (!is_fn).then(|| format!("{path}: `{n}` is new data: the update module holds it, starting fresh"));
        return Ok((Reach::Copy, note));
    }
    if inp.kernel.is_exported(n) {
        return Ok((Reach::Link, None));
    }
    match inp.kernel.locate(n, &cx.all_names) {
        Located::Unique => Ok((Reach::Ksym(0, "unique"), None)),
        Located::Position { sympos, .. } => Ok((Reach::Ksym(sympos, "neighbourhood (heuristic)"), None)),
        // A function inlined everywhere (or ambiguous): the copy is the same code.
        Located::Missing | Located::Ambiguous { .. } if is_fn => Ok((Reach::Copy, None)),
        Located::Missing if is_const => Ok((
            Reach::Copy,
            Some(format!("{path}: `{n}` is const data the kernel keeps no symbol for: the module holds a copy")),
        )),
        Located::Missing => Err(refusal(
            "DW3004",
            format!("`{n}` is data of {path} that the running kernel has no symbol for"),
            "the versions would use a copy instead of the kernel's state; check the kernel's \
             kallsyms (CONFIG_KALLSYMS_ALL) or keep the fix from touching it",
        )),
        Located::Ambiguous { count } => Err(refusal(
            "DW3005",
            format!(
                "`{n}` of {path}: {count} kernel symbols have this name and their neighbours do not tell which is \
                 this file's"
            ),
            "the walker never guesses a static symbol's file",
        )),
    }
}

pub(crate) fn generate_file(
    inp: &Input,
    file: &SourceFile,
    index: usize,
    wanted: &[Want],
    overlays: &[String],
    refusals: &mut Vec<Refusal>,
) -> Option<FileOut> {
    let cx = read_file(file, inp);
    let path = cx.path;
    let text = cx.text;
    let before = refusals.len();
    // A clone of `__init`/`__exit` code: it ran at boot (or never runs in vmlinux) and
    // its text is freed; nothing will call it again. (A changed one is the plan's DW1001.)
    let mut skipped_notes = Vec::new();
    let kept: Vec<Want> = wanted
        .iter()
        .filter(|w| {
            let once = cx.func(&w.name).is_some_and(|f| f.attrs.has(FnAttrs::INIT) || f.attrs.has(FnAttrs::EXIT));
            if once && w.kind == "clone" {
                skipped_notes.push(format!("{path}: `{}` is __init/__exit code, gone after boot: not cloned", w.name));
            }
            !(once && w.kind == "clone")
        })
        .cloned()
        .collect();
    let mut kept = retarget_inlined(inp, &cx, kept, &mut skipped_notes);
    fill_syscall_stubs(inp, &cx, &mut kept);
    let wanted = &kept[..];
    if wanted.is_empty() {
        return Some(FileOut::empty(skipped_notes));
    }
    let refuse = |refusals: &mut Vec<Refusal>, code: &'static str, line: usize, message: String, help: &str| {
        refusals.push(Refusal { code, file: path.to_string(), line: line as u32, message, help: help.to_string() });
    };
    let versions: BTreeSet<String> = wanted.iter().map(|w| w.name.clone()).collect();
    for v in &versions {
        match cx.func(v) {
            None => refuse(
                refusals,
                "DW3002",
                0,
                format!("`{v}` is not defined as a function in the patched {path}"),
                "functions defined by a macro (SYSCALL_DEFINE, DEFINE_*) are not generated yet",
            ),
            Some(f) => {
                let at = f.name_pos.offset as usize;
                if f.attrs.has(FnAttrs::SYSCALL) {
                    if wanted.iter().any(|w| w.name == *v && w.symbols.is_empty()) {
                        refuse(
                            refusals,
                            "DW3002",
                            f.span.start.line as usize,
                            format!("`{v}` is a syscall whose entry symbols this build's configuration does not tell"),
                            "the walker generates syscalls built with x86-64's or arm64's syscall wrappers \
                             (CONFIG_ARCH_HAS_SYSCALL_WRAPPER); pass the target's .config",
                        );
                    }
                } else if !text[at..].starts_with(v.as_str()) {
                    refuse(
                        refusals,
                        "DW3002",
                        f.span.start.line as usize,
                        format!("`{v}` is defined through a macro"),
                        "functions defined by a macro other than SYSCALL_DEFINE (DEFINE_*) are not generated yet",
                    );
                }
                let h = &text[f.span.start.offset as usize..f.body.0 as usize];
                if h.contains("...") {
                    refuse(
                        refusals,
                        "DW3003",
                        f.span.start.line as usize,
                        format!("`{v}` takes variable arguments: its version cannot forward them"),
                        "write the new version by hand, or change a non-variadic callee instead",
                    );
                }
            }
        }
    }
    if refusals.len() > before {
        return None;
    }

    // The closure: every function the emitted code needs, and how each name is reached.
    let mut reach: BTreeMap<String, Reach> = BTreeMap::new();
    let mut work: Vec<String> = versions.iter().cloned().collect();
    let mut emitted: BTreeSet<String> = versions.clone();
    let mut through_macro: BTreeSet<String> = BTreeSet::new();
    let mut notes = skipped_notes;
    while let Some(name) = work.pop() {
        let Some(f) = cx.func(&name) else { continue };
        let def = &text.as_bytes()[f.span.start.offset as usize..f.span.end as usize];
        let mut names = used_names(def);
        // Macros of the file used here: what they name is used here too.
        let mut seen_macros = BTreeSet::new();
        let mut mstack: Vec<String> = names.iter().filter(|n| cx.macros.contains_key(*n)).cloned().collect();
        while let Some(m) = mstack.pop() {
            if !seen_macros.insert(m.clone()) {
                continue;
            }
            for id in &cx.macros[&m] {
                if cx.macros.contains_key(id) {
                    mstack.push(id.clone());
                } else if names.insert(id.clone()) {
                    through_macro.insert(id.clone());
                }
            }
        }
        for n in names {
            if reach.contains_key(&n) {
                continue;
            }
            let r = match decide(inp, &cx, &n, &versions) {
                Ok((r, note)) => {
                    notes.extend(note);
                    r
                }
                Err(r) => {
                    refusals.push(r);
                    Reach::Link
                }
            };
            if r == Reach::Copy && cx.fns.contains_key(&n) && emitted.insert(n.clone()) {
                work.push(n.clone());
            }
            reach.insert(n, r);
        }
    }
    // What the first build left unlinked: global names, wherever the object uses them.
    for n in inp.extra_ksyms.get(path).into_iter().flatten() {
        match inp.kernel.locate(n, &BTreeSet::new()) {
            Located::Unique => {
                reach.insert(n.clone(), Reach::GlobalKsym);
            }
            Located::Missing => refuse(
                refusals,
                "DW3008",
                0,
                format!("the versions need `{n}`, which the running kernel neither exports nor has a symbol for"),
                "a header inline or macro reaches it; it may be inlined or renamed in the kernel's build",
            ),
            _ => refuse(
                refusals,
                "DW3008",
                0,
                format!("the versions need `{n}`, which is not exported and names several kernel symbols"),
                "the module loader cannot link it and kallsyms cannot tell them apart",
            ),
        }
    }
    // Every access of a shadow field must lie in code the update emits, and be readable.
    let fields = shadow::fields(inp.plan);
    let sites = shadow::sites_in(inp.plan, path, text, &fields);
    for s in &sites {
        let owner = emitted
            .iter()
            .filter_map(|n| cx.func(n).map(|f| (n, f)))
            .find(|(_, f)| (f.span.start.offset as usize) <= s.offset && s.offset < f.span.end as usize);
        match owner {
            None => refuse(
                refusals,
                "DW3019",
                line_of(text.as_bytes(), s.offset),
                format!("the new field `{}` is used in code this update does not replace", s.field),
                "the plan must replace every function that uses a new field (its shadow accessor)",
            ),
            Some((_, f)) => {
                if shadow::rewrite(text, f.span.start.offset as usize, f.span.end as usize, &sites).is_err() {
                    refuse(
                        refusals,
                        "DW3019",
                        line_of(text.as_bytes(), s.offset),
                        format!(
                            "cannot read the access of the new field `{}` here as `base->{0}` or `base.{0}`",
                            s.field
                        ),
                        "rewrite the access in a plainer form (a local pointer, then `p->field`)",
                    );
                }
            }
        }
    }
    if refusals.len() > before {
        return None;
    }

    // Names reached only through a macro of the file cannot be renamed in the emitted
    // text: a `#define` does it, unless the name is also a member name somewhere here.
    let ksyms: BTreeMap<&String, (u32, &str)> = reach
        .iter()
        .filter_map(|(n, r)| match r {
            Reach::Ksym(p, how) => Some((n, (*p, *how))),
            _ => None,
        })
        .collect();
    // Each emitted function with its text and the names it declares (lexed once).
    let emitted_fns: Vec<(&String, &Function, &str, BTreeSet<String>)> = emitted
        .iter()
        .filter_map(|n| cx.func(n).map(|f| (n, f)))
        .map(|(n, f)| {
            let t = &text[f.span.start.offset as usize..f.span.end as usize];
            (n, f, t, declared_names(t.as_bytes()))
        })
        .collect();
    for n in ksyms.keys() {
        for (fname, f, _, declared) in &emitted_fns {
            if declared.contains(*n) {
                let line = f.span.start.line;
                refuse(
                    refusals,
                    "DW3014",
                    line as usize,
                    format!("`{fname}` declares a local or parameter `{n}`, the name of kernel data it also reaches"),
                    "rename the local: the walker rewrites the file-scope name and cannot tell the two apart",
                );
            }
        }
    }
    let mut defines = Vec::new();
    for n in ksyms.keys().filter(|n| through_macro.contains(**n)) {
        let as_member =
            emitted_fns.iter().any(|(_, _, t, _)| t.contains(&format!(".{n}")) || t.contains(&format!("->{n}")));
        if as_member {
            refuse(
                refusals,
                "DW3017",
                0,
                format!("a macro of {path} reaches `{n}`, which is also a member name in the versions"),
                "the walker cannot rewrite the name inside the macro safely",
            );
        } else {
            defines.push((*n).clone());
        }
    }
    if refusals.len() > before {
        return None;
    }

    let used: Vec<&shadow::ShadowField> = fields.values().filter(|f| sites.iter().any(|s| s.tag == f.tag)).collect();
    let extra = Extra { sites: &sites, accessors: used, overlays };
    Some(emit(inp, &cx, index, wanted, &reach, &defines, notes, prune(&cx, &reach), &extra))
}

/// Part 1: the patched file with every function definition turned into a prototype,
/// every non-static variable into an `extern` declaration (initializers blanked, `extern `
/// inserted before the declaration) and registrations blanked. Lines are kept.
fn prune(cx: &FileCtx, reach: &BTreeMap<String, Reach>) -> String {
    let text = cx.text;
    let keep_defs: BTreeSet<&String> = reach.iter().filter(|(_, r)| **r == Reach::Copy).map(|(n, _)| n).collect();
    let mut base = text.as_bytes().to_vec();
    let mut inserts: Vec<usize> = Vec::new();
    for it in &cx.items {
        let (a, b) = it.span;
        match &it.kind {
            ItemKind::Function { body, .. } => {
                let f = cx
                    .facts
                    .functions
                    .iter()
                    .find(|f| f.span.start.offset as usize >= a && (f.span.start.offset as usize) < b);
                let named = f.is_some_and(|f| {
                    let n = cx.facts.name(f.name);
                    text[f.name_pos.offset as usize..].starts_with(n)
                });
                if named {
                    blank(&mut base, body.0, body.1);
                    base[body.0] = b';';
                } else {
                    blank(&mut base, a, b);
                }
            }
            ItemKind::Invocation { name } if is_registration(name) => blank(&mut base, a, b),
            ItemKind::Declaration { names, functions, is_static: false, is_extern: false, .. } => {
                let vars: Vec<_> = names.iter().zip(functions).filter(|(_, f)| !**f).map(|(n, _)| n).collect();
                if vars.is_empty() || vars.iter().all(|(n, _)| keep_defs.contains(n)) {
                    continue;
                }
                let first = text[a..].find(vars[0].0.as_str()).map(|o| a + o).unwrap_or(a);
                if text[a..first].contains('(') {
                    continue;
                }
                for (_, init) in &vars {
                    if let Some((x, y)) = init {
                        blank(&mut base, *x, *y);
                    }
                }
                let lead = text[a..].len() - text[a..].trim_start().len();
                inserts.push(a + lead);
            }
            _ => {}
        }
    }
    let mut out = Vec::with_capacity(base.len() + inserts.len() * 7);
    let mut at = 0;
    for i in inserts {
        out.extend_from_slice(&base[at..i]);
        out.extend_from_slice(b"extern ");
        at = i;
    }
    out.extend_from_slice(&base[at..]);
    // The kernel defines this file's tracepoints; the module must not define them again.
    let text = String::from_utf8_lossy(&out).into_owned();
    text.lines()
        .map(|l| if l.trim_start().starts_with("#define CREATE_TRACE_POINTS") { "" } else { l })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// What a file's emitted code needs beyond its own text: shadow accesses to rewrite,
/// their accessors, and the patched headers to read first.
struct Extra<'a> {
    sites: &'a [Site],
    accessors: Vec<&'a shadow::ShadowField>,
    overlays: &'a [String],
}

#[allow(clippy::too_many_arguments)]
fn emit(
    inp: &Input,
    cx: &FileCtx,
    index: usize,
    wanted: &[Want],
    reach: &BTreeMap<String, Reach>,
    defines: &[String],
    mut notes: Vec<String>,
    pruned: String,
    extra: &Extra,
) -> FileOut {
    let path = cx.path;
    let text = cx.text;
    let stem: String = path
        .rsplit('/')
        .next()
        .unwrap_or(path)
        .trim_end_matches(".c")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let c_name = format!("dw{index}_{stem}.c");
    let init_fn = format!("dw_init__{index}");
    let mut renames: BTreeMap<String, String> = BTreeMap::new();
    let mut ksyms = Vec::new();
    let mut globals = Vec::new();
    for (n, r) in reach {
        match r {
            Reach::Version => {
                renames.insert(n.clone(), format!("dw_ver__{n}"));
            }
            Reach::Ksym(pos, how) => {
                renames.insert(n.clone(), format!("(*dw_ksym__{n})"));
                ksyms.push(KsymUse { name: n.clone(), sympos: *pos, how: how.to_string(), file: path.to_string() });
            }
            Reach::GlobalKsym => {
                globals.push(n.clone());
                ksyms.push(KsymUse {
                    name: n.clone(),
                    sympos: 0,
                    how: "unique, declared by a header".into(),
                    file: path.to_string(),
                });
            }
            _ => {}
        }
    }
    let mut s = String::new();
    let _ = writeln!(s, "/*");
    let _ = writeln!(s, " * Generated by dynwalk for update `{}` from {path} as the patch leaves it.", inp.name);
    let _ = writeln!(s, " * Part 1: the file, pruned (definitions become prototypes, registrations go).");
    let _ = writeln!(s, " * Part 2: kernel names reached at load time. Part 3: copies. Part 4: versions.");
    let _ = writeln!(s, " */");
    // Before any include: the headers' own declarations become the pointers'.
    for n in &globals {
        let _ = writeln!(s, "#define {n} (*dw_ksym{index}__{n}) /* not exported: the headers declare its pointer */");
    }
    for o in extra.overlays {
        let _ = writeln!(s, "#include \"overlay/{o}\" /* the patched header, before the kernel's */");
    }
    let _ = writeln!(s, "#include \"dynwalk.h\"");
    // The file is linked into vmlinux: kbuild compiles it without MODULE (an out-of-tree
    // module has it). THIS_MODULE and the module headers are settled above.
    let _ = writeln!(s, "#undef MODULE");
    let _ = writeln!(s, "#line 1 \"{path}\"");
    s.push_str(&pruned);
    if !pruned.ends_with('\n') {
        s.push('\n');
    }
    let _ = writeln!(s, "\n/* ---- part 2: kernel names this file's versions reach, resolved at load ---- */");
    for k in &ksyms {
        if globals.contains(&k.name) {
            let _ = writeln!(
                s,
                "__typeof__(dw_ksym{index}__{n}) dw_ksym{index}__{n}; /* {how} */",
                n = k.name,
                how = k.how
            );
        } else {
            let _ = writeln!(s, "static __typeof__({n}) *dw_ksym__{n}; /* {how} */", n = k.name, how = k.how);
        }
    }
    for n in defines {
        let _ = writeln!(s, "#define {n} (*dw_ksym__{n}) /* used through a macro of this file */");
    }
    for f in &extra.accessors {
        s.push_str(&shadow::accessor(f));
    }
    let _ = writeln!(s, "\n/* ---- the versions' entries ---- */");
    for w in wanted {
        let Some(f) = cx.func(&w.name) else { continue };
        match f.attrs.has(FnAttrs::SYSCALL).then_some(&w.symbols) {
            Some(stubs) => {
                for st in stubs {
                    let _ = writeln!(s, "noinline long dw_ver__{st}(const struct pt_regs *regs);");
                }
            }
            None => {
                let nt = if f.attrs.has(FnAttrs::NOTRACE) { "notrace " } else { "" };
                let _ = writeln!(s, "noinline {nt}{};", head(text, f, &format!("dw_ver__{}", w.name)));
            }
        }
    }
    let _ = writeln!(
        s,
        "\n/* ---- part 3: copies of this file's functions the kernel has no out-of-line symbol for ---- */"
    );
    let mut copies = Vec::new();
    for (n, r) in reach {
        if *r != Reach::Copy {
            continue;
        }
        let Some(f) = cx.func(n) else { continue };
        let (a, b) = (f.span.start.offset as usize, f.span.end as usize);
        let def = shadow::rewrite(text, a, b, extra.sites).unwrap_or_else(|_| text[a..b].to_string());
        let _ = writeln!(s, "#line {} \"{path}\"", f.span.start.line);
        s.push_str(&rename(&def, &renames));
        s.push('\n');
        copies.push(n.clone());
    }
    let _ = writeln!(s, "\n/* ---- part 4: the new versions ---- */");
    let mut versions = Vec::new();
    let mut metadata_off = false;
    for Want { name: n, kind, reason, symbols: stubs } in wanted {
        let Some(f) = cx.func(n) else { continue };
        if f.attrs.has(FnAttrs::SYSCALL) {
            let Some(h) = syscall_head(text, f) else { continue };
            if !metadata_off {
                // The kernel keeps the syscall's trace metadata; a second copy in the
                // module would register events for a syscall number it does not have.
                let _ = writeln!(s, "#undef SYSCALL_METADATA\n#define SYSCALL_METADATA(sname, nb, ...)");
                metadata_off = true;
            }
            let (a, b) = (f.body.0 as usize, f.body.1 as usize);
            let body = shadow::rewrite(text, a, b, extra.sites).unwrap_or_else(|_| text[a..b].to_string());
            let _ = writeln!(s, "/* {n}: {kind}: {reason}; entered as {} */", stubs.join(", "));
            let _ = writeln!(s, "#line {} \"{path}\"", f.span.start.line);
            let _ = writeln!(s, "{h}");
            let _ = writeln!(s, "#line {} \"{path}\"", line_of(text.as_bytes(), a));
            s.push_str(&rename(&body, &renames));
            s.push_str("\n\n");
            for st in stubs {
                let own = module_stub(st, n);
                let _ = writeln!(s, "static atomic_long_t dw_active__{st};");
                let _ = writeln!(s, "noinline long dw_ver__{st}(const struct pt_regs *regs)\n{{\n\tlong r__;\n");
                let _ = writeln!(s, "\tatomic_long_inc(&dw_active__{st});");
                let _ = writeln!(s, "\tr__ = {own}(regs);");
                let _ = writeln!(s, "\tatomic_long_dec(&dw_active__{st});");
                let _ = writeln!(s, "\treturn r__;\n}}\n");
                versions.push(VersionEntry {
                    target: st.clone(),
                    version: format!("dw_ver__{st}"),
                    file: path.to_string(),
                    line: f.span.start.line,
                    kind: kind.to_string(),
                    reason: reason.clone(),
                    function: n.clone(),
                    sympos: 0,
                    method: String::new(),
                });
            }
            continue;
        }
        let (a, b) = (f.body.0 as usize, f.body.1 as usize);
        let body = shadow::rewrite(text, a, b, extra.sites).unwrap_or_else(|_| text[a..b].to_string());
        let args: Vec<String> = f
            .params
            .iter()
            .map(|(p, _)| cx.facts.name(*p).to_string())
            .filter(|p| !p.is_empty() && p != "void")
            .collect();
        let args = args.join(", ");
        let is_void = cx.facts.name(f.ret).trim() == "void";
        let _ = writeln!(s, "/* {n}: {kind}: {reason} */");
        let _ = writeln!(s, "#line {} \"{path}\"", f.span.start.line);
        let _ = writeln!(s, "static __always_inline {}", head(text, f, &format!("dw_body__{n}")));
        let _ = writeln!(s, "#line {} \"{path}\"", line_of(text.as_bytes(), f.body.0 as usize));
        s.push_str(&rename(&body, &renames));
        let _ = writeln!(s, "\n\nstatic atomic_long_t dw_active__{n};");
        // The original takes no fentry (notrace, often for the tracer's own use): nor
        // does its version.
        let nt = if f.attrs.has(FnAttrs::NOTRACE) { "notrace " } else { "" };
        let _ = writeln!(s, "noinline {nt}{}", head(text, f, &format!("dw_ver__{n}")));
        s.push_str("{\n");
        if is_void {
            let _ = writeln!(s, "\tatomic_long_inc(&dw_active__{n});");
            let _ = writeln!(s, "\tdw_body__{n}({args});");
            let _ = writeln!(s, "\tatomic_long_dec(&dw_active__{n});");
        } else {
            let _ = writeln!(s, "\t__typeof__(dw_body__{n}({args})) r__;\n");
            let _ = writeln!(s, "\tatomic_long_inc(&dw_active__{n});");
            let _ = writeln!(s, "\tr__ = dw_body__{n}({args});");
            let _ = writeln!(s, "\tatomic_long_dec(&dw_active__{n});");
            let _ = writeln!(s, "\treturn r__;");
        }
        s.push_str("}\n\n");
        // A static target that several files define: the runtime finds this file's by
        // its position among them (the lowering refuses a name it cannot place).
        let sympos = match inp.kernel.locate(n, &cx.all_names) {
            Located::Position { sympos, neighbours } => {
                notes.push(format!(
                    "{path}: `{n}` is one of several kernel functions of that name: this file's is number \
                     {sympos} in kallsyms order, told by {neighbours} neighbouring symbol(s) of this file (a heuristic)"
                ));
                sympos
            }
            _ => 0,
        };
        versions.push(VersionEntry {
            target: n.clone(),
            version: format!("dw_ver__{n}"),
            file: path.to_string(),
            line: f.span.start.line,
            kind: kind.to_string(),
            reason: reason.clone(),
            function: String::new(),
            sympos,
            // No fentry site: the runtime overwrites the entry with a jump.
            method: if f.attrs.has(FnAttrs::NOTRACE) { "jmp".into() } else { String::new() },
        });
    }
    let _ = writeln!(s, "/* ---- registration: called from the module's init ---- */");
    let _ = writeln!(s, "int {init_fn}(void);");
    let _ = writeln!(s, "int {init_fn}(void)\n{{\n\tunsigned long a;\n\tint err;\n");
    for k in &ksyms {
        let _ = writeln!(s, "\ta = dw_ksym(\"{}\", {});", k.name, k.sympos);
        let _ = writeln!(
            s,
            "\tif (!a) {{\n\t\tpr_err(\"dynwalk update: kernel symbol {} not found (or not unique)\\n\");\n\t\treturn -ENOENT;\n\t}}",
            k.name
        );
        if globals.contains(&k.name) {
            let _ = writeln!(s, "\tdw_ksym{index}__{} = (void *)a;", k.name);
        } else {
            let _ = writeln!(s, "\tdw_ksym__{} = (void *)a;", k.name);
        }
    }
    for v in &versions {
        let _ = writeln!(
            s,
            "\terr = dw_register_version(THIS_MODULE, \"{0}\", (void *){0}, &dw_active__{1}, NULL);\n\tif (err)\n\t\treturn err;",
            v.version, v.target
        );
    }
    s.push_str("\t(void)a;\n\treturn 0;\n}\n");
    if text.contains("<trace/events/") {
        notes.push(format!(
            "{path}: tracepoints are compiled out of the versions (NOTRACE): tracers see no events from them"
        ));
    }
    if !ksyms.iter().all(|k| k.sympos == 0) {
        notes.push(format!(
            "{path}: some file-local symbols were told apart by their kallsyms neighbours (a heuristic)"
        ));
    }
    FileOut { c_name, text: s, init_fn, versions, ksyms, copies, notes }
}
