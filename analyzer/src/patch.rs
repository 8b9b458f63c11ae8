//! Reading and applying patches: unified diffs, `git diff` output and `git format-patch`
//! mails (one or several), with new, deleted and renamed files. Pure functions on text;
//! errors name the patch line, or the file, hunk and line that do not apply.

use serde::Serialize;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Patch {
    /// `Subject:` lines of the mails, in order.
    pub subjects: Vec<String>,
    /// CVE ids mentioned in the headers or messages.
    pub cves: Vec<String>,
    pub files: Vec<FilePatch>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum FileChange {
    Modify,
    Add,
    Delete,
    Rename,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FilePatch {
    /// Path before (None for a new file), after stripping `-p` components.
    pub old_path: Option<String>,
    /// Path after (None for a deleted file).
    pub new_path: Option<String>,
    pub change: FileChange,
    pub hunks: Vec<Hunk>,
    /// 1-based line of the patch where this file's section starts.
    pub patch_line: usize,
    /// A git section about a symbolic link (mode 120000 before or after): then `hunks`
    /// is empty, the link's target is never text to apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symlink: Option<Symlink>,
    /// A traditional (non-git) section's candidate file names, after `-p`, in patch(1)'s
    /// order: old, new (or, when neither names a file, a preceding `Index:` line's);
    /// `/dev/null` and names with too few slashes for `-p` left out. [`FilePatch::resolve_names`] picks one as patch(1)
    /// does (`--- lib/string.c.orig` / `+++ lib/string.c` patches `lib/string.c`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
}

/// Git's file mode of a symbolic link.
const LINK_MODE: u32 = 0o120000;

/// A symbolic link a git diff creates, removes, retargets, or turns into or out of a
/// regular file. Git writes a link's target as the file's one line (`+../x.h`); it is
/// kept here as the target, never as the text of a file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Symlink {
    /// The path is a link before the patch.
    pub before: bool,
    /// The path is a link after the patch.
    pub after: bool,
    /// The target before, when the diff shows it.
    pub old_target: Option<String>,
    /// The target after, when the diff shows it.
    pub new_target: Option<String>,
}

impl Symlink {
    /// What the patch does to the link, in words: `creates a symbolic link to ../x.h`.
    pub fn describe(&self) -> String {
        let to = |t: &Option<String>| t.as_deref().map(|t| format!(" to {t}")).unwrap_or_default();
        match (self.before, self.after) {
            (false, true) => format!("creates a symbolic link{}", to(&self.new_target)),
            (true, false) => format!("removes a symbolic link{}", to(&self.old_target)),
            _ if self.old_target != self.new_target => {
                format!(
                    "retargets a symbolic link from {}{}",
                    self.old_target.as_deref().unwrap_or("?"),
                    to(&self.new_target)
                )
            }
            _ => "changes a symbolic link".to_string(),
        }
    }
}

/// The modes git's header lines give a section: (before, after).
type Modes = (Option<u32>, Option<u32>);

fn mode(s: &str) -> Option<u32> {
    u32::from_str_radix(s.trim(), 8).ok()
}

/// Closes a file section: when either side is a link, its hunks become the targets.
fn finish(cur: &mut Option<FilePatch>, modes: Modes, patch: &mut Patch) {
    let Some(mut f) = cur.take() else { return };
    let (before, after) = (modes.0 == Some(LINK_MODE), modes.1 == Some(LINK_MODE));
    if before || after {
        let line =
            |kind: LineKind| f.hunks.iter().flat_map(|h| &h.lines).find(|(k, _)| *k == kind).map(|(_, t)| t.clone());
        let old_target = line(LineKind::Remove).filter(|_| before);
        let new_target = line(LineKind::Add).filter(|_| after);
        f.hunks.clear();
        f.symlink = Some(Symlink { before, after, old_target, new_target });
    }
    patch.files.push(f);
}

impl FilePatch {
    /// The path the change is about: the new one, else the old one.
    pub fn path(&self) -> &str {
        self.new_path.as_deref().or(self.old_path.as_deref()).unwrap_or("")
    }

    /// Settles a traditional section's file the way GNU patch does (its manual, "Finding
    /// file names"): among the candidate names that exist (`exists` asks the tree), the
    /// best; if none exists and the section creates a file, the best of all; else the
    /// names are left as the headers give them (and the caller reports the missing file).
    /// Best: fewest path components, then shortest base name, then shortest name, then
    /// first in (old, new, index) order. A traditional diff has no renames: the chosen
    /// name is both the old and the new path (or the only one, for a creation or removal).
    /// False when the section has candidates and none is chosen (patch(1) would ask).
    pub fn resolve_names(&mut self, exists: &dyn Fn(&str) -> bool) -> bool {
        if self.names.is_empty() {
            return true;
        }
        let present: Vec<&String> = self.names.iter().filter(|n| exists(n)).collect();
        let creates = self.change == FileChange::Add || self.hunks.iter().all(|h| h.old_start == 0 && h.old_len == 0);
        let chosen = match best(&present) {
            Some(n) => n.clone(),
            None if creates => match best(&self.names.iter().collect::<Vec<_>>()) {
                Some(n) => n.clone(),
                None => return false,
            },
            None => return false,
        };
        match self.change {
            FileChange::Add => self.new_path = Some(chosen),
            FileChange::Delete => self.old_path = Some(chosen),
            _ => {
                self.old_path = Some(chosen.clone());
                self.new_path = Some(chosen);
                self.change = FileChange::Modify;
            }
        }
        true
    }
}

/// GNU patch's best of several names (its `best_name`): the names with the fewest
/// prefix components, of those the shortest base name, of those the shortest, then the
/// first. As patch(1) computes it, in one pass whose minimums only fall: a later name
/// with fewer components but a longer base name than an earlier one leaves no name
/// meeting all three minimums, and then there is no best (patch(1) finds no file).
fn best<'a>(names: &[&'a String]) -> Option<&'a String> {
    let key = |n: &String| {
        let prefix = n.trim_start_matches('/').trim_end_matches('/');
        let comps = prefix.split('/').filter(|c| !c.is_empty()).count().saturating_sub(1);
        let base = prefix.rsplit('/').next().unwrap_or(prefix).len();
        (comps, base, n.len())
    };
    let (mut cmin, mut bmin, mut lmin) = (usize::MAX, usize::MAX, usize::MAX);
    for &n in names {
        let (c, b, l) = key(n);
        if cmin < c {
            continue;
        }
        cmin = c;
        if bmin < b {
            continue;
        }
        bmin = b;
        if lmin < l {
            continue;
        }
        lmin = l;
    }
    names.iter().copied().find(|n| key(n) == (cmin, bmin, lmin))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum LineKind {
    Context,
    Remove,
    Add,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Hunk {
    pub old_start: usize,
    pub old_len: usize,
    pub new_start: usize,
    pub new_len: usize,
    pub lines: Vec<(LineKind, String)>,
    /// 1-based line of the `@@` header in the patch.
    pub patch_line: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatchError {
    /// 1-based line in the patch text.
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for PatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "patch line {}: {}", self.line, self.message)
    }
}

