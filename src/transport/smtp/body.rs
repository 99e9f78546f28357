//! The message onto the socket after DATA's 354: our own transparency
//! (every line end CRLF, dot-stuffing, the one end-of-data marker), the
//! header section recorded in the transcript, and the reply to the end of
//! the message.

use super::super::reply;
use super::super::stream::{TapMode, Wire};
use super::error::status_for;
use super::{say, Connection};
use crate::exit::{self, Failure};
use std::io::Read;
use std::time::Duration;

impl Connection {
    /// Stream the message after DATA's 354 and read the reply to its end.
    pub(super) fn transfer_body(&mut self, message: &mut dyn Read) -> Result<(), Failure> {
        self.wire.set_mode(TapMode::Body);
        let wrote = self.rt.block_on(send_body(&self.wire, message));
        self.wire.set_mode(TapMode::Commands);
        if let Err(e) = wrote {
            return Err(self.lost_body(&e));
        }
        match self.read() {
            Ok(r) if r.is_positive() => {
                let shown = self.settle(&r);
                if self.verbose {
                    say(format_args!("Message sent: {shown}"));
                }
                Ok(())
            }
            Ok(r) if r.is_negative() => Err(Failure::new(
                status_for(&r, exit::SOFTWARE),
                format!("{} refused the message: {}", self.server, self.settle(&r)),
            )),
            Ok(r) => Err(self.unexpected(&r, "the end of the message")),
            Err(t) => Err(self.failure(t, "the message transfer")),
        }
    }

    /// Writing the message failed: the connection is done for; say why,
    /// with the server's own reason when it gave one.
    fn lost_body(&mut self, e: &std::io::Error) -> Failure {
        self.broken = true;
        if self.wire.early_input() {
            return self.early_body_reply();
        }
        if let Some(why) = self.wire.poisoned() {
            // A reader that refuses the message (a NUL byte in a
            // streamed message) says why and with which status.
            let status = refusal(e).map_or(exit::SOFTWARE, |f| f.status);
            return Failure::new(
                status,
                format!(
                    "{why}; the connection was dropped before the end of the message, \
                     so {} delivers nothing",
                    self.server
                ),
            );
        }
        if self.wire.timed_out() {
            return Failure::tempfail(format!(
                "{} accepted no data for {} s during the message transfer",
                self.server,
                self.wire.timeout().as_secs()
            ));
        }
        // A server that stops the transfer usually says why first (552
        // message too big): report that rather than the broken pipe.
        if let Ok(reply) = self.read_within(Duration::from_secs(2)) {
            if reply.is_negative() {
                return Failure::new(
                    status_for(&reply, exit::SOFTWARE),
                    format!(
                        "{} stopped the message transfer: {}",
                        self.server,
                        self.settle(&reply)
                    ),
                );
            }
        }
        Failure::tempfail(format!(
            "the connection to {} was lost during the message transfer: {e}",
            self.server
        ))
    }

    /// The server replied before the end-of-data marker was written: the
    /// marker was never sent (the connection was dropped instead), so
    /// nothing is delivered. A refusal is quoted as one; anything else is
    /// out of order.
    pub(super) fn early_body_reply(&mut self) -> Failure {
        let bytes = self.wire.buffered();
        match reply::parse(&bytes) {
            Ok(Some((r, _))) if r.is_negative() => Failure::new(
                status_for(&r, exit::SOFTWARE),
                format!(
                    "{} stopped the message transfer: {}",
                    self.server,
                    self.settle(&r)
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
    pub(super) fn feed(&mut self, wire: &Wire, chunk: &[u8]) {
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
pub(super) fn refusal(e: &std::io::Error) -> Option<&Failure> {
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
pub(super) async fn send_body(wire: &Wire, reader: &mut dyn Read) -> std::io::Result<()> {
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

    pub(super) fn stuff(chunks: &[&[u8]]) -> Vec<u8> {
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
}
