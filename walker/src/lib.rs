//! The dynwalk walker: an update plan and the patched sources in, an update out.
//!
//! Stages (docs/walker.md), each with its own artefact:
//! 1. [`generate`]: plan + patched texts + the target kernel's symbols -> the update
//!    module's C source, its Kbuild file and `manifest.json` (no IO);
//! 2. [`build`]: kbuild against the target kernel's headers -> `update.ko` (runs make);
//! 3. [`lower`]: `update.ko` + the kernel's symbols -> checked functions for the
//!    runtime's update description (reads ELF bytes; no other IO).
//!
//! The plan is the only analysis input: the walker never re-derives what to replace.

use std::collections::{BTreeMap, BTreeSet};

use dynwalk_analyzer::plan::{Level, Plan};
use dynwalk_analyzer::Config;
use serde::{Deserialize, Serialize};

pub mod build;
mod generate;
pub mod ksyms;
pub mod lower;

pub use ksyms::KernelSymbols;

/// Version of `manifest.json` (docs/walker.md).
pub const MANIFEST_VERSION: u32 = 1;

/// The update module's API header, shipped into every generated update.
pub const DYNWALK_H: &str = include_str!("../../kmod/shim/dynwalk.h");

/// One file the patch touches, as the tree has it and as the patch leaves it.
#[derive(Clone, Debug)]
pub struct SourceFile {
    pub path: String,
    /// `None` when the patch creates the file.
    pub old_text: Option<String>,
    pub new_text: String,
    /// How kbuild links the file: `Some(true)` into vmlinux, `Some(false)` into a module,
    /// `None` unknown (not built under the configuration, or no Makefile rule found).
    pub built_in: Option<bool>,
}

pub struct Input<'a> {
    pub plan: &'a Plan,
    /// The touched files (every file holding a version must be here).
    pub files: &'a [SourceFile],
    /// The configuration the target kernel was built with.
    pub config: Option<&'a Config>,
    pub kernel: &'a KernelSymbols,
    /// The update's name (also the module's: `[a-z0-9_]`).
    pub name: &'a str,
    /// Per source file (the tree's path), the names a first build of its generated
    /// object left undefined that the module loader cannot link (neither exported nor
    /// the runtime's): reached through kallsyms on the second pass.
    pub extra_ksyms: &'a BTreeMap<String, BTreeSet<String>>,
}

