//! Test helpers: load a fixture tree (or an inline multi-file fixture) into a database.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dynwalk_analyzer::db::{AnalysisDb, Contents};
use dynwalk_analyzer::Config;

pub fn mini() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpora/mini")
}

pub fn read_tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if matches!(p.extension().and_then(|x| x.to_str()), Some("c" | "h")) {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

pub fn db_of(files: Vec<(String, Vec<u8>)>, config: Option<Config>) -> AnalysisDb {
    let mut db = AnalysisDb::new(config);
    db.set_files(files.into_iter().map(|(p, b)| (p, Contents::Text(Arc::from(b)))).collect());
    db
}

pub fn mini_db(with_config: bool) -> AnalysisDb {
    let cfg = with_config.then(|| Config::parse(&std::fs::read_to_string(mini().join(".config")).unwrap()));
    db_of(read_tree(&mini()), cfg)
}

/// Parses `//- path` separated multi-file fixtures.
pub fn fixture(text: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for line in text.lines() {
        if let Some(p) = line.strip_prefix("//- ") {
            out.push((p.trim().to_string(), Vec::new()));
        } else if let Some(last) = out.last_mut() {
            last.1.extend_from_slice(line.as_bytes());
            last.1.push(b'\n');
        }
    }
    out
}
