//! Answers to the first questions users ask of a tree: who calls a function, what it
//! calls, who touches a struct (field). Results are plain data in a deterministic order.

use serde::Serialize;

use crate::db::{file_facts, file_resolved, symbol_table, AnalysisDb, Db};
use crate::facts::{CallKind, FileFacts, Pos};
use crate::resolve::{targets, CallRes, Target};
use crate::symbols::SymbolTable;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CallSite {
    pub file: String,
    pub line: u32,
    pub col: u32,
    #[serde(skip)]
    pub offset: u32,
    /// The function containing the call (None at file scope).
    pub caller: Option<String>,
    pub callee: String,
    /// `direct`, `macro` or `indirect`.
    pub how: &'static str,
    /// Macros expanded on the way, or the ops member of an indirect call.
    pub via: Vec<String>,
    /// Whether the callee is defined in the indexed tree.
    pub defined: bool,
    pub conditional: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FunctionCallees {
    pub function: String,
    pub file: String,
    pub line: u32,
    pub col: u32,
    pub attrs: Vec<&'static str>,
    pub calls: Vec<CallSite>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AccessSite {
    pub file: String,
    pub line: u32,
    pub col: u32,
    #[serde(skip)]
    pub offset: u32,
    pub function: Option<String>,
    pub aggregate: String,
    pub field: String,
    /// `read`, `write` or `address-of`.
    pub kind: &'static str,
    /// `->` or `.`
    pub operator: &'static str,
    pub conditional: bool,
}

impl AccessSite {
    /// The site of access `a` of file `path` (with facts `f`) to `aggregate`.
    pub fn of(path: &str, f: &FileFacts, a: &crate::facts::Access, aggregate: &str) -> AccessSite {
        AccessSite {
            file: path.to_string(),
            line: a.pos.line,
            col: a.pos.col,
            offset: a.pos.offset,
            function: a.caller.map(|c| f.name(f.functions[c as usize].name).to_string()),
            aggregate: aggregate.to_string(),
            field: f.name(a.field).to_string(),
            kind: a.kind.as_str(),
            operator: if a.arrow { "->" } else { "." },
            conditional: a.conditional,
        }
    }
}

struct Ctx<'a> {
    path: &'a str,
    f: &'a FileFacts,
    t: &'a SymbolTable,
}

impl Ctx<'_> {
    fn site(&self, caller: Option<u32>, pos: Pos, t: &Target, conditional: bool) -> CallSite {
        CallSite {
            file: self.path.to_string(),
            line: pos.line,
            col: pos.col,
            offset: pos.offset,
            caller: caller.map(|c| self.f.name(self.f.functions[c as usize].name).to_string()),
            callee: self.t.name(t.name).to_string(),
            how: t.how.as_str(),
            via: t.via.iter().map(|v| self.t.name(*v).to_string()).collect(),
            defined: self.t.is_function(t.name),
            conditional,
        }
    }

    /// Call sites of a file with their targets; `only` keeps the calls of one function.
    fn sites(&self, r: &crate::resolve::Resolved, only: Option<u32>, want: Option<&str>) -> Vec<CallSite> {
        let mut out = Vec::new();
        let keep = |caller: Option<u32>| only.is_none() || caller == only;
        for (c, res) in self.f.calls.iter().zip(&r.calls) {
            if !keep(c.caller) {
                continue;
            }
            let ts = targets(self.t, res);
            for t in &ts {
                if want.is_none_or(|w| self.t.name(t.name) == w) {
                    out.push(self.site(c.caller, c.pos, t, c.conditional));
                }
            }
            // A direct call of a name the tree never declares (external, builtin).
            if *res == CallRes::Unresolved && matches!(c.kind, CallKind::Direct) {
                let name = self.f.name(c.callee);
                if want.is_none_or(|w| name == w) && !name.is_empty() {
                    let mut s = self.site(
                        c.caller,
                        c.pos,
                        &Target { name: 0, how: crate::resolve::How::Direct, via: std::sync::Arc::new([]) },
                        c.conditional,
                    );
                    s.callee = name.to_string();
                    s.defined = false;
                    out.push(s);
                }
            }
        }
        for &(u, m) in &r.hidden {
            let (caller, pos, conditional) = u.place(self.f);
            if !keep(caller) {
                continue;
            }
            for t in targets(self.t, &CallRes::Macro { name: m, also_function: false }) {
                if want.is_none_or(|w| self.t.name(t.name) == w) {
                    out.push(self.site(caller, pos, &t, conditional));
                }
            }
        }
        out.sort_by(|a, b| (a.offset, &a.callee, a.how, &a.via).cmp(&(b.offset, &b.callee, b.how, &b.via)));
        out.dedup();
        out
    }
}

/// All call sites (direct, through macros, through ops members) that reach `name`.
pub fn callers(db: &AnalysisDb, name: &str) -> Vec<CallSite> {
    let t = symbol_table(db, db.workspace()).clone();
    db.par_files(|db, file| {
        let f = file_facts(db, file);
        if !f.names.iter().any(|n| n == name) && t.id(name).is_none() {
            return Vec::new();
        }
        let r = file_resolved(db, file);
        Ctx { path: file.path(db), f, t: &t }.sites(r, None, Some(name))
    })
    .into_iter()
    .flatten()
    .collect()
}

/// For each definition of `name`, the calls it makes, resolved.
pub fn callees(db: &AnalysisDb, name: &str) -> Vec<FunctionCallees> {
    let t = symbol_table(db, db.workspace());
    let mut out = Vec::new();
    for file in db.files() {
        let f = file_facts(db, *file);
        for (i, func) in f.functions.iter().enumerate() {
            if f.name(func.name) != name {
                continue;
            }
            let r = file_resolved(db, *file);
            let path = file.path(db);
            let calls = Ctx { path, f, t }.sites(r, Some(i as u32), None);
            out.push(FunctionCallees {
                function: name.to_string(),
                file: path.clone(),
                line: func.name_pos.line,
                col: func.name_pos.col,
                attrs: func.attrs.names(),
                calls,
            });
        }
    }
    out
}

/// The aggregate key a user means by `task_struct`, `struct task_struct` or a typedef.
pub fn aggregate_key(db: &AnalysisDb, name: &str) -> Option<String> {
    let t = symbol_table(db, db.workspace());
    for cand in [name.to_string(), format!("struct {name}"), format!("union {name}")] {
        if t.id(&cand).is_some_and(|id| t.aggregates.contains_key(&id)) {
            return Some(cand);
        }
    }
    t.aggregate_of(name).map(|k| t.name(k).to_string())
}

/// Every access to `aggregate` (a key such as `struct task_struct`), or to one field.
pub fn accesses(db: &AnalysisDb, aggregate: &str, field: Option<&str>) -> Vec<AccessSite> {
    let t = symbol_table(db, db.workspace()).clone();
    let Some(key) = t.id(aggregate) else { return vec![] };
    db.par_files(|db, file| {
        let f = file_facts(db, file);
        let r = file_resolved(db, file);
        let path = file.path(db);
        let mut out = Vec::new();
        for (a, ty) in f.accesses.iter().zip(&r.access_types) {
            if *ty != Some(key) {
                continue;
            }
            let fname = f.name(a.field);
            if field.is_some_and(|x| x != fname) {
                continue;
            }
            out.push(AccessSite::of(path, f, a, aggregate));
        }
        out
    })
    .into_iter()
    .flatten()
    .collect()
}
