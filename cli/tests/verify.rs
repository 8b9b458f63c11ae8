//! `dynwalk verify` on the real Linux 6.1 tree (scripts/fetch-corpora.sh) with Debian's
//! .config: two small patches to lib/kstrtox.c, each compiling one object before and
//! after. The prepared tree is cached under $XDG_CACHE_HOME/dynwalk/verify and shared by
//! every run (the first run on a machine prepares it: `make olddefconfig prepare`).

use std::path::PathBuf;
use std::process::{Command, Output};

fn linux61() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache"));
    let root = cache.join("dynwalk/linux-6.1");
    assert!(root.join(".unpacked").exists(), "run scripts/fetch-corpora.sh first ({} missing)", root.display());
    root
}

fn debian_config() -> PathBuf {
    let mut v: Vec<PathBuf> = std::fs::read_dir("/lib/modules")
        .expect("linux-headers-amd64 is installed (scripts/fetch-corpora.sh)")
        .flatten()
        .map(|e| e.path().join("build/.config"))
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v.pop().expect("Debian's .config under /lib/modules/*/build")
}

const BODY_FIX: &str = "--- a/lib/kstrtox.c
+++ b/lib/kstrtox.c
@@ -105,7 +105,7 @@
 \tif (rv == 0)
 \t\treturn -EINVAL;
 \ts += rv;
-\tif (*s == '\\n')
+\tif (*s == '\\n' || *s == '\\r')
 \t\ts++;
 \tif (*s)
 \t\treturn -EINVAL;
";

/// A new spelling of the same test: the tokens change, the code cannot.
const SAME_CODE: &str = "--- a/lib/kstrtox.c
+++ b/lib/kstrtox.c
@@ -107,7 +107,7 @@
 \ts += rv;
 \tif (*s == '\\n')
 \t\ts++;
-\tif (*s)
+\tif (*s != '\\0')
 \t\treturn -EINVAL;
 \t*res = _res;
 \treturn 0;
";

fn verify(patch: &str, extra: &[&str]) -> (Output, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("fix.diff");
    std::fs::write(&p, patch).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dynwalk"))
        .arg("verify")
        .arg("--from")
        .arg(linux61())
        .arg("--patch")
        .arg(&p)
        .arg("--config")
        .arg(debian_config())
        .args(extra)
        .output()
        .expect("run dynwalk");
    let v = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out, v)
}

/// One test for both patches: they share the cache entry, which two processes must not
/// prepare at once.
#[test]
fn a_body_fix_is_covered_and_a_redirect_of_identical_code_is_an_over_approximation() {
    body_fix_is_compiled_compared_and_covered();
    redirect_of_identical_code_exits_11();
    a_shorter_driver_table_is_covered_through_module_phy_driver();
}

/// One more Marvell PHY taken out of `marvell_drivers[]`, as Debian's
/// `disable-some-marvell-phys` does (where `verify` found 4 misses): the array's length
/// reaches `phy_module_init` and `phy_module_exit`, which `module_phy_driver()` defines,
/// through `ARRAY_SIZE`. Their aliases `init_module`/`cleanup_module` are the same code.
const MARVELL: &str = "--- a/drivers/net/phy/marvell.c
+++ b/drivers/net/phy/marvell.c
@@ -3187,6 +3187,7 @@
 		.set_tunable = m88e1011_set_tunable,
 	},
 #endif
+#if 0
 	{
 		.phy_id = MARVELL_PHY_ID_88E1116R,
 		.phy_id_mask = MARVELL_PHY_ID_MASK,
@@ -3206,6 +3207,7 @@
 		.get_tunable = m88e1011_get_tunable,
 		.set_tunable = m88e1011_set_tunable,
 	},
