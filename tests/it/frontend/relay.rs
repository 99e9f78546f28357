//! Remote delivery end to end: the built binary, called as sendmail, relays
//! to a real Exim on loopback (crate::support), alone and mixed with local
//! delivery; exit statuses of refusals and unreachable servers.

use crate::support;

use crate::support::frontend::*;
use support::Exim;

fn env_for(exim: &Exim, extra: &str) -> Env {
    let env = Env::new(&format!(
        "hostname 127.0.0.1:{}\nmda \"@DIR@/record %F %T\"\n{extra}",
        exim.port()
    ));
    env.write(
        "record",
        "#!/bin/sh\nd=$(dirname \"$0\")\nprintf '%s\\0' \"$@\" > \"$d/args\"\ncat > \"$d/msg\"\n",
        0o755,
    );
    env
}

#[test]
fn mutt_style_submission_reaches_the_smarthost() {
    let exim = Exim::start();
    let env = env_for(&exim, "");
    let o = env.sendmail(
        &[
            "-oi",
            "-oem",
            "-f",
            "me@example.org",
            "--",
            "bob@example.net",
            "carol@example.net",
        ],
        b"Subject: relayed\nTo: bob@example.net\n\nline\n.\n..two dots\nend",
    );
    assert_status(&o, 0);
    let got = exim.wait_for_messages(2);
    assert_eq!(got[0].return_path, "me@example.org");
    let mut to: Vec<_> = got.iter().map(|m| m.envelope_to.clone()).collect();
    to.sort();
    assert_eq!(to, ["bob@example.net", "carol@example.net"]);
    let headers = got[0].headers();
    assert!(
        headers.starts_with("Subject: relayed\r\nTo: bob@example.net\r\nDate: "),
        "{headers}"
    );
    assert!(
        headers.contains("\r\nFrom: me@example.org\r\n"),
        "{headers}"
    );
    assert!(headers.contains("\r\nMessage-ID: <"), "{headers}");
    // CRLF on the wire, dots intact after the transport's stuffing, a
    // final line end added.
    assert!(got[0]
        .message
        .ends_with(b"\r\n\r\nline\r\n.\r\n..two dots\r\nend\r\n"));
    // One transaction for both recipients.
    assert_eq!(exim.accepted(), 1);
}

#[test]
fn local_and_remote_recipients_get_the_same_message() {
    let exim = Exim::start();
    let env = env_for(&exim, "");
    let o = env.sendmail(
        &["-f", "me@example.org", "bob@example.net", "alice"],
        b"Subject: mixed\r\n\r\nbody\r\n",
    );
    assert_status(&o, 0);
    let got = exim.wait_for_messages(1);
    assert_eq!(env.recorded_args(), ["me@example.org", "alice"]);
    let local = env.read("msg");
    let remote = String::from_utf8(got[0].message.clone()).unwrap();
    assert_eq!(local, remote.replace("\r\n", "\n"));
}

#[test]
fn dash_t_sends_to_bcc_without_showing_it() {
    let exim = Exim::start();
    let env = env_for(&exim, "");
    let o = env.sendmail(
        &["-t"],
        b"From: Me <me@example.org>\nTo: bob@example.net\nBcc: secret@example.net\nSubject: t\n\nb\n",
    );
    assert_status(&o, 0);
    let got = exim.wait_for_messages(2);
    assert_eq!(got[0].return_path, "me@example.org");
    for m in &got {
        assert!(
            !m.headers().to_ascii_lowercase().contains("bcc"),
            "{}",
            m.headers()
        );
    }
}

#[test]
fn refusal_is_67_and_deferral_is_75() {
    let exim = Exim::start();
    let env = env_for(&exim, "");
    let o = env.sendmail(
        &["-f", "me@example.org", "refuse-me@example.net"],
        b"Subject: r\n\nb\n",
    );
    assert_status(&o, 67);
    assert!(
        stderr(&o).contains("refuse-me@example.net"),
        "{}",
        stderr(&o)
    );
    let o = env.sendmail(
        &["-f", "me@example.org", "defer-me@example.net"],
        b"Subject: d\n\nb\n",
    );
    assert_status(&o, 75);
    assert_eq!(exim.accepted(), 0);
}

