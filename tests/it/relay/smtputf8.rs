//! International addresses (issue 17 §5: SMTPUTF8, RFC 6531; IDNA): the
//! built binary against the real Exim on loopback, with and without
//! `smtputf8_advertise_hosts`. What Exim logged of MAIL and RCPT (its
//! `logwrite` of each command as received) and what it delivered
//! (Return-path, Envelope-to, the headers) are the evidence.

use crate::support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::{free_port as closed_port, Exim, EximOptions};

const BIN: &str = env!("CARGO_BIN_EXE_esmtp");

/// `bücher.example` as A-labels (computed by hand from RFC 3492's
/// algorithm, and by every IDNA library).
const BUCHER_A: &str = "xn--bcher-kva.example";
/// `例え.テスト` (IDNA's own test domain) as A-labels.
const REIE_A: &str = "xn--r8jz45g.xn--zckzah";

struct User {
    dir: tempfile::TempDir,
}

impl User {
    fn new() -> User {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("home")).unwrap();
        User { dir }
    }

    fn rc(&self, text: &str) -> PathBuf {
        let path = self.dir.path().join("esmtprc");
        fs::write(&path, text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env("HOME", self.dir.path().join("home"))
            .env("XDG_CACHE_HOME", self.dir.path().join("cache"))
            .env("XDG_DATA_HOME", self.dir.path().join("data"))
            .env_remove("ESMTPRC");
        c
    }

    /// `esmtp -C RC ARGS` with `message` on stdin.
    fn send(&self, rc: &Path, args: &[&str], message: &str) -> Output {
        support::run_with_input(self.cmd().arg("-C").arg(rc).args(args), message.as_bytes())
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn exim(smtputf8: bool) -> Exim {
    Exim::with(EximOptions {
        smtputf8,
        starttls: false,
        auth: false,
        ..EximOptions::default()
    })
}

fn relay_rc(user: &User, identity: &str, port: u16, extra: &str) -> PathBuf {
    user.rc(&format!(
        "identity \"{identity}\"\nhostname 127.0.0.1:{port}\ntimeout 10\n{extra}"
    ))
}

const SIMPLE: &str = "Subject: hello\nDate: Wed, 25 Nov 2026 08:00:00 +0000\n\nbody\n";

/// The MAIL and RCPT commands Exim received, as it received them: its log
/// writes every byte outside ASCII as an octal escape (`\303\266`).
fn commands(exim: &Exim) -> Vec<String> {
    exim.commands()
        .iter()
        .map(|line| {
            let b = line.as_bytes();
            let mut out = Vec::with_capacity(b.len());
            let mut i = 0;
            while i < b.len() {
                let octal = b
                    .get(i + 1..i + 4)
                    .filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
                match octal {
                    Some(d) => {
                        out.push(d.iter().fold(0u8, |n, c| n.wrapping_mul(8) + (c - b'0')));
                        i += 4;
                    }
                    None => {
                        out.push(b[i]);
                        i += 1;
                    }
                }
            }
            text(&out)
        })
        .collect()
}

/// The status, stderr and what Exim received and logged.
fn describe(out: &Output, exim: &Exim) -> String {
    format!(
        "status {:?}\nstderr: {}\nexim commands: {:?}\nlog:\n{}",
        out.status.code(),
        text(&out.stderr),
        commands(exim),
        exim.log()
    )
}

/// Exim with or without SMTPUTF8 and one message sent to it through
/// `identity` with `args`, successfully: Exim and the commands it logged.
fn sent(smtputf8: bool, identity: &str, args: &[&str]) -> (Exim, Vec<String>) {
    let exim = exim(smtputf8);
    let user = User::new();
    let rc = relay_rc(&user, identity, exim.port(), "");
    let out = user.send(&rc, args, SIMPLE);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out, &exim));
    let seen = commands(&exim);
    (exim, seen)
}

#[test]
fn with_smtputf8_utf8_addresses_go_as_they_are() {
    let (exim, seen) = sent(
        true,
        "jörg@bücher.example",
        &[
            "-f",
            "jörg@bücher.example",
            "ана@пример.испытание",
            "bob@例え.テスト",
        ],
    );
    assert!(
        seen[0].starts_with("MAIL MAIL FROM:<jörg@bücher.example>")
            && seen[0].contains(" SMTPUTF8"),
        "{seen:?}"
    );
    assert!(
        seen.contains(&"RCPT RCPT TO:<ана@пример.испытание>".to_string())
            && seen.contains(&"RCPT RCPT TO:<bob@例え.テスト>".to_string()),
        "{seen:?}"
    );
    let got = exim.wait_for_messages(2);
    let mut to: Vec<&str> = got.iter().map(|m| m.envelope_to.as_str()).collect();
    to.sort();
    assert_eq!(to, ["bob@例え.テスト", "ана@пример.испытание"]);
    for m in &got {
        assert_eq!(m.return_path, "jörg@bücher.example");
        // The From: esmtp adds: the local part is not ASCII, so the address
        // stays UTF-8 (RFC 6532), which SMTPUTF8 carries.
        let headers = m.headers();
        assert!(
            headers.contains("From: jörg@bücher.example\r\n"),
            "{headers}"
        );
        // Exim names the protocol of an SMTPUTF8 transaction utf8esmtp
        // (RFC 6531's UTF8ESMTP) in its Received: header.
        assert!(
            text(&m.raw).contains(" with utf8esmtp "),
            "{}",
            text(&m.raw)
        );
    }
}

