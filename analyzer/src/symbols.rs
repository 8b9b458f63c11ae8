//! The global symbol table: what every file declares, without positions or bodies, so an
//! edit inside a function body leaves it unchanged (salsa then re-derives nothing that
//! depends only on it). Names are interned once for the whole tree. Type resolution and
//! macro expansion live here.

use std::sync::{Arc, Mutex};

use rustc_hash::{FxHashMap, FxHashSet};

use crate::facts::{FileFacts, FnAttrs, TypeKind};

/// What one file declares (a projection of [`FileFacts`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileItems {
    pub path: String,
    /// (name, attrs, return type)
    pub functions: Vec<(String, FnAttrs, String)>,
    /// Macros that can hide calls or stand for values (pure numeric constants are kept
    /// only by name, in `constants`).
    pub macros: Vec<MacroItem>,
    /// Hashes of the names of macros that only stand for values, and of enumerators
    /// (millions in some drivers' register headers: no strings are kept for them).
    pub constants: Vec<u64>,
    /// (key such as `struct task_struct`, [(field, type)])
    pub aggregates: Vec<(String, Vec<(String, String)>)>,
    /// typedef name -> aliased type text
    pub typedefs: Vec<(String, String)>,
    /// (name, type) of file-scope variables
    pub globals: Vec<(String, String)>,
    /// (table type, member, function)
    pub ops: Vec<(String, String, String)>,
    /// `#include` targets as written (`linux/sched.h`), in branches not ruled out.
    pub includes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MacroItem {
    pub name: String,
    pub function_like: bool,
    pub conditional: bool,
    pub condition: Option<String>,
    pub calls: Vec<String>,
    pub idents: Vec<String>,
    pub param_calls: Vec<u8>,
    /// (callee, argument index, Ok(name) | Err(parameter index))
    pub call_args: Vec<(String, u8, Result<String, u8>)>,
}

impl FileItems {
    pub fn of(path: &str, f: &FileFacts) -> FileItems {
        let n = |s| f.name(s).to_string();
        let mut items = FileItems { path: path.to_string(), ..Default::default() };
        items.functions = f.functions.iter().map(|x| (n(x.name), x.attrs, n(x.ret))).collect();
        for m in &f.macros {
            let r = m.refs();
            // `#define pte_offset_kernel pte_offset_kernel` only marks that a function
            // exists (for `#ifndef` overrides): it is not a macro to expand.
            if m.params.is_none() && r.calls.is_empty() && r.idents == [m.name] {
                continue;
            }
            if m.params.is_none() && m.refs.is_none() {
                items.constants.push(name_hash(f.name(m.name)));
                continue;
            }
            items.macros.push(MacroItem {
                name: n(m.name),
                function_like: m.params.is_some(),
                conditional: m.conditional,
                condition: m.condition.map(n),
                calls: r.calls.iter().map(|&c| n(c)).collect(),
                idents: r.idents.iter().map(|&c| n(c)).collect(),
                param_calls: r.param_calls.clone(),
                call_args: r
                    .call_args
                    .iter()
                    .map(|(c, k, a)| {
                        let a = match a {
                            crate::facts::MacroArg::Name(x) => Ok(n(*x)),
                            crate::facts::MacroArg::Param(p) => Err(*p),
                        };
                        (n(*c), *k, a)
                    })
                    .collect(),
            });
        }
        for t in &f.types {
            match t.kind {
                TypeKind::Struct | TypeKind::Union => {
                    let key = format!("{} {}", t.kind.keyword(), f.name(t.name));
                    let fields = t.fields.iter().map(|x| (n(x.name), n(x.ty))).collect();
                    items.aggregates.push((key, fields));
                }
                TypeKind::Typedef => {
                    if let Some(a) = t.aliased {
                        items.typedefs.push((n(t.name), n(a)));
                    }
                }
                TypeKind::Enum => items.constants.extend(t.enumerators.iter().map(|&e| name_hash(f.name(e)))),
            }
        }
        items.globals = f.globals.iter().filter(|g| g.in_function.is_none()).map(|g| (n(g.name), n(g.ty))).collect();
        items.includes = f.includes.iter().map(|i| n(i.path)).collect();
        items.ops = f.ops_inits.iter().map(|o| (o.ty.map(n).unwrap_or_default(), n(o.field), n(o.func))).collect();
        items
    }
}

