//! `dynwalk describe|load|apply|revert|unload|status`: talking to the kernel runtime
//! through its control device (docs/runtime-control.md). Descriptions are encoded with the
//! runtime crate's own encoder, so the CLI cannot write one the runtime refuses for its form.

use std::io::{Read, Write};
use std::path::Path;

use dynwalk_kmod::wire::{encode, Func, Method, PolicyKind, Spec, MAX_DESC_LEN};

use crate::error::CliError;

/// One function of a description, as typed: `TARGET=VERSION[,group=N][,method=ftrace|jmp]
/// [,policy=newest|pred|task:PID|cpu:N][,expect=HEX]`.
struct FuncArg {
    target: String,
    version: String,
    group: u8,
    method: Method,
    policy: PolicyKind,
    param: u32,
    sympos: u32,
    expected: Vec<u8>,
}

fn hex(s: &str) -> Result<Vec<u8>, String> {
    if s.len() % 2 != 0 {
        return Err(format!("odd-length hex {s:?}"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|e| format!("hex {s:?}: {e}")))
        .collect()
}

fn parse_func(arg: &str) -> Result<FuncArg, String> {
    let mut parts = arg.split(',');
    let head = parts.next().unwrap_or_default();
    let (target, version) = head.split_once('=').ok_or(format!("{head:?}: want TARGET=VERSION"))?;
    let mut f = FuncArg {
        target: target.into(),
        version: version.into(),
        group: 0,
        method: Method::Ftrace,
        policy: PolicyKind::Newest,
        param: 0,
        sympos: 0,
        // The 5-byte NOP of an fentry site.
        expected: vec![0x0f, 0x1f, 0x44, 0x00, 0x00],
    };
    for p in parts {
        let (k, v) = p.split_once('=').ok_or(format!("{p:?}: want KEY=VALUE"))?;
        match (k, v) {
            ("group", v) => f.group = v.parse().map_err(|e| format!("group {v:?}: {e}"))?,
            ("sympos", v) => f.sympos = v.parse().map_err(|e| format!("sympos {v:?}: {e}"))?,
            ("method", "ftrace") => f.method = Method::Ftrace,
            ("method", "jmp") => f.method = Method::Jmp,
            ("policy", "newest") => f.policy = PolicyKind::Newest,
            ("policy", "pred") => f.policy = PolicyKind::Predicate,
            ("policy", v) if v.starts_with("task:") || v.starts_with("cpu:") => {
                let (kind, n) = v.split_once(':').unwrap_or_default();
                f.policy = if kind == "task" { PolicyKind::Task } else { PolicyKind::Cpu };
                f.param = n.parse().map_err(|e| format!("policy {v:?}: {e}"))?;
            }
            ("expect", v) => f.expected = hex(v)?,
            _ => return Err(format!("unknown option {p:?}")),
        }
    }
    Ok(f)
}

/// Encodes a description; every error names the argument at fault.
pub fn describe(name: &str, module: &str, funcs: &[String]) -> Result<Vec<u8>, CliError> {
    let owned = funcs.iter().map(|a| parse_func(a)).collect::<Result<Vec<_>, _>>().map_err(CliError::Input)?;
    let funcs: Vec<Func<'_>> = owned
        .iter()
        .map(|o| Func {
            target: o.target.as_bytes(),
            version: o.version.as_bytes(),
            group: o.group,
            method: o.method,
            policy: o.policy,
            param: o.param,
            sympos: o.sympos,
            expected: &o.expected,
        })
        .collect();
    let mut buf = vec![0u8; MAX_DESC_LEN];
    let spec = Spec { name: name.as_bytes(), module: module.as_bytes(), funcs: &funcs };
    let n = encode(&spec, &mut buf).map_err(|e| CliError::Input(format!("description {name}: {e}")))?;
    buf.truncate(n);
    Ok(buf)
}

/// `dynwalk load DIR` (a folder `dynwalk update` wrote): inserts the update module
/// unless it is loaded already, and returns the description to write.
pub fn load_dir(dir: &Path) -> Result<Vec<u8>, CliError> {
    let m = crate::update_cmd::read_manifest(dir)?;
    let desc = dir.join("update.desc");
    let bytes = std::fs::read(&desc)
        .map_err(|e| CliError::Input(format!("{}: {e} (was the update built?)", desc.display())))?;
    if !Path::new("/sys/module").join(&m.module).exists() {
        let ko = dir.join(format!("{}.ko", m.module));
        let out = std::process::Command::new("insmod")
            .arg(&ko)
            .output()
            .map_err(|e| CliError::Input(format!("insmod {}: {e}", ko.display())))?;
        if !out.status.success() {
            return Err(CliError::Refused(format!(
                "insmod {}: {}",
                ko.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
    }
    Ok(bytes)
}

/// One request to the control device; returns the runtime's reply. A refusal is a write
/// that failed (the runtime returns -errno) or a reply starting with `refused` (exit 8);
/// `status` answers with its table and no `ok:` line.
pub fn request(device: &Path, bytes: &[u8]) -> Result<String, CliError> {
    let mut f =
        std::fs::OpenOptions::new().read(true).write(true).open(device).map_err(|e| {
            CliError::Input(format!("{}: {e} (is dynwalk.ko loaded, and are you root?)", device.display()))
        })?;
    let written = f.write(bytes);
    let mut reply = String::new();
    let _ = f.read_to_string(&mut reply);
    let reply = reply.trim_end().to_string();
    match written {
        Ok(_) if !reply.starts_with("refused") => Ok(reply),
        Ok(_) => Err(CliError::Refused(reply)),
        Err(e) if !reply.is_empty() => Err(CliError::Refused(format!("{reply} ({e})"))),
        Err(e) => Err(CliError::Refused(format!("{}: {e}", device.display()))),
    }
}
