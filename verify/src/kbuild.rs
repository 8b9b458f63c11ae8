//! Preparing a kernel tree with kbuild and compiling single objects, before and after a
//! patch, with everything cached.
//!
//! One cache entry per (tree path, .config), under
//! `${XDG_CACHE_HOME:-~/.cache}/dynwalk/verify/<tree name>-<hash>/`:
//!
//! ```text
//! before/      kbuild output folder (O=) for the tree itself: .config, prepare, objects
//! after-src/   a hard-link copy of the tree with the patched files replaced (new inodes)
//! after/       kbuild output folder for after-src
//! ```
//!
//! Sources are only ever read by the builds: every output goes to an `O=` folder, so the
//! hard links in `after-src/` can never carry a write back into the tree, and the tree is
//! never patched. An output folder counts as prepared only once its `.dynwalk-prepared`
//! marker exists (written last); a crashed preparation is redone from scratch.
//!
//! The `before/` objects are kept and rebuilt by make's own rules when the tree changes
//! (so a second patch compiles only what it touches); `after/` objects are always
//! deleted and rebuilt, since `after-src/` changes with every patch.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::VerifyError;

/// Flags added to the kernel's own (`KCFLAGS`): one section per function and variable.
pub const KCFLAGS: &str = "-ffunction-sections -fdata-sections";

/// Appended to the user's .config before `make olddefconfig`: no signing keys (the tree
/// has none), no debug info or BTF (they do not change the code and cost time).
const CONFIG_OVERRIDES: &str = "\n# dynwalk verify\nCONFIG_SYSTEM_TRUSTED_KEYS=\"\"\nCONFIG_SYSTEM_REVOCATION_KEYS=\"\"\nCONFIG_MODULE_SIG_KEY=\"\"\n# CONFIG_DEBUG_INFO_BTF is not set\n# CONFIG_DEBUG_INFO_BTF_MODULES is not set\n# CONFIG_DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT is not set\n# CONFIG_DEBUG_INFO_DWARF4 is not set\n# CONFIG_DEBUG_INFO_DWARF5 is not set\nCONFIG_DEBUG_INFO_NONE=y\n";

/// Bumped when the layout of a cache entry changes.
const LAYOUT: &str = "dynwalk-verify-kbuild-1";
const MARKER: &str = ".dynwalk-prepared";

pub struct KbuildOptions {
    pub tree: PathBuf,
    pub config: PathBuf,
    /// Where cache entries live (default: [`default_cache_root`]).
    pub cache_root: PathBuf,
    pub jobs: u32,
}

/// A prepared cache entry.
pub struct Kbuild {
    pub tree: PathBuf,
    pub entry: PathBuf,
    pub jobs: u32,
    /// The resolved configuration (after `olddefconfig`).
    pub config: BTreeMap<String, String>,
    /// The user's .config with [`CONFIG_OVERRIDES`]: what `olddefconfig` starts from.
    config_text: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Before,
    After,
}

/// What one `make` of a set of objects produced.
#[derive(Debug, Default)]
pub struct Built {
    /// object (relative, `dir/file.o`) -> its path in the output folder.
    pub objects: BTreeMap<String, PathBuf>,
    /// object -> the end of kbuild's error output.
    pub failed: BTreeMap<String, String>,
}

pub fn default_cache_root() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("dynwalk").join("verify")
}

fn io(what: &Path, e: std::io::Error) -> VerifyError {
    VerifyError::Io(format!("{}: {e}", what.display()))
}

/// Finds or makes the cache entry for this tree and .config, and prepares both output
/// folders (`olddefconfig`, `prepare`).
pub fn prepare(o: &KbuildOptions) -> Result<Kbuild, VerifyError> {
    let tree = o.tree.canonicalize().map_err(|e| io(&o.tree, e))?;
    if !tree.join("Makefile").is_file() || !tree.join("Kbuild").is_file() {
        return Err(VerifyError::Io(format!("{}: not a kernel tree (no Makefile and Kbuild)", tree.display())));
    }
    let config = std::fs::read(&o.config).map_err(|e| io(&o.config, e))?;
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for part in [
        LAYOUT.as_bytes(),
        tree.as_os_str().as_encoded_bytes(),
        &config,
        CONFIG_OVERRIDES.as_bytes(),
        KCFLAGS.as_bytes(),
    ] {
        h.update(&(part.len() as u64).to_le_bytes());
        h.update(part);
    }
    let name = tree.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "tree".into());
    let entry = o.cache_root.join(format!("{name}-{:016x}", h.digest()));
    std::fs::create_dir_all(&entry).map_err(|e| io(&entry, e))?;
    let mut config_text = config.clone();
    config_text.extend_from_slice(CONFIG_OVERRIDES.as_bytes());
    let k = Kbuild { tree: tree.clone(), entry, jobs: o.jobs.max(1), config: BTreeMap::new(), config_text };
    k.prepare_out(&k.tree, &k.out(Side::Before), &k.config_text)?;
    if !k.after_src().join("Makefile").exists() {
        k.stage_after(&[])?;
    }
    k.prepare_out(&k.after_src(), &k.out(Side::After), &k.config_text)?;
    let resolved = std::fs::read_to_string(k.out(Side::Before).join(".config")).map_err(|e| io(&k.entry, e))?;
    Ok(Kbuild { config: crate::configured::read_config(&resolved), ..k })
}

