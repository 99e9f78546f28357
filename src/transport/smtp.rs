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
//!   reveals them (PLAIN, LOGIN, XOAUTH2) unless the file says `starttls
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
//! the socket (see `send_body`).
//!
//! Why not the blocking socket API either: the end-of-data marker must not
//! wait for Nagle's algorithm (43 ms per message on loopback with lettre's
//! blocking connection); over our own TCP_NODELAY socket the same exchange
//! takes a fraction of a millisecond.

use super::auth;
use super::hooks;
use super::reply::{self, Reply};
use super::shown::Masker;
use super::stream::{ReadError, TapMode, Wire};
use super::tls::{self, TlsSetup};
use super::transcript::Transcript;
use super::{BodyType, Envelope, MessageOptions, SessionOptions};
use crate::exit::{self, Failure};
use crate::plan::{AuthMech, Identity, SecretSource, TlsPolicy};
use std::io::Read;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// What the server said it can do (its EHLO reply).
#[derive(Debug, Default, Clone)]
pub(crate) struct Capabilities {
    pub starttls: bool,
    pub eight_bit_mime: bool,
    pub dsn: bool,
    pub smtputf8: bool,
    pub pipelining: bool,
    /// `SIZE` offered; `Some(0)` means no fixed limit.
    pub size: Option<u64>,
    pub auth: Vec<String>,
}

impl Capabilities {
    /// Parse the raw text of an EHLO reply (`250-KEYWORD params` lines;
    /// the first line is the server's name).
    #[cfg(test)]
    pub(crate) fn parse(raw: &str) -> Capabilities {
        match reply::parse(raw.as_bytes()) {
            Ok(Some((r, _))) if r.is_positive() => Capabilities::from_reply(&r),
            _ => Capabilities::default(),
        }
    }

    /// The keywords of an EHLO reply (the first line is the server's name).
    pub(crate) fn from_reply(r: &Reply) -> Capabilities {
        let mut caps = Capabilities::default();
        for line in r.lines.iter().skip(1) {
            let line = String::from_utf8_lossy(line);
            let mut words = line.split_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            match keyword.to_ascii_uppercase().as_str() {
                "STARTTLS" => caps.starttls = true,
                "8BITMIME" => caps.eight_bit_mime = true,
                "DSN" => caps.dsn = true,
                "SMTPUTF8" => caps.smtputf8 = true,
                "PIPELINING" => caps.pipelining = true,
                "SIZE" => caps.size = Some(words.next().and_then(|n| n.parse().ok()).unwrap_or(0)),
                "AUTH" => {
                    for m in words {
                        let m = m.to_ascii_uppercase();
                        if !caps.auth.contains(&m) {
                            caps.auth.push(m);
                        }
                    }
                }
                _ => {}
            }
        }
        caps
    }
}

/// A reply the reader refused, as shown: a malformed line is server text
/// like any other, masked (it may echo what AUTH sent) and escaped.
pub(crate) fn shown_error(masker: &Masker, e: &reply::ReplyError) -> String {
    match e {
        reply::ReplyError::Malformed(line) => {
            format!("a malformed reply line: {}", masker.show(line))
        }
        other => other.to_string(),
    }
}

/// The exit status for a negative reply: 4xx is temporary, 5xx `permanent`.
fn status_for(r: &Reply, permanent: u8) -> u8 {
    if r.is_transient() {
        exit::TEMPFAIL
    } else {
        permanent
    }
}

fn warn(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "esmtp: warning: {text}");
}

/// `-v` progress on stdout; a closed stdout must not end the run.
fn say(text: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{text}");
}

#[derive(Debug, PartialEq, Eq)]
enum Credentials {
    /// Encrypted, or to this machine: any mechanism.
    Send,
    /// Unencrypted to another machine, and the file says `starttls
    /// disabled` itself: any mechanism, with a warning for those that
    /// reveal the secret.
    Warn,
    /// Unencrypted to another machine otherwise: only mechanisms that do
    /// not reveal the secret (CRAM-MD5, NTLM).
    Conceal,
}

/// May credentials go over this connection, and how? Encrypted or to
/// this machine: yes. Otherwise a mechanism that shows the secret to
/// anyone on the way only when the file turned TLS off itself: no
/// `starttls` statement is not an opt-out (Postfix's `noplaintext`).
fn credentials_policy(
    policy: TlsPolicy,
    explicit: bool,
    encrypted: bool,
    loopback: bool,
) -> Credentials {
    if encrypted || loopback {
        Credentials::Send
    } else if policy == TlsPolicy::Disabled && explicit {
        Credentials::Warn
    } else {
        Credentials::Conceal
    }
}

/// Does this mechanism put the secret itself on the wire (readable by
/// anyone on the way of an unencrypted connection)?
fn reveals_secret(m: AuthMech) -> bool {
    match m {
        AuthMech::Plain | AuthMech::Login | AuthMech::Xoauth2 => true,
        AuthMech::CramMd5 | AuthMech::Ntlm => false,
    }
}

/// The secret: the `password`, or the first line `passwordeval` prints
/// (bounded in time by the identity's `timeout`, see [`hooks`]), as bytes:
/// esmtp 1.2 sends them as they are, UTF-8 or not.
fn secret(identity: &Identity) -> Result<Vec<u8>, Failure> {
    match &identity.secret {
        None => Ok(Vec::new()),
        Some(SecretSource::Password(s)) => Ok(s.expose().to_vec()),
        Some(SecretSource::Eval(command)) => hooks::password_eval(command, hook_timeout(identity)),
    }
}

/// The time a preconnect, postconnect or passwordeval command may take:
/// the identity's `timeout`.
fn hook_timeout(identity: &Identity) -> Duration {
    Duration::from_secs(identity.timeout_secs.max(1))
}

/// Reject what would break the command line or smuggle another command.
fn check_address(what: &str, addr: &str) -> Result<(), Failure> {
    if addr
        .bytes()
        .any(|b| b < 0x20 || b == 0x7f || b == b'<' || b == b'>')
    {
        return Err(Failure::new(
            exit::DATAERR,
            format!("{what} address {addr:?} contains characters that cannot go into SMTP"),
        ));
    }
    Ok(())
}