/// A global name id (see [`SymbolTable::name`]).
pub type Name = u32;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interner {
    names: Vec<String>,
    ids: FxHashMap<String, Name>,
}

impl Interner {
    pub fn intern(&mut self, s: &str) -> Name {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        let i = self.names.len() as Name;
        self.names.push(s.to_string());
        self.ids.insert(s.to_string(), i);
        i
    }
    pub fn get(&self, s: &str) -> Option<Name> {
        self.ids.get(s).copied()
    }
    pub fn name(&self, i: Name) -> &str {
        &self.names[i as usize]
    }
}

/// Where a function is defined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FnDef {
    pub file: u32,
    pub attrs: FnAttrs,
    pub ret: Name,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MacroDefn {
    pub file: u32,
    pub function_like: bool,
    pub conditional: bool,
    pub condition: Option<Name>,
    pub calls: Vec<Name>,
    pub idents: Vec<Name>,
    pub param_calls: Vec<u8>,
    pub call_args: Vec<(Name, u8, Result<Name, u8>)>,
}

/// A function reached through a macro: its name and the macros on the way.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Expansion {
    pub target: Name,
    pub via: Arc<[Name]>,
}

/// Most macro levels expanded when looking for hidden calls.
pub const MACRO_DEPTH: usize = 8;

#[derive(Debug, Default)]
pub struct SymbolTable {
    pub names: Interner,
    pub paths: Vec<String>,
    /// Per file: false for a header no file includes (in a branch the config keeps).
    pub live: Vec<bool>,
    pub functions: FxHashMap<Name, Vec<FnDef>>,
    pub macros: FxHashMap<Name, Vec<MacroDefn>>,
    /// Hashes of constant names (see [`FileItems::constants`]).
    pub constants: FxHashSet<u64>,
    pub aggregates: FxHashMap<Name, Vec<Vec<(Name, Name)>>>,
    pub typedefs: FxHashMap<Name, Name>,
    pub globals: FxHashMap<Name, Name>,
    /// member -> [(table type, function)]
    pub ops: FxHashMap<Name, Vec<(Name, Name)>>,
    expansions: Mutex<FxHashMap<Name, Arc<[Expansion]>>>,
}

impl PartialEq for SymbolTable {
    fn eq(&self, o: &Self) -> bool {
        self.names == o.names
            && self.paths == o.paths
            && self.live == o.live
            && self.functions == o.functions
            && self.macros == o.macros
            && self.constants == o.constants
            && self.aggregates == o.aggregates
            && self.typedefs == o.typedefs
            && self.globals == o.globals
            && self.ops == o.ops
    }
}
impl Eq for SymbolTable {}

impl SymbolTable {
    pub fn build(files: &[Arc<FileItems>]) -> SymbolTable {
        Self::build_with(files, &[])
    }

