//! Version manager and adaptive dispatch.
//!
//! * An **update** is a loaded description: a set of functions, each with a version
//!   inside an update module, a group, a method and a policy.
//! * A **slot** is one redirected function (the original).  It holds any number (up to
//!   `MAX_VERSIONS`) of live versions, from different updates, and a policy.
//! * A version is selected only while its update's group bit is set in
//!   `Update::active`: setting all bits of a group with one atomic store is what makes
//!   a group switch as one.
//!
//! Concurrency contract: every method not named `select*` or `active_count` mutates
//! and must be called with the control lock held (the C shim's mutex).  `select` runs
//! concurrently with them, lock-free, and only reads atomics.  Fields read by
//! `select` are written before the word that publishes them (Release/Acquire).

use crate::check::{encode_jmp, first_mismatch, Range, JMP_LEN, NOP5};
use crate::policy::{Policy, ORIGINAL};
use crate::wire::{self, DescError, Method, PolicyKind, MAX_EXPECTED, MAX_FUNCS, MAX_NAME};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering::*};

pub const MAX_UPDATES: usize = 16;
pub const MAX_SLOTS: usize = 256;
pub const MAX_VERSIONS: usize = 8;
const _: () = assert!(MAX_VERSIONS <= 32, "Slot::used is a u32 bit set");
const EMPTY: u32 = u32::MAX;

/// Lifecycle of an update entry.
pub const FREE: u32 = 0;
pub const LOADED: u32 = 1;
pub const APPLIED: u32 = 2;

/// Data written only under the control lock.
struct Guarded<T>(UnsafeCell<T>);
// SAFETY: see the module's concurrency contract: writers hold the control lock.
unsafe impl<T> Sync for Guarded<T> {}
impl<T> Guarded<T> {
    const fn new(v: T) -> Self {
        Guarded(UnsafeCell::new(v))
    }
    #[allow(clippy::mut_from_ref)]
    fn get(&self) -> &mut T {
        // SAFETY: callers hold the control lock (module contract).
        unsafe { &mut *self.0.get() }
    }
}

#[derive(Clone, Copy)]
pub struct Name {
    len: u8,
    b: [u8; MAX_NAME],
}

impl Name {
    const EMPTY: Name = Name { len: 0, b: [0; MAX_NAME] };
    fn set(&mut self, s: &[u8]) {
        let n = s.len().min(MAX_NAME);
        self.b[..n].copy_from_slice(&s[..n]);
        self.len = n as u8;
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.b[..self.len as usize]
    }
}

/// What the shim found in the running kernel for one function of an update.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Resolved {
    pub target: u64,
    pub target_size: u64,
    pub version: u64,
    pub version_size: u64,
    /// Address of the version's `atomic_long_t` active-invocation counter, or 0.
    pub counter: u64,
    /// Address of the version's predicate `bool (*)(void)`, or 0.
    pub predicate: u64,
    /// 1 if ftrace manages `target` (it has an fentry site).
    pub ftrace_site: u32,
    pub actual_len: u32,
    /// Length of the first instruction at `target` (the kernel's decoder), 0 if unknown.
    pub first_insn_len: u32,
    /// Bytes read at `target` (the first `actual_len` are valid).
    pub actual: [u8; MAX_EXPECTED],
}

#[derive(Clone, Copy)]
pub struct FuncMeta {
    pub target: Name,
    pub version: Name,
    pub group: u8,
    pub method: Method,
    pub policy: PolicyKind,
    pub param: u32,
    /// 0: the target is the only symbol of its name; n: the n-th in kallsyms order.
    pub sympos: u32,
    pub expected: [u8; MAX_EXPECTED],
    pub expected_len: u8,
    pub bound: Option<Resolved>,
    pub slot: u32,
}

impl FuncMeta {
    const EMPTY: FuncMeta = FuncMeta {
        target: Name::EMPTY,
        version: Name::EMPTY,
        group: 0,
        method: Method::Ftrace,
        policy: PolicyKind::Newest,
        param: 0,
        sympos: 0,
        expected: [0; MAX_EXPECTED],
        expected_len: 0,
        bound: None,
        slot: EMPTY,
    };
    pub fn expected(&self) -> &[u8] {
        &self.expected[..self.expected_len as usize]
    }
}

