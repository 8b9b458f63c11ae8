//! `dynwalk verify`'s binary layer: prepare a kernel tree with kbuild, compile the objects
//! a patch can affect before and after, compare them function by function, and hold a
//! plan against the result. `object` and `iced-x86` types stay inside this crate; the
//! plan comes in as plain data ([`compare::PlanItems`]), so this crate does not know the
//! analyzer.

pub mod objdiff;

/// Failures of the verifier itself (not findings): the CLI maps them to exit codes.
#[derive(Debug)]
pub enum VerifyError {
    /// An object file could not be read.
    Object(String),
    /// A file or folder could not be read or written.
    Io(String),
    /// kbuild failed where it must not (configuring or preparing the tree, or building
    /// the unpatched object).
    Build(String),
    /// A patched path would be written outside the copy of the tree (through a symbolic
    /// link that leaves it), or over a symbolic link.
    Unsafe(String),
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VerifyError::Object(m) => write!(f, "object file: {m}"),
            VerifyError::Io(m) => write!(f, "{m}"),
            VerifyError::Build(m) => write!(f, "kbuild: {m}"),
            VerifyError::Unsafe(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for VerifyError {}

pub mod affected;
pub mod compare;
pub mod configured;
pub mod kbuild;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::compare::{Comparison, PlanItems};
use crate::kbuild::{KbuildOptions, Side};
use crate::objdiff::{FnClass, FnDiff, LineMap};

/// Version of the JSON written by `dynwalk verify --format json` (docs/verify-format.md).
pub const SCHEMA_VERSION: u32 = 1;

/// One hunk's lines: `(old_start, old_len, new_start, new_len)`.
pub type HunkLines = (u64, u64, u64, u64);

pub struct Request {
    pub kbuild: KbuildOptions,
    /// Every file the patch changes, with its patched bytes (`None`: deleted).
    pub patched: Vec<(String, Option<Vec<u8>>)>,
    /// Per file, its hunks' line ranges (for `__LINE__` detection).
    pub hunks: BTreeMap<String, Vec<HunkLines>>,
    pub plan: PlanItems,
    /// At most this many includers of changed headers are compiled.
    pub header_cap: usize,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ObjectStatus {
    Compared,
    /// Not built for x86-64 under the .config (or over the header cap).
    Skipped,
    /// Does not compile before the patch under this .config.
    FailedBefore,
    /// Does not compile after the patch.
    FailedAfter,
}

#[derive(Clone, Debug, Serialize)]
pub struct ObjectReport {
    pub source: String,
    pub status: ObjectStatus,
    pub note: String,
    /// Every function that is not plainly unchanged (changed, new, removed, or unchanged
    /// with a note).
    pub functions: Vec<FnDiff>,
    pub unchanged: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub tree: String,
    pub cache_entry: String,
    pub objects: Vec<ObjectReport>,
    /// `(header, built includers, compiled)`.
    pub header_fanout: Vec<(String, usize, usize)>,
    pub comparison: Comparison,
    pub recall: f64,
    pub precision: f64,
}

struct Lines<'a>(&'a BTreeMap<String, Vec<HunkLines>>);

impl LineMap for Lines<'_> {
    fn moved(&self, old: u64, new: u64) -> bool {
        self.0.values().any(|hunks| {
            let mut delta: i64 = 0;
            for &(os, ol, _, nl) in hunks {
                if old >= os && old < os + ol.max(1) {
                    return false;
                }
                if os + ol <= old {
                    delta += nl as i64 - ol as i64;
                }
            }
            delta != 0 && old as i64 + delta == new as i64
        })
    }
}

/// The whole pipeline: prepare the tree, stage the patched copy, choose the objects,
/// build them before and after, compare them, hold the plan against them.
pub fn verify(req: &Request) -> Result<Report, VerifyError> {
    let kb = kbuild::prepare(&req.kbuild)?;
    kb.stage_after(&req.patched)?;
    let touched: Vec<String> = req.patched.iter().map(|(p, _)| p.clone()).collect();
    let affected = affected::affected_sources(&kb.after_src(), &kb.config, &touched, req.header_cap);
    let objects: Vec<String> = affected.sources.iter().map(|s| format!("{}.o", s.trim_end_matches(".c"))).collect();
    let existed: Vec<String> = objects
        .iter()
        .zip(&affected.sources)
        .filter(|(_, s)| kb.tree.join(s).is_file())
        .map(|(o, _)| o.clone())
        .collect();
    let before = kb.build(Side::Before, &existed)?;
    if !existed.is_empty() && before.objects.is_empty() {
        let (o, log) = before.failed.iter().next().map(|(o, l)| (o.as_str(), l.as_str())).unwrap_or(("?", ""));
        return Err(VerifyError::Build(format!("no object builds before the patch ({o}):\n{log}")));
    }
    let after = kb.build(Side::After, &objects)?;
    let lines = Lines(&req.hunks);
    let mut reports = Vec::new();
    let mut compared = Vec::new();
    let mut header_copies = std::collections::BTreeSet::new();
    for (src, obj) in affected.sources.iter().zip(&objects) {
        let mut r = ObjectReport {
            source: src.clone(),
            status: ObjectStatus::Compared,
            note: String::new(),
            functions: vec![],
            unchanged: 0,
        };
        if let Some(log) = before.failed.get(obj) {
            r.status = ObjectStatus::FailedBefore;
            r.note = log.clone();
        } else if let Some(log) = after.failed.get(obj) {
            r.status = ObjectStatus::FailedAfter;
            r.note = log.clone();
        } else {
            let read = |p: Option<&PathBuf>| -> Result<objdiff::ObjFunctions, VerifyError> {
                match p {
                    None => Ok(Default::default()),
                    Some(p) => objdiff::read_functions(
                        &std::fs::read(p).map_err(|e| VerifyError::Io(format!("{}: {e}", p.display())))?,
                    )
                    .map_err(|e| VerifyError::Object(format!("{}: {e}", p.display()))),
                }
            };
            let diffs = objdiff::diff_objects(&read(before.objects.get(obj))?, &read(after.objects.get(obj))?, &lines);
            // A new function the source does not define is an out-of-line copy of an inline
            // function of a header, which gcc stopped inlining somewhere: it comes with the
            // new code of its callers, and the plan has nothing to say about it.
            let new: Vec<&FnDiff> = diffs.iter().filter(|d| d.class == FnClass::New).collect();
            let text =
                if new.is_empty() { Vec::new() } else { std::fs::read(kb.after_src().join(src)).unwrap_or_default() };
            for d in new {
                if !compare::defines(&text, &d.function) {
                    header_copies.insert((src.clone(), d.function.clone()));
                }
            }
            r.unchanged = diffs.iter().filter(|d| d.class == FnClass::Unchanged && d.note.is_empty()).count();
            r.functions =
                diffs.iter().filter(|d| d.class != FnClass::Unchanged || !d.note.is_empty()).cloned().collect();
            compared.push((src.clone(), diffs));
        }
        reports.push(r);
    }
    for (src, why) in &affected.skipped {
        reports.push(ObjectReport {
            source: src.clone(),
            status: ObjectStatus::Skipped,
            note: why.clone(),
            functions: vec![],
            unchanged: 0,
        });
    }
    let comparison = compare::compare(&compared, &req.plan, &header_copies);
    Ok(Report {
        schema_version: SCHEMA_VERSION,
        tree: kb.tree.display().to_string(),
        cache_entry: kb.entry.display().to_string(),
        objects: reports,
        header_fanout: affected.header_fanout,
        recall: comparison.counts.recall(),
        precision: comparison.counts.precision(),
        comparison,
    })
}
