//! `dynwalk update`: plan -> generate -> build -> lower, into one output folder.
//! Everything is written into `DIR.tmp` and renamed to `DIR` only when every stage
//! succeeded: a refused or failed update leaves nothing half-written (the failed
//! attempt's folder is kept beside it as `DIR.failed` for reading, never as `DIR`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use dynwalk_analyzer::Config;
use dynwalk_verify::configured::Linked;
use dynwalk_walker::build::{self, BuildOptions};
use dynwalk_walker::image::KernelImage;
use dynwalk_walker::{generate, lower, Input, KernelSymbols, Manifest, Refusal, SourceFile};

use crate::error::CliError;
use crate::plan_cmd::{self, PlanArgs, Planned};

/// The runtime's API (kmod/shim/dynwalk.h): the module loader links these against
/// dynwalk.ko.
const RUNTIME_API: &[&str] = &[
    "dw_register_version",
    "dw_ksym",
    "dw_shadow_get",
    "dw_shadow_alloc",
    "dw_shadow_get_or_alloc",
    "dw_shadow_free",
    "dw_shadow_free_all",
    "dw_rt_select_core",
];

pub struct UpdateArgs {
    pub plan: PlanArgs,
    pub out: PathBuf,
    pub name: Option<String>,
    /// The target kernel's build folder (`/lib/modules/$KVER/build`).
    pub kdir: Option<PathBuf>,
    /// The target kernel's `/proc/kallsyms`.
    pub kallsyms: Option<PathBuf>,
    /// The runtime's `Module.symvers` (modversions of its API).
    pub runtime_symvers: Option<PathBuf>,
    /// The target kernel's ELF image, for jump sites.
    pub vmlinux: Option<PathBuf>,
    /// Stop after writing the sources.
    pub generate_only: bool,
}

pub struct Done {
    pub out: PathBuf,
    pub manifest: dynwalk_walker::Manifest,
    pub functions: usize,
    pub built: bool,
}

fn read(p: &Path) -> Result<String, CliError> {
    std::fs::read(p)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|e| CliError::Input(format!("{}: {e}", p.display())))
}

/// The only `/lib/modules/*/build` of this machine, else `--kdir` is needed.
fn default_kdir() -> Result<PathBuf, CliError> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/lib/modules")
        .map(|d| {
            d.filter_map(|e| e.ok()).map(|e| e.path().join("build")).filter(|p| p.join("Makefile").is_file()).collect()
        })
        .unwrap_or_default();
    found.sort();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(CliError::Input("no /lib/modules/*/build: install the target's headers or pass --kdir".into())),
        _ => Err(CliError::Input(format!("several kernel build folders ({}): pass --kdir", found.len()))),
    }
}

fn update_name(a: &UpdateArgs) -> String {
    let raw = a.name.clone().unwrap_or_else(|| {
        Path::new(&a.plan.patch)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "update".into())
    });
    let mut n: String = raw.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    n.truncate(55);
    if n.is_empty() || n == "_" {
        "update".into()
    } else {
        n
    }
}

fn refused(r: Vec<Refusal>) -> CliError {
    CliError::Walker(r.iter().map(|r| r.to_string()).collect::<Vec<_>>().join("\n"))
}

/// The patched files, and the files of the functions the plan clones that the patch
/// leaves alone (read from the tree, the same text on both sides).
fn source_files(p: &Planned, config: Option<&Config>) -> Vec<SourceFile> {
    let read = |rel: &str| p.source.read(rel).ok().map(|b| String::from_utf8_lossy(&b).into_owned());
    let linked = |path: &str| {
        config.and_then(|c| dynwalk_verify::configured::linked(&read, c.values(), path)).map(|l| l == Linked::BuiltIn)
    };
    let mut out: Vec<SourceFile> = p
        .files
        .iter()
        .filter_map(|f| {
            let new_text = f.new_text.clone()?;
            let old_text = p.source.read(&f.old_path).ok().map(|b| String::from_utf8_lossy(&b).into_owned());
            Some(SourceFile { path: f.path.clone(), old_text, new_text, built_in: linked(&f.path) })
        })
        .collect();
    for path in dynwalk_walker::files_to_read(&p.plan) {
        if out.iter().any(|f| f.path == path) {
            continue;
        }
        if let Some(text) = read(&path) {
            out.push(SourceFile {
                path: path.clone(),
                old_text: Some(text.clone()),
                new_text: text,
                built_in: linked(&path),
            });
        }
    }
    out
}

