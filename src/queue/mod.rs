//! The durable queue: a submission stored in the spool before it is
//! acknowledged, then delivered at once or by a flush.
//!
//! With `queue enabled` (or `background`) a submission is first stored in
//! the spool ([`store`]) — files and directory fsynced — and only then
//! acknowledged; delivery follows at once (foreground), or in a detached
//! flusher (`background`). A flush ([`flush()`]) delivers what is due, one
//! SMTP session per identity for all of its messages, with per-entry
//! backoff. Every entry is delivered under an flock(2) on the entry file
//! itself, so two flushes never send one message twice, and a crashed
//! process's lock dies with it. An esmtp-wrapper queue (`~/.esmtp_queue`)
//! is imported by [`legacy`] on every flush; a message given up on is
//! returned to its sender by `bounce`; [`list()`] and [`status`] show the
//! queue.

mod background;
mod bounce;
mod flush;
pub mod legacy;
mod listing;
pub mod status;
pub mod store;

pub use flush::{flush, flush_status, flush_with, FlushOptions, FlushReport};
pub use listing::{list, list_to};

use crate::exit::{Failure, NOPERM};
use crate::plan::{Plan, QueueMode};
use crate::transport::{log, Dsn, Envelope, MessageOptions, Session, SessionOptions};
use legacy::EntryConverter;
use std::io::{BufReader, Read};
use std::path::PathBuf;
use store::{now, LockedEntry, Meta, QueueDir};

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
    let spool = QueueDir::open(&queue_dir(plan)?).map_err(|f| {
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
            match background::spawn_flusher(plan, convert) {
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
    spool: &QueueDir,
    plan: &Plan,
    identity: usize,
    envelope: &Envelope,
    options: &MessageOptions,
    message: &mut dyn Read,
) -> Result<LockedEntry, Failure> {
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
        utf8_headers: options.utf8_headers,
        utf8_added_header: options.utf8_added_header.clone(),
        message_id: options.message_id.clone(),
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
    spool: &QueueDir,
    plan: &Plan,
    mut entry: LockedEntry,
    session: &SessionOptions,
) -> Result<Submitted, Failure> {
    let idx = resolve_identity(plan, &entry.meta);
    let identity = &plan.identities[idx];
    // A failure to set up the session (server down, TLS or login refused, a
    // passwordeval that fails) is not this message's fault: it stays queued
    // until the user fixes the cause and flushes, as in a flush.
    let started = std::time::Instant::now();
    let mut attempt = log::Attempt::default();
    let connected = Session::connect(identity, session).map_err(|f| Failure::tempfail(f.message));
    let result = connected.and_then(|mut s| {
        let sent = send_entry(&mut s, &entry);
        attempt = s.attempt();
        match sent {
            Ok(()) => s.quit().or(Ok(())),
            Err(f) => {
                let _ = s.quit();
                Err(f)
            }
        }
    });
    log_entry(plan, identity, &entry, &attempt, started, &result);
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
        utf8_headers: meta.utf8_headers,
        utf8_added_header: meta.utf8_added_header.clone(),
        message_id: meta.message_id.clone(),
    }
}

/// The delivery log's line for one attempt at a queued entry.
pub(crate) fn log_entry(
    plan: &Plan,
    identity: &crate::plan::Identity,
    entry: &LockedEntry,
    attempt: &log::Attempt,
    started: std::time::Instant,
    result: &Result<(), Failure>,
) {
    let message = log::Message {
        sender: &entry.meta.sender,
        recipients: &entry.meta.recipients,
        size: Some(entry.meta.size),
        message_id: entry.meta.message_id.as_deref(),
        queue_id: Some(entry.id()),
    };
    log::attempt(
        &plan.log,
        identity,
        &message,
        log::smtp(identity, attempt),
        started,
        result.as_ref().map(|_| ()),
    );
}

fn send_entry(session: &mut Session, entry: &LockedEntry) -> Result<(), Failure> {
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
