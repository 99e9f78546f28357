//! The spool on disk.
//!
//! ```text
//! ROOT/              0700
//!   msg/ID           one complete, deliverable entry (0600):
//!                      "ESMTPQ1 " + message size (20 digits) + "\n"
//!                      meta: one line of JSON (envelope, identity, options)
//!                      the message, CRLF, exactly as the transport takes it
//!                    flock(2) on it = "someone works on this entry"
//!   msg/ID.state     JSON: attempts, last error, next attempt (absent = new)
//!   tmp/ID.pPID      an entry being written by process PID
//!   failed/ID        given up (lifetime over or refused); ID.note says why
//! ```
//!
//! An entry is written in `tmp/`, fsynced, renamed into `msg/` (atomic) and
//! `msg/` fsynced. So `msg/` only ever holds complete entries (the size in
//! the first line is checked against the file on every read); a crash
//! leaves at most a file in `tmp/`, which [`Spool::cleanup`] removes once
//! its writer is dead. Removal after delivery is one unlink.

use crate::exit::{Failure, TEMPFAIL};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// A staging file whose writer still seems alive (its pid may have been
/// reused) is left alone for this long.
const TMP_GRACE_SECS: u64 = 600;

/// First bytes of an entry file; the size follows as 20 decimal digits.
const MAGIC: &[u8; 8] = b"ESMTPQ1 ";
const SIZE_DIGITS: usize = 20;
const PREFIX_LEN: usize = MAGIC.len() + SIZE_DIGITS + 1;

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Everything needed to deliver an entry again, later, maybe with a changed
/// configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub version: u32,
    /// Seconds since the epoch when it was queued.
    pub created: u64,
    /// The identity's address (`None` = the unnamed section), so that a
    /// reordered configuration still finds it.
    pub identity: Option<String>,
    /// The identity's index when queued (used when the address is `None`).
    pub identity_index: usize,
    pub sender: String,
    pub recipients: Vec<String>,
    #[serde(default)]
    pub notify: Option<String>,
    #[serde(default)]
    pub ret: Option<String>,
    #[serde(default)]
    pub envid: Option<String>,
    /// `7BIT` or `8BITMIME` when `-B` was given.
    #[serde(default)]
    pub body_type: Option<String>,
    #[serde(default)]
    pub eight_bit: bool,
    /// Size of the message in bytes (kept in the entry's first line).
    #[serde(skip)]
    pub size: u64,
}

/// Delivery history of an entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub attempts: u32,
    pub last_attempt: Option<u64>,
    /// Not before this time (seconds since the epoch); 0 = at once.
    pub next_attempt: u64,
    pub last_error: Option<String>,
}

impl State {
    /// Exponential backoff: 1 min, 2, 4, ... capped at 1 hour.
    pub fn backoff_secs(attempts: u32) -> u64 {
        let exp = attempts.saturating_sub(1).min(6);
        (60u64 << exp).min(3600)
    }
}

/// A summary of one entry, for listing.
#[derive(Debug, Clone)]
pub struct Info {
    pub id: String,
    pub meta: Meta,
    pub state: State,
    /// For failed entries: why.
    pub note: Option<String>,
}

pub struct Spool {
    root: PathBuf,
}

/// An entry held under its lock (on the entry file itself). Dropping it
/// releases the lock.
pub struct Locked {
    path: PathBuf,
    id: String,
    lock: Flock<File>,
    /// Where the message starts in the file.
    offset: u64,
    pub meta: Meta,
    pub state: State,
}

fn io_fail(what: &str, path: &Path, e: io::Error) -> Failure {
    Failure::new(TEMPFAIL, format!("queue: {what} {}: {e}", path.display()))
}

