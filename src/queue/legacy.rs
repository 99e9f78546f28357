//! Picking up a queue left by the classic esmtp-wrapper script.
//!
//! The wrapper keeps `~/.esmtp_queue/XXXXXXXX/` with `cmd` (its sendmail
//! arguments as `echo "$@"` wrote them, later word-split by the shell),
//! `mail` (the raw message) and `lock` while it writes. Each complete entry
//! is turned into a spool entry (envelope from the arguments, message
//! normalised as a submission would be) under the id `w-XXXXXXXX`, then the
//! wrapper's directory is removed. An entry whose `lock` is older than
//! [`STALE_LOCK_SECS`] was abandoned by a writer that died half-way: it is
//! kept in `failed/` for the user to check, never sent.
//!
//! The queue does not read a command line: the stored arguments and the
//! raw message are handed to an [`EntryConverter`] that the caller passes
//! down (the command line's flag table and the submission pipeline), and
//! what comes back is stored as any other entry.

use super::store::{now, read_limited, Meta, Problem, ProblemKind, QueueDir};
use crate::exit::Failure;
use crate::owned::{check_dir, check_file, printable, OwnDir, Refusal};
use crate::plan::Plan;
use crate::route::{Decision, Local};
use crate::transport::{Envelope, MessageOptions};
use std::ffi::{OsStr, OsString};
use std::io::Cursor;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A wrapper lock older than this belongs to a writer that died.
pub const STALE_LOCK_SECS: u64 = 600;

/// The most of a `cmd` file that is read (the wrapper writes one line).
const CMD_LIMIT: u64 = 64 * 1024;

/// A wrapper entry made ready by the submission pipeline: its route, its
/// SMTP envelope and options, and its normalised message.
pub struct Converted {
    pub decision: Decision,
    pub envelope: Envelope,
    pub options: MessageOptions,
    pub message: crate::message::Spooled,
}

/// Turns a wrapper entry's stored sendmail arguments (`cmd`) and raw
/// message (`mail`) into a [`Converted`] submission, as sendmail mode would
/// make it; the error says why it cannot be.
pub type EntryConverter = fn(plan: &Plan, cmd: &str, mail: &[u8]) -> Result<Converted, String>;

/// An esmtp-wrapper queue to import, and how its entries become submissions.
#[derive(Debug, Clone)]
pub struct WrapperImport {
    pub dir: PathBuf,
    pub convert: EntryConverter,
}

impl WrapperImport {
    /// The wrapper's queue at [`default_dir`], when it exists.
    pub fn at_default_dir(convert: EntryConverter) -> Option<WrapperImport> {
        default_dir().map(|dir| WrapperImport { dir, convert })
    }
}

/// `~/.esmtp_queue`, when something by that name exists (whether it may be
/// used is checked when it is opened).
pub fn default_dir() -> Option<PathBuf> {
    let d = dirs::home_dir()?.join(".esmtp_queue");
    std::fs::symlink_metadata(&d).is_ok().then_some(d)
}

/// A wrapper queue opened under the rules of the spool: the directory and
/// each entry directory must be the user's own, not links, not writable by
/// others; `cmd` and `mail` the user's own regular files.
struct WrapperQueue {
    dir: OwnDir,
    /// Entry directories that may be used, by name, sorted.
    entries: Vec<(OsString, OwnDir)>,
    problems: Vec<Problem>,
}

/// Open the wrapper queue at `path`: `Err` with the problem when the
/// directory itself is refused, `Ok(None)` when it is gone.
fn open(path: &Path) -> Result<Option<WrapperQueue>, Problem> {
    let dir = match OwnDir::open(path, false) {
        Ok((d, _)) => d,
        Err(e) if e.refused => {
            return Err(Problem::at(path.to_path_buf(), ProblemKind::Foreign, e.why))
        }
        Err(_) if std::fs::symlink_metadata(path).is_err() => return Ok(None),
        Err(e) => return Err(Problem::at(path.to_path_buf(), ProblemKind::Damaged, e.why)),
    };
    let mut names = match dir.names() {
        Ok(n) => n,
        Err(e) => {
            return Err(Problem::at(
                path.to_path_buf(),
                ProblemKind::Damaged,
                format!("cannot be listed: {e}"),
            ))
        }
    };
    names.sort();
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    for name in names {
        match open_entry(&dir, &name) {
            Some(Ok(entry)) => entries.push((name, entry)),
            Some(Err(p)) => problems.push(p),
            None => {}
        }
    }
    Ok(Some(WrapperQueue {
        dir,
        entries,
        problems,
    }))
}

