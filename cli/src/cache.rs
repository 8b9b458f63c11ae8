//! The persistent per-file facts cache (see docs/cache-format.md).
//!
//! Two files per (tree, config): `manifest.bin` — one entry per source file with its
//! path, size, mtime, content hash, counts and where its facts are — and `facts.bin`,
//! the concatenated postcard-encoded `FileFacts`. A file whose size and mtime match is
//! trusted without being read (as git's index does); otherwise it is read and hashed,
//! and re-extracted only if the hash differs. Both files are written to temporaries and
//! renamed into place, so an interrupted run leaves the previous cache intact.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use dynwalk_analyzer::facts::{Counts, FileFacts, FACTS_VERSION};
use serde::{Deserialize, Serialize};

pub const CACHE_MAGIC: &[u8; 8] = b"DWCACHE\0";
/// `text.bin`: magic (with its version), then the postcard-encoded per-file entries.
pub const TEXT_MAGIC: &[u8; 8] = b"DWTEXT2\0";
/// Version of the manifest layout (the facts have their own, `FACTS_VERSION`).
pub const MANIFEST_VERSION: u32 = 1;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Entry {
    pub path: String,
    pub size: u64,
    pub mtime_ns: u128,
    pub hash: u64,
    pub offset: u64,
    pub len: u64,
    pub counts: Counts,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Summary {
    pub edges: u64,
    pub macro_edges: u64,
    pub indirect_edges: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub manifest_version: u32,
    pub facts_version: u32,
    pub tree: String,
    pub config_fingerprint: u64,
    pub entries: Vec<Entry>,
    /// File name of the facts blob this manifest addresses.
    pub blob: String,
}

pub struct Cache {
    pub dir: PathBuf,
}

#[derive(Debug)]
pub enum CacheError {
    Io { path: PathBuf, error: std::io::Error },
    Encode(String),
}

impl std::fmt::Display for CacheError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CacheError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            CacheError::Encode(e) => write!(f, "cannot encode cache: {e}"),
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CacheError + '_ {
    move |error| CacheError::Io { path: path.to_path_buf(), error }
}

