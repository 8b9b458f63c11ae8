//! Resolution of one file's facts against the symbol table: what each call reaches
//! (directly, through macros, through ops tables) and the aggregate type of every field
//! access. Results are compact ids; [`targets`] expands a call into its targets.

use std::sync::Arc;

use crate::facts::{Base, CallKind, FileFacts};
use crate::symbols::{strip_type, Name, SymbolTable};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum How {
    /// A direct call of a function.
    Direct,
    /// A call hidden in a macro (its `via` chain names the macros).
    Macro,
    /// An indirect call through an ops-table member that this function was assigned to.
    Member,
}

impl How {
    pub fn as_str(self) -> &'static str {
        match self {
            How::Direct => "direct",
            How::Macro => "macro",
            How::Member => "indirect",
        }
    }
}

/// What one call site reaches, in ids of the symbol table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallRes {
    /// A call through a pointer variable, or of an unnamed expression.
    Unresolved,
    /// A function (possibly outside the tree).
    Direct(Name),
    /// A macro; `also_function` when the name is a function too (arch overrides).
    Macro { name: Name, also_function: bool },
    /// An ops member; `ty` is the aggregate of the object called through, if known.
    Member { member: Name, ty: Option<Name> },
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolved {
    /// Parallel to `FileFacts::calls`.
    pub calls: Vec<CallRes>,
    /// Object-like macros used as values that hide calls (`current->mm` and
    /// `p = current` call `get_current`).
    pub hidden: Vec<(Use, Name)>,
    /// Parallel to `FileFacts::accesses`: the aggregate (`struct foo`) accessed.
    pub access_types: Vec<Option<Name>>,
}

/// Where an object-like macro is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Use {
    /// As the object of a field access (index into `FileFacts::accesses`).
    Access(u32),
    /// As a value (index into `FileFacts::addr_taken`).
    Value(u32),
}

impl Use {
    /// The enclosing function and the position of the use.
    pub fn place(self, f: &FileFacts) -> (Option<u32>, crate::facts::Pos, bool) {
        match self {
            Use::Access(i) => {
                let a = &f.accesses[i as usize];
                (a.caller, a.pos, a.conditional)
            }
            Use::Value(i) => {
                let a = &f.addr_taken[i as usize];
                (a.caller, a.pos, false)
            }
        }
    }
}

/// One function a call reaches.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Target {
    pub name: Name,
    pub how: How,
    /// Macros expanded on the way, or the ops member.
    pub via: Arc<[Name]>,
}

/// Expands a resolved call into the functions it reaches.
pub fn targets(t: &SymbolTable, r: &CallRes) -> Vec<Target> {
    match *r {
        CallRes::Unresolved => vec![],
        CallRes::Direct(n) => vec![Target { name: n, how: How::Direct, via: Arc::new([]) }],
        CallRes::Macro { name, also_function } => {
            let mut v: Vec<Target> =
                t.expand(name).iter().map(|e| Target { name: e.target, how: How::Macro, via: e.via.clone() }).collect();
            if also_function {
                v.insert(0, Target { name, how: How::Direct, via: Arc::new([]) });
            }
            v
        }
        CallRes::Member { member, ty } => {
            let Some(entries) = t.ops.get(&member) else { return vec![] };
            let via: Arc<[Name]> = Arc::new([member]);
            let mut out: Vec<Target> = entries
                .iter()
                .filter(|(tty, _)| match (ty, t.aggregate_of(t.name(*tty))) {
                    (Some(w), Some(k)) => w == k,
                    _ => true,
                })
                .filter(|(_, f)| t.is_function(*f))
                .map(|&(_, f)| Target { name: f, how: How::Member, via: via.clone() })
                .collect();
            out.sort();
            out.dedup();
            out
        }
    }
}

pub fn resolve(f: &FileFacts, t: &SymbolTable) -> Resolved {
    let mut r = Resolved { access_types: vec![None; f.accesses.len()], ..Default::default() };
    let mut done = vec![false; f.accesses.len()];
    for i in 0..f.accesses.len() {
        access_type(f, t, i, &mut r.access_types, &mut done, 0);
    }
    r.calls = f.calls.iter().map(|c| call_res(f, t, c, &r.access_types)).collect();
    let objlike =
        |name: &str| t.id(name).filter(|id| t.macros.get(id).is_some_and(|m| m.iter().all(|d| !d.function_like)));
    for (i, a) in f.accesses.iter().enumerate() {
        if let Base::Name(n) = a.base {
            if let Some(id) = objlike(f.name(n)) {
                r.hidden.push((Use::Access(i as u32), id));
            }
        }
    }
    for (i, a) in f.addr_taken.iter().enumerate() {
        if let Some(id) = objlike(f.name(a.name)) {
            r.hidden.push((Use::Value(i as u32), id));
        }
    }
    r
}

fn call_res(f: &FileFacts, t: &SymbolTable, c: &crate::facts::Call, types: &[Option<Name>]) -> CallRes {
    let name = f.name(c.callee);
    if name.is_empty() {
        return CallRes::Unresolved;
    }
    match c.kind {
        CallKind::Direct | CallKind::MacroBlock => match t.id(name) {
            Some(id) if t.is_macro(id) && !t.resolves_to_function(id) => {
                CallRes::Macro { name: id, also_function: t.is_also_function(id) }
            }
            Some(id) => CallRes::Direct(id),
            // A name the tree never declares (an external or builtin function): the
            // query layer reports it by its written name.
            None => CallRes::Unresolved,
        },
        CallKind::Member => match t.id(name) {
            Some(member) if t.ops.contains_key(&member) => {
                let ty = c.base.as_ref().and_then(|b| base_type(f, t, b, types)).and_then(|ty| t.aggregate_of(&ty));
                CallRes::Member { member, ty }
            }
            _ => CallRes::Unresolved,
        },
        CallKind::Pointer => CallRes::Unresolved,
    }
}

/// The type text of the object a base expression designates (not yet resolved).
fn base_type(f: &FileFacts, t: &SymbolTable, b: &Base, types: &[Option<Name>]) -> Option<String> {
    match b {
        Base::Type(s) => Some(f.name(*s).to_string()),
        Base::Member(i) => {
            let a = f.accesses.get(*i as usize)?;
            let key = (*types.get(*i as usize)?)?;
            t.field_type(key, f.name(a.field)).map(|s| s.to_string())
        }
        Base::Name(n) => {
            let name = f.name(*n);
            let g = t.id(name).and_then(|id| t.globals.get(&id)).map(|&ty| t.name(ty).to_string());
            g.or_else(|| t.return_type(name).map(|s| s.to_string()))
        }
        Base::Call(n) => t.return_type(f.name(*n)).map(|s| s.to_string()),
        Base::Unknown => None,
    }
}

fn access_type(
    f: &FileFacts,
    t: &SymbolTable,
    i: usize,
    out: &mut Vec<Option<Name>>,
    done: &mut Vec<bool>,
    depth: u32,
) {
    if done[i] || depth > 32 {
        return;
    }
    done[i] = true;
    if let Base::Member(j) = f.accesses[i].base {
        let j = j as usize;
        if j < out.len() && j != i {
            access_type(f, t, j, out, done, depth + 1);
        }
    }
    let ty = base_type(f, t, &f.accesses[i].base, out);
    out[i] = ty.filter(|ty| !strip_type(ty).is_empty()).and_then(|ty| t.aggregate_of(&ty));
}
