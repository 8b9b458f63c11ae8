//! no_std logic of the dynwalk kernel runtime (see kmod/README.md and
//! docs/runtime-control.md).
//!
//! This crate knows nothing of kernel structures: the C shim (kmod/shim/) resolves
//! symbols, reads and writes text, arms ftrace and walks stacks, and calls in here
//! for every decision.  The same crate builds on the host, where the CLI reuses the
//! description encoder (`wire`) and the tests run.
#![cfg_attr(not(test), no_std)]

pub mod check;
pub mod cmd;
pub mod control;
pub mod policy;
pub mod table;
pub mod text;
pub mod wire;

#[cfg(dw_kernel)]
mod ffi;

// Linux errno values returned (negated) by the control device.
pub const ENOENT: i32 = 2;
pub const EBUSY: i32 = 16;
pub const EEXIST: i32 = 17;
pub const EINVAL: i32 = 22;
pub const ENOSPC: i32 = 28;
pub const ERANGE: i32 = 34;
pub const E2BIG: i32 = 7;
pub const EILSEQ: i32 = 84;

#[cfg(dw_kernel)]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    ffi::rust_panic()
}