/// Why a file patch does not apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyError {
    pub file: String,
    /// 1-based hunk number in this file's section.
    pub hunk: usize,
    /// 1-based line in the original file where the hunk was expected.
    pub line: usize,
    /// 1-based line of the hunk header in the patch.
    pub patch_line: usize,
    pub message: String,
}

impl std::fmt::Display for ApplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: hunk #{} (patch line {}) does not apply at line {}: {}",
            self.file, self.hunk, self.patch_line, self.line, self.message
        )
    }
}

/// How far `apply` may move or loosen a hunk, as patch(1) does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fuzz {
    /// Lines a hunk may move from where its header says.
    pub max_offset: usize,
    /// Context lines that may be ignored at each end of a hunk.
    pub max_fuzz: usize,
}

/// What `apply` had to do to a hunk that did not apply exactly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApplyNote {
    pub file: String,
    pub hunk: usize,
    pub offset: isize,
    pub fuzz: usize,
}

/// `strip_path` for patch(1)'s candidate names: a name with fewer slashes than `-p`
/// asks for is no candidate.
fn strip_exact(p: &str, strip: usize) -> Option<String> {
    let p = p.split('\t').next().unwrap_or(p).trim();
    let slashes = p.matches('/').count();
    (slashes >= strip && !p.is_empty() && p != "/dev/null").then(|| strip_path(p, strip))
}

