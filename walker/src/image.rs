//! The target kernel's image (an ELF `vmlinux`: Debian's debug package, or the one
//! `scripts/extract-vmlinux` takes out of `vmlinuz`), read for the sites the runtime
//! patches with a jump: a `notrace` function has no fentry site, so its first
//! instructions are overwritten (DynAMOS's way). The lowering checks that those bytes
//! end on an instruction boundary, that nothing in the function branches into them,
//! and that the function is long enough, and records them as the bytes the runtime
//! must find there.
//!
//! Addresses: kallsyms gives the running kernel's (randomised by KASLR); the image is
//! linked at its own. Both have `_text`, so an address moves by the difference.

use iced_x86::{Decoder, DecoderOptions, FlowControl};
use object::{Object, ObjectSection, ObjectSymbol};

use crate::ksyms::KernelSymbols;
/// The jump the runtime writes (`jmp rel32`), and the most bytes a description records
/// as expected at a site: the runtime's own limits.
pub use dynwalk_kmod::check::JMP_LEN;
pub use dynwalk_kmod::wire::MAX_EXPECTED;
/// The most bytes of one function read for the branch check (larger functions are
/// checked over this prefix only, and the lowering says so).
const MAX_SCAN: u64 = 64 * 1024;

/// Text sections of the image: (address, bytes).
pub struct KernelImage {
    text: Vec<(u64, Vec<u8>)>,
    /// The image's `_text` (its symbol, or the `.text` section's start when stripped).
    base: u64,
}

/// A checked jump site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JmpSite {
    /// Bytes overwritten, up to the first instruction boundary at or past `JMP_LEN`.
    pub boundary: usize,
    /// What the runtime must find at the entry (the first `boundary` bytes, at most 16).
    pub expected: Vec<u8>,
}

impl KernelImage {
    pub fn parse(bytes: &[u8]) -> Result<KernelImage, String> {
        let file = object::File::parse(bytes).map_err(|e| format!("not an ELF image: {e}"))?;
        let mut text = Vec::new();
        for s in file.sections() {
            let exec = matches!(s.flags(), object::SectionFlags::Elf { sh_flags } if sh_flags & 0x4 != 0);
            if !exec || s.size() == 0 {
                continue;
            }
            let Ok(data) = s.data() else { continue };
            if data.is_empty() {
                continue; // NOBITS
            }
            text.push((s.address(), data.to_vec()));
        }
        let sym_text = file.symbols().find(|s| s.name() == Ok("_text")).map(|s| s.address());
        let sec_text = file.section_by_name(".text").map(|s| s.address());
        let base = sym_text.or(sec_text).ok_or("the image has neither `_text` nor a .text section")?;
        if text.is_empty() {
            return Err("the image has no executable section".into());
        }
        Ok(KernelImage { text, base })
    }

    /// `len` bytes of text at the image address `at`, if one section holds them all.
    fn bytes(&self, at: u64, len: u64) -> Option<&[u8]> {
        self.text.iter().find_map(|(a, d)| {
            let off = at.checked_sub(*a)?;
            let end = off.checked_add(len)?;
            (end <= d.len() as u64).then(|| &d[off as usize..end as usize])
        })
    }

    /// Checks the jump site of `name` (the `sympos`-th of that name) of the kernel whose
    /// symbols are `kernel`.
    pub fn jmp_site(&self, kernel: &KernelSymbols, name: &str, sympos: u32) -> Result<JmpSite, String> {
        let run_text = kernel.address("_text").ok_or("kallsyms has no `_text` (read without root?)")?;
        let (at, end) = kernel.extent(name, sympos).ok_or(format!("kallsyms gives no extent for `{name}`"))?;
        let size = end - at;
        let img = at.wrapping_sub(run_text).wrapping_add(self.base);
        let scan = size.min(MAX_SCAN);
        let code = self
            .bytes(img, scan)
            .ok_or(format!("`{name}` ({size} bytes at image address {img:#x}) is not in the image's text"))?;
        check_jmp_site(code, img)
    }
}

