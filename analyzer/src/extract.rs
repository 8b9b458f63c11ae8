//! The syntax layer: one file's bytes -> [`FileFacts`]. tree-sitter types never leave
//! this module. Extraction never fails: syntax errors become diagnostics.

use std::cell::RefCell;
use std::collections::HashMap;

use tree_sitter::{Node, Parser, QueryCursor, StreamingIterator, Tree};

use crate::facts::*;
use crate::lex::{is_ident_char, token_hash, Lexer, Tok};
use crate::pp::{self, Config, PpResult};
use crate::queries::{self, Capture};
use crate::rewrite;

/// Most syntax-error diagnostics reported per file (the rest are counted in one note).
const MAX_ERRORS_PER_FILE: usize = 16;

thread_local! {
    static PARSER: RefCell<Option<Parser>> = const { RefCell::new(None) };
}

/// Extracts the facts of one file. `config` selects `#if` branches (None: keep all).
pub fn extract(src: &[u8], config: Option<&Config>) -> FileFacts {
    let pp = pp::scan(src, config);
    let buf = rewrite::rewrite(src, &pp.blank);
    // Headers made only of directives (register maps) leave nothing to parse.
    if buf.iter().all(|b| b.is_ascii_whitespace()) {
        return Extractor::new(src, &buf, &pp).finish();
    }
    let tree = PARSER.with(|p| {
        let mut p = p.borrow_mut();
        let parser = p.get_or_insert_with(|| {
            let mut parser = Parser::new();
            // The grammar is compiled in; its ABI matches the tree-sitter crate (tested).
            let _ = parser.set_language(&queries::language());
            parser
        });
        parser.parse(&buf, None)
    });
    let mut x = Extractor::new(src, &buf, &pp);
    if let Err(e) = std::str::from_utf8(src) {
        x.diag(DiagCode::NotUtf8, e.valid_up_to(), "this file is not valid UTF-8; names are read lossily".to_string());
    }
    if let Some(tree) = tree {
        x.run(&tree);
    } else {
        x.diag(DiagCode::ParseError, 0, "the parser gave up on this file".to_string());
    }
    x.finish()
}

struct Extractor<'a> {
    src: &'a [u8],
    buf: &'a [u8],
    pp: &'a PpResult,
    lines: Vec<u32>,
    names: HashMap<String, Sym>,
    f: FileFacts,
    /// Body ranges of functions, sorted by start (index = function index).
    bodies: Vec<(u32, u32)>,
    /// Per function: local name -> type text (parameters and locals).
    locals: Vec<HashMap<String, Sym>>,
    /// File-scope variables: name -> type text.
    file_vars: HashMap<String, Sym>,
    errors: usize,
    /// Anonymous aggregates named so far.
    anon: u32,
}

impl Extractor<'_> {
    /// The token hash of `src[a..b]` as it is compiled: branches that are not (`#ifndef
    /// MODULE` in a module, `#ifdef CONFIG_X` with `X` off) do not count, so a change
    /// inside them is not a change of the code. The directive lines themselves count.
    fn compiled_hash(&self, a: usize, b: usize) -> u64 {
        let inactive = &self.pp.inactive;
        let first = inactive.partition_point(|r| r.1 <= a);
        if inactive.get(first).is_none_or(|r| r.0 >= b) {
            return token_hash(&self.src[a..b]);
        }
        let mut text = Vec::with_capacity(b - a);
        let mut at = a;
        for r in inactive[first..].iter().take_while(|r| r.0 < b) {
            if r.0 > at {
                text.extend_from_slice(&self.src[at..r.0]);
            }
            text.push(b'\n');
            at = at.max(r.1);
        }
        if at < b {
            text.extend_from_slice(&self.src[at..b]);
        }
        token_hash(&text)
    }
}

fn node_text<'t>(buf: &'t [u8], n: Node) -> &'t str {
    std::str::from_utf8(&buf[n.start_byte()..n.end_byte()]).unwrap_or("")
}

/// Collapses whitespace runs to one space and trims.
fn norm(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for w in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out.replace(" *", "*").replace('*', " *").replace("  ", " ")
}

impl<'a> Extractor<'a> {
    fn new(src: &'a [u8], buf: &'a [u8], pp: &'a PpResult) -> Self {
        let mut lines = vec![0u32];
        for (i, &b) in src.iter().enumerate() {
            if b == b'\n' {
                lines.push(i as u32 + 1);
            }
        }
        Extractor {
            src,
            buf,
            pp,
            lines,
            names: HashMap::new(),
            f: FileFacts::default(),
            bodies: Vec::new(),
            locals: Vec::new(),
            file_vars: HashMap::new(),
            errors: 0,
            anon: 0,
        }
    }

    fn sym(&mut self, s: &str) -> Sym {
        if let Some(&x) = self.names.get(s) {
            return x;
        }
        let x = Sym(self.f.names.len() as u32);
        self.f.names.push(s.to_string());
        self.names.insert(s.to_string(), x);
        x
    }

    fn pos(&self, offset: usize) -> Pos {
        let off = offset as u32;
        let line = self.lines.partition_point(|&l| l <= off);
        let col = off - self.lines[line - 1] + 1;
        Pos { offset: off, line: line as u32, col }
    }

    fn span(&self, n: Node) -> Span {
        Span { start: self.pos(n.start_byte()), end: n.end_byte() as u32 }
    }

