//! Macro expansion over text, for the functions a macro invocation at file scope defines.
//!
//! `module_phy_driver(marvell_drivers);` at the end of a driver defines two functions,
//! `phy_module_init` and `phy_module_exit`, whose bodies pass `ARRAY_SIZE(marvell_drivers)`
//! on: the facts of the file have no function there, only a call of `module_phy_driver`
//! with no caller. This module expands such an invocation with the definitions of the
//! macros it names (found by the caller: the analyzer does no IO) and finds the function
//! definitions in the result.
//!
//! The expansion follows the C preprocessor where it matters here: parameters are
//! replaced (pre-expanded, except next to `#` or `##`), `#` makes a string, `##` pastes
//! two tokens, `__VA_ARGS__` and GNU named variadic parameters take the rest of the
//! arguments, and a macro is not expanded again inside its own expansion. Only
//! function-like invocations outside braces are expanded: what a function body contains
//! is read as written (after parameter replacement), as the bodies of ordinary functions
//! are, and object-like macros (`__init`, `THIS_MODULE`) stay words. That also keeps the
//! lookups few.

use crate::lex::{Lexer, Tok};

/// One `#define` of a macro, as text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MacroText {
    /// `None` for an object-like macro.
    pub params: Option<Vec<String>>,
    /// The last parameter takes the rest of the arguments (`...` or `name...`).
    pub variadic: bool,
    pub body: String,
}

/// A token of an expansion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tk {
    pub kind: Tok,
    pub text: String,
}

impl Tk {
    fn is(&self, s: &str) -> bool {
        self.text == s
    }
}

/// A function defined in an expansion: its name and its body's tokens (with the braces).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefinedFn {
    pub name: String,
    pub body: Vec<Tk>,
}

pub fn tokens(text: &[u8]) -> Vec<Tk> {
    Lexer::new(text)
        .without_directives()
        .map(|t| Tk { kind: t.kind, text: String::from_utf8_lossy(&text[t.start..t.end]).into_owned() })
        .collect()
}

/// Every `#define name` in a file's text.
pub fn definitions_in(text: &[u8], name: &str) -> Vec<MacroText> {
    let mut out = Vec::new();
    for t in Lexer::new(text).filter(|t| t.kind == Tok::Directive) {
        let line = &text[t.start..t.end];
        let rest = trim_start(&line[1..]);
        let Some(rest) = rest.strip_prefix(b"define") else { continue };
        if rest.first().is_some_and(|b| !b.is_ascii_whitespace()) {
            continue;
        }
        let rest = trim_start(rest);
        let Some(after) = rest.strip_prefix(name.as_bytes()) else { continue };
        if after.first().is_some_and(|&b| crate::lex::is_ident_char(b)) {
            continue;
        }
        if after.first() == Some(&b'(') {
            let Some(close) = after.iter().position(|&b| b == b')') else { continue };
            let mut params: Vec<String> = String::from_utf8_lossy(&after[1..close])
                .split(',')
                .map(|p| p.split_whitespace().collect::<String>())
                .filter(|p| !p.is_empty() && p != "\\")
                .collect();
            let mut variadic = false;
            if let Some(last) = params.last_mut() {
                if let Some(named) = last.strip_suffix("...") {
                    variadic = true;
                    *last = if named.is_empty() { "__VA_ARGS__".into() } else { named.to_string() };
                }
            }
            out.push(MacroText {
                params: Some(params),
                variadic,
                body: String::from_utf8_lossy(&after[close + 1..]).into_owned(),
            });
        } else {
            out.push(MacroText { params: None, variadic: false, body: String::from_utf8_lossy(after).into_owned() });
        }
    }
    out
}

fn trim_start(s: &[u8]) -> &[u8] {
    let i = s.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(s.len());
    &s[i..]
}

/// The invocation `name(args)` starting at `offset` of `text`: the name and each argument
/// (at the outer level of parentheses) as its tokens joined by spaces. `None` when there
/// is no such invocation there.
pub fn invocation_at(text: &[u8], offset: usize) -> Option<(String, Vec<String>)> {
    let rest = text.get(offset..)?;
    // Tokens up to the invocation's closing parenthesis, no further.
    let mut toks = Vec::new();
    let mut depth = 0i32;
    for t in Lexer::new(rest).without_directives() {
        let tk = Tk { kind: t.kind, text: String::from_utf8_lossy(&rest[t.start..t.end]).into_owned() };
        match tk.text.as_str() {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" => depth -= 1,
            _ => {}
        }
        let closed = depth == 0 && toks.len() > 1;
        toks.push(tk);
        if closed {
            break;
        }
    }
    if toks.first().is_none_or(|t| t.kind != Tok::Ident) || toks.get(1).is_none_or(|t| !t.is("(")) {
        return None;
    }
    let (args, _) = arguments(&toks, 1)?;
    let text_of = |a: &[Tk]| a.iter().map(|t| t.text.as_str()).collect::<Vec<_>>().join(" ");
    Some((toks[0].text.clone(), args.iter().map(|a| text_of(a)).collect()))
}