pub struct UpdateMeta {
    pub name: Name,
    pub module: Name,
    pub nfuncs: usize,
    pub funcs: [FuncMeta; MAX_FUNCS],
}

pub struct Update {
    pub state: AtomicU32,
    /// Bit g set: group g of this update is switched in.  Read by `select`.
    pub active: AtomicU32,
    meta: Guarded<UpdateMeta>,
}

struct Version {
    /// Owning update index, or EMPTY.  Written last (Release) when publishing.
    update: AtomicU32,
    group: AtomicU32,
    /// Apply order: the larger, the newer.
    seq: AtomicU64,
    start: AtomicU64,
    end: AtomicU64,
    predicate: AtomicU64,
    calls: AtomicU64,
}

pub struct Slot {
    /// Address of the original function, 0 when the slot is free.
    target: AtomicU64,
    /// Bit i set: `versions[i]` is in use (set after, cleared before, its `update`),
    /// so the dispatcher only reads the entries in use.
    used: AtomicU32,
    policy: AtomicU64,
    original_calls: AtomicU64,
    versions: [Version; MAX_VERSIONS],
    name: Guarded<Name>,
    method: Guarded<Method>,
}

pub struct Runtime {
    updates: [Update; MAX_UPDATES],
    slots: [Slot; MAX_SLOTS],
    seq: AtomicU64,
}

/// Why a control operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RtError {
    Desc(DescError),
    Exists,
    TooManyUpdates,
    NoSuchUpdate,
    NoSuchFunction,
    NotLoaded,
    NotApplied,
    NotBound(usize),
    BadIndex,
    BytesMismatch { func: usize, offset: usize },
    NotFtraceSite(usize),
    FtraceSite(usize),
    EmptyVersion(usize),
    VersionIsTarget(usize),
    OutOfReach(usize),
    SiteTooSmall(usize),
    JmpSiteSplit(usize),
    TooManySlots,
    TooManyVersions(usize),
    MethodConflict(usize),
    JmpSiteBusy(usize),
    PolicyUpdateNotApplied,
}

impl RtError {
    pub fn errno(&self) -> i32 {
        use crate::*;
        match self {
            RtError::Desc(d) => d.errno(),
            RtError::Exists => EEXIST,
            RtError::TooManyUpdates | RtError::TooManySlots | RtError::TooManyVersions(_) => ENOSPC,
            RtError::NoSuchUpdate | RtError::NoSuchFunction => ENOENT,
            RtError::NotLoaded | RtError::NotApplied | RtError::NotBound(_) => EINVAL,
            RtError::JmpSiteBusy(_) | RtError::MethodConflict(_) => EBUSY,
            RtError::OutOfReach(_) => ERANGE,
            _ => EINVAL,
        }
    }
}

impl core::fmt::Display for RtError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        use RtError::*;
        match *self {
            Desc(e) => write!(f, "bad description: {e}"),
            Exists => write!(f, "an update with this name is already loaded"),
            TooManyUpdates => write!(f, "too many updates loaded (max {MAX_UPDATES})"),
            NoSuchUpdate => write!(f, "no such update"),
            NoSuchFunction => write!(f, "function is not redirected by any applied update"),
            NotLoaded => write!(f, "update is not in the loaded (unapplied) state"),
            NotApplied => write!(f, "update is not applied"),
            NotBound(i) => write!(f, "function {i} was not resolved"),
            BadIndex => write!(f, "index out of range"),
            BytesMismatch { func, offset } => {
                write!(f, "function {func}: bytes at the site differ from the expected bytes at offset {offset}")
            }
            NotFtraceSite(i) => write!(f, "function {i}: no ftrace site at the target entry (use method jmp)"),
            FtraceSite(i) => {
                write!(f, "function {i}: ftrace manages this site, a jmp would break it (use method ftrace)")
            }
            EmptyVersion(i) => write!(f, "function {i}: version has no text"),
            VersionIsTarget(i) => write!(f, "function {i}: version overlaps the target"),
            OutOfReach(i) => write!(f, "function {i}: version is out of jmp rel32 reach"),
            SiteTooSmall(i) => write!(f, "function {i}: target shorter than a {JMP_LEN}-byte jmp"),
            JmpSiteSplit(i) => write!(
                f,
                "function {i}: a jmp site must be a 5-byte NOP or one instruction of at least {JMP_LEN} bytes"
            ),
            TooManySlots => write!(f, "too many redirected functions (max {MAX_SLOTS})"),
            TooManyVersions(i) => write!(f, "function {i}: too many live versions (max {MAX_VERSIONS})"),
            MethodConflict(i) => write!(f, "function {i}: already redirected with another method"),
            JmpSiteBusy(i) => write!(f, "function {i}: jmp site already holds another update's version"),
            PolicyUpdateNotApplied => write!(f, "policy names an update that has no live version of this function"),
        }
    }
}