    /// As [`SymbolTable::build`], with include paths named by files that are not loaded.
    pub fn build_with(files: &[Arc<FileItems>], known_includes: &[String]) -> SymbolTable {
        let mut t = SymbolTable::default();
        t.live = live_files(files, known_includes);
        for (i, f) in files.iter().enumerate() {
            let file = i as u32;
            t.paths.push(f.path.clone());
            for (name, attrs, ret) in &f.functions {
                let (n, ret) = (t.names.intern(name), t.names.intern(ret));
                t.functions.entry(n).or_default().push(FnDef { file, attrs: *attrs, ret });
            }
            // Macros of a header nothing includes do not exist for this tree.
            for m in f.macros.iter().filter(|_| t.live[i]) {
                let n = t.names.intern(&m.name);
                let call_args = m
                    .call_args
                    .iter()
                    .map(|(c, k, a)| (t.names.intern(c), *k, a.as_ref().map(|x| t.names.intern(x)).map_err(|p| *p)))
                    .collect();
                let d = MacroDefn {
                    file,
                    function_like: m.function_like,
                    conditional: m.conditional,
                    condition: m.condition.as_ref().map(|c| t.names.intern(c)),
                    calls: m.calls.iter().map(|c| t.names.intern(c)).collect(),
                    idents: m.idents.iter().map(|c| t.names.intern(c)).collect(),
                    param_calls: m.param_calls.clone(),
                    call_args,
                };
                let defs = t.macros.entry(n).or_default();
                if !defs
                    .iter()
                    .any(|x| x.function_like == d.function_like && x.calls == d.calls && x.idents == d.idents)
                {
                    defs.push(d);
                }
            }
            t.constants.extend(f.constants.iter().copied());
            for (k, fields) in &f.aggregates {
                let k = t.names.intern(k);
                let fields = fields.iter().map(|(a, b)| (t.names.intern(a), t.names.intern(b))).collect();
                t.aggregates.entry(k).or_default().push(fields);
            }
            for (k, v) in &f.typedefs {
                let (k, v) = (t.names.intern(k), t.names.intern(v));
                t.typedefs.entry(k).or_insert(v);
            }
            for (k, v) in &f.globals {
                let (k, v) = (t.names.intern(k), t.names.intern(v));
                t.globals.entry(k).or_insert(v);
            }
            for (ty, member, func) in &f.ops {
                let (ty, m, func) = (t.names.intern(ty), t.names.intern(member), t.names.intern(func));
                t.ops.entry(m).or_default().push((ty, func));
            }
        }
        for v in t.ops.values_mut() {
            v.sort_unstable();
            v.dedup();
        }
        t
    }

    pub fn name(&self, n: Name) -> &str {
        self.names.name(n)
    }

    pub fn id(&self, s: &str) -> Option<Name> {
        self.names.get(s)
    }

    pub fn is_function(&self, n: Name) -> bool {
        self.functions.contains_key(&n)
    }

    pub fn is_constant(&self, n: Name) -> bool {
        self.constants.contains(&name_hash(self.name(n)))
    }

    pub fn is_macro(&self, n: Name) -> bool {
        self.macros.contains_key(&n)
    }

    /// Calls of `n` go to a function rather than through a macro of the same name: the
    /// function is exported from a `.c` file while the macro is conditional, or the
    /// function is defined closer (x86's `get_current()` over asm-generic's macro).
    pub fn resolves_to_function(&self, n: Name) -> bool {
        if self.prefers_function(n) {
            return true;
        }
        let f = self.functions.get(&n).and_then(|d| d.iter().map(|d| self.arch_rank(d.file)).min());
        let m = self.macros.get(&n).and_then(|d| d.iter().map(|d| self.arch_rank(d.file)).min());
        matches!((f, m), (Some(f), Some(m)) if f < m)
    }

    /// A macro whose definitions are all under unknown conditions, and a function of the
    /// same name exists: a use may reach either.
    pub fn is_also_function(&self, n: Name) -> bool {
        self.is_function(n) && self.macros.get(&n).is_none_or(|m| m.iter().all(|d| d.conditional))
    }

    /// A name defined both as an exported (non-static) function in a `.c` file and as a
    /// macro: the macro is an optional inline or uniprocessor variant
    /// (`#define _raw_spin_lock(l) __raw_spin_lock(l)` under `CONFIG_INLINE_SPIN_LOCK`,
    /// or in `spinlock_api_up.h`), so calls go to the function.
    pub fn prefers_function(&self, n: Name) -> bool {
        let all_conditional = self.macros.get(&n).is_none_or(|m| m.iter().all(|d| d.conditional));
        all_conditional
            && self.functions.get(&n).is_some_and(|defs| {
                defs.iter().any(|d| !d.attrs.has(FnAttrs::STATIC) && self.paths[d.file as usize].ends_with(".c"))
            })
    }

