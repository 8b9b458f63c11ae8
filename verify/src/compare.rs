//! The plan held against the objects: which changed functions the plan misses (unsafe),
//! and which plan items touch code that did not change (over-approximations).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::objdiff::{FnClass, FnDiff};

/// What the plan says, as plain data (the CLI lowers the analyzer's plan into this).
#[derive(Clone, Debug, Default)]
pub struct PlanItems {
    /// `(function, file, why)` of each redirection.
    pub redirects: Vec<(String, String, String)>,
    /// `(function, file, why)` of each clone.
    pub clones: Vec<(String, String, String)>,
    /// `(function, file)` of functions the patch adds.
    pub added: Vec<(String, String)>,
    /// function -> how the plan classified its change (`cosmetic`, `line-shift`...).
    pub change_kinds: BTreeMap<String, String>,
    /// `(function, file, type)` of every access and `sizeof` site of a type whose layout
    /// the plan handles (shadow fields keep the old layout): the plan speaks about them,
    /// so their changes are covered, but they are not redirect/clone items.
    pub type_users: Vec<(String, String, String)>,
}

/// One compiled source file and the verdict on each of its functions.
#[derive(Clone, Debug, Serialize)]
pub struct ObjectDiff {
    pub source: String,
    /// Only functions that are not unchanged, plus unchanged ones with a note.
    pub functions: Vec<FnDiff>,
    pub unchanged: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Miss {
    pub function: String,
    pub source: String,
    pub class: FnClass,
    pub symbols: String,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OverApprox {
    pub function: String,
    pub file: String,
    /// `redirect` or `clone`.
    pub item: &'static str,
    pub reason: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Counts {
    /// Functions whose code changed or is new, per object.
    pub changed: usize,
    /// Of those, the ones the plan covers.
    pub covered: usize,
    /// Plan items (redirect/clone) found in at least one compiled object.
    pub plan_items: usize,
    /// Of those, the ones whose code really changed.
    pub plan_items_changed: usize,
    /// Plan items found in no compiled object (inlined everywhere, or not compiled).
    pub plan_items_not_compiled: usize,
}

impl Counts {
    pub fn recall(&self) -> f64 {
        if self.changed == 0 {
            1.0
        } else {
            self.covered as f64 / self.changed as f64
        }
    }

    pub fn precision(&self) -> f64 {
        if self.plan_items == 0 {
            1.0
        } else {
            self.plan_items_changed as f64 / self.plan_items as f64
        }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Comparison {
    pub misses: Vec<Miss>,
    pub over_approximations: Vec<OverApprox>,
    /// Plan items that no compiled object holds: not counted either way.
    pub not_compiled: Vec<String>,
    pub counts: Counts,
}

fn is_header(f: &str) -> bool {
    f.ends_with(".h")
}

/// The source name of an object function: `SYSCALL_DEFINEn(name)` compiles to
/// `__do_sys_name` (the body), `__se_sys_name` and `__x64_sys_name`/`__ia32_sys_name`
/// (wrappers); the plan calls all of them `sys_name` (`compat_sys_name` for compat ones).
pub fn source_name(function: &str) -> std::borrow::Cow<'_, str> {
    for (prefix, plan) in [
        ("__do_sys_", "sys_"),
        ("__se_sys_", "sys_"),
        ("__x64_sys_", "sys_"),
        ("__ia32_sys_", "sys_"),
        ("__do_compat_sys_", "compat_sys_"),
        ("__se_compat_sys_", "compat_sys_"),
        ("__x64_compat_sys_", "compat_sys_"),
        ("__ia32_compat_sys_", "compat_sys_"),
    ] {
        if let Some(rest) = function.strip_prefix(prefix) {
            return format!("{plan}{rest}").into();
        }
    }
    function.into()
}

/// Does the plan item `(function, file)` speak about `function` in the object of `source`?
fn item_matches(item: &(String, String, String), function: &str, source: &str) -> bool {
    (item.0 == function || item.0 == source_name(function)) && (item.1 == source || is_header(&item.1))
}

/// Whether C `text` defines a function `name`: the name, a parameter list, then a body.
pub fn defines(text: &[u8], name: &str) -> bool {
    let mut from = 0;
    while let Some(at) = text[from..].windows(name.len()).position(|w| w == name.as_bytes()).map(|p| p + from) {
        from = at + name.len();
        let before_ok = at == 0 || !(text[at - 1].is_ascii_alphanumeric() || text[at - 1] == b'_');
        let rest = &text[from..];
        let rest = &rest[rest.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(rest.len())..];
        if !before_ok || rest.first() != Some(&b'(') {
            continue;
        }
        // After the parameters: `{` before any `;` is a definition.
        let mut depth = 0;
        for (k, &b) in rest.iter().enumerate() {
            match b {
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        let tail = &rest[k + 1..];
                        let next = tail.iter().find(|b| matches!(b, b'{' | b';' | b'='));
                        if next == Some(&b'{') {
                            return true;
                        }
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    false
}

/// Holds the plan against the compared objects. `header_copies` are `(source, function)`
/// of new functions that the source does not define (out-of-line copies of a header's
/// inline functions): they come with their callers' new code and count as covered.
pub fn compare(
    objects: &[(String, Vec<FnDiff>)],
    plan: &PlanItems,
    header_copies: &BTreeSet<(String, String)>,
) -> Comparison {
    let mut c = Comparison::default();
    let items: Vec<(&'static str, &(String, String, String))> =
        plan.redirects.iter().map(|i| ("redirect", i)).chain(plan.clones.iter().map(|i| ("clone", i))).collect();
    for (source, diffs) in objects {
        for d in diffs.iter().filter(|d| matches!(d.class, FnClass::Changed | FnClass::New)) {
            c.counts.changed += 1;
            let by_item = items.iter().any(|(_, i)| item_matches(i, &d.function, source));
            let added = d.class == FnClass::New
                && plan.added.iter().any(|(f, _)| *f == d.function || *f == source_name(&d.function));
            let by_type = plan.type_users.iter().any(|i| item_matches(i, &d.function, source));
            let copy = d.class == FnClass::New && header_copies.contains(&(source.clone(), d.function.clone()));
            if by_item || added || by_type || copy {
                c.counts.covered += 1;
                continue;
            }
            let reason = match (d.class, plan.change_kinds.get(&d.function)) {
                (FnClass::New, _) => "new in the object, but the plan does not list it as added (a new out-of-line copy or clone?)".to_string(),
                (_, Some(kind)) => format!("the code changed ({}), but the plan classifies the change as `{kind}` and neither redirects nor clones it", d.note),
                (_, None) => format!("the code changed ({}), but the plan neither redirects nor clones it: it must inline or use something the patch changed", d.note),
            };
            c.misses.push(Miss {
                function: d.function.clone(),
                source: source.clone(),
                class: d.class,
                symbols: d.symbols.clone(),
                reason,
            });
        }
    }
    let mut seen = BTreeSet::new();
    for (kind, item) in items {
        if !seen.insert((item.0.clone(), item.1.clone())) {
            continue;
        }
        let found: Vec<(&String, &FnDiff)> = objects
            .iter()
            .flat_map(|(s, ds)| ds.iter().map(move |d| (s, d)))
            .filter(|(s, d)| item_matches(item, &d.function, s))
            .collect();
        if found.is_empty() {
            c.counts.plan_items_not_compiled += 1;
            c.not_compiled.push(format!(
                "{kind} {} ({}): in no compiled object (inlined everywhere, or its file is not built)",
                item.0, item.1
            ));
            continue;
        }
        c.counts.plan_items += 1;
        if found.iter().any(|(_, d)| d.class != FnClass::Unchanged) {
            c.counts.plan_items_changed += 1;
        } else {
            let where_: Vec<&str> = found.iter().map(|(s, _)| s.as_str()).collect();
            c.over_approximations.push(OverApprox {
                function: item.0.clone(),
                file: item.1.clone(),
                item: kind,
                reason: format!(
                    "the plan {}s it ({}), but its code is identical in {}",
                    if kind == "clone" { "clone" } else { "redirect" },
                    item.2,
                    where_.join(", ")
                ),
            });
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(function: &str, class: FnClass) -> FnDiff {
        FnDiff { function: function.into(), class, symbols: function.into(), note: String::new() }
    }

    fn item(f: &str, file: &str) -> (String, String, String) {
        (f.into(), file.into(), "why".into())
    }

    #[test]
    fn coverage_misses_and_over_approximations() {
        let objects = vec![
            (
                "a.c".to_string(),
                vec![
                    d("redirected", FnClass::Changed),
                    d("inl_caller", FnClass::Changed),
                    d("uses_type", FnClass::Changed),
                    d("silent", FnClass::Changed),
                    d("added", FnClass::New),
                    d("__do_sys_open", FnClass::Changed),
                    d("__x64_sys_open", FnClass::Unchanged),
                    d("same", FnClass::Unchanged),
                ],
            ),
            ("b.c".to_string(), vec![d("redirected", FnClass::Changed), d("hdr", FnClass::Unchanged)]),
        ];
        let plan = PlanItems {
            redirects: vec![
                item("redirected", "a.c"),
                item("same", "a.c"),
                item("gone", "a.c"),
                item("sys_open", "a.c"),
            ],
            clones: vec![item("inl_caller", "include/x.h"), item("hdr", "include/x.h")],
            added: vec![("added".into(), "a.c".into())],
            change_kinds: BTreeMap::new(),
            type_users: vec![item("uses_type", "a.c")],
        };
        let c = compare(&objects, &plan, &BTreeSet::new());
        // b.c's `redirected` is another static function of the same name: not covered.
        let missed: Vec<(&str, &str)> = c.misses.iter().map(|m| (m.function.as_str(), m.source.as_str())).collect();
        assert_eq!(missed, vec![("silent", "a.c"), ("redirected", "b.c")]);
        let over: Vec<&str> = c.over_approximations.iter().map(|o| o.function.as_str()).collect();
        assert_eq!(over, vec!["same", "hdr"]);
        assert_eq!(c.counts.changed, 7);
        assert_eq!(c.counts.covered, 5, "SYSCALL_DEFINE's __do_sys_open is the plan's sys_open");
        assert_eq!((c.counts.plan_items, c.counts.plan_items_changed, c.counts.plan_items_not_compiled), (5, 3, 1));
        assert!(c.not_compiled[0].contains("gone"));
    }

    #[test]
    fn a_definition_is_told_from_a_call_and_a_prototype() {
        let text = b"static int add(int a, int b);\nint use(void) { return add(1, 2) + kmalloc_array(1, 2, 3) != 0; }\nstatic int add(int a,\n int b)\n{ return a + b; }\n";
        assert!(defines(text, "add"));
        assert!(defines(text, "use"));
        assert!(!defines(text, "kmalloc_array"), "called, not defined");
        assert!(!defines(b"int f(void);\n", "f"), "a prototype");
        assert!(!defines(b"int padd(int x) { return x; }", "add"), "another name");
    }
}
