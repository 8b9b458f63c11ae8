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

use dynwalk_analyzer::changes::FnChangeKind;
use dynwalk_analyzer::plan::{Level, Plan};
use dynwalk_analyzer::Config;
use serde::{Deserialize, Serialize};

pub mod build;
mod generate;
pub mod image;
pub mod ksyms;
pub mod lower;
pub mod shadow;

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
    /// The tree's folder (recorded in the manifest: `build` finds local headers there).
    pub tree: &'a str,
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
    /// The source's function when the target is one of the symbols the build emits for
    /// it (a syscall's stub: `sys_newuname` for `__x64_sys_newuname`); else empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub function: String,
    /// 0: the target is the only kernel symbol of its name; n: the n-th in kallsyms
    /// order (several files define a static of that name; told by its neighbours).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sympos: u32,
    /// `jmp` when the target has no fentry site (`notrace`): its entry is overwritten
    /// with a jump (checked against the kernel image); empty: ftrace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub method: String,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
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
    /// The tree the sources come from (its folders' local headers are used by `build`).
    pub tree: String,
    /// The generated C files, in the module's link order, each with the tree's file it
    /// comes from.
    pub sources: Vec<GeneratedSource>,
    pub versions: Vec<VersionEntry>,
    pub ksyms: Vec<KsymUse>,
    /// Functions copied into the module, `file: name`.
    pub copies: Vec<String>,
    /// New struct fields held as shadow data.
    pub shadow: Vec<shadow::ShadowField>,
    /// Patched headers the versions read instead of the target's.
    pub overlays: Vec<String>,
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
    // A `jmp` redirection (a `notrace` target) is checked by the lowering, against the
    // kernel image.
    for t in &p.types {
        if !t.layout_changed && t.shadow.is_empty() {
            continue;
        }
        // Fields only added: they become shadow data and the running layout stays.
        let change = p.changes.types.iter().find(|c| c.key == t.key);
        let only_added = change.is_some_and(|c| c.change == "changed" && c.fields.iter().all(|f| f.change == "added"));
        let in_c_file = change.is_some_and(|c| c.file.ends_with(".c"));
        if !only_added || in_c_file || t.shadow.is_empty() {
            refusals.push(Refusal {
                code: "DW3011",
                file: change.map(|c| c.file.clone()).unwrap_or_default(),
                line: change.map_or(0, |c| c.line),
                message: if in_c_file {
                    format!("{} is defined in a .c file and changes: shadow data is generated for header types only", t.key)
                } else {
                    format!("{} changes the layout of existing fields (removed, retyped or moved)", t.key)
                },
                help: "the running objects keep their layout: add new data as new fields (shadowed), or write the transfer by hand".into(),
            });
        }
    }
    // Other files (documentation, Kconfig, Makefiles) hold no running code: the plan's
    // DW1007 warns about build files, DW1004 refuses assembly.
}

/// A function the update replaces, and why.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Want {
    pub name: String,
    /// `redirect` (the patch changed it) or `clone` (it must follow a change).
    pub kind: &'static str,
    pub reason: String,
    /// The symbols the target's build emits for it when not its name (the plan's
    /// `symbols`: a syscall's stubs).
    pub symbols: Vec<String>,
}