    /// The functions a use of macro `m` calls, found by expanding macro bodies by name,
    /// transitively up to [`MACRO_DEPTH`] levels (memoized). Called names that are not
    /// macros are kept even when not defined in the tree (they may be external).
    pub fn expand(&self, m: Name) -> Arc<[Expansion]> {
        if let Some(e) = self.expansions.lock().ok().and_then(|c| c.get(&m).cloned()) {
            return e;
        }
        let mut out = FxHashSet::default();
        let mut seen = FxHashSet::default();
        self.expand_into(m, &[], &mut vec![m], &mut seen, &mut out);
        let mut v: Vec<Expansion> = out.into_iter().collect();
        v.sort_unstable();
        let v: Arc<[Expansion]> = v.into();
        if let Ok(mut c) = self.expansions.lock() {
            c.insert(m, v.clone());
        }
        v
    }

    /// The definitions of `m` to expand: generic/x86 ones before other architectures',
    /// unconditional ones before those under an unknown `#if`.
    fn chosen_defs(&self, m: Name) -> Vec<&MacroDefn> {
        let Some(defs) = self.macros.get(&m) else { return vec![] };
        // Drop definitions whose condition the rest of the tree decides against
        // (`#ifdef __WARN_FLAGS` where x86 defines __WARN_FLAGS, and its `#else`).
        let live: Vec<&MacroDefn> = defs
            .iter()
            .filter(|d| d.condition.is_none_or(|c| self.eval_condition(self.name(c)) != Some(false)))
            .collect();
        let defs = if live.is_empty() { defs.iter().collect() } else { live };
        let best = defs.iter().map(|d| (self.arch_rank(d.file), d.conditional)).min();
        defs.into_iter().filter(|d| Some((self.arch_rank(d.file), d.conditional)) == best).collect()
    }

    /// Whether a macro is defined for the tree as a whole: `Some(true)` when a generic
    /// or x86 header defines it outside any unknown `#if`, `Some(false)` when nothing in
    /// the tree defines it, `None` otherwise.
    fn is_defined_globally(&self, name: &str) -> Option<bool> {
        if name.starts_with("CONFIG_") {
            return None;
        }
        if self.constants.contains(&name_hash(name)) {
            return Some(true);
        }
        let Some(id) = self.id(name) else { return Some(false) };
        match self.macros.get(&id) {
            None => Some(false),
            Some(defs) if defs.iter().any(|d| d.condition.is_none() && self.arch_rank(d.file) <= 3) => Some(true),
            Some(_) => None,
        }
    }

    /// Evaluates a definition's condition with what the whole tree defines.
    fn eval_condition(&self, cond: &str) -> Option<bool> {
        let mut defined = std::collections::BTreeMap::new();
        let mut undefined = std::collections::BTreeSet::new();
        for w in cond.split(|c: char| !(c.is_alphanumeric() || c == '_')).filter(|w| !w.is_empty()) {
            if w == "defined" || w.as_bytes()[0].is_ascii_digit() {
                continue;
            }
            match self.is_defined_globally(w) {
                Some(true) => {
                    defined.insert(w.to_string(), None);
                }
                Some(false) => {
                    undefined.insert(w.to_string());
                }
                None => {}
            }
        }
        crate::pp::eval_if(cond.as_bytes(), None, &defined, &undefined)
    }

