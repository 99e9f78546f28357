//! Delivery transports: SMTP relay (async, our own socket) and the local
//! MDA pipe.
//!
//! `smtp` speaks SMTP over a socket we open ourselves (`stream`), reading
//! every reply with `reply` (bounded, in order); `tls` finds trust and
//! client certificates, `auth` computes the SASL answers (`scram` the
//! SCRAM ones), `transcript` writes `-X` files and `shown` makes server
//! text safe to show (secrets masked, control characters escaped); `hooks`
//! runs the commands of the configuration (preconnect, postconnect,
//! passwordeval, the MDA).

pub mod mda;
pub mod probe;

use crate::exit::Failure;
use crate::mail_params::{BodyType, Notify, Ret};
use crate::plan::Identity;
use std::io::Read;
use std::path::PathBuf;

mod auth;
#[doc(hidden)]
pub mod fuzzing;
pub mod hooks;
pub mod log;
pub mod oauth;
pub mod reply;
mod scram;
mod shown;
pub mod smtp;
mod stream;
pub mod tls;
mod transcript;

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
    pub notify: Option<Notify>,
    /// `RET=` value: `FULL` or `HDRS`.
    pub ret: Option<Ret>,
    /// `ENVID=` value as the user gave it; the transport xtext-encodes it.
    pub envid: Option<String>,
}

/// Per-message options.
#[derive(Debug, Clone, Default)]
pub struct MessageOptions {
    pub dsn: Dsn,
    /// `-B`; `None` lets the transport decide from `eight_bit`.
    pub body_type: Option<BodyType>,
    /// The message contains bytes >= 0x80.
    pub eight_bit: bool,
    /// Size of the message in bytes when known (for SIZE=); with
    /// `streamed`, a lower bound.
    pub size: Option<u64>,
    /// The message is read while it is sent (a large message that is
    /// already a file): `eight_bit` is not known in advance, so BODY=8BITMIME
    /// is declared whenever the server offers it, and `size` counts the
    /// bytes before line ends are made CRLF.
    pub streamed: bool,
    /// The header block holds UTF-8 (RFC 6532 headers): SMTPUTF8 is
    /// requested when the server offers it; without it the headers go as
    /// 8-bit text, as they always did.
    pub utf8_headers: bool,
    /// An address esmtp wrote into a header it added (From:, Sender:)
    /// whose local part is not ASCII: the message cannot go to a server
    /// without SMTPUTF8 (its domain part is written as A-labels whenever
    /// the local part is ASCII, so that only this case needs it).
    pub utf8_added_header: Option<String>,
    /// The message's Message-ID, for the delivery log.
    pub message_id: Option<String>,
}

/// Per-run options shown to the user.
#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// `-v`: progress on stdout.
    pub verbose: bool,
    /// `-X FILE`: append a protocol transcript (credentials redacted).
    pub transcript: Option<PathBuf>,
}

/// Fail (status 78) when the configuration marks the identity unusable: an
/// error in the file concerns its smarthost (SPEC §2.3). Checked before
/// anything is run or connected.
pub fn usable(identity: &Identity) -> Result<(), Failure> {
    match &identity.unusable {
        None => Ok(()),
        Some(u) => {
            let name = identity
                .address
                .as_deref()
                .unwrap_or("(the unnamed section)");
            Err(Failure::config(format!(
                "identity {name} cannot send: the configuration has an error in it, {u}; \
                 nothing was sent (run `esmtp check` for details)"
            )))
        }
    }
}

/// Relay one message to the identity's smarthost: connect, TLS, AUTH, one
/// transaction, QUIT. `message` yields the whole message (headers, blank
/// line, body) without dot-stuffing; its line ends (CRLF, LF or bare CR)
/// are made CRLF on the way.
pub fn relay(
    identity: &Identity,
    envelope: &Envelope,
    options: &MessageOptions,
    session: &SessionOptions,
    message: &mut dyn Read,
) -> Result<(), Failure> {
    relay_noted(
        identity,
        envelope,
        options,
        session,
        message,
        &mut log::Attempt::default(),
    )
}

/// [`relay`], noting in `attempt` what the session did (for the delivery
/// log), as far as it got.
pub fn relay_noted(
    identity: &Identity,
    envelope: &Envelope,
    options: &MessageOptions,
    session: &SessionOptions,
    message: &mut dyn Read,
    attempt: &mut log::Attempt,
) -> Result<(), Failure> {
    let mut s = Session::connect(identity, session)?;
    let sent = s.send(envelope, options, message);
    *attempt = s.attempt();
    match sent {
        Ok(()) => s.quit(),
        Err(f) => {
            let _ = s.inner.quit(false);
            Err(f)
        }
    }
}

/// One SMTP connection that can carry many messages (RSET between them), for
/// the queue's flush. Connect runs preconnect, TLS and AUTH per the identity.
pub struct Session {
    inner: smtp::Connection,
}

impl Session {
    pub fn connect(identity: &Identity, session: &SessionOptions) -> Result<Session, Failure> {
        usable(identity)?;
        Ok(Session {
            inner: smtp::Connection::connect(identity, session)?,
        })
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
        self.inner.send(envelope, options, message)
    }

    /// What the session and its last transaction did, for the delivery log.
    pub fn attempt(&self) -> log::Attempt {
        self.inner.attempt()
    }

    /// False once the connection is lost (a later `send` fails at once):
    /// reconnect to go on.
    pub fn is_usable(&self) -> bool {
        self.inner.is_usable()
    }

    /// QUIT, then postconnect.
    pub fn quit(self) -> Result<(), Failure> {
        self.inner.quit(true)
    }
}
