//! Setting up the session: preconnect, resolve, TCP (connect timeout,
//! TCP_NODELAY), implicit TLS or STARTTLS, the greeting, EHLO (HELO when
//! the server does not know EHLO), and AUTH when the identity has a login.

use super::super::hooks;
use super::super::reply::Reply;
use super::super::shown::Masker;
use super::super::stream::Wire;
use super::super::tls::{self, TlsSetup};
use super::super::transcript::Transcript;
use super::super::SessionOptions;
use super::authentication::{credentials_policy, secret};
use super::capabilities::Capabilities;
use super::error::{injected_data, shown_error, status_for, NoReply};
use super::observe::{reply_lines, version_text, Login, Observed, Probing, TlsFacts, TlsMode};
use super::{say, Connection};
use crate::exit::{self, Failure};
use crate::plan::{Identity, TlsPolicy};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The time a preconnect, postconnect or passwordeval command may take:
/// the identity's `timeout`.
pub(super) fn hook_timeout(identity: &Identity) -> Duration {
    Duration::from_secs(identity.timeout_secs.max(1))
}

pub(super) fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, Failure> {
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

/// The secret of the identity's login (none without a `username`), and
/// the masker that keeps it (and the login) out of everything shown.
/// `-v` says where an OAuth 2 token came from.
fn secret_and_masker(
    identity: &Identity,
    verbose: bool,
) -> Result<(Option<Vec<u8>>, Masker), Failure> {
    let secret = match identity.username {
        Some(_) => {
            let (secret, note) = secret(identity)?;
            if let Some(note) = note.filter(|_| verbose) {
                say(format_args!("{note}"));
            }
            Some(secret)
        }
        None => None,
    };
    let masker = match (&identity.username, &secret) {
        (Some(user), Some(secret)) => Masker::new(user.as_bytes(), secret),
        _ => Masker::default(),
    };
    Ok((secret, masker))
}

/// `-v`: TLS is on, with the client certificate when one was presented.
fn say_tls_established(setup: &TlsSetup) {
    match &setup.client_cert {
        Some(p) => say(format_args!(
            "TLS established; client certificate {}",
            p.display()
        )),
        None => say(format_args!("TLS established")),
    }
}

/// A TCP connection to `host`:`port`, trying each of its addresses in
/// turn; `timeout` bounds the whole connect, whatever the number of
/// addresses tried. `server` names it in the failure.
fn open_tcp(host: &str, port: u16, server: &str, timeout: Duration) -> Result<TcpStream, Failure> {
    let addrs = resolve(host, port)?;
    let deadline = std::time::Instant::now() + timeout;
    let mut last_err = None;
    for addr in &addrs {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            last_err = Some(std::io::Error::from(std::io::ErrorKind::TimedOut));
            break;
        }
        match TcpStream::connect_timeout(addr, left) {
            Ok(s) => return Ok(s),
            Err(e) => last_err = Some(e),
        }
    }
    let (status, what) = match &last_err {
        Some(e) if e.kind() == std::io::ErrorKind::TimedOut => (
            exit::TEMPFAIL,
            format!("no answer within {} s", timeout.as_secs()),
        ),
        Some(e) => (exit::UNAVAILABLE, e.to_string()),
        None => (exit::UNAVAILABLE, "no address".to_string()),
    };
    Err(Failure::new(
        status,
        format!("cannot connect to {server}: {what}"),
    ))
}

/// The connected socket as the session's [`Wire`]: TCP_NODELAY (the
/// end-of-data marker must not wait for Nagle), non-blocking, registered
/// with the runtime `rt`.
fn wire_over(
    std_stream: TcpStream,
    rt: &tokio::runtime::Runtime,
    timeout: Duration,
    tap: Option<Transcript>,
) -> Result<Wire, Failure> {
    let io_err = |e: std::io::Error| Failure::software(format!("socket setup failed: {e}"));
    std_stream.set_nodelay(true).map_err(io_err)?;
    std_stream.set_nonblocking(true).map_err(io_err)?;
    let raw = std_stream.try_clone().ok();
    let tcp = {
        let _guard = rt.enter();
        tokio::net::TcpStream::from_std(std_stream).map_err(io_err)?
    };
    Ok(Wire::new(tcp, raw, timeout, tap))
}

impl Connection {
    /// Open the session for `identity`: preconnect, the secret, TCP, TLS
    /// (implicit or STARTTLS per its policy), greeting, EHLO and AUTH.
    pub(crate) fn connect(
        identity: &Identity,
        opts: &SessionOptions,
    ) -> Result<Connection, Failure> {
        Connection::open(identity, opts, None)
    }

