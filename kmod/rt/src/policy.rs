//! Per-function dispatch policies, packed in one `u64` so that the dispatcher reads a
//! policy with a single atomic load (a policy change is never seen half-written).

/// Update index meaning "the original function".
pub const ORIGINAL: u8 = 0xff;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Every new call goes to the newest live version.
    Newest,
    /// Calls go to this update's version (or the original).
    Pin(u8),
    /// Calls by task `pid` go to `update`, every other call to the newest.
    Task { pid: u32, update: u8 },
    /// Calls on cpu `cpu` go to `update`, every other call to the newest.
    Cpu { cpu: u32, update: u8 },
    /// Newest-first, the first version whose registered predicate holds (a version
    /// without a predicate always holds).
    Predicate,
}

impl Policy {
    pub fn pack(self) -> u64 {
        let (kind, update, param) = match self {
            Policy::Newest => (0u64, ORIGINAL, 0u32),
            Policy::Pin(u) => (1, u, 0),
            Policy::Task { pid, update } => (2, update, pid),
            Policy::Cpu { cpu, update } => (3, update, cpu),
            Policy::Predicate => (4, ORIGINAL, 0),
        };
        kind | (update as u64) << 8 | (param as u64) << 32
    }

    /// Unknown kinds read as `Newest` (only `pack` ever writes the word).
    pub fn unpack(w: u64) -> Policy {
        let update = (w >> 8) as u8;
        let param = (w >> 32) as u32;
        match w & 0xff {
            1 => Policy::Pin(update),
            2 => Policy::Task { pid: param, update },
            3 => Policy::Cpu { cpu: param, update },
            4 => Policy::Predicate,
            _ => Policy::Newest,
        }
    }

    /// The update this policy names, if any.
    pub fn names_update(self) -> Option<u8> {
        match self {
            Policy::Pin(u) | Policy::Task { update: u, .. } | Policy::Cpu { update: u, .. } => Some(u),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trip() {
        for p in [
            Policy::Newest,
            Policy::Pin(3),
            Policy::Pin(ORIGINAL),
            Policy::Task { pid: 4_000_000, update: 2 },
            Policy::Cpu { cpu: 1, update: 0 },
            Policy::Predicate,
        ] {
            assert_eq!(Policy::unpack(p.pack()), p);
        }
        assert_eq!(Policy::unpack(0xff), Policy::Newest);
    }
}
