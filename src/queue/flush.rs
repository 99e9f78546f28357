//! Delivering the queue: what is due (everything when a user asks), one
//! SMTP session per identity for all of its messages, the esmtp-wrapper
//! queue imported first. An entry refused for good, or still undeliverable
//! at the end of its lifetime, is returned to the sender through the MDA
//! or kept in `failed/`. A flush's exit status sums up what it found.
use super::legacy::{self, EntryConverter, WrapperImport};
use super::store::{now, Area, LockedEntry, Problem, ProblemKind, QueueDir, Taken};
use super::{bounce, queue_dir, resolve_identity, send_entry};
use crate::exit::{Failure, IOERR, NOPERM, SOFTWARE, TEMPFAIL};
use crate::plan::{Identity, Plan};
use crate::transport::{Session, SessionOptions};
use std::collections::BTreeMap;

/// What a flush did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlushReport {
    pub delivered: usize,
    /// Still queued after a temporary failure.
    pub deferred: usize,
    /// Refused for good or past the lifetime: returned or moved to failed/.
    pub failed: usize,
    /// Not due yet, or held by another process.
    pub skipped: usize,
    /// Imported from an esmtp-wrapper queue.
    pub imported: usize,
    /// Entries that could not be read (moved to damaged/), and files of
    /// the user's in the queue that are not entries (left alone).
    pub damaged: usize,
    /// Files that are not the user's own, links, files with other links
    /// (left alone, never sent).
    pub foreign: usize,
}

/// How to flush.
#[derive(Debug, Clone, Default)]
pub struct FlushOptions {
    /// Ignore the backoff schedule: try everything now.
    pub force: bool,
    /// The esmtp-wrapper queue to import first (`None`: do not look).
    pub wrapper: Option<WrapperImport>,
}

/// `-q`, `deliver`, `esmtp queue flush`: deliver the queue. A flush that a
/// user (or cron) asks for tries every message, whatever its retry
/// schedule: typically the network just came back (the dial-up case the
/// wrapper was written for). The schedule governs the automatic background
/// flushes; a smarthost that is still down costs one connection attempt per
/// identity either way. The esmtp-wrapper queue is imported with `convert`.
pub fn flush(
    plan: &Plan,
    session: &SessionOptions,
    convert: EntryConverter,
) -> Result<(), Failure> {
    let opts = FlushOptions {
        force: true,
        wrapper: WrapperImport::at_default_dir(convert),
    };
    let report = flush_with(plan, session, &opts)?;
    flush_status(&report)
}

/// The exit status of a flush: 77 (NOPERM) when files that are not the
/// user's own were found in the queue, 74 (IOERR) when entries could not be
/// read (moved to damaged/), 75 when messages are still waiting, 70 when
/// some were given up; else success. Each case was reported on stderr; the
/// message sums them all up.
pub fn flush_status(report: &FlushReport) -> Result<(), Failure> {
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let mut parts = Vec::new();
    let mut status = None;
    let mut add = |n: usize, code: u8, text: String| {
        if n > 0 {
            status.get_or_insert(code);
            parts.push(text);
        }
    };
    add(
        report.foreign,
        NOPERM,
        format!(
            "{} file{} in the queue not yours, left alone",
            report.foreign,
            plural(report.foreign)
        ),
    );
    add(
        report.damaged,
        IOERR,
        format!(
            "{} queue entr{} could not be read (kept aside)",
            report.damaged,
            if report.damaged == 1 { "y" } else { "ies" }
        ),
    );
    add(
        report.deferred,
        TEMPFAIL,
        format!(
            "{} message{} still queued",
            report.deferred,
            plural(report.deferred)
        ),
    );
    add(
        report.failed,
        SOFTWARE,
        format!(
            "{} message{} could not be delivered",
            report.failed,
            plural(report.failed)
        ),
    );
    match status {
        None => Ok(()),
        Some(code) => Err(Failure::new(
            code,
            format!("{} (see above and `mailq`)", parts.join("; ")),
        )),
    }
}

/// Say on stderr what is wrong with something in the queue, and count it.
/// An entry of `msg/` that cannot be read is moved to `damaged/` first.
fn report_problem(spool: &QueueDir, p: &Problem, report: &mut FlushReport) {
    let in_msg = p.path.parent() == Some(spool.area_path(Area::Msg));
    match p.kind {
        ProblemKind::Damaged if in_msg => match spool.set_aside(&p.name, &p.why) {
            Ok(kept) => eprintln!("esmtp: queue: {p}; moved to {} (kept)", kept.display()),
            Err(e) => eprintln!("esmtp: queue: {p}; not moved aside: {e}"),
        },
        _ => eprintln!("esmtp: queue: {p}"),
    }
    match p.kind {
        ProblemKind::Foreign => report.foreign += 1,
        ProblemKind::Damaged | ProblemKind::Stray => report.damaged += 1,
    }
}

