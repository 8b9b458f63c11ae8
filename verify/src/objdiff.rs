//! Per-function comparison of two ELF objects (x86-64).
//!
//! A function is the bytes of its symbol (`st_value .. st_value + st_size`) in its
//! section. Each instruction is decoded with iced-x86 and lowered to an owned
//! [`Insn`]: its bytes with every relocated field and every out-of-function branch
//! displacement zeroed, plus tokens that name what those fields point at (a symbol and
//! offset, or the text of a string literal). Addresses and section layout therefore do
//! not matter; what a function calls and reads does.
//!
//! gcc's clones (`foo.constprop.0`, `foo.isra.0`, `foo.part.0`, `foo.cold`, and
//! combinations) are grouped with the function they came from (`foo`). Numbers gcc and
//! the assembler append to local names (`__func__.12`, `__key.3`, `foo.constprop.1`) are
//! dropped, so a renumbering is not a change.
//!
//! `object` and `iced-x86` types never leave this file.

use std::collections::BTreeMap;

use iced_x86::{Decoder, DecoderOptions, OpKind};
use object::{
    Object, ObjectSection, ObjectSymbol, RelocationFlags, RelocationTarget, SectionFlags, SectionIndex, SymbolKind,
};
use serde::Serialize;

use crate::VerifyError;

/// One instruction, lowered: no address, no layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Insn {
    /// The encoding with relocated fields, out-of-function branch displacements and
    /// immediates zeroed.
    pub masked: Vec<u8>,
    /// What the zeroed relocated fields and branches point at.
    pub targets: Vec<String>,
    /// The immediates (for `__LINE__` detection), in encoding order.
    pub imms: Vec<u64>,
}

/// One piece of a function: the function itself or one of gcc's clones or cold parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piece {
    /// The symbol name with gcc's numbers dropped (`foo.constprop`, `foo.cold`).
    pub name: String,
    pub code: Vec<Insn>,
}

/// Every piece of every function of an object, grouped by source function name.
#[derive(Clone, Debug, Default)]
pub struct ObjFunctions {
    pub functions: BTreeMap<String, Vec<Piece>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FnClass {
    Changed,
    Unchanged,
    New,
    Removed,
}

/// The verdict on one source function of one object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FnDiff {
    pub function: String,
    pub class: FnClass,
    /// The symbols (gcc's pieces) behind the function, before and after, joined by `,`.
    pub symbols: String,
    /// Why, in a few words (first differing instruction, or "only __LINE__ constants").
    pub note: String,
}

/// The source function a symbol comes from: everything before the first `.`.
pub fn source_function(sym: &str) -> &str {
    sym.split('.').next().unwrap_or(sym)
}

/// A symbol name without the numbers gcc and gas append (`foo.constprop.0` -> `foo.constprop`),
/// nor the `__COUNTER__` of the kernel's `__UNIQUE_ID(x)` (`__UNIQUE_ID_ddebug406` ->
/// `__UNIQUE_ID_ddebug`): both renumber when something is added earlier in the file.
pub fn normalize_symbol(sym: &str) -> String {
    let mut parts = sym.split('.');
    let mut out = parts.next().unwrap_or("").to_string();
    for p in parts {
        if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        out.push('.');
        out.push_str(p);
    }
    if out.starts_with("__UNIQUE_ID_") {
        out.truncate(out.trim_end_matches(|c: char| c.is_ascii_digit()).len());
    }
    out
}

const R_X86_64_64: u32 = 1;
const R_X86_64_32: u32 = 10;
const R_X86_64_32S: u32 = 11;

/// A relocation, resolved to a name, at an offset inside a section.
struct Reloc {
    offset: u64,
    size: u64,
    pc_relative: bool,
    addend: i64,
    target: Target,
}

enum Target {
    /// A named symbol (function, variable).
    Named(String),
    /// A section symbol: resolved once the effective offset is known.
    Section(SectionIndex),
    /// A `.L` label at an offset of a section: resolved like a section symbol.
    Label(SectionIndex, u64),
    Unknown,
}

struct Resolver<'a, 'd> {
    file: &'a object::File<'d>,
    /// Per section: defined symbols sorted by address (address, size, normalized name).
    symbols: BTreeMap<usize, Vec<(u64, u64, String)>>,
}

impl Resolver<'_, '_> {
    fn symbol_at(&self, section: SectionIndex, off: u64) -> Option<(String, u64)> {
        let syms = self.symbols.get(&section.0)?;
        let i = syms.partition_point(|s| s.0 <= off);
        let best = syms[..i].iter().rev().find(|s| off < s.0 + s.1.max(1) || s.1 == 0 && off == s.0)?;
        Some((best.2.clone(), off - best.0))
    }

