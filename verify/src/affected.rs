//! Which objects a patch can affect: the `.c` files it touches, and for each header it
//! touches the `.c` files that include it, directly or through other headers (a lexical
//! `#include` scan of the tree), limited to files built for x86-64 under the .config and
//! capped per patch (the cap is reported, never silent).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

use crate::configured::{is_built, Built};

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Affected {
    /// `.c` files to compile, in the order chosen (touched first, then includers).
    pub sources: Vec<String>,
    /// `.c` files skipped, with why (not built under this .config, over the cap).
    pub skipped: Vec<(String, String)>,
    /// Per touched header: how many built `.c` files include it, and how many were kept.
    pub header_fanout: Vec<(String, usize, usize)>,
}

/// `touched`: every path the patch changes (any kind). `cap`: at most this many
/// includers of headers in all.
pub fn affected_sources(tree: &Path, config: &BTreeMap<String, String>, touched: &[String], cap: usize) -> Affected {
    let mut a = Affected::default();
    // Headers, and `.c` files that are not objects themselves but may be included by one
    // (kernel/sched/build_utility.c includes autogroup.c).
    let mut headers: Vec<&String> = touched.iter().filter(|t| t.ends_with(".h")).collect();
    let mut unbuilt = Vec::new();
    for t in touched.iter().filter(|t| t.ends_with(".c")) {
        match is_built(tree, config, t) {
            Built::Yes => a.sources.push(t.clone()),
            Built::No(why) => {
                headers.push(t);
                unbuilt.push((t.clone(), why));
            }
        }
    }
    if headers.is_empty() {
        return a;
    }
    let graph = IncludeGraph::scan(tree);
    for (t, why) in unbuilt {
        if graph.includers_of(&t).is_empty() {
            a.skipped.push((t, why));
        }
    }
    let mut budget = cap;
    for h in headers {
        let mut includers: Vec<(usize, String)> = graph
            .includers_of(h)
            .into_iter()
            .filter(|(_, c)| !a.sources.contains(c) && is_built(tree, config, c) == Built::Yes)
            .map(|(depth, c)| (depth * 100 + distance(h, &c), c))
            .collect();
        includers.sort();
        let total = includers.len();
        let keep = total.min(budget);
        budget -= keep;
        for (i, (_, c)) in includers.into_iter().enumerate() {
            if i < keep {
                a.sources.push(c);
            } else if i < keep + 20 {
                a.skipped.push((c, format!("over the cap of {cap} includers of changed headers")));
            }
        }
        a.header_fanout.push((h.clone(), total, keep));
    }
    a
}

/// How far apart two paths are: components not shared with the header's folder.
fn distance(header: &str, c: &str) -> usize {
    let hs: Vec<&str> = header.split('/').collect();
    let cs: Vec<&str> = c.split('/').collect();
    let common = hs.iter().zip(&cs).take_while(|(x, y)| x == y).count();
    (hs.len() - common) + (cs.len() - common)
}

/// Who includes whom, by path, for the `.c` and `.h` files of the tree.
pub struct IncludeGraph {
    /// header path -> files that include it.
    included_by: BTreeMap<String, BTreeSet<String>>,
}

impl IncludeGraph {
    pub fn scan(tree: &Path) -> IncludeGraph {
        let mut files = Vec::new();
        walk(tree, "", &mut files);
        let known: BTreeSet<&str> = files.iter().map(String::as_str).collect();
        let mut included_by: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for f in &files {
            let Ok(bytes) = std::fs::read(tree.join(f)) else { continue };
            for spec in includes(&bytes) {
                if let Some(h) = resolve(f, &spec, &known) {
                    included_by.entry(h).or_default().insert(f.clone());
                }
            }
        }
        IncludeGraph { included_by }
    }

    /// The `.c` files reaching `header`, with their include depth (1: direct).
    pub fn includers_of(&self, header: &str) -> Vec<(usize, String)> {
        let mut seen = BTreeSet::from([header.to_string()]);
        let mut queue = VecDeque::from([(header.to_string(), 0usize)]);
        let mut out = Vec::new();
        while let Some((h, d)) = queue.pop_front() {
            for f in self.included_by.get(&h).into_iter().flatten() {
                if seen.insert(f.clone()) {
                    if f.ends_with(".c") {
                        out.push((d + 1, f.clone()));
                    } else {
                        queue.push_back((f.clone(), d + 1));
                    }
                }
            }
        }
        out
    }
}

fn walk(tree: &Path, rel: &str, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(tree.join(rel)) else { return };
    let mut entries: Vec<_> = rd.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            let skip = name.starts_with('.')
                || rel.is_empty() && matches!(name.as_str(), "tools" | "Documentation" | "scripts" | "samples")
                || rel == "arch" && name != "x86";
            if !skip {
                walk(tree, &path, out);
            }
        } else if ft.is_file() && (name.ends_with(".c") || name.ends_with(".h")) {
            out.push(path);
        }
    }
}

/// The `#include` specs of a file: `<linux/x.h>` kept with its brackets, `"x.h"` with quotes.
fn includes(bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for line in bytes.split(|&b| b == b'\n') {
        let l = line.trim_ascii_start();
        let Some(rest) = l.strip_prefix(b"#") else { continue };
        let Some(rest) = rest.trim_ascii_start().strip_prefix(b"include") else { continue };
        let rest = rest.trim_ascii();
        let close = match rest.first() {
            Some(b'<') => b'>',
            Some(b'"') => b'"',
            _ => continue,
        };
        if let Some(end) = rest[1..].iter().position(|&b| b == close) {
            out.push(String::from_utf8_lossy(&rest[..end + 2]).into_owned());
        }
    }
    out
}

fn resolve(from: &str, spec: &str, known: &BTreeSet<&str>) -> Option<String> {
    let inner = &spec[1..spec.len() - 1];
    if spec.starts_with('"') {
        let dir = from.rsplit_once('/').map_or("", |(d, _)| d);
        let joined = normalize(&format!("{dir}/{inner}"));
        if known.contains(joined.as_str()) {
            return Some(joined);
        }
    }
    ["include", "arch/x86/include", "include/uapi", "arch/x86/include/uapi"]
        .iter()
        .map(|base| format!("{base}/{inner}"))
        .find(|p| known.contains(p.as_str()))
}

fn normalize(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}
