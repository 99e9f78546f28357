//! The spool on disk.
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
//! leaves at most a file in `tmp/`, which [`Spool::cleanup`] removes once
//! its writer is dead. Removal after delivery is one unlink.
//!
//! The queue belongs to its user alone (issue 13 §4, [`crate::owned`]): the
//! root and every subdirectory must be the user's own directories, not
//! links, not writable by others, or the spool is refused. Every file is
//! reached relative to its directory's descriptor without following a
//! link, and used only if it is the user's own regular file with one link.
//! Anything else is reported ([`Problem`]) and left alone: never followed,
//! never sent, never deleted. An entry of the user's that cannot be read is
//! never invisible either (§5): listed, and moved to `damaged/` by a flush.

use crate::exit::{Failure, NOPERM, TEMPFAIL};
use crate::mail_params::{BodyType, Notify, Ret};
use crate::owned::{check_file, printable, DirError, OwnDir, Refusal};

/// What a refused queue directory must be instead (said with the refusal).
pub const DIR_RULE: &str = "not used (the queue directory and its subdirectories \
    must be your own directories, writable only by you, not symbolic links)";
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A staging file whose writer still seems alive (its pid may have been
/// reused) is left alone for this long.
const TMP_GRACE_SECS: u64 = 600;

/// Held by the background flusher.
const LOCK_FILE: &str = "flush.lock";
/// A submission's request to the background flusher for one more scan.
const RESCAN_FILE: &str = "flush.again";

/// First bytes of an entry file; the size follows as 20 decimal digits.
const MAGIC: &[u8; 8] = b"ESMTPQ1 ";
const SIZE_DIGITS: usize = 20;
const PREFIX_LEN: usize = MAGIC.len() + SIZE_DIGITS + 1;

/// The most of a `.state` or a `.note` that is read: ours are far smaller,
/// and a damaged file must not cost memory.
const SMALL_FILE_LIMIT: u64 = 1 << 20;
/// The longest metadata line of an entry (thousands of recipients fit).
const META_LIMIT: u64 = 16 << 20;

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
    pub notify: Option<Notify>,
    #[serde(default)]
    pub ret: Option<Ret>,
    #[serde(default)]
    pub envid: Option<String>,
    /// `7BIT` or `8BITMIME` when `-B` was given.
    #[serde(default)]
    pub body_type: Option<BodyType>,
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

/// A summary of one entry, for listing.
#[derive(Debug, Clone)]
pub struct Info {
    pub id: String,
    pub meta: Meta,
    pub state: State,
    /// For failed and damaged entries: why.
    pub note: Option<String>,
    /// For failed and damaged entries: why the entry itself cannot be read.
    pub unreadable: Option<String>,
    /// Its delivery history could not be used (the entry is treated as new).
    pub state_problem: Option<Refusal>,
}

/// What a [`Problem`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// Not the user's own (another owner, a link, other links, writable by
    /// others): left alone, never sent, never deleted.
    Foreign,
    /// A queue entry of the user's that cannot be read: a flush moves it to
    /// `damaged/`.
    Damaged,
    /// Something of the user's that is not part of a queue: left alone.
    Stray,
}

/// Something in the spool that is not a usable entry.
#[derive(Debug, Clone)]
pub struct Problem {
    /// The file name, escaped for printing.
    pub name: String,
    pub path: PathBuf,
    pub kind: ProblemKind,
    pub why: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = printable(self.path.as_os_str());
        match self.kind {
            ProblemKind::Foreign => write!(
                f,
                "{path} {}: left alone, never sent or followed (remove it yourself)",
                self.why
            ),
            ProblemKind::Damaged => write!(f, "{path} cannot be read: {}", self.why),
            ProblemKind::Stray => write!(f, "{path} {}: not a queue entry, left alone", self.why),
        }
    }
}

/// Everything in the spool, for listing.
#[derive(Debug, Default)]
pub struct Survey {
    pub queued: Vec<Info>,
    pub failed: Vec<Info>,
    pub damaged: Vec<Info>,
    pub problems: Vec<Problem>,
}

