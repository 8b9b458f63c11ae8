//! Trees read from a git revision, straight from the repository's objects.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn sh(dir: &Path, args: &[&str]) {
    let o = Command::new("git").current_dir(dir).args(args).output().unwrap();
    assert!(o.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// A repository whose tag `v2.4.20-mini` holds corpora/mini, and whose work tree was
/// changed afterwards (so a correct reader must use the objects, not the files).
fn repo() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    copy_dir(&root().join("corpora/mini"), d.path());
    sh(d.path(), &["init", "-q"]);
    sh(d.path(), &["add", "-A"]);
    sh(d.path(), &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "mini"]);
    sh(d.path(), &["tag", "v2.4.20-mini"]);
    std::fs::write(d.path().join("kernel/sched.c"), "/* the work tree moved on */\n").unwrap();
    d
}

fn dynwalk(args: &[&str], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dynwalk"))
        .current_dir(root())
        .args(args)
        .env("DYNWALK_CACHE_DIR", cache)
        .output()
        .unwrap()
}

#[test]
fn a_plan_from_a_git_revision_equals_the_plan_from_the_directory() {
    let r = repo();
    let cache = tempfile::tempdir().unwrap();
    let patch = "corpora/patches/mini/goodness-inline.diff";
    let from_dir = dynwalk(&["plan", "--from", "corpora/mini", "--patch", patch], cache.path());
    let repo = r.path().to_str().unwrap();
    let from_git = dynwalk(&["plan", "--from", "v2.4.20-mini", "--repo", repo, "--patch", patch], cache.path());
    assert!(from_git.status.success(), "{}", String::from_utf8_lossy(&from_git.stderr));
    assert_eq!(String::from_utf8_lossy(&from_dir.stdout), String::from_utf8_lossy(&from_git.stdout));
    assert!(String::from_utf8_lossy(&from_git.stdout).contains("clone schedule"));
}

#[test]
fn index_of_a_revision_is_cached_and_unknown_revisions_are_refused() {
    let r = repo();
    let cache = tempfile::tempdir().unwrap();
    let repo = r.path().to_str().unwrap();
    let first = dynwalk(&["index", "v2.4.20-mini", "--repo", repo, "--format", "json"], cache.path());
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let v: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(v["parsed_files"], 17);
    assert_eq!(v["counts"]["functions"], 49);
    let second = dynwalk(&["index", "v2.4.20-mini", "--repo", repo, "--format", "json"], cache.path());
    let w: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(w["parsed_files"], 0);
    let bad = dynwalk(&["index", "v9.9-nonexistent", "--repo", repo], cache.path());
    assert_eq!(bad.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("no such revision"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}
