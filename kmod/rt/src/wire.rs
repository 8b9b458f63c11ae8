//! Binary encoding of an update description, version 1 (docs/runtime-control.md).
//!
//! All integers are little-endian.  Layout:
//!
//! ```text
//! header (16 bytes)
//!   0  magic        b"DWUP"
//!   4  u16 version  = 1
//!   6  u16 hdr_len  = 16
//!   8  u32 total    = length of the whole description
//!  12  u16 nfuncs   1..=MAX_FUNCS
//!  14  u16 flags    = 0 (reserved)
//! name    u8 len + bytes   update name
//! module  u8 len + bytes   module that holds the versions
//! nfuncs records:
//!   u8 len + bytes  target symbol (function to update)
//!   u8 len + bytes  version symbol (registered by the update module)
//!   u8 group        0..MAX_GROUPS
//!   u8 method       0 = ftrace, 1 = jmp (text_poke)
//!   u8 policy       0 newest, 1 task, 2 cpu, 3 predicate
//!   u8 reserved     = 0
//!   u32 param       pid for `task`, cpu for `cpu`, 0 otherwise
//!   u8 len + bytes  expected bytes at the target entry, MIN_EXPECTED..=MAX_EXPECTED
//! ```
//!
//! Decoding validates everything and never panics; the encoder reuses the decoder
//! on its own output so that it cannot produce something the runtime refuses.

pub const MAGIC: [u8; 4] = *b"DWUP";
pub const VERSION: u16 = 1;
pub const HEADER_LEN: usize = 16;
pub const MAX_FUNCS: usize = 16;
pub const MAX_GROUPS: u8 = 8;
pub const MAX_NAME: usize = 63;
pub const MIN_EXPECTED: usize = 5;
pub const MAX_EXPECTED: usize = 16;
pub const MAX_DESC_LEN: usize = 8192;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Ftrace = 0,
    Jmp = 1,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyKind {
    Newest = 0,
    Task = 1,
    Cpu = 2,
    Predicate = 3,
}

impl PolicyKind {
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(Self::Newest),
            1 => Some(Self::Task),
            2 => Some(Self::Cpu),
            3 => Some(Self::Predicate),
            _ => None,
        }
    }
}

/// One function of an update, borrowed from the description bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Func<'a> {
    pub target: &'a [u8],
    pub version: &'a [u8],
    pub group: u8,
    pub method: Method,
    pub policy: PolicyKind,
    pub param: u32,
    pub expected: &'a [u8],
}

/// A validated description.
#[derive(Clone, Copy, Debug)]
pub struct Desc<'a> {
    pub name: &'a [u8],
    pub module: &'a [u8],
    nfuncs: usize,
    funcs_at: usize,
    buf: &'a [u8],
}

/// Why a description was refused.  `offset` is where the problem was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DescError {
    Truncated { offset: usize, need: usize },
    BadMagic,
    BadVersion(u16),
    BadHeaderLen(u16),
    LengthMismatch { header: u32, actual: usize },
    TooLong(usize),
    BadFuncCount(u16),
    ReservedNonZero { offset: usize },
    BadName { offset: usize },
    BadGroup { func: usize, group: u8 },
    BadMethod { func: usize, method: u8 },
    BadPolicy { func: usize, policy: u8 },
    BadExpectedLen { func: usize, len: usize },
    DuplicateTarget { func: usize },
    JmpSharesGroup { func: usize },
    TrailingBytes { offset: usize },
    BufferTooSmall,
}

impl DescError {
    /// Linux errno the control device returns for this error.
    pub fn errno(&self) -> i32 {
        match self {
            DescError::BufferTooSmall | DescError::TooLong(_) => crate::E2BIG,
            _ => crate::EINVAL,
        }
    }
}

