//! The durable queue (issue 6).
//!
//! With `queue enabled` (or `background`) a submission is first stored in
//! the spool ([`store`]) — files and directory fsynced — and only then
//! acknowledged; delivery follows at once (foreground), or in a detached
//! `esmtp queue flush` (background). A flush delivers what is due, one SMTP
//! session per identity for all of its messages, with per-entry backoff.
//! Every entry is delivered under an flock(2) on its own lock file, so two
//! flushes never send one message twice, and a crashed process's lock dies
//! with it. An esmtp-wrapper queue (`~/.esmtp_queue`) is imported by
//! [`legacy`] on every flush.

pub mod legacy;
pub mod status;
pub mod store;

use crate::exit::{Failure, IOERR, NOPERM, SOFTWARE, TEMPFAIL};
use crate::plan::{Plan, QueueMode};
use crate::transport::{Dsn, Envelope, MessageOptions, Session, SessionOptions};
use legacy::{EntryConverter, WrapperImport};
use std::collections::BTreeMap;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use store::{now, Area, Locked, Meta, Problem, ProblemKind, Spool, Taken};

/// What happened to a submission with the queue on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// Delivered at once; nothing left in the queue.
    Delivered,
    /// Stored durably; delivery failed temporarily or was left to the
    /// background. The string says why (one line for stderr).
    Queued(String),
}

/// The spool directory of a plan: `queue_dir`, else
/// `$XDG_DATA_HOME/esmtp/queue`, else `~/.local/share/esmtp/queue`.
pub fn queue_dir(plan: &Plan) -> Result<PathBuf, Failure> {
    if let Some(d) = &plan.queue.dir {
        return Ok(expand_home(d));
    }
    match dirs::data_dir() {
        Some(d) => Ok(d.join("esmtp").join("queue")),
        None => Err(Failure::config(
            "queue: no home directory to keep the queue in; set queue_dir",
        )),
    }
}

fn expand_home(p: &str) -> PathBuf {
    if let Some(rest) = p.strip_prefix("~/") {
        if let Some(h) = dirs::home_dir() {
            return h.join(rest);
        }
    }
    PathBuf::from(p)
}

/// Store one message for the identity `identity` (index into
/// `plan.identities`) durably, then try to deliver it per `plan.queue.mode`.
/// `message` is the normalised message exactly as `transport::relay` takes it.
/// A background flush imports the esmtp-wrapper queue with `convert`.
pub fn submit(
    plan: &Plan,
    identity: usize,
    envelope: &Envelope,
    options: &MessageOptions,
    session: &SessionOptions,
    message: &mut dyn Read,
    convert: EntryConverter,
) -> Result<Submitted, Failure> {
    // A refused queue directory is a temporary failure for the mail
    // client: it keeps the message until the user has fixed it.
    let spool = Spool::open(&queue_dir(plan)?).map_err(|f| {
        if f.status == NOPERM {
            Failure::tempfail(format!(
                "{}; the message was not queued or sent (your mail program keeps it)",
                f.message
            ))
        } else {
            f
        }
    })?;
    let entry = store_message(&spool, plan, identity, envelope, options, message)?;
    if session.verbose {
        println!(
            "esmtp: queued as {} in {}",
            entry.id(),
            spool.root().display()
        );
    }
    match plan.queue.mode {
        QueueMode::Background => {
            let id = entry.id().to_string();
            drop(entry);
            if let Some(p) = spool.control_problems().first() {
                return Ok(Submitted::Queued(format!(
                    "queued as {id}; not delivering in the background: {p}; run `esmtp queue flush`"
                )));
            }
            match background_flush(plan, convert) {
                Ok(()) => Ok(Submitted::Queued(format!(
                    "queued as {id}; delivering in the background"
                ))),
                Err(e) => Ok(Submitted::Queued(format!(
                    "queued as {id}; could not start the background delivery ({e}); run `esmtp queue flush`"
                ))),
            }
        }
        QueueMode::Enabled | QueueMode::Disabled => deliver_now(&spool, plan, entry, session),
    }
}

