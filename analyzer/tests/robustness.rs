//! Property tests that CI runs: bad input is never a panic. A small deterministic PRNG
//! mutates real inputs (the fixture patches and C files) thousands of times; the diff
//! reader, the patch applier, the preprocessor layer and the extractor must return values
//! (errors or facts) for every one.

mod common;

use common::*;
use dynwalk_analyzer::patch::{self, Fuzz};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const PIECES: &[&[u8]] = &[
    b"@@ -1,3 +1,4 @@\n",
    b"\n",
    b"+",
    b"-",
    b" ",
    b"--- a/x.c\n+++ b/x.c\n",
    b"diff --git a/x b/y\n",
    b"\\ No newline\n",
    b"@@ -0,0 +0,0 @@",
    b"999999999999999999999",
    b"#if",
    b"#endif\n",
    b"{",
    b"}",
    b"(",
    b"/*",
    b"\"",
    b"'",
    b"\\\n",
    b"SYSCALL_DEFINE2(",
    b"\xff\xfe",
];

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(4) {
            0 => {
                let end = (at + rng.below(40)).min(v.len());
                v.drain(at..end);
            }
            1 => {
                let p = PIECES[rng.below(PIECES.len())];
                v.splice(at..at, p.iter().copied());
            }
            2 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            _ => {
                let from = rng.below(v.len() + 1);
                let end = (from + rng.below(60)).min(v.len());
                let chunk = v[from..end].to_vec();
                v.splice(at..at, chunk);
            }
        }
    }
    v
}

#[test]
fn the_diff_reader_and_applier_never_panic() {
    let dir = mini().join("../patches/mini");
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".diff"))
        .map(|e| std::fs::read(e.path()).unwrap())
        .collect();
    seeds.sort();
    let target = std::fs::read_to_string(mini().join("kernel/sched.c")).unwrap();
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let (mut parsed, mut applied) = (0, 0);
    for i in 0..20_000 {
        let seed = &seeds[i % seeds.len()];
        let m = mutate(&mut rng, seed);
        let text = String::from_utf8_lossy(&m);
        if let Ok(p) = patch::parse(&text, rng.below(3)) {
            parsed += 1;
            for f in &p.files {
                if patch::apply(&target, f, Some(Fuzz { max_offset: rng.below(50), max_fuzz: rng.below(3) })).is_ok() {
                    applied += 1;
                }
            }
        }
    }
    // The mutations must exercise both paths, or the test proves nothing.
    assert!(parsed > 1000 && applied > 0, "parsed {parsed}, applied {applied}");
}

#[test]
fn the_extractor_never_panics_on_mutated_c() {
    let files = read_tree(&mini());
    let mut rng = Rng(0x2545f4914f6cdd1d);
    let cfg = dynwalk_analyzer::Config::parse("CONFIG_SMP=y\n");
    for i in 0..3_000 {
        let (_, bytes) = &files[i % files.len()];
        let m = mutate(&mut rng, bytes);
        let f = dynwalk_analyzer::extract(&m, if i % 2 == 0 { Some(&cfg) } else { None });
        // Every position points inside the file.
        for c in &f.calls {
            assert!((c.pos.offset as usize) <= m.len());
        }
    }
}