impl Survey {
    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
            && self.failed.is_empty()
            && self.damaged.is_empty()
            && self.problems.is_empty()
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

pub struct Spool {
    dirs: Arc<Dirs>,
}

/// An entry held under its lock (on the entry file itself). Dropping it
/// releases the lock.
pub struct Locked {
    dirs: Arc<Dirs>,
    id: String,
    lock: Flock<File>,
    /// Where the message starts in the file.
    offset: u64,
    pub meta: Meta,
    pub state: State,
    /// A `.state` file of ours exists (removed with the entry).
    state_file: bool,
    /// Why the delivery history could not be used (treated as new).
    pub state_problem: Option<Refusal>,
}

/// What [`Spool::take`] found.
pub enum Taken {
    Locked(Box<Locked>),
    /// Another process holds it.
    Busy,
    /// Not there (delivered or moved meanwhile).
    Gone,
    /// Not a usable entry.
    Problem(Problem),
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

/// Read a small file of ours (`.state`, `.note`), at most
/// [`SMALL_FILE_LIMIT`] bytes. `Ok(None)`: there is none.
fn read_small(dir: &OwnDir, name: &str) -> Result<Option<Vec<u8>>, Refusal> {
    let Some((file, _)) = dir.open_file(name, false)? else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    file.take(SMALL_FILE_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Refusal::Unusable(format!("cannot be read: {e}")))?;
    if bytes.len() as u64 > SMALL_FILE_LIMIT {
        return Err(Refusal::Unusable(format!(
            "is larger than {SMALL_FILE_LIMIT} bytes"
        )));
    }
    Ok(Some(bytes))
}

/// The delivery history of `id` in `dir`: (state, an own `.state` file
/// exists, why it could not be used). A history that cannot be used makes
/// the entry new again: at worst one attempt too early.
fn read_state(dir: &OwnDir, id: &str) -> (State, bool, Option<Refusal>) {
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
        Ok(None) => (State::default(), false, None),
        Ok(Some(bytes)) => match serde_json::from_slice::<State>(&bytes) {
            Ok(state) => (state, true, None),
            Err(e) => (
                State::default(),
                true,
                Some(explain(Refusal::Unusable(format!("is damaged ({e})")))),
            ),
        },
        Err(r) => (State::default(), false, Some(explain(r))),
    }
}

fn read_note(dir: &OwnDir, id: &str) -> Option<String> {
    match read_small(dir, &format!("{id}.note")) {
        Ok(Some(bytes)) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        Ok(None) => None,
        Err(r) => Some(format!("(its note {})", r.why())),
    }
}

fn bad_data(why: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why)
}

/// Read and check an entry's header: (meta with its size, message offset).
fn read_header(file: &File) -> io::Result<(Meta, u64)> {
    let len = file.metadata()?.len();
    let mut r = BufReader::with_capacity(4096, file);
    r.seek(SeekFrom::Start(0))?;
    decode_header(&mut r, len)
}

/// [`read_header`] on any reader: `r` at the start of an entry of `len`
/// bytes. Public for the fuzz target (tests/fuzz); not an API.
#[doc(hidden)]
pub fn decode_header(r: &mut dyn BufRead, len: u64) -> io::Result<(Meta, u64)> {
    let mut prefix = [0u8; PREFIX_LEN];
    r.read_exact(&mut prefix)
        .map_err(|_| bad_data("no entry header (the file is too short)".into()))?;
    if &prefix[..MAGIC.len()] != MAGIC || prefix[PREFIX_LEN - 1] != b'\n' {
        return Err(bad_data("not a queue entry (bad magic)".into()));
    }
    let size: u64 = std::str::from_utf8(&prefix[MAGIC.len()..PREFIX_LEN - 1])
        .ok()
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| bad_data("bad size in the entry header".into()))?;
    let mut line = Vec::new();
    (&mut *r).take(META_LIMIT).read_until(b'\n', &mut line)?;
    if line.last() != Some(&b'\n') {
        return Err(bad_data(if line.len() as u64 == META_LIMIT {
            format!("the entry's metadata line is longer than {META_LIMIT} bytes")
        } else {
            "the entry's metadata line is cut short".into()
        }));
    }
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

fn refusal_error(path: &Path, r: Refusal) -> io::Error {
    let kind = match r {
        Refusal::Foreign(_) => io::ErrorKind::PermissionDenied,
        Refusal::Unusable(_) => io::ErrorKind::InvalidData,
    };
    io::Error::new(kind, format!("{} {}", path.display(), r.why()))
}