+#endif
 	{
 		.phy_id = MARVELL_PHY_ID_88E1510,
 		.phy_id_mask = MARVELL_PHY_ID_MASK,
";

fn a_shorter_driver_table_is_covered_through_module_phy_driver() {
    let (out, v) = verify(MARVELL, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}\n{}", String::from_utf8_lossy(&out.stderr), v);
    let objects = v["objects"].as_array().unwrap();
    let changed: Vec<&str> = objects
        .iter()
        .filter(|o| o["source"] == "drivers/net/phy/marvell.c")
        .flat_map(|o| o["functions"].as_array().unwrap())
        .filter(|f| f["class"] == "changed")
        .map(|f| f["function"].as_str().unwrap())
        .collect();
    assert_eq!(changed, ["phy_module_exit", "phy_module_init"]);
    let c = &v["comparison"]["counts"];
    assert_eq!((c["changed"].as_u64(), c["covered"].as_u64()), (Some(2), Some(2)));
    assert_eq!(v["recall"], 1.0);
}

fn body_fix_is_compiled_compared_and_covered() {
    let (out, v) = verify(BODY_FIX, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(v["schema_version"], 1);
    let objects = v["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 1, "{objects:?}");
    assert_eq!(objects[0]["source"], "lib/kstrtox.c");
    assert_eq!(objects[0]["status"], "compared");
    let changed: Vec<&str> = objects[0]["functions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["class"] == "changed")
        .map(|f| f["function"].as_str().unwrap())
        .collect();
    assert_eq!(changed, vec!["_kstrtoull"], "only the patched function's code changes");
    assert!(objects[0]["unchanged"].as_u64().unwrap() > 10);
    let c = &v["comparison"]["counts"];
    assert_eq!((c["changed"].as_u64(), c["covered"].as_u64()), (Some(1), Some(1)));
    assert_eq!(v["recall"], 1.0);
}

fn redirect_of_identical_code_exits_11() {
    let (out, _) = verify(SAME_CODE, &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(11), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("== misses (0) =="), "{text}");
    assert!(
        text.contains("over: redirect _kstrtoull (lib/kstrtox.c): the plan redirects it"),
        "the reason names the item and why it is extra:\n{text}"
    );
    assert!(text.contains("its code is identical in lib/kstrtox.c"), "{text}");
}

#[test]
fn bad_input_is_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.diff");
    std::fs::write(&p, BODY_FIX).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dynwalk"))
        .args(["verify", "--from", "/nonexistent/tree", "--patch"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("verify needs a kernel tree folder"));
    // A tree without kbuild files: plan works, kbuild does not start.
    let fake = dir.path().join("tree/lib");
    std::fs::create_dir_all(&fake).unwrap();
    std::fs::copy(linux61().join("lib/kstrtox.c"), fake.join("kstrtox.c")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dynwalk"))
        .arg("verify")
        .arg("--from")
        .arg(dir.path().join("tree"))
        .arg("--patch")
        .arg(&p)
        .arg("--config")
        .arg(debian_config())
        .arg("--kbuild")
        .arg(dir.path().join("kb"))
        .env("DYNWALK_CACHE_DIR", dir.path().join("idx"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a kernel tree"));
}

/// Found by `verify` on Debian's lockdown patch (#91, docs/verify.md): `lock_kernel_down`
/// lost `static`, gcc stopped inlining it, and its caller `lockdown_param` changed.
#[test]
fn a_function_that_loses_static_clones_its_callers() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("security")).unwrap();
    let src = "static int lock_down(int level)\n{\n\treturn level > 1;\n}\n\nint param(int x)\n{\n\treturn lock_down(x);\n}\n\nint init(void)\n{\n\treturn lock_down(2);\n}\n";
    std::fs::write(tree.join("security/lockdown.c"), src).unwrap();
    let patch = "--- a/security/lockdown.c\n+++ b/security/lockdown.c\n@@ -1,4 +1,4 @@\n-static int lock_down(int level)\n+int lock_down(int level)\n {\n \treturn level > 1;\n }\n";
    std::fs::write(dir.path().join("p.diff"), patch).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dynwalk"))
        .arg("plan")
        .arg("--from")
        .arg(&tree)
        .arg("--patch")
        .arg(dir.path().join("p.diff"))
        .args(["--format", "json"])
        .env("DYNWALK_CACHE_DIR", dir.path().join("idx"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let clones: Vec<&str> =
        v["plan"]["clones"].as_array().unwrap().iter().map(|c| c["place"]["function"].as_str().unwrap()).collect();
    assert_eq!(clones, vec!["param", "init"]);
    assert!(v["plan"]["clones"][0]["reasons"][0].as_str().unwrap().contains("no longer static"));
}

/// Issue 16, item 11: a git diff that creates a symbolic link (`new file mode 120000`,
/// the target as its one line) is a link change, not a file whose text is the target:
/// verify refuses it before it prepares or writes anything, and never follows it.
#[test]
fn a_patch_that_creates_a_symlink_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (tree, elsewhere, kb) = (dir.path().join("tree"), dir.path().join("elsewhere"), dir.path().join("kb"));
    std::fs::create_dir_all(tree.join("kernel")).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(tree.join("kernel/a.c"), "int a(void)\n{\n\treturn 1;\n}\n").unwrap();
    let patch = "diff --git a/kernel/a.c b/kernel/a.c\nindex 1111111..2222222 100644\n--- a/kernel/a.c\n+++ b/kernel/a.c\n@@ -1,4 +1,4 @@\n int a(void)\n {\n-\treturn 1;\n+\treturn 2;\n }\n\
diff --git a/kernel/out.c b/kernel/out.c\nnew file mode 120000\nindex 0000000..3333333\n--- /dev/null\n+++ b/kernel/out.c\n@@ -0,0 +1 @@\n+../../elsewhere/x.c\n\\ No newline at end of file\n";
    std::fs::write(dir.path().join("p.diff"), patch).unwrap();
    let config = dir.path().join("config");
    std::fs::write(&config, "CONFIG_X86_64=y\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dynwalk"))
        .arg("verify")
        .arg("--from")
        .arg(&tree)
        .arg("--patch")
        .arg(dir.path().join("p.diff"))
        .arg("--config")
        .arg(&config)
        .arg("--kbuild")
        .arg(&kb)
        .env("DYNWALK_CACHE_DIR", dir.path().join("idx"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{err}");
    assert!(
        err.contains("unsafe write refused: kernel/out.c: the patch creates a symbolic link to ../../elsewhere/x.c"),
        "{err}"
    );
    assert!(err.contains("nothing is written"), "{err}");
    assert!(!kb.exists(), "no kbuild cache was prepared");
    assert!(std::fs::symlink_metadata(tree.join("kernel/out.c")).is_err(), "nothing in the tree");
    assert!(std::fs::read_dir(&elsewhere).unwrap().next().is_none(), "nothing where the link points");
}
