//! Shadow data: a field the patch adds to a struct of the running kernel lives beside
//! the object, in the runtime's shadow table, keyed by (object, field id). The running
//! layout never changes: the versions are compiled against the target's own headers,
//! and every access of the new field in the emitted code becomes a call that finds the
//! field for that object, allocating it zeroed for objects that existed before the
//! update (or were made by code that does not know the field): the value a new field
//! of a zeroed allocation would have.
//!
//! Detach at free: the update also replaces `kfree` and `kmem_cache_free` with versions
//! that drop the shadow fields of the object being freed, so a new object at the same
//! address never inherits them. Objects freed in bulk (`kmem_cache_free_bulk`, the
//! batches of `kfree_rcu`) are not seen (docs/walker.md).

use std::collections::BTreeMap;

use dynwalk_analyzer::lex::{Lexer, Tok};
use dynwalk_analyzer::plan::Plan;
use serde::{Deserialize, Serialize};

/// One new field held as shadow data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShadowField {
    /// `struct signal_struct`
    pub aggregate: String,
    pub field: String,
    pub field_type: String,
    /// The key of the field in the runtime's table (a hash of aggregate and field: the
    /// same field in two updates is the same shadow).
    pub id: u64,
    /// A C identifier for the field's accessor.
    pub tag: String,
    /// `file:line:col` of every access rewritten.
    pub sites: Vec<String>,
}

fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // The runtime's ids are unsigned longs; keep clear of the small ids hand-written
    // updates use.
    h | 1 << 63
}

/// Every shadow field of the plan, by (aggregate, field).
pub fn fields(plan: &Plan) -> BTreeMap<(String, String), ShadowField> {
    let mut out = BTreeMap::new();
    for t in &plan.types {
        for s in &t.shadow {
            let tag: String =
                format!("{}_{}", t.key.trim_start_matches("struct ").trim_start_matches("union "), s.field)
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect();
            out.insert(
                (t.key.clone(), s.field.clone()),
                ShadowField {
                    aggregate: t.key.clone(),
                    field: s.field.clone(),
                    field_type: s.field_type.clone(),
                    id: fnv1a(&format!("{}.{}", t.key, s.field)),
                    tag,
                    sites: s.rewrite.iter().map(|r| format!("{}:{}:{}", r.file, r.line, r.col)).collect(),
                },
            );
        }
    }
    out
}

/// One access to rewrite in a file: byte offset of the field name, and the field.
#[derive(Clone, Debug)]
pub struct Site {
    pub offset: usize,
    pub tag: String,
    pub field: String,
}

/// The sites of `path`, at byte offsets of its (patched) text.
pub fn sites_in(plan: &Plan, path: &str, text: &str, fields: &BTreeMap<(String, String), ShadowField>) -> Vec<Site> {
    let line_starts: Vec<usize> =
        std::iter::once(0).chain(text.bytes().enumerate().filter(|(_, b)| *b == b'\n').map(|(i, _)| i + 1)).collect();
    let mut out = Vec::new();
    for t in &plan.types {
        for s in &t.shadow {
            let Some(f) = fields.get(&(t.key.clone(), s.field.clone())) else { continue };
            for r in s.rewrite.iter().filter(|r| r.file == path) {
                let Some(&ls) = line_starts.get(r.line.saturating_sub(1) as usize) else { continue };
                out.push(Site {
                    offset: ls + r.col.saturating_sub(1) as usize,
                    tag: f.tag.clone(),
                    field: f.field.clone(),
                });
            }
        }
    }
    out.sort_by_key(|s| s.offset);
    out.dedup_by_key(|s| s.offset);
    out
}

