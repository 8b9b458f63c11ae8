//! Stage 3, lower: the built `update.ko` against the target kernel's symbols, checked
//! before anything is written — every version is a whole function of the module (no
//! `.cold` part split off), every target is one code symbol of the running kernel, and
//! every symbol the module needs from outside is one the module loader can link. The
//! result is the function list of the runtime's update description.

use std::collections::{BTreeMap, BTreeSet};

use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};

use crate::ksyms::{KernelSymbols, Located};
use crate::{Manifest, Refusal};

/// The 5-byte NOP ftrace leaves at an fentry site of a running kernel.
pub const FENTRY_NOP: [u8; 5] = [0x0f, 0x1f, 0x44, 0x00, 0x00];

/// Functions one description v1 can carry (the runtime's `MAX_FUNCS_PER_UPDATE`).
pub const MAX_FUNCS: usize = 16;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoweredFn {
    pub target: String,
    pub version: String,
    /// 0 for a version switched alone, 1.. for the plan's groups.
    pub group: u8,
    pub expected: Vec<u8>,
    /// The version's size in the module.
    pub size: u64,
}

fn refusal(code: &'static str, message: String, help: &str) -> Refusal {
    Refusal { code, file: String::new(), line: 0, message, help: help.to_string() }
}

/// Checks `ko` (the module's bytes) and returns the description's functions.
/// `linkable` names the symbols the module loader resolves besides vmlinux's exports
/// (the runtime's API).
pub fn lower(
    ko: &[u8],
    m: &Manifest,
    kernel: &KernelSymbols,
    linkable: &BTreeSet<String>,
) -> Result<Vec<LoweredFn>, Vec<Refusal>> {
    let mut bad = Vec::new();
    let file = match object::File::parse(ko) {
        Ok(f) => f,
        Err(e) => return Err(vec![refusal("DW3020", format!("the update module is not an ELF object: {e}"), "")]),
    };
    let mut defined: BTreeMap<String, (u64, String)> = BTreeMap::new();
    let mut undefined = BTreeSet::new();
    for s in file.symbols() {
        let Ok(name) = s.name() else { continue };
        if s.is_undefined() {
            if !name.is_empty() {
                undefined.insert(name.to_string());
            }
            continue;
        }
        let section = s
            .section_index()
            .and_then(|i| file.section_by_index(i).ok())
            .and_then(|sec| sec.name().ok().map(str::to_string));
        if s.kind() == SymbolKind::Text {
            defined.insert(name.to_string(), (s.size(), section.unwrap_or_default()));
        }
    }
    for u in &undefined {
        if !kernel.is_exported(u) && !linkable.contains(u) {
            bad.push(refusal(
                "DW3008",
                format!("the update module needs `{u}`, which the running kernel does not export"),
                "a header inline or macro reaches it where the walker cannot rewrite the name",
            ));
        }
    }
    if m.versions.len() > MAX_FUNCS {
        bad.push(refusal(
            "DW3018",
            format!("{} functions to replace; a description (v1) carries at most {MAX_FUNCS}", m.versions.len()),
            "split the patch, or wait for description v2",
        ));
    }
    let mut group_of: BTreeMap<usize, u8> = BTreeMap::new();
    for (g, members) in m.groups.iter().enumerate() {
        for &i in members {
            group_of.insert(i, (g + 1).min(7) as u8);
        }
    }
    let mut out = Vec::new();
    for (i, v) in m.versions.iter().enumerate() {
        match defined.get(&v.version) {
            None => bad.push(refusal("DW3020", format!("the update module has no function `{}`", v.version), "")),
            Some((0, _)) => bad.push(refusal("DW3020", format!("`{}` has no size in the module", v.version), "")),
            Some((size, section)) => {
                let cold = format!("{}.cold", v.version);
                if defined.keys().any(|k| k.starts_with(&cold)) || section.contains(".unlikely") {
                    bad.push(refusal(
                        "DW3020",
                        format!("gcc split `{}`: part of it lies outside its text", v.version),
                        "the runtime refuses versions with a .cold part",
                    ));
                }
                out.push(LoweredFn {
                    target: v.target.clone(),
                    version: v.version.clone(),
                    group: group_of.get(&i).copied().unwrap_or(0),
                    expected: FENTRY_NOP.to_vec(),
                    size: *size,
                });
            }
        }
        match kernel.locate(&v.target, &BTreeSet::new()) {
            Located::Unique if kernel.is_text(&v.target) => {}
            Located::Unique => bad.push(refusal(
                "DW3006",
                format!("`{}` is not code in the running kernel", v.target),
                "the target must be a function symbol",
            )),
            Located::Missing => bad.push(Refusal {
                code: "DW3006",
                file: v.file.clone(),
                line: v.line,
                message: format!(
                    "the running kernel has no symbol `{}`: gcc inlined it everywhere, or its build emits another name",
                    v.target
                ),
                help: "replace its callers instead (the plan clones callers of inlined functions)".into(),
            }),
            Located::Position { .. } | Located::Ambiguous { .. } => bad.push(Refusal {
                code: "DW3005",
                file: v.file.clone(),
                line: v.line,
                message: format!(
                    "several kernel functions are named `{}`; the runtime resolves targets by name",
                    v.target
                ),
                help: "the walker never guesses which one is meant".into(),
            }),
        }
    }
    if bad.is_empty() {
        Ok(out)
    } else {
        bad.sort_by(|a, b| (a.code, &a.message).cmp(&(b.code, &b.message)));
        bad.dedup();
        Err(bad)
    }
}