/// Where an expansion finds the definitions of the macros it meets.
pub trait Definitions {
    /// The definitions of `name` (none when it is not a macro).
    fn lookup(&mut self, name: &str) -> Vec<MacroText>;
}

impl<F: FnMut(&str) -> Vec<MacroText>> Definitions for F {
    fn lookup(&mut self, name: &str) -> Vec<MacroText> {
        self(name)
    }
}

/// Expands the invocation `name(args)`. `keep` names macros left as written (the
/// caller reads them: `ARRAY_SIZE`); at most `budget` macros are expanded in all.
pub fn expand(name: &str, args: &[String], defs: &mut dyn Definitions, keep: &[&str], budget: usize) -> Vec<Tk> {
    let mut call = tokens(name.as_bytes());
    call.push(Tk { kind: Tok::Punct, text: "(".into() });
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            call.push(Tk { kind: Tok::Punct, text: ",".into() });
        }
        call.extend(tokens(a.as_bytes()));
    }
    call.push(Tk { kind: Tok::Punct, text: ")".into() });
    let mut x = Expander { defs, keep, budget, active: Vec::new() };
    x.run(call)
}

struct Expander<'a> {
    defs: &'a mut dyn Definitions,
    keep: &'a [&'a str],
    budget: usize,
    active: Vec<String>,
}

impl Expander<'_> {
    /// Expands the function-like invocations of `toks` that are outside braces.
    fn run(&mut self, toks: Vec<Tk>) -> Vec<Tk> {
        let mut out = Vec::new();
        let mut depth = 0usize;
        let mut i = 0;
        while i < toks.len() {
            let t = &toks[i];
            track_braces(&mut depth, t);
            let candidate = t.kind == Tok::Ident
                && depth == 0
                && self.budget > 0
                && toks.get(i + 1).is_some_and(|n| n.is("("))
                && !self.keep.contains(&t.text.as_str())
                && !self.active.contains(&t.text);
            if candidate {
                let def = self.defs.lookup(&t.text).into_iter().find(|d| d.params.is_some());
                if let (Some(def), Some((args, next))) = (def, arguments(&toks, i + 1)) {
                    self.budget -= 1;
                    let body = self.substitute(&def, args);
                    self.active.push(t.text.clone());
                    let expanded = self.run(body);
                    self.active.pop();
                    out.extend(expanded);
                    i = next;
                    continue;
                }
            }
            out.push(t.clone());
            i += 1;
        }
        out
    }

    fn substitute(&mut self, def: &MacroText, mut args: Vec<Vec<Tk>>) -> Vec<Tk> {
        let body = tokens(def.body.as_bytes());
        let params = def.params.clone().unwrap_or_default();
        if def.variadic && args.len() > params.len() {
            let rest: Vec<Vec<Tk>> = args.split_off(params.len() - 1);
            let mut joined = Vec::new();
            for (k, a) in rest.into_iter().enumerate() {
                if k > 0 {
                    joined.push(Tk { kind: Tok::Punct, text: ",".into() });
                }
                joined.extend(a);
            }
            args.push(joined);
        }
        let arg_of =
            |name: &str| params.iter().position(|p| p == name).map(|k| args.get(k).cloned().unwrap_or_default());
        let mut out: Vec<Tk> = Vec::new();
        let mut k = 0;
        while k < body.len() {
            let t = &body[k];
            // GNU `, ## __VA_ARGS__`: the comma goes when there are no variadic arguments.
            if def.variadic && t.is(",") && body.get(k + 1).is_some_and(|n| n.is("##")) {
                if let Some(a) =
                    body.get(k + 2).filter(|n| params.last() == Some(&n.text)).and_then(|n| arg_of(&n.text))
                {
                    if !a.is_empty() {
                        out.push(t.clone());
                        out.extend(a);
                    }
                    k += 3;
                    continue;
                }
            }
            if t.is("#") && def.params.is_some() {
                if let Some(a) = body.get(k + 1).and_then(|n| arg_of(&n.text)) {
                    let s: Vec<&str> = a.iter().map(|x| x.text.as_str()).collect();
                    out.push(Tk { kind: Tok::Str, text: format!("{:?}", s.join(" ")) });
                    k += 2;
                    continue;
                }
            }
            if let Some(a) = arg_of(&t.text) {
                let pasted = body.get(k + 1).is_some_and(|n| n.is("##")) || (k > 0 && body[k - 1].is("##"));
                if pasted {
                    out.extend(a);
                } else {
                    out.extend(self.run(a));
                }
                k += 1;
                continue;
            }
            out.push(t.clone());
            k += 1;
        }
        paste(out)
    }
}