fn strip_path(p: &str, strip: usize) -> String {
    let p = p.split('\t').next().unwrap_or(p).trim();
    let mut rest = p;
    for _ in 0..strip {
        match rest.find('/') {
            Some(i) => rest = &rest[i + 1..],
            None => break,
        }
    }
    rest.to_string()
}

fn parse_range(s: &str) -> Option<(usize, usize)> {
    let mut it = s.splitn(2, ',');
    let start = it.next()?.parse().ok()?;
    let len = match it.next() {
        Some(l) => l.parse().ok()?,
        None => 1,
    };
    Some((start, len))
}

/// Parses a patch. `strip` is `-p`: leading path components to remove (usually 1).
pub fn parse(text: &str, strip: usize) -> Result<Patch, PatchError> {
    let mut patch = Patch::default();
    let mut lines: Vec<&str> = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
    if text.ends_with('\n') {
        lines.pop();
    }
    let mut cur: Option<FilePatch> = None;
    let mut modes: Modes = (None, None);
    // The last `Index:` line of the leading text before a traditional section.
    let mut index: Option<String> = None;
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        let lineno = i + 1;
        if let Some(s) = l.strip_prefix("Subject: ") {
            patch.subjects.push(s.trim().to_string());
        }
        for w in l.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
            if w.len() > 8 && w.starts_with("CVE-") && !patch.cves.iter().any(|c| c == w) {
                patch.cves.push(w.to_string());
            }
        }
        if let Some(rest) = l.strip_prefix("Index: ") {
            index = strip_exact(rest, strip);
        }
        if let Some(rest) = l.strip_prefix("diff --git ") {
            finish(&mut cur, std::mem::take(&mut modes), &mut patch);
            let (a, b) = split_git_paths(rest)
                .ok_or(PatchError { line: lineno, message: "malformed `diff --git` line".into() })?;
            cur = Some(FilePatch {
                old_path: Some(strip_path(&a, strip)),
                new_path: Some(strip_path(&b, strip)),
                change: FileChange::Modify,
                hunks: vec![],
                patch_line: lineno,
                symlink: None,
                names: Vec::new(),
            });
        } else if let Some(m) = l.strip_prefix("new file mode") {
            if let Some(f) = cur.as_mut() {
                f.change = FileChange::Add;
                f.old_path = None;
                modes.1 = mode(m);
            }
        } else if let Some(m) = l.strip_prefix("deleted file mode") {
            if let Some(f) = cur.as_mut() {
                f.change = FileChange::Delete;
                f.new_path = None;
                modes.0 = mode(m);
            }
        } else if let Some(m) = l.strip_prefix("old mode ").filter(|_| cur.is_some()) {
            modes.0 = mode(m);
        } else if let Some(m) = l.strip_prefix("new mode ").filter(|_| cur.is_some()) {
            modes.1 = mode(m);
        } else if let Some(m) = l.strip_prefix("index ").and_then(|r| r.split_once(' ')).filter(|_| cur.is_some()) {
            // `index 1a2b..3c4d 120000`: the mode of both sides when it did not change.
            modes.0 = modes.0.or(mode(m.1));
            modes.1 = modes.1.or(mode(m.1));
        } else if let Some(p) = l.strip_prefix("rename from ") {
            if let Some(f) = cur.as_mut() {
                f.change = FileChange::Rename;
                f.old_path = Some(p.trim().to_string());
            }
        } else if let Some(p) = l.strip_prefix("rename to ") {
            if let Some(f) = cur.as_mut() {
                f.change = FileChange::Rename;
                f.new_path = Some(p.trim().to_string());
            }
        } else if l.starts_with("--- ") && i + 1 < lines.len() && lines[i + 1].starts_with("+++ ") {
            let old = l[4..].trim();
            let new = lines[i + 1][4..].trim();
            let in_git = cur.as_ref().is_some_and(|f| f.hunks.is_empty() && f.patch_line + 6 >= lineno);
            if !in_git {
                finish(&mut cur, std::mem::take(&mut modes), &mut patch);
                cur = Some(FilePatch {
                    old_path: None,
                    new_path: None,
                    change: FileChange::Modify,
                    hunks: vec![],
                    patch_line: lineno,
                    symlink: None,
                    names: Vec::new(),
                });
            }
            let f = cur.as_mut().expect("set just above");
            f.old_path = (!old.starts_with("/dev/null")).then(|| strip_path(old, strip));
            f.new_path = (!new.starts_with("/dev/null")).then(|| strip_path(new, strip));
            f.change = match (&f.old_path, &f.new_path) {
                (None, Some(_)) => FileChange::Add,
                (Some(_), None) => FileChange::Delete,
                // Only git diffs express renames; two names in a traditional header are
                // candidates for one file (`x.c.orig` and `x.c`).
                (Some(a), Some(b)) if a != b && in_git => FileChange::Rename,
                _ => f.change,
            };
            if !in_git {
                // An `Index:` name counts only when the headers name no file (GNU patch
                // outside POSIX mode).
                let index = index.take();
                f.names = [strip_exact(old, strip), strip_exact(new, strip)].into_iter().flatten().collect();
                f.names.dedup();
                if f.names.is_empty() {
                    f.names.extend(index);
                }
            }
            i += 2;
            continue;
        } else if l.starts_with("@@ ") {
            let Some(f) = cur.as_mut() else {
                return Err(PatchError { line: lineno, message: "hunk header before any file header".into() });
            };
            let (hunk, next) = parse_hunk(&lines, i)?;
            f.hunks.push(hunk);
            i = next;
            continue;
        }
        i += 1;
    }
    finish(&mut cur, modes, &mut patch);
    patch.files.retain(|f| !f.hunks.is_empty() || f.change != FileChange::Modify || f.symlink.is_some());
    if patch.files.is_empty() {
        return Err(PatchError { line: 1, message: "no file changes found: not a unified diff".into() });
    }
    Ok(patch)
}