impl core::fmt::Display for DescError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        use DescError::*;
        match *self {
            Truncated { offset, need } => {
                write!(f, "truncated description: {need} more byte(s) needed at offset {offset}")
            }
            BadMagic => write!(f, "bad magic (not an update description)"),
            BadVersion(v) => write!(f, "unsupported description version {v} (runtime speaks {VERSION})"),
            BadHeaderLen(l) => write!(f, "bad header length {l} (expected {HEADER_LEN})"),
            LengthMismatch { header, actual } => {
                write!(f, "length mismatch: header says {header} bytes, got {actual}")
            }
            TooLong(l) => write!(f, "description too long: {l} bytes (max {MAX_DESC_LEN})"),
            BadFuncCount(n) => write!(f, "bad function count {n} (1..={MAX_FUNCS})"),
            ReservedNonZero { offset } => {
                write!(f, "reserved field at offset {offset} is not zero")
            }
            BadName { offset } => write!(f, "bad name at offset {offset}: 1..={MAX_NAME} bytes of [A-Za-z0-9_.:-]"),
            BadGroup { func, group } => {
                write!(f, "function {func}: group {group} out of range (0..{MAX_GROUPS})")
            }
            BadMethod { func, method } => write!(f, "function {func}: unknown method {method}"),
            BadPolicy { func, policy } => write!(f, "function {func}: unknown policy {policy}"),
            BadExpectedLen { func, len } => {
                write!(f, "function {func}: {len} expected bytes ({MIN_EXPECTED}..={MAX_EXPECTED} required)")
            }
            DuplicateTarget { func } => write!(f, "function {func}: target listed twice"),
            JmpSharesGroup { func } => {
                write!(f, "function {func}: a jmp site must be alone in its group")
            }
            TrailingBytes { offset } => write!(f, "trailing bytes after offset {offset}"),
            BufferTooSmall => write!(f, "output buffer too small"),
        }
    }
}

pub fn is_valid_name(s: &[u8]) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME
        && s.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b':' | b'-'))
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DescError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(DescError::Truncated { offset: self.pos, need: self.pos + n - self.buf.len() }),
        }
    }
    fn u8(&mut self) -> Result<u8, DescError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, DescError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, DescError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn name(&mut self) -> Result<&'a [u8], DescError> {
        let at = self.pos;
        let len = self.u8()? as usize;
        let s = self.take(len)?;
        if is_valid_name(s) {
            Ok(s)
        } else {
            Err(DescError::BadName { offset: at })
        }
    }
}

fn read_func<'a>(r: &mut Reader<'a>, i: usize) -> Result<Func<'a>, DescError> {
    let target = r.name()?;
    let version = r.name()?;
    let group = r.u8()?;
    let method = r.u8()?;
    let policy = r.u8()?;
    let reserved_at = r.pos;
    let reserved = r.u8()?;
    let param = r.u32()?;
    let elen = r.u8()? as usize;
    let expected = r.take(elen)?;
    if group >= MAX_GROUPS {
        return Err(DescError::BadGroup { func: i, group });
    }
    let method = match method {
        0 => Method::Ftrace,
        1 => Method::Jmp,
        m => return Err(DescError::BadMethod { func: i, method: m }),
    };
    let policy = PolicyKind::from_u8(policy).ok_or(DescError::BadPolicy { func: i, policy })?;
    if reserved != 0 {
        return Err(DescError::ReservedNonZero { offset: reserved_at });
    }
    if !(MIN_EXPECTED..=MAX_EXPECTED).contains(&elen) {
        return Err(DescError::BadExpectedLen { func: i, len: elen });
    }
    Ok(Func { target, version, group, method, policy, param, expected })
}

