//! SMTP smuggling (RFC 5321 §2.3.8, issue 13 §1): every CR and LF that
//! reaches the server belongs to a CRLF pair, so the only end-of-data
//! sequence a server can see is ours, at the end. The exact bytes a
//! recording server receives after DATA are compared with the message
//! normalised the plain way (every CRLF, bare CR and bare LF one line end),
//! on every path a message takes: a small message through a pipe (spooled
//! in memory), a large one (spooled to a temporary file), a large regular
//! file (sent as it is read), the queue (stored, then sent from the entry;
//! an entry left by an older esmtp; an esmtp-wrapper entry). The MDA gets
//! the same lines with LF line ends and no CR at all.

use crate::support;

use crate::support::frontend::*;
use std::io::{BufRead, Read, Write};
use std::process::{Output, Stdio};
use std::time::Duration;
use support::FakeServer;

/// Headers with a bare CR between two fields and one inside a folded field;
/// Date: and Message-ID: are there, so nothing is added.
const HEAD: &[u8] = b"From: Sender <sender@example.org>\r\nTo: bob@example.net\r\n\
Date: Wed, 25 Nov 2026 08:00:00 +0000\r\nMessage-ID: <cr@example.org>\r\n\
Subject: bare\rX-After-Bare-Cr: yes\r\nX-Folded: a\r\n b\rX-Third: c\n\r\n";

/// The bodies of issue 13 §1, each ending the message.
const BODIES: &[&[u8]] = &[
    b"before\r.\rMAIL FROM:<evil@x.org>\rRCPT TO:<victim@y.org>\rDATA\rsmuggled\r.\rafter\r\n",
    b"a\r\n.\rb\r\n",
    b"a\r.\r\nb\r\n",
    b"a\n.\r\nb\n",
    b"a\rb",
    b"the last line ends in a bare CR\r",
    b"\r.\r",
    b".\r",
];

/// Lines of every length with every kind of line end and lone dots, so that
/// wherever a reader or writer cuts its chunks, some bare CR sits on the cut.
fn padding(size: usize) -> Vec<u8> {
    let ends: [&[u8]; 7] = [
        b"\r", b"\r\n", b"\n", b"\r.\r", b"\n.\r\n", b"\r\n.\r", b"\r\r\n",
    ];
    let mut out = Vec::with_capacity(size + 64);
    let mut n = 0usize;
    while out.len() < size {
        out.extend(std::iter::repeat_n(b'p', n % 13));
        out.extend_from_slice(ends[n % ends.len()]);
        n += 1;
    }
    out
}

/// The message's lines: split at CRLF, bare CR and bare LF.
fn lines(msg: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < msg.len() {
        if msg[i] == b'\r' || msg[i] == b'\n' {
            out.push(&msg[start..i]);
            i += if msg[i..].starts_with(b"\r\n") { 2 } else { 1 };
            start = i;
        } else {
            i += 1;
        }
    }
    if start < msg.len() {
        out.push(&msg[start..]);
    }
    out
}

