//! One entry in `msg/`: written in `tmp/` and moved in whole
//! ([`QueueDir::create`]), taken under its flock(2) for delivery
//! ([`QueueDir::take`]), its message read back and its delivery history
//! recorded ([`LockedEntry`]).
use super::format::{read_header, DeliveryHistory, Meta, MAGIC, PREFIX_LEN, SIZE_DIGITS};
use super::{
    io_fail, read_small, refusal_error, try_flock, valid_id, Area, Dirs, Problem, ProblemKind,
    QueueDir,
};
use crate::exit::Failure;
use crate::owned::{OwnDir, Refusal};
use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

/// An entry held under its lock (on the entry file itself). Dropping it
/// releases the lock.
pub struct LockedEntry {
    pub(super) dirs: Arc<Dirs>,
    pub(super) id: String,
    pub(super) lock: Flock<File>,
    /// Where the message starts in the file.
    pub(super) offset: u64,
    pub meta: Meta,
    pub state: DeliveryHistory,
    /// A `.state` file of ours exists (removed with the entry).
    pub(super) state_file: bool,
    /// Why the delivery history could not be used (treated as new).
    pub state_problem: Option<Refusal>,
}

/// What [`QueueDir::take`] found.
pub enum Taken {
    Locked(Box<LockedEntry>),
    /// Another process holds it.
    Busy,
    /// Not there (delivered or moved meanwhile).
    Gone,
    /// Not a usable entry.
    Problem(Problem),
}

/// The delivery history of `id` in `dir`: (state, an own `.state` file
/// exists, why it could not be used). A history that cannot be used makes
/// the entry new again: at worst one attempt too early.
pub(super) fn read_state(dir: &OwnDir, id: &str) -> (DeliveryHistory, bool, Option<Refusal>) {
    let name = format!("{id}.state");
    let explain = |r: Refusal| match r {
        Refusal::Foreign(w) => Refusal::Foreign(format!(
            "{name} {w}: left alone; the message is treated as new"
        )),
        Refusal::Unusable(w) => Refusal::Unusable(format!(
            "{name} {w}: delivery history lost; the message is treated as new"
        )),
    };
    match read_small(dir, &name) {
        Ok(None) => (DeliveryHistory::default(), false, None),
        Ok(Some(bytes)) => match serde_json::from_slice::<DeliveryHistory>(&bytes) {
            Ok(state) => (state, true, None),
            Err(e) => (
                DeliveryHistory::default(),
                true,
                Some(explain(Refusal::Unusable(format!("is damaged ({e})")))),
            ),
        },
        Err(r) => (DeliveryHistory::default(), false, Some(explain(r))),
    }
}

impl QueueDir {
    /// Store a new entry durably and return it locked (so no flush can take
    /// it before the caller's first attempt). On any error nothing is left
    /// behind and the failure has status 75. `expected`: the size the
    /// caller knows the message has; anything else (a reader that ended
    /// early) fails before the entry becomes visible.
    pub fn create(
        &self,
        id: &str,
        meta: &Meta,
        message: &mut dyn Read,
        expected: Option<u64>,
    ) -> Result<LockedEntry, Failure> {
        if !valid_id(id) {
            return Err(Failure::software(format!("queue: bad entry id {id:?}")));
        }
        // The staging name carries our pid, so that a cleanup can tell a
        // live writer's file from a dead writer's debris.
        let work = format!("{id}.p{}", std::process::id());
        match self.create_in(&work, id, meta, message, expected) {
            Ok(l) => Ok(l),
            Err(f) => {
                let _ = self.dirs.tmp.unlink_own(&work);
                Err(f)
            }
        }
    }

    fn create_in(
        &self,
        work: &str,
        id: &str,
        meta: &Meta,
        message: &mut dyn Read,
        expected: Option<u64>,
    ) -> Result<LockedEntry, Failure> {
        let tmp = &self.dirs.tmp;
        let path = tmp.join(work);
        // A file by that name is a dead writer's with our pid: ours to remove.
        let file = tmp
            .create_replacing(work)
            .map_err(|e| io_fail("cannot create", &path, e))?;
        let lock = Flock::lock(file, FlockArg::LockExclusiveNonblock)
            .map_err(|(_, e)| io_fail("cannot lock", &path, io::Error::from(e)))?;
        let mut json = serde_json::to_vec(meta).map_err(|e| Failure::software(e.to_string()))?;
        json.push(b'\n');
        let offset = (PREFIX_LEN + json.len()) as u64;
        let wfail = |e| io_fail("cannot write", &path, e);
        let mut w = BufWriter::with_capacity(64 * 1024, &*lock);
        w.write_all(MAGIC).map_err(wfail)?;
        w.write_all(&[b'0'; SIZE_DIGITS]).map_err(wfail)?;
        w.write_all(b"\n").map_err(wfail)?;
        w.write_all(&json).map_err(wfail)?;
        let size = io::copy(message, &mut w).map_err(wfail)?;
        if let Some(expected) = expected.filter(|&e| e != size) {
            return Err(Failure::tempfail(format!(
                "queue: the message ended early ({size} of {expected} bytes)"
            )));
        }
        w.flush().map_err(wfail)?;
        drop(w);
        let digits = format!("{size:0width$}", width = SIZE_DIGITS);
        lock.write_all_at(digits.as_bytes(), MAGIC.len() as u64)
            .map_err(wfail)?;
        lock.sync_all()
            .map_err(|e| io_fail("cannot sync", &path, e))?;

        let msg = &self.dirs.msg;
        tmp.rename_noreplace(work, msg, id)
            .map_err(|e| io_fail("cannot move into", &msg.join(id), e))?;
        if let Err(e) = msg.sync() {
            // Not durable: take it back out so that the caller's failure is true.
            let _ = msg.rename_noreplace(id, tmp, work);
            return Err(io_fail("cannot sync", msg.path(), e));
        }
        let mut meta = meta.clone();
        meta.size = size;
        Ok(LockedEntry {
            dirs: self.dirs.clone(),
            id: id.to_string(),
            lock,
            offset,
            meta,
            state: DeliveryHistory::default(),
            state_file: false,
            state_problem: None,
        })
    }