/// The storing half of [`submit`]: durable, returns the entry still locked.
/// On failure (status 75) nothing is left in the spool.
pub fn store_message(
    spool: &Spool,
    plan: &Plan,
    identity: usize,
    envelope: &Envelope,
    options: &MessageOptions,
    message: &mut dyn Read,
) -> Result<Locked, Failure> {
    ignore_sigxfsz();
    let meta = meta_for(plan, identity, envelope, options);
    spool.create(&store::new_id(), &meta, message, options.size)
}

/// What an entry records of a submission: identity, envelope, options.
pub fn meta_for(
    plan: &Plan,
    identity: usize,
    envelope: &Envelope,
    options: &MessageOptions,
) -> Meta {
    Meta {
        version: 1,
        created: now(),
        identity: plan
            .identities
            .get(identity)
            .and_then(|i| i.address.clone()),
        identity_index: identity,
        sender: envelope.sender.clone(),
        recipients: envelope.recipients.clone(),
        notify: options.dsn.notify.clone(),
        ret: options.dsn.ret,
        envid: options.dsn.envid.clone(),
        body_type: options.body_type,
        eight_bit: options.eight_bit,
        size: 0,
    }
}

/// A file-size limit (`ulimit -f`) must end in an error we can report, not in
/// SIGXFSZ killing us half-way.
fn ignore_sigxfsz() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: installing SIG_IGN runs no code in signal context.
    let _ = unsafe { signal(Signal::SIGXFSZ, SigHandler::SigIgn) };
}

fn deliver_now(
    spool: &Spool,
    plan: &Plan,
    mut entry: Locked,
    session: &SessionOptions,
) -> Result<Submitted, Failure> {
    let idx = resolve_identity(plan, &entry.meta);
    let identity = &plan.identities[idx];
    // A failure to set up the session (server down, TLS or login refused, a
    // passwordeval that fails) is not this message's fault: it stays queued
    // until the user fixes the cause and flushes, as in a flush.
    let connected = Session::connect(identity, session).map_err(|f| Failure::tempfail(f.message));
    let result = connected.and_then(|mut s| {
        let sent = send_entry(&mut s, &entry);
        match sent {
            Ok(()) => s.quit().or(Ok(())),
            Err(f) => {
                let _ = s.quit();
                Err(f)
            }
        }
    });
    match result {
        Ok(()) => {
            if let Err(e) = spool.remove(entry) {
                eprintln!("esmtp: queue: delivered, but could not remove the entry: {e}");
            }
            Ok(Submitted::Delivered)
        }
        Err(f) if f.is_temporary() => {
            let id = entry.id().to_string();
            let _ = entry.record_failure(&f.message, now());
            Ok(Submitted::Queued(format!("queued as {id}: {}", f.message)))
        }
        Err(f) => {
            // Refused for good while the user is there to see it: report,
            // do not keep.
            let _ = spool.remove(entry);
            Err(f)
        }
    }
}

/// Which identity delivers an entry under the current plan: the one with the
/// recorded address; for the unnamed section the recorded index if it is
/// still unnamed; otherwise the default.
pub fn resolve_identity(plan: &Plan, meta: &Meta) -> usize {
    match &meta.identity {
        // As routing selects it (the last declaration of a duplicate).
        Some(addr) => crate::route::find_identity(plan, crate::address::bare(addr))
            .unwrap_or(plan.default_identity),
        None => match plan.identities.get(meta.identity_index) {
            Some(i) if i.address.is_none() => meta.identity_index,
            _ => plan
                .identities
                .iter()
                .position(|i| i.address.is_none())
                .unwrap_or(plan.default_identity),
        },
    }
    .min(plan.identities.len().saturating_sub(1))
}

fn options_of(meta: &Meta) -> MessageOptions {
    MessageOptions {
        dsn: Dsn {
            notify: meta.notify.clone(),
            ret: meta.ret,
            envid: meta.envid.clone(),
        },
        body_type: meta.body_type,
        eight_bit: meta.eight_bit,
        streamed: false,
        size: Some(meta.size),
    }
}

