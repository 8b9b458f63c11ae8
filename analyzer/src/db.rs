//! The incremental engine (salsa). Inputs are files; derived values are small comparable
//! summaries, so an edit inside one function body re-derives only that file's facts and
//! resolution, never the global symbol table.

use std::sync::{Arc, Mutex};

use petgraph::graph::{DiGraph, NodeIndex};
use rayon::prelude::*;

use crate::facts::FileFacts;
use crate::pp::Config;
use crate::resolve::{resolve, targets, CallRes, How, Resolved};
use crate::symbols::Name;
use crate::symbols::{FileItems, SymbolTable};

/// What a file holds: its bytes, or facts already extracted (from the on-disk cache or a
/// parallel batch extraction), so the engine never keeps a whole tree's text in memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Contents {
    Text(Arc<[u8]>),
    Facts(Arc<FileFacts>),
}

#[salsa::input]
pub struct SourceFile {
    #[returns(ref)]
    pub path: String,
    #[returns(ref)]
    pub contents: Contents,
}

#[salsa::input]
pub struct Workspace {
    #[returns(ref)]
    pub files: Vec<SourceFile>,
}

#[salsa::input]
pub struct Settings {
    #[returns(ref)]
    pub config: Option<Arc<Config>>,
    /// Include paths named anywhere in the tree, for when only part of it is loaded (a
    /// scoped plan): a loaded header is live if the tree includes it, loaded or not.
    #[returns(ref)]
    pub known_includes: Arc<Vec<String>>,
}

#[salsa::db]
pub trait Db: salsa::Database {
    fn settings(&self) -> Settings;
    fn workspace(&self) -> Workspace;
    /// Records that a query ran (for incremental tests and `--dump`).
    fn log(&self, event: String);
}

#[salsa::db]
#[derive(Clone)]
pub struct AnalysisDb {
    storage: salsa::Storage<Self>,
    settings: Option<Settings>,
    workspace: Option<Workspace>,
    log: Arc<Mutex<Option<Vec<String>>>>,
}

#[salsa::db]
impl salsa::Database for AnalysisDb {}

#[salsa::db]
impl Db for AnalysisDb {
    fn settings(&self) -> Settings {
        self.settings.expect("AnalysisDb::new sets the settings")
    }
    fn workspace(&self) -> Workspace {
        self.workspace.expect("AnalysisDb::new sets the workspace")
    }
    fn log(&self, event: String) {
        if let Ok(mut l) = self.log.lock() {
            if let Some(l) = l.as_mut() {
                l.push(event);
            }
        }
    }
}

impl AnalysisDb {
    pub fn new(config: Option<Config>) -> AnalysisDb {
        let mut db = AnalysisDb {
            storage: salsa::Storage::default(),
            settings: None,
            workspace: None,
            log: Arc::new(Mutex::new(None)),
        };
        db.settings = Some(Settings::new(&db, config.map(Arc::new), Arc::new(Vec::new())));
        db.workspace = Some(Workspace::new(&db, Vec::new()));
        db
    }

    /// Sets the workspace's files (sorted by path for determinism).
    pub fn set_files(&mut self, files: Vec<(String, Contents)>) -> Vec<SourceFile> {
        let mut files = files;
        files.sort_by(|a, b| a.0.cmp(&b.0));
        let handles: Vec<SourceFile> = files.into_iter().map(|(p, c)| SourceFile::new(self, p, c)).collect();
        let ws = self.workspace();
        use salsa::Setter;
        ws.set_files(self).to(handles.clone());
        handles
    }

    /// See [`Settings::known_includes`].
    pub fn set_known_includes(&mut self, includes: Vec<String>) {
        use salsa::Setter;
        let s = self.settings();
        s.set_known_includes(self).to(Arc::new(includes));
    }

    pub fn set_contents(&mut self, file: SourceFile, contents: Contents) {
        use salsa::Setter;
        file.set_contents(self).to(contents);
    }

    /// Maps `f` over the workspace's files in parallel (rayon), in file order. Each worker
    /// gets its own database handle (a salsa database is `Send` but not `Sync`).
    pub fn par_files<T: Send>(&self, f: impl Fn(&AnalysisDb, SourceFile) -> T + Sync + Send) -> Vec<T> {
        let files = self.files().to_vec();
        let seed = Mutex::new(self.clone());
        let fork = || seed.lock().map(|d| d.clone()).unwrap_or_else(|e| e.into_inner().clone());
        files.par_iter().map_init(fork, |db, file| f(db, *file)).collect()
    }

    /// Starts recording which queries execute.
    pub fn start_log(&self) {
        if let Ok(mut l) = self.log.lock() {
            *l = Some(Vec::new());
        }
    }

    /// The queries that executed since `start_log`, sorted.
    pub fn take_log(&self) -> Vec<String> {
        let mut v = self.log.lock().ok().and_then(|mut l| l.replace(Vec::new())).unwrap_or_default();
        v.sort();
        v
    }

    pub fn files(&self) -> &[SourceFile] {
        self.workspace().files(self)
    }

    /// Computes every file's facts and resolution in parallel (rayon), then the graph.
    pub fn analyze_all(&self) -> &Arc<CallGraph> {
        self.par_files(|db, f| {
            file_items(db, f);
        });
        symbol_table(self, self.workspace());
        self.par_files(|db, f| {
            file_resolved(db, f);
        });
        call_graph(self, self.workspace())
    }
}

#[salsa::tracked(returns(ref))]
pub fn file_facts(db: &dyn Db, file: SourceFile) -> Arc<FileFacts> {
    db.log(format!("file_facts({})", file.path(db)));
    match file.contents(db) {
        Contents::Facts(f) => f.clone(),
        Contents::Text(t) => {
            let cfg = db.settings().config(db).clone();
            Arc::new(crate::extract(t, cfg.as_deref()))
        }
    }
}