/// What the server must read after 354: the lines dot-stuffed, CRLF, and
/// the end-of-data marker.
fn on_the_wire(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines(msg) {
        if l.starts_with(b".") {
            out.push(b'.');
        }
        out.extend_from_slice(l);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// What the MDA must read: the lines with LF line ends.
fn for_the_mda(msg: &[u8]) -> Vec<u8> {
    lines(msg)
        .iter()
        .flat_map(|l| [*l, b"\n"].concat())
        .collect()
}

/// Every CR and LF in `data` is part of a CRLF, and the one CRLF.CRLF is at
/// the end (the data after 354 starts a line).
#[track_caller]
fn assert_clean_data(data: &[u8]) {
    for (i, &b) in data.iter().enumerate() {
        let ok = match b {
            b'\r' => data.get(i + 1) == Some(&b'\n'),
            b'\n' => i > 0 && data[i - 1] == b'\r',
            _ => true,
        };
        assert!(ok, "a bare CR or LF at byte {i} of the data");
    }
    let wire = [&b"\r\n"[..], data].concat();
    let ends: Vec<usize> = wire
        .windows(5)
        .enumerate()
        .filter(|(_, w)| *w == b"\r\n.\r\n")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(ends, [wire.len() - 5], "end-of-data sequences");
}

/// A server that answers up to DATA, then records every byte: it ends the
/// data only at CRLF.CRLF (strictly), answers 250, and reads on until the
/// client closes. Returns the commands, a `--data--` line, and what
/// followed the 354 ([`recorded`] splits them).
fn recording_server() -> FakeServer {
    FakeServer::start(|r, w| {
        let _ = r.get_ref().set_read_timeout(Some(Duration::from_secs(60)));
        let cmds = support::fake_handshake_with(r, w, b"250-fake\r\n250 8BITMIME\r\n");
        assert!(
            cmds.last().is_some_and(|c| c.eq_ignore_ascii_case("DATA")),
            "{cmds:?}"
        );
        let mut seen = cmds.join("\n").into_bytes();
        seen.extend_from_slice(b"\n--data--\n");
        let mut data = Vec::new();
        while !(data.ends_with(b"\r\n.\r\n") || data == b".\r\n") {
            if r.read_until(b'\n', &mut data).unwrap_or(0) == 0 {
                seen.extend(data);
                return seen;
            }
        }
        let _ = w.write_all(b"250 ok\r\n");
        data.extend(support::drain(r));
        seen.extend(data);
        seen
    })
}

/// The commands and the bytes after 354 of a [`recording_server`].
fn recorded(server: FakeServer) -> (String, Vec<u8>) {
    let seen = server.join();
    let at = seen
        .windows(10)
        .position(|w| w == b"\n--data--\n")
        .expect("the server got to DATA");
    (
        String::from_utf8_lossy(&seen[..at]).into_owned(),
        seen[at + 10..].to_vec(),
    )
}

fn relay_env(port: u16, extra: &str) -> Env {
    Env::new(&format!(
        "hostname 127.0.0.1:{port}\nhelo client.test\n{extra}"
    ))
}

/// `sendmail -C rc -f sender@example.org bob@example.net` with `msg` on
/// standard input as a regular file.
fn send_from_file(env: &Env, msg: &[u8]) -> Output {
    let path = env.path("message.eml");
    std::fs::write(&path, msg).unwrap();
    env.command(env.path("sendmail"))
        .args(["-C", env.rc().to_str().unwrap()])
        .args(["-f", "sender@example.org", "bob@example.net"])
        .stdin(std::fs::File::open(&path).unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

fn send_from_pipe(env: &Env, msg: &[u8]) -> Output {
    env.sendmail(&["-f", "sender@example.org", "bob@example.net"], msg)
}

/// The message of one case: the head, `pad` bytes of padding, the body.
fn message(pad: usize, body: &[u8]) -> Vec<u8> {
    [HEAD, &padding(pad), body].concat()
}

/// Send each body through `send` (given the server's port) and check what
/// the server read.
fn check_path(pad: usize, send: impl Fn(u16, &[u8]) -> Output) {
    for body in BODIES {
        let msg = message(pad, body);
        let server = recording_server();
        let o = send(server.port, &msg);
        assert_status(&o, 0);
        let (_, got) = recorded(server);
        let data = got.strip_suffix(b"QUIT\r\n").unwrap_or_else(|| {
            panic!(
                "no QUIT after the data: {:?}",
                String::from_utf8_lossy(&got[got.len().saturating_sub(80)..])
            )
        });
        assert_clean_data(data);
        assert!(
            data == on_the_wire(&msg),
            "body {:?} with {pad} bytes of padding: the data differs",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn a_small_message_through_a_pipe() {
    // Small enough for the in-memory spool, past the first 8 KiB read.
    check_path(20_000, |port, msg| {
        send_from_pipe(&relay_env(port, ""), msg)
    });
    check_path(0, |port, msg| send_from_pipe(&relay_env(port, ""), msg));
}

#[test]
fn a_large_message_through_a_pipe() {
    // Past the 256 KiB the spool keeps in memory: a temporary file.
    check_path(600_000, |port, msg| {
        send_from_pipe(&relay_env(port, ""), msg)
    });
}

#[test]
fn a_large_file_sent_as_it_is_read() {
    // A regular file past 256 KiB, queue off, remote only: no spool.
    check_path(600_000, |port, msg| {
        send_from_file(&relay_env(port, ""), msg)
    });
    // A small file is spooled like a pipe.
    check_path(1000, |port, msg| send_from_file(&relay_env(port, ""), msg));
}

#[test]
fn through_the_queue_at_once() {
    // Stored in the queue, then sent from the entry.
    for pad in [0, 600_000] {
        check_path(pad, |port, msg| {
            let env = relay_env(port, "queue enabled\nqueue_dir \"@DIR@/queue\"\n");
            let o = send_from_pipe(&env, msg);
            assert!(!stderr(&o).contains("queued"), "{}", stderr(&o));
            o
        });
    }
}

#[test]
fn through_the_queue_after_the_smarthost_was_down() {
    check_path(1000, |port, msg| {
        let env = relay_env(
            support::free_port(),
            "queue enabled\nqueue_dir \"@DIR@/queue\"\n",
        );
        let o = send_from_pipe(&env, msg);
        assert_status(&o, 0);
        assert!(stderr(&o).contains("queued"), "{}", stderr(&o));
        env.write(
            "esmtprc",
            &env.subst(&format!(
                "hostname 127.0.0.1:{port}\nqueue enabled\nqueue_dir \"@DIR@/queue\"\n"
            )),
            0o600,
        );
        let rc = env.rc().display().to_string();
        env.esmtp(&["queue", "flush", "-C", &rc], b"")
    });
}

#[test]
fn an_entry_stored_by_an_older_esmtp_is_cleaned_on_the_way_out() {
    // An entry whose message still holds bare CRs (as an older version
    // stored it) is made clean by the transport itself.
    check_path(1000, |port, msg| {
        let env = relay_env(port, "queue enabled\nqueue_dir \"@DIR@/queue\"\n");
        let spool = esmtp::queue::store::QueueDir::open(&env.path("queue")).unwrap();
        let meta = esmtp::queue::store::Meta {
            sender: "sender@example.org".into(),
            recipients: vec!["bob@example.net".into()],
            ..Default::default()
        };
        let id = esmtp::queue::store::new_id();
        drop(spool.create(&id, &meta, &mut &msg[..], None).unwrap());
        let rc = env.rc().display().to_string();
        env.esmtp(&["queue", "flush", "-C", &rc], b"")
    });
}

#[test]
fn an_esmtp_wrapper_entry() {
    check_path(1000, |port, msg| {
        let env = relay_env(port, "queue enabled\nqueue_dir \"@DIR@/queue\"\n");
        let home = env.path("home");
        support::write_wrapper_entry(
            &home.join(".esmtp_queue"),
            "AbCd1234",
            "-f sender@example.org bob@example.net",
            msg,
        );
        let rc = env.rc().display().to_string();
        let o = run(
            env.command(BIN)
                .env("HOME", &home)
                .args(["queue", "flush", "-C", &rc]),
            b"",
        );
        assert!(!home.join(".esmtp_queue/AbCd1234").exists());
        o
    });
}

/// The MDA reads the same lines with LF line ends: through a recording
/// `cat` and through procmail into an mbox, from a pipe (small and large)
/// and from a file.
#[test]
fn the_mda_gets_no_cr_at_all() {
    for pad in [0, 20_000, 600_000] {
        for body in BODIES {
            let msg = message(pad, body);
            let expect = for_the_mda(&msg);
            for from_file in [false, true] {
                let env = Env::with_recorder("");
                let o = if from_file {
                    let path = env.path("message.eml");
                    std::fs::write(&path, &msg).unwrap();
                    env.command(env.path("sendmail"))
                        .args([
                            "-C",
                            env.rc().to_str().unwrap(),
                            "-f",
                            "sender@example.org",
                            "bob",
                        ])
                        .stdin(std::fs::File::open(&path).unwrap())
                        .output()
                        .unwrap()
                } else {
                    env.sendmail(&["-f", "sender@example.org", "bob"], &msg)
                };
                assert_status(&o, 0);
                let got = std::fs::read(env.path("msg")).unwrap();
                assert!(!got.contains(&b'\r'), "a CR reached the MDA");
                assert!(
                    got == expect,
                    "pad {pad}, body {body:?}: the MDA's copy differs"
                );
            }
        }
    }
}

#[test]
fn procmail_stores_no_cr() {
    let msg = message(20_000, BODIES[0]);
    let env = Env::new("mda \"/usr/bin/procmail -p -f %F -m @DIR@/procmailrc %T\"\n");
    env.write(
        "procmailrc",
        &env.subst("MAILDIR=@DIR@\nDEFAULT=@DIR@/mbox\nLOGFILE=@DIR@/procmail.log\n"),
        0o600,
    );
    let o = env.sendmail(&["-f", "sender@example.org", "bob"], &msg);
    assert_status(&o, 0);
    let mut mbox = Vec::new();
    std::fs::File::open(env.path("mbox"))
        .unwrap()
        .read_to_end(&mut mbox)
        .unwrap();
    assert!(mbox.starts_with(b"From sender@example.org "));
    assert!(!mbox.contains(&b'\r'), "a CR reached the mailbox");
    let text = String::from_utf8_lossy(&mbox);
    assert!(
        text.contains("\nSubject: bare\nX-After-Bare-Cr: yes\n"),
        "{text}"
    );
    assert!(
        text.contains("\nbefore\n.\nMAIL FROM:<evil@x.org>\n"),
        "{text}"
    );
}

/// The bare-CR header split is what -t reads too: a Bcc: hidden behind a
/// bare CR is a recipient and is removed, never shown to the others.
#[test]
fn a_bcc_behind_a_bare_cr_is_a_bcc() {
    let server = recording_server();
    let env = relay_env(server.port, "");
    let o = env.sendmail(
        &["-t", "-f", "sender@example.org"],
        b"To: bob@example.net\r\nSubject: s\rBcc: hidden@example.net\r\n\r\nbody\r\n",
    );
    assert_status(&o, 0);
    let (cmds, data) = recorded(server);
    let data = String::from_utf8_lossy(&data);
    assert!(cmds.contains("RCPT TO:<hidden@example.net>"), "{cmds}");
    assert!(!data.contains("hidden"), "{data}");
    assert!(data.contains("Subject: s\r\n"), "{data}");
}
