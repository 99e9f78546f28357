//! The spool on disk: its directories, the entries in them and the rules
//! for reading and changing them.
//!
//! ```text
//! ROOT/              0700, the user's own (checked on every open)
//!   msg/ID           one complete, deliverable entry (0600):
//!                      "ESMTPQ1 " + message size (20 digits) + "\n"
//!                      meta: one line of JSON (envelope, identity, options)
//!                      the message, CRLF, exactly as the transport takes it
//!                    flock(2) on it = "someone works on this entry"
//!   msg/ID.state     JSON: attempts, last error, next attempt (absent = new)
//!   tmp/ID.pPID      an entry being written by process PID
//!   failed/ID        given up (lifetime over or refused); ID.note says why
//!   damaged/ID       an entry that could not be read, moved aside by a
//!                    flush and kept; ID.note says why
//!   flush.lock       held by the background flusher
//!   flush.again      a submission asks the background flusher for a rescan
//! ```
//!
//! An entry is written in `tmp/`, fsynced, renamed into `msg/` (atomic) and
//! `msg/` fsynced. So `msg/` only ever holds complete entries (the size in
//! the first line is checked against the file on every read); a crash
//! leaves at most a file in `tmp/`, which [`QueueDir::cleanup`] removes once
//! its writer is dead. Removal after delivery is one unlink.
//!
//! The queue belongs to its user alone ([`crate::owned`]): the
//! root and every subdirectory must be the user's own directories, not
//! links, not writable by others, or the spool is refused. Every file is
//! reached relative to its directory's descriptor without following a
//! link, and used only if it is the user's own regular file with one link.
//! Anything else is reported ([`Problem`]) and left alone: never followed,
//! never sent, never deleted. An entry of the user's that cannot be read is
//! never invisible either: listed, and moved to `damaged/` by a flush.

mod control;
mod entry;
mod format;
mod problems;
mod removal;
mod scan;
mod staging;

pub use entry::{LockedEntry, Taken};
pub use format::{decode_header, DeliveryHistory, Meta};
pub use problems::{Problem, ProblemKind};
pub use scan::{EntrySummary, Survey};

use crate::exit::{Failure, NOPERM, TEMPFAIL};
use crate::owned::{DirError, OwnDir, Refusal};
use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// What a refused queue directory must be instead (said with the refusal).
pub const DIR_RULE: &str = "not used (the queue directory and its subdirectories \
    must be your own directories, writable only by you, not symbolic links)";

/// The most of a `.state` or a `.note` that is read: ours are far smaller,
/// and a damaged file must not cost memory.
const SMALL_FILE_LIMIT: u64 = 1 << 20;

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The parts of the spool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Msg,
    Tmp,
    Failed,
    Damaged,
}

impl Area {
    pub fn name(self) -> &'static str {
        match self {
            Area::Msg => "msg",
            Area::Tmp => "tmp",
            Area::Failed => "failed",
            Area::Damaged => "damaged",
        }
    }
}

#[derive(Debug)]
struct Dirs {
    root: OwnDir,
    msg: OwnDir,
    tmp: OwnDir,
    failed: OwnDir,
    damaged: OwnDir,
}

impl Dirs {
    fn of(&self, area: Area) -> &OwnDir {
        match area {
            Area::Msg => &self.msg,
            Area::Tmp => &self.tmp,
            Area::Failed => &self.failed,
            Area::Damaged => &self.damaged,
        }
    }
}

pub struct QueueDir {
    dirs: Arc<Dirs>,
}

fn io_fail(what: &str, path: &Path, e: io::Error) -> Failure {
    Failure::new(TEMPFAIL, format!("queue: {what} {}: {e}", path.display()))
}

fn random_u32() -> u32 {
    getrandom::u32().unwrap_or_else(|_| {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        t ^ std::process::id().rotate_left(16)
    })
}

/// A new entry id: time-ordered, unique enough across processes.
pub fn new_id() -> String {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    format!("{micros:x}-{:08x}", random_u32())
}

/// Ids are file names without dots (the dot separates `.state`, `.note`
/// and the staging suffix).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Take the lock on `file` without waiting. `Ok(None)`: someone else holds it.
fn try_flock(file: File) -> io::Result<Option<Flock<File>>> {
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(l) => Ok(Some(l)),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, e)) => Err(io::Error::from(e)),
    }
}

