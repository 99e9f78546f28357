//! The relay against hostile SMTP servers, as a user runs it (issue 13 §2,
//! §3 and the server-facing half of §6): data injected after the 220 to
//! STARTTLS, replies out of order, replies unbounded in time or size,
//! secrets echoed back, control characters in server text. Every case
//! runs the built binary; the servers are small scripts on loopback that
//! record what they were sent.

use crate::support;

use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::thread::sleep;
use std::time::Duration;
use support::hostile::{
    assert_no_secret, converse, drain_tail, read_raw_line, tls_server, usual, Seen, User, MARKER,
};
use support::{FakeServer, Pki};

const GREETING: &[u8] = b"220 hostile.test ESMTP\r\n";
const PROTOCOL: Option<i32> = Some(76);
const TEMPFAIL: Option<i32> = Some(75);

/// A server answering as `respond` does (see `converse`).
fn server(respond: impl FnMut(&str) -> Vec<u8> + Send + 'static) -> FakeServer {
    FakeServer::start(move |r, _w| converse(r, GREETING, respond).into_bytes())
}

/// An esmtprc relaying to 127.0.0.1:`port` with this `timeout`.
fn rc(user: &User, port: u16, timeout: u64, extra: &str) -> PathBuf {
    user.rc(&format!(
        "hostname 127.0.0.1:{port}\ntimeout {timeout}\nhelo client.test\n{extra}"
    ))
}

/// Relay the usual message through a server answering as `respond`:
/// what the binary did and what the server saw.
fn relay_through(
    extra_rc: &str,
    respond: impl FnMut(&str) -> Vec<u8> + Send + 'static,
) -> (support::hostile::Run, Seen) {
    let s = server(respond);
    let user = User::new();
    let run = user.send_msg(&rc(&user, s.port, 5, extra_rc), &[]);
    (run, Seen::from_bytes(&s.join()))
}

fn is(line: &str, cmd: &str) -> bool {
    line.to_ascii_uppercase().starts_with(cmd)
}

// ---- §2: nothing read before TLS is believed after it -------------------

/// How the injected line comes after the 220 to STARTTLS.
#[derive(Clone, Copy, Debug)]
enum Inject {
    /// In the same segment as the 220.
    SameSegment,
    /// In a segment of its own, written right after the 220.
    NextSegment,
    /// Not at all: an honest server.
    Nothing,
}

/// A server that offers STARTTLS, answers it with `220 ready` (followed
/// by an injected `220` line, as `inject` says), then plays the TLS server
/// that refuses the message with 554. It returns what it saw: "HANDSHAKE
/// DONE" and what it got inside TLS, or "HANDSHAKE FAILED".
fn injecting_server(inject: Inject, cert: PathBuf, key: PathBuf) -> FakeServer {
    FakeServer::start(move |r, w| {
        let mut log = String::new();
        let _ = w.write_all(GREETING);
        log.push_str(&String::from_utf8_lossy(&read_raw_line(r)));
        let _ = w.write_all(b"250-hostile.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n");
        let starttls = String::from_utf8_lossy(&read_raw_line(r)).into_owned();
        assert_eq!(starttls, "STARTTLS\r\n");
        match inject {
            Inject::SameSegment => {
                let _ = w.write_all(b"220 ready\r\n220 injected\r\n");
            }
            Inject::NextSegment => {
                let _ = w.write_all(b"220 ready\r\n");
                let _ = w.flush();
                let _ = w.write_all(b"220 injected\r\n");
            }
            Inject::Nothing => {
                let _ = w.write_all(b"220 ready\r\n");
            }
        }
        let tcp = w.try_clone().expect("clone");
        match tls_server(tcp, &cert, &key) {
            Err(_) => log.push_str("HANDSHAKE FAILED\n"),
            Ok(tls) => {
                log.push_str("HANDSHAKE DONE\n");
                let mut br = std::io::BufReader::new(tls);
                // A client that took the injected 220 for its EHLO reply
                // would be one reply off from here on.
                let refuse: &[u8] = b"554 5.7.1 refused inside TLS\r\n";
                let seen = converse(&mut br, b"", answering(".", refuse, EHLO_PIPELINING));
                log.push_str(&seen.lines.concat());
            }
        }
        log.into_bytes()
    })
}

