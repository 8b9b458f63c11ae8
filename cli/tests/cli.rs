//! The `dynwalk` binary on the mini fixture tree: commands, formats, cache, exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn mini() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpora/mini")
}

fn run(args: &[&str], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dynwalk"))
        .args(args)
        .env("DYNWALK_CACHE_DIR", cache)
        .output()
        .expect("run dynwalk")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn second_index_run_reuses_every_file() {
    let cache = tempfile::tempdir().unwrap();
    let tree = mini();
    let t = tree.to_str().unwrap();
    let first = run(&["index", t, "--format", "json"], cache.path());
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let v: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(v["parsed_files"], 17);
    assert_eq!(v["counts"]["functions"].as_u64(), Some(49));
    let second = run(&["index", t, "--format", "json"], cache.path());
    let w: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(w["parsed_files"], 0, "an unchanged tree must not be parsed again");
    assert_eq!(w["cached_files"], 17);
    assert_eq!(v["counts"], w["counts"]);
    assert_eq!(v["graph"], w["graph"]);
}

#[test]
fn callers_prints_code_frames_and_json() {
    let cache = tempfile::tempdir().unwrap();
    let t = mini();
    let o = run(&["callers", "__wake_up", "--tree", t.to_str().unwrap()], cache.path());
    assert!(o.status.success());
    let s = stdout(&o);
    assert!(s.contains("  --> fs/pipe.c:49:2\n"), "{s}");
    assert!(s.contains("wake_up(&info->wait);"), "{s}");
    assert!(s.contains("pipe_write calls through macro wake_up __wake_up"), "{s}");
    let o = run(&["callers", "schedule", "--tree", t.to_str().unwrap(), "--format", "json"], cache.path());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let callers: Vec<&str> = v.as_array().unwrap().iter().map(|x| x["caller"].as_str().unwrap()).collect();
    assert_eq!(callers, vec!["pipe_read", "schedule_timeout", "schedule_timeout", "kswapd"]);
}

#[test]
fn callees_and_accesses() {
    let cache = tempfile::tempdir().unwrap();
    let t = mini();
    let t = t.to_str().unwrap();
    let o = run(&["callees", "kswapd", "--tree", t, "--format", "json"], cache.path());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let callees: Vec<&str> = v[0]["calls"].as_array().unwrap().iter().map(|x| x["callee"].as_str().unwrap()).collect();
    for want in ["get_current", "kswapd_balance", "add_wait_queue", "schedule", "remove_wait_queue"] {
        assert!(callees.contains(&want), "{want} missing from {callees:?}");
    }
    let o = run(&["accesses", "task_struct.mm", "--tree", t], cache.path());
    let s = stdout(&o);
    assert!(s.contains("write of struct task_struct.mm (->) in exit_mm"), "{s}");
    assert!(s.ends_with("7 accesses to struct task_struct.mm\n"), "{s}");
    // A typedef name works too.
    let o = run(&["accesses", "task_t.pid", "--tree", t, "--format", "json"], cache.path());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v.as_array().unwrap().iter().any(|a| a["function"] == "do_fork" && a["kind"] == "write"));
}

#[test]
fn bad_input_gets_documented_exit_codes() {
    let cache = tempfile::tempdir().unwrap();
    let t = mini();
    let t = t.to_str().unwrap();
    let o = run(&["index", "/nonexistent/tree"], cache.path());
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/tree"));
    let o = run(&["accesses", "no_such_struct", "--tree", t], cache.path());
    assert_eq!(o.status.code(), Some(4));
    let o = run(&["callees", "no_such_function", "--tree", t], cache.path());
    assert_eq!(o.status.code(), Some(4));
    let o = run(&["index", t, "--config", "/nonexistent/.config"], cache.path());
    assert_eq!(o.status.code(), Some(3));
    let notcfg = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(notcfg.path(), "hello\n").unwrap();
    let o = run(&["index", t, "--config", notcfg.path().to_str().unwrap()], cache.path());
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a kernel .config"));
    let o = run(&["frobnicate"], cache.path());
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_damaged_cache_is_rebuilt_not_trusted() {
    let cache = tempfile::tempdir().unwrap();
    let t = mini();
    let t = t.to_str().unwrap();
    assert!(run(&["index", t], cache.path()).status.success());
    let mut damaged = 0;
    for e in walk(cache.path()) {
        if e.file_name().unwrap().to_string_lossy().starts_with("facts-") {
            std::fs::write(&e, b"garbage").unwrap();
            damaged += 1;
        }
    }
    assert!(damaged > 0, "the index left a facts cache file to damage");
    // A query that needs the facts does not trust the damaged blob: it answers from the
    // tree, parsed again, and writes a whole cache back.
    let o = run(&["callers", "schedule", "--tree", t, "--format", "json"], cache.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 4);
    let facts: Vec<PathBuf> = walk(cache.path())
        .into_iter()
        .filter(|e| e.file_name().unwrap().to_string_lossy().starts_with("facts-"))
        .collect();
    assert!(!facts.is_empty(), "the facts cache is written again");
    for f in facts {
        assert_ne!(std::fs::read(&f).unwrap(), b"garbage", "{}: still the damaged bytes", f.display());
    }
}

fn walk(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[test]
fn dump_shows_the_rewritten_bytes_and_the_facts() {
    let cache = tempfile::tempdir().unwrap();
    let f = mini().join("fs/read_write.c");
    let o = run(&["dump", "rewritten", f.to_str().unwrap()], cache.path());
    let s = stdout(&o);
    assert!(s.contains("long sys_write(unsigned int fd, const char * buf, size_t count)"), "{s}");
    assert_eq!(o.stdout.len(), std::fs::read(&f).unwrap().len(), "the rewrite keeps every offset");
    let o = run(&["dump", "facts", f.to_str().unwrap()], cache.path());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["functions"].as_array().unwrap().len(), 3);
}

#[test]
fn two_runs_at_once_on_one_cache_both_succeed() {
    let cache = tempfile::tempdir().unwrap();
    let t = mini();
    let t = t.to_str().unwrap().to_string();
    let spawn = |t: &str| {
        Command::new(env!("CARGO_BIN_EXE_dynwalk"))
            .args(["index", t, "--format", "json"])
            .env("DYNWALK_CACHE_DIR", cache.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let kids: Vec<_> = (0..4).map(|_| spawn(&t)).collect();
    for k in kids {
        let o = k.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let o = run(&["index", &t, "--format", "json"], cache.path());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["parsed_files"], 0);
}
