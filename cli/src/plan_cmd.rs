//! `dynwalk plan`: read the patch, apply it in memory, classify the changes, derive and
//! render the plan. Nothing is written anywhere but stdout.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use dynwalk_analyzer::changes::{classify_file, file_kind, reclassify_renamed, ChangeSet};
use dynwalk_analyzer::patch::{self, FileChange, Fuzz};
use dynwalk_analyzer::plan::{derive_plan, NewFile, Plan, THREAD_STARTERS};
use dynwalk_analyzer::scope::{chain_seeds, seed_words};
use dynwalk_analyzer::{Config, FileFacts};
use dynwalk_verify::configured::Linked;

use crate::error::CliError;
use crate::load::{load_from, LoadOptions};
use crate::scope::{load_scoped, ScopeStats, Scoped, Start, TreeText};
use crate::source::TreeSource;

#[derive(Clone)]
pub struct PlanArgs {
    pub load: LoadOptions,
    pub patch: String,
    pub strip: usize,
    pub fuzz: bool,
    /// Load the whole tree (and index it) instead of the part the plan needs.
    pub whole_tree: bool,
    /// How many calls up the quiescence search goes.
    pub depth: u32,
}

/// How much of the tree the plan read, and why.
#[derive(Debug, serde::Serialize)]
pub struct Scope {
    /// `scoped` or `whole-tree`.
    pub mode: &'static str,
    /// Why the whole tree was loaded, when it was.
    pub reason: Option<String>,
    pub stats: ScopeStats,
    pub total_ms: u128,
}

/// One file as the patch leaves it (`verify` compiles these texts).
pub struct PatchedFile {
    pub path: String,
    /// The path before a rename (else `path`).
    pub old_path: String,
    /// The patched text; `None` when the patch deletes the file.
    pub new_text: Option<String>,
    /// Each hunk's (old start, old length, new start, new length).
    pub hunks: Vec<(u64, u64, u64, u64)>,
}

pub struct Planned {
    pub plan: Plan,
    pub source: Arc<TreeSource>,
    /// Every file the patch touches, patched in memory (nothing is written).
    pub files: Vec<PatchedFile>,
    /// Symbolic links the patch creates, removes or changes (git mode 120000): never read,
    /// followed or written; not in `files`.
    pub links: Vec<(String, patch::Symlink)>,
    pub notes: Vec<patch::ApplyNote>,
    pub subjects: Vec<String>,
    pub cves: Vec<String>,
    pub scope: Scope,
}

fn read_patch(p: &str) -> Result<String, CliError> {
    let mut s = Vec::new();
    if p == "-" {
        std::io::stdin().read_to_end(&mut s).map_err(|e| CliError::Input(format!("stdin: {e}")))?;
    } else {
        s = std::fs::read(p).map_err(|e| CliError::Input(format!("{p}: {e}")))?;
    }
    Ok(String::from_utf8_lossy(&s).into_owned())
}

/// A patched C file: path, old text and facts, new text and facts.
type BothSides = (String, String, Arc<FileFacts>, String, Arc<FileFacts>);

/// The configuration a `.c` file of the tree is compiled with: `MODULE` known from the
/// kbuild Makefiles when the file is built (as a module or into the kernel), else as it is.
fn object_config(source: &TreeSource, config: &Config, path: &str) -> Config {
    if !path.ends_with(".c") {
        return config.clone();
    }
    let read = |rel: &str| source.read(rel).ok().map(|b| String::from_utf8_lossy(&b).into_owned());
    match dynwalk_verify::configured::linked(&read, config.values(), path) {
        Some(Linked::Module) => config.for_object(true),
        Some(Linked::BuiltIn) => config.for_object(false),
        None => config.clone(),
    }
}

