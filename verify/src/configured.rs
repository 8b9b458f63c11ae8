//! Is a `.c` file built for x86-64 under a `.config`? kbuild's single-object targets
//! (`make dir/file.o`) compile a file even when its Makefile never lists it under this
//! configuration, so the answer is read from the Makefiles: the object must appear in an
//! `obj-y`/`obj-m`/`lib-y` line (or a composite `foo-y` whose `foo.o` does) with a true
//! condition, and each folder on the way down must be listed in its parent's Makefile.
//!
//! A deliberately simple reading: `obj-$(CONFIG_X)` is true when `CONFIG_X` is `y` or `m`,
//! `obj-y`/`obj-m` always; any other expression, and `ifeq`/`ifdef` blocks, count as
//! true (the build then decides: a file that does not compile before the patch is
//! skipped with a note).

use std::collections::BTreeMap;
use std::path::Path;

/// The answer, with a reason when the file is not built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Built {
    Yes,
    No(String),
}

/// A `.config` read as `CONFIG_X -> value` (`y`, `m`, a string, a number).
pub fn read_config(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| k.starts_with("CONFIG_"))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Whether `rel` (a `.c` file relative to the tree) is built into the kernel or a module.
pub fn is_built(tree: &Path, config: &BTreeMap<String, String>, rel: &str) -> Built {
    let top = rel.split('/').next().unwrap_or("");
    if matches!(top, "tools" | "scripts" | "Documentation" | "samples" | "usr") {
        return Built::No(format!("{top}/ is not kernel code"));
    }
    if let Some(arch) = rel.strip_prefix("arch/").and_then(|r| r.split('/').next()) {
        if arch != "x86" {
            return Built::No(format!("arch/{arch} is not built for x86-64"));
        }
    }
    let Some((dir, file)) = rel.rsplit_once('/') else { return Built::No("not in a kbuild folder".into()) };
    let Some(stem) = file.strip_suffix(".c") else { return Built::No("not a .c file".into()) };
    if !dir_built(tree, config, dir, 0) {
        return Built::No(format!("{dir}/ is not descended into under this .config"));
    }
    if object_listed(tree, config, dir, &format!("{stem}.o"), 0) {
        Built::Yes
    } else {
        Built::No(format!("{dir}/Makefile does not build {stem}.o under this .config"))
    }
}

fn makefile_lines(tree: &Path, dir: &str) -> Vec<String> {
    let mut text = String::new();
    for name in ["Kbuild", "Makefile"] {
        if let Ok(t) = std::fs::read_to_string(tree.join(dir).join(name)) {
            text.push_str(&t);
            text.push('\n');
        }
    }
    let mut lines = Vec::new();
    let mut cur = String::new();
    for l in text.lines() {
        let l = l.split('#').next().unwrap_or("");
        if let Some(head) = l.strip_suffix('\\') {
            cur.push_str(head);
            cur.push(' ');
        } else {
            cur.push_str(l);
            lines.push(std::mem::take(&mut cur));
        }
    }
    lines
}

/// `(variable prefix, condition true?, right-hand side words)` of each assignment.
fn assignments(lines: &[String], config: &BTreeMap<String, String>) -> Vec<(String, bool, Vec<String>)> {
    let mut out = Vec::new();
    for l in lines {
        let Some(pos) = l.find([':', '+', '?']).filter(|&p| l[p..].contains('=')) else { continue };
        let (lhs, rhs) = (l[..pos].trim(), l[pos..].trim_start_matches([':', '+', '?', '=']));
        let Some((prefix, cond)) = lhs.split_once('-') else { continue };
        let truth = match cond {
            "y" | "m" | "objs" => true,
            c if c.starts_with("$(CONFIG_") && c.ends_with(')') && !c[2..].contains('(') => {
                let key = &c[2..c.len() - 1];
                matches!(config.get(key).map(String::as_str), Some("y") | Some("m"))
            }
            c if c.starts_with("$(") => true,
            _ => continue,
        };
        out.push((prefix.to_string(), truth, rhs.split_whitespace().map(str::to_string).collect()));
    }
    out
}

fn object_listed(tree: &Path, config: &BTreeMap<String, String>, dir: &str, obj: &str, depth: u32) -> bool {
    if depth > 4 {
        return false;
    }
    let lines = makefile_lines(tree, dir);
    for (prefix, truth, words) in assignments(&lines, config) {
        if !truth || !words.iter().any(|w| w == obj) {
            continue;
        }
        match prefix.as_str() {
            "obj" | "lib" | "core" | "drivers" => return true,
            "subdir" | "ccflags" | "asflags" | "ldflags" | "always" | "extra" | "targets" | "hostprogs" => {}
            composite => {
                if object_listed(tree, config, dir, &format!("{composite}.o"), depth + 1) {
                    return true;
                }
            }
        }
    }
    false
}

fn dir_built(tree: &Path, config: &BTreeMap<String, String>, dir: &str, depth: u32) -> bool {
    if depth > 16 {
        return false;
    }
    let Some((parent, name)) = dir.rsplit_once('/') else { return true };
    if parent == "arch" {
        return name == "x86";
    }
    let lines = makefile_lines(tree, parent);
    let entry = format!("{name}/");
    let listed = assignments(&lines, config).into_iter().any(|(prefix, truth, words)| {
        truth && matches!(prefix.as_str(), "obj" | "subdir" | "core" | "drivers" | "libs") && words.contains(&entry)
    });
    // arch/x86/Makefile lists some folders by full path (`libs-y += arch/x86/lib/`).
    listed && dir_built(tree, config, parent, depth + 1) || (!listed && parent == "arch/x86")
}
