use super::*;
use crate::check::NOP5;
use crate::wire::{encode, Func, PolicyKind, Spec};
use std::cell::{Cell, RefCell};

/// In-memory kernel: symbols at fixed addresses, a text map, armed slots.
#[derive(Default)]
struct Fake {
    armed: RefCell<Vec<u32>>,
    text: RefCell<Vec<(u64, Vec<u8>)>>,
    busy: Cell<bool>,
    refs: Cell<i32>,
    /// arm() fails for this target (another IPMODIFY owner).
    taken: Cell<u64>,
}

const SYMS: &[(&str, u64, bool)] = &[
    ("cmdline_proc_show", 0xffff_ffff_8100_0000, true),
    ("dw_select", 0xffff_ffff_c000_0000, false),
    ("cmdline_v2", 0xffff_ffff_c010_0000, false),
    ("select_v2", 0xffff_ffff_c010_1000, false),
    ("dwt_value", 0xffff_ffff_c020_0000, true),
    ("dwt_bench", 0xffff_ffff_c020_1000, true),
    ("value_v2", 0xffff_ffff_c030_0000, false),
    ("bench_v2", 0xffff_ffff_c030_1000, false),
];

fn addr(name: &[u8]) -> Option<(u64, bool)> {
    SYMS.iter().find(|s| s.0.as_bytes() == name).map(|s| (s.1, s.2))
}

impl Shim for Fake {
    fn resolve(
        &self,
        _m: &[u8],
        target: &[u8],
        _sympos: u32,
        version: &[u8],
        out: &mut Resolved,
        why: &mut Buf<'_>,
    ) -> i32 {
        let Some((t, ft)) = addr(target) else {
            why.push_bytes(b"unknown symbol");
            return -2;
        };
        let Some((v, _)) = addr(version) else {
            why.push_bytes(b"version not registered");
            return -2;
        };
        *out = Resolved {
            target: t,
            target_size: 64,
            version: v,
            version_size: 64,
            ftrace_site: ft as u32,
            actual_len: 16,
            ..Default::default()
        };
        let text = self.text.borrow();
        let cur = text.iter().find(|e| e.0 == t).map_or(NOP5.to_vec(), |e| e.1.clone());
        out.actual[..5].copy_from_slice(&cur);
        0
    }
    fn arm(&self, slot: u32, t: u64, why: &mut Buf<'_>) -> i32 {
        if t == self.taken.get() {
            why.push_bytes(b"register_ftrace_function failed: -16");
            return -16;
        }
        self.armed.borrow_mut().push(slot);
        0
    }
    fn disarm(&self, slot: u32) {
        self.armed.borrow_mut().retain(|&s| s != slot);
    }
    fn write_site(&self, a: u64, old: &[u8], new: &[u8], why: &mut Buf<'_>) -> i32 {
        let mut text = self.text.borrow_mut();
        let cur = text.iter().find(|e| e.0 == a).map_or(NOP5.to_vec(), |e| e.1.clone());
        if cur != old {
            why.push_bytes(b"site changed");
            return -16;
        }
        text.retain(|e| e.0 != a);
        text.push((a, new.to_vec()));
        0
    }
    fn module_ref(&self, _m: &[u8], get: bool, _w: &mut Buf<'_>) -> i32 {
        self.refs.set(self.refs.get() + if get { 1 } else { -1 });
        0
    }
    fn sync(&self) {}
    fn quiesce(&self, _u: usize, _t: u32, why: &mut Buf<'_>) -> i32 {
        if self.busy.get() {
            why.push_bytes(b"held by pid 7 (sleeper)");
            return -16;
        }
        0
    }
}

fn desc(name: &str, target: &'static str, version: &'static str, method: Method, expected: &'static [u8]) -> Vec<u8> {
    let f = Func {
        target: target.as_bytes(),
        version: version.as_bytes(),
        group: 0,
        method,
        policy: PolicyKind::Newest,
        param: 0,
        sympos: 0,
        expected,
    };
    let mut out = vec![0; 1024];
    let n = encode(&Spec { name: name.as_bytes(), module: b"dwt_update", funcs: &[f] }, &mut out).unwrap();
    out.truncate(n);
    out
}

fn run(rt: &Runtime, k: &Fake, input: &[u8]) -> (i32, String) {
    let mut store = vec![0u8; 4096];
    let mut b = Buf::new(&mut store);
    let rc = control(rt, k, input, &mut b);
    (rc, String::from_utf8(b.as_bytes().to_vec()).unwrap())
}

