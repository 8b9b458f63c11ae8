//! Human output: rustc-style code frames, and a progress bar on terminals.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Arc;

use crate::source::TreeSource;

use indicatif::{ProgressBar, ProgressStyle};

pub fn progress(enabled: bool, len: u64) -> ProgressBar {
    if !enabled || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} indexing [{bar:40}] {pos}/{len} files ({per_sec}, eta {eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Reads source lines for code frames, one file at a time.
pub struct Frames {
    source: Arc<TreeSource>,
    files: HashMap<String, Vec<String>>,
    /// Patched texts, by path: frames of positions in the patched code read these.
    patched: HashMap<String, Vec<String>>,
}

impl Frames {
    pub fn new(source: &Arc<TreeSource>) -> Frames {
        Frames { source: source.clone(), files: HashMap::new(), patched: HashMap::new() }
    }

    /// Frames that can also show positions of the patched texts (`frame_patched`).
    pub fn with_patched<'a>(source: &Arc<TreeSource>, texts: impl Iterator<Item = (&'a str, &'a str)>) -> Frames {
        let patched = texts.map(|(p, t)| (p.to_string(), t.lines().map(str::to_string).collect())).collect();
        Frames { source: source.clone(), files: HashMap::new(), patched }
    }

    /// A frame of a position in the patched text of `file` (the tree's text when the
    /// patch does not touch it).
    pub fn frame_patched(&mut self, file: &str, line: u32, col: u32, label: &str) -> String {
        match self.patched.get(file) {
            Some(lines) => {
                let raw = lines.get(line.saturating_sub(1) as usize).cloned();
                frame_of(file, line, col, label, raw.as_deref())
            }
            None => self.frame(file, line, col, label),
        }
    }

    fn line(&mut self, file: &str, line: u32) -> Option<&str> {
        let source = &self.source;
        // A code frame never reads through a link (a patch may change or add one).
        let lines = self.files.entry(file.to_string()).or_insert_with(|| {
            if source.is_symlink(file) {
                return Vec::new();
            }
            source
                .read(file)
                .map(|b| String::from_utf8_lossy(&b).lines().map(|l| l.to_string()).collect())
                .unwrap_or_default()
        });
        lines.get(line.checked_sub(1)? as usize).map(|s| s.as_str())
    }

    /// A frame: `--> file:line:col`, the line, and a caret under the column.
    pub fn frame(&mut self, file: &str, line: u32, col: u32, label: &str) -> String {
        let raw = self.line(file, line).map(str::to_string);
        frame_of(file, line, col, label, raw.as_deref())
    }
}

fn frame_of(file: &str, line: u32, col: u32, label: &str, raw: Option<&str>) -> String {
    let mut out = format!("  --> {file}:{line}:{col}\n");
    let width = line.to_string().len();
    if let Some(raw) = raw {
        let mut cut = (col.saturating_sub(1) as usize).min(raw.len());
        while !raw.is_char_boundary(cut) {
            cut -= 1;
        }
        let caret = raw[..cut].replace('\t', "    ").chars().count();
        let text = raw.replace('\t', "    ");
        out.push_str(&format!("{:width$} |\n{line} | {text}\n{:width$} | {}^ {label}\n", "", "", " ".repeat(caret)));
    }
    out
}