pub(crate) fn sync_dir(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

fn mkdir_private(path: &Path) -> io::Result<()> {
    match fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

fn create_private(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
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

/// Try to take the lock on `path` without waiting. `Ok(None)`: someone else
/// holds it (or the file is gone).
fn try_lock(path: &Path, write: bool) -> io::Result<Option<Flock<File>>> {
    let file = match OpenOptions::new().read(true).write(write).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(l) => Ok(Some(l)),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, e)) => Err(io::Error::from(e)),
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    let bytes = fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Write `value` to `dir/name` through a temporary file and a rename (no
/// fsync: losing a state update costs at most one extra attempt). The
/// temporary file is staged in the spool's `tmp/` under the writer's pid, so
/// that one left by a killed process is swept by [`Spool::cleanup`] instead
/// of lingering beside the entries.
fn write_json_atomic<T: Serialize>(dir: &Path, name: &str, value: &T) -> io::Result<()> {
    let staging = dir
        .parent()
        .map(|spool| spool.join("tmp"))
        .filter(|t| t.is_dir())
        .unwrap_or_else(|| dir.to_path_buf());
    let tmp = staging.join(format!("{name}.p{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let bytes = serde_json::to_vec(value).map_err(io::Error::other)?;
    {
        let mut f = create_private(&tmp)?;
        f.write_all(&bytes)?;
    }
    fs::rename(&tmp, dir.join(name))
}

fn bad_data(why: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why)
}

/// Read and check an entry's header: (meta with its size, message offset).
fn read_header(file: &File) -> io::Result<(Meta, u64)> {
    let len = file.metadata()?.len();
    let mut r = BufReader::with_capacity(4096, file);
    r.seek(SeekFrom::Start(0))?;
    let mut prefix = [0u8; PREFIX_LEN];
    r.read_exact(&mut prefix)
        .map_err(|_| bad_data("no entry header".into()))?;
    if &prefix[..MAGIC.len()] != MAGIC || prefix[PREFIX_LEN - 1] != b'\n' {
        return Err(bad_data("not a queue entry".into()));
    }
    let size: u64 = std::str::from_utf8(&prefix[MAGIC.len()..PREFIX_LEN - 1])
        .ok()
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| bad_data("bad size in the entry header".into()))?;
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    let mut meta: Meta =
        serde_json::from_slice(&line).map_err(|e| bad_data(format!("bad entry metadata: {e}")))?;
    let offset = (PREFIX_LEN + line.len()) as u64;
    if offset.checked_add(size) != Some(len) {
        return Err(bad_data(format!(
            "the entry holds {} message bytes, {size} expected",
            len.saturating_sub(offset)
        )));
    }
    meta.size = size;
    Ok((meta, offset))
}

impl Spool {
    /// Open (creating as needed, mode 0700) the spool at `root`.
    pub fn open(root: &Path) -> Result<Spool, Failure> {
        if ["msg", "tmp", "failed"]
            .iter()
            .any(|sub| !root.join(sub).is_dir())
        {
            // First use: create the tree and make the new directories
            // themselves durable (up to the parent of the root).
            for sub in ["msg", "tmp", "failed"] {
                let p = root.join(sub);
                mkdir_private(&p).map_err(|e| io_fail("cannot create", &p, e))?;
            }
            for d in [Some(root), root.parent()].into_iter().flatten() {
                if !d.as_os_str().is_empty() {
                    sync_dir(d).map_err(|e| io_fail("cannot sync", d, e))?;
                }
            }
        }
        Ok(Spool {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn msg_dir(&self) -> PathBuf {
        self.root.join("msg")
    }
    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }
    fn failed_dir(&self) -> PathBuf {
        self.root.join("failed")
    }

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
    ) -> Result<Locked, Failure> {
        if !valid_id(id) {
            return Err(Failure::software(format!("queue: bad entry id {id:?}")));
        }
        // The staging name carries our pid, so that a cleanup can tell a
        // live writer's file from a dead writer's debris.
        let work = self.tmp_dir().join(format!("{id}.p{}", std::process::id()));
        match self.create_in(&work, id, meta, message, expected) {
            Ok(l) => Ok(l),
            Err(f) => {
                let _ = fs::remove_file(&work);
                Err(f)
            }
        }
    }

    fn create_in(
        &self,
        work: &Path,
        id: &str,
        meta: &Meta,
        message: &mut dyn Read,
        expected: Option<u64>,
    ) -> Result<Locked, Failure> {
        let file = create_private(work).map_err(|e| io_fail("cannot create", work, e))?;
        let lock = Flock::lock(file, FlockArg::LockExclusiveNonblock)
            .map_err(|(_, e)| io_fail("cannot lock", work, io::Error::from(e)))?;
        let mut json = serde_json::to_vec(meta).map_err(|e| Failure::software(e.to_string()))?;
        json.push(b'\n');
        let offset = (PREFIX_LEN + json.len()) as u64;
        let wfail = |e| io_fail("cannot write", work, e);
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
            .map_err(|e| io_fail("cannot sync", work, e))?;

        let dest = self.msg_dir().join(id);
        fs::rename(work, &dest).map_err(|e| io_fail("cannot move into", &dest, e))?;
        let msg = self.msg_dir();
        if let Err(e) = sync_dir(&msg) {
            // Not durable: take it back out so that the caller's failure is true.
            let _ = fs::rename(&dest, work);
            return Err(io_fail("cannot sync", &msg, e));
        }
        let mut meta = meta.clone();
        meta.size = size;
        Ok(Locked {
            path: dest,
            id: id.to_string(),
            lock,
            offset,
            meta,
            state: State::default(),
        })
    }

    /// True when `id` is queued or failed already.
    pub fn exists(&self, id: &str) -> bool {
        valid_id(id) && (self.msg_dir().join(id).exists() || self.failed_dir().join(id).exists())
    }

    /// Ids of the deliverable entries, in name (= time) order.
    pub fn ids(&self) -> Vec<String> {
        entry_names(&self.msg_dir())
    }

    /// Take the entry `id` under its lock. `Ok(None)` when another process
    /// holds it or it is gone (delivered meanwhile).
    pub fn lock(&self, id: &str) -> Result<Option<Locked>, Failure> {
        if !valid_id(id) {
            return Ok(None);
        }
        let path = self.msg_dir().join(id);
        let lock = match try_lock(&path, false) {
            Ok(Some(l)) => l,
            Ok(None) => return Ok(None),
            Err(e) => return Err(io_fail("cannot lock", &path, e)),
        };
        // The entry may have been delivered and unlinked between our open
        // and our lock: then the inode we hold is no longer at that path.
        let held = lock
            .metadata()
            .map_err(|e| io_fail("cannot stat", &path, e))?;
        match fs::metadata(&path) {
            Ok(m) if m.ino() == held.ino() && m.dev() == held.dev() => {}
            _ => return Ok(None),
        }
        let state =
            read_json::<State>(&self.msg_dir().join(format!("{id}.state"))).unwrap_or_default();
        match read_header(&lock) {
            Ok((meta, offset)) => Ok(Some(Locked {
                path,
                id: id.to_string(),
                lock,
                offset,
                meta,
                state,
            })),
            Err(e) => {
                // Cannot happen for entries this code wrote; keep it out of
                // the way, for a human to look at.
                let l = Locked {
                    path,
                    id: id.to_string(),
                    lock,
                    offset: 0,
                    meta: Meta::default(),
                    state,
                };
                let _ = self.fail(l, &format!("the queue entry is damaged: {e}"));
                Ok(None)
            }
        }
    }

    /// Meta and message of an entry, read without its lock (for tests and
    /// inspection).
    pub fn read_entry(&self, id: &str) -> io::Result<(Meta, Vec<u8>)> {
        let mut f = File::open(self.msg_dir().join(id))?;
        let (meta, offset) = read_header(&f)?;
        f.seek(SeekFrom::Start(offset))?;
        let mut data = Vec::with_capacity(meta.size as usize);
        f.read_to_end(&mut data)?;
        Ok((meta, data))
    }

    /// Entries for listing, without taking locks (even a moment's lock
    /// would make a concurrent flush skip the entry).
    pub fn infos(&self) -> Vec<Info> {
        self.infos_in(&self.msg_dir(), false)
    }

    /// Entries given up on.
    pub fn failed_infos(&self) -> Vec<Info> {
        self.infos_in(&self.failed_dir(), true)
    }

    fn infos_in(&self, dir: &Path, with_note: bool) -> Vec<Info> {
        let mut out = Vec::new();
        for id in entry_names(dir) {
            let header = File::open(dir.join(&id)).and_then(|f| read_header(&f));
            let meta = match header {
                Ok((meta, _)) => meta,
                // A damaged entry kept in failed/ is still shown.
                Err(_) if with_note => Meta::default(),
                Err(_) => continue,
            };
            let state = read_json::<State>(&dir.join(format!("{id}.state"))).unwrap_or_default();
            let note = if with_note {
                fs::read_to_string(dir.join(format!("{id}.note"))).ok()
            } else {
                None
            };
            out.push(Info {
                id,
                meta,
                state,
                note,
            });
        }
        out.sort_by(|a, b| (a.meta.created, &a.id).cmp(&(b.meta.created, &b.id)));
        out
    }

    /// Remove debris: staging files in `tmp/` whose writer died, and
    /// anything else there nobody holds.
    pub fn cleanup(&self) {
        let tmp = self.tmp_dir();
        let Ok(rd) = fs::read_dir(&tmp) else {
            return;
        };
        for e in rd.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            let p = e.path();
            let writer_alive = staging_pid(&name).is_some_and(|pid| {
                pid == std::process::id() as i32
                    || nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
            });
            let old = fs::symlink_metadata(&p)
                .map(|m| now().saturating_sub(m.mtime().max(0) as u64) > TMP_GRACE_SECS)
                .unwrap_or(false);
            if writer_alive && !old {
                continue;
            }
            if p.is_dir() {
                let _ = fs::remove_dir_all(&p);
            } else if let Ok(Some(_held)) = try_lock(&p, false) {
                let _ = fs::remove_file(&p);
            }
        }
    }

    /// Move a locked entry to `failed/` with a note saying why.
    pub fn fail(&self, entry: Locked, why: &str) -> io::Result<PathBuf> {
        let failed = self.failed_dir();
        fs::write(
            failed.join(format!("{}.note", entry.id)),
            format!("{why}\n"),
        )?;
        let dest = failed.join(&entry.id);
        fs::rename(&entry.path, &dest)?;
        let state = self.msg_dir().join(format!("{}.state", entry.id));
        let _ = fs::rename(&state, failed.join(format!("{}.state", entry.id)));
        sync_dir(&self.msg_dir())?;
        Ok(dest)
    }

    /// Delete a locked entry (after the server accepted it) durably.
    pub fn remove(&self, entry: Locked) -> io::Result<()> {
        self.remove_unsynced(entry)?;
        self.sync()
    }

    /// [`Spool::remove`] without syncing `msg/`: a flush removes many
    /// entries and syncs once per smarthost ([`Spool::sync`]); on a busy
    /// disk every fsync waits for the journal. Until the sync only a crash
    /// of the whole machine (not of this process) can bring an entry back,
    /// which means a duplicate, never a loss.
    pub fn remove_unsynced(&self, entry: Locked) -> io::Result<()> {
        fs::remove_file(&entry.path)?;
        if entry.state.attempts > 0 {
            let _ = fs::remove_file(self.msg_dir().join(format!("{}.state", entry.id)));
        }
        drop(entry);
        Ok(())
    }

    /// The background flusher's guard: one at a time per spool. `None`
    /// when another holds it.
    pub fn background_guard(&self) -> io::Result<Option<Flock<File>>> {
        let path = self.root.join("flush.lock");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => Ok(Some(l)),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, e)) => Err(io::Error::from(e)),
        }
    }

    /// Ask the running background flusher to scan once more.
    pub fn request_rescan(&self) -> io::Result<()> {
        fs::write(self.root.join("flush.again"), b"")
    }

    /// Take a pending rescan request: true if there was one.
    pub fn take_rescan(&self) -> bool {
        fs::remove_file(self.root.join("flush.again")).is_ok()
    }

    /// Make removals from `msg/` durable.
    pub fn sync(&self) -> io::Result<()> {
        sync_dir(&self.msg_dir())
    }

    /// Delete an entry in `msg/` or `failed/` by id (`esmtp queue remove`).
    /// False when it does not exist or is being delivered right now.
    pub fn remove_id(&self, id: &str) -> Result<bool, Failure> {
        if !valid_id(id) {
            return Ok(false);
        }
        if let Some(l) = self.lock(id)? {
            self.remove(l)
                .map_err(|e| io_fail("cannot remove", &self.msg_dir().join(id), e))?;
            return Ok(true);
        }
        let failed = self.failed_dir();
        let f = failed.join(id);
        if f.exists() {
            fs::remove_file(&f).map_err(|e| io_fail("cannot remove", &f, e))?;
            let _ = fs::remove_file(failed.join(format!("{id}.note")));
            let _ = fs::remove_file(failed.join(format!("{id}.state")));
            return Ok(true);
        }
        Ok(false)
    }

    /// Pretend an entry was queued at `created` (seconds since the epoch):
    /// for tests of the lifetime.
    #[doc(hidden)]
    pub fn backdate(&self, id: &str, created: u64) -> Result<(), Failure> {
        let Some(mut entry) = self.lock(id)? else {
            return Err(Failure::tempfail(format!("queue: {id} is busy or gone")));
        };
        let mut data = Vec::new();
        let mut f = entry
            .lock
            .try_clone()
            .map_err(|e| io_fail("cannot read", &entry.path, e))?;
        f.seek(SeekFrom::Start(entry.offset))
            .and_then(|_| f.read_to_end(&mut data))
            .map_err(|e| io_fail("cannot read", &entry.path, e))?;
        entry.meta.created = created;
        let (meta, state) = (entry.meta.clone(), entry.state.clone());
        self.remove(entry)
            .map_err(|e| io_fail("cannot rewrite", &self.msg_dir().join(id), e))?;
        let mut l = self.create(id, &meta, &mut io::Cursor::new(data), None)?;
        if state.attempts > 0 {
            l.state = state;
            let _ = write_json_atomic(&self.msg_dir(), &format!("{id}.state"), &l.state);
        }
        Ok(())
    }
}

/// An empty envelope in the current format (`version` 1): what an
/// unreadable entry lists as, and the base for partly known ones.
impl Default for Meta {
    fn default() -> Meta {
        Meta {
            version: 1,
            created: 0,
            identity: None,
            identity_index: 0,
            sender: String::new(),
            recipients: Vec::new(),
            notify: None,
            ret: None,
            envid: None,
            body_type: None,
            eight_bit: false,
            size: 0,
        }
    }
}

impl Locked {
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
        self.state.next_attempt = at + State::backoff_secs(self.state.attempts);
        self.state.last_error = Some(error.to_string());
        let dir = self.path.parent().unwrap_or(Path::new("."));
        write_json_atomic(dir, &format!("{}.state", self.id), &self.state)
    }

    pub fn is_due(&self, at: u64) -> bool {
        self.state.next_attempt <= at
    }
}

/// The writer's pid in a staging name `ID.pPID`.
fn staging_pid(name: &str) -> Option<i32> {
    name.rsplit_once(".p")?.1.parse().ok()
}

/// Entry names (no dot: not `.state`, `.note`, temporary files), sorted.
fn entry_names(dir: &Path) -> Vec<String> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.contains('.'))
        .collect();
    v.sort();
    v
}
