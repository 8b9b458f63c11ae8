//! Text commands written to the control device (docs/runtime-control.md).
//! A write that starts with the description magic is a description instead.
//!
//! ```text
//! apply <update>
//! revert <update> [timeout_ms]
//! unload <update>
//! policy <function> newest | pred | pin <update|original>
//!                  | task <pid> <update|original> | cpu <cpu> <update|original>
//! status
//! ```

use crate::wire::is_valid_name;

pub const MAX_TIMEOUT_MS: u32 = 60_000;
pub const DEFAULT_TIMEOUT_MS: u32 = 2_000;

/// Version named in a policy: an update or the original function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target<'a> {
    Original,
    Update(&'a [u8]),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyArg<'a> {
    Newest,
    Predicate,
    Pin(Target<'a>),
    Task(u32, Target<'a>),
    Cpu(u32, Target<'a>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    Apply(&'a [u8]),
    Revert { update: &'a [u8], timeout_ms: u32 },
    Unload(&'a [u8]),
    Policy { function: &'a [u8], policy: PolicyArg<'a> },
    Status,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmdError {
    Empty,
    NotText,
    UnknownCommand,
    MissingArgument(&'static str),
    BadName(&'static str),
    BadNumber(&'static str),
    TimeoutTooLong(u32),
    ExtraArguments,
}

impl core::fmt::Display for CmdError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            CmdError::Empty => write!(f, "empty command"),
            CmdError::NotText => write!(f, "command is not printable ASCII"),
            CmdError::UnknownCommand => {
                write!(f, "unknown command (apply, revert, unload, policy, status, or a description)")
            }
            CmdError::MissingArgument(w) => write!(f, "missing argument: {w}"),
            CmdError::BadName(w) => write!(f, "bad {w}: 1..=63 bytes of [A-Za-z0-9_.:-]"),
            CmdError::BadNumber(w) => write!(f, "bad number for {w}"),
            CmdError::TimeoutTooLong(t) => {
                write!(f, "timeout {t} ms too long (max {MAX_TIMEOUT_MS})")
            }
            CmdError::ExtraArguments => write!(f, "extra arguments"),
        }
    }
}

fn number(w: Option<&[u8]>, what: &'static str) -> Result<u32, CmdError> {
    let w = w.ok_or(CmdError::MissingArgument(what))?;
    if w.is_empty() || w.len() > 10 || !w.iter().all(u8::is_ascii_digit) {
        return Err(CmdError::BadNumber(what));
    }
    let v = w.iter().fold(0u64, |a, &d| a * 10 + (d - b'0') as u64);
    u32::try_from(v).map_err(|_| CmdError::BadNumber(what))
}

fn name<'a>(w: Option<&'a [u8]>, what: &'static str) -> Result<&'a [u8], CmdError> {
    let w = w.ok_or(CmdError::MissingArgument(what))?;
    if is_valid_name(w) {
        Ok(w)
    } else {
        Err(CmdError::BadName(what))
    }
}

fn target<'a>(w: Option<&'a [u8]>) -> Result<Target<'a>, CmdError> {
    let n = name(w, "version (an update name or 'original')")?;
    Ok(if n == b"original" { Target::Original } else { Target::Update(n) })
}

/// Parse one command.  Never panics; every refusal says which word was wrong.
pub fn parse(buf: &[u8]) -> Result<Command<'_>, CmdError> {
    if !buf.iter().all(|&c| c == b'\n' || c == b'\t' || (b' '..=b'~').contains(&c)) {
        return Err(CmdError::NotText);
    }
    let mut words = buf.split(|c| c.is_ascii_whitespace()).filter(|w| !w.is_empty());
    let verb = words.next().ok_or(CmdError::Empty)?;
    let cmd = match verb {
        b"apply" => Command::Apply(name(words.next(), "update")?),
        b"unload" => Command::Unload(name(words.next(), "update")?),
        b"status" => Command::Status,
        b"revert" => {
            let update = name(words.next(), "update")?;
            let timeout_ms = match words.next() {
                None => DEFAULT_TIMEOUT_MS,
                w => number(w, "timeout_ms")?,
            };
            if timeout_ms > MAX_TIMEOUT_MS {
                return Err(CmdError::TimeoutTooLong(timeout_ms));
            }
            Command::Revert { update, timeout_ms }
        }
        b"policy" => {
            let function = name(words.next(), "function")?;
            let policy = match words.next().ok_or(CmdError::MissingArgument("policy"))? {
                b"newest" => PolicyArg::Newest,
                b"pred" => PolicyArg::Predicate,
                b"pin" => PolicyArg::Pin(target(words.next())?),
                b"task" => PolicyArg::Task(number(words.next(), "pid")?, target(words.next())?),
                b"cpu" => PolicyArg::Cpu(number(words.next(), "cpu")?, target(words.next())?),
                _ => return Err(CmdError::BadName("policy (newest, pred, pin, task, cpu)")),
            };
            Command::Policy { function, policy }
        }
        _ => return Err(CmdError::UnknownCommand),
    };
    if words.next().is_some() {
        return Err(CmdError::ExtraArguments);
    }
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands() {
        assert_eq!(parse(b"apply u1\n"), Ok(Command::Apply(b"u1")));
        assert_eq!(parse(b"revert u1"), Ok(Command::Revert { update: b"u1", timeout_ms: DEFAULT_TIMEOUT_MS }));
        assert_eq!(parse(b"revert u1 500"), Ok(Command::Revert { update: b"u1", timeout_ms: 500 }));
        assert_eq!(
            parse(b"policy dwt_value task 42 v3"),
            Ok(Command::Policy { function: b"dwt_value", policy: PolicyArg::Task(42, Target::Update(b"v3")) })
        );
        assert_eq!(
            parse(b"policy f cpu 1 original"),
            Ok(Command::Policy { function: b"f", policy: PolicyArg::Cpu(1, Target::Original) })
        );
        assert_eq!(parse(b"  status  "), Ok(Command::Status));
    }

    #[test]
    fn refuses_bad_commands() {
        assert_eq!(parse(b""), Err(CmdError::Empty));
        assert_eq!(parse(b"\n"), Err(CmdError::Empty));
        assert_eq!(parse(b"boom"), Err(CmdError::UnknownCommand));
        assert_eq!(parse(b"apply"), Err(CmdError::MissingArgument("update")));
        assert_eq!(parse(b"apply a b"), Err(CmdError::ExtraArguments));
        assert_eq!(parse(b"apply a\x00"), Err(CmdError::NotText));
        assert_eq!(parse(b"revert u 99999999999"), Err(CmdError::BadNumber("timeout_ms")));
        assert_eq!(parse(b"revert u 60001"), Err(CmdError::TimeoutTooLong(60001)));
        assert_eq!(parse(b"policy f task x v"), Err(CmdError::BadNumber("pid")));
        assert!(matches!(parse(b"policy f sometimes"), Err(CmdError::BadName(_))));
        assert!(matches!(parse(b"apply a/b"), Err(CmdError::BadName(_))));
    }

    #[test]
    fn never_panics() {
        let alphabet = b"apply revert policy task cpu 0123 \n\x00\xff_:";
        let mut seed = 12345u32;
        for _ in 0..20_000 {
            let mut b = [0u8; 24];
            for c in b.iter_mut() {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                *c = alphabet[(seed >> 16) as usize % alphabet.len()];
            }
            let _ = parse(&b[..(seed as usize % 25)]);
        }
    }
}
