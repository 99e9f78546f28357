//! The durable queue (issue 6).
//!
//! STUB: owned by the queue work. The signatures below are the contract the
//! front end codes against; keep them (extend freely).

use crate::exit::Failure;
use crate::plan::Plan;
use crate::transport::{Envelope, MessageOptions, SessionOptions};
use std::io::Read;

/// What happened to a submission with the queue on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// Delivered at once; nothing left in the queue.
    Delivered,
    /// Stored durably; delivery failed temporarily or was left to the
    /// background. The string says why (one line for stderr).
    Queued(String),
}

/// Store one message for the identity `identity` (index into
/// `plan.identities`) durably, then try to deliver it per `plan.queue.mode`.
/// `message` is the normalised message exactly as `transport::relay` takes it.
pub fn submit(
    plan: &Plan,
    identity: usize,
    envelope: &Envelope,
    options: &MessageOptions,
    session: &SessionOptions,
    message: &mut dyn Read,
) -> Result<Submitted, Failure> {
    let _ = (plan, identity, envelope, options, session, message);
    Err(Failure::software("the queue is not implemented yet"))
}

/// `mailq`, `-bp`, `esmtp queue list`: print the queue to stdout.
pub fn list(plan: &Plan) -> Result<(), Failure> {
    let _ = plan;
    Err(Failure::software("the queue is not implemented yet"))
}

/// `-q`, `deliver`, `esmtp queue flush`: deliver what is due.
pub fn flush(plan: &Plan, session: &SessionOptions) -> Result<(), Failure> {
    let _ = (plan, session);
    Err(Failure::software("the queue is not implemented yet"))
}
