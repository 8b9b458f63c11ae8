//! Scoped planning: which part of a tree a plan needs, as names to look for.
//!
//! A plan reads the callers of what changed, their callers up to the threads that never
//! quiesce, and the users of changed macros and constants. Every definition and every
//! use of a name sits in a file whose text mentions the name, so a caller (which holds
//! no IO here) can load only the files that a lexical search for these names finds,
//! then ask for the next names, until nothing new comes. See docs/architecture.md,
//! "Scoped plans".

use std::collections::BTreeSet;

use petgraph::visit::EdgeRef;
use petgraph::Direction;

use crate::changes::{ChangeSet, FnChangeKind};
use crate::db::{call_graph, symbol_table, AnalysisDb, Db};
use crate::facts::FnAttrs;
use crate::resolve::How;

/// Why a change set cannot be planned on part of the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NeedsWholeTree {
    /// Every access to a type whose layout changed must be found, and an access
    /// (`a->b->field`) need not name the type: only a whole-tree load finds them all.
    TypeLayout(String),
}

impl std::fmt::Display for NeedsWholeTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NeedsWholeTree::TypeLayout(t) => write!(f, "the layout of {t} changed: its accesses need the whole tree"),
        }
    }
}

/// The names a plan of `ch` starts from: changed functions, macros, enum tags and arrays
/// whose length changes.
pub fn seed_words(ch: &ChangeSet) -> Result<BTreeSet<String>, NeedsWholeTree> {
    if let Some(t) = ch.types.iter().find(|t| t.layout_changed && !t.key.starts_with("enum")) {
        return Err(NeedsWholeTree::TypeLayout(t.key.clone()));
    }
    let mut w = BTreeSet::new();
    for f in &ch.functions {
        if matches!(f.kind, FnChangeKind::Body | FnChangeKind::Signature | FnChangeKind::Removed | FnChangeKind::Added)
        {
            w.insert(f.name.clone());
        }
    }
    w.extend(ch.macros.iter().map(|m| m.name.clone()));
    // Arrays whose length changes: the functions taking their size.
    w.extend(ch.globals.iter().filter(|g| g.change == "length" && g.function.is_none()).map(|g| g.name.clone()));
    for t in ch.types.iter().filter(|t| t.enumerators_changed) {
        w.insert(t.key.strip_prefix("enum ").unwrap_or(&t.key).to_string());
    }
    Ok(w)
}

/// How a name the plan needs next relates to the names already searched.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Origin {
    /// A function calling `of`; `inlined` when its code is copied into its own callers
    /// (an inline, or a static function of a header), which the plan then climbs to.
    Caller { of: String, inlined: bool },
    /// A macro whose body names `of`: its users call or use `of`.
    Macro { of: String },
}

/// The seeds from which clones climb through inlined callers and macros at any depth:
/// changed inline functions (and static functions of headers), changed macros, and
/// functions whose signature changed.
pub fn chain_seeds(ch: &ChangeSet) -> BTreeSet<String> {
    let mut w: BTreeSet<String> = ch
        .functions
        .iter()
        .filter(|f| {
            f.kind == FnChangeKind::Signature
                || (f.is_semantic() && (f.is_inline() || (f.attr_bits.has(FnAttrs::STATIC) && f.file.ends_with(".h"))))
        })
        .map(|f| f.name.clone())
        .collect();
    w.extend(ch.macros.iter().map(|m| m.name.clone()));
    w
}

/// The key of a function the plan reaches: its name, or `name@path` for a static
/// function of a `.c` file, whose callers are all in that file (calls through ops tables
/// are not followed), so no search of the tree is needed for it.
pub fn key_of(name: &str, path: &str, attrs: FnAttrs) -> String {
    if attrs.has(FnAttrs::STATIC) && path.ends_with(".c") {
        format!("{name}@{path}")
    } else {
        name.to_string()
    }
}

/// The names the plan needs next, given that every file mentioning the names in `keys`
/// is loaded: the functions calling a function in `keys` and the macros whose bodies
/// name one of them, each with its origin. Keys in `keys` are not returned. A plain key
/// in `seeds` stands for every function of that name; any other plain key for the
/// functions of that name that are not static functions of a `.c` file. Calls through
/// ops tables and callers in other architectures are not followed, as the plan's
/// quiescence search does not follow them.
pub fn next_words(db: &AnalysisDb, keys: &BTreeSet<String>, seeds: &BTreeSet<String>) -> Vec<(String, Origin)> {
    let g = call_graph(db, db.workspace());
    let table = symbol_table(db, db.workspace());
    let files = db.files();
    let node_info = |n: petgraph::graph::NodeIndex| {
        let node = g.graph[n];
        let file = files[node.file as usize];
        let facts = crate::db::file_facts(db, file);
        let f = &facts.functions[node.func as usize];
        (facts.name(f.name).to_string(), file.path(db).clone(), f.attrs, node.file)
    };
    let mut out = BTreeSet::new();
    for key in keys {
        let (name, only_file) = match key.split_once('@') {
            Some((n, p)) => (n, Some(p)),
            None => (key.as_str(), None),
        };
        for &n in g.by_name.get(name).map(|v| v.as_slice()).unwrap_or(&[]) {
            let (_, path, attrs, _) = node_info(n);
            let matches = match only_file {
                Some(p) => path == p,
                None => seeds.contains(key) || key_of(name, &path, attrs) == *key,
            };
            if !matches {
                continue;
            }
            for e in g.graph.edges_directed(n, Direction::Incoming) {
                let (cname, cpath, cattrs, cfile) = node_info(e.source());
                if *e.weight() == How::Member || table.arch_rank(cfile) > 3 {
                    continue;
                }
                let ckey = key_of(&cname, &cpath, cattrs);
                if !keys.contains(&ckey) {
                    let inlined = cattrs.has(FnAttrs::INLINE)
                        || cattrs.has(FnAttrs::ALWAYS_INLINE)
                        || (cattrs.has(FnAttrs::STATIC) && cpath.ends_with(".h"));
                    out.insert((ckey, Origin::Caller { of: key.clone(), inlined }));
                }
            }
        }
    }
    let ids: BTreeSet<u32> = keys.iter().filter(|k| !k.contains('@')).filter_map(|w| table.id(w)).collect();
    for (&m, defs) in table.macros.iter() {
        for d in defs {
            for c in d.calls.iter().chain(&d.idents).filter(|c| ids.contains(c)) {
                let name = table.name(m);
                if !keys.contains(name) {
                    out.insert((name.to_string(), Origin::Macro { of: table.name(*c).to_string() }));
                }
            }
        }
    }
    out.into_iter().collect()
}
