//! The SMTP session: lettre's async connection over a socket we open
//! ourselves (connect timeout, TCP_NODELAY), driven by a current-thread
//! tokio runtime.
//!
//! Why not lettre's blocking `SmtpConnection`: it never sets TCP_NODELAY
//! and writes the end-of-data marker as its own small write, which Nagle's
//! algorithm holds until the server's delayed ACK: 43 ms per message on
//! loopback. Over our own socket the same exchange takes a fraction of a
//! millisecond.
//!
//! lettre greets, sends EHLO and parses every reply; we write the commands
//! ourselves, so that we control every parameter (SIZE, BODY, RET, ENVID,
//! NOTIFY), every AUTH mechanism and PIPELINING (MAIL, RCPT and, for one
//! recipient, DATA in one write). The body goes straight onto the socket
//! (see `send_body`): lettre's `message_iter` copies byte by byte and
//! writes the end-of-data marker as a separate write; ours does one pass
//! per line and sends the last chunk with the marker.

use super::auth;
use super::stream::{TapMode, Wire};
use super::tls::{self, TlsSetup};
use super::transcript::Transcript;
use super::{BodyType, Envelope, MessageOptions, SessionOptions};
use crate::exit::{self, Failure};
use crate::plan::{AuthMech, Identity, SecretSource, TlsPolicy};
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::{Response, Severity};
use lettre::transport::smtp::Error as SmtpError;
use std::fmt;
use std::io::Read;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::{Command, Stdio};
use std::time::Duration;

/// One command line; lettre's `command` writes its `Display` and reads the
/// reply.
struct Line<'a>(&'a str);