/// Rewrites the accesses of `sites` inside `text[a..b]` and returns that slice:
/// `base->field` becomes `(*dw_shadow__TAG(base))`, `base.field` becomes
/// `(*dw_shadow__TAG(&(base)))`. Errors name the offset that could not be read.
pub fn rewrite(text: &str, a: usize, b: usize, sites: &[Site]) -> Result<String, usize> {
    let mut out = String::new();
    let mut at = a;
    if a > b || b > text.len() || !text.is_char_boundary(a) || !text.is_char_boundary(b) {
        return Err(a);
    }
    for s in sites.iter().filter(|s| s.offset >= a && s.offset < b) {
        if !text.is_char_boundary(s.offset) || !text[s.offset..].starts_with(&s.field) {
            return Err(s.offset);
        }
        let field_end = s.offset + s.field.len();
        let (op_start, arrow) = operator_before(text, a, s.offset).ok_or(s.offset)?;
        let base_start = base_start(text, a, op_start).ok_or(s.offset)?;
        if base_start < at {
            return Err(s.offset); // nested in an access already rewritten
        }
        let base = text[base_start..op_start].trim();
        out.push_str(&text[at..base_start]);
        if arrow {
            out.push_str(&format!("(*dw_shadow__{}({base}))", s.tag));
        } else {
            out.push_str(&format!("(*dw_shadow__{}(&({base})))", s.tag));
        }
        at = field_end;
    }
    out.push_str(&text[at..b]);
    Ok(out)
}

/// The `->` or `.` right before `field_at` (whitespace allowed): its start, and whether
/// it is an arrow.
fn operator_before(text: &str, from: usize, field_at: usize) -> Option<(usize, bool)> {
    let head = text[from..field_at].trim_end();
    let end = from + head.len();
    if head.ends_with("->") {
        Some((end - 2, true))
    } else if head.ends_with('.') {
        Some((end - 1, false))
    } else {
        None
    }
}