impl Spool {
    /// Open (creating as needed, mode 0700) the spool at `root`. A root or
    /// subdirectory that is not a private directory of the user's is
    /// refused with status 77 (NOPERM), naming it, its owner and its mode;
    /// one that cannot be created fails with 75.
    pub fn open(root: &Path) -> Result<Spool, Failure> {
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
        Ok(Spool {
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
    ) -> Result<Locked, Failure> {
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
        Ok(Locked {
            dirs: self.dirs.clone(),
            id: id.to_string(),
            lock,
            offset,
            meta,
            state: State::default(),
            state_file: false,
            state_problem: None,
        })
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
    /// they are (see [`Spool::survey`] for what can be used).
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

    fn problem(&self, area: Area, name: &OsStr, kind: ProblemKind, why: String) -> Problem {
        Problem {
            name: printable(name),
            path: self.dirs.of(area).join(name),
            kind,
            why,
        }
    }

    /// What a refusal of an entry file means in `area`.
    fn entry_problem(&self, area: Area, id: &str, r: Refusal) -> Problem {
        match r {
            Refusal::Foreign(w) => self.problem(area, id.as_ref(), ProblemKind::Foreign, w),
            Refusal::Unusable(w) => self.problem(area, id.as_ref(), ProblemKind::Damaged, w),
        }
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
        Ok(Taken::Locked(Box::new(Locked {
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
    /// ([`Spool::take`] says which).
    pub fn lock(&self, id: &str) -> Result<Option<Locked>, Failure> {
        match self.take(id)? {
            Taken::Locked(l) => Ok(Some(*l)),
            _ => Ok(None),
        }
    }

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

    /// Entries ready for delivery, without taking locks (even a moment's
    /// lock would make a concurrent flush skip the entry).
    pub fn infos(&self) -> Vec<Info> {
        self.scan(Area::Msg).0
    }

    /// Entries given up on.
    pub fn failed_infos(&self) -> Vec<Info> {
        self.scan(Area::Failed).0
    }

    /// Entries moved aside because they could not be read.
    pub fn damaged_infos(&self) -> Vec<Info> {
        self.scan(Area::Damaged).0
    }

    /// The usable entries of `msg/` and what is wrong there.
    pub fn scan_queued(&self) -> (Vec<Info>, Vec<Problem>) {
        self.scan(Area::Msg)
    }

    /// Everything, for listing: nothing is moved or removed.
    pub fn survey(&self) -> Survey {
        let (queued, mut problems) = self.scan(Area::Msg);
        let (failed, p) = self.scan(Area::Failed);
        problems.extend(p);
        let (damaged, p) = self.scan(Area::Damaged);
        problems.extend(p);
        problems.extend(self.tmp_problems());
        problems.extend(self.control_problems());
        Survey {
            queued,
            failed,
            damaged,
            problems,
        }
    }

    fn scan(&self, area: Area) -> (Vec<Info>, Vec<Problem>) {
        let dir = self.dirs.of(area);
        let mut problems = Vec::new();
        let mut names = match dir.names() {
            Ok(n) => n,
            Err(e) => {
                let p = self.problem(
                    area,
                    "".as_ref(),
                    ProblemKind::Damaged,
                    format!("cannot be listed: {e}"),
                );
                return (Vec::new(), vec![p]);
            }
        };
        names.sort();
        let ids: std::collections::HashSet<&str> = names
            .iter()
            .filter_map(|n| n.to_str())
            .filter(|n| valid_id(n))
            .collect();
        let kept = area != Area::Msg;
        let mut infos = Vec::new();
        for name in &names {
            let Some(id) = name.to_str().filter(|n| valid_id(n)) else {
                if let Some(p) = self.side_file(area, name, &ids) {
                    problems.push(p);
                }
                continue;
            };
            let header = match dir.open_file(id, false) {
                Ok(Some((f, _))) => read_header(&f).map_err(|e| Refusal::Unusable(e.to_string())),
                Ok(None) => continue, // gone meanwhile
                Err(r) => Err(r),
            };
            let (meta, unreadable) = match header {
                Ok((meta, _)) => (meta, None),
                Err(Refusal::Foreign(w)) => {
                    problems.push(self.problem(area, name, ProblemKind::Foreign, w));
                    continue;
                }
                // Failed and damaged entries are listed even when unreadable.
                Err(Refusal::Unusable(w)) if kept => (Meta::default(), Some(w)),
                Err(Refusal::Unusable(w)) => {
                    problems.push(self.problem(area, name, ProblemKind::Damaged, w));
                    continue;
                }
            };
            let (state, _, state_problem) = read_state(dir, id);
            let note = if kept { read_note(dir, id) } else { None };
            infos.push(Info {
                id: id.to_string(),
                meta,
                state,
                note,
                unreadable,
                state_problem,
            });
        }
        infos.sort_by(|a, b| (a.meta.created, &a.id).cmp(&(b.meta.created, &b.id)));
        (infos, problems)
    }

    /// A name in `area` that is not an entry: its `.state` or `.note`
    /// (checked with the entry), or something else, which is reported.
    fn side_file(
        &self,
        area: Area,
        name: &OsStr,
        ids: &std::collections::HashSet<&str>,
    ) -> Option<Problem> {
        let text = name.to_str().unwrap_or("");
        let owner = text
            .strip_suffix(".state")
            .or_else(|| text.strip_suffix(".note").filter(|_| area != Area::Msg))
            .filter(|id| valid_id(id));
        if owner.is_some_and(|id| ids.contains(id)) {
            return None;
        }
        let st = match self.dirs.of(area).lstat(name) {
            Ok(Some(st)) => st,
            Ok(None) => return None,
            Err(e) => {
                return Some(self.problem(
                    area,
                    name,
                    ProblemKind::Stray,
                    format!("cannot be examined: {e}"),
                ))
            }
        };
        Some(match check_file(&st) {
            Err(Refusal::Foreign(w)) => self.problem(area, name, ProblemKind::Foreign, w),
            Err(Refusal::Unusable(w)) => self.problem(area, name, ProblemKind::Stray, w),
            Ok(()) if owner.is_some() => self.problem(
                area,
                name,
                ProblemKind::Stray,
                "belongs to no queued message".into(),
            ),
            Ok(()) => self.problem(area, name, ProblemKind::Stray, "is not a queue file".into()),
        })
    }

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

    /// What in `tmp/` is not a staging file of ours.
    fn tmp_problems(&self) -> Vec<Problem> {
        let tmp = &self.dirs.tmp;
        let mut out = Vec::new();
        for name in tmp.names().unwrap_or_default() {
            match tmp.lstat(&name) {
                Ok(Some(st)) => match check_file(&st) {
                    Ok(()) => {}
                    Err(Refusal::Foreign(w)) => {
                        out.push(self.problem(Area::Tmp, &name, ProblemKind::Foreign, w))
                    }
                    Err(Refusal::Unusable(w)) => {
                        out.push(self.problem(Area::Tmp, &name, ProblemKind::Stray, w))
                    }
                },
                Ok(None) => {}
                Err(e) => out.push(self.problem(
                    Area::Tmp,
                    &name,
                    ProblemKind::Stray,
                    format!("cannot be examined: {e}"),
                )),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Remove debris: staging files of ours in `tmp/` whose writer died, or
    /// that nobody holds any more. Returns what is there and is not ours
    /// (left alone).
    pub fn cleanup(&self) -> Vec<Problem> {
        let tmp = &self.dirs.tmp;
        for name in tmp.names().unwrap_or_default() {
            let Ok(Some(st)) = tmp.lstat(&name) else {
                continue;
            };
            if check_file(&st).is_err() {
                continue;
            }
            let text = name.to_string_lossy();
            let writer_alive = staging_pid(&text).is_some_and(|pid| {
                pid == std::process::id() as i32
                    || nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
            });
            let old = now().saturating_sub(st.st_mtime.max(0) as u64) > TMP_GRACE_SECS;
            if writer_alive && !old {
                continue;
            }
            if let Ok(Some((file, held))) = tmp.open_file(&name, false) {
                if let Ok(Some(_lock)) = try_flock(file) {
                    if matches!(tmp.lstat(&name), Ok(Some(now)) if now.st_ino == held.st_ino) {
                        let _ = tmp.unlink(&name);
                    }
                }
            }
        }
        self.tmp_problems()
    }

    /// Move a locked entry to `failed/` with a note saying why. Nothing in
    /// `failed/` is replaced: if the name is taken, the entry stays queued.
    /// Returns where it is now, and why its note could not be written.
    pub fn fail(&self, entry: Locked, why: &str) -> io::Result<(PathBuf, Option<String>)> {
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

    /// Make removals from `msg/` durable.
    pub fn sync(&self) -> io::Result<()> {
        self.dirs.msg.sync()
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

/// The writer's pid in a staging name `ID.pPID`.
fn staging_pid(name: &str) -> Option<i32> {
    name.rsplit_once(".p")?.1.parse().ok()
}