/// Relay through an [`injecting_server`] with `starttls POLICY`: the run
/// and what the server saw.
fn through_starttls(inject: Inject, policy: &str) -> (support::hostile::Run, String) {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "hostile");
    let (cert, key) = pki.issue("server", "localhost", "DNS:localhost,IP:127.0.0.1", false);
    let s = injecting_server(inject, cert, key);
    let user = User::new();
    user.trust(&pki.ca_cert);
    let rc = user.rc(&format!(
        "hostname localhost:{}\nstarttls {policy}\ntimeout 5\n",
        s.port
    ));
    let run = user.send_msg(&rc, &[]);
    (run, String::from_utf8_lossy(&s.join()).into_owned())
}

#[test]
fn data_after_the_starttls_reply_is_a_protocol_error_and_nothing_is_sent() {
    for inject in [Inject::SameSegment, Inject::NextSegment] {
        for policy in ["required", "enabled"] {
            let (run, seen) = through_starttls(inject, policy);
            let case = format!("{inject:?}, starttls {policy}");
            assert_eq!(run.code, PROTOCOL, "{case}: {run:?}\nserver: {seen}");
            assert!(
                run.stderr
                    .contains("sent data after its reply to STARTTLS, before the TLS handshake"),
                "{case}: {}",
                run.stderr
            );
            assert!(
                !seen.contains("HANDSHAKE DONE") && !seen.contains("MAIL FROM"),
                "{case}: the session went on: {seen}"
            );
        }
    }
}

#[test]
fn the_tls_server_sees_a_clean_session_when_nothing_is_injected() {
    // The same server without injection: the check does not refuse an
    // honest STARTTLS, and the TLS server's 554 is reported as such.
    let (run, seen) = through_starttls(Inject::Nothing, "required");
    assert_eq!(run.code, Some(70), "{run:?}");
    assert!(
        run.stderr.contains("554 5.7.1 refused inside TLS"),
        "{run:?}"
    );
    assert!(
        seen.contains("HANDSHAKE DONE\nEHLO ") && seen.contains("\r\nMAIL FROM:"),
        "{seen}"
    );
    assert!(seen.contains("\r\n.\r\n"), "{seen}");
}

/// Answer commands starting with `cmd` (`.` for the end-of-data marker)
/// with `reply`, everything else as usual with this EHLO reply.
fn answering(
    cmd: &'static str,
    reply: &'static [u8],
    ehlo: &'static str,
) -> impl FnMut(&str) -> Vec<u8> + Send + 'static {
    move |l: &str| {
        if is(l, cmd) {
            reply.to_vec()
        } else {
            usual(ehlo)(l)
        }
    }
}

const EHLO_PLAIN: &str = "250 hostile.test\r\n";
const EHLO_PIPELINING: &str = "250-hostile.test\r\n250 PIPELINING\r\n";

