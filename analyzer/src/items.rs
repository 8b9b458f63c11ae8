//! The top-level items of one file, as the walker needs them to rebuild a translation
//! unit around new versions of its functions: where each declaration, function
//! definition and file-scope macro invocation starts and ends, what it declares, and
//! which parts of it (initializers) make it a definition. tree-sitter types stay here.
//!
//! The branches the configuration leaves out are not seen (the preprocessor layer blanks
//! them and their directive lines, as for facts), so spans never straddle `#if` lines of
//! active code. Branches it cannot decide (`#ifdef __ARCH_WANT_SYS_OLD_UNAME`, set by an
//! arch header) are all seen: gcc compiles one of them.

use tree_sitter::Node;

use crate::pp::{self, Config};
use crate::queries;
use crate::rewrite;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ItemKind {
    /// A function definition; `name` as the declarator spells it (for a definition made
    /// by a macro, `SYSCALL_DEFINE1(...)`, the macro's name); `body` is the `{...}` range.
    Function { name: String, body: (usize, usize) },
    /// A declaration of variables or functions (prototypes).
    Declaration {
        /// Declared names, in order, with the range of each one's initializer (` = ...`
        /// from the `=` on) when it has one.
        names: Vec<(String, Option<(usize, usize)>)>,
        /// Whether each declared name is a function (a prototype), in the same order.
        functions: Vec<bool>,
        is_static: bool,
        is_extern: bool,
        is_typedef: bool,
        is_const: bool,
    },
    /// `NAME(...);` at file scope: `EXPORT_SYMBOL(f);`, `module_init(f);`, `DEFINE_MUTEX(m);`.
    Invocation { name: String },
    /// Anything else: a type definition, a lone `struct x {...};`, a parse error.
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub kind: ItemKind,
    /// Byte range in the file (the original bytes; the rewrite keeps offsets).
    pub span: (usize, usize),
}

/// The top-level items of `src` under `config`, in file order.
pub fn top_level(src: &[u8], config: Option<&Config>) -> Vec<Item> {
    let pp = pp::scan(src, config);
    let buf = rewrite::rewrite(src, &pp.blank);
    let mut parser = tree_sitter::Parser::new();
    if parser.set_language(&queries::language()).is_err() {
        return Vec::new();
    }
    let Some(tree) = parser.parse(&buf, None) else { return Vec::new() };
    let root = tree.root_node();
    let mut out = Vec::new();
    items_in(&buf, root, &mut out);
    out
}

/// The items among `parent`'s children, and inside the `#if` groups whose condition
/// the configuration does not decide (their directive lines stay in the text, and
/// tree-sitter nests what they hold; gcc compiles one of the branches).
fn items_in(buf: &[u8], parent: Node, out: &mut Vec<Item>) {
    let mut cur = parent.walk();
    for n in parent.children(&mut cur) {
        match n.kind() {
            "preproc_if" | "preproc_ifdef" | "preproc_else" | "preproc_elif" | "preproc_elifdef" => {
                items_in(buf, n, out)
            }
            _ => out.extend(item(buf, n)),
        }
    }
}

fn text<'t>(buf: &'t [u8], n: Node) -> &'t str {
    std::str::from_utf8(&buf[n.start_byte()..n.end_byte()]).unwrap_or("")
}

fn item(buf: &[u8], n: Node) -> Option<Item> {
    let span = (n.start_byte(), n.end_byte());
    let kind = match n.kind() {
        "function_definition" => {
            let body = n.child_by_field_name("body")?;
            let name = n.child_by_field_name("declarator").and_then(|d| declared_name(buf, d)).unwrap_or_default();
            ItemKind::Function { name, body: (body.start_byte(), body.end_byte()) }
        }
        "declaration" => declaration(buf, n),
        "expression_statement" => match invocation_name(buf, n) {
            Some(name) => ItemKind::Invocation { name },
            None => ItemKind::Other,
        },
        "comment" => return None,
        _ => ItemKind::Other,
    };
    Some(Item { kind, span })
}

/// `NAME(...)` as the first thing of an expression statement.
fn invocation_name(buf: &[u8], n: Node) -> Option<String> {
    let e = n.named_child(0)?;
    if e.kind() != "call_expression" {
        return None;
    }
    let f = e.child_by_field_name("function")?;
    (f.kind() == "identifier").then(|| text(buf, f).to_string())
}

fn declaration(buf: &[u8], n: Node) -> ItemKind {
    let mut names = Vec::new();
    let mut functions = Vec::new();
    let (mut is_static, mut is_extern, mut is_const) = (false, false, false);
    let mut cur = n.walk();
    for c in n.children(&mut cur) {
        match c.kind() {
            "storage_class_specifier" => match text(buf, c) {
                "static" => is_static = true,
                "extern" => is_extern = true,
                _ => {}
            },
            "type_qualifier" if text(buf, c) == "const" => is_const = true,
            _ => {}
        }
    }
    let mut cur = n.walk();
    for d in n.children_by_field_name("declarator", &mut cur) {
        let (decl, init) = if d.kind() == "init_declarator" {
            let value = d.child_by_field_name("value");
            let inner = d.child_by_field_name("declarator");
            // From the end of the declarator (the `=`) to the end of the value.
            let init = match (inner, value) {
                (Some(i), Some(v)) => Some((i.end_byte(), v.end_byte())),
                _ => None,
            };
            (inner.unwrap_or(d), init)
        } else {
            (d, None)
        };
        if let Some(name) = declared_name(buf, decl) {
            functions.push(is_function_declarator(decl));
            names.push((name, init));
        }
    }
    // A declaration whose only declarator is a call at file scope with no type before
    // it is a macro invocation that tree-sitter read as an implicit-int prototype.
    if n.child_by_field_name("type").is_none() {
        if let Some((name, _)) = names.first() {
            return ItemKind::Invocation { name: name.clone() };
        }
    }
    ItemKind::Declaration { names, functions, is_static, is_extern, is_typedef: false, is_const }
}