    fn text(&self, n: Node) -> &'a str {
        node_text(self.buf, n)
    }

    fn orig(&self, n: Node) -> &'a str {
        node_text(self.src, n)
    }

    fn cond(&self, at: usize) -> bool {
        self.pp.is_conditional(at)
    }

    fn diag(&mut self, code: DiagCode, at: usize, message: String) {
        let pos = self.pos(at);
        self.f.diagnostics.push(Diagnostic { code, severity: Severity::Warning, pos, message });
    }

    /// Index of the function whose body contains `at`.
    fn caller(&self, at: usize) -> Option<u32> {
        let at = at as u32;
        let i = self.bodies.partition_point(|b| b.0 <= at);
        if i == 0 {
            return None;
        }
        let b = self.bodies[i - 1];
        (at < b.1).then_some(i as u32 - 1)
    }

    fn run(&mut self, tree: &Tree) {
        let q = queries::get();
        let mut cursor = QueryCursor::new();
        let root = tree.root_node();
        let mut by_kind: HashMap<Capture, Vec<Node>> = HashMap::new();
        let mut init_pairs: Vec<(Node, Node, Node)> = Vec::new();
        let mut calls: Vec<(Node, Node)> = Vec::new();
        let mut it = cursor.matches(&q.query, root, self.buf);
        while let Some(m) = it.next() {
            let mut pair = (None, None, None);
            let mut call = (None, None);
            for c in m.captures() {
                match q.captures[c.index as usize] {
                    Capture::InitPair => pair.0 = Some(c.node),
                    Capture::InitField => pair.1 = Some(c.node),
                    Capture::InitValue => pair.2 = Some(c.node),
                    Capture::CallExpression => call.0 = Some(c.node),
                    Capture::CallCallee => call.1 = Some(c.node),
                    k => by_kind.entry(k).or_default().push(c.node),
                }
            }
            if let (Some(p), Some(f), Some(v)) = pair {
                init_pairs.push((p, f, v));
            }
            if let (Some(e), Some(c)) = call {
                calls.push((e, c));
            }
        }
        let mut take = |k: Capture| {
            let mut v = by_kind.remove(&k).unwrap_or_default();
            v.sort_by_key(|n| (n.start_byte(), std::cmp::Reverse(n.end_byte())));
            v
        };
        let functions = take(Capture::FunctionDefinition);
        let params = take(Capture::DeclarationParameter);
        let decls = take(Capture::DeclarationVariable);
        let accesses = take(Capture::AccessExpression);
        let ifs = take(Capture::CallIfStatement);
        let types: Vec<(TypeKind, Node)> = [
            (TypeKind::Struct, Capture::TypeStruct),
            (TypeKind::Union, Capture::TypeUnion),
            (TypeKind::Enum, Capture::TypeEnum),
            (TypeKind::Typedef, Capture::TypeTypedef),
        ]
        .into_iter()
        .flat_map(|(k, c)| take(c).into_iter().map(move |n| (k, n)))
        .collect();
        let values = take(Capture::ValueReference);
        let sizeofs = take(Capture::DeclarationSizeof);
        let errors = take(Capture::ErrorNode);

        self.functions(&functions);
        self.declarations(&params, &decls);
        let access_index = self.accesses(&accesses);
        calls.sort_by_key(|(e, _)| e.start_byte());
        self.calls(&calls, &ifs, &access_index);
        self.types(&types);
        init_pairs.sort_by_key(|p| p.0.start_byte());
        self.inits(&init_pairs);
        self.values(&values);
        self.sizeofs(&sizeofs);
        self.errors(&errors);
    }

    fn finish(mut self) -> FileFacts {
        let pp = self.pp;
        for m in &pp.macros {
            self.macro_def(m);
        }
        for inc in &pp.includes {
            let path = self.sym(&inc.path);
            let pos = self.pos(inc.at);
            self.f.includes.push(Include { path, system: inc.system, pos, conditional: inc.conditional });
        }
        for &at in &pp.unbalanced {
            self.diag(DiagCode::UnbalancedConditional, at, "unbalanced conditional directive".to_string());
        }
        if self.errors > MAX_ERRORS_PER_FILE {
            let n = self.errors - MAX_ERRORS_PER_FILE;
            self.diag(DiagCode::ParseError, 0, format!("{n} more syntax errors in this file"));
        }
        self.f
    }

    // ---- functions ----

    fn functions(&mut self, nodes: &[Node]) {
        for &n in nodes {
            let Some(body) = n.child_by_field_name("body") else { continue };
            // A definition nested in another one is a misparsed macro: not a function.
            if self.caller(n.start_byte()).is_some() {
                continue;
            }
            let Some(decl) = n.child_by_field_name("declarator") else { continue };
            let Some((fdecl, stars)) = function_declarator(decl) else { continue };
            let Some(name_node) = fdecl.child_by_field_name("declarator") else { continue };
            let name = self.text(name_node).trim().to_string();
            let params_node = fdecl.child_by_field_name("parameters");
            let mut params = Vec::new();
            let mut attrs = self.attrs(n, body.start_byte());
            if self.src[n.start_byte()..].starts_with(b"SYSCALL_DEFINE")
                || self.src[n.start_byte()..].starts_with(b"COMPAT_SYSCALL_DEFINE")
                || self.src[n.start_byte()..].starts_with(b"SYSCALL32_DEFINE")
            {
                attrs |= FnAttrs::ASMLINKAGE | FnAttrs::SYSCALL;
            }
            if let Some(pl) = params_node {
                let mut c = pl.walk();
                for p in pl.named_children(&mut c) {
                    if p.kind() == "parameter_declaration" {
                        let (pn, ty) = self.decl_name_type(p, p.child_by_field_name("declarator"));
                        // `f(a, b)`: K&R names parse as parameters with a type only.
                        if pn.is_empty()
                            && p.child_by_field_name("declarator").is_none()
                            && p.child_by_field_name("type").is_some_and(|t| t.kind() == "type_identifier")
                            && p.named_child_count() == 1
                        {
                            params.push((ty, String::new()));
                            continue;
                        }
                        params.push((pn, ty));
                    } else if p.kind() == "identifier" {
                        // K&R: names only; their types follow the declarator.
                        params.push((self.text(p).to_string(), String::new()));
                    }
                }
            }
            // K&R parameter declarations sit between the declarator and the body; the
            // rewrite blanked them, so their types come from the original bytes.
            let knr_from = params_node.map(|p| p.end_byte()).unwrap_or(body.start_byte());
            let knr = &self.src[knr_from.min(body.start_byte())..body.start_byte()];
            if knr.contains(&b';') {
                attrs |= FnAttrs::KNR;
                for (pn, ty) in knr_param_types(knr) {
                    if let Some(slot) = params.iter_mut().find(|(n, _)| *n == pn) {
                        slot.1 = ty;
                    }
                }
            }
            let ret = match n.child_by_field_name("type") {
                Some(t) => format!("{}{}", norm(self.text(t)), " *".repeat(stars)),
                None => "int".to_string(),
            };
            let name_pos = self.pos(name_node.start_byte());
            let f = Function {
                name: self.sym(&name),
                span: self.span(n),
                name_pos,
                body: (body.start_byte() as u32, body.end_byte() as u32),
                attrs: FnAttrs(attrs),
                ret: self.sym(&ret),
                params: params.iter().map(|(a, b)| (self.sym(a), self.sym(b))).collect::<Vec<_>>(),
                body_hash: self.compiled_hash(body.start_byte(), body.end_byte()),
                conditional: self.cond(n.start_byte()),
                has_errors: body.has_error(),
            };
            self.bodies.push(f.body);
            let locals = params.into_iter().filter(|(n, _)| !n.is_empty()).map(|(n, t)| (n, self.sym(&t))).collect();
            self.locals.push(locals);
            self.f.functions.push(f);
        }
    }

    /// Storage classes and attributes, read from the original bytes of the declaration
    /// (annotations were blanked before parsing), including words just before the node.
    fn attrs(&self, n: Node, body_start: usize) -> u16 {
        let mut from = n.start_byte();
        while from > 0 {
            let b = self.src[from - 1];
            if is_ident_char(b) || b == b' ' || b == b'\t' || b == b'\n' || b == b'\r' {
                from -= 1;
            } else {
                break;
            }
        }
        let mut a = 0;
        for t in Lexer::new(&self.src[from..body_start]).without_directives() {
            if t.kind != Tok::Ident {
                continue;
            }
            a |= match &self.src[from + t.start..from + t.end] {
                b"static" => FnAttrs::STATIC,
                b"inline" | b"__inline__" | b"__inline" => FnAttrs::INLINE,
                b"__always_inline" => FnAttrs::ALWAYS_INLINE | FnAttrs::INLINE,
                b"__init" | b"__devinit" | b"__cpuinit" | b"__meminit" | b"__init_or_module" => FnAttrs::INIT,
                b"__exit" | b"__devexit" => FnAttrs::EXIT,
                b"notrace" | b"noinstr" => FnAttrs::NOTRACE,
                b"asmlinkage" => FnAttrs::ASMLINKAGE,
                b"extern" => FnAttrs::EXTERN,
                b"noinline" | b"__noinline" => FnAttrs::NOINLINE,
                _ => 0,
            };
        }
        a
    }

    // ---- declarations: locals, parameters, globals ----

    fn declarations(&mut self, params: &[Node], decls: &[Node]) {
        let _ = params; // parameters are read with their function
        for &d in decls {
            // Parameters of prototypes and K&R declarations were handled elsewhere.
            let in_fn = self.caller(d.start_byte());
            let parent_kind = d.parent().map(|p| p.kind()).unwrap_or("");
            if parent_kind == "function_definition" {
                continue;
            }
            let is_static = has_storage(d, self.buf, "static");
            let is_extern = has_storage(d, self.buf, "extern");
            let vars = self.declaration_vars(d);
            match in_fn {
                Some(fi) => {
                    for (name, ty) in &vars {
                        let ty = self.sym(ty);
                        self.locals[fi as usize].insert(name.clone(), ty);
                    }
                    if is_static {
                        self.globals_from(d, Some(fi), true, false);
                    }
                }
                None => {
                    for (name, ty) in &vars {
                        let ty = self.sym(ty);
                        self.file_vars.insert(name.clone(), ty);
                    }
                    self.globals_from(d, None, is_static, is_extern);
                }
            }
        }
    }

    fn globals_from(&mut self, d: Node, in_function: Option<u32>, is_static: bool, is_extern: bool) {
        let Some(ty) = d.child_by_field_name("type") else { return };
        let base = norm(self.text(ty));
        let mut c = d.walk();
        let decls: Vec<Node> = d.children_by_field_name("declarator", &mut c).collect();
        for decl in decls {
            let (inner, value) = if decl.kind() == "init_declarator" {
                (decl.child_by_field_name("declarator"), decl.child_by_field_name("value"))
            } else {
                (Some(decl), None)
            };
            let Some(inner) = inner else { continue };
            if function_declarator(inner).is_some() {
                continue; // a prototype
            }
            let (name, marks) = declarator_name(inner, self.buf);
            if name.is_empty() {
                continue;
            }
            let init_hash = value.map(|v| token_hash(&self.src[v.start_byte()..v.end_byte()])).unwrap_or(0);
            let ty = format!("{base}{marks}");
            let init_len = match value {
                Some(v) if v.kind() == "initializer_list" && marks.trim_end().ends_with("[]") => {
                    let mut c = v.walk();
                    let n = v.named_children(&mut c).filter(|e| e.kind() != "comment").count();
                    Some(n as u32)
                }
                _ => None,
            };
            let g = Global {
                name: self.sym(&name),
                ty: self.sym(&ty),
                pos: self.pos(inner.start_byte()),
                is_static,
                is_extern,
                in_function,
                init_hash,
                init_len,
                conditional: self.cond(d.start_byte()),
            };
            self.f.globals.push(g);
        }
    }

    /// (name, type text) of each declarator of a declaration.
    fn declaration_vars(&self, d: Node) -> Vec<(String, String)> {
        let mut c = d.walk();
        let decls: Vec<Node> = d.children_by_field_name("declarator", &mut c).collect();
        decls.into_iter().map(|decl| self.decl_name_type(d, Some(decl))).filter(|(n, _)| !n.is_empty()).collect()
    }

    fn decl_name_type(&self, d: Node, decl: Option<Node>) -> (String, String) {
        let base = d.child_by_field_name("type").map(|t| norm(self.text(t))).unwrap_or_default();
        let Some(mut decl) = decl else { return (String::new(), base) };
        if decl.kind() == "init_declarator" {
            match decl.child_by_field_name("declarator") {
                Some(x) => decl = x,
                None => return (String::new(), base),
            }
        }
        let (name, marks) = declarator_name(decl, self.buf);
        (name, format!("{base}{marks}"))
    }

    // ---- field accesses ----

    fn accesses(&mut self, nodes: &[Node]) -> HashMap<usize, u32> {
        let mut index = HashMap::with_capacity(nodes.len());
        for (i, n) in nodes.iter().enumerate() {
            index.insert(n.id(), i as u32);
        }
        for &n in nodes {
            let Some(field) = n.child_by_field_name("field") else { continue };
            let arrow = n.child_by_field_name("operator").map(|o| self.text(o) == "->").unwrap_or(false);
            let kind = access_kind(n, self.buf);
            let at = n.start_byte();
            let caller = self.caller(at);
            let base = match n.child_by_field_name("argument") {
                Some(arg) => self.base_of(arg, caller, &index),
                None => Base::Unknown,
            };
            let a = Access {
                caller,
                field: self.sym(self.text(field)),
                arrow,
                kind,
                base,
                pos: self.pos(field.start_byte()),
                conditional: self.cond(at),
            };
            self.f.accesses.push(a);
        }
        index
    }

    fn lookup(&self, name: &str, caller: Option<u32>) -> Option<Sym> {
        if let Some(fi) = caller {
            if let Some(&t) = self.locals[fi as usize].get(name) {
                return Some(t);
            }
        }
        self.file_vars.get(name).copied()
    }

    fn base_of(&mut self, e: Node, caller: Option<u32>, index: &HashMap<usize, u32>) -> Base {
        let e = skip_parens(e);
        match e.kind() {
            "identifier" => {
                let name = self.text(e);
                match self.lookup(name, caller) {
                    Some(t) => Base::Type(t),
                    None => Base::Name(self.sym(name)),
                }
            }
            "field_expression" => index.get(&e.id()).map(|&i| Base::Member(i)).unwrap_or(Base::Unknown),
            "cast_expression" => match e.child_by_field_name("type") {
                Some(t) => {
                    let t = norm(self.text(t));
                    Base::Type(self.sym(&t))
                }
                None => Base::Unknown,
            },
            "call_expression" => {
                let Some(f) = e.child_by_field_name("function") else { return Base::Unknown };
                if f.kind() != "identifier" {
                    return Base::Unknown;
                }
                let name = self.text(f);
                if is_container_of(name) {
                    if let Some(t) = nth_arg(e, 1).map(|a| norm(self.orig(a))) {
                        return Base::Type(self.sym(&format!("{t} *")));
                    }
                }
                Base::Call(self.sym(name))
            }
            "pointer_expression" | "subscript_expression" => {
                let inner = e.child_by_field_name("argument");
                let is_deref = e.kind() == "subscript_expression"
                    || e.child_by_field_name("operator").map(|o| self.text(o) == "*").unwrap_or(false);
                match (inner, is_deref) {
                    (Some(inner), true) => match self.base_of(inner, caller, index) {
                        Base::Type(t) => {
                            let t = self.f.name(t).to_string();
                            let t = match t.rfind(" [") {
                                Some(i) if t.ends_with(']') => t[..i].to_string(),
                                _ => t.strip_suffix(" *").unwrap_or(&t).to_string(),
                            };
                            Base::Type(self.sym(&t))
                        }
                        other => other,
                    },
                    _ => Base::Unknown,
                }
            }
            _ => Base::Unknown,
        }
    }

    // ---- calls ----

    fn calls(&mut self, calls: &[(Node, Node)], ifs: &[Node], index: &HashMap<usize, u32>) {
        let mut out: Vec<Call> = Vec::with_capacity(calls.len());
        for &(e, callee) in calls {
            let at = e.start_byte();
            let caller = self.caller(at);
            let callee = skip_parens(callee);
            // Generic selections and `typeof` look like calls to tree-sitter.
            if callee.kind() == "identifier" && is_keyword(self.text(callee)) {
                continue;
            }
            let (name, kind, base, pos_at) = match callee.kind() {
                "identifier" => {
                    let name = self.text(callee);
                    let is_var = self.lookup(name, caller).is_some_and(|t| !self.f.name(t).is_empty());
                    (
                        name.to_string(),
                        if is_var { CallKind::Pointer } else { CallKind::Direct },
                        None,
                        callee.start_byte(),
                    )
                }
                "field_expression" => {
                    let Some(field) = callee.child_by_field_name("field") else { continue };
                    let base = callee.child_by_field_name("argument").map(|a| self.base_of(a, caller, index));
                    (self.text(field).to_string(), CallKind::Member, base, field.start_byte())
                }
                "pointer_expression" => {
                    let inner = callee.child_by_field_name("argument").map(skip_parens);
                    match inner {
                        Some(i) if i.kind() == "identifier" => {
                            (self.text(i).to_string(), CallKind::Pointer, None, i.start_byte())
                        }
                        Some(i) if i.kind() == "field_expression" => {
                            let Some(field) = i.child_by_field_name("field") else { continue };
                            let base = i.child_by_field_name("argument").map(|a| self.base_of(a, caller, index));
                            (self.text(field).to_string(), CallKind::Member, base, field.start_byte())
                        }
                        _ => (String::new(), CallKind::Pointer, None, callee.start_byte()),
                    }
                }
                _ => (String::new(), CallKind::Pointer, None, callee.start_byte()),
            };
            out.push(Call {
                caller,
                callee: self.sym(&name),
                kind,
                pos: self.pos(pos_at),
                base,
                conditional: self.cond(at),
            });
        }
        for &n in ifs {
            let at = n.start_byte();
            if &self.src[at..at + 2] == b"if" {
                continue;
            }
            let mut end = at;
            while end < self.src.len() && is_ident_char(self.src[end]) {
                end += 1;
            }
            let name = String::from_utf8_lossy(&self.src[at..end]).into_owned();
            let caller = self.caller(at);
            out.push(Call {
                caller,
                callee: self.sym(&name),
                kind: CallKind::MacroBlock,
                pos: self.pos(at),
                base: None,
                conditional: self.cond(at),
            });
        }
        out.sort_by_key(|c| c.pos.offset);
        self.f.calls = out;
    }

    // ---- types ----

    fn types(&mut self, nodes: &[(TypeKind, Node)]) {
        let mut out = Vec::new();
        for &(kind, n) in nodes {
            let at = n.start_byte();
            let conditional = self.cond(at);
            match kind {
                TypeKind::Typedef => {
                    let Some(ty) = n.child_by_field_name("type") else { continue };
                    let mut c = n.walk();
                    let decls: Vec<Node> = n.children_by_field_name("declarator", &mut c).collect();
                    let first = decls.first().map(|d| declarator_name(*d, self.buf).0).unwrap_or_default();
                    let aliased_base = self.base_type_text(ty, &first);
                    for d in decls {
                        let Some((name, aliased)) = declarator_type(d, self.buf, &aliased_base) else { continue };
                        out.push(TypeDef {
                            kind,
                            name: self.sym(&name),
                            span: self.span(n),
                            fields: Vec::new(),
                            aliased: Some(self.sym(&aliased)),
                            enumerators: Vec::new(),
                            conditional,
                        });
                    }
                }
                TypeKind::Enum => {
                    let name = self.aggregate_name(n);
                    let mut enumerators = Vec::new();
                    if let Some(body) = n.child_by_field_name("body") {
                        let mut c = body.walk();
                        for e in body.named_children(&mut c) {
                            if let Some(nm) = e.child_by_field_name("name") {
                                enumerators.push(self.sym(self.text(nm)));
                            }
                        }
                    }
                    out.push(TypeDef {
                        kind,
                        name: self.sym(&name),
                        span: self.span(n),
                        fields: Vec::new(),
                        aliased: None,
                        enumerators,
                        conditional,
                    });
                }
                TypeKind::Struct | TypeKind::Union => {
                    // Anonymous members are flattened into their parent.
                    if n.child_by_field_name("name").is_none()
                        && n.parent().is_some_and(|p| p.kind() == "field_declaration")
                    {
                        continue;
                    }
                    let name = self.aggregate_name(n);
                    let mut fields = Vec::new();
                    if let Some(body) = n.child_by_field_name("body") {
                        self.fields(body, 0, &mut fields);
                    }
                    out.push(TypeDef {
                        kind,
                        name: self.sym(&name),
                        span: self.span(n),
                        fields,
                        aliased: None,
                        enumerators: Vec::new(),
                        conditional,
                    });
                }
            }
        }
        self.f.types = out;
    }

    /// The type a declaration's type node names: `struct foo` for a tagged type (`anon`
    /// stands for the tag of an anonymous one), else the type text, normalised.
    fn base_type_text(&self, ty: Node, anon: &str) -> String {
        match ty.kind() {
            "struct_specifier" | "union_specifier" | "enum_specifier" => {
                let kw = &ty.kind()[..ty.kind().len() - "_specifier".len()];
                match ty.child_by_field_name("name") {
                    Some(nm) => format!("{kw} {}", self.text(nm)),
                    None => format!("{kw} {anon}"),
                }
            }
            _ => norm(self.text(ty)),
        }
    }

    fn aggregate_name(&mut self, n: Node) -> String {
        if let Some(nm) = n.child_by_field_name("name") {
            return self.text(nm).to_string();
        }
        // `typedef struct { ... } foo_t;` takes the typedef's name.
        if let Some(p) = n.parent().filter(|p| p.kind() == "type_definition") {
            if let Some(d) = p.child_by_field_name("declarator") {
                let (name, _) = declarator_name(d, self.buf);
                if !name.is_empty() {
                    return name;
                }
            }
        }
        // Numbered in file order, so that a change of lines above does not rename it.
        self.anon += 1;
        format!("<anon#{}>", self.anon)
    }

    fn fields(&mut self, body: Node, depth: u8, out: &mut Vec<Field>) {
        let mut c = body.walk();
        let kids: Vec<Node> = body.named_children(&mut c).collect();
        for fd in kids {
            if fd.kind() != "field_declaration" {
                // Conditional members: `#ifdef X` inside a struct keeps its fields.
                if fd.kind().starts_with("preproc_") {
                    self.fields(fd, depth, out);
                }
                continue;
            }
            let Some(ty) = fd.child_by_field_name("type") else { continue };
            let mut c2 = fd.walk();
            let decls: Vec<Node> = fd.children_by_field_name("declarator", &mut c2).collect();
            if decls.is_empty() {
                // Anonymous struct/union member: its fields belong to the parent.
                if let Some(inner) = ty.child_by_field_name("body") {
                    let anon = self.sym("");
                    let tyname = self.sym(&ty.kind().replace("_specifier", ""));
                    out.push(Field { name: anon, ty: tyname, pos: self.pos(fd.start_byte()), depth });
                    self.fields(inner, depth.saturating_add(1), out);
                }
                continue;
            }
            let base = self.base_type_text(ty, "<anon>");
            for d in decls {
                let Some((name, t)) = declarator_type(d, self.buf, &base) else { continue };
                let f = Field { name: self.sym(&name), ty: self.sym(&t), pos: self.pos(d.start_byte()), depth };
                out.push(f);
            }
        }
    }

    // ---- ops tables, function references, sizeof, errors ----

    fn inits(&mut self, pairs: &[(Node, Node, Node)]) {
        for &(pair, field, value) in pairs {
            // The enclosing declaration gives the table's type and name.
            let mut d = pair.parent();
            while let Some(x) = d {
                if x.kind() == "declaration" || x.kind() == "compound_statement" {
                    break;
                }
                d = x.parent();
            }
            let (ty, var) = match d.filter(|x| x.kind() == "declaration") {
                Some(decl) => {
                    let ty = decl.child_by_field_name("type").map(|t| norm(self.text(t)));
                    let var = decl.child_by_field_name("declarator").map(|x| declarator_name(x, self.buf).0);
                    (ty, var)
                }
                None => (None, None),
            };
            let o = OpsInit {
                ty: ty.map(|t| self.sym(&t)),
                var: var.filter(|v| !v.is_empty()).map(|v| self.sym(&v)),
                field: self.sym(self.text(field)),
                func: self.sym(self.text(value)),
                pos: self.pos(value.start_byte()),
            };
            self.f.ops_inits.push(o);
        }
    }

    fn values(&mut self, nodes: &[Node]) {
        let mut seen = std::collections::HashSet::new();
        for &n in nodes {
            if !seen.insert(n.id()) {
                continue;
            }
            let name = self.text(n);
            let caller = self.caller(n.start_byte());
            if self.lookup(name, caller).is_some()
                || name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_' || b.is_ascii_digit())
            {
                continue; // a variable, or most likely a constant
            }
            let member = n
                .parent()
                .filter(|p| p.kind() == "assignment_expression")
                .and_then(|p| p.child_by_field_name("left"))
                .filter(|l| l.kind() == "field_expression")
                .and_then(|l| l.child_by_field_name("field"))
                .map(|f| self.text(f).to_string());
            let a = AddrTaken {
                caller,
                name: self.sym(name),
                member: member.map(|m| self.sym(&m)),
                pos: self.pos(n.start_byte()),
            };
            self.f.addr_taken.push(a);
        }
        self.f.addr_taken.sort_by_key(|a| a.pos.offset);
    }

    fn sizeofs(&mut self, nodes: &[Node]) {
        for &n in nodes {
            let arg = n.child_by_field_name("type").or_else(|| n.child_by_field_name("value"));
            let Some(arg) = arg else { continue };
            let t = norm(self.orig(skip_parens(arg)));
            let s = SizeofUse { caller: self.caller(n.start_byte()), arg: self.sym(&t), pos: self.pos(n.start_byte()) };
            self.f.sizeofs.push(s);
        }
    }

    fn errors(&mut self, nodes: &[Node]) {
        for &n in nodes {
            // Report the outermost error only.
            if n.parent().is_some_and(|p| p.has_error() && p.kind() == "ERROR") {
                continue;
            }
            self.errors += 1;
            if self.errors <= MAX_ERRORS_PER_FILE {
                let snippet: String =
                    self.orig(n).chars().take(40).collect::<String>().split_whitespace().collect::<Vec<_>>().join(" ");
                self.diag(DiagCode::ParseError, n.start_byte(), format!("syntax error near `{snippet}`"));
            }
        }
    }

    fn macro_def(&mut self, m: &pp::RawMacro) {
        let body = &self.src[m.body.0..m.body.1];
        let params = m.params.clone();
        let param_index =
            |w: &str| params.as_ref().and_then(|p| p.iter().position(|x| x == w || (x == "..." && w == "__VA_ARGS__")));
        let toks: Vec<_> = Lexer::new(body).without_directives().collect();
        let text = |k: usize| std::str::from_utf8(&body[toks[k].start..toks[k].end]).unwrap_or("");
        let mut calls: Vec<String> = Vec::new();
        let mut idents: Vec<String> = Vec::new();
        let mut fields: Vec<String> = Vec::new();
        let mut param_calls: Vec<u8> = Vec::new();
        let mut call_args: Vec<(String, u8, Result<String, u8>)> = Vec::new();
        let push = |list: &mut Vec<String>, w: &str| {
            if !list.iter().any(|x| x == w) {
                list.push(w.to_string());
            }
        };
        let mut i = 0;
        while i < toks.len() {
            let t = toks[i];
            if t.kind != Tok::Ident {
                i += 1;
                continue;
            }
            let w = text(i);
            let prev = i.checked_sub(1).map(text);
            let next = (i + 1 < toks.len()).then(|| text(i + 1));
            // Attributes and sparse annotations name no functions: skip their arguments.
            if matches!(w, "__attribute__" | "__attribute" | "__context__" | "_Static_assert" | "__section")
                && next == Some("(")
            {
                i = skip_group(&toks, body, i + 1);
                continue;
            }
            if matches!(prev, Some("##")) || matches!(next, Some("##")) || matches!(prev, Some("#")) {
                i += 1;
                continue; // pasted or stringified names are not real names
            }
            if matches!(prev, Some("->") | Some(".")) {
                push(&mut fields, w);
            } else if let Some(k) = param_index(w) {
                if next == Some("(") && !param_calls.contains(&(k as u8)) {
                    param_calls.push(k as u8);
                }
            } else if is_keyword(w) {
            } else if next == Some("(") {
                push(&mut calls, w);
                for (k, arg) in single_ident_args(&toks, body, i + 1).into_iter().enumerate() {
                    let Some(arg) = arg else { continue };
                    let a = match param_index(&arg) {
                        Some(p) => Err(p as u8),
                        None if is_keyword(&arg) => continue,
                        None => Ok(arg),
                    };
                    if k < 16 {
                        call_args.push((w.to_string(), k as u8, a));
                    }
                }
            } else {
                push(&mut idents, w);
            }
            i += 1;
        }
        let refs = MacroRefs {
            calls: calls.iter().map(|c| self.sym(c)).collect(),
            idents: idents.iter().map(|c| self.sym(c)).collect(),
            fields: fields.iter().map(|c| self.sym(c)).collect(),
            param_calls,
            call_args: call_args
                .iter()
                .map(|(c, k, a)| {
                    let arg = match a {
                        Ok(n) => MacroArg::Name(self.sym(n)),
                        Err(p) => MacroArg::Param(*p),
                    };
                    (self.sym(c), *k, arg)
                })
                .collect(),
        };
        let d = MacroDef {
            name: self.sym(&m.name),
            params: params.map(|p| p.iter().map(|x| self.sym(x)).collect()),
            pos: self.pos(m.name_at),
            body_hash: token_hash(body),
            conditional: m.conditional,
            condition: m.condition.as_ref().map(|c| self.sym(c)),
            refs: (refs != MacroRefs::default()).then(|| Box::new(refs)),
        };
        self.f.macros.push(d);
    }
}