#[test]
fn with_smtputf8_ascii_mail_does_not_ask_for_it() {
    let exim = exim(true);
    let user = User::new();
    let rc = relay_rc(&user, "sender@example.org", exim.port(), "");
    let out = user.send(
        &rc,
        &["-f", "sender@example.org", "bob@example.net"],
        SIMPLE,
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out, &exim));
    let seen = commands(&exim);
    assert!(!seen[0].contains("SMTPUTF8"), "{seen:?}");
    // UTF-8 in a header (RFC 6532) asks for it, when offered.
    let out = user.send(
        &rc,
        &["-f", "sender@example.org", "bob@example.net"],
        "Subject: Grüße\n\nbody\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out, &exim));
    let seen = commands(&exim);
    assert!(
        seen[2].starts_with("MAIL MAIL FROM:<sender@example.org>") && seen[2].contains(" SMTPUTF8"),
        "{seen:?}"
    );
    let got = exim.wait_for_messages(2);
    assert!(got
        .iter()
        .any(|m| m.headers().contains("Subject: Grüße\r\n")));
}

#[test]
fn without_smtputf8_domains_go_as_a_labels() {
    let (exim, seen) = sent(
        false,
        "user@bücher.example",
        &[
            "-f",
            "user@bücher.example",
            "bob@例え.テスト",
            "carol@example.net",
        ],
    );
    assert_eq!(seen.len(), 3, "one MAIL, two RCPT expected: {seen:?}");
    assert!(
        seen[0].starts_with(&format!("MAIL MAIL FROM:<user@{BUCHER_A}>"))
            && !seen[0].contains("SMTPUTF8"),
        "{seen:?}"
    );
    assert!(
        seen.contains(&format!("RCPT RCPT TO:<bob@{REIE_A}>")),
        "{seen:?}"
    );
    let got = exim.wait_for_messages(2);
    for m in &got {
        assert_eq!(m.return_path, format!("user@{BUCHER_A}"));
        // The From: esmtp adds carries the A-label too.
        let headers = m.headers();
        assert!(
            headers.contains(&format!("From: user@{BUCHER_A}\r\n")),
            "{headers}"
        );
        assert!(text(&m.raw).contains(" with esmtp "), "{}", text(&m.raw));
    }
}

#[test]
fn without_smtputf8_a_utf8_local_part_fails_before_mail() {
    let exim = exim(false);
    let user = User::new();
    let rc = relay_rc(&user, "sender@example.org", exim.port(), "");
    for (args, named) in [
        (
            vec![
                "-f",
                "sender@example.org",
                "bob@example.net",
                "jörg@bücher.example",
            ],
            "<jörg@bücher.example>",
        ),
        (
            vec!["-f", "josé@example.org", "bob@example.net"],
            "<josé@example.org>",
        ),
    ] {
        let out = user.send(&rc, &args, SIMPLE);
        assert_eq!(out.status.code(), Some(65), "{}", describe(&out, &exim));
        let err = text(&out.stderr);
        assert!(
            err.contains("does not offer SMTPUTF8") && err.contains(named),
            "{err}"
        );
    }
    // The sessions reached EHLO and ended without a MAIL command.
    assert!(commands(&exim).is_empty(), "{}", exim.log());
    assert_eq!(exim.accepted(), 0);
    // Logged as each connection is accepted, before the greeting.
    let connections = exim.log().matches("(TCP/IP connection count").count();
    assert_eq!(connections, 2, "{}", exim.log());
}