/// Indices of the bits set in `m`, lowest first.
fn bits(mut m: u32) -> impl Iterator<Item = usize> {
    core::iter::from_fn(move || {
        (m != 0).then(|| {
            let i = m.trailing_zeros() as usize;
            m &= m - 1;
            i
        })
    })
}

fn bump(c: &AtomicU64) {
    c.store(c.load(Relaxed).wrapping_add(1), Relaxed);
}

#[allow(clippy::declare_interior_mutable_const)]
impl Runtime {
    const VERSION: Version = Version {
        update: AtomicU32::new(EMPTY),
        group: AtomicU32::new(0),
        seq: AtomicU64::new(0),
        start: AtomicU64::new(0),
        end: AtomicU64::new(0),
        predicate: AtomicU64::new(0),
        calls: AtomicU64::new(0),
    };
    const SLOT: Slot = Slot {
        target: AtomicU64::new(0),
        used: AtomicU32::new(0),
        policy: AtomicU64::new(0),
        original_calls: AtomicU64::new(0),
        versions: [Self::VERSION; MAX_VERSIONS],
        name: Guarded::new(Name::EMPTY),
        method: Guarded::new(Method::Ftrace),
    };
    const UPDATE: Update = Update {
        state: AtomicU32::new(FREE),
        active: AtomicU32::new(0),
        meta: Guarded::new(UpdateMeta {
            name: Name::EMPTY,
            module: Name::EMPTY,
            nfuncs: 0,
            funcs: [FuncMeta::EMPTY; MAX_FUNCS],
        }),
    };

    pub const fn new() -> Self {
        Runtime { updates: [Self::UPDATE; MAX_UPDATES], slots: [Self::SLOT; MAX_SLOTS], seq: AtomicU64::new(0) }
    }

    // ---- dispatch (lock-free) -------------------------------------------------

    fn live_addr(&self, v: &Version) -> Option<(u64, u64)> {
        let u = v.update.load(Acquire);
        let upd = self.updates.get(u as usize)?;
        let g = v.group.load(Relaxed);
        if upd.active.load(Acquire) & (1 << g) == 0 {
            return None;
        }
        Some((v.start.load(Relaxed), v.seq.load(Relaxed)))
    }

    /// Newest live version for which `accept` holds, as (index, address).
    fn newest(&self, s: &Slot, accept: impl Fn(&Version) -> bool) -> Option<(usize, u64)> {
        let mut best: Option<(usize, u64, u64)> = None;
        for i in bits(s.used.load(Acquire)) {
            let v = &s.versions[i];
            if let Some((addr, seq)) = self.live_addr(v) {
                if best.is_none_or(|b| seq > b.2) && accept(v) {
                    best = Some((i, addr, seq));
                }
            }
        }
        best.map(|b| (b.0, b.1))
    }

    fn of_update(&self, s: &Slot, u: u8) -> Option<(usize, u64)> {
        if u == ORIGINAL {
            return None;
        }
        self.newest(s, |v| v.update.load(Relaxed) == u as u32)
    }