impl Kbuild {
    pub fn out(&self, side: Side) -> PathBuf {
        self.entry.join(match side {
            Side::Before => "before",
            Side::After => "after",
        })
    }

    pub fn after_src(&self) -> PathBuf {
        self.entry.join("after-src")
    }

    fn src(&self, side: Side) -> PathBuf {
        match side {
            Side::Before => self.tree.clone(),
            Side::After => self.after_src(),
        }
    }

    fn prepare_out(&self, src: &Path, out: &Path, config: &[u8]) -> Result<(), VerifyError> {
        if out.join(MARKER).exists() {
            return Ok(());
        }
        if out.exists() {
            std::fs::remove_dir_all(out).map_err(|e| io(out, e))?;
        }
        std::fs::create_dir_all(out).map_err(|e| io(out, e))?;
        self.configure(src, out, config)?;
        std::fs::write(out.join(MARKER), LAYOUT).map_err(|e| io(out, e))
    }

    /// Writes `.config` into `out` and resolves it against `src`'s Kconfig files
    /// (`olddefconfig`, then `prepare` for the generated headers).
    fn configure(&self, src: &Path, out: &Path, config: &[u8]) -> Result<(), VerifyError> {
        std::fs::write(out.join(".config"), config).map_err(|e| io(out, e))?;
        for target in ["olddefconfig", "prepare"] {
            let (ok, log, _) = self.make(src, out, &[target.to_string()], false)?;
            if !ok {
                return Err(VerifyError::Build(format!("`make {target}` of {} failed:\n{log}", src.display())));
            }
        }
        Ok(())
    }

    /// Runs make in `out` for `src`; returns success, the tail of its error output, and
    /// the whole of it.
    fn make(
        &self,
        src: &Path,
        out: &Path,
        targets: &[String],
        keep_going: bool,
    ) -> Result<(bool, String, String), VerifyError> {
        let mut cmd = Command::new("make");
        cmd.arg("-s").arg("-C").arg(src).arg(format!("O={}", out.display())).arg(format!("-j{}", self.jobs));
        if keep_going {
            cmd.arg("-k");
        }
        cmd.arg(format!("KCFLAGS={KCFLAGS}")).args(targets).env("LC_ALL", "C");
        let res = cmd.output().map_err(|e| VerifyError::Build(format!("cannot run make: {e}")))?;
        let text = String::from_utf8_lossy(&res.stderr);
        let tail: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = tail[tail.len().saturating_sub(30)..].join("\n");
        Ok((res.status.success(), tail, text.into_owned()))
    }

    /// Re-creates `after-src/` as a hard-link copy of the tree, then replaces the patched
    /// files by new files (`None`: the patch deletes it). Files patched by the previous
    /// run are copied rather than linked, with a new time, so make rebuilds whatever was
    /// generated from their patched version. When this patch or the previous one touches
    /// a `Kconfig` file, the after side's configuration is resolved again from the user's
    /// .config against the patched Kconfig files: an option the patch adds gets the value
    /// the .config gives it (or its default), not the before tree's "unknown, dropped".
    pub fn stage_after(&self, patched: &[(String, Option<Vec<u8>>)]) -> Result<(), VerifyError> {
        let dst = self.after_src();
        let list = self.entry.join("after-src.patched");
        let previous = std::fs::read_to_string(&list).unwrap_or_default();
        if dst.exists() {
            std::fs::remove_dir_all(&dst).map_err(|e| io(&dst, e))?;
        }
        let st = Command::new("cp")
            .arg("-al")
            .arg(&self.tree)
            .arg(&dst)
            .status()
            .map_err(|e| VerifyError::Io(format!("cp: {e}")))?;
        if !st.success() {
            return Err(VerifyError::Io(format!("cp -al {} {} failed", self.tree.display(), dst.display())));
        }
        for rel in previous.lines().filter(|l| !l.is_empty()) {
            if let Ok(bytes) = std::fs::read(self.tree.join(rel)) {
                replace(&inside(&dst, rel)?, Some(&bytes))?;
            }
        }
        for (rel, bytes) in patched {
            replace(&inside(&dst, rel)?, bytes.as_deref())?;
        }
        let names: Vec<&str> = patched.iter().map(|(r, _)| r.as_str()).collect();
        std::fs::write(&list, names.join("\n")).map_err(|e| io(&list, e))?;
        let out = self.out(Side::After);
        if out.join(MARKER).exists() && previous.lines().chain(names.iter().copied()).any(is_kconfig) {
            self.configure(&dst, &out, &self.config_text)?;
        }
        Ok(())
    }

