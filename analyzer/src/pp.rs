//! The preprocessor layer: finds directives, evaluates `#if` chains against an optional
//! kernel `.config`, and says which byte ranges to blank before parsing and which are
//! conditional. It never expands macros; `#define` bodies are kept for the macro index.

use std::collections::{BTreeMap, BTreeSet};

use crate::lex::{is_ident_char, is_ident_start, Lexer, Tok};

/// A kernel configuration (`.config`): `CONFIG_X=y|m|n|<number>|"<string>"`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Config {
    values: BTreeMap<String, String>,
    /// Whether the file at hand is compiled into a module (kbuild passes `-DMODULE`):
    /// `None` when it is not known (for headers, and without a kbuild tree).
    module: Option<bool>,
}

impl Config {
    /// Parses `.config` text. Unknown lines are ignored (the format has no errors that
    /// matter to us); `# CONFIG_X is not set` means `n`.
    pub fn parse(text: &str) -> Config {
        let mut values = BTreeMap::new();
        for line in text.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("# ") {
                if let Some(name) = rest.strip_suffix(" is not set") {
                    values.insert(name.to_string(), "n".to_string());
                }
            } else if let Some((k, v)) = line.split_once('=') {
                if k.starts_with("CONFIG_") {
                    values.insert(k.to_string(), v.to_string());
                }
            }
        }
        Config { values, module: None }
    }

    /// This configuration for one object: `MODULE` is defined when kbuild links it into a
    /// module, and undefined when into the kernel.
    pub fn for_object(&self, module: bool) -> Config {
        Config { module: Some(module), ..self.clone() }
    }

    pub fn module(&self) -> Option<bool> {
        self.module
    }

    /// Every `CONFIG_X` with its value.
    pub fn values(&self) -> &BTreeMap<String, String> {
        &self.values
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(|s| s.as_str())
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// A stable fingerprint (for cache keys).
    pub fn fingerprint(&self) -> u64 {
        let mut s = String::new();
        for (k, v) in &self.values {
            s.push_str(k);
            s.push('=');
            s.push_str(v);
            s.push('\n');
        }
        match self.module {
            Some(true) => s.push_str("-DMODULE\n"),
            Some(false) => s.push_str("-UMODULE\n"),
            None => {}
        }
        crate::lex::token_hash(s.as_bytes()) ^ (self.values.len() as u64)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activity {
    Active,
    Conditional,
    Inactive,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawMacro {
    pub name: String,
    pub params: Option<Vec<String>>,
    /// Offset of the name.
    pub name_at: usize,
    /// Byte range of the body.
    pub body: (usize, usize),
    pub conditional: bool,
    /// The unknown `#if` conditions the definition sits under, as one C expression.
    pub condition: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawInclude {
    pub path: String,
    pub system: bool,
    pub at: usize,
    pub conditional: bool,
}

#[derive(Clone, Debug, Default)]
pub struct PpResult {
    /// Ranges to overwrite with spaces (newlines kept) before parsing.
    pub blank: Vec<(usize, usize)>,
    /// Ranges whose code exists only under an unknown condition (sorted, disjoint).
    pub conditional: Vec<(usize, usize)>,
    /// Ranges of branches that are not compiled (sorted, disjoint): a subset of `blank`
    /// without the directive lines.
    pub inactive: Vec<(usize, usize)>,
    pub macros: Vec<RawMacro>,
    pub includes: Vec<RawInclude>,
    /// Offsets of unbalanced `#else`/`#endif` or unterminated `#if`.
    pub unbalanced: Vec<usize>,
}

impl PpResult {
    pub fn is_conditional(&self, at: usize) -> bool {
        let i = self.conditional.partition_point(|r| r.1 <= at);
        i < self.conditional.len() && self.conditional[i].0 <= at
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Taken {
    Yes,
    No,
    Maybe,
}

struct Frame {
    cur: Activity,
    taken: Taken,
    chain_known: bool,
    parent_inactive: bool,
    lines: Vec<(usize, usize)>,
    /// The unknown condition under which the current branch is active, if any.
    cond: Option<String>,
    /// The unknown conditions of the earlier branches of the chain.
    prior: Vec<String>,
}

/// The condition of a branch: its own (unknown) test, after the negation of every
/// earlier unknown test of the chain.
fn branch_condition(prior: &[String], own: Option<&str>) -> Option<String> {
    let mut parts: Vec<String> = prior.iter().map(|p| format!("!({p})")).collect();
    if let Some(o) = own {
        parts.push(format!("({o})"));
    }
    (!parts.is_empty()).then(|| parts.join(" && "))
}

/// Runs the preprocessor layer over a file.
pub fn scan(src: &[u8], config: Option<&Config>) -> PpResult {
    let mut out = PpResult::default();
    let mut frames: Vec<Frame> = Vec::new();
    // Every kernel translation unit is built with __KERNEL__, never as assembly or for
    // sparse; with a config we also know the compiler (gcc, 64-bit x86, optimising).
    let mut defined: BTreeMap<String, Option<i64>> = BTreeMap::from([("__KERNEL__".to_string(), Some(1))]);
    let mut undefined: BTreeSet<String> =
        ["__ASSEMBLY__", "__CHECKER__", "__GENKSYMS__", "__INTEL_COMPILER"].iter().map(|s| s.to_string()).collect();
    if config.is_some() {
        for (k, v) in [("__GNUC__", 12), ("__x86_64__", 1), ("__OPTIMIZE__", 1), ("__STDC__", 1), ("__LP64__", 1)] {
            defined.insert(k.to_string(), Some(v));
        }
        undefined.insert("__clang__".to_string());
        undefined.insert("__cplusplus".to_string());
    }
    let mut seg_start = 0usize;
    let directives: Vec<(usize, usize)> =
        Lexer::new(src).filter(|t| t.kind == Tok::Directive).map(|t| (t.start, t.end)).collect();

    let effective = |frames: &[Frame]| {
        let mut a = Activity::Active;
        for f in frames {
            match f.cur {
                Activity::Inactive => return Activity::Inactive,
                Activity::Conditional => a = Activity::Conditional,
                Activity::Active => {}
            }
        }
        a
    };

    for (di, &(start, end)) in directives.iter().enumerate() {
        // The code segment before this directive.
        push_segment(&mut out, seg_start, start, effective(&frames));
        seg_start = end;
        let line = &src[start + 1..end];
        let (word, rest) = split_word(line);
        let rest_off = start + 1 + (line.len() - rest.len());
        let eff = effective(&frames);
        match word {
            b"if" | b"ifdef" | b"ifndef" => {
                let parent_inactive = eff == Activity::Inactive;
                let v = if parent_inactive {
                    Some(false)
                } else {
                    match word {
                        b"if" => eval_if(rest, config, &defined, &undefined),
                        _ => {
                            let name = first_ident(rest);
                            let d = is_defined(&name, config, &defined, &undefined);
                            let guard = word == b"ifndef" && next_defines(src, &directives, di + 1, &name);
                            match (word == b"ifndef", d) {
                                (true, _) if guard => Some(true),
                                (true, d) => d.map(|d| !d),
                                (false, d) => d,
                            }
                        }
                    }
                };
                let (cur, taken, known) = branch(v, Taken::No);
                let test = match word {
                    b"if" => String::from_utf8_lossy(rest).trim().to_string(),
                    b"ifdef" => format!("defined({})", first_ident(rest)),
                    _ => format!("!defined({})", first_ident(rest)),
                };
                let (cond, prior) = if v.is_none() { (Some(test.clone()), vec![test]) } else { (None, vec![]) };
                frames.push(Frame {
                    cur,
                    taken,
                    chain_known: known,
                    parent_inactive,
                    lines: vec![(start, end)],
                    cond: cond.map(|c| format!("({c})")),
                    prior,
                });
            }
            b"elif" | b"elifdef" | b"elifndef" | b"else" => {
                let Some(f) = frames.last_mut() else {
                    out.unbalanced.push(start);
                    out.blank.push((start, end));
                    continue;
                };
                f.lines.push((start, end));
                if f.parent_inactive {
                    continue;
                }
                let v = match word {
                    b"else" => Some(true),
                    b"elif" => eval_if(rest, config, &defined, &undefined),
                    _ => {
                        let d = is_defined(&first_ident(rest), config, &defined, &undefined);
                        if word == b"elifndef" {
                            d.map(|d| !d)
                        } else {
                            d
                        }
                    }
                };
                let (cur, taken, known) = branch(v, f.taken);
                f.cur = cur;
                f.taken = taken;
                f.chain_known &= known;
                let test = match word {
                    b"else" => None,
                    b"elif" => Some(String::from_utf8_lossy(rest).trim().to_string()),
                    b"elifdef" => Some(format!("defined({})", first_ident(rest))),
                    _ => Some(format!("!defined({})", first_ident(rest))),
                };
                f.cond = match (cur, v) {
                    (Activity::Conditional, None) => branch_condition(&f.prior, test.as_deref()),
                    (Activity::Conditional, Some(_)) => branch_condition(&f.prior, None),
                    _ => None,
                };
                if v.is_none() {
                    if let Some(t) = test {
                        f.prior.push(t);
                    }
                }
            }
            b"endif" => {
                let Some(mut f) = frames.pop() else {
                    out.unbalanced.push(start);
                    out.blank.push((start, end));
                    continue;
                };
                f.lines.push((start, end));
                if f.parent_inactive || f.chain_known {
                    out.blank.extend(f.lines);
                }
            }
            _ => {
                if eff == Activity::Inactive {
                    out.blank.push((start, end));
                    continue;
                }
                out.blank.push((start, end));
                let conditional = eff == Activity::Conditional;
                let condition = {
                    let parts: Vec<&str> = frames.iter().filter_map(|f| f.cond.as_deref()).collect();
                    (conditional && !parts.is_empty()).then(|| parts.join(" && "))
                };
                match word {
                    b"define" => {
                        if let Some(m) = parse_define(src, rest_off, end) {
                            let body = &src[m.body.0..m.body.1];
                            let val = if m.params.is_none() { parse_int(body) } else { None };
                            if !conditional {
                                undefined.remove(&m.name);
                                defined.insert(m.name.clone(), val);
                            }
                            out.macros.push(RawMacro { conditional, condition: condition.clone(), ..m });
                        }
                    }
                    b"undef" => {
                        let name = first_ident(rest);
                        if !conditional {
                            defined.remove(&name);
                            undefined.insert(name);
                        }
                    }
                    b"include" | b"include_next" => {
                        if let Some((path, system)) = parse_include(rest) {
                            out.includes.push(RawInclude { path, system, at: start, conditional });
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    push_segment(&mut out, seg_start, src.len(), effective(&frames));
    for f in frames {
        out.unbalanced.push(f.lines[0].0);
    }
    out.blank.sort_unstable();
    out
}

fn push_segment(out: &mut PpResult, a: usize, b: usize, act: Activity) {
    if a >= b {
        return;
    }
    match act {
        Activity::Inactive => {
            out.blank.push((a, b));
            out.inactive.push((a, b));
        }
        Activity::Conditional => match out.conditional.last_mut() {
            Some(last) if last.1 >= a => last.1 = b,
            _ => out.conditional.push((a, b)),
        },
        Activity::Active => {}
    }
}

/// Activity of a branch whose condition is `v`, given whether an earlier branch of the
/// chain was taken. Returns (activity, taken-after, condition-known).
fn branch(v: Option<bool>, before: Taken) -> (Activity, Taken, bool) {
    match (before, v) {
        (Taken::Yes, _) => (Activity::Inactive, Taken::Yes, true),
        (Taken::No, Some(true)) => (Activity::Active, Taken::Yes, true),
        (Taken::No, Some(false)) => (Activity::Inactive, Taken::No, true),
        (Taken::No, None) => (Activity::Conditional, Taken::Maybe, false),
        (Taken::Maybe, Some(true)) => (Activity::Conditional, Taken::Yes, false),
        (Taken::Maybe, Some(false)) => (Activity::Inactive, Taken::Maybe, false),
        (Taken::Maybe, None) => (Activity::Conditional, Taken::Maybe, false),
    }
}

fn split_word(line: &[u8]) -> (&[u8], &[u8]) {
    let mut i = 0;
    while i < line.len() && (line[i] == b' ' || line[i] == b'\t') {
        i += 1;
    }
    let s = i;
    while i < line.len() && is_ident_char(line[i]) {
        i += 1;
    }
    (&line[s..i], &line[i..])
}

fn first_ident(rest: &[u8]) -> String {
    let (w, _) = split_word(rest);
    String::from_utf8_lossy(w).into_owned()
}

/// True when the directive after `from` is `#define name` (an include guard).
fn next_defines(src: &[u8], dirs: &[(usize, usize)], from: usize, name: &str) -> bool {
    let Some(&(s, e)) = dirs.get(from) else { return false };
    let (w, rest) = split_word(&src[s + 1..e]);
    w == b"define" && first_ident(rest) == name
}

fn is_defined(
    name: &str,
    config: Option<&Config>,
    defined: &BTreeMap<String, Option<i64>>,
    undefined: &BTreeSet<String>,
) -> Option<bool> {
    if defined.contains_key(name) {
        return Some(true);
    }
    if undefined.contains(name) {
        return Some(false);
    }
    if let Some(cfg) = config {
        if name == "MODULE" && cfg.module.is_some() {
            return cfg.module;
        }
        if let Some(base) = name.strip_suffix("_MODULE").filter(|b| b.starts_with("CONFIG_")) {
            return Some(cfg.get(base) == Some("m"));
        }
        if name.starts_with("CONFIG_") {
            return Some(matches!(cfg.get(name), Some(v) if v != "n" && v != "m"));
        }
    }
    None
}

fn parse_define(src: &[u8], from: usize, end: usize) -> Option<RawMacro> {
    let mut i = from;
    while i < end && (src[i] == b' ' || src[i] == b'\t') {
        i += 1;
    }
    if i >= end || !is_ident_start(src[i]) {
        return None;
    }
    let name_at = i;
    while i < end && is_ident_char(src[i]) {
        i += 1;
    }
    let name = String::from_utf8_lossy(&src[name_at..i]).into_owned();
    let mut params = None;
    if i < end && src[i] == b'(' {
        let close = src[i..end].iter().position(|&b| b == b')')? + i;
        let list = String::from_utf8_lossy(&src[i + 1..close]);
        params = Some(list.split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect::<Vec<_>>());
        i = close + 1;
    }
    Some(RawMacro { name, params, name_at, body: (i, end), conditional: false, condition: None })
}

fn parse_include(rest: &[u8]) -> Option<(String, bool)> {
    let t = String::from_utf8_lossy(rest);
    let t = t.trim();
    let (open, close, system) = match t.as_bytes().first()? {
        b'<' => ('<', '>', true),
        b'"' => ('"', '"', false),
        _ => return None,
    };
    let inner = t.strip_prefix(open)?;
    let e = inner.find(close)?;
    Some((inner[..e].to_string(), system))
}

fn parse_int(body: &[u8]) -> Option<i64> {
    let t = String::from_utf8_lossy(body);
    let t = t.trim().trim_start_matches('(').trim_end_matches(')').trim();
    let t = t.trim_end_matches(['u', 'U', 'l', 'L']);
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()
    } else {
        t.parse().ok()
    }
}

// ---- #if expression evaluation (tri-state: None = unknown) ----

struct Eval<'a> {
    toks: Vec<&'a str>,
    i: usize,
    config: Option<&'a Config>,
    defined: &'a BTreeMap<String, Option<i64>>,
    undefined: &'a BTreeSet<String>,
}

/// Evaluates an `#if` expression: `Some(true|false)`, or `None` when it depends on
/// something unknown. `defined` holds known macros (with their value when numeric).
pub fn eval_if(
    expr: &[u8],
    config: Option<&Config>,
    defined: &BTreeMap<String, Option<i64>>,
    undefined: &BTreeSet<String>,
) -> Option<bool> {
    let text = std::str::from_utf8(expr).ok()?;
    let toks: Vec<&str> = Lexer::new(expr).without_directives().map(|t| &text[t.start..t.end]).collect();
    let mut e = Eval { toks, i: 0, config, defined, undefined };
    let v = e.ternary(0);
    if e.i != e.toks.len() {
        return None;
    }
    v.map(|v| v != 0)
}

type V = Option<i64>;

impl<'a> Eval<'a> {
    fn peek(&self) -> Option<&'a str> {
        self.toks.get(self.i).copied()
    }
    fn eat(&mut self, t: &str) -> bool {
        if self.peek() == Some(t) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn ternary(&mut self, depth: u32) -> V {
        if depth > 64 {
            self.i = self.toks.len() + 1;
            return None;
        }
        let c = self.binary(0, depth);
        if self.eat("?") {
            let a = self.ternary(depth + 1);
            if !self.eat(":") {
                return None;
            }
            let b = self.ternary(depth + 1);
            return match c {
                Some(0) => b,
                Some(_) => a,
                None if a == b => a,
                None => None,
            };
        }
        c
    }

    fn binary(&mut self, min_prec: u8, depth: u32) -> V {
        let mut lhs = self.unary(depth);
        loop {
            let Some(op) = self.peek() else { break };
            let prec = match op {
                "||" => 1,
                "&&" => 2,
                "|" => 3,
                "^" => 4,
                "&" => 5,
                "==" | "!=" => 6,
                "<" | ">" | "<=" | ">=" => 7,
                "<<" | ">>" => 8,
                "+" | "-" => 9,
                "*" | "/" | "%" => 10,
                _ => break,
            };
            if prec < min_prec.max(1) {
                break;
            }
            self.i += 1;
            let rhs = self.binary(prec + 1, depth + 1);
            lhs = apply(op, lhs, rhs);
        }
        lhs
    }

    fn unary(&mut self, depth: u32) -> V {
        if depth > 64 {
            self.i = self.toks.len() + 1;
            return None;
        }
        let Some(t) = self.peek() else { return None };
        self.i += 1;
        match t {
            "!" => self.unary(depth + 1).map(|v| (v == 0) as i64),
            "-" => self.unary(depth + 1).map(|v| v.wrapping_neg()),
            "+" => self.unary(depth + 1),
            "~" => self.unary(depth + 1).map(|v| !v),
            "(" => {
                let v = self.ternary(depth + 1);
                if !self.eat(")") {
                    self.i = self.toks.len() + 1;
                    return None;
                }
                v
            }
            "defined" => {
                let paren = self.eat("(");
                let name = self.peek().unwrap_or("");
                self.i += 1;
                if paren && !self.eat(")") {
                    return None;
                }
                is_defined(name, self.config, self.defined, self.undefined).map(|b| b as i64)
            }
            "IS_ENABLED" | "IS_BUILTIN" | "IS_MODULE" | "IS_REACHABLE" if self.peek() == Some("(") => {
                self.i += 1;
                let name = self.peek().unwrap_or("");
                self.i += 1;
                if !self.eat(")") {
                    return None;
                }
                let cfg = self.config?;
                let v = cfg.get(name).unwrap_or("n");
                Some(match t {
                    "IS_BUILTIN" => (v == "y") as i64,
                    "IS_MODULE" => (v == "m") as i64,
                    _ => (v == "y" || v == "m") as i64,
                })
            }
            _ if t.as_bytes()[0].is_ascii_digit() => parse_int(t.as_bytes()),
            _ if t.starts_with('\'') => t.as_bytes().get(1).map(|&b| b as i64),
            _ if is_ident_start(t.as_bytes()[0]) => {
                // A function-like use we cannot evaluate: skip its arguments.
                if self.peek() == Some("(") {
                    let mut d = 0;
                    while let Some(x) = self.peek() {
                        self.i += 1;
                        if x == "(" {
                            d += 1;
                        } else if x == ")" {
                            d -= 1;
                            if d == 0 {
                                break;
                            }
                        }
                    }
                    return None;
                }
                if let Some(v) = self.defined.get(t) {
                    return *v;
                }
                if let Some(cfg) = self.config {
                    if t.starts_with("CONFIG_") {
                        return match cfg.get(t) {
                            None | Some("n") | Some("m") => Some(0),
                            Some("y") => Some(1),
                            Some(v) => parse_int(v.as_bytes()),
                        };
                    }
                }
                if self.undefined.contains(t) {
                    return Some(0);
                }
                None
            }
            _ => {
                self.i = self.toks.len() + 1;
                None
            }
        }
    }
}

fn apply(op: &str, a: V, b: V) -> V {
    match op {
        "&&" => match (a, b) {
            (Some(0), _) | (_, Some(0)) => Some(0),
            (Some(_), Some(_)) => Some(1),
            _ => None,
        },
        "||" => match (a, b) {
            (Some(x), _) if x != 0 => Some(1),
            (_, Some(y)) if y != 0 => Some(1),
            (Some(_), Some(_)) => Some(0),
            _ => None,
        },
        _ => {
            let (a, b) = (a?, b?);
            Some(match op {
                "|" => a | b,
                "^" => a ^ b,
                "&" => a & b,
                "==" => (a == b) as i64,
                "!=" => (a != b) as i64,
                "<" => (a < b) as i64,
                ">" => (a > b) as i64,
                "<=" => (a <= b) as i64,
                ">=" => (a >= b) as i64,
                "<<" => a.wrapping_shl(b as u32),
                ">>" => a.wrapping_shr(b as u32),
                "+" => a.wrapping_add(b),
                "-" => a.wrapping_sub(b),
                "*" => a.wrapping_mul(b),
                "/" => a.checked_div(b)?,
                "%" => a.checked_rem(b)?,
                _ => return None,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config::parse("CONFIG_SMP=y\nCONFIG_NUMA=m\n# CONFIG_DEBUG is not set\nCONFIG_NR_CPUS=64\n")
    }

    fn eval(e: &str, c: Option<&Config>) -> Option<bool> {
        eval_if(e.as_bytes(), c, &BTreeMap::new(), &BTreeSet::new())
    }

    #[test]
    fn evaluates_config_expressions() {
        let c = cfg();
        assert_eq!(eval("defined(CONFIG_SMP)", Some(&c)), Some(true));
        assert_eq!(eval("defined CONFIG_DEBUG", Some(&c)), Some(false));
        assert_eq!(eval("IS_ENABLED(CONFIG_NUMA)", Some(&c)), Some(true));
        assert_eq!(eval("IS_BUILTIN(CONFIG_NUMA)", Some(&c)), Some(false));
        assert_eq!(eval("CONFIG_NR_CPUS > 32 && !defined(CONFIG_DEBUG)", Some(&c)), Some(true));
        assert_eq!(eval("defined(CONFIG_NUMA_MODULE)", Some(&c)), Some(true));
        assert_eq!(eval("defined(CONFIG_SMP)", None), None);
        assert_eq!(eval("0 && defined(CONFIG_SMP)", None), Some(false));
        assert_eq!(eval("1 || FOO", None), Some(true));
        assert_eq!(eval("(2 + 3) * 4 == 20 ? 1 : 0", None), Some(true));
        assert_eq!(eval("LINUX_VERSION_CODE >= KERNEL_VERSION(2,4,0)", None), None);
        assert_eq!(eval("1 / 0", None), None);
        assert_eq!(eval("((((", None), None);
    }

    #[test]
    fn module_is_known_per_object_only() {
        let c = cfg();
        assert_eq!(eval("defined(MODULE)", Some(&c)), None, "a header, or no kbuild tree: unknown");
        assert_eq!(eval("defined(MODULE)", Some(&c.for_object(true))), Some(true));
        assert_eq!(eval("!defined(MODULE)", Some(&c.for_object(false))), Some(true));
        let src = b"#ifdef MODULE\nint m;\n#else\nint b;\n#endif\n";
        let r = scan(src, Some(&c.for_object(true)));
        assert!(r.blank.iter().any(|&(a, b)| a <= 27 && 33 <= b), "the built-in branch is blank: {:?}", r.blank);
        assert_ne!(c.fingerprint(), c.for_object(true).fingerprint());
        assert_ne!(c.for_object(false).fingerprint(), c.for_object(true).fingerprint());
    }

    #[test]
    fn blanks_inactive_branches_and_marks_unknown_ones() {
        let src = b"#ifdef CONFIG_SMP\nint a;\n#else\nint b;\n#endif\n#ifdef CONFIG_X86\nint c;\n#endif\n";
        let r = scan(src, Some(&cfg()));
        let mut out = src.to_vec();
        for &(a, b) in &r.blank {
            for x in &mut out[a..b] {
                if *x != b'\n' {
                    *x = b' ';
                }
            }
        }
        let s = String::from_utf8(out).unwrap();
        assert!(s.contains("int a;"));
        assert!(!s.contains("int b;"));
        assert!(!s.contains("int c;"), "CONFIG_X86 not in config means not set");
        let r = scan(src, None);
        let at = |needle: &str| std::str::from_utf8(src).unwrap().find(needle).unwrap();
        assert!(r.is_conditional(at("int a")) && r.is_conditional(at("int b")));
    }

    #[test]
    fn conditional_definitions_record_their_condition() {
        let src = b"#ifdef __WARN_FLAGS\n#define WARN() a()\n#else\n#define WARN() b()\n#endif\n#if X > 1\n#elif defined(Y)\n#define Z 1\n#endif\n";
        let r = scan(src, None);
        let conds: Vec<Option<&str>> = r.macros.iter().map(|m| m.condition.as_deref()).collect();
        assert_eq!(
            conds,
            vec![Some("(defined(__WARN_FLAGS))"), Some("!(defined(__WARN_FLAGS))"), Some("!(X > 1) && (defined(Y))")]
        );
    }

    #[test]
    fn include_guards_are_not_conditional() {
        let src = b"#ifndef _X_H\n#define _X_H\n#define M(a) f(a)\nint x;\n#endif\n";
        let r = scan(src, None);
        assert!(r.conditional.is_empty());
        assert_eq!(r.macros.len(), 2);
        assert_eq!(r.macros[1].params, Some(vec!["a".to_string()]));
        assert!(r.unbalanced.is_empty());
    }

    #[test]
    fn unbalanced_directives_are_reported() {
        let r = scan(b"#endif\n#if 1\nint a;\n", None);
        assert_eq!(r.unbalanced.len(), 2);
    }
}
