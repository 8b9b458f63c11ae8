//! no_std logic of the dynwalk kernel runtime (see kmod/README.md).
#![no_std]
