//! Entries leaving `msg/`: removed after delivery, moved to `failed/`
//! when given up, to `damaged/` when they cannot be read, and deleted by
//! id at the user's request (`esmtp queue remove`).
use super::{io_fail, valid_id, LockedEntry, ProblemKind, QueueDir, Taken};
use crate::exit::{Failure, NOPERM};
use crate::owned::{check_file, OwnDir, Refusal};
use std::io;
use std::path::PathBuf;

impl QueueDir {
    /// Move the entry `id` of `msg/`, which cannot be read, to `damaged/`
    /// with a note saying why; its delivery history goes with it. Only an
    /// entry of the user's (never a link or another user's file) is moved,
    /// and nothing in `damaged/` is replaced. Returns where it is now.
    pub fn set_aside(&self, id: &str, why: &str) -> Result<PathBuf, String> {
        let (msg, damaged) = (&self.dirs.msg, &self.dirs.damaged);
        let st = match msg.lstat(id) {
            Ok(Some(st)) => st,
            Ok(None) => return Err("it is gone".into()),
            Err(e) => return Err(e.to_string()),
        };
        // Only the user's own things are moved: a link, another user's
        // file or one with other links is left where it is.
        if let Err(Refusal::Foreign(w)) = check_file(&st) {
            return Err(format!("{w}: left alone"));
        }
        match msg.rename_noreplace(id, damaged, id) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(format!(
                    "{} exists already: left in {}",
                    damaged.join(id).display(),
                    msg.path().display()
                ))
            }
            Err(e) => return Err(e.to_string()),
        }
        let mut outcome = Ok(damaged.join(id));
        if let Err(e) = damaged.put(
            &format!("{id}.note"),
            format!("{why}\n").as_bytes(),
            &self.dirs.tmp,
        ) {
            outcome = Err(format!(
                "moved to {}, but its note was not written: {e}",
                damaged.path().display()
            ));
        }
        let state = format!("{id}.state");
        if matches!(msg.open_file(&state, false), Ok(Some(_))) {
            let _ = msg.rename_noreplace(&state, damaged, &state);
        }
        let _ = msg.sync();
        let _ = damaged.sync();
        outcome
    }

    /// Move a locked entry to `failed/` with a note saying why. Nothing in
    /// `failed/` is replaced: if the name is taken, the entry stays queued.
    /// Returns where it is now, and why its note could not be written.
    pub fn fail(&self, entry: LockedEntry, why: &str) -> io::Result<(PathBuf, Option<String>)> {
        let (msg, failed) = (&self.dirs.msg, &self.dirs.failed);
        let id = entry.id.clone();
        msg.rename_noreplace(&id, failed, &id).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                io::Error::new(
                    e.kind(),
                    format!("{} exists already", failed.join(&id).display()),
                )
            } else {
                e
            }
        })?;
        let noted = failed.put(
            &format!("{id}.note"),
            format!("{why}\n").as_bytes(),
            &self.dirs.tmp,
        );
        // The note says what the history said; the history itself goes.
        if entry.state_file {
            let _ = msg.unlink_own(format!("{id}.state"));
        }
        drop(entry);
        msg.sync()?;
        Ok((failed.join(&id), noted.err()))
    }

    /// Delete a locked entry (after the server accepted it) durably.
    pub fn remove(&self, entry: LockedEntry) -> io::Result<()> {
        self.remove_unsynced(entry)?;
        self.sync()
    }

    /// [`QueueDir::remove`] without syncing `msg/`: a flush removes many
    /// entries and syncs once per smarthost ([`QueueDir::sync`]); on a busy
    /// disk every fsync waits for the journal. Until the sync only a crash
    /// of the whole machine (not of this process) can bring an entry back,
    /// which means a duplicate, never a loss.
    pub fn remove_unsynced(&self, entry: LockedEntry) -> io::Result<()> {
        let msg = &self.dirs.msg;
        // The history first: a crash in between leaves an entry that is
        // merely new again, never a history without its message.
        if entry.state_file {
            let _ = msg.unlink_own(format!("{}.state", entry.id));
        }
        msg.unlink(&entry.id)?;
        drop(entry);
        Ok(())
    }

    /// Delete an entry in `msg/`, `failed/` or `damaged/` by id (`esmtp
    /// queue remove`). False when it does not exist or is being delivered
    /// right now; an error for what is not the user's own file.
    pub fn remove_id(&self, id: &str) -> Result<bool, Failure> {
        if !valid_id(id) {
            return Ok(false);
        }
        let refused = |dir: &OwnDir, name: &str, r: Refusal| {
            Failure::new(
                NOPERM,
                format!(
                    "queue: {} {}: not removed (remove it yourself)",
                    dir.join(name).display(),
                    r.why()
                ),
            )
        };
        match self.take(id)? {
            Taken::Locked(l) => {
                self.remove(*l)
                    .map_err(|e| io_fail("cannot remove", &self.dirs.msg.join(id), e))?;
                return Ok(true);
            }
            Taken::Busy => return Ok(false),
            Taken::Gone => {}
            // Damaged, not yet moved aside: the user may delete it.
            Taken::Problem(p) if p.kind == ProblemKind::Damaged => {
                let msg = &self.dirs.msg;
                let _ = msg.unlink_own(format!("{id}.state"));
                return msg.unlink_own(id).map_err(|r| refused(msg, id, r));
            }
            Taken::Problem(p) => {
                return Err(Failure::new(NOPERM, format!("queue: {p}")));
            }
        }
        for dir in [&self.dirs.failed, &self.dirs.damaged] {
            if matches!(dir.lstat(id), Ok(None)) {
                continue;
            }
            for side in [format!("{id}.note"), format!("{id}.state")] {
                dir.unlink_own(&side).map_err(|r| refused(dir, &side, r))?;
            }
            return dir.unlink_own(id).map_err(|r| refused(dir, id, r));
        }
        Ok(false)
    }
}
