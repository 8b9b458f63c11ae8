//! Binary encoding of an update description, versions 1 and 2 (docs/runtime-control.md).
//!
//! All integers are little-endian.  Layout:
//!
//! ```text
//! header (16 bytes)
//!   0  magic        b"DWUP"
//!   4  u16 version  1 or 2
//!   6  u16 hdr_len  = 16
//!   8  u32 total    = length of the whole description
//!  12  u16 nfuncs   1..=16 (v1), 1..=MAX_FUNCS (v2)
//!  14  u16 flags    = 0 (reserved)
//! name    u8 len + bytes   update name
//! module  u8 len + bytes   module that holds the versions
//! nfuncs records:
//!   u8 len + bytes  target symbol (function to update)
//!   u8 len + bytes  version symbol (registered by the update module)
//!   u8 group        0..8 (v1), 0..MAX_GROUPS (v2)
//!   u8 method       0 = ftrace, 1 = jmp (text_poke)
//!   u8 policy       0 newest, 1 task, 2 cpu, 3 predicate
//!   u8 reserved     = 0
//!   u32 param       pid for `task`, cpu for `cpu`, 0 otherwise
//!   u32 sympos      (v2 only) 0: the target is the only kernel symbol of its name;
//!                   n: the n-th of that name in kallsyms order (livepatch's sympos)
//!   u8 len + bytes  expected bytes at the target entry, MIN_EXPECTED..=MAX_EXPECTED
//! ```
//!
//! Version 2 carries whole security patches (Debian's series has plans with 50
//! redirections) and static targets that several files define.  The encoder writes
//! the oldest version that carries its input, so a runtime that reads only version 1
//! still takes every update it can run, and refuses the others with "unsupported
//! description version 2".
//!
//! Decoding validates everything and never panics; the encoder reuses the decoder
//! on its own output so that it cannot produce something the runtime refuses.

pub const MAGIC: [u8; 4] = *b"DWUP";
/// The newest version this runtime reads (it reads every older one).
pub const VERSION: u16 = 2;
pub const HEADER_LEN: usize = 16;
pub const MAX_FUNCS: usize = 128;
pub const MAX_GROUPS: u8 = 32;
/// Version 1's limits.
pub const V1_MAX_FUNCS: usize = 16;
pub const V1_MAX_GROUPS: u8 = 8;
pub const MAX_NAME: usize = 63;
pub const MIN_EXPECTED: usize = 5;
pub const MAX_EXPECTED: usize = 16;
pub const MAX_DESC_LEN: usize = 32768;

const fn max_funcs(version: u16) -> usize {
    if version == 1 {
        V1_MAX_FUNCS
    } else {
        MAX_FUNCS
    }
}

const fn max_groups(version: u16) -> u8 {
    if version == 1 {
        V1_MAX_GROUPS
    } else {
        MAX_GROUPS
    }
}

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
    /// 0: the target is the only kernel symbol of its name; n: the n-th of that name
    /// in kallsyms order (version 2).
    pub sympos: u32,
    pub expected: &'a [u8],
}

/// A validated description.
#[derive(Clone, Copy, Debug)]
pub struct Desc<'a> {
    pub name: &'a [u8],
    pub module: &'a [u8],
    /// The format version it was written in.
    pub version: u16,
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
    BadFuncCount { version: u16, count: u16 },
    ReservedNonZero { offset: usize },
    BadName { offset: usize },
    BadGroup { func: usize, group: u8, max: u8 },
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
            BadVersion(v) => write!(f, "unsupported description version {v} (runtime speaks 1..={VERSION})"),
            BadHeaderLen(l) => write!(f, "bad header length {l} (expected {HEADER_LEN})"),
            LengthMismatch { header, actual } => {
                write!(f, "length mismatch: header says {header} bytes, got {actual}")
            }
            TooLong(l) => write!(f, "description too long: {l} bytes (max {MAX_DESC_LEN})"),
            BadFuncCount { version, count } => {
                write!(f, "bad function count {count} (1..={} in version {version})", max_funcs(version))
            }
            ReservedNonZero { offset } => {
                write!(f, "reserved field at offset {offset} is not zero")
            }
            BadName { offset } => write!(f, "bad name at offset {offset}: 1..={MAX_NAME} bytes of [A-Za-z0-9_.:-]"),
            BadGroup { func, group, max } => write!(f, "function {func}: group {group} out of range (0..{max})"),
            BadMethod { func, method } => write!(f, "function {func}: unknown method {method}"),
            BadPolicy { func, policy } => write!(f, "function {func}: unknown policy {policy}"),
            BadExpectedLen { func, len } => {
                write!(f, "function {func}: {len} expected bytes ({MIN_EXPECTED}..={MAX_EXPECTED} required)")
            }
            DuplicateTarget { func } => write!(f, "function {func}: target (name and sympos) listed twice"),
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

