//! Byte rewrites before parsing that keep every offset, so tree-sitter sees plain C:
//!
//! - ranges from the preprocessor layer (inactive branches, directives) become blanks;
//! - kernel annotations (`__user`, `__init`, `notrace`, `__acquires(x)`, ...) become blanks;
//! - a type passed as a macro argument (`container_of(p, struct foo, m)`,
//!   `max_t(unsigned long, a, b)`) becomes one identifier of the same length;
//! - an iterator macro followed by a statement (`list_for_each_entry(p, h, m) { ... }`)
//!   becomes `if` plus blanks, so the block parses as the body of an `if`; the extractor
//!   reads the original bytes and records the macro invocation;
//! - a macro that ends a `do { ... }` (`} while_each_thread(g, t);`) becomes `while`
//!   plus blanks: only `while (...)` may follow a do-statement's body, so the macro
//!   expands to one, and its arguments parse as the condition.

use crate::lex::{Lexer, Tok, Token};

/// Annotations that vanish (a bare word).
const BARE: &[&str] = &[
    "__user",
    "__kernel",
    "__iomem",
    "__rcu",
    "__percpu",
    "__force",
    "__bitwise",
    "__bitwise__",
    "__safe",
    "__must_check",
    "__maybe_unused",
    "__always_unused",
    "__unused",
    "__used",
    "__cold",
    "__hot",
    "__pure",
    "__weak",
    "__visible",
    "__init",
    "__exit",
    "__initdata",
    "__exitdata",
    "__initconst",
    "__ref",
    "__refdata",
    "__read_mostly",
    "__ro_after_init",
    "__cacheline_aligned",
    "__cacheline_aligned_in_smp",
    "____cacheline_aligned",
    "____cacheline_aligned_in_smp",
    "____cacheline_internodealigned_in_smp",
    "__packed",
    "__randomize_layout",
    "__no_randomize_layout",
    "__latent_entropy",
    "__noreturn",
    "__always_inline",
    "noinline",
    "__noinline",
    "notrace",
    "noinstr",
    "asmlinkage",
    "__sched",
    "__lockfunc",
    "__kprobes",
    "__irq_entry",
    "__softirq_entry",
    "__cpuidle",
    "__init_or_module",
    "__devinit",
    "__devexit",
    "__devinitdata",
    "__meminit",
    "__cpuinit",
    "__deprecated",
    "__noclone",
    "__nocfi",
    "__no_kcsan",
    "__no_sanitize_address",
    "fastcall",
    "__attribute_const__",
    "__malloc",
    "__nocast",
    "__private",
    "__rcu_bh",
    "__sched_text",
    "__inline__",
    "__inline",
    "__flatten",
    "__naked",
    "__no_stack_protector",
    "__fix_address",
    "__exitused",
    "__head",
    "__initdata_or_module",
    "__meminitdata",
    "__nosavedata",
    "__page_aligned_bss",
    "__page_aligned_data",
    "__mayfail",
    "__ksym",
    "__always_used",
    "__no_profile",
    "__no_sanitize_undefined",
    "__noscs",
    "__nostackprotector",
    "__init_memblock",
    "__bpf_kfunc",
    "__exit_call",
    "__mustcheck",
];

/// Annotations that take a parenthesised argument list, blanked with it.
const WITH_ARGS: &[&str] = &[
    "__acquires",
    "__releases",
    "__must_hold",
    "__printf",
    "__scanf",
    "__aligned",
    "__section",
    "__cond_lock",
    "__alloc_size",
    "__diag_ignore",
    "__counted_by",
    "__assume_aligned",
    "__cond_acquires",
    "__cond_releases",
    "__attribute__",
    "__attribute",
    "__alias",
    "__copy",
];

/// Keywords that look like calls but take types: their arguments are left alone.
const TYPE_TAKING: &[&str] = &[
    "sizeof",
    "typeof",
    "__typeof__",
    "__typeof",
    "_Alignof",
    "alignof",
    "__alignof__",
    "offsetof",
    "__builtin_offsetof",
    "__builtin_types_compatible_p",
    "va_arg",
    "__builtin_va_arg",
    "_Static_assert",
    "static_assert",
    "_Generic",
    "__auto_type",
    "if",
    "while",
    "for",
    "switch",
    "return",
    "__asm__",
    "asm",
    "__asm",
    "__volatile__",
    "volatile",
    "_Atomic",
];

const TYPE_WORDS: &[&str] = &[
    "struct",
    "union",
    "enum",
    "unsigned",
    "signed",
    "long",
    "short",
    "int",
    "char",
    "void",
    "float",
    "double",
    "_Bool",
    "const",
    "volatile",
    "__signed__",
    "__const",
];