/// Flush with explicit options; returns what happened.
pub fn flush_with(
    plan: &Plan,
    session: &SessionOptions,
    opts: &FlushOptions,
) -> Result<FlushReport, Failure> {
    let spool = QueueDir::open(&queue_dir(plan)?)?;
    let mut report = FlushReport::default();
    for p in spool.cleanup().iter().chain(&spool.control_problems()) {
        report_problem(&spool, p, &mut report);
    }
    if let Some(wrapper) = &opts.wrapper {
        let dir = &wrapper.dir;
        let mut problems = Vec::new();
        report.imported = legacy::import_reporting(&spool, plan, wrapper, &mut problems)?;
        for p in &problems {
            report_problem(&spool, p, &mut report);
        }
        if session.verbose && report.imported > 0 {
            println!(
                "imported {} message(s) from {}",
                report.imported,
                dir.display()
            );
        }
    }

    // Group the due entries by identity, in queue order (peeking without
    // locks; each entry is locked and re-checked right before sending).
    let at = now();
    let mut groups: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let (infos, problems) = spool.scan_queued();
    for p in &problems {
        report_problem(&spool, p, &mut report);
    }
    for info in infos {
        if !opts.force && info.state.next_attempt > at {
            report.skipped += 1;
            continue;
        }
        groups
            .entry(resolve_identity(plan, &info.meta))
            .or_default()
            .push(info.id);
    }

    for (idx, ids) in groups {
        flush_group(&spool, plan, idx, &ids, session, opts, &mut report)?;
    }
    if session.verbose {
        println!(
            "queue: {} delivered, {} deferred, {} failed, {} not due or busy",
            report.delivered, report.deferred, report.failed, report.skipped
        );
    }
    Ok(report)
}

fn flush_group(
    spool: &QueueDir,
    plan: &Plan,
    idx: usize,
    ids: &[String],
    session_opts: &SessionOptions,
    opts: &FlushOptions,
    report: &mut FlushReport,
) -> Result<(), Failure> {
    let mut connection = GroupConnection::new(&plan.identities[idx], session_opts);
    let mut removed = 0;
    for id in ids {
        let Some((entry, at)) = take_due(spool, id, opts.force, report)? else {
            continue;
        };
        let started = std::time::Instant::now();
        let result = connection.send(&entry);
        let attempt = connection.attempt();
        super::log_entry(
            plan,
            &plan.identities[idx],
            &entry,
            &attempt,
            started,
            &result,
        );
        removed += settle(spool, plan, entry, at, result, session_opts.verbose, report)?;
    }
    if removed > 0 {
        let _ = spool.sync();
    }
    connection.quit();
    Ok(())
}

/// Take the entry `id` under its lock if it is due (or `force`), with the
/// time of this attempt; what is busy, gone, not due or not usable is
/// counted in `report` and skipped.
fn take_due(
    spool: &QueueDir,
    id: &str,
    force: bool,
    report: &mut FlushReport,
) -> Result<Option<(LockedEntry, u64)>, Failure> {
    let entry = match spool.take(id)? {
        Taken::Locked(l) => *l,
        Taken::Busy | Taken::Gone => {
            report.skipped += 1;
            return Ok(None);
        }
        Taken::Problem(p) => {
            report_problem(spool, &p, report);
            return Ok(None);
        }
    };
    if let Some(sp) = &entry.state_problem {
        eprintln!(
            "esmtp: queue: {}/{}",
            spool.area_path(Area::Msg).display(),
            sp.why()
        );
        if matches!(sp, crate::owned::Refusal::Foreign(_)) {
            report.foreign += 1;
        }
    }
    let at = now();
    if !force && !entry.is_due(at) {
        report.skipped += 1;
        return Ok(None);
    }
    Ok(Some((entry, at)))
}

/// The SMTP session of one identity during a flush: opened for the first
/// message, opened again when the server dropped it; a failure to connect
/// is remembered, and every later message of the group waits on it.
struct GroupConnection<'a> {
    identity: &'a Identity,
    options: &'a SessionOptions,
    session: Option<Session>,
    connect_error: Option<Failure>,
}

