//! Facts checked by hand on Debian's Linux 6.1 tree (kernel/, mm/, include/, x86 headers,
//! two fs/ files). Each expected site below was read in the source.

use std::sync::OnceLock;

use dynwalk_analyzer::db::{file_facts, AnalysisDb};
use dynwalk_analyzer::query;
use dynwalk_tests::{linux61, load};

fn db() -> &'static std::sync::Mutex<AnalysisDb> {
    static DB: OnceLock<std::sync::Mutex<AnalysisDb>> = OnceLock::new();
    DB.get_or_init(|| {
        let root = linux61();
        std::sync::Mutex::new(load(
            &root,
            &["kernel", "mm", "include", "arch/x86/include", "fs/read_write.c", "fs/pipe.c"],
        ))
    })
}

fn has(sites: &[(String, u32, String)], file: &str, line: u32, func: &str) -> bool {
    sites.iter().any(|(f, l, c)| f == file && *l == line && c == func)
}

#[test]
fn callers_of_schedule_timeout() {
    let db = db().lock().unwrap_or_else(|e| e.into_inner());
    let sites: Vec<(String, u32, String)> = query::callers(&db, "schedule_timeout")
        .into_iter()
        .map(|s| (s.file, s.line, s.caller.unwrap_or_default()))
        .collect();
    for (file, line, func) in [
        ("kernel/time/timer.c", 2188, "schedule_timeout_interruptible"),
        ("kernel/time/timer.c", 2195, "schedule_timeout_killable"),
        ("kernel/time/timer.c", 2202, "schedule_timeout_uninterruptible"),
        ("kernel/time/timer.c", 2213, "schedule_timeout_idle"),
        ("kernel/sched/core.c", 8837, "io_schedule_timeout"),
        ("kernel/locking/semaphore.c", 229, "___down_common"),
        ("kernel/umh.c", 259, "usermodehelper_read_lock_wait"),
    ] {
        assert!(has(&sites, file, line, func), "{file}:{line} {func} missing from {} sites", sites.len());
    }
}

#[test]
fn writes_of_task_struct_mm_in_kernel() {
    let db = db().lock().unwrap_or_else(|e| e.into_inner());
    let writes: Vec<(String, u32, String)> = query::accesses(&db, "struct task_struct", Some("mm"))
        .into_iter()
        .filter(|a| a.kind == "write" && a.file.starts_with("kernel/"))
        .map(|a| (a.file, a.line, a.function.unwrap_or_default()))
        .collect();
    for (file, line, func) in [
        ("kernel/exit.c", 565, "exit_mm"),
        ("kernel/fork.c", 1594, "copy_mm"),
        ("kernel/fork.c", 1615, "copy_mm"),
        ("kernel/kthread.c", 1431, "kthread_use_mm"),
        ("kernel/kthread.c", 1478, "kthread_unuse_mm"),
    ] {
        assert!(has(&writes, file, line, func), "{file}:{line} {func} missing from {writes:?}");
    }
}

#[test]
fn macros_hide_calls_that_are_still_found() {
    let db = db().lock().unwrap_or_else(|e| e.into_inner());
    // wake_up(x) is `__wake_up(x, TASK_NORMAL, 1, NULL)` (include/linux/wait.h:222).
    let w = query::callers(&db, "__wake_up");
    assert!(w.iter().any(|s| s.how == "macro" && s.via.first().map(|v| v.as_str()) == Some("wake_up")), "{}", w.len());
    // `current->mm = NULL` in exit_mm calls get_current() through the `current` macro.
    let c = query::callers(&db, "get_current");
    assert!(c.iter().any(|s| s.caller.as_deref() == Some("exit_mm") && s.file == "kernel/exit.c"));
}

#[test]
fn syscall_definitions_are_the_real_functions() {
    let db = db().lock().unwrap_or_else(|e| e.into_inner());
    let defs = query::callees(&db, "sys_read");
    assert_eq!(defs.len(), 1, "{defs:?}");
    assert_eq!(defs[0].file, "fs/read_write.c");
    assert!(defs[0].calls.iter().any(|c| c.callee == "ksys_read"), "{:?}", defs[0].calls);
}

#[test]
fn few_function_bodies_have_syntax_errors() {
    let db = db().lock().unwrap_or_else(|e| e.into_inner());
    let (mut bodies, mut bad) = (0usize, 0usize);
    for f in db.files() {
        if !f.path(&*db).starts_with("kernel/") {
            continue;
        }
        let facts = file_facts(&*db, *f);
        bodies += facts.functions.len();
        bad += facts.functions.iter().filter(|x| x.has_errors).count();
    }
    let rate = bad as f64 / bodies as f64;
    eprintln!("kernel/: {bad} of {bodies} function bodies have syntax errors ({:.2} %)", rate * 100.0);
    assert!(bodies > 14_000);
    assert!(rate < 0.03, "{rate}");
}
