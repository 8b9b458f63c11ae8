//! Which file a traditional diff section patches, held against GNU patch(1) itself on
//! generated cases: headers naming backups (`x.c.orig`, `x.c~`, `x.c.can-2004-0178`),
//! other folders and new names, with every subset of those files present in the tree.
//! `patch --dry-run` says `checking file N` for the file it chose, or that it found none.

use std::path::Path;
use std::process::Command;

use dynwalk_analyzer::patch::parse;

/// The header names a case uses (after the `a/`, `linux-2.4.20/` prefix -p1 strips).
const NAMES: &[&str] = &["lib/x.c", "lib/x.c.orig", "lib/x.c~", "lib/x.c.can-2004-0178", "lib/sub/x.c", "lib/y.c"];

const HUNK: &str = "@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n";

/// GNU patch's choice: the file it checks, or None.
fn gnu_patch(dir: &Path, diff: &str) -> Option<String> {
    std::fs::write(dir.join("case.diff"), diff).unwrap();
    let o = Command::new("patch")
        .args(["-p1", "--dry-run", "--batch", "-i", "case.diff"])
        .current_dir(dir)
        .output()
        .expect("GNU patch(1) runs (scripts/test.sh installs it)");
    let out = String::from_utf8_lossy(&o.stdout);
    out.lines().find_map(|l| l.strip_prefix("checking file ").map(|s| s.trim().to_string()))
}

#[test]
fn the_file_a_traditional_diff_patches_is_the_one_patch1_chooses() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (mut cases, mut chosen) = (0, 0);
    // Every subset of three of the names present, for every ordered pair of header names.
    for present in 0u32..(1 << 3) {
        let files: Vec<&str> =
            [0, 1, 4].iter().enumerate().filter(|(b, _)| present & (1 << b) != 0).map(|(_, &i)| NAMES[i]).collect();
        let _ = std::fs::remove_dir_all(dir.join("lib"));
        std::fs::create_dir_all(dir.join("lib/sub")).unwrap();
        for f in &files {
            std::fs::write(dir.join(f), "a\nb\nc\n").unwrap();
        }
        for old in NAMES {
            for new in NAMES {
                for (pa, pb) in [("a", "b"), ("linux-2.4.20", "linux")] {
                    let diff = format!("Index: {pb}/lib/y.c\n--- {pa}/{old}\n+++ {pb}/{new}\n{HUNK}");
                    let want = gnu_patch(dir, &diff);
                    let mut p = parse(&diff, 1).unwrap();
                    let fp = &mut p.files[0];
                    let resolved = fp.resolve_names(&|n: &str| dir.join(n).is_file());
                    let ours = resolved.then(|| fp.path().to_string());
                    assert_eq!(ours, want, "present {files:?}, --- {pa}/{old} +++ {pb}/{new}");
                    cases += 1;
                    chosen += want.is_some() as usize;
                }
            }
        }
    }
    assert!(cases == 8 * NAMES.len() * NAMES.len() * 2 && chosen > cases / 3, "{chosen} of {cases} found a file");
}

#[test]
fn backup_suffixed_headers_of_the_24_era_patch_the_real_file() {
    // As real 2.4-era security patches write them.
    for (old, new) in [
        ("linux-2.4.20/lib/string.c.orig", "linux/lib/string.c"),
        ("linux-2.4.20/kernel/kmod.c~", "linux-2.4.20/kernel/kmod.c"),
        ("linux/drivers/sound/sb_audio.c.can-2004-0178", "linux/drivers/sound/sb_audio.c"),
    ] {
        let diff = format!("--- {old}\t2004-01-01\n+++ {new}\t2004-01-02\n{HUNK}");
        let mut p = parse(&diff, 1).unwrap();
        let fp = &mut p.files[0];
        let real = new.split_once('/').unwrap().1.to_string();
        assert!(fp.resolve_names(&|n: &str| n == real));
        assert_eq!((fp.old_path.as_deref(), fp.new_path.as_deref()), (Some(real.as_str()), Some(real.as_str())));
        assert_eq!(fp.change, dynwalk_analyzer::patch::FileChange::Modify, "two names are no rename");
    }
}
