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
    let lang = language();
    let mut all = String::new();
    for (file, text) in QUERY_FILES {
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
    use super::*;

    #[test]
    fn every_query_compiles_and_every_capture_is_known() {
        let q = build().expect("queries build");
        assert!(q.captures.len() >= 15);
    }

    #[test]
    fn unknown_capture_is_rejected() {
        assert!(Capture::from_name("call.nonsense").is_none());
    }
}
