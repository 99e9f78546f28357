//! The connection to the server: a socket that becomes TLS in place, the
//! reply reader, and the transcript tap.
//!
//! [`Wire`] is a cheap handle onto state that the session and the body
//! writer share, so that the session can
//! - upgrade the connection to TLS in place after `STARTTLS` (the transcript
//!   tap then stays above TLS and records plaintext),
//! - read replies with a deadline for each whole reply (not reset by each
//!   byte: a server trickling one byte a second is held to `timeout` all
//!   the same) into one fixed buffer, so that no reply, however long,
//!   costs more than a bounded amount of memory (see `reply.rs`),
//! - refuse to write a command, or the end-of-data marker, while input the
//!   server sent is waiting unread: a reply that arrives before the
//!   command it would answer was written is out of order, and believing it
//!   would shift every later reply by one (see [`Wire::pending_input`]),
//! - put an inactivity timeout on every write (a server that stops reading
//!   our body),
//! - take the message body straight from us, and poison the connection
//!   when reading the message fails, so that no end-of-data marker can
//!   follow a truncated body,
//! - record the protocol transcript (`-X`), with AUTH exchanges redacted,
//!   the secret masked in server text and the message body left out.

use super::reply::{Builder, Reply, ReplyError, MAX_LINE};
use super::shown::Masker;
use super::transcript::Transcript;
use std::fmt;
use std::io::{self, Read};
use std::net::Shutdown;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};
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
    write_timer: Option<Pin<Box<Sleep>>>,
    /// Why the connection must not carry anything more.
    poisoned: Option<String>,
    /// Input read and not yet taken as (part of) a reply: `rbuf[rstart..rend]`.
    rbuf: Box<[u8]>,
    rstart: usize,
    rend: usize,
    /// A write was refused because the server had sent something unasked.
    early: bool,
    tap: Option<Transcript>,
    mode: TapMode,
    timed_out: bool,
}

/// Why no reply could be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The reply was not complete when its deadline passed.
    Timeout,
    /// The server closed the connection (mid-reply or before it).
    Closed,
    Io(io::Error),
    /// Not a reply, or one over the limits.
    Reply(ReplyError),
}

/// A handle onto the connection; clones share it.
#[derive(Clone)]
pub(crate) struct Wire(Arc<Mutex<State>>);

impl fmt::Debug for Wire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Wire")
    }
}

/// The read buffer: room for a line of [`MAX_LINE`] bytes after the
/// unread rest of the one before.
const READ_BUF: usize = 2 * MAX_LINE;

/// The end-of-data marker ends the last write of a body (dot-stuffing
/// makes sure no line of the message can look like it).
fn ends_with_marker(buf: &[u8]) -> bool {
    buf == b".\r\n" || buf.ends_with(b"\r\n.\r\n")
}

/// A non-blocking read from the socket itself (the fd is non-blocking):
/// 0 when nothing is waiting, at the end of the stream, or on an error
/// (which the next real read reports).
fn read_now(mut raw: &std::net::TcpStream, buf: &mut [u8]) -> usize {
    loop {
        match raw.read(buf) {
            Ok(n) => return n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return 0,
        }
    }
}

