//! `esmtp probe` (issue 17 §3): the built binary against a real Exim on
//! loopback (STARTTLS with the test CA, AUTH), a server without STARTTLS,
//! a closed port, and hostile peers. Fingerprints are computed by openssl
//! from the certificate file, not by the code under test.

use crate::support;

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use support::exim::{PASSWORD, USER};
use support::hostile::{assert_no_secret, User};
use support::{file_fingerprint, free_port, Exim, EximOptions, FakeServer};

/// `SHA256:AB:CD:...` of a PEM certificate file, computed by openssl.
fn sha256_text(cert: &Path) -> String {
    format!("SHA256:{}", file_fingerprint(cert))
}

/// One run of `esmtp probe`.
#[derive(Debug)]
pub(super) struct Probe {
    pub(super) code: Option<i32>,
    pub(super) stdout: String,
    pub(super) stderr: String,
}

impl Probe {
    pub(super) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

pub(super) fn probe(user: &User, rc: &Path, args: &[&str]) -> Probe {
    let out = Command::new(env!("CARGO_BIN_EXE_esmtp"))
        .arg("probe")
        .arg("-C")
        .arg(rc)
        .args(args)
        .env("HOME", user.home.path())
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .output()
        .expect("run esmtp probe");
    Probe {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// An identity on Exim's plain port with `starttls` and the test login.
pub(super) fn esmtprc(user: &User, port: u16, starttls: &str, extra: &str) -> std::path::PathBuf {
    user.rc(&format!(
        "identity sender@example.org\nhostname localhost:{port}\nstarttls {starttls}\n\
         username {USER}\npassword \"{PASSWORD}\"\n{extra}"
    ))
}

pub(super) fn codes(j: &Value) -> Vec<String> {
    j["warnings"]
        .as_array()
        .map(|w| {
            w.iter()
                .map(|f| f["code"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn starttls_and_auth_are_reported_with_the_certificate_and_nothing_is_sent() {
    let exim = Exim::start();
    let user = User::new();
    user.trust(exim.ca_pem());
    let rc = esmtprc(&user, exim.port(), "required", "");
    let run = probe(&user, &rc, &["--format", "json"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let doc = run.json();
    assert_eq!(doc["status"], 0);
    let j = &doc["identities"][0];
    assert_eq!(j["identity"], "sender@example.org");
    assert_eq!(j["default"], true);
    assert_eq!(j["server"], format!("localhost:{}", exim.port()));
    assert!(
        j["greeting"][0].as_str().unwrap().starts_with("220 "),
        "{j}"
    );
    let x = &j["extensions"];
    assert_eq!(x["size"], 50 * 1024 * 1024);
    assert_eq!(x["dsn"], true);
    assert_eq!(x["8bitmime"], true);
    assert_eq!(x["pipelining"], true);
    assert_eq!(x["starttls"], true);
    assert_eq!(x["chunking"], true, "Exim offers CHUNKING: {j}");
    let auth: Vec<&str> = x["auth"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    for m in ["PLAIN", "LOGIN", "CRAM-MD5", "NTLM", "XOAUTH2"] {
        assert!(auth.contains(&m), "{m} missing from {auth:?}");
    }
    assert_eq!(j["tls"]["mode"], "starttls");
    assert_eq!(j["tls"]["version"], "TLSv1.3");
    assert!(j["tls"]["cipher"].as_str().unwrap().starts_with("TLS13_"));
    let cert = &j["certificates"][0];
    assert_eq!(
        cert["fingerprint"],
        sha256_text(&exim.pki.dir.join("server.pem"))
    );
    assert_eq!(cert["subject"], "CN=localhost");
    assert_eq!(cert["issuer"], "CN=exim test CA");
    assert_eq!(cert["names"][0], "DNS:localhost");
    assert_eq!(j["verification"]["verified"], true, "{j}");
    assert_eq!(j["verification"]["name"], "localhost");
    assert_eq!(j["auth"]["would_use"], "CRAM-MD5");
    assert_eq!(j["login"]["result"], "not-asked");
    assert!(codes(j).is_empty(), "{j}");
    assert!(j["error"].is_null());

    // The text form: the same facts, aligned, no colour off a terminal.
    let text = probe(&user, &rc, &[]);
    assert_eq!(text.code, Some(0), "{text:?}");
    let out = &text.stdout;
    assert!(
        out.contains("identity sender@example.org (default)"),
        "{out}"
    );
    assert!(out.contains("TLSv1.3 TLS13_"), "{out}");
    assert!(
        out.contains(&sha256_text(&exim.pki.dir.join("server.pem"))),
        "{out}"
    );
    assert!(out.contains("  verified     yes, for localhost"), "{out}");
    assert!(out.contains("  auth used    CRAM-MD5"), "{out}");
    assert!(out.contains("SIZE 52428800 DSN 8BITMIME"), "{out}");
    assert!(!out.contains('\x1b'), "{out}");

    // Nothing was sent and no login was tried.
    assert!(exim.commands().is_empty(), "{}", exim.log());
    let log = exim.log();
    assert!(!log.contains("AUTH"), "{log}");
    assert!(!log.contains("authenticator failed"), "{log}");
    assert_no_secret("probe output", &run.stdout, USER, PASSWORD);
}

#[test]
fn login_authenticates_then_quits_and_a_wrong_password_is_a_problem() {
    let exim = Exim::start();
    let user = User::new();
    user.trust(exim.ca_pem());
    let good = esmtprc(&user, exim.port(), "required", "");
    let run = probe(&user, &good, &["--login", "--format", "json"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let j = &run.json()["identities"][0];
    assert_eq!(j["login"]["result"], "ok", "{j}");
    assert_eq!(j["login"]["mechanism"], "CRAM-MD5");
    let log = exim.login_without_mail();
    assert!(exim.commands().is_empty(), "{log}");
    assert_eq!(exim.accepted(), 0);
    assert_no_secret("probe output", &run.stdout, USER, PASSWORD);
    assert_no_secret("probe errors", &run.stderr, USER, PASSWORD);

    let wrong = user.rc(&format!(
        "identity sender@example.org\nhostname localhost:{}\nstarttls required\n\
         username {USER}\npasswordeval \"echo wrong-MARKER-pw\"\nauth plain\n",
        exim.port()
    ));
    let run = probe(&user, &wrong, &["--login"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stdout.contains("warning[W058]"), "{}", run.stdout);
    assert!(run.stdout.contains("login        failed"), "{}", run.stdout);
    assert!(!run.stdout.contains("wrong-MARKER-pw"), "{}", run.stdout);
    assert!(!run.stderr.contains("wrong-MARKER-pw"), "{}", run.stderr);
    assert_no_secret("probe output", &run.stdout, USER, "wrong-MARKER-pw");
    assert!(
        exim.log().contains("authenticator failed"),
        "{}",
        exim.log()
    );
    assert!(exim.commands().is_empty(), "{}", exim.log());
}

#[test]
fn a_self_signed_certificate_is_still_shown_and_no_login_is_tried() {
    // Self-signed, no pin: neither the test CA (trusted) nor any other
    // signed it.
    let exim = Exim::with(EximOptions {
        self_signed: true,
        ..EximOptions::default()
    });
    let user = User::new();
    user.trust(exim.ca_pem());
    let rc = esmtprc(&user, exim.port(), "required", "");
    let run = probe(&user, &rc, &["--login", "--format", "json"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    let j = &run.json()["identities"][0];
    assert_eq!(j["verification"]["verified"], false, "{j}");
    assert!(
        j["verification"]["error"]
            .as_str()
            .unwrap()
            .contains("CA certificate presented as the server's own"),
        "{j}"
    );
    let fp = sha256_text(&exim.pki.dir.join("server.pem"));
    assert_eq!(j["certificates"][0]["fingerprint"], fp);
    assert_eq!(
        j["certificates"][0]["subject"],
        j["certificates"][0]["issuer"]
    );
    assert_eq!(j["tls"]["version"], "TLSv1.3");
    assert_eq!(j["login"]["result"], "withheld");
    assert!(codes(j).contains(&"W054".to_string()), "{j}");
    // The fix names the fingerprint to pin.
    let help = j["warnings"][0]["help"].as_str().unwrap();
    assert!(help.contains(&format!("tls_fingerprint {fp}")), "{help}");
    let log = exim.log();
    assert!(!log.contains("authenticator failed"), "{log}");
    assert!(!log.contains(",AUTH"), "{log}");
    assert!(exim.commands().is_empty(), "{log}");

    // Pinned, the same certificate verifies.
    let pinned = esmtprc(
        &user,
        exim.port(),
        "required",
        &format!("tls_fingerprint {fp}\n"),
    );
    let run = probe(&user, &pinned, &["--format", "json"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let j = &run.json()["identities"][0];
    assert_eq!(j["verification"]["verified"], true, "{j}");
    assert!(j["verification"]["trust"]
        .as_str()
        .unwrap()
        .contains("pinned fingerprint"));
}

#[test]
fn starttls_required_without_starttls_is_a_warning() {
    let exim = Exim::with(EximOptions {
        starttls: false,
        ..EximOptions::default()
    });
    let user = User::new();
    let rc = esmtprc(&user, exim.port(), "required", "");
    let run = probe(&user, &rc, &[]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stdout.contains("warning[W050]"), "{}", run.stdout);
    assert!(
        run.stdout.contains("= help: write `starttls implicit`"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("greeting     220 "), "{}", run.stdout);
    assert!(run.stdout.contains("tls          none"), "{}", run.stdout);
}

#[test]
fn cleartext_policy_small_size_and_a_missing_mechanism_are_held_against_the_plan() {
    let exim = Exim::with(EximOptions {
        starttls: false,
        size_limit: 1024 * 1024,
        ..EximOptions::default()
    });
    let user = User::new();
    let exim_plain = exim.port();
    let rc = user.rc(&format!(
        "identity sender@example.org\nhostname localhost:{exim_plain}\n\
         username {USER}\npassword \"{PASSWORD}\"\nauth xoauth2\n"
    ));
    let run = probe(&user, &rc, &["--format", "json"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    let j = &run.json()["identities"][0];
    let found = codes(j);
    assert!(found.contains(&"W055".to_string()), "{j}");
    // Loopback: the cleartext policy allows every mechanism here, so the
    // identity would use XOAUTH2, which Exim offers.
    assert_eq!(j["auth"]["would_use"], "XOAUTH2", "{j}");
    assert_eq!(j["extensions"]["size"], 1024 * 1024);
}

#[test]
fn credentials_without_auth_offered() {
    let exim = Exim::with(EximOptions {
        auth: false,
        ..EximOptions::default()
    });
    let user = User::new();
    user.trust(exim.ca_pem());
    let rc = esmtprc(&user, exim.port(), "required", "");
    let run = probe(&user, &rc, &["--format", "json"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    let j = &run.json()["identities"][0];
    assert_eq!(codes(j), vec!["W056".to_string()], "{j}");
}

#[test]
fn an_unreachable_server_is_69() {
    let user = User::new();
    let rc = esmtprc(&user, free_port(), "required", "");
    let run = probe(&user, &rc, &["--format", "json"]);
    assert_eq!(run.code, Some(69), "{run:?}");
    let j = &run.json()["identities"][0];
    assert_eq!(j["status"], 69);
    assert!(j["error"]["message"]
        .as_str()
        .unwrap()
        .contains("cannot connect"));
    let text = probe(&user, &rc, &[]);
    assert_eq!(text.code, Some(69));
    assert!(text.stdout.contains("not usable"), "{}", text.stdout);
}

#[test]
fn all_probes_every_identity_with_a_hostname_and_gives_the_worst_status() {
    let exim = Exim::start();
    let user = User::new();
    user.trust(exim.ca_pem());
    let closed = free_port();
    let rc = user.rc(&format!(
        "mda \"cat\"\n\
         identity good@example.org\nhostname localhost:{}\nstarttls required\n\
         identity down@example.org\nhostname localhost:{closed}\n\
         identity local@example.org\n",
        exim.port()
    ));
    let run = probe(&user, &rc, &["--all", "--format", "json"]);
    assert_eq!(run.code, Some(69), "{run:?}");
    let doc = run.json();
    let ids: Vec<&str> = doc["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["identity"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["good@example.org", "down@example.org"]);
    assert_eq!(doc["identities"][0]["status"], 0);
    assert_eq!(doc["identities"][1]["status"], 69);

    // Named one by one, and the default by name.
    let run = probe(&user, &rc, &["good@EXAMPLE.org", "--format", "json"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let run = probe(&user, &rc, &["nobody@example.org"]);
    assert_eq!(run.code, Some(64), "{run:?}");
    assert!(
        run.stderr.contains("no identity nobody@example.org"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_certificate_expiring_within_14_days_is_reported() {
    let exim = Exim::with(EximOptions {
        cert_days: 3,
        ..EximOptions::default()
    });
    let user = User::new();
    user.trust(exim.ca_pem());
    let rc = esmtprc(&user, exim.port(), "required", "");
    let run = probe(&user, &rc, &[]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stdout.contains("warning[W053]"), "{}", run.stdout);
    assert!(run.stdout.contains("expires on"), "{}", run.stdout);
}

#[test]
fn control_characters_from_the_server_are_escaped() {
    let server = FakeServer::start(|reader, writer| {
        use std::io::Write;
        let _ = writer.write_all(b"220 evil\x1b[2J\x07 ESMTP\r\n");
        let mut seen = Vec::new();
        loop {
            let line = support::hostile::read_raw_line(reader);
            if line.is_empty() {
                break;
            }
            seen.extend_from_slice(&line);
            let upper = String::from_utf8_lossy(&line).to_ascii_uppercase();
            if upper.starts_with("EHLO") {
                let _ = writer
                    .write_all(b"250-evil\r\n250-SIZE 99999999\r\n250 X-\x1b]0;title\x07\r\n");
            } else if upper.starts_with("QUIT") {
                let _ = writer.write_all(b"221 bye\r\n");
                break;
            }
        }
        seen
    });
    let user = User::new();
    let rc = user.rc(&format!(
        "identity sender@example.org\nhostname 127.0.0.1:{}\n",
        server.port
    ));
    let run = probe(&user, &rc, &[]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(!run.stdout.contains('\x1b'), "{:?}", run.stdout);
    assert!(!run.stdout.contains('\x07'), "{:?}", run.stdout);
    assert!(
        run.stdout.contains("220 evil\\x1b[2J\\x07 ESMTP"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_mechanism_insisted_on_but_not_offered() {
    let server = FakeServer::start(|reader, _writer| {
        support::hostile::converse(
            reader,
            b"220 fake ESMTP\r\n",
            support::hostile::usual("250-fake\r\n250 AUTH PLAIN LOGIN\r\n"),
        )
        .into_bytes()
    });
    let user = User::new();
    let rc = user.rc(&format!(
        "identity sender@example.org\nhostname 127.0.0.1:{}\nstarttls disabled\n\
         username {USER}\npassword \"{PASSWORD}\"\nauth cram-md5\n",
        server.port
    ));
    let run = probe(&user, &rc, &["--format", "json"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    let j = &run.json()["identities"][0];
    assert_eq!(codes(j), vec!["W051".to_string()], "{j}");
    let help = j["warnings"][0]["help"].as_str().unwrap();
    assert!(help.contains("remove `auth cram-md5`"), "{help}");
    assert!(help.contains("PLAIN LOGIN"), "{help}");
    assert!(j["auth"]["would_use"].is_null(), "{j}");
}

#[test]
fn a_silent_server_is_a_temporary_failure() {
    // Accepts, never greets: the identity's timeout ends the wait.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let user = User::new();
    let rc = user.rc(&format!(
        "identity sender@example.org\nhostname 127.0.0.1:{port}\ntimeout 1\n"
    ));
    let run = probe(&user, &rc, &["--format", "json"]);
    drop(listener);
    assert_eq!(run.code, Some(75), "{run:?}");
    let j = &run.json()["identities"][0];
    assert!(
        j["error"]["message"]
            .as_str()
            .unwrap()
            .contains("did not greet"),
        "{j}"
    );
}

#[test]
fn preconnect_and_postconnect_run_as_for_a_submission() {
    let exim = Exim::start();
    let user = User::new();
    user.trust(exim.ca_pem());
    let log = user.home.path().join("hooks.log");
    let rc = esmtprc(
        &user,
        exim.port(),
        "required",
        &format!(
            "preconnect \"echo pre >> {0}\"\npostconnect \"echo post >> {0}\"\n",
            log.display()
        ),
    );
    let run = probe(&user, &rc, &[]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "pre\npost\n");

    // A failing preconnect stops the probe before connecting, as it stops
    // a submission (status 70 when it exits non-zero).
    let rc = esmtprc(&user, exim.port(), "required", "preconnect \"exit 3\"\n");
    let run = probe(&user, &rc, &["--format", "json"]);
    assert_ne!(run.code, Some(0), "{run:?}");
    assert!(run.json()["identities"][0]["greeting"]
        .as_array()
        .unwrap()
        .is_empty());
    // Only the first probe connected.
    let connections = exim
        .log_lines()
        .iter()
        .filter(|l| l.contains("connection count"))
        .count();
    assert_eq!(connections, 1, "{}", exim.log());
}

#[test]
fn implicit_tls_is_reported() {
    let exim = Exim::start();
    let user = User::new();
    user.trust(exim.ca_pem());
    let rc = esmtprc(&user, exim.tls_port(), "implicit", "");
    let run = probe(&user, &rc, &["--login", "--format", "json"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let j = &run.json()["identities"][0];
    assert_eq!(j["tls"]["mode"], "implicit");
    assert_eq!(j["extensions"]["starttls"], false);
    assert_eq!(j["verification"]["verified"], true);
    assert_eq!(j["login"]["result"], "ok");
}
