//! Times the phases of extraction over the files given on stdin (one path per line).
use std::io::BufRead;
use std::time::Instant;
use tree_sitter::{Parser, QueryCursor, StreamingIterator};

fn main() {
    let paths: Vec<String> = std::io::stdin().lock().lines().map_while(Result::ok).collect();
    let srcs: Vec<Vec<u8>> = paths.iter().filter_map(|p| std::fs::read(p).ok()).collect();
    let total: usize = srcs.iter().map(|s| s.len()).sum();
    let t = Instant::now();
    let pps: Vec<_> = srcs.iter().map(|s| dynwalk_analyzer::pp::scan(s, None)).collect();
    let t_pp = t.elapsed();
    let t = Instant::now();
    let bufs: Vec<_> = srcs.iter().zip(&pps).map(|(s, p)| dynwalk_analyzer::rewrite::rewrite(s, &p.blank)).collect();
    let t_rw = t.elapsed();
    let mut parser = Parser::new();
    parser.set_language(&dynwalk_analyzer::queries::language()).unwrap();
    let t = Instant::now();
    let trees: Vec<_> = bufs.iter().map(|b| parser.parse(b, None).unwrap()).collect();
    let t_parse = t.elapsed();
    let q = dynwalk_analyzer::queries::get();
    let t = Instant::now();
    let mut n = 0;
    for (tr, b) in trees.iter().zip(&bufs) {
        let mut c = QueryCursor::new();
        let mut it = c.matches(&q.query, tr.root_node(), b.as_slice());
        while let Some(m) = it.next() {
            n += m.captures().len();
        }
    }
    let t_query = t.elapsed();
    let t = Instant::now();
    for s in &srcs {
        let _ = dynwalk_analyzer::extract(s, None);
    }
    let t_all = t.elapsed();
    println!(
        "{} files {} MB: pp {:?} rewrite {:?} parse {:?} query {:?} ({n} captures) full extract {:?}",
        srcs.len(),
        total >> 20,
        t_pp,
        t_rw,
        t_parse,
        t_query,
        t_all
    );
}
