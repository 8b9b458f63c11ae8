use std::io::BufRead;
use std::time::Instant;
use tree_sitter::Parser;
fn main() {
    let paths: Vec<String> = std::io::stdin().lock().lines().map_while(Result::ok).collect();
    let mut parser = Parser::new();
    parser.set_language(&dynwalk_analyzer::queries::language()).unwrap();
    let mut rows = vec![];
    let (mut te, mut tn, mut be, mut bn) = (0.0, 0.0, 0usize, 0usize);
    for p in &paths {
        let s = std::fs::read(p).unwrap();
        let pp = dynwalk_analyzer::pp::scan(&s, None);
        let b = dynwalk_analyzer::rewrite::rewrite(&s, &pp.blank);
        let t = Instant::now();
        let tr = parser.parse(&b, None).unwrap();
        let d = t.elapsed().as_secs_f64();
        let err = tr.root_node().has_error();
        if err {
            te += d;
            be += s.len();
        } else {
            tn += d;
            bn += s.len();
        }
        rows.push((d, s.len(), err, p.clone()));
    }
    rows.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap());
    println!(
        "with errors: {:.2}s {} MB ({:.1} MB/s); clean: {:.2}s {} MB ({:.1} MB/s)",
        te,
        be >> 20,
        be as f64 / te / 1e6,
        tn,
        bn >> 20,
        bn as f64 / tn / 1e6
    );
    for r in rows.iter().take(8) {
        println!("{:.3}s {:>8} {} {}", r.0, r.1, r.2, r.3);
    }
}
