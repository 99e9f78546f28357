//! Why a command got no usable reply ([`NoReply`]), and every failure of
//! the session as the user reads it: server text quoted with the secret
//! masked, controls escaped and at most [`QUOTE_CAP`] bytes long.

use super::super::reply::{self, Reply};
use super::super::shown::Masker;
use super::Connection;
use crate::exit::{self, Failure};

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
pub(super) fn status_for(r: &Reply, permanent: u8) -> u8 {
    if r.is_transient() {
        exit::TEMPFAIL
    } else {
        permanent
    }
}

/// Why a command got no usable reply, in the order it is decided.
pub(super) enum NoReply {
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
pub(super) const QUOTE_CAP: usize = 1024;

/// `bytes` is exactly one 421 reply: the server says it is closing the
/// connection, which it may do unasked.
pub(super) fn closing_notice(bytes: &[u8]) -> Option<Reply> {
    match reply::parse(bytes) {
        Ok(Some((r, n))) if r.code == 421 && n == bytes.len() => Some(r),
        _ => None,
    }
}

/// The failure for data received after the 220 to STARTTLS.
pub(super) fn injected_data(server: &str, text: &str) -> Failure {
    Failure::new(
        exit::PROTOCOL,
        format!(
            "{server} sent data after its reply to STARTTLS, before the TLS handshake \
             (\"{text}\"); it may have been injected on the way (CVE-2011-0411) and would \
             be read as if the TLS server had sent it, so nothing more is sent"
        ),
    )
}

impl Connection {
    /// A reply as the user sees it: `CODE text`, secret masked, controls
    /// escaped, at most [`QUOTE_CAP`] bytes of text.
    pub(super) fn show(&self, r: &Reply) -> String {
        let mut out = r.code.to_string();
        let mut left = QUOTE_CAP;
        for line in &r.lines {
            if left == 0 {
                out.push_str(" ...");
                break;
            }
            // Mask the whole line before cutting it: a secret the server
            // echoes across the cut would otherwise show its first bytes.
            let masked = self.masker.mask(line);
            let take = &masked[..masked.len().min(left)];
            left -= take.len();
            out.push(' ');
            out.push_str(&crate::transport::shown::printable(take));
        }
        out
    }

    /// Raw server input as the user sees it (lines joined by ` / `).
    pub(super) fn show_raw(&self, bytes: &[u8]) -> String {
        // Masked before the cut, as in `show`.
        let masked = self.masker.mask(bytes);
        let cut = &masked[..masked.len().min(QUOTE_CAP)];
        let lines: Vec<String> = cut
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .filter(|l| !l.is_empty())
            .map(crate::transport::shown::printable)
            .collect();
        let mut text = lines.join(" / ");
        if bytes.len() > cut.len() {
            text.push_str(" ...");
        }
        text
    }

    /// A command got no usable reply: the connection is done for.
    pub(super) fn failure(&mut self, t: NoReply, during: &str) -> Failure {
        self.broken = true;
        let server = &self.server;
        match t {
            NoReply::Silent => Failure::tempfail(format!(
                "{server} did not answer within {} s during {during}",
                self.timeout.as_secs()
            )),
            NoReply::Closed => {
                Failure::tempfail(format!("{server} closed the connection during {during}"))
            }
            NoReply::Bad(e) => {
                self.wire.shutdown_now();
                Failure::new(
                    exit::PROTOCOL,
                    format!(
                        "{server} sent {} during {during}; nothing more is sent",
                        shown_error(&self.masker, &e)
                    ),
                )
            }
            NoReply::Early(bytes) => {
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
            NoReply::Other(text) => Failure::tempfail(format!(
                "the connection to {server} failed during {during}: {text}"
            )),
        }
    }

    /// A reply that makes no sense for its command (354 to MAIL, 250 to
    /// DATA): the server and we are out of step.
    pub(super) fn unexpected(&mut self, r: &Reply, during: &str) -> Failure {
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

    pub(super) fn injected(&self, bytes: &[u8]) -> Failure {
        injected_data(&self.server, &self.show_raw(bytes))
    }
}
