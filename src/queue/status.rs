//! What `esmtp queue status` counts and says: read from directory listings
//! and entry headers only, without creating the queue.

use super::{legacy, queue_dir};
use crate::exit::Failure;
use crate::plan::Plan;

/// What `esmtp queue status` counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStatus {
    /// Entries waiting for delivery.
    pub queued: usize,
    /// Entries given up on (kept in `failed/`; a flush does not retry them).
    pub failed: usize,
    /// Messages in an esmtp-wrapper queue that the next flush imports.
    pub legacy: usize,
}

impl QueueStatus {
    /// True when a flush has something to deliver.
    pub fn waiting(&self) -> bool {
        self.queued > 0 || self.legacy > 0
    }
}

/// Count the queue of `plan` without creating it: a spool that does not
/// exist yet is empty. This runs every few minutes from the systemd
/// timer, so it reads directory listings and entry headers only.
pub fn status(plan: &Plan) -> Result<QueueStatus, Failure> {
    let dir = queue_dir(plan)?;
    let legacy = legacy::default_dir()
        .map(|d| legacy::pending(&d))
        .unwrap_or(0);
    if !dir.join("msg").is_dir() {
        return Ok(QueueStatus {
            legacy,
            ..QueueStatus::default()
        });
    }
    let spool = super::store::QueueDir::open(&dir)?;
    Ok(QueueStatus {
        queued: spool.ids().len(),
        failed: spool.failed_infos().len(),
        legacy,
    })
}

fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

pub fn status_line(s: &QueueStatus) -> String {
    let mut line = if s.queued == 0 {
        "Mail queue is empty".to_string()
    } else {
        format!("{} queued", plural(s.queued, "message"))
    };
    if s.failed > 0 {
        line.push_str(&format!(", {} failed (see `mailq`)", s.failed));
    }
    if s.legacy > 0 {
        line.push_str(&format!(
            "; {} in the esmtp-wrapper queue",
            plural(s.legacy, "message")
        ));
    }
    line
}