    /// Take the entry `id` of `msg/` under its lock, if it can be used.
    pub fn take(&self, id: &str) -> Result<Taken, Failure> {
        if !valid_id(id) {
            return Ok(Taken::Gone);
        }
        let msg = &self.dirs.msg;
        let (file, st) = match msg.open_file(id, false) {
            Ok(Some(f)) => f,
            Ok(None) => return Ok(Taken::Gone),
            Err(r) => return Ok(Taken::Problem(self.entry_problem(Area::Msg, id, r))),
        };
        let lock = match try_flock(file) {
            Ok(Some(l)) => l,
            Ok(None) => return Ok(Taken::Busy),
            Err(e) => return Err(io_fail("cannot lock", &msg.join(id), e)),
        };
        // The entry may have been delivered and unlinked between our open
        // and our lock: then the inode we hold is no longer at that name.
        match msg.lstat(id) {
            Ok(Some(now)) if now.st_ino == st.st_ino && now.st_dev == st.st_dev => {}
            _ => return Ok(Taken::Gone),
        }
        let (meta, offset) = match read_header(&lock) {
            Ok(h) => h,
            Err(e) => {
                let why = e.to_string();
                return Ok(Taken::Problem(self.problem(
                    Area::Msg,
                    id.as_ref(),
                    ProblemKind::Damaged,
                    why,
                )));
            }
        };
        let (state, state_file, state_problem) = read_state(msg, id);
        Ok(Taken::Locked(Box::new(LockedEntry {
            dirs: self.dirs.clone(),
            id: id.to_string(),
            lock,
            offset,
            meta,
            state,
            state_file,
            state_problem,
        })))
    }

    /// Take the entry `id` under its lock. `Ok(None)` when another process
    /// holds it, it is gone (delivered meanwhile), or it cannot be used
    /// ([`QueueDir::take`] says which).
    pub fn lock(&self, id: &str) -> Result<Option<LockedEntry>, Failure> {
        match self.take(id)? {
            Taken::Locked(l) => Ok(Some(*l)),
            _ => Ok(None),
        }
    }

    /// Meta and message of an entry, read without its lock (for tests and
    /// inspection).
    pub fn read_entry(&self, id: &str) -> io::Result<(Meta, Vec<u8>)> {
        let msg = &self.dirs.msg;
        let mut f = match msg.open_file(id, false) {
            Ok(Some((f, _))) => f,
            Ok(None) => return Err(io::ErrorKind::NotFound.into()),
            Err(r) => return Err(refusal_error(&msg.join(id), r)),
        };
        let (meta, offset) = read_header(&f)?;
        f.seek(SeekFrom::Start(offset))?;
        let mut data = Vec::with_capacity(meta.size as usize);
        f.read_to_end(&mut data)?;
        Ok((meta, data))
    }

    /// Pretend an entry was queued at `created` (seconds since the epoch):
    /// for tests of the lifetime.
    #[doc(hidden)]
    pub fn backdate(&self, id: &str, created: u64) -> Result<(), Failure> {
        let Some(mut entry) = self.lock(id)? else {
            return Err(Failure::tempfail(format!("queue: {id} is busy or gone")));
        };
        let mut data = Vec::new();
        let path = self.dirs.msg.join(id);
        let mut f = entry
            .lock
            .try_clone()
            .map_err(|e| io_fail("cannot read", &path, e))?;
        f.seek(SeekFrom::Start(entry.offset))
            .and_then(|_| f.read_to_end(&mut data))
            .map_err(|e| io_fail("cannot read", &path, e))?;
        entry.meta.created = created;
        let (meta, state) = (entry.meta.clone(), entry.state.clone());
        self.remove(entry)
            .map_err(|e| io_fail("cannot rewrite", &path, e))?;
        let mut l = self.create(id, &meta, &mut io::Cursor::new(data), None)?;
        if state.attempts > 0 {
            l.state = state;
            let json =
                serde_json::to_vec(&l.state).map_err(|e| Failure::software(e.to_string()))?;
            let _ = self
                .dirs
                .msg
                .put(&format!("{id}.state"), &json, &self.dirs.tmp);
        }
        Ok(())
    }
}

impl LockedEntry {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The stored message (a reader of exactly its bytes).
    pub fn open_data(&self) -> io::Result<io::Take<File>> {
        let mut f = self.lock.try_clone()?;
        f.seek(SeekFrom::Start(self.offset))?;
        Ok(f.take(self.meta.size))
    }

    /// Record a failed attempt at time `at` and schedule the next one.
    pub fn record_failure(&mut self, error: &str, at: u64) -> io::Result<()> {
        self.state.attempts = self.state.attempts.saturating_add(1);
        self.state.last_attempt = Some(at);
        self.state.next_attempt = at + DeliveryHistory::backoff_secs(self.state.attempts);
        self.state.last_error = Some(error.to_string());
        let json = serde_json::to_vec(&self.state).map_err(io::Error::other)?;
        self.dirs
            .msg
            .put(&format!("{}.state", self.id), &json, &self.dirs.tmp)
            .map_err(io::Error::other)?;
        self.state_file = true;
        Ok(())
    }

    pub fn is_due(&self, at: u64) -> bool {
        self.state.next_attempt <= at
    }
}