pub fn run(a: &PlanArgs) -> Result<Planned, CliError> {
    let t0 = std::time::Instant::now();
    let text = read_patch(&a.patch)?;
    let mut parsed = patch::parse(&text, a.strip).map_err(|e| CliError::BadPatch(format!("{}: {e}", a.patch)))?;
    let source = Arc::new(TreeSource::open(&a.load.tree, a.load.repo.as_deref())?);
    // Traditional diffs name backups (`x.c.orig`, `x.c~`): the file is chosen by which
    // of the header's names the tree has, as patch(1) chooses.
    for fp in &mut parsed.files {
        if !fp.resolve_names(&|p: &str| source.exists(p)) {
            return Err(CliError::NoApply(format!(
                "patch line {}: none of the names the header gives ({}) is a file of the tree that patch(1) would \
                 choose; check --from and -p",
                fp.patch_line,
                fp.names.join(", ")
            )));
        }
    }
    let config = a.load.config.as_deref().map(crate::load::read_config).transpose()?;
    // As patch(1): a hunk found at another line applies with a note; ignoring context
    // lines (fuzz) only when asked.
    let fuzz = Some(Fuzz { max_offset: usize::MAX, max_fuzz: if a.fuzz { 2 } else { 0 } });
    let mut changes = ChangeSet::default();
    let mut notes = Vec::new();
    let mut files = Vec::new();
    let mut links = Vec::new();
    let mut new_facts = Vec::new();
    let mut patched = Vec::new();
    // The patched C files, both versions, for the pass that needs the whole change set.
    let mut texts: Vec<BothSides> = Vec::new();
    for fp in &parsed.files {
        let path = fp.path().to_string();
        check_path(&path)?;
        if let Some(link) = &fp.symlink {
            // A link's target is not text to apply, and the tree's link is not followed.
            changes.other_files.push((path.clone(), "symlink"));
            links.push((path.clone(), link.clone()));
            continue;
        }
        // `diff -N` writes new files against an empty old file rather than /dev/null.
        let creates = fp.change == FileChange::Add || fp.hunks.iter().all(|h| h.old_start == 0 && h.old_len == 0);
        let old_path = fp.old_path.clone().unwrap_or_else(|| path.clone());
        let old_text = match (source.exists(&old_path), fp.change) {
            (true, FileChange::Add) => {
                return Err(CliError::NoApply(format!(
                    "{path}: the patch creates this file but the tree already has it"
                )))
            }
            (true, _) => String::from_utf8_lossy(&source.read(&old_path)?).into_owned(),
            (false, _) if creates => String::new(),
            (false, _) => {
                return Err(CliError::NoApply(format!("{old_path}: the patch changes this file but the tree has none")))
            }
        };
        let (new_text, n) = match fp.change {
            FileChange::Delete => (String::new(), vec![]),
            _ if fp.hunks.is_empty() => (old_text.clone(), vec![]),
            _ => patch::apply(&old_text, fp, fuzz).map_err(|e| CliError::NoApply(e.to_string()))?,
        };
        notes.extend(n);
        files.push(PatchedFile {
            path: path.clone(),
            old_path: old_path.clone(),
            new_text: (fp.change != FileChange::Delete).then(|| new_text.clone()),
            hunks: fp
                .hunks
                .iter()
                .map(|h| (h.old_start as u64, h.old_len as u64, h.new_start as u64, h.new_len as u64))
                .collect(),
        });
        let kind = file_kind(&path);
        if kind != "c" {
            changes.other_files.push((path.clone(), kind));
            continue;
        }
        // A `.c` file is read as kbuild compiles it: with `MODULE` defined when its
        // Makefile links it into a module, undefined when into the kernel.
        let file_config = config.as_ref().map(|c| object_config(&source, c, &path));
        let old = (!creates).then(|| Arc::new(dynwalk_analyzer::extract(old_text.as_bytes(), file_config.as_ref())));
        let new = (fp.change != FileChange::Delete)
            .then(|| Arc::new(dynwalk_analyzer::extract(new_text.as_bytes(), file_config.as_ref())));
        classify_file(
            &path,
            old.as_ref().map(|f| (old_text.as_bytes(), f.as_ref())),
            new.as_ref().map(|f| (new_text.as_bytes(), f.as_ref())),
            &mut changes,
        );
        if let (Some(o), Some(n)) = (&old, &new) {
            texts.push((path.clone(), old_text.clone(), o.clone(), new_text.clone(), n.clone()));
        }
        if let Some(f) = &old {
            patched.push((old_path, f.clone()));
        }
        if let Some(facts) = new {
            new_facts.push(NewFile { path, facts, text: Arc::from(new_text.into_bytes()) });
        }
    }
    let both: Vec<_> = texts
        .iter()
        .map(|(p, ot, of, nt, nf)| (p.as_str(), ot.as_bytes(), of.as_ref(), nt.as_bytes(), nf.as_ref()))
        .collect();
    reclassify_renamed(&mut changes, &both);
    let chains = chain_seeds(&changes);
    let seeds =
        if a.whole_tree { Err("--whole-tree".to_string()) } else { seed_words(&changes).map_err(|e| e.to_string()) };
    let mut scoped = None;
    let mut reason = None;
    let mut prepared = None;
    match seeds {
        Ok(seeds) => {
            let tp = std::time::Instant::now();
            let files = source.c_files()?;
            let text = TreeText::new(source.clone(), files);
            let cache = a.load.cache(&source, config.as_ref());
            if let Some(c) = &cache {
                let (_, fresh) = text.prepare(c.load_text().unwrap_or_default());
                if let Some(entries) = fresh {
                    if let Err(e) = c.store_text(&entries) {
                        eprintln!("warning: cache: {e}");
                    }
                }
            } else {
                text.prepare(Vec::new());
            }
            let cache = cache.and_then(|c| c.load_manifest().map(|m| (c, m)));
            let prepare_ms = tp.elapsed().as_millis();
            let budget = text.files.len() / 4;
            let start = Start { seeds, chains, must: patched, prefetch: THREAD_STARTERS, depth: a.depth, budget };
            match load_scoped(&text, config.as_ref(), cache, start)? {
                Scoped::Loaded(db, stats) => {
                    let stats = ScopeStats { prepare_ms, ..stats };
                    scoped = Some((db, text, Scope { mode: "scoped", reason: None, stats, total_ms: 0 }));
                }
                Scoped::TooLarge(n) => {
                    reason = Some(format!(
                        "the plan reaches {n} files, more than a quarter of the tree: loading all of it costs less"
                    ));
                    prepared = Some(text);
                }
            }
        }
        Err(r) => reason = Some(r),
    }
    let (db, text, scope) = match scoped {
        Some(s) => s,
        None => {
            let l = load_from(&a.load, source.clone(), config.clone(), true)?;
            // The text index of a scoped attempt still serves the plan's text searches.
            let text = match prepared {
                Some(t) => t,
                None => TreeText::new(source.clone(), source.c_files()?),
            };
            let stats = ScopeStats {
                tree_files: text.files.len(),
                loaded_files: l.db.files().len(),
                from_cache: l.reused,
                parsed: l.parsed,
                ..Default::default()
            };
            (l.db, text, Scope { mode: "whole-tree", reason, stats, total_ms: 0 })
        }
    };
    let tq = std::time::Instant::now();
    let plan = derive_plan(&db, changes, &new_facts, &text, a.depth);
    let mut scope = Scope { total_ms: t0.elapsed().as_millis(), ..scope };
    scope.stats.plan_ms = tq.elapsed().as_millis();
    Ok(Planned { plan, source, files, links, notes, subjects: parsed.subjects, cves: parsed.cves, scope })
}

