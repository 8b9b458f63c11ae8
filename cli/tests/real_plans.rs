//! `dynwalk plan` on real trees and real patches, with answers checked by hand against
//! the sources (see docs/measurements.md, "Hand-checked plans"):
//! - Debian's patches for the pristine 6.1.176 tree (debian/patches of linux 6.1.176-1);
//! - a one-function change of a core timer function on Debian's 6.1 source tree.
//!
//! The trees come from scripts/fetch-corpora.sh. The text index is shared by the tests
//! through a cache folder under the target directory, so only the first run builds it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn cache_root() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache"))
        .join("dynwalk")
}

fn pristine() -> (PathBuf, PathBuf) {
    let src = cache_root().join("debsrc");
    let tree = src.join("linux-6.1.176");
    assert!(
        tree.join("Makefile").exists() && src.join("debian/patches/series").exists(),
        "Debian's linux 6.1.176-1 source package is missing at {}: run scripts/fetch-corpora.sh",
        src.display()
    );
    (tree, src.join("debian/patches"))
}

fn linux61() -> PathBuf {
    let t = cache_root().join("linux-6.1");
    assert!(t.join(".unpacked").exists(), "the 6.1 tree is missing at {}: run scripts/fetch-corpora.sh", t.display());
    t
}

fn config() -> PathBuf {
    let m = Path::new("/lib/modules");
    let mut k: Vec<PathBuf> = std::fs::read_dir(m).unwrap().flatten().map(|e| e.path().join("build/.config")).collect();
    k.retain(|p| p.exists());
    k.sort();
    k.pop().expect("Debian's .config (linux-headers-amd64): run scripts/fetch-corpora.sh")
}

fn plan(tree: &Path, patch: &Path, extra: &[&str]) -> Output {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("real-plans-cache");
    Command::new(env!("CARGO_BIN_EXE_dynwalk"))
        .arg("plan")
        .arg("--from")
        .arg(tree)
        .arg("--patch")
        .arg(patch)
        .arg("--config")
        .arg(config())
        .args(["--format", "json", "--cache-dir"])
        .arg(&cache)
        .args(extra)
        .output()
        .unwrap()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: stdout {:?} stderr {}", o.stdout, String::from_utf8_lossy(&o.stderr)))
}

fn names(v: &serde_json::Value, list: &str) -> Vec<String> {
    v["plan"][list].as_array().unwrap().iter().map(|r| r["place"]["function"].as_str().unwrap().to_string()).collect()
}

