//! The target kernel's symbols: its `/proc/kallsyms` (every symbol of vmlinux, in
//! address order, with its type letter) and its exports (`Module.symvers`). The walker
//! decides from them how generated code reaches each kernel name: by the module loader
//! (exported), through the runtime's kallsyms lookup (present but not exported), or not
//! at all (absent: inlined or optimised away).

use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, Default)]
pub struct KernelSymbols {
    /// vmlinux symbols in kallsyms order: (name, type letter).
    order: Vec<(String, char)>,
    /// Their addresses (0 where kallsyms hides them: read without root).
    addrs: Vec<u64>,
    by_name: BTreeMap<String, Vec<usize>>,
    exports: BTreeSet<String>,
}

/// Where a file-local name of the tree is in the running kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Located {
    /// One symbol of that name.
    Unique,
    /// Several files define it: the `sympos`-th (1-based, kallsyms order) is this file's,
    /// told by the symbols around it (`neighbours` of them are defined in this file).
    Position { sympos: u32, neighbours: u32 },
    /// Several files define it and the neighbourhood does not tell which is this file's.
    Ambiguous { count: u32 },
    /// No such symbol.
    Missing,
}

impl KernelSymbols {
    /// Reads `/proc/kallsyms` text (`ADDR TYPE NAME [MODULE]`; module symbols are left
    /// out) and `Module.symvers` text (`CRC NAME MODULE KIND [NS]`).
    pub fn parse(kallsyms: &str, symvers: &str) -> Result<KernelSymbols, String> {
        let mut k = KernelSymbols::default();
        for (i, line) in kallsyms.lines().enumerate() {
            let mut w = line.split_whitespace();
            let (Some(addr), Some(ty), Some(name)) = (w.next(), w.next(), w.next()) else {
                if line.trim().is_empty() {
                    continue;
                }
                return Err(format!("kallsyms line {}: want `ADDRESS TYPE NAME`, found {line:?}", i + 1));
            };
            if w.next().is_some() {
                continue; // `[module]`: not vmlinux
            }
            let Some(t) = ty.chars().next().filter(|_| ty.len() == 1) else {
                return Err(format!("kallsyms line {}: bad type {ty:?}", i + 1));
            };
            let Ok(a) = u64::from_str_radix(addr, 16) else {
                return Err(format!("kallsyms line {}: bad address {addr:?}", i + 1));
            };
            k.by_name.entry(name.to_string()).or_default().push(k.order.len());
            k.order.push((name.to_string(), t));
            k.addrs.push(a);
        }
        if k.order.is_empty() {
            return Err("kallsyms: no vmlinux symbol (read as root? /proc/kallsyms hides them otherwise)".into());
        }
        for line in symvers.lines() {
            let mut w = line.split('\t');
            if let (Some(_crc), Some(name), Some(module)) = (w.next(), w.next(), w.next()) {
                if module == "vmlinux" {
                    k.exports.insert(name.to_string());
                }
            }
        }
        Ok(k)
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    pub fn is_exported(&self, name: &str) -> bool {
        self.exports.contains(name)
    }

    /// Whether vmlinux has a symbol of exactly this name (not `name.isra.0`).
    /// The address of the `sympos`-th symbol of that name (0: the only one) and the
    /// address of the next code symbol after it (its extent's upper bound).
    pub fn extent(&self, name: &str, sympos: u32) -> Option<(u64, u64)> {
        let occ = self.by_name.get(name)?;
        let i = match sympos {
            0 if occ.len() == 1 => occ[0],
            0 => return None,
            n => *occ.get(n as usize - 1)?,
        };
        let at = self.addrs[i];
        let end = self.addrs.iter().copied().filter(|&a| a > at).min()?;
        (at != 0).then_some((at, end))
    }

    /// The address of a unique symbol.
    pub fn address(&self, name: &str) -> Option<u64> {
        let occ = self.by_name.get(name)?;
        (occ.len() == 1 && self.addrs[occ[0]] != 0).then(|| self.addrs[occ[0]])
    }

    /// How many symbols have this name.
    pub fn count(&self, name: &str) -> usize {
        self.by_name.get(name).map_or(0, |v| v.len())
    }

    pub fn has(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// Whether the symbol is code (`t`/`T`/`W`), for every occurrence.
    pub fn is_text(&self, name: &str) -> bool {
        self.by_name.get(name).is_some_and(|v| v.iter().all(|&i| matches!(self.order[i].1, 't' | 'T' | 'W' | 'w')))
    }

    /// Finds this file's `name` among the kernel's symbols. `file_names` are the other
    /// names the file defines at file scope (its functions and variables): symbols of one
    /// object file sit together in kallsyms order, so the occurrence whose neighbours
    /// are this file's names is this file's. A heuristic, and said to be one where used.
    pub fn locate(&self, name: &str, file_names: &BTreeSet<String>) -> Located {
        let Some(occ) = self.by_name.get(name) else { return Located::Missing };
        if occ.len() == 1 {
            return Located::Unique;
        }
        const WINDOW: usize = 3;
        let base = |s: &str| s.split('.').next().unwrap_or(s).to_string();
        // An object's code sits with its code, its data with its data (by section):
        // neighbours are the nearest symbols of the same class on each side.
        let class = |t: char| match t.to_ascii_lowercase() {
            't' | 'w' => 0,
            'r' => 1,
            'd' => 2,
            'b' => 3,
            _ => 4,
        };
        let score = |at: usize| -> u32 {
            let c = class(self.order[at].1);
            let same = |j: &usize| class(self.order[*j].1) == c;
            let before = (0..at).rev().filter(same).take(WINDOW);
            let after = (at + 1..self.order.len()).filter(same).take(WINDOW);
            before
                .chain(after)
                .filter(|&j| {
                    let n = base(&self.order[j].0);
                    n != name && file_names.contains(&n)
                })
                .count() as u32
        };
        let scores: Vec<u32> = occ.iter().map(|&i| score(i)).collect();
        let best = scores.iter().copied().max().unwrap_or(0);
        let winners: Vec<usize> = scores.iter().enumerate().filter(|(_, &s)| s == best).map(|(i, _)| i).collect();
        if best > 0 && winners.len() == 1 {
            Located::Position { sympos: winners[0] as u32 + 1, neighbours: best }
        } else {
            Located::Ambiguous { count: occ.len() as u32 }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KALLSYMS: &str = "\
ffffffff81000000 T _stext
ffffffff81001000 t show_a
ffffffff81001100 t helper
ffffffff81001200 T a_public
ffffffff81001300 t x1
ffffffff81001400 t x2
ffffffff81001500 t x3
ffffffff81002000 t other_fn
ffffffff81002100 t helper
ffffffff81002200 t other_fn2
ffffffff81003000 d counter
ffffffffc0000000 t helper\t[some_module]
";
    const SYMVERS: &str =
        "0x1234\ta_public\tvmlinux\tEXPORT_SYMBOL\t\n0x5678\tmod_fn\tsome_module\tEXPORT_SYMBOL_GPL\t\n";

    #[test]
    fn reads_kallsyms_and_exports() {
        let k = KernelSymbols::parse(KALLSYMS, SYMVERS).unwrap();
        assert_eq!(k.len(), 11, "module symbols are left out");
        assert!(k.is_exported("a_public"));
        assert!(!k.is_exported("mod_fn"), "only vmlinux exports count");
        assert!(k.is_text("helper") && !k.is_text("counter"));
        assert!(KernelSymbols::parse("", "").is_err());
        assert!(KernelSymbols::parse("ffff T\n", "").is_err());
    }

    #[test]
    fn locates_a_static_name_by_its_neighbours() {
        let k = KernelSymbols::parse(KALLSYMS, SYMVERS).unwrap();
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(k.locate("show_a", &names(&[])), Located::Unique);
        assert_eq!(k.locate("nope", &names(&[])), Located::Missing);
        assert_eq!(
            k.locate("helper", &names(&["other_fn", "other_fn2"])),
            Located::Position { sympos: 2, neighbours: 2 }
        );
        assert_eq!(k.locate("helper", &names(&["show_a"])), Located::Position { sympos: 1, neighbours: 1 });
        assert_eq!(k.locate("helper", &names(&["unrelated"])), Located::Ambiguous { count: 2 });
    }
}
