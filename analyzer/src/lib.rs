//! The dynwalk analyzer: kernel C sources -> per-file facts -> graphs.
//!
//! No IO happens here: callers hand in bytes (see `docs/architecture.md`).

pub mod expand;
pub mod extract;
pub mod facts;
pub mod items;
pub mod lex;
pub mod pp;
pub mod queries;
pub mod rewrite;

pub use extract::extract;
pub use facts::FileFacts;
pub use pp::Config;
pub mod changes;
pub mod db;
pub mod patch;
pub mod plan;
pub mod query;
pub mod resolve;
pub mod scope;
pub mod symbols;
