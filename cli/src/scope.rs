//! Scoped loading for `plan`: a lexical search over the tree's text finds the files that
//! mention the names the plan needs (see `dynwalk_analyzer::scope`); only those are
//! loaded, from the index cache when it has them, else parsed. Rounds repeat until the
//! analyzer asks for no new name. The tree's text is searched, never kept whole.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aho_corasick::{AhoCorasick, MatchKind};
use dynwalk_analyzer::db::{AnalysisDb, Contents};
use dynwalk_analyzer::facts::FileFacts;
use dynwalk_analyzer::plan::TextSource;
use dynwalk_analyzer::scope::{next_words, Origin};
use dynwalk_analyzer::Config;
use rayon::prelude::*;

use crate::cache::{Cache, Manifest};
use crate::error::CliError;
use crate::source::{FileMeta, TreeSource};

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The tree's text, searched for whole identifiers, with the answers memoized per word.
/// [`TreeText::prepare`] gives every file a Bloom filter of its identifiers (stored in
/// the cache, `text.bin`), so a search reads only the files that may mention a word.
pub struct TreeText {
    pub source: Arc<TreeSource>,
    pub files: Vec<FileMeta>,
    memo: Mutex<HashMap<String, Vec<FileText>>>,
    index: std::sync::OnceLock<Vec<TextEntry>>,
}

/// One file's identifiers as a Bloom filter (four probes, 32-64 bits per identifier:
/// about one false positive in 5,000 per word), and the paths its `#include`s name.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct TextEntry {
    pub path: String,
    pub size: u64,
    pub mtime_ns: u128,
    bits: Vec<u64>,
    pub includes: Vec<String>,
}

/// Bytes of identifiers, as a table (the scan below is the hot loop of a cold plan).
const IDENT: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = (b as u8).is_ascii_alphanumeric() || b == b'_' as usize;
        b += 1;
    }
    t
};

