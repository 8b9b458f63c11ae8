//! Bad input is never a panic: the walker's readers of outside bytes — the target's
//! kallsyms and Module.symvers text, ELF objects (the built module, the kernel image and the code
//! of its functions), the manifest, and the shadow-access rewriter over texts and offsets it is given — are fed thousands of
//! mutations of real inputs and must return values (errors or results) for each.

use std::collections::BTreeSet;
use std::path::Path;

use dynwalk_walker::shadow::{rewrite, Site};
use dynwalk_walker::{build, lower, KernelSymbols, Manifest};

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

const PIECES: &[&[u8]] =
    &[b"\n", b" ", b"\t", b"T ", b"[mod]", b"ffffffff", b"\x7fELF", b"\0\0\0\0", b"->", b".", b"\xff"];

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(6) {
        let at = rng.below(v.len() + 1);
        match rng.below(4) {
            0 => {
                let end = (at + rng.below(64)).min(v.len());
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
            _ => v.truncate(at),
        }
    }
    v
}

/// An ELF file with a few bytes changed, within its headers and tables as well as
/// anywhere, and sometimes cut short.
fn mutate_elf(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut m = seed.to_vec();
    for _ in 0..1 + rng.below(8) {
        let i = if rng.below(2) == 0 { rng.below(256.min(m.len())) } else { rng.below(m.len()) };
        m[i] = rng.next() as u8;
    }
    if rng.below(4) == 0 {
        m.truncate(rng.below(m.len() + 1));
    }
    m
}

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)).unwrap()
}

#[test]
fn kallsyms_and_symvers_readers_never_panic() {
    let seed = fixture("corpora/walker/kallsyms.txt");
    let symvers = fixture("corpora/walker/kdir/Module.symvers");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut ok, mut err) = (0, 0);
    for _ in 0..5000 {
        let k = String::from_utf8_lossy(&mutate(&mut rng, &seed)).into_owned();
        let s = String::from_utf8_lossy(&mutate(&mut rng, &symvers)).into_owned();
        match KernelSymbols::parse(&k, &s) {
            Ok(ks) => {
                ok += 1;
                let names: BTreeSet<String> = ["spare", "demo_flags"].iter().map(|s| s.to_string()).collect();
                let _ = ks.locate("counter", &names);
                let _ = ks.is_text("demo_show");
            }
            Err(_) => err += 1,
        }
    }
    assert!(ok > 100 && err > 100, "both paths exercised: {ok} read, {err} refused");
}

#[test]
fn elf_readers_never_panic() {
    // A real ELF object: this test's own executable.
    let seed = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    let manifest: Manifest = serde_json::from_str(
        r#"{"manifest_version":1,"update":"u","module":"dwu_u","tree":"/t","sources":[],
            "versions":[{"target":"demo_show","version":"main","file":"f.c","line":1,"kind":"redirect","reason":"r"}],
            "ksyms":[],"copies":[],"shadow":[],"overlays":[],"groups":[],"notes":[]}"#,
    )
    .unwrap();
    let kernel = KernelSymbols::parse(&String::from_utf8_lossy(&fixture("corpora/walker/kallsyms.txt")), "").unwrap();
    let linkable = BTreeSet::new();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let (mut ok, mut err) = (0, 0);
    assert!(build::undefined_symbols(&seed).is_ok(), "the seed is an ELF object");
    for _ in 0..120 {
        let m = mutate_elf(&mut rng, &seed);
        match build::undefined_symbols(&m) {
            Ok(_) => ok += 1,
            Err(_) => err += 1,
        }
        let _ = build::defined_symbols(&m);
        let _ = lower::lower(&m, &manifest, &kernel, &linkable, None);
    }
    assert!(ok > 5 && err > 5, "both paths exercised: {ok} read, {err} refused");
}

#[test]
fn manifest_reader_never_panics() {
    let seed = br#"{"manifest_version":1,"update":"u","module":"dwu_u","tree":"/t","sources":[{"generated":"a.c","from":"x/a.c"}],"versions":[],"ksyms":[{"name":"n","sympos":0,"how":"unique","file":"x/a.c"}],"copies":[],"shadow":[],"overlays":[],"groups":[[0,1]],"notes":[]}"#;
    let mut rng = Rng(7);
    let (mut ok, mut err) = (0, 0);
    for _ in 0..3000 {
        match serde_json::from_slice::<Manifest>(&mutate(&mut rng, seed)) {
            Ok(_) => ok += 1,
            Err(_) => err += 1,
        }
    }
    assert!(err > 100 && ok > 0, "both paths exercised: {ok} read, {err} refused");
}

#[test]
fn the_shadow_rewriter_never_panics_on_any_offset() {
    let seed = fixture("corpora/walker/tree/drivers/demo/demo.c");
    let mut rng = Rng(99);
    for _ in 0..3000 {
        let text = String::from_utf8_lossy(&mutate(&mut rng, &seed)).into_owned();
        let n = text.len() + 8;
        let sites: Vec<Site> = (0..rng.below(4))
            .map(|_| Site { offset: rng.below(n), tag: "t".into(), field: ["id", "x", "flags"][rng.below(3)].into() })
            .collect();
        let (a, b) = (rng.below(n), rng.below(n));
        let _ = rewrite(&text, a.min(b), a.max(b), &sites);
    }
}

#[test]
fn kernel_image_reader_never_panics() {
    // A real ELF executable stands for vmlinux; kallsyms places `_text` at its .text.
    let seed = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    let image = dynwalk_walker::image::KernelImage::parse(&seed).expect("the seed is an ELF image");
    let kallsyms = "ffffffff81000000 T _text\nffffffff81000040 t report\nffffffff81000080 T other\n";
    let kernel = KernelSymbols::parse(kallsyms, "").unwrap();
    let _ = image.jmp_site(&kernel, "report", 0);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut ok, mut err) = (0, 0);
    for _ in 0..120 {
        let m = mutate_elf(&mut rng, &seed);
        match dynwalk_walker::image::KernelImage::parse(&m) {
            Ok(img) => {
                ok += 1;
                let _ = img.jmp_site(&kernel, "report", 0);
                let _ = img.jmp_site(&kernel, "other", 0);
            }
            Err(_) => err += 1,
        }
    }
    // Random bytes as the code of a function: decoded, checked, never a panic.
    for _ in 0..2000 {
        let code: Vec<u8> = (0..rng.below(40)).map(|_| rng.next() as u8).collect();
        let _ = dynwalk_walker::image::check_jmp_site(&code, 0xffff_ffff_8100_0000);
    }
    assert!(ok > 5 && err > 5, "both paths exercised: {ok} read, {err} refused");
}