/// RFC 3461 xtext.
fn xtext(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if (b'!'..=b'~').contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

fn keyword_value(what: &str, v: &str) -> Result<String, Failure> {
    if v.is_empty()
        || !v
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b',' || b == b'-')
    {
        return Err(Failure::usage(format!("invalid DSN {what} value {v:?}")));
    }
    Ok(v.to_ascii_uppercase())
}

fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, Failure> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    (bare, port)
        .to_socket_addrs()
        .map(|a| a.collect())
        .map_err(|e| {
            Failure::new(
                exit::UNAVAILABLE,
                format!("cannot find the address of {host}: {e}"),
            )
        })
}

/// Why a command got no usable reply, in the order it is decided.
enum Trouble {
    /// No complete reply within the timeout.
    Silent,
    /// The server closed the connection.
    Closed,
    /// Not a reply, or one over the limits.
    Bad(reply::ReplyError),
    /// The server sent this before the command it would answer was
    /// written: its replies are out of step with our commands.
    Early(Vec<u8>),
    /// Anything else, such as a reset connection.
    Other(String),
}

/// Most bytes of server text quoted in one message.
const QUOTE_CAP: usize = 1024;

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
    /// Last, so that it is dropped after the sockets registered with it.
    rt: tokio::runtime::Runtime,
}

impl Connection {
    pub(crate) fn connect(
        identity: &Identity,
        opts: &SessionOptions,
    ) -> Result<Connection, Failure> {
        if let Some(cmd) = &identity.preconnect {
            hooks::run_hook(
                "preconnect",
                cmd,
                hook_timeout(identity),
                "; nothing was sent",
            )?;
        }
        // The secret first: a passwordeval that fails (or asks for a
        // passphrase) should not keep a connection waiting.
        let secret = match identity.username {
            Some(_) => Some(secret(identity)?),
            None => None,
        };
        let masker = match (&identity.username, &secret) {
            (Some(user), Some(secret)) => Masker::new(user.as_bytes(), secret),
            _ => Masker::default(),
        };
        let verbose = opts.verbose;
        let relay = &identity.relay;
        let server = relay.to_string();
        let timeout = Duration::from_secs(identity.timeout_secs.max(1));
        let tap = match &opts.transcript {
            Some(path) => Some(Transcript::open(path)?),
            None => None,
        };

        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| Failure::software(format!("cannot start the I/O runtime: {e}")))?;

        // TLS trust and the client certificate are read before connecting:
        // a certificate that cannot be used is an error of this identity's
        // configuration (78), found before anything is sent.
        let mut early_tls = match identity.tls {
            TlsPolicy::Disabled => None,
            _ => Some(tls::setup(
                &relay.host,
                identity.certificate_passphrase.as_ref(),
            )?),
        };

