//! The engine: which queries re-run after an edit, and identical answers whatever the
//! thread count.

mod common;

use std::sync::Arc;

use common::*;
use dynwalk_analyzer::db::{AnalysisDb, Contents};
use dynwalk_analyzer::query;

fn edit(db: &mut AnalysisDb, path: &str, f: impl Fn(&str) -> String) {
    let file = *db.files().iter().find(|x| x.path(db) == path).unwrap();
    let old = match file.contents(db) {
        Contents::Text(t) => String::from_utf8(t.to_vec()).unwrap(),
        Contents::Facts(_) => unreachable!("fixtures are loaded as text"),
    };
    let new = f(&old);
    assert_ne!(old, new, "the edit must change the file");
    db.set_contents(file, Contents::Text(Arc::from(new.into_bytes())));
}

#[test]
fn an_edit_inside_a_function_body_rederives_only_that_file() {
    let mut db = mini_db(false);
    db.analyze_all();
    db.start_log();
    edit(&mut db, "kernel/sched.c", |s| s.replace("weight += 1;", "weight += 2;"));
    db.analyze_all();
    assert_eq!(
        db.take_log(),
        vec![
            "call_graph".to_string(),
            "file_facts(kernel/sched.c)".to_string(),
            "file_items(kernel/sched.c)".to_string(),
            "file_resolved(kernel/sched.c)".to_string(),
        ],
        "the symbol table and the other files' resolution must not re-run"
    );
}

#[test]
fn a_new_function_rebuilds_the_symbol_table_and_re_resolves() {
    let mut db = mini_db(false);
    db.analyze_all();
    db.start_log();
    edit(&mut db, "mm/vmscan.c", |s| format!("{s}\nint kswapd_extra(void) {{ return kswapd_balance(); }}\n"));
    db.analyze_all();
    let log = db.take_log();
    assert!(log.contains(&"symbol_table".to_string()), "{log:?}");
    assert!(log.contains(&"file_facts(mm/vmscan.c)".to_string()));
    assert!(!log.contains(&"file_facts(kernel/sched.c)".to_string()), "other files are not re-parsed: {log:?}");
    let callers = query::callers(&db, "kswapd_balance");
    assert!(callers.iter().any(|c| c.caller.as_deref() == Some("kswapd_extra")));
}

#[test]
fn incremental_answers_equal_from_scratch_answers() {
    let mut db = mini_db(false);
    db.analyze_all();
    edit(&mut db, "fs/pipe.c", |s| {
        s.replace("wake_up(&info->wait);", "wake_up(&info->wait);\n\twake_up_process(current);")
    });
    let incremental = (query::callers(&db, "wake_up_process"), query::callers(&db, "get_current"));
    let mut files = read_tree(&mini());
    for (p, b) in &mut files {
        if p == "fs/pipe.c" {
            *b = String::from_utf8(b.clone())
                .unwrap()
                .replace("wake_up(&info->wait);", "wake_up(&info->wait);\n\twake_up_process(current);")
                .into_bytes();
        }
    }
    let fresh = db_of(files, None);
    assert_eq!(incremental, (query::callers(&fresh, "wake_up_process"), query::callers(&fresh, "get_current")));
}

#[test]
fn output_is_identical_whatever_the_thread_count() {
    let answer = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let db = mini_db(true);
            let g = db.analyze_all();
            let edges: Vec<String> = g
                .graph
                .raw_edges()
                .iter()
                .map(|e| format!("{:?}->{:?} {:?}", g.graph[e.source()], g.graph[e.target()], e.weight))
                .collect();
            let callers = serde_json::to_string(&query::callers(&db, "schedule")).unwrap();
            let acc = serde_json::to_string(&query::accesses(&db, "struct task_struct", None)).unwrap();
            (edges, callers, acc)
        })
    };
    let one = answer(1);
    assert!(!one.0.is_empty());
    assert_eq!(one, answer(4));
}
