//! Write an update description (docs/runtime-control.md) with the crate's encoder.
//! Used by the guest suite; the dynwalk CLI uses the same `wire::encode`.
//!
//! mkdesc OUT NAME MODULE TARGET=VERSION[,group=N][,method=ftrace|jmp]
//!        [,policy=newest|pred|task:PID|cpu:N][,expect=HEX] ...
//! Default: group 0, method ftrace, policy newest, expect 0f1f440000 (fentry NOP).

use dynwalk_kmod::wire::{encode, Func, Method, PolicyKind, Spec, MAX_DESC_LEN};
use std::process::ExitCode;

fn hex(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err(format!("odd-length hex {s:?}"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|e| format!("hex {s:?}: {e}")))
        .collect()
}

struct Owned {
    target: String,
    version: String,
    group: u8,
    method: Method,
    policy: PolicyKind,
    param: u32,
    expected: Vec<u8>,
}

fn parse_func(arg: &str) -> Result<Owned, String> {
    let mut parts = arg.split(',');
    let head = parts.next().unwrap_or_default();
    let (target, version) = head.split_once('=').ok_or(format!("{head:?}: want TARGET=VERSION"))?;
    let mut f = Owned {
        target: target.into(),
        version: version.into(),
        group: 0,
        method: Method::Ftrace,
        policy: PolicyKind::Newest,
        param: 0,
        expected: vec![0x0f, 0x1f, 0x44, 0x00, 0x00],
    };
    for p in parts {
        let (k, v) = p.split_once('=').ok_or(format!("{p:?}: want KEY=VALUE"))?;
        match (k, v) {
            ("group", v) => f.group = v.parse().map_err(|e| format!("group: {e}"))?,
            ("method", "ftrace") => f.method = Method::Ftrace,
            ("method", "jmp") => f.method = Method::Jmp,
            ("policy", "newest") => f.policy = PolicyKind::Newest,
            ("policy", "pred") => f.policy = PolicyKind::Predicate,
            ("policy", v) if v.starts_with("task:") || v.starts_with("cpu:") => {
                let (kind, n) = v.split_once(':').unwrap_or_default();
                f.policy = if kind == "task" { PolicyKind::Task } else { PolicyKind::Cpu };
                f.param = n.parse().map_err(|e| format!("policy {v}: {e}"))?;
            }
            ("expect", v) => f.expected = hex(v)?,
            _ => return Err(format!("unknown option {p:?}")),
        }
    }
    Ok(f)
}

fn run(args: &[String]) -> Result<(), String> {
    let [out, name, module, funcs @ ..] = args else {
        return Err("usage: mkdesc OUT NAME MODULE TARGET=VERSION[,opts]...".into());
    };
    let owned = funcs.iter().map(|a| parse_func(a)).collect::<Result<Vec<_>, _>>()?;
    let funcs: Vec<Func<'_>> = owned
        .iter()
        .map(|o| Func {
            target: o.target.as_bytes(),
            version: o.version.as_bytes(),
            group: o.group,
            method: o.method,
            policy: o.policy,
            param: o.param,
            expected: &o.expected,
        })
        .collect();
    let mut buf = vec![0u8; MAX_DESC_LEN];
    let spec = Spec { name: name.as_bytes(), module: module.as_bytes(), funcs: &funcs };
    let n = encode(&spec, &mut buf).map_err(|e| format!("{e}"))?;
    std::fs::write(out, &buf[..n]).map_err(|e| format!("{out}: {e}"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mkdesc: {e}");
            ExitCode::from(2)
        }
    }
}