fn is_function_declarator(mut d: Node) -> bool {
    loop {
        match d.kind() {
            "function_declarator" => {
                // `int (*fp)(void)` is a pointer, not a function.
                return d.child_by_field_name("declarator").is_none_or(|i| i.kind() != "parenthesized_declarator");
            }
            "attributed_declarator" => match d.named_child(0) {
                Some(c) => d = c,
                None => return false,
            },
            _ => return false,
        }
    }
}

/// The identifier a declarator declares.
fn declared_name(buf: &[u8], mut d: Node) -> Option<String> {
    for _ in 0..32 {
        match d.kind() {
            "identifier" | "field_identifier" => return Some(text(buf, d).to_string()),
            _ => {
                d = match d.child_by_field_name("declarator") {
                    Some(c) => c,
                    None => {
                        let mut cur = d.walk();
                        let next = d.named_children(&mut cur).find(|c| {
                            matches!(
                                c.kind(),
                                "identifier"
                                    | "pointer_declarator"
                                    | "function_declarator"
                                    | "array_declarator"
                                    | "parenthesized_declarator"
                                    | "attributed_declarator"
                            )
                        });
                        next?
                    }
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<ItemKind> {
        top_level(src.as_bytes(), None).into_iter().map(|i| i.kind).collect()
    }

    #[test]
    fn functions_declarations_and_invocations() {
        let src = "#include <linux/x.h>\nstatic int count = 3, other;\nint g;\nextern int e;\n\
                   static const char *const names[] = { \"a\" };\nint f(void);\n\
                   static int h(int x)\n{\n\treturn x + count;\n}\nEXPORT_SYMBOL(h);\nstatic DEFINE_MUTEX(m);\n";
        let k = kinds(src);
        assert_eq!(k.len(), 8, "{k:#?}");
        match &k[0] {
            ItemKind::Declaration { names, is_static: true, .. } => {
                assert_eq!(names[0].0, "count");
                let (a, b) = names[0].1.unwrap();
                assert_eq!(&src[a..b], " = 3");
                assert_eq!(names[1], ("other".to_string(), None));
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(&k[1], ItemKind::Declaration { names, is_static: false, is_extern: false, .. } if names[0].0 == "g")
        );
        assert!(matches!(&k[2], ItemKind::Declaration { is_extern: true, .. }));
        assert!(matches!(&k[3], ItemKind::Declaration { is_const: true, names, .. } if names[0].0 == "names"));
        assert!(matches!(&k[4], ItemKind::Declaration { functions, .. } if functions == &vec![true]));
        assert!(matches!(&k[5], ItemKind::Function { name, .. } if name == "h"));
        assert!(matches!(&k[6], ItemKind::Invocation { name } if name == "EXPORT_SYMBOL"));
        // `static DEFINE_MUTEX(m);` defines the static variable `m` (the macro is its type).
        assert!(
            matches!(&k[7], ItemKind::Declaration { names, is_static: true, .. } if names[0].0 == "m"),
            "{:?}",
            k[7]
        );
    }

    #[test]
    fn inactive_branches_are_not_items() {
        let cfg = Config::parse("CONFIG_A=y\n");
        let src = "#ifdef CONFIG_B\nint b;\n#else\nint a;\n#endif\n";
        let items = top_level(src.as_bytes(), Some(&cfg));
        assert_eq!(items.len(), 1);
        assert!(matches!(&items[0].kind, ItemKind::Declaration { names, .. } if names[0].0 == "a"));
    }

    #[test]
    fn undecided_branches_are_all_items() {
        // `__ARCH_WANT_SYS_OLD_UNAME` comes from an arch header: the config cannot tell,
        // gcc compiles one branch; the walker must see (and prune) the definitions of both.
        let cfg = Config::parse("CONFIG_A=y\n");
        let src = "#ifdef __ARCH_WANT_X\nSYSCALL_DEFINE1(x, int, a)\n{\n\treturn a;\n}\n#else\nint y(void)\n{\n\treturn 0;\n}\n#endif\nint z;\n";
        let items = top_level(src.as_bytes(), Some(&cfg));
        let fns: Vec<&str> = items
            .iter()
            .filter_map(|i| match &i.kind {
                ItemKind::Function { name, .. } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(fns.len(), 2, "{items:#?}");
        assert!(fns.contains(&"y"), "{fns:?}");
        assert!(items.iter().any(|i| matches!(&i.kind, ItemKind::Declaration { names, .. } if names[0].0 == "z")));
    }
}