/// Index after the group that opens at `open` (a `(`), or the end.
fn skip_group(toks: &[crate::lex::Token], s: &[u8], open: usize) -> usize {
    let mut d = 0i32;
    for (k, t) in toks.iter().enumerate().skip(open) {
        match &s[t.start..t.end] {
            b"(" => d += 1,
            b")" => {
                d -= 1;
                if d <= 0 {
                    return k + 1;
                }
            }
            _ => {}
        }
    }
    toks.len()
}

/// For a call whose `(` is at `open`: each argument that is exactly one identifier.
fn single_ident_args(toks: &[crate::lex::Token], s: &[u8], open: usize) -> Vec<Option<String>> {
    let mut out = Vec::new();
    let mut d = 0i32;
    let mut cur: Vec<usize> = Vec::new();
    for (k, t) in toks.iter().enumerate().skip(open) {
        let tx = &s[t.start..t.end];
        match tx {
            b"(" | b"[" | b"{" => {
                d += 1;
                if d == 1 {
                    continue;
                }
            }
            b")" | b"]" | b"}" => {
                d -= 1;
                if d == 0 {
                    out.push(one_ident(toks, s, &cur));
                    return out;
                }
            }
            b"," if d == 1 => {
                out.push(one_ident(toks, s, &cur));
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(k);
    }
    out
}

fn one_ident(toks: &[crate::lex::Token], s: &[u8], idx: &[usize]) -> Option<String> {
    match idx {
        [k] if toks[*k].kind == Tok::Ident => {
            std::str::from_utf8(&s[toks[*k].start..toks[*k].end]).ok().map(|x| x.to_string())
        }
        _ => None,
    }
}

fn is_keyword(w: &str) -> bool {
    matches!(
        w,
        "if" | "else"
            | "for"
            | "while"
            | "do"
            | "switch"
            | "case"
            | "default"
            | "return"
            | "goto"
            | "break"
            | "_Generic"
            | "__context__"
            | "__section"
            | "__attribute"
            | "__alignof__"
            | "_Alignof"
            | "offsetof"
            | "__builtin_offsetof"
            | "__has_attribute"
            | "__has_builtin"
            | "__has_include"
            | "__is_constexpr"
            | "continue"
            | "sizeof"
            | "typeof"
            | "__typeof__"
            | "__typeof"
            | "struct"
            | "union"
            | "enum"
            | "static"
            | "const"
            | "volatile"
            | "unsigned"
            | "signed"
            | "int"
            | "long"
            | "short"
            | "char"
            | "void"
            | "extern"
            | "inline"
            | "register"
            | "asm"
            | "__asm__"
            | "__volatile__"
            | "_Bool"
            | "__attribute__"
            | "__extension__"
            | "typedef"
            | "float"
            | "double"
            | "__builtin_expect"
            | "defined"
            | "_Static_assert"
            | "__auto_type"
    )
}

fn skip_parens(mut n: Node) -> Node {
    while n.kind() == "parenthesized_expression" {
        match n.named_child(0) {
            Some(c) => n = c,
            None => break,
        }
    }
    n
}

fn is_container_of(name: &str) -> bool {
    matches!(
        name,
        "container_of"
            | "container_of_const"
            | "list_entry"
            | "list_first_entry"
            | "list_last_entry"
            | "list_first_entry_or_null"
            | "list_next_entry"
            | "hlist_entry"
            | "hlist_entry_safe"
            | "rb_entry"
            | "rb_entry_safe"
            | "llist_entry"
            | "list_entry_rcu"
            | "list_first_or_null_rcu"
    )
}

fn nth_arg(call: Node, n: usize) -> Option<Node> {
    let args = call.child_by_field_name("arguments")?;
    let mut c = args.walk();
    let v: Vec<Node> = args.named_children(&mut c).filter(|x| x.kind() != "comment").collect();
    v.get(n).copied()
}

/// The `function_declarator` under a declarator, with the number of `*` on the way.
fn function_declarator(mut d: Node) -> Option<(Node, usize)> {
    let mut stars = 0;
    loop {
        match d.kind() {
            "function_declarator" => {
                // `int (*fp)(void)` is a pointer, not a function.
                let inner = d.child_by_field_name("declarator")?;
                if inner.kind() == "parenthesized_declarator" {
                    return None;
                }
                return Some((d, stars));
            }
            "pointer_declarator" => {
                stars += 1;
                d = d.child_by_field_name("declarator")?;
            }
            "attributed_declarator" | "parenthesized_declarator" => d = d.named_child(0)?,
            _ => return None,
        }
    }
}

/// Name of a declarator and the type marks it adds to the base type: ` *` per pointer,
/// `[N]` per array dimension (`int *a[4]` gives `a`, ` * [4]`).
fn declarator_name(d: Node, buf: &[u8]) -> (String, String) {
    let mut ptr = String::new();
    let mut arr = String::new();
    let mut cur = d;
    for _ in 0..32 {
        match cur.kind() {
            "identifier" | "field_identifier" | "type_identifier" | "primitive_type" => {
                return (node_text(buf, cur).to_string(), format!("{ptr}{arr}"));
            }
            "pointer_declarator" => {
                ptr.push_str(" *");
                match cur.child_by_field_name("declarator") {
                    Some(x) => cur = x,
                    None => break,
                }
            }
            "array_declarator" => {
                let size = cur.child_by_field_name("size").map(|s| norm(node_text(buf, s))).unwrap_or_default();
                arr = format!(" [{size}]{arr}");
                match cur.child_by_field_name("declarator") {
                    Some(x) => cur = x,
                    None => break,
                }
            }
            "function_declarator" | "init_declarator" => match cur.child_by_field_name("declarator") {
                Some(x) => cur = x,
                None => break,
            },
            "parenthesized_declarator" | "attributed_declarator" => match cur.named_child(0) {
                Some(x) => cur = x,
                None => break,
            },
            _ => break,
        }
    }
    (String::new(), format!("{ptr}{arr}"))
}

/// The name a declarator declares and its full type over `base` (`fnptr` for functions
/// and function pointers); None for an unnamed declarator.
fn declarator_type(d: Node, buf: &[u8], base: &str) -> Option<(String, String)> {
    let is_fn = function_declarator(d).is_some() || is_fn_pointer(d);
    let (name, marks) = declarator_name(d, buf);
    if name.is_empty() {
        return None;
    }
    Some((name, if is_fn { "fnptr".to_string() } else { format!("{base}{marks}") }))
}

/// `int (*read)(...)`: a pointer to a function.
fn is_fn_pointer(d: Node) -> bool {
    let mut cur = Some(d);
    while let Some(n) = cur {
        if n.kind() == "function_declarator" {
            return true;
        }
        cur = n
            .child_by_field_name("declarator")
            .or_else(|| (n.kind() == "parenthesized_declarator").then(|| n.named_child(0)).flatten());
    }
    false
}

fn has_storage(d: Node, buf: &[u8], word: &str) -> bool {
    let mut c = d.walk();
    let found = d.children(&mut c).any(|ch| ch.kind() == "storage_class_specifier" && node_text(buf, ch) == word);
    found
}

/// (name, type) of K&R declarations such as `struct mm *old; int a, *b;`.
fn knr_param_types(text: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let text = String::from_utf8_lossy(text);
    let ident =
        |s: &str| s.rsplit(|c: char| !(c.is_alphanumeric() || c == '_')).find(|w| !w.is_empty()).map(|w| w.to_string());
    for decl in text.split(';') {
        let mut parts = decl.split(',');
        let Some(first) = parts.next() else { continue };
        let Some(name) = ident(first) else { continue };
        let Some(cut) = first.rfind(name.as_str()) else { continue };
        let head = &first[..cut];
        let base = norm(&head.replace('*', " "));
        if base.is_empty() {
            continue;
        }
        out.push((name, format!("{base}{}", " *".repeat(head.matches('*').count()))));
        for p in parts {
            if let Some(name) = ident(p) {
                out.push((name, format!("{base}{}", " *".repeat(p.matches('*').count()))));
            }
        }
    }
    out
}

/// Read, write or address-of, from the expression around a field access. Accesses
/// embedded by `.` in a larger lvalue share its kind (`a->b.c = 1` writes `b` too).
fn access_kind(n: Node, buf: &[u8]) -> AccessKind {
    let mut top = n;
    loop {
        let Some(p) = top.parent() else { break };
        let is_embedding = p.kind() == "field_expression"
            && p.child_by_field_name("argument").map(|a| a.id()) == Some(top.id())
            && p.child_by_field_name("operator").map(|o| node_text(buf, o) == ".").unwrap_or(false);
        if is_embedding
            || p.kind() == "parenthesized_expression"
            || p.kind() == "subscript_expression" && p.child_by_field_name("argument").map(|a| a.id()) == Some(top.id())
        {
            top = p;
        } else {
            break;
        }
    }
    let Some(p) = top.parent() else { return AccessKind::Read };
    match p.kind() {
        "assignment_expression" if p.child_by_field_name("left").map(|l| l.id()) == Some(top.id()) => AccessKind::Write,
        "update_expression" => AccessKind::Write,
        "pointer_expression"
            if p.child_by_field_name("operator").map(|o| node_text(buf, o) == "&").unwrap_or(false) =>
        {
            AccessKind::AddressOf
        }
        _ => AccessKind::Read,
    }
}
