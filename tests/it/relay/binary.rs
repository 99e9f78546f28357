//! The relay as a user runs it: the `esmtp` binary with an esmtprc, a
//! message on standard input, a real Exim on loopback.

use crate::support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::{Exim, EximOptions, PASSWORD, TOKEN, USER};

struct User {
    home: tempfile::TempDir,
}

impl User {
    fn new() -> User {
        User {
            home: tempfile::tempdir().unwrap(),
        }
    }

    /// A user whose esmtprc names `exim` as the smarthost and nothing else.
    fn relaying_to(exim: &Exim) -> (User, PathBuf) {
        let user = User::new();
        let rc = user.rc(&format!("hostname 127.0.0.1:{}\n", exim.port()));
        (user, rc)
    }

    fn rc(&self, text: &str) -> PathBuf {
        let path = self.home.path().join("esmtprc");
        fs::write(&path, text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    fn trust(&self, ca: &Path) {
        support::trust(self.home.path(), ca);
    }

    /// The binary with this user's home and no XDG overrides.
    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_esmtp"));
        cmd.env("HOME", self.home.path())
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_CACHE_HOME")
            .env_remove("XDG_DATA_HOME");
        cmd
    }

    fn esmtp(&self, args: &[&str], input: &[u8]) -> Output {
        support::run_with_input(self.command().args(args), input)
    }

    /// `esmtp -C RC OPTIONS -f sender@example.org RECIPIENTS` with `msg`
    /// on standard input.
    fn send(&self, rc: &Path, options: &[&str], recipients: &[&str], msg: &[u8]) -> Output {
        let mut args = vec!["-C", rc.to_str().unwrap()];
        args.extend_from_slice(options);
        args.extend(["-f", "sender@example.org"]);
        args.extend_from_slice(recipients);
        self.esmtp(&args, msg)
    }
}

const MSG: &[u8] = b"From: Sender <sender@example.org>\nTo: bob@example.net\nSubject: by the binary\nDate: Wed, 25 Nov 2026 08:00:00 +0000\nMessage-ID: <bin@example.org>\n\nfirst line\n.leading dot\nlast line\n";

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_message_from_stdin_arrives_as_sent() {
    let exim = Exim::start();
    let user = User::new();
    let rc = user.rc(&format!(
        "hostname 127.0.0.1:{}\nhelo client.test\n",
        exim.port()
    ));
    let out = user.send(&rc, &[], &["bob@example.net"], MSG);
    assert!(out.status.success(), "{}", stderr(&out));
    let got = exim.wait_for_messages(1);
    assert_eq!(got[0].return_path, "sender@example.org");
    assert_eq!(got[0].envelope_to, "bob@example.net");
    let expected = String::from_utf8_lossy(MSG).replace('\n', "\r\n");
    assert_eq!(String::from_utf8_lossy(&got[0].message), expected);
}

#[test]
fn verbose_and_transcript_as_a_user_sees_them() {
    let exim = Exim::start();
    let user = User::new();
    let rc = user.rc(&format!(
        "hostname 127.0.0.1:{}\nusername {USER}\npassword \"{PASSWORD}\"\nhelo client.test\n",
        exim.port()
    ));
    let x = user.home.path().join("transcript");
    let out = user.send(
        &rc,
        &["-v", "-X", x.to_str().unwrap()],
        &["bob@example.net"],
        MSG,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in [
        "Connected to 127.0.0.1:",
        "Authenticating as alice with CRAM-MD5",
        "From sender@example.org: 250",
        "To bob@example.net: 250",
        "Message sent: 250",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
    let t = fs::read_to_string(&x).unwrap();
    assert!(t.contains("C: AUTH CRAM-MD5"), "{t}");
    assert!(t.contains("H: Subject: by the binary"), "{t}");
    assert!(!t.contains(PASSWORD) && !t.contains("first line"), "{t}");
}

#[test]
fn a_refused_recipient_exits_67_and_says_why() {
    let exim = Exim::start();
    let (user, rc) = User::relaying_to(&exim);
    let out = user.send(&rc, &[], &["bob@example.net", "refuse@example.net"], MSG);
    assert_eq!(out.status.code(), Some(67), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("<refuse@example.net>: 550"),
        "{}",
        stderr(&out)
    );
    assert_eq!(exim.accepted(), 0);
}

#[test]
fn starttls_required_with_an_untrusted_certificate_exits_69_with_the_reason() {
    let exim = Exim::start();
    let user = User::new();
    let other = tempfile::tempdir().unwrap();
    user.trust(&support::Pki::new(other.path(), "other").ca_cert);
    let rc = user.rc(&format!(
        "hostname localhost:{}\nstarttls required\n",
        exim.port()
    ));
    let out = user.send(&rc, &[], &["bob@example.net"], MSG);
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("did not verify for the name 'localhost'"),
        "{}",
        stderr(&out)
    );
    assert!(exim.commands().is_empty());
}

#[test]
fn tls_implicit_passwordeval_and_auth_from_the_file() {
    let exim = Exim::start();
    let user = User::new();
    user.trust(exim.ca_pem());
    let rc = user.rc(&format!(
        "hostname localhost:{}\ntls implicit\nusername {USER}\npasswordeval \"echo {TOKEN}\"\nauth xoauth2\ntimeout 20\n",
        exim.tls_port()
    ));
    let out = user.send(&rc, &[], &["bob@example.net"], MSG);
    assert!(out.status.success(), "{}", stderr(&out));
    let cmds = exim.commands().join("\n");
    assert!(
        cmds.contains("auth=alice") && cmds.contains("tls=TLS"),
        "{cmds}"
    );
    exim.wait_for_messages(1);
}

#[test]
fn dsn_flags_reach_exim() {
    let exim = Exim::start();
    let (user, rc) = User::relaying_to(&exim);
    let out = user.send(
        &rc,
        &["-N", "success,failure", "-R", "full", "-V", "env-42"],
        &["bob@example.net"],
        MSG,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let cmds = exim.commands().join("\n");
    assert!(
        cmds.contains("RET=FULL") && cmds.contains("ENVID=env-42"),
        "{cmds}"
    );
    assert!(cmds.contains("NOTIFY=SUCCESS,FAILURE"), "{cmds}");
}

#[test]
fn eight_bit_content_to_a_server_without_8bitmime_warns() {
    let exim = Exim::with(EximOptions {
        eight_bit_mime: false,
        ..Default::default()
    });
    let (user, rc) = User::relaying_to(&exim);
    let msg = "Subject: 8 bit\n\nGrüße\n".as_bytes();
    let out = user.send(&rc, &[], &["bob@example.net"], msg);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("does not offer 8BITMIME"),
        "{}",
        stderr(&out)
    );
    let got = exim.wait_for_messages(1);
    assert!(got[0].message.ends_with("Grüße\r\n".as_bytes()));
}

impl User {
    /// Like [`User::send`], with standard input opened on a file holding
    /// `msg` (as mutt runs sendmail), and `env` added.
    fn send_file(
        &self,
        rc: &Path,
        options: &[&str],
        env: &[(&str, &Path)],
        recipients: &[&str],
        msg: &[u8],
    ) -> Output {
        let path = self.home.path().join("message.eml");
        fs::write(&path, msg).unwrap();
        let mut cmd = self.command();
        cmd.args(["-C", rc.to_str().unwrap()])
            .args(options)
            .args(recipients)
            .stdin(fs::File::open(&path).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }
}

const SENDER: &[&str] = &["-f", "sender@example.org"];

/// A message well over the spool's memory limit: LF line ends, lines that
/// start with a dot, 8-bit text, no final line end.
fn large_message() -> Vec<u8> {
    let mut msg = b"From: Sender <sender@example.org>\nTo: bob@example.net\nSubject: large\nDate: Wed, 25 Nov 2026 08:00:00 +0000\nMessage-ID: <large@example.org>\n\n".to_vec();
    for i in 0..12_000 {
        match i % 3 {
            0 => msg.extend_from_slice(format!(".{i} a line that starts with a dot\n").as_bytes()),
            1 => msg.extend_from_slice(format!("{i} Grüße aus Köln, with 8-bit text\n").as_bytes()),
            _ => msg.extend_from_slice(format!("{i} CRLF here\r\n").as_bytes()),
        }
    }
    msg.extend_from_slice(b"the end, without a line end");
    msg
}

/// What the server must store for `msg`: CRLF line ends and a final one.
fn as_received(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, &b) in msg.iter().enumerate() {
        if b == b'\n' && (i == 0 || msg[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[test]
fn a_large_message_from_a_file_is_sent_as_it_is_read_and_arrives_as_from_a_pipe() {
    let exim = Exim::start();
    let (user, rc) = User::relaying_to(&exim);
    let msg = large_message();
    assert!(msg.len() > 300 * 1024, "{}", msg.len());
    // Through a pipe: spooled to a temporary file first.
    let piped = user.send(&rc, &[], &["bob@example.net"], &msg);
    assert!(piped.status.success(), "{}", stderr(&piped));
    // From a file: read while it is sent, no temporary file needed (an
    // unusable TMPDIR would make the spool fail).
    let no_tmp = user.home.path().join("no-such-dir");
    let filed = user.send_file(
        &rc,
        SENDER,
        &[("TMPDIR", &no_tmp)],
        &["bob@example.net"],
        &msg,
    );
    assert!(filed.status.success(), "{}", stderr(&filed));
    let got = exim.wait_for_messages(2);
    let expected = as_received(&msg);
    assert!(got[0].message == expected, "the piped message differs");
    assert!(got[1].message == expected, "the streamed message differs");
    // Both declared 8-bit content; the streamed one could only declare the
    // size it saw in the file (before LF became CRLF).
    let cmds = exim.commands();
    let mails: Vec<&String> = cmds.iter().filter(|c| c.starts_with("MAIL")).collect();
    assert_eq!(mails.len(), 2, "{cmds:?}");
    assert!(
        mails.iter().all(|m| m.contains("BODY=8BITMIME")),
        "{mails:?}"
    );
    let size = |m: &str| -> usize {
        let v = m.split("SIZE=").nth(1).expect("SIZE=");
        v.split(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(size(mails[0]), expected.len(), "{mails:?}");
    let streamed = size(mails[1]);
    assert!(
        msg.len() <= streamed && streamed < expected.len(),
        "{mails:?}"
    );
}

#[test]
fn a_nul_byte_deep_in_a_large_file_drops_the_transfer_and_nothing_arrives() {
    let exim = Exim::start();
    let (user, rc) = User::relaying_to(&exim);
    let mut msg = large_message();
    let at = msg.len() - 1000;
    msg[at] = 0;
    let out = user.send_file(&rc, SENDER, &[], &["bob@example.net"], &msg);
    assert_eq!(out.status.code(), Some(65), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("NUL byte"), "{err}");
    assert!(err.contains("delivers nothing"), "{err}");
    // The transfer was under way (MAIL went out), and Exim took nothing.
    assert_eq!(exim.commands().len(), 2, "{:?}", exim.commands());
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(exim.accepted(), 0, "{}", exim.log());
    assert!(exim.messages().is_empty());
}

#[test]
fn a_large_file_over_the_servers_size_is_refused_before_data() {
    let exim = Exim::with(EximOptions {
        size_limit: 200_000,
        ..Default::default()
    });
    let (user, rc) = User::relaying_to(&exim);
    let out = user.send_file(&rc, SENDER, &[], &["bob@example.net"], &large_message());
    assert_eq!(out.status.code(), Some(70), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("accepts at most 200000"),
        "{}",
        stderr(&out)
    );
    assert!(exim.commands().is_empty(), "{:?}", exim.commands());
}

#[test]
fn a_large_file_with_t_loses_its_bcc_and_its_headers_reach_the_transcript() {
    let exim = Exim::start();
    let (user, rc) = User::relaying_to(&exim);
    let body = large_message();
    let split = body.windows(2).position(|w| w == b"\n\n").unwrap() + 2;
    let mut msg = b"From: Sender <sender@example.org>\nTo: bob@example.net\nBcc: carol@example.net\nSubject: large with -t\n\n".to_vec();
    msg.extend_from_slice(&body[split..]);
    let x = user.home.path().join("transcript");
    let out = user.send_file(&rc, &["-t", "-X", x.to_str().unwrap()], &[], &[], &msg);
    assert!(out.status.success(), "{}", stderr(&out));
    let got = exim.wait_for_messages(2);
    let mut to: Vec<&str> = got.iter().map(|m| m.envelope_to.as_str()).collect();
    to.sort();
    assert_eq!(to, ["bob@example.net", "carol@example.net"]);
    for m in &got {
        let text = String::from_utf8_lossy(&m.message);
        assert!(
            !text.contains("Bcc:") && !text.contains("carol"),
            "Bcc kept"
        );
        assert!(text.contains("Subject: large with -t\r\n"));
        assert!(m.message.ends_with(b"the end, without a line end\r\n"));
    }
    assert!(exim.commands().iter().any(|c| c.contains("BODY=8BITMIME")));
    let t = fs::read_to_string(&x).unwrap();
    assert!(t.contains("H: Subject: large with -t"), "{t}");
    assert!(!t.contains("Bcc") && !t.contains("Köln"), "{t}");
}