/// Items are only needed to build the symbol table: keep few of them in memory.
#[salsa::tracked(returns(ref), lru = 512)]
pub fn file_items(db: &dyn Db, file: SourceFile) -> Arc<FileItems> {
    db.log(format!("file_items({})", file.path(db)));
    Arc::new(FileItems::of(file.path(db), file_facts(db, file)))
}

#[salsa::tracked(returns(ref))]
pub fn symbol_table(db: &dyn Db, ws: Workspace) -> Arc<SymbolTable> {
    db.log("symbol_table".to_string());
    let items: Vec<Arc<FileItems>> = ws.files(db).iter().map(|f| file_items(db, *f).clone()).collect();
    let known = db.settings().known_includes(db).clone();
    Arc::new(SymbolTable::build_with(&items, &known))
}

#[salsa::tracked(returns(ref))]
pub fn file_resolved(db: &dyn Db, file: SourceFile) -> Arc<Resolved> {
    db.log(format!("file_resolved({})", file.path(db)));
    let table = symbol_table(db, db.workspace());
    Arc::new(resolve(file_facts(db, file), table))
}

/// A function definition: (file index in the workspace, function index in its facts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FnNode {
    pub file: u32,
    pub func: u32,
}

/// The call graph over function definitions. Edges carry how the call is made; calls to
/// functions outside the tree are not edges.
#[derive(Debug, Default)]
pub struct CallGraph {
    pub graph: DiGraph<FnNode, How>,
    /// Function name -> its definitions' nodes.
    pub by_name: std::collections::BTreeMap<String, Vec<NodeIndex>>,
}

impl PartialEq for CallGraph {
    fn eq(&self, other: &Self) -> bool {
        self.by_name == other.by_name
            && self.graph.node_count() == other.graph.node_count()
            && self.graph.raw_edges().iter().map(|e| (e.source(), e.target(), e.weight)).eq(other
                .graph
                .raw_edges()
                .iter()
                .map(|e| (e.source(), e.target(), e.weight)))
    }
}
impl Eq for CallGraph {}

#[salsa::tracked(returns(ref))]
pub fn call_graph(db: &dyn Db, ws: Workspace) -> Arc<CallGraph> {
    db.log("call_graph".to_string());
    let files = ws.files(db);
    let table = symbol_table(db, ws);
    let mut g = CallGraph::default();
    let mut per_file: Vec<Vec<NodeIndex>> = Vec::with_capacity(files.len());
    // Function name id -> its definitions' nodes.
    let mut defs: rustc_hash::FxHashMap<Name, Vec<NodeIndex>> = Default::default();
    for (fi, f) in files.iter().enumerate() {
        let facts = file_facts(db, *f);
        let mut v = Vec::with_capacity(facts.functions.len());
        for (i, func) in facts.functions.iter().enumerate() {
            let n = g.graph.add_node(FnNode { file: fi as u32, func: i as u32 });
            let name = facts.name(func.name);
            g.by_name.entry(name.to_string()).or_default().push(n);
            if let Some(id) = table.id(name) {
                defs.entry(id).or_default().push(n);
            }
            v.push(n);
        }
        per_file.push(v);
    }
    // The edges of each file, in parallel; each call goes to the closest definitions.
    let edges: Vec<Vec<(NodeIndex, NodeIndex, How)>> = {
        let gref = &g.graph;
        let defs = &defs;
        let per_file = &per_file;
        let pairs: Vec<(usize, Arc<FileFacts>, Arc<Resolved>)> = files
            .iter()
            .enumerate()
            .map(|(fi, f)| (fi, file_facts(db, *f).clone(), file_resolved(db, *f).clone()))
            .collect();
        pairs
            .par_iter()
            .map(|(fi, facts, res)| {
                let mut out = Vec::new();
                let mut add = |caller: Option<u32>, r: &CallRes| {
                    let Some(c) = caller else { return };
                    let from = per_file[*fi][c as usize];
                    for t in targets(table, r) {
                        let Some(ds) = defs.get(&t.name) else { continue };
                        let attrs = table.functions.get(&t.name).map(|v| v.as_slice()).unwrap_or(&[]);
                        // A static function in another .c file is not visible from here.
                        // Ops tables reach static functions anywhere.
                        let visible = |k: usize, d: NodeIndex| {
                            let file = gref[d].file;
                            let hidden = t.how != How::Member
                                && file != *fi as u32
                                && attrs.get(k).is_some_and(|a| a.attrs.has(crate::facts::FnAttrs::STATIC))
                                && table.paths[file as usize].ends_with(".c");
                            !hidden
                        };
                        let cands: Vec<NodeIndex> =
                            ds.iter().enumerate().filter(|&(k, &d)| visible(k, d)).map(|(_, &d)| d).collect();
                        let best = cands.iter().map(|&d| table.closeness(*fi as u32, gref[d].file)).min().unwrap_or(0);
                        for d in cands {
                            if table.closeness(*fi as u32, gref[d].file) == best {
                                out.push((from, d, t.how));
                            }
                        }
                    }
                };
                for (c, r) in facts.calls.iter().zip(res.calls.iter()) {
                    add(c.caller, r);
                }
                for (u, m) in &res.hidden {
                    add(u.place(facts).0, &CallRes::Macro { name: *m, also_function: false });
                }
                out.sort_unstable();
                out.dedup();
                out
            })
            .collect()
    };
    for (a, b, h) in edges.into_iter().flatten() {
        g.graph.add_edge(a, b, h);
    }
    Arc::new(g)
}
