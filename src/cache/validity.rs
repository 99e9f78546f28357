//! What makes a compiled plan file valid for the source as it is now: the
//! records of the files it was compiled from and the check of a file's key
//! against the program and those files.
//!
//! A cache file records who wrote it (crate version, [`super::FORMAT_VERSION`] and
//! the linker's GNU build ID of the executable, a hash of its contents; the
//! stat stamp of `/proc/self/exe` when there is no build ID) and what it was
//! compiled from (the source's stat stamp and SHA-256 of its bytes, and the
//! same for every file the plan depends on: `/etc/services`). It is used
//! only when all of them still match:
//! - the stat stamp (dev, ino, size, mtime ns, ctime ns) is compared first.
//!   When it matches and the source's ctime was at least [`crate::owned::stamp::SETTLE`] older
//!   than the moment the source was read, nothing else is read: any later
//!   write to the file must give it a later ctime (ctime cannot be set by
//!   user space), so an equal stamp proves an equal file.
//! - otherwise (stamp differs, or the file was modified so shortly before it
//!   was read that a later same-size write might land in the same timestamp
//!   granule) the source is read and hashed, and the cache is used only if
//!   the hash matches (the cache is then re-stamped so the next load is fast).
//!

use super::format::{consistent, Header, Reader};
use crate::config;
use crate::exit::Failure;
use crate::owned::stamp::{Program, Stamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Files the compiled plan depends on besides the source itself. Service
/// names in `hostname host:service` are resolved at compile time from the
/// services database.
pub(super) const DEPENDENCIES: &[&str] = &[crate::sys::SERVICES_DB];
/// Every file a plan depends on: [`DEPENDENCIES`], then the aliases file
/// it was compiled with (`aliases FILE`), whose edits take effect at once.
pub(super) fn dependencies(plan: &crate::plan::Plan) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = DEPENDENCIES.iter().map(PathBuf::from).collect();
    if let Some(a) = &plan.aliases {
        v.push(PathBuf::from(&a.resolved));
    }
    v
}

/// The compiler refuses larger files unread (E011); read one byte more.
pub(super) const MAX_SOURCE_BYTES: u64 = config::MAX_FILE_BYTES as u64;

/// A file the plan was compiled from, as it was when read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct FileRecord {
    pub(super) path: PathBuf,
    /// `None`: the file did not exist (its appearance invalidates the cache).
    pub(super) stamp: Option<Stamp>,
    pub(super) sha256: [u8; 32],
    /// The stamp alone proves the content (see [`Stamp::settled_before`]).
    pub(super) settled: bool,
}

/// The source as opened for one load.
pub(super) struct Source {
    pub(super) path: PathBuf,
    /// From `stat`; once the file is read, from `fstat` of the descriptor
    /// read (the bytes are then at least as new as the stamp).
    pub(super) stamp: Stamp,
    /// Clock reading taken before the stat and the read.
    pub(super) read_start: SystemTime,
    pub(super) bytes: Option<Vec<u8>>,
}

impl Source {
    /// Only `stat` the source: a valid cache needs nothing more.
    pub(super) fn open(path: &Path) -> Result<Source, Failure> {
        let read_start = SystemTime::now();
        let m = fs::metadata(path)
            .map_err(|e| Failure::config(format!("open: {}: {e}", path.display())))?;
        Ok(Source {
            path: std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
            stamp: Stamp::of(&m),
            read_start,
            bytes: None,
        })
    }

    pub(super) fn bytes(&mut self) -> Result<&[u8], Failure> {
        if self.bytes.is_none() {
            let fail = |e: std::io::Error| {
                Failure::config(format!("cannot read {}: {e}", self.path.display()))
            };
            let file = File::open(&self.path).map_err(fail)?;
            self.stamp = Stamp::of(&file.metadata().map_err(fail)?);
            // At most one byte beyond what the compiler accepts, so that a
            // huge file is refused without being read whole.
            let limit = MAX_SOURCE_BYTES + 1;
            let mut buf = Vec::with_capacity(self.stamp.size.min(limit) as usize);
            file.take(limit).read_to_end(&mut buf).map_err(fail)?;
            self.bytes = Some(buf);
        }
        Ok(self.bytes.as_deref().unwrap_or_default())
    }