#[test]
fn unreachable_smarthost_is_69() {
    let port = support::free_port();
    let env = Env::new(&format!("hostname 127.0.0.1:{port}\n"));
    let o = env.sendmail(&["bob@example.net"], b"Subject: s\n\nb\n");
    assert_status(&o, 69);
    assert_one_line_error(&o, "127.0.0.1");
}

#[test]
fn eight_bit_and_dsn_parameters_reach_the_server() {
    let exim = Exim::start();
    let env = env_for(&exim, "");
    let o = env.sendmail(
        &[
            "-f",
            "me@example.org",
            "-N",
            "failure,delay",
            "-R",
            "hdrs",
            "-V",
            "env-42",
            "bob@example.net",
        ],
        "Subject: 8bit\n\nrésumé\n".as_bytes(),
    );
    assert_status(&o, 0);
    exim.wait_for_messages(1);
    let commands = exim.commands().join("\n");
    assert!(commands.contains("BODY=8BITMIME"), "{commands}");
    assert!(commands.contains("RET=HDRS"), "{commands}");
    assert!(commands.contains("ENVID=env-42"), "{commands}");
    assert!(commands.contains("NOTIFY=FAILURE,DELAY"), "{commands}");
}

#[test]
fn identity_selected_by_sender_decides_the_smarthost() {
    let exim = Exim::start();
    // The default identity points at a closed port; only the selected one works.
    let closed = support::free_port();
    let env = Env::new(&format!(
        "hostname 127.0.0.1:{closed}\nidentity work@Example.ORG\nhostname 127.0.0.1:{}\n",
        exim.port()
    ));
    let o = env.sendmail(
        &["-f", "Me <work@example.org>", "bob@example.net"],
        b"Subject: s\n\nb\n",
    );
    assert_status(&o, 0);
    assert_eq!(exim.wait_for_messages(1)[0].return_path, "work@example.org");
    let o = env.sendmail(
        &["-f", "other@example.org", "bob@example.net"],
        b"Subject: s\n\nb\n",
    );
    assert_status(&o, 69);
}

#[test]
fn ten_thousand_remote_recipients() {
    let exim = Exim::start();
    let env = env_for(&exim, "");
    let names: Vec<String> = (0..10_000).map(|i| format!("r{i}@example.net")).collect();
    let mut args = vec!["-f", "me@example.org"];
    args.extend(names.iter().map(String::as_str));
    let o = env.sendmail(&args, b"Subject: many\n\nb\n");
    // Exim's default recipients_max is 50000: all accepted in one transaction.
    assert_status(&o, 0);
    assert_eq!(exim.accepted(), 1);
    let rcpts = exim
        .commands()
        .iter()
        .filter(|c| c.starts_with("RCPT "))
        .count();
    assert_eq!(rcpts, 10_000);
}

#[test]
fn transcript_and_verbose_from_the_command_line() {
    let exim = Exim::start();
    let env = env_for(&exim, "");
    let transcript = env.path("transcript");
    let o = env.sendmail(
        &[
            "-v",
            "-X",
            transcript.to_str().unwrap(),
            "-f",
            "me@example.org",
            "bob@example.net",
        ],
        b"Subject: with transcript\n\nb\n",
    );
    assert_status(&o, 0);
    let t = std::fs::read_to_string(&transcript).unwrap();
    assert!(t.contains("C: MAIL FROM:<me@example.org>"), "{t}");
    assert!(t.contains("Subject: with transcript"), "{t}");
    // -v: the routing decision on stdout.
    let out = stdout(&o);
    assert!(out.contains("envelope sender: me@example.org"), "{out}");
}

#[test]
fn a_failed_relay_still_delivers_locally_and_reports_the_failure() {
    let port = support::free_port();
    let env = Env::with_recorder(&format!("hostname 127.0.0.1:{port}\n"));
    let o = env.sendmail(
        &["-f", "me@example.org", "bob@example.net", "alice"],
        b"Subject: s\n\nb\n",
    );
    assert_status(&o, 69);
    assert_one_line_error(&o, "127.0.0.1");
    assert_eq!(env.recorded_args(), ["me@example.org", "alice"]);
}