/// A patch path must stay inside the tree.
fn check_path(p: &str) -> Result<(), CliError> {
    let path = Path::new(p);
    if p.is_empty() || path.is_absolute() || path.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
        return Err(CliError::BadPatch(format!("{p:?}: a patch path must be relative and stay inside the tree")));
    }
    Ok(())
}

/// Human output: one section per part of the plan, each item with a code frame and why.
pub fn render(p: &Planned) -> String {
    let texts = p.files.iter().filter_map(|f| f.new_text.as_deref().map(|t| (f.path.as_str(), t)));
    let mut frames = crate::render::Frames::with_patched(&p.source, texts);
    let plan = &p.plan;
    let mut o = String::new();
    for s in &p.subjects {
        o.push_str(&format!("patch: {s}\n"));
    }
    if !p.cves.is_empty() {
        o.push_str(&format!("cves: {}\n", p.cves.join(", ")));
    }
    for n in &p.notes {
        o.push_str(&format!(
            "note: {} hunk #{} applied with offset {} and fuzz {}\n",
            n.file, n.hunk, n.offset, n.fuzz
        ));
    }
    o.push_str("\n== changes ==\n");
    for f in &plan.changes.functions {
        let attrs = if f.attrs.is_empty() { String::new() } else { format!(" [{}]", f.attrs.join(" ")) };
        o.push_str(&format!("function {} {}:{}: {}{attrs}\n", f.name, f.file, f.line, kebab(&format!("{:?}", f.kind))));
    }
    for t in &plan.changes.types {
        let fields: Vec<String> = t.fields.iter().map(|f| format!("{} {}", f.change, f.field)).collect();
        o.push_str(&format!("type {} {}:{}: {} {}\n", t.key, t.file, t.line, t.change, fields.join(", ")));
    }
    for m in &plan.changes.macros {
        o.push_str(&format!("macro {} {}:{}: {}\n", m.name, m.file, m.line, m.change));
    }
    for g in &plan.changes.globals {
        let inf = g.function.as_ref().map(|f| format!(" (static local of {f})")).unwrap_or_default();
        o.push_str(&format!("variable {}{inf} {}:{}: {}\n", g.name, g.file, g.line, g.change));
    }
    for (f, k) in &plan.changes.other_files {
        match p.links.iter().find(|(l, _)| l == f) {
            Some((_, link)) => o.push_str(&format!("symlink {f}: the patch {} (not followed)\n", link.describe())),
            None => o.push_str(&format!("{k} file {f} changed\n")),
        }
    }
    o.push_str(&format!("\n== redirections ({}) ==\n", plan.redirections.len()));
    for r in &plan.redirections {
        o.push_str(&frames.frame(
            &r.place.file,
            r.place.line,
            r.place.col,
            &format!("redirect {}{} ({}): {}", r.place.function, entered_as(&r.symbols), r.mechanism, r.reason),
        ));
    }
    o.push_str(&format!("\n== clones ({}) ==\n", plan.clones.len()));
    for c in &plan.clones {
        let what = format!("clone {}{}", c.place.function, entered_as(&c.symbols));
        o.push_str(&frames.frame(&c.place.file, c.place.line, c.place.col, &what));
        for r in &c.reasons {
            o.push_str(&format!("   = because {r}\n"));
        }
    }
    for t in &plan.types {
        o.push_str(&format!(
            "\n== type {} ({} accesses, {} sizeof sites) ==\n",
            t.key,
            t.accesses.len(),
            t.sizeof_sites.len()
        ));
        for a in &t.accesses {
            let who = a.function.as_deref().unwrap_or("<file scope>");
            o.push_str(&format!("  {}:{}:{} {} {}{} in {who}\n", a.file, a.line, a.col, a.kind, a.operator, a.field));
        }
        for s in &t.sizeof_sites {
            o.push_str(&format!("  {}:{}:{} sizeof in {}\n", s.file, s.line, s.col, s.function));
        }
        if !t.embedded_in.is_empty() {
            o.push_str(&format!("  embedded by value in: {}\n", t.embedded_in.join(", ")));
        }
        for s in &t.shadow {
            o.push_str(&format!("  shadow field {}: {} ({})\n", s.field, s.field_type, s.strategy.join(", ")));
            for a in &s.rewrite {
                o.push_str(&format!(
                    "    rewrite {}:{}:{} {} in {}\n",
                    a.file,
                    a.line,
                    a.col,
                    a.kind,
                    a.function.as_deref().unwrap_or("-")
                ));
            }
        }
    }
    let q = &plan.quiescence;
    let off = if q.off_stack.is_empty() { "(none)".to_string() } else { q.off_stack.join(", ") };
    o.push_str(&format!("\n== quiescence ==\noff every stack before the switch: {off}\n"));
    for n in &q.never_quiescent {
        o.push_str(&frames.frame(
            &n.place.file,
            n.place.line,
            n.place.col,
            &format!("{} never quiesces: {}; needs {}", n.place.function, n.why, n.needs),
        ));
        o.push_str(&format!("   = path: {}\n", n.path.join(" -> ")));
    }
    for g in &q.groups {
        o.push_str(&format!("group {{{}}}: {}\n", g.members.join(", "), g.reason));
    }
    o.push_str(&format!("\n== hazards ({}) ==\n", plan.hazards.len()));
    for h in &plan.hazards {
        o.push_str(&format!(
            "{}[{}]: {}\n",
            match h.level {
                dynwalk_analyzer::plan::Level::Error => "error",
                dynwalk_analyzer::plan::Level::Warning => "warning",
                dynwalk_analyzer::plan::Level::Note => "note",
            },
            h.code,
            h.message
        ));
        if h.in_patched {
            o.push_str(&frames.frame_patched(&h.file, h.line, h.col, ""));
        } else {
            o.push_str(&frames.frame(&h.file, h.line, h.col, ""));
        }
        o.push_str(&format!("   = help: {}\n", h.help));
    }
    o
}

fn kebab(s: &str) -> String {
    let mut o = String::new();
    for (i, c) in s.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            o.push('-');
        }
        o.extend(c.to_lowercase());
    }
    o
}

/// ` entered as __x64_sys_x, __ia32_sys_x` when the build emits other symbols than the
/// function's name (a syscall under the architecture's wrappers).
pub fn entered_as(symbols: &[String]) -> String {
    if symbols.is_empty() {
        String::new()
    } else {
        format!(" entered as {}", symbols.join(", "))
    }
}