const STMT_KEYWORDS: &[&str] = &[
    "return",
    "if",
    "else",
    "for",
    "while",
    "do",
    "switch",
    "case",
    "default",
    "goto",
    "break",
    "continue",
    "sizeof",
    "typeof",
    "__typeof__",
    "asm",
    "__asm__",
    "struct",
    "union",
    "enum",
    "static",
    "const",
    "unsigned",
    "signed",
    "int",
    "long",
    "char",
    "void",
    "short",
    "extern",
    "volatile",
];

pub fn is_annotation(word: &str) -> bool {
    BARE.contains(&word) || WITH_ARGS.contains(&word)
}

/// Applies the preprocessor blanks and the rewrites; returns the buffer to parse.
pub fn rewrite(src: &[u8], blanks: &[(usize, usize)]) -> Vec<u8> {
    let mut out = src.to_vec();
    for &(a, b) in blanks {
        blank(&mut out, a, b.min(src.len()));
    }
    let toks: Vec<Token> = Lexer::new(&out).filter(|t| t.kind != Tok::Directive).collect();
    let text = |t: &Token| &out[t.start..t.end];
    let mut edits: Vec<(usize, Vec<u8>)> = Vec::new();
    let mut blank_ranges: Vec<(usize, usize)> = Vec::new();
    let mut depth: i32 = 0;
    // Depths of the `{` that open `do` bodies, innermost last; the token indices of the
    // macros found closing one.
    let mut do_bodies: Vec<i32> = Vec::new();
    let mut do_closers: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        if t.kind == Tok::Punct {
            match text(&t) {
                b"{" => {
                    depth += 1;
                    if i > 0 && text(&toks[i - 1]) == b"do" {
                        do_bodies.push(depth);
                    }
                }
                b"}" => {
                    if do_bodies.last() == Some(&depth) {
                        do_bodies.pop();
                        let closer = toks.get(i + 1).filter(|n| n.kind == Tok::Ident && text(n) != b"while");
                        if let Some(n) = closer {
                            let paren = toks.get(i + 2).is_some_and(|p| text(p) == b"(");
                            if paren && n.end - n.start >= 5 {
                                do_closers.push(i + 1);
                            }
                        }
                    }
                    depth -= 1;
                }
                b")" if depth == 0 => {
                    if let Some((a, b)) = knr_declarations(&toks, &out, i) {
                        blank_ranges.push((a, b));
                    }
                }
                _ => {}
            }
            i += 1;
            continue;
        }
        if t.kind != Tok::Ident {
            i += 1;
            continue;
        }
        if do_closers.last() == Some(&i) {
            do_closers.pop();
            let mut rep = b"while".to_vec();
            rep.resize(t.end - t.start, b' ');
            edits.push((t.start, rep));
            i += 1;
            continue;
        }
        let word = std::str::from_utf8(text(&t)).unwrap_or("");
        let next_is_paren = toks.get(i + 1).is_some_and(|n| text(n) == b"(");
        if BARE.contains(&word) && !(next_is_paren && word.starts_with("__attribute")) {
            blank_ranges.push((t.start, t.end));
            i += 1;
            continue;
        }
        if WITH_ARGS.contains(&word) && next_is_paren {
            if word.starts_with("__attribute") {
                // tree-sitter understands __attribute__((...)); leave it.
                i += 1;
                continue;
            }
            if let Some(close) = matching(&toks, &out, i + 1) {
                blank_ranges.push((t.start, toks[close].end));
                i = close + 1;
                continue;
            }
        }
        if depth == 0 && next_is_paren && syscall_prefix(word).is_some() {
            if let Some(close) = matching(&toks, &out, i + 1) {
                if let Some(rep) = syscall_definition(&toks, &out, i, close) {
                    edits.push((t.start, rep));
                    i = close + 1;
                    continue;
                }
            }
        }
        if next_is_paren && !TYPE_TAKING.contains(&word) && !TYPE_WORDS.contains(&word) {
            if let Some(close) = matching(&toks, &out, i + 1) {
                rewrite_type_args(&toks, &out, i + 1, close, &mut edits);
                if depth > 0
                    && t.end - t.start >= 2
                    && is_statement_start(&toks, &out, i)
                    && starts_statement(&toks, &out, close + 1)
                {
                    let mut rep = b"if".to_vec();
                    rep.resize(t.end - t.start, b' ');
                    edits.push((t.start, rep));
                }
            }
        }
        i += 1;
    }
    for (a, b) in blank_ranges {
        blank(&mut out, a, b);
    }
    for (at, bytes) in edits {
        out[at..at + bytes.len()].copy_from_slice(&bytes);
    }
    out
}