impl fmt::Display for Line<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)?;
        f.write_str("\r\n")
    }
}

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
    /// Parse the raw EHLO reply (`250-KEYWORD params` lines; the first line
    /// is the server's name).
    pub(crate) fn parse(raw: &str) -> Capabilities {
        let mut caps = Capabilities::default();
        for (i, line) in raw.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if i == 0 || line.len() < 4 || !line.starts_with("250") {
                continue;
            }
            let mut words = line[4..].split_whitespace();
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

/// The negative reply carried by a lettre error, if any.
fn negative_reply(e: &SmtpError) -> Option<(u16, Severity, String)> {
    let code = e.status()?;
    let text = std::error::Error::source(e)
        .map(|s| s.to_string())
        .unwrap_or_default();
    Some((u16::from(code), code.severity, text))
}

/// The exit status for a negative reply: 4xx is temporary, 5xx `permanent`.
fn status_for(sev: Severity, permanent: u8) -> u8 {
    if sev == Severity::TransientNegativeCompletion {
        exit::TEMPFAIL
    } else {
        permanent
    }
}

fn reply_line(r: &Response) -> String {
    let text: Vec<&str> = r.message().collect();
    format!("{} {}", u16::from(r.code()), text.join(" "))
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

/// Run a `preconnect`/`postconnect` command through `sh -c`.
fn run_hook(what: &str, command: &str) -> Result<(), Failure> {
    let status = Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| {
            Failure::software(format!("cannot run the {what} command `{command}`: {e}"))
        })?;
    if status.success() {
        Ok(())
    } else {
        let how = match status.code() {
            Some(c) => format!("exit status {c}"),
            None => "a signal".to_string(),
        };
        Err(Failure::software(format!(
            "the {what} command `{command}` failed with {how}; nothing was sent"
        )))
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Credentials {
    Send,
    /// Unencrypted to another machine, but the file says `starttls
    /// disabled`: send, with a warning.
    Warn,
    Refuse,
}

/// May credentials go over this connection? Encrypted or to this machine:
/// yes. Otherwise only when the file turned TLS off itself.
fn credentials_policy(policy: TlsPolicy, encrypted: bool, loopback: bool) -> Credentials {
    if encrypted || loopback {
        Credentials::Send
    } else if policy == TlsPolicy::Disabled {
        Credentials::Warn
    } else {
        Credentials::Refuse
    }
}

/// The secret: the `password`, or the first line `passwordeval` prints,
/// as bytes (esmtp 1.2 sends them as they are, UTF-8 or not).
fn secret(identity: &Identity) -> Result<Vec<u8>, Failure> {
    match &identity.secret {
        None => Ok(Vec::new()),
        Some(SecretSource::Password(s)) => Ok(s.expose().to_vec()),
        Some(SecretSource::Eval(command)) => {
            let out = Command::new("/bin/sh")
                .arg("-c")
                .arg(command)
                .stdin(Stdio::null())
                .stderr(Stdio::inherit())
                .output()
                .map_err(|e| {
                    Failure::config(format!(
                        "cannot run the passwordeval command `{command}`: {e}"
                    ))
                })?;
            if !out.status.success() {
                return Err(Failure::config(format!(
                    "the passwordeval command `{command}` failed ({})",
                    out.status
                )));
            }
            let text = out.stdout;
            match text
                .split(|&b| b == b'\n')
                .next()
                .filter(|_| !text.is_empty())
            {
                Some(line) => Ok(line.strip_suffix(b"\r").unwrap_or(line).to_vec()),
                None => Err(Failure::config(format!(
                    "the passwordeval command `{command}` printed nothing"
                ))),
            }
        }
    }
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

/// An open SMTP connection, greeted, TLS and AUTH done.
pub(crate) struct Connection {
    conn: AsyncSmtpConnection,
    wire: Wire,
    caps: Capabilities,
    server: String,
    hello: ClientId,
    verbose: bool,
    broken: bool,
    postconnect: Option<String>,
    /// Last, so that it is dropped after the sockets registered with it.
    rt: tokio::runtime::Runtime,
}

impl Connection {
    pub(crate) fn connect(
        identity: &Identity,
        opts: &SessionOptions,
    ) -> Result<Connection, Failure> {
        if let Some(cmd) = &identity.preconnect {
            run_hook("preconnect", cmd)?;
        }
        // The secret first: a passwordeval that fails (or asks for a
        // passphrase) should not keep a connection waiting.
        let secret = match identity.username {
            Some(_) => Some(secret(identity)?),
            None => None,
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
        let mut last_err = None;
        let mut std_stream = None;
        for addr in &addrs {
            match TcpStream::connect_timeout(addr, timeout) {
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
            .map(|a| a.ip().is_loopback())
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

        let hello_name = identity
            .helo
            .clone()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(local_hostname);
        let hello = ClientId::Domain(hello_name);

        let mut tls_setup: Option<TlsSetup> = None;
        if identity.tls == TlsPolicy::Implicit {
            if verbose {
                say(format_args!("Starting TLS (implicit, from the first byte)"));
            }
            let setup = match early_tls.take() {
                Some(s) => s,
                None => tls::setup(&relay.host, identity.certificate_passphrase.as_ref())?,
            };
            rt.block_on(handshake(&wire, &setup, &relay.host, &server, timeout))?;
            tls_setup = Some(setup);
        }

        let conn = rt.block_on(async {
            AsyncSmtpConnection::connect_with_transport(Box::new(wire.clone()), &hello).await
        });
        let conn = match conn {
            Ok(c) => c,
            Err(e) => return Err(greeting_failure(&e, &wire, &server)),
        };
        let caps = Capabilities::parse(&wire.last_reply());
        let mut this = Connection {
            rt,
            conn,
            wire,
            caps,
            server,
            hello,
            verbose,
            broken: false,
            postconnect: identity.postconnect.clone(),
        };
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
                    if this.starttls(&setup, &relay.host, timeout, required)? {
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
            match credentials_policy(identity.tls, this.wire.is_tls(), peer_is_loopback) {
                Credentials::Send => {}
                Credentials::Warn => warn(&format!(
                    "sending credentials unencrypted to {} (starttls disabled)",
                    this.server
                )),
                Credentials::Refuse => {
                    this.abort();
                    return Err(Failure::new(
                        exit::UNAVAILABLE,
                        format!(
                            "the connection to {} is not encrypted (STARTTLS not offered or \
                             refused): refusing to send credentials in clear (`starttls \
                             disabled` allows it); nothing was sent",
                            this.server
                        ),
                    ));
                }
            }
            if let Err(f) = this.authenticate(user.as_bytes(), &secret, identity.auth) {
                this.abort();
                return Err(f);
            }
        }
        Ok(this)
    }

    /// STARTTLS and EHLO again. `Ok(false)`: the server refused STARTTLS
    /// with a reply and TLS is only `enabled`, so the session goes on
    /// unencrypted.
    fn starttls(
        &mut self,
        setup: &TlsSetup,
        host: &str,
        timeout: Duration,
        required: bool,
    ) -> Result<bool, Failure> {
        if self.verbose {
            say(format_args!("Starting TLS"));
        }
        let r = self.rt.block_on(self.conn.command(Line("STARTTLS")));
        if let Err(e) = r {
            if let (false, Some((code, _, text))) = (required, negative_reply(&e)) {
                if self.verbose {
                    say(format_args!(
                        "STARTTLS refused ({code} {text}); continuing unencrypted"
                    ));
                }
                return Ok(false);
            }
            let f = self.failure(&e, "STARTTLS");
            self.abort();
            return Err(Failure::new(
                f.status,
                format!("TLS could not be started: {}", f.message),
            ));
        }
        // Anything read after the 220 line would be plaintext injected ahead
        // of the handshake (CVE-2011-0411 style): refuse it.
        let reply = self.wire.last_reply();
        if reply.lines().any(|l| !l.starts_with("220")) {
            self.abort();
            return Err(Failure::new(
                exit::PROTOCOL,
                format!(
                    "{} sent data after its STARTTLS reply; refusing to continue",
                    self.server
                ),
            ));
        }
        let server = self.server.clone();
        if let Err(f) = self
            .rt
            .block_on(handshake(&self.wire, setup, host, &server, timeout))
        {
            self.broken = true;
            return Err(f);
        }
        // EHLO again: what the server offers may change under TLS.
        let ehlo = lettre::transport::smtp::commands::Ehlo::new(self.hello.clone());
        match self.rt.block_on(self.conn.command(ehlo)) {
            Ok(_) => {
                self.caps = Capabilities::parse(&self.wire.last_reply());
                Ok(true)
            }
            Err(e) => {
                let f = self.failure(&e, "EHLO after STARTTLS");
                self.abort();
                Err(f)
            }
        }
    }

    fn authenticate(
        &mut self,
        user_bytes: &[u8],
        secret: &[u8],
        insist: Option<AuthMech>,
    ) -> Result<(), Failure> {
        let user = crate::plan::escape_bytes(user_bytes);
        let mech = auth::choose(&self.caps.auth, insist).map_err(|why| {
            Failure::new(
                exit::NOPERM,
                format!(
                    "cannot authenticate to {}: {why}; nothing was sent",
                    self.server
                ),
            )
        })?;
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
            Ok(()) => {
                if self.verbose {
                    say(format_args!("Authenticated"));
                }
                Ok(())
            }
            Err(AuthError::Smtp(e)) => {
                if let Some((code, sev, text)) = negative_reply(&e) {
                    let status = status_for(sev, exit::NOPERM);
                    Err(Failure::new(
                        status,
                        format!(
                            "{} rejected the login of {user} with {}: {code} {text}",
                            self.server,
                            mech.sasl_name()
                        ),
                    ))
                } else {
                    Err(self.failure(&e, "authentication"))
                }
            }
            Err(AuthError::Protocol(why)) => {
                // Cancel the exchange as RFC 4954 says.
                let _ = self.rt.block_on(self.conn.command(Line("*")));
                Err(Failure::new(
                    exit::PROTOCOL,
                    format!("authentication with {} failed: {why}", mech.sasl_name()),
                ))
            }
        }
    }

    fn auth_exchange(
        &mut self,
        mech: AuthMech,
        user: &[u8],
        secret: &[u8],
    ) -> Result<(), AuthError> {
        let rt = &self.rt;
        let conn = &mut self.conn;
        let mut cmd = |line: String| -> Result<Response, AuthError> {
            rt.block_on(conn.command(Line(&line)))
                .map_err(AuthError::Smtp)
        };
        let challenge = |r: &Response| -> Result<String, AuthError> {
            if u16::from(r.code()) == 334 {
                Ok(r.first_line().unwrap_or("").to_string())
            } else {
                Err(AuthError::Protocol(format!(
                    "expected a 334 challenge, got {}",
                    reply_line(r)
                )))
            }
        };
        let done = |r: Response| -> Result<(), AuthError> {
            if u16::from(r.code()) == 235 || r.code().severity == Severity::PositiveCompletion {
                Ok(())
            } else {
                Err(AuthError::Protocol(format!(
                    "unexpected reply {}",
                    reply_line(&r)
                )))
            }
        };
        match mech {
            AuthMech::Plain => done(cmd(format!("AUTH PLAIN {}", auth::plain(user, secret)))?),
            AuthMech::Login => {
                let r = cmd("AUTH LOGIN".into())?;
                challenge(&r)?;
                let r = cmd(auth::b64(user))?;
                challenge(&r)?;
                done(cmd(auth::b64(secret))?)
            }
            AuthMech::CramMd5 => {
                let r = cmd("AUTH CRAM-MD5".into())?;
                let c = challenge(&r)?;
                let answer = auth::cram_md5(user, secret, &c).ok_or_else(|| {
                    AuthError::Protocol("the CRAM-MD5 challenge is not base64".into())
                })?;
                done(cmd(answer)?)
            }
            AuthMech::Ntlm => {
                let r = cmd(format!("AUTH NTLM {}", auth::ntlm_negotiate()))?;
                let c = challenge(&r)?;
                let nonce = auth::ntlm_challenge(&c)
                    .ok_or_else(|| AuthError::Protocol("the NTLM challenge is malformed".into()))?;
                let host = local_hostname();
                done(cmd(auth::ntlm_authenticate(user, secret, &nonce, &host))?)
            }
            AuthMech::Xoauth2 => {
                let r = cmd(format!("AUTH XOAUTH2 {}", auth::xoauth2(user, secret)))?;
                if u16::from(r.code()) == 334 {
                    // The server explains the failure in a challenge; an
                    // empty answer makes it send the final (negative) reply.
                    done(cmd(String::new())?)
                } else {
                    done(r)
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
        // replies are read in order: one round trip instead of 1 + n. With a
        // single recipient DATA joins them (a server must refuse DATA when
        // no recipient was accepted); with several, DATA waits until every
        // recipient is known to be accepted, so that none gets the message
        // unless all do.
        let data_pipelined = caps.pipelining && rcpt_lines.len() == 1;
        let mut data_reply = None;
        let (r, rcpt_results) = if caps.pipelining {
            let mut batch = mail.clone();
            for l in &rcpt_lines {
                batch.push_str("\r\n");
                batch.push_str(l);
            }
            if data_pipelined {
                batch.push_str("\r\nDATA");
            }
            let r = self.rt.block_on(self.conn.command(Line(&batch)));
            let mut results = Vec::with_capacity(rcpt_lines.len());
            let mut answered = r.as_ref().err().is_none_or(|e| negative_reply(e).is_some());
            for _ in &rcpt_lines {
                if !answered {
                    break;
                }
                let reply = self.rt.block_on(self.conn.read_response());
                answered = reply
                    .as_ref()
                    .err()
                    .is_none_or(|e| negative_reply(e).is_some());
                results.push(reply);
            }
            if data_pipelined && answered {
                data_reply = Some(self.rt.block_on(self.conn.read_response()));
            }
            (r, Some(results))
        } else {
            (self.rt.block_on(self.conn.command(Line(&mail))), None)
        };
        // A pipelined DATA that got 354 leaves the server reading a message:
        // a transaction abandoned now must drop the connection, not RSET.
        let in_data = matches!(data_reply, Some(Ok(_)));
        if let (true, Ok(resp)) = (self.verbose, &r) {
            say(format_args!(
                "From {}: {}",
                envelope.sender,
                reply_line(resp)
            ));
        }
        if let Err(e) = r {
            let f = match negative_reply(&e) {
                Some((code, sev, text)) => Failure::new(
                    status_for(sev, exit::SOFTWARE),
                    format!(
                        "{} refused the sender <{}>: {code} {text}",
                        self.server, envelope.sender
                    ),
                ),
                None => self.failure(&e, "MAIL FROM"),
            };
            self.reset_or_abandon(in_data);
            return Err(f);
        }

        let mut refused = Vec::new();
        let mut permanent = false;
        let mut pipelined = rcpt_results.map(|v| v.into_iter());
        for (rcpt, line) in envelope.recipients.iter().zip(&rcpt_lines) {
            let reply = match &mut pipelined {
                Some(results) => match results.next() {
                    Some(r) => r,
                    None => {
                        return Err(Failure::tempfail(format!(
                            "the connection to {} was lost during RCPT TO",
                            self.server
                        )));
                    }
                },
                None => self.rt.block_on(self.conn.command(Line(line))),
            };
            match reply {
                Ok(r) => {
                    if self.verbose {
                        say(format_args!("To {rcpt}: {}", reply_line(&r)));
                    }
                }
                Err(e) => match negative_reply(&e) {
                    Some((code, sev, text)) => {
                        if self.verbose {
                            say(format_args!("To {rcpt}: {code} {text}"));
                        }
                        permanent |= sev == Severity::PermanentNegativeCompletion;
                        refused.push(format!("<{rcpt}>: {code} {text}"));
                    }
                    None => return Err(self.failure(&e, "RCPT TO")),
                },
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

        let data_result = match data_reply {
            Some(r) => r,
            None => self.rt.block_on(self.conn.command(Line("DATA"))),
        };
        if let Err(e) = data_result {
            let f = match negative_reply(&e) {
                Some((code, sev, text)) => Failure::new(
                    status_for(sev, exit::SOFTWARE),
                    format!("{} refused DATA: {code} {text}", self.server),
                ),
                None => self.failure(&e, "DATA"),
            };
            self.reset();
            return Err(f);
        }
        if self.verbose {
            say(format_args!("Sending the message"));
        }

        self.wire.set_mode(TapMode::Body);
        let wrote = self.rt.block_on(send_body(&self.wire, message));
        self.wire.set_mode(TapMode::Commands);
        if let Err(e) = wrote {
            self.broken = true;
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
            let said = self.rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(2), self.conn.read_response()).await
            });
            if let Ok(Err(reply)) = said {
                if let Some((code, sev, text)) = negative_reply(&reply) {
                    return Err(Failure::new(
                        status_for(sev, exit::SOFTWARE),
                        format!(
                            "{} stopped the message transfer: {code} {text}",
                            self.server
                        ),
                    ));
                }
            }
            return Err(Failure::tempfail(format!(
                "the connection to {} was lost during the message transfer: {e}",
                self.server
            )));
        }
        match self.rt.block_on(self.conn.read_response()) {
            Ok(resp) => {
                if self.verbose {
                    say(format_args!("Message sent: {}", reply_line(&resp)));
                }
                Ok(())
            }
            Err(e) => match negative_reply(&e) {
                Some((code, sev, text)) => Err(Failure::new(
                    status_for(sev, exit::SOFTWARE),
                    format!("{} refused the message: {code} {text}", self.server),
                )),
                None => Err(self.failure(&e, "the message transfer")),
            },
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
        if self.rt.block_on(self.conn.command(Line("RSET"))).is_err() {
            self.broken = true;
        }
    }

    /// QUIT without looking at the answer, after a failure.
    fn abort(&mut self) {
        if !self.broken {
            let _ = self.rt.block_on(self.conn.command(Line("QUIT")));
        }
        self.broken = true;
        self.wire.shutdown_now();
    }

    /// QUIT, then `postconnect`.
    ///
    /// The reply to QUIT is awaited only with `-v` (which prints it): every
    /// message is settled by then, and the 221 costs one more round trip
    /// for nothing (Postfix's client skips it by default too,
    /// `smtp_skip_quit_response`).
    pub(crate) fn quit(mut self, success: bool) -> Result<(), Failure> {
        if !self.broken && self.verbose {
            match self.rt.block_on(self.conn.command(Line("QUIT"))) {
                Ok(resp) => say(format_args!("Disconnected: {}", reply_line(&resp))),
                Err(e) => say(format_args!("QUIT: {e}")),
            }
        } else if !self.broken {
            let wire = self.wire.clone();
            let _ = self.rt.block_on(async move {
                use tokio::io::AsyncWriteExt;
                let mut w = wire;
                w.write_all(b"QUIT\r\n").await?;
                w.flush().await
            });
        }
        self.wire.shutdown_now();
        if let (true, Some(cmd)) = (success, self.postconnect.take()) {
            run_hook("postconnect", &cmd)?;
        }
        Ok(())
    }

    /// A lettre error that is not a negative reply: timeout, lost
    /// connection, garbage.
    fn failure(&mut self, e: &SmtpError, during: &str) -> Failure {
        self.broken = true;
        let server = &self.server;
        match Trouble::of(e, &self.wire) {
            Trouble::Silent => Failure::tempfail(format!(
                "{server} did not answer within {} s during {during}",
                self.wire.timeout().as_secs()
            )),
            Trouble::Negative(code, sev, text) => Failure::new(
                status_for(sev, exit::PROTOCOL),
                format!("{server} answered {during} with {code} {text}"),
            ),
            Trouble::Closed => {
                Failure::tempfail(format!("{server} closed the connection during {during}"))
            }
            Trouble::Malformed(text) => Failure::new(
                exit::PROTOCOL,
                format!("{server} sent a malformed reply during {during}: {text}"),
            ),
            Trouble::Other(text) => Failure::tempfail(format!(
                "the connection to {server} failed during {during}: {text}"
            )),
        }
    }
}

/// What a lettre error means, in the order it is decided.
enum Trouble {
    /// No answer within the timeout.
    Silent,
    /// A negative reply: code, severity, text.
    Negative(u16, Severity, String),
    /// The server closed the connection.
    Closed,
    /// A reply that is not SMTP (lettre's text).
    Malformed(String),
    /// Anything else, such as a failed connection (lettre's text).
    Other(String),
}

impl Trouble {
    fn of(e: &SmtpError, wire: &Wire) -> Trouble {
        if wire.timed_out() || e.is_timeout() {
            return Trouble::Silent;
        }
        if let Some((code, sev, text)) = negative_reply(e) {
            return Trouble::Negative(code, sev, text);
        }
        let text = e.to_string();
        // (lettre reports a shut-down transport only from its pool, which
        // is not used here; it counts as closed all the same.)
        if text.contains("incomplete response") || e.is_transport_shutdown() {
            Trouble::Closed
        } else if e.is_response() {
            Trouble::Malformed(text)
        } else {
            Trouble::Other(text)
        }
    }
}

enum AuthError {
    Smtp(SmtpError),
    Protocol(String),
}

fn greeting_failure(e: &SmtpError, wire: &Wire, server: &str) -> Failure {
    wire.shutdown_now();
    match Trouble::of(e, wire) {
        Trouble::Silent => Failure::tempfail(format!(
            "{server} did not greet or answer EHLO within {} s",
            wire.timeout().as_secs()
        )),
        Trouble::Negative(code, sev, text) => Failure::new(
            status_for(sev, exit::UNAVAILABLE),
            format!("{server} refused the session: {code} {text}"),
        ),
        Trouble::Closed => Failure::tempfail(format!(
            "{server} closed the connection before the session began"
        )),
        Trouble::Malformed(text) => Failure::new(
            exit::PROTOCOL,
            format!("{server} does not speak SMTP: {text}"),
        ),
        Trouble::Other(text) => {
            Failure::tempfail(format!("the connection to {server} failed: {text}"))
        }
    }
}

async fn handshake(
    wire: &Wire,
    setup: &TlsSetup,
    host: &str,
    server: &str,
    timeout: Duration,
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

/// SMTP transparency while streaming: bare LF becomes CRLF, a line that
/// starts with `.` gets another, and [`Stuffer::finish`] ends the data with
/// `CRLF . CRLF` (adding the CRLF only when the message lacks a final line
/// end, so no empty line is added). State carries across chunks.
#[derive(Debug, Default)]
pub(crate) struct Stuffer {
    mid_line: bool,
    last_cr: bool,
}

impl Stuffer {
    pub(crate) fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + input.len() / 32 + 8);
        let mut rest = input;
        while let Some(&first) = rest.first() {
            if !self.mid_line && first == b'.' {
                out.push(b'.');
            }
            match rest.iter().position(|&b| b == b'\n') {
                Some(pos) => {
                    out.extend_from_slice(&rest[..pos]);
                    let cr = if pos > 0 {
                        rest[pos - 1] == b'\r'
                    } else {
                        self.last_cr
                    };
                    if !cr {
                        out.push(b'\r');
                    }
                    out.push(b'\n');
                    self.mid_line = false;
                    self.last_cr = false;
                    rest = &rest[pos + 1..];
                }
                None => {
                    out.extend_from_slice(rest);
                    self.mid_line = true;
                    self.last_cr = rest.last() == Some(&b'\r');
                    rest = &[];
                }
            }
        }
    }

    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        if self.mid_line {
            if !self.last_cr {
                out.push(b'\r');
            }
            out.push(b'\n');
        }
        out.extend_from_slice(b".\r\n");
        self.mid_line = false;
        self.last_cr = false;
    }
}

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
/// chunk and the end-of-data marker in one write. lettre reads the reply.
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
    fn credentials_never_go_unencrypted_to_another_machine_unless_tls_is_off() {
        use Credentials::*;
        assert_eq!(credentials_policy(TlsPolicy::Enabled, false, false), Refuse);
        assert_eq!(
            credentials_policy(TlsPolicy::Required, false, false),
            Refuse
        );
        assert_eq!(credentials_policy(TlsPolicy::Disabled, false, false), Warn);
        assert_eq!(credentials_policy(TlsPolicy::Enabled, true, false), Send);
        assert_eq!(credentials_policy(TlsPolicy::Enabled, false, true), Send);
        assert_eq!(credentials_policy(TlsPolicy::Disabled, false, true), Send);
    }

    #[test]
    fn envid_is_xtext() {
        assert_eq!(xtext("a+b=c d"), "a+2Bb+3Dc+20d");
    }
}
