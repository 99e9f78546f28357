//! `esmtp import msmtp`: realistic msmtprc files converted by the built
//! binary, the output checked by `esmtp check`, kept as snapshots, and one
//! used to send through a server on loopback.

use crate::support;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use support::hostile::{b64_decode, converse, usual};
use support::FakeServer;

/// Run the binary in `dir` with HOME there.
fn esmtp(dir: &Path, args: &[&str]) -> Output {
    esmtp_with(dir, args, Stdio::null())
}

/// [`esmtp`] with this standard input.
fn esmtp_with(dir: &Path, args: &[&str], stdin: Stdio) -> Output {
    Command::new(env!("CARGO_BIN_EXE_esmtp"))
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env_remove("XDG_CONFIG_HOME")
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .stdin(stdin)
        .output()
        .expect("run esmtp")
}

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path("../../../snapshots");
    s.set_prepend_module_to_snapshot(false);
    s
}

/// Convert `msmtprc` (written as `dir/msmtprc`, named relatively so the
/// output is the same in every run), check the result with `esmtp check`
/// and return it.
fn convert_and_check(dir: &Path, msmtprc: &[u8]) -> String {
    fs::write(dir.join("msmtprc"), msmtprc).unwrap();
    let out = esmtp(dir, &["import", "msmtp", "msmtprc"]);
    assert_eq!(out.status.code(), Some(0), "{}", support::describe(&out));
    assert!(out.stderr.is_empty(), "{}", support::describe(&out));
    let rc = dir.join("esmtprc");
    fs::write(&rc, &out.stdout).unwrap();
    fs::set_permissions(&rc, fs::Permissions::from_mode(0o600)).unwrap();
    let check = esmtp(dir, &["check", "esmtprc"]);
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        support::describe(&check)
    );
    let report = String::from_utf8_lossy(&check.stdout).into_owned()
        + &String::from_utf8_lossy(&check.stderr);
    assert!(!report.contains("error["), "{report}");
    String::from_utf8(out.stdout).expect("the output is text")
}

/// No comment line of `text` holds `secret`.
fn no_secret_in_comments(text: &str, secret: &str) {
    for line in text.lines().filter(|l| l.starts_with('#')) {
        assert!(!line.contains(secret), "a secret in a comment: {line}");
    }
}

const GMAIL: &str = "\
# Set default values for all following accounts.
defaults
auth           on
tls            on
tls_trust_file /etc/ssl/certs/ca-certificates.crt
logfile        ~/.msmtp.log

# Gmail
account        gmail
host           smtp.gmail.com
port           587
from           jane.doe@gmail.com
user           jane.doe@gmail.com
passwordeval   \"gpg --quiet --for-your-eyes-only --no-tty --decrypt ~/.msmtp-gmail.gpg\"

# Set a default account
account default : gmail
";

#[test]
fn gmail_with_passwordeval() {
    let _guard = settings().bind_to_scope();
    let dir = tempfile::tempdir().unwrap();
    let out = convert_and_check(dir.path(), GMAIL.as_bytes());
    assert!(out.contains("identity jane.doe@gmail.com\n"), "{out}");
    assert!(out.contains("hostname smtp.gmail.com:587\n"), "{out}");
    assert!(out.contains("starttls required\n"), "{out}");
    assert!(out.contains("passwordeval \"gpg --quiet"), "{out}");
    assert!(out.trim_end().ends_with("default"), "{out}");
    insta::assert_snapshot!("import-msmtp-gmail", out);
}

const INHERIT: &str = "\
defaults
port 587
tls on
tls_starttls on
auth plain
timeout 30
domain laptop.example.org

account work
host mail.example.com
from jane@example.com
user jane
password \"s3cret-work\"

# The home server speaks TLS from the first byte.
account home : work
host smtp.home.example.net
port 465
tls_starttls off
from jane@home.example.net
user 12345
password s3cret-home

account default : home
";

