//! Call-edge accuracy of the tree-sitter analyzer against clang, on real Linux 6.1 files
//! compiled with Debian's flags (see docs/accuracy-method.md).
//!
//!   dynwalk-accuracy <tree> <file.c>...
//!
//! For each file: the set of (caller, callee) pairs clang sees for direct calls (written
//! or produced by macros) in the file's function definitions, against the pairs dynwalk
//! derives (direct calls, calls resolved through macro bodies, calls of names the tree
//! never declares). Indirect calls are left out of both. Prints precision and recall per
//! file and overall, and the most frequent misses and extras.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use dynwalk_analyzer::db::{file_facts, AnalysisDb, Contents};
use dynwalk_analyzer::query;
use rayon::prelude::*;

fn clang_flags(tree: &Path, file: &Path) -> Result<Vec<String>, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/clang-flags.sh");
    let out = Command::new("bash").arg(script).arg(tree).arg(file).output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout).lines().map(|l| l.to_string()).collect())
}

fn is_builtin(name: &str) -> bool {
    name.starts_with("__builtin") || name.starts_with("__compiletime_assert") || name.starts_with("__sanitizer")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: dynwalk-accuracy <tree> <file.c>...");
        std::process::exit(2);
    }
    let tree = PathBuf::from(&args[0]);
    let samples: Vec<String> = args[1..].to_vec();
    let kver_cfg = std::fs::read_dir("/lib/modules")
        .ok()
        .and_then(|mut d| d.find_map(|e| e.ok().map(|e| e.path().join("build/.config")).filter(|p| p.exists())));
    let config =
        kver_cfg.as_ref().and_then(|p| std::fs::read_to_string(p).ok()).map(|t| dynwalk_analyzer::Config::parse(&t));
    eprintln!("config: {}", kver_cfg.map(|p| p.display().to_string()).unwrap_or_else(|| "none".into()));

    // The analyzer sees the generic and x86 headers plus the samples' folders.
    let mut parts: Vec<String> = vec![
        "include".into(),
        "arch/x86/include".into(),
        "kernel".into(),
        "mm".into(),
        "lib".into(),
        "arch/x86/lib".into(),
    ];
    for s in &samples {
        if let Some((dir, _)) = s.rsplit_once('/') {
            parts.push(dir.to_string());
        }
    }
    parts.sort();
    parts.dedup();
    let part_refs: Vec<&str> = parts.iter().map(|s| s.as_str()).collect();
    let files = dynwalk_tests::files_under(&tree, &part_refs);
    let t0 = std::time::Instant::now();
    let contents: Vec<(String, Contents)> = files
        .par_iter()
        .map(|rel| {
            let bytes = std::fs::read(tree.join(rel)).unwrap_or_default();
            (rel.clone(), Contents::Facts(Arc::new(dynwalk_analyzer::extract(&bytes, config.as_ref()))))
        })
        .collect();
    let mut db = AnalysisDb::new(config.clone());
    db.set_files(contents);
    db.analyze_all();
    eprintln!("analyzer: {} files in {:.1} s", files.len(), t0.elapsed().as_secs_f64());

    let (mut tp, mut n_ours, mut n_clang) = (0usize, 0usize, 0usize);
    let mut missed: BTreeMap<String, usize> = BTreeMap::new();
    let mut extra: BTreeMap<String, usize> = BTreeMap::new();
    println!("{:<34} {:>6} {:>6} {:>6} {:>9} {:>7}", "file", "clang", "ours", "both", "precision", "recall");
    for s in &samples {
        let flags = match clang_flags(&tree, &tree.join(s)) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("{s}: no flags: {e}");
                continue;
            }
        };
        let clang = match dynwalk_clangref::call_edges(&tree.join(s), &flags) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{s}: clang failed: {e}");
                continue;
            }
        };
        // Compare only functions both sides define (clang also sees the
        // `__do_sys_x`/`__x64_sys_x` wrappers a SYSCALL_DEFINE expands to).
        let Some(file) = db.files().iter().find(|f| f.path(&db) == s).copied() else { continue };
        let facts = file_facts(&db, file);
        let our_fns: BTreeSet<String> = facts.functions.iter().map(|f| facts.name(f.name).to_string()).collect();
        let alias = |n: &str| n.strip_prefix("__do_sys_").map(|x| format!("sys_{x}")).unwrap_or_else(|| n.to_string());
        let cset: BTreeSet<(String, String)> = clang
            .calls
            .iter()
            .filter(|c| !c.indirect && !is_builtin(&c.callee))
            .map(|c| (alias(&c.caller), c.callee.clone()))
            .filter(|(a, _)| our_fns.contains(a))
            .collect();
        let clang_fns: BTreeSet<String> = clang.functions.iter().map(|f| alias(&f.name)).collect();
        let mut oset = BTreeSet::new();
        for name in our_fns.iter().filter(|n| clang_fns.contains(*n)) {
            for def in query::callees(&db, name).into_iter().filter(|d| d.file == *s) {
                for c in def.calls.into_iter().filter(|c| c.how != "indirect" && !is_builtin(&c.callee)) {
                    oset.insert((name.clone(), c.callee));
                }
            }
        }
        let both = cset.intersection(&oset).count();
        for (_, c) in cset.difference(&oset) {
            *missed.entry(c.clone()).or_default() += 1;
        }
        for (_, c) in oset.difference(&cset) {
            *extra.entry(c.clone()).or_default() += 1;
        }
        let p = both as f64 / oset.len().max(1) as f64;
        let r = both as f64 / cset.len().max(1) as f64;
        println!("{s:<34} {:>6} {:>6} {:>6} {:>9.3} {:>7.3}", cset.len(), oset.len(), both, p, r);
        tp += both;
        n_ours += oset.len();
        n_clang += cset.len();
    }
    println!(
        "TOTAL edges: clang {n_clang}, dynwalk {n_ours}, both {tp}: precision {:.4}, recall {:.4}",
        tp as f64 / n_ours.max(1) as f64,
        tp as f64 / n_clang.max(1) as f64
    );
    let top = |m: &BTreeMap<String, usize>| {
        let mut v: Vec<_> = m.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        v.into_iter().take(15).map(|(k, n)| format!("{k}({n})")).collect::<Vec<_>>().join(" ")
    };
    println!("most missed callees: {}", top(&missed));
    println!("most extra callees:  {}", top(&extra));
}
