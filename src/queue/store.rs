//! The spool on disk.
//!
//! ```text
//! ROOT/            0700
//!   msg/ID/        a complete, deliverable entry
//!        data      the message, CRLF, exactly as the transport takes it;
//!                  flock(2) on it = "someone works on this entry"
//!        meta      JSON: envelope, identity, options, creation time
//!        state     JSON: attempts, last error, next attempt (absent = new)
//!   tmp/ID/        an entry being written, or being removed after delivery
//!   failed/ID/     given up (lifetime over or refused); `note` says why
//! ```
//!
//! An entry is built in `tmp/`, every file and the directory fsynced, then
//! renamed into `msg/` (atomic) and `msg/` fsynced. So `msg/` only ever holds
//! complete entries; a crash leaves at most a directory in `tmp/`, which
//! [`Spool::cleanup`] removes once nobody holds its lock. Removal is the
//! reverse: rename out of `msg/` first, then delete.

use crate::exit::{Failure, TEMPFAIL};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Directories in `tmp/` without a lock file are someone's fresh `mkdir`
/// for this long; after it they are debris.
const TMP_GRACE_SECS: u64 = 600;

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
    /// Size of `data` in bytes.
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

/// An entry held under its lock. Dropping it releases the lock.
pub struct Locked {
    dir: PathBuf,
    id: String,
    _lock: Flock<File>,
    pub meta: Meta,
    pub state: State,
}

fn io_fail(what: &str, path: &Path, e: io::Error) -> Failure {
    Failure::new(TEMPFAIL, format!("queue: {what} {}: {e}", path.display()))
}