/// The entry directory `name` of the wrapper queue `dir`: `None` for what
/// the wrapper itself ignores (its dot files, files of the user's), a
/// problem for what may not be used (another user's, a link, a name that
/// is not UTF-8, a `cmd` or `mail` that is not the user's own file).
fn open_entry(dir: &OwnDir, name: &OsStr) -> Option<Result<OwnDir, Problem>> {
    // The wrapper's own files (.deliver_lock) start with a dot.
    if name.as_bytes().starts_with(b".") {
        return None;
    }
    let Ok(Some(st)) = dir.lstat(name) else {
        return None;
    };
    let path = dir.join(name);
    let is_dir = st.st_mode & nix::libc::S_IFMT == nix::libc::S_IFDIR;
    let is_link = st.st_mode & nix::libc::S_IFMT == nix::libc::S_IFLNK;
    if !is_dir && !is_link && st.st_uid == nix::unistd::geteuid().as_raw() {
        return None; // a file of the user's: the wrapper ignores those too
    }
    let checked = if is_dir {
        check_dir(&st)
    } else {
        check_file(&st).map_err(|r| r.why().to_string())
    };
    if let Err(why) = checked {
        return Some(Err(Problem::at(path, ProblemKind::Foreign, why)));
    }
    let text = name.to_string_lossy().into_owned();
    Some(match dir.sub(&text, false) {
        Ok((d, _)) if text.as_bytes() == name.as_bytes() => {
            // Its files are looked at (not opened) here, so that a
            // listing shows what a flush would refuse.
            let bad = ["cmd", "mail"].into_iter().find_map(|f| {
                let st = d.lstat(f).ok()??;
                check_file(&st)
                    .err()
                    .map(|r| Problem::refused_entry(d.join(f), r))
            });
            match bad {
                Some(p) => Err(p),
                None => Ok(d),
            }
        }
        Ok(_) => Err(Problem::at(
            path,
            ProblemKind::Stray,
            "has a name that is not UTF-8".into(),
        )),
        Err(e) => {
            let kind = if e.refused {
                ProblemKind::Foreign
            } else {
                ProblemKind::Damaged
            };
            Err(Problem::at(path, kind, e.why))
        }
    })
}

/// Entries waiting in a wrapper queue (for `mailq`).
pub fn pending(dir: &Path) -> usize {
    survey(dir).0
}

/// Entries waiting in a wrapper queue, and what in it is not used.
pub fn survey(dir: &Path) -> (usize, Vec<Problem>) {
    match open(dir) {
        Ok(Some(q)) => (q.entries.len(), q.problems),
        Ok(None) => (0, Vec::new()),
        Err(p) => (0, vec![p]),
    }
}

fn age_secs(st: &nix::sys::stat::FileStat) -> u64 {
    now().saturating_sub(st.st_mtime.max(0) as u64)
}

/// True when the wrapper itself is delivering (its dotlockfile holds a live pid).
fn wrapper_delivering(dir: &OwnDir) -> bool {
    let Ok(Some(text)) = read_limited(dir, ".deliver_lock", CMD_LIMIT) else {
        return false;
    };
    match String::from_utf8_lossy(&text).trim().parse::<i32>() {
        Ok(pid) if pid > 0 => nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok(),
        _ => false,
    }
}

