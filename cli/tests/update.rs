//! `dynwalk update --generate-only` on the walker fixtures (corpora/walker): what the
//! generated translation unit holds, how each name is reached, and the refusals with
//! their codes (nothing written on a refusal). Building and running generated updates
//! is tested on Debian's real 6.1 tree and kernel in the guest suite (kmod/guest, w*).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn update(patch: &str, out: &Path) -> Output {
    let w = root().join("corpora/walker");
    update_with(
        patch,
        out,
        &["--kdir".as_ref(), w.join("kdir").as_os_str(), "--kallsyms".as_ref(), w.join("kallsyms.txt").as_os_str()],
    )
}

/// `dynwalk update --generate-only` on the fixture tree with these target options.
fn update_with(patch: &str, out: &Path, target: &[&std::ffi::OsStr]) -> Output {
    let w = root().join("corpora/walker");
    Command::new(env!("CARGO_BIN_EXE_dynwalk"))
        .args(["update", "--generate-only", "--no-cache", "--from"])
        .arg(w.join("tree"))
        .arg("--patch")
        .arg(w.join("patches").join(patch))
        .args(target)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_changed_function_becomes_a_counted_version_in_its_own_translation_unit() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("upd");
    let o = update("demo-show.diff", &out);
    assert!(o.status.success(), "{}", stderr(&o));
    let c = std::fs::read_to_string(out.join("dw0_demo.c")).unwrap();
    let patched_lines = {
        let t = std::fs::read_to_string(root().join("corpora/walker/tree/drivers/demo/demo.c")).unwrap();
        t.lines().count()
    };
    // Part 1: the file under #line 1, same number of lines, bodies gone, the export and
    // the initcall blanked, the non-static variable now the kernel's (extern).
    let part1: Vec<&str> = c.split("#line 1 \"drivers/demo/demo.c\"\n").nth(1).unwrap().lines().collect();
    let end = part1.iter().position(|l| l.contains("---- part 2")).unwrap();
    assert_eq!(end - 1, patched_lines, "the pruned file keeps the line count (blank line before part 2)");
    let pruned = part1[..end].join("\n");
    assert!(pruned.contains("int demo_show(int x)\n;"), "definitions become prototypes:\n{pruned}");
    assert!(!pruned.contains("demo_total += "), "no body is left in part 1");
    assert!(!pruned.contains("EXPORT_SYMBOL") && !pruned.contains("module_init"), "registrations are blanked");
    assert!(pruned.contains("extern int demo_total"), "a non-static variable becomes the kernel's");
    // The version: renamed body, always inlined into a counted entry.
    assert!(c.contains("static __always_inline int dw_body__demo_show(int x)"));
    assert!(c.contains("noinline int dw_ver__demo_show(int x)\n{"));
    assert!(c.contains("atomic_long_inc(&dw_active__demo_show);"));
    assert!(c.contains("#line 33 \"drivers/demo/demo.c\""), "the version points back at the patched file");
    // The new text, with kernel data reached through kallsyms.
    assert!(c.contains("(*dw_ksym__demo_total) += 2 * x;"), "{c}");
    assert!(c.contains("(*dw_ksym__slow_helper)(x)"), "a static function with a symbol is the kernel's");
    // Copies: the static inline and the helper gcc inlined everywhere.
    assert!(c.contains("static inline int scale(int x)\n{\n\treturn x * (*dw_ksym__weights)[1];"));
    assert!(c.contains("static int folded(int x)\n{\n\treturn x - 1;"));
    assert!(!c.contains("static int slow_helper(int x)\n{"), "the kernel's slow_helper is not copied");
    // `counter` is used only through the file's macro BUMP(): a #define reaches it.
    assert!(c.contains("#define counter (*dw_ksym__counter)"));
    assert!(c.contains("a = dw_ksym(\"counter\", 1);"), "the first of two `counter`s, by its neighbours");
    // The manifest says the same, and marks the heuristic.
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["manifest_version"], 1);
    assert_eq!(m["module"], "dwu_demo_show");
    let versions: Vec<&str> = m["versions"].as_array().unwrap().iter().map(|v| v["target"].as_str().unwrap()).collect();
    assert_eq!(versions, ["demo_show"], "the __init caller the plan clones is left alone");
    let ksyms: Vec<(String, u64)> = m["ksyms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["name"].as_str().unwrap().to_string(), k["sympos"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        ksyms,
        [("counter".into(), 1), ("demo_total".into(), 0), ("slow_helper".into(), 0), ("weights".into(), 0)]
    );
    let notes = m["notes"].to_string();
    assert!(notes.contains("heuristic") && notes.contains("demo_init"), "{notes}");
    // Kbuild builds the files with the tree's local headers and without tracepoints.
    let kbuild = std::fs::read_to_string(out.join("Kbuild")).unwrap();
    assert!(kbuild.contains("dwu_demo_show-y := dw_main.o dw0_demo.o"));
    assert!(kbuild.contains("CFLAGS_dw0_demo.o += -I$(DW_TREE)/drivers/demo"));
    assert!(kbuild.contains("-DNOTRACE"));
    assert!(out.join("dynwalk.h").is_file() && out.join("dw_main.c").is_file());
}

