//! Compiled-plan cache files as tests look at and damage them; also
//! loaded by tests/cache_process.rs.
#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The one compiled-plan cache file (`*.plan`) in `dir`.
pub fn only_plan_file(dir: &Path) -> PathBuf {
    let files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "plan"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

/// Replace the file's content in place (same inode, same size), keeping
/// its mtime: what a careless editor or `cp` over the file does within one
/// second.
pub fn rewrite_keeping_mtime(path: &Path, text: &str) {
    use std::os::unix::fs::MetadataExt;
    let before = fs::metadata(path).unwrap();
    assert_eq!(before.size(), text.len() as u64);
    let mtime = before.modified().unwrap();
    let mut f = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f.set_modified(mtime).unwrap();
    drop(f);
    let after = fs::metadata(path).unwrap();
    assert_eq!((after.ino(), after.size()), (before.ino(), before.size()));
    assert_eq!(after.modified().unwrap(), mtime);
}
