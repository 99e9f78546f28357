//! Credentials never go in clear to another host (issue 13 §9).
//!
//! esmtp runs inside a network namespace made by the test (`ip netns`, a
//! veth pair, addresses in 198.18.0.0/15): the recording server listens in
//! this namespace on the veth address, so for esmtp it is another machine,
//! reached over an unencrypted connection. Over such a connection the
//! password may go only by a mechanism that does not reveal it (SCRAM, CRAM-MD5),
//! unless the file says `starttls disabled` itself; otherwise esmtp stops
//! before AUTH (exit 78) and the server never sees the secret in any form.

use crate::support;

use support::hostile::{converse, secret_forms, usual, Netns, Seen, User, MARKER};
use support::FakeServer;

const CHALLENGE: &str = "<1896.697170952@hostile.test>";

/// A server on `ip` offering `auth` (an AUTH keyword line such as `PLAIN
/// LOGIN`) and STARTTLS when `starttls`. It checks CRAM-MD5 answers for
/// alice/[`MARKER`], takes any PLAIN or LOGIN, and accepts the message.
pub(super) fn recording_server(ip: &str, auth: &'static str, starttls: bool) -> FakeServer {
    let ehlo: &'static str = Box::leak(
        format!(
            "250-hostile.test\r\n{}250-AUTH {auth}\r\n250 8BITMIME\r\n",
            if starttls { "250-STARTTLS\r\n" } else { "" }
        )
        .into_boxed_str(),
    );
    FakeServer::start_on(ip, move |r, _w| {
        let mut in_cram = false;
        let seen = converse(r, b"220 hostile.test ESMTP\r\n", |l: &str| {
            let upper = l.to_ascii_uppercase();
            let line = l.trim_end();
            if in_cram {
                in_cram = false;
                let answer = String::from_utf8(support::hostile::b64_decode(line)).unwrap();
                let hex = support::hostile::cram_md5_hex(MARKER.as_bytes(), CHALLENGE.as_bytes());
                return if answer == format!("alice {hex}") {
                    b"235 2.7.0 CRAM-MD5 authentication succeeded\r\n".to_vec()
                } else {
                    b"535 5.7.8 wrong\r\n".to_vec()
                };
            }
            if upper.starts_with("AUTH CRAM-MD5") {
                in_cram = true;
                format!("334 {}\r\n", support::hostile::b64(CHALLENGE.as_bytes())).into_bytes()
            } else if upper.starts_with("AUTH SCRAM") {
                // Its client-first message holds no secret; refused here.
                b"535 5.7.8 no SCRAM today\r\n".to_vec()
            } else if upper.starts_with("AUTH PLAIN") {
                b"235 2.7.0 ok\r\n".to_vec()
            } else if upper.starts_with("AUTH LOGIN") {
                b"334 VXNlcm5hbWU6\r\n".to_vec()
            } else if line == support::hostile::b64(b"alice") {
                b"334 UGFzc3dvcmQ6\r\n".to_vec()
            } else if line == support::hostile::b64(MARKER.as_bytes()) {
                b"235 2.7.0 ok\r\n".to_vec()
            } else {
                usual(ehlo)(l)
            }
        });
        seen.into_bytes()
    })
}

/// Run the binary in `ns` with this esmtprc body (hostname added); the
/// run and what the server saw.
fn send_from(
    ns: Option<&Netns>,
    server_ip: &str,
    auth: &'static str,
    starttls: bool,
    rc_body: &str,
) -> (support::hostile::Run, Seen) {
    let s = recording_server(server_ip, auth, starttls);
    let user = User::new();
    let rc = user.rc(&format!(
        "hostname {server_ip}:{}\ntimeout 10\nusername alice\npassword \"{MARKER}\"\n{rc_body}",
        s.port
    ));
    let msg = user.home.path().join("msg");
    std::fs::write(&msg, support::hostile::message()).unwrap();
    let run = user.send(
        &rc,
        &[],
        std::process::Stdio::from(std::fs::File::open(&msg).unwrap()),
        ns.map(|n| n.name.as_str()),
    );
    assert!(
        !run.stderr.contains("cannot connect"),
        "the namespace does not reach the server: {run:?}"
    );
    (run, Seen::from_bytes(&s.join()))
}

/// The server saw no AUTH command and no form of the secret.
pub(super) fn nothing_secret_sent(case: &str, seen: &Seen) {
    assert!(!seen.has("AUTH"), "{case}: AUTH was sent: {seen:?}");
    let text = seen.text();
    for form in secret_forms("alice", MARKER) {
        assert!(!text.contains(&form), "{case}: the server saw {form:?}");
    }
    assert!(!seen.has("MAIL"), "{case}: the session went on: {seen:?}");
}