#[test]
fn a_syscall_is_replaced_at_the_stubs_the_build_emits() {
    // x86-64 with IA32 emulation (kdir/.config): SYSCALL_DEFINE1(demolevel) has no
    // `sys_demolevel`; its entries are `__x64_sys_demolevel` and `__ia32_sys_demolevel`.
    // SYSCALL_DEFINE0's stubs alias one body: one target.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("upd");
    let o = update("syscall.diff", &out);
    assert!(o.status.success(), "{}", stderr(&o));
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let versions: Vec<(&str, &str, &str)> = m["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["target"].as_str().unwrap(), v["version"].as_str().unwrap(), v["function"].as_str().unwrap()))
        .collect();
    assert_eq!(
        versions,
        [
            ("__x64_sys_demolevel", "dw_ver____x64_sys_demolevel", "sys_demolevel"),
            ("__ia32_sys_demolevel", "dw_ver____ia32_sys_demolevel", "sys_demolevel"),
            ("__x64_sys_demoreset", "dw_ver____x64_sys_demoreset", "sys_demoreset"),
        ]
    );
    assert_eq!(m["groups"], serde_json::json!([[0, 1]]), "one syscall's stubs switch together");
    let c = std::fs::read_to_string(out.join("dw0_demosys.c")).unwrap();
    // The kernel's own macro defines the module's stubs around the new body.
    assert!(c.contains("SYSCALL_DEFINE1(dw_demolevel, int, level)\n#line 8"), "{c}");
    assert!(c.contains("\tr__ = __ia32_sys_dw_demolevel(regs);"), "{c}");
    assert!(c.contains("SYSCALL_DEFINE0(dw_demoreset)"), "{c}");
    assert!(c.contains("#define SYSCALL_METADATA(sname, nb, ...)"), "no second trace metadata");
    assert!(c.contains("(*dw_ksym__demo_level) = level;"), "the kernel's static data, through kallsyms");
    // Part 1 keeps no syscall definition of the file.
    let part1 = c.split("---- part 2").next().unwrap();
    assert!(!part1.contains("SYSCALL_DEFINE1(demolevel") && !part1.contains("SYSCALL_DEFINE0(demoreset)"), "{part1}");
}

#[test]
fn a_static_target_that_several_files_define_is_placed_by_its_neighbours() {
    // other.c and third.c each define a static `report`: kallsyms has two. The one among
    // other.c's symbols is the second; the runtime is told so (sympos), and the manifest
    // says it is a heuristic.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("upd");
    let o = update("static-target.diff", &out);
    assert!(o.status.success(), "{}", stderr(&o));
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let report = m["versions"].as_array().unwrap().iter().find(|v| v["target"] == "report").unwrap();
    assert_eq!(report["sympos"], 2);
    let other = m["versions"].as_array().unwrap().iter().find(|v| v["target"] == "other_report").unwrap();
    assert!(other.get("sympos").is_none(), "a unique name needs no position: {other}");
    assert!(m["notes"].to_string().contains("number 2 in kallsyms order"), "{}", m["notes"]);
    assert!(m["notes"].to_string().contains("heuristic"));
}

fn refused(patch: &str, code: &str, what: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("upd");
    let o = update(patch, &out);
    assert_eq!(o.status.code(), Some(13), "{patch}: {}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains(code) && e.contains(what), "{patch}: want {code} about {what}: {e}");
    assert!(!out.exists(), "{patch}: a refusal writes nothing");
    assert!(!out.with_extension("tmp").exists(), "{patch}: no temporary folder is left");
}

#[test]
fn data_the_kernel_has_no_symbol_for_is_refused() {
    refused("mutable-data-missing.diff", "DW3004", "`hidden`");
}

#[test]
fn a_static_name_that_kallsyms_cannot_place_is_refused_not_guessed() {
    refused("ambiguous-static.diff", "DW3005", "`counter` of drivers/demo/other.c");
}

#[test]
fn a_local_that_shadows_reached_kernel_data_is_refused() {
    refused("local-shadows-data.diff", "DW3014", "`folded` declares a local or parameter `demo_total`");
}

#[test]
fn an_output_folder_that_is_not_an_update_is_never_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("mine");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "keep me").unwrap();
    let o = update("demo-show.diff", &out);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("not a dynwalk update folder"));
    assert_eq!(std::fs::read_to_string(out.join("notes.txt")).unwrap(), "keep me");
    // An earlier update's folder is replaced whole.
    let upd = tmp.path().join("upd");
    assert!(update("demo-show.diff", &upd).status.success());
    std::fs::write(upd.join("stale.c"), "old").unwrap();
    assert!(update("demo-show.diff", &upd).status.success());
    assert!(!upd.join("stale.c").exists(), "the new update replaces the old folder");
}