fn send_entry(session: &mut Session, entry: &Locked) -> Result<(), Failure> {
    let data = entry
        .open_data()
        .map_err(|e| Failure::software(format!("queue: entry {}: {e}", entry.id())))?;
    let envelope = Envelope {
        sender: entry.meta.sender.clone(),
        recipients: entry.meta.recipients.clone(),
    };
    let mut reader = BufReader::with_capacity(64 * 1024, data);
    session.send(&envelope, &options_of(&entry.meta), &mut reader)
}

/// Flush the queue from a detached process (double fork, new session,
/// standard streams on /dev/null). Forking rather than re-executing keeps
/// the exact plan of this submission (`-C FILE` included) without passing
/// it on a command line. The caller (a sendmail process) is single-threaded
/// at this point: no runtime has been started.
fn background_flush(plan: &Plan, convert: EntryConverter) -> Result<(), String> {
    use nix::sys::wait::waitpid;
    use nix::unistd::{fork, setsid, ForkResult};
    // SAFETY: the child only runs our own code (no locks held by other
    // threads are needed: allocation is fork-safe in glibc) and leaves with
    // _exit.
    match unsafe { fork() } {
        Err(e) => Err(e.to_string()),
        Ok(ForkResult::Parent { child }) => {
            // The intermediate child exits at once; reap it.
            let _ = waitpid(child, None);
            Ok(())
        }
        Ok(ForkResult::Child) => {
            let _ = setsid();
            // SAFETY: as above; the grandchild is re-parented to init.
            match unsafe { fork() } {
                Ok(ForkResult::Child) => {
                    detach_stdio();
                    let status = match background_flushes(plan, convert) {
                        Ok(()) => 0,
                        Err(f) => i32::from(f.status),
                    };
                    // SAFETY: ends the process without running the parent's
                    // exit handlers twice.
                    unsafe { nix::libc::_exit(status) }
                }
                _ => unsafe { nix::libc::_exit(0) },
            }
        }
    }
}

/// How long a background flusher waits for more submissions before each scan.
const BACKGROUND_GATHER: std::time::Duration = std::time::Duration::from_millis(500);

/// One background flusher per spool: a burst of submissions (git
/// send-email) must not open a connection each. A submission that finds
/// the guard taken asks the holder for one more scan; the holder looks for
/// that request after letting the guard go, so no message is left behind.
fn background_flushes(plan: &Plan, convert: EntryConverter) -> Result<(), Failure> {
    let spool = Spool::open(&queue_dir(plan)?)?;
    let opts = FlushOptions {
        force: false,
        wrapper: WrapperImport::at_default_dir(convert),
    };
    let io = |e: io::Error| Failure::tempfail(format!("queue: {e}"));
    loop {
        let guard = match spool.background_guard().map_err(io)? {
            Some(g) => g,
            None => {
                spool.request_rescan().map_err(io)?;
                match spool.background_guard().map_err(io)? {
                    Some(g) => g,
                    None => return Ok(()),
                }
            }
        };
        // Let a burst gather so that it shares one connection (the
        // wrapper waited 5 s for the same reason).
        std::thread::sleep(BACKGROUND_GATHER);
        spool.take_rescan();
        flush_with(plan, &SessionOptions::default(), &opts)?;
        drop(guard);
        if !spool.take_rescan() {
            return Ok(());
        }
    }
}