    /// Choose the address the call entering `slot` runs: 0 means the original.
    /// `parent` is the caller's return address: calls made from inside one of this
    /// function's versions go to the original, so a version can call the original.
    ///
    /// Call counters are statistics: a plain load/store (no locked instruction on the
    /// hot path), so concurrent calls may under-count.
    pub fn select(&self, slot: u32, parent: u64, pid: u32, cpu: u32, pred: fn(u64) -> bool) -> u64 {
        let Some(s) = self.slots.get(slot as usize) else {
            return 0;
        };
        for i in bits(s.used.load(Acquire)) {
            let v = &s.versions[i];
            if v.update.load(Acquire) != EMPTY && parent >= v.start.load(Relaxed) && parent < v.end.load(Relaxed) {
                bump(&s.original_calls);
                return 0;
            }
        }
        let chosen = match Policy::unpack(s.policy.load(Acquire)) {
            Policy::Newest => self.newest(s, |_| true),
            Policy::Pin(u) => self.of_update(s, u),
            Policy::Task { pid: p, update } if p == pid => self.of_update(s, update),
            Policy::Cpu { cpu: c, update } if c == cpu => self.of_update(s, update),
            Policy::Task { .. } | Policy::Cpu { .. } => self.newest(s, |_| true),
            Policy::Predicate => self.newest(s, |v| {
                let p = v.predicate.load(Relaxed);
                p == 0 || pred(p)
            }),
        };
        match chosen {
            Some((i, addr)) => {
                bump(&s.versions[i].calls);
                addr
            }
            None => {
                bump(&s.original_calls);
                0
            }
        }
    }

    // ---- loading ----------------------------------------------------------------

    pub fn find_update(&self, name: &[u8]) -> Option<usize> {
        self.updates.iter().position(|u| u.state.load(Relaxed) != FREE && u.meta.get().name.as_bytes() == name)
    }

    /// Validate and store a description; returns its update index.
    pub fn load(&self, buf: &[u8]) -> Result<usize, RtError> {
        let d = wire::decode(buf).map_err(RtError::Desc)?;
        if self.find_update(d.name).is_some() {
            return Err(RtError::Exists);
        }
        let idx = self.updates.iter().position(|u| u.state.load(Relaxed) == FREE).ok_or(RtError::TooManyUpdates)?;
        let m = self.updates[idx].meta.get();
        m.name.set(d.name);
        m.module.set(d.module);
        m.nfuncs = d.len();
        for (fm, f) in m.funcs.iter_mut().zip(d.funcs()) {
            *fm = FuncMeta::EMPTY;
            fm.target.set(f.target);
            fm.version.set(f.version);
            fm.group = f.group;
            fm.method = f.method;
            fm.policy = f.policy;
            fm.param = f.param;
            fm.sympos = f.sympos;
            fm.expected[..f.expected.len()].copy_from_slice(f.expected);
            fm.expected_len = f.expected.len() as u8;
        }
        self.updates[idx].active.store(0, Release);
        self.updates[idx].state.store(LOADED, Release);
        Ok(idx)
    }

    pub fn meta(&self, u: usize) -> Option<&UpdateMeta> {
        let upd = self.updates.get(u)?;
        (upd.state.load(Relaxed) != FREE).then(|| &*upd.meta.get())
    }

    pub fn state(&self, u: usize) -> u32 {
        self.updates.get(u).map_or(FREE, |x| x.state.load(Relaxed))
    }