/// Import every complete wrapper entry into `spool`; returns how many.
/// What cannot be used is reported on stderr and left alone.
pub fn import(spool: &QueueDir, plan: &Plan, wrapper: &WrapperImport) -> Result<usize, Failure> {
    let mut problems = Vec::new();
    let n = import_reporting(spool, plan, wrapper, &mut problems)?;
    for p in problems {
        eprintln!("esmtp: esmtp-wrapper queue: {p}");
    }
    Ok(n)
}

/// [`import`], handing what cannot be used to the caller.
pub fn import_reporting(
    spool: &QueueDir,
    plan: &Plan,
    wrapper: &WrapperImport,
    problems: &mut Vec<Problem>,
) -> Result<usize, Failure> {
    let queue = match open(&wrapper.dir) {
        Ok(Some(q)) => q,
        Ok(None) => return Ok(0),
        Err(p) => {
            problems.push(p);
            return Ok(0);
        }
    };
    problems.extend(queue.problems);
    if wrapper_delivering(&queue.dir) {
        return Ok(0);
    }
    let mut n = 0;
    for (raw_name, entry) in &queue.entries {
        let place = EntryPlace {
            queue: &queue.dir,
            name: raw_name,
            dir: entry,
        };
        if import_entry(spool, plan, wrapper.convert, &place, problems)? {
            n += 1;
        }
    }
    if n > 0 {
        let _ = queue.dir.sync();
    }
    Ok(n)
}

/// One entry directory of a wrapper queue: the queue's directory, the
/// entry's name in it and the entry's own directory.
struct EntryPlace<'a> {
    queue: &'a OwnDir,
    name: &'a OsStr,
    dir: &'a OwnDir,
}

