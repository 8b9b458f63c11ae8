//! Stage 3, lower: the built `update.ko` against the target kernel's symbols, checked
//! before anything is written — every version is a whole function of the module (no
//! `.cold` part split off), every target is one code symbol of the running kernel, and
//! every symbol the module needs from outside is one the module loader can link. The
//! result is the function list of the runtime's update description.

use std::collections::{BTreeMap, BTreeSet};

use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};

use crate::image::KernelImage;
use crate::ksyms::{KernelSymbols, Located};
use crate::{Manifest, Refusal};

/// The 5-byte NOP ftrace leaves at an fentry site of a running kernel (the runtime's).
pub use dynwalk_kmod::check::NOP5 as FENTRY_NOP;

/// Functions and groups one description can carry (version 2, the runtime's limits).
pub use dynwalk_kmod::wire::{MAX_FUNCS, MAX_GROUPS};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoweredFn {
    pub target: String,
    pub version: String,
    /// 0 for a version switched alone, 1.. for the plan's groups.
    pub group: u8,
    /// 0: the only kernel symbol of its name; n: the n-th in kallsyms order.
    pub sympos: u32,
    /// `ftrace`, or `jmp` for a target without an fentry site.
    pub method: &'static str,
    pub expected: Vec<u8>,
    /// The version's size in the module.
    pub size: u64,
}

fn refusal(code: &'static str, message: String, help: &str) -> Refusal {
    Refusal { code, file: String::new(), line: 0, message, help: help.to_string() }
}