/// A From: header esmtp adds holds the `-f` address; `force reverse_path`
/// keeps the envelope ASCII. The header's local part is not ASCII, so the
/// message needs SMTPUTF8 all the same.
#[test]
fn an_added_header_with_a_utf8_local_part_needs_smtputf8() {
    let without = exim(false);
    let with = exim(true);
    let user = User::new();
    for (exim, status) in [(&without, 65), (&with, 0)] {
        let rc = relay_rc(
            &user,
            "josé@example.org",
            exim.port(),
            "force reverse_path bounces@example.org\n",
        );
        let out = user.send(&rc, &["-f", "josé@example.org", "bob@example.net"], SIMPLE);
        assert_eq!(out.status.code(), Some(status), "{}", describe(&out, exim));
        if status == 65 {
            let err = text(&out.stderr);
            assert!(
                err.contains("does not offer SMTPUTF8")
                    && err.contains("From:/Sender:")
                    && err.contains("josé@example.org"),
                "{err}"
            );
            assert!(commands(exim).is_empty(), "{}", exim.log());
        } else {
            let got = exim.wait_for_messages(1);
            assert_eq!(got[0].return_path, "bounces@example.org");
            assert!(
                got[0].headers().contains("From: josé@example.org\r\n"),
                "{}",
                got[0].headers()
            );
            assert!(
                commands(exim)[0].contains(" SMTPUTF8"),
                "{:?}",
                commands(exim)
            );
        }
    }
}

/// `-f` selects an identity written in the other form of its domain, both
/// ways, and the message goes through that identity's smarthost.
#[test]
fn identities_match_either_form_of_a_domain() {
    let exim = exim(false);
    let user = User::new();
    let dead = closed_port();
    for (written, given) in [
        (
            format!("user@{BUCHER_A}"),
            "user@bücher.example".to_string(),
        ),
        (
            "user@bücher.example".to_string(),
            "user@XN--BCHER-KVA.example".to_string(),
        ),
        (
            "user@Bücher.Example".to_string(),
            "user@BÜCHER.example".to_string(),
        ),
    ] {
        // The default identity (the first statement) goes nowhere.
        let rc = user.rc(&format!(
            "hostname 127.0.0.1:{dead}\ntimeout 5\n\
             identity \"{written}\"\nhostname 127.0.0.1:{}\ntimeout 10\n",
            exim.port()
        ));
        let route = user.run(&[
            "route",
            "-C",
            rc.to_str().unwrap(),
            "-f",
            &given,
            "bob@example.net",
        ]);
        let shown = text(&route.stdout);
        assert!(
            shown.starts_with(&format!("identity: {written} (selected by the -f address)")),
            "{written} / {given}: {shown}{}",
            text(&route.stderr)
        );
        let out = user.send(&rc, &["-f", &given, "bob@example.net"], SIMPLE);
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out, &exim));
    }
    assert_eq!(exim.wait_for_messages(3).len(), 3);
    assert!(
        commands(&exim)
            .iter()
            .filter(|c| c.starts_with("MAIL"))
            .all(|c| c
                .to_ascii_lowercase()
                .starts_with(&format!("mail mail from:<user@{BUCHER_A}>"))),
        "{:?}",
        commands(&exim)
    );
}

/// `-t` with RFC 6532 headers and RFC 2047 display names: the envelope is
/// taken from the addresses, not from what an encoded name decodes to;
/// the identity is selected by the From: address in its other form; Bcc:
/// goes, the rest arrives byte for byte.
#[test]
fn extract_from_utf8_headers() {
    let exim = exim(true);
    let user = User::new();
    let rc = relay_rc(&user, &format!("jörg@{BUCHER_A}"), exim.port(), "");
    // "eve@evil.example, <x>" and "René <rene@evil.example>" as encoded words.
    let message = "From: \"Müller, Jörg\" <jörg@bücher.example>\n\
                   To: =?UTF-8?B?ZXZlQGV2aWwuZXhhbXBsZSwgPHg+?= <ана@пример.испытание>\n\
                   Cc: =?UTF-8?Q?Ren=C3=A9_<rene@evil.example>?= <rené@example.org>\n\
                   Bcc: 用户@例子.广告\n\
                   Subject: Grüße aus Köln\n\
                   Date: Wed, 25 Nov 2026 08:00:00 +0000\n\
                   Message-ID: <utf8-t@bücher.example>\n\n\
                   Grüße\n";
    let out = user.send(&rc, &["-t"], message);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out, &exim));
    let got = exim.wait_for_messages(3);
    let mut to: Vec<&str> = got.iter().map(|m| m.envelope_to.as_str()).collect();
    to.sort();
    assert_eq!(
        to,
        ["rené@example.org", "ана@пример.испытание", "用户@例子.广告"]
    );
    let expected = message
        .replace("Bcc: 用户@例子.广告\n", "")
        .replace('\n', "\r\n");
    for m in &got {
        assert_eq!(m.return_path, "jörg@bücher.example");
        assert_eq!(text(&m.message), expected);
    }
    assert!(
        commands(&exim)[0].contains(" SMTPUTF8"),
        "{:?}",
        commands(&exim)
    );
}