/// Why the walker will not make an update: a stable code, where, what and what to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub code: &'static str,
    pub file: String,
    /// 0 when the refusal is about the file as a whole.
    pub line: u32,
    pub message: String,
    pub help: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.file.is_empty() {
            write!(f, "{}: {}", self.code, self.message)?;
        } else if self.line == 0 {
            write!(f, "{}: {}: {}", self.code, self.file, self.message)?;
        } else {
            write!(f, "{}: {}:{}: {}", self.code, self.file, self.line, self.message)?;
        }
        if !self.help.is_empty() {
            write!(f, "\n  help: {}", self.help)?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionEntry {
    /// The running kernel's function the runtime redirects.
    pub target: String,
    /// The symbol of the new version in the update module (registered under this name).
    pub version: String,
    pub file: String,
    pub line: u32,
    /// `redirect` (the patch changed it) or `clone` (the plan says why it must follow).
    pub kind: String,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KsymUse {
    pub name: String,
    /// 0: the only symbol of that name; n: the n-th in kallsyms order (livepatch's sympos).
    pub sympos: u32,
    /// How it was found: `unique`, or `neighbourhood (heuristic)`.
    pub how: String,
    pub file: String,
}

/// `manifest.json`: what `generate` decided, for `build`, `lower` and the reader.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub manifest_version: u32,
    pub update: String,
    pub module: String,
    /// The generated C files, in the module's link order, each with the tree's file it
    /// comes from.
    pub sources: Vec<GeneratedSource>,
    /// Folders of the tree whose local headers (`#include "x.h"`) the sources need.
    pub include_dirs: Vec<String>,
    pub versions: Vec<VersionEntry>,
    pub ksyms: Vec<KsymUse>,
    /// Functions copied into the module, `file: name`.
    pub copies: Vec<String>,
    /// Groups that switch as one: indices into `versions`.
    pub groups: Vec<Vec<usize>>,
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneratedSource {
    pub generated: String,
    pub from: String,
}

/// The generated update: files to write under the output folder, and the manifest.
#[derive(Clone, Debug)]
pub struct Generated {
    pub files: Vec<(String, String)>,
    pub manifest: Manifest,
}

/// Checks the plan for what the walker cannot turn into an update yet, collecting every
/// problem before failing once.
fn check_plan(inp: &Input, refusals: &mut Vec<Refusal>) {
    let p = inp.plan;
    for h in &p.hazards {
        if h.level == Level::Error {
            refusals.push(Refusal {
                code: h.code,
                file: h.file.clone(),
                line: h.line,
                message: h.message.clone(),
                help: h.help.to_string(),
            });
        }
    }
    for r in &p.redirections {
        if r.mechanism != "ftrace" {
            refusals.push(Refusal {
                code: "DW3010",
                file: r.place.file.clone(),
                line: r.place.line,
                message: format!(
                    "`{}` has no fentry site (notrace): a jmp patch needs the kernel image",
                    r.place.function
                ),
                help: "the walker generates ftrace redirections only".into(),
            });
        }
    }
    for t in &p.types {
        let shadow = t.shadow.iter().any(|s| !s.rewrite.is_empty()) || !t.shadow.is_empty();
        if t.layout_changed || shadow {
            refusals.push(Refusal {
                code: "DW3011",
                file: String::new(),
                line: 0,
                message: format!("{} changes: shadow rewriting of its accesses is not generated yet", t.key),
                help: "the runtime's shadow API (dw_shadow_*) can hold new fields; write those versions by hand".into(),
            });
        }
    }
    for (path, kind) in &p.changes.other_files {
        if *kind == "assembly" {
            continue; // DW1004 is an error hazard already
        }
        if *kind == "other" && !path.ends_with(".h") {
            refusals.push(Refusal {
                code: "DW3013",
                file: path.clone(),
                line: 0,
                message: format!("the patch changes {path}, which is not C"),
                help: "dynwalk updates compiled C code only".into(),
            });
        }
    }
}

/// Every function the update replaces: the plan's redirections and clones, by file.
fn wanted(plan: &Plan) -> BTreeMap<String, Vec<(String, &'static str, String)>> {
    let mut by_file: BTreeMap<String, Vec<(String, &'static str, String)>> = BTreeMap::new();
    for r in &plan.redirections {
        by_file.entry(r.place.file.clone()).or_default().push((r.place.function.clone(), "redirect", r.reason.clone()));
    }
    for c in &plan.clones {
        by_file.entry(c.place.file.clone()).or_default().push((
            c.place.function.clone(),
            "clone",
            c.reasons.join("; "),
        ));
    }
    for v in by_file.values_mut() {
        v.sort();
        v.dedup_by(|a, b| a.0 == b.0);
    }
    by_file
}

/// A module name from an update name: `[a-z0-9_]`, at most 55 bytes.
pub fn module_name(update: &str) -> String {
    let mut m: String =
        update.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    m.truncate(55);
    format!("dwu_{m}")
}

/// Stage 1: the update module's sources. Nothing is returned unless every file could be
/// generated: the refusals list every problem found.
pub fn generate(inp: &Input) -> Result<Generated, Vec<Refusal>> {
    let mut refusals = Vec::new();
    check_plan(inp, &mut refusals);
    let by_file = wanted(inp.plan);
    if by_file.is_empty() && refusals.is_empty() {
        refusals.push(Refusal {
            code: "DW3000",
            file: String::new(),
            line: 0,
            message: "the plan replaces no function: there is nothing to update".into(),
            help: "a patch whose changes compile to the same code needs no live update".into(),
        });
    }
    let mut outs = Vec::new();
    let mut skipped = Vec::new();
    for (i, (path, wanted)) in by_file.iter().enumerate() {
        let Some(file) = inp.files.iter().find(|f| &f.path == path) else {
            refusals.push(Refusal {
                code: "DW3009",
                file: path.clone(),
                line: 0,
                message: format!("{path} holds a function to replace but the patch does not touch it"),
                help: "clones in files the patch leaves alone are read from the tree: pass it as a touched file".into(),
            });
            continue;
        };
        if !path.ends_with(".c") {
            refusals.push(Refusal {
                code: "DW3009",
                file: path.clone(),
                line: 0,
                message: format!("{path} is not a .c file: a function defined in a header has no single object"),
                help:
                    "the plan clones the callers of header inlines; an out-of-line header function is not generated yet"
                        .into(),
            });
            continue;
        }
        match file.built_in {
            Some(true) => {}
            Some(false) => {
                refusals.push(Refusal {
                    code: "DW3015",
                    file: path.clone(),
                    line: 0,
                    message: format!("{path} is linked into a loadable module, not into vmlinux"),
                    help: "updates of module code (`mod:sym` targets) are not generated yet".into(),
                });
                continue;
            }
            None => {
                // Another architecture's file, a tool, a driver the configuration leaves
                // out: the running kernel holds none of its code.
                skipped.push(format!(
                    "{path}: not built under the target's configuration; its {} function(s) are left alone",
                    wanted.len()
                ));
                continue;
            }
        }
        if let Some(out) = generate::generate_file(inp, file, i, wanted, &mut refusals) {
            outs.push((path.clone(), out));
        }
    }
    if outs.is_empty() && refusals.is_empty() && !by_file.is_empty() {
        refusals.push(Refusal {
            code: "DW3016",
            file: String::new(),
            line: 0,
            message: "no function to replace is built under the target's configuration".into(),
            help: "check --config: the running kernel holds none of the changed code".into(),
        });
    }
    if !refusals.is_empty() {
        refusals.sort_by(|a, b| (&a.file, a.line, a.code).cmp(&(&b.file, b.line, b.code)));
        refusals.dedup();
        return Err(refusals);
    }
    let mut g = assemble(inp, outs);
    g.manifest.notes.extend(skipped);
    g.manifest.notes.sort();
    Ok(g)
}

/// The files holding functions the plan replaces (touched by the patch or not).
pub fn files_to_read(plan: &Plan) -> BTreeSet<String> {
    wanted(plan).into_keys().collect()
}

fn assemble(inp: &Input, outs: Vec<(String, generate::FileOut)>) -> Generated {
    let module = module_name(inp.name);
    let mut files = Vec::new();
    let mut m = Manifest {
        manifest_version: MANIFEST_VERSION,
        update: inp.name.to_string(),
        module: module.clone(),
        sources: Vec::new(),
        include_dirs: Vec::new(),
        versions: Vec::new(),
        ksyms: Vec::new(),
        copies: Vec::new(),
        groups: Vec::new(),
        notes: Vec::new(),
    };
    let mut main = String::new();
    main.push_str("/* Generated by dynwalk: the update module's init and exit. */\n");
    main.push_str("#include <linux/module.h>\n#include \"dynwalk.h\"\n\n");
    for (path, o) in &outs {
        let dir = path.rsplit_once('/').map(|(d, _)| d.to_string()).unwrap_or_default();
        if !m.include_dirs.contains(&dir) {
            m.include_dirs.push(dir);
        }
        m.sources.push(GeneratedSource { generated: o.c_name.clone(), from: path.clone() });
        m.versions.extend(o.versions.iter().cloned());
        m.ksyms.extend(o.ksyms.iter().cloned());
        m.copies.extend(o.copies.iter().map(|c| format!("{path}: {c}")));
        m.notes.extend(o.notes.iter().cloned());
        main.push_str(&format!("int {}(void);\n", o.init_fn));
        files.push((o.c_name.clone(), o.text.clone()));
    }
    main.push_str("\nstatic int __init dw_update_init(void)\n{\n\tint err;\n\n");
    for (_, o) in &outs {
        main.push_str(&format!("\terr = {}();\n\tif (err)\n\t\treturn err;\n", o.init_fn));
    }
    main.push_str("\treturn 0;\n}\n\n");
    main.push_str("/* The runtime drops this module's registrations when it goes. */\n");
    main.push_str("static void __exit dw_update_exit(void)\n{\n}\n\n");
    main.push_str("module_init(dw_update_init);\nmodule_exit(dw_update_exit);\n");
    main.push_str("MODULE_LICENSE(\"GPL\");\n");
    main.push_str(&format!("MODULE_DESCRIPTION(\"dynwalk live update {}\");\n", inp.name.replace('"', "")));
    files.push(("dw_main.c".to_string(), main));
    files.push(("dynwalk.h".to_string(), DYNWALK_H.to_string()));
    // Groups: the plan's quiescence groups, by target name; every other version alone.
    let index: BTreeMap<&str, usize> = m.versions.iter().enumerate().map(|(i, v)| (v.target.as_str(), i)).collect();
    for g in &inp.plan.quiescence.groups {
        let members: Vec<usize> = g.members.iter().filter_map(|n| index.get(n.as_str()).copied()).collect();
        if members.len() > 1 {
            m.groups.push(members);
        }
    }
    m.ksyms.sort_by(|a, b| (&a.file, &a.name).cmp(&(&b.file, &b.name)));
    m.notes.sort();
    m.notes.dedup();
    let objs: Vec<String> = std::iter::once("dw_main.o".to_string())
        .chain(m.sources.iter().map(|s| s.generated.trim_end_matches(".c").to_string() + ".o"))
        .collect();
    let kbuild = format!(
        "# Generated by dynwalk: the update module `{module}`.\n\
         obj-m := {module}.o\n\
         {module}-y := {objs}\n\
         # Versions must stay whole (the runtime refuses a .cold part); the pruned sources\n\
         # keep prototypes and copies gcc may find unused.\n\
         # NOTRACE: the kernel's tracepoints (static keys in __jump_table) cannot be reached\n\
         # from a module by name; the versions are built without them.\n\
         ccflags-y += -I$(src) $(DW_TREE_INCLUDES) -DNOTRACE -fno-reorder-blocks-and-partition \\\n\
         \t-Wno-unused-function -Wno-unused-variable -Wno-missing-prototypes -Wno-missing-declarations\n",
        objs = objs.join(" ")
    );
    files.push(("Kbuild".to_string(), kbuild));
    files.sort();
    Generated { files, manifest: m }
}