/// [`read_now`] through TLS: plaintext rustls already holds, else whatever
/// the socket holds, decrypted. Records that carry no data (a TLS 1.3
/// session ticket) are processed and do not count.
fn tls_read_now(
    tls: &mut TlsStream<TcpStream>,
    raw: Option<&std::net::TcpStream>,
    buf: &mut [u8],
) -> usize {
    let (_, conn) = tls.get_mut();
    if let Ok(n @ 1..) = conn.reader().read(buf) {
        return n;
    }
    let Some(raw) = raw else {
        return 0;
    };
    let mut records = [0u8; 4096];
    // A bounded number of rounds: a server cannot keep us here.
    for _ in 0..16 {
        let n = read_now(raw, &mut records);
        if n == 0 {
            break;
        }
        let mut rest = &records[..n];
        while !rest.is_empty() {
            match conn.read_tls(&mut rest) {
                Ok(0) | Err(_) => return 0,
                Ok(_) => {}
            }
            // A TLS error is kept by rustls and reported by the next read.
            if conn.process_new_packets().is_err() {
                return 0;
            }
        }
    }
    conn.reader().read(buf).unwrap_or(0)
}

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
            write_timer: None,
            poisoned: None,
            rbuf: vec![0; READ_BUF].into_boxed_slice(),
            rstart: 0,
            rend: 0,
            early: false,
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

    /// The TLS protocol version and cipher suite, once TLS is on (as
    /// rustls names them: `TLSv1_3`, `TLS13_AES_256_GCM_SHA384`).
    pub(crate) fn tls_parameters(&self) -> Option<(String, String)> {
        match &self.lock().layer {
            Layer::Tls(tls) => {
                let conn = tls.get_ref().1;
                let version = conn
                    .protocol_version()
                    .map(|v| format!("{v:?}"))
                    .unwrap_or_default();
                let suite = conn
                    .negotiated_cipher_suite()
                    .map(|s| format!("{:?}", s.suite()))
                    .unwrap_or_default();
                Some((version, suite))
            }
            _ => None,
        }
    }

    /// Read one reply. `deadline` bounds the whole reply, however the
    /// server spreads its bytes.
    pub(crate) async fn read_reply(&self, deadline: Instant) -> Result<Reply, ReadError> {
        let mut builder = Builder::default();
        let read = std::future::poll_fn(|cx| self.poll_reply(cx, &mut builder));
        match tokio::time::timeout_at(deadline, read).await {
            Ok(r) => r,
            Err(_) => {
                self.lock().timed_out = true;
                Err(ReadError::Timeout)
            }
        }
    }

    fn poll_reply(&self, cx: &mut Context<'_>, b: &mut Builder) -> Poll<Result<Reply, ReadError>> {
        let mut guard = self.lock();
        let s = &mut *guard;
        loop {
            while let Some(pos) = memchr::memchr(b'\n', &s.rbuf[s.rstart..s.rend]) {
                let end = s.rstart + pos + 1;
                let line = b.line(&s.rbuf[s.rstart..end]);
                s.rstart = end;
                match line {
                    Err(e) => return Poll::Ready(Err(ReadError::Reply(e))),
                    Ok(Some(reply)) => return Poll::Ready(Ok(reply)),
                    Ok(None) => {}
                }
            }
            if s.rend - s.rstart >= MAX_LINE {
                return Poll::Ready(Err(ReadError::Reply(ReplyError::LineTooLong)));
            }
            if s.rstart > 0 {
                s.rbuf.copy_within(s.rstart..s.rend, 0);
                s.rend -= s.rstart;
                s.rstart = 0;
            }
            let mut rb = ReadBuf::new(&mut s.rbuf[s.rend..]);
            let r = match &mut s.layer {
                Layer::Plain(tcp) => Pin::new(tcp).poll_read(cx, &mut rb),
                Layer::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, &mut rb),
                Layer::Gone => Poll::Ready(Err(gone())),
            };
            match r {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(ReadError::Io(e))),
                Poll::Ready(Ok(())) => {
                    let n = rb.filled().len();
                    if n == 0 {
                        return Poll::Ready(Err(ReadError::Closed));
                    }
                    if let Some(t) = &mut s.tap {
                        t.server(&s.rbuf[s.rend..s.rend + n]);
                    }
                    s.rend += n;
                }
            }
        }
    }

    /// Has the server sent anything we have not taken as a reply? Looks at
    /// what is buffered here, then at the socket itself without waiting
    /// (one `recvfrom`, or through TLS what rustls holds): data that came
    /// after the last reply, before the command it would answer, is out of
    /// order. What is found stays buffered, to be shown or read.
    pub(crate) fn pending_input(&self) -> bool {
        let mut guard = self.lock();
        let s = &mut *guard;
        if s.rend > s.rstart {
            return true;
        }
        s.rstart = 0;
        s.rend = 0;
        let n = match &mut s.layer {
            Layer::Plain(_) => s.raw.as_ref().map_or(0, |raw| read_now(raw, &mut s.rbuf)),
            Layer::Tls(tls) => tls_read_now(tls, s.raw.as_ref(), &mut s.rbuf),
            Layer::Gone => 0,
        };
        if n == 0 {
            return false;
        }
        if let Some(t) = &mut s.tap {
            t.server(&s.rbuf[..n]);
        }
        s.rend = n;
        true
    }

    /// The input read and not yet taken as a reply (to show it).
    pub(crate) fn buffered(&self) -> Vec<u8> {
        let s = self.lock();
        s.rbuf[s.rstart..s.rend].to_vec()
    }

    /// True once a write was refused because unasked input was waiting.
    pub(crate) fn early_input(&self) -> bool {
        self.lock().early
    }

    /// Mask this secret in the transcript's server lines from now on.
    pub(crate) fn set_masker(&self, masker: &Masker) {
        if let Some(t) = &mut self.lock().tap {
            t.set_masker(masker.clone());
        }
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
        // A command, or the end of the body, must not go out while the
        // server has said something we did not ask for yet.
        if s.write_timer.is_none() && (s.mode != TapMode::Body || ends_with_marker(buf)) {
            drop(guard);
            if self.pending_input() {
                let why = "the server sent data before the command it would answer was written";
                let mut s = self.lock();
                s.early = true;
                s.poisoned = Some(why.to_string());
                if let Some(raw) = &s.raw {
                    let _ = raw.shutdown(Shutdown::Both);
                }
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, why)));
            }
            guard = self.lock();
        }
        let s = &mut *guard;
        let r = match &mut s.layer {
            Layer::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Layer::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
            Layer::Gone => Poll::Ready(Err(gone())),
        };
        match r {
            Poll::Ready(r) => {
                s.write_timer = None;
                if let Ok(n) = &r {
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