#[test]
fn invalid_idna_on_the_command_line_is_a_usage_error() {
    let user = User::new();
    // Nothing listens: a usage error is found before connecting.
    let rc = user.rc(&format!("hostname 127.0.0.1:{}\n", closed_port()));
    for args in [
        vec!["-f", "user@-bücher.example", "bob@example.net"],
        vec!["-f", "user@example.org", "bob@bücher-.example"],
        vec!["-f", "user@example.org", "bob@bü\u{2028}cher.example"],
    ] {
        let out = user.send(&rc, &args, SIMPLE);
        assert_eq!(
            out.status.code(),
            Some(64),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let err = text(&out.stderr);
        assert!(
            err.contains("IDNA") || err.contains("U+2028"),
            "{args:?}: {err}"
        );
    }
    // In a header with -t, the message is at fault: 65.
    let out = user.send(&rc, &["-t"], "To: bob@ü_ü-.example\nSubject: x\n\nbody\n");
    assert_eq!(out.status.code(), Some(65), "{}", text(&out.stderr));
}

#[test]
fn invalid_idna_in_the_configuration() {
    let user = User::new();
    let rc = user.rc(&format!(
        "identity \"user@-bücher.example\"\nhostname 127.0.0.1:{}\n\
         identity ok@example.org\nforce sender \"x@ü\u{2028}.example\"\n",
        closed_port()
    ));
    let check = user.run(&["check", rc.to_str().unwrap()]);
    let shown = text(&check.stdout) + &text(&check.stderr);
    assert!(!check.status.success(), "{shown}");
    assert!(
        shown.contains("E060") && shown.contains("-bücher.example"),
        "{shown}"
    );
    assert!(shown.contains(":1:"), "the span names line 1: {shown}");
    assert!(shown.contains("E061"), "{shown}");
    let out = user.send(&rc, &["-f", "ok@example.org", "bob@example.net"], SIMPLE);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out.stderr));
    // In the aliases file: the address and its place in that file.
    let aliases = user.dir.path().join("aliases");
    fs::write(
        &aliases,
        "root: admin@bücher.example
ops: ops@-bücher.example
",
    )
    .unwrap();
    let rc = user.rc(&format!(
        "aliases {}
",
        aliases.display()
    ));
    let check = user.run(&["check", rc.to_str().unwrap()]);
    let shown = text(&check.stdout) + &text(&check.stderr);
    assert!(!check.status.success(), "{shown}");
    assert!(
        shown.contains("E025")
            && shown.contains("ops@-bücher.example")
            && shown.contains("ASCII form"),
        "{shown}"
    );
    assert!(!shown.contains("admin@bücher.example"), "{shown}");
}

/// With the queue on, the server's extensions are known only at delivery:
/// a UTF-8 local part for a server without SMTPUTF8 is a permanent failure
/// like a refused recipient: reported at once when the user is there, kept
/// in failed/ (or returned through the MDA) when a later flush finds it.
#[test]
fn queued_mail_that_needs_smtputf8_fails_for_good() {
    let exim = exim(false);
    let user = User::new();
    let spool = user.dir.path().join("spool");
    let queued = |port: u16| {
        format!(
            "identity sender@example.org\nhostname 127.0.0.1:{port}\ntimeout 10\n\
             queue enabled\nqueue_dir {}\n",
            spool.display()
        )
    };
    // Delivered at once: the failure is the user's to see (65), nothing kept.
    let rc = user.rc(&queued(exim.port()));
    let args = ["-f", "sender@example.org", "jörg@example.net"];
    let out = user.send(&rc, &args, SIMPLE);
    assert_eq!(out.status.code(), Some(65), "{}", describe(&out, &exim));
    assert!(text(&out.stderr).contains("does not offer SMTPUTF8"));
    // Queued while the server is away, then flushed to it: failed/.
    let rc = user.rc(&queued(closed_port()));
    let out = user.send(&rc, &args, SIMPLE);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let rc = user.rc(&queued(exim.port()));
    let flush = user.run(&["queue", "flush", "-C", rc.to_str().unwrap()]);
    let shown = text(&flush.stdout) + &text(&flush.stderr);
    assert!(
        shown.contains("1 message could not be delivered") && shown.contains("SMTPUTF8"),
        "{shown}"
    );
    let failed: Vec<_> = fs::read_dir(spool.join("failed"))
        .map(|d| d.filter_map(|e| e.ok()).collect())
        .unwrap_or_default();
    assert!(!failed.is_empty(), "nothing in failed/: {shown}");
    assert!(commands(&exim).is_empty(), "{}", exim.log());
}
