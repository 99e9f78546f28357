//! Delivery transports: SMTP relay (lettre, async, our own socket) and the
//! local MDA pipe.
//!
//! STUB: the SMTP part is owned by the relay work (issue 9).

pub mod mda;

use crate::exit::Failure;
use crate::plan::Identity;
use std::io::Read;
use std::path::PathBuf;

/// The SMTP envelope of one message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    /// Reverse path; empty string means the null sender `<>`.
    pub sender: String,
    /// Forward paths, in order.
    pub recipients: Vec<String>,
}

/// DSN request from `-N`, `-R`, `-V`; sent only when the server offers DSN.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dsn {
    /// `NOTIFY=` value, e.g. `NEVER` or `FAILURE,DELAY`.
    pub notify: Option<String>,
    /// `RET=` value: `FULL` or `HDRS`.
    pub ret: Option<String>,
    /// `ENVID=` value (already xtext-safe or encoded by the transport).
    pub envid: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyType {
    SevenBit,
    EightBitMime,
}

/// Per-message options.
#[derive(Debug, Clone, Default)]
pub struct MessageOptions {
    pub dsn: Dsn,
    /// `-B`; `None` lets the transport decide from `eight_bit`.
    pub body_type: Option<BodyType>,
    /// The message contains bytes >= 0x80.
    pub eight_bit: bool,
    /// Size of the message in bytes when known (for SIZE=).
    pub size: Option<u64>,
}

/// Per-run options shown to the user.
#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// `-v`: progress on stdout.
    pub verbose: bool,
    /// `-X FILE`: append a protocol transcript (credentials redacted).
    pub transcript: Option<PathBuf>,
}

/// Relay one message to the identity's smarthost: connect, TLS, AUTH, one
/// transaction, QUIT. `message` yields the whole message (headers, blank
/// line, body) with CRLF line ends and without dot-stuffing.
pub fn relay(
    identity: &Identity,
    envelope: &Envelope,
    options: &MessageOptions,
    session: &SessionOptions,
    message: &mut dyn Read,
) -> Result<(), Failure> {
    let _ = (identity, envelope, options, session, message);
    Err(Failure::software("SMTP relay is not implemented yet"))
}

/// One SMTP connection that can carry many messages (RSET between them), for
/// the queue's flush. Connect runs preconnect, TLS and AUTH per the identity.
pub struct Session {
    _private: (),
}

impl Session {
    pub fn connect(identity: &Identity, session: &SessionOptions) -> Result<Session, Failure> {
        let _ = (identity, session);
        Err(Failure::software("SMTP relay is not implemented yet"))
    }

    /// One transaction. A failure of one message leaves the session usable
    /// when the server is still talking (`Failure::is_temporary` tells the
    /// queue whether to keep the message).
    pub fn send(
        &mut self,
        envelope: &Envelope,
        options: &MessageOptions,
        message: &mut dyn Read,
    ) -> Result<(), Failure> {
        let _ = (envelope, options, message);
        Err(Failure::software("SMTP relay is not implemented yet"))
    }

    /// QUIT, then postconnect.
    pub fn quit(self) -> Result<(), Failure> {
        Ok(())
    }
}