    /// Expands `m` whose parameters are bound to `args` (a name passed at the use site).
    fn expand_into(
        &self,
        m: Name,
        args: &[Option<Name>],
        chain: &mut Vec<Name>,
        seen: &mut FxHashSet<(Name, Vec<Option<Name>>)>,
        out: &mut FxHashSet<Expansion>,
    ) {
        if chain.len() > MACRO_DEPTH || !seen.insert((m, args.to_vec())) {
            return;
        }
        for d in self.chosen_defs(m) {
            let objlike =
                d.idents.iter().filter(|i| self.macros.get(i).is_some_and(|x| x.iter().any(|y| !y.function_like)));
            // A called parameter calls whatever the use passed.
            let passed = d.param_calls.iter().filter_map(|&k| args.get(k as usize).copied().flatten());
            let candidates: Vec<Name> = d.calls.iter().chain(objlike).copied().chain(passed).collect();
            for c in candidates {
                if self.is_macro(c) && !self.resolves_to_function(c) {
                    let bound: Vec<Option<Name>> = {
                        let mut b = Vec::new();
                        for (callee, k, a) in &d.call_args {
                            if *callee != c {
                                continue;
                            }
                            let v = match a {
                                Ok(n) => Some(*n),
                                Err(p) => args.get(*p as usize).copied().flatten(),
                            };
                            if b.len() <= *k as usize {
                                b.resize(*k as usize + 1, None);
                            }
                            b[*k as usize] = v;
                        }
                        b
                    };
                    chain.push(c);
                    self.expand_into(c, &bound, chain, seen, out);
                    chain.pop();
                    if self.is_also_function(c) {
                        out.insert(Expansion { target: c, via: chain.as_slice().into() });
                    }
                } else if !self.name(c).starts_with("__builtin") && !self.is_constant(c) {
                    out.insert(Expansion { target: c, via: chain.as_slice().into() });
                }
            }
        }
    }

    /// Resolves a type text (`const struct foo *`, `foo_t`) to an aggregate key
    /// (`struct foo`), following typedefs; pointers are looked through.
    pub fn aggregate_of(&self, ty: &str) -> Option<Name> {
        let mut t = strip_type(ty);
        for _ in 0..8 {
            if t.starts_with("struct ") || t.starts_with("union ") {
                return self.id(&t);
            }
            // `_truct_foo` is a rewritten `struct foo` macro argument.
            if let Some(rest) = t.strip_prefix("_truct_") {
                return self.id(&format!("struct {rest}"));
            }
            match self.id(&t).and_then(|n| self.typedefs.get(&n)) {
                Some(&a) => t = strip_type(self.name(a)),
                None => return None,
            }
        }
        None
    }

    /// Type of `field` in aggregate `key` (first definition that has it).
    pub fn field_type(&self, key: Name, field: &str) -> Option<&str> {
        let f = self.id(field)?;
        self.aggregates
            .get(&key)?
            .iter()
            .find_map(|fields| fields.iter().find(|(n, _)| *n == f).map(|&(_, t)| self.name(t)))
    }

    /// Return type of a function, or of the function an object-like macro stands for.
    pub fn return_type(&self, name: &str) -> Option<&str> {
        let n = self.id(name)?;
        if let Some(d) = self.functions.get(&n) {
            return d.first().map(|d| self.name(d.ret));
        }
        let m = self.macros.get(&n)?.first()?;
        if m.calls.len() == 1 && m.idents.is_empty() {
            return self.functions.get(&m.calls[0])?.first().map(|d| self.name(d.ret));
        }
        None
    }

    /// 3 for generic code and x86, 4 for another architecture's folder.
    pub fn arch_rank(&self, file: u32) -> u8 {
        let p = &self.paths[file as usize];
        match p.strip_prefix("arch/") {
            Some(r) if r.starts_with("x86/") => 2,
            Some(_) => 4,
            None if p.starts_with("include/asm-generic/") => 3,
            None => 2,
        }
    }