/// Joins the tokens around each `##`.
fn paste(toks: Vec<Tk>) -> Vec<Tk> {
    let mut out: Vec<Tk> = Vec::new();
    let mut it = toks.into_iter().peekable();
    while let Some(t) = it.next() {
        if t.is("##") {
            if let (Some(prev), Some(next)) = (out.pop(), it.next()) {
                let text = format!("{}{}", prev.text, next.text);
                let kind = if tokens(text.as_bytes()).len() == 1 { tokens(text.as_bytes())[0].kind } else { prev.kind };
                out.push(Tk { kind, text });
            }
            continue;
        }
        out.push(t);
    }
    out
}

/// The arguments of an invocation whose `(` is at `open`, and the index after its `)`.
fn arguments(toks: &[Tk], open: usize) -> Option<(Vec<Vec<Tk>>, usize)> {
    let mut depth = 0;
    let mut args = vec![Vec::new()];
    for (k, t) in toks.iter().enumerate().skip(open) {
        match t.text.as_str() {
            "(" | "[" | "{" => {
                depth += 1;
                if depth == 1 {
                    continue;
                }
            }
            ")" | "]" | "}" => {
                depth -= 1;
                if depth == 0 {
                    if args.len() == 1 && args[0].is_empty() {
                        args.clear();
                    }
                    return Some((args, k + 1));
                }
            }
            "," if depth == 1 => {
                args.push(Vec::new());
                continue;
            }
            _ => {}
        }
        if let Some(a) = args.last_mut() {
            a.push(t.clone());
        }
    }
    None
}

fn track_braces(depth: &mut usize, t: &Tk) {
    match t.text.as_str() {
        "{" => *depth += 1,
        "}" => *depth = depth.saturating_sub(1),
        _ => {}
    }
}

const NOT_FUNCTIONS: &[&str] =
    &["if", "while", "for", "switch", "return", "sizeof", "typeof", "__typeof__", "__attribute__", "do", "else"];

/// The function definitions in an expansion: a name, its parameter list and a body, at
/// the outer level of braces, after a type.
pub fn defined_functions(toks: &[Tk]) -> Vec<DefinedFn> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < toks.len() {
        let t = &toks[i];
        track_braces(&mut depth, t);
        let after_type = i > 0 && (toks[i - 1].kind == Tok::Ident || toks[i - 1].is("*"));
        if depth == 0
            && t.kind == Tok::Ident
            && after_type
            && !NOT_FUNCTIONS.contains(&t.text.as_str())
            && toks.get(i + 1).is_some_and(|n| n.is("("))
        {
            if let Some((_, close)) = arguments(toks, i + 1) {
                if toks.get(close).is_some_and(|n| n.is("{")) {
                    if let Some(end) = matching_brace(toks, close) {
                        out.push(DefinedFn { name: t.text.clone(), body: toks[close..=end].to_vec() });
                        i = end + 1;
                        continue;
                    }
                }
            }
        }
        i += 1;
    }
    out
}

fn matching_brace(toks: &[Tk], open: usize) -> Option<usize> {
    let mut depth = 0;
    for (k, t) in toks.iter().enumerate().skip(open) {
        if t.is("{") {
            depth += 1;
        } else if t.is("}") {
            depth -= 1;
            if depth == 0 {
                return Some(k);
            }
        }
    }
    None
}