    /// A name for `section + off`: the symbol covering it, or the string literal there.
    fn name_in_section(&self, section: SectionIndex, off: u64) -> String {
        let Ok(sec) = self.file.section_by_index(section) else { return format!("?section+{off}") };
        let sname = normalize_symbol(sec.name().unwrap_or("?"));
        if let Some((name, delta)) = self.symbol_at(section, off) {
            return format!("{name}+{delta}");
        }
        // Merged sections (SHF_MERGE), named by content: gcc names them after the first
        // function using them (`.rodata.<fn>.str1.1`), which another patch may change.
        let (merge, strings, entsize) = match sec.flags() {
            SectionFlags::Elf { sh_flags } => (sh_flags & 0x10 != 0, sh_flags & 0x20 != 0, 0),
            _ => (false, false, 0usize),
        };
        if let (true, false, Ok(data)) = (merge, strings, sec.data()) {
            let n = sname.strip_prefix(".rodata.cst").and_then(|n| n.parse().ok()).unwrap_or(entsize.max(8));
            let start = (off as usize).min(data.len());
            return format!("cst:{:02x?}", &data[start..(start + n).min(data.len())]);
        }
        if strings || sname.starts_with(".rodata.str") {
            if let Ok(data) = sec.data() {
                let start = (off as usize).min(data.len());
                let end = data[start..].iter().position(|&b| b == 0).map_or(data.len(), |p| start + p);
                return format!("str:{:?}", String::from_utf8_lossy(&data[start..end]));
            }
        }
        format!("{sname}+{off}")
    }
}

/// Reads every function of an ELF object.
pub fn read_functions(bytes: &[u8]) -> Result<ObjFunctions, VerifyError> {
    let file = object::File::parse(bytes).map_err(|e| VerifyError::Object(e.to_string()))?;
    if file.architecture() != object::Architecture::X86_64 {
        return Err(VerifyError::Object(format!("not an x86-64 object: {:?}", file.architecture())));
    }
    let mut symbols: BTreeMap<usize, Vec<(u64, u64, String)>> = BTreeMap::new();
    for s in file.symbols() {
        if s.kind() == SymbolKind::Section || s.kind() == SymbolKind::File || !s.is_definition() {
            continue;
        }
        if let (Some(sec), Ok(name)) = (s.section_index(), s.name()) {
            // `.L` labels (gas keeps `.LC12` for relocations into merged strings) are
            // numbered per file: what they point at is the name.
            if !name.is_empty() && !name.starts_with(".L") {
                symbols.entry(sec.0).or_default().push((s.address(), s.size(), normalize_symbol(name)));
            }
        }
    }
    for v in symbols.values_mut() {
        v.sort();
    }
    let resolver = Resolver { file: &file, symbols };
    let mut out = ObjFunctions::default();
    let mut relocs_of: BTreeMap<usize, Vec<Reloc>> = BTreeMap::new();
    // Aliases (`int init_module(void) __attribute__((alias("phy_module_init")))`) share
    // their function's code: one piece per (section, address, size), named by the local
    // symbol when there is one (the C function the alias points at).
    let mut texts: BTreeMap<(usize, u64, u64), (bool, String, SectionIndex)> = BTreeMap::new();
    for s in file.symbols() {
        if s.kind() != SymbolKind::Text || !s.is_definition() || s.size() == 0 {
            continue;
        }
        let (Some(si), Ok(name)) = (s.section_index(), s.name()) else { continue };
        let cand = (!s.is_local(), name.to_string(), si);
        let e = texts.entry((si.0, s.address(), s.size())).or_insert_with(|| cand.clone());
        if (cand.0, &cand.1) < (e.0, &e.1) {
            *e = cand;
        }
    }
    for ((_, address, size), (_, name, si)) in texts {
        let name = name.as_str();
        let sec = file.section_by_index(si).map_err(|e| VerifyError::Object(e.to_string()))?;
        let data = sec.data().map_err(|e| VerifyError::Object(e.to_string()))?;
        let relocs = relocs_of.entry(si.0).or_insert_with(|| section_relocs(&file, &sec));
        let (start, end) = (address, address + size);
        let Some(code) = data.get(start as usize..end as usize) else {
            return Err(VerifyError::Object(format!("{name}: symbol outside its section")));
        };
        let insns = lower(code, start, si, relocs, &resolver);
        out.functions
            .entry(source_function(name).to_string())
            .or_default()
            .push(Piece { name: normalize_symbol(name), code: insns });
    }
    for pieces in out.functions.values_mut() {
        pieces.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.code.len().cmp(&b.code.len())));
    }
    Ok(out)
}

