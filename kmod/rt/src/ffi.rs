//! The C ABI between the shim (kmod/shim/dynwalk_shim.h) and this crate.
//! Built only for the kernel (`--cfg dw_kernel`).

use crate::control::{control, Shim};
use crate::table::{Resolved, Runtime};
use crate::text::Buf;

static RT: Runtime = Runtime::new();

extern "C" {
    fn dw_shim_resolve(
        module: *const u8,
        mlen: usize,
        target: *const u8,
        tlen: usize,
        sympos: u32,
        version: *const u8,
        vlen: usize,
        out: *mut Resolved,
        why: *mut u8,
        cap: usize,
    ) -> i32;
    fn dw_shim_arm(slot: u32, target: u64, why: *mut u8, cap: usize) -> i32;
    fn dw_shim_disarm(slot: u32);
    fn dw_shim_write_site(addr: u64, old: *const u8, new: *const u8, len: usize, why: *mut u8, cap: usize) -> i32;
    fn dw_shim_module_ref(module: *const u8, len: usize, get: i32, why: *mut u8, cap: usize) -> i32;
    fn dw_shim_sync();
    fn dw_shim_quiesce(u: u32, timeout_ms: u32, why: *mut u8, cap: usize) -> i32;
    fn dw_shim_call_predicate(addr: u64) -> i32;
    fn dw_shim_rust_panic();
}

pub fn rust_panic() -> ! {
    // SAFETY: the shim reports and stops (panic()).  It is declared as returning so
    // that objtool, which does not know it, sees a well-formed function.
    unsafe { dw_shim_rust_panic() };
    loop {
        core::hint::spin_loop();
    }
}

/// Run a shim call that reports its reason as a NUL-terminated string in a scratch
/// buffer, then copy that reason into `why`.
fn with_why(why: &mut Buf<'_>, f: impl FnOnce(*mut u8, usize) -> i32) -> i32 {
    let mut scratch = [0u8; 256];
    let rc = f(scratch.as_mut_ptr(), scratch.len());
    let n = scratch.iter().position(|&c| c == 0).unwrap_or(scratch.len());
    why.push_bytes(&scratch[..n]);
    rc
}

struct Kernel;

impl Shim for Kernel {
    fn resolve(&self, m: &[u8], t: &[u8], sympos: u32, v: &[u8], out: &mut Resolved, why: &mut Buf<'_>) -> i32 {
        // SAFETY: pointers and lengths describe live slices; `out` is valid.
        with_why(why, |w, c| unsafe {
            dw_shim_resolve(m.as_ptr(), m.len(), t.as_ptr(), t.len(), sympos, v.as_ptr(), v.len(), out, w, c)
        })
    }
    fn arm(&self, slot: u32, target: u64, why: &mut Buf<'_>) -> i32 {
        // SAFETY: plain values and a scratch buffer.
        with_why(why, |w, c| unsafe { dw_shim_arm(slot, target, w, c) })
    }
    fn disarm(&self, slot: u32) {
        // SAFETY: plain value.
        unsafe { dw_shim_disarm(slot) }
    }
    fn write_site(&self, addr: u64, old: &[u8], new: &[u8], why: &mut Buf<'_>) -> i32 {
        if old.len() != new.len() {
            return -crate::EINVAL;
        }
        // SAFETY: both slices have `old.len()` bytes.
        with_why(why, |w, c| unsafe { dw_shim_write_site(addr, old.as_ptr(), new.as_ptr(), old.len(), w, c) })
    }
    fn module_ref(&self, m: &[u8], get: bool, why: &mut Buf<'_>) -> i32 {
        // SAFETY: live slice and scratch buffer.
        with_why(why, |w, c| unsafe { dw_shim_module_ref(m.as_ptr(), m.len(), get as i32, w, c) })
    }
    fn sync(&self) {
        // SAFETY: no arguments.
        unsafe { dw_shim_sync() }
    }
    fn quiesce(&self, u: usize, timeout_ms: u32, why: &mut Buf<'_>) -> i32 {
        // SAFETY: scratch buffer.
        with_why(why, |w, c| unsafe { dw_shim_quiesce(u as u32, timeout_ms, w, c) })
    }
}

/// One write to the control device.  Called with the control mutex held.
///
/// # Safety
/// `buf`/`len` and `reply`/`cap` must describe valid kernel buffers; `written` must
/// be valid for writes.
#[no_mangle]
pub unsafe extern "C" fn dw_rt_control(
    buf: *const u8,
    len: usize,
    reply: *mut u8,
    cap: usize,
    written: *mut usize,
) -> i32 {
    // SAFETY: caller contract.
    let (input, out) = unsafe { (core::slice::from_raw_parts(buf, len), core::slice::from_raw_parts_mut(reply, cap)) };
    let mut b = Buf::new(out);
    let rc = control(&RT, &Kernel, input, &mut b);
    // SAFETY: caller contract.
    unsafe { *written = b.len() };
    rc
}

fn call_predicate(addr: u64) -> bool {
    // SAFETY: `addr` is a predicate registered by an update module we hold.
    unsafe { dw_shim_call_predicate(addr) != 0 }
}

/// The dispatcher: which address a call entering `slot` runs (0: the original).
/// Called by the ftrace handler with preemption disabled.
#[no_mangle]
pub extern "C" fn dw_rt_select_core(slot: u32, parent: u64, pid: u32, cpu: u32) -> u64 {
    RT.select(slot, parent, pid, cpu, call_predicate)
}

/// Self-update site: the shim calls the dispatcher through this entry, which starts
/// with a 5-byte NOP that a jmp to a new dispatcher can replace (method jmp).
///
/// # Safety
/// Same contract as `dw_rt_select_core`.
#[unsafe(naked)]
#[no_mangle]
pub unsafe extern "C" fn dw_select(slot: u32, parent: u64, pid: u32, cpu: u32) -> u64 {
    core::arch::naked_asm!(
        ".byte 0x0f, 0x1f, 0x44, 0x00, 0x00",
        "jmp {core}",
        core = sym dw_rt_select_core,
    )
}

/// Sum of the active-invocation counters of update `u` (for the quiescence loop).
#[no_mangle]
pub extern "C" fn dw_rt_active_count(u: u32) -> i64 {
    // SAFETY: counters belong to update modules the runtime holds references on.
    unsafe { RT.active_count(u as usize) }
}

/// Index of the first of `addrs[..n]` that lies inside a version of update `u`, or -1.
///
/// # Safety
/// `addrs` must be valid for `n` reads.
#[no_mangle]
pub unsafe extern "C" fn dw_rt_held_by(u: u32, addrs: *const u64, n: usize) -> i32 {
    // SAFETY: caller contract.
    let a = unsafe { core::slice::from_raw_parts(addrs, n) };
    match RT.held_by(u as usize, a) {
        Some((_, addr)) => a.iter().position(|&x| x == addr).map_or(-1, |p| p as i32),
        None => -1,
    }
}