/// cgroup/cpuset: "Fix misplaced call to reset_migrate_dl_data()" moves a call in two
/// static functions that are reached only through the cpuset cgroup's ops table
/// (`.can_attach`, `.can_fork`): two redirections at the functions' lines in the tree,
/// no clones (nothing is inlined), and three functions only shifted by the patch.
#[test]
fn cpuset_fix_redirects_its_two_static_functions() {
    let (tree, patches) = pristine();
    let o = plan(&tree, &patches.join("bugfix/all/cgroup-cpuset-fix-misplaced-call-to-reset_migrate_dl.patch"), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let v = json(&o);
    let r = v["plan"]["redirections"].as_array().unwrap();
    let got: Vec<(String, String, u64)> = r
        .iter()
        .map(|r| {
            let p = &r["place"];
            (p["function"].as_str().unwrap().into(), p["file"].as_str().unwrap().into(), p["line"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("cpuset_can_attach".to_string(), "kernel/cgroup/cpuset.c".to_string(), 2542),
            ("cpuset_can_fork".to_string(), "kernel/cgroup/cpuset.c".to_string(), 3367),
        ]
    );
    // The lines are those of the tree the running kernel was built from.
    let text = std::fs::read_to_string(tree.join("kernel/cgroup/cpuset.c")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[2541].contains("cpuset_can_attach("), "{}", lines[2541]);
    assert!(lines[3366].contains("cpuset_can_fork("), "{}", lines[3366]);
    assert!(names(&v, "clones").is_empty());
    let shifted: Vec<&str> = v["plan"]["changes"]["functions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "line-shift")
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(shifted, ["cpuset_attach_task", "cpuset_read_s64", "cpuset_read_u64"]);
}

/// phy/marvell: "disable 4-port phys" takes three drivers out of `marvell_drivers[]`
/// under `#if 0`. The array goes from 20 to 17 elements, and `module_phy_driver(marvell_drivers);`
/// (drivers/net/phy/marvell.c:3423) defines `phy_module_init` and `phy_module_exit`, which
/// pass `ARRAY_SIZE(marvell_drivers)` to phy_drivers_(un)register: both must be cloned
/// (`dynwalk verify` found their code changed, 20 -> 17, where the plan had said nothing).
/// The array itself is static data: DW1002.
#[test]
fn marvell_phys_clone_the_functions_module_phy_driver_defines() {
    let (tree, patches) = pristine();
    let o = plan(&tree, &patches.join("bugfix/all/disable-some-marvell-phys.patch"), &["--fuzz"]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let v = json(&o);
    let g: Vec<(String, String, serde_json::Value)> = v["plan"]["changes"]["globals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["name"].as_str().unwrap().into(), g["change"].as_str().unwrap().into(), g["length"].clone()))
        .collect();
    assert_eq!(
        g,
        vec![
            ("marvell_drivers".to_string(), "length".to_string(), serde_json::json!([20, 17])),
            ("marvell_tbl".to_string(), "length".to_string(), serde_json::json!([21, 18])),
        ]
    );
    assert_eq!(names(&v, "clones"), ["phy_module_exit", "phy_module_init"]);
    let text = std::fs::read_to_string(tree.join("drivers/net/phy/marvell.c")).unwrap();
    for c in v["plan"]["clones"].as_array().unwrap() {
        let line = c["place"]["line"].as_u64().unwrap() as usize;
        assert_eq!(text.lines().nth(line - 1), Some("module_phy_driver(marvell_drivers);"));
    }
    assert!(names(&v, "redirections").is_empty());
    let h = v["plan"]["hazards"].as_array().unwrap();
    assert!(h.iter().any(|h| h["code"] == "DW1002" && h["line"] == 2980), "{h:?}");
}

/// x86/memtest: "WARN if bad RAM found" changes `reserve_bad_mem`, which is `__init`: a
/// live update cannot apply it (DW1001, exit 1). The hunk's line number is off by one
/// against 6.1.176: applied at that offset, as patch(1) does without options, and the
/// offset reported.
#[test]
fn memtest_warning_is_init_code_and_applies_at_an_offset() {
    let (tree, patches) = pristine();
    let p = patches.join("features/x86/x86-memtest-WARN-if-bad-RAM-found.patch");
    let o = plan(&tree, &p, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let v = json(&o);
    assert_eq!(v["patch"]["apply_notes"][0]["offset"], 1);
    assert_eq!(names(&v, "redirections"), ["reserve_bad_mem"]);
    let h = &v["plan"]["hazards"].as_array().unwrap();
    assert!(h.iter().any(|h| h["code"] == "DW1001" && h["level"] == "error" && h["file"] == "mm/memtest.c"), "{h:?}");
}

/// A one-function change of `schedule_timeout_interruptible` (kernel/time/timer.c): one
/// redirection, and kernel threads that sleep in it forever are found with their paths.
/// Checked by hand: `ipmi_thread` (drivers/char/ipmi/ipmi_si_intf.c, started with
/// kthread_run, calls it in its loop); `hwrng_fillfn` (drivers/char/hw_random/core.c)
/// reaches it through `add_hwgenerator_randomness` (drivers/char/random.c).
#[test]
fn core_timer_change_finds_the_kernel_threads_sleeping_in_it() {
    let tree = linux61();
    let dir = tempfile::tempdir().unwrap();
    let old = std::fs::read_to_string(tree.join("kernel/time/timer.c")).unwrap();
    let at = old.find("signed long __sched schedule_timeout_interruptible(signed long timeout)\n{\n").unwrap();
    let line = old[..at].lines().count() + 1;
    let patch = format!(
        "--- a/kernel/time/timer.c\n+++ b/kernel/time/timer.c\n@@ -{line},4 +{line},5 @@\n \
         signed long __sched schedule_timeout_interruptible(signed long timeout)\n {{\n \
         \t__set_current_state(TASK_INTERRUPTIBLE);\n+\ttimeout = max(timeout, 0L);\n \
         \treturn schedule_timeout(timeout);\n"
    );
    let p = dir.path().join("one.diff");
    std::fs::write(&p, patch).unwrap();
    let o = plan(&tree, &p, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let v = json(&o);
    assert_eq!(names(&v, "redirections"), ["schedule_timeout_interruptible"]);
    let nq = v["plan"]["quiescence"]["never_quiescent"].as_array().unwrap();
    let path_of = |f: &str| -> Vec<String> {
        let n = nq.iter().find(|n| n["place"]["function"] == f).unwrap_or_else(|| panic!("{f} not found"));
        assert_eq!(n["needs"], "adaptive-cloning");
        n["path"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
    };
    assert_eq!(path_of("ipmi_thread"), ["ipmi_thread", "schedule_timeout_interruptible"]);
    assert_eq!(
        path_of("hwrng_fillfn"),
        ["hwrng_fillfn", "add_hwgenerator_randomness", "schedule_timeout_interruptible"]
    );
    assert!(nq.len() >= 40, "{} never-quiescent functions", nq.len());
    assert_eq!(v["plan"]["quiescence"]["search_depth"], 4);
}