        if verbose {
            say(format_args!("Connecting to {server}"));
        }
        let addrs = resolve(&relay.host, relay.port)?;
        // `timeout` bounds the whole connect, whatever the number of
        // addresses tried.
        let deadline = std::time::Instant::now() + timeout;
        let mut last_err = None;
        let mut std_stream = None;
        for addr in &addrs {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                last_err = Some(std::io::Error::from(std::io::ErrorKind::TimedOut));
                break;
            }
            match TcpStream::connect_timeout(addr, left) {
                Ok(s) => {
                    std_stream = Some(s);
                    break;
                }
                Err(e) => last_err = Some(e),
            }
        }
        let std_stream = match std_stream {
            Some(s) => s,
            None => {
                let (status, what) = match &last_err {
                    Some(e) if e.kind() == std::io::ErrorKind::TimedOut => (
                        exit::TEMPFAIL,
                        format!("no answer within {} s", timeout.as_secs()),
                    ),
                    Some(e) => (exit::UNAVAILABLE, e.to_string()),
                    None => (exit::UNAVAILABLE, "no address".to_string()),
                };
                return Err(Failure::new(
                    status,
                    format!("cannot connect to {server}: {what}"),
                ));
            }
        };
        let peer_is_loopback = std_stream
            .peer_addr()
            .map(|a| a.ip().to_canonical().is_loopback())
            .unwrap_or(false);
        let io_err = |e: std::io::Error| Failure::software(format!("socket setup failed: {e}"));
        std_stream.set_nodelay(true).map_err(io_err)?;
        std_stream.set_nonblocking(true).map_err(io_err)?;
        let raw = std_stream.try_clone().ok();
        let tcp = {
            let _guard = rt.enter();
            tokio::net::TcpStream::from_std(std_stream).map_err(io_err)?
        };
        let wire = Wire::new(tcp, raw, timeout, tap);
        wire.set_masker(&masker);

        let hello = identity
            .helo
            .clone()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(local_hostname);

        let mut tls_setup: Option<TlsSetup> = None;
        if identity.tls == TlsPolicy::Implicit {
            if verbose {
                say(format_args!("Starting TLS (implicit, from the first byte)"));
            }
            let setup = match early_tls.take() {
                Some(s) => s,
                None => tls::setup(&relay.host, identity.certificate_passphrase.as_ref())?,
            };
            rt.block_on(handshake(
                &wire,
                &setup,
                &relay.host,
                &server,
                timeout,
                false,
            ))?;
            tls_setup = Some(setup);
        }

        let mut this = Connection {
            rt,
            wire,
            caps: Capabilities::default(),
            server,
            hello,
            timeout,
            verbose,
            broken: false,
            postconnect: identity.postconnect.clone(),
            masker,
        };
        this.greeting()?;
        this.ehlo(true)?;
        if verbose {
            say(format_args!("Connected to {}", this.server));
        }

        // STARTTLS per policy.
        match identity.tls {
            TlsPolicy::Disabled | TlsPolicy::Implicit => {}
            TlsPolicy::Enabled | TlsPolicy::Required => {
                if this.caps.starttls {
                    let setup = match early_tls.take().map(Ok).unwrap_or_else(|| {
                        tls::setup(&relay.host, identity.certificate_passphrase.as_ref())
                    }) {
                        Ok(s) => s,
                        Err(f) => {
                            this.abort();
                            return Err(f);
                        }
                    };
                    let required = identity.tls == TlsPolicy::Required;
                    if this.starttls(&setup, &relay.host, required)? {
                        tls_setup = Some(setup);
                    }
                } else if identity.tls == TlsPolicy::Required {
                    this.abort();
                    return Err(Failure::new(
                        exit::UNAVAILABLE,
                        format!(
                            "TLS is required (starttls required) but {} does not offer STARTTLS; \
                             nothing was sent",
                            this.server
                        ),
                    ));
                } else if verbose {
                    say(format_args!(
                        "{} does not offer STARTTLS; continuing unencrypted",
                        this.server
                    ));
                }
            }
        }
        if let (true, Some(setup)) = (verbose, &tls_setup) {
            match &setup.client_cert {
                Some(p) => say(format_args!(
                    "TLS established; client certificate {}",
                    p.display()
                )),
                None => say(format_args!("TLS established")),
            }
        }

        if let (Some(user), Some(secret)) = (identity.username.as_ref(), secret) {
            let policy = credentials_policy(
                identity.tls,
                identity.tls_explicit,
                this.wire.is_tls(),
                peer_is_loopback,
            );
            let chosen = this.mechanism(identity, &policy);
            let r = chosen.and_then(|mech| {
                if policy == Credentials::Warn && reveals_secret(mech) {
                    warn(&format!(
                        "sending the password unencrypted to {} with {} (starttls disabled)",
                        this.server,
                        mech.sasl_name()
                    ));
                }
                this.authenticate(user.as_bytes(), &secret, mech)
            });
            if let Err(f) = r {
                this.abort();
                return Err(f);
            }
        }
        Ok(this)
    }

    /// Write a command (or a pipelined batch), with its CRLF. Refused, as
    /// a protocol error, when the server sent something unasked first.
    fn write(&mut self, text: &str) -> Result<(), Trouble> {
        let wire = self.wire.clone();
        let r = self.rt.block_on(async move {
            use tokio::io::AsyncWriteExt;
            let mut w = wire;
            w.write_all(text.as_bytes()).await?;
            w.flush().await
        });
        r.map_err(|e| self.write_trouble(e))
    }

    fn write_trouble(&self, e: std::io::Error) -> Trouble {
        if self.wire.early_input() {
            Trouble::Early(self.wire.buffered())
        } else if self.wire.timed_out() {
            Trouble::Silent
        } else if let Some(why) = self.wire.poisoned() {
            Trouble::Other(why)
        } else if matches!(
            e.kind(),
            std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::NotConnected
        ) {
            Trouble::Closed
        } else {
            Trouble::Other(e.to_string())
        }
    }

    /// Read the next reply, within `timeout` for the whole of it.
    fn read_within(&mut self, timeout: Duration) -> Result<Reply, Trouble> {
        let deadline = tokio::time::Instant::now() + timeout;
        self.rt
            .block_on(self.wire.read_reply(deadline))
            .map_err(|e| match e {
                ReadError::Timeout => Trouble::Silent,
                ReadError::Closed => Trouble::Closed,
                ReadError::Reply(e) => Trouble::Bad(e),
                ReadError::Io(e) => match e.kind() {
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe => {
                        Trouble::Closed
                    }
                    _ => Trouble::Other(e.to_string()),
                },
            })
    }

    fn read(&mut self) -> Result<Reply, Trouble> {
        self.read_within(self.timeout)
    }

    /// One command line (without CRLF) and its reply.
    fn command(&mut self, line: &str) -> Result<Reply, Trouble> {
        self.write(&format!("{line}\r\n"))?;
        self.read()
    }

    /// A reply as the user sees it: `CODE text`, secret masked, controls
    /// escaped, at most [`QUOTE_CAP`] bytes of text.
    fn show(&self, r: &Reply) -> String {
        let mut out = r.code.to_string();
        let mut left = QUOTE_CAP;
        for line in &r.lines {
            if left == 0 {
                out.push_str(" ...");
                break;
            }
            let take = &line[..line.len().min(left)];
            left -= take.len();
            out.push(' ');
            out.push_str(&self.masker.show(take));
        }
        out
    }

    /// Raw server input as the user sees it (lines joined by ` / `).
    fn show_raw(&self, bytes: &[u8]) -> String {
        let cut = &bytes[..bytes.len().min(QUOTE_CAP)];
        let lines: Vec<String> = cut
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .filter(|l| !l.is_empty())
            .map(|l| self.masker.show(l))
            .collect();
        let mut text = lines.join(" / ");
        if bytes.len() > cut.len() {
            text.push_str(" ...");
        }
        text
    }

    /// A command got no usable reply: the connection is done for.
    fn failure(&mut self, t: Trouble, during: &str) -> Failure {
        self.broken = true;
        let server = &self.server;
        match t {
            Trouble::Silent => Failure::tempfail(format!(
                "{server} did not answer within {} s during {during}",
                self.timeout.as_secs()
            )),
            Trouble::Closed => {
                Failure::tempfail(format!("{server} closed the connection during {during}"))
            }
            Trouble::Bad(e) => {
                self.wire.shutdown_now();
                Failure::new(
                    exit::PROTOCOL,
                    format!(
                        "{server} sent {} during {during}; nothing more is sent",
                        shown_error(&self.masker, &e)
                    ),
                )
            }
            Trouble::Early(bytes) => {
                self.wire.shutdown_now();
                // RFC 5321 §3.8: a server may announce that it is closing
                // (421) at any time, asked or not.
                if let Some(r) = closing_notice(&bytes) {
                    return Failure::tempfail(format!(
                        "{server} closed the connection during {during}: {}",
                        self.show(&r)
                    ));
                }
                Failure::new(
                    exit::PROTOCOL,
                    format!(
                        "{server} sent data before the command it would answer was written \
                         ({during}): \"{}\"; a reply out of order cannot be believed, so \
                         nothing more is sent",
                        self.show_raw(&bytes)
                    ),
                )
            }
            Trouble::Other(text) => Failure::tempfail(format!(
                "the connection to {server} failed during {during}: {text}"
            )),
        }
    }

    /// A reply that makes no sense for its command (354 to MAIL, 250 to
    /// DATA): the server and we are out of step.
    fn unexpected(&mut self, r: &Reply, during: &str) -> Failure {
        self.broken = true;
        self.wire.shutdown_now();
        Failure::new(
            exit::PROTOCOL,
            format!(
                "{} answered {during} with {}, which is not a reply to it; nothing more is sent",
                self.server,
                self.show(r)
            ),
        )
    }

    /// The server's greeting: 220, or a refusal.
    fn greeting(&mut self) -> Result<(), Failure> {
        let r = match self.read() {
            Ok(r) => r,
            Err(t) => {
                self.broken = true;
                self.wire.shutdown_now();
                let server = &self.server;
                return Err(match t {
                    Trouble::Silent => Failure::tempfail(format!(
                        "{server} did not greet within {} s",
                        self.timeout.as_secs()
                    )),
                    Trouble::Closed => Failure::tempfail(format!(
                        "{server} closed the connection before the session began"
                    )),
                    Trouble::Bad(e) => Failure::new(
                        exit::PROTOCOL,
                        format!(
                            "{server} does not speak SMTP: it sent {}",
                            shown_error(&self.masker, &e)
                        ),
                    ),
                    other => self.failure(other, "the greeting"),
                });
            }
        };
        if r.is_positive() {
            Ok(())
        } else if r.is_negative() {
            self.broken = true;
            self.wire.shutdown_now();
            Err(Failure::new(
                status_for(&r, exit::UNAVAILABLE),
                format!("{} refused the session: {}", self.server, self.show(&r)),
            ))
        } else {
            Err(self.unexpected(&r, "the greeting"))
        }
    }

    /// EHLO (HELO when the server does not know EHLO), and what it offers.
    fn ehlo(&mut self, first: bool) -> Result<(), Failure> {
        let during = if first { "EHLO" } else { "EHLO after STARTTLS" };
        let r = self
            .command(&format!("EHLO {}", self.hello))
            .map_err(|t| self.failure(t, during))?;
        if r.is_positive() {
            self.caps = Capabilities::from_reply(&r);
            return Ok(());
        }
        // RFC 5321 §3.2: a server that does not know EHLO says 500 or 502.
        if first && matches!(r.code, 500 | 502) {
            let r = self
                .command(&format!("HELO {}", self.hello))
                .map_err(|t| self.failure(t, "HELO"))?;
            if r.is_positive() {
                self.caps = Capabilities::default();
                return Ok(());
            }
            return Err(self.refused_session(&r, "HELO"));
        }
        Err(self.refused_session(&r, during))
    }

    fn refused_session(&mut self, r: &Reply, during: &str) -> Failure {
        if !r.is_negative() {
            return self.unexpected(r, during);
        }
        let f = Failure::new(
            status_for(r, exit::UNAVAILABLE),
            format!("{} refused the session: {}", self.server, self.show(r)),
        );
        self.abort();
        f
    }

    /// STARTTLS and EHLO again. `Ok(false)`: the server refused STARTTLS
    /// with a reply and TLS is only `enabled`, so the session goes on
    /// unencrypted.
    fn starttls(&mut self, setup: &TlsSetup, host: &str, required: bool) -> Result<bool, Failure> {
        if self.verbose {
            say(format_args!("Starting TLS"));
        }
        let r = match self.command("STARTTLS") {
            Ok(r) => r,
            Err(t) => {
                let f = self.failure(t, "STARTTLS");
                self.abort();
                return Err(Failure::new(
                    f.status,
                    format!("TLS could not be started: {}", f.message),
                ));
            }
        };
        if r.is_negative() {
            if !required {
                if self.verbose {
                    say(format_args!(
                        "STARTTLS refused ({}); continuing unencrypted",
                        self.show(&r)
                    ));
                }
                return Ok(false);
            }
            let f = Failure::new(
                status_for(&r, exit::PROTOCOL),
                format!(
                    "TLS could not be started: {} answered STARTTLS with {}",
                    self.server,
                    self.show(&r)
                ),
            );
            self.abort();
            return Err(f);
        }
        if !r.is_positive() {
            return Err(self.unexpected(&r, "STARTTLS"));
        }
        // Anything received after the 220 and before the handshake would
        // be read inside TLS as if the TLS server had said it
        // (CVE-2011-0411): refuse it, whether it is already buffered or
        // still waiting in the socket.
        if self.wire.pending_input() {
            self.broken = true;
            self.wire.shutdown_now();
            return Err(self.injected(&self.wire.buffered()));
        }
        let server = self.server.clone();
        if let Err(f) = self.rt.block_on(handshake(
            &self.wire,
            setup,
            host,
            &server,
            self.timeout,
            true,
        )) {
            self.broken = true;
            return Err(f);
        }
        // EHLO again: what the server offers may change under TLS.
        self.ehlo(false)?;
        Ok(true)
    }

    fn injected(&self, bytes: &[u8]) -> Failure {
        injected_data(&self.server, &self.show_raw(bytes))
    }

    /// The mechanism for AUTH: the one the file insists on, else the
    /// strongest offered, of those the connection allows.
    fn mechanism(&self, identity: &Identity, policy: &Credentials) -> Result<AuthMech, Failure> {
        let mut offered = self.caps.auth.clone();
        let mut withheld: Vec<AuthMech> = Vec::new();
        loop {
            match auth::choose(&offered, identity.auth) {
                Ok(m) if reveals_secret(m) && *policy == Credentials::Conceal => {
                    withheld.push(m);
                    offered.retain(|o| !o.eq_ignore_ascii_case(m.sasl_name()));
                }
                Ok(m) => return Ok(m),
                Err(why) if withheld.is_empty() => {
                    return Err(Failure::new(
                        exit::NOPERM,
                        format!(
                            "cannot authenticate to {}: {why}; nothing was sent",
                            self.server
                        ),
                    ))
                }
                Err(_) => return Err(self.cleartext_refused(identity, &withheld)),
            }
        }
    }

    /// Why the password is not sent, and the fix.
    fn cleartext_refused(&self, identity: &Identity, withheld: &[AuthMech]) -> Failure {
        let server = &self.server;
        let names: Vec<&str> = withheld.iter().map(|m| m.sasl_name()).collect();
        let fix = match identity.tls {
            TlsPolicy::Enabled => format!(
                "`starttls enabled` went on without TLS because {server} {}; if it should \
                 offer TLS, someone on the way may have removed it. Write `starttls required` \
                 to never go on without TLS, or `starttls disabled` to accept sending the \
                 password in clear",
                if self.caps.starttls {
                    "refused STARTTLS"
                } else {
                    "did not offer STARTTLS"
                }
            ),
            _ if self.caps.starttls => format!(
                "{server} offers STARTTLS: write `starttls required` in this identity (or \
                 `starttls disabled` to accept sending the password in clear)"
            ),
            _ => "write `starttls required` if the server can use TLS (or `starttls \
                  disabled` to accept sending the password in clear)"
                .to_string(),
        };
        Failure::new(
            exit::CONFIG,
            format!(
                "refusing to send the password to {server} over an unencrypted connection: \
                 {} would show it to anyone on the way, and without a `starttls` statement \
                 the file does not allow that; nothing was sent. {fix}",
                names.join(" and ")
            ),
        )
    }

    fn authenticate(
        &mut self,
        user_bytes: &[u8],
        secret: &[u8],
        mech: AuthMech,
    ) -> Result<(), Failure> {
        let user = crate::plan::escape_bytes(user_bytes);
        if self.verbose {
            say(format_args!(
                "Authenticating as {user} with {}",
                mech.sasl_name()
            ));
        }
        self.wire.set_mode(TapMode::Auth);
        let r = self.auth_exchange(mech, user_bytes, secret);
        self.wire.set_mode(TapMode::Commands);
        match r {
            Ok(r) if r.is_positive() => {
                if self.verbose {
                    say(format_args!("Authenticated"));
                }
                Ok(())
            }
            Ok(r) | Err(AuthError::Refused(r)) if r.is_negative() => Err(Failure::new(
                status_for(&r, exit::NOPERM),
                format!(
                    "{} rejected the login of {user} with {}: {}",
                    self.server,
                    mech.sasl_name(),
                    self.show(&r)
                ),
            )),
            Ok(r) | Err(AuthError::Refused(r)) => {
                Err(self.unexpected(&r, &format!("AUTH {}", mech.sasl_name())))
            }
            Err(AuthError::Trouble(t)) => Err(self.failure(t, "authentication")),
            Err(AuthError::Protocol(why)) => {
                // Cancel the exchange as RFC 4954 says.
                let _ = self.command("*");
                Err(Failure::new(
                    exit::PROTOCOL,
                    format!("authentication with {} failed: {why}", mech.sasl_name()),
                ))
            }
        }
    }

    fn auth_command(&mut self, line: &str) -> Result<Reply, AuthError> {
        self.command(line).map_err(AuthError::Trouble)
    }

    /// The text of a 334 challenge; anything else ends the exchange.
    fn challenge(&self, r: Reply) -> Result<String, AuthError> {
        if r.code == 334 {
            Ok(r.first_text())
        } else if r.is_negative() || r.is_positive() {
            Err(AuthError::Refused(r))
        } else {
            Err(AuthError::Protocol(format!(
                "expected a 334 challenge, got {}",
                self.show(&r)
            )))
        }
    }

    /// The AUTH dialogue; the last reply is returned for the caller to
    /// judge.
    fn auth_exchange(
        &mut self,
        mech: AuthMech,
        user: &[u8],
        secret: &[u8],
    ) -> Result<Reply, AuthError> {
        match mech {
            AuthMech::Plain => {
                self.auth_command(&format!("AUTH PLAIN {}", auth::plain(user, secret)))
            }
            AuthMech::Login => {
                let r = self.auth_command("AUTH LOGIN")?;
                self.challenge(r)?;
                let r = self.auth_command(&auth::b64(user))?;
                self.challenge(r)?;
                self.auth_command(&auth::b64(secret))
            }
            AuthMech::CramMd5 => {
                let r = self.auth_command("AUTH CRAM-MD5")?;
                let c = self.challenge(r)?;
                let answer = auth::cram_md5(user, secret, &c).ok_or_else(|| {
                    AuthError::Protocol("the CRAM-MD5 challenge is not base64".into())
                })?;
                self.auth_command(&answer)
            }
            AuthMech::Ntlm => {
                let r = self.auth_command(&format!("AUTH NTLM {}", auth::ntlm_negotiate()))?;
                let c = self.challenge(r)?;
                let nonce = auth::ntlm_challenge(&c)
                    .ok_or_else(|| AuthError::Protocol("the NTLM challenge is malformed".into()))?;
                let host = local_hostname();
                self.auth_command(&auth::ntlm_authenticate(user, secret, &nonce, &host))
            }
            AuthMech::Xoauth2 => {
                let r =
                    self.auth_command(&format!("AUTH XOAUTH2 {}", auth::xoauth2(user, secret)))?;
                if r.code == 334 {
                    // The server explains the failure in a challenge; an
                    // empty answer makes it send the final (negative) reply.
                    self.auth_command("")
                } else {
                    Ok(r)
                }
            }
        }
    }

    /// One transaction. On a refusal before DATA the transaction is reset
    /// and the connection stays usable.
    pub(crate) fn send(
        &mut self,
        envelope: &Envelope,
        options: &MessageOptions,
        message: &mut dyn Read,
    ) -> Result<(), Failure> {
        if self.broken {
            return Err(Failure::tempfail(format!(
                "the connection to {} was lost",
                self.server
            )));
        }
        check_address("sender", &envelope.sender)?;
        if envelope.recipients.is_empty() {
            return Err(Failure::new(exit::DATAERR, "no recipients"));
        }
        for r in &envelope.recipients {
            check_address("recipient", r)?;
        }
        let caps = self.caps.clone();

        if let (Some(size), Some(limit @ 1..)) = (options.size, caps.size) {
            if size > limit {
                return Err(Failure::software(format!(
                "the message is {size} bytes but {} accepts at most {limit} (SIZE); nothing was sent",
                self.server
            )));
            }
        }

        let mut mail = format!("MAIL FROM:<{}>", envelope.sender);
        let eight_bit = match options.body_type {
            Some(BodyType::EightBitMime) => true,
            Some(BodyType::SevenBit) => false,
            // Unknown content is declared 8-bit: the label is harmless on
            // 7-bit text, its absence is wrong on 8-bit text.
            None => options.eight_bit || options.streamed,
        };
        if caps.eight_bit_mime {
            match options.body_type {
                Some(BodyType::SevenBit) => mail.push_str(" BODY=7BIT"),
                _ if eight_bit => mail.push_str(" BODY=8BITMIME"),
                _ => {}
            }
        } else if options.body_type == Some(BodyType::EightBitMime) || options.eight_bit {
            warn(&format!(
                "{} does not offer 8BITMIME; the 8-bit message is sent as it is",
                self.server
            ));
        }
        if let (Some(size), Some(_)) = (options.size, caps.size) {
            mail.push_str(&format!(" SIZE={size}"));
        }
        let dsn = &options.dsn;
        let wants_dsn = dsn.notify.is_some() || dsn.ret.is_some() || dsn.envid.is_some();
        let use_dsn = wants_dsn && caps.dsn;
        if wants_dsn && !caps.dsn {
            warn(&format!(
                "{} does not offer DSN; the delivery status notification request \
                 (-N/-R/-V) is ignored",
                self.server
            ));
        }
        if use_dsn {
            if let Some(ret) = &dsn.ret {
                mail.push_str(&format!(" RET={}", keyword_value("RET", ret)?));
            }
            if let Some(envid) = &dsn.envid {
                mail.push_str(&format!(" ENVID={}", xtext(envid)));
            }
        }
        let all_addrs = std::iter::once(&envelope.sender).chain(&envelope.recipients);
        if all_addrs.clone().any(|a| !a.is_ascii()) {
            if caps.smtputf8 {
                mail.push_str(" SMTPUTF8");
            } else {
                return Err(Failure::new(
                    exit::DATAERR,
                    format!(
                        "an address is not ASCII and {} does not offer SMTPUTF8",
                        self.server
                    ),
                ));
            }
        }
        let notify = match (&dsn.notify, use_dsn) {
            (Some(n), true) => Some(keyword_value("NOTIFY", n)?),
            _ => None,
        };

        let rcpt_lines: Vec<String> = envelope
            .recipients
            .iter()
            .map(|rcpt| match &notify {
                Some(n) => format!("RCPT TO:<{rcpt}> NOTIFY={n}"),
                None => format!("RCPT TO:<{rcpt}>"),
            })
            .collect();
        // With PIPELINING, MAIL and every RCPT go out in one write and the
        // replies are read in order, one per command: one round trip
        // instead of 1 + n. With a single recipient DATA joins them (a
        // server must refuse DATA when no recipient was accepted); with
        // several, DATA waits until every recipient is known to be
        // accepted, so that none gets the message unless all do.
        let data_pipelined = caps.pipelining && rcpt_lines.len() == 1;
        let mut data_reply = None;
        let (mail_reply, mut rcpt_replies) = if caps.pipelining {
            let mut batch = mail.clone();
            for l in &rcpt_lines {
                batch.push_str("\r\n");
                batch.push_str(l);
            }
            if data_pipelined {
                batch.push_str("\r\nDATA");
            }
            batch.push_str("\r\n");
            self.write(&batch)
                .map_err(|t| self.failure(t, "MAIL FROM"))?;
            let mail_reply = self.read().map_err(|t| self.failure(t, "MAIL FROM"))?;
            let mut replies = Vec::with_capacity(rcpt_lines.len());
            for _ in &rcpt_lines {
                replies.push(self.read().map_err(|t| self.failure(t, "RCPT TO"))?);
            }
            if data_pipelined {
                data_reply = Some(self.read().map_err(|t| self.failure(t, "DATA"))?);
            }
            (mail_reply, Some(replies.into_iter()))
        } else {
            let r = self
                .command(&mail)
                .map_err(|t| self.failure(t, "MAIL FROM"))?;
            (r, None)
        };
        // A pipelined DATA that got 354 leaves the server reading a message:
        // a transaction abandoned now must drop the connection, not RSET.
        let in_data = data_reply.as_ref().is_some_and(Reply::is_intermediate);
        if let Some(r) = data_reply.as_ref().filter(|r| r.is_positive()) {
            return Err(self.unexpected(r, "DATA"));
        }
        if self.verbose {
            say(format_args!(
                "From {}: {}",
                envelope.sender,
                self.show(&mail_reply)
            ));
        }
        if !mail_reply.is_positive() {
            if !mail_reply.is_negative() {
                return Err(self.unexpected(&mail_reply, "MAIL FROM"));
            }
            let f = Failure::new(
                status_for(&mail_reply, exit::SOFTWARE),
                format!(
                    "{} refused the sender <{}>: {}",
                    self.server,
                    envelope.sender,
                    self.show(&mail_reply)
                ),
            );
            self.reset_or_abandon(in_data);
            return Err(f);
        }

        let mut refused = Vec::new();
        let mut permanent = false;
        for (rcpt, line) in envelope.recipients.iter().zip(&rcpt_lines) {
            let reply = match &mut rcpt_replies {
                Some(replies) => match replies.next() {
                    Some(r) => r,
                    None => return Err(self.failure(Trouble::Closed, "RCPT TO")),
                },
                None => self.command(line).map_err(|t| self.failure(t, "RCPT TO"))?,
            };
            if self.verbose {
                say(format_args!("To {rcpt}: {}", self.show(&reply)));
            }
            if reply.is_negative() {
                permanent |= !reply.is_transient();
                refused.push(format!("<{rcpt}>: {}", self.show(&reply)));
            } else if !reply.is_positive() {
                return Err(self.unexpected(&reply, "RCPT TO"));
            }
        }
        if !refused.is_empty() {
            self.reset_or_abandon(in_data);
            let status = if permanent {
                exit::NOUSER
            } else {
                exit::TEMPFAIL
            };
            let n = envelope.recipients.len();
            return Err(Failure::new(
                status,
                format!(
                    "{} refused {} of {n} recipient{}, so the message was not sent to anyone: {}",
                    self.server,
                    refused.len(),
                    if n == 1 { "" } else { "s" },
                    refused.join("; ")
                ),
            ));
        }

        let data_reply = match data_reply {
            Some(r) => r,
            None => self.command("DATA").map_err(|t| self.failure(t, "DATA"))?,
        };
        if data_reply.is_negative() {
            let f = Failure::new(
                status_for(&data_reply, exit::SOFTWARE),
                format!("{} refused DATA: {}", self.server, self.show(&data_reply)),
            );
            self.reset();
            return Err(f);
        }
        if !data_reply.is_intermediate() {
            return Err(self.unexpected(&data_reply, "DATA"));
        }
        if self.verbose {
            say(format_args!("Sending the message"));
        }

        self.wire.set_mode(TapMode::Body);
        let wrote = self.rt.block_on(send_body(&self.wire, message));
        self.wire.set_mode(TapMode::Commands);
        if let Err(e) = wrote {
            self.broken = true;
            if self.wire.early_input() {
                return Err(self.early_body_reply());
            }
            if let Some(why) = self.wire.poisoned() {
                // A reader that refuses the message (a NUL byte in a
                // streamed message) says why and with which status.
                let status = refusal(&e).map_or(exit::SOFTWARE, |f| f.status);
                return Err(Failure::new(
                    status,
                    format!(
                        "{why}; the connection was dropped before the end of the message, \
                         so {} delivers nothing",
                        self.server
                    ),
                ));
            }
            if self.wire.timed_out() {
                return Err(Failure::tempfail(format!(
                    "{} accepted no data for {} s during the message transfer",
                    self.server,
                    self.wire.timeout().as_secs()
                )));
            }
            // A server that stops the transfer usually says why first (552
            // message too big): report that rather than the broken pipe.
            if let Ok(reply) = self.read_within(Duration::from_secs(2)) {
                if reply.is_negative() {
                    return Err(Failure::new(
                        status_for(&reply, exit::SOFTWARE),
                        format!(
                            "{} stopped the message transfer: {}",
                            self.server,
                            self.show(&reply)
                        ),
                    ));
                }
            }
            return Err(Failure::tempfail(format!(
                "the connection to {} was lost during the message transfer: {e}",
                self.server
            )));
        }
        match self.read() {
            Ok(r) if r.is_positive() => {
                if self.verbose {
                    say(format_args!("Message sent: {}", self.show(&r)));
                }
                Ok(())
            }
            Ok(r) if r.is_negative() => Err(Failure::new(
                status_for(&r, exit::SOFTWARE),
                format!("{} refused the message: {}", self.server, self.show(&r)),
            )),
            Ok(r) => Err(self.unexpected(&r, "the end of the message")),
            Err(t) => Err(self.failure(t, "the message transfer")),
        }
    }

    /// The server replied before the end-of-data marker was written: the
    /// marker was never sent (the connection was dropped instead), so
    /// nothing is delivered. A refusal is quoted as one; anything else is
    /// out of order.
    fn early_body_reply(&mut self) -> Failure {
        let bytes = self.wire.buffered();
        match reply::parse(&bytes) {
            Ok(Some((r, _))) if r.is_negative() => Failure::new(
                status_for(&r, exit::SOFTWARE),
                format!(
                    "{} stopped the message transfer: {}",
                    self.server,
                    self.show(&r)
                ),
            ),
            _ => Failure::new(
                exit::PROTOCOL,
                format!(
                    "{} replied before the end of the message was sent: \"{}\"; a reply \
                     out of order cannot be believed, so the connection was dropped before \
                     the end-of-data marker and nothing is delivered",
                    self.server,
                    self.show_raw(&bytes)
                ),
            ),
        }
    }

    pub(crate) fn is_usable(&self) -> bool {
        !self.broken
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
                Err(t @ Trouble::Early(_)) => Err(t),
                Err(_) => {
                    say(format_args!("Disconnected (no reply to QUIT)"));
                    Ok(())
                }
            }
        } else {
            match self.write("QUIT\r\n") {
                Err(t @ Trouble::Early(_)) => Err(t),
                _ => Ok(()),
            }
        };
        self.wire.shutdown_now();
        let sent = match sent {
            Err(Trouble::Early(bytes)) if closing_notice(&bytes).is_some() => Ok(()),
            other => other,
        };
        if let (true, Err(Trouble::Early(bytes))) = (success, sent) {
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

/// `bytes` is exactly one 421 reply: the server says it is closing the
/// connection, which it may do unasked.
fn closing_notice(bytes: &[u8]) -> Option<Reply> {
    match reply::parse(bytes) {
        Ok(Some((r, n))) if r.code == 421 && n == bytes.len() => Some(r),
        _ => None,
    }
}

/// The failure for data received after the 220 to STARTTLS.
fn injected_data(server: &str, text: &str) -> Failure {
    Failure::new(
        exit::PROTOCOL,
        format!(
            "{server} sent data after its reply to STARTTLS, before the TLS handshake \
             (\"{text}\"); it may have been injected on the way (CVE-2011-0411) and would \
             be read as if the TLS server had sent it, so nothing more is sent"
        ),
    )
}

enum AuthError {
    Trouble(Trouble),
    /// The reply that ended the exchange early (a refusal, usually).
    Refused(Reply),
    Protocol(String),
}

/// The TLS handshake on the plain socket, within `timeout` as a whole.
/// `starttls`: after a 220 to STARTTLS, where a first record that is not
/// TLS is data injected after that reply.
async fn handshake(
    wire: &Wire,
    setup: &TlsSetup,
    host: &str,
    server: &str,
    timeout: Duration,
    starttls: bool,
) -> Result<(), Failure> {
    let name = tls::server_name(host)?;
    let Some(tcp) = wire.take_plain() else {
        return Err(Failure::software("TLS started twice"));
    };
    let connector = tokio_rustls::TlsConnector::from(setup.config.clone());
    match tokio::time::timeout(timeout, connector.connect(name, tcp)).await {
        Err(_) => Err(Failure::tempfail(format!(
            "the TLS handshake with {server} did not finish within {} s",
            timeout.as_secs()
        ))),
        Ok(Err(e)) if starttls && tls::is_not_tls(&e) => Err(injected_data(
            server,
            "something that is not TLS, in place of the handshake",
        )),
        Ok(Err(e)) => {
            let (_cert, text) = tls::describe_handshake_error(&e, host, server, &setup.trust);
            Err(Failure::new(
                exit::UNAVAILABLE,
                format!("TLS failed: {text}; nothing was sent"),
            ))
        }
        Ok(Ok(tls)) => {
            wire.put_tls(tls);
            Ok(())
        }
    }
}

/// The name we give in EHLO when the file has no `helo`.
/// Stricter than [`crate::sys::hostname`]: letters, digits, `-` and `.`.
pub(crate) fn local_hostname() -> String {
    let name = crate::sys::hostname();
    if name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        name
    } else {
        "localhost".to_string()
    }
}