#[test]
fn ftrace_update_round_trip() {
    let (rt, k) = (Box::new(Runtime::new()), Fake::default());
    let d = desc("u1", "cmdline_proc_show", "cmdline_v2", Method::Ftrace, &NOP5);
    assert_eq!(run(&rt, &k, &d), (0, "ok: loaded u1\n".into()));
    assert_eq!(run(&rt, &k, b"apply u1"), (0, "ok: apply u1\n".into()));
    assert_eq!(*k.armed.borrow(), vec![0]);
    assert_eq!(k.refs.get(), 1);
    assert_eq!(rt.select(0, 0, 1, 0, |_| false), 0xffff_ffff_c010_0000);
    k.busy.set(true);
    let (rc, msg) = run(&rt, &k, b"revert u1 10");
    assert_eq!((rc, msg.as_str()), (-16, "refused: revert u1: held by pid 7 (sleeper)\n"));
    assert_eq!(rt.select(0, 0, 1, 0, |_| false), 0xffff_ffff_c010_0000, "refused revert leaves it applied");
    k.busy.set(false);
    assert_eq!(run(&rt, &k, b"revert u1").0, 0);
    assert_eq!(rt.select(0, 0, 1, 0, |_| false), 0, "original after revert");
    assert_eq!(*k.armed.borrow(), vec![0], "site stays armed while loaded");
    assert_eq!(k.refs.get(), 0);
    assert_eq!(run(&rt, &k, b"apply u1").0, 0);
    assert_eq!(run(&rt, &k, b"unload u1").0, -22, "unload refused while applied");
    assert_eq!(run(&rt, &k, b"revert u1").0, 0);
    assert_eq!(run(&rt, &k, b"unload u1").0, 0);
    assert!(k.armed.borrow().is_empty(), "unload disarms");
}

#[test]
fn jmp_update_writes_and_restores() {
    let (rt, k) = (Box::new(Runtime::new()), Fake::default());
    let d = desc("self", "dw_select", "select_v2", Method::Jmp, &NOP5);
    assert_eq!(run(&rt, &k, &d).0, 0);
    assert_eq!(run(&rt, &k, b"apply self").0, 0);
    let jmp = encode_jmp(0xffff_ffff_c000_0000, 0xffff_ffff_c010_1000).unwrap();
    assert_eq!(k.text.borrow()[0].1, jmp.to_vec());
    assert!(k.armed.borrow().is_empty(), "jmp sites are not ftrace");
    assert_eq!(run(&rt, &k, b"revert self").0, 0);
    assert_eq!(k.text.borrow()[0].1, NOP5.to_vec());
}

#[test]
fn refusals_have_clear_messages() {
    let (rt, k) = (Box::new(Runtime::new()), Fake::default());
    let d = desc("bad", "cmdline_proc_show", "cmdline_v2", Method::Ftrace, &[0xe9, 0, 0, 0, 0]);
    let (rc, msg) = run(&rt, &k, &d);
    assert_eq!(rc, -22);
    assert!(msg.starts_with("refused: load bad: function 0: bytes at the site differ"), "{msg}");
    assert!(msg.contains("expected: e9 00 00 00 00 found: 0f 1f 44 00 00"), "{msg}");
    assert_eq!(rt.find_update(b"bad"), None, "refused load leaves nothing behind");
    let d = desc("unk", "no_such_fn", "cmdline_v2", Method::Ftrace, &NOP5);
    assert_eq!(run(&rt, &k, &d), (-2, "refused: load unk: unknown symbol\n".into()));
    let d = desc("t", "cmdline_proc_show", "cmdline_v2", Method::Ftrace, &NOP5);
    let (rc, msg) = run(&rt, &k, &d[..d.len() - 2]);
    assert_eq!(rc, -22);
    assert!(msg.starts_with("refused: load: bad description: truncated description: 2 more byte(s) needed"), "{msg}");
    assert_eq!(run(&rt, &k, b"apply nothing").1, "refused: apply nothing: no such update\n");
    assert_eq!(run(&rt, &k, b"frobnicate").0, -22);
    let d = desc("j", "cmdline_proc_show", "cmdline_v2", Method::Jmp, &NOP5);
    let (rc, msg) = run(&rt, &k, &d);
    assert_eq!(rc, -22);
    assert!(msg.contains("ftrace manages this site"), "{msg}");
}

#[test]
fn group_is_all_or_none_when_arming_fails() {
    let (rt, k) = (Box::new(Runtime::new()), Fake::default());
    let f = |t: &'static str, v: &'static str| Func {
        target: t.as_bytes(),
        version: v.as_bytes(),
        group: 2,
        method: Method::Ftrace,
        policy: PolicyKind::Newest,
        param: 0,
        sympos: 0,
        expected: &NOP5,
    };
    let funcs = [f("dwt_value", "value_v2"), f("dwt_bench", "bench_v2")];
    let mut out = vec![0; 1024];
    let spec = Spec { name: b"gb", module: b"dwt_update", funcs: &funcs };
    let n = encode(&spec, &mut out).unwrap();
    assert_eq!(run(&rt, &k, &out[..n]).0, 0);
    k.taken.set(0xffff_ffff_c020_1000);
    let (rc, msg) = run(&rt, &k, b"apply gb");
    assert_eq!(rc, -16);
    assert_eq!(msg, "refused: apply gb: register_ftrace_function failed: -16\n");
    assert!(k.armed.borrow().is_empty(), "dwt_value was armed, then undone");
    assert_eq!(k.refs.get(), 0, "module reference dropped");
    for slot in 0..2 {
        assert_eq!(rt.select(slot, 0, 1, 0, |_| false), 0, "nothing switched");
    }
    k.taken.set(0);
    assert_eq!(run(&rt, &k, b"apply gb").0, 0);
    assert_eq!(*k.armed.borrow(), vec![0, 1]);
}