#[test]
fn revealing_mechanisms_are_refused_towards_another_host_without_tls() {
    let ns = Netns::new();
    let ip = ns.host_ip.clone();
    for (case, auth, starttls, rc_body, fix) in [
        (
            "PLAIN and LOGIN only, no starttls statement",
            "PLAIN LOGIN",
            false,
            "",
            "write `starttls required` if the server can use TLS",
        ),
        (
            "the server offers STARTTLS, no starttls statement",
            "PLAIN LOGIN",
            true,
            "",
            "offers STARTTLS: write `starttls required`",
        ),
        (
            "STARTTLS stripped under starttls enabled",
            "PLAIN LOGIN XOAUTH2",
            false,
            "starttls enabled\n",
            "did not offer STARTTLS",
        ),
        (
            "auth plain insisted on, no starttls statement",
            "CRAM-MD5 PLAIN",
            false,
            "auth plain\n",
            "`starttls disabled` to accept",
        ),
        (
            "auth oauthbearer insisted on, no starttls statement",
            "OAUTHBEARER SCRAM-SHA-256",
            false,
            "auth oauthbearer\n",
            "`starttls disabled` to accept",
        ),
    ] {
        let (run, seen) = send_from(Some(&ns), &ip, auth, starttls, rc_body);
        assert_eq!(run.code, Some(78), "{case}: {run:?}");
        assert!(
            run.stderr.contains("refusing to send the password"),
            "{case}: {run:?}"
        );
        assert!(run.stderr.contains(fix), "{case}: {run:?}");
        assert!(run.stderr.contains("nothing was sent"), "{case}: {run:?}");
        nothing_secret_sent(case, &seen);
        assert!(!seen.has("STARTTLS"), "{case}: {seen:?}");
    }
}

#[test]
fn scram_is_used_over_an_unencrypted_connection_to_another_host() {
    let ns = Netns::new();
    let ip = ns.host_ip.clone();
    let (run, seen) = send_from(Some(&ns), &ip, "PLAIN LOGIN SCRAM-SHA-256", false, "");
    assert!(seen.has("AUTH SCRAM-SHA-256 "), "{seen:?}");
    assert_eq!(run.code, Some(77), "{run:?}");
    assert!(run.stderr.contains("no SCRAM today"), "{run:?}");
    assert!(!run.stderr.contains("refusing"), "{run:?}");
    let text = seen.text();
    for form in secret_forms("alice", MARKER) {
        assert!(!text.contains(&form), "the server saw {form:?}");
    }
    assert!(!seen.has("MAIL"), "{seen:?}");
}

#[test]
fn cram_md5_authenticates_over_an_unencrypted_connection_to_another_host() {
    let ns = Netns::new();
    let ip = ns.host_ip.clone();
    let (run, seen) = send_from(Some(&ns), &ip, "PLAIN LOGIN CRAM-MD5", false, "");
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(seen.has("AUTH CRAM-MD5"), "{seen:?}");
    assert!(seen.marker, "the message was not sent: {seen:?}");
    let text = seen.text();
    for form in secret_forms("alice", MARKER) {
        assert!(!text.contains(&form), "the server saw {form:?}");
    }
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
}

#[test]
fn an_explicit_starttls_disabled_sends_the_password_in_clear_with_a_warning() {
    let ns = Netns::new();
    let ip = ns.host_ip.clone();
    let (run, seen) = send_from(Some(&ns), &ip, "PLAIN LOGIN", false, "starttls disabled\n");
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stderr
            .contains("warning: sending the password unencrypted to")
            && run.stderr.contains("with PLAIN (starttls disabled)"),
        "{}",
        run.stderr
    );
    assert!(seen.has("AUTH PLAIN"), "{seen:?}");
    assert!(seen.marker, "{seen:?}");
}

#[test]
fn the_same_file_towards_this_machine_is_not_refused() {
    // Loopback is not "another host": PLAIN goes, without a warning.
    let (run, seen) = send_from(None, "127.0.0.1", "PLAIN LOGIN", false, "");
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(seen.has("AUTH PLAIN") && seen.marker, "{seen:?}");
    assert!(run.stderr.is_empty(), "{}", run.stderr);
}

#[test]
fn check_warns_about_the_file_before_it_is_used() {
    let user = User::new();
    let rc = user.rc(&format!(
        "hostname smtp.example.org:587\nusername alice\npassword \"{MARKER}\"\n"
    ));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_esmtp"))
        .arg("check")
        .arg(&rc)
        .env("HOME", user.home.path())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("warning[W025]"), "{text}");
    assert!(text.contains("starttls required"), "{text}");
    let explain = std::process::Command::new(env!("CARGO_BIN_EXE_esmtp"))
        .args(["check", "--explain", "W025"])
        .output()
        .unwrap();
    let explain = String::from_utf8_lossy(&explain.stdout);
    assert!(
        explain.contains("CRAM-MD5") && explain.contains("starttls disabled"),
        "{explain}"
    );
}