    /// Check what the shim resolved for function `i` of update `u` and keep it.
    pub fn bind(&self, u: usize, i: usize, r: &Resolved) -> Result<(), RtError> {
        if self.state(u) != LOADED {
            return Err(RtError::NotLoaded);
        }
        let m = self.updates[u].meta.get();
        if i >= m.nfuncs {
            return Err(RtError::BadIndex);
        }
        let f = &mut m.funcs[i];
        f.bound = None;
        let n = (r.actual_len as usize).min(MAX_EXPECTED);
        if let Some(offset) = first_mismatch(f.expected(), &r.actual[..n]) {
            return Err(RtError::BytesMismatch { func: i, offset });
        }
        let version = Range { start: r.version, end: r.version.wrapping_add(r.version_size) };
        let target = Range { start: r.target, end: r.target.wrapping_add(r.target_size.max(1)) };
        if version.is_empty() || version.end < version.start {
            return Err(RtError::EmptyVersion(i));
        }
        if version.overlaps(&target) {
            return Err(RtError::VersionIsTarget(i));
        }
        match f.method {
            Method::Ftrace if r.ftrace_site == 0 => return Err(RtError::NotFtraceSite(i)),
            Method::Jmp if r.ftrace_site != 0 => return Err(RtError::FtraceSite(i)),
            Method::Jmp if r.target_size < JMP_LEN as u64 => return Err(RtError::SiteTooSmall(i)),
            // text_poke_bp replaces one instruction: a jmp over several would leave a
            // task stopped after the first resuming inside it.
            Method::Jmp if f.expected()[..JMP_LEN] != NOP5 && (r.first_insn_len as usize) < JMP_LEN => {
                return Err(RtError::JmpSiteSplit(i))
            }
            Method::Jmp if encode_jmp(r.target, r.version).is_none() => return Err(RtError::OutOfReach(i)),
            _ => {}
        }
        f.bound = Some(*r);
        Ok(())
    }

    fn slot_for(&self, target: u64, name: &[u8], method: Method) -> Option<u32> {
        if let Some(i) = self.slots.iter().position(|s| s.target.load(Relaxed) == target) {
            return Some(i as u32);
        }
        let i = self.slots.iter().position(|s| s.target.load(Relaxed) == 0)?;
        let s = &self.slots[i];
        s.name.get().set(name);
        *s.method.get() = method;
        s.policy.store(Policy::Newest.pack(), Relaxed);
        s.original_calls.store(0, Relaxed);
        s.target.store(target, Release);
        Some(i as u32)
    }

    /// Put the versions of update `u` into their slots, switched off (the update's
    /// group bits are still clear).  On error nothing is left behind.
    pub fn apply_prepare(&self, u: usize) -> Result<(), RtError> {
        if self.state(u) != LOADED {
            return Err(RtError::NotLoaded);
        }
        let m = self.updates[u].meta.get();
        let seq = self.seq.fetch_add(1, Relaxed) + 1;
        for i in 0..m.nfuncs {
            if let Err(e) = self.place(u, i, seq) {
                self.remove_versions(u);
                return Err(e);
            }
        }
        Ok(())
    }

    fn place(&self, u: usize, i: usize, seq: u64) -> Result<(), RtError> {
        let f = &mut self.updates[u].meta.get().funcs[i];
        let r = f.bound.ok_or(RtError::NotBound(i))?;
        let slot = self.slot_for(r.target, f.target.as_bytes(), f.method).ok_or(RtError::TooManySlots)?;
        f.slot = slot;
        let s = &self.slots[slot as usize];
        if *s.method.get() != f.method {
            return Err(RtError::MethodConflict(i));
        }
        let used = s.versions.iter().any(|v| v.update.load(Relaxed) != EMPTY);
        if f.method == Method::Jmp && used {
            return Err(RtError::JmpSiteBusy(i));
        }
        let idx = s.versions.iter().position(|v| v.update.load(Relaxed) == EMPTY).ok_or(RtError::TooManyVersions(i))?;
        let v = &s.versions[idx];
        v.group.store(f.group as u32, Relaxed);
        v.seq.store(seq, Relaxed);
        v.start.store(r.version, Relaxed);
        v.end.store(r.version + r.version_size, Relaxed);
        v.predicate.store(r.predicate, Relaxed);
        v.calls.store(0, Relaxed);
        v.update.store(u as u32, Release);
        s.used.fetch_or(1 << idx, Release);
        Ok(())
    }