#[test]
fn defaults_and_inheritance_and_the_default_account() {
    let _guard = settings().bind_to_scope();
    let dir = tempfile::tempdir().unwrap();
    let out = convert_and_check(dir.path(), INHERIT.as_bytes());
    let home = out
        .split("identity jane@home.example.net\n")
        .nth(1)
        .expect(&out);
    for want in [
        "starttls implicit\n",
        "auth plain\n",
        "timeout 30\n",
        "helo \"laptop.example.org\"\n",
        "hostname smtp.home.example.net:465\n",
        "username \"12345\"\n",
        "password \"s3cret-home\"\n",
        "default\n",
    ] {
        assert!(home.contains(want), "{want} missing from {home}");
    }
    let work = out.split("identity jane@example.com\n").nth(1).expect(&out);
    let work = work.split("identity").next().unwrap_or_default();
    assert!(
        work.contains("starttls required\n") && !work.contains("default\n"),
        "{work}"
    );
    assert!(work.contains("hostname mail.example.com:587\n"), "{work}");
    insta::assert_snapshot!("import-msmtp-inherit", out);
}

const TLS_OFF: &str = "\
account lan
host 192.168.1.2
from printer@lan.example
tls off
auth login
user printer
password \"pr1nt\"
account default : lan
";

#[test]
fn tls_off_says_starttls_disabled_and_port_25() {
    let _guard = settings().bind_to_scope();
    let dir = tempfile::tempdir().unwrap();
    let out = convert_and_check(dir.path(), TLS_OFF.as_bytes());
    assert!(
        out.contains("hostname 192.168.1.2:25\nstarttls disabled\nauth login\n"),
        "{out}"
    );
    insta::assert_snapshot!("import-msmtp-tls-off", out);
}

const UNSUPPORTED: &str = "\
defaults
aliases /nonexistent/aliases
syslog LOG_MAIL
dsn_notify failure,delay
dsn_return headers
tls_fingerprint 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33
tls_cert_file ~/.certs/me.pem
tls_key_file ~/.certs/me.key
eval echo password ev4l-secret
account catchall
host relay.example.org
from *@example.org
auth scram-sha-256
user me
password c4tch-secret
account other
host relay2.example.org
from %U@example.org
auth gssapi
password 0ther-secret
account default : catchall
";

#[test]
fn unsupported_settings_become_comments_without_secrets() {
    let _guard = settings().bind_to_scope();
    let dir = tempfile::tempdir().unwrap();
    let out = convert_and_check(dir.path(), UNSUPPORTED.as_bytes());
    for what in [
        "# msmtp `aliases /nonexistent/aliases`: not converted: cannot read the aliases file",
        "\nsyslog LOG_MAIL\n",
        "# msmtp `dsn_notify failure,delay`",
        "# msmtp `tls_fingerprint 00:11:22",
        "a SHA-1 fingerprint, too weak for esmtp",
        "\ntls_cert_file \"~/.certs/me.pem\"\n",
        "\ntls_key_file \"~/.certs/me.key\"\n",
        "# msmtp `from *@example.org`",
        "\nauth scram-sha-256\n",
        "msmtp `auth gssapi` (line 19): esmtp does not know this mechanism",
        "# not converted:",
    ] {
        assert!(out.contains(what), "{what} missing from {out}");
    }
    for secret in ["ev4l-secret", "0ther-secret", "c4tch-secret"] {
        no_secret_in_comments(&out, secret);
    }
    // The default account's wildcard `from` makes it the unnamed section,
    // which holds its password as a statement.
    assert!(out.contains("\npassword \"c4tch-secret\"\n"), "{out}");
    assert!(
        !out.contains("ev4l-secret") && !out.contains("0ther-secret"),
        "{out}"
    );
    insta::assert_snapshot!("import-msmtp-unsupported", out);
}

/// A password with every character esmtprc quoting cares about.
const TRICKY: &[u8] = b"p@ss w\\\"ord#1 'q' \\x41;a=b:c,d \xc3\xbc";