/// Decode and validate a description.
pub fn decode(buf: &[u8]) -> Result<Desc<'_>, DescError> {
    if buf.len() > MAX_DESC_LEN {
        return Err(DescError::TooLong(buf.len()));
    }
    let mut r = Reader { buf, pos: 0 };
    if r.take(4)? != MAGIC {
        return Err(DescError::BadMagic);
    }
    let version = r.u16()?;
    if version != VERSION {
        return Err(DescError::BadVersion(version));
    }
    let hdr = r.u16()?;
    if hdr as usize != HEADER_LEN {
        return Err(DescError::BadHeaderLen(hdr));
    }
    let total = r.u32()?;
    if total as usize > buf.len() {
        return Err(DescError::Truncated { offset: buf.len(), need: total as usize - buf.len() });
    }
    if total as usize != buf.len() {
        return Err(DescError::LengthMismatch { header: total, actual: buf.len() });
    }
    let nfuncs = r.u16()?;
    if nfuncs == 0 || nfuncs as usize > MAX_FUNCS {
        return Err(DescError::BadFuncCount(nfuncs));
    }
    let flags_at = r.pos;
    if r.u16()? != 0 {
        return Err(DescError::ReservedNonZero { offset: flags_at });
    }
    let name = r.name()?;
    let module = r.name()?;
    let funcs_at = r.pos;
    let mut seen: [(&[u8], u8, Method); MAX_FUNCS] = [(&[], 0, Method::Ftrace); MAX_FUNCS];
    for i in 0..nfuncs as usize {
        let f = read_func(&mut r, i)?;
        for &(t, g, m) in &seen[..i] {
            if t == f.target {
                return Err(DescError::DuplicateTarget { func: i });
            }
            if g == f.group && (m == Method::Jmp || f.method == Method::Jmp) {
                return Err(DescError::JmpSharesGroup { func: i });
            }
        }
        seen[i] = (f.target, f.group, f.method);
    }
    if r.pos != buf.len() {
        return Err(DescError::TrailingBytes { offset: r.pos });
    }
    Ok(Desc { name, module, nfuncs: nfuncs as usize, funcs_at, buf })
}

impl<'a> Desc<'a> {
    pub fn len(&self) -> usize {
        self.nfuncs
    }
    pub fn is_empty(&self) -> bool {
        self.nfuncs == 0
    }
    /// The functions, in description order.  Already validated by `decode`.
    pub fn funcs(&self) -> impl Iterator<Item = Func<'a>> + 'a {
        let mut r = Reader { buf: self.buf, pos: self.funcs_at };
        (0..self.nfuncs).map_while(move |i| read_func(&mut r, i).ok())
    }
}

/// Encoder input: what the host CLI builds from a plan.
#[derive(Clone, Copy, Debug)]
pub struct Spec<'a> {
    pub name: &'a [u8],
    pub module: &'a [u8],
    pub funcs: &'a [Func<'a>],
}

/// Encode `spec` into `out`; returns the number of bytes written.  The result is
/// decoded again, so any error the runtime would report is reported here.
pub fn encode(spec: &Spec<'_>, out: &mut [u8]) -> Result<usize, DescError> {
    let mut w = Writer { out, pos: 0 };
    w.put(&MAGIC)?;
    w.put(&VERSION.to_le_bytes())?;
    w.put(&(HEADER_LEN as u16).to_le_bytes())?;
    w.put(&[0; 4])?; // total, patched below
    let n = u16::try_from(spec.funcs.len()).map_err(|_| DescError::BadFuncCount(u16::MAX))?;
    w.put(&n.to_le_bytes())?;
    w.put(&[0, 0])?;
    w.name(spec.name)?;
    w.name(spec.module)?;
    for f in spec.funcs {
        w.name(f.target)?;
        w.name(f.version)?;
        w.put(&[f.group, f.method as u8, f.policy as u8, 0])?;
        w.put(&f.param.to_le_bytes())?;
        w.name(f.expected)?;
    }
    let total = w.pos;
    w.out[8..12].copy_from_slice(&(total as u32).to_le_bytes());
    decode(&w.out[..total])?;
    Ok(total)
}