/// Every function the update replaces: the plan's redirections and clones, by file.
fn wanted(plan: &Plan) -> BTreeMap<String, Vec<Want>> {
    let mut by_file: BTreeMap<String, Vec<Want>> = BTreeMap::new();
    for r in &plan.redirections {
        let w = Want {
            name: r.place.function.clone(),
            kind: "redirect",
            reason: r.reason.clone(),
            symbols: r.symbols.clone(),
        };
        by_file.entry(r.place.file.clone()).or_default().push(w);
    }
    for c in &plan.clones {
        let w = Want {
            name: c.place.function.clone(),
            kind: "clone",
            reason: c.reasons.join("; "),
            symbols: c.symbols.clone(),
        };
        by_file.entry(c.place.file.clone()).or_default().push(w);
    }
    for v in by_file.values_mut() {
        v.sort();
        v.dedup_by(|a, b| a.name == b.name);
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
    let overlays = overlays(inp, &mut refusals);
    let global_overlays: Vec<String> = overlays
        .iter()
        .filter(|(p, _)| p.starts_with("include/") || p.starts_with("arch/"))
        .map(|(p, _)| p.clone())
        .collect();
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
        if let Some(out) = generate::generate_file(inp, file, i, wanted, &global_overlays, &mut refusals) {
            if out.c_name.is_empty() {
                skipped.extend(out.notes);
            } else {
                outs.push((path.clone(), out));
            }
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
    let mut g = assemble(inp, outs, &overlays);
    g.manifest.notes.extend(skipped);
    g.manifest.notes.sort();
    Ok(g)
}

/// The files holding functions the plan replaces (touched by the patch or not).
pub fn files_to_read(plan: &Plan) -> BTreeSet<String> {
    wanted(plan).into_keys().collect()
}

/// The patched headers the versions must see instead of the target's: every changed
/// header but those whose only change is a shadowed struct's new fields (the versions
/// keep the running layout). A header with both is refused.
fn overlays(inp: &Input, refusals: &mut Vec<Refusal>) -> Vec<(String, String)> {
    let ch = &inp.plan.changes;
    let shadowed: BTreeSet<&str> =
        inp.plan.types.iter().filter(|t| !t.shadow.is_empty()).map(|t| t.key.as_str()).collect();
    let mut out = Vec::new();
    for f in inp.files.iter().filter(|f| f.path.ends_with(".h")) {
        let p = f.path.as_str();
        // Changes that compile alike (comments, line numbers, dead branches) need no overlay.
        let compiled = |k: &FnChangeKind| {
            !matches!(
                k,
                FnChangeKind::Cosmetic | FnChangeKind::Renamed | FnChangeKind::Inactive | FnChangeKind::LineShift
            )
        };
        let other = ch.functions.iter().any(|c| c.file == p && compiled(&c.kind))
            || ch.macros.iter().any(|c| c.file == p)
            || ch.globals.iter().any(|c| c.file == p)
            || ch.types.iter().any(|c| c.file == p && !shadowed.contains(c.key.as_str()));
        let shadow = ch.types.iter().any(|c| c.file == p && shadowed.contains(c.key.as_str()));
        match (other, shadow) {
            (true, true) => refusals.push(Refusal {
                code: "DW3011",
                file: p.to_string(),
                line: 0,
                message: format!("{p} adds shadowed fields and changes other code: the versions cannot see both"),
                help: "split the patch: the field additions, then the rest".into(),
            }),
            (true, false) => out.push((p.to_string(), f.new_text.clone())),
            _ => {}
        }
    }
    out
}

fn assemble(inp: &Input, outs: Vec<(String, generate::FileOut)>, overlays: &[(String, String)]) -> Generated {
    let module = module_name(inp.name);
    let mut files = Vec::new();
    let mut m = Manifest {
        manifest_version: MANIFEST_VERSION,
        update: inp.name.to_string(),
        module: module.clone(),
        tree: inp.tree.to_string(),
        sources: Vec::new(),
        versions: Vec::new(),
        ksyms: Vec::new(),
        copies: Vec::new(),
        shadow: Vec::new(),
        overlays: Vec::new(),
        groups: Vec::new(),
        notes: Vec::new(),
    };
    let mut main = String::new();
    main.push_str("/* Generated by dynwalk: the update module's init and exit. */\n");
    main.push_str("#include <linux/module.h>\n#include \"dynwalk.h\"\n\n");
    for (path, o) in &outs {
        m.sources.push(GeneratedSource { generated: o.c_name.clone(), from: path.clone() });
        m.versions.extend(o.versions.iter().cloned());
        m.ksyms.extend(o.ksyms.iter().cloned());
        m.copies.extend(o.copies.iter().map(|c| format!("{path}: {c}")));
        m.notes.extend(o.notes.iter().cloned());
        main.push_str(&format!("int {}(void);\n", o.init_fn));
        files.push((o.c_name.clone(), o.text.clone()));
    }
    // Shadow data: the fields, and the free hooks that detach them.
    let shadow_fields: Vec<shadow::ShadowField> = shadow::fields(inp.plan).into_values().collect();
    let mut inits: Vec<String> = outs.iter().map(|(_, o)| o.init_fn.clone()).collect();
    if !shadow_fields.is_empty() {
        files.push(("dw_shadow_free.c".to_string(), shadow::free_hooks(&shadow_fields)));
        m.sources.push(GeneratedSource { generated: "dw_shadow_free.c".into(), from: String::new() });
        main.push_str("int dw_init__shadow(void);\nvoid dw_exit__shadow(void);\n");
        inits.push("dw_init__shadow".into());
        for (target, params) in [("kfree", "object"), ("kmem_cache_free", "cache, object")] {
            m.versions.push(VersionEntry {
                target: target.into(),
                version: format!("dw_ver__{target}"),
                file: String::new(),
                line: 0,
                kind: "shadow-free".into(),
                reason: format!("detaches the shadow fields of the freed {params}"),
                function: String::new(),
                sympos: 0,
                method: String::new(),
            });
        }
        m.shadow = shadow_fields.clone();
    }
    main.push_str("\nstatic int __init dw_update_init(void)\n{\n\tint err;\n\n");
    for f in &inits {
        main.push_str(&format!("\terr = {f}();\n\tif (err)\n\t\treturn err;\n"));
    }
    main.push_str("\treturn 0;\n}\n\n");
    main.push_str("/* The runtime drops this module's registrations when it goes. */\n");
    if shadow_fields.is_empty() {
        main.push_str("static void __exit dw_update_exit(void)\n{\n}\n\n");
    } else {
        main.push_str("static void __exit dw_update_exit(void)\n{\n\tdw_exit__shadow();\n}\n\n");
    }
    main.push_str("module_init(dw_update_init);\nmodule_exit(dw_update_exit);\n");
    main.push_str("MODULE_LICENSE(\"GPL\");\n");
    main.push_str(&format!("MODULE_DESCRIPTION(\"dynwalk live update {}\");\n", inp.name.replace('"', "")));
    files.push(("dw_main.c".to_string(), main));
    files.push(("dynwalk.h".to_string(), DYNWALK_H.to_string()));
    for (path, text) in overlays {
        // Global headers are included by path from the generated files; a folder's own
        // headers (`#include "internal.h"`) sit beside them, found first.
        if path.starts_with("include/") || path.starts_with("arch/") {
            files.push((format!("overlay/{path}"), text.clone()));
        } else {
            files.push((path.rsplit('/').next().unwrap_or(path).to_string(), text.clone()));
        }
        m.overlays.push(path.clone());
    }
    // Groups: the plan's quiescence groups, by the source's function name (a syscall's
    // stubs are one function: they switch together); every other version alone.
    let mut index: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, v) in m.versions.iter().enumerate() {
        let f = if v.function.is_empty() { &v.target } else { &v.function };
        index.entry(f.as_str()).or_default().push(i);
    }
    let mut grouped: BTreeSet<usize> = BTreeSet::new();
    for g in &inp.plan.quiescence.groups {
        let members: Vec<usize> =
            g.members.iter().flat_map(|n| index.get(n.as_str()).into_iter().flatten().copied()).collect();
        if members.len() > 1 {
            grouped.extend(members.iter().copied());
            m.groups.push(members);
        }
    }
    for members in index.values().filter(|v| v.len() > 1) {
        if !members.iter().any(|i| grouped.contains(i)) {
            m.groups.push(members.clone());
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
         ccflags-y += -I$(src) -DNOTRACE -fno-reorder-blocks-and-partition \\\n\
         \t-Wno-unused-function -Wno-unused-variable -Wno-missing-prototypes -Wno-missing-declarations\n",
        objs = objs.join(" ")
    );
    // Each file finds its own folder's headers (`#include "internal.h"`) in the tree
    // (DW_TREE, given by the build), after any patched copy beside it.
    let mut kbuild = kbuild;
    for s in m.sources.iter().filter(|s| !s.from.is_empty()) {
        let dir = s.from.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        kbuild.push_str(&format!("CFLAGS_{}.o += -I$(DW_TREE)/{dir}\n", s.generated.trim_end_matches(".c")));
    }
    files.push(("Kbuild".to_string(), kbuild));
    files.sort();
    Generated { files, manifest: m }
}
