//! The socket we hand to lettre.
//!
//! lettre's async connection takes any `AsyncTokioStream`. We give it a
//! [`Wire`]: a cheap handle onto state that we keep a second handle to, so
//! that the session can
//! - upgrade the connection to TLS in place after `STARTTLS` (the transcript
//!   tap then stays above TLS and records plaintext, and lettre never knows),
//! - put an inactivity timeout on every read and every write (a reply that
//!   does not come, a server that stops reading our body),
//! - see the raw bytes of the last reply (lettre keeps only what it parses:
//!   we need the EHLO keywords it does not know, such as SIZE and DSN),
//! - take the message body straight from us (lettre only reads the reply),
//!   and poison the connection when reading the message fails, so that no
//!   end-of-data marker can follow a truncated body,
//! - record the protocol transcript (`-X`), with AUTH exchanges redacted and
//!   the message body left out.

use super::transcript::Transcript;
use std::fmt;
use std::io;
use std::net::Shutdown;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;
use tokio_rustls::client::TlsStream;

/// What the transcript tap does with what we write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TapMode {
    /// Commands are recorded as written.
    Commands,
    /// An AUTH exchange: client lines are redacted.
    Auth,
    /// The message body: client bytes are not recorded (headers are
    /// recorded as `H:` lines by the body reader).
    Body,
}

enum Layer {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Taken out for a TLS handshake, or gone after a failure.
    Gone,
}

struct State {
    layer: Layer,
    /// A clone of the socket, to shut it down whatever layer sits on top.
    raw: Option<std::net::TcpStream>,
    timeout: Duration,
    read_timer: Option<Pin<Box<Sleep>>>,
    write_timer: Option<Pin<Box<Sleep>>>,
    /// Why the connection must not carry anything more.
    poisoned: Option<String>,
    /// Bytes read since the last write (the raw text of the last reply).
    reply: Vec<u8>,
    wrote_since_read: bool,
    tap: Option<Transcript>,
    mode: TapMode,
    timed_out: bool,
}

/// A handle onto the connection; clones share it.
#[derive(Clone)]
pub(crate) struct Wire(Arc<Mutex<State>>);

impl fmt::Debug for Wire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Wire")
    }
}

const REPLY_CAP: usize = 128 * 1024;

impl Wire {
    pub(crate) fn new(
        stream: TcpStream,
        raw: Option<std::net::TcpStream>,
        timeout: Duration,
        tap: Option<Transcript>,
    ) -> Wire {
        Wire(Arc::new(Mutex::new(State {
            layer: Layer::Plain(stream),
            raw,
            timeout,
            read_timer: None,
            write_timer: None,
            poisoned: None,
            reply: Vec::new(),
            wrote_since_read: false,
            tap,
            mode: TapMode::Commands,
            timed_out: false,
        })))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-written
        // in a way that matters more than the panic itself.
        match self.0.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Take the plain socket out for a TLS handshake.
    pub(crate) fn take_plain(&self) -> Option<TcpStream> {
        let mut s = self.lock();
        match std::mem::replace(&mut s.layer, Layer::Gone) {
            Layer::Plain(tcp) => Some(tcp),
            other => {
                s.layer = other;
                None
            }
        }
    }

    pub(crate) fn put_tls(&self, tls: TlsStream<TcpStream>) {
        let mut s = self.lock();
        s.layer = Layer::Tls(Box::new(tls));
        if let Some(t) = &mut s.tap {
            t.note("TLS established");
        }
    }

    pub(crate) fn is_tls(&self) -> bool {
        matches!(self.lock().layer, Layer::Tls(_))
    }

    /// The raw text of the last reply (everything read since our last write).
    pub(crate) fn last_reply(&self) -> String {
        String::from_utf8_lossy(&self.lock().reply).into_owned()
    }

    pub(crate) fn set_mode(&self, mode: TapMode) {
        let mut s = self.lock();
        if let Some(t) = &mut s.tap {
            t.flush_partial();
        }
        s.mode = mode;
    }

    /// Record a header line of the message (`H:`).
    pub(crate) fn tap_header(&self, line: &[u8]) {
        if let Some(t) = &mut self.lock().tap {
            t.header(line);
        }
    }

    /// Record a client line we wrote in a mode that hides writes (`C: .`).
    pub(crate) fn tap_client_line(&self, line: &[u8]) {
        if let Some(t) = &mut self.lock().tap {
            t.client_line(line);
        }
    }

    pub(crate) fn has_tap(&self) -> bool {
        self.lock().tap.is_some()
    }

    /// Make every further write fail and shut the socket down, so that a
    /// partly read message can never be completed by an end-of-data marker.
    pub(crate) fn poison(&self, why: String) {
        let mut s = self.lock();
        if s.poisoned.is_none() {
            s.poisoned = Some(why);
        }
        if let Some(raw) = &s.raw {
            let _ = raw.shutdown(Shutdown::Both);
        }
    }

    pub(crate) fn poisoned(&self) -> Option<String> {
        self.lock().poisoned.clone()
    }

    /// True once a read or write gave up waiting.
    pub(crate) fn timed_out(&self) -> bool {
        self.lock().timed_out
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.lock().timeout
    }

    pub(crate) fn shutdown_now(&self) {
        let s = self.lock();
        if let Some(raw) = &s.raw {
            let _ = raw.shutdown(Shutdown::Both);
        }
    }
}

/// I/O that is not ready: start or poll its timer. When the timer fires,
/// mark the wire timed out and end the wait with a `TimedOut` error
/// saying `why` (given the timeout).
fn wait_or_time_out<T>(
    timer: &mut Option<Pin<Box<Sleep>>>,
    timed_out: &mut bool,
    timeout: Duration,
    cx: &mut Context<'_>,
    why: impl FnOnce(Duration) -> String,
) -> Poll<io::Result<T>> {
    let t = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
    if t.as_mut().poll(cx).is_ready() {
        *timer = None;
        *timed_out = true;
        return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, why(timeout))));
    }
    Poll::Pending
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "connection closed")
}

