//! The SMTP relay against a real Exim on loopback: what arrives (envelope,
//! headers, body byte for byte), refusals, deferrals, DSN, 8BITMIME, SIZE,
//! servers that close or never answer.

mod common;

use common::{identity, message, Exim, EximOptions, FakeServer};
use esmtp::exit;
use esmtp::mail_params::BodyType;
use esmtp::transport::{self, Dsn, Envelope, MessageOptions, Session, SessionOptions};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn envelope(sender: &str, rcpts: &[&str]) -> Envelope {
    Envelope {
        sender: sender.into(),
        recipients: rcpts.iter().map(|s| s.to_string()).collect(),
    }
}

fn send(
    exim_port: u16,
    env: &Envelope,
    opts: &MessageOptions,
    msg: &[u8],
) -> Result<(), esmtp::exit::Failure> {
    let id = identity(exim_port);
    transport::relay(&id, env, opts, &SessionOptions::default(), &mut &msg[..])
}

/// [`send`] with default options of a small message: `Subject:
/// SUBJECT`, body `x`.
fn send_x(exim_port: u16, env: &Envelope, subject: &str) -> Result<(), esmtp::exit::Failure> {
    send(
        exim_port,
        env,
        &MessageOptions::default(),
        &message(subject, "x\r\n"),
    )
}

#[test]
fn message_arrives_byte_for_byte_with_its_envelope() {
    let exim = Exim::start();
    // Leading dots must be stuffed on the wire and unstuffed by Exim; a line
    // with a lone dot must not end the message.
    let msg = message(
        "plain",
        ".hidden dot\r\n.\r\nline\r\n..two dots\r\nlast line\r\n",
    );
    let env = envelope(
        "sender@example.org",
        &["bob@example.net", "carol@example.com"],
    );
    send(exim.port(), &env, &MessageOptions::default(), &msg).expect("relay");
    let got = exim.wait_for_messages(2);
    let mut to: Vec<&str> = got.iter().map(|m| m.envelope_to.as_str()).collect();
    to.sort();
    assert_eq!(to, ["bob@example.net", "carol@example.com"]);
    for m in &got {
        assert_eq!(m.return_path, "sender@example.org");
        assert_eq!(
            String::from_utf8_lossy(&m.message),
            String::from_utf8_lossy(&msg),
            "the stored message differs from what was sent"
        );
    }
    let log = exim.log();
    assert!(log.contains("H=(client.test)"), "EHLO name not used: {log}");
}

#[test]
fn bare_lf_and_missing_final_newline_are_fixed_on_the_wire() {
    let exim = Exim::start();
    let msg = b"Subject: lf\nFrom: a@example.org\n\nline one\n.dot\nno final newline";
    let env = envelope("a@example.org", &["bob@example.net"]);
    send(exim.port(), &env, &MessageOptions::default(), msg).expect("relay");
    let got = exim.wait_for_messages(1);
    assert_eq!(
        String::from_utf8_lossy(&got[0].message),
        "Subject: lf\r\nFrom: a@example.org\r\n\r\nline one\r\n.dot\r\nno final newline\r\n"
    );
}

#[test]
fn null_sender_is_sent_as_empty_reverse_path() {
    let exim = Exim::start();
    let env = envelope("", &["bob@example.net"]);
    send_x(exim.port(), &env, "bounce").expect("relay");
    let cmds = exim.commands();
    assert!(
        cmds.iter().any(|c| c.starts_with("MAIL MAIL FROM:<> ")),
        "{cmds:?}"
    );
}

#[test]
fn a_refused_recipient_aborts_the_transaction_and_is_reported() {
    let exim = Exim::start();
    let env = envelope(
        "sender@example.org",
        &[
            "bob@example.net",
            "refuse-me@example.net",
            "carol@example.net",
        ],
    );
    let err = send_x(exim.port(), &env, "r").expect_err("must fail");
    assert_eq!(err.status, exit::NOUSER, "{err}");
    assert!(
        err.message.contains("<refuse-me@example.net>: 550"),
        "{err}"
    );
    assert!(err.message.contains("no such user here"), "{err}");
    assert!(!err.message.contains("<bob@example.net>"), "{err}");
    assert_eq!(
        exim.accepted(),
        0,
        "nothing may be accepted: {}",
        exim.log()
    );
}

