//! The tree-sitter queries of `queries/*.scm`, compiled once, with their capture names
//! mapped to one enum. Node kinds and capture names are checked when the query is built.

use std::sync::OnceLock;

use tree_sitter::{Language, Query};

/// The query files, in the order they are concatenated.
pub const QUERY_FILES: &[(&str, &str)] = &[
    ("functions.scm", include_str!("../../queries/functions.scm")),
    ("calls.scm", include_str!("../../queries/calls.scm")),
    ("fields.scm", include_str!("../../queries/fields.scm")),
    ("types.scm", include_str!("../../queries/types.scm")),
    ("initializers.scm", include_str!("../../queries/initializers.scm")),
    ("values.scm", include_str!("../../queries/values.scm")),
    ("declarations.scm", include_str!("../../queries/declarations.scm")),
    ("errors.scm", include_str!("../../queries/errors.scm")),
];

/// Every capture name the extractor understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Capture {
    FunctionDefinition,
    CallExpression,
    CallCallee,
    CallIfStatement,
    AccessExpression,
    TypeStruct,
    TypeUnion,
    TypeEnum,
    TypeTypedef,
    InitPair,
    InitField,
    InitValue,
    ValueReference,
    DeclarationVariable,
    DeclarationParameter,
    DeclarationSizeof,
    ErrorNode,
}

impl Capture {
    pub fn from_name(name: &str) -> Option<Capture> {
        Some(match name {
            "function.definition" => Capture::FunctionDefinition,
            "call.expression" => Capture::CallExpression,
            "call.callee" => Capture::CallCallee,
            "call.if_statement" => Capture::CallIfStatement,
            "access.expression" => Capture::AccessExpression,
            "type.struct" => Capture::TypeStruct,
            "type.union" => Capture::TypeUnion,
            "type.enum" => Capture::TypeEnum,
            "type.typedef" => Capture::TypeTypedef,
            "init.pair" => Capture::InitPair,
            "init.field" => Capture::InitField,
            "init.value" => Capture::InitValue,
            "value.reference" => Capture::ValueReference,
            "declaration.variable" => Capture::DeclarationVariable,
            "declaration.parameter" => Capture::DeclarationParameter,
            "declaration.sizeof" => Capture::DeclarationSizeof,
            "error.node" => Capture::ErrorNode,
            _ => return None,
        })
    }
}

pub struct Queries {
    pub query: Query,
    /// Capture index -> meaning.
    pub captures: Vec<Capture>,
}

#[derive(Debug)]
pub enum QueryError {
    Syntax { file: &'static str, message: String },
    UnknownCapture { name: String },
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryError::Syntax { file, message } => write!(f, "queries/{file}: {message}"),
            QueryError::UnknownCapture { name } => write!(f, "unknown capture @{name}"),
        }
    }
}

pub fn language() -> Language {
    tree_sitter_c::LANGUAGE.into()
}

/// Compiles every query file; each is first compiled alone so an error names its file.
pub fn build() -> Result<Queries, QueryError> {
    build_from(QUERY_FILES)
}