fn write_all(dir: &Path, g: &dynwalk_walker::Generated) -> Result<(), CliError> {
    std::fs::create_dir_all(dir).map_err(|e| CliError::Input(format!("{}: {e}", dir.display())))?;
    for (name, text) in &g.files {
        if let Some(parent) = dir.join(name).parent() {
            std::fs::create_dir_all(parent).map_err(|e| CliError::Input(format!("{}: {e}", parent.display())))?;
        }
        std::fs::write(dir.join(name), text)
            .map_err(|e| CliError::Input(format!("{}: {e}", dir.join(name).display())))?;
    }
    let m = serde_json::to_string_pretty(&g.manifest).map_err(|e| CliError::Input(e.to_string()))?;
    std::fs::write(dir.join("manifest.json"), m + "\n").map_err(|e| CliError::Input(format!("{}: {e}", dir.display())))
}

/// Makes room for the output: `DIR` may exist only as an earlier update's folder.
fn prepare_out(out: &Path) -> Result<PathBuf, CliError> {
    if out.exists() && !out.join("manifest.json").is_file() {
        return Err(CliError::Input(format!(
            "{}: exists and is not a dynwalk update folder; refusing to overwrite",
            out.display()
        )));
    }
    let tmp = out.with_extension("tmp");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| CliError::Input(format!("{}: {e}", tmp.display())))?;
    }
    Ok(tmp)
}

fn finish(tmp: &Path, out: &Path) -> Result<(), CliError> {
    if out.exists() {
        std::fs::remove_dir_all(out).map_err(|e| CliError::Input(format!("{}: {e}", out.display())))?;
    }
    std::fs::rename(tmp, out).map_err(|e| CliError::Input(format!("{}: {e}", out.display())))
}

fn keep_failed(tmp: &Path, out: &Path) {
    let failed = out.with_extension("failed");
    let _ = std::fs::remove_dir_all(&failed);
    let _ = std::fs::rename(tmp, &failed);
}

/// The target's symbols: `--kallsyms`, or this machine's own when it runs the kernel the
/// build folder is for (`/lib/modules/<release>/build`); never another kernel's.
fn kernel_symbols(kdir: &Path, kallsyms: Option<&Path>) -> Result<KernelSymbols, CliError> {
    let path = match kallsyms {
        Some(p) => p.to_path_buf(),
        None => {
            let running = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
            let canon = std::fs::canonicalize(kdir).unwrap_or_else(|_| kdir.to_path_buf());
            let target = [kdir, canon.as_path()]
                .iter()
                .find_map(|k| {
                    let rel = k.parent()?;
                    let name = rel.file_name()?.to_string_lossy().into_owned();
                    (rel.parent()? == Path::new("/lib/modules")).then_some(name)
                })
                .unwrap_or_default();
            if target.is_empty() || running.trim() != target {
                return Err(CliError::Input(format!(
                    "pass --kallsyms with the target kernel's /proc/kallsyms: this machine runs {}, the headers in {} are for {}",
                    running.trim(),
                    kdir.display(),
                    if target.is_empty() { "an unknown release" } else { &target }
                )));
            }
            PathBuf::from("/proc/kallsyms")
        }
    };
    KernelSymbols::parse(&read(&path)?, &read(&kdir.join("Module.symvers"))?)
        .map_err(|e| CliError::Input(format!("{}: {e}", path.display())))
}