#[test]
fn without_pipelining_a_refusal_is_reported_the_same_way() {
    let exim = Exim::with(EximOptions {
        pipelining: false,
        ..Default::default()
    });
    let env = envelope(
        "sender@example.org",
        &[
            "refuse-1@example.net",
            "bob@example.net",
            "defer-2@example.net",
        ],
    );
    let err = send_x(exim.port(), &env, "np").expect_err("must fail");
    assert_eq!(err.status, exit::NOUSER, "{err}");
    assert!(err.message.contains("refused 2 of 3 recipients"), "{err}");
    assert!(err.message.contains("<refuse-1@example.net>: 550"), "{err}");
    assert!(err.message.contains("<defer-2@example.net>: 451"), "{err}");
    assert_eq!(exim.accepted(), 0);
    // A good message still goes through.
    send_x(exim.port(), &common::to_bob(), "np2").expect("relay");
}

#[test]
fn with_pipelining_mail_and_rcpt_go_out_together() {
    use std::io::Write as _;
    let server = FakeServer::start(|r, w| {
        // Read MAIL and both RCPTs before answering any of them: a client
        // that waits for the MAIL reply would time out here.
        let cmds = common::greet_and_read(r, w, b"250-fake\r\n250 PIPELINING\r\n", 3);
        let _ = w.write_all(b"250 ok\r\n250 ok\r\n550 nope\r\n");
        let rset = common::read_line(r);
        let _ = w.write_all(b"250 reset\r\n");
        let quit = common::read_line(r);
        let _ = w.write_all(b"221 bye\r\n");
        format!("{}{}{}{rset}{quit}", cmds[0], cmds[1], cmds[2]).into_bytes()
    });
    let mut id = identity(server.port);
    id.timeout_secs = 2;
    let err = transport::relay(
        &id,
        &envelope("a@example.org", &["b@example.net", "c@example.net"]),
        &MessageOptions::default(),
        &SessionOptions::default(),
        &mut &b"Subject: x\r\n\r\nx\r\n"[..],
    )
    .expect_err("c is refused");
    assert_eq!(err.status, exit::NOUSER, "{err}");
    assert!(err.message.contains("<c@example.net>: 550 nope"), "{err}");
    let seen = String::from_utf8(server.join()).unwrap();
    assert_eq!(
        seen,
        "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\nRSET\r\nQUIT\r\n"
    );
}

#[test]
fn a_deferred_recipient_is_a_temporary_failure() {
    let exim = Exim::start();
    let env = envelope("sender@example.org", &["defer-me@example.net"]);
    let err = send_x(exim.port(), &env, "d").expect_err("must fail");
    assert_eq!(err.status, exit::TEMPFAIL, "{err}");
    assert!(err.is_temporary());
    assert!(err.message.contains("451"), "{err}");
    assert!(err.message.contains("try again later"), "{err}");
    assert_eq!(exim.accepted(), 0);
}

#[test]
fn dsn_parameters_reach_the_server_as_exim_logs_them() {
    let exim = Exim::start();
    let opts = MessageOptions {
        dsn: Dsn {
            notify: Some("failure,delay".parse().unwrap()),
            ret: Some("hdrs".parse().unwrap()),
            envid: Some("queue id+1=2".into()),
        },
        ..Default::default()
    };
    let env = common::to_bob();
    send(exim.port(), &env, &opts, &message("dsn", "x\r\n")).expect("relay");
    let cmds = exim.commands();
    let mail = cmds
        .iter()
        .find(|c| c.starts_with("MAIL "))
        .expect("MAIL logged");
    assert!(mail.contains("RET=HDRS"), "{mail}");
    assert!(mail.contains("ENVID=queue+20id+2B1+3D2"), "{mail}");
    let rcpt = cmds
        .iter()
        .find(|c| c.starts_with("RCPT "))
        .expect("RCPT logged");
    assert!(rcpt.contains("NOTIFY=FAILURE,DELAY"), "{rcpt}");
}

