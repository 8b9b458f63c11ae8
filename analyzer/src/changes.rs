//! The change set: what a patch changes, entity by entity, from the facts of each touched
//! file before and after.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::facts::{FileFacts, FnAttrs, Function};
use crate::lex::{Lexer, Tok};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FnChangeKind {
    /// The body's tokens changed.
    Body,
    /// The return or parameter types changed (the body may have changed too).
    Signature,
    Added,
    Removed,
    /// Only whitespace or comments changed: the compiled code is the same.
    Cosmetic,
    /// Only the names of renamed fields changed in the body: the compiled code is the same.
    Renamed,
    /// Only code in branches that this configuration does not compile changed (`#ifndef
    /// MODULE` in a module, `#ifdef CONFIG_X` with `X` off): the compiled code is the same.
    Inactive,
    /// The text is the same but moved to other lines, and it uses `__LINE__` (through
    /// `BUG()`, `WARN()`, ...): the compiled code differs only in line constants.
    LineShift,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FnChange {
    pub name: String,
    pub file: String,
    pub kind: FnChangeKind,
    /// Attributes of the new version (of the old one when removed).
    pub attrs: Vec<&'static str>,
    #[serde(skip)]
    pub attr_bits: FnAttrs,
    /// Line of the new version (of the old one when removed).
    pub line: u32,
    pub col: u32,
}

impl FnChange {
    pub fn is_inline(&self) -> bool {
        self.attr_bits.has(FnAttrs::INLINE) || self.attr_bits.has(FnAttrs::ALWAYS_INLINE)
    }
    /// A change the compiled code sees.
    pub fn is_semantic(&self) -> bool {
        !matches!(
            self.kind,
            FnChangeKind::Cosmetic | FnChangeKind::Inactive | FnChangeKind::Renamed | FnChangeKind::LineShift
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: String,
    /// `added`, `removed`, `retyped`, `moved`, `renamed` (`field` is the new name; the old
    /// field at the same place is gone: `old_type` is its type)
    pub change: &'static str,
    pub old_type: Option<String>,
    pub new_type: Option<String>,
    /// For `renamed`: the old name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_field: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TypeChange {
    /// `struct task_struct`, `union x`, `enum y`, `typedef t`
    pub key: String,
    pub file: String,
    pub line: u32,
    /// `added`, `removed`, `changed`
    pub change: &'static str,
    pub fields: Vec<FieldChange>,
    /// The layout changed: a field added, removed, retyped or moved (not for enums).
    pub layout_changed: bool,
    pub enumerators_changed: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MacroChange {
    pub name: String,
    pub file: String,
    pub line: u32,
    pub function_like: bool,
    /// `added`, `removed`, `changed`
    pub change: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GlobalChange {
    pub name: String,
    pub file: String,
    pub line: u32,
    /// The function holding a static local.
    pub function: Option<String>,
    /// `added`, `removed`, `initializer`, `length` (an array declared without a length
    /// whose initializer has another number of elements), `type`
    pub change: &'static str,
    /// For `length`: the element counts before and after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length: Option<[u32; 2]>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ChangeSet {
    pub functions: Vec<FnChange>,
    pub types: Vec<TypeChange>,
    pub macros: Vec<MacroChange>,
    pub globals: Vec<GlobalChange>,
    /// Files that are neither C nor headers: assembly, Kconfig, Makefiles, others, and
    /// symbolic links (kind `symlink`, whatever their name: never read as text).
    pub other_files: Vec<(String, &'static str)>,
}

/// The field renames of a change set: (old name, new name) of every `renamed` field. (A
/// renamed field that also changed size moves code; the type plan clones its accessors.)
pub fn renames(ch: &ChangeSet) -> Vec<(String, String)> {
    let mut r: Vec<(String, String)> = ch
        .types
        .iter()
        .flat_map(|t| &t.fields)
        .filter(|f| f.change == "renamed")
        .filter_map(|f| f.old_field.clone().map(|o| (o, f.field.clone())))
        .collect();
    r.sort();
    r.dedup();
    r
}

/// Functions whose body change is only the renaming of fields (`p->gdma_region` became
/// `p->dma_region_handle` with the field renamed in place): `renamed`, not `body` — the
/// compiled code is the same. `files` are the patched C files: (path, old text, old
/// facts, new text, new facts).
pub fn reclassify_renamed(ch: &mut ChangeSet, files: &[(&str, &[u8], &FileFacts, &[u8], &FileFacts)]) {
    let renames = renames(ch);
    if renames.is_empty() {
        return;
    }
    for c in ch.functions.iter_mut().filter(|c| c.kind == FnChangeKind::Body) {
        let Some((_, ot, of, nt, nf)) = files.iter().find(|f| f.0 == c.file) else { continue };
        let find = |t: &[u8], f: &FileFacts| {
            f.functions
                .iter()
                .find(|x| f.name(x.name) == c.name)
                .map(|x| t[x.body.0 as usize..(x.body.1 as usize).min(t.len())].to_vec())
        };
        let (Some(ob), Some(nb)) = (find(ot, of), find(nt, nf)) else { continue };
        let toks = |b: &[u8]| -> Vec<String> {
            crate::lex::Lexer::new(b).map(|t| String::from_utf8_lossy(&b[t.start..t.end]).into_owned()).collect()
        };
        // Token by token: every difference is a renamed field after `.` or `->` (another
        // struct's field of the old name may stay as it was).
        let (old, new) = (toks(&ob), toks(&nb));
        let only_renames = old.len() == new.len()
            && (0..old.len()).all(|i| {
                old[i] == new[i]
                    || (i > 0
                        && (old[i - 1] == "." || old[i - 1] == "->")
                        && renames.iter().any(|(o, n)| *o == old[i] && *n == new[i]))
            });
        if only_renames {
            c.kind = FnChangeKind::Renamed;
        }
    }
}

/// Identifiers whose use makes code depend on its line number.
const LINE_USERS: &[&str] = &[
    "__LINE__",
    "BUG",
    "BUG_ON",
    "WARN",
    "WARN_ON",
    "WARN_ON_ONCE",
    "WARN_ONCE",
    "WARN_TAINT",
    "might_sleep",
    "might_resched",
    "__might_sleep",
    "lockdep_assert_held",
    "BUILD_BUG_ON",
    "VM_BUG_ON",
    "pr_warn_once",
];

fn uses_line(text: &[u8]) -> bool {
    Lexer::new(text).any(|t| t.kind == Tok::Ident && LINE_USERS.iter().any(|u| u.as_bytes() == &text[t.start..t.end]))
}

/// What kind of file this is for the change set.
pub fn file_kind(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    if path.ends_with(".c") || path.ends_with(".h") {
        "c"
    } else if path.ends_with(".S") || path.ends_with(".s") {
        "assembly"
    } else if name.starts_with("Kconfig") {
        "kconfig"
    } else if name == "Makefile" || name == "Kbuild" || name.ends_with(".mk") {
        "makefile"
    } else {
        "other"
    }
}

struct Side<'a> {
    text: &'a [u8],
    f: &'a FileFacts,
}

fn fns<'a>(s: &Side<'a>) -> BTreeMap<String, &'a Function> {
    // Conditional duplicates: the last definition wins (kept deterministic by order).
    s.f.functions.iter().map(|x| (s.f.name(x.name).to_string(), x)).collect()
}

fn signature(s: &Side<'_>, x: &Function) -> String {
    let params: Vec<&str> = x.params.iter().map(|(_, t)| s.f.name(*t)).collect();
    format!("{}({})", s.f.name(x.ret), params.join(","))
}

/// Classifies the changes of one C file or header between `old` and `new` (either may be
/// absent for an added or deleted file).
pub fn classify_file(
    path: &str,
    old: Option<(&[u8], &FileFacts)>,
    new: Option<(&[u8], &FileFacts)>,
    out: &mut ChangeSet,
) {
    let empty = FileFacts::default();
    let o = Side { text: old.map(|x| x.0).unwrap_or(b""), f: old.map(|x| x.1).unwrap_or(&empty) };
    let n = Side { text: new.map(|x| x.0).unwrap_or(b""), f: new.map(|x| x.1).unwrap_or(&empty) };
    classify_functions(path, &o, &n, out);
    classify_types(path, &o, &n, out);
    classify_macros(path, &o, &n, out);
    classify_globals(path, &o, &n, out);
}

fn classify_functions(path: &str, o: &Side<'_>, n: &Side<'_>, out: &mut ChangeSet) {
    let (of, nf) = (fns(o), fns(n));
    for (name, nx) in &nf {
        let kind = match of.get(name) {
            None => Some(FnChangeKind::Added),
            Some(ox) => {
                let ob = &o.text[ox.span.start.offset as usize..ox.span.end as usize];
                let nb = &n.text[nx.span.start.offset as usize..nx.span.end as usize];
                if signature(o, ox) != signature(n, nx) {
                    Some(FnChangeKind::Signature)
                } else if ox.body_hash != nx.body_hash || ox.attrs != nx.attrs {
                    Some(FnChangeKind::Body)
                } else if ob != nb && crate::lex::token_hash(ob) != crate::lex::token_hash(nb) {
                    Some(FnChangeKind::Inactive)
                } else if ob != nb {
                    Some(FnChangeKind::Cosmetic)
                } else if ox.span.start.line != nx.span.start.line && uses_line(nb) {
                    Some(FnChangeKind::LineShift)
                } else {
                    None
                }
            }
        };
        if let Some(kind) = kind {
            out.functions.push(FnChange {
                name: name.clone(),
                file: path.to_string(),
                kind,
                attrs: nx.attrs.names(),
                attr_bits: nx.attrs,
                line: nx.name_pos.line,
                col: nx.name_pos.col,
            });
        }
    }
    for (name, ox) in &of {
        if !nf.contains_key(name) {
            out.functions.push(FnChange {
                name: name.clone(),
                file: path.to_string(),
                kind: FnChangeKind::Removed,
                attrs: ox.attrs.names(),
                attr_bits: ox.attrs,
                line: ox.name_pos.line,
                col: ox.name_pos.col,
            });
        }
    }
}

type Layout = (String, String, u32, Vec<(String, String)>, Vec<String>);

fn types(s: &Side<'_>) -> BTreeMap<String, Layout> {
    let mut m = BTreeMap::new();
    for t in &s.f.types {
        let key = format!("{} {}", t.kind.keyword(), s.f.name(t.name));
        // Anonymous members (unnamed unions and structs) are matched by their order among
        // the anonymous members: by name they would all be "" and pair up wrongly.
        let mut anon = 0;
        let fields = t
            .fields
            .iter()
            .map(|x| {
                let mut name = s.f.name(x.name).to_string();
                if name.is_empty() {
                    anon += 1;
                    name = format!("<anonymous #{anon}>");
                }
                (name, s.f.name(x.ty).to_string())
            })
            .collect();
        let enums = t.enumerators.iter().map(|e| s.f.name(*e).to_string()).collect();
        let aliased = t.aliased.map(|a| s.f.name(a).to_string()).unwrap_or_default();
        m.insert(key, (aliased, String::new(), t.span.start.line, fields, enums));
    }
    m
}

fn classify_types(path: &str, o: &Side<'_>, n: &Side<'_>, out: &mut ChangeSet) {
    let (ot, nt) = (types(o), types(n));
    for (key, (nal, _, line, nfields, nenums)) in &nt {
        let mut renames: Vec<(String, String)> = Vec::new();
        let Some((oal, _, _, ofields, oenums)) = ot.get(key) else {
            out.types.push(TypeChange {
                key: key.clone(),
                file: path.into(),
                line: *line,
                change: "added",
                fields: vec![],
                layout_changed: false,
                enumerators_changed: false,
            });
            continue;
        };
        let mut fields = Vec::new();
        // A field the new version lacks, replaced at the same place by one the old version
        // lacks: a rename (`u64 gdma_region` -> `gdma_obj_handle_t dma_region_handle`).
        let renamed_from = |k: usize| -> Option<&(String, String)> {
            let (name, _) = &nfields[k];
            let old = ofields.get(k)?;
            let lone = |f: &str, list: &[(String, String)]| !list.iter().any(|(x, _)| x == f);
            (lone(name, ofields) && lone(&old.0, nfields) && !name.is_empty() && !old.0.is_empty()).then_some(old)
        };
        for (k, (name, ty)) in nfields.iter().enumerate() {
            match ofields.iter().position(|(n2, _)| n2 == name) {
                None if renamed_from(k).is_some() => {
                    let (old_name, old_ty) = renamed_from(k).cloned().unwrap_or_default();
                    fields.push(FieldChange {
                        field: name.clone(),
                        change: "renamed",
                        old_type: Some(old_ty),
                        new_type: Some(ty.clone()),
                        old_field: Some(old_name.clone()),
                    });
                    renames.push((old_name, name.clone()));
                }
                None => fields.push(FieldChange {
                    field: name.clone(),
                    change: "added",
                    old_type: None,
                    new_type: Some(ty.clone()),
                    old_field: None,
                }),
                Some(j) if ofields[j].1 != *ty => fields.push(FieldChange {
                    field: name.clone(),
                    change: "retyped",
                    old_type: Some(ofields[j].1.clone()),
                    new_type: Some(ty.clone()),
                    old_field: None,
                }),
                Some(j) if j != k && !name.is_empty() => {
                    // Moved relative to the fields both versions have.
                    let before_old: Vec<&String> =
                        ofields[..j].iter().map(|f| &f.0).filter(|f| nfields.iter().any(|(x, _)| x == *f)).collect();
                    let before_new: Vec<&String> =
                        nfields[..k].iter().map(|f| &f.0).filter(|f| ofields.iter().any(|(x, _)| x == *f)).collect();
                    if before_old != before_new {
                        fields.push(FieldChange {
                            field: name.clone(),
                            change: "moved",
                            old_type: Some(ty.clone()),
                            new_type: Some(ty.clone()),
                            old_field: None,
                        });
                    }
                }
                _ => {}
            }
        }
        for (name, ty) in ofields {
            if !nfields.iter().any(|(x, _)| x == name) && !renames.iter().any(|(o, _)| o == name) {
                fields.push(FieldChange {
                    field: name.clone(),
                    change: "removed",
                    old_type: Some(ty.clone()),
                    new_type: None,
                    old_field: None,
                });
            }
        }
        // Enumerators appended after the existing ones leave the existing values alone.
        let enumerators_changed = oenums != nenums && !nenums.starts_with(oenums);
        let same_layout = fields.iter().all(|f| f.change == "renamed" && f.old_type == f.new_type);
        if !fields.is_empty() || oenums != nenums || oal != nal {
            out.types.push(TypeChange {
                key: key.clone(),
                file: path.into(),
                line: *line,
                change: "changed",
                layout_changed: (!fields.is_empty() && !same_layout) || (oal != nal && !key.starts_with("enum")),
                fields,
                enumerators_changed,
            });
        }
    }
    for (key, (_, _, line, _, _)) in &ot {
        if !nt.contains_key(key) {
            out.types.push(TypeChange {
                key: key.clone(),
                file: path.into(),
                line: *line,
                change: "removed",
                fields: vec![],
                layout_changed: false,
                enumerators_changed: false,
            });
        }
    }
}

fn classify_macros(path: &str, o: &Side<'_>, n: &Side<'_>, out: &mut ChangeSet) {
    let om: BTreeMap<&str, _> = o.f.macros.iter().map(|m| (o.f.name(m.name), m)).collect();
    let nm: BTreeMap<&str, _> = n.f.macros.iter().map(|m| (n.f.name(m.name), m)).collect();
    for (name, m) in &nm {
        let change = match om.get(name) {
            None => "added",
            Some(x)
                if x.body_hash != m.body_hash
                    || x.params.as_ref().map(|p| p.len()) != m.params.as_ref().map(|p| p.len()) =>
            {
                "changed"
            }
            _ => continue,
        };
        out.macros.push(MacroChange {
            name: name.to_string(),
            file: path.into(),
            line: m.pos.line,
            function_like: m.params.is_some(),
            change,
        });
    }
    for (name, m) in &om {
        if !nm.contains_key(name) {
            out.macros.push(MacroChange {
                name: name.to_string(),
                file: path.into(),
                line: m.pos.line,
                function_like: m.params.is_some(),
                change: "removed",
            });
        }
    }
}

fn classify_globals(path: &str, o: &Side<'_>, n: &Side<'_>, out: &mut ChangeSet) {
    let key = |s: &Side<'_>, g: &crate::facts::Global| {
        let func = g.in_function.map(|i| s.f.name(s.f.functions[i as usize].name).to_string());
        (s.f.name(g.name).to_string(), func)
    };
    let og: BTreeMap<_, _> = o.f.globals.iter().filter(|g| !g.is_extern).map(|g| (key(o, g), g)).collect();
    let ng: BTreeMap<_, _> = n.f.globals.iter().filter(|g| !g.is_extern).map(|g| (key(n, g), g)).collect();
    for ((name, func), g) in &ng {
        let mut length = None;
        let change = match og.get(&(name.clone(), func.clone())) {
            None => "added",
            Some(x) if o.f.name(x.ty) != n.f.name(g.ty) => "type",
            Some(x) if x.init_len.is_some() && g.init_len.is_some() && x.init_len != g.init_len => {
                length = x.init_len.zip(g.init_len).map(|(a, b)| [a, b]);
                "length"
            }
            Some(x) if x.init_hash != g.init_hash => "initializer",
            _ => continue,
        };
        // The place in the tree (the running kernel) when the variable is there already.
        let line = og.get(&(name.clone(), func.clone())).map_or(g.pos.line, |x| x.pos.line);
        out.globals.push(GlobalChange {
            name: name.clone(),
            file: path.into(),
            line,
            function: func.clone(),
            change,
            length,
        });
    }
    for ((name, func), g) in &og {
        if !ng.contains_key(&(name.clone(), func.clone())) {
            out.globals.push(GlobalChange {
                name: name.clone(),
                file: path.into(),
                line: g.pos.line,
                function: func.clone(),
                change: "removed",
                length: None,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(old: &str, new: &str) -> ChangeSet {
        let (of, nf) = (crate::extract(old.as_bytes(), None), crate::extract(new.as_bytes(), None));
        let mut out = ChangeSet::default();
        classify_file("include/x.h", Some((old.as_bytes(), &of)), Some((new.as_bytes(), &nf)), &mut out);
        out
    }

    /// Found by `dynwalk verify` on the mana driver's new GDMA request types: enumerators
    /// appended after the existing ones leave the existing values, and their users, alone.
    #[test]
    fn appended_enumerators_keep_the_existing_values() {
        let ch = classify("enum req { A = 25, B, C };\n", "enum req { A = 25, B, C, D = 29 };\n");
        assert_eq!(ch.types.len(), 1, "the enum is reported as changed");
        assert!(!ch.types[0].enumerators_changed);
        let ch = classify("enum req { A, B, C };\n", "enum req { A, X, B, C };\n");
        assert!(ch.types[0].enumerators_changed, "B and C are renumbered");
    }

    /// Found by `dynwalk verify` on the mana driver (#132): a field renamed in place.
    #[test]
    fn a_field_renamed_in_place_is_not_removed_and_added() {
        let ch = classify("struct m { u64 len; u64 region; };\n", "struct m { u64 len; handle_t handle; };\n");
        let f = &ch.types[0].fields;
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(
            (f[0].change, f[0].old_field.as_deref(), f[0].field.as_str()),
            ("renamed", Some("region"), "handle")
        );
        assert_eq!(renames(&ch), [("region".to_string(), "handle".to_string())]);
    }

    /// Found by `dynwalk verify` on Debian's slram patch (#92): the change is under
    /// `#ifndef MODULE`, and slram is a module: its code does not change.
    #[test]
    fn a_change_in_a_branch_that_is_not_compiled_is_not_a_body_change() {
        let old = "static int init(void)\n{\n#ifndef MODULE\n\tif (!map)\n\t\treturn -1;\n#endif\n\treturn 0;\n}\n";
        let new = "static int init(void)\n{\n#ifndef MODULE\n\tif (!map || locked())\n\t\treturn -1;\n#endif\n\treturn 0;\n}\n";
        let kind = |cfg: Option<&crate::Config>| {
            let (of, nf) = (crate::extract(old.as_bytes(), cfg), crate::extract(new.as_bytes(), cfg));
            let mut out = ChangeSet::default();
            classify_file("drivers/x.c", Some((old.as_bytes(), &of)), Some((new.as_bytes(), &nf)), &mut out);
            out.functions.iter().map(|f| f.kind).collect::<Vec<_>>()
        };
        let cfg = crate::Config::parse("CONFIG_X=m\n");
        assert_eq!(kind(None), [FnChangeKind::Body], "MODULE unknown: the branch may be compiled");
        assert_eq!(kind(Some(&cfg.for_object(false))), [FnChangeKind::Body], "built in: compiled");
        assert_eq!(kind(Some(&cfg.for_object(true))), [FnChangeKind::Inactive], "a module: not compiled");
    }

    /// Found by `dynwalk verify` on Debian's perf_event_open restriction patch: adding an
    /// inline function to perf_event.h reported `struct hw_perf_event` (anonymous unions
    /// and structs) as retyped.
    #[test]
    fn anonymous_members_pair_up_in_order() {
        let s = "struct hw { union { int a; long b; }; struct { int c; }; union { char d; }; int e; };\n";
        let ch = classify(s, &format!("{s}static inline int f(void) {{ return 1; }}\n"));
        assert!(ch.types.is_empty(), "{:?}", ch.types);
        assert_eq!(ch.functions.len(), 1);
        // Swapping two anonymous members is a real layout change.
        let swapped = "struct hw { struct { int c; }; union { int a; long b; }; union { char d; }; int e; };\n";
        let ch = classify(s, swapped);
        assert_eq!(ch.types.len(), 1);
        assert!(ch.types[0].layout_changed);
    }
}
