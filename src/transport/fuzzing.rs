//! The SMTP reply reader on bytes, for the fuzz target `reply` (tests/fuzz)
//! and the replay of its corpus in `cargo test`. Not an API.
//!
//! [`replies`] takes the bytes as everything a hostile server sends and
//! reads them reply after reply the two ways the client does: line by line
//! into a [`Builder`], as the session feeds it from its socket
//! (`stream.rs`), and with [`reply::parse`]. Both must agree. What the
//! client makes of each reply runs too: EHLO keywords, AUTH challenges,
//! server text shown with the secret masked and controls escaped.
//!
//! [`scram`] takes the bytes as a SCRAM server's two messages.

use super::auth;
use super::reply::{self, Builder, Reply, ReplyError, MAX_LINE};
use super::shown::{self, Masker};
use super::smtp::{self, Capabilities};

/// The secret the masker must keep out of everything shown.
const SECRET: &str = "hunter2!";

/// Read `data` as a server's bytes; returns how many replies were read.
/// Panics when the two readers disagree or shown text holds the secret or
/// a control character.
pub fn replies(data: &[u8]) -> usize {
    // Line by line, as `stream.rs` reads a socket.
    let mut by_line: Vec<Result<Reply, ReplyError>> = Vec::new();
    let mut builder = Builder::default();
    let mut start = 0;
    for pos in memchr::memchr_iter(b'\n', data) {
        let line = &data[start..=pos];
        start = pos + 1;
        match builder.line(line) {
            Ok(Some(r)) => by_line.push(Ok(r)),
            Ok(None) => {}
            Err(e) => {
                by_line.push(Err(e));
                break;
            }
        }
    }
    if by_line.last().is_none_or(|r| r.is_ok()) && data.len() - start >= MAX_LINE {
        by_line.push(Err(ReplyError::LineTooLong));
    }
    // Reply by reply from the bytes.
    let mut parsed: Vec<Result<Reply, ReplyError>> = Vec::new();
    let mut at = 0;
    loop {
        match reply::parse(&data[at..]) {
            Ok(Some((r, used))) => {
                assert!(used > 0 && at + used <= data.len(), "parse took {used}");
                at += used;
                parsed.push(Ok(r));
            }
            Ok(None) => break,
            Err(e) => {
                parsed.push(Err(e));
                break;
            }
        }
    }
    assert_eq!(by_line, parsed, "the two reply readers disagree");
    let masker = Masker::new(b"user@example.org", SECRET.as_bytes());
    for r in by_line.iter().flatten() {
        assert!((200..600).contains(&r.code), "code {}", r.code);
        assert!(r.lines.len() <= reply::MAX_LINES);
        let caps = Capabilities::from_reply(r);
        let _ = auth::choose(&caps.auth, None);
        let _ = auth::ntlm_challenge(&r.first_text());
        for line in &r.lines {
            check_shown(&masker.show(line));
        }
    }
    if let Some(Err(e)) = by_line.last() {
        check_shown(&smtp::shown_error(&masker, e));
    }
    let _ = shown::printable(data);
    by_line.iter().filter(|r| r.is_ok()).count()
}

/// Text shown to the user or written to a log: no secret, no control
/// character but tab.
fn check_shown(text: &str) {
    assert!(!text.contains(SECRET), "the secret is shown: {text:?}");
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\t'),
        "a control character is shown: {text:?}"
    );
}

/// The SCRAM client on a hostile server's messages: `data` is the
/// server-first message, a newline, the server-final message. The client
/// nonce is fixed (so that the fuzzer can extend it) and iterations are
/// capped low; the client-final message must be well formed and the
/// server's signature must never be taken on anything but the right one.
pub fn scram(data: &[u8]) {
    use super::scram::{Hash, Scram, ScramError};
    let (first, last) = match memchr::memchr(b'\n', data) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    // An `e=` text is shown through the session's masker (a server may
    // echo the password in it).
    let masker = Masker::new(b"u,=", SECRET.as_bytes());
    let shown_error = |e: &[u8]| check_shown(&masker.show(e));
    for hash in [Hash::Sha1, Hash::Sha256] {
        let (mut s, client_first) = Scram::with_nonce(hash, b"u,=", "fyko".into());
        assert_eq!(client_first, b"n,,n=u=2C=3D,r=fyko");
        match s.client_final_within(first, SECRET.as_bytes(), 64) {
            Ok(m) => {
                // c=biws,r=<the server's nonce>,p=<a proof of the hash's size>
                assert!(m.starts_with(b"c=biws,r=fyko"), "{m:?}");
                let at = memchr::memmem::rfind(&m, b",p=").expect("a proof");
                let proof = auth::unb64(&String::from_utf8_lossy(&m[at + 3..]));
                let size = if hash == Hash::Sha1 { 20 } else { 32 };
                assert_eq!(proof.map(|p| p.len()), Some(size), "{m:?}");
            }
            Err(ScramError::Server(e)) => shown_error(&e),
            Err(ScramError::Protocol(why)) => check_shown(&why),
            Err(ScramError::Unproven) => panic!("no signature is checked before the proof"),
        }
        if let Err(ScramError::Server(e)) = s.verify(last) {
            shown_error(&e);
        }
    }
}