fn detach_stdio() {
    use std::os::fd::AsRawFd;
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        for fd in 0..3 {
            // SAFETY: dup2 onto the standard descriptors we own.
            unsafe {
                nix::libc::dup2(null.as_raw_fd(), fd);
            }
        }
    }
}

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
fn report_problem(spool: &Spool, p: &Problem, report: &mut FlushReport) {
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
    let spool = Spool::open(&queue_dir(plan)?)?;
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
    spool: &Spool,
    plan: &Plan,
    idx: usize,
    ids: &[String],
    session_opts: &SessionOptions,
    opts: &FlushOptions,
    report: &mut FlushReport,
) -> Result<(), Failure> {
    let identity = &plan.identities[idx];
    let mut session: Option<Session> = None;
    let mut connect_error: Option<Failure> = None;
    let mut removed = 0;
    for id in ids {
        let mut entry = match spool.take(id)? {
            Taken::Locked(l) => *l,
            Taken::Busy | Taken::Gone => {
                report.skipped += 1;
                continue;
            }
            Taken::Problem(p) => {
                report_problem(spool, &p, report);
                continue;
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
        if !opts.force && !entry.is_due(at) {
            report.skipped += 1;
            continue;
        }
        if session.as_ref().is_some_and(|s| !s.is_usable()) {
            // The server dropped us (or the connection broke) after the
            // previous message: reconnect for the rest.
            session = None;
        }
        if session.is_none() && connect_error.is_none() {
            match Session::connect(identity, session_opts) {
                Ok(s) => session = Some(s),
                Err(f) => connect_error = Some(f),
            }
        }
        let result = match (&mut session, &connect_error) {
            (Some(s), _) => match send_entry(s, &entry) {
                // The connection died under this message (the server hung
                // up after the previous one, or the line broke): not this
                // message's fault, so it gets one try on a new connection.
                Err(f) if f.is_temporary() && !s.is_usable() => {
                    session = None;
                    match Session::connect(identity, session_opts) {
                        Ok(mut fresh) => {
                            let r = send_entry(&mut fresh, &entry);
                            session = Some(fresh);
                            r
                        }
                        Err(e) => {
                            connect_error = Some(e);
                            Err(f)
                        }
                    }
                }
                other => other,
            },
            (None, Some(f)) => {
                // Could not reach the smarthost: every message waits,
                // whatever the kind of failure (a wrong password must not
                // bounce the mail).
                Err(Failure::tempfail(f.message.clone()))
            }
            (None, None) => Err(Failure::software("queue: no session")),
        };
        match result {
            Ok(()) => {
                if session_opts.verbose {
                    println!("queue: {id} delivered");
                }
                spool
                    .remove_unsynced(entry)
                    .map_err(|e| Failure::tempfail(format!("queue: cannot remove {id}: {e}")))?;
                removed += 1;
                report.delivered += 1;
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
                    if session_opts.verbose {
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
    }
    if removed > 0 {
        let _ = spool.sync();
    }
    if let Some(s) = session {
        if let Err(f) = s.quit() {
            eprintln!("esmtp: queue: {f}");
        }
    }
    Ok(())
}

/// Give up on an entry: tell the sender through the MDA when one is
/// configured, else keep the message in `failed/` and say so on stderr.
fn give_up(spool: &Spool, plan: &Plan, entry: Locked, why: &str) {
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

mod bounce;

/// `mailq`, `-bp`, `esmtp queue list`: print the queue to stdout.
pub fn list(plan: &Plan) -> Result<(), Failure> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    list_to(plan, legacy::default_dir().as_deref(), &mut out)
        .map_err(|e| Failure::software(format!("cannot write the listing: {e}")))?
}

/// The listing, written to `out`.
pub fn list_to(
    plan: &Plan,
    legacy_dir: Option<&Path>,
    out: &mut dyn Write,
) -> io::Result<Result<(), Failure>> {
    let dir = match queue_dir(plan) {
        Ok(d) => d,
        Err(f) => return Ok(Err(f)),
    };
    let spool = match Spool::open(&dir) {
        Ok(s) => s,
        Err(f) => return Ok(Err(f)),
    };
    let at = now();
    let survey = spool.survey();
    let (legacy, legacy_problems) = legacy_dir.map(legacy::survey).unwrap_or_default();
    if survey.is_empty() && legacy == 0 && legacy_problems.is_empty() {
        writeln!(out, "Mail queue is empty")?;
        return Ok(Ok(()));
    }
    for i in &survey.queued {
        write_entry(out, i, at)?;
        let next = if i.state.next_attempt <= at {
            "next attempt: now".to_string()
        } else {
            format!("next attempt in {}", human_secs(i.state.next_attempt - at))
        };
        match &i.state.last_error {
            Some(e) => writeln!(
                out,
                "    ({} attempt{}) last error: {e}; {next}",
                i.state.attempts,
                if i.state.attempts == 1 { "" } else { "s" }
            )?,
            None => writeln!(out, "    {next}")?,
        }
        if let Some(p) = &i.state_problem {
            writeln!(out, "    {}", p.why())?;
        }
    }
    for i in &survey.failed {
        write_entry(out, i, at)?;
        let why = i.note.as_deref().unwrap_or("").trim();
        writeln!(
            out,
            "    FAILED, kept in {}: {why}",
            spool.area_path(Area::Failed).join(&i.id).display()
        )?;
        if let Some(u) = &i.unreadable {
            writeln!(out, "    (the entry cannot be read: {u})")?;
        }
    }
    for i in &survey.damaged {
        writeln!(
            out,
            "{:<24} DAMAGED, kept in {}",
            i.id,
            spool.area_path(Area::Damaged).join(&i.id).display()
        )?;
        let why = i.note.as_deref().or(i.unreadable.as_deref()).unwrap_or("");
        writeln!(out, "    {}", why.trim())?;
    }
    let msg_dir = spool.area_path(Area::Msg);
    let (mut unreadable, mut foreign, mut stray) = (0, 0, 0);
    for p in survey.problems.iter().chain(&legacy_problems) {
        let path = crate::owned::printable(p.path.as_os_str());
        match p.kind {
            ProblemKind::Damaged => {
                unreadable += 1;
                writeln!(out, "{:<24} CANNOT BE READ: {}", p.name, p.why)?;
                if p.path.parent() == Some(msg_dir) {
                    writeln!(
                        out,
                        "    {path}; the next flush moves it to {}",
                        spool.area_path(Area::Damaged).display()
                    )?;
                } else {
                    writeln!(out, "    {path}: left alone")?;
                }
            }
            ProblemKind::Foreign => {
                foreign += 1;
                writeln!(out, "{:<24} LEFT ALONE: {}", p.name, p.why)?;
                writeln!(
                    out,
                    "    {path}: not a file of yours; never sent or followed (remove it yourself)"
                )?;
            }
            ProblemKind::Stray => {
                stray += 1;
                writeln!(out, "{:<24} NOT A QUEUE ENTRY: {}", p.name, p.why)?;
                writeln!(out, "    {path}: left alone")?;
            }
        }
    }
    let total = survey.queued.len();
    let mut summary = format!(
        "-- {total} message{} queued",
        if total == 1 { "" } else { "s" }
    );
    let damaged = survey.damaged.len() + unreadable;
    for (n, what) in [
        (survey.failed.len(), "failed"),
        (damaged, "damaged"),
        (foreign, "not yours (left alone)"),
        (stray, "not queue entries"),
    ] {
        if n > 0 {
            summary.push_str(&format!(", {n} {what}"));
        }
    }
    writeln!(out, "{summary}")?;
    if legacy > 0 {
        writeln!(
            out,
            "-- {legacy} message{} in the esmtp-wrapper queue {}, delivered by the next flush",
            if legacy == 1 { "" } else { "s" },
            legacy_dir
                .map(|d| d.display().to_string())
                .unwrap_or_default()
        )?;
    }
    Ok(Ok(()))
}

fn write_entry(out: &mut dyn Write, i: &store::Info, at: u64) -> io::Result<()> {
    let sender = if i.meta.sender.is_empty() {
        "<>".to_string()
    } else {
        format!("<{}>", i.meta.sender)
    };
    writeln!(
        out,
        "{:<24} {:>6} {:>7}  {sender}",
        i.id,
        human_secs(at.saturating_sub(i.meta.created)),
        human_size(i.meta.size)
    )?;
    writeln!(out, "    to: {}", i.meta.recipients.join(", "))
}

fn human_secs(s: u64) -> String {
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86399 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

fn human_size(n: u64) -> String {
    if n < 10_000 {
        format!("{n}")
    } else if n < 10_000_000 {
        format!("{}K", n / 1024)
    } else {
        format!("{}M", n / (1024 * 1024))
    }
}
