//! The object diff on small C files compiled by the real gcc, before and after an edit,
//! with the flags that matter in the kernel (no PIC, kernel code model, one section per
//! function and per variable).

use std::path::Path;
use std::process::Command;

use dynwalk_verify::objdiff::{diff_objects, read_functions, FnClass, FnDiff, LineMap, NoLines};

fn compile(dir: &Path, name: &str, src: &str) -> Vec<u8> {
    let c = dir.join(format!("{name}.c"));
    let o = dir.join(format!("{name}.o"));
    std::fs::write(&c, src).unwrap();
    let st = Command::new("gcc")
        .args(["-O2", "-fno-pic", "-mcmodel=kernel", "-mno-red-zone", "-ffunction-sections", "-fdata-sections", "-c"])
        .arg(&c)
        .arg("-o")
        .arg(&o)
        .status()
        .expect("gcc runs");
    assert!(st.success(), "gcc failed on {name}");
    std::fs::read(&o).unwrap()
}

fn diff_with(before: &str, after: &str, lines: &dyn LineMap) -> Vec<FnDiff> {
    let dir = tempfile::tempdir().unwrap();
    let b = read_functions(&compile(dir.path(), "before", before)).unwrap();
    let a = read_functions(&compile(dir.path(), "after", after)).unwrap();
    diff_objects(&b, &a, lines)
}

fn class_of(d: &[FnDiff], f: &str) -> FnClass {
    d.iter().find(|x| x.function == f).unwrap_or_else(|| panic!("{f} not in {d:#?}")).class
}

const BEFORE: &str = r#"
extern void report(const char *s, int line);
extern int global;
int bump(int x) { return x + 1; }
void say(void) { report("hello", 0); }
int gone(int x) { return x * 7 + global; }
static inline int sq(int x) { return x * x; }
int use_sq(int y) { return sq(y) + global; }
static __attribute__((noinline)) int mul(int a, int b) { return a * b + global; }
int m1(int x) { return mul(x, 3); }
int m2(int x) { return mul(x + 1, 3); }
"#;

const AFTER: &str = r#"
extern void report(const char *s, int line);
extern int global;
void fresh(void) { report("a new string before hello", 1); }
int bump(int x) { return x + 2; }
void say(void) { report("hello", 0); }
static inline int sq(int x) { return x * x + 1; }
int use_sq(int y) { return sq(y) + global; }
static __attribute__((noinline)) int mul(int a, int b) { return a * b - global; }
int m1(int x) { return mul(x, 3); }
int m2(int x) { return mul(x + 1, 3); }
"#;

#[test]
fn body_change_new_removed_and_unchanged_despite_layout_and_strings() {
    let d = diff_with(BEFORE, AFTER, &NoLines);
    assert_eq!(class_of(&d, "bump"), FnClass::Changed);
    assert_eq!(class_of(&d, "fresh"), FnClass::New);
    assert_eq!(class_of(&d, "gone"), FnClass::Removed);
    // `say` moved, and its string moved inside .rodata.str: the same code.
    assert_eq!(class_of(&d, "say"), FnClass::Unchanged);
    assert_eq!(class_of(&d, "m1"), FnClass::Unchanged);
}

#[test]
fn a_static_inline_change_is_seen_through_its_caller() {
    let d = diff_with(BEFORE, AFTER, &NoLines);
    assert_eq!(class_of(&d, "use_sq"), FnClass::Changed);
    assert!(d.iter().all(|x| x.function != "sq"), "sq is inlined: no symbol of its own");
}

#[test]
fn gcc_clones_map_back_to_their_function() {
    let d = diff_with(BEFORE, AFTER, &NoLines);
    let mul = d.iter().find(|x| x.function == "mul").expect("mul's clone maps to mul");
    assert_eq!(mul.class, FnClass::Changed);
    assert!(mul.symbols.contains("mul.constprop"), "{mul:?}");
}

struct Shift(u64);
impl LineMap for Shift {
    fn moved(&self, old: u64, new: u64) -> bool {
        new == old + self.0
    }
}

#[test]
fn line_only_changes_are_unchanged_with_a_note_but_other_constants_are_changes() {
    let before = "extern void report(const char *s, int line);\nvoid w(void) { report(\"x\", __LINE__); }\nvoid k(void) { report(\"x\", 10); }\n";
    let after = "extern void report(const char *s, int line);\n\n\n\nvoid w(void) { report(\"x\", __LINE__); }\nvoid k(void) { report(\"x\", 13); }\n";
    let d = diff_with(before, after, &Shift(3));
    let w = d.iter().find(|x| x.function == "w").unwrap();
    assert_eq!(w.class, FnClass::Unchanged);
    assert!(w.note.contains("__LINE__"), "{w:?}");
    // k's constant 10 -> 13 is not a line (old line 10 does not map to 13 here).
    let d = diff_with(before, after, &NoLines);
    assert_eq!(class_of(&d, "w"), FnClass::Changed);
    assert_eq!(class_of(&d, "k"), FnClass::Changed);
}

#[test]
fn calls_inside_a_shared_section_are_named_not_measured() {
    let before = r#"
#define INIT __attribute__((section(".init.text"), noinline))
extern int global;
static INIT int first(int x) { return x + global; }
static INIT int third(int x) { return x * global; }
INIT int second(int x) { return third(x) + first(x); }
"#;
    let after = r#"
#define INIT __attribute__((section(".init.text"), noinline))
extern int global;
static INIT int first(int x) { return x * x * x + global * x - 5; }
static INIT int third(int x) { return x * global; }
INIT int second(int x) { return third(x) + first(x); }
"#;
    let d = diff_with(before, after, &NoLines);
    assert_eq!(class_of(&d, "first"), FnClass::Changed);
    assert_eq!(class_of(&d, "second"), FnClass::Unchanged);
    assert_eq!(class_of(&d, "third"), FnClass::Unchanged);
}

#[test]
fn merged_strings_are_named_by_content_not_by_the_section_gcc_names_after_a_function() {
    // gcc puts "shared" into `.rodata.first.str1.1` (named after its first user); once
    // `first` is gone it lives in `.rodata.second.str1.1`: `second` is the same code.
    let before = "extern void report(const char *s, int line);\nvoid first(void) { report(\"shared\", 1); }\nvoid second(void) { report(\"shared\", 2); }\n";
    let after = "extern void report(const char *s, int line);\nvoid second(void) { report(\"shared\", 2); }\n";
    let d = diff_with(before, after, &NoLines);
    assert_eq!(class_of(&d, "first"), FnClass::Removed);
    assert_eq!(class_of(&d, "second"), FnClass::Unchanged, "{d:#?}");
}

#[test]
fn an_alias_is_the_function_it_points_at_not_a_second_change() {
    // What `module_init(phy_module_init)` makes: a global alias of a static function.
    let src = |n: u32| {
        format!(
            "extern int reg(void *p, int n);\nextern char tbl[];\nstatic int phy_module_init(void) {{ return reg(tbl, {n}); }}\nint init_module(void) __attribute__((alias(\"phy_module_init\")));\n"
        )
    };
    let d = diff_with(&src(20), &src(17), &NoLines);
    assert_eq!(class_of(&d, "phy_module_init"), FnClass::Changed);
    assert!(d.iter().all(|x| x.function != "init_module"), "the alias is folded into its function: {d:#?}");
}