/// Read the file `name` of `dir`, at most `limit` bytes, if it is the
/// user's own regular file (links are not followed). `Ok(None)`: there is
/// none.
pub(super) fn read_limited(
    dir: &OwnDir,
    name: &str,
    limit: u64,
) -> Result<Option<Vec<u8>>, Refusal> {
    let Some((file, _)) = dir.open_file(name, false)? else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    file.take(limit)
        .read_to_end(&mut bytes)
        .map_err(|e| Refusal::Unusable(format!("cannot be read: {e}")))?;
    Ok(Some(bytes))
}

/// Read a small file of ours (`.state`, `.note`), at most
/// [`SMALL_FILE_LIMIT`] bytes. `Ok(None)`: there is none.
fn read_small(dir: &OwnDir, name: &str) -> Result<Option<Vec<u8>>, Refusal> {
    let Some(bytes) = read_limited(dir, name, SMALL_FILE_LIMIT + 1)? else {
        return Ok(None);
    };
    if bytes.len() as u64 > SMALL_FILE_LIMIT {
        return Err(Refusal::Unusable(format!(
            "is larger than {SMALL_FILE_LIMIT} bytes"
        )));
    }
    Ok(Some(bytes))
}

fn refusal_error(path: &Path, r: Refusal) -> io::Error {
    let kind = match r {
        Refusal::Foreign(_) => io::ErrorKind::PermissionDenied,
        Refusal::Unusable(_) => io::ErrorKind::InvalidData,
    };
    io::Error::new(kind, format!("{} {}", path.display(), r.why()))
}

impl QueueDir {
    /// Open (creating as needed, mode 0700) the spool at `root`. A root or
    /// subdirectory that is not a private directory of the user's is
    /// refused with status 77 (NOPERM), naming it, its owner and its mode;
    /// one that cannot be created fails with 75.
    pub fn open(root: &Path) -> Result<QueueDir, Failure> {
        let fail = |e: DirError| {
            if e.refused {
                Failure::new(NOPERM, format!("queue: {e}: {DIR_RULE}"))
            } else {
                Failure::new(TEMPFAIL, format!("queue: {e}"))
            }
        };
        let (root_dir, root_created) = OwnDir::open(root, true).map_err(fail)?;
        let mut created = false;
        let mut sub = |name: &str| -> Result<OwnDir, Failure> {
            let (d, c) = root_dir.sub(name, true).map_err(fail)?;
            created |= c;
            Ok(d)
        };
        let (msg, tmp, failed, damaged) =
            (sub("msg")?, sub("tmp")?, sub("failed")?, sub("damaged")?);
        // First use: make the new directories themselves durable.
        if created {
            root_dir
                .sync()
                .map_err(|e| io_fail("cannot sync", root, e))?;
        }
        if root_created {
            if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
                File::open(parent)
                    .and_then(|f| f.sync_all())
                    .map_err(|e| io_fail("cannot sync", parent, e))?;
            }
        }
        Ok(QueueDir {
            dirs: Arc::new(Dirs {
                root: root_dir,
                msg,
                tmp,
                failed,
                damaged,
            }),
        })
    }

    pub fn root(&self) -> &Path {
        self.dirs.root.path()
    }

    /// The directory of an area (for messages).
    pub fn area_path(&self, area: Area) -> &Path {
        self.dirs.of(area).path()
    }

    /// True when `id` is queued, failed or damaged already (anything by
    /// that name).
    pub fn exists(&self, id: &str) -> bool {
        valid_id(id)
            && [Area::Msg, Area::Failed, Area::Damaged]
                .iter()
                .any(|&a| !matches!(self.dirs.of(a).lstat(id), Ok(None)))
    }

    /// Names of the entries in `msg/`, in name (= time) order: whatever
    /// they are (see [`QueueDir::survey`] for what can be used).
    pub fn ids(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .dirs
            .msg
            .names()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|n| n.into_string().ok())
            .filter(|n| valid_id(n))
            .collect();
        v.sort();
        v
    }

    /// Make removals from `msg/` durable.
    pub fn sync(&self) -> io::Result<()> {
        self.dirs.msg.sync()
    }
}