    /// [`Connection::connect`] for `esmtp probe`: the same steps, each noted
    /// in `probe`; the secret is read and AUTH done only with `--login`, and
    /// never after a certificate that did not verify.
    pub(crate) fn connect_probing(
        identity: &Identity,
        opts: &SessionOptions,
        probe: &Probing,
    ) -> Result<Connection, Failure> {
        Connection::open(identity, opts, Some(probe.clone()))
    }

    fn open(
        identity: &Identity,
        opts: &SessionOptions,
        probe: Option<Probing>,
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
        // passphrase) should not keep a connection waiting. A probe asked
        // to log in notes that its login failed there.
        let (secret, masker) = match &probe {
            Some(p) if !p.login => (None, Masker::default()),
            _ => secret_and_masker(identity, opts.verbose).inspect_err(|f| {
                if let Some(p) = &probe {
                    p.note(|o| o.login = Login::Failed(f.message.clone()));
                }
            })?,
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
            _ => Some(tls_for(identity, probe.as_ref())?),
        };

        if verbose {
            say(format_args!("Connecting to {server}"));
        }
        let std_stream = open_tcp(&relay.host, relay.port, &server, timeout)?;
        let peer_is_loopback = std_stream
            .peer_addr()
            .map(|a| a.ip().to_canonical().is_loopback())
            .unwrap_or(false);
        if let Some(p) = &probe {
            let address = std_stream.peer_addr().ok();
            p.note(|o| {
                o.address = address;
                o.loopback = peer_is_loopback;
            });
        }
        let wire = wire_over(std_stream, &rt, timeout, tap)?;
        wire.set_masker(&masker);

        let hello = identity
            .helo
            .clone()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(ehlo_name);

        let mut tls_setup: Option<TlsSetup> = None;
        if identity.tls == TlsPolicy::Implicit {
            if verbose {
                say(format_args!("Starting TLS (implicit, from the first byte)"));
            }
            let setup = match early_tls.take() {
                Some(s) => s,
                None => tls_for(identity, probe.as_ref())?,
            };
            let handshake = handshake(&wire, &setup, &relay.host, &server, timeout, false);
            rt.block_on(handshake)?;
            tls_setup = Some(setup);
            note_tls(probe.as_ref(), &wire, TlsMode::Implicit);
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
            auth_used: None,
            settled: Default::default(),
            probe,
        };
        this.greeting()?;
        this.ehlo(true)?;
        if verbose {
            say(format_args!("Connected to {}", this.server));
        }
        if let Some(setup) = this.starttls_per_policy(identity, early_tls)? {
            tls_setup = Some(setup);
        }
        if let (true, Some(setup)) = (verbose, &tls_setup) {
            say_tls_established(setup);
        }
        if let (Some(user), Some(secret)) = (identity.username.as_ref(), secret) {
            match this.probe.clone() {
                None => this.login(identity, user.as_bytes(), &secret, peer_is_loopback)?,
                Some(p) => {
                    this.probe_login(&p, identity, user.as_bytes(), &secret, peer_is_loopback)?
                }
            }
        }
        Ok(this)
    }

    /// `esmtp probe --login`: the submission's login, noted; never over a
    /// certificate that did not verify (the probe's verifier let the
    /// handshake end to show it): then nothing secret is sent.
    fn probe_login(
        &mut self,
        probe: &Probing,
        identity: &Identity,
        user: &[u8],
        secret: &[u8],
        peer_is_loopback: bool,
    ) -> Result<(), Failure> {
        if self.wire.is_tls() && !probe.chain.verified() {
            probe.note(|o| o.login = Login::Withheld);
            return Ok(());
        }
        let r = self.login(identity, user, secret, peer_is_loopback);
        let login = match &r {
            // The mechanism `login` chose, chosen again.
            Ok(()) => {
                let policy = credentials_policy(
                    identity.tls,
                    identity.tls_explicit,
                    self.wire.is_tls(),
                    peer_is_loopback,
                );
                Login::Done(self.mechanism(identity, &policy)?)
            }
            Err(f) => Login::Failed(f.message.clone()),
        };
        probe.note(|o| o.login = login);
        r
    }