    /// Switch every group of `u` in with one store, and install its policies.
    pub fn apply_commit(&self, u: usize) {
        let m = self.updates[u].meta.get();
        let mut mask = 0u32;
        for f in &m.funcs[..m.nfuncs] {
            mask |= 1 << f.group;
            let p = match f.policy {
                PolicyKind::Newest => None,
                PolicyKind::Task => Some(Policy::Task { pid: f.param, update: u as u8 }),
                PolicyKind::Cpu => Some(Policy::Cpu { cpu: f.param, update: u as u8 }),
                PolicyKind::Predicate => Some(Policy::Predicate),
            };
            if let (Some(p), Some(s)) = (p, self.slots.get(f.slot as usize)) {
                s.policy.store(p.pack(), Release);
            }
        }
        self.updates[u].state.store(APPLIED, Release);
        self.updates[u].active.store(mask, Release);
    }

    /// Undo `apply_prepare` after the shim failed to arm a site.
    pub fn apply_abort(&self, u: usize) {
        self.remove_versions(u);
    }

    fn remove_versions(&self, u: usize) {
        for s in &self.slots {
            for (i, v) in s.versions.iter().enumerate() {
                if v.update.load(Relaxed) == u as u32 {
                    s.used.fetch_and(!(1 << i), Release);
                    v.update.store(EMPTY, Release);
                }
            }
            if Policy::unpack(s.policy.load(Relaxed)).names_update() == Some(u as u8) {
                s.policy.store(Policy::Newest.pack(), Release);
            }
        }
    }

    /// Stop new calls from entering `u`'s versions; returns the bits to restore if
    /// the revert is refused.
    pub fn revert_begin(&self, u: usize) -> Result<u32, RtError> {
        if self.state(u) != APPLIED {
            return Err(RtError::NotApplied);
        }
        Ok(self.updates[u].active.swap(0, AcqRel))
    }

    pub fn revert_cancel(&self, u: usize, bits: u32) {
        self.updates[u].active.store(bits, Release);
    }

    /// All holders are gone: drop `u`'s versions; the update is loaded again.
    pub fn revert_finish(&self, u: usize) {
        self.remove_versions(u);
        self.updates[u].state.store(LOADED, Release);
    }

    /// Free `slot` if no version is left in it; true if the shim must disarm it.
    pub fn release_slot_if_empty(&self, slot: u32) -> bool {
        let Some(s) = self.slots.get(slot as usize) else {
            return false;
        };
        if s.target.load(Relaxed) == 0 || s.versions.iter().any(|v| v.update.load(Relaxed) != EMPTY) {
            return false;
        }
        s.target.store(0, Release);
        true
    }

    pub fn unload(&self, u: usize) -> Result<(), RtError> {
        if self.state(u) != LOADED {
            return Err(if self.state(u) == FREE { RtError::NoSuchUpdate } else { RtError::NotLoaded });
        }
        self.updates[u].state.store(FREE, Release);
        Ok(())
    }

    // ---- accounting ---------------------------------------------------------------

    /// Sum of the active-invocation counters of `u`'s versions.
    ///
    /// # Safety
    /// Every bound counter address must point to a live `atomic_long_t`.
    pub unsafe fn active_count(&self, u: usize) -> i64 {
        let Some(m) = self.meta(u) else { return 0 };
        m.funcs[..m.nfuncs]
            .iter()
            .filter_map(|f| f.bound)
            .filter(|r| r.counter != 0)
            // SAFETY: caller contract; atomic_long_t has AtomicI64's layout on x86-64.
            .map(|r| unsafe { (*(r.counter as *const AtomicI64)).load(Relaxed) })
            .sum()
    }

    /// The first of `addrs` inside one of `u`'s versions, as (function, address).
    pub fn held_by(&self, u: usize, addrs: &[u64]) -> Option<(usize, u64)> {
        let m = self.meta(u)?;
        for &a in addrs {
            for (i, f) in m.funcs[..m.nfuncs].iter().enumerate() {
                if let Some(r) = f.bound {
                    let range = Range { start: r.version, end: r.version + r.version_size };
                    if range.contains(a) {
                        return Some((i, a));
                    }
                }
            }
        }
        None
    }

    // ---- policies -------------------------------------------------------------------

    pub fn slot_by_name(&self, name: &[u8]) -> Option<usize> {
        self.slots.iter().position(|s| s.target.load(Relaxed) != 0 && s.name.get().as_bytes() == name)
    }