impl Cache {
    /// The cache folder for a tree and config under `root`.
    pub fn for_tree(root: &Path, tree: &Path, config_fingerprint: u64) -> Cache {
        let key =
            xxhash_rust::xxh3::xxh3_64(format!("{}\0{config_fingerprint}\0{FACTS_VERSION}", tree.display()).as_bytes());
        let name = tree.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "root".into());
        Cache { dir: root.join(format!("{name}-{key:016x}")) }
    }

    /// The previous manifest, if there is a readable one of this version. A damaged or
    /// old cache is not an error: it is ignored and rebuilt.
    pub fn load_manifest(&self) -> Option<Manifest> {
        let bytes = fs::read(self.dir.join("manifest.bin")).ok()?;
        let body = bytes.strip_prefix(CACHE_MAGIC.as_slice())?;
        let m: Manifest = postcard::from_bytes(body).ok()?;
        (m.manifest_version == MANIFEST_VERSION && m.facts_version == FACTS_VERSION).then_some(m)
    }

    /// The graph summary recorded for this manifest's blob, if any.
    pub fn load_summary(&self, m: &Manifest) -> Option<Summary> {
        let bytes = fs::read(self.dir.join("summary.bin")).ok()?;
        let (blob, s): (String, Summary) = postcard::from_bytes(&bytes).ok()?;
        (blob == m.blob).then_some(s)
    }

    pub fn store_summary(&self, m: &Manifest, s: &Summary) -> Result<(), CacheError> {
        let bytes =
            postcard::to_allocvec(&(m.blob.clone(), s.clone())).map_err(|e| CacheError::Encode(e.to_string()))?;
        let tmp = self.dir.join(format!("summary.{}.tmp", std::process::id()));
        fs::write(&tmp, bytes).map_err(io(&tmp))?;
        let dst = self.dir.join("summary.bin");
        fs::rename(&tmp, &dst).map_err(io(&dst))
    }

    /// The text index (per-file identifier filters, see `scope::TextEntry`), if there is a
    /// readable one of this version; anything else reads as none.
    pub fn load_text<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        let bytes = fs::read(self.dir.join("text.bin")).ok()?;
        let body = bytes.strip_prefix(TEXT_MAGIC.as_slice())?;
        postcard::from_bytes(body).ok()
    }

    /// Replaces the text index (written to a temporary, then renamed).
    pub fn store_text<T: Serialize>(&self, index: &T) -> Result<(), CacheError> {
        fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let mut bytes = TEXT_MAGIC.to_vec();
        bytes.extend(postcard::to_allocvec(index).map_err(|e| CacheError::Encode(e.to_string()))?);
        let tmp = self.dir.join(format!("text.{}.tmp", std::process::id()));
        fs::write(&tmp, bytes).map_err(io(&tmp))?;
        let dst = self.dir.join("text.bin");
        fs::rename(&tmp, &dst).map_err(io(&dst))
    }

    /// Reads the facts blob (all files' facts, addressed by manifest entries).
    pub fn load_blob(&self, m: &Manifest) -> Option<Vec<u8>> {
        fs::read(self.dir.join(&m.blob)).ok()
    }

    pub fn decode(blob: &[u8], e: &Entry) -> Option<FileFacts> {
        let s = blob.get(e.offset as usize..(e.offset + e.len) as usize)?;
        postcard::from_bytes(s).ok()
    }

    pub fn encode(f: &FileFacts) -> Result<Vec<u8>, CacheError> {
        postcard::to_allocvec(f).map_err(|e| CacheError::Encode(e.to_string()))
    }

    /// Writes a new cache: `facts[i]` are the facts of `entries[i]`, encoded one at a
    /// time as they are written (the whole encoded blob is never in memory).
    pub fn store(&self, mut manifest: Manifest, facts: &[&FileFacts]) -> Result<(), CacheError> {
        fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        // Temporary names are per process: two runs on one cache never share a file.
        let facts_tmp = self.dir.join(format!("facts.{}.tmp", std::process::id()));
        let mut out = std::io::BufWriter::new(fs::File::create(&facts_tmp).map_err(io(&facts_tmp))?);
        let mut off = 0u64;
        for (e, f) in manifest.entries.iter_mut().zip(facts) {
            let b = Self::encode(f)?;
            out.write_all(&b).map_err(io(&facts_tmp))?;
            e.offset = off;
            e.len = b.len() as u64;
            off += b.len() as u64;
        }
        out.flush().map_err(io(&facts_tmp))?;
        drop(out);
        let old = self.load_manifest().map(|m| m.blob);
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for e in &manifest.entries {
            h.update(&e.hash.to_le_bytes());
        }
        manifest.blob = format!("facts-{:016x}-{}.bin", h.digest(), std::process::id());
        let mut bytes = CACHE_MAGIC.to_vec();
        bytes.extend(postcard::to_allocvec(&manifest).map_err(|e| CacheError::Encode(e.to_string()))?);
        let man_tmp = self.dir.join(format!("manifest.{}.tmp", std::process::id()));
        fs::write(&man_tmp, bytes).map_err(io(&man_tmp))?;
        // The blob first, under a new name: the old manifest keeps pointing at the old
        // blob until the new manifest replaces it.
        let facts = self.dir.join(&manifest.blob);
        fs::rename(&facts_tmp, &facts).map_err(io(&facts))?;
        let man = self.dir.join("manifest.bin");
        fs::rename(&man_tmp, &man).map_err(io(&man))?;
        if let Some(old) = old.filter(|o| *o != manifest.blob) {
            let _ = fs::remove_file(self.dir.join(old));
        }
        Ok(())
    }
}