fn read_func<'a>(r: &mut Reader<'a>, i: usize, version: u16) -> Result<Func<'a>, DescError> {
    let target = r.name()?;
    let vname = r.name()?;
    let group = r.u8()?;
    let method = r.u8()?;
    let policy = r.u8()?;
    let reserved_at = r.pos;
    let reserved = r.u8()?;
    let param = r.u32()?;
    let sympos = if version >= 2 { r.u32()? } else { 0 };
    let elen = r.u8()? as usize;
    let expected = r.take(elen)?;
    if group >= max_groups(version) {
        return Err(DescError::BadGroup { func: i, group, max: max_groups(version) });
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
    Ok(Func { target, version: vname, group, method, policy, param, sympos, expected })
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
    if !(1..=VERSION).contains(&version) {
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
    if nfuncs == 0 || nfuncs as usize > max_funcs(version) {
        return Err(DescError::BadFuncCount { version, count: nfuncs });
    }
    let flags_at = r.pos;
    if r.u16()? != 0 {
        return Err(DescError::ReservedNonZero { offset: flags_at });
    }
    let name = r.name()?;
    let module = r.name()?;
    let funcs_at = r.pos;
    // Each record against the earlier ones, read again (no table on the kernel stack).
    for i in 0..nfuncs as usize {
        let f = read_func(&mut r, i, version)?;
        let mut earlier = Reader { buf, pos: funcs_at };
        for j in 0..i {
            let e = read_func(&mut earlier, j, version)?;
            if e.target == f.target && e.sympos == f.sympos {
                return Err(DescError::DuplicateTarget { func: i });
            }
            if e.group == f.group && (e.method == Method::Jmp || f.method == Method::Jmp) {
                return Err(DescError::JmpSharesGroup { func: i });
            }
        }
    }
    if r.pos != buf.len() {
        return Err(DescError::TrailingBytes { offset: r.pos });
    }
    Ok(Desc { name, module, version, nfuncs: nfuncs as usize, funcs_at, buf })
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
        let v = self.version;
        (0..self.nfuncs).map_while(move |i| read_func(&mut r, i, v).ok())
    }
}

/// Encoder input: what the host CLI builds from a plan.
#[derive(Clone, Copy, Debug)]
pub struct Spec<'a> {
    pub name: &'a [u8],
    pub module: &'a [u8],
    pub funcs: &'a [Func<'a>],
}

/// The oldest version that carries `spec`: 1 unless it has more than 16 functions, a
/// group past 7, or a target told apart by its position in kallsyms.
pub fn version_for(spec: &Spec<'_>) -> u16 {
    let v1 = spec.funcs.len() <= V1_MAX_FUNCS && spec.funcs.iter().all(|f| f.group < V1_MAX_GROUPS && f.sympos == 0);
    if v1 {
        1
    } else {
        2
    }
}