/// Writes and flushes fail once the wire is poisoned.
fn check_poisoned(s: &State) -> io::Result<()> {
    match &s.poisoned {
        Some(why) => Err(io::Error::new(io::ErrorKind::BrokenPipe, why.clone())),
        None => Ok(()),
    }
}

use std::future::Future;

impl AsyncRead for Wire {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut guard = self.lock();
        let s = &mut *guard;
        let before = buf.filled().len();
        let r = match &mut s.layer {
            Layer::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Layer::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
            Layer::Gone => Poll::Ready(Err(gone())),
        };
        match r {
            Poll::Ready(r) => {
                s.read_timer = None;
                if r.is_ok() {
                    let got = &buf.filled()[before..];
                    if s.wrote_since_read {
                        s.reply.clear();
                        s.wrote_since_read = false;
                    }
                    if s.reply.len() < REPLY_CAP {
                        s.reply.extend_from_slice(got);
                    }
                    if let Some(t) = &mut s.tap {
                        t.server(got);
                    }
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                wait_or_time_out(&mut s.read_timer, &mut s.timed_out, s.timeout, cx, |t| {
                    format!("no reply within {} s", t.as_secs())
                })
            }
        }
    }
}

impl AsyncWrite for Wire {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut guard = self.lock();
        let s = &mut *guard;
        if let Err(e) = check_poisoned(s) {
            return Poll::Ready(Err(e));
        }
        let r = match &mut s.layer {
            Layer::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Layer::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
            Layer::Gone => Poll::Ready(Err(gone())),
        };
        match r {
            Poll::Ready(r) => {
                s.write_timer = None;
                if let Ok(n) = &r {
                    s.wrote_since_read = true;
                    let mode = s.mode;
                    if let Some(t) = &mut s.tap {
                        match mode {
                            TapMode::Commands => t.client(&buf[..*n], false),
                            TapMode::Auth => t.client(&buf[..*n], true),
                            TapMode::Body => {}
                        }
                    }
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                wait_or_time_out(&mut s.write_timer, &mut s.timed_out, s.timeout, cx, |t| {
                    format!("the server accepted no data for {} s", t.as_secs())
                })
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut guard = self.lock();
        let s = &mut *guard;
        if let Err(e) = check_poisoned(s) {
            return Poll::Ready(Err(e));
        }
        let r = match &mut s.layer {
            Layer::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Layer::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
            Layer::Gone => Poll::Ready(Ok(())),
        };
        match r {
            Poll::Ready(r) => {
                s.write_timer = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                wait_or_time_out(&mut s.write_timer, &mut s.timed_out, s.timeout, cx, |_| {
                    "the server accepted no data in time".to_string()
                })
            }
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut guard = self.lock();
        let s = &mut *guard;
        match &mut s.layer {
            Layer::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Layer::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
            Layer::Gone => Poll::Ready(Ok(())),
        }
    }
}

impl lettre::transport::smtp::client::AsyncTokioStream for Wire {
    fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        match &self.lock().layer {
            Layer::Plain(tcp) => tcp.peer_addr(),
            Layer::Tls(tls) => tls.get_ref().0.peer_addr(),
            Layer::Gone => Err(gone()),
        }
    }
}