/// K&R parameter declarations after `f(a, b)`: `int a; char *b;` up to the body's `{`.
/// Returns their byte range when every name they declare is in the identifier list,
/// so tree-sitter sees `f(a, b) {`; the extractor reads the types from the original.
fn knr_declarations(toks: &[Token], s: &[u8], close: usize) -> Option<(usize, usize)> {
    let tx = |k: usize| &s[toks[k].start..toks[k].end];
    // The identifier list.
    let mut k = close;
    let mut names = Vec::new();
    loop {
        k = k.checked_sub(1)?;
        match toks[k].kind {
            Tok::Ident => names.push(tx(k)),
            Tok::Punct if tx(k) == b"," => {}
            Tok::Punct if tx(k) == b"(" => break,
            _ => return None,
        }
    }
    if names.is_empty() || toks.get(close + 1).map(|t| t.kind) != Some(Tok::Ident) {
        return None;
    }
    // The declarations: names declared must all be parameters.
    let mut j = close + 1;
    let mut last_ident: Option<&[u8]> = None;
    let mut saw_decl = false;
    while j < toks.len() {
        let t = tx(j);
        match (toks[j].kind, t) {
            (Tok::Punct, b"{") => break,
            (Tok::Punct, b";") | (Tok::Punct, b",") => {
                if !last_ident.is_some_and(|n| names.contains(&n)) {
                    return None;
                }
                saw_decl |= t == b";";
                last_ident = None;
            }
            (Tok::Ident, _) => last_ident = Some(t),
            (Tok::Punct, b"*") | (Tok::Punct, b"[") | (Tok::Punct, b"]") | (Tok::Number, _) => {}
            _ => return None,
        }
        j += 1;
    }
    (saw_decl && j < toks.len()).then(|| (toks[close + 1].start, toks[j - 1].end))
}

/// `SYSCALL_DEFINEn` defines `sys_<name>`, `COMPAT_SYSCALL_DEFINEn` `compat_sys_<name>`;
/// `SYSCALL32_DEFINEn` (include/linux/syscalls.h) is `COMPAT_SYSCALL_DEFINEn` where
/// `CONFIG_COMPAT` is set — the only case that compiles it on a 64-bit kernel (its users
/// sit under `#if defined(CONFIG_ARCH_SPLIT_ARG64) || defined(CONFIG_COMPAT)`).
fn syscall_prefix(word: &str) -> Option<&'static str> {
    let digit = |rest: &str| rest.len() == 1 && rest.as_bytes()[0].is_ascii_digit();
    if word.strip_prefix("SYSCALL_DEFINE").is_some_and(digit) {
        Some("sys_")
    } else if word.strip_prefix("COMPAT_SYSCALL_DEFINE").is_some_and(digit)
        || word.strip_prefix("SYSCALL32_DEFINE").is_some_and(digit)
    {
        Some("compat_sys_")
    } else {
        None
    }
}