#[test]
fn a_malformed_kallsyms_is_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("kallsyms");
    std::fs::write(&bad, "ffffffff81000000 T\n").unwrap();
    let w = root().join("corpora/walker");
    let kdir = w.join("kdir");
    let o = update_with(
        "demo-show.diff",
        &tmp.path().join("upd"),
        &["--kdir".as_ref(), kdir.as_os_str(), "--kallsyms".as_ref(), bad.as_os_str()],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("kallsyms line 1"), "{}", stderr(&o));
    assert!(!tmp.path().join("upd").exists());
}

#[test]
fn a_changed_static_function_the_kernel_inlined_is_replaced_through_its_callers() {
    // `folded` changes; the running kernel has no symbol for it (gcc inlined it): its
    // caller demo_show is replaced instead, carrying a copy of the new `folded`.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("upd");
    let o = update("inlined-static.diff", &out);
    assert!(o.status.success(), "{}", stderr(&o));
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let versions: Vec<(&str, &str)> = m["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["target"].as_str().unwrap(), v["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(versions, [("demo_show", "clone")], "no target without a kernel symbol");
    assert!(m["notes"].to_string().contains("`folded` is inlined in the running kernel"));
    let c = std::fs::read_to_string(out.join("dw0_demo.c")).unwrap();
    assert!(c.contains("static int folded(int x)\n{\n\treturn x - 2;"), "the copy is the new text:\n{c}");
}

#[test]
fn another_kernels_symbols_are_never_taken_by_default() {
    // Without --kallsyms, only a machine running the headers' own kernel may use its
    // /proc/kallsyms; the fixture's build folder is not under /lib/modules.
    let tmp = tempfile::tempdir().unwrap();
    let kdir = root().join("corpora/walker/kdir");
    let o = update_with("demo-show.diff", &tmp.path().join("upd"), &["--kdir".as_ref(), kdir.as_os_str()]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("pass --kallsyms"), "{}", stderr(&o));
    assert!(!tmp.path().join("upd").exists());
}

#[test]
fn build_needs_an_update_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_dynwalk")).arg("build").arg(tmp.path()).output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("manifest.json"), "{}", stderr(&o));
    std::fs::write(tmp.path().join("manifest.json"), "{\"manifest_version\": 99}").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_dynwalk")).arg("build").arg(tmp.path()).output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
}