fn split_git_paths(rest: &str) -> Option<(String, String)> {
    // `a/x b/x`; paths with spaces are rare in kernels: split at " b/".
    let k = rest.find(" b/")?;
    Some((rest[..k].to_string(), rest[k + 1..].to_string()))
}

fn parse_hunk(lines: &[&str], at: usize) -> Result<(Hunk, usize), PatchError> {
    let l = lines[at];
    let err = |m: &str| PatchError { line: at + 1, message: m.to_string() };
    let inner =
        l.strip_prefix("@@ -").and_then(|r| r.split(" @@").next()).ok_or_else(|| err("malformed hunk header"))?;
    let (old, new) = inner.split_once(" +").ok_or_else(|| err("malformed hunk header"))?;
    let (old_start, old_len) = parse_range(old).ok_or_else(|| err("malformed old range in hunk header"))?;
    let (new_start, new_len) = parse_range(new).ok_or_else(|| err("malformed new range in hunk header"))?;
    let mut h = Hunk { old_start, old_len, new_start, new_len, lines: vec![], patch_line: at + 1 };
    let (mut seen_old, mut seen_new) = (0, 0);
    let mut i = at + 1;
    while seen_old < old_len || seen_new < new_len {
        let Some(&l) = lines.get(i) else {
            return Err(PatchError {
                line: i,
                message: format!("hunk ends early: {seen_old}/{old_len} old and {seen_new}/{new_len} new lines"),
            });
        };
        let (kind, text) = match l.as_bytes().first() {
            Some(b' ') => (LineKind::Context, &l[1..]),
            None => (LineKind::Context, ""),
            Some(b'-') => (LineKind::Remove, &l[1..]),
            Some(b'+') => (LineKind::Add, &l[1..]),
            Some(b'\\') => {
                i += 1;
                continue;
            }
            _ => {
                return Err(PatchError {
                    line: i + 1,
                    message: format!(
                        "unexpected line in hunk (expected ' ', '-' or '+'): {:?}",
                        l.chars().take(40).collect::<String>()
                    ),
                })
            }
        };
        match kind {
            LineKind::Context => {
                seen_old += 1;
                seen_new += 1;
            }
            LineKind::Remove => seen_old += 1,
            LineKind::Add => seen_new += 1,
        }
        if seen_old > old_len || seen_new > new_len {
            return Err(PatchError { line: i + 1, message: "hunk has more lines than its header says".into() });
        }
        h.lines.push((kind, text.to_string()));
        i += 1;
    }
    while lines.get(i).is_some_and(|l| l.starts_with('\\')) {
        i += 1;
    }
    Ok((h, i))
}