#[test]
fn converted_file_sends_with_the_right_user_password_and_sender() {
    let server = FakeServer::start(|r, _w| {
        let mut auth = Vec::new();
        let ehlo = "250-fake.test\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n";
        let seen = converse(r, b"220 fake.test ESMTP\r\n", |l: &str| {
            let upper = l.to_ascii_uppercase();
            if let Some(rest) = upper.strip_prefix("AUTH PLAIN ") {
                let at = l.len() - rest.len();
                auth = b64_decode(l[at..].trim_end());
                b"235 2.7.0 ok\r\n".to_vec()
            } else {
                usual(ehlo)(l)
            }
        });
        let mut out = auth;
        out.extend_from_slice(b"\n--\n");
        out.extend_from_slice(&seen.into_bytes());
        out
    });
    let dir = tempfile::tempdir().unwrap();
    let mut msmtprc = format!(
        "defaults\ntimeout 20\naccount loop\nhost 127.0.0.1\nport {}\nfrom alice@example.org\nauth plain\nuser al ice\npassword \"",
        server.port
    )
    .into_bytes();
    msmtprc.extend_from_slice(TRICKY);
    msmtprc.extend_from_slice(b"\"\naccount default : loop\n");
    let out = convert_and_check(dir.path(), &msmtprc);
    let msg = dir.path().join("msg");
    fs::write(&msg, b"From: alice@example.org\nSubject: hi\n\nbody\n").unwrap();
    let send = esmtp_with(
        dir.path(),
        &[
            "-C",
            "esmtprc",
            "-f",
            "alice@example.org",
            "bob@example.net",
        ],
        fs::File::open(&msg).unwrap().into(),
    );
    assert_eq!(
        send.status.code(),
        Some(0),
        "{}\n{out}",
        support::describe(&send)
    );
    let got = server.join();
    let split = got.windows(4).position(|w| w == b"\n--\n").expect("marker");
    let mut want = b"\0al ice\0".to_vec();
    want.extend_from_slice(TRICKY);
    assert_eq!(
        got[..split].to_vec(),
        want,
        "AUTH PLAIN carried other bytes"
    );
    let dialogue = String::from_utf8_lossy(&got[split..]);
    assert!(
        dialogue.contains("MAIL FROM:<alice@example.org>"),
        "{dialogue}"
    );
    assert!(dialogue.contains("RCPT TO:<bob@example.net>"), "{dialogue}");
    assert!(!String::from_utf8_lossy(&send.stderr).contains("ord#1"));
}

#[test]
fn missing_file_is_66_and_bad_syntax_is_65_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = esmtp(dir.path(), &["import", "msmtp", "nonexistent"]);
    assert_eq!(
        missing.status.code(),
        Some(66),
        "{}",
        support::describe(&missing)
    );
    assert!(missing.stdout.is_empty());
    // A directory and a FIFO (which would block a reader) are refused.
    let dir_arg = esmtp(dir.path(), &["import", "msmtp", "."]);
    assert_eq!(
        dir_arg.status.code(),
        Some(66),
        "{}",
        support::describe(&dir_arg)
    );
    let fifo = dir.path().join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let out = esmtp(dir.path(), &["import", "msmtp", "fifo"]);
    assert_eq!(out.status.code(), Some(66), "{}", support::describe(&out));
    // No file given and no msmtprc at msmtp's places: 66 too.
    let none = esmtp(dir.path(), &["import", "msmtp"]);
    assert_eq!(none.status.code(), Some(66), "{}", support::describe(&none));
    assert!(String::from_utf8_lossy(&none.stderr).contains(".msmtprc"));

    let cases: &[(&str, &str)] = &[
        ("account a\nhost h\nhunter2-secret\n", "msmtprc:3:"),
        ("password hunter2-secret\n", "msmtprc:1:"),
        ("account a\nhost h\ntls hunter2-secret\n", "msmtprc:3:"),
        ("account a\nport hunter2-secret\n", "msmtprc:2:"),
        (
            "account b : nosuch\npassword hunter2-secret\n",
            "msmtprc:1:",
        ),
        (
            "account a\naccount a\npassword hunter2-secret\n",
            "msmtprc:2:",
        ),
    ];
    for (src, at) in cases {
        fs::write(dir.path().join("msmtprc"), src).unwrap();
        let out = esmtp(dir.path(), &["import", "msmtp", "msmtprc"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(65),
            "{src:?}: {}",
            support::describe(&out)
        );
        assert!(err.contains(at), "{src:?}: {err}");
        assert!(
            !err.contains("hunter2"),
            "{src:?}: a secret in the message: {err}"
        );
        assert!(out.stdout.is_empty(), "{src:?}");
    }
}

