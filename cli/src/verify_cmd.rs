//! `dynwalk verify`: make the plan as `plan` does, compile the objects the patch can
//! affect before and after (dynwalk-verify), and print where the plan and the code
//! disagree. Exit codes: 0 agree, 10 misses, 11 only over-approximations, 12 both
//! (docs/exit-codes.md).

use std::collections::BTreeMap;
use std::path::PathBuf;

use dynwalk_analyzer::changes::FnChangeKind;
use dynwalk_verify::compare::PlanItems;
use dynwalk_verify::kbuild::KbuildOptions;
use dynwalk_verify::{ObjectStatus, Report, Request, VerifyError};

use crate::error::CliError;
use crate::plan_cmd::{self, PlanArgs, Planned};

pub struct VerifyArgs {
    pub plan: PlanArgs,
    pub kbuild: Option<PathBuf>,
    pub header_cap: usize,
    pub jobs: u32,
}

/// Debian's .config of the running (or any installed) kernel's headers.
fn default_config() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Ok(r) = std::fs::read_to_string("/proc/sys/kernel/osrelease") {
        candidates.push(PathBuf::from(format!("/lib/modules/{}/build/.config", r.trim())));
    }
    if let Ok(rd) = std::fs::read_dir("/lib/modules") {
        let mut v: Vec<PathBuf> = rd.flatten().map(|e| e.path().join("build/.config")).collect();
        v.sort();
        candidates.extend(v.into_iter().rev());
    }
    candidates.into_iter().find(|p| p.is_file())
}

pub fn run(mut a: VerifyArgs) -> Result<(Planned, Report), CliError> {
    let tree = a.plan.load.tree.clone();
    if !tree.is_dir() {
        return Err(CliError::Input(format!("{}: verify needs a kernel tree folder", tree.display())));
    }
    if a.plan.load.config.is_none() {
        a.plan.load.config = default_config();
    }
    let config = a.plan.load.config.clone().ok_or_else(|| {
        CliError::Input("verify needs a kernel .config (--config); none found under /lib/modules/*/build".into())
    })?;
    let planned = plan_cmd::run(&a.plan)?;
    if let Some((path, link)) = planned.links.first() {
        return Err(CliError::Unsafe(format!(
            "{path}: the patch {}; verify does not follow or write symbolic links (nothing is written)",
            link.describe()
        )));
    }
    let (patched, hunks) = patched_files(&planned);
    let req = Request {
        kbuild: KbuildOptions {
            tree,
            config,
            cache_root: a.kbuild.clone().unwrap_or_else(dynwalk_verify::kbuild::default_cache_root),
            jobs: a.jobs,
        },
        patched,
        hunks,
        plan: plan_items(&planned),
        header_cap: a.header_cap,
    };
    let report = dynwalk_verify::verify(&req).map_err(|e| match e {
        VerifyError::Build(m) => CliError::Build(m),
        VerifyError::Unsafe(m) => CliError::Unsafe(m),
        VerifyError::Io(m) | VerifyError::Object(m) => CliError::Input(m),
    })?;
    Ok((planned, report))
}

/// The patched bytes of every file the patch changes (as `plan` applied it), and each
/// file's hunk lines.
#[allow(clippy::type_complexity)]
fn patched_files(p: &Planned) -> (Vec<(String, Option<Vec<u8>>)>, BTreeMap<String, Vec<(u64, u64, u64, u64)>>) {
    let mut files = Vec::new();
    let mut hunks = BTreeMap::new();
    for f in &p.files {
        if f.old_path != f.path {
            files.push((f.old_path.clone(), None));
        }
        hunks.insert(f.path.clone(), f.hunks.clone());
        files.push((f.path.clone(), f.new_text.clone().map(String::into_bytes)));
    }
    (files, hunks)
}