pub fn run(a: &UpdateArgs) -> Result<Done, CliError> {
    let kdir = match &a.kdir {
        Some(k) => k.clone(),
        None => default_kdir()?,
    };
    let mut plan_args = a.plan.clone();
    if plan_args.load.config.is_none() {
        plan_args.load.config = Some(kdir.join(".config"));
    }
    let config = plan_args.load.config.as_deref().map(crate::load::read_config).transpose()?;
    let kernel = kernel_symbols(&kdir, a.kallsyms.as_deref())?;
    let image = read_image(a.vmlinux.as_deref())?;
    let planned = plan_cmd::run(&plan_args)?;
    let files = source_files(&planned, config.as_ref());
    let name = update_name(a);
    let tree = planned.source.root().ok_or_else(|| {
        CliError::Input("update needs the tree as a folder (kbuild reads its local headers), not a git revision".into())
    })?;
    let tmp = prepare_out(&a.out)?;
    // kbuild runs in the kernel's build folder: every path it is given is absolute.
    let tmp = std::env::current_dir().map(|d| d.join(&tmp)).unwrap_or(tmp);
    let mut extra: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let (linkable, extra_symbols) = runtime_link(a.runtime_symvers.as_deref())?;
    // Two passes at most: the first build tells which outside names the loader cannot
    // link; the second reaches them through kallsyms.
    for pass in 0..2 {
        let input = Input {
            plan: &planned.plan,
            files: &files,
            config: config.as_ref(),
            kernel: &kernel,
            name: &name,
            extra_ksyms: &extra,
            tree: &tree.display().to_string(),
        };
        let g = generate(&input).map_err(refused)?;
        write_all(&tmp, &g)?;
        if a.generate_only {
            finish(&tmp, &a.out)?;
            return Ok(Done {
                out: a.out.clone(),
                functions: g.manifest.versions.len(),
                manifest: g.manifest,
                built: false,
            });
        }
        let opts = BuildOptions { kdir: kdir.clone(), tree: tree.clone(), extra_symbols: extra_symbols.clone() };
        let ko = match build::build(&tmp, &g.manifest, &opts) {
            Ok(ko) => ko,
            Err(e) => {
                keep_failed(&tmp, &a.out);
                return Err(CliError::Build(format!(
                    "{e}\n(the generated sources are in {})",
                    a.out.with_extension("failed").display()
                )));
            }
        };
        let bytes = std::fs::read(&ko).map_err(|e| CliError::Input(format!("{}: {e}", ko.display())))?;
        if pass == 0 {
            extra = unlinked(&tmp, &g.manifest, &bytes, &kernel, &linkable)?;
            if !extra.is_empty() {
                let _ = std::fs::remove_dir_all(&tmp);
                continue;
            }
        }
        let funcs = match lower_and_describe(&tmp, &g.manifest, &bytes, &kernel, &linkable, image.as_ref()) {
            Ok(n) => n,
            Err(e) => {
                keep_failed(&tmp, &a.out);
                return Err(e);
            }
        };
        finish(&tmp, &a.out)?;
        return Ok(Done { out: a.out.clone(), functions: funcs, manifest: g.manifest, built: true });
    }
    Err(CliError::Build("the module still needs names the loader cannot link after the second pass".into()))
}

/// Per generated object (keyed by the tree's file), the names it needs that the module
/// loader cannot link: not exported by vmlinux, not the runtime's, not in the module.
fn unlinked(
    dir: &Path,
    m: &Manifest,
    ko: &[u8],
    kernel: &KernelSymbols,
    linkable: &BTreeSet<String>,
) -> Result<BTreeMap<String, BTreeSet<String>>, CliError> {
    let in_module = build::defined_symbols(ko).map_err(|e| CliError::Input(format!("update module: {e}")))?;
    let mut out = BTreeMap::new();
    for s in &m.sources {
        let obj = dir.join(s.generated.trim_end_matches(".c").to_string() + ".o");
        let ob = std::fs::read(&obj).map_err(|e| CliError::Input(format!("{}: {e}", obj.display())))?;
        let undefined =
            build::undefined_symbols(&ob).map_err(|e| CliError::Input(format!("{}: {e}", obj.display())))?;
        let names: BTreeSet<String> = undefined
            .into_iter()
            .filter(|u| !kernel.is_exported(u) && !linkable.contains(u) && !in_module.contains(u))
            .collect();
        if !names.is_empty() {
            out.insert(s.from.clone(), names);
        }
    }
    Ok(out)
}