fn section_relocs(file: &object::File<'_>, sec: &object::Section<'_, '_>) -> Vec<Reloc> {
    let mut v = Vec::new();
    for (offset, r) in sec.relocations() {
        let r_type = match r.flags() {
            RelocationFlags::Elf { r_type } => r_type,
            _ => 0,
        };
        let target = match r.target() {
            RelocationTarget::Symbol(i) => match file.symbol_by_index(i) {
                Ok(s) if s.kind() == SymbolKind::Section => s.section_index().map_or(Target::Unknown, Target::Section),
                Ok(s) if s.name().is_ok_and(|n| n.starts_with(".L")) => match s.section_index() {
                    Some(si) => Target::Label(si, s.address()),
                    None => Target::Unknown,
                },
                Ok(s) => Target::Named(normalize_symbol(s.name().unwrap_or("?"))),
                Err(_) => Target::Unknown,
            },
            _ => Target::Unknown,
        };
        let size = u64::from(r.size() / 8).max(1);
        let pc_relative = !matches!(r_type, R_X86_64_64 | R_X86_64_32 | R_X86_64_32S);
        v.push(Reloc { offset, size, pc_relative, addend: r.addend(), target });
    }
    v.sort_by_key(|r| r.offset);
    v
}

/// Decodes and lowers one function's bytes (`start` is its offset in the section).
fn lower(code: &[u8], start: u64, sec: SectionIndex, relocs: &[Reloc], res: &Resolver<'_, '_>) -> Vec<Insn> {
    let end = start + code.len() as u64;
    let mut decoder = Decoder::with_ip(64, code, start, DecoderOptions::NONE);
    let mut out = Vec::new();
    while decoder.can_decode() {
        let ins = decoder.decode();
        let co = decoder.get_constant_offsets(&ins);
        let ip = ins.ip();
        let len = ins.len() as u64;
        let lo = (ip - start) as usize;
        let mut masked = code[lo..lo + len as usize].to_vec();
        let mut targets = Vec::new();
        let mut imms = Vec::new();
        let first = relocs.partition_point(|r| r.offset < ip);
        let mut relocated = vec![false; masked.len()];
        for r in relocs[first..].iter().take_while(|r| r.offset < ip + len) {
            let at = (r.offset - ip) as usize;
            for i in at..(at + r.size as usize).min(masked.len()) {
                masked[i] = 0;
                relocated[i] = true;
            }
            // PC-relative: the field is read relative to the end of the instruction.
            let eff = if r.pc_relative { r.addend + (ip + len - r.offset) as i64 } else { r.addend };
            let name = match &r.target {
                Target::Named(n) => format!("{n}{eff:+}"),
                Target::Section(s) if eff >= 0 => res.name_in_section(*s, eff as u64),
                Target::Section(s) => format!("section{}{eff:+}", s.0),
                Target::Label(s, base) if *base as i64 + eff >= 0 => {
                    res.name_in_section(*s, (*base as i64 + eff) as u64)
                }
                Target::Label(s, base) => format!("section{}{:+}", s.0, *base as i64 + eff),
                Target::Unknown => format!("?{eff:+}"),
            };
            targets.push(format!("@{at}:{name}"));
        }
        if co.has_immediate() {
            let (at, size) = (co.immediate_offset(), co.immediate_size());
            if !relocated.get(at).copied().unwrap_or(true) {
                let is_branch =
                    matches!(ins.op0_kind(), OpKind::NearBranch64 | OpKind::NearBranch32 | OpKind::NearBranch16);
                let target = ins.near_branch_target();
                if is_branch && !(start..end).contains(&target) {
                    // A call or jump out of the function that gas resolved itself (same
                    // section): name the target instead of the distance.
                    let name = res.symbol_at(sec, target).map_or(format!("+{target}"), |(n, d)| format!("{n}+{d}"));
                    targets.push(format!("@{at}:{name}"));
                    masked[at..at + size].iter_mut().for_each(|b| *b = 0);
                } else if !is_branch {
                    let mut v = 0u64;
                    for (i, b) in masked[at..at + size].iter().enumerate() {
                        v |= u64::from(*b) << (8 * i);
                    }
                    imms.push(v);
                    masked[at..at + size].iter_mut().for_each(|b| *b = 0);
                }
            }
        }
        if co.has_immediate2() {
            let (at, size) = (co.immediate_offset2(), co.immediate_size2());
            let mut v = 0u64;
            for (i, b) in masked[at..at + size].iter().enumerate() {
                v |= u64::from(*b) << (8 * i);
            }
            imms.push(v);
            masked[at..at + size].iter_mut().for_each(|b| *b = 0);
        }
        out.push(Insn { masked, targets, imms });
    }
    out
}

