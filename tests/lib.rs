//! Helpers for tests on real kernel trees. The trees are not in the repository:
//! `scripts/fetch-corpora.sh` puts them under `$XDG_CACHE_HOME/dynwalk/` (see
//! docs/corpora.md). A test that needs a missing tree fails and says how to get it.

pub mod edges;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dynwalk_analyzer::db::{AnalysisDb, Contents};
use rayon::prelude::*;

/// The unpacked Debian linux-source-6.1 tree.
pub fn linux61() -> PathBuf {
    let root = std::env::var_os("DYNWALK_LINUX_6_1").map(PathBuf::from).unwrap_or_else(|| {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache"));
        cache.join("dynwalk/linux-6.1")
    });
    assert!(
        root.join(".unpacked").exists(),
        "the Linux 6.1 tree is missing at {}: run scripts/fetch-corpora.sh first",
        root.display()
    );
    root
}

/// Every .c/.h file under the given folders (and single files) of `root`, relative, sorted.
pub fn files_under(root: &Path, parts: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for part in parts {
        let p = root.join(part);
        if p.is_file() {
            out.push(part.to_string());
            continue;
        }
        let mut stack = vec![p];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else { continue };
            for e in rd.flatten() {
                let path = e.path();
                if path.is_dir() {
                    stack.push(path);
                } else if matches!(path.extension().and_then(|x| x.to_str()), Some("c" | "h")) {
                    out.push(path.strip_prefix(root).unwrap().to_string_lossy().into_owned());
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// A database over those files of the tree, with all facts computed.
pub fn load(root: &Path, parts: &[&str]) -> AnalysisDb {
    let files = files_under(root, parts);
    let contents: Vec<(String, Contents)> = files
        .par_iter()
        .map(|rel| {
            let bytes = std::fs::read(root.join(rel)).unwrap_or_default();
            (rel.clone(), Contents::Facts(Arc::new(dynwalk_analyzer::extract(&bytes, None))))
        })
        .collect();
    let mut db = AnalysisDb::new(None);
    db.set_files(contents);
    db.analyze_all();
    db
}