/// A fast multiplicative hash of an identifier, finished with a mix so that both halves
/// of the result are usable as Bloom probes.
fn ident_hash(w: &[u8]) -> u64 {
    let mut h: u64 = 0;
    for &b in w {
        h = (h.rotate_left(5) ^ b as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    h ^= h >> 29;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^ (h >> 32)
}

impl TextEntry {
    fn of(meta: &FileMeta, text: &[u8]) -> TextEntry {
        let mut hashes: Vec<u64> = Vec::with_capacity(text.len() / 16);
        let mut i = 0;
        while i < text.len() {
            if IDENT[text[i] as usize] {
                let start = i;
                while i < text.len() && IDENT[text[i] as usize] {
                    i += 1;
                }
                if !text[start].is_ascii_digit() {
                    hashes.push(ident_hash(&text[start..i]));
                }
            } else {
                i += 1;
            }
        }
        hashes.sort_unstable();
        hashes.dedup();
        let words = (hashes.len() * 32 / 64).next_power_of_two().max(16);
        let mut e = TextEntry {
            path: meta.rel.clone(),
            size: meta.size,
            mtime_ns: meta.stamp,
            bits: vec![0; words],
            includes: include_paths(text),
        };
        for h in hashes {
            for p in e.probes(h) {
                e.bits[p / 64] |= 1 << (p % 64);
            }
        }
        e
    }

    fn probes(&self, h: u64) -> [usize; 4] {
        let m = self.bits.len() * 64;
        let (a, b) = (h as usize, ((h >> 32) as usize) | 1);
        [0usize, 1, 2, 3].map(|i| a.wrapping_add(i.wrapping_mul(b)) & (m - 1))
    }

    fn may_contain(&self, h: u64) -> bool {
        !self.bits.is_empty() && self.probes(h).iter().all(|&p| self.bits[p / 64] & (1 << (p % 64)) != 0)
    }
}

/// A file's path and bytes.
type FileText = (String, Arc<[u8]>);

/// One file's hits in a scan.
struct Hit {
    file: usize,
    bytes: Arc<[u8]>,
    words: Vec<usize>,
}

impl TreeText {
    pub fn new(source: Arc<TreeSource>, files: Vec<FileMeta>) -> TreeText {
        TreeText { source, files, memo: Mutex::new(HashMap::new()), index: std::sync::OnceLock::new() }
    }

    /// Builds the per-file filters, reusing `stored` entries whose size and mtime still
    /// match; returns how many files were read, and the index if any was (to be stored).
    pub fn prepare(&self, stored: Vec<TextEntry>) -> (usize, Option<&[TextEntry]>) {
        let mut old: HashMap<String, TextEntry> = stored.into_iter().map(|e| (e.path.clone(), e)).collect();
        let reuse: Vec<Option<TextEntry>> = self
            .files
            .iter()
            .map(|m| old.remove(&m.rel).filter(|e| e.size == m.size && e.mtime_ns == m.stamp))
            .collect();
        let read = reuse.iter().filter(|e| e.is_none()).count();
        let entries: Vec<TextEntry> = self
            .files
            .par_iter()
            .zip(reuse)
            .map(|(m, e)| match e {
                Some(e) => e,
                None => match self.source.read(&m.rel) {
                    Ok(bytes) => TextEntry::of(m, &bytes),
                    // Unreadable: an empty filter that matches nothing, not stored as current.
                    Err(_) => {
                        TextEntry { path: m.rel.clone(), size: 0, mtime_ns: 0, bits: Vec::new(), includes: vec![] }
                    }
                },
            })
            .collect();
        let _ = self.index.set(entries);
        (read, (read > 0).then(|| self.index.get().map(|v| v.as_slice())).flatten())
    }

    /// Every include path named in the tree.
    pub fn includes(&self) -> Vec<String> {
        let mut v: Vec<String> =
            self.index.get().map(|x| x.iter().flat_map(|e| e.includes.iter().cloned()).collect()).unwrap_or_default();
        v.sort();
        v.dedup();
        v
    }

    /// Which of `words` each file not in `skip` mentions as a whole identifier (the
    /// filters choose which files to read, a search of their text decides).
    fn scan(&self, words: &[String], skip: &HashSet<usize>) -> Result<Vec<Hit>, CliError> {
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(words)
            .map_err(|e| CliError::Input(format!("cannot search for {} names: {e}", words.len())))?;
        let hashes: Vec<u64> = words.iter().map(|w| ident_hash(w.as_bytes())).collect();
        let index = self.index.get();
        let hits: Vec<Option<Hit>> = (0..self.files.len())
            .into_par_iter()
            .filter(|i| !skip.contains(i) && index.is_none_or(|x| hashes.iter().any(|&h| x[*i].may_contain(h))))
            .map(|i| {
                let bytes = self.source.read(&self.files[i].rel).ok()?;
                let mut found = BTreeSet::new();
                for m in ac.find_overlapping_iter(&bytes[..]) {
                    let before = m.start().checked_sub(1).map(|k| bytes[k]);
                    let after = bytes.get(m.end()).copied();
                    if !before.is_some_and(is_ident) && !after.is_some_and(is_ident) {
                        found.insert(m.pattern().as_usize());
                    }
                }
                (!found.is_empty()).then(|| Hit {
                    file: i,
                    bytes: Arc::from(bytes),
                    words: found.into_iter().collect(),
                })
            })
            .collect();
        Ok(hits.into_iter().flatten().collect())
    }

    /// Memoizes the answers for `words[from..]` (`hits` of a scan of every file for `words`).
    fn remember(&self, words: &[String], from: usize, hits: &[Hit]) {
        let mut per: Vec<Vec<FileText>> = vec![Vec::new(); words.len()];
        for h in hits {
            for &w in h.words.iter().filter(|&&w| w >= from) {
                per[w].push((self.files[h.file].rel.clone(), h.bytes.clone()));
            }
        }
        if let Ok(mut m) = self.memo.lock() {
            for (w, v) in words.iter().zip(per).skip(from) {
                m.insert(w.clone(), v);
            }
        }
    }
}

impl TextSource for TreeText {
    fn read(&self, path: &str) -> Option<Arc<[u8]>> {
        self.source.read(path).ok().map(Arc::from)
    }

    fn files_mentioning(&self, word: &str) -> Vec<(String, Arc<[u8]>)> {
        if let Some(v) = self.memo.lock().ok().and_then(|m| m.get(word).cloned()) {
            return v;
        }
        let words = [word.to_string()];
        let Ok(hits) = self.scan(&words, &HashSet::new()) else { return Vec::new() };
        self.remember(&words, 0, &hits);
        hits.into_iter().map(|h| (self.files[h.file].rel.clone(), h.bytes)).collect()
    }

    fn headers_mentioning(&self, name: &str) -> Vec<(String, Arc<[u8]>)> {
        if let Some(v) = self.memo.lock().ok().and_then(|m| m.get(name).cloned()) {
            return v.into_iter().filter(|(p, _)| p.ends_with(".h")).collect();
        }
        // Only headers are read: a macro used by thousands of `.c` files is defined in a few.
        let skip: HashSet<usize> =
            self.files.iter().enumerate().filter(|(_, f)| !f.rel.ends_with(".h")).map(|(i, _)| i).collect();
        let Ok(hits) = self.scan(&[name.to_string()], &skip) else { return Vec::new() };
        hits.into_iter().map(|h| (self.files[h.file].rel.clone(), h.bytes)).collect()
    }
}

/// The paths named by `#include` lines (either form), as written.
fn include_paths(text: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for at in memchr::memmem::find_iter(text, b"include") {
        let line_start = text[..at].iter().rposition(|&b| b == b'\n').map(|k| k + 1).unwrap_or(0);
        let head = &text[line_start..at];
        if !(head.iter().all(|b| *b == b' ' || *b == b'\t' || *b == b'#') && head.contains(&b'#')) {
            continue;
        }
        let rest = &text[at + 7..];
        let rest = &rest[rest.iter().position(|b| *b != b' ' && *b != b'\t').unwrap_or(rest.len())..];
        let close = match rest.first() {
            Some(b'<') => b'>',
            Some(b'"') => b'"',
            _ => continue,
        };
        if let Some(end) = rest[1..].iter().position(|&b| b == close || b == b'\n') {
            if rest[1 + end] == close {
                out.push(String::from_utf8_lossy(&rest[1..1 + end]).into_owned());
            }
        }
    }
    out
}

/// What the scoped load did, for `--stats` and the benchmark.
#[derive(Debug, Default, serde::Serialize)]
pub struct ScopeStats {
    pub tree_files: usize,
    pub loaded_files: usize,
    pub from_cache: usize,
    pub parsed: usize,
    pub rounds: usize,
    pub words: usize,
    /// Listing the tree, and reading (or building) the text index and the manifest.
    pub prepare_ms: u128,
    pub scan_ms: u128,
    pub load_ms: u128,
    pub graph_ms: u128,
    /// Deriving the plan from the loaded part.
    pub plan_ms: u128,
}

/// Facts from the index cache, read entry by entry (positional reads of the blob).
struct CachedFacts {
    entries: HashMap<String, (u64, u128, u64, u64)>,
    blob: Option<std::fs::File>,
}

impl CachedFacts {
    fn open(cache: Option<(Cache, Manifest)>) -> CachedFacts {
        let Some((c, m)) = cache else { return CachedFacts { entries: HashMap::new(), blob: None } };
        let blob = std::fs::File::open(c.dir.join(&m.blob)).ok();
        let entries = m.entries.into_iter().map(|e| (e.path, (e.size, e.mtime_ns, e.offset, e.len))).collect();
        CachedFacts { entries, blob }
    }

    fn get(&self, meta: &FileMeta) -> Option<FileFacts> {
        use std::os::unix::fs::FileExt;
        let &(size, stamp, off, len) = self.entries.get(&meta.rel)?;
        if size != meta.size || stamp != meta.stamp {
            return None;
        }
        let mut buf = vec![0u8; len as usize];
        self.blob.as_ref()?.read_exact_at(&mut buf, off).ok()?;
        postcard::from_bytes(&buf).ok()
    }
}

/// Where a scoped load starts.
pub struct Start<'a> {
    /// The names the plan starts from (`dynwalk_analyzer::scope::seed_words`).
    pub seeds: BTreeSet<String>,
    /// Names whose clone chains are followed at any depth (`scope::chain_seeds`).
    pub chains: BTreeSet<String>,
    /// Files loaded whatever they mention, with their facts: the patched files, whose
    /// old facts the caller has already extracted.
    pub must: Vec<(String, Arc<FileFacts>)>,
    /// Words whose files the plan will ask for later: searched in the first round.
    pub prefetch: &'a [&'a str],
    /// How many calls from the seeds callers are searched.
    pub depth: u32,
    /// The most files worth loading this way: past it, loading the whole tree at once
    /// costs less than more rounds (each round rebuilds the graph of what is loaded).
    pub budget: usize,
}

