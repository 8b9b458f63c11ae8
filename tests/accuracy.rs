//! Call-edge accuracy of the tree-sitter analyzer against clang, on real Linux 6.1 files
//! compiled with Debian's flags (see docs/accuracy-method.md).
//!
//!   dynwalk-accuracy <tree> <file.c>...
//!
//! For each file: the (caller, callee) pairs clang sees for direct calls (written or
//! produced by macros) in every function definition of the file, against the pairs dynwalk
//! derives (direct calls, calls resolved through macro bodies, calls of names the tree
//! never declares). A function clang defines and dynwalk does not contributes all its
//! edges as misses (`edges::count`). Indirect calls are left out of both. Prints precision
//! and recall per file and overall, a row for each file that could not be measured (no
//! flags, clang failed) with the TOTAL saying how many of the files counted, and the most
//! frequent misses and extras.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use dynwalk_analyzer::db::{file_facts, AnalysisDb, Contents};
use dynwalk_analyzer::query;
use dynwalk_tests::edges::{self, Edges, Total};
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

    let mut total = Total::default();
    let mut missed: BTreeMap<String, usize> = BTreeMap::new();
    let mut extra: BTreeMap<String, usize> = BTreeMap::new();
    println!(
        "{:<34} {:>6} {:>6} {:>6} {:>6} {:>6} {:>9} {:>7}",
        "file", "fns", "missed", "clang", "ours", "both", "precision", "recall"
    );
    for s in &samples {
        let flags = match clang_flags(&tree, &tree.join(s)) {
            Ok(f) => f,
            Err(e) => {
                skip(&mut total, s, &format!("no flags: {e}"));
                continue;
            }
        };
        let clang = match dynwalk_clangref::call_edges(&tree.join(s), &flags) {
            Ok(c) => c,
            Err(e) => {
                skip(&mut total, s, &format!("clang failed: {e}"));
                continue;
            }
        };
        let Some(file) = db.files().iter().find(|f| f.path(&db) == s).copied() else {
            skip(&mut total, s, "the analyzer did not load it");
            continue;
        };
        // dynwalk names a SYSCALL_DEFINE's body `sys_x` (COMPAT_SYSCALL_DEFINE's
        // `compat_sys_x`), clang `__do_sys_x` (`__do_compat_sys_x`); clang's other wrappers
        // of it (`__se_sys_x`, `__x64_sys_x`, ...) are functions dynwalk misses.
        let alias = |n: &str| match n.strip_prefix("__do_") {
            Some(x) if x.starts_with("sys_") || x.starts_with("compat_sys_") => x.to_string(),
            _ => n.to_string(),
        };
        let mut cedges: Edges = clang.functions.iter().map(|f| (alias(&f.name), BTreeSet::new())).collect();
        for c in clang.calls.iter().filter(|c| !c.indirect && !is_builtin(&c.callee)) {
            cedges.entry(alias(&c.caller)).or_default().insert(c.callee.clone());
        }
        let facts = file_facts(&db, file);
        let mut oedges = Edges::new();
        for f in &facts.functions {
            let name = facts.name(f.name).to_string();
            let calls = query::callees(&db, &name).into_iter().filter(|d| d.file == *s).flat_map(|d| d.calls);
            let callees = calls.filter(|c| c.how != "indirect" && !is_builtin(&c.callee)).map(|c| c.callee);
            oedges.entry(name).or_default().extend(callees);
        }
        let c = edges::count(&cedges, &oedges);
        for (_, callee) in &c.missed {
            *missed.entry(callee.clone()).or_default() += 1;
        }
        for (_, callee) in &c.extra {
            *extra.entry(callee.clone()).or_default() += 1;
        }
        println!(
            "{s:<34} {:>6} {:>6} {:>6} {:>6} {:>6} {:>9.3} {:>7.3}",
            c.clang_fns,
            c.missed_fns.len(),
            c.clang,
            c.ours,
            c.both,
            edges::ratio(c.both, c.ours),
            edges::ratio(c.both, c.clang)
        );
        if !c.missed_fns.is_empty() {
            println!("  functions dynwalk missed: {}", c.missed_fns.join(" "));
        }
        if !c.ours_only_fns.is_empty() {
            println!("  functions only dynwalk defines (not counted): {}", c.ours_only_fns.join(" "));
        }
        if clang.diagnostics_errors > 0 {
            println!("  clang errors: {} (edges still counted)", clang.diagnostics_errors);
        }
        total.add(&c);
    }
    println!("{}", total.misses_line());
    println!("{}", total.line());
    let top = |m: &BTreeMap<String, usize>| {
        let mut v: Vec<_> = m.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        v.into_iter().take(15).map(|(k, n)| format!("{k}({n})")).collect::<Vec<_>>().join(" ")
    };
    println!("most missed callees: {}", top(&missed));
    println!("most extra callees:  {}", top(&extra));
    if total.files == 0 {
        std::process::exit(1);
    }
}

/// A file asked for but not measured: a row of the table, and the TOTAL says so.
fn skip(total: &mut Total, file: &str, why: &str) {
    let first = why.lines().find(|l| !l.trim().is_empty()).unwrap_or(why);
    println!("{file:<34} skipped: {first}");
    total.skip(file, first);
}