/// Checks `ko` (the module's bytes) and returns the description's functions.
/// `linkable` names the symbols the module loader resolves besides vmlinux's exports
/// (the runtime's API); `image` is the target's kernel image, needed for jump sites.
pub fn lower(
    ko: &[u8],
    m: &Manifest,
    kernel: &KernelSymbols,
    linkable: &BTreeSet<String>,
    image: Option<&KernelImage>,
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
            format!("{} functions to replace; a description carries at most {MAX_FUNCS}", m.versions.len()),
            "split the patch into updates that switch in turn",
        ));
    }
    // Group 0 holds the versions that switch alone; each of the plan's groups its own.
    if m.groups.len() >= MAX_GROUPS as usize {
        bad.push(refusal(
            "DW3018",
            format!(
                "{} groups that must switch as one; a description carries at most {}",
                m.groups.len(),
                MAX_GROUPS - 1
            ),
            "split the patch along its groups",
        ));
    }
    let mut group_of: BTreeMap<usize, u8> = BTreeMap::new();
    for (g, members) in m.groups.iter().enumerate() {
        for &i in members {
            group_of.insert(i, (g + 1).min(MAX_GROUPS as usize - 1) as u8);
        }
    }
    // A jump is not switched by the dispatcher: it cannot switch with others (the
    // runtime refuses a jmp that shares its group), so each takes a group of its own.
    let mut next_group = m.groups.len() + 1;
    for (i, v) in m.versions.iter().enumerate().filter(|(_, v)| v.method == "jmp") {
        if group_of.contains_key(&i) {
            bad.push(Refusal {
                code: "DW3010",
                file: v.file.clone(),
                line: v.line,
                message: format!(
                    "`{}` has no fentry site and must switch with others: a jump cannot switch atomically with them",
                    v.target
                ),
                help: "the plan groups it with functions that must switch as one; write that update by hand".into(),
            });
        } else if next_group >= MAX_GROUPS as usize {
            bad.push(refusal("DW3018", "more jump sites than a description has groups".into(), "split the patch"));
        } else {
            group_of.insert(i, next_group as u8);
            next_group += 1;
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
                let mut f = LoweredFn {
                    target: v.target.clone(),
                    version: v.version.clone(),
                    group: group_of.get(&i).copied().unwrap_or(0),
                    sympos: v.sympos,
                    method: "ftrace",
                    expected: FENTRY_NOP.to_vec(),
                    size: *size,
                };
                if v.method == "jmp" {
                    let site = match image {
                        None => Err("the jump site is checked against the kernel image: pass --vmlinux".to_string()),
                        Some(img) => img.jmp_site(kernel, &v.target, v.sympos),
                    };
                    match site {
                        Ok(s) => {
                            f.method = "jmp";
                            f.expected = s.expected;
                        }
                        Err(e) => bad.push(Refusal {
                            code: "DW3010",
                            file: v.file.clone(),
                            line: v.line,
                            message: format!(
                                "`{}` has no fentry site (notrace) and its entry cannot take a jump: {e}",
                                v.target
                            ),
                            help: "the runtime overwrites a notrace function's first instructions with a jump".into(),
                        }),
                    }
                }
                out.push(f);
            }
        }
        let several = matches!(kernel.locate(&v.target, &BTreeSet::new()), Located::Ambiguous { .. });
        if v.sympos > 0 {
            // Placed by generate among several of that name: it must still be there.
            let count = kernel.count(&v.target);
            if !several || v.sympos as usize > count || !kernel.is_text(&v.target) {
                bad.push(Refusal {
                    code: "DW3006",
                    file: v.file.clone(),
                    line: v.line,
                    message: format!(
                        "`{}` at kallsyms position {}: the running kernel has {count} code symbol(s) of that name",
                        v.target, v.sympos
                    ),
                    help: "the manifest was made for another kernel's symbols: run `dynwalk update` again".into(),
                });
            }
            continue;
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
                    "several kernel functions are named `{}` and the symbols around them do not tell which is {}'s",
                    v.target, v.file
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VersionEntry;

    const KALLSYMS: &str = "\
ffffffff81000000 T _stext
ffffffff81001000 t report
ffffffff81001100 t third_work
ffffffff81002000 t report
ffffffff81002100 T other_entry
";

    fn manifest(versions: Vec<VersionEntry>, groups: Vec<Vec<usize>>) -> Manifest {
        Manifest {
            manifest_version: crate::MANIFEST_VERSION,
            update: "u".into(),
            module: "dwu_u".into(),
            tree: String::new(),
            sources: Vec::new(),
            versions,
            ksyms: Vec::new(),
            copies: Vec::new(),
            shadow: Vec::new(),
            overlays: Vec::new(),
            groups,
            notes: Vec::new(),
        }
    }

    fn entry(target: &str, sympos: u32) -> VersionEntry {
        VersionEntry {
            target: target.into(),
            // A whole code symbol of the test executable stands for the module's version.
            version: "main".into(),
            file: "x.c".into(),
            line: 1,
            kind: "redirect".into(),
            reason: String::new(),
            function: String::new(),
            sympos,
            method: String::new(),
        }
    }

    fn run(m: &Manifest) -> Result<Vec<LoweredFn>, Vec<Refusal>> {
        let ko = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let k = KernelSymbols::parse(KALLSYMS, "").unwrap();
        // The executable's own imports (libc) stand for what the loader links.
        let linkable = crate::build::undefined_symbols(&ko).unwrap();
        lower(&ko, m, &k, &linkable, None)
    }

    fn codes(r: Result<Vec<LoweredFn>, Vec<Refusal>>) -> Vec<&'static str> {
        r.err().unwrap_or_default().iter().map(|r| r.code).collect()
    }

    #[test]
    fn a_placed_static_target_carries_its_position() {
        let f = run(&manifest(vec![entry("other_entry", 0), entry("report", 2)], vec![])).unwrap();
        assert_eq!((f[1].target.as_str(), f[1].sympos), ("report", 2));
        assert_eq!(f[0].sympos, 0);
        // Unplaced, or placed past the symbols the kernel has: refused, never guessed.
        assert_eq!(codes(run(&manifest(vec![entry("report", 0)], vec![]))), ["DW3005"]);
        assert_eq!(codes(run(&manifest(vec![entry("report", 4)], vec![]))), ["DW3006"]);
        assert_eq!(codes(run(&manifest(vec![entry("other_entry", 1)], vec![]))), ["DW3006"]);
    }

    #[test]
    fn a_notrace_target_needs_the_kernel_image_and_its_own_group() {
        let mut j = entry("other_entry", 0);
        j.method = "jmp".into();
        let r = run(&manifest(vec![j.clone()], vec![]));
        let e = r.unwrap_err();
        assert_eq!(e[0].code, "DW3010");
        assert!(e[0].message.contains("--vmlinux"), "{}", e[0].message);
        // Grouped with another function by the plan: a jump cannot switch with it.
        let codes = codes(run(&manifest(vec![j, entry("report", 2)], vec![vec![0, 1]])));
        assert!(codes.contains(&"DW3010"), "{codes:?}");
    }

    #[test]
    fn a_description_carries_a_whole_security_patch() {
        // 50 redirections in 12 groups (Debian's series has plans this size).
        let many: Vec<VersionEntry> = (0..50).map(|_| entry("other_entry", 0)).collect();
        let groups: Vec<Vec<usize>> = (0..12).map(|g| vec![2 * g, 2 * g + 1]).collect();
        let f = run(&manifest(many, groups)).unwrap();
        assert_eq!(f.len(), 50);
        assert_eq!(f[23].group, 12, "each plan group keeps its own group");
        assert_eq!(f[24].group, 0);
        let too_many: Vec<VersionEntry> = (0..MAX_FUNCS + 1).map(|_| entry("other_entry", 0)).collect();
        assert_eq!(codes(run(&manifest(too_many, vec![]))), ["DW3018"]);
    }
}