    /// How close a definition in `def_file` is to a use in `use_file`: lower is closer.
    /// Same file, then same folder, then generic `include/`, then x86, then the rest
    /// (other architectures' variants only when nothing closer exists).
    pub fn closeness(&self, use_file: u32, def_file: u32) -> u8 {
        if use_file == def_file {
            return 0;
        }
        let (u, d) = (&self.paths[use_file as usize], &self.paths[def_file as usize]);
        let dir = |p: &str| p.rsplit_once('/').map(|x| x.0.to_string()).unwrap_or_default();
        let arch = |p: &str| p.strip_prefix("arch/").and_then(|r| r.split('/').next()).map(|a| a.to_string());
        if dir(u) == dir(d) {
            return 1;
        }
        match arch(d) {
            None if d.starts_with("include/") => 2,
            None => 3,
            Some(a) if a == "x86" || arch(u).as_deref() == Some(a.as_str()) => 3,
            Some(_) => 4,
        }
    }
}

/// Which files are part of some translation unit: every `.c` file, and every header
/// that an `#include` names (matched by path suffix, as include paths are searched; an
/// `asm-generic/x.h` is live when `asm/x.h` is included, through the generated wrappers
/// kbuild writes outside the source tree).
fn live_files(files: &[Arc<FileItems>], known: &[String]) -> Vec<bool> {
    let mut included: FxHashSet<&str> = known.iter().map(|i| i.trim_start_matches("./")).collect();
    for f in files {
        for i in &f.includes {
            included.insert(i.trim_start_matches("./"));
        }
    }
    files
        .iter()
        .map(|f| {
            let p = f.path.as_str();
            if !p.ends_with(".h") {
                return true;
            }
            // Every suffix of the path after a '/' is a way to include it.
            let mut rest = p;
            loop {
                if included.contains(rest) {
                    return true;
                }
                if let Some(x) = rest.strip_prefix("include/asm-generic/") {
                    if included.contains(format!("asm/{x}").as_str()) {
                        return true;
                    }
                }
                match rest.find('/') {
                    Some(k) => rest = &rest[k + 1..],
                    None => return false,
                }
            }
        })
        .collect()
}

/// FNV-1a of a name, for the constant set.
pub fn name_hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for &b in s.as_bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// Drops qualifiers and pointer/array marks: `const struct foo * const *` -> `struct foo`.
pub fn strip_type(ty: &str) -> String {
    ty.split(|c: char| c.is_whitespace() || c == '*' || c == '[' || c == ']')
        .filter(|w| !w.is_empty() && !w.as_bytes()[0].is_ascii_digit())
        .filter(|w| !matches!(*w, "const" | "volatile" | "restrict" | "__restrict" | "register" | "static" | "extern"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(src: &str) -> SymbolTable {
        let f = crate::extract(src.as_bytes(), None);
        SymbolTable::build(&[Arc::new(FileItems::of("a.c", &f))])
    }

    #[test]
    fn macros_expand_transitively_to_functions() {
        let t = table(
            "#define wake_up(x) __wake_up(x, 1, 1, NULL)\n#define wake_up_all(x) wake_up(x)\n\
             void __wake_up(void *q, int a, int b, void *k) {}\n",
        );
        let e = t.expand(t.id("wake_up_all").unwrap());
        let names: Vec<(String, Vec<String>)> = e
            .iter()
            .map(|x| (t.name(x.target).to_string(), x.via.iter().map(|v| t.name(*v).to_string()).collect()))
            .collect();
        assert_eq!(names, vec![("__wake_up".to_string(), vec!["wake_up_all".to_string(), "wake_up".to_string()])]);
    }

    #[test]
    fn typedefs_resolve_to_aggregates() {
        let t = table("typedef struct task_struct task_t;\ntypedef task_t *task_p;\nstruct task_struct { int pid; struct mm_struct *mm; };\n");
        let k = t.aggregate_of("const task_p").unwrap();
        assert_eq!(t.name(k), "struct task_struct");
        assert_eq!(t.field_type(k, "mm"), Some("struct mm_struct *"));
        assert_eq!(strip_type("const struct foo * const *"), "struct foo");
    }
}
