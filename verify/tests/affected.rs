//! Which `.c` files a patch affects, on a small fake kbuild tree: Makefile conditions,
//! composite objects, folders not descended into, includers of headers and the cap.

use std::collections::BTreeMap;
use std::path::Path;

use dynwalk_verify::affected::affected_sources;
use dynwalk_verify::configured::{is_built, linked, read_config, Built, Linked};

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn tree() -> (tempfile::TempDir, BTreeMap<String, String>) {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    write(r, "drivers/Makefile", "obj-$(CONFIG_FOO) += foo/\nobj-$(CONFIG_OFF) += off/\n");
    write(
        r,
        "drivers/foo/Makefile",
        "obj-$(CONFIG_FOO) += foo.o\nfoo-y := core.o \\\n\tutil.o\nobj-$(CONFIG_BAR) += bar.o\nobj-y += always.o\n",
    );
    write(r, "drivers/off/Makefile", "obj-y += x.o\n");
    write(r, "include/linux/foo.h", "struct foo;\n");
    write(r, "drivers/foo/local.h", "#include <linux/foo.h>\n");
    write(r, "drivers/foo/core.c", "#include \"local.h\"\n");
    write(r, "drivers/foo/util.c", "#include <linux/foo.h>\n");
    write(r, "drivers/foo/always.c", "int x;\n");
    write(r, "drivers/foo/bar.c", "#include <linux/foo.h>\n");
    write(r, "drivers/off/x.c", "#include <linux/foo.h>\n");
    write(r, "arch/arm/kernel/y.c", "#include <linux/foo.h>\n");
    (d, read_config("CONFIG_FOO=m\n# CONFIG_BAR is not set\n"))
}

#[test]
fn makefile_conditions_composites_and_folders() {
    let (d, cfg) = tree();
    let r = d.path();
    assert_eq!(is_built(r, &cfg, "drivers/foo/core.c"), Built::Yes, "foo-y of an enabled foo.o");
    assert_eq!(is_built(r, &cfg, "drivers/foo/util.c"), Built::Yes, "continued line");
    assert_eq!(is_built(r, &cfg, "drivers/foo/always.c"), Built::Yes);
    assert!(matches!(is_built(r, &cfg, "drivers/foo/bar.c"), Built::No(_)), "CONFIG_BAR is off");
    assert!(matches!(is_built(r, &cfg, "drivers/off/x.c"), Built::No(_)), "folder not descended into");
    assert!(matches!(is_built(r, &cfg, "arch/arm/kernel/y.c"), Built::No(_)));
}

#[test]
fn objects_of_a_module_are_told_from_built_in_ones() {
    let (d, cfg) = tree();
    let read = |rel: &str| std::fs::read_to_string(d.path().join(rel)).ok();
    assert_eq!(linked(&read, &cfg, "drivers/foo/core.c"), Some(Linked::Module), "part of foo.o, CONFIG_FOO=m");
    assert_eq!(linked(&read, &cfg, "drivers/foo/always.c"), Some(Linked::BuiltIn), "obj-y");
    assert_eq!(linked(&read, &cfg, "drivers/foo/bar.c"), None, "not built");
    let y = read_config("CONFIG_FOO=y\n");
    assert_eq!(linked(&read, &y, "drivers/foo/util.c"), Some(Linked::BuiltIn));
}

#[test]
fn header_includers_are_built_files_closest_first_and_capped() {
    let (d, cfg) = tree();
    let a = affected_sources(d.path(), &cfg, &["include/linux/foo.h".to_string()], 8);
    // util.c includes it directly, core.c through local.h; bar.c and x.c are not built.
    assert_eq!(a.sources, vec!["drivers/foo/util.c", "drivers/foo/core.c"]);
    assert_eq!(a.header_fanout, vec![("include/linux/foo.h".to_string(), 2, 2)]);
    let capped = affected_sources(d.path(), &cfg, &["include/linux/foo.h".to_string()], 1);
    assert_eq!(capped.sources, vec!["drivers/foo/util.c"]);
    assert_eq!(capped.header_fanout, vec![("include/linux/foo.h".to_string(), 2, 1)]);
    assert!(capped.skipped.iter().any(|(f, why)| f == "drivers/foo/core.c" && why.contains("cap")));
}
