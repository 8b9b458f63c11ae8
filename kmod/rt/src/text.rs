//! A `core::fmt::Write` sink over a fixed byte buffer (no allocation in the kernel).
//! Output that does not fit is cut and `truncated` is set; writing never fails.

pub struct Buf<'a> {
    out: &'a mut [u8],
    len: usize,
    pub truncated: bool,
}

impl<'a> Buf<'a> {
    pub fn new(out: &'a mut [u8]) -> Self {
        Buf { out, len: 0, truncated: false }
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.out[..self.len]
    }
    pub fn push_bytes(&mut self, b: &[u8]) {
        let room = self.out.len() - self.len;
        let n = b.len().min(room);
        self.out[self.len..self.len + n].copy_from_slice(&b[..n]);
        self.len += n;
        if n < b.len() {
            self.truncated = true;
        }
    }
    /// Write a name that was validated as ASCII; anything else is shown as '?'.
    pub fn push_name(&mut self, b: &[u8]) {
        for &c in b {
            self.push_bytes(&[if c.is_ascii_graphic() { c } else { b'?' }]);
        }
    }
    pub fn push_hex(&mut self, b: &[u8]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for (i, &c) in b.iter().enumerate() {
            if i > 0 {
                self.push_bytes(b" ");
            }
            self.push_bytes(&[HEX[(c >> 4) as usize], HEX[(c & 15) as usize]]);
        }
    }
}

impl core::fmt::Write for Buf<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.push_bytes(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    #[test]
    fn cuts_without_failing() {
        let mut store = [0u8; 8];
        let mut b = Buf::new(&mut store);
        write!(b, "hello {}", 12345).unwrap();
        assert_eq!(b.as_bytes(), b"hello 12");
        assert!(b.truncated);
    }

    #[test]
    fn hex_and_names() {
        let mut store = [0u8; 32];
        let mut b = Buf::new(&mut store);
        b.push_hex(&[0x0f, 0x1f, 0x44]);
        b.push_bytes(b" ");
        b.push_name(b"a\x01b");
        assert_eq!(b.as_bytes(), b"0f 1f 44 a?b");
    }
}