#[test]
fn default_file_is_found_where_msmtp_looks() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(".msmtprc"), TLS_OFF).unwrap();
    let out = esmtp(dir.path(), &["import", "msmtp"]);
    assert_eq!(out.status.code(), Some(0), "{}", support::describe(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("identity printer@lan.example"));
    let xdg = dir.path().join("xdg");
    fs::create_dir_all(xdg.join("msmtp")).unwrap();
    fs::write(xdg.join("msmtp/config"), GMAIL).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_esmtp"))
        .args(["import", "msmtp"])
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", &xdg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", support::describe(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("identity jane.doe@gmail.com"));
}

/// msmtp's TLS file settings carry over where esmtprc can say the same:
/// a SHA-256 pin, absolute and ~/ paths; `system` is esmtp's default; a
/// relative path (esmtp runs from any directory) becomes a comment.
#[test]
fn tls_settings_carry_over_where_esmtprc_can_say_them() {
    let dir = tempfile::tempdir().unwrap();
    let pin = (0..32)
        .map(|i| format!("{i:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    let rc = format!(
        "account home\nhost mail.home.example\nfrom me@home.example\ntls on\n\
         tls_fingerprint {pin}\ntls_trust_file certs/ca.pem\n\
         account work\nhost smtp.work.example\nfrom me@work.example\ntls on\n\
         tls_trust_file system\ntls_cert_file /etc/ssl/me.pem\n"
    );
    let out = convert_and_check(dir.path(), rc.as_bytes());
    assert!(!out.contains("\naliases "), "{out}");
    assert!(
        out.contains(&format!("\ntls_fingerprint \"{pin}\"\n")),
        "{out}"
    );
    assert!(
        out.contains(
            "# msmtp `tls_trust_file certs/ca.pem` (line 6): esmtp needs an absolute or ~/ path"
        ),
        "{out}"
    );
    assert!(
        out.contains("# msmtp `tls_trust_file system`: the system's CAs"),
        "{out}"
    );
    assert!(
        out.contains("\ntls_cert_file \"/etc/ssl/me.pem\"\n"),
        "{out}"
    );
}

/// msmtp names an aliases file per account; esmtp has one for all
/// identities: the default account's, written once at the top when esmtp
/// can use it as it is.
#[test]
fn the_aliases_file_becomes_the_one_global_statement() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("aliases");
    std::fs::write(&file, "root: admin@example.org\ndefault: me@example.org\n").unwrap();
    let rc = format!(
        "defaults\naliases {}\naccount home\nhost mail.example.org\nfrom me@example.org\n\
         account other\nhost mail.example.net\nfrom you@example.net\naliases /elsewhere\n\
         account default : home\n",
        file.display()
    );
    let out = convert_and_check(dir.path(), rc.as_bytes());
    assert_eq!(out.matches("\naliases ").count(), 1, "{out}");
    assert!(
        out.contains(&format!("\naliases \"{}\"\n", file.display())),
        "{out}"
    );
    assert!(
        out.contains("`aliases /elsewhere` (line 9): no equivalent, esmtp has one aliases file"),
        "{out}"
    );
}