/// Checks that a jump can overwrite the entry of the function `code` (its bytes, at
/// address `ip`): the bytes it covers end on an instruction boundary, decode as
/// instructions, and no branch of the function lands inside them (after the first
/// byte) — a loop back to the entry's second instruction would run half a jump.
pub fn check_jmp_site(code: &[u8], ip: u64) -> Result<JmpSite, String> {
    if code.len() < JMP_LEN {
        return Err(format!("the function is {} bytes long: a jump needs {JMP_LEN}", code.len()));
    }
    let mut d = Decoder::with_ip(64, code, ip, DecoderOptions::NONE);
    let mut boundary = 0usize;
    // Every direct branch and call of the function: (its offset, its target).
    let mut branches = Vec::new();
    while d.can_decode() {
        let insn = d.decode();
        if insn.is_invalid() {
            if boundary < JMP_LEN {
                return Err(format!("the bytes at +{:#x} do not decode as an instruction", insn.ip() - ip));
            }
            // Data or padding after the code: nothing more to check in it.
            break;
        }
        if boundary == 0 && insn.len() < JMP_LEN {
            // text_poke_bp replaces one instruction atomically (an int3 guards its first
            // byte); over several, a task stopped after the first would resume inside the
            // jump. DynAMOS checked every stack for that; the runtime does not yet.
            return Err(format!(
                "its first instruction is {} byte(s): the runtime replaces one instruction of at least {JMP_LEN} \
                 bytes, and covering several needs every task checked off them (not done)",
                insn.len()
            ));
        }
        if boundary < JMP_LEN {
            boundary += insn.len();
        }
        let direct = matches!(
            insn.flow_control(),
            FlowControl::UnconditionalBranch | FlowControl::ConditionalBranch | FlowControl::Call
        );
        if direct && insn.near_branch_target() != 0 {
            branches.push((insn.ip() - ip, insn.near_branch_target()));
        }
    }
    if boundary < JMP_LEN {
        return Err(format!("the function's instructions end after {boundary} bytes: a jump needs {JMP_LEN}"));
    }
    if let Some((from, t)) = branches.iter().find(|(_, t)| *t > ip && *t < ip + boundary as u64) {
        return Err(format!(
            "the instruction at +{from:#x} branches to +{:#x}, inside the {boundary} bytes the jump overwrites",
            t - ip
        ));
    }
    Ok(JmpSite { boundary, expected: code[..boundary.min(MAX_EXPECTED)].to_vec() })
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: u64 = 0xffff_ffff_8100_0000;

    #[test]
    fn the_jump_replaces_one_whole_instruction() {
        // mov $1,%eax; ret: the 5-byte instruction is the site.
        let g = [0xb8, 0x01, 0x00, 0x00, 0x00, 0xc3];
        let s = check_jmp_site(&g, IP).unwrap();
        assert_eq!((s.boundary, s.expected.as_slice()), (5, &g[..5]));
        // mov $1,%rax (7 bytes); ret: all 7 are expected.
        let h = [0x48, 0xc7, 0xc0, 0x01, 0x00, 0x00, 0x00, 0xc3];
        assert_eq!(check_jmp_site(&h, IP).unwrap().expected, h[..7]);
        // push %rbp; mov %rsp,%rbp; ...: the jump would cover three instructions.
        let f = [0x55, 0x48, 0x89, 0xe5, 0xb8, 0x01, 0x00, 0x00, 0x00, 0x5d, 0xc3];
        assert!(check_jmp_site(&f, IP).unwrap_err().contains("first instruction is 1 byte"));
    }

    #[test]
    fn a_branch_into_the_overwritten_bytes_is_refused() {
        // 0: mov $1,%eax  5: jmp +2 (inside the mov)
        let f = [0xb8, 0x01, 0x00, 0x00, 0x00, 0xeb, 0xfb, 0xc3];
        let e = check_jmp_site(&f, IP).unwrap_err();
        assert!(e.contains("branches to +0x2"), "{e}");
        // A branch back to the entry itself runs the whole jump: fine.
        let g = [0xb8, 0x01, 0x00, 0x00, 0x00, 0xeb, 0xf9, 0xc3];
        assert!(check_jmp_site(&g, IP).is_ok());
    }

    #[test]
    fn a_function_shorter_than_a_jump_or_not_code_is_refused() {
        assert!(check_jmp_site(&[0x31, 0xc0, 0xc3], IP).unwrap_err().contains("needs 5"));
        // 0x06 (push %es) does not exist in 64-bit mode.
        assert!(check_jmp_site(&[0x06, 0x06, 0x06, 0x06, 0x06, 0x06], IP).unwrap_err().contains("do not decode"));
    }
}