/// `SYSCALL_DEFINE3(write, unsigned int, fd, char __user *, buf, size_t, n)` becomes
/// `long sys_write(unsigned int fd, char *buf, size_t n)` padded with blanks to the
/// same length (the C form is always shorter). Newlines inside are dropped: positions
/// are computed from the original bytes, so only offsets must be kept.
fn syscall_definition(toks: &[Token], s: &[u8], at: usize, close: usize) -> Option<Vec<u8>> {
    let word = std::str::from_utf8(&s[toks[at].start..toks[at].end]).ok()?;
    let prefix = syscall_prefix(word)?;
    let mut args: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut d = 0;
    for t in &toks[at + 2..close] {
        let tx = std::str::from_utf8(&s[t.start..t.end]).ok()?;
        match tx {
            "(" => d += 1,
            ")" => d -= 1,
            "," if d == 0 => {
                args.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(tx);
    }
    args.push(cur);
    let name = args.first()?.trim().to_string();
    let params: Vec<String> = args[1..].chunks(2).map(|p| p.join(" ")).collect();
    let params = if params.is_empty() { "void".to_string() } else { params.join(", ") };
    let mut rep = format!("long {prefix}{name}({params})").into_bytes();
    let len = toks[close].end - toks[at].start;
    if rep.len() > len {
        return None;
    }
    rep.resize(len, b' ');
    Some(rep)
}

fn blank(out: &mut [u8], a: usize, b: usize) {
    for x in &mut out[a..b] {
        if *x != b'\n' && *x != b'\r' {
            *x = b' ';
        }
    }
}

/// Index of the `)` matching the `(` at `open`.
fn matching(toks: &[Token], s: &[u8], open: usize) -> Option<usize> {
    let mut d = 0i32;
    for (k, t) in toks.iter().enumerate().skip(open) {
        if t.kind != Tok::Punct {
            continue;
        }
        match &s[t.start..t.end] {
            b"(" => d += 1,
            b")" => {
                d -= 1;
                if d == 0 {
                    return Some(k);
                }
            }
            b";" | b"{" | b"}" if d <= 1 && k > open + 256 => return None,
            _ => {}
        }
    }
    None
}

/// Arguments made only of type words (`struct foo *`, `unsigned long`) become one
/// identifier: spaces between words become `_`, `*` become blanks, and a leading
/// keyword gets its first letter replaced by `_`.
fn rewrite_type_args(toks: &[Token], s: &[u8], open: usize, close: usize, edits: &mut Vec<(usize, Vec<u8>)>) {
    let mut start = open + 1;
    let mut d = 0;
    for k in open + 1..=close {
        let t = &toks[k];
        let tx = &s[t.start..t.end];
        if t.kind == Tok::Punct && (tx == b"(" || tx == b"[") {
            d += 1;
        } else if t.kind == Tok::Punct && (tx == b")" || tx == b"]") && k != close {
            d -= 1;
        }
        if (k == close || (d == 0 && tx == b",")) && k > start {
            type_arg(toks, s, start, k, edits);
            start = k + 1;
        } else if k == close || (d == 0 && tx == b",") {
            start = k + 1;
        }
    }
}

fn type_arg(toks: &[Token], s: &[u8], a: usize, b: usize, edits: &mut Vec<(usize, Vec<u8>)>) {
    let arg = &toks[a..b];
    let word = |t: &Token| std::str::from_utf8(&s[t.start..t.end]).unwrap_or("");
    let first = word(&arg[0]);
    // `f(void)` is a parameter list, not a type argument.
    if !TYPE_WORDS.contains(&first) || (arg.len() == 1 && first == "void") {
        return;
    }
    let tagged = matches!(first, "struct" | "union" | "enum");
    for (k, t) in arg.iter().enumerate() {
        let w = word(t);
        let ok = match t.kind {
            Tok::Ident => TYPE_WORDS.contains(&w) || (tagged && k == 1) || (k > 0 && !tagged && is_typedef_like(w)),
            Tok::Punct => w == "*",
            _ => false,
        };
        if !ok {
            return;
        }
    }
    let (lo, hi) = (arg[0].start, arg[arg.len() - 1].end);
    let mut rep = s[lo..hi].to_vec();
    let mut last_word_end = lo;
    for t in arg {
        if t.kind == Tok::Punct {
            for x in &mut rep[t.start - lo..t.end - lo] {
                *x = b' ';
            }
        } else {
            for x in &mut rep[last_word_end - lo..t.start - lo] {
                if *x == b' ' || *x == b'\t' {
                    *x = b'_';
                }
            }
            last_word_end = t.end;
        }
    }
    rep[0] = b'_';
    // Trailing blanks from `*` are fine; keep newlines where they were.
    edits.push((lo, rep));
}

fn is_typedef_like(w: &str) -> bool {
    w.ends_with("_t") || matches!(w, "u8" | "u16" | "u32" | "u64" | "s8" | "s16" | "s32" | "s64")
}

/// The token at `i` starts a statement: the previous token ends one.
fn is_statement_start(toks: &[Token], s: &[u8], i: usize) -> bool {
    match i.checked_sub(1).map(|p| &s[toks[p].start..toks[p].end]) {
        None => false,
        Some(p) => matches!(p, b";" | b"{" | b"}" | b"else") || (p == b":" && is_label_colon(toks, s, i - 1)),
    }
}

fn is_label_colon(toks: &[Token], s: &[u8], colon: usize) -> bool {
    // `case X:` / `default:` / `label:` but not the `:` of `a ? b : c`.
    let mut k = colon;
    while k > 0 {
        k -= 1;
        let t = &s[toks[k].start..toks[k].end];
        match t {
            b"?" => return false,
            b";" | b"{" | b"}" => return true,
            _ => {}
        }
    }
    true
}

/// The token at `j` can begin the statement an iterator macro governs.
fn starts_statement(toks: &[Token], s: &[u8], j: usize) -> bool {
    let Some(t) = toks.get(j) else { return false };
    let tx = &s[t.start..t.end];
    match t.kind {
        Tok::Punct => tx == b"{",
        Tok::Ident => {
            let w = std::str::from_utf8(tx).unwrap_or("");
            // `FOO(x) int y;` is a declaration macro, not an iterator.
            !matches!(
                w,
                "struct"
                    | "union"
                    | "enum"
                    | "static"
                    | "const"
                    | "unsigned"
                    | "signed"
                    | "int"
                    | "long"
                    | "char"
                    | "void"
                    | "short"
                    | "extern"
                    | "volatile"
            ) && (STMT_KEYWORDS.contains(&w) || !w.is_empty())
                && next_after_ident_is_stmt(toks, s, j)
        }
        _ => false,
    }
}

/// For `FOO(x) bar ...`: `bar` must begin an expression statement or a keyword statement.
fn next_after_ident_is_stmt(toks: &[Token], s: &[u8], j: usize) -> bool {
    let w = &s[toks[j].start..toks[j].end];
    if matches!(w, b"if" | b"for" | b"while" | b"do" | b"switch" | b"return" | b"break" | b"continue" | b"goto") {
        return true;
    }
    match toks.get(j + 1).map(|n| &s[n.start..n.end]) {
        Some(n) => matches!(n, b"(" | b"=" | b"->" | b"." | b"++" | b"--" | b"+=" | b"-=" | b"|=" | b"&=" | b"["),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rw(s: &str) -> String {
        let out = rewrite(s.as_bytes(), &[]);
        assert_eq!(out.len(), s.len());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn blanks_annotations_keeping_offsets() {
        assert_eq!(rw("static int __init f(char __user *p)"), "static int        f(char        *p)");
        assert_eq!(rw("void g(void) __acquires(x) {"), format!("void g(void) {} {{", " ".repeat(13)));
    }

    #[test]
    fn type_arguments_become_identifiers() {
        assert_eq!(rw("p = container_of(q, struct foo, m);"), "p = container_of(q, _truct_foo, m);");
        assert_eq!(rw("x = max_t(unsigned long, a, b);"), "x = max_t(_nsigned_long, a, b);");
        assert_eq!(rw("x = sizeof(struct foo);"), "x = sizeof(struct foo);");
    }

    #[test]
    fn knr_declarations_are_blanked() {
        let s = "static struct mm * dup(old, n)\n struct mm *old; int n;\n{ return old; }";
        let r = rw(s);
        assert!(r.contains("dup(old, n)\n"), "{r}");
        assert!(!r.contains("int n;"), "{r}");
        // A macro call followed by a real declaration is left alone.
        assert_eq!(rw("EXPORT(foo)\nstatic int bar;\nint f(void) {}"), "EXPORT(foo)\nstatic int bar;\nint f(void) {}");
    }

    #[test]
    fn syscall_definitions_become_functions() {
        let s = "SYSCALL_DEFINE3(write, unsigned int, fd,\n const char *, buf, size_t, count)\n{";
        let r = rw(s);
        assert!(r.starts_with("long sys_write(unsigned int fd, const char * buf, size_t count)"), "{r}");
        assert!(rw("SYSCALL_DEFINE0(sync) {").starts_with("long sys_sync(void)"));
    }

    #[test]
    fn iterator_macros_become_if() {
        let s = "void f(void) { list_for_each_entry(p, h, m) { g(p); } for_each_cpu(i, m)\n g(i); wait_event(q, c); }";
        let r = rw(s);
        assert!(r.contains("if                 (p, h, m) {"), "{r}");
        assert!(r.contains("if          (i, m)\n g(i);"), "{r}");
        assert!(r.contains("wait_event(q, c);"), "{r}");
    }

    #[test]
    fn a_macro_closing_a_do_body_becomes_while() {
        let src = "void f(void)\n{\n\tdo {\n\t\tg(t);\n\t} while_each_thread(current, t);\n\th();\n}\n";
        let out = String::from_utf8(rewrite(src.as_bytes(), &[])).unwrap();
        assert_eq!(out.len(), src.len());
        assert!(out.contains("} while            (current, t);"), "{out}");
        // A real `while` and a short macro are left alone; so is a block that is no do body.
        let src = "void f(void)\n{\n\tdo { g(); } while (x);\n\tif (y) { g(); } each_x(y);\n}\n";
        assert_eq!(rewrite(src.as_bytes(), &[]), src.as_bytes());
    }

    #[test]
    fn syscall32_definitions_are_compat_syscalls() {
        let s = "SYSCALL32_DEFINE2(fanotify_x, int, fd, unsigned int, flags)\n{";
        assert!(rw(s).starts_with("long compat_sys_fanotify_x(int fd, unsigned int flags)"), "{}", rw(s));
    }
}