    /// Builds objects (`dir/file.o`) on one side. On the after side every object is
    /// deleted first; on the before side make decides.
    pub fn build(&self, side: Side, objects: &[String]) -> Result<Built, VerifyError> {
        let out = self.out(side);
        if objects.is_empty() {
            // `make` without a target would build the whole kernel.
            return Ok(Built::default());
        }
        // After: always rebuilt. Before: make decides by time, and an object whose `.c`
        // has other bytes than when it was built (a file put back with an old time) is
        // rebuilt too.
        let mut stamps = Vec::new();
        for o in objects {
            let p = out.join(o);
            let stamp = out.join(format!("{o}.dynwalk-src"));
            let src = self.src(side).join(format!("{}.c", o.trim_end_matches(".o")));
            let hash =
                std::fs::read(&src).map(|b| format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&b))).unwrap_or_default();
            let stale = side == Side::After || std::fs::read_to_string(&stamp).ok().as_deref() != Some(hash.as_str());
            if stale && p.exists() {
                std::fs::remove_file(&p).map_err(|e| io(&p, e))?;
            }
            stamps.push((stamp, hash));
        }
        let (ok, log, all) = self.make(&self.src(side), &out, objects, true)?;
        let mut b = Built::default();
        for (o, (stamp, hash)) in objects.iter().zip(&stamps) {
            let p = out.join(o);
            if p.is_file() && (ok || !all.contains(&format!("{o}] Error"))) {
                if side == Side::Before {
                    std::fs::write(stamp, hash).map_err(|e| io(stamp, e))?;
                }
                b.objects.insert(o.clone(), p);
            } else {
                let c = format!("{}.c:", o.trim_end_matches(".o"));
                let own: Vec<&str> = all.lines().filter(|l| l.contains(&c) && l.contains("error")).take(5).collect();
                b.failed.insert(o.clone(), if own.is_empty() { log.clone() } else { own.join("\n") });
            }
        }
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::inside;

    #[test]
    fn writes_never_leave_the_copy_through_a_link() {
        let t = tempfile::tempdir().unwrap();
        let (root, outside) = (t.path().join("tree"), t.path().join("elsewhere"));
        std::fs::create_dir_all(root.join("scripts/dtc/include")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("dwlink")).unwrap();
        std::os::unix::fs::symlink("include", root.join("scripts/dtc/include-prefixes")).unwrap();
        std::fs::write(root.join("scripts/dtc/include/a.h"), "x").unwrap();
        std::os::unix::fs::symlink("a.h", root.join("scripts/dtc/include/b.h")).unwrap();
        let e = inside(&root, "dwlink/x.c").unwrap_err().to_string();
        assert!(e.contains("leads out of the tree"), "{e}");
        assert!(inside(&root, "scripts/dtc/include-prefixes/c.h").is_ok(), "a link that stays inside is fine");
        let e = inside(&root, "scripts/dtc/include/b.h").unwrap_err().to_string();
        assert!(e.contains("symbolic link there"), "{e}");
        assert!(inside(&root, "../x.c").is_err());
        assert!(inside(&root, "new/dir/file.c").is_ok(), "folders that do not exist yet are fine");
        assert!(std::fs::read_dir(&outside).unwrap().next().is_none(), "nothing written outside");
    }
}

/// `Kconfig`, `Kconfig.debug`, ...: the files that declare configuration options.
fn is_kconfig(rel: &str) -> bool {
    rel.rsplit('/').next().is_some_and(|f| f.starts_with("Kconfig"))
}

/// `root/rel`, checked to stay inside `root`: every folder on the way that is a symbolic
/// link must resolve inside `root` (kernel trees have such links, e.g.
/// `scripts/dtc/include-prefixes`), and the file itself must not be a link (patch(1)
/// refuses those too). Nothing is followed out of the copy.
pub fn inside(root: &Path, rel: &str) -> Result<PathBuf, VerifyError> {
    let unsafe_path = |why: String| VerifyError::Unsafe(format!("{rel}: {why}; refusing to write there"));
    let canon_root = std::fs::canonicalize(root).map_err(|e| io(root, e))?;
    let mut at = root.to_path_buf();
    let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    for (i, part) in parts.iter().enumerate() {
        if *part == ".." {
            return Err(unsafe_path("the path climbs out of the tree".into()));
        }
        at.push(part);
        let Ok(meta) = std::fs::symlink_metadata(&at) else { continue };
        if !meta.file_type().is_symlink() {
            continue;
        }
        if i + 1 == parts.len() {
            return Err(unsafe_path("the tree has a symbolic link there".into()));
        }
        let target = std::fs::canonicalize(&at)
            .map_err(|e| unsafe_path(format!("the link {} does not resolve ({e})", at.display())))?;
        if !target.starts_with(&canon_root) {
            return Err(unsafe_path(format!(
                "the link {} leads out of the tree, to {}",
                at.display(),
                target.display()
            )));
        }
    }
    Ok(root.join(rel))
}

fn replace(path: &Path, bytes: Option<&[u8]>) -> Result<(), VerifyError> {
    if path.exists() {
        // Unlink first: never write through a hard link into the tree.
        std::fs::remove_file(path).map_err(|e| io(path, e))?;
    }
    if let Some(b) = bytes {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        std::fs::write(path, b).map_err(|e| io(path, e))?;
    }
    Ok(())
}