/// Whether the tokens take the size of `word`: `sizeof(word)`, `sizeof word` or
/// `ARRAY_SIZE(word)` (the length of an array: what changes when its initializer gains
/// or loses elements).
pub fn takes_size_of(toks: &[Tk], word: &str) -> bool {
    toks.iter().enumerate().any(|(i, t)| {
        (t.is("sizeof") || t.is("ARRAY_SIZE")) && {
            let mut j = i + 1;
            while toks.get(j).is_some_and(|n| n.is("(")) {
                j += 1;
            }
            toks.get(j).is_some_and(|n| n.is(word))
                && !toks.get(j + 1).is_some_and(|n| n.is("[") || n.is("->") || n.is("."))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHY_H: &str = r#"
#define phy_module_driver(__phy_drivers, __count)			\
static int __init phy_module_init(void)					\
{									\
	return phy_drivers_register(__phy_drivers, __count, THIS_MODULE); \
}									\
module_init(phy_module_init);						\
static void __exit phy_module_exit(void)				\
{									\
	phy_drivers_unregister(__phy_drivers, __count);			\
}									\
module_exit(phy_module_exit)

#define module_phy_driver(__phy_drivers)				\
	phy_module_driver(__phy_drivers, ARRAY_SIZE(__phy_drivers))
#define module_driver(__driver, __register, __unregister, ...) \
static int __init __driver##_init(void) \
{ \
	return __register(&(__driver) , ##__VA_ARGS__); \
} \
module_init(__driver##_init);
#define module_platform_driver(__platform_driver) \
	module_driver(__platform_driver, platform_driver_register, \
			platform_driver_unregister)
#define STR(x) #x
"#;

    fn lookup(name: &str) -> Vec<MacroText> {
        definitions_in(PHY_H.as_bytes(), name)
    }

    #[test]
    fn definitions_are_read_with_their_parameters() {
        let d = lookup("module_driver");
        assert_eq!(d.len(), 1);
        assert_eq!(
            d[0].params.as_deref(),
            Some(&["__driver".to_string(), "__register".into(), "__unregister".into(), "__VA_ARGS__".into()][..])
        );
        assert!(d[0].variadic);
        assert!(lookup("module_").is_empty(), "a prefix is not a definition");
        assert!(lookup("STR")[0].body.contains("#x"));
    }

    #[test]
    fn a_file_scope_invocation_defines_functions_that_take_the_size_of_its_argument() {
        let text = b"static struct phy_driver marvell_drivers[] = { {1}, {2} };\nmodule_phy_driver(marvell_drivers);\n";
        let at = text.windows(17).position(|w| w == b"module_phy_driver").unwrap();
        let (name, args) = invocation_at(text, at).unwrap();
        assert_eq!((name.as_str(), args.as_slice()), ("module_phy_driver", &["marvell_drivers".to_string()][..]));
        let x = expand(&name, &args, &mut lookup, &["ARRAY_SIZE"], 32);
        let fns = defined_functions(&x);
        let names: Vec<&str> = fns.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["phy_module_init", "phy_module_exit"]);
        assert!(fns.iter().all(|f| takes_size_of(&f.body, "marvell_drivers")));
        assert!(!fns.iter().any(|f| takes_size_of(&f.body, "other")));
    }

    #[test]
    fn pasted_names_and_variadic_arguments() {
        let x = expand("module_platform_driver", &["foo_driver".into()], &mut lookup, &[], 32);
        let fns = defined_functions(&x);
        assert_eq!(fns.len(), 1);
        assert_eq!(fns[0].name, "foo_driver_init");
        let body: Vec<&str> = fns[0].body.iter().map(|t| t.text.as_str()).collect();
        assert!(body.contains(&"platform_driver_register"), "{body:?}");
        assert!(body.windows(2).any(|w| w == [")", ")"]), "no variadic arguments: the comma goes: {body:?}");
        let s = expand("STR", &["a + b".into()], &mut lookup, &[], 4);
        assert_eq!(s[0].text, "\"a + b\"");
    }

    #[test]
    fn a_self_referencing_macro_stops_and_the_budget_bounds_the_work() {
        let defs = "#define loop(x) loop(x) + 1\n#define a(x) b(x)\n#define b(x) a(x) x\n";
        let mut l = |n: &str| definitions_in(defs.as_bytes(), n);
        let x = expand("loop", &["1".into()], &mut l, &[], 100);
        let t: Vec<&str> = x.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(t, ["loop", "(", "1", ")", "+", "1"]);
        let y = expand("a", &["2".into()], &mut l, &[], 100);
        let t: Vec<&str> = y.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(t, ["a", "(", "2", ")", "2"]);
        let z = expand("a", &["2".into()], &mut l, &[], 1);
        let t: Vec<&str> = z.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(t, ["b", "(", "2", ")"], "one expansion only");
    }

    #[test]
    fn size_uses_are_of_the_array_itself() {
        let t = tokens(b"{ n = ARRAY_SIZE(tbl); m = sizeof(tbl[0]); k = sizeof tbl; }");
        assert!(takes_size_of(&t, "tbl"));
        let t = tokens(b"{ m = sizeof(tbl[0]) + sizeof(tbl->x); use(tbl); }");
        assert!(!takes_size_of(&t, "tbl"), "an element's size does not change with the length");
    }
}
