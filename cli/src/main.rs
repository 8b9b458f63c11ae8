//! `dynwalk`: the user's entry point. The CLI owns IO, rendering and exit codes; the
//! analyzer gets bytes and returns values.

mod cache;
mod error;
mod load;
mod plan_cmd;
mod render;
mod runtime;
mod sarif;
mod scope;
mod source;
mod update_cmd;
mod verify_cmd;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};
use dynwalk_analyzer::query;
use dynwalk_analyzer::resolve::How;

use crate::cache::Summary;
use crate::error::CliError;
use crate::load::{load, store_summary, LoadOptions};

#[derive(Parser)]
#[command(name = "dynwalk", version, about = "Plans live updates of running Linux kernels from source")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Text,
    Json,
    /// SARIF 2.1.0 (only `plan`).
    Sarif,
}

#[derive(clap::Args)]
struct TreeArgs {
    /// Kernel source tree (default: the current directory), or a git revision of `--repo`.
    #[arg(long, default_value = ".")]
    tree: PathBuf,
    #[command(flatten)]
    o: LoadArgs,
}

/// How a tree is loaded, and how results are printed: shared by every tree command.
#[derive(clap::Args)]
struct LoadArgs {
    /// The git repository for a revision (default: the current one).
    #[arg(long)]
    repo: Option<PathBuf>,
    /// Kernel .config: selects #if branches (without it, both branches are kept).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Cache folder (default: $DYNWALK_CACHE_DIR, else $XDG_CACHE_HOME/dynwalk/index).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Do not read or write the on-disk cache.
    #[arg(long)]
    no_cache: bool,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// The kernel an update is built for: shared by `update` and `build`.
#[derive(clap::Args)]
struct TargetArgs {
    /// The target kernel's build folder (default: the only /lib/modules/*/build).
    #[arg(long)]
    kdir: Option<PathBuf>,
    /// The target kernel's symbols: a copy of its /proc/kallsyms (default: this machine's,
    /// only when it runs the kernel the build folder is for).
    #[arg(long)]
    kallsyms: Option<PathBuf>,
    /// The runtime's Module.symvers (its API's symbol versions).
    #[arg(long)]
    runtime_symvers: Option<PathBuf>,
    /// The target kernel's image as an ELF `vmlinux` (Debian's debug package, or
    /// `scripts/extract-vmlinux vmlinuz`): needed to patch a `notrace` function's entry
    /// with a jump.
    #[arg(long)]
    vmlinux: Option<PathBuf>,
}

/// A tree and a patch to plan: shared by `plan` and `verify`.
#[derive(clap::Args)]
struct PatchArgs {
    /// The kernel tree the patch applies to: a directory, or (for `plan`) a git revision
    /// (tag, branch, commit) of `--repo`, read from the repository's objects.
    #[arg(long = "from")]
    from: PathBuf,
    /// A unified diff or git format-patch mail(s); `-` reads stdin.
    #[arg(long)]
    patch: String,
    /// Strip this many leading path components from the patch's paths.
    #[arg(short = 'p', default_value_t = 1)]
    strip: usize,
    /// Allow hunks to move (anywhere in the file) and to ignore up to 2 context lines, as
    /// patch(1) does.
    #[arg(long)]
    fuzz: bool,
    /// How many calls up from the replaced functions to look for code that never
    /// quiesces.
    #[arg(long, default_value_t = dynwalk_analyzer::plan::DEFAULT_SEARCH_DEPTH)]
    depth: u32,
}

impl PatchArgs {
    fn plan_args(self, o: &LoadArgs, whole_tree: bool) -> plan_cmd::PlanArgs {
        plan_cmd::PlanArgs {
            load: opts(&self.from, o, false),
            patch: self.patch,
            strip: self.strip,
            fuzz: self.fuzz,
            whole_tree,
            depth: self.depth,
        }
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Index a tree: extract facts from every .c/.h file, build the graphs, print counts.
    Index {
        /// Kernel source tree: a directory, or a git revision of `--repo`.
        tree: PathBuf,
        #[command(flatten)]
        o: LoadArgs,
    },
    /// Every call site that reaches a function (directly, through macros, through ops tables).
    Callers {
        function: String,
        #[command(flatten)]
        t: TreeArgs,
    },
    /// The calls a function makes, resolved.
    Callees {
        function: String,
        #[command(flatten)]
        t: TreeArgs,
    },
    /// What a live update of a patch needs: redirections, clones, changed types,
    /// quiescence conditions, hazards.
    Plan {
        #[command(flatten)]
        p: PatchArgs,
        /// Load (and index) the whole tree, rather than only the files that mention what
        /// the plan needs (see docs/architecture.md, "Scoped plans").
        #[arg(long)]
        whole_tree: bool,
        /// Print how much of the tree was read, and timings, to stderr.
        #[arg(long)]
        stats: bool,
        #[command(flatten)]
        o: LoadArgs,
    },
    /// Hold the plan of a patch against compiled code: build the objects the patch can
    /// affect before and after with kbuild, compare them function by function, print the
    /// misses and over-approximations (exit 10 misses, 11 over-approximations, 12 both).
    Verify {
        #[command(flatten)]
        p: PatchArgs,
        /// Where prepared trees and objects are cached (default: $XDG_CACHE_HOME/dynwalk/verify).
        #[arg(long)]
        kbuild: Option<PathBuf>,
        /// Compile at most this many includers of changed headers.
        #[arg(long, default_value_t = 8)]
        header_cap: usize,
        /// Parallel make jobs.
        #[arg(long, default_value_t = 2)]
        jobs: u32,
        #[command(flatten)]
        o: LoadArgs,
    },
    /// Turn a patch into a live update: plan it, generate the update module's C source,
    /// build it with kbuild against the target kernel's headers, check it against the
    /// target kernel's symbols and write its description (docs/walker.md). Exit 13 when
    /// the walker refuses the patch (each reason with its code), 9 when kbuild fails.
    Update {
        #[command(flatten)]
        p: PatchArgs,
        /// The output folder (replaced only when every stage succeeded).
        #[arg(short = 'o', long = "out")]
        out: PathBuf,
        /// The update's name (default: the patch file's name).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        target: TargetArgs,
        /// Stop after writing the generated sources (no build, no description).
        #[arg(long)]
        generate_only: bool,
        #[command(flatten)]
        o: LoadArgs,
    },
    /// Build and check an update folder that `update --generate-only` wrote (or whose
    /// generated C was edited), in place: kbuild, the lowering checks, `update.desc`.
    Build {
        /// The update folder.
        dir: PathBuf,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Write an update description for the kernel runtime to a file.
    Describe {
        /// Where to write the binary description.
        #[arg(long)]
        out: PathBuf,
        /// The update's name.
        name: String,
        /// The update module that registered the versions.
        module: String,
        /// `TARGET=VERSION[,group=N][,method=ftrace|jmp][,policy=newest|pred|task:PID|cpu:N][,expect=HEX]`
        #[arg(required = true)]
        funcs: Vec<String>,
    },
    /// Load an update description into the running kernel (from a file, or built from
    /// `NAME MODULE TARGET=VERSION...` like `describe`).
    Load {
        /// A description written by `describe`.
        #[arg(long, conflicts_with_all = ["name", "module", "funcs"])]
        file: Option<PathBuf>,
        name: Option<String>,
        module: Option<String>,
        funcs: Vec<String>,
        #[arg(long, default_value = "/dev/dynwalk")]
        device: PathBuf,
    },
    /// Switch a loaded update in: all its groups at once.
    Apply {
        update: String,
        #[arg(long, default_value = "/dev/dynwalk")]
        device: PathBuf,
    },
    /// Switch an update out once no stack or PC holds it (waits up to the timeout).
    Revert {
        update: String,
        #[arg(long, default_value_t = 2000)]
        timeout_ms: u32,
        #[arg(long, default_value = "/dev/dynwalk")]
        device: PathBuf,
    },
    /// Forget a loaded, not applied, update.
    Unload {
        update: String,
        #[arg(long, default_value = "/dev/dynwalk")]
        device: PathBuf,
    },
    /// The runtime's updates, functions, dispatch counters and shadow objects.
    Status {
        #[arg(long, default_value = "/dev/dynwalk")]
        device: PathBuf,
    },
    /// Show an intermediate stage, to trace a wrong answer: `facts` (one file's extracted
    /// facts), `rewritten` (the bytes tree-sitter parses).
    Dump {
        #[arg(value_parser = ["facts", "rewritten"])]
        stage: String,
        file: PathBuf,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Every access to a struct, or to one field: `task_struct` or `task_struct.mm`.
    Accesses {
        target: String,
        #[command(flatten)]
        t: TreeArgs,
    },
}

/// A closed pipe ends the process quietly, as it does any Unix filter (`dynwalk plan |
/// head`), instead of Rust's default of ignoring SIGPIPE and panicking on the next print.
#[cfg(target_os = "linux")]
fn default_sigpipe() {
    unsafe extern "C" {
        fn signal(signum: i32, handler: usize) -> usize;
    }
    const SIGPIPE: i32 = 13;
    const SIG_DFL: usize = 0;
    // SAFETY: resetting one signal's disposition to the default before any thread starts.
    unsafe {
        signal(SIGPIPE, SIG_DFL);
    }
}

fn main() -> ExitCode {
    #[cfg(target_os = "linux")]
    default_sigpipe();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

fn opts(tree: &std::path::Path, o: &LoadArgs, progress: bool) -> LoadOptions {
    LoadOptions {
        tree: tree.to_path_buf(),
        repo: o.repo.clone(),
        config: o.config.clone(),
        cache_root: o.cache_dir.clone(),
        use_cache: !o.no_cache,
        progress,
    }
}

fn json<T: serde::Serialize>(v: &T) -> Result<(), CliError> {
    let s = serde_json::to_string_pretty(v).map_err(|e| CliError::Input(e.to_string()))?;
    println!("{s}");
    Ok(())
}

fn run(cli: Cli) -> Result<(), CliError> {
    let sarif_elsewhere = match &cli.cmd {
        Cmd::Index { o, .. } | Cmd::Verify { o, .. } => o.format == Format::Sarif,
        Cmd::Callers { t, .. } | Cmd::Callees { t, .. } | Cmd::Accesses { t, .. } => t.o.format == Format::Sarif,
        _ => false,
    };
    if sarif_elsewhere {
        return Err(CliError::Input("--format sarif is only for `plan`".into()));
    }
    match cli.cmd {
        Cmd::Index { tree, o } => {
            let t0 = Instant::now();
            let format = o.format;
            let l = load(&opts(&tree, &o, format == Format::Text), false)?;
            let load_ms = t0.elapsed().as_millis();
            let t1 = Instant::now();
            let summary = match &l.summary {
                Some(s) => s.clone(),
                None => {
                    let g = l.db.analyze_all();
                    let mut s = Summary::default();
                    for e in g.graph.raw_edges() {
                        s.edges += 1;
                        match e.weight {
                            How::Macro => s.macro_edges += 1,
                            How::Member => s.indirect_edges += 1,
                            How::Direct => {}
                        }
                    }
                    store_summary(&l, &s)?;
                    s
                }
            };
            let graph_ms = t1.elapsed().as_millis();
            let c = l.counts;
            if format == Format::Json {
                return json(&serde_json::json!({
                    "tree": l.tree.display().to_string(),
                    "counts": c,
                    "graph": summary,
                    "parsed_files": l.parsed,
                    "cached_files": l.reused,
                    "timings_ms": { "walk": l.walk_ms, "extract": l.extract_ms, "load_total": load_ms, "graph": graph_ms },
                }));
            }
            println!("indexed {} ({} files: {} parsed, {} from cache)", l.tree.display(), c.files, l.parsed, l.reused);
            println!("  functions      {:>10}", c.functions);
            println!("  call sites     {:>10}", c.calls);
            println!("  field accesses {:>10}", c.accesses);
            println!("  types          {:>10}  ({} fields)", c.types, c.fields);
            println!("  macros         {:>10}", c.macros);
            println!("  ops initializers {:>8}", c.ops_inits);
            println!("  globals        {:>10}", c.globals);
            println!("  includes       {:>10}", c.includes);
            println!("  syntax errors  {:>10}", c.parse_errors);
            println!(
                "  call edges     {:>10}  ({} through macros, {} indirect)",
                summary.edges, summary.macro_edges, summary.indirect_edges
            );
            println!(
                "timings: walk {} ms, extract/cache {} ms, load {} ms, graph {} ms",
                l.walk_ms, l.extract_ms, load_ms, graph_ms
            );
            Ok(())
        }
        Cmd::Plan { p, whole_tree, stats, o } => {
            let format = o.format;
            let p = plan_cmd::run(&p.plan_args(&o, whole_tree))?;
            if stats {
                let s = serde_json::to_string(&p.scope).map_err(|e| CliError::Input(e.to_string()))?;
                eprintln!("stats: {s}");
            }
            if format == Format::Sarif {
                json(&sarif::render(&p))?;
            } else if format == Format::Json {
                json(&serde_json::json!({
                    "schema_version": p.plan.schema_version,
                    "patch": { "subjects": p.subjects, "cves": p.cves, "apply_notes": p.notes },
                    "plan": p.plan,
                }))?;
            } else {
                print!("{}", plan_cmd::render(&p));
            }
            let errors = p.plan.hazards.iter().filter(|h| h.level == dynwalk_analyzer::plan::Level::Error).count();
            if errors > 0 {
                return Err(CliError::Hazards(errors));
            }
            Ok(())
        }
        Cmd::Verify { p, kbuild, header_cap, jobs, o } => {
            let format = o.format;
            let plan = p.plan_args(&o, false);
            let (p, r) = verify_cmd::run(verify_cmd::VerifyArgs { plan, kbuild, header_cap, jobs })?;
            if format == Format::Json {
                json(&r)?;
            } else {
                print!("{}", verify_cmd::render(&p, &r));
            }
            verify_cmd::verdict(&r)
        }
        Cmd::Update { p, out, name, target, generate_only, o } => {
            let plan = p.plan_args(&o, false);
            let TargetArgs { kdir, kallsyms, runtime_symvers, vmlinux } = target;
            let d = update_cmd::run(&update_cmd::UpdateArgs {
                plan,
                out,
                name,
                kdir,
                kallsyms,
                runtime_symvers,
                vmlinux,
                generate_only,
            })?;
            let m = &d.manifest;
            println!(
                "{} update `{}` in {}: {} function(s) ({} redirected, {} cloned), {} copied helper(s), {} kernel name(s) through kallsyms",
                if d.built { "built" } else { "generated" },
                m.update,
                d.out.display(),
                d.functions,
                m.versions.iter().filter(|v| v.kind == "redirect").count(),
                m.versions.iter().filter(|v| v.kind == "clone").count(),
                m.copies.len(),
                m.ksyms.len()
            );
            for v in &m.versions {
                println!("  {} -> {} ({}, {}:{})", v.target, v.version, v.kind, v.file, v.line);
            }
            for n in &m.notes {
                println!("  note: {n}");
            }
            if d.built {
                println!("load it: dynwalk load {}; then dynwalk apply {}", d.out.display(), m.update);
            }
            Ok(())
        }
        Cmd::Build { dir, target: TargetArgs { kdir, kallsyms, runtime_symvers, vmlinux } } => {
            let (m, n) = update_cmd::build_dir(&update_cmd::BuildArgs {
                dir: dir.clone(),
                kdir,
                kallsyms,
                runtime_symvers,
                vmlinux,
            })?;
            println!("built update `{}` in {}: {n} function(s)", m.update, dir.display());
            println!("load it: dynwalk load {}; then dynwalk apply {}", dir.display(), m.update);
            Ok(())
        }
        Cmd::Describe { out, name, module, funcs } => {
            let bytes = runtime::describe(&name, &module, &funcs)?;
            std::fs::write(&out, &bytes).map_err(|e| CliError::Input(format!("{}: {e}", out.display())))?;
            println!("wrote {} ({} bytes, {} function(s))", out.display(), bytes.len(), funcs.len());
            Ok(())
        }
        Cmd::Load { file, name, module, funcs, device } => {
            let bytes = match (file, name, module) {
                (None, Some(dir), None) if Path::new(&dir).is_dir() => runtime::load_dir(Path::new(&dir))?,
                (Some(f), _, _) => std::fs::read(&f).map_err(|e| CliError::Input(format!("{}: {e}", f.display())))?,
                (None, Some(n), Some(m)) if !funcs.is_empty() => runtime::describe(&n, &m, &funcs)?,
                _ => return Err(CliError::Input("load needs --file FILE, or NAME MODULE TARGET=VERSION...".into())),
            };
            println!("{}", runtime::request(&device, &bytes)?);
            Ok(())
        }
        Cmd::Apply { update, device } => {
            println!("{}", runtime::request(&device, format!("apply {update}").as_bytes())?);
            Ok(())
        }
        Cmd::Revert { update, timeout_ms, device } => {
            println!("{}", runtime::request(&device, format!("revert {update} {timeout_ms}").as_bytes())?);
            Ok(())
        }
        Cmd::Unload { update, device } => {
            println!("{}", runtime::request(&device, format!("unload {update}").as_bytes())?);
            Ok(())
        }
        Cmd::Status { device } => {
            println!("{}", runtime::request(&device, b"status")?);
            Ok(())
        }
        Cmd::Dump { stage, file, config } => {
            let bytes = std::fs::read(&file).map_err(|e| CliError::Input(format!("{}: {e}", file.display())))?;
            let cfg = config.as_deref().map(load::read_config).transpose()?;
            if stage == "rewritten" {
                let pp = dynwalk_analyzer::pp::scan(&bytes, cfg.as_ref());
                let out = dynwalk_analyzer::rewrite::rewrite(&bytes, &pp.blank);
                print!("{}", String::from_utf8_lossy(&out));
                return Ok(());
            }
            json(&dynwalk_analyzer::extract(&bytes, cfg.as_ref()))
        }
        Cmd::Callers { function, t } => {
            let l = load(&opts(&t.tree, &t.o, false), true)?;
            let sites = query::callers(&l.db, &function);
            if sites.is_empty() && query::callees(&l.db, &function).is_empty() {
                return Err(CliError::NotFound(format!(
                    "no function or macro `{function}` is called or defined in {}",
                    l.tree.display()
                )));
            }
            if t.o.format == Format::Json {
                return json(&sites);
            }
            let mut frames = render::Frames::new(&l.source);
            for s in &sites {
                let who = s.caller.as_deref().unwrap_or("<file scope>");
                let how = match s.how {
                    "direct" => "calls".to_string(),
                    "macro" => format!("calls through macro {}", s.via.join(" -> ")),
                    _ => format!("may call through ->{}", s.via.join("")),
                };
                let cond = if s.conditional { " (under an unknown #if)" } else { "" };
                print!("{}", frames.frame(&s.file, s.line, s.col, &format!("{who} {how} {function}{cond}")));
            }
            println!("{} call sites reach {function}", sites.len());
            Ok(())
        }
        Cmd::Callees { function, t } => {
            let l = load(&opts(&t.tree, &t.o, false), true)?;
            let defs = query::callees(&l.db, &function);
            if defs.is_empty() {
                return Err(CliError::NotFound(format!("no definition of `{function}` in {}", l.tree.display())));
            }
            if t.o.format == Format::Json {
                return json(&defs);
            }
            let mut frames = render::Frames::new(&l.source);
            for d in &defs {
                let attrs = if d.attrs.is_empty() { String::new() } else { format!(" [{}]", d.attrs.join(" ")) };
                println!("{} defined at {}:{}:{}{attrs}", d.function, d.file, d.line, d.col);
                for c in &d.calls {
                    let how = match c.how {
                        "direct" => String::new(),
                        "macro" => format!(" (via {})", c.via.join(" -> ")),
                        _ => format!(" (indirect via ->{})", c.via.join("")),
                    };
                    let ext = if c.defined { "" } else { " [not defined in this tree]" };
                    print!("{}", frames.frame(&c.file, c.line, c.col, &format!("calls {}{how}{ext}", c.callee)));
                }
                println!("{} calls from {}", d.calls.len(), d.function);
            }
            Ok(())
        }
        Cmd::Accesses { target, t } => {
            let l = load(&opts(&t.tree, &t.o, false), true)?;
            let (agg, field) = match target.split_once('.') {
                Some((a, f)) => (a.to_string(), Some(f.to_string())),
                None => (target.clone(), None),
            };
            let key = query::aggregate_key(&l.db, &agg)
                .ok_or_else(|| CliError::NotFound(format!("no struct or union `{agg}` in {}", l.tree.display())))?;
            let sites = query::accesses(&l.db, &key, field.as_deref());
            if t.o.format == Format::Json {
                return json(&sites);
            }
            let mut frames = render::Frames::new(&l.source);
            for s in &sites {
                let who = s.function.as_deref().unwrap_or("<file scope>");
                print!(
                    "{}",
                    frames.frame(
                        &s.file,
                        s.line,
                        s.col,
                        &format!("{} of {key}.{} ({}) in {who}", s.kind, s.field, s.operator)
                    )
                );
            }
            println!("{} accesses to {key}{}", sites.len(), field.map(|f| format!(".{f}")).unwrap_or_default());
            Ok(())
        }
    }
}