impl<'a> GroupConnection<'a> {
    fn new(identity: &'a Identity, options: &'a SessionOptions) -> GroupConnection<'a> {
        GroupConnection {
            identity,
            options,
            session: None,
            connect_error: None,
        }
    }

    /// What the session did for the last entry (nothing, when it could not
    /// connect), for the delivery log.
    fn attempt(&self) -> crate::transport::log::Attempt {
        self.session
            .as_ref()
            .map(Session::attempt)
            .unwrap_or_default()
    }

    /// Send one entry, connecting first when needed.
    fn send(&mut self, entry: &LockedEntry) -> Result<(), Failure> {
        if self.session.as_ref().is_some_and(|s| !s.is_usable()) {
            // The server dropped us (or the connection broke) after the
            // previous message: reconnect for the rest.
            self.session = None;
        }
        if self.session.is_none() && self.connect_error.is_none() {
            match Session::connect(self.identity, self.options) {
                Ok(s) => self.session = Some(s),
                Err(f) => self.connect_error = Some(f),
            }
        }
        match (&mut self.session, &self.connect_error) {
            (Some(s), _) => match send_entry(s, entry) {
                // The connection died under this message (the server hung
                // up after the previous one, or the line broke): not this
                // message's fault, so it gets one try on a new connection.
                Err(f) if f.is_temporary() && !s.is_usable() => self.resend(entry, f),
                other => other,
            },
            (None, Some(f)) => {
                // Could not reach the smarthost: every message waits,
                // whatever the kind of failure (a wrong password must not
                // bounce the mail).
                Err(Failure::tempfail(f.message.clone()))
            }
            (None, None) => Err(Failure::software("queue: no session")),
        }
    }

    /// The one more try of an entry whose connection died under it (`lost`
    /// is that failure, returned when no new connection can be made).
    fn resend(&mut self, entry: &LockedEntry, lost: Failure) -> Result<(), Failure> {
        self.session = None;
        match Session::connect(self.identity, self.options) {
            Ok(mut fresh) => {
                let r = send_entry(&mut fresh, entry);
                self.session = Some(fresh);
                r
            }
            Err(e) => {
                self.connect_error = Some(e);
                Err(lost)
            }
        }
    }

    fn quit(self) {
        if let Some(s) = self.session {
            if let Err(f) = s.quit() {
                eprintln!("esmtp: queue: {f}");
            }
        }
    }
}

/// What one attempt at `at` means for `entry`: removed when delivered (not
/// yet synced: returns 1), its history recorded after a temporary failure
/// (given up once past its lifetime), given up when refused for good.
fn settle(
    spool: &QueueDir,
    plan: &Plan,
    mut entry: LockedEntry,
    at: u64,
    result: Result<(), Failure>,
    verbose: bool,
    report: &mut FlushReport,
) -> Result<usize, Failure> {
    let id = entry.id().to_string();
    match result {
        Ok(()) => {
            if verbose {
                println!("queue: {id} delivered");
            }
            spool
                .remove_unsynced(entry)
                .map_err(|e| Failure::tempfail(format!("queue: cannot remove {id}: {e}")))?;
            report.delivered += 1;
            return Ok(1);
        }
        Err(f) if f.is_temporary() => {
            if let Err(e) = entry.record_failure(&f.message, at) {
                eprintln!("esmtp: queue: {id}: this attempt is not recorded: {e}");
            }
            if at.saturating_sub(entry.meta.created) > plan.queue.lifetime_secs {
                let why = format!(
                    "still undeliverable after {} attempts; last error: {}",
                    entry.state.attempts, f.message
                );
                give_up(spool, plan, entry, &why);
                report.failed += 1;
            } else {
                if verbose {
                    println!("queue: {id} deferred: {}", f.message);
                }
                report.deferred += 1;
            }
        }
        Err(f) => {
            give_up(spool, plan, entry, &format!("refused: {}", f.message));
            report.failed += 1;
        }
    }
    Ok(0)
}

/// Give up on an entry: tell the sender through the MDA when one is
/// configured, else keep the message in `failed/` and say so on stderr.
fn give_up(spool: &QueueDir, plan: &Plan, entry: LockedEntry, why: &str) {
    let id = entry.id().to_string();
    let to = entry.meta.recipients.join(", ");
    eprintln!("esmtp: queue: giving up on {id} (to {to}): {why}");
    if plan.mda.is_some() {
        match bounce::return_to_sender(plan, &entry, why) {
            Ok(()) => {
                let _ = spool.remove(entry);
                return;
            }
            Err(e) => eprintln!("esmtp: queue: could not return {id} to the sender: {e}"),
        }
    }
    match spool.fail(entry, why) {
        Ok((path, note_error)) => {
            eprintln!("esmtp: queue: message kept in {}", path.display());
            if let Some(e) = note_error {
                eprintln!("esmtp: queue: {e}");
            }
        }
        Err(e) => eprintln!("esmtp: queue: could not move {id} to failed/: {e}"),
    }
}