#[test]
fn dsn_is_not_sent_to_a_server_without_it() {
    let exim = Exim::with(EximOptions {
        dsn: false,
        ..Default::default()
    });
    let opts = MessageOptions {
        dsn: Dsn {
            notify: Some("never".parse().unwrap()),
            ret: Some("full".parse().unwrap()),
            envid: None,
        },
        ..Default::default()
    };
    let env = common::to_bob();
    send(exim.port(), &env, &opts, &message("nodsn", "x\r\n")).expect("relay");
    let cmds = exim.commands().join("\n");
    assert!(!cmds.contains("NOTIFY") && !cmds.contains("RET="), "{cmds}");
    exim.wait_for_messages(1);
}

/// A 25 MB message full of 8-bit bytes, read in odd-sized pieces.
struct BigReader {
    left: usize,
    line: Vec<u8>,
    pos: usize,
}

impl Read for BigReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.left).min(7919);
        for b in buf.iter_mut().take(n) {
            *b = self.line[self.pos];
            self.pos = (self.pos + 1) % self.line.len();
        }
        self.left -= n;
        Ok(n)
    }
}

#[test]
fn a_25_mb_8bit_message_streams_through_intact() {
    let exim = Exim::start();
    let header = message("big", "");
    let line = "Grüße aus Köln, ½ € — .leading dot not at line start\r\n.dot line\r\n"
        .as_bytes()
        .to_vec();
    let body_len = 25 * 1024 * 1024;
    // Whole lines only, so the expected text is easy to rebuild.
    let body_len = body_len - body_len % line.len();
    let mut reader = std::io::Read::chain(
        &header[..],
        BigReader {
            left: body_len,
            line: line.clone(),
            pos: 0,
        },
    );
    let opts = MessageOptions {
        eight_bit: true,
        size: Some((header.len() + body_len) as u64),
        ..Default::default()
    };
    let env = common::to_bob();
    transport::relay(
        &identity(exim.port()),
        &env,
        &opts,
        &SessionOptions::default(),
        &mut reader,
    )
    .expect("relay");
    let got = exim.wait_for_messages(1);
    let m = &got[0].message;
    assert_eq!(m.len(), header.len() + body_len);
    assert_eq!(&m[..header.len()], &header[..]);
    assert!(m[header.len()..].chunks(line.len()).all(|c| c == &line[..]));
    let cmds = exim.commands();
    let mail = cmds.iter().find(|c| c.starts_with("MAIL ")).expect("MAIL");
    assert!(mail.contains("BODY=8BITMIME"), "{mail}");
    assert!(
        mail.contains(&format!("SIZE={}", header.len() + body_len)),
        "{mail}"
    );
}

#[test]
fn a_message_larger_than_the_servers_size_is_refused_before_data() {
    let exim = Exim::with(EximOptions {
        size_limit: 10_000,
        ..Default::default()
    });
    let msg = message("big", &"x".repeat(20_000));
    let opts = MessageOptions {
        size: Some(msg.len() as u64),
        ..Default::default()
    };
    let env = common::to_bob();
    let err = send(exim.port(), &env, &opts, &msg).expect_err("too big");
    assert_eq!(err.status, exit::SOFTWARE);
    assert!(err.message.contains("accepts at most 10000"), "{err}");
    assert!(
        exim.commands().is_empty(),
        "MAIL must not be sent: {:?}",
        exim.commands()
    );
}

#[test]
fn seven_bit_body_type_is_declared() {
    let exim = Exim::start();
    let opts = MessageOptions {
        body_type: Some(BodyType::SevenBit),
        ..Default::default()
    };
    let env = common::to_bob();
    send(exim.port(), &env, &opts, &message("seven", "x\r\n")).expect("relay");
    let cmds = exim.commands();
    assert!(cmds.iter().any(|c| c.contains("BODY=7BIT")), "{cmds:?}");
}