/// Encode `spec` into `out` in the oldest version that carries it; returns the number
/// of bytes written.  The result is decoded again, so any error the runtime would
/// report is reported here.
pub fn encode(spec: &Spec<'_>, out: &mut [u8]) -> Result<usize, DescError> {
    let version = version_for(spec);
    let mut w = Writer { out, pos: 0 };
    w.put(&MAGIC)?;
    w.put(&version.to_le_bytes())?;
    w.put(&(HEADER_LEN as u16).to_le_bytes())?;
    w.put(&[0; 4])?; // total, patched below
    let n = u16::try_from(spec.funcs.len()).map_err(|_| DescError::BadFuncCount { version, count: u16::MAX })?;
    w.put(&n.to_le_bytes())?;
    w.put(&[0, 0])?;
    w.name(spec.name)?;
    w.name(spec.module)?;
    for f in spec.funcs {
        w.name(f.target)?;
        w.name(f.version)?;
        w.put(&[f.group, f.method as u8, f.policy as u8, 0])?;
        w.put(&f.param.to_le_bytes())?;
        if version >= 2 {
            w.put(&f.sympos.to_le_bytes())?;
        }
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
            sympos: 0,
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
        b[4] = 3;
        assert_eq!(decode(&b).unwrap_err(), DescError::BadVersion(3));
        let mut b = good.clone();
        b[4] = 0;
        assert_eq!(decode(&b).unwrap_err(), DescError::BadVersion(0));
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
        let mut g = func("a", 40, Method::Ftrace);
        let spec = Spec { name: b"u", module: b"m", funcs: core::slice::from_ref(&g) };
        assert_eq!(encode(&spec, &mut out).unwrap_err(), DescError::BadGroup { func: 0, group: 40, max: 32 });
        g.group = 0;
        g.expected = &[0x90];
        let spec = Spec { name: b"u", module: b"m", funcs: core::slice::from_ref(&g) };
        assert_eq!(encode(&spec, &mut out).unwrap_err(), DescError::BadExpectedLen { func: 0, len: 1 });
        let bad = func("a b", 0, Method::Ftrace);
        let spec = Spec { name: b"u", module: b"m", funcs: core::slice::from_ref(&bad) };
        assert!(matches!(encode(&spec, &mut out).unwrap_err(), DescError::BadName { .. }));
    }

    /// `n` functions named `f0`, `f1`... in groups `i % groups`.
    fn many(n: usize, groups: u8) -> Vec<Func<'static>> {
        let names: &'static [String] =
            Box::leak((0..n).map(|i| format!("f{i}")).collect::<Vec<_>>().into_boxed_slice());
        names.iter().enumerate().map(|(i, t)| func(t, (i % groups as usize) as u8, Method::Ftrace)).collect()
    }

    #[test]
    fn the_oldest_version_that_carries_the_update_is_written() {
        // Small updates stay version 1: a runtime that reads only 1 still takes them.
        let small = enc(&many(16, 8));
        assert_eq!(u16::from_le_bytes([small[4], small[5]]), 1);
        // 17 functions, a group past 7, or a sympos need version 2.
        for fs in [many(17, 1), many(9, 9)] {
            let b = enc(&fs);
            assert_eq!(u16::from_le_bytes([b[4], b[5]]), 2);
            let d = decode(&b).unwrap();
            assert_eq!(d.version, 2);
            assert_eq!(d.funcs().collect::<Vec<_>>(), fs);
        }
        let mut f = func("counter_show", 0, Method::Ftrace);
        f.sympos = 2;
        let b = enc(&[f]);
        assert_eq!(u16::from_le_bytes([b[4], b[5]]), 2);
        assert_eq!(decode(&b).unwrap().funcs().next().unwrap().sympos, 2);
    }

    #[test]
    fn version_2_carries_a_whole_security_patch_and_no_more() {
        let fs = many(MAX_FUNCS, MAX_GROUPS);
        let b = enc(&fs);
        assert_eq!(decode(&b).unwrap().len(), MAX_FUNCS);
        let mut out = vec![0; MAX_DESC_LEN];
        let over = many(MAX_FUNCS + 1, 1);
        let spec = Spec { name: b"u", module: b"m", funcs: &over };
        assert_eq!(
            encode(&spec, &mut out).unwrap_err(),
            DescError::BadFuncCount { version: 2, count: MAX_FUNCS as u16 + 1 }
        );
        // A version-1 header may not claim what only version 2 carries.
        let mut b = enc(&many(17, 1));
        b[4] = 1;
        assert_eq!(decode(&b).unwrap_err(), DescError::BadFuncCount { version: 1, count: 17 });
        let mut b = enc(&many(9, 9));
        b[4] = 1;
        assert!(decode(&b).is_err(), "a v2 record read as v1 must not decode");
    }

    #[test]
    fn one_name_at_two_positions_is_two_targets() {
        let mut a = func("counter_show", 0, Method::Ftrace);
        a.sympos = 1;
        let mut b = a;
        b.sympos = 2;
        assert_eq!(decode(&enc(&[a, b])).unwrap().len(), 2);
        let mut out = vec![0; 1024];
        let spec = Spec { name: b"u", module: b"m", funcs: &[a, a] };
        assert_eq!(encode(&spec, &mut out).unwrap_err(), DescError::DuplicateTarget { func: 1 });
    }

    #[test]
    fn decoder_never_panics_on_mutations_of_version_2() {
        let mut fs = many(20, 12);
        fs[3].sympos = 7;
        fs[5].method = Method::Jmp;
        fs[5].group = 31;
        let good = enc(&fs);
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let (mut ok, mut err) = (0, 0);
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut b = good.clone();
            for k in 0..1 + (seed >> 60) as usize % 3 {
                let at = ((seed >> (8 * k)) as usize) % b.len();
                b[at] = (seed >> (32 + k)) as u8;
            }
            let cut = ((seed >> 40) as usize) % (b.len() + 1);
            let _ = decode(&b[..cut]);
            match decode(&b) {
                Ok(d) => {
                    ok += 1;
                    assert!(d.funcs().count() == d.len(), "a decoded description reads back whole");
                }
                Err(_) => err += 1,
            }
        }
        assert!(ok > 0 && err > 0, "the mutations must reach both outcomes ({ok} decoded, {err} refused)");
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
