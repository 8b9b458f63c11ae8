//! SARIF 2.1.0 output of a plan: hazards, redirections, clones and non-quiescent
//! functions as results, each rule documented (docs/patch-authors.md).

use serde_json::{json, Value};

use crate::plan_cmd::Planned;
use dynwalk_analyzer::plan::Level;

/// (id, name, short description, help)
const RULES: &[(&str, &str, &str, &str)] = &[
    (
        "DW1001",
        "init-code-changed",
        "__init/__exit code changed",
        "Move the fix into code that runs after boot, or reboot.",
    ),
    (
        "DW1002",
        "static-data-changed",
        "A static initializer or a global's type changed",
        "Set the new value from the update's apply hook, or add a shadow variable.",
    ),
    (
        "DW1003",
        "static-local-changed",
        "A static local was added or removed",
        "Keep the static local, or give the new version shadow state.",
    ),
    (
        "DW1004",
        "assembly-changed",
        "An assembly file changed",
        "Rewrite the change in C, or apply it at the next reboot.",
    ),
    (
        "DW1005",
        "no-patchable-entry",
        "A changed function has no patchable entry",
        "Check the callers; nothing else may patch a notrace entry.",
    ),
    (
        "DW1006",
        "layout-change-in-live-code",
        "A layout change reaches code that never quiesces",
        "Add new data as shadow fields instead of changing the layout.",
    ),
    (
        "DW1007",
        "build-config-changed",
        "A Kconfig or Makefile changed",
        "Check that already-built code is not affected.",
    ),
    (
        "DW1008",
        "function-removed",
        "A function was removed",
        "Callers that are not updated keep calling the old version.",
    ),
    (
        "DW1009",
        "quiescence-search-bounded",
        "The search for code that never quiesces reached its depth bound",
        "Plan again with a larger --depth to look further up the callers.",
    ),
    (
        "DW1010",
        "symlink-changed",
        "The patch creates, removes or changes a symbolic link",
        "Check by hand what the link points to; dynwalk does not follow it.",
    ),
    (
        "DW2001",
        "redirect",
        "The function's entry is redirected to a new version",
        "Built by the walker; applied by the runtime.",
    ),
    (
        "DW2002",
        "clone",
        "The function needs a new version although the patch does not touch it",
        "See the reasons: inline callers, macro and constant users, signature callers, layout users.",
    ),
    (
        "DW2003",
        "never-quiescent",
        "The function never returns: it cannot be waited for",
        "Adaptive cloning or loop extraction, as the result says.",
    ),
];

fn level(l: Level) -> &'static str {
    match l {
        Level::Error => "error",
        Level::Warning => "warning",
        Level::Note => "note",
    }
}

fn result(rule: &str, level: &str, text: String, file: &str, line: u32, col: u32) -> Value {
    json!({
        "ruleId": rule,
        "ruleIndex": RULES.iter().position(|r| r.0 == rule).unwrap_or(0),
        "level": level,
        "message": { "text": text },
        "locations": [{
            "physicalLocation": {
                "artifactLocation": { "uri": file, "uriBaseId": "SRCROOT" },
                "region": { "startLine": line.max(1), "startColumn": col.max(1) }
            }
        }]
    })
}

pub fn render(p: &Planned) -> Value {
    let plan = &p.plan;
    let mut results = Vec::new();
    for h in &plan.hazards {
        results.push(result(h.code, level(h.level), format!("{} Help: {}", h.message, h.help), &h.file, h.line, h.col));
    }
    for r in &plan.redirections {
        let t = format!(
            "redirect {}{} ({}): {}",
            r.place.function,
            crate::plan_cmd::entered_as(&r.symbols),
            r.mechanism,
            r.reason
        );
        results.push(result("DW2001", "note", t, &r.place.file, r.place.line, r.place.col));
    }
    for c in &plan.clones {
        let t =
            format!("clone {}{}: {}", c.place.function, crate::plan_cmd::entered_as(&c.symbols), c.reasons.join("; "));
        results.push(result("DW2002", "note", t, &c.place.file, c.place.line, c.place.col));
    }
    for n in &plan.quiescence.never_quiescent {
        let t =
            format!("{} never quiesces ({}); needs {}; path {}", n.place.function, n.why, n.needs, n.path.join(" -> "));
        results.push(result("DW2003", "warning", t, &n.place.file, n.place.line, n.place.col));
    }
    let rules: Vec<Value> = RULES
        .iter()
        .map(|(id, name, short, help)| {
            json!({
                "id": id,
                "name": name,
                "shortDescription": { "text": short },
                "help": { "text": help }
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "dynwalk",
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": rules
            }},
            "originalUriBaseIds": { "SRCROOT": { "description": { "text": p.source.label() } } },
            "results": results
        }]
    })
}