#[test]
fn the_server_refusing_after_data_and_dropping_the_connection_is_reported() {
    let exim = Exim::start();
    let env = envelope("drop@example.org", &["bob@example.net"]);
    let err = send_x(exim.port(), &env, "drop").expect_err("must fail");
    assert_eq!(err.status, exit::SOFTWARE, "{err}");
    assert!(
        err.message.contains("refused the message: 550 closing now"),
        "{err}"
    );
    assert_eq!(exim.accepted(), 0);
}

#[test]
fn a_deferral_after_data_is_a_temporary_failure() {
    let exim = Exim::start();
    let env = envelope("defer@example.org", &["bob@example.net"]);
    let err = send_x(exim.port(), &env, "dd").expect_err("must fail");
    assert_eq!(err.status, exit::TEMPFAIL, "{err}");
    assert!(
        err.message.contains("451") && err.message.contains("queue full"),
        "{err}"
    );
    assert_eq!(exim.accepted(), 0);
}

/// A reader that fails half way through the body.
struct FailingReader {
    data: Vec<u8>,
    pos: usize,
}

impl Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.data.len() {
            return Err(std::io::Error::other("disk on fire"));
        }
        let n = buf.len().min(self.data.len() - self.pos).min(1000);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[test]
fn a_read_error_mid_body_never_delivers_a_truncated_message() {
    let exim = Exim::start();
    // Ends exactly at a line end: the most dangerous place, where an
    // end-of-data marker would make a complete-looking message.
    let msg = message("trunc", &"a line of the body\r\n".repeat(500));
    let mut reader = FailingReader { data: msg, pos: 0 };
    let env = common::to_bob();
    let err = transport::relay(
        &identity(exim.port()),
        &env,
        &MessageOptions::default(),
        &SessionOptions::default(),
        &mut reader,
    )
    .expect_err("must fail");
    assert!(err.message.contains("disk on fire"), "{err}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(exim.accepted(), 0, "{}", exim.log());
    assert!(exim.messages().is_empty());
}

#[test]
fn a_server_that_never_answers_times_out() {
    let server = FakeServer::start(|r, _w| common::drain(r));
    let mut id = identity(server.port);
    id.timeout_secs = 1;
    let start = Instant::now();
    let err = transport::relay(
        &id,
        &envelope("a@example.org", &["b@example.net"]),
        &MessageOptions::default(),
        &SessionOptions::default(),
        &mut &b"Subject: x\r\n\r\nx\r\n"[..],
    )
    .expect_err("must time out");
    assert_eq!(err.status, exit::TEMPFAIL, "{err}");
    assert!(err.message.contains("within 1 s"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_server_that_stops_answering_after_data_times_out() {
    let server = FakeServer::start(|r, w| {
        common::fake_handshake(r, w);
        common::drain(r)
    });
    let mut id = identity(server.port);
    id.timeout_secs = 1;
    let err = transport::relay(
        &id,
        &envelope("a@example.org", &["b@example.net"]),
        &MessageOptions::default(),
        &SessionOptions::default(),
        &mut &b"Subject: x\r\n\r\nx\r\n"[..],
    )
    .expect_err("must time out");
    assert_eq!(err.status, exit::TEMPFAIL, "{err}");
    // The peer saw the whole message, ended once.
    let seen = server.join();
    assert!(
        seen.starts_with(b"Subject: x\r\n\r\nx\r\n.\r\n"),
        "{:?}",
        String::from_utf8_lossy(&seen)
    );
}

#[test]
fn a_server_closing_during_data_is_reported() {
    let server = FakeServer::start(|r, w| {
        common::fake_handshake(r, w);
        let mut buf = [0u8; 100];
        let _ = r.read(&mut buf);
        let _ = w.shutdown(std::net::Shutdown::Both);
        Vec::new()
    });
    let big = message("close", &"body line\r\n".repeat(200_000));
    let err = send(
        server.port,
        &envelope("a@example.org", &["b@example.net"]),
        &MessageOptions::default(),
        &big,
    )
    .expect_err("must fail");
    assert_eq!(err.status, exit::TEMPFAIL, "{err}");
    server.join();
}

#[test]
fn an_unreachable_server_is_unavailable() {
    let port = common::free_port();
    let err = send(
        port,
        &envelope("a@example.org", &["b@example.net"]),
        &MessageOptions::default(),
        b"x\r\n",
    )
    .expect_err("nothing listens");
    assert_eq!(err.status, exit::UNAVAILABLE, "{err}");
    assert!(err.message.contains(&format!("127.0.0.1:{port}")), "{err}");
}

#[test]
fn a_garbage_speaking_server_is_a_protocol_error() {
    let server = FakeServer::start(|r, w| {
        let _ = w.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        common::drain(r)
    });
    let err = send(
        server.port,
        &envelope("a@example.org", &["b@example.net"]),
        &MessageOptions::default(),
        b"x\r\n",
    )
    .expect_err("not SMTP");
    assert_eq!(err.status, exit::PROTOCOL, "{err}");
}

#[test]
fn one_session_carries_many_messages_and_survives_a_refusal() {
    let exim = Exim::start();
    let id = identity(exim.port());
    let mut s = Session::connect(&id, &SessionOptions::default()).expect("connect");
    for i in 0..5 {
        let msg = message(&format!("m{i}"), &format!("number {i}\r\n"));
        s.send(&common::to_bob(), &MessageOptions::default(), &mut &msg[..])
            .expect("send");
    }
    let err = s
        .send(
            &envelope("sender@example.org", &["refuse@example.net"]),
            &MessageOptions::default(),
            &mut &message("bad", "x\r\n")[..],
        )
        .expect_err("refused");
    assert_eq!(err.status, exit::NOUSER);
    assert!(s.is_usable());
    s.send(
        &envelope("sender@example.org", &["carol@example.net"]),
        &MessageOptions::default(),
        &mut &message("after", "still here\r\n")[..],
    )
    .expect("send after RSET");
    s.quit().expect("quit");
    let got = exim.wait_for_messages(6);
    assert_eq!(got.len(), 6);
    let log = exim.log();
    assert_eq!(
        log.matches("TCP/IP connection count").count(),
        1,
        "one connection: {log}"
    );
    assert!(got.iter().any(|m| m.message.ends_with(b"still here\r\n")));
}

#[test]
fn transcript_records_the_dialogue_and_headers_but_not_the_body() {
    let exim = Exim::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("transcript");
    let mut id = identity(exim.port());
    id.username = Some(common::USER.into());
    id.secret = Some(esmtp::plan::SecretSource::Password(
        esmtp::plan::Secret::new(common::PASSWORD),
    ));
    id.auth = Some(esmtp::plan::AuthMech::Plain);
    let opts = SessionOptions {
        verbose: false,
        transcript: Some(path.clone()),
    };
    let msg = message("tx", "secret body text\r\n");
    transport::relay(
        &id,
        &common::to_bob(),
        &MessageOptions::default(),
        &opts,
        &mut &msg[..],
    )
    .expect("relay");
    let t = std::fs::read_to_string(&path).unwrap();
    assert!(t.contains("S: 220 "), "{t}");
    assert!(t.contains("C: EHLO client.test"), "{t}");
    assert!(t.contains("C: MAIL FROM:<sender@example.org>"), "{t}");
    assert!(t.contains("C: RCPT TO:<bob@example.net>"), "{t}");
    assert!(t.contains("H: Subject: tx"), "{t}");
    assert!(t.contains("C: AUTH PLAIN [credentials redacted]"), "{t}");
    assert!(t.contains("S: 235 "), "{t}");
    assert!(t.contains("C: .\nS: 250 "), "{t}");
    assert!(t.contains("C: QUIT"), "{t}");
    assert!(!t.contains("secret body text"), "{t}");
    let b64 = esmtp_b64(&format!("\0{}\0{}", common::USER, common::PASSWORD));
    assert!(!t.contains(&b64) && !t.contains(common::PASSWORD), "{t}");
}

fn esmtp_b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn preconnect_and_postconnect_run_around_the_session() {
    let exim = Exim::start();
    let dir = tempfile::tempdir().unwrap();
    let marks = dir.path().join("marks");
    let mut id = identity(exim.port());
    id.preconnect = Some(format!("echo pre >> '{}'", marks.display()));
    id.postconnect = Some(format!("echo post >> '{}'", marks.display()));
    send_with(&id, "hooks").expect("relay");
    assert_eq!(std::fs::read_to_string(&marks).unwrap(), "pre\npost\n");

    id.preconnect = Some("exit 3".into());
    let err = send_with(&id, "nohooks").expect_err("preconnect fails");
    assert_eq!(err.status, exit::SOFTWARE);
    assert!(
        err.message.contains("preconnect") && err.message.contains("exit status 3"),
        "{err}"
    );
    assert_eq!(exim.accepted(), 1);
}

fn send_with(id: &esmtp::plan::Identity, subject: &str) -> Result<(), esmtp::exit::Failure> {
    common::relay_message(id, subject, "x\r\n")
}

#[test]
fn a_greeting_refusal_or_deferral_is_reported_with_its_status() {
    for (greeting, status) in [
        (&b"554 no service for you\r\n"[..], exit::UNAVAILABLE),
        (&b"421 too busy, later\r\n"[..], exit::TEMPFAIL),
    ] {
        let server = FakeServer::start(move |r, w| {
            let _ = w.write_all(greeting);
            common::drain(r)
        });
        let err = send(
            server.port,
            &envelope("a@example.org", &["b@example.net"]),
            &MessageOptions::default(),
            b"x\r\n",
        )
        .expect_err("refused");
        assert_eq!(err.status, status, "{err}");
        let text = String::from_utf8_lossy(&greeting[4..greeting.len() - 2]).into_owned();
        assert!(err.message.contains(&text), "{err}");
        server.join();
    }
}

#[test]
fn eight_bit_content_to_a_server_without_8bitmime_is_sent_unchanged() {
    let server = FakeServer::start(|r, w| {
        let mut seen = common::fake_handshake_with(r, w, b"250-fake\r\n250 SIZE\r\n")
            .join("\n")
            .into_bytes();
        seen.push(b'\n');
        loop {
            let mut line = Vec::new();
            let _ = std::io::BufRead::read_until(r, b'\n', &mut line);
            if line.is_empty() || line == b".\r\n" {
                break;
            }
            seen.extend_from_slice(&line);
        }
        let _ = w.write_all(b"250 ok\r\n");
        let _ = common::read_line(r);
        let _ = w.write_all(b"221 bye\r\n");
        seen
    });
    let body = "Subject: 8\r\n\r\nK\u{f6}ln \u{20ac}\r\n"
        .as_bytes()
        .to_vec();
    let opts = MessageOptions {
        eight_bit: true,
        ..Default::default()
    };
    send(
        server.port,
        &envelope("a@example.org", &["b@example.net"]),
        &opts,
        &body,
    )
    .expect("relay");
    let seen = server.join();
    let text = String::from_utf8(seen).unwrap();
    assert!(text.contains("MAIL FROM:<a@example.org>\n"), "{text}");
    assert!(!text.contains("BODY="), "{text}");
    assert!(
        text.ends_with("Subject: 8\r\n\r\nK\u{f6}ln \u{20ac}\r\n"),
        "{text}"
    );
}

#[test]
fn a_pipelined_data_accepted_despite_a_refused_recipient_sends_no_message() {
    // A broken server: it refuses the only recipient yet answers DATA with
    // 354. The client must not send the message (nor an empty one): it
    // drops the connection.
    let server = FakeServer::start(|r, w| {
        let cmds = common::greet_and_read(r, w, b"250-fake\r\n250 PIPELINING\r\n", 3);
        assert_eq!(cmds[2], "DATA\r\n", "DATA is pipelined with one recipient");
        let _ = w.write_all(b"250 ok\r\n550 nope\r\n354 go ahead\r\n");
        common::drain(r)
    });
    let err = send(
        server.port,
        &envelope("a@example.org", &["b@example.net"]),
        &MessageOptions::default(),
        &message("nodata", "must not arrive\r\n"),
    )
    .expect_err("refused");
    assert_eq!(err.status, exit::NOUSER, "{err}");
    let after = String::from_utf8_lossy(&server.join()).into_owned();
    assert!(
        !after.contains("must not arrive") && !after.contains(".\r\n"),
        "{after:?}"
    );
}

#[test]
fn a_connection_that_cannot_be_established_times_out() {
    // A listener with a full accept queue: the kernel drops further SYNs,
    // so connecting hangs as it does towards a filtered port.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let port = listener.local_addr().unwrap().port();
    let _first = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut id = identity(port);
    id.timeout_secs = 1;
    let start = Instant::now();
    let err = transport::relay(
        &id,
        &envelope("a@example.org", &["b@example.net"]),
        &MessageOptions::default(),
        &SessionOptions::default(),
        &mut &b"x\r\n"[..],
    )
    .expect_err("cannot connect");
    assert_eq!(err.status, exit::TEMPFAIL, "{err}");
    assert!(
        err.message.contains("cannot connect") && err.message.contains("within 1 s"),
        "{err}"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    drop(listener);
}

#[test]
fn a_server_that_stops_the_transfer_with_a_reason_is_quoted() {
    let server = FakeServer::start(|r, w| {
        common::fake_handshake(r, w);
        let mut buf = [0u8; 4096];
        let _ = r.read(&mut buf);
        let _ = w.write_all(b"552 5.3.4 message too big for us\r\n");
        let _ = w.shutdown(std::net::Shutdown::Both);
        Vec::new()
    });
    let big = message("stop", &"body line\r\n".repeat(300_000));
    let err = send(
        server.port,
        &envelope("a@example.org", &["b@example.net"]),
        &MessageOptions::default(),
        &big,
    )
    .expect_err("must fail");
    assert_eq!(err.status, exit::SOFTWARE, "{err}");
    assert!(err.message.contains("552 5.3.4 message too big"), "{err}");
    server.join();
}

#[test]
fn a_message_over_the_limit_with_unknown_size_is_refused_after_data() {
    let exim = Exim::with(EximOptions {
        size_limit: 10_000,
        ..Default::default()
    });
    let msg = message("big2", &"y".repeat(50_000));
    let env = common::to_bob();
    let err = send(exim.port(), &env, &MessageOptions::default(), &msg).expect_err("too big");
    assert_eq!(err.status, exit::SOFTWARE, "{err}");
    assert!(err.message.contains("552"), "{err}");
    assert_eq!(exim.accepted(), 0);
}

#[test]
fn a_server_that_does_not_know_ehlo_gets_helo() {
    let server = FakeServer::start(|r, _w| {
        let seen = common::hostile::converse(r, b"220 old server\r\n", |l: &str| {
            if l.starts_with("EHLO") {
                b"502 5.5.2 command not recognized\r\n".to_vec()
            } else {
                common::hostile::usual("")(l)
            }
        });
        seen.into_bytes()
    });
    let id = identity(server.port);
    common::relay_message(&id, "helo", "x\r\n").expect("relay over HELO");
    let seen = common::hostile::Seen::from_bytes(&server.join());
    assert_eq!(
        seen.lines[..3],
        [
            "EHLO client.test\r\n",
            "HELO client.test\r\n",
            "MAIL FROM:<sender@example.org>\r\n"
        ]
    );
    assert!(seen.marker, "{seen:?}");
}
