//! Stage 2, build: kbuild against the target kernel's build folder (Debian's
//! `linux-headers-$KVER`: `.config`, generated headers, `Module.symvers`, objtool), the
//! way any out-of-tree module is built. The tree's own folders are added for the local
//! headers (`#include "internal.h"`) the sources name.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use object::{Object, ObjectSymbol};

use crate::Manifest;

pub struct BuildOptions {
    /// The target kernel's build folder (`/lib/modules/$KVER/build`).
    pub kdir: PathBuf,
    /// The kernel tree the patch applies to (for local headers).
    pub tree: PathBuf,
    /// `Module.symvers` files of modules the update links against (the runtime's).
    pub extra_symbols: Vec<PathBuf>,
}

#[derive(Debug)]
pub enum BuildError {
    /// make failed; the log's tail (gcc's messages point at the patched files).
    Make {
        log: String,
    },
    /// make succeeded but wrote no module.
    NoModule(PathBuf),
    Io(String),
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::Make { log } => write!(f, "kbuild failed:\n{log}"),
            BuildError::NoModule(p) => write!(f, "kbuild wrote no {}", p.display()),
            BuildError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Builds the module in `dir` (which holds the generated sources and `Kbuild`); the log
/// goes to `dir/build.log`. Returns the `.ko`'s path.
pub fn build(dir: &Path, m: &Manifest, o: &BuildOptions) -> Result<PathBuf, BuildError> {
    let extra: Vec<String> = o.extra_symbols.iter().map(|p| p.display().to_string()).collect();
    let out = Command::new("make")
        .arg("-C")
        .arg(&o.kdir)
        .arg(format!("M={}", dir.display()))
        .arg(format!("DW_TREE={}", o.tree.display()))
        .arg(format!("KBUILD_EXTRA_SYMBOLS={}", extra.join(" ")))
        // Undefined symbols are the walker's to judge (lower), with a clearer message.
        .arg("KBUILD_MODPOST_WARN=1")
        .arg("modules")
        .output()
        .map_err(|e| BuildError::Io(format!("make: {e} (is make installed?)")))?;
    let mut log = String::from_utf8_lossy(&out.stdout).into_owned();
    log.push_str(&String::from_utf8_lossy(&out.stderr));
    std::fs::write(dir.join("build.log"), &log).map_err(|e| BuildError::Io(format!("{}: {e}", dir.display())))?;
    if !out.status.success() {
        let tail: Vec<&str> = log.lines().filter(|l| !l.starts_with("make")).collect();
        let from = tail.len().saturating_sub(40);
        return Err(BuildError::Make { log: tail[from..].join("\n") });
    }
    let ko = dir.join(format!("{}.ko", m.module));
    if !ko.is_file() {
        return Err(BuildError::NoModule(ko));
    }
    Ok(ko)
}

/// The symbols an ELF object (a `.o` or a `.ko`) needs from outside.
pub fn undefined_symbols(elf: &[u8]) -> Result<BTreeSet<String>, String> {
    let file = object::File::parse(elf).map_err(|e| format!("not an ELF object: {e}"))?;
    let mut out = BTreeSet::new();
    for s in file.symbols() {
        if s.is_undefined() {
            if let Ok(n) = s.name() {
                if !n.is_empty() {
                    out.insert(n.to_string());
                }
            }
        }
    }
    Ok(out)
}

/// The symbols an ELF object defines.
pub fn defined_symbols(elf: &[u8]) -> Result<BTreeSet<String>, String> {
    let file = object::File::parse(elf).map_err(|e| format!("not an ELF object: {e}"))?;
    Ok(file
        .symbols()
        .filter(|s| !s.is_undefined())
        .filter_map(|s| s.name().ok().filter(|n| !n.is_empty()).map(str::to_string))
        .collect())
}

/// The names a `Module.symvers` file exports.
pub fn symvers_names(text: &str) -> BTreeSet<String> {
    text.lines().filter_map(|l| l.split('\t').nth(1)).map(str::to_string).collect()
}