/// Compiles `files` (name, text) into one query with every capture mapped to a [`Capture`].
fn build_from(files: &[(&'static str, &str)]) -> Result<Queries, QueryError> {
    let lang = language();
    let mut all = String::new();
    for (file, text) in files {
        Query::new(&lang, text).map_err(|e| QueryError::Syntax { file, message: e.to_string() })?;
        all.push_str(text);
        all.push('\n');
    }
    let query = Query::new(&lang, &all).map_err(|e| QueryError::Syntax { file: "(all)", message: e.to_string() })?;
    let captures = query
        .capture_names()
        .iter()
        .map(|n| Capture::from_name(n).ok_or_else(|| QueryError::UnknownCapture { name: n.to_string() }))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Queries { query, captures })
}

/// The compiled queries, built once per process. The query files are compiled into the
/// binary and a unit test builds them, so a failure here is a bug in this crate.
pub fn get() -> &'static Queries {
    static Q: OnceLock<Queries> = OnceLock::new();
    Q.get_or_init(|| match build() {
        Ok(q) => q,
        Err(e) => panic!("bundled tree-sitter queries are invalid: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};

    use tree_sitter::{Parser, QueryCursor, StreamingIterator};

    use super::*;

    /// Every variant, written out: a capture no query uses is dead code in the extractor.
    const ALL: [Capture; 17] = [
        Capture::FunctionDefinition,
        Capture::CallExpression,
        Capture::CallCallee,
        Capture::CallIfStatement,
        Capture::AccessExpression,
        Capture::TypeStruct,
        Capture::TypeUnion,
        Capture::TypeEnum,
        Capture::TypeTypedef,
        Capture::InitPair,
        Capture::InitField,
        Capture::InitValue,
        Capture::ValueReference,
        Capture::DeclarationVariable,
        Capture::DeclarationParameter,
        Capture::DeclarationSizeof,
        Capture::ErrorNode,
    ];

    /// The namespace of each query file's capture names (one fact family per file).
    const NAMESPACES: &[(&str, &str)] = &[
        ("functions.scm", "function."),
        ("calls.scm", "call."),
        ("fields.scm", "access."),
        ("types.scm", "type."),
        ("initializers.scm", "init."),
        ("values.scm", "value."),
        ("declarations.scm", "declaration."),
        ("errors.scm", "error."),
    ];

    #[test]
    fn every_query_compiles_and_every_capture_is_known() {
        let lang = language();
        assert_eq!(QUERY_FILES.len(), NAMESPACES.len());
        for ((file, text), (ns_file, ns)) in QUERY_FILES.iter().zip(NAMESPACES) {
            assert_eq!(file, ns_file);
            let q = Query::new(&lang, text).unwrap_or_else(|e| panic!("queries/{file}: {e}"));
            for name in q.capture_names() {
                assert!(Capture::from_name(name).is_some(), "queries/{file}: unknown capture @{name}");
                assert!(name.starts_with(ns), "queries/{file}: @{name} is outside its namespace {ns}*");
            }
        }
        let q = build().expect("queries build");
        let used: HashSet<Capture> = q.captures.iter().copied().collect();
        assert_eq!(q.captures.len(), used.len(), "two capture names map to one variant");
        assert_eq!(used, ALL.into_iter().collect::<HashSet<_>>(), "every variant is captured by some query");
    }

    #[test]
    fn unknown_capture_is_rejected() {
        assert!(Capture::from_name("call.nonsense").is_none());
        let ok = ("ok.scm", "(identifier) @value.reference");
        match build_from(&[ok, ("typo.scm", "(identifier) @call.nonsense")]) {
            Err(QueryError::UnknownCapture { name }) => assert_eq!(name, "call.nonsense"),
            other => panic!("an unknown capture must fail the build: {:?}", other.err()),
        }
        match build_from(&[ok, ("bad.scm", "(no_such_node) @value.reference")]) {
            Err(QueryError::Syntax { file, .. }) => assert_eq!(file, "bad.scm", "the error names its file"),
            other => panic!("an unknown node kind must fail the build: {:?}", other.err()),
        }
        assert!(build_from(&[ok]).is_ok());
    }

    /// How many times each capture matches in `src` (all queries at once, as the extractor
    /// runs them).
    fn counts(src: &str) -> BTreeMap<String, usize> {
        let q = get();
        let mut parser = Parser::new();
        parser.set_language(&language()).unwrap();
        let tree = parser.parse(src, None).unwrap();
        let mut cursor = QueryCursor::new();
        let mut it = cursor.matches(&q.query, tree.root_node(), src.as_bytes());
        let mut out = BTreeMap::new();
        while let Some(m) = it.next() {
            for c in m.captures() {
                *out.entry(format!("{:?}", q.captures[c.index as usize])).or_default() += 1;
            }
        }
        out
    }

    /// Small fixtures per fact family, each with the number of matches of its captures
    /// counted by hand (captures of other families in the same text are not checked).
    #[test]
    fn each_capture_matches_its_fixture_the_expected_number_of_times() {
        let cases: &[(&str, &[(&str, usize)])] = &[
            ("int f(void) { return 0; }\nint g(void) { return 1; }\nint h(void);\n", &[("FunctionDefinition", 2)]),
            (
                "void f(void) { a(); b(c()); ops->run(); }\n",
                &[("CallExpression", 4), ("CallCallee", 4)],
            ),
            ("void f(int x) { if (x) a(); if (x) b(); else c(); while (x) x--; }\n", &[("CallIfStatement", 2)]),
            ("int f(struct s *p, struct s q) { return p->a + q.b + p->c.d; }\n", &[("AccessExpression", 4)]),
            (
                "struct a { int x; };\nstruct a *p;\nunion u { int i; };\nenum e { E1 };\ntypedef int t;\ntypedef struct b { int y; } b_t;\n",
                &[("TypeStruct", 2), ("TypeUnion", 1), ("TypeEnum", 1), ("TypeTypedef", 2)],
            ),
            (
                "struct ops o = { .start = f, .stop = &g, .n = 1 };\nstruct ops p = { start: h };\n",
                &[("InitPair", 3), ("InitField", 3), ("InitValue", 3)],
            ),
            ("int f(int a) { int b = a; g(a, &a); b = a; return a; }\n", &[("ValueReference", 5)]),
            (
                "int x;\nint f(int a, int b) { int y = sizeof(x); return y; }\n",
                &[("DeclarationVariable", 2), ("DeclarationParameter", 2), ("DeclarationSizeof", 1)],
            ),
            ("int f(void) { return 0; }\n", &[("ErrorNode", 0)]),
            ("int f(void) { return 0; }\n)\n", &[("ErrorNode", 1)]),
        ];
        for (src, want) in cases {
            let got = counts(src);
            for (capture, n) in *want {
                assert_eq!(got.get(*capture).copied().unwrap_or(0), *n, "{capture} in {src:?}: {got:?}");
            }
        }
    }
}
