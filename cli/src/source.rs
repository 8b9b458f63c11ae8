//! Where a tree comes from: a directory, or a git revision read straight from the
//! repository's objects (`git ls-tree` + `git cat-file --batch`), without a checkout.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use crate::error::CliError;

/// One file of a tree: its path and what identifies its content cheaply (size and mtime
/// for a directory; the blob id for git, folded into `stamp`).
pub struct FileMeta {
    pub rel: String,
    pub size: u64,
    pub stamp: u128,
}

pub enum TreeSource {
    Dir(PathBuf),
    Git(GitTree),
}

pub struct GitTree {
    pub repo: PathBuf,
    pub rev: String,
    pub commit: String,
    /// (path, blob id, size), sorted by path.
    entries: Vec<(String, String, u64)>,
    cat: Mutex<Option<CatFile>>,
}

struct CatFile {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

fn git(repo: &Path, args: &[&str]) -> Result<Vec<u8>, CliError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .map_err(|e| CliError::Input(format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(CliError::Input(format!(
            "git {} in {}: {}",
            args.join(" "),
            repo.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out.stdout)
}

impl TreeSource {
    /// `from` is a directory if one exists by that name, else a git revision of `repo`
    /// (default: the repository of the current directory).
    pub fn open(from: &Path, repo: Option<&Path>) -> Result<TreeSource, CliError> {
        if from.is_dir() {
            let dir = std::fs::canonicalize(from).map_err(|e| CliError::Input(format!("{}: {e}", from.display())))?;
            return Ok(TreeSource::Dir(dir));
        }
        let rev = from.to_string_lossy().into_owned();
        let repo = match repo {
            Some(r) => r.to_path_buf(),
            None => PathBuf::from(
                String::from_utf8_lossy(&git(Path::new("."), &["rev-parse", "--show-toplevel"]).map_err(|_| {
                    CliError::Input(format!(
                        "{rev}: no such directory, and the current directory is not in a git repository (use --repo)"
                    ))
                })?)
                .trim(),
            ),
        };
        let commit = git(&repo, &["rev-parse", "--verify", "--quiet", &format!("{rev}^{{commit}}")]).map_err(|_| {
            CliError::Input(format!("{rev}: no such directory, and no such revision in {}", repo.display()))
        })?;
        let commit = String::from_utf8_lossy(&commit).trim().to_string();
        let listing = git(&repo, &["ls-tree", "-r", "-z", "-l", "--full-tree", &commit])?;
        let mut entries = Vec::new();
        for rec in listing.split(|&b| b == 0).filter(|r| !r.is_empty()) {
            // "<mode> blob <id> <size>\t<path>"
            let rec = String::from_utf8_lossy(rec);
            let Some((meta, path)) = rec.split_once('\t') else { continue };
            let f: Vec<&str> = meta.split_whitespace().collect();
            if f.len() == 4 && f[1] == "blob" {
                entries.push((path.to_string(), f[2].to_string(), f[3].parse().unwrap_or(0)));
            }
        }
        entries.sort();
        Ok(TreeSource::Git(GitTree { repo, rev, commit, entries, cat: Mutex::new(None) }))
    }

    /// The tree's folder, when it is one (not a git revision).
    pub fn root(&self) -> Option<PathBuf> {
        match self {
            TreeSource::Dir(d) => Some(std::fs::canonicalize(d).unwrap_or_else(|_| d.clone())),
            TreeSource::Git(_) => None,
        }
    }

    /// For messages and cache keys: the folder, or `repo@rev (commit)`.
    pub fn label(&self) -> String {
        match self {
            TreeSource::Dir(d) => d.display().to_string(),
            TreeSource::Git(g) => format!("{}@{} ({})", g.repo.display(), g.rev, &g.commit[..g.commit.len().min(12)]),
        }
    }

    /// A stable key for the cache (a git tree is keyed by its commit).
    pub fn cache_key(&self) -> PathBuf {
        match self {
            TreeSource::Dir(d) => d.clone(),
            TreeSource::Git(g) => g.repo.join(format!("git-{}", g.commit)),
        }
    }

    /// Every `.c` and `.h` file, sorted; hidden folders skipped.
    pub fn c_files(&self) -> Result<Vec<FileMeta>, CliError> {
        let is_c = |p: &str| p.ends_with(".c") || p.ends_with(".h");
        match self {
            TreeSource::Dir(root) => Ok(crate::load::walk(root)?
                .into_iter()
                .map(|(rel, md)| {
                    let stamp = md
                        .modified()
                        .ok()
                        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                        .map(|d| d.as_nanos())
                        .unwrap_or(0);
                    FileMeta { rel, size: md.len(), stamp }
                })
                .collect()),
            TreeSource::Git(g) => Ok(g
                .entries
                .iter()
                .filter(|(p, _, _)| is_c(p) && !p.split('/').any(|c| c.starts_with('.')))
                .map(|(p, id, size)| FileMeta {
                    rel: p.clone(),
                    size: *size,
                    stamp: u128::from_str_radix(&id[..id.len().min(32)], 16).unwrap_or(0),
                })
                .collect()),
        }
    }

    pub fn read(&self, rel: &str) -> Result<Vec<u8>, CliError> {
        match self {
            TreeSource::Dir(root) => std::fs::read(root.join(rel)).map_err(|e| CliError::Input(format!("{rel}: {e}"))),
            TreeSource::Git(g) => g.read(rel),
        }
    }

    /// `rel` is a symbolic link in a tree folder (a git tree's links are blobs: reading one
    /// gives its target and follows nothing).
    pub fn is_symlink(&self, rel: &str) -> bool {
        match self {
            TreeSource::Dir(root) => {
                std::fs::symlink_metadata(root.join(rel)).is_ok_and(|m| m.file_type().is_symlink())
            }
            TreeSource::Git(_) => false,
        }
    }

    pub fn exists(&self, rel: &str) -> bool {
        match self {
            TreeSource::Dir(root) => root.join(rel).is_file(),
            TreeSource::Git(g) => g.entries.binary_search_by(|e| e.0.as_str().cmp(rel)).is_ok(),
        }
    }
}

impl GitTree {
    fn read(&self, rel: &str) -> Result<Vec<u8>, CliError> {
        let Ok(i) = self.entries.binary_search_by(|e| e.0.as_str().cmp(rel)) else {
            return Err(CliError::Input(format!("{rel}: not in {} at {}", self.repo.display(), self.rev)));
        };
        let id = &self.entries[i].1;
        let mut guard = self.cat.lock().map_err(|_| CliError::Input("git reader poisoned".into()))?;
        if guard.is_none() {
            let mut child = Command::new("git")
                .arg("-C")
                .arg(&self.repo)
                .args(["cat-file", "--batch"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .map_err(|e| CliError::Input(format!("cannot run git cat-file: {e}")))?;
            let stdin = child.stdin.take().ok_or_else(|| CliError::Input("git cat-file: no stdin".into()))?;
            let stdout =
                BufReader::new(child.stdout.take().ok_or_else(|| CliError::Input("git cat-file: no stdout".into()))?);
            *guard = Some(CatFile { child, stdin, stdout });
        }
        let cat = guard.as_mut().expect("set just above");
        let fail = |e: std::io::Error| CliError::Input(format!("git cat-file {id}: {e}"));
        writeln!(cat.stdin, "{id}").map_err(fail)?;
        cat.stdin.flush().map_err(fail)?;
        let mut header = String::new();
        cat.stdout.read_line(&mut header).map_err(fail)?;
        let size: usize = header
            .split_whitespace()
            .nth(2)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| CliError::Input(format!("git cat-file {id}: unexpected answer {header:?}")))?;
        let mut buf = vec![0u8; size + 1];
        cat.stdout.read_exact(&mut buf).map_err(fail)?;
        buf.pop();
        Ok(buf)
    }
}

impl Drop for GitTree {
    fn drop(&mut self) {
        if let Ok(mut g) = self.cat.lock() {
            if let Some(mut c) = g.take() {
                drop(c.stdin);
                let _ = c.child.wait();
            }
        }
    }
}