fn sync_dir(path: &Path) -> io::Result<()> {
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

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// Try to take the lock on `path` without waiting. `Ok(None)`: someone else
/// holds it (or the file is gone).
fn try_lock(path: &Path) -> io::Result<Option<Flock<File>>> {
    let file = match OpenOptions::new().read(true).open(path) {
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
/// fsync: losing a state update costs at most one extra attempt).
fn write_json_atomic<T: Serialize>(dir: &Path, name: &str, value: &T) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let _ = fs::remove_file(&tmp);
    let bytes = serde_json::to_vec(value).map_err(io::Error::other)?;
    {
        let mut f = create_private(&tmp)?;
        f.write_all(&bytes)?;
    }
    fs::rename(&tmp, dir.join(name))
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
    /// behind and the failure has status 75.
    /// `expected`: the size the caller knows the message has; anything else
    /// (a reader that ended early) fails before the entry becomes visible.
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
        // live writer's fresh directory from a dead writer's debris even
        // before the lock file exists.
        let work = self.tmp_dir().join(format!("{id}.p{}", std::process::id()));
        match self.create_in(&work, id, meta, message, expected) {
            Ok(l) => Ok(l),
            Err(f) => {
                let _ = fs::remove_dir_all(&work);
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
        fs::DirBuilder::new()
            .mode(0o700)
            .create(work)
            .map_err(|e| io_fail("cannot create", work, e))?;
        // The message file is also the entry's lock: flock(2) on `data`.
        let data_path = work.join("data");
        let data_file =
            create_private(&data_path).map_err(|e| io_fail("cannot create", &data_path, e))?;
        let lock = Flock::lock(data_file, FlockArg::LockExclusiveNonblock)
            .map_err(|(_, e)| io_fail("cannot lock", &data_path, io::Error::from(e)))?;
        let mut w = BufWriter::with_capacity(64 * 1024, &*lock);
        let size = io::copy(message, &mut w).map_err(|e| io_fail("cannot write", &data_path, e))?;
        if let Some(expected) = expected.filter(|&e| e != size) {
            return Err(Failure::tempfail(format!(
                "queue: the message ended early ({size} of {expected} bytes)"
            )));
        }
        w.flush()
            .map_err(|e| io_fail("cannot write", &data_path, e))?;
        drop(w);
        lock.sync_all()
            .map_err(|e| io_fail("cannot sync", &data_path, e))?;

        let mut meta = meta.clone();
        meta.size = size;
        let meta_path = work.join("meta");
        let bytes = serde_json::to_vec(&meta).map_err(|e| Failure::software(e.to_string()))?;
        let mut mf =
            create_private(&meta_path).map_err(|e| io_fail("cannot create", &meta_path, e))?;
        mf.write_all(&bytes)
            .and_then(|()| mf.sync_all())
            .map_err(|e| io_fail("cannot write", &meta_path, e))?;
        drop(mf);
        sync_dir(work).map_err(|e| io_fail("cannot sync", work, e))?;

        let dest = self.msg_dir().join(id);
        fs::rename(work, &dest).map_err(|e| io_fail("cannot move into", &dest, e))?;
        let msg = self.msg_dir();
        if let Err(e) = sync_dir(&msg) {
            // Not durable: take it back out so that the caller's failure is true.
            let _ = fs::rename(&dest, work);
            return Err(io_fail("cannot sync", &msg, e));
        }
        Ok(Locked {
            dir: dest,
            id: id.to_string(),
            _lock: lock,
            meta,
            state: State::default(),
        })
    }

    /// True when `id` is queued or failed already.
    pub fn exists(&self, id: &str) -> bool {
        valid_id(id) && (self.msg_dir().join(id).exists() || self.failed_dir().join(id).exists())
    }

    /// Ids of the deliverable entries, oldest first.
    pub fn ids(&self) -> Vec<String> {
        list_names(&self.msg_dir())
    }

    /// Take the entry `id` under its lock. `Ok(None)` when another process
    /// holds it or it is gone (delivered meanwhile).
    pub fn lock(&self, id: &str) -> Result<Option<Locked>, Failure> {
        if !valid_id(id) {
            return Ok(None);
        }
        let dir = self.msg_dir().join(id);
        let lock_path = dir.join("data");
        let lock = match try_lock(&lock_path) {
            Ok(Some(l)) => l,
            Ok(None) => return Ok(None),
            Err(e) => return Err(io_fail("cannot lock", &lock_path, e)),
        };
        // The entry may have been moved away (delivered) between our open
        // and our lock: then the inode we hold is no longer at that path.
        let held = lock
            .metadata()
            .map_err(|e| io_fail("cannot stat", &lock_path, e))?;
        match fs::metadata(&lock_path) {
            Ok(m) if m.ino() == held.ino() && m.dev() == held.dev() => {}
            _ => return Ok(None),
        }
        let Some(meta) = read_json::<Meta>(&dir.join("meta")) else {
            // Cannot happen for entries this code wrote; keep it out of the way.
            let l = Locked {
                dir,
                id: id.to_string(),
                _lock: lock,
                meta: Meta::unreadable(),
                state: State::default(),
            };
            let _ = self.fail(l, "the queue entry is unreadable (no valid meta file)");
            return Ok(None);
        };
        let state = read_json::<State>(&dir.join("state")).unwrap_or_default();
        Ok(Some(Locked {
            dir,
            id: id.to_string(),
            _lock: lock,
            meta,
            state,
        }))
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
        for id in list_names(dir) {
            let d = dir.join(&id);
            let Some(meta) = read_json::<Meta>(&d.join("meta")) else {
                continue;
            };
            let state = read_json::<State>(&d.join("state")).unwrap_or_default();
            let note = if with_note {
                fs::read_to_string(d.join("note")).ok()
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

    /// Remove debris: directories in `tmp/` whose writer or remover died
    /// (their lock is free), and stray state temp files.
    pub fn cleanup(&self) {
        let tmp = self.tmp_dir();
        for name in list_names(&tmp) {
            let d = tmp.join(&name);
            let writer_alive = staging_pid(&name).is_some_and(|pid| {
                pid == std::process::id() as i32
                    || nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
            });
            let old = fs::metadata(&d)
                .map(|m| now().saturating_sub(m.mtime().max(0) as u64) > TMP_GRACE_SECS)
                .unwrap_or(false);
            if writer_alive && !old {
                continue;
            }
            match try_lock(&d.join("data")) {
                Ok(Some(_held)) => {
                    let _ = fs::remove_dir_all(&d);
                }
                // No lock file yet: the writer died between mkdir and
                // creating it (a live one was skipped above).
                Ok(None) if !d.join("data").exists() => {
                    let _ = fs::remove_dir_all(&d);
                }
                _ => {}
            }
        }
    }

    /// Move a locked entry to `failed/` with a note saying why.
    pub fn fail(&self, entry: Locked, why: &str) -> io::Result<PathBuf> {
        let note = entry.dir.join("note");
        fs::write(&note, format!("{why}\n"))?;
        let dest = self.failed_dir().join(&entry.id);
        fs::rename(&entry.dir, &dest)?;
        sync_dir(&self.msg_dir())?;
        Ok(dest)
    }

    /// Delete a locked entry (after the server accepted it): rename out of
    /// `msg/` (atomic), sync, then delete the files.
    pub fn remove(&self, entry: Locked) -> io::Result<()> {
        let gone = self.remove_unsynced(entry)?;
        self.sync()?;
        let _ = fs::remove_dir_all(gone);
        Ok(())
    }

    /// Take a locked entry out of `msg/` (one rename) without syncing and
    /// without deleting its files yet: a flush removes many entries, syncs
    /// once per smarthost ([`Spool::sync`]) and deletes the files after the
    /// session ([`Spool::purge`]); on a busy disk every fsync and unlink
    /// waits for the journal. Until the sync only a crash of the whole
    /// machine (not of this process) can bring an entry back, which means a
    /// duplicate, never a loss. Files left behind are debris for
    /// [`Spool::cleanup`].
    pub fn remove_unsynced(&self, entry: Locked) -> io::Result<PathBuf> {
        let gone = self
            .tmp_dir()
            .join(format!("{}.done-{:08x}", entry.id, random_u32()));
        fs::rename(&entry.dir, &gone)?;
        drop(entry);
        Ok(gone)
    }

    /// Delete entries already taken out of `msg/`.
    pub fn purge(&self, gone: &[PathBuf]) {
        for g in gone {
            let _ = fs::remove_dir_all(g);
        }
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
        let f = self.failed_dir().join(id);
        if f.is_dir() {
            fs::remove_dir_all(&f).map_err(|e| io_fail("cannot remove", &f, e))?;
            return Ok(true);
        }
        Ok(false)
    }
}

impl Meta {
    fn unreadable() -> Meta {
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

    /// The stored message.
    pub fn open_data(&self) -> io::Result<File> {
        let f = File::open(self.dir.join("data"))?;
        let len = f.metadata()?.len();
        if len != self.meta.size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the stored message has {len} bytes, {} expected",
                    self.meta.size
                ),
            ));
        }
        Ok(f)
    }

    /// Record a failed attempt at time `at` and schedule the next one.
    pub fn record_failure(&mut self, error: &str, at: u64) -> io::Result<()> {
        self.state.attempts = self.state.attempts.saturating_add(1);
        self.state.last_attempt = Some(at);
        self.state.next_attempt = at + State::backoff_secs(self.state.attempts);
        self.state.last_error = Some(error.to_string());
        write_json_atomic(&self.dir, "state", &self.state)
    }

    pub fn is_due(&self, at: u64) -> bool {
        self.state.next_attempt <= at
    }
}

/// The writer's pid in a staging name `ID.pPID`.
fn staging_pid(name: &str) -> Option<i32> {
    name.rsplit_once(".p")?.1.parse().ok()
}

/// Directory entry names, sorted, skipping dot files.
fn list_names(dir: &Path) -> Vec<String> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    v.sort();
    v
}
