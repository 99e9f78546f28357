//! The SMTP session over a socket we open ourselves (connect timeout,
//! TCP_NODELAY), driven by a current-thread tokio runtime.
//!
//! The server is hostile until proven otherwise, as Postfix's SMTP client
//! treats it:
//! - every reply is read by our own reader (`stream.rs`, `reply.rs`):
//!   each line and each reply bounded in size, each whole reply bounded
//!   by `timeout` from the moment we start waiting for it;
//! - each command is answered by exactly one reply, in order (with
//!   PIPELINING, one reply per command of the batch): a reply, or any
//!   byte, that arrives before the command it would answer was written is
//!   a protocol error (the wire refuses to write while unasked input
//!   waits), and so is a reply of the wrong kind for its command (250 to
//!   DATA, 354 to MAIL): never a success;
//! - anything received after the 220 to STARTTLS and before the handshake
//!   is a protocol error (CVE-2011-0411): nothing read in clear is
//!   believed inside TLS;
//! - credentials never go in clear to another machine by a mechanism that
//!   reveals them (PLAIN, LOGIN, XOAUTH2, OAUTHBEARER) unless the file says `starttls
//!   disabled` itself (Postfix's `noplaintext`);
//! - server text is shown with the secret masked and control characters
//!   escaped (`shown.rs`).
//!
//! Why not lettre's connection (which this code used before): it reads
//! replies with `read_line` into a `String` that grows without bound, its
//! `BufReader` outlives a STARTTLS upgrade (what it buffered in clear is
//! read inside TLS), it resets no deadline for a whole reply, and it takes
//! any positive reply as an answer. Bounding it from underneath would
//! have meant parsing every reply twice; the SMTP reply grammar is a few
//! lines, and owning it gives one buffer of fixed size for the whole
//! session. We write the commands ourselves (every parameter: SIZE, BODY,
//! RET, ENVID, NOTIFY, every AUTH mechanism, PIPELINING: MAIL, RCPT and,
//! for one recipient, DATA in one write) and the body goes straight onto
//! the socket (see `body.rs`).
//!
//! Why not the blocking socket API either: the end-of-data marker must not
//! wait for Nagle's algorithm (43 ms per message on loopback with lettre's
//! blocking connection); over our own TCP_NODELAY socket the same exchange
//! takes a fraction of a millisecond.
//!
//! The rooms: `connect` (resolve, TCP, greeting, EHLO, STARTTLS, the TLS
//! handshake), `authentication` (which mechanism may go over this
//! connection, and the AUTH dialogue), `transaction` (MAIL, RCPT, DATA and
//! their parameters), `body` (the message onto the socket and the reply to
//! it), `capabilities` (the EHLO keywords) and `error` (why a command got
//! no usable reply, and every failure as the user reads it).

mod authentication;
mod body;
mod capabilities;
mod connect;
mod error;
mod observe;
mod transaction;

pub(crate) use authentication::{credentials_policy, pick, NoMechanism};
pub(crate) use capabilities::Capabilities;
pub(crate) use error::shown_error;
pub(crate) use observe::{Login, Observed, Probing, TlsMode};

use super::hooks;
use super::reply::Reply;
use super::shown::Masker;
use super::stream::{ReadError, Wire};
use crate::exit::{self, Failure};
use error::{closing_notice, NoReply};
use std::time::Duration;

/// An open SMTP connection, greeted, TLS and AUTH done.
pub(crate) struct Connection {
    wire: Wire,
    caps: Capabilities,
    server: String,
    hello: String,
    timeout: Duration,
    verbose: bool,
    broken: bool,
    postconnect: Option<String>,
    /// The session's secret, to mask wherever a server repeats it.
    masker: Masker,
    /// The mechanism of a successful AUTH (for the delivery log).
    auth_used: Option<crate::plan::AuthMech>,
    /// The reply that settled the last transaction, as shown (for the
    /// delivery log): the reply to the end of data, or the refusal.
    /// (A cell: it is noted while the reply is quoted in a message.)
    settled: std::cell::RefCell<Option<(u16, String)>>,
    /// `esmtp probe`: note what the session sees.
    probe: Option<Probing>,
    /// Last, so that it is dropped after the sockets registered with it.
    rt: tokio::runtime::Runtime,
}

/// `esmtp: warning: ...` on stderr.
fn warn(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "esmtp: warning: {text}");
}

/// `-v` progress on stdout; a closed stdout must not end the run.
fn say(text: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{text}");
}

impl Connection {
    /// Write a command (or a pipelined batch), with its CRLF. Refused, as
    /// a protocol error, when the server sent something unasked first.
    fn write(&mut self, text: &str) -> Result<(), NoReply> {
        let wire = self.wire.clone();
        let r = self.rt.block_on(async move {
            use tokio::io::AsyncWriteExt;
            let mut w = wire;
            w.write_all(text.as_bytes()).await?;
            w.flush().await
        });
        r.map_err(|e| self.write_trouble(e))
    }