/// Lowers the built module and writes `update.desc` into `dir` (by rename, whole).
/// Returns the number of functions the description carries.
fn lower_and_describe(
    dir: &Path,
    m: &Manifest,
    ko: &[u8],
    kernel: &KernelSymbols,
    linkable: &BTreeSet<String>,
    image: Option<&KernelImage>,
) -> Result<usize, CliError> {
    let funcs = lower::lower(ko, m, kernel, linkable, image).map_err(refused)?;
    let spec: Vec<String> = funcs
        .iter()
        .map(|f| {
            let hex: String = f.expected.iter().map(|b| format!("{b:02x}")).collect();
            format!("{}={},group={},sympos={},method={},expect={hex}", f.target, f.version, f.group, f.sympos, f.method)
        })
        .collect();
    let desc = crate::runtime::describe(&m.update, &m.module, &spec)?;
    let tmp = dir.join("update.desc.tmp");
    std::fs::write(&tmp, &desc).map_err(|e| CliError::Input(format!("{}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, dir.join("update.desc")).map_err(|e| CliError::Input(format!("{}: {e}", dir.display())))?;
    Ok(funcs.len())
}

/// The target's kernel image (`--vmlinux`), when given.
fn read_image(path: Option<&Path>) -> Result<Option<KernelImage>, CliError> {
    let Some(p) = path else { return Ok(None) };
    let bytes = std::fs::read(p).map_err(|e| CliError::Input(format!("{}: {e}", p.display())))?;
    KernelImage::parse(&bytes).map(Some).map_err(|e| CliError::Input(format!("{}: {e}", p.display())))
}

/// The `manifest.json` of an update folder, in the version this dynwalk reads.
pub fn read_manifest(dir: &Path) -> Result<Manifest, CliError> {
    let mpath = dir.join("manifest.json");
    let text = std::fs::read_to_string(&mpath).map_err(|e| CliError::Input(format!("{}: {e}", mpath.display())))?;
    let m: Manifest = serde_json::from_str(&text).map_err(|e| CliError::Input(format!("{}: {e}", mpath.display())))?;
    if m.manifest_version != dynwalk_walker::MANIFEST_VERSION {
        return Err(CliError::Input(format!(
            "{}: manifest version {} (this dynwalk reads {})",
            mpath.display(),
            m.manifest_version,
            dynwalk_walker::MANIFEST_VERSION
        )));
    }
    Ok(m)
}

pub struct BuildArgs {
    pub dir: PathBuf,
    pub kdir: Option<PathBuf>,
    pub kallsyms: Option<PathBuf>,
    pub runtime_symvers: Option<PathBuf>,
    pub vmlinux: Option<PathBuf>,
}

/// `dynwalk build DIR`: builds and lowers a folder `update --generate-only` wrote (or one
/// whose generated C was edited by hand), in place. The description is removed first
/// and written again only when the module builds and passes the checks.
pub fn build_dir(a: &BuildArgs) -> Result<(Manifest, usize), CliError> {
    let m = read_manifest(&a.dir)?;
    let kdir = match &a.kdir {
        Some(k) => k.clone(),
        None => default_kdir()?,
    };
    let kernel = kernel_symbols(&kdir, a.kallsyms.as_deref())?;
    let (linkable, extra_symbols) = runtime_link(a.runtime_symvers.as_deref())?;
    let dir = std::fs::canonicalize(&a.dir).map_err(|e| CliError::Input(format!("{}: {e}", a.dir.display())))?;
    let _ = std::fs::remove_file(dir.join("update.desc"));
    let opts = BuildOptions { kdir, tree: PathBuf::from(&m.tree), extra_symbols };
    let ko = build::build(&dir, &m, &opts).map_err(|e| CliError::Build(e.to_string()))?;
    let bytes = std::fs::read(&ko).map_err(|e| CliError::Input(format!("{}: {e}", ko.display())))?;
    let left = unlinked(&dir, &m, &bytes, &kernel, &linkable)?;
    if !left.is_empty() {
        let names: Vec<String> = left.values().flatten().cloned().collect();
        return Err(refused(vec![Refusal {
            code: "DW3008",
            file: String::new(),
            line: 0,
            message: format!("the module needs names the loader cannot link: {}", names.join(", ")),
            help: "reach them through dw_ksym() in the generated C, or run `dynwalk update` again".into(),
        }]));
    }
    let image = read_image(a.vmlinux.as_deref())?;
    let n = lower_and_describe(&dir, &m, &bytes, &kernel, &linkable, image.as_ref())?;
    Ok((m, n))
}

/// The runtime's API names, and its Module.symvers for modpost when given.
fn runtime_link(symvers: Option<&Path>) -> Result<(BTreeSet<String>, Vec<PathBuf>), CliError> {
    let mut linkable: BTreeSet<String> = RUNTIME_API.iter().map(|s| s.to_string()).collect();
    let mut extra = Vec::new();
    if let Some(p) = symvers {
        linkable.extend(build::symvers_names(&read(p)?));
        extra.push(std::fs::canonicalize(p).map_err(|e| CliError::Input(format!("{}: {e}", p.display())))?);
    }
    Ok((linkable, extra))
}