#[test]
fn extra_replies_are_protocol_errors_never_successes() {
    // (case, the command answered oddly, the answer, the EHLO reply, what
    // the server must never see)
    let cases: [(&str, &'static str, &'static [u8], &'static str, &str); 7] = [
        (
            "an extra 250 line after the EHLO reply",
            "EHLO",
            b"250-hostile.test\r\n250 8BITMIME\r\n250 extra\r\n",
            "",
            "MAIL",
        ),
        (
            "an extra 250 line after the MAIL reply",
            "MAIL",
            b"250 ok\r\n250 ok\r\n",
            EHLO_PLAIN,
            "RCPT",
        ),
        (
            "an extra multi-line reply after the RCPT reply",
            "RCPT",
            b"250 ok\r\n250-more\r\n250 more\r\n",
            EHLO_PLAIN,
            "DATA",
        ),
        (
            "an extra 250 in a pipelined batch (DATA is then answered 250)",
            "RCPT",
            b"250 ok\r\n250 extra\r\n",
            EHLO_PIPELINING,
            "\r\n.\r\n",
        ),
        ("a 354 to MAIL", "MAIL", b"354 go\r\n", EHLO_PLAIN, "RCPT"),
        (
            "an early final reply in the segment of the 354",
            "DATA",
            b"354 go ahead\r\n250 accepted early\r\n",
            EHLO_PLAIN,
            "\r\n.\r\n",
        ),
        (
            "garbage in place of the MAIL reply",
            "MAIL",
            b"hello there\r\n",
            EHLO_PLAIN,
            "RCPT",
        ),
    ];
    for (case, cmd, reply, ehlo, never) in cases {
        let (run, seen) = relay_through("", answering(cmd, reply, ehlo));
        assert_eq!(run.code, PROTOCOL, "{case}: {run:?}");
        assert!(!seen.marker, "{case}: the message was completed: {seen:?}");
        assert!(
            !seen.text().contains(never),
            "{case}: {never:?} was sent: {seen:?}"
        );
        assert!(run.stderr.starts_with("esmtp: "), "{case}: {}", run.stderr);
        assert!(
            run.stderr.contains("before the command it would answer")
                || run.stderr.contains("which is not a reply to it")
                || run.stderr.contains("before the end of the message")
                || run.stderr.contains("malformed"),
            "{case}: {}",
            run.stderr
        );
    }
}

#[test]
fn an_unasked_421_is_a_server_closing_not_a_protocol_error() {
    // RFC 5321 §3.8: a server may say 421 and close at any time. Before a
    // command it is a temporary failure (75: the queue keeps the
    // message); after the message was accepted it changes nothing.
    let closing: &[u8] = b"250 hostile.test\r\n421 4.4.2 idle too long, closing\r\n";
    let (run, seen) = relay_through("", answering("EHLO", closing, ""));
    assert_eq!(run.code, TEMPFAIL, "{run:?}");
    assert!(run.stderr.contains("421 4.4.2 idle too long"), "{run:?}");
    assert!(!seen.has("MAIL"), "{seen:?}");
    let closing: &[u8] = b"250 ok\r\n421 4.3.2 one message per connection\r\n";
    let (run, seen) = relay_through("", answering(".", closing, EHLO_PLAIN));
    assert!(seen.marker);
    assert_eq!(run.code, Some(0), "{run:?}");
}

#[test]
fn an_extra_reply_after_the_message_was_accepted_is_not_a_success() {
    // The 250 taken for the message's may have been a reply sent early;
    // the real one follows. Whether the message was delivered is unknown.
    let late: &[u8] = b"250 ok\r\n554 5.7.1 the real answer\r\n";
    let (run, seen) = relay_through("", answering(".", late, EHLO_PLAIN));
    assert!(seen.marker);
    assert_eq!(run.code, PROTOCOL, "{run:?}");
    assert!(
        run.stderr.contains("sent more after its last reply"),
        "{run:?}"
    );
    assert!(run.stderr.contains("554 5.7.1 the real answer"), "{run:?}");
    assert!(!seen.has("QUIT"), "{seen:?}");
}

/// A 20 MB message in a file (sent as it is read).
fn big_message(user: &User) -> PathBuf {
    let path = user.home.path().join("big.eml");
    let mut text = support::hostile::message();
    let line = b"a line of a big message, long enough to be a normal line of text\n";
    while text.len() < 20 * 1024 * 1024 {
        text.extend_from_slice(line);
    }
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_reply_during_a_large_body_drops_the_connection_before_the_marker() {
    // The server answers before reading the body: 250 (out of order: 76)
    // or 552 (a refusal: quoted, 70). Either way the end-of-data marker is
    // never sent, so nothing can be delivered.
    for (early, code, said) in [
        (
            &b"250 2.0.0 accepted early\r\n"[..],
            PROTOCOL,
            "replied before the end of the message",
        ),
        (
            &b"552 5.3.4 too big for us\r\n"[..],
            Some(70),
            "552 5.3.4 too big for us",
        ),
    ] {
        let s = FakeServer::start(move |r, w| {
            // Everything up to DATA's 354 as usual, then the early reply
            // before a byte of the body is read.
            support::fake_handshake_with(r, w, b"250-hostile.test\r\n250 8BITMIME\r\n");
            sleep(Duration::from_millis(300));
            let _ = w.write_all(early);
            let (total, tail) = drain_tail(r, 16);
            format!("{total} {}", tail.ends_with(b"\r\n.\r\n")).into_bytes()
        });
        let user = User::new();
        let file = big_message(&user);
        let run = user.send(
            &rc(&user, s.port, 10, ""),
            &[],
            Stdio::from(std::fs::File::open(&file).unwrap()),
            None,
        );
        let seen = String::from_utf8(s.join()).unwrap();
        assert_eq!(run.code, code, "{run:?}");
        assert!(run.stderr.contains(said), "{run:?}");
        assert!(seen.ends_with(" false"), "the marker was sent: {seen}");
    }
}

// ---- §3: every reply bounded in time and size ---------------------------

/// The whole run must end within `timeout` + 1 s (no tight bound below).
fn within(run: &support::hostile::Run, timeout: u64) {
    assert!(
        run.elapsed < Duration::from_secs(timeout + 1),
        "took {:?} with timeout {timeout}: {run:?}",
        run.elapsed
    );
}

/// Write `bytes` one at a time, `pause` apart, until the peer goes away.
fn trickle(w: &mut std::net::TcpStream, bytes: &[u8], pause: Duration) {
    for b in bytes {
        if w.write_all(&[*b]).is_err() {
            return;
        }
        sleep(pause);
    }
}

/// A server that writes `start` (after the greeting and EHLO's line when
/// `after_ehlo`), then `bytes` one at a time, `pause` apart. With
/// `timeout 2` the binary must give up (75, saying `said`) within 3 s,
/// however steadily the bytes come.
fn trickled(
    after_ehlo: bool,
    start: &'static [u8],
    bytes: &'static [u8],
    pause: Duration,
    said: &str,
) {
    let s = FakeServer::start(move |r, w| {
        if after_ehlo {
            let _ = w.write_all(GREETING);
            let _ = read_raw_line(r);
        }
        let _ = w.write_all(start);
        trickle(w, bytes, pause);
        drain_tail(r, 0);
        Vec::new()
    });
    let user = User::new();
    let run = user.send_msg(&rc(&user, s.port, 2, ""), &[]);
    s.join();
    assert_eq!(run.code, TEMPFAIL, "{run:?}");
    assert!(run.stderr.contains(said), "{run:?}");
    within(&run, 2);
}

#[test]
fn a_trickled_greeting_is_held_to_the_timeout() {
    let greeting = b"220 a greeting at one byte a second\r\n";
    trickled(
        false,
        b"",
        greeting,
        Duration::from_secs(1),
        "did not greet within 2 s",
    );
}

#[test]
fn a_trickled_multi_line_ehlo_reply_is_held_to_the_timeout() {
    let lines = b"250-SIZE 1000000\r\n250-8BITMIME\r\n250-PIPELINING\r\n250 DSN\r\n";
    let said = "did not answer within 2 s during EHLO";
    trickled(
        true,
        b"250-hostile.test\r\n",
        lines,
        Duration::from_millis(400),
        said,
    );
}

#[test]
fn a_stalled_tls_handshake_is_held_to_the_timeout() {
    // Implicit TLS, and STARTTLS after its 220: the server reads the
    // ClientHello and never answers it.
    for (extra, script_starttls) in [
        ("starttls implicit\n", false),
        ("starttls required\n", true),
    ] {
        let s = FakeServer::start(move |r, w| {
            if script_starttls {
                let _ = w.write_all(GREETING);
                let _ = read_raw_line(r);
                let _ = w.write_all(b"250-hostile.test\r\n250 STARTTLS\r\n");
                let _ = read_raw_line(r);
                let _ = w.write_all(b"220 go ahead\r\n");
            }
            drain_tail(r, 0);
            Vec::new()
        });
        let user = User::new();
        let rc = user.rc(&format!(
            "hostname localhost:{}\ntimeout 2\n{extra}",
            s.port
        ));
        let run = user.send_msg(&rc, &[]);
        s.join();
        assert_eq!(run.code, TEMPFAIL, "{extra}: {run:?}");
        assert!(
            run.stderr.contains("TLS handshake with localhost:")
                && run.stderr.contains("within 2 s"),
            "{extra}: {run:?}"
        );
        within(&run, 2);
    }
}

/// Peak RSS allowed for a run against a flooding server.
const RSS_LIMIT_KIB: u64 = 16 * 1024;

/// A server that writes `start` (after answering EHLO's line when
/// `after_ehlo`, with the greeting first), then `chunk` up to `times`
/// times, until the client goes away. The binary must stop with a
/// protocol error saying `said`, within the timeout, in constant memory.
fn flooded(after_ehlo: bool, start: &'static [u8], chunk: Vec<u8>, times: usize, said: &str) {
    let s = FakeServer::start(move |r, w| {
        if after_ehlo {
            let _ = w.write_all(GREETING);
            let _ = read_raw_line(r);
        }
        let _ = w.write_all(start);
        for _ in 0..times {
            if w.write_all(&chunk).is_err() {
                break;
            }
        }
        Vec::new()
    });
    let user = User::new();
    let run = user.send_msg(&rc(&user, s.port, 2, ""), &[]);
    s.join();
    assert_eq!(run.code, PROTOCOL, "{run:?}");
    assert!(run.stderr.contains(said), "{run:?}");
    assert!(run.max_rss_kib < RSS_LIMIT_KIB, "{run:?}");
    within(&run, 2);
}

#[test]
fn a_200_mb_reply_line_is_refused_in_constant_memory() {
    flooded(
        false,
        b"220 ",
        vec![b'x'; 1 << 20],
        200,
        "longer than 4096 bytes",
    );
}

#[test]
fn an_endless_multi_line_reply_is_refused_in_constant_memory() {
    let chunk = "250-KEYWORD with some text\r\n".repeat(4096).into_bytes();
    flooded(
        true,
        b"250-hostile.test\r\n",
        chunk,
        2000,
        "more than 128 lines",
    );
}

// ---- §6: secrets never leave the process; server text escaped ------------

/// A server that offers PLAIN, LOGIN, XOAUTH2 and OAUTHBEARER and refuses
/// every login with a 535 that quotes what the client sent, raw and
/// decoded (XOAUTH2, OAUTHBEARER: the initial response echoed in the 334
/// first, where OAUTHBEARER's error status would be).
fn echoing_server() -> FakeServer {
    let mut said = String::new();
    server(move |l: &str| {
        let upper = l.to_ascii_uppercase();
        let line = l.trim_end();
        let refuse = |raw: &str| {
            let decoded = support::hostile::b64_decode(raw.rsplit(' ').next().unwrap_or(""));
            let mut out = format!("535-5.7.8 you sent {raw}\r\n535 5.7.8 that is ").into_bytes();
            out.extend_from_slice(&decoded);
            out.extend_from_slice(b" and it is wrong\r\n");
            out
        };
        if upper.starts_with("EHLO") {
            b"250-hostile.test\r\n250 AUTH PLAIN LOGIN XOAUTH2 OAUTHBEARER\r\n".to_vec()
        } else if upper.starts_with("AUTH LOGIN") {
            b"334 VXNlcm5hbWU6\r\n".to_vec()
        } else if line == support::hostile::b64(b"alice") {
            b"334 UGFzc3dvcmQ6\r\n".to_vec()
        } else if upper.starts_with("AUTH XOAUTH2") || upper.starts_with("AUTH OAUTHBEARER") {
            said = line.to_string();
            format!("334 {}\r\n", line.rsplit(' ').next().unwrap_or("")).into_bytes()
        } else if upper.starts_with("QUIT") {
            b"221 bye\r\n".to_vec()
        } else if line.is_empty() {
            refuse(&said)
        } else {
            refuse(line)
        }
    })
}

#[test]
fn a_server_echoing_the_credentials_never_gets_them_shown() {
    for (mech, secret_line) in [
        ("plain", format!("password \"{MARKER}\"")),
        ("login", format!("password \"{MARKER}\"")),
        ("xoauth2", format!("password \"{MARKER}\"")),
        ("oauthbearer", format!("password \"{MARKER}\"")),
        (
            "plain",
            format!("passwordeval \"printf '%s\\\\n' '{MARKER}'\""),
        ),
    ] {
        let s = echoing_server();
        let user = User::new();
        let x = user.home.path().join("transcript");
        let rc = rc(
            &user,
            s.port,
            5,
            &format!("username alice\n{secret_line}\nauth {mech}\n"),
        );
        let run = user.send_msg(&rc, &["-v", "-X", x.to_str().unwrap()]);
        let seen = Seen::from_bytes(&s.join());
        let case = format!("{mech} / {secret_line}");
        assert_eq!(run.code, Some(77), "{case}: {run:?}");
        // The server did get the secret (loopback, the user's choice) and
        // echoed it back.
        assert!(seen.lines.len() > 2, "{case}: {seen:?}");
        let transcript = std::fs::read_to_string(&x).unwrap();
        assert!(transcript.contains("S: 535"), "{case}: {transcript}");
        assert!(
            transcript.contains("[credentials redacted]"),
            "{case}: {transcript}"
        );
        assert!(
            run.stderr.contains("[credentials redacted]"),
            "{case}: {run:?}"
        );
        for (what, text) in [
            ("stderr", &run.stderr),
            ("stdout", &run.stdout),
            ("the transcript", &transcript),
        ] {
            assert_no_secret(&format!("{case}: {what}"), text, "alice", MARKER);
        }
    }
}

/// Server text is cut to 1024 bytes in messages: a secret echoed across
/// the cut must be masked whole, not shown up to the cut.
#[test]
fn a_secret_echoed_across_the_quote_limit_shows_no_part_of_it() {
    for pad in [1014, 1018, 1022] {
        let s = server(move |l: &str| {
            let upper = l.to_ascii_uppercase();
            if upper.starts_with("EHLO") {
                b"250-hostile.test\r\n250 AUTH PLAIN\r\n".to_vec()
            } else if upper.starts_with("AUTH PLAIN") {
                format!("535 5.7.8 {}{MARKER} is wrong\r\n", "x".repeat(pad)).into_bytes()
            } else {
                usual("")(l)
            }
        });
        let user = User::new();
        let x = user.home.path().join("transcript");
        let rc = rc(
            &user,
            s.port,
            5,
            &format!("username alice\npassword \"{MARKER}\"\nauth plain\n"),
        );
        let run = user.send_msg(&rc, &["-v", "-X", x.to_str().unwrap()]);
        s.join();
        assert_eq!(run.code, Some(77), "pad {pad}: {run:?}");
        let transcript = std::fs::read_to_string(&x).unwrap();
        for (what, text) in [
            ("stderr", &run.stderr),
            ("stdout", &run.stdout),
            ("the transcript", &transcript),
        ] {
            assert!(
                !text.contains(&MARKER[..4]),
                "pad {pad}: {what} shows the start of the secret: {text}"
            );
        }
    }
}

#[test]
fn control_characters_from_the_server_reach_no_terminal() {
    let s = server(|l: &str| {
        let upper = l.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            b"250-hostile\x1b[31m.test\r\n250 8BITMIME\r\n".to_vec()
        } else if upper.starts_with("MAIL") {
            b"250 ok \x1b]0;owned\x07 sender\r\n".to_vec()
        } else if upper.starts_with("RCPT") {
            b"550 5.1.1 no\x1b[2J\x1b[H such\rFAKE: sent OK\x9b31m \xe2\x80\xae user\x00\r\n"
                .to_vec()
        } else {
            usual("")(l)
        }
    });
    let user = User::new();
    let x = user.home.path().join("transcript");
    let run = user.send_msg(
        &rc(&user, s.port, 5, ""),
        &["-v", "-X", x.to_str().unwrap()],
    );
    s.join();
    assert_eq!(run.code, Some(67), "{run:?}");
    let transcript = std::fs::read(&x).unwrap();
    for (what, text) in [
        ("stderr", run.stderr.as_bytes()),
        ("stdout", run.stdout.as_bytes()),
        ("the transcript", &transcript[..]),
    ] {
        let shown = String::from_utf8_lossy(text);
        for bad in [
            &b"\x1b"[..],
            b"\x07",
            b"\x00",
            b"\r",
            b"\x9b",
            "\u{202e}".as_bytes(),
        ] {
            assert!(
                !text.windows(bad.len()).any(|w| w == bad),
                "{what} holds {bad:?}: {shown:?}"
            );
        }
        assert!(
            shown.contains("no\\x1b[2J\\x1b[H such\\x0dFAKE"),
            "{what}: {shown}"
        );
    }
    assert!(run.stderr.contains("\\u{202e}"), "{}", run.stderr);
    assert!(run.stdout.contains("\\x1b]0;owned\\x07"), "{}", run.stdout);
}
