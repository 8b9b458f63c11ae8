use super::*;
use crate::cmd::{PolicyArg, Target};
use crate::wire::{encode, Func, Spec};
use core::sync::atomic::AtomicI64;

const NOP5: &[u8] = &crate::check::NOP5;
const T1: u64 = 0xffff_ffff_8100_0000;
const T2: u64 = 0xffff_ffff_8100_1000;

fn desc(name: &str, funcs: &[Func<'_>]) -> Vec<u8> {
    let mut out = vec![0; 4096];
    let n = encode(&Spec { name: name.as_bytes(), module: b"dwt_update", funcs }, &mut out).unwrap();
    out.truncate(n);
    out
}

fn func(target: &'static str, group: u8) -> Func<'static> {
    Func {
        target: target.as_bytes(),
        version: b"v",
        group,
        method: Method::Ftrace,
        policy: PolicyKind::Newest,
        param: 0,
        sympos: 0,
        expected: NOP5,
    }
}

fn resolved(target: u64, version: u64, counter: &AtomicI64) -> Resolved {
    let mut actual = [0; MAX_EXPECTED];
    actual[..5].copy_from_slice(NOP5);
    Resolved {
        target,
        target_size: 0x100,
        version,
        version_size: 0x80,
        counter: counter as *const AtomicI64 as u64,
        predicate: 0,
        ftrace_site: 1,
        actual_len: MAX_EXPECTED as u32,
        first_insn_len: 5,
        actual,
    }
}

fn no_pred(_: u64) -> bool {
    false
}

/// Load, bind every function at `versions[i]`, prepare and commit.
fn apply(rt: &Runtime, name: &str, funcs: &[Func<'_>], targets: &[u64], versions: &[u64], c: &AtomicI64) -> usize {
    let u = rt.load(&desc(name, funcs)).unwrap();
    for (i, (&t, &v)) in targets.iter().zip(versions).enumerate() {
        rt.bind(u, i, &resolved(t, v, c)).unwrap();
    }
    rt.apply_prepare(u).unwrap();
    rt.apply_commit(u);
    u
}

#[test]
fn newest_wins_and_revert_falls_back() {
    let rt = Box::new(Runtime::new());
    let c = AtomicI64::new(0);
    let u1 = apply(&rt, "u1", &[func("f", 0)], &[T1], &[0x1000_0000], &c);
    assert_eq!(rt.select(0, 0, 1, 0, no_pred), 0x1000_0000);
    let u2 = apply(&rt, "u2", &[func("f", 0)], &[T1], &[0x2000_0000], &c);
    assert_eq!(rt.select(0, 0, 1, 0, no_pred), 0x2000_0000);
    let bits = rt.revert_begin(u2).unwrap();
    assert_eq!(rt.select(0, 0, 1, 0, no_pred), 0x1000_0000, "off as soon as begun");
    rt.revert_cancel(u2, bits);
    assert_eq!(rt.select(0, 0, 1, 0, no_pred), 0x2000_0000, "cancel restores");
    rt.revert_begin(u2).unwrap();
    rt.revert_finish(u2);
    assert!(!rt.release_slot_if_empty(0), "u1 still uses the slot");
    rt.revert_begin(u1).unwrap();
    rt.revert_finish(u1);
    assert_eq!(rt.select(0, 0, 1, 0, no_pred), 0);
    assert!(rt.release_slot_if_empty(0));
    rt.unload(u1).unwrap();
    assert_eq!(rt.find_update(b"u1"), None);
}

#[test]
fn version_calling_original_reaches_original() {
    let rt = Box::new(Runtime::new());
    let c = AtomicI64::new(0);
    apply(&rt, "u1", &[func("f", 0)], &[T1], &[0x1000_0000], &c);
    assert_eq!(rt.select(0, 0x1000_0040, 1, 0, no_pred), 0);
    assert_eq!(rt.select(0, 0x1000_0080, 1, 0, no_pred), 0x1000_0000);
}

#[test]
fn per_task_and_per_cpu_policies() {
    let rt = Box::new(Runtime::new());
    let c = AtomicI64::new(0);
    apply(&rt, "v2", &[func("f", 0)], &[T1], &[0x1000_0000], &c);
    apply(&rt, "v3", &[func("f", 0)], &[T1], &[0x2000_0000], &c);
    rt.set_policy(b"f", PolicyArg::Task(42, Target::Update(b"v2"))).unwrap();
    assert_eq!(rt.select(0, 0, 42, 0, no_pred), 0x1000_0000);
    assert_eq!(rt.select(0, 0, 43, 0, no_pred), 0x2000_0000);
    rt.set_policy(b"f", PolicyArg::Cpu(1, Target::Original)).unwrap();
    assert_eq!(rt.select(0, 0, 42, 1, no_pred), 0);
    assert_eq!(rt.select(0, 0, 42, 0, no_pred), 0x2000_0000);
    assert_eq!(rt.set_policy(b"g", PolicyArg::Newest), Err(RtError::NoSuchFunction));
    assert_eq!(rt.set_policy(b"f", PolicyArg::Pin(Target::Update(b"nope"))), Err(RtError::NoSuchUpdate));
}

#[test]
fn predicate_policy() {
    let rt = Box::new(Runtime::new());
    let c = AtomicI64::new(0);
    let u = rt.load(&desc("p", &[func("f", 0)])).unwrap();
    let mut r = resolved(T1, 0x1000_0000, &c);
    r.predicate = 7;
    rt.bind(u, 0, &r).unwrap();
    rt.apply_prepare(u).unwrap();
    rt.apply_commit(u);
    rt.set_policy(b"f", PolicyArg::Predicate).unwrap();
    assert_eq!(rt.select(0, 0, 1, 0, |p| p == 7), 0x1000_0000);
    assert_eq!(rt.select(0, 0, 1, 0, |_| false), 0);
}

#[test]
fn group_switches_as_one() {
    let rt = Box::new(Runtime::new());
    let c = AtomicI64::new(0);
    let u = rt.load(&desc("g", &[func("a", 1), func("b", 1)])).unwrap();
    rt.bind(u, 0, &resolved(T1, 0x1000_0000, &c)).unwrap();
    rt.bind(u, 1, &resolved(T2, 0x2000_0000, &c)).unwrap();
    rt.apply_prepare(u).unwrap();
    assert_eq!((rt.select(0, 0, 1, 0, no_pred), rt.select(1, 0, 1, 0, no_pred)), (0, 0));
    rt.apply_commit(u);
    assert_eq!((rt.select(0, 0, 1, 0, no_pred), rt.select(1, 0, 1, 0, no_pred)), (0x1000_0000, 0x2000_0000));
}

#[test]
fn bind_refusals() {
    let rt = Box::new(Runtime::new());
    let c = AtomicI64::new(0);
    let u = rt.load(&desc("b", &[func("a", 0)])).unwrap();
    let mut r = resolved(T1, 0x1000_0000, &c);
    r.actual[2] = 0x45;
    assert_eq!(rt.bind(u, 0, &r), Err(RtError::BytesMismatch { func: 0, offset: 2 }));
    let mut r = resolved(T1, 0x1000_0000, &c);
    r.ftrace_site = 0;
    assert_eq!(rt.bind(u, 0, &r), Err(RtError::NotFtraceSite(0)));
    let r = resolved(T1, T1 + 8, &c);
    assert_eq!(rt.bind(u, 0, &r), Err(RtError::VersionIsTarget(0)));
    assert_eq!(rt.bind(u, 5, &resolved(T1, 0x1000_0000, &c)), Err(RtError::BadIndex));
    assert_eq!(rt.apply_prepare(u), Err(RtError::NotBound(0)));
    assert_eq!(rt.load(&desc("b", &[func("a", 0)])), Err(RtError::Exists));
    let mut jmp = func("j", 0);
    jmp.method = Method::Jmp;
    let j = rt.load(&desc("j", &[jmp])).unwrap();
    assert_eq!(rt.bind(j, 0, &resolved(T1, 0x1000_0000, &c)), Err(RtError::FtraceSite(0)));
    let mut r = resolved(T1, 0x1000_0000, &c);
    r.ftrace_site = 0;
    assert_eq!(rt.bind(j, 0, &r), Err(RtError::OutOfReach(0)));
    r.version = T1 + 0x10_0000;
    assert_eq!(rt.bind(j, 0, &r), Ok(()));
    let mut jmp = func("k", 0);
    jmp.method = Method::Jmp;
    jmp.expected = &[0x55, 0x48, 0x89, 0xe5, 0x90];
    let k = rt.load(&desc("k", &[jmp])).unwrap();
    r.actual[..5].copy_from_slice(jmp.expected);
    r.first_insn_len = 1;
    assert_eq!(rt.bind(k, 0, &r), Err(RtError::JmpSiteSplit(0)), "push %rbp: the jmp would cover 3 instructions");
    r.first_insn_len = 0;
    assert_eq!(rt.bind(k, 0, &r), Err(RtError::JmpSiteSplit(0)), "undecoded: refused");
    // mov $1,%eax: one 5-byte instruction, replaced whole.
    let mut mov = func("m", 0);
    mov.method = Method::Jmp;
    mov.expected = &[0xb8, 0x01, 0x00, 0x00, 0x00];
    let m = rt.load(&desc("m", &[mov])).unwrap();
    r.actual[..5].copy_from_slice(mov.expected);
    r.first_insn_len = 5;
    assert_eq!(rt.bind(m, 0, &r), Ok(()));
}

#[test]
fn accounting_and_holders() {
    let rt = Box::new(Runtime::new());
    let c = AtomicI64::new(0);
    let u = apply(&rt, "a", &[func("f", 0)], &[T1], &[0x1000_0000], &c);
    c.store(2, Relaxed);
    assert_eq!(unsafe { rt.active_count(u) }, 2);
    assert_eq!(rt.held_by(u, &[5, 0x1000_0010]), Some((0, 0x1000_0010)));
    assert_eq!(rt.held_by(u, &[0x1000_0080]), None);
}

#[test]
fn status_names_updates_and_slots() {
    let rt = Box::new(Runtime::new());
    let c = AtomicI64::new(0);
    apply(&rt, "u1", &[func("cmdline_proc_show", 0)], &[T1], &[0x1000_0000], &c);
    rt.select(0, 0, 1, 0, no_pred);
    let mut store = [0u8; 1024];
    let mut b = crate::text::Buf::new(&mut store);
    rt.render_status(&mut b);
    let s = std::str::from_utf8(b.as_bytes()).unwrap();
    assert!(s.contains("update u1 applied module=dwt_update groups=0x1 active=0"), "{s}");
    assert!(s.contains("slot cmdline_proc_show policy=Newest original_calls=0 [u1 live calls=1]"), "{s}");
}

#[test]
fn slots_and_versions_are_bounded() {
    let rt = Box::new(Runtime::new());
    let c = AtomicI64::new(0);
    for i in 0..MAX_VERSIONS {
        apply(&rt, &format!("u{i}"), &[func("f", 0)], &[T1], &[0x1000_0000 + i as u64 * 0x1000], &c);
    }
    let u = rt.load(&desc("over", &[func("f", 0)])).unwrap();
    rt.bind(u, 0, &resolved(T1, 0x3000_0000, &c)).unwrap();
    assert_eq!(rt.apply_prepare(u), Err(RtError::TooManyVersions(0)));
}

#[test]
fn the_tables_fit_a_module() {
    // The runtime's tables are static (.bss of dynwalk.ko); keep them well under a MiB.
    let size = core::mem::size_of::<Runtime>();
    assert!(size < 768 * 1024, "Runtime is {size} bytes");
}