/// What a scoped load gives.
pub enum Scoped {
    Loaded(AnalysisDb, ScopeStats),
    /// The plan needs more than the budget: this many files at the round that stopped.
    TooLarge(usize),
}

/// Loads the part of the tree a plan starting from `start` needs: callers up to
/// `start.depth` calls away, and inlined callers and macros of clone chains at any depth.
/// `text` must list every file of the tree.
pub fn load_scoped(
    text: &TreeText,
    config: Option<&Config>,
    cache: Option<(Cache, Manifest)>,
    start: Start<'_>,
) -> Result<Scoped, CliError> {
    let Start { seeds, chains: chain_seeds, must, prefetch, depth, budget } = start;
    let mut stats = ScopeStats { tree_files: text.files.len(), ..Default::default() };
    let cached = CachedFacts::open(cache);
    let index: HashMap<&str, usize> = text.files.iter().enumerate().map(|(i, f)| (f.rel.as_str(), i)).collect();
    let mut db = AnalysisDb::new(config.cloned());
    db.set_known_includes(text.includes());
    let mut loaded: HashMap<usize, Arc<FileFacts>> =
        must.into_iter().filter_map(|(p, f)| index.get(p.as_str()).map(|&i| (i, f))).collect();
    stats.parsed = loaded.len();
    let mut searched: BTreeSet<String> = BTreeSet::new();
    // Each name's distance in calls from the seeds, and the names searched at any depth.
    let mut dist: BTreeMap<String, u32> = seeds.iter().map(|s| (s.clone(), 0)).collect();
    let mut always: BTreeSet<String> = chain_seeds;
    let seed_set = seeds.clone();
    let mut frontier = seeds;
    let mut pending: Vec<(usize, Option<Arc<[u8]>>)> = Vec::new();
    let mut first = true;
    loop {
        // Search the files not yet loaded for the new names.
        let t0 = Instant::now();
        // Keys `name@file.c` need no search: that file holds all their callers.
        let mut words: Vec<String> = frontier.iter().filter(|w| !w.contains('@')).cloned().collect();
        let n = words.len();
        if first {
            words.extend(prefetch.iter().map(|w| w.to_string()));
        }
        if !words.is_empty() {
            // The first round searches every file: it also answers the prefetched words.
            let skip: HashSet<usize> = if first { HashSet::new() } else { loaded.keys().copied().collect() };
            let hits = text.scan(&words, &skip)?;
            if first {
                text.remember(&words, n, &hits);
            }
            pending
                .extend(hits.into_iter().filter(|h| h.words.iter().any(|&w| w < n)).map(|h| (h.file, Some(h.bytes))));
        }
        stats.scan_ms += t0.elapsed().as_millis();
        searched.extend(std::mem::take(&mut frontier));
        first = false;
        pending.sort_by_key(|p| p.0);
        pending.dedup_by_key(|p| p.0);
        pending.retain(|p| !loaded.contains_key(&p.0));
        if loaded.len() + pending.len() > budget {
            return Ok(Scoped::TooLarge(loaded.len() + pending.len()));
        }
        // Load them: from the cache when it is current, else parse.
        let t1 = Instant::now();
        let new: Vec<Result<(usize, FileFacts, bool), CliError>> = std::mem::take(&mut pending)
            .into_par_iter()
            .map(|(i, bytes)| {
                let meta = &text.files[i];
                if let Some(f) = cached.get(meta) {
                    return Ok((i, f, true));
                }
                let bytes = match bytes {
                    Some(b) => b,
                    None => Arc::from(text.source.read(&meta.rel)?),
                };
                Ok((i, dynwalk_analyzer::extract(&bytes, config), false))
            })
            .collect();
        let mut added = 0;
        for r in new {
            let (i, f, hit) = r?;
            if hit {
                stats.from_cache += 1;
            } else {
                stats.parsed += 1;
            }
            loaded.insert(i, Arc::new(f));
            added += 1;
        }
        stats.load_ms += t1.elapsed().as_millis();
        stats.rounds += 1;
        if added > 0 || stats.rounds == 1 {
            let files: Vec<(String, Contents)> =
                loaded.iter().map(|(&i, f)| (text.files[i].rel.clone(), Contents::Facts(f.clone()))).collect();
            db.set_files(files);
        }
        let t2 = Instant::now();
        for (name, origin) in next_words(&db, &searched, &seed_set) {
            // A clone chain climbs from a changed inline or macro through inlined callers
            // and macros, at any depth; everything else is bounded by `depth`.
            let d = match &origin {
                Origin::Caller { of, inlined } => {
                    if *inlined && always.contains(of) {
                        always.insert(name.clone());
                    }
                    dist.get(of).copied().unwrap_or(0) + 1
                }
                Origin::Macro { of } => {
                    if always.contains(of) {
                        always.insert(name.clone());
                    }
                    dist.get(of).copied().unwrap_or(0)
                }
            };
            let e = dist.entry(name).or_insert(d);
            *e = (*e).min(d);
        }
        frontier = dist
            .iter()
            .filter(|(w, &d)| !searched.contains(*w) && (d < depth || always.contains(*w)))
            .map(|(w, _)| w.clone())
            .collect();
        stats.graph_ms += t2.elapsed().as_millis();
        if frontier.is_empty() {
            break;
        }
    }
    stats.loaded_files = loaded.len();
    stats.words = searched.len();
    Ok(Scoped::Loaded(db, stats))
}
