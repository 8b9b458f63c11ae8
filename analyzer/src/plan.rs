//! The update plan: from a change set and the tree's graphs to what a live update needs
//! — redirection points, clones with their reasons, changed types with every access,
//! quiescence conditions, update groups and hazards. See docs/plan-format.md.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;
use petgraph::Direction;
use serde::Serialize;

use crate::changes::{ChangeSet, FnChangeKind};
use crate::db::{call_graph, file_facts, symbol_table, AnalysisDb, Db};
use crate::expand::{self, definitions_in, DefinedFn, MacroText};
use crate::facts::FnAttrs;
use crate::lex::{Lexer, Tok};
use crate::pp::Config;
use crate::query::{self, AccessSite};
use crate::symbols::strip_type;

/// Version of the plan's JSON form (docs/plan-format.md, docs/plan.schema.json).
pub const PLAN_VERSION: u32 = 4;

/// How many calls up from a replaced function the quiescence search looks for threads
/// that never quiesce, by default (`--depth`).
pub const DEFAULT_SEARCH_DEPTH: u32 = 4;

/// The texts of files that mention a word: the analyzer asks, the caller does the IO
/// (a lexical prefilter over the tree in the CLI, a map in tests).
pub trait TextSource {
    fn files_mentioning(&self, word: &str) -> Vec<(String, Arc<[u8]>)>;
    /// One file's text.
    fn read(&self, path: &str) -> Option<Arc<[u8]>>;
    /// Headers that may define the macro `name` (they mention it). The default reads
    /// every file mentioning it; a source with an index can search headers only.
    fn headers_mentioning(&self, name: &str) -> Vec<(String, Arc<[u8]>)> {
        self.files_mentioning(name).into_iter().filter(|(p, _)| p.ends_with(".h")).collect()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Place {
    pub function: String,
    pub file: String,
    pub line: u32,
    pub col: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Redirect {
    pub place: Place,
    /// `ftrace` (a patchable fentry site) or `jmp` (no fentry: `notrace`; the entry is
    /// overwritten with a jump, the DynAMOS way).
    pub mechanism: &'static str,
    pub reason: String,
    /// The symbols the target's build emits for this function, when they are not its
    /// name: a syscall under an architecture's wrappers is entered through its stubs
    /// (`__x64_sys_newuname`, `__ia32_sys_newuname`), each redirected. Empty: the name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub symbols: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CloneNeed {
    pub place: Place,
    /// Why, from the change to this function: each step names a function or macro.
    pub reasons: Vec<String>,
    /// As [`Redirect::symbols`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub symbols: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ShadowField {
    pub field: String,
    pub field_type: String,
    /// How objects get the field: attached at allocation, detached at free, and
    /// `get_or_alloc` for objects that exist before the update.
    pub strategy: Vec<&'static str>,
    /// Accesses of the new field in the new code: they must be rewritten to shadow calls.
    pub rewrite: Vec<AccessSite>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TypePlan {
    pub key: String,
    pub layout_changed: bool,
    pub accesses: Vec<AccessSite>,
    /// `sizeof` uses naming the type: allocation and copy sizes.
    pub sizeof_sites: Vec<Place>,
    /// Types that embed this one by value (their layout changes too).
    pub embedded_in: Vec<String>,
    /// Accesses of the embedding types' fields that lie after the embedded member (and of
    /// the member itself): their offsets move with this type's size.
    pub embedder_accesses: Vec<AccessSite>,
    /// The functions that the accessing functions (and `sizeof` sites) are inlined into:
    /// inline functions and static functions gcc inlines put their accesses into their
    /// callers' code, climbing to the first function compiled out of line.
    pub inlined_into: Vec<Place>,
    pub shadow: Vec<ShadowField>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NeverQuiescent {
    pub place: Place,
    /// Why it never returns: a kernel thread body, or a blocking infinite loop.
    pub why: String,
    /// `loop-extraction` when the looping function itself changes, else
    /// `adaptive-cloning` (running invocations stay in the old version, new calls enter
    /// the new one).
    pub needs: &'static str,
    /// The call path from this function to a changed one.
    pub path: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Group {
    pub members: Vec<String>,
    pub reason: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Quiescence {
    /// Functions that must be off every stack (and not under any PC) before the switch.
    pub off_stack: Vec<String>,
    pub never_quiescent: Vec<NeverQuiescent>,
    pub groups: Vec<Group>,
    /// How many calls up from the replaced functions the search for never-quiescent
    /// code went.
    pub search_depth: u32,
    /// Whether the search reached `search_depth`: callers beyond it were not examined.
    pub search_cut: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warning,
    Note,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Hazard {
    pub code: &'static str,
    pub level: Level,
    pub file: String,
    pub line: u32,
    pub col: u32,
    pub message: String,
    pub help: &'static str,
    /// The position is in the patched text (the entity exists only after the patch), not
    /// in the tree: renderers read that text for the code frame.
    #[serde(skip)]
    pub in_patched: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub schema_version: u32,
    pub changes: ChangeSet,
    pub redirections: Vec<Redirect>,
    pub clones: Vec<CloneNeed>,
    pub types: Vec<TypePlan>,
    pub quiescence: Quiescence,
    pub hazards: Vec<Hazard>,
}

/// Calls that block: a loop around one of them sleeps forever between iterations.
const BLOCKING: &[&str] = &[
    "schedule",
    "schedule_timeout",
    "schedule_timeout_interruptible",
    "schedule_timeout_uninterruptible",
    "schedule_timeout_idle",
    "io_schedule",
    "wait_event",
    "wait_event_interruptible",
    "wait_event_timeout",
    "wait_event_interruptible_timeout",
    "wait_event_freezable",
    "wait_event_killable",
    "interruptible_sleep_on",
    "interruptible_sleep_on_timeout",
    "sleep_on",
    "msleep",
    "msleep_interruptible",
    "ssleep",
    "wait_for_completion",
    "wait_for_completion_interruptible",
    "kthread_parkme",
    "freezable_schedule",
    "try_to_freeze",
];
pub const THREAD_STARTERS: &[&str] = &[
    "kernel_thread",
    "kthread_run",
    "kthread_create",
    "kthread_create_on_node",
    "kthread_run_on_cpu",
    "kthread_create_on_cpu",
];

struct Ctx<'a> {
    db: &'a AnalysisDb,
    src: &'a dyn TextSource,
    plan: Plan,
    clone_set: BTreeMap<(String, String), usize>,
    depth: u32,
    /// The loaded files by path (built once: plans look files up by path in loops).
    by_path: std::collections::HashMap<String, crate::db::SourceFile>,
    /// Token counts of function bodies read so far.
    token_counts: std::cell::RefCell<BTreeMap<NodeIndex, usize>>,
    /// File texts read for them.
    texts: std::cell::RefCell<BTreeMap<String, Arc<[u8]>>>,
    /// Macro definitions read so far, by (name, after the patch).
    macro_texts: BTreeMap<(String, bool), Vec<MacroText>>,
    /// The patched files' texts after the patch.
    new_texts: BTreeMap<String, Arc<[u8]>>,
}

/// A function that a macro invocation at file scope defines.
struct MacroDefined {
    function: DefinedFn,
    /// The invocation as written: `module_phy_driver(marvell_drivers)`.
    invocation: String,
    place: Place,
}

/// A static function whose body has at most this many tokens is taken as inlined by gcc
/// into each caller (`-finline-small-functions` at -O2 inlines bodies of about 15 of its
/// internal instructions, `max-inline-insns-auto`; 80 tokens is a short function of a few
/// statements, such as `mana_get_rxbuf_cfg`, which `dynwalk verify` found inlined into its
/// two callers).
const SMALL_BODY_TOKENS: usize = 80;

/// Macros an expansion leaves as written: the plan reads `ARRAY_SIZE(x)` as a size use.
const KEEP_UNEXPANDED: &[&str] = &["ARRAY_SIZE"];

/// The most macros one file-scope invocation expands.
const EXPANSION_BUDGET: usize = 32;

impl Ctx<'_> {
    /// The loaded file at `path`, if the plan loaded it.
    fn file_named(&self, path: &str) -> Option<crate::db::SourceFile> {
        self.by_path.get(path).copied()
    }

    /// A file's text in the tree, or after the patch (`after`) when the patch changes it.
    fn text_of(&self, path: &str, after: bool) -> Option<Arc<[u8]>> {
        match self.new_texts.get(path) {
            Some(t) if after => Some(t.clone()),
            _ => self.src.read(path),
        }
    }

    /// The definitions of macro `name` in the tree, or after the patch (`after`): in
    /// `own` (the invoking file's text) first, then in the loaded files that define it,
    /// then in the headers that mention it.
    fn macro_definitions(&mut self, name: &str, own: &[u8], after: bool) -> Vec<MacroText> {
        let local = definitions_in(own, name);
        if !local.is_empty() {
            return local;
        }
        let key = (name.to_string(), after);
        if let Some(d) = self.macro_texts.get(&key) {
            return d.clone();
        }
        let table = symbol_table(self.db, self.db.workspace());
        let mut paths: Vec<String> = table
            .id(name)
            .and_then(|id| table.macros.get(&id))
            .map(|defs| defs.iter().map(|d| table.paths[d.file as usize].clone()).collect())
            .unwrap_or_default();
        paths.sort();
        paths.dedup();
        let mut found: Vec<MacroText> =
            paths.iter().filter_map(|p| self.text_of(p, after)).flat_map(|t| definitions_in(&t, name)).collect();
        if found.is_empty() {
            let mut hs = self.src.headers_mentioning(name);
            hs.sort_by(|a, b| a.0.cmp(&b.0));
            for (p, t) in hs {
                let t = if after { self.text_of(&p, true).unwrap_or(t) } else { t };
                found.extend(definitions_in(&t, name));
            }
        }
        self.macro_texts.insert(key, found.clone());
        found
    }

    /// The functions defined by the file-scope macro invocations of `path` (in the tree)
    /// that `pick` accepts, given the macro's name and its arguments' text. With
    /// `only_changed`, only those whose expansion after the patch differs (another body,
    /// or gone), the invocation itself being the tree's.
    fn macro_defined(
        &mut self,
        path: &str,
        text: &Arc<[u8]>,
        pick: &dyn Fn(&str, &[String]) -> bool,
        only_changed: bool,
    ) -> Vec<MacroDefined> {
        let Some(file) = self.file_named(path) else { return vec![] };
        let facts = file_facts(self.db, file);
        let mut out = Vec::new();
        for c in facts.calls.iter().filter(|c| c.caller.is_none() && c.kind == crate::facts::CallKind::Direct) {
            let Some((name, args)) = expand::invocation_at(text, c.pos.offset as usize) else { continue };
            if name != facts.name(c.callee) || !pick(&name, &args) {
                continue;
            }
            let mut defined = |after: bool| {
                let own = self.text_of(path, after).unwrap_or_else(|| text.clone());
                let mut lookup = |n: &str| self.macro_definitions(n, &own, after);
                expand::defined_functions(&expand::expand(&name, &args, &mut lookup, KEEP_UNEXPANDED, EXPANSION_BUDGET))
            };
            let before = defined(false);
            let after = if only_changed { defined(true) } else { Vec::new() };
            let invocation = format!("{name}({})", args.join(", "));
            for function in before {
                if only_changed && after.iter().any(|a| a.name == function.name && a.body == function.body) {
                    continue;
                }
                let place =
                    Place { function: function.name.clone(), file: path.to_string(), line: c.pos.line, col: c.pos.col };
                out.push(MacroDefined { function, invocation: invocation.clone(), place });
            }
        }
        out
    }

    fn place_of(&self, n: NodeIndex) -> Place {
        let g = call_graph(self.db, self.db.workspace());
        let node = g.graph[n];
        let file = self.db.files()[node.file as usize];
        let facts = file_facts(self.db, file);
        let f = &facts.functions[node.func as usize];
        Place {
            function: facts.name(f.name).to_string(),
            file: file.path(self.db).clone(),
            line: f.name_pos.line,
            col: f.name_pos.col,
        }
    }

    /// A function without parameters (`f(void)`, `SYSCALL_DEFINE0`).
    fn zero_args(&self, n: NodeIndex) -> bool {
        let g = call_graph(self.db, self.db.workspace());
        let node = g.graph[n];
        let facts = file_facts(self.db, self.db.files()[node.file as usize]);
        facts.takes_no_args(&facts.functions[node.func as usize])
    }

    fn attrs_of(&self, n: NodeIndex) -> FnAttrs {
        let g = call_graph(self.db, self.db.workspace());
        let node = g.graph[n];
        let facts = file_facts(self.db, self.db.files()[node.file as usize]);
        facts.functions[node.func as usize].attrs
    }

    /// Out-of-line code cannot be patched inside an inline or a static function of a
    /// header: those are copied into every caller.
    fn is_inlined(&self, n: NodeIndex) -> bool {
        let a = self.attrs_of(n);
        a.has(FnAttrs::INLINE)
            || a.has(FnAttrs::ALWAYS_INLINE)
            || (a.has(FnAttrs::STATIC) && self.place_of(n).file.ends_with(".h"))
    }

    /// gcc inlines a static function of a `.c` file into its callers when it is called
    /// from one place, whatever its size (`-finline-functions-called-once`, on at -O2), or
    /// when its body is small (`-finline-small-functions`): its code ends up in its
    /// callers, which must be cloned (both found by `dynwalk verify`, docs/verify.md).
    /// Says why, or `None` when the function is expected out of line.
    fn inlined_static(&self, n: NodeIndex) -> Option<&'static str> {
        let a = self.attrs_of(n);
        let g = call_graph(self.db, self.db.workspace());
        let file = self.place_of(n).file;
        let calls: Vec<_> = g.graph.edges_directed(n, Direction::Incoming).collect();
        let local = |e: &petgraph::graph::EdgeReference<'_, crate::resolve::How>| {
            *e.weight() != crate::resolve::How::Member && self.place_of(e.source()).file == file
        };
        if a.has(FnAttrs::NOINLINE) || !file.ends_with(".c") || !calls.iter().any(local) {
            return None;
        }
        let static_local = a.has(FnAttrs::STATIC) && calls.iter().all(local);
        if static_local && calls.len() == 1 {
            Some("static and called once (gcc inlines it)")
        } else if self.body_tokens(n) > SMALL_BODY_TOKENS {
            None
        } else if static_local {
            Some("static and small (gcc inlines it)")
        } else {
            // gcc inlines a small function into the callers it sees, those of its own file,
            // whatever its linkage (`mana_gd_wq_ring_doorbell`, found by `dynwalk verify`).
            Some("small (gcc inlines it into its callers in its own file)")
        }
    }

    /// A function of a `.c` file (not `noinline`): gcc may inline it into the callers of
    /// its own file whatever its size and linkage (`-finline-functions` at -O2 weighs size
    /// against the call), so their code may hold its code.
    fn may_inline(&self, n: NodeIndex) -> bool {
        let a = self.attrs_of(n);
        !a.has(FnAttrs::NOINLINE) && self.place_of(n).file.ends_with(".c")
    }

    /// The number of tokens in a function's body (memoized).
    fn body_tokens(&self, n: NodeIndex) -> usize {
        if let Some(&k) = self.token_counts.borrow().get(&n) {
            return k;
        }
        let g = call_graph(self.db, self.db.workspace());
        let node = g.graph[n];
        let file = self.db.files()[node.file as usize];
        let facts = file_facts(self.db, file);
        let f = &facts.functions[node.func as usize];
        let path = file.path(self.db);
        let known = self.texts.borrow().get(path).cloned();
        let text = known.or_else(|| {
            let t = self.src.read(path)?;
            self.texts.borrow_mut().insert(path.clone(), t.clone());
            Some(t)
        });
        let k = text.map_or(usize::MAX, |t| {
            let body = &t[(f.body.0 as usize).min(t.len())..(f.body.1 as usize).min(t.len())];
            Lexer::new(body).count()
        });
        self.token_counts.borrow_mut().insert(n, k);
        k
    }

    fn nodes_named(&self, name: &str, file: Option<&str>) -> Vec<NodeIndex> {
        let g = call_graph(self.db, self.db.workspace());
        let all = g.by_name.get(name).cloned().unwrap_or_default();
        let local: Vec<NodeIndex> =
            all.iter().copied().filter(|&n| file.is_some_and(|f| self.place_of(n).file == f)).collect();
        if local.is_empty() {
            all
        } else {
            local
        }
    }

    fn add_clone(&mut self, place: Place, reasons: Vec<String>) {
        let key = (place.function.clone(), place.file.clone());
        if let Some(&i) = self.clone_set.get(&key) {
            let r = &mut self.plan.clones[i].reasons;
            if !r.contains(&reasons.join(" <- ")) && r.len() < 8 {
                r.push(reasons.join(" <- "));
            }
            return;
        }
        self.clone_set.insert(key, self.plan.clones.len());
        self.plan.clones.push(CloneNeed { place, reasons: vec![reasons.join(" <- ")], symbols: Vec::new() });
    }

    /// A function whose code changes with something it uses (`why`): cloned, or, when it
    /// is inlined into its callers (an inline, a static function of a header), its
    /// out-of-line callers are; a static function of a `.c` file that gcc inlines is
    /// cloned with its callers.
    fn clone_user(&mut self, place: Place, why: String) {
        let nodes = self.nodes_named(&place.function, Some(&place.file));
        if nodes.iter().any(|&n| self.is_inlined(n)) {
            self.clone_callers(&nodes, why);
        } else {
            let f = place.function.clone();
            self.add_clone(place, vec![why.clone()]);
            // A static function gcc inlines: its callers hold the code too.
            if let Some(how) = nodes.iter().find_map(|&n| self.inlined_static(n)) {
                self.clone_inliners(&nodes, format!("{why}; {f} is {how}"));
            }
        }
    }

    /// The callers that the functions `(name, file)` are inlined into, climbing through
    /// inlined callers (inline functions, static functions gcc inlines), sorted.
    fn inlined_into(&self, functions: &BTreeSet<(String, String)>) -> Vec<Place> {
        let g = call_graph(self.db, self.db.workspace()).clone();
        let mut queue: VecDeque<NodeIndex> =
            functions.iter().flat_map(|(f, file)| self.nodes_named(f, Some(file))).collect();
        let mut seen: BTreeSet<NodeIndex> = queue.iter().copied().collect();
        let mut out = Vec::new();
        while let Some(n) = queue.pop_front() {
            let everywhere = self.is_inlined(n);
            if !everywhere && !self.may_inline(n) {
                continue;
            }
            let file = self.place_of(n).file;
            for e in g.graph.edges_directed(n, Direction::Incoming) {
                if *e.weight() == crate::resolve::How::Member
                    || (!everywhere && self.place_of(e.source()).file != file)
                    || !seen.insert(e.source())
                {
                    continue;
                }
                let p = self.place_of(e.source());
                if !functions.contains(&(p.function.clone(), p.file.clone())) {
                    out.push(p);
                }
                queue.push_back(e.source());
            }
        }
        out.sort_by(|a, b| (&a.file, a.line, &a.function).cmp(&(&b.file, b.line, &b.function)));
        out
    }

    /// Callers of `start` that must be cloned, climbing through inlined callers up to
    /// the first out-of-line function. `why` describes the change at the start.
    fn clone_callers(&mut self, start: &[NodeIndex], why: String) {
        self.clone_callers_where(start, why, false)
    }

    /// Callers of `start` whose code holds its code by inlining: those of its own file
    /// for a function of a `.c` file (other files cannot inline it), every caller for an
    /// inline function or a static function of a header.
    fn clone_inliners(&mut self, start: &[NodeIndex], why: String) {
        self.clone_callers_where(start, why, true)
    }

    fn clone_callers_where(&mut self, start: &[NodeIndex], why: String, by_inlining: bool) {
        let g = call_graph(self.db, self.db.workspace()).clone();
        // (function, why, reached by inlining): callers reached because they inline a
        // function of a `.c` file can only be in that file.
        let mut queue: VecDeque<(NodeIndex, Vec<String>, bool)> =
            start.iter().map(|&n| (n, vec![why.clone()], by_inlining)).collect();
        let mut seen: BTreeSet<NodeIndex> = start.iter().copied().collect();
        while let Some((n, chain, inlining)) = queue.pop_front() {
            let here = self.place_of(n);
            let callee = here.function.clone();
            let same_file_only = inlining && here.file.ends_with(".c");
            for caller in g.graph.neighbors_directed(n, Direction::Incoming) {
                if same_file_only && self.place_of(caller).file != here.file {
                    continue;
                }
                if !seen.insert(caller) {
                    continue;
                }
                let mut c = chain.clone();
                c.push(format!("calls {callee}"));
                let p = self.place_of(caller);
                if self.is_inlined(caller) {
                    queue.push_back((caller, c, true));
                } else {
                    if let Some(why) = self.inlined_static(caller) {
                        let mut up = c.clone();
                        up.push(format!("{} is {why}", p.function));
                        queue.push_back((caller, up, true));
                    }
                    self.add_clone(p, c);
                }
            }
        }
    }
}

/// A C file or header as the patch leaves it.
pub struct NewFile {
    pub path: String,
    pub facts: Arc<crate::FileFacts>,
    pub text: Arc<[u8]>,
}

/// Derives the plan. `db` holds the tree before the patch; `new_files` are the patched
/// files after it (for accesses of new fields, and for what changed macros expand to);
/// `depth` bounds the quiescence search (see [`DEFAULT_SEARCH_DEPTH`]).
pub fn derive_plan(
    db: &AnalysisDb,
    changes: ChangeSet,
    new_files: &[NewFile],
    src: &dyn TextSource,
    depth: u32,
) -> Plan {
    let mut cx = Ctx {
        db,
        src,
        plan: Plan { schema_version: PLAN_VERSION, changes, ..Default::default() },
        clone_set: BTreeMap::new(),
        depth,
        macro_texts: BTreeMap::new(),
        token_counts: Default::default(),
        by_path: db.files().iter().map(|&f| (f.path(db).clone(), f)).collect(),
        texts: Default::default(),
        new_texts: new_files.iter().map(|f| (f.path.clone(), f.text.clone())).collect(),
    };
    redirections_and_inline_clones(&mut cx);
    macro_and_constant_users(&mut cx);
    array_length_users(&mut cx);
    type_plans(&mut cx, new_files);
    quiescence(&mut cx);
    hazards(&mut cx);
    entry_symbols(&mut cx);
    let mut plan = cx.plan;
    plan.redirections.sort_by(|a, b| {
        (&a.place.file, a.place.line, &a.place.function).cmp(&(&b.place.file, b.place.line, &b.place.function))
    });
    plan.clones.sort_by(|a, b| {
        (&a.place.file, a.place.line, &a.place.function).cmp(&(&b.place.file, b.place.line, &b.place.function))
    });
    plan.hazards.sort_by(|a, b| (&a.file, a.line, a.code).cmp(&(&b.file, b.line, b.code)));
    plan
}

/// The symbols a build emits for a function defined through `SYSCALL_DEFINEn` or
/// `COMPAT_SYSCALL_DEFINEn` when the configuration selects the architecture's syscall
/// wrappers (`CONFIG_ARCH_HAS_SYSCALL_WRAPPER`, Linux 4.17 on): `sys_<n>` does not exist;
/// the entry points are the stubs of each ABI the kernel serves, around an inlined
/// `__do_sys_<n>` (arch/x86/include/asm/syscall_wrapper.h, arch/arm64/…/syscall_wrapper.h).
/// `None` when the build keeps the name (no wrappers: 2.4, 2.6, early 4.x) or when the
/// architecture is not one this knows (the caller says so).
///
/// A `SYSCALL_DEFINE0` stub on x86 is an alias (`__alias(__do_sys_<n>)`) of one body that
/// every ABI shares: one symbol is redirected, the first.
pub fn syscall_entry_symbols(function: &str, zero_args: bool, config: &Config) -> Option<Vec<String>> {
    let on = |k: &str| config.get(k).is_some_and(|v| v == "y");
    if !on("CONFIG_ARCH_HAS_SYSCALL_WRAPPER") {
        return None;
    }
    let (compat, stem) = match function.strip_prefix("compat_sys_") {
        Some(n) => (true, n),
        None => (false, function.strip_prefix("sys_")?),
    };
    let mut abis: Vec<&str> = Vec::new();
    if on("CONFIG_X86") {
        if compat {
            abis.extend(on("CONFIG_IA32_EMULATION").then_some("ia32"));
            abis.extend(on("CONFIG_X86_X32_ABI").then_some("x64"));
        } else {
            abis.extend(on("CONFIG_X86_64").then_some("x64"));
            abis.extend((on("CONFIG_X86_32") || on("CONFIG_IA32_EMULATION")).then_some("ia32"));
        }
    } else if on("CONFIG_ARM64") {
        abis.push("arm64");
    } else {
        return None;
    }
    let kind = if compat { "compat_sys_" } else { "sys_" };
    let mut out: Vec<String> = abis.iter().map(|a| format!("__{a}_{kind}{stem}")).collect();
    if zero_args && on("CONFIG_X86") {
        out.truncate(1);
    }
    Some(out)
}

/// Every redirected or cloned syscall is named by the symbols the target's build emits.
fn entry_symbols(cx: &mut Ctx<'_>) {
    let Some(config) = cx.db.settings().config(cx.db).clone() else { return };
    let symbols = |cx: &Ctx<'_>, p: &Place| -> Vec<String> {
        let nodes = cx.nodes_named(&p.function, Some(&p.file));
        let Some(&n) = nodes.iter().find(|&&n| cx.place_of(n).file == p.file) else { return Vec::new() };
        if !cx.attrs_of(n).has(FnAttrs::SYSCALL) {
            return Vec::new();
        }
        syscall_entry_symbols(&p.function, cx.zero_args(n), &config).unwrap_or_default()
    };
    for i in 0..cx.plan.redirections.len() {
        let s = symbols(cx, &cx.plan.redirections[i].place);
        cx.plan.redirections[i].symbols = s;
    }
    for i in 0..cx.plan.clones.len() {
        let s = symbols(cx, &cx.plan.clones[i].place);
        cx.plan.clones[i].symbols = s;
    }
}

fn redirections_and_inline_clones(cx: &mut Ctx<'_>) {
    let changes = cx.plan.changes.functions.clone();
    for c in changes.iter().filter(|c| matches!(c.kind, FnChangeKind::Body | FnChangeKind::Signature)) {
        let inlined = c.is_inline() || (c.attr_bits.has(FnAttrs::STATIC) && c.file.ends_with(".h"));
        let nodes = cx.nodes_named(&c.name, Some(&c.file));
        // The function being redirected is the one in the tree (the running kernel): its
        // place is the old version's, not the patched text's.
        let place = nodes.iter().map(|&n| cx.place_of(n)).find(|p| p.file == c.file).unwrap_or_else(|| Place {
            function: c.name.clone(),
            file: c.file.clone(),
            line: c.line,
            col: c.col,
        });
        if inlined {
            cx.clone_callers(&nodes, format!("{} changed (inline: copied into its callers)", c.name));
        } else {
            let mechanism = if c.attr_bits.has(FnAttrs::NOTRACE) { "jmp" } else { "ftrace" };
            let reason = match c.kind {
                FnChangeKind::Signature => "its signature changed",
                _ => "its body changed",
            };
            cx.plan.redirections.push(Redirect { place, mechanism, reason: reason.to_string(), symbols: Vec::new() });
            if !c.attr_bits.has(FnAttrs::STATIC) && nodes.iter().any(|&n| cx.attrs_of(n).has(FnAttrs::STATIC)) {
                // gcc may have inlined the static version into its callers; they now call
                // the out-of-line one (found by `dynwalk verify`: lockdown_param).
                cx.clone_inliners(&nodes, format!("{} is no longer static (its callers' inlining changes)", c.name));
            } else if let Some(why) = nodes.iter().find_map(|&n| cx.inlined_static(n)) {
                cx.clone_inliners(&nodes, format!("{} changed; it is {why}", c.name));
            }
        }
        if c.kind == FnChangeKind::Signature {
            cx.clone_callers(&nodes, format!("{} changed its signature (calling convention)", c.name));
        }
    }
}

/// Functions whose body mentions `word` as a token, in files the text source finds.
fn functions_mentioning(cx: &Ctx<'_>, word: &str) -> Vec<Place> {
    let mut out = Vec::new();
    for (path, text) in cx.src.files_mentioning(word) {
        let Some(file) = cx.file_named(&path) else { continue };
        let facts = file_facts(cx.db, file);
        for f in &facts.functions {
            let body = &text[(f.body.0 as usize).min(text.len())..(f.body.1 as usize).min(text.len())];
            if Lexer::new(body).any(|t| t.kind == Tok::Ident && &body[t.start..t.end] == word.as_bytes()) {
                out.push(Place {
                    function: facts.name(f.name).to_string(),
                    file: path.clone(),
                    line: f.name_pos.line,
                    col: f.name_pos.col,
                });
            }
        }
    }
    out
}

fn macro_and_constant_users(cx: &mut Ctx<'_>) {
    let macros = cx.plan.changes.macros.clone();
    for m in macros.iter().filter(|m| m.change == "changed") {
        let kind = if m.function_like { "macro" } else { "constant macro" };
        // Uses through other macros count: expand users transitively by name.
        let mut names = vec![m.name.clone()];
        let t = symbol_table(cx.db, cx.db.workspace()).clone();
        for (&id, defs) in t.macros.iter() {
            if defs.iter().any(|d| d.calls.iter().chain(&d.idents).any(|c| t.name(*c) == m.name)) {
                names.push(t.name(id).to_string());
            }
        }
        names.sort();
        names.dedup();
        for name in names {
            // Functions that an invocation at file scope defines (`module_phy_driver(x);`).
            for (path, text) in cx.src.files_mentioning(&name) {
                for d in cx.macro_defined(&path, &text, &|n, _| n == name, true) {
                    let via = if name == m.name { String::new() } else { format!(" (through {name})") };
                    let why = format!(
                        "{kind} {} changed; {} is defined by {} at line {}{via} and its expansion changes",
                        m.name, d.function.name, d.invocation, d.place.line
                    );
                    cx.add_clone(d.place, vec![why]);
                }
            }
            for p in functions_mentioning(cx, &name) {
                let via = if name == m.name { String::new() } else { format!(" through {name}") };
                let why = format!("{kind} {} changed; {} uses it{via}", m.name, p.function);
                cx.clone_user(p, why);
            }
        }
    }
    let types = cx.plan.changes.types.clone();
    for t in types.iter().filter(|t| t.enumerators_changed) {
        // Users of the enum's constants see new values.
        let key = t.key.strip_prefix("enum ").unwrap_or(&t.key).to_string();
        for p in functions_mentioning(cx, &key) {
            let why = format!("{} changed its enumerators; {} uses the type", t.key, p.function);
            cx.add_clone(p, vec![why]);
        }
    }
}

/// Users of the length of an array whose initializer gained or lost elements: functions
/// taking `sizeof(a)` or `ARRAY_SIZE(a)` (the length is a constant in their code), and
/// functions that a file-scope macro invocation naming the array defines and that take
/// its size (`module_phy_driver(drivers)` passes `ARRAY_SIZE(drivers)` on).
fn array_length_users(cx: &mut Ctx<'_>) {
    let globals = cx.plan.changes.globals.clone();
    for g in globals.iter().filter(|g| g.change == "length" && g.function.is_none()) {
        let counts = g.length.map(|[a, b]| format!(" ({a} -> {b} elements)")).unwrap_or_default();
        let is_static = cx.file_named(&g.file).is_some_and(|f| {
            let facts = file_facts(cx.db, f);
            facts.globals.iter().any(|x| x.is_static && x.in_function.is_none() && facts.name(x.name) == g.name)
        });
        let mut paths: Vec<String> = if is_static {
            vec![g.file.clone()]
        } else {
            cx.src.files_mentioning(&g.name).into_iter().map(|(p, _)| p).collect()
        };
        paths.sort();
        paths.dedup();
        for path in paths {
            let Some(file) = cx.file_named(&path) else { continue };
            let Some(text) = cx.src.read(&path) else { continue };
            let facts = file_facts(cx.db, file);
            for f in &facts.functions {
                let body = &text[(f.body.0 as usize).min(text.len())..(f.body.1 as usize).min(text.len())];
                if !expand::takes_size_of(&expand::tokens(body), &g.name) {
                    continue;
                }
                let name = facts.name(f.name).to_string();
                let why = format!("{}{counts} changes length; {name} takes its size", g.name);
                let place = Place { function: name, file: path.clone(), line: f.name_pos.line, col: f.name_pos.col };
                cx.clone_user(place, why);
            }
            let word = g.name.clone();
            let names_it = move |_: &str, args: &[String]| {
                args.iter().any(|a| expand::tokens(a.as_bytes()).iter().any(|t| t.text == word))
            };
            for d in cx.macro_defined(&path, &text, &names_it, false) {
                if expand::takes_size_of(&d.function.body, &g.name) {
                    let why = format!(
                        "{}{counts} changes length; {} is defined by {} at line {} and takes its size",
                        g.name, d.function.name, d.invocation, d.place.line
                    );
                    cx.add_clone(d.place, vec![why]);
                }
            }
        }
    }
}

/// The fields of aggregate `key` in the tree, in order (the first definition).
fn fields_of(table: &crate::symbols::SymbolTable, key: &str) -> Option<Vec<(String, String)>> {
    let defs = table.aggregates.get(&table.id(key)?)?;
    let first = defs.first()?;
    Some(first.iter().map(|(n, t)| (table.name(*n).to_string(), table.name(*t).to_string())).collect())
}

/// The fields whose offset or type the change moves: from the first field removed,
/// moved or retyped to another size on (added fields are shadow data: they do not count),
/// plus the retyped ones. `None` when the old order is not known: every field.
fn shifted_fields(
    old: Option<&[(String, String)]>,
    changes: &[crate::changes::FieldChange],
) -> Option<BTreeSet<String>> {
    let old = old?;
    let shifting = |f: &crate::changes::FieldChange| match f.change {
        "removed" | "moved" => true,
        "retyped" | "renamed" => f.old_type != f.new_type && !same_size(f.old_type.as_deref(), f.new_type.as_deref()),
        _ => false,
    };
    // The name a field has in the tree.
    let old_name = |c: &crate::changes::FieldChange| c.old_field.clone().unwrap_or_else(|| c.field.clone());
    if changes.iter().any(|c| shifting(c) && !old.iter().any(|(n, _)| *n == old_name(c))) {
        return None;
    }
    let first = old.iter().position(|(n, _)| changes.iter().any(|c| shifting(c) && old_name(c) == *n));
    let mut out: BTreeSet<String> =
        first.map(|k| old[k..].iter().map(|(n, _)| n.clone()).collect()).unwrap_or_default();
    let retyped =
        |c: &&crate::changes::FieldChange| c.change == "retyped" || (c.change == "renamed" && c.old_type != c.new_type);
    out.extend(changes.iter().filter(retyped).map(old_name));
    Some(out)
}

/// A type written as a typedef name, followed to what it names when that is not an
/// aggregate (`gdma_obj_handle_t` -> `u64`), in the tree or in the typedefs the patch
/// `added`; anything else as it is.
fn through_typedefs(table: &crate::symbols::SymbolTable, added: &BTreeMap<String, String>, ty: &str) -> String {
    let mut t = ty.trim().to_string();
    for _ in 0..8 {
        let next = table
            .id(&t)
            .and_then(|n| table.typedefs.get(&n))
            .map(|&a| table.name(a).trim().to_string())
            .or_else(|| added.get(&t).map(|a| a.trim().to_string()));
        match next {
            Some(a) if !a.starts_with("struct ") && !a.starts_with("union ") && a != t => t = a,
            _ => break,
        }
    }
    t
}

/// Whether two field types have the same size on x86-64, as far as their spelling tells:
/// both pointers, or both in one group of scalar types.
fn same_size(a: Option<&str>, b: Option<&str>) -> bool {
    const GROUPS: &[&[&str]] = &[
        &["char", "signed char", "unsigned char", "u8", "s8", "__u8", "__s8", "bool", "_Bool", "uint8_t", "int8_t"],
        &["short", "unsigned short", "u16", "s16", "__u16", "__s16", "__le16", "__be16", "uint16_t", "int16_t"],
        &[
            "int",
            "unsigned int",
            "unsigned",
            "signed int",
            "u32",
            "s32",
            "__u32",
            "__s32",
            "__le32",
            "__be32",
            "uint32_t",
            "int32_t",
            "atomic_t",
            "refcount_t",
        ],
        &[
            "long",
            "unsigned long",
            "long long",
            "unsigned long long",
            "u64",
            "s64",
            "__u64",
            "__s64",
            "__le64",
            "__be64",
            "uint64_t",
            "int64_t",
            "size_t",
            "ssize_t",
            "loff_t",
            "atomic64_t",
            "atomic_long_t",
        ],
    ];
    let (Some(a), Some(b)) = (a, b) else { return false };
    let pointer = |t: &str| t.contains('*') && !t.contains('[') && !t.contains('(');
    if pointer(a) && pointer(b) {
        return true;
    }
    let norm = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    let (a, b) = (norm(a), norm(b));
    GROUPS.iter().any(|g| g.contains(&a.as_str()) && g.contains(&b.as_str()))
}

/// The aggregates embedding `key` by value, with the member that holds it, following
/// embedders of embedders (up to 3 levels).
fn embedders(table: &crate::symbols::SymbolTable, key: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut frontier = vec![key.to_string()];
    for _ in 0..3 {
        let mut next = Vec::new();
        for inner in &frontier {
            for (k, defs) in table.aggregates.iter() {
                for fields in defs.iter().take(1) {
                    for (name, ty) in fields {
                        let ty = table.name(*ty);
                        let embeds = !ty.contains('*')
                            && !ty.contains('[')
                            && table.aggregate_of(ty).is_some_and(|a| table.name(a) == inner.as_str());
                        if embeds {
                            let outer = table.name(*k).to_string();
                            if !out.iter().any(|(o, m)| *o == outer && m == table.name(*name)) && outer != key {
                                out.push((outer.clone(), table.name(*name).to_string()));
                                next.push(outer);
                            }
                        }
                    }
                }
            }
        }
        frontier = next;
    }
    out.sort();
    out
}

/// The `sizeof(struct x)` sites of aggregate `key`, in the files that mention its tag.
fn sizeof_places(cx: &Ctx<'_>, key: &str) -> Vec<Place> {
    let tag = key.split_once(' ').map(|x| x.1).unwrap_or(key);
    let mut out = Vec::new();
    for (path, _) in cx.src.files_mentioning(tag) {
        let Some(file) = cx.file_named(&path) else { continue };
        let facts = file_facts(cx.db, file);
        for s in &facts.sizeofs {
            if strip_type(facts.name(s.arg)) == key {
                let function =
                    s.caller.map(|c| facts.name(facts.functions[c as usize].name).to_string()).unwrap_or_default();
                out.push(Place { function, file: path.clone(), line: s.pos.line, col: s.pos.col });
            }
        }
    }
    out
}

fn type_plans(cx: &mut Ctx<'_>, new_files: &[NewFile]) {
    let types = cx.plan.changes.types.clone();
    let table = symbol_table(cx.db, cx.db.workspace()).clone();
    for t in types.iter().filter(|t| t.layout_changed && !t.key.starts_with("enum")) {
        let accesses = query::accesses(cx.db, &t.key, None);
        let sizeof_sites = sizeof_places(cx, &t.key);
        let mut embedded_in: Vec<String> = table
            .aggregates
            .iter()
            .filter(|(_, defs)| {
                defs.iter().any(|fields| {
                    fields.iter().any(|(_, ty)| {
                        let ty = table.name(*ty);
                        !ty.contains('*') && strip_type(ty) == t.key
                    })
                })
            })
            .map(|(k, _)| table.name(*k).to_string())
            .collect();
        embedded_in.sort();
        let mut shadow = Vec::new();
        for f in t.fields.iter().filter(|f| f.change == "added") {
            let mut rewrite = Vec::new();
            for NewFile { path, facts, .. } in new_files {
                for a in facts.accesses.iter().filter(|a| facts.name(a.field) == f.field) {
                    rewrite.push(AccessSite::of(path, facts, a, &t.key));
                }
            }
            shadow.push(ShadowField {
                field: f.field.clone(),
                field_type: f.new_type.clone().unwrap_or_default(),
                strategy: vec!["attach-at-allocation", "detach-at-free", "get-or-alloc-for-existing-objects"],
                rewrite,
            });
        }
        // Everything that touches the type's data must agree on its meaning: one group.
        let mut members: Vec<String> = accesses.iter().filter_map(|a| a.function.clone()).collect();
        members.sort();
        members.dedup();
        if members.len() > 1 && t.fields.iter().any(|f| f.change != "added") {
            cx.plan.quiescence.groups.push(Group {
                members: members.clone(),
                reason: format!("{} changed layout: every function touching it switches at once", t.key),
            });
        }
        if !shadow.is_empty() {
            let mut m: Vec<String> =
                shadow.iter().flat_map(|s| s.rewrite.iter().filter_map(|a| a.function.clone())).collect();
            m.sort();
            m.dedup();
            if m.len() > 1 {
                cx.plan
                    .quiescence
                    .groups
                    .push(Group { members: m, reason: format!("share the new shadow fields of {}", t.key) });
            }
        }
        // Functions reading or writing fields that moved or changed must be cloned;
        // added fields go to shadow data and leave the old layout alone. A field before
        // the first change keeps its offset.
        let old_fields = fields_of(&table, &t.key);
        // Field types through typedefs (`gdma_obj_handle_t` is `u64`), for size questions.
        // The patch may add the typedef itself (`typedef u64 gdma_obj_handle_t;`).
        let new_typedefs: BTreeMap<String, String> =
            new_files
                .iter()
                .flat_map(|f| {
                    f.facts.types.iter().filter(|t| t.kind == crate::facts::TypeKind::Typedef).filter_map(|t| {
                        t.aliased.map(|a| (f.facts.name(t.name).to_string(), f.facts.name(a).to_string()))
                    })
                })
                .collect();
        let field_changes: Vec<crate::changes::FieldChange> = t
            .fields
            .iter()
            .map(|f| crate::changes::FieldChange {
                old_type: f.old_type.as_deref().map(|x| through_typedefs(&table, &new_typedefs, x)),
                new_type: f.new_type.as_deref().map(|x| through_typedefs(&table, &new_typedefs, x)),
                ..f.clone()
            })
            .collect();
        let shifted = shifted_fields(old_fields.as_deref(), &field_changes);
        if t.fields.iter().any(|f| f.change != "added") {
            for a in &accesses {
                let Some(func) = &a.function else { continue };
                if shifted.as_ref().is_some_and(|s| !s.contains(&a.field)) {
                    continue;
                }
                let why = format!("{} changed layout; {func} accesses .{}", t.key, a.field);
                let p = Place { function: func.clone(), file: a.file.clone(), line: a.line, col: a.col };
                cx.clone_user(p, why);
            }
        }
        // The types embedding this one by value: their fields after it move when its size
        // may change (a field removed or retyped to another size), and would move with
        // the added fields if they were not shadow data.
        let resized = field_changes.iter().any(|f| {
            f.change == "removed"
                || (matches!(f.change, "retyped" | "renamed")
                    && f.old_type != f.new_type
                    && !same_size(f.old_type.as_deref(), f.new_type.as_deref()))
        });
        let mut embedder_accesses = Vec::new();
        let mut embedder_sizeofs: Vec<(String, String)> = Vec::new();
        for (outer, member) in embedders(&table, &t.key) {
            embedder_sizeofs.extend(
                sizeof_places(cx, &outer).into_iter().filter(|p| !p.function.is_empty()).map(|p| (p.function, p.file)),
            );
            let after = fields_of(&table, &outer).map(|fs| {
                fs.iter().skip_while(|(n, _)| *n != member).map(|(n, _)| n.clone()).collect::<BTreeSet<String>>()
            });
            for a in query::accesses(cx.db, &outer, None) {
                if after.as_ref().is_some_and(|f| !f.contains(&a.field)) {
                    continue;
                }
                if let (true, Some(func)) = (resized, &a.function) {
                    let why = format!(
                        "{} changed size; {outer} embeds it as .{member}; {func} accesses .{} after it",
                        t.key, a.field
                    );
                    let p = Place { function: func.clone(), file: a.file.clone(), line: a.line, col: a.col };
                    cx.clone_user(p, why);
                }
                embedder_accesses.push(a);
            }
        }
        let mut users: BTreeSet<(String, String)> = accesses
            .iter()
            .chain(&embedder_accesses)
            .filter_map(|a| a.function.clone().map(|f| (f, a.file.clone())))
            .collect();
        users.extend(
            sizeof_sites.iter().filter(|p| !p.function.is_empty()).map(|p| (p.function.clone(), p.file.clone())),
        );
        // The embedding types' sizes change too: their `sizeof` sites and what they are
        // inlined into depend on the layout.
        users.extend(embedder_sizeofs);
        let inlined_into = cx.inlined_into(&users);
        cx.plan.types.push(TypePlan {
            key: t.key.clone(),
            layout_changed: t.layout_changed,
            accesses,
            sizeof_sites,
            embedded_in,
            embedder_accesses,
            inlined_into,
            shadow,
        });
    }
}

/// A function's loop around a blocking call, by how it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BlockingLoop {
    /// No way out (`for (;;)`/`while (1)` without `break`, `return` or `goto` in its
    /// body, or `while (!kthread_should_stop())`): it never returns.
    Forever,
    /// A `for (;;)`/`while (1)` its body can leave: it returns once its wait ends, but a
    /// task may sleep inside as long as nothing wakes it (a stopped or traced task in a
    /// signal-delivery loop).
    MayBlock,
}

fn blocking_loop(body: &[u8]) -> Option<BlockingLoop> {
    let toks: Vec<&[u8]> =
        Lexer::new(body).filter(|t| t.kind != Tok::Directive).map(|t| &body[t.start..t.end]).collect();
    if !toks.iter().any(|t| BLOCKING.iter().any(|b| b.as_bytes() == *t)) {
        return None;
    }
    if toks.windows(4).any(|w| w[0] == b"while" && w[1] == b"(" && w[2] == b"!" && w[3] == b"kthread_should_stop") {
        return Some(BlockingLoop::Forever);
    }
    // Where each endless loop's body starts: the token after `for (;;)` or `while (1)`.
    let mut starts = Vec::new();
    for i in 0..toks.len() {
        if toks[i..].starts_with(&[&b"for"[..], b"(", b";", b";", b")"]) {
            starts.push(i + 5);
        } else if toks[i..].len() >= 4
            && toks[i] == b"while"
            && toks[i + 1] == b"("
            && (toks[i + 2] == b"1" || toks[i + 2] == b"true")
            && toks[i + 3] == b")"
            // `} while (1);` ends a do-loop: its body is before it.
            && !(i > 0 && toks[i - 1] == b"}" && toks.get(i + 4) == Some(&&b";"[..]))
        {
            starts.push(i + 4);
        }
    }
    if starts.is_empty() {
        return None;
    }
    if starts.iter().any(|&s| !loop_can_exit(&toks, s)) {
        Some(BlockingLoop::Forever)
    } else {
        Some(BlockingLoop::MayBlock)
    }
}

/// Whether the loop body starting at token `s` has a way out: a `return` or `goto`, or a
/// `break` that is not inside a nested loop or `switch`. A body that is not a block is
/// one statement: it leaves only through those words too. (A `goto` is taken as an exit
/// although its label may lie inside the loop: the output calls the result a heuristic.)
fn loop_can_exit(toks: &[&[u8]], s: usize) -> bool {
    if toks.get(s) != Some(&&b"{"[..]) {
        let end = toks[s..].iter().position(|t| *t == b";").map_or(toks.len(), |e| s + e);
        return toks[s..end].iter().any(|t| matches!(*t, b"return" | b"goto" | b"break"));
    }
    // Braces of nested loops and switches: a `break` inside them leaves only them.
    let mut depth = 0usize;
    let mut nested: Vec<usize> = Vec::new();
    let mut pending = false;
    let mut parens = 0usize;
    for (k, t) in toks[s..].iter().enumerate() {
        match *t {
            b"(" => parens += 1,
            b")" => parens = parens.saturating_sub(1),
            b"{" => {
                depth += 1;
                if pending {
                    nested.push(depth);
                    pending = false;
                }
            }
            b"}" => {
                if nested.last() == Some(&depth) {
                    nested.pop();
                }
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return false;
                }
            }
            b"for" | b"while" | b"do" | b"switch" if k > 0 => pending = true,
            // A statement ends: a loop keyword without a block governs one statement.
            // (The `;`s of a `for (...)` header are not ends.)
            b";" if parens == 0 => pending = false,
            b"return" | b"goto" => return true,
            b"break" if nested.is_empty() => return true,
            _ => {}
        }
    }
    false
}

fn quiescence(cx: &mut Ctx<'_>) {
    let g = call_graph(cx.db, cx.db.workspace()).clone();
    // The functions being replaced: redirected and cloned.
    let mut changed: BTreeSet<String> = cx.plan.redirections.iter().map(|r| r.place.function.clone()).collect();
    changed.extend(cx.plan.clones.iter().map(|c| c.place.function.clone()));
    cx.plan.quiescence.off_stack = changed.iter().cloned().collect();
    // Reverse reachability from them, with parents for paths.
    let mut parent: BTreeMap<NodeIndex, Option<NodeIndex>> = BTreeMap::new();
    let mut queue = VecDeque::new();
    for name in &changed {
        for &n in g.by_name.get(name).map(|v| v.as_slice()).unwrap_or(&[]) {
            parent.insert(n, None);
            queue.push_back((n, 0u32));
        }
    }
    cx.plan.quiescence.search_depth = cx.depth;
    // Only calls that are certain (direct, or through macros) make a path: a thread that
    // may reach the function through a function pointer is not reported, and neither is
    // code of another architecture than the one the tree is built for (x86).
    let table = symbol_table(cx.db, cx.db.workspace()).clone();
    while let Some((n, level)) = queue.pop_front() {
        if parent.len() > 50_000 {
            cx.plan.quiescence.search_cut = true;
            break;
        }
        for e in g.graph.edges_directed(n, Direction::Incoming) {
            let c = e.source();
            if *e.weight() == crate::resolve::How::Member || table.arch_rank(g.graph[c].file) > 3 {
                continue;
            }
            if level >= cx.depth || parent.contains_key(&c) {
                continue;
            }
            // Reaching the bound counts as cut whether or not the function has callers:
            // a scoped load does not read the callers beyond it (docs/architecture.md).
            if level + 1 == cx.depth {
                cx.plan.quiescence.search_cut = true;
            }
            parent.insert(c, Some(n));
            queue.push_back((c, level + 1));
        }
    }
    // Kernel-thread bodies: first argument of the thread starters.
    let mut threads: BTreeSet<String> = BTreeSet::new();
    for starter in THREAD_STARTERS {
        for (_, text) in cx.src.files_mentioning(starter) {
            let toks: Vec<&[u8]> =
                Lexer::new(&text).filter(|t| t.kind != Tok::Directive).map(|t| &text[t.start..t.end]).collect();
            for w in toks.windows(3) {
                if w[0] == starter.as_bytes() && w[1] == b"(" {
                    threads.insert(String::from_utf8_lossy(w[2]).into_owned());
                }
            }
        }
    }
    let mut texts: BTreeMap<String, Arc<[u8]>> = BTreeMap::new();
    let mut found = Vec::new();
    for (&n, _) in parent.iter() {
        let p = cx.place_of(n);
        let is_thread = threads.contains(&p.function);
        let text = match texts.get(&p.file) {
            Some(t) => Some(t.clone()),
            None => cx.src.read(&p.file).inspect(|t| {
                texts.insert(p.file.clone(), t.clone());
            }),
        };
        let node = g.graph[n];
        let facts = file_facts(cx.db, cx.db.files()[node.file as usize]);
        let body = facts.functions[node.func as usize].body;
        let loops = text
            .as_ref()
            .and_then(|t| blocking_loop(&t[(body.0 as usize).min(t.len())..(body.1 as usize).min(t.len())]));
        if !is_thread && loops.is_none() {
            continue;
        }
        let mut path = vec![p.function.clone()];
        let mut cur = n;
        while let Some(Some(next)) = parent.get(&cur) {
            path.push(cx.place_of(*next).function);
            cur = *next;
        }
        let why = match (is_thread, loops) {
            (true, Some(BlockingLoop::Forever)) => "a kernel thread's body, looping forever around a blocking call",
            (true, _) => "a kernel thread's body",
            (false, Some(BlockingLoop::MayBlock)) => {
                "may block indefinitely: a loop around a blocking call that it can leave (break, return or goto: \
                 a heuristic), where a stopped or traced task may sleep as long as nothing wakes it"
            }
            _ => "loops forever around a blocking call",
        };
        // A loop that never returns must be cut out of a function being replaced; one that
        // may block ends once its task wakes: the invocation finishes in the old version.
        let never_returns = is_thread || loops == Some(BlockingLoop::Forever);
        let needs = if changed.contains(&p.function) && never_returns { "loop-extraction" } else { "adaptive-cloning" };
        found.push(NeverQuiescent { place: p, why: why.to_string(), needs, path });
    }
    found.sort_by(|a, b| (&a.place.file, a.place.line).cmp(&(&b.place.file, b.place.line)));
    cx.plan.quiescence.never_quiescent = found;
}

fn hazard(
    cx: &mut Ctx<'_>,
    code: &'static str,
    level: Level,
    file: &str,
    line: u32,
    message: String,
    help: &'static str,
) {
    cx.plan.hazards.push(Hazard {
        code,
        level,
        file: file.to_string(),
        line,
        col: 1,
        message,
        help,
        in_patched: false,
    });
}

fn hazards(cx: &mut Ctx<'_>) {
    let ch = cx.plan.changes.clone();
    for f in &ch.functions {
        if !f.is_semantic() {
            continue;
        }
        if f.attr_bits.has(FnAttrs::INIT) || f.attr_bits.has(FnAttrs::EXIT) {
            hazard(
                cx,
                "DW1001",
                Level::Error,
                &f.file,
                f.line,
                format!("`{}` is __init/__exit code: it already ran (or never will) and its memory is freed", f.name),
                "move the fix into code that runs after boot, or apply the change at the next reboot",
            );
        }
        if f.attr_bits.has(FnAttrs::NOTRACE) && !f.is_inline() {
            hazard(
                cx,
                "DW1005",
                Level::Warning,
                &f.file,
                f.line,
                format!("`{}` is notrace: it has no ftrace entry; its entry will be overwritten with a jmp", f.name),
                "check that nothing else patches this function's entry",
            );
        }
        if f.is_inline()
            && cx.plan.clones.iter().all(|c| !c.reasons.iter().any(|r| r.starts_with(&format!("{} changed", f.name))))
        {
            hazard(
                cx,
                "DW1005",
                Level::Warning,
                &f.file,
                f.line,
                format!("`{}` is inline and no out-of-line caller was found: nothing to patch", f.name),
                "the change takes effect only where the function is compiled in; check the callers",
            );
        }
        if f.kind == FnChangeKind::Removed {
            hazard(
                cx,
                "DW1008",
                Level::Note,
                &f.file,
                f.line,
                format!("`{}` is removed: the old version stays in memory for its remaining callers", f.name),
                "callers that are not updated keep calling the old version",
            );
        }
    }
    for g in &ch.globals {
        match (g.function.as_ref(), g.change) {
            (Some(func), "added" | "removed") => {
                hazard(
                    cx,
                    "DW1003",
                    Level::Error,
                    &g.file,
                    g.line,
                    format!("static local `{}` {} in `{func}`: its state cannot move between versions", g.name, g.change),
                    "keep the static local, or give the new version shadow state initialised from the old one",
                );
                // An added static local exists only in the patched text: its line is there.
                if let Some(h) = cx.plan.hazards.last_mut() {
                    h.in_patched = g.change == "added";
                }
            }
            (None, "length") => hazard(
                cx,
                "DW1002",
                Level::Error,
                &g.file,
                g.line,
                format!(
                    "`{}` changes length ({} elements): a live update does not re-run static initialisation, and the array in memory keeps its old size",
                    g.name,
                    g.length.map(|[a, b]| format!("{a} -> {b}")).unwrap_or_default()
                ),
                "give the new code its own array (a new variable) and switch to it from the update's apply hook",
            ),
            (None, "initializer") => hazard(
                cx,
                "DW1002",
                Level::Error,
                &g.file,
                g.line,
                format!("the initializer of `{}` changed: a live update does not re-run static initialisation", g.name),
                "write the new value from the update's apply hook",
            ),
            (None, "type") => hazard(
                cx,
                "DW1002",
                Level::Error,
                &g.file,
                g.line,
                format!("the type of `{}` changed: existing data keeps the old layout", g.name),
                "keep the old variable and add a shadow variable",
            ),
            _ => {}
        }
    }
    for (path, kind) in &ch.other_files {
        match *kind {
            "assembly" => hazard(
                cx,
                "DW1004",
                Level::Error,
                path,
                1,
                "an assembly file changed: dynwalk does not update assembly".to_string(),
                "rewrite the change in C or apply it at the next reboot",
            ),
            "kconfig" | "makefile" => hazard(
                cx,
                "DW1007",
                Level::Warning,
                path,
                1,
                format!("a {kind} file changed: the running kernel's configuration and build do not change"),
                "check that the change does not alter code that is already built",
            ),
            "symlink" => hazard(
                cx,
                "DW1010",
                Level::Warning,
                path,
                1,
                format!("the patch creates, removes or changes the symbolic link `{path}`: dynwalk does not follow it; nothing is read or written through it"),
                "check by hand what the link points to: code reached through it is not in this plan",
            ),
            _ => {}
        }
    }
    if cx.plan.quiescence.search_cut {
        let first = cx
            .plan
            .redirections
            .first()
            .map(|r| r.place.clone())
            .or_else(|| cx.plan.clones.first().map(|c| c.place.clone()));
        if let Some(p) = first {
            let depth = cx.depth;
            hazard(
                cx,
                "DW1009",
                Level::Note,
                &p.file,
                p.line,
                format!("the search for code that never quiesces stopped {depth} calls up from the replaced functions; callers further up were not examined"),
                "plan again with a larger --depth to look further, at the cost of reading more of the tree",
            );
        }
    }
    let nq: BTreeSet<String> = cx.plan.quiescence.never_quiescent.iter().map(|n| n.place.function.clone()).collect();
    let types = cx.plan.types.clone();
    for t in
        types.iter().filter(|t| ch.types.iter().any(|c| c.key == t.key && c.fields.iter().any(|f| f.change != "added")))
    {
        let touched: Vec<&str> =
            t.accesses.iter().filter_map(|a| a.function.as_deref()).filter(|f| nq.contains(*f)).collect();
        if let Some(f) = touched.first() {
            let (file, line) =
                ch.types.iter().find(|c| c.key == t.key).map(|c| (c.file.clone(), c.line)).unwrap_or_default();
            hazard(
                cx,
                "DW1006",
                Level::Error,
                &file,
                line,
                format!("{} changes layout and `{f}`, which never quiesces, accesses it", t.key),
                "add the new fields as shadow data instead of changing the layout",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::FieldChange;

    fn change(field: &str, change: &'static str, old: Option<&str>, new: Option<&str>) -> FieldChange {
        FieldChange {
            field: field.into(),
            change,
            old_type: old.map(Into::into),
            new_type: new.map(Into::into),
            old_field: None,
        }
    }

    fn fields(names: &[(&str, &str)]) -> Vec<(String, String)> {
        names.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect()
    }

    #[test]
    fn only_fields_from_the_first_shift_on_move() {
        let old = fields(&[("state", "long"), ("flags", "unsigned long"), ("nice", "long"), ("mm", "struct mm *")]);
        let removed = shifted_fields(Some(&old), &[change("nice", "removed", Some("long"), None)]).unwrap();
        assert_eq!(removed.into_iter().collect::<Vec<_>>(), ["mm", "nice"]);
        // A pointer retyped to another pointer moves nothing after it.
        let ptr = [change("mm", "retyped", Some("struct mm *"), Some("struct mm_struct *"))];
        assert_eq!(shifted_fields(Some(&old), &ptr).unwrap().into_iter().collect::<Vec<_>>(), ["mm"]);
        let int = [change("flags", "retyped", Some("unsigned long"), Some("unsigned int"))];
        assert_eq!(shifted_fields(Some(&old), &int).unwrap().len(), 3, "a narrower field moves the ones after it");
        // Added fields are shadow data; an unknown order means every field.
        assert!(shifted_fields(Some(&old), &[change("x", "added", None, Some("int"))]).unwrap().is_empty());
        assert!(shifted_fields(None, &ptr).is_none());
    }

    #[test]
    fn same_size_types_by_spelling() {
        assert!(same_size(Some("struct a *"), Some("const char *")));
        assert!(same_size(Some("int"), Some("u32")));
        assert!(same_size(Some("unsigned  long"), Some("u64")));
        assert!(!same_size(Some("int"), Some("long")));
        assert!(!same_size(Some("char [4]"), Some("char [8]")));
        assert!(!same_size(Some("struct foo"), Some("struct foo")), "unknown sizes are not assumed equal");
    }

    #[test]
    fn syscall_entry_symbols_follow_the_arch_wrappers() {
        let x86 = Config::parse(
            "CONFIG_X86=y\nCONFIG_X86_64=y\nCONFIG_IA32_EMULATION=y\nCONFIG_ARCH_HAS_SYSCALL_WRAPPER=y\n",
        );
        let v = |f, z, c: &Config| syscall_entry_symbols(f, z, c);
        assert_eq!(v("sys_newuname", false, &x86).unwrap(), ["__x64_sys_newuname", "__ia32_sys_newuname"]);
        assert_eq!(v("sys_sync", true, &x86).unwrap(), ["__x64_sys_sync"], "DEFINE0 stubs alias one body");
        assert_eq!(v("compat_sys_ioctl", false, &x86).unwrap(), ["__ia32_compat_sys_ioctl"]);
        let no_ia32 = Config::parse("CONFIG_X86=y\nCONFIG_X86_64=y\nCONFIG_ARCH_HAS_SYSCALL_WRAPPER=y\n");
        assert_eq!(v("sys_newuname", false, &no_ia32).unwrap(), ["__x64_sys_newuname"]);
        assert_eq!(v("compat_sys_ioctl", false, &no_ia32).unwrap(), Vec::<String>::new());
        let arm = Config::parse("CONFIG_ARM64=y\nCONFIG_ARCH_HAS_SYSCALL_WRAPPER=y\n");
        assert_eq!(v("sys_newuname", false, &arm).unwrap(), ["__arm64_sys_newuname"]);
        // 2.4 and pre-4.17 kernels keep the name; so does a function that is no syscall.
        assert_eq!(v("sys_newuname", false, &Config::parse("CONFIG_X86=y\n")), None);
        assert_eq!(v("ksys_read", false, &x86), None);
    }

    #[test]
    fn loops_that_end_are_not_endless() {
        let kinds = |src: &str| blocking_loop(src.as_bytes());
        assert_eq!(kinds("{ for (;;) { work(); schedule(); } }"), Some(BlockingLoop::Forever));
        assert_eq!(kinds("{ while (1) { if (x) break; schedule(); } }"), Some(BlockingLoop::MayBlock));
        assert_eq!(kinds("{ for (;;) { if (!sig) return 0; schedule(); } }"), Some(BlockingLoop::MayBlock));
        // A break that leaves only an inner switch or loop is no way out.
        assert_eq!(
            kinds("{ for (;;) { switch (s) { case 1: break; } for (i = 0; i < 3; i++) { break; } schedule(); } }"),
            Some(BlockingLoop::Forever)
        );
        assert_eq!(kinds("{ while (!kthread_should_stop()) { schedule(); } }"), Some(BlockingLoop::Forever));
        assert_eq!(kinds("{ for (;;) { x++; } }"), None, "no blocking call");
        assert_eq!(kinds("{ do { schedule(); } while (1); }"), None, "a do-loop's trailing while is not read");
    }
}