/// Applies one file's hunks to its original text. Without `fuzz`, every hunk must match
/// exactly where its header says (after the shift of earlier hunks).
pub fn apply(original: &str, fp: &FilePatch, fuzz: Option<Fuzz>) -> Result<(String, Vec<ApplyNote>), ApplyError> {
    let ends_nl = original.ends_with('\n') || original.is_empty();
    let mut lines: Vec<String> = original.lines().map(|s| s.to_string()).collect();
    let mut notes = Vec::new();
    let mut shift: isize = 0;
    for (k, h) in fp.hunks.iter().enumerate() {
        let old: Vec<&str> = h.lines.iter().filter(|(t, _)| *t != LineKind::Add).map(|(_, s)| s.as_str()).collect();
        let new: Vec<&str> = h.lines.iter().filter(|(t, _)| *t != LineKind::Remove).map(|(_, s)| s.as_str()).collect();
        let want = (h.old_start as isize - 1 + shift).max(0) as usize;
        let want = if h.old_len == 0 { (h.old_start as isize + shift).max(0) as usize } else { want };
        let fz = fuzz.unwrap_or_default();
        let found = find_hunk(&lines, &old, want, fz);
        let Some((at, trim_front, trim_back)) = found else {
            return Err(ApplyError {
                file: fp.path().to_string(),
                hunk: k + 1,
                line: want + 1,
                patch_line: h.patch_line,
                message: mismatch(&lines, &old, want),
            });
        };
        let fuzz_used = trim_front.max(trim_back);
        // The hunk's own first line sits `trim_front` lines before the part that matched.
        let moved = at as isize - trim_front as isize - want as isize;
        if moved != 0 || fuzz_used > 0 {
            notes.push(ApplyNote { file: fp.path().to_string(), hunk: k + 1, offset: moved, fuzz: fuzz_used });
        }
        let old_used = old.len() - trim_front - trim_back;
        let new_used: Vec<String> = new[trim_front.min(new.len())..new.len() - trim_back.min(new.len())]
            .iter()
            .map(|s| s.to_string())
            .collect();
        lines.splice(at..at + old_used, new_used.iter().cloned());
        shift += new_used.len() as isize - old_used as isize + moved;
    }
    let mut out = lines.join("\n");
    if ends_nl && !lines.is_empty() {
        out.push('\n');
    }
    Ok((out, notes))
}

fn matches_at(lines: &[String], old: &[&str], at: usize) -> bool {
    at + old.len() <= lines.len() && old.iter().zip(&lines[at..]).all(|(a, b)| *a == b.as_str())
}

/// Where the hunk's old lines are: exact position first, then offsets, then fuzz.
fn find_hunk(lines: &[String], old: &[&str], want: usize, fz: Fuzz) -> Option<(usize, usize, usize)> {
    for fuzz in 0..=fz.max_fuzz.min(old.len() / 2) {
        let core = &old[fuzz..old.len() - fuzz];
        let base = want + fuzz;
        if matches_at(lines, core, base) {
            return Some((base, fuzz, fuzz));
        }
        // Past the file's length in both directions nothing can match.
        for d in 1..=fz.max_offset.min(lines.len().max(base) + 1) {
            if base >= d && matches_at(lines, core, base - d) {
                return Some((base - d, fuzz, fuzz));
            }
            if matches_at(lines, core, base + d) {
                return Some((base + d, fuzz, fuzz));
            }
        }
    }
    None
}