/// Where the postfix expression ending right before `end` starts: identifiers joined
/// by `->` and `.`, with `(...)` and `[...]` groups (`current->signal`,
/// `tsk->sighand->action[i]`, `(*p)`, `get(x)->y`).
fn base_start(text: &str, from: usize, end: usize) -> Option<usize> {
    let toks: Vec<_> = Lexer::new(&text.as_bytes()[from..end]).collect();
    // Tokens are byte ranges; a byte inside a multi-byte character reads as nothing.
    let s = |i: usize| text.get(from + toks[i].start..from + toks[i].end).unwrap_or("");
    let mut i = toks.len().checked_sub(1)?;
    loop {
        // One operand: an identifier, or a bracketed group with what it applies to.
        match s(i) {
            ")" | "]" => {
                let (open, close) = if s(i) == ")" { ("(", ")") } else { ("[", "]") };
                let mut depth = 0;
                loop {
                    if s(i) == close {
                        depth += 1;
                    } else if s(i) == open {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    i = i.checked_sub(1)?;
                }
                // `f(x)` / `a[i]`: the group applies to what stands before it.
                if i > 0 && (toks[i - 1].kind == Tok::Ident || matches!(s(i - 1), ")" | "]")) {
                    i -= 1;
                    continue;
                }
            }
            _ if toks[i].kind == Tok::Ident => {}
            _ => return None,
        }
        if i >= 1 && matches!(s(i - 1), "->" | ".") && i >= 2 {
            i -= 2;
            continue;
        }
        return Some(from + toks[i].start);
    }
}

/// The C of one shadow field's accessor, for every generated file that uses it.
pub fn accessor(f: &ShadowField) -> String {
    format!(
        "/* shadow field {agg}.{field} ({ty}): id {id:#x} */\n\
         static __always_inline __typeof__({ty}) *dw_shadow__{tag}(const void *obj)\n\
         {{\n\
         \tstatic __typeof__({ty}) dw_lost__{tag};\n\
         \t__typeof__({ty}) *p = dw_shadow_get_or_alloc((void *)obj, {id:#x}UL, sizeof(__typeof__({ty})), GFP_ATOMIC);\n\n\
         \tif (unlikely(!p)) {{\n\
         \t\tpr_warn_ratelimited(\"dynwalk: no memory for shadow field {field}: value lost\\n\");\n\
         \t\tmemset(&dw_lost__{tag}, 0, sizeof(dw_lost__{tag}));\n\
         \t\treturn &dw_lost__{tag};\n\
         \t}}\n\
         \treturn p;\n\
         }}\n",
        agg = f.aggregate,
        field = f.field,
        ty = f.field_type,
        id = f.id,
        tag = f.tag
    )
}

/// The free hooks: versions of `kfree` and `kmem_cache_free` that detach the shadow
/// fields of the object being freed, then free it (a call made from inside a version
/// reaches the original).
pub fn free_hooks(fields: &[ShadowField]) -> String {
    let mut s = String::new();
    s.push_str("/* Generated by dynwalk: shadow fields leave with their object. */\n");
    s.push_str("#include <linux/slab.h>\n#include \"dynwalk.h\"\n\n");
    s.push_str("static const unsigned long dw_shadow_ids[] = {\n");
    for f in fields {
        s.push_str(&format!("\t{:#x}UL, /* {}.{} */\n", f.id, f.aggregate, f.field));
    }
    s.push_str("};\n\n");
    s.push_str(
        "static __always_inline void dw_detach(const void *x)\n{\n\tint i;\n\n\
         \tif (ZERO_OR_NULL_PTR(x))\n\t\treturn;\n\
         \tfor (i = 0; i < ARRAY_SIZE(dw_shadow_ids); i++)\n\
         \t\tif (dw_shadow_get((void *)x, dw_shadow_ids[i]))\n\
         \t\t\tdw_shadow_free((void *)x, dw_shadow_ids[i]);\n}\n\n\
         static atomic_long_t dw_active__kfree;\n\
         noinline void dw_ver__kfree(const void *x)\n{\n\
         \tatomic_long_inc(&dw_active__kfree);\n\tdw_detach(x);\n\tkfree(x);\n\
         \tatomic_long_dec(&dw_active__kfree);\n}\n\n\
         static atomic_long_t dw_active__kmem_cache_free;\n\
         noinline void dw_ver__kmem_cache_free(struct kmem_cache *s, void *x)\n{\n\
         \tatomic_long_inc(&dw_active__kmem_cache_free);\n\tdw_detach(x);\n\tkmem_cache_free(s, x);\n\
         \tatomic_long_dec(&dw_active__kmem_cache_free);\n}\n\n\
         int dw_init__shadow(void);\nint dw_init__shadow(void)\n{\n\tint err;\n\n\
         \terr = dw_register_version(THIS_MODULE, \"dw_ver__kfree\", (void *)dw_ver__kfree, &dw_active__kfree, NULL);\n\
         \tif (err)\n\t\treturn err;\n\
         \treturn dw_register_version(THIS_MODULE, \"dw_ver__kmem_cache_free\", (void *)dw_ver__kmem_cache_free,\n\
         \t\t\t\t   &dw_active__kmem_cache_free, NULL);\n}\n\n\
         void dw_exit__shadow(void);\nvoid dw_exit__shadow(void)\n{\n\tint i;\n\n\
         \tfor (i = 0; i < ARRAY_SIZE(dw_shadow_ids); i++)\n\t\tdw_shadow_free_all(dw_shadow_ids[i]);\n}\n",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_every_operator_form() {
        let text = "x = current->signal->f + 1; p->f++; s.f += 2; q = &t->a[i].f; g(x)->f = 0; (*p).f--;";
        let b = text.as_bytes();
        // The field names: an `f` after `->` or `.`.
        let sites: Vec<Site> = (1..b.len())
            .filter(|&i| b[i] == b'f' && (b[i - 1] == b'>' || b[i - 1] == b'.'))
            .map(|offset| Site { offset, tag: "sig_f".into(), field: "f".into() })
            .collect();
        assert_eq!(sites.len(), 6);
        assert_eq!(rewrite(text, 0, text.len(), &[]).unwrap(), text);
        let got = rewrite(text, 0, text.len(), &sites).unwrap();
        assert_eq!(
            got,
            "x = (*dw_shadow__sig_f(current->signal)) + 1; (*dw_shadow__sig_f(p))++; \
             (*dw_shadow__sig_f(&(s))) += 2; q = &(*dw_shadow__sig_f(&(t->a[i]))); \
             (*dw_shadow__sig_f(g(x))) = 0; (*dw_shadow__sig_f(&((*p))))--;"
        );
    }

    #[test]
    fn a_site_that_is_not_the_field_is_an_error() {
        let text = "a->g = 1;";
        let s = Site { offset: 3, tag: "t".into(), field: "f".into() };
        assert_eq!(rewrite(text, 0, text.len(), &[s]), Err(3));
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        assert_eq!(fnv1a("struct a.f"), fnv1a("struct a.f"));
        assert_ne!(fnv1a("struct a.f"), fnv1a("struct a.g"));
        assert!(fnv1a("x") >= 1 << 63);
    }
}