/// The patch's line moves: is `new` where line `old` went (outside every hunk)?
pub trait LineMap {
    fn moved(&self, old: u64, new: u64) -> bool;
}

/// No line information: an immediate-only difference is a change.
pub struct NoLines;
impl LineMap for NoLines {
    fn moved(&self, _: u64, _: u64) -> bool {
        false
    }
}

/// Compares two objects function by function. `lines` tells which immediates are
/// `__LINE__` constants that only moved with the patch's hunks.
pub fn diff_objects(before: &ObjFunctions, after: &ObjFunctions, lines: &dyn LineMap) -> Vec<FnDiff> {
    let mut names: Vec<&String> = before.functions.keys().chain(after.functions.keys()).collect();
    names.sort();
    names.dedup();
    let mut out = Vec::new();
    for name in names {
        let (b, a) = (before.functions.get(name), after.functions.get(name));
        let symbols =
            |p: Option<&Vec<Piece>>| p.map(|v| v.iter().map(|x| x.name.as_str()).collect::<Vec<_>>().join(","));
        let (class, note) = match (b, a) {
            (None, Some(_)) => (FnClass::New, String::new()),
            (Some(_), None) => (FnClass::Removed, String::new()),
            (Some(b), Some(a)) => compare_pieces(b, a, lines),
            (None, None) => continue,
        };
        let syms = match (symbols(b), symbols(a)) {
            (Some(x), Some(y)) if x == y => x,
            (Some(x), Some(y)) => format!("{x} -> {y}"),
            (x, y) => x.or(y).unwrap_or_default(),
        };
        out.push(FnDiff { function: name.clone(), class, symbols: syms, note });
    }
    out
}

fn compare_pieces(b: &[Piece], a: &[Piece], lines: &dyn LineMap) -> (FnClass, String) {
    if b == a {
        return (FnClass::Unchanged, String::new());
    }
    let names = |v: &[Piece]| v.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
    if names(b) != names(a) {
        return (FnClass::Changed, format!("pieces {} -> {}", names(b).join(","), names(a).join(",")));
    }
    let mut line_only = true;
    let mut first_diff = String::new();
    for (pb, pa) in b.iter().zip(a) {
        if pb.code.len() != pa.code.len() {
            line_only = false;
            if first_diff.is_empty() {
                first_diff = format!("{}: {} -> {} instructions", pb.name, pb.code.len(), pa.code.len());
            }
            continue;
        }
        for (i, (x, y)) in pb.code.iter().zip(&pa.code).enumerate() {
            if x == y {
                continue;
            }
            if first_diff.is_empty() {
                first_diff = format!("{}: instruction {i} differs{}", pb.name, describe(x, y));
            }
            let same_but_imms = x.masked == y.masked && x.targets == y.targets && x.imms.len() == y.imms.len();
            let moved = x.imms.iter().zip(&y.imms).all(|(&o, &n)| o == n || lines.moved(o, n));
            if !(same_but_imms && moved) {
                line_only = false;
            }
        }
    }
    if line_only {
        (FnClass::Unchanged, "only __LINE__ constants moved".to_string())
    } else {
        (FnClass::Changed, first_diff)
    }
}

fn describe(x: &Insn, y: &Insn) -> String {
    if x.targets != y.targets {
        format!(" (targets {} -> {})", x.targets.join(" "), y.targets.join(" "))
    } else if x.imms != y.imms && x.masked == y.masked {
        format!(" (immediates {:?} -> {:?})", x.imms, y.imms)
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_dropped_and_clones_map_to_their_function() {
        assert_eq!(normalize_symbol("foo.constprop.0.isra.1"), "foo.constprop.isra");
        assert_eq!(normalize_symbol("__func__.12"), "__func__");
        assert_eq!(normalize_symbol("__UNIQUE_ID_ddebug406"), "__UNIQUE_ID_ddebug");
        assert_eq!(normalize_symbol("__UNIQUE_ID___addressable_foo12.3"), "__UNIQUE_ID___addressable_foo");
        assert_eq!(source_function("foo.part.0.cold"), "foo");
        assert_eq!(source_function("bar"), "bar");
    }
}