fn mismatch(lines: &[String], old: &[&str], at: usize) -> String {
    if at + old.len() > lines.len() {
        return format!("the file has {} lines; the hunk needs {} from line {}", lines.len(), old.len(), at + 1);
    }
    for (k, (a, b)) in old.iter().zip(&lines[at..]).enumerate() {
        if *a != b.as_str() {
            return format!(
                "line {} is {:?}, the patch expects {:?}",
                at + k + 1,
                b.chars().take(60).collect::<String>(),
                a.chars().take(60).collect::<String>()
            );
        }
    }
    "no match".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIFF: &str = "From 1 Mon Sep 17 00:00:00 2001\nSubject: [PATCH] fix CVE-2024-1234 in foo\n\n---\n\
diff --git a/kernel/a.c b/kernel/a.c\nindex 1..2 100644\n--- a/kernel/a.c\n+++ b/kernel/a.c\n@@ -1,3 +1,3 @@\n int a(void)\n-{ return 1; }\n+{ return 2; }\n int b;\n\
diff --git a/kernel/new.c b/kernel/new.c\nnew file mode 100644\n--- /dev/null\n+++ b/kernel/new.c\n@@ -0,0 +1 @@\n+int n;\n\
diff --git a/old.h b/renamed.h\nsimilarity index 100%\nrename from old.h\nrename to renamed.h\n";

    #[test]
    fn parses_git_format_patch_with_new_and_renamed_files() {
        let p = parse(DIFF, 1).unwrap();
        assert_eq!(p.subjects, vec!["[PATCH] fix CVE-2024-1234 in foo"]);
        assert_eq!(p.cves, vec!["CVE-2024-1234"]);
        let kinds: Vec<(FileChange, &str)> = p.files.iter().map(|f| (f.change, f.path())).collect();
        assert_eq!(
            kinds,
            vec![
                (FileChange::Modify, "kernel/a.c"),
                (FileChange::Add, "kernel/new.c"),
                (FileChange::Rename, "renamed.h")
            ]
        );
        let (out, notes) = apply("int a(void)\n{ return 1; }\nint b;\n", &p.files[0], None).unwrap();
        assert_eq!(out, "int a(void)\n{ return 2; }\nint b;\n");
        assert!(notes.is_empty());
        assert_eq!(apply("", &p.files[1], None).unwrap().0, "int n;\n");
    }

    #[test]
    fn a_hunk_that_does_not_match_is_refused_with_its_place() {
        let p = parse(DIFF, 1).unwrap();
        let e = apply("int a(void)\n{ return 3; }\nint b;\n", &p.files[0], None).unwrap_err();
        assert_eq!((e.file.as_str(), e.hunk, e.line, e.patch_line), ("kernel/a.c", 1, 1, 9));
        assert!(e.message.contains("line 2"), "{}", e.message);
    }

    #[test]
    fn offset_and_fuzz_are_allowed_only_when_asked_and_reported() {
        let p = parse(DIFF, 1).unwrap();
        let shifted = "// new first line\nint a(void)\n{ return 1; }\nint b;\n";
        assert!(apply(shifted, &p.files[0], None).is_err());
        let (out, notes) = apply(shifted, &p.files[0], Some(Fuzz { max_offset: 5, max_fuzz: 0 })).unwrap();
        assert!(out.contains("return 2"));
        assert_eq!(notes, vec![ApplyNote { file: "kernel/a.c".into(), hunk: 1, offset: 1, fuzz: 0 }]);
        let fuzzy = "int a(int x)\n{ return 1; }\nint b;\n";
        let (out, notes) = apply(fuzzy, &p.files[0], Some(Fuzz { max_offset: 0, max_fuzz: 1 })).unwrap();
        assert_eq!(out, "int a(int x)\n{ return 2; }\nint b;\n");
        assert_eq!(notes[0].fuzz, 1);
    }

    /// As patch(1), an unbounded offset finds a hunk anywhere in the file (Debian's
    /// firmware_class patch lands 1,541 lines from where its hunk says).
    #[test]
    fn an_unbounded_offset_searches_the_whole_file() {
        let p = parse(DIFF, 1).unwrap();
        let far = format!("{}int a(void)\n{{ return 1; }}\nint b;\n", "// filler\n".repeat(5000));
        let any = Fuzz { max_offset: usize::MAX, max_fuzz: 2 };
        let (out, notes) = apply(&far, &p.files[0], Some(any)).unwrap();
        assert!(out.ends_with("int a(void)\n{ return 2; }\nint b;\n"));
        assert_eq!(notes[0].offset, 5000);
        assert!(apply("int c;\n", &p.files[0], Some(any)).is_err());
    }

    /// Git writes a link as a one-line file (its target); mode 120000 says it is a link.
    const LINKS: &str = "\
diff --git a/include/dt/new-link b/include/dt/new-link\nnew file mode 120000\nindex 0000000..3a8b2c1\n--- /dev/null\n+++ b/include/dt/new-link\n@@ -0,0 +1 @@\n+../../arch/x86/boot/dts\n\\ No newline at end of file\n\
diff --git a/scripts/old-link b/scripts/old-link\ndeleted file mode 120000\nindex 3a8b2c1..0000000\n--- a/scripts/old-link\n+++ /dev/null\n@@ -1 +0,0 @@\n-../include\n\\ No newline at end of file\n\
diff --git a/lib/moved b/lib/moved\nindex 1111111..2222222 120000\n--- a/lib/moved\n+++ b/lib/moved\n@@ -1 +1 @@\n-a.h\n\\ No newline at end of file\n+b.h\n\\ No newline at end of file\n\
diff --git a/kernel/x.c b/kernel/x.c\nold mode 100644\nnew mode 120000\n--- a/kernel/x.c\n+++ b/kernel/x.c\n@@ -1 +1 @@\n-int x;\n+y.c\n\\ No newline at end of file\n\
diff --git a/kernel/a.c b/kernel/a.c\nindex 1..2 100644\n--- a/kernel/a.c\n+++ b/kernel/a.c\n@@ -1 +1 @@\n-int a;\n+int b;\n";

    #[test]
    fn links_in_git_diffs_are_link_changes_not_text() {
        let p = parse(LINKS, 1).unwrap();
        let got: Vec<(&str, FileChange, Option<String>)> =
            p.files.iter().map(|f| (f.path(), f.change, f.symlink.as_ref().map(Symlink::describe))).collect();
        assert_eq!(
            got,
            vec![
                (
                    "include/dt/new-link",
                    FileChange::Add,
                    Some("creates a symbolic link to ../../arch/x86/boot/dts".into())
                ),
                ("scripts/old-link", FileChange::Delete, Some("removes a symbolic link to ../include".into())),
                ("lib/moved", FileChange::Modify, Some("retargets a symbolic link from a.h to b.h".into())),
                ("kernel/x.c", FileChange::Modify, Some("creates a symbolic link to y.c".into())),
                ("kernel/a.c", FileChange::Modify, None),
            ]
        );
        let x = p.files[3].symlink.as_ref().unwrap();
        assert_eq!((x.before, x.after, x.old_target.as_deref()), (false, true, None), "the file's text is no target");
        // No text is left to apply: a link's target never becomes a file's content.
        for f in &p.files[..4] {
            assert!(f.hunks.is_empty(), "{}", f.path());
            assert_eq!(apply("", f, None).unwrap().0, "", "{}", f.path());
        }
        assert_eq!(apply("int a;\n", &p.files[4], None).unwrap().0, "int b;\n", "a regular file is still text");
    }

    #[test]
    fn malformed_diffs_are_errors_with_a_line() {
        assert_eq!(parse("hello\nworld\n", 1).unwrap_err().line, 1);
        let e = parse("--- a/x.c\n+++ b/x.c\n@@ -1,2 +1,2 @@\n a\n", 1).unwrap_err();
        assert!(e.message.contains("ends early"), "{e}");
        let e = parse("--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n*a\n", 1).unwrap_err();
        assert_eq!(e.line, 4);
        assert!(parse("--- a/x.c\n+++ b/x.c\n@@ -x +1 @@\n", 1).is_err());
    }

    #[test]
    fn parse_and_apply_never_panic_on_garbage() {
        let inputs = [
            "@@ -1 +1 @@",
            "--- a\n+++ b\n@@ -0,0 +0,0 @@\n",
            "--- a\n+++ b\n@@ -99999999999999999999 +1 @@\n",
            "diff --git x\n",
            "--- \n+++ \n@@ -1,1 +1,1 @@\n-\n+\n",
        ];
        for i in inputs {
            if let Ok(p) = parse(i, 1) {
                for f in &p.files {
                    let _ = apply("a\nb\n", f, Some(Fuzz { max_offset: 3, max_fuzz: 2 }));
                }
            }
        }
    }
}