/// The analyzer's plan, lowered to the plain data the verifier compares against.
fn plan_items(p: &Planned) -> PlanItems {
    let plan = &p.plan;
    let mut items = PlanItems::default();
    for r in &plan.redirections {
        items.redirects.push((r.place.function.clone(), r.place.file.clone(), r.reason.clone()));
    }
    for c in &plan.clones {
        items.clones.push((c.place.function.clone(), c.place.file.clone(), c.reasons.join("; ")));
    }
    for t in &plan.types {
        let sites =
            t.accesses.iter().chain(&t.embedder_accesses).filter_map(|a| a.function.as_ref().map(|f| (f, &a.file)));
        let places = t.sizeof_sites.iter().chain(&t.inlined_into).map(|s| (&s.function, &s.file));
        for (f, file) in sites.chain(places) {
            items.type_users.push((f.clone(), file.clone(), t.key.clone()));
        }
    }
    for f in &plan.changes.functions {
        if f.kind == FnChangeKind::Added {
            items.added.push((f.name.clone(), f.file.clone()));
        }
        items.change_kinds.insert(f.name.clone(), format!("{:?}", f.kind).to_lowercase());
    }
    items
}

/// Human output: the objects, then both kinds of disagreement with their reasons.
pub fn render(p: &Planned, r: &Report) -> String {
    let mut o = String::new();
    for s in &p.subjects {
        o.push_str(&format!("patch: {s}\n"));
    }
    let c = &r.comparison.counts;
    o.push_str(&format!(
        "plan: {} redirection(s), {} clone(s); kbuild cache: {}\n",
        p.plan.redirections.len(),
        p.plan.clones.len(),
        r.cache_entry
    ));
    o.push_str("\n== objects ==\n");
    for ob in &r.objects {
        match ob.status {
            ObjectStatus::Compared => {
                o.push_str(&format!("{}: {} unchanged", ob.source, ob.unchanged));
                for f in &ob.functions {
                    let note = if f.note.is_empty() { String::new() } else { format!(" ({})", f.note) };
                    o.push_str(&format!(", {} {:?}{note}", f.function, f.class).to_lowercase());
                }
                o.push('\n');
            }
            ObjectStatus::Skipped => o.push_str(&format!("{}: skipped: {}\n", ob.source, ob.note)),
            ObjectStatus::FailedBefore => {
                o.push_str(&format!("{}: does not build before the patch:\n{}\n", ob.source, ob.note))
            }
            ObjectStatus::FailedAfter => {
                o.push_str(&format!("{}: does not build after the patch:\n{}\n", ob.source, ob.note))
            }
        }
    }
    for (h, total, kept) in &r.header_fanout {
        o.push_str(&format!("header {h}: {total} built includer(s), {kept} compiled\n"));
    }
    o.push_str(&format!("\n== misses ({}) ==\n", r.comparison.misses.len()));
    for m in &r.comparison.misses {
        o.push_str(&format!("miss: {} in {} [{}]: {}\n", m.function, m.source, m.symbols, m.reason));
    }
    o.push_str(&format!("\n== over-approximations ({}) ==\n", r.comparison.over_approximations.len()));
    for v in &r.comparison.over_approximations {
        o.push_str(&format!("over: {} {} ({}): {}\n", v.item, v.function, v.file, v.reason));
    }
    for n in &r.comparison.not_compiled {
        o.push_str(&format!("note: {n}\n"));
    }
    o.push_str(&format!(
        "\nrecall {}/{} = {:.3}, precision {}/{} = {:.3}\n",
        c.covered, c.changed, r.recall, c.plan_items_changed, c.plan_items, r.precision
    ));
    o
}

/// The exit status for a finished comparison.
pub fn verdict(r: &Report) -> Result<(), CliError> {
    let (m, v) = (r.comparison.misses.len(), r.comparison.over_approximations.len());
    if m == 0 && v == 0 {
        Ok(())
    } else {
        Err(CliError::Disagree { misses: m, over: v })
    }
}
