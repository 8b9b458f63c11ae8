//! Control operations: what one write to the control device does.
//!
//! The order of every operation lives here; each kernel action is a `Shim` call
//! (implemented by the C shim in the kernel, by a fake in the host tests).  The
//! reply is one line starting with `ok:` or `refused:`; the return value is 0 or
//! a negative errno.

use crate::check::encode_jmp;
use crate::cmd::{self, Command};
use crate::table::{Resolved, RtError, Runtime, APPLIED, LOADED};
use crate::text::Buf;
use crate::wire::{Method, MAGIC};
use crate::{EBUSY, EINVAL};
use core::fmt::Write;

/// Kernel actions.  Each returns 0 or a negative errno and, on error, writes the
/// reason into `why`.
pub trait Shim {
    /// Resolve the target symbol (`sympos` 0: the only one of its name; n: the n-th in
    /// kallsyms order), look up the registered version in `module`, read the bytes at
    /// the target and tell whether ftrace manages it.
    fn resolve(
        &self,
        module: &[u8],
        target: &[u8],
        sympos: u32,
        version: &[u8],
        out: &mut Resolved,
        why: &mut Buf<'_>,
    ) -> i32;
    /// Register the ftrace redirection for `slot` (no-op if armed).
    fn arm(&self, slot: u32, target: u64, why: &mut Buf<'_>) -> i32;
    /// Unregister it (no-op if not armed).
    fn disarm(&self, slot: u32);
    /// Replace `old` by `new` at `addr` with text_poke, after checking `old` is there.
    fn write_site(&self, addr: u64, old: &[u8], new: &[u8], why: &mut Buf<'_>) -> i32;
    /// Take (`get`) or drop a reference on the update module.
    fn module_ref(&self, module: &[u8], get: bool, why: &mut Buf<'_>) -> i32;
    /// Wait until no CPU is still inside the dispatcher with an old decision.
    fn sync(&self);
    /// Wait up to `timeout_ms` until no stack, PC or counter holds update `u`.
    fn quiesce(&self, u: usize, timeout_ms: u32, why: &mut Buf<'_>) -> i32;
}

const WHY_LEN: usize = 512;

/// Run one control write.
pub fn control<S: Shim>(rt: &Runtime, shim: &S, input: &[u8], reply: &mut Buf<'_>) -> i32 {
    if input.starts_with(&MAGIC) {
        return load(rt, shim, input, reply);
    }
    let c = match cmd::parse(input) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(reply, "refused: {e}");
            return -EINVAL;
        }
    };
    let (name, res) = match c {
        Command::Status => {
            rt.render_status(reply);
            return 0;
        }
        Command::Apply(n) => (n, apply(rt, shim, n, reply)),
        Command::Revert { update, timeout_ms } => (update, revert(rt, shim, update, timeout_ms, reply)),
        Command::Unload(n) => (n, unload(rt, shim, n).map_err(|e| fail(reply, "unload", n, e))),
        Command::Policy { function, policy } => {
            let r = rt.set_policy(function, policy);
            (function, r.map_err(|e| fail(reply, "policy", function, e)))
        }
    };
    match res {
        Ok(()) => {
            reply.push_bytes(b"ok: ");
            reply.push_bytes(verb(input));
            reply.push_bytes(b" ");
            reply.push_name(name);
            reply.push_bytes(b"\n");
            0
        }
        Err(errno) => errno,
    }
}

fn verb(input: &[u8]) -> &[u8] {
    input.split(|c| c.is_ascii_whitespace()).find(|w| !w.is_empty()).unwrap_or(b"")
}

fn fail(reply: &mut Buf<'_>, op: &str, name: &[u8], e: RtError) -> i32 {
    let _ = write!(reply, "refused: {op} ");
    reply.push_name(name);
    let _ = writeln!(reply, ": {e}");
    -e.errno()
}

fn fail_why(reply: &mut Buf<'_>, op: &str, name: &[u8], why: &Buf<'_>, errno: i32) -> i32 {
    let _ = write!(reply, "refused: {op} ");
    reply.push_name(name);
    reply.push_bytes(b": ");
    reply.push_bytes(why.as_bytes());
    reply.push_bytes(b"\n");
    if errno < 0 {
        errno
    } else {
        -EINVAL
    }
}

fn load<S: Shim>(rt: &Runtime, shim: &S, input: &[u8], reply: &mut Buf<'_>) -> i32 {
    let u = match rt.load(input) {
        Ok(u) => u,
        Err(e) => {
            let _ = writeln!(reply, "refused: load: {e}");
            return -e.errno();
        }
    };
    let Some(name) = rt.meta(u).map(|m| m.name) else {
        return -EINVAL;
    };
    if let Err(errno) = bind_all(rt, shim, u, "load", reply) {
        let _ = rt.unload(u);
        return errno;
    }
    reply.push_bytes(b"ok: loaded ");
    reply.push_name(name.as_bytes());
    reply.push_bytes(b"\n");
    0
}

/// Resolve and check every function of `u` against the running kernel.
fn bind_all<S: Shim>(rt: &Runtime, shim: &S, u: usize, op: &str, reply: &mut Buf<'_>) -> Result<(), i32> {
    let m = rt.meta(u).ok_or(-EINVAL)?;
    for i in 0..m.nfuncs {
        let f = m.funcs[i];
        let mut r = Resolved::default();
        let mut store = [0u8; WHY_LEN];
        let mut why = Buf::new(&mut store);
        let rc =
            shim.resolve(m.module.as_bytes(), f.target.as_bytes(), f.sympos, f.version.as_bytes(), &mut r, &mut why);
        if rc != 0 {
            return Err(fail_why(reply, op, m.name.as_bytes(), &why, rc));
        }
        if let Err(e) = rt.bind(u, i, &r) {
            let errno = fail(reply, op, m.name.as_bytes(), e);
            if let RtError::BytesMismatch { .. } = e {
                reply.push_bytes(b"  function ");
                reply.push_name(f.target.as_bytes());
                reply.push_bytes(b" expected: ");
                reply.push_hex(f.expected());
                reply.push_bytes(b" found: ");
                reply.push_hex(&r.actual[..f.expected().len()]);
                reply.push_bytes(b"\n");
            }
            return Err(errno);
        }
    }
    Ok(())
}

fn jmp_bytes(rt: &Runtime, u: usize, i: usize) -> Option<(u64, [u8; 5], [u8; 5])> {
    let f = rt.meta(u)?.funcs.get(i)?;
    let r = f.bound?;
    let mut orig = [0u8; 5];
    orig.copy_from_slice(&f.expected()[..5]);
    Some((r.target, orig, encode_jmp(r.target, r.version)?))
}

fn release_slots<S: Shim>(rt: &Runtime, shim: &S, u: usize) {
    let Some(m) = rt.meta(u) else { return };
    for f in &m.funcs[..m.nfuncs] {
        if rt.release_slot_if_empty(f.slot) && f.method == Method::Ftrace {
            shim.disarm(f.slot);
        }
    }
}

fn apply<S: Shim>(rt: &Runtime, shim: &S, name: &[u8], reply: &mut Buf<'_>) -> Result<(), i32> {
    let u = rt.find_update(name).ok_or_else(|| fail(reply, "apply", name, RtError::NoSuchUpdate))?;
    if rt.state(u) != LOADED {
        return Err(fail(reply, "apply", name, RtError::NotLoaded));
    }
    bind_all(rt, shim, u, "apply", reply)?;
    let m = rt.meta(u).ok_or(-EINVAL)?;
    let mut store = [0u8; WHY_LEN];
    let mut why = Buf::new(&mut store);
    let rc = shim.module_ref(m.module.as_bytes(), true, &mut why);
    if rc != 0 {
        return Err(fail_why(reply, "apply", name, &why, rc));
    }
    let undo = |rt: &Runtime| {
        rt.apply_abort(u);
        release_slots(rt, shim, u);
        let mut s = [0u8; 8];
        shim.module_ref(m.module.as_bytes(), false, &mut Buf::new(&mut s));
    };
    if let Err(e) = rt.apply_prepare(u) {
        undo(rt);
        return Err(fail(reply, "apply", name, e));
    }
    // Arm every ftrace site first: the versions stay switched off until commit.
    for f in &m.funcs[..m.nfuncs] {
        let target = f.bound.map_or(0, |r| r.target);
        if f.method == Method::Ftrace {
            let rc = shim.arm(f.slot, target, &mut why);
            if rc < 0 {
                undo(rt);
                return Err(fail_why(reply, "apply", name, &why, rc));
            }
        }
    }
    rt.apply_commit(u);
    for i in 0..m.nfuncs {
        if m.funcs[i].method != Method::Jmp {
            continue;
        }
        let Some((site, orig, jmp)) = jmp_bytes(rt, u, i) else {
            continue;
        };
        let rc = shim.write_site(site, &orig, &jmp, &mut why);
        if rc != 0 {
            let _ = rt.revert_begin(u);
            shim.sync();
            rt.revert_finish(u);
            undo(rt);
            return Err(fail_why(reply, "apply", name, &why, rc));
        }
    }
    Ok(())
}

fn revert<S: Shim>(rt: &Runtime, shim: &S, name: &[u8], timeout_ms: u32, reply: &mut Buf<'_>) -> Result<(), i32> {
    let u = rt.find_update(name).ok_or_else(|| fail(reply, "revert", name, RtError::NoSuchUpdate))?;
    if rt.state(u) != APPLIED {
        return Err(fail(reply, "revert", name, RtError::NotApplied));
    }
    let m = rt.meta(u).ok_or(-EINVAL)?;
    let mut store = [0u8; WHY_LEN];
    let mut why = Buf::new(&mut store);
    let jmps = || (0..m.nfuncs).filter(|&i| m.funcs[i].method == Method::Jmp);
    for i in jmps() {
        if let Some((site, orig, jmp)) = jmp_bytes(rt, u, i) {
            let rc = shim.write_site(site, &jmp, &orig, &mut why);
            if rc != 0 {
                return Err(fail_why(reply, "revert", name, &why, rc));
            }
        }
    }
    let bits = rt.revert_begin(u).map_err(|e| fail(reply, "revert", name, e))?;
    shim.sync();
    let rc = shim.quiesce(u, timeout_ms, &mut why);
    if rc != 0 {
        rt.revert_cancel(u, bits);
        for i in jmps() {
            if let Some((site, orig, jmp)) = jmp_bytes(rt, u, i) {
                let mut s = [0u8; 64];
                shim.write_site(site, &orig, &jmp, &mut Buf::new(&mut s));
            }
        }
        return Err(fail_why(reply, "revert", name, &why, if rc < 0 { rc } else { -EBUSY }));
    }
    rt.revert_finish(u);
    // The ftrace sites stay armed (passing every call to the original) while the
    // update is loaded, so that apply/revert cycles do not rewrite kernel text;
    // `unload` disarms them.
    shim.module_ref(m.module.as_bytes(), false, &mut why);
    Ok(())
}

fn unload<S: Shim>(rt: &Runtime, shim: &S, name: &[u8]) -> Result<(), RtError> {
    let u = rt.find_update(name).ok_or(RtError::NoSuchUpdate)?;
    if rt.state(u) != LOADED {
        return Err(RtError::NotLoaded);
    }
    release_slots(rt, shim, u);
    rt.unload(u)
}

#[cfg(test)]
mod tests;