    /// STARTTLS when the identity's policy asks for it (`enabled`,
    /// `required`) and the server offers it; the setup when TLS is now on.
    /// `early_tls`: the setup read before connecting.
    fn starttls_per_policy(
        &mut self,
        identity: &Identity,
        mut early_tls: Option<TlsSetup>,
    ) -> Result<Option<TlsSetup>, Failure> {
        let relay = &identity.relay;
        match identity.tls {
            TlsPolicy::Disabled | TlsPolicy::Implicit => {}
            TlsPolicy::Enabled | TlsPolicy::Required => {
                if self.caps.starttls {
                    let setup = match early_tls
                        .take()
                        .map(Ok)
                        .unwrap_or_else(|| tls_for(identity, self.probe.as_ref()))
                    {
                        Ok(s) => s,
                        Err(f) => {
                            self.abort();
                            return Err(f);
                        }
                    };
                    let required = identity.tls == TlsPolicy::Required;
                    if self.starttls(&setup, &relay.host, required)? {
                        return Ok(Some(setup));
                    }
                } else if identity.tls == TlsPolicy::Required {
                    self.abort();
                    return Err(Failure::new(
                        exit::UNAVAILABLE,
                        format!(
                            "TLS is required (starttls required) but {} does not offer STARTTLS; \
                             nothing was sent",
                            self.server
                        ),
                    ));
                } else if self.verbose {
                    say(format_args!(
                        "{} does not offer STARTTLS; continuing unencrypted",
                        self.server
                    ));
                }
            }
        }
        Ok(None)
    }

    /// The server's greeting: 220, or a refusal.
    pub(super) fn greeting(&mut self) -> Result<(), Failure> {
        let r = match self.read() {
            Ok(r) => r,
            Err(t) => {
                self.broken = true;
                self.wire.shutdown_now();
                let server = &self.server;
                return Err(match t {
                    NoReply::Silent => Failure::tempfail(format!(
                        "{server} did not greet within {} s",
                        self.timeout.as_secs()
                    )),
                    NoReply::Closed => Failure::tempfail(format!(
                        "{server} closed the connection before the session began"
                    )),
                    NoReply::Bad(e) => Failure::new(
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
        self.note(|o, m| o.greeting = reply_lines(m, &r));
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
    pub(super) fn ehlo(&mut self, first: bool) -> Result<(), Failure> {
        let during = if first { "EHLO" } else { "EHLO after STARTTLS" };
        let r = self
            .command(&format!("EHLO {}", self.hello))
            .map_err(|t| self.failure(t, during))?;
        if r.is_positive() {
            self.caps = Capabilities::from_reply(&r);
            let caps = self.caps.clone();
            self.note(|o, m| {
                o.ehlo = reply_lines(m, &r);
                o.starttls_offered |= first && caps.starttls;
                o.caps = caps;
            });
            return Ok(());
        }
        // RFC 5321 §3.2: a server that does not know EHLO says 500 or 502.
        if first && matches!(r.code, 500 | 502) {
            let r = self
                .command(&format!("HELO {}", self.hello))
                .map_err(|t| self.failure(t, "HELO"))?;
            if r.is_positive() {
                self.caps = Capabilities::default();
                self.note(|o, m| {
                    o.ehlo = reply_lines(m, &r);
                    o.helo_only = true;
                    o.caps = Capabilities::default();
                });
                return Ok(());
            }
            return Err(self.refused_session(&r, "HELO"));
        }
        Err(self.refused_session(&r, during))
    }

    pub(super) fn refused_session(&mut self, r: &Reply, during: &str) -> Failure {
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
    pub(super) fn starttls(
        &mut self,
        setup: &TlsSetup,
        host: &str,
        required: bool,
    ) -> Result<bool, Failure> {
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
        note_tls(self.probe.as_ref(), &self.wire, TlsMode::Starttls);
        // EHLO again: what the server offers may change under TLS.
        self.ehlo(false)?;
        Ok(true)
    }
}

/// The TLS setup of the identity; when probing, with the verifier that
/// records the chain.
fn tls_for(identity: &Identity, probe: Option<&Probing>) -> Result<TlsSetup, Failure> {
    match probe {
        None => tls::setup(identity),
        Some(p) => tls::setup_observed(identity, &p.chain),
    }
}

/// Note the TLS version and cipher suite once TLS is on.
fn note_tls(probe: Option<&Probing>, wire: &Wire, mode: TlsMode) {
    if let (Some(p), Some((version, cipher))) = (probe, wire.tls_parameters()) {
        p.note(|o| {
            o.tls = Some(TlsFacts {
                mode,
                version: version_text(&version),
                cipher,
            })
        });
    }
}

impl Connection {
    /// Note something the session saw, when probing.
    fn note(&self, f: impl FnOnce(&mut Observed, &Masker)) {
        if let Some(p) = &self.probe {
            p.note(|o| f(o, &self.masker));
        }
    }
}

/// The TLS handshake on the plain socket, within `timeout` as a whole.
/// `starttls`: after a 220 to STARTTLS, where a first record that is not
/// TLS is data injected after that reply.
pub(super) async fn handshake(
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
pub(crate) fn ehlo_name() -> String {
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