/// Read size for the body: small first (a typical message fits, and a
/// process that relays one small message should not touch 64 KB of fresh
/// pages), 64 KB once the message turns out to be bigger.
const FIRST_CHUNK: usize = 8 * 1024;
const CHUNK: usize = 64 * 1024;

/// SMTP transparency while streaming (every line end CRLF, dot-stuffing,
/// the one end-of-data marker): the message's line-end state machine.
pub(crate) use crate::message::Stuffer;

/// Records the header section as `H:` lines when there is a transcript.
struct HeaderTap {
    acc: Option<Vec<u8>>,
}

impl HeaderTap {
    fn feed(&mut self, wire: &Wire, chunk: &[u8]) {
        let Some(acc) = &mut self.acc else {
            return;
        };
        acc.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(pos) = acc[start..].iter().position(|&b| b == b'\n') {
            let line = &acc[start..start + pos];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                self.acc = None;
                return;
            }
            wire.tap_header(line);
            start += pos + 1;
        }
        acc.drain(..start);
        if acc.len() > 1 << 20 {
            self.acc = None;
        }
    }
}

/// The failure a message reader refused the message with (a NUL byte in a
/// message read while it is sent), as opposed to an I/O error.
fn refusal(e: &std::io::Error) -> Option<&Failure> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<Failure>())
}

