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

/// How an object is linked: into the kernel, or into a module (kbuild then compiles it
/// with `-DMODULE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Linked {
    BuiltIn,
    Module,
}

/// Reads a file of the tree by relative path.
pub type ReadTree<'a> = &'a dyn Fn(&str) -> Option<String>;

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
    let read = |r: &str| std::fs::read_to_string(tree.join(r)).ok();
    built(&read, config, rel).0
}

/// Whether `rel` is built, and if so how it is linked: a module when its object (or the
/// composite object it is part of) is listed under `obj-m` or `obj-$(CONFIG_X)` with
/// `CONFIG_X=m`.
pub fn linked(read: ReadTree<'_>, config: &BTreeMap<String, String>, rel: &str) -> Option<Linked> {
    match built(read, config, rel) {
        (Built::Yes, m) => Some(if m { Linked::Module } else { Linked::BuiltIn }),
        _ => None,
    }
}

fn built(read: ReadTree<'_>, config: &BTreeMap<String, String>, rel: &str) -> (Built, bool) {
    let top = rel.split('/').next().unwrap_or("");
    if matches!(top, "tools" | "scripts" | "Documentation" | "samples" | "usr") {
        return (Built::No(format!("{top}/ is not kernel code")), false);
    }
    if let Some(arch) = rel.strip_prefix("arch/").and_then(|r| r.split('/').next()) {
        if arch != "x86" {
            return (Built::No(format!("arch/{arch} is not built for x86-64")), false);
        }
    }
    let Some((dir, file)) = rel.rsplit_once('/') else { return (Built::No("not in a kbuild folder".into()), false) };
    let Some(stem) = file.strip_suffix(".c") else { return (Built::No("not a .c file".into()), false) };
    if !dir_built(read, config, dir, 0) {
        return (Built::No(format!("{dir}/ is not descended into under this .config")), false);
    }
    match object_listed(read, config, dir, &format!("{stem}.o"), 0) {
        Some(module) => (Built::Yes, module),
        None => (Built::No(format!("{dir}/Makefile does not build {stem}.o under this .config")), false),
    }
}

fn makefile_lines(read: ReadTree<'_>, dir: &str) -> Vec<String> {
    let mut text = String::new();
    for name in ["Kbuild", "Makefile"] {
        if let Some(t) = read(&format!("{dir}/{name}")) {
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

/// One assignment of a kbuild Makefile: `obj-$(CONFIG_X) += a.o b/`.
struct Assignment {
    /// `obj`, `lib`, a composite object's name...
    prefix: String,
    /// The condition holds under the .config.
    truth: bool,
    /// The condition is `m`, or a `CONFIG_X` set to `m`.
    module: bool,
    words: Vec<String>,
}

fn assignments(lines: &[String], config: &BTreeMap<String, String>) -> Vec<Assignment> {
    let mut out = Vec::new();
    for l in lines {
        // `:=`, `+=`, `?=` and plain `=` (kernel/Makefile: `obj-y = fork.o ...`).
        let Some(eq) = l.find('=') else { continue };
        let (lhs, rhs) = (l[..eq].trim_end_matches([':', '+', '?']).trim(), &l[eq + 1..]);
        let Some((prefix, cond)) = lhs.split_once('-') else { continue };
        let (truth, module) = match cond {
            "y" | "objs" => (true, false),
            "m" => (true, true),
            c if c.starts_with("$(CONFIG_") && c.ends_with(')') && !c[2..].contains('(') => {
                let v = config.get(&c[2..c.len() - 1]).map(String::as_str);
                (matches!(v, Some("y") | Some("m")), v == Some("m"))
            }
            c if c.starts_with("$(") => (true, false),
            _ => continue,
        };
        let words = rhs.split_whitespace().map(str::to_string).collect();
        out.push(Assignment { prefix: prefix.to_string(), truth, module, words });
    }
    out
}

/// Whether `obj` is built in `dir`: `Some(module?)`.
fn object_listed(
    read: ReadTree<'_>,
    config: &BTreeMap<String, String>,
    dir: &str,
    obj: &str,
    depth: u32,
) -> Option<bool> {
    if depth > 4 {
        return None;
    }
    let lines = makefile_lines(read, dir);
    let mut found = None;
    for a in assignments(&lines, config) {
        if !a.truth || !a.words.iter().any(|w| w == obj) {
            continue;
        }
        let module = match a.prefix.as_str() {
            "obj" | "lib" | "core" | "drivers" => Some(a.module),
            "subdir" | "ccflags" | "asflags" | "ldflags" | "always" | "extra" | "targets" | "hostprogs" => None,
            composite => object_listed(read, config, dir, &format!("{composite}.o"), depth + 1),
        };
        // Built in anywhere wins: the object is then compiled without -DMODULE.
        found = match (found, module) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (f, m) => f.or(m),
        };
    }
    found
}

fn dir_built(read: ReadTree<'_>, config: &BTreeMap<String, String>, dir: &str, depth: u32) -> bool {
    if depth > 16 {
        return false;
    }
    let Some((parent, name)) = dir.rsplit_once('/') else { return true };
    if parent == "arch" {
        return name == "x86";
    }
    let lines = makefile_lines(read, parent);
    let entry = format!("{name}/");
    let listed = assignments(&lines, config).into_iter().any(|a| {
        a.truth
            && matches!(a.prefix.as_str(), "obj" | "subdir" | "core" | "drivers" | "libs")
            && a.words.contains(&entry)
    });
    // arch/x86/Makefile lists some folders by full path (`libs-y += arch/x86/lib/`).
    listed && dir_built(read, config, parent, depth + 1) || (!listed && parent == "arch/x86")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree<'a>(files: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |p: &str| files.iter().find(|(n, _)| *n == p).map(|(_, t)| t.to_string())
    }

    #[test]
    fn plain_assignments_count_as_lists() {
        // kernel/Makefile writes `obj-y = fork.o ...` with a plain `=`.
        let files = [
            ("kernel/Makefile", "obj-y     = fork.o exec_domain.o \\\n\t    workqueue.o\nobj-$(CONFIG_A) += a.o\n"),
            ("fs/Makefile", "obj-y :=\topen.o\n"),
        ];
        let read = tree(&files);
        let config: BTreeMap<String, String> = [("CONFIG_A".to_string(), "m".to_string())].into();
        assert_eq!(linked(&read, &config, "kernel/workqueue.c"), Some(Linked::BuiltIn));
        assert_eq!(linked(&read, &config, "kernel/a.c"), Some(Linked::Module));
        assert_eq!(linked(&read, &config, "fs/open.c"), Some(Linked::BuiltIn));
        assert_eq!(linked(&read, &config, "kernel/nothere.c"), None);
    }
}
