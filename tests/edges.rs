//! How the accuracy measurement (`dynwalk-accuracy`, docs/accuracy-method.md) counts call
//! edges of one file: clang's side is the reference and every edge of every function clang
//! defines is in the denominator of recall, whether or not dynwalk found that function.
//! Plain data in, counts out, so that the rule is tested on hand-made edge sets.

use std::collections::{BTreeMap, BTreeSet};

/// One side's direct call edges in one file: each function defined there, with the names
/// it calls. A function with no calls is still a key (clang saw it, dynwalk may not have).
pub type Edges = BTreeMap<String, BTreeSet<String>>;

/// The comparison of one file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileCount {
    /// Functions clang defines in the file.
    pub clang_fns: usize,
    /// Functions clang defines that dynwalk does not: all their edges are misses.
    pub missed_fns: Vec<String>,
    /// Functions dynwalk defines that clang does not (another `#if` arm, a config dynwalk
    /// reads differently): reported, their edges counted on neither side.
    pub ours_only_fns: Vec<String>,
    /// Every clang edge of every function clang defines (recall's denominator).
    pub clang: usize,
    /// dynwalk's edges of the functions clang defines too (precision's denominator).
    pub ours: usize,
    /// Edges on both sides.
    pub both: usize,
    /// Clang edges dynwalk lacks, as (caller, callee).
    pub missed: Vec<(String, String)>,
    /// Of those, the edges of the functions dynwalk missed whole.
    pub missed_fn_edges: usize,
    /// dynwalk edges clang lacks, as (caller, callee).
    pub extra: Vec<(String, String)>,
}

/// Compares dynwalk's edges of a file (`ours`) with clang's (`clang`).
pub fn count(clang: &Edges, ours: &Edges) -> FileCount {
    let mut c = FileCount { clang_fns: clang.len(), ..FileCount::default() };
    let none = BTreeSet::new();
    for (caller, callees) in clang {
        let mine = ours.get(caller);
        if mine.is_none() {
            c.missed_fns.push(caller.clone());
            c.missed_fn_edges += callees.len();
        }
        let mine = mine.unwrap_or(&none);
        c.clang += callees.len();
        c.ours += mine.len();
        c.both += callees.intersection(mine).count();
        c.missed.extend(callees.difference(mine).map(|callee| (caller.clone(), callee.clone())));
        c.extra.extend(mine.difference(callees).map(|callee| (caller.clone(), callee.clone())));
    }
    c.ours_only_fns = ours.keys().filter(|f| !clang.contains_key(*f)).cloned().collect();
    c
}

/// The sum over the files that were measured, and the files that could not be.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Total {
    pub files: usize,
    pub skipped: Vec<(String, String)>,
    pub clang_fns: usize,
    pub missed_fns: usize,
    pub missed_fn_edges: usize,
    pub clang: usize,
    pub ours: usize,
    pub both: usize,
}

impl Total {
    pub fn add(&mut self, c: &FileCount) {
        self.files += 1;
        self.clang_fns += c.clang_fns;
        self.missed_fns += c.missed_fns.len();
        self.missed_fn_edges += c.missed_fn_edges;
        self.clang += c.clang;
        self.ours += c.ours;
        self.both += c.both;
    }

    /// A file that was asked for but not measured, with the reason.
    pub fn skip(&mut self, file: &str, why: &str) {
        self.skipped.push((file.to_string(), why.to_string()));
    }

    pub fn precision(&self) -> f64 {
        ratio(self.both, self.ours)
    }

    pub fn recall(&self) -> f64 {
        ratio(self.both, self.clang)
    }

    /// Where the misses are: in functions dynwalk found, or in functions it missed whole.
    pub fn misses_line(&self) -> String {
        let missed = self.clang - self.both;
        format!(
            "missed edges: {missed}: {} in functions dynwalk found, {} in the {} functions it missed",
            missed - self.missed_fn_edges,
            self.missed_fn_edges,
            self.missed_fns
        )
    }

    /// The closing line: how many of the files asked for were measured, then the figures.
    pub fn line(&self) -> String {
        let asked = self.files + self.skipped.len();
        format!(
            "TOTAL {} of {asked} files ({} skipped): clang {} functions ({} missed by dynwalk), edges: clang {}, dynwalk {}, both {}: precision {:.4}, recall {:.4}",
            self.files,
            self.skipped.len(),
            self.clang_fns,
            self.missed_fns,
            self.clang,
            self.ours,
            self.both,
            self.precision(),
            self.recall()
        )
    }
}

/// `num / den`, 0 when there is nothing to divide (an empty side measures nothing).
pub fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edges(list: &[(&str, &[&str])]) -> Edges {
        list.iter().map(|(f, cs)| (f.to_string(), cs.iter().map(|c| c.to_string()).collect())).collect()
    }

    #[test]
    fn a_function_dynwalk_missed_counts_all_its_edges_as_misses() {
        let clang = edges(&[("found", &["a", "b"]), ("missed", &["c", "d", "e"])]);
        let ours = edges(&[("found", &["a", "b"])]);
        let c = count(&clang, &ours);
        assert_eq!((c.clang, c.ours, c.both), (5, 2, 2));
        assert_eq!(c.missed_fns, ["missed"]);
        assert_eq!((c.missed.len(), c.missed_fn_edges), (3, 3));
        assert!(c.missed.iter().all(|(caller, _)| caller == "missed"));
        let mut t = Total::default();
        t.add(&c);
        assert_eq!(t.recall(), 0.4);
        assert_eq!(t.precision(), 1.0);
    }

    #[test]
    fn a_missed_function_without_calls_is_still_a_missed_function() {
        let clang = edges(&[("leaf", &[]), ("f", &["g"])]);
        let ours = edges(&[("f", &["g"])]);
        let c = count(&clang, &ours);
        assert_eq!((c.clang_fns, c.missed_fns.clone(), c.clang, c.both), (2, vec!["leaf".to_string()], 1, 1));
    }

    #[test]
    fn extras_count_against_precision_and_functions_clang_lacks_are_reported_not_counted() {
        let clang = edges(&[("f", &["g", "h"])]);
        let ours = edges(&[("f", &["g", "x"]), ("other_arm", &["y", "z"])]);
        let c = count(&clang, &ours);
        assert_eq!((c.clang, c.ours, c.both), (2, 2, 1));
        assert_eq!(c.extra, [("f".to_string(), "x".to_string())]);
        assert_eq!(c.missed, [("f".to_string(), "h".to_string())]);
        assert_eq!(c.missed_fn_edges, 0);
        assert_eq!(c.ours_only_fns, ["other_arm"]);
    }

    #[test]
    fn skipped_files_appear_in_the_total_line() {
        let mut t = Total::default();
        t.add(&count(&edges(&[("f", &["g"])]), &edges(&[("f", &["g"])])));
        t.skip("mm/slab.c", "clang failed");
        assert_eq!(t.files, 1);
        assert!(t.line().starts_with("TOTAL 1 of 2 files (1 skipped): "), "{}", t.line());
    }
}
