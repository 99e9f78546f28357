//! The background flusher's control files in the spool's root: its guard
//! (`flush.lock`, one flusher per spool) and a submission's request for one
//! more scan (`flush.again`).
use super::{refusal_error, try_flock, Problem, ProblemKind, QueueDir};
use crate::owned::{check_file, Refusal};
use nix::fcntl::Flock;
use std::fs::File;
use std::io;

/// Held by the background flusher.
const LOCK_FILE: &str = "flush.lock";
/// A submission's request to the background flusher for one more scan.
const RESCAN_FILE: &str = "flush.again";

impl QueueDir {
    /// The background flusher's files (`flush.lock`, `flush.again`) that
    /// are there and are not files of the user's: they are never opened,
    /// written or removed.
    pub fn control_problems(&self) -> Vec<Problem> {
        let root = &self.dirs.root;
        let mut out = Vec::new();
        for name in [LOCK_FILE, RESCAN_FILE] {
            if let Ok(Some(st)) = root.lstat(name) {
                let (kind, why) = match check_file(&st) {
                    Ok(()) => continue,
                    Err(Refusal::Foreign(w)) => (ProblemKind::Foreign, w),
                    Err(Refusal::Unusable(w)) => (ProblemKind::Stray, w),
                };
                out.push(Problem {
                    name: name.to_string(),
                    path: root.join(name),
                    kind,
                    why,
                });
            }
        }
        out
    }

    /// The background flusher's guard: one at a time per spool. `None`
    /// when another holds it.
    pub fn background_guard(&self) -> io::Result<Option<Flock<File>>> {
        let root = &self.dirs.root;
        let name = LOCK_FILE;
        let file = match root.open_file(name, true) {
            Ok(Some((f, _))) => f,
            Ok(None) => match root.create_new(name) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    match root.open_file(name, true) {
                        Ok(Some((f, _))) => f,
                        Ok(None) => return Err(io::ErrorKind::NotFound.into()),
                        Err(r) => return Err(refusal_error(&root.join(name), r)),
                    }
                }
                Err(e) => return Err(e),
            },
            Err(r) => return Err(refusal_error(&root.join(name), r)),
        };
        try_flock(file)
    }

    /// Ask the running background flusher to scan once more.
    pub fn request_rescan(&self) -> io::Result<()> {
        let root = &self.dirs.root;
        let name = RESCAN_FILE;
        match root.create_new(name) {
            Ok(_) => Ok(()),
            // A request is pending already, if that is a file of ours.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match root.lstat(name)? {
                Some(st) => check_file(&st).map_err(|r| refusal_error(&root.join(name), r)),
                None => self.request_rescan(),
            },
            Err(e) => Err(e),
        }
    }

    /// Take a pending rescan request: true if there was one (a request
    /// that is not a file of ours is left alone and does not count).
    pub fn take_rescan(&self) -> bool {
        matches!(self.dirs.root.unlink_own(RESCAN_FILE), Ok(true))
    }
}