    fn write_trouble(&self, e: std::io::Error) -> NoReply {
        if self.wire.early_input() {
            NoReply::Early(self.wire.buffered())
        } else if self.wire.timed_out() {
            NoReply::Silent
        } else if let Some(why) = self.wire.poisoned() {
            NoReply::Other(why)
        } else if matches!(
            e.kind(),
            std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::NotConnected
        ) {
            NoReply::Closed
        } else {
            NoReply::Other(e.to_string())
        }
    }

    /// Read the next reply, within `timeout` for the whole of it.
    fn read_within(&mut self, timeout: Duration) -> Result<Reply, NoReply> {
        let deadline = tokio::time::Instant::now() + timeout;
        self.rt
            .block_on(self.wire.read_reply(deadline))
            .map_err(|e| match e {
                ReadError::Timeout => NoReply::Silent,
                ReadError::Closed => NoReply::Closed,
                ReadError::Reply(e) => NoReply::Bad(e),
                ReadError::Io(e) => match e.kind() {
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe => {
                        NoReply::Closed
                    }
                    _ => NoReply::Other(e.to_string()),
                },
            })
    }

    fn read(&mut self) -> Result<Reply, NoReply> {
        self.read_within(self.timeout)
    }

    /// One command line (without CRLF) and its reply.
    fn command(&mut self, line: &str) -> Result<Reply, NoReply> {
        self.write(&format!("{line}\r\n"))?;
        self.read()
    }

    pub(crate) fn is_usable(&self) -> bool {
        !self.broken
    }

    /// What the delivery log says of this session and its last transaction.
    pub(crate) fn attempt(&self) -> super::log::Attempt {
        super::log::Attempt {
            tls: self.wire.is_tls(),
            auth: self.auth_used,
            reply: self.settled.borrow().clone(),
        }
    }

    /// `r` as shown ([`Connection::show`]), kept as the reply that settled
    /// the transaction.
    fn settle(&self, r: &Reply) -> String {
        let shown = self.show(r);
        *self.settled.borrow_mut() = Some((r.code, shown.clone()));
        shown
    }

    fn reset_or_abandon(&mut self, in_data: bool) {
        if in_data {
            self.wire
                .poison("the transaction was abandoned after DATA".to_string());
            self.broken = true;
        } else {
            self.reset();
        }
    }

    /// RSET after a refused transaction; a failure marks the connection
    /// broken.
    fn reset(&mut self) {
        if self.broken {
            return;
        }
        match self.command("RSET") {
            Ok(r) if r.is_positive() => {}
            _ => {
                self.broken = true;
                self.wire.shutdown_now();
            }
        }
    }

    /// QUIT without waiting for the answer, after a failure.
    fn abort(&mut self) {
        if !self.broken {
            let _ = self.write("QUIT\r\n");
        }
        self.broken = true;
        self.wire.shutdown_now();
    }

    /// QUIT, then `postconnect`.
    ///
    /// The reply to QUIT is awaited only with `-v` (which prints it): every
    /// message is settled by then, and the 221 costs one more round trip
    /// for nothing (Postfix's client skips it by default too,
    /// `smtp_skip_quit_response`). After a successful session, input
    /// waiting before QUIT means the replies were out of step: the 250 we
    /// took for the message's may not have been its reply.
    pub(crate) fn quit(mut self, success: bool) -> Result<(), Failure> {
        let sent = if self.broken {
            Ok(())
        } else if self.verbose {
            match self.command("QUIT") {
                Ok(r) => {
                    say(format_args!("Disconnected: {}", self.show(&r)));
                    Ok(())
                }
                Err(t @ NoReply::Early(_)) => Err(t),
                Err(_) => {
                    say(format_args!("Disconnected (no reply to QUIT)"));
                    Ok(())
                }
            }
        } else {
            match self.write("QUIT\r\n") {
                Err(t @ NoReply::Early(_)) => Err(t),
                _ => Ok(()),
            }
        };
        self.wire.shutdown_now();
        let sent = match sent {
            Err(NoReply::Early(bytes)) if closing_notice(&bytes).is_some() => Ok(()),
            other => other,
        };
        if let (true, Err(NoReply::Early(bytes))) = (success, sent) {
            return Err(Failure::new(
                exit::PROTOCOL,
                format!(
                    "{} sent more after its last reply: \"{}\"; its replies are out of step \
                     with our commands, so the reply taken as accepting the message may not \
                     have been its own",
                    self.server,
                    self.show_raw(&bytes)
                ),
            ));
        }
        if let (true, Some(cmd)) = (success, self.postconnect.take()) {
            hooks::run_hook("postconnect", &cmd, self.timeout, " (the mail was sent)")?;
        }
        Ok(())
    }
}