struct Writer<'o> {
    out: &'o mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn put(&mut self, b: &[u8]) -> Result<(), DescError> {
        let end = self.pos + b.len();
        if end > self.out.len() {
            return Err(DescError::BufferTooSmall);
        }
        self.out[self.pos..end].copy_from_slice(b);
        self.pos = end;
        Ok(())
    }
    /// A length-prefixed byte string (names and expected bytes).
    fn name(&mut self, s: &[u8]) -> Result<(), DescError> {
        let len = u8::try_from(s.len()).map_err(|_| DescError::BadName { offset: self.pos })?;
        self.put(&[len])?;
        self.put(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOP5: &[u8] = &[0x0f, 0x1f, 0x44, 0x00, 0x00];

    fn func(target: &'static str, group: u8, method: Method) -> Func<'static> {
        Func {
            target: target.as_bytes(),
            version: b"v2",
            group,
            method,
            policy: PolicyKind::Newest,
            param: 0,
            expected: NOP5,
        }
    }

    fn enc(funcs: &[Func<'_>]) -> Vec<u8> {
        let mut out = vec![0; MAX_DESC_LEN];
        let n = encode(&Spec { name: b"u1", module: b"dwt_update", funcs }, &mut out).unwrap();
        out.truncate(n);
        out
    }

    #[test]
    fn round_trip() {
        let fs = [func("cmdline_proc_show", 0, Method::Ftrace), func("dw_select", 1, Method::Jmp)];
        let bytes = enc(&fs);
        let d = decode(&bytes).unwrap();
        assert_eq!(d.name, b"u1");
        assert_eq!(d.module, b"dwt_update");
        let got: Vec<_> = d.funcs().collect();
        assert_eq!(got, fs);
    }

    #[test]
    fn every_truncation_is_refused() {
        let bytes = enc(&[func("a", 0, Method::Ftrace), func("b", 0, Method::Ftrace)]);
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n]).is_err(), "prefix {n} accepted");
        }
    }

    #[test]
    fn truncated_message_names_offset() {
        let bytes = enc(&[func("a", 0, Method::Ftrace)]);
        let mut cut = bytes[..bytes.len() - 3].to_vec();
        let l = cut.len() as u32;
        cut[8..12].copy_from_slice(&l.to_le_bytes());
        let e = decode(&cut).unwrap_err();
        assert!(matches!(e, DescError::Truncated { .. }), "{e:?}");
        assert!(format!("{e}").starts_with("truncated description"));
    }

    #[test]
    fn header_checks() {
        let good = enc(&[func("a", 0, Method::Ftrace)]);
        let mut b = good.clone();
        b[0] = b'X';
        assert_eq!(decode(&b).unwrap_err(), DescError::BadMagic);
        let mut b = good.clone();
        b[4] = 2;
        assert_eq!(decode(&b).unwrap_err(), DescError::BadVersion(2));
        let mut b = good.clone();
        b[14] = 1;
        assert_eq!(decode(&b).unwrap_err(), DescError::ReservedNonZero { offset: 14 });
        let mut b = good.clone();
        b.push(0);
        assert!(matches!(decode(&b).unwrap_err(), DescError::LengthMismatch { .. }));
    }

    #[test]
    fn semantic_checks() {
        let mut out = vec![0; 512];
        let dup = [func("a", 0, Method::Ftrace), func("a", 1, Method::Ftrace)];
        let spec = Spec { name: b"u", module: b"m", funcs: &dup };
        assert_eq!(encode(&spec, &mut out).unwrap_err(), DescError::DuplicateTarget { func: 1 });
        let jmp = [func("a", 0, Method::Ftrace), func("b", 0, Method::Jmp)];
        let spec = Spec { name: b"u", module: b"m", funcs: &jmp };
        assert_eq!(encode(&spec, &mut out).unwrap_err(), DescError::JmpSharesGroup { func: 1 });
        let mut g = func("a", 9, Method::Ftrace);
        let spec = Spec { name: b"u", module: b"m", funcs: core::slice::from_ref(&g) };
        assert_eq!(encode(&spec, &mut out).unwrap_err(), DescError::BadGroup { func: 0, group: 9 });
        g.group = 0;
        g.expected = &[0x90];
        let spec = Spec { name: b"u", module: b"m", funcs: core::slice::from_ref(&g) };
        assert_eq!(encode(&spec, &mut out).unwrap_err(), DescError::BadExpectedLen { func: 0, len: 1 });
        let bad = func("a b", 0, Method::Ftrace);
        let spec = Spec { name: b"u", module: b"m", funcs: core::slice::from_ref(&bad) };
        assert!(matches!(encode(&spec, &mut out).unwrap_err(), DescError::BadName { .. }));
    }

    #[test]
    fn decoder_never_panics_on_mutations() {
        let good = enc(&[func("cmdline_proc_show", 3, Method::Ftrace), func("x", 1, Method::Jmp)]);
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut b = good.clone();
            let at = (seed as usize) % b.len();
            b[at] = (seed >> 32) as u8;
            let cut = ((seed >> 40) as usize) % (b.len() + 1);
            let _ = decode(&b[..cut]);
            let _ = decode(&b);
        }
    }
}
