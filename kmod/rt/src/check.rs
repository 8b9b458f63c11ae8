//! Site checks before any write to kernel text: expected bytes, address ranges,
//! and the encoding of the `jmp rel32` written over a site that ftrace does not manage.

/// The 5-byte NOP that ftrace (and the runtime's own jmp site) leaves at an entry.
pub const NOP5: [u8; 5] = [0x0f, 0x1f, 0x44, 0x00, 0x00];
pub const JMP_LEN: usize = 5;

/// A half-open address range `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub start: u64,
    pub end: u64,
}

impl Range {
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
    pub fn contains(&self, addr: u64) -> bool {
        self.start <= addr && addr < self.end
    }
    pub fn overlaps(&self, o: &Range) -> bool {
        self.start < o.end && o.start < self.end
    }
}

/// First offset where `actual` differs from `expected`, if any.  `actual` must hold
/// at least as many bytes as `expected` (missing bytes count as a difference).
pub fn first_mismatch(expected: &[u8], actual: &[u8]) -> Option<usize> {
    (0..expected.len()).find(|&i| actual.get(i) != Some(&expected[i]))
}

/// Encode `jmp rel32` at `site` to `dest`.  None when `dest` is out of reach.
pub fn encode_jmp(site: u64, dest: u64) -> Option<[u8; JMP_LEN]> {
    let next = site.checked_add(JMP_LEN as u64)?;
    let rel = (dest as i128) - (next as i128);
    let rel = i32::try_from(rel).ok()?;
    let r = rel.to_le_bytes();
    Some([0xe9, r[0], r[1], r[2], r[3]])
}

/// Destination of a `jmp rel32` found at `site`, if those bytes are one.
pub fn decode_jmp(site: u64, bytes: &[u8]) -> Option<u64> {
    if bytes.len() < JMP_LEN || bytes[0] != 0xe9 {
        return None;
    }
    let rel = i32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
    Some((site as i64).wrapping_add(JMP_LEN as i64).wrapping_add(rel as i64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jmp_round_trip_and_reach() {
        let site = 0xffff_ffff_8000_1000;
        for dest in [site + 5, site, site - 0x1000, site + 0x7fff_0000] {
            let b = encode_jmp(site, dest).unwrap();
            assert_eq!(decode_jmp(site, &b), Some(dest));
        }
        assert_eq!(encode_jmp(site, site + 5).unwrap(), [0xe9, 0, 0, 0, 0]);
        assert_eq!(encode_jmp(site, site.wrapping_sub(0x1_0000_0000)), None);
        assert_eq!(encode_jmp(u64::MAX - 2, 0), None);
        assert_eq!(decode_jmp(site, &NOP5), None);
    }

    #[test]
    fn mismatch_offsets() {
        assert_eq!(first_mismatch(&NOP5, &NOP5), None);
        assert_eq!(first_mismatch(&NOP5, &[0x0f, 0x1f, 0x45, 0, 0]), Some(2));
        assert_eq!(first_mismatch(&NOP5, &[0x0f]), Some(1));
    }

    #[test]
    fn ranges() {
        let r = Range { start: 10, end: 20 };
        assert!(r.contains(10) && r.contains(19) && !r.contains(20) && !r.contains(9));
        assert!(r.overlaps(&Range { start: 19, end: 30 }));
        assert!(!r.overlaps(&Range { start: 20, end: 30 }));
        assert!(Range { start: 5, end: 5 }.is_empty());
    }
}