    pub(super) fn record(&mut self, settle: Duration) -> Result<FileRecord, Failure> {
        let sha256 = Sha256::digest(self.bytes()?).into();
        Ok(FileRecord {
            path: self.path.clone(),
            stamp: Some(self.stamp),
            sha256,
            settled: self.stamp.settled_before(self.read_start, settle),
        })
    }
}

pub(super) fn dependency_record(path: &Path, settle: Duration) -> FileRecord {
    let read_start = SystemTime::now();
    match File::open(path) {
        Ok(mut f) => {
            let stamp = f.metadata().ok().map(|m| Stamp::of(&m));
            let mut buf = Vec::new();
            let ok = f.read_to_end(&mut buf).is_ok();
            FileRecord {
                path: path.to_path_buf(),
                settled: ok && stamp.is_some_and(|s| s.settled_before(read_start, settle)),
                stamp: if ok { stamp } else { None },
                sha256: Sha256::digest(&buf).into(),
            }
        }
        Err(_) => FileRecord {
            path: path.to_path_buf(),
            stamp: None,
            sha256: Sha256::digest(b"").into(),
            settled: true,
        },
    }
}

/// How a recorded file compares with the file now.
pub(super) enum Match {
    /// Proven equal by its stamp alone.
    Settled,
    /// Equal content, but the record should be re-stamped.
    Rehashed,
    Changed,
}

pub(super) fn compare_dependency(rec: &FileRecord, settle: Duration) -> Match {
    let now = fs::metadata(&rec.path).ok().map(|m| Stamp::of(&m));
    match (rec.stamp, now) {
        (None, None) => Match::Settled,
        (Some(a), Some(b)) if a == b && rec.settled => Match::Settled,
        (Some(_), Some(_)) => {
            let cur = dependency_record(&rec.path, settle);
            if cur.stamp.is_some() && cur.sha256 == rec.sha256 {
                Match::Rehashed
            } else {
                Match::Changed
            }
        }
        _ => Match::Changed,
    }
}

pub(super) enum Invalid {
    /// Out of date: rebuild quietly.
    Stale(String),
    /// Damaged or not ours: rebuild, say so under -v.
    Broken(String),
    /// The source itself cannot be read.
    Fatal(Failure),
}

/// Check a cache file's key against the program and the sources now.
/// Returns the header and whether the file should be re-stamped.
pub(super) fn validate(
    reader: &mut Reader,
    program: &Program,
    source: &mut Source,
    settle: Duration,
) -> Result<(Header, bool), Invalid> {
    let header = reader.header().map_err(Invalid::Broken)?;
    if header.program != *program {
        return Err(Invalid::Stale("written by another build of esmtp".into()));
    }
    if header.source.path != source.path {
        return Err(Invalid::Broken("written for another file".into()));
    }
    let mut restamp = false;
    let same_stamp = header.source.stamp == Some(source.stamp);
    if !(same_stamp && header.source.settled) {
        let sha: [u8; 32] = Sha256::digest(source.bytes().map_err(Invalid::Fatal)?).into();
        if sha != header.source.sha256 {
            return Err(Invalid::Stale("the configuration changed".into()));
        }
        // Same content: re-stamp when the stamp moved on or has settled.
        restamp = header.source.stamp != Some(source.stamp)
            || source.stamp.settled_before(source.read_start, settle);
    }
    let mut wanted: Vec<&str> = DEPENDENCIES.to_vec();
    if let Some(a) = &header.globals.aliases {
        wanted.push(&a.resolved);
    }
    if header.deps.len() != wanted.len()
        || header
            .deps
            .iter()
            .zip(&wanted)
            .any(|(d, w)| d.path != Path::new(w))
    {
        return Err(Invalid::Stale("written with other dependencies".into()));
    }
    for d in &header.deps {
        match compare_dependency(d, settle) {
            Match::Settled => {}
            Match::Rehashed => restamp = true,
            Match::Changed => {
                return Err(Invalid::Stale(format!("{} changed", d.path.display())));
            }
        }
    }
    consistent(&header, reader.len).map_err(Invalid::Broken)?;
    Ok((header, restamp))
}
