//! `dynwalk plan` on the fixture patches of corpora/patches/mini: each plan is compared
//! with its text snapshot `<patch>.plan.txt` (UPDATE_SNAPSHOTS=1 rewrites them; review
//! the diff), and bad patches get their documented exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn plan(patch: &str, extra: &[&str]) -> Output {
    let cache = tempfile::tempdir().unwrap();
    let r = root();
    let mut args = vec!["plan", "--from", "corpora/mini", "--patch", patch];
    args.extend_from_slice(extra);
    Command::new(env!("CARGO_BIN_EXE_dynwalk"))
        .current_dir(&r)
        .args(&args)
        .env("DYNWALK_CACHE_DIR", cache.path())
        .output()
        .unwrap()
}

/// The fixture patches that apply (not the malformed or non-applying ones), sorted.
fn fixture_patches() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("corpora/patches/mini"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".diff") && !n.starts_with("does-not-apply") && !n.starts_with("malformed"))
        .collect();
    names.sort();
    names
}

#[test]
fn every_fixture_patch_matches_its_plan_snapshot() {
    let dir = root().join("corpora/patches/mini");
    let names = fixture_patches();
    assert!(names.len() >= 12, "{names:?}");
    let mut failures = Vec::new();
    for n in &names {
        let o = plan(&format!("corpora/patches/mini/{n}"), &[]);
        let code = o.status.code().unwrap();
        assert!(code == 0 || code == 1, "{n}: exit {code}: {}", String::from_utf8_lossy(&o.stderr));
        let got = format!("exit: {code}\n{}", String::from_utf8_lossy(&o.stdout));
        let snap = dir.join(n.replace(".diff", ".plan.txt"));
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&snap, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&snap).unwrap_or_default();
        if want != got {
            failures.push(format!("{n}: plan differs from {}:\n{got}", snap.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A scoped plan (the default: only the files that mention what the plan needs) equals
/// the plan over the whole tree, for every fixture patch; and the scoped load really
/// reads less than the tree when the change allows it.
#[test]
fn scoped_plans_equal_whole_tree_plans() {
    let names = fixture_patches();
    let mut scoped_smaller = 0;
    for n in &names {
        let p = format!("corpora/patches/mini/{n}");
        let scoped = plan(&p, &["--format", "json", "--stats"]);
        let whole = plan(&p, &["--format", "json", "--whole-tree"]);
        assert_eq!(
            String::from_utf8_lossy(&scoped.stdout),
            String::from_utf8_lossy(&whole.stdout),
            "{n}: the scoped plan differs from the whole-tree plan"
        );
        assert_eq!(scoped.status.code(), whole.status.code(), "{n}");
        let err = String::from_utf8_lossy(&scoped.stderr);
        let stats = err.lines().find_map(|l| l.strip_prefix("stats: ")).unwrap_or_else(|| panic!("{n}: {err}"));
        let s: serde_json::Value = serde_json::from_str(stats).unwrap();
        if s["mode"] == "scoped" && s["stats"]["loaded_files"].as_u64() < s["stats"]["tree_files"].as_u64() {
            scoped_smaller += 1;
        }
    }
    assert!(scoped_smaller >= 6, "only {scoped_smaller} of {} plans loaded part of the tree", names.len());
}

#[test]
fn json_plans_are_versioned_and_complete() {
    let o = plan("corpora/patches/mini/task-new-field.diff", &["--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["schema_version"], dynwalk_analyzer::plan::PLAN_VERSION);
    let p = &v["plan"];
    assert_eq!(p["redirections"][0]["place"]["function"], "do_fork");
    let shadow = &p["types"][0]["shadow"][0];
    assert_eq!(shadow["field"], "parent_pid");
    assert_eq!(shadow["rewrite"][0]["function"], "do_fork");
    assert_eq!(shadow["rewrite"][0]["kind"], "write");
}

#[test]
fn a_patch_that_does_not_apply_is_refused_naming_file_hunk_and_line() {
    let o = plan("corpora/patches/mini/does-not-apply.diff", &[]);
    assert_eq!(o.status.code(), Some(7));
    assert!(o.stdout.is_empty(), "nothing is written");
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("fs/pipe.c: hunk #1 (patch line 5) does not apply at line 42: line 43 is"), "{e}");
    // With --fuzz it still fails: the removed line differs, not just the context.
    let o = plan("corpora/patches/mini/does-not-apply.diff", &["--fuzz"]);
    assert_eq!(o.status.code(), Some(7));
}

#[test]
fn a_shifted_hunk_applies_at_its_offset_as_with_patch1_and_fuzz_needs_asking() {
    // patch(1) applies a hunk found a few lines away without any option, and says so.
    let text = std::fs::read_to_string(root().join("corpora/patches/mini/shrink-caches.diff")).unwrap();
    let shifted = text.replace("@@ -7,7 +7,7 @@", "@@ -10,7 +10,7 @@");
    assert_ne!(text, shifted, "the fixture's hunk header moved");
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), &shifted).unwrap();
    let o = plan(f.path().to_str().unwrap(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("note: mm/vmscan.c hunk #1 applied with offset -3 and fuzz 0"));
    // A context line that differs needs fuzz: refused unless asked.
    let fuzzy = shifted.replace(" static int kswapd_balance(void)", " static int kswapd_balance_renamed(void)");
    assert_ne!(fuzzy, shifted);
    std::fs::write(f.path(), &fuzzy).unwrap();
    let o = plan(f.path().to_str().unwrap(), &[]);
    assert_eq!(o.status.code(), Some(7), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stdout.is_empty());
    let o = plan(f.path().to_str().unwrap(), &["--fuzz"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("note: mm/vmscan.c hunk #1 applied with offset -3 and fuzz 1"));
}

#[test]
fn backup_names_in_the_headers_patch_the_file_the_tree_has() {
    // 2.4-era patches: `--- linux-2.4.20/mm/vmscan.c.orig` / `+++ linux/mm/vmscan.c`.
    let text = std::fs::read_to_string(root().join("corpora/patches/mini/shrink-caches.diff")).unwrap();
    let backup = text
        .replace("--- a/mm/vmscan.c", "--- linux-2.4.20/mm/vmscan.c.orig")
        .replace("+++ b/mm/vmscan.c", "+++ linux/mm/vmscan.c");
    assert_ne!(text, backup);
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), &backup).unwrap();
    let o = plan(f.path().to_str().unwrap(), &["--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["plan"]["redirections"][0]["place"]["function"], "shrink_caches");
    // Names the tree has none of: refused, naming them.
    let none = backup.replace("linux/mm/vmscan.c", "linux/mm/vmscan2.c");
    std::fs::write(f.path(), &none).unwrap();
    let o = plan(f.path().to_str().unwrap(), &[]);
    assert_eq!(o.status.code(), Some(7));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("mm/vmscan.c.orig, mm/vmscan2.c"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn a_loop_its_body_can_leave_may_block_but_returns() {
    // A signal-delivery style loop (2.4's do_signal): `for (;;)` around a sleep, left by
    // `return` or `break`. It returns once its task wakes: not a kernel thread's endless
    // loop, and a replaced function with it needs no loop extraction.
    let tree = tempfile::tempdir().unwrap();
    let k = tree.path().join("kernel");
    std::fs::create_dir_all(&k).unwrap();
    let src = "int pending;\nvoid schedule(void);\nint deliver(int s)\n{\n\treturn s + 1;\n}\n\
               int do_signal(int s)\n{\n\tfor (;;) {\n\t\tif (!pending)\n\t\t\treturn 0;\n\
               \t\tif (deliver(s))\n\t\t\tbreak;\n\t\tschedule();\n\t}\n\treturn 1;\n}\n";
    std::fs::write(k.join("signal.c"), src).unwrap();
    let patch = "--- a/kernel/signal.c\n+++ b/kernel/signal.c\n@@ -3,4 +3,4 @@\n int deliver(int s)\n {\n-\treturn s + 1;\n+\treturn s + 2;\n }\n";
    let pf = tree.path().join("p.diff");
    std::fs::write(&pf, patch).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_dynwalk"))
        .args(["plan", "--format", "json", "--from"])
        .arg(tree.path())
        .arg("--patch")
        .arg(&pf)
        .env("DYNWALK_CACHE_DIR", cache.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let nq = v["plan"]["quiescence"]["never_quiescent"].as_array().unwrap();
    let ds = nq.iter().find(|n| n["place"]["function"] == "do_signal").expect("do_signal is reported");
    let why = ds["why"].as_str().unwrap();
    assert!(why.starts_with("may block indefinitely"), "{why}");
    assert!(!why.contains("forever"), "{why}");
    assert_eq!(ds["needs"], "adaptive-cloning");
}

#[test]
fn malformed_patches_and_stdin() {
    let o = plan("corpora/patches/mini/malformed.diff", &[]);
    assert_eq!(o.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a unified diff"));
    let o = plan("corpora/patches/mini/nonexistent.diff", &[]);
    assert_eq!(o.status.code(), Some(3));
    // `-` reads stdin, and -p0 keeps the `a/` component (so the file is not found).
    use std::io::Write;
    let cache = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dynwalk"))
        .current_dir(root())
        .args(["plan", "--from", "corpora/mini", "--patch", "-", "-p", "0"])
        .env("DYNWALK_CACHE_DIR", cache.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let text = std::fs::read(root().join("corpora/patches/mini/shrink-caches.diff")).unwrap();
    child.stdin.take().unwrap().write_all(&text).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(7), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("a/mm/vmscan.c"));
}

/// The SARIF schema fetched by scripts/fetch-corpora.sh (the official OASIS one).
fn sarif_schema() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache"));
    let p = cache.join("dynwalk/sarif/sarif-2.1.0-rtm.5.json");
    assert!(p.exists(), "{} is missing: run scripts/fetch-corpora.sh", p.display());
    p
}

#[test]
fn sarif_output_validates_against_the_official_schema() {
    let schema = sarif_schema();
    for n in ["init-static-data.diff", "goodness-inline.diff", "task-field-removed.diff", "asm-and-kconfig.diff"] {
        let o = plan(&format!("corpora/patches/mini/{n}"), &["--format", "sarif"]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["version"], "2.1.0");
        assert!(!v["runs"][0]["results"].as_array().unwrap().is_empty(), "{n}");
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), &o.stdout).unwrap();
        let check = Command::new("python3")
            .args([
                "-c",
                "import json,sys,jsonschema; jsonschema.validate(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])))",
            ])
            .arg(f.path())
            .arg(&schema)
            .output()
            .unwrap();
        assert!(check.status.success(), "{n}: {}", String::from_utf8_lossy(&check.stderr));
    }
    // A broken log must fail the same check, or the check proves nothing.
    let bad = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bad.path(), br#"{"version": "2.1.0", "runs": [{"results": []}]}"#).unwrap();
    let check = Command::new("python3")
        .args(["-c", "import json,sys,jsonschema; jsonschema.validate(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])))"])
        .arg(bad.path())
        .arg(&schema)
        .output()
        .unwrap();
    assert!(!check.status.success());
}

fn validate(doc: &Path, schema: &Path) -> Output {
    Command::new("python3")
        .args(["-c", "import json,sys,jsonschema; jsonschema.validate(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])))"])
        .arg(doc)
        .arg(schema)
        .output()
        .unwrap()
}

/// Every fixture plan's JSON validates against the published schema (docs/plan.schema.json),
/// and a plan with an unknown field or a wrong version does not.
#[test]
fn json_plans_validate_against_the_plan_schema() {
    let schema = root().join("docs/plan.schema.json");
    let names = fixture_patches();
    let f = tempfile::NamedTempFile::new().unwrap();
    let mut last = serde_json::Value::Null;
    for n in &names {
        let o = plan(&format!("corpora/patches/mini/{n}"), &["--format", "json"]);
        std::fs::write(f.path(), &o.stdout).unwrap();
        let check = validate(f.path(), &schema);
        assert!(check.status.success(), "{n}: {}", String::from_utf8_lossy(&check.stderr));
        last = serde_json::from_slice(&o.stdout).unwrap();
    }
    let mut bad = last.clone();
    bad["plan"]["quiescence"]["surprise"] = serde_json::json!(1);
    std::fs::write(f.path(), serde_json::to_vec(&bad).unwrap()).unwrap();
    assert!(!validate(f.path(), &schema).status.success(), "an unknown field must not validate");
    let mut bad = last;
    bad["schema_version"] = serde_json::json!(1);
    std::fs::write(f.path(), serde_json::to_vec(&bad).unwrap()).unwrap();
    assert!(!validate(f.path(), &schema).status.success(), "another version must not validate");
}

/// Regression (issue 16, item 6): a hazard about code that exists only after the patch
/// (an added static local) shows the patched line in its code frame, not the tree's line
/// of the same number.
#[test]
fn an_added_static_local_is_framed_in_the_patched_text() {
    let o = plan("corpora/patches/mini/init-static-data.diff", &[]);
    let text = String::from_utf8_lossy(&o.stdout);
    let at = text.find("error[DW1003]").expect("DW1003 is reported");
    let frame: Vec<&str> = text[at..].lines().take(5).collect();
    assert_eq!(frame[1], "  --> mm/reclaimd.c:9:1", "{frame:?}");
    assert!(frame[3].ends_with("static int calls;"), "the frame shows the added line: {frame:?}");
}

/// Issue 16, item 11: a git diff that creates a symbolic link (`new file mode 120000`) is
/// a link change, reported as such and never read as a header whose text is the target.
#[test]
fn a_new_symlink_is_a_link_change_with_a_hazard_not_a_header() {
    let o = plan("corpora/patches/mini/symlink-new.diff", &[]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "a warning only: {text}");
    assert!(text.contains("symlink include/linux/waitq.h: the patch creates a symbolic link to wait.h (not followed)"));
    assert!(text
        .contains("warning[DW1010]: the patch creates, removes or changes the symbolic link `include/linux/waitq.h`"));
    let o = plan("corpora/patches/mini/symlink-new.diff", &["--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["plan"]["changes"]["other_files"], serde_json::json!([["include/linux/waitq.h", "symlink"]]));
    let codes: Vec<&str> =
        v["plan"]["hazards"].as_array().unwrap().iter().map(|h| h["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["DW1010"]);
    assert_eq!(v["plan"]["changes"]["functions"], serde_json::json!([]), "the target is not parsed as C");
}

/// A patch that retargets a link the tree has (`index … 120000`): the plan names the old
/// and new targets, and its code frame does not read the file the link points to.
#[test]
fn a_retargeted_symlink_is_not_read_through() {
    let dir = tempfile::tempdir().unwrap();
    let (tree, elsewhere) = (dir.path().join("tree"), dir.path().join("elsewhere"));
    std::fs::create_dir_all(tree.join("kernel")).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(tree.join("kernel/a.c"), "int a(void)\n{\n\treturn 1;\n}\n").unwrap();
    std::fs::write(elsewhere.join("secret.c"), "int secret_line_from_outside;\n").unwrap();
    std::os::unix::fs::symlink(elsewhere.join("secret.c"), tree.join("kernel/l.c")).unwrap();
    let old = elsewhere.join("secret.c").display().to_string();
    let patch = format!(
        "diff --git a/kernel/l.c b/kernel/l.c\nindex 1111111..2222222 120000\n--- a/kernel/l.c\n+++ b/kernel/l.c\n@@ -1 +1 @@\n-{old}\n\\ No newline at end of file\n+a.c\n\\ No newline at end of file\n"
    );
    std::fs::write(dir.path().join("p.diff"), patch).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_dynwalk"))
        .arg("plan")
        .arg("--from")
        .arg(&tree)
        .arg("--patch")
        .arg(dir.path().join("p.diff"))
        .env("DYNWALK_CACHE_DIR", dir.path().join("idx"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        text.contains(&format!("symlink kernel/l.c: the patch retargets a symbolic link from {old} to a.c")),
        "{text}"
    );
    assert!(text.contains("warning[DW1010]"), "{text}");
    assert!(!text.contains("secret_line_from_outside"), "the frame read through the link:\n{text}");
}