    pub fn set_policy(&self, function: &[u8], p: crate::cmd::PolicyArg<'_>) -> Result<(), RtError> {
        use crate::cmd::{PolicyArg, Target};
        let si = self.slot_by_name(function).ok_or(RtError::NoSuchFunction)?;
        let s = &self.slots[si];
        let upd = |t: Target<'_>| -> Result<u8, RtError> {
            match t {
                Target::Original => Ok(ORIGINAL),
                Target::Update(n) => {
                    let u = self.find_update(n).ok_or(RtError::NoSuchUpdate)?;
                    let live = s.versions.iter().any(|v| v.update.load(Relaxed) == u as u32);
                    if live {
                        Ok(u as u8)
                    } else {
                        Err(RtError::PolicyUpdateNotApplied)
                    }
                }
            }
        };
        let policy = match p {
            PolicyArg::Newest => Policy::Newest,
            PolicyArg::Predicate => Policy::Predicate,
            PolicyArg::Pin(t) => Policy::Pin(upd(t)?),
            PolicyArg::Task(pid, t) => Policy::Task { pid, update: upd(t)? },
            PolicyArg::Cpu(cpu, t) => Policy::Cpu { cpu, update: upd(t)? },
        };
        s.policy.store(policy.pack(), Release);
        Ok(())
    }

    // ---- status ---------------------------------------------------------------------

    /// Human-readable status (docs/runtime-control.md, "status").
    pub fn render_status(&self, out: &mut crate::text::Buf<'_>) {
        use core::fmt::Write;
        for (ui, upd) in self.updates.iter().enumerate() {
            let state = match upd.state.load(Relaxed) {
                LOADED => "loaded",
                APPLIED => "applied",
                _ => continue,
            };
            let m = upd.meta.get();
            out.push_bytes(b"update ");
            out.push_name(m.name.as_bytes());
            let _ = write!(out, " {state} module=");
            out.push_name(m.module.as_bytes());
            // SAFETY: counters of bound functions point into modules we hold a reference to.
            let active = unsafe { self.active_count(ui) };
            let _ = writeln!(out, " groups=0x{:x} active={active}", upd.active.load(Relaxed));
            for f in &m.funcs[..m.nfuncs] {
                out.push_bytes(b"  fn ");
                out.push_name(f.target.as_bytes());
                if f.sympos != 0 {
                    let _ = write!(out, ",{}", f.sympos);
                }
                out.push_bytes(b" -> ");
                out.push_name(f.version.as_bytes());
                let method = if f.method == Method::Jmp { "jmp" } else { "ftrace" };
                let _ = write!(out, " group={} method={method}", f.group);
                match f.bound.map(|r| r.counter).filter(|&c| c != 0) {
                    // SAFETY: as for `active_count`.
                    Some(c) => {
                        let n = unsafe { (*(c as *const AtomicI64)).load(Relaxed) };
                        let _ = write!(out, " active={n}");
                    }
                    None => out.push_bytes(b" active=uncounted"),
                }
                let size = f.bound.map_or(0, |r| r.version_size);
                let _ = writeln!(out, " text=0x{size:x}");
            }
        }
        for s in &self.slots {
            if s.target.load(Relaxed) == 0 {
                continue;
            }
            out.push_bytes(b"slot ");
            out.push_name(s.name.get().as_bytes());
            let _ = write!(
                out,
                " policy={:?} original_calls={}",
                Policy::unpack(s.policy.load(Relaxed)),
                s.original_calls.load(Relaxed)
            );
            for v in &s.versions {
                let u = v.update.load(Relaxed);
                if let Some(m) = self.meta(u as usize) {
                    out.push_bytes(b" [");
                    out.push_name(m.name.as_bytes());
                    let live = if self.live_addr(v).is_some() { "live" } else { "off" };
                    let _ = write!(out, " {live} calls={}]", v.calls.load(Relaxed));
                }
            }
            out.push_bytes(b"\n");
        }
    }
}

impl Default for Runtime {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests;