/// The spool id of a wrapper entry: `w-` and its directory name, any
/// character but ASCII letters, digits and `-` made `_`.
fn spool_id(name: &str) -> String {
    format!("w-{name}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Import one wrapper entry into `spool` and remove it: true when it was
/// imported now (stored, or delivered to its local recipients only).
fn import_entry(
    spool: &QueueDir,
    plan: &Plan,
    convert: EntryConverter,
    place: &EntryPlace,
    problems: &mut Vec<Problem>,
) -> Result<bool, Failure> {
    let name = place.name.to_string_lossy().into_owned();
    let id = spool_id(&name);
    if spool.exists(&id) {
        // Imported before a crash could remove the original.
        remove_wrapper_entry(place, problems)?;
        return Ok(false);
    }
    let abandoned = match place.dir.lstat("lock") {
        Ok(Some(st)) if age_secs(&st) < STALE_LOCK_SECS => return Ok(false), // still being written
        Ok(Some(_)) => true,
        _ => false,
    };
    let Some((cmd, mail)) = read_entry_files(place, abandoned, problems) else {
        return Ok(false);
    };
    let cmd = String::from_utf8_lossy(&cmd).into_owned();
    let (meta, ready, mut problem) = match wrapper_entry(plan, &cmd, &mail, convert) {
        Ok(p) => {
            let problem = match &p.converted.decision.local {
                Some(local) if !abandoned => deliver_local(&p.converted, local).err(),
                _ => None,
            };
            if p.meta.recipients.is_empty() && problem.is_none() && !abandoned {
                // Local recipients only, and they have it.
                remove_wrapper_entry(place, problems)?;
                return Ok(true);
            }
            (p.meta, Some(p.converted), problem)
        }
        Err(why) => (fallback_meta(plan), None, Some(why)),
    };
    if abandoned {
        problem = Some("the esmtp-wrapper never finished writing this message (stale lock); it may be incomplete: check it and resend it".into());
    }
    let locked = match &ready {
        Some(r) => spool.create(&id, &meta, &mut r.message.crlf(), Some(r.message.size))?,
        // Kept as the wrapper wrote it, in failed/, for the user to see.
        None => spool.create(&id, &meta, &mut Cursor::new(&mail), None)?,
    };
    match problem {
        // Remote recipients still go; the local failure is reported.
        Some(why) if !meta.recipients.is_empty() && !abandoned => {
            eprintln!(
                "esmtp: esmtp-wrapper entry {}: {why}",
                printable(place.name)
            );
            drop(locked);
        }
        Some(why) => {
            let _ = spool.fail(locked, &format!("esmtp-wrapper entry {name}: {why}"));
        }
        None => drop(locked),
    }
    remove_wrapper_entry(place, problems)?;
    Ok(true)
}

/// The `cmd` and `mail` of a complete entry. `None` when a file is refused
/// (reported in `problems`) or missing: an entry left empty long ago (and
/// not `abandoned` under a lock) is debris, and its directory goes.
fn read_entry_files(
    place: &EntryPlace,
    abandoned: bool,
    problems: &mut Vec<Problem>,
) -> Option<(Vec<u8>, Vec<u8>)> {
    let entry = place.dir;
    let unusable = |file: &str, r: Refusal| Problem::refused_entry(entry.join(file), r);
    let cmd = match read_limited(entry, "cmd", CMD_LIMIT) {
        Ok(c) => c,
        Err(r) => {
            problems.push(unusable("cmd", r));
            return None;
        }
    };
    let mail = match read_limited(entry, "mail", u64::MAX) {
        Ok(m) => m,
        Err(r) => {
            problems.push(unusable("mail", r));
            return None;
        }
    };
    let (Some(cmd), Some(mail)) = (cmd, mail) else {
        let old = entry
            .lstat(".")
            .ok()
            .flatten()
            .is_some_and(|st| age_secs(&st) > STALE_LOCK_SECS);
        if !abandoned && old {
            // mkdir without content, long ago: debris.
            let _ = place.queue.rmdir(place.name);
        }
        return None;
    };
    Some((cmd, mail))
}

/// Remove an imported wrapper entry: its `mail` and `cmd` first (so that it
/// is never imported twice), then its lock and the directory. Anything else
/// in it is not ours to delete: the directory stays, reported.
fn remove_wrapper_entry(place: &EntryPlace, problems: &mut Vec<Problem>) -> Result<(), Failure> {
    let (queue, name, entry) = (place.queue, place.name, place.dir);
    for file in ["mail", "cmd", "lock"] {
        if let Err(r) = entry.unlink_own(file) {
            let p = Problem::at(entry.join(file), ProblemKind::Foreign, r.why().to_string());
            if file == "lock" {
                problems.push(p);
            } else {
                return Err(Failure::tempfail(format!("queue: cannot remove {p}")));
            }
        }
    }
    if let Err(e) = queue.rmdir(name) {
        problems.push(Problem::at(
            entry.path().to_path_buf(),
            ProblemKind::Stray,
            format!("was imported but cannot be removed ({e}): left in place"),
        ));
    }
    Ok(())
}

/// Local recipients of a wrapper entry go through the MDA now, as esmtp
/// 1.2 would have sent them when the wrapper ran it.
fn deliver_local(ready: &Converted, local: &Local) -> Result<(), String> {
    let feed = |stdin: &mut std::process::ChildStdin| ready.message.write_lf(stdin).map(drop);
    crate::transport::mda::deliver_with(&local.command, false, feed).map_err(|f| f.message)
}

fn fallback_meta(plan: &Plan) -> Meta {
    let idx = plan.default_identity;
    Meta {
        created: now(),
        identity: plan.identities.get(idx).and_then(|i| i.address.clone()),
        identity_index: idx,
        ..Meta::default()
    }
}

/// A wrapper entry made ready through the same path as sendmail mode (the
/// converter), with what its queue entry records.
pub struct WrapperEntry {
    /// What the queue entry records (its recipients may be empty when all
    /// of them are local).
    pub meta: Meta,
    pub converted: Converted,
}

/// Make the wrapper entry (`cmd`, `raw`) ready with `convert`, and what
/// its queue entry will record.
pub fn wrapper_entry(
    plan: &Plan,
    cmd: &str,
    raw: &[u8],
    convert: EntryConverter,
) -> Result<WrapperEntry, String> {
    let converted = convert(plan, cmd, raw)?;
    let meta = super::meta_for(
        plan,
        converted.decision.identity,
        &converted.envelope,
        &converted.options,
    );
    Ok(WrapperEntry { meta, converted })
}
