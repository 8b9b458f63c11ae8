//! Fixture-driven tests, one per fact family, on corpora/mini and small inline fixtures.
//! Expectations are text snapshots (`UPDATE_EXPECT=1 cargo test` rewrites them; review
//! the diff before committing).

mod common;

use common::*;
use dynwalk_analyzer::db::{file_facts, AnalysisDb};
use dynwalk_analyzer::facts::FileFacts;
use dynwalk_analyzer::query;
use expect_test::{expect, Expect};

fn facts_of<'a>(db: &'a AnalysisDb, path: &str) -> &'a FileFacts {
    let f = db.files().iter().find(|f| f.path(db) == path).unwrap_or_else(|| panic!("no {path}"));
    file_facts(db, *f)
}

fn check(actual: String, e: Expect) {
    e.assert_eq(&actual);
}

#[test]
fn functions_with_storage_and_attributes() {
    let db = mini_db(false);
    let mut out = String::new();
    for path in
        ["kernel/sched.c", "kernel/fork.c", "mm/vmscan.c", "mm/reclaimd.c", "fs/read_write.c", "include/asm/current.h"]
    {
        let f = facts_of(&db, path);
        for func in &f.functions {
            let params: Vec<String> =
                func.params.iter().map(|(n, t)| format!("{} {}", f.name(*t), f.name(*n))).collect();
            out.push_str(&format!(
                "{path}:{} {} {}({}) [{}]\n",
                func.name_pos.line,
                f.name(func.ret),
                f.name(func.name),
                params.join(", "),
                func.attrs.names().join(" ")
            ));
        }
    }
    check(
        out,
        expect![[r#"
        kernel/sched.c:12 int goodness(struct task_struct * p, struct mm_struct * this_mm) [static inline]
        kernel/sched.c:22 void add_to_runqueue(struct task_struct * p) [static inline]
        kernel/sched.c:28 int wake_up_process(struct task_struct * p) []
        kernel/sched.c:35 void switch_to(struct task_struct * prev, struct task_struct * next) [static]
        kernel/sched.c:41 void schedule(void ) [asmlinkage]
        kernel/sched.c:67 signed long schedule_timeout(signed long timeout) [k&r]
        kernel/sched.c:82 void __wake_up(wait_queue_head_t * q, unsigned int mode, int nr) []
        kernel/sched.c:94 void add_wait_queue(wait_queue_head_t * q, wait_queue_t * wait) []
        kernel/sched.c:99 void remove_wait_queue(wait_queue_head_t * q, wait_queue_t * wait) []
        kernel/sched.c:104 void sched_init(void ) [__init]
        kernel/fork.c:7 struct mm_struct * dup_mm(struct mm_struct * old) [static k&r]
        kernel/fork.c:20 int do_fork(unsigned long clone_flags, unsigned long stack_start, struct task_struct * orig) [k&r]
        kernel/fork.c:38 void exit_mm(struct task_struct * tsk) []
        mm/vmscan.c:8 int shrink_caches(int priority) [static]
        mm/vmscan.c:13 int kswapd_balance(void ) [static]
        mm/vmscan.c:23 int kswapd(void * unused) []
        mm/vmscan.c:34 void wakeup_kswapd(void ) []
        mm/vmscan.c:40 int kswapd_init(void ) [static __init]
        mm/reclaimd.c:7 void reclaim_one(void ) [static notrace]
        mm/reclaimd.c:12 int reclaimd(void * data) [static]
        mm/reclaimd.c:22 int reclaimd_start(void ) []
        fs/read_write.c:5 ssize_t vfs_read(struct file * file, char * buf, size_t count, loff_t * pos) []
        fs/read_write.c:14 ssize_t sys_read(unsigned int fd, char * buf, size_t count) [asmlinkage]
        fs/read_write.c:30 long sys_write(unsigned int fd, char * buf, size_t count) [asmlinkage syscall]
        include/asm/current.h:7 struct task_struct * get_current(void ) [static inline __always_inline]
    "#]],
    );
}

#[test]
fn call_sites_direct_member_pointer_and_iterator_macros() {
    let db = mini_db(false);
    let mut out = String::new();
    for path in ["fs/read_write.c", "kernel/sched.c"] {
        let f = facts_of(&db, path);
        for c in &f.calls {
            let caller = c.caller.map(|i| f.name(f.functions[i as usize].name)).unwrap_or("-");
            out.push_str(&format!(
                "{path}:{}:{} {caller} -> {} {:?}\n",
                c.pos.line,
                c.pos.col,
                f.name(c.callee),
                c.kind
            ));
        }
    }
    check(
        out,
        expect![[r#"
        fs/read_write.c:10:21 vfs_read -> read Member
        fs/read_write.c:19:9 sys_read -> fget Direct
        fs/read_write.c:21:9 sys_read -> vfs_read Direct
        fs/read_write.c:22:3 sys_read -> fput Direct
        fs/read_write.c:32:22 sys_write -> fget Direct
        fs/read_write.c:38:12 sys_write -> write Pointer
        fs/read_write.c:39:3 sys_write -> fput Direct
        kernel/sched.c:24:2 add_to_runqueue -> list_add Direct
        kernel/sched.c:31:2 wake_up_process -> add_to_runqueue Direct
        kernel/sched.c:51:2 schedule -> list_for_each MacroBlock
        kernel/sched.c:52:7 schedule -> list_entry Direct
        kernel/sched.c:53:16 schedule -> goodness Direct
        kernel/sched.c:64:3 schedule -> switch_to Direct
        kernel/sched.c:73:3 schedule_timeout -> schedule Direct
        kernel/sched.c:77:2 schedule_timeout -> schedule Direct
        kernel/sched.c:86:2 __wake_up -> list_for_each MacroBlock
        kernel/sched.c:87:24 __wake_up -> list_entry Direct
        kernel/sched.c:90:4 __wake_up -> wake_up_process Direct
        kernel/sched.c:96:2 add_wait_queue -> list_add Direct
        kernel/sched.c:101:2 remove_wait_queue -> list_del Direct
    "#]],
    );
}

#[test]
fn macro_definitions_and_hidden_calls() {
    let db = mini_db(false);
    let f = facts_of(&db, "include/linux/wait.h");
    let mut out = String::new();
    for m in &f.macros {
        let calls: Vec<&str> = m.refs().calls.iter().map(|c| f.name(*c)).collect();
        let fields: Vec<&str> = m.refs().fields.iter().map(|c| f.name(*c)).collect();
        let kind = if m.params.is_some() { "fn" } else { "obj" };
        out.push_str(&format!("{} {kind} calls={calls:?} fields={fields:?}\n", f.name(m.name)));
    }
    // `wake_up(q)` yields an edge to `__wake_up`, through the macro.
    for s in query::callers(&db, "__wake_up") {
        out.push_str(&format!("{}:{} {} via {:?}\n", s.file, s.line, s.caller.unwrap_or_default(), s.via));
    }
    // `wait_event` hides `schedule` two macro levels down.
    for s in query::callers(&db, "schedule") {
        out.push_str(&format!("{}:{} {} {} via {:?}\n", s.file, s.line, s.caller.unwrap_or_default(), s.how, s.via));
    }
    check(
        out,
        expect![[r#"
        _LINUX_WAIT_H obj calls=[] fields=[]
        TASK_RUNNING obj calls=[] fields=[]
        TASK_INTERRUPTIBLE obj calls=[] fields=[]
        TASK_UNINTERRUPTIBLE obj calls=[] fields=[]
        wake_up fn calls=["__wake_up"] fields=[]
        wake_up_interruptible fn calls=["__wake_up"] fields=[]
        __wait_event fn calls=["init_waitqueue_entry", "add_wait_queue", "set_current_state", "schedule", "remove_wait_queue"] fields=["state"]
        wait_event fn calls=["__wait_event"] fields=[]
        fs/pipe.c:32 pipe_read via ["wake_up_interruptible"]
        fs/pipe.c:49 pipe_write via ["wake_up"]
        mm/vmscan.c:37 wakeup_kswapd via ["wake_up_interruptible"]
        fs/pipe.c:21 pipe_read macro via ["wait_event", "__wait_event"]
        kernel/sched.c:73 schedule_timeout direct via []
        kernel/sched.c:77 schedule_timeout direct via []
        mm/vmscan.c:30 kswapd macro via ["wait_event", "__wait_event"]
    "#]],
    );
}

#[test]
fn types_fields_nested_members_and_typedefs() {
    let db = mini_db(false);
    let f = facts_of(&db, "include/linux/sched.h");
    let mut out = String::new();
    for t in &f.types {
        out.push_str(&format!("{} {}", t.kind.keyword(), f.name(t.name)));
        if let Some(a) = t.aliased {
            out.push_str(&format!(" = {}", f.name(a)));
        }
        out.push('\n');
        for fl in &t.fields {
            out.push_str(&format!("  {}{} : {}\n", "  ".repeat(fl.depth as usize), f.name(fl.name), f.name(fl.ty)));
        }
    }
    check(
        out,
        expect![[r#"
            struct mm_struct
              mm_users : int
              start_code : unsigned long
              end_code : unsigned long
              mmlist : struct list_head
            struct task_struct
              state : long
              flags : unsigned long
              sigpending : int
              counter : long
              nice : long
              mm : struct mm_struct *
              active_mm : struct mm_struct *
              run_list : struct list_head
              pid : int
              processor : int
              has_cpu : int
              times : struct <anon>
              comm : char [16]
              wait_chldexit : wait_queue_head_t
            typedef task_t = struct task_struct
        "#]],
    );
}

#[test]
fn field_accesses_with_kind_and_resolved_type() {
    let db = mini_db(false);
    let mut out = String::new();
    for s in query::accesses(&db, "struct task_struct", None) {
        out.push_str(&format!(
            "{}:{}:{} {} {} {}{}\n",
            s.file,
            s.line,
            s.col,
            s.function.unwrap_or_default(),
            s.kind,
            s.operator,
            s.field
        ));
    }
    check(
        out,
        expect![[r#"
        include/linux/sched.h:59:12 signal_pending read ->sigpending
        kernel/fork.c:30:5 do_fork write ->mm
        kernel/fork.c:30:23 do_fork read ->mm
        kernel/fork.c:31:5 do_fork write ->active_mm
        kernel/fork.c:31:20 do_fork read ->mm
        kernel/fork.c:32:5 do_fork write ->pid
        kernel/fork.c:33:26 do_fork address-of ->wait_chldexit
        kernel/fork.c:35:12 do_fork read ->pid
        kernel/fork.c:40:30 exit_mm read ->mm
        kernel/fork.c:43:8 exit_mm write ->mm
        kernel/kthread.c:11:5 kernel_thread write ->state
        kernel/kthread.c:12:5 kernel_thread write ->pid
        kernel/kthread.c:22:6 kthread_create write ->comm
        kernel/sched.c:14:18 goodness read ->counter
        kernel/sched.c:16:9 goodness read ->mm
        kernel/sched.c:16:30 goodness read ->mm
        kernel/sched.c:18:20 goodness read ->nice
        kernel/sched.c:24:15 add_to_runqueue address-of ->run_list
        kernel/sched.c:30:5 wake_up_process write ->state
        kernel/sched.c:38:8 switch_to write ->times
        kernel/sched.c:53:34 schedule read ->active_mm
        kernel/sched.c:60:8 schedule write ->has_cpu
        kernel/sched.c:61:8 schedule write ->processor
        kernel/sched.c:89:10 __wake_up read ->state
        mm/vmscan.c:27:7 kswapd write ->flags
    "#]],
    );
}

#[test]
fn ops_tables_give_indirect_call_edges() {
    let db = mini_db(false);
    let mut out = String::new();
    for path in ["fs/pipe.c", "drivers/char/mem.c"] {
        let f = facts_of(&db, path);
        for o in &f.ops_inits {
            out.push_str(&format!(
                "{path}:{} {} {} .{} = {}\n",
                o.pos.line,
                o.ty.map(|t| f.name(t)).unwrap_or("?"),
                o.var.map(|t| f.name(t)).unwrap_or("?"),
                f.name(o.field),
                f.name(o.func)
            ));
        }
    }
    for d in query::callees(&db, "vfs_read") {
        for c in d.calls {
            out.push_str(&format!("vfs_read -> {} {} via {:?}\n", c.callee, c.how, c.via));
        }
    }
    for s in query::callers(&db, "pipe_read") {
        out.push_str(&format!("pipe_read <- {}:{} {} {}\n", s.file, s.line, s.caller.unwrap_or_default(), s.how));
    }
    check(
        out,
        expect![[r#"
        fs/pipe.c:71 struct file_operations read_pipe_fops .read = pipe_read
        fs/pipe.c:72 struct file_operations read_pipe_fops .release = pipe_release
        fs/pipe.c:77 struct file_operations write_pipe_fops .read = bad_pipe_r
        fs/pipe.c:78 struct file_operations write_pipe_fops .write = pipe_write
        fs/pipe.c:79 struct file_operations write_pipe_fops .release = pipe_release
        drivers/char/mem.c:20 struct file_operations null_fops .llseek = null_lseek
        drivers/char/mem.c:21 struct file_operations null_fops .read = read_null
        drivers/char/mem.c:22 struct file_operations null_fops .write = write_null
        vfs_read -> bad_pipe_r indirect via ["read"]
        vfs_read -> pipe_read indirect via ["read"]
        vfs_read -> read_null indirect via ["read"]
        pipe_read <- fs/read_write.c:10 vfs_read indirect
    "#]],
    );
}

#[test]
fn globals_static_locals_address_taken_and_includes() {
    let files = fixture(
        r#"
//- a.c
#include <linux/sched.h>
#include "local.h"
static int counter = 3;
extern int shared;
int table[4];
static int worker(void *p) { return 0; }
int start(void)
{
	static int started;
	int (*fn)(void *) = worker;
	started++;
	return kernel_thread(worker, &counter, 0) + fn(0);
}
"#,
    );
    let db = db_of(files, None);
    let f = facts_of(&db, "a.c");
    let mut out = String::new();
    for g in &f.globals {
        let scope = g.in_function.map(|i| format!(" in {}", f.name(f.functions[i as usize].name))).unwrap_or_default();
        out.push_str(&format!(
            "global {} : {} static={} extern={} init={}{scope}\n",
            f.name(g.name),
            f.name(g.ty),
            g.is_static,
            g.is_extern,
            g.init_hash != 0
        ));
    }
    for a in &f.addr_taken {
        out.push_str(&format!("value {} at {}:{}\n", f.name(a.name), a.pos.line, a.pos.col));
    }
    for i in &f.includes {
        out.push_str(&format!("include {} system={}\n", f.name(i.path), i.system));
    }
    for c in &f.calls {
        out.push_str(&format!("call {} {:?}\n", f.name(c.callee), c.kind));
    }
    check(
        out,
        expect![[r#"
        global counter : int static=true extern=false init=true
        global shared : int static=false extern=true init=false
        global table : int [4] static=false extern=false init=false
        global started : int static=true extern=false init=false in start
        value worker at 10:22
        value worker at 12:23
        include linux/sched.h system=true
        include local.h system=false
        call kernel_thread Direct
        call fn Pointer
    "#]],
    );
}

#[test]
fn conditional_compilation_follows_the_config() {
    let without = mini_db(false);
    let with = mini_db(true);
    let fields = |db: &AnalysisDb| {
        let f = facts_of(db, "include/linux/sched.h");
        let t = f.types.iter().find(|t| f.name(t.name) == "task_struct").unwrap();
        t.fields.iter().map(|fl| f.name(fl.name)).collect::<Vec<_>>().join(" ")
    };
    let cond = |db: &AnalysisDb| {
        let f = facts_of(db, "fs/pipe.c");
        let names: Vec<&str> = f.globals.iter().map(|g| f.name(g.name)).collect();
        format!("{names:?}, {} conditional", f.globals.iter().filter(|g| g.conditional).count())
    };
    let out = format!(
        "without config: {}\n  pipe.c globals: {}\nwith config: {}\n  pipe.c globals: {}\n",
        fields(&without),
        cond(&without),
        fields(&with),
        cond(&with)
    );
    check(
        out,
        expect![[r#"
        without config: state flags sigpending counter nice mm active_mm run_list pid processor has_cpu times comm wait_chldexit
          pipe.c globals: ["pipe_reads", "pipe_writes", "read_pipe_fops", "write_pipe_fops"], 2 conditional
        with config: state flags sigpending counter nice mm active_mm run_list pid processor has_cpu times comm wait_chldexit
          pipe.c globals: ["read_pipe_fops", "write_pipe_fops"], 0 conditional
    "#]],
    );
    // CONFIG_DEBUG_WAITQ is "not set": its branch disappears entirely.
    let files = fixture("//- x.c\n#ifdef CONFIG_DEBUG_WAITQ\nint dbg(void) { return 1; }\n#else\nint nodbg(void) { return 0; }\n#endif\n");
    let cfg = dynwalk_analyzer::Config::parse(&std::fs::read_to_string(mini().join(".config")).unwrap());
    let db = db_of(files.clone(), Some(cfg));
    let names: Vec<&str> = facts_of(&db, "x.c").functions.iter().map(|f| facts_of(&db, "x.c").name(f.name)).collect();
    assert_eq!(names, vec!["nodbg"]);
    let db = db_of(files, None);
    let f = facts_of(&db, "x.c");
    assert_eq!(f.functions.len(), 2);
    assert!(f.functions.iter().all(|x| x.conditional));
}

#[test]
fn parse_errors_are_diagnostics_and_facts_survive() {
    let files = fixture(
        "//- broken.c\nint ok(void) { return helper(1); }\nint bad(void) { int x = ; other(x) } }\nint after(struct s *p) { return p->field; }\n",
    );
    let db = db_of(files, None);
    let f = facts_of(&db, "broken.c");
    let names: Vec<&str> = f.functions.iter().map(|x| f.name(x.name)).collect();
    let calls: Vec<&str> = f.calls.iter().map(|x| f.name(x.callee)).collect();
    let diags: Vec<String> =
        f.diagnostics.iter().map(|d| format!("{} {}:{} {}", d.code.code(), d.pos.line, d.pos.col, d.message)).collect();
    check(
        format!("functions {names:?}\ncalls {calls:?}\naccesses {}\n{}\n", f.accesses.len(), diags.join("\n")),
        expect![[r#"
        functions ["ok", "bad", "after"]
        calls ["helper", "other"]
        accesses 1
        DW0001 2:17 syntax error near `int x = ; other(x) }`
        DW0001 2:25 syntax error near `;`
    "#]],
    );
}
