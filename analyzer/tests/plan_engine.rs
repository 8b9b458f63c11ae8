//! The plan on the engine: derived from the tree's database without changing it, so a
//! second patch on the same tree re-derives nothing of the tree (only the patched files
//! are read again), and plans are deterministic.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::*;
use dynwalk_analyzer::changes::{classify_file, ChangeSet};
use dynwalk_analyzer::db::{file_facts, AnalysisDb};
use dynwalk_analyzer::patch;
use dynwalk_analyzer::plan::{derive_plan, Plan, TextSource};

struct Texts(BTreeMap<String, Arc<[u8]>>);

impl TextSource for Texts {
    fn files_mentioning(&self, word: &str) -> Vec<(String, Arc<[u8]>)> {
        self.0
            .iter()
            .filter(|(_, t)| t.windows(word.len()).any(|w| w == word.as_bytes()))
            .map(|(p, t)| (p.clone(), t.clone()))
            .collect()
    }
    fn read(&self, path: &str) -> Option<Arc<[u8]>> {
        self.0.get(path).cloned()
    }
}

fn plan_of(db: &AnalysisDb, texts: &Texts, patch_name: &str) -> Plan {
    let text = std::fs::read_to_string(mini().join("../patches/mini").join(patch_name)).unwrap();
    let p = patch::parse(&text, 1).unwrap();
    let mut changes = ChangeSet::default();
    let mut new_facts = Vec::new();
    for fp in &p.files {
        let path = fp.path().to_string();
        let old = texts.0.get(&path).map(|t| String::from_utf8(t.to_vec()).unwrap()).unwrap_or_default();
        let (new, _) = patch::apply(&old, fp, None).unwrap();
        let file = *db.files().iter().find(|f| *f.path(db) == path).unwrap();
        let old_facts = file_facts(db, file).clone();
        let nf = Arc::new(dynwalk_analyzer::extract(new.as_bytes(), None));
        classify_file(&path, Some((old.as_bytes(), &old_facts)), Some((new.as_bytes(), &nf)), &mut changes);
        new_facts.push(dynwalk_analyzer::plan::NewFile { path, facts: nf, text: Arc::from(new.into_bytes()) });
    }
    derive_plan(db, changes, &new_facts, texts, dynwalk_analyzer::plan::DEFAULT_SEARCH_DEPTH)
}

#[test]
fn a_second_plan_rederives_nothing_of_the_tree() {
    let db = mini_db(false);
    let texts = Texts(read_tree(&mini()).into_iter().map(|(p, b)| (p, Arc::from(b))).collect());
    db.analyze_all();
    let first = plan_of(&db, &texts, "shrink-caches.diff");
    assert_eq!(first.redirections[0].place.function, "shrink_caches");
    db.start_log();
    let second = plan_of(&db, &texts, "goodness-inline.diff");
    assert_eq!(db.take_log(), Vec::<String>::new(), "no query of the tree re-ran for the second patch");
    assert_eq!(second.clones[0].place.function, "schedule");
    // The same patch twice gives the same plan, byte for byte.
    let again = plan_of(&db, &texts, "goodness-inline.diff");
    assert_eq!(serde_json::to_string(&second).unwrap(), serde_json::to_string(&again).unwrap());
}
