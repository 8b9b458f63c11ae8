//! Loading a tree into the analysis database: walk, cache check, parallel extraction.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use dynwalk_analyzer::db::{AnalysisDb, Contents};
use dynwalk_analyzer::facts::{Counts, FileFacts, FACTS_VERSION};
use dynwalk_analyzer::Config;
use rayon::prelude::*;

use crate::cache::{Cache, Entry, Manifest, Summary, MANIFEST_VERSION};
use crate::error::CliError;
use crate::source::{FileMeta, TreeSource};

#[derive(Clone)]
pub struct LoadOptions {
    /// A directory, or a git revision of `repo`.
    pub tree: PathBuf,
    pub repo: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub cache_root: Option<PathBuf>,
    pub use_cache: bool,
    pub progress: bool,
}

pub struct Loaded {
    pub db: AnalysisDb,
    /// What the tree is, for messages: a folder or `repo@rev (commit)`.
    pub tree: PathBuf,
    pub source: std::sync::Arc<TreeSource>,
    pub counts: Counts,
    pub parsed: usize,
    pub reused: usize,
    pub walk_ms: u128,
    pub extract_ms: u128,
    pub summary: Option<Summary>,
    pub cache: Option<(Cache, Manifest)>,
}

/// Every `.c` and `.h` file under `root`, relative, sorted; hidden folders skipped.
pub fn walk(root: &Path) -> Result<Vec<(String, fs::Metadata)>, CliError> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        let rd = fs::read_dir(&dir).map_err(|e| CliError::Input(format!("{}: {e}", dir.display())))?;
        for ent in rd.flatten() {
            let name = ent.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                continue;
            }
            let Ok(ft) = ent.file_type() else { continue };
            let r = rel.join(name.as_ref());
            if ft.is_dir() {
                stack.push(r);
            } else if ft.is_file() && (name.ends_with(".c") || name.ends_with(".h")) {
                if let Ok(md) = ent.metadata() {
                    out.push((r.to_string_lossy().into_owned(), md));
                }
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

pub fn default_cache_root() -> PathBuf {
    if let Some(d) = std::env::var_os("DYNWALK_CACHE_DIR") {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("dynwalk").join("index")
}

pub fn read_config(path: &Path) -> Result<Config, CliError> {
    let text = fs::read_to_string(path).map_err(|e| CliError::Input(format!("{}: {e}", path.display())))?;
    let cfg = Config::parse(&text);
    if cfg.is_empty() {
        return Err(CliError::Input(format!("{}: no CONFIG_ lines: not a kernel .config", path.display())));
    }
    Ok(cfg)
}

enum Source {
    Cached(usize),
    Fresh(FileFacts),
}

impl LoadOptions {
    /// The cache folder of `source` under these options and `config` (none with
    /// `--no-cache`).
    pub fn cache(&self, source: &TreeSource, config: Option<&Config>) -> Option<Cache> {
        let fp = config.map(|c| c.fingerprint()).unwrap_or(0);
        self.use_cache.then(|| {
            Cache::for_tree(&self.cache_root.clone().unwrap_or_else(default_cache_root), &source.cache_key(), fp)
        })
    }
}

pub fn load(opts: &LoadOptions, need_facts: bool) -> Result<Loaded, CliError> {
    let source = std::sync::Arc::new(TreeSource::open(&opts.tree, opts.repo.as_deref())?);
    let config = opts.config.as_deref().map(read_config).transpose()?;
    load_from(opts, source, config, need_facts)
}

/// As [`load`], for a tree already opened and a config already read.
pub fn load_from(
    opts: &LoadOptions,
    source: std::sync::Arc<TreeSource>,
    config: Option<Config>,
    need_facts: bool,
) -> Result<Loaded, CliError> {
    let tree = PathBuf::from(source.label());
    let t0 = Instant::now();
    let files = source.c_files()?;
    let walk_ms = t0.elapsed().as_millis();
    let cache = opts.cache(&source, config.as_ref());
    let old = cache.as_ref().and_then(|c| c.load_manifest());
    let old_entries: &[Entry] = old.as_ref().map(|m| m.entries.as_slice()).unwrap_or(&[]);
    let old_index: std::collections::HashMap<&str, usize> =
        old_entries.iter().enumerate().map(|(i, e)| (e.path.as_str(), i)).collect();

    let bar = crate::render::progress(opts.progress, files.len() as u64);
    let t1 = Instant::now();
    let sources: Vec<Result<(Source, u64, u64, u128), CliError>> = files
        .par_iter()
        .map(|m| {
            let (rel, size, mt) = (&m.rel, m.size, m.stamp);
            let prev = old_index.get(rel.as_str()).map(|&i| (i, &old_entries[i]));
            if let Some((i, e)) = prev {
                if e.size == size && e.mtime_ns == mt {
                    bar.inc(1);
                    return Ok((Source::Cached(i), e.hash, size, mt));
                }
            }
            let bytes = source.read(rel)?;
            let hash = xxhash_rust::xxh3::xxh3_64(&bytes);
            if let Some((i, e)) = prev {
                if e.hash == hash {
                    bar.inc(1);
                    return Ok((Source::Cached(i), hash, size, mt));
                }
            }
            let facts = dynwalk_analyzer::extract(&bytes, config.as_ref());
            bar.inc(1);
            Ok((Source::Fresh(facts), hash, size, mt))
        })
        .collect();
    bar.finish_and_clear();
    let sources = sources.into_iter().collect::<Result<Vec<_>, _>>()?;
    let fresh = sources.iter().filter(|s| matches!(s.0, Source::Fresh(..))).count();
    let extract_ms = t1.elapsed().as_millis();
    let unchanged = fresh == 0 && old_entries.len() == sources.len();

    // An unchanged tree whose summary is known needs no facts at all for `index`.
    if unchanged && !need_facts {
        if let (Some(c), Some(m)) = (&cache, &old) {
            if let Some(summary) = c.load_summary(m) {
                let mut counts = Counts::default();
                m.entries.iter().for_each(|e| counts.add(&e.counts));
                let reused = m.entries.len();
                return Ok(Loaded {
                    db: AnalysisDb::new(config),
                    tree,
                    source,
                    counts,
                    parsed: 0,
                    reused,
                    walk_ms,
                    extract_ms,
                    summary: Some(summary),
                    cache: cache.zip(old),
                });
            }
        }
    }
    load_all(tree, source, config, files, sources, cache, old, walk_ms, extract_ms, unchanged)
}

#[allow(clippy::too_many_arguments)]
fn load_all(
    tree: PathBuf,
    source: std::sync::Arc<TreeSource>,
    config: Option<Config>,
    files: Vec<FileMeta>,
    sources: Vec<(Source, u64, u64, u128)>,
    cache: Option<Cache>,
    old: Option<Manifest>,
    walk_ms: u128,
    extract_ms: u128,
    unchanged: bool,
) -> Result<Loaded, CliError> {
    let blob = cache.as_ref().zip(old.as_ref()).and_then(|(c, m)| c.load_blob(m)).unwrap_or_default();
    let old_entries: &[Entry] = old.as_ref().map(|m| m.entries.as_slice()).unwrap_or(&[]);
    let decoded: Vec<Option<FileFacts>> = sources
        .par_iter()
        .map(|(s, ..)| match s {
            Source::Cached(i) => Cache::decode(&blob, &old_entries[*i]),
            Source::Fresh(..) => None,
        })
        .collect();
    let mut entries = Vec::with_capacity(files.len());
    let mut counts = Counts::default();
    let mut facts: Vec<(String, std::sync::Arc<FileFacts>)> = Vec::with_capacity(files.len());
    let (mut parsed, mut reused) = (0, 0);
    for (k, ((src, hash, size, mt), dec)) in sources.into_iter().zip(decoded).enumerate() {
        let rel = files[k].rel.clone();
        let f = match (src, dec) {
            (Source::Fresh(f), _) => {
                parsed += 1;
                f
            }
            (Source::Cached(_), Some(f)) => {
                reused += 1;
                f
            }
            (Source::Cached(_), None) => {
                // The blob is gone or damaged: extract again.
                parsed += 1;
                let bytes = source.read(&rel)?;
                dynwalk_analyzer::extract(&bytes, config.as_ref())
            }
        };
        let c = Counts::of(&f);
        counts.add(&c);
        entries.push(Entry { path: rel.clone(), size, mtime_ns: mt, hash, offset: 0, len: 0, counts: c });
        facts.push((rel, std::sync::Arc::new(f)));
    }
    drop(blob);
    let unchanged = unchanged && parsed == 0;
    let summary = if unchanged { cache.as_ref().zip(old.as_ref()).and_then(|(c, m)| c.load_summary(m)) } else { None };
    let fp = config.as_ref().map(|c| c.fingerprint()).unwrap_or(0);
    // Write the cache before the graphs are built: each file's facts are encoded as written.
    let cache = match (cache, old) {
        (Some(c), Some(m)) if unchanged => Some((c, m)),
        (Some(c), _) => {
            let manifest = Manifest {
                manifest_version: MANIFEST_VERSION,
                facts_version: FACTS_VERSION,
                tree: tree.display().to_string(),
                config_fingerprint: fp,
                entries,
                blob: String::new(),
            };
            let refs: Vec<&FileFacts> = facts.iter().map(|(_, f)| f.as_ref()).collect();
            c.store(manifest, &refs).map_err(|e| CliError::Cache(e.to_string()))?;
            let m = c
                .load_manifest()
                .ok_or_else(|| CliError::Cache(format!("{}: cannot read back the manifest", c.dir.display())))?;
            Some((c, m))
        }
        (None, _) => None,
    };
    let mut db = AnalysisDb::new(config);
    db.set_files(facts.into_iter().map(|(p, f)| (p, Contents::Facts(f))).collect());
    Ok(Loaded { db, tree, source, counts, parsed, reused, walk_ms, extract_ms, summary, cache })
}

/// Records the graph summary in the cache so an unchanged re-run can print it.
pub fn store_summary(l: &Loaded, s: &Summary) -> Result<(), CliError> {
    match &l.cache {
        Some((c, m)) => c.store_summary(m, s).map_err(|e| CliError::Cache(e.to_string())),
        None => Ok(()),
    }
}
