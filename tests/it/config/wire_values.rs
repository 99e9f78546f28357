//! Issue 13 §7, the configuration half: a value that esmtp writes as text
//! into the SMTP dialogue, a header, the TLS handshake or a name look-up
//! (`identity`, `hostname`, `helo`, `qualifydomain`, `force sender`,
//! `force reverse_path`) cannot hold a control character, however it is
//! written: E020 with the value's span, and nothing is ever sent. User
//! names and secrets are exempt (AUTH encodes them). The runtime half:
//! `-f`, `-F`, recipients and the DSN parameters refuse the same
//! characters (status 64) before anything is sent.

use crate::support;

use esmtp::config::{self, Options};
use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Every way the file can spell a control character (decoded by the C
/// escapes of esmtp 1.2: `\r \n \t \b`, `\xHH`, `\0OOO` octal, `\DDD`
/// decimal), and the character it gives.
const SPELLINGS: &[(&str, char)] = &[
    ("\\r\\n", '\r'),
    ("\\n", '\n'),
    ("\\r", '\r'),
    ("\\t", '\t'),
    ("\\b", '\u{8}'),
    ("\\x0d", '\r'),
    ("\\x0A", '\n'),
    ("\\x00", '\0'),
    ("\\x1b[31m", '\u{1b}'),
    ("\\x7f", '\u{7f}'),
    ("\\015", '\r'),
    ("\\012", '\n'),
    ("\\033", '\u{1b}'),
    ("\\0", '\0'),
    ("\\13", '\r'),
    ("\\10", '\n'),
    ("\\9", '\t'),
    ("\r", '\r'),
    ("\u{85}", '\u{85}'),
    ("\u{1}", '\u{1}'),
];

/// The statements whose value reaches the wire, around a value `V`.
const WIRE: &[&str] = &[
    "identity \"me@example.orgV\"\nhostname h\n",
    "hostname \"smtp.example.orgV\"\n",
    "helo \"a.exampleVMAIL FROM:<spoof@example.org>\"\n",
    "qualifydomain 'example.orgV'\n",
    "force sender \"x@example.orgV\"\n",
    "force reverse_path \"x@example.orgVRCPT TO:<victim@example.org>\"\n",
    "helo a.exampleV\n",
];

fn compile(src: &str) -> config::Compilation {
    config::compile("t", src.as_bytes(), &Options::default())
}

#[test]
fn control_characters_in_wire_values_are_errors_with_their_span() {
    let mut checked = 0;
    for stmt in WIRE {
        for (spelling, c) in SPELLINGS {
            // A literal CR in a bare word ends it (a blank): only in quotes.
            if stmt.starts_with("helo a.") && *spelling == "\r" {
                continue;
            }
            let src = stmt.replace('V', spelling);
            let comp = compile(&src);
            assert!(comp.plan.is_none(), "{src:?} compiled");
            let code = if *c == '\0' { "E009" } else { "E020" };
            let d = comp
                .diagnostics
                .iter()
                .find(|d| d.code == code)
                .unwrap_or_else(|| panic!("{src:?}: no {code}: {:?}", comp.diagnostics));
            // The label covers the value as written.
            let span = d.primary.as_ref().unwrap().span;
            let shown = &comp.text[span.start..span.end];
            assert!(shown.contains(spelling), "{src:?}: label on {shown:?}");
            assert!(!stmt.starts_with("identity") || shown.starts_with("\"me@"));
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked}");
}

#[test]
fn values_that_do_not_reach_the_wire_as_text_may_hold_them() {
    // AUTH encodes user names and secrets; commands are run by the shell.
    for src in [
        "username \"a\\r\\nb\"\npassword p\n",
        "password \"a\\r\\nMAIL FROM:<x@y>\"\nusername u\n",
        "certificate_passphrase \"a\\tb\"\nstarttls required\n",
        "preconnect \"true\\necho x\"\n",
        "postconnect \"a\\tb\"\n",
        "mda \"/usr/bin/procmail -d %T\\n\"\n",
        "passwordeval \"printf 'a\\tb'\"\nusername u\n",
    ] {
        let comp = compile(src);
        assert!(
            comp.diagnostics.iter().all(|d| d.code != "E020"),
            "{src:?}: {:?}",
            comp.diagnostics
        );
        assert!(comp.plan.is_some(), "{src:?}: {}", comp.render_errors());
    }
    // Printable values are fine, escaped or not.
    let comp = compile("helo 'a\\x2db\\055c'\nforce sender \"%u@example.org\"\n");
    assert_eq!(
        comp.plan.unwrap().identities[0].helo.as_deref(),
        Some("a-b-c")
    );
}

/// A server that records whether anything connected to it.
struct Listener {
    listener: TcpListener,
}

impl Listener {
    fn new() -> Listener {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        Listener { listener }
    }
    fn port(&self) -> u16 {
        self.listener.local_addr().unwrap().port()
    }
    /// What a client sent, if one connected (the server says nothing).
    fn received(&self) -> Option<Vec<u8>> {
        let (mut s, _) = self.listener.accept().ok()?;
        s.set_nonblocking(false).ok()?;
        s.set_read_timeout(Some(Duration::from_millis(300))).ok()?;
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        Some(buf)
    }
}

fn esmtp(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_esmtp"));
    c.env("HOME", home)
        .env("XDG_CACHE_HOME", home.join("cache"));
    c
}

/// A home, a listener, and a configuration relaying to it with `extra`
/// statements (its path).
fn relaying_to_listener(extra: &str) -> (tempfile::TempDir, Listener, String) {
    let home = tempfile::tempdir().unwrap();
    let server = Listener::new();
    let rc = home.path().join("esmtprc");
    let text = format!("hostname 127.0.0.1:{}\ntimeout 2\n{extra}", server.port());
    std::fs::write(&rc, text).unwrap();
    let rc = rc.to_str().unwrap().to_string();
    (home, server, rc)
}

#[test]
fn the_injection_of_the_issue_is_refused_before_anything_is_sent() {
    let (home, server, rc) = relaying_to_listener("helo \"a.example\\r\\nMAIL FROM:<spoof@x>\"\n");
    let (h, rc) = (home.path(), rc.as_str());
    let check = esmtp(h).args(["check", rc]).output().unwrap();
    assert_eq!(check.status.code(), Some(1));
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(
        text.contains("error[E020]") && text.contains("`helo`"),
        "{text}"
    );
    let explain = esmtp(h)
        .args(["check", "--explain", "E020"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&explain.stdout).contains("control character"));
    let send = support::run_with_input(
        esmtp(h).args(["-C", rc, "-f", "me@example.org", "bob@example.org"]),
        b"Subject: x\n\nhi\n",
    );
    assert_eq!(send.status.code(), Some(78), "{send:?}");
    assert!(String::from_utf8_lossy(&send.stderr).contains("E020"));
    assert!(server.received().is_none(), "esmtp connected");
}

#[test]
fn the_command_line_refuses_the_same_characters() {
    let (home, server, rc) = relaying_to_listener("mda \"/bin/cat\"\n");
    let h = home.path();
    let bad = [
        "a@b.example\r\nRCPT TO:<victim@example.org>",
        "a@b.example\nx",
        "a@b.example\rx",
        "a\u{1b}[2J@b.example",
        "Name\r\nBcc: victim@example.org <a@b.example>",
    ];
    let mut cases: Vec<Vec<String>> = Vec::new();
    for b in bad {
        // As the sender, its display name, the -F name, a recipient (remote
        // and local), the envelope id.
        cases.push(vec!["-f".into(), b.into(), "bob@example.org".into()]);
        cases.push(vec![
            "-F".into(),
            b.into(),
            "-f".into(),
            "a@b.example".into(),
            "bob@example.org".into(),
        ]);
        cases.push(vec!["-f".into(), "a@b.example".into(), b.into()]);
        cases.push(vec!["-f".into(), "a@b.example".into(), b.replace('@', "")]);
        cases.push(vec![
            "-V".into(),
            b.into(),
            "-f".into(),
            "a@b.example".into(),
            "bob@example.org".into(),
        ]);
        cases.push(vec![
            "-N".into(),
            format!("failure{b}"),
            "-f".into(),
            "a@b.example".into(),
            "bob@example.org".into(),
        ]);
    }
    for args in &cases {
        let out = support::run_with_input(
            esmtp(h).arg("-C").arg(&rc).args(args),
            b"Subject: x\n\nhi\n",
        );
        assert_eq!(out.status.code(), Some(64), "{args:?}: {out:?}");
        // The refusal quotes the value escaped: no raw control character
        // reaches the terminal.
        assert!(
            !out.stderr.iter().any(|&b| b == b'\r' || b == 0x1b),
            "{args:?}: {:?}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(server.received().is_none(), "esmtp connected");
    // The same command line with clean values does connect.
    let out = support::run_with_input(
        esmtp(h).args(["-C", &rc, "-f", "a@b.example", "bob@example.org"]),
        b"Subject: x\n\nhi\n",
    );
    assert_ne!(out.status.code(), Some(64), "{out:?}");
    assert!(server.received().is_some());
}