/// Stream the message after DATA's 354, straight onto the socket: our own
/// transparency (one pass over each line, no per-byte copying), the last
/// chunk and the end-of-data marker in one write. The session reads the
/// reply.
///
/// A read error poisons the connection first: the socket is shut down
/// before any end-of-data marker, so the server can never take a truncated
/// message for a complete one.
async fn send_body(wire: &Wire, reader: &mut dyn Read) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut w = wire.clone();
    let mut stuffer = Stuffer::default();
    let mut headers = HeaderTap {
        acc: wire.has_tap().then(Vec::new),
    };
    let mut buf = vec![0u8; FIRST_CHUNK];
    // Each chunk is written once the next read returns, so that the last
    // one can carry the end-of-data marker.
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                match refusal(&e) {
                    Some(refused) => wire.poison(refused.message.clone()),
                    None => wire.poison(format!("reading the message failed: {e}")),
                }
                return Err(e);
            }
        };
        if !pending.is_empty() {
            w.write_all(&pending).await?;
            pending.clear();
        }
        stuffer.encode(&buf[..n], &mut pending);
        headers.feed(wire, &pending);
        if n == buf.len() && buf.len() < CHUNK {
            buf.resize(CHUNK, 0);
        }
    }
    stuffer.finish(&mut pending);
    w.write_all(&pending).await?;
    w.flush().await?;
    wire.tap_client_line(b".");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stuff(chunks: &[&[u8]]) -> Vec<u8> {
        let mut s = Stuffer::default();
        let mut out = Vec::new();
        for c in chunks {
            s.encode(c, &mut out);
        }
        s.finish(&mut out);
        out
    }

    #[test]
    fn transparency_and_line_ends() {
        assert_eq!(stuff(&[b"a\nb\r", b"\nc\n\n"]), b"a\r\nb\r\nc\r\n\r\n.\r\n");
        assert_eq!(
            stuff(&[b".x\r\n..y\r\n.\r\nz.\r\n"]),
            b"..x\r\n...y\r\n..\r\nz.\r\n.\r\n"
        );
        assert_eq!(stuff(&[b"no newline"]), b"no newline\r\n.\r\n");
        assert_eq!(stuff(&[b"ends\r\n"]), b"ends\r\n.\r\n");
        assert_eq!(stuff(&[]), b".\r\n");
        // A bare CR is a line end too: no `\r.\r` reaches the server.
        assert_eq!(stuff(&[b"a\r.\rb"]), b"a\r\n..\r\nb\r\n.\r\n");
        assert_eq!(stuff(&[b"a\r", b".\r"]), b"a\r\n..\r\n.\r\n");
    }

    #[test]
    fn chunk_boundaries_do_not_matter() {
        let input: &[u8] = b".a\n\r\n.b\r\nc\rd\n..e\n.\nf";
        let whole = stuff(&[input]);
        for i in 0..=input.len() {
            for j in i..=input.len() {
                assert_eq!(
                    stuff(&[&input[..i], &input[i..j], &input[j..]]),
                    whole,
                    "split at {i},{j}"
                );
            }
        }
    }

    #[test]
    fn ehlo_keywords_are_read() {
        let caps = Capabilities::parse(
            "250-exim.test Hello\r\n250-SIZE 31457280\r\n250-8BITMIME\r\n250-DSN\r\n\
             250-AUTH PLAIN cram-md5\r\n250-STARTTLS\r\n250 HELP\r\n",
        );
        assert!(caps.starttls && caps.eight_bit_mime && caps.dsn);
        assert_eq!(caps.size, Some(31457280));
        assert_eq!(caps.auth, vec!["PLAIN".to_string(), "CRAM-MD5".to_string()]);
        assert_eq!(Capabilities::parse("250-x\r\n250 SIZE\r\n").size, Some(0));
    }

    #[test]
    fn secrets_go_in_clear_to_another_machine_only_when_the_file_says_so() {
        use Credentials::*;
        use TlsPolicy::*;
        // (policy, explicit, encrypted, loopback)
        assert_eq!(credentials_policy(Enabled, true, false, false), Conceal);
        assert_eq!(credentials_policy(Required, true, false, false), Conceal);
        assert_eq!(credentials_policy(Disabled, false, false, false), Conceal);
        assert_eq!(credentials_policy(Disabled, true, false, false), Warn);
        assert_eq!(credentials_policy(Enabled, true, true, false), Send);
        assert_eq!(credentials_policy(Enabled, true, false, true), Send);
        assert_eq!(credentials_policy(Disabled, false, false, true), Send);
        assert!(reveals_secret(AuthMech::Plain) && reveals_secret(AuthMech::Login));
        assert!(reveals_secret(AuthMech::Xoauth2));
        assert!(!reveals_secret(AuthMech::CramMd5) && !reveals_secret(AuthMech::Ntlm));
    }

    #[test]
    fn envid_is_xtext() {
        assert_eq!(xtext("a+b=c d"), "a+2Bb+3Dc+20d");
    }
}
