//! TLS against a real Exim: STARTTLS enabled/required/disabled, implicit
//! TLS, trust from ~/.authenticate (file, directory, permissions), client
//! certificates, and the failures `required` must explain.
//!
//! `~` is `$HOME`, which is process-wide: each test sets HOME to its own
//! temporary directory through `support::env::with_home`, which serialises
//! every change of HOME in this binary.

use crate::support;

use esmtp::exit;
use esmtp::plan::{Identity, TlsPolicy};
use esmtp::transport::{self, MessageOptions, SessionOptions};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use support::{identity, message, trust, Exim, EximOptions, Pki};

/// Run `f` with HOME set to a fresh directory; `setup` fills it first.
fn with_home<R>(setup: impl FnOnce(&Path), f: impl FnOnce() -> R) -> R {
    let home = tempfile::tempdir().unwrap();
    setup(home.path());
    support::env::with_home(home.path(), f)
}

fn install(path: &Path, from: &Path) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::copy(from, path).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn tls_identity(port: u16, policy: TlsPolicy) -> Identity {
    let mut id = identity(port);
    id.relay.host = "localhost".into();
    id.tls = policy;
    id
}

fn send(id: &Identity) -> Result<(), exit::Failure> {
    support::relay_message(id, "tls", "over tls\r\n")
}

/// The TLS cipher Exim logged for the MAIL command ("" when plaintext).
fn mail_tls(exim: &Exim) -> String {
    let cmds = exim.commands();
    let mail = cmds
        .iter()
        .find(|c| c.starts_with("MAIL "))
        .unwrap_or_else(|| panic!("no MAIL: {}", exim.log()));
    mail.split(" tls=")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap_or("")
        .to_string()
}

#[test]
fn starttls_required_with_the_right_ca() {
    let exim = Exim::start();
    with_home(
        |h| trust(h, exim.ca_pem()),
        || send(&tls_identity(exim.port(), TlsPolicy::Required)).expect("relay"),
    );
    assert!(mail_tls(&exim).starts_with("TLS"), "{}", exim.log());
    let got = exim.wait_for_messages(1);
    assert!(got[0].message.ends_with(b"over tls\r\n"));
}

#[test]
fn starttls_enabled_uses_tls_when_offered_and_plaintext_when_not() {
    let exim = Exim::start();
    with_home(
        |h| trust(h, exim.ca_pem()),
        || send(&tls_identity(exim.port(), TlsPolicy::Enabled)).expect("relay"),
    );
    assert!(mail_tls(&exim).starts_with("TLS"));

    let plain = Exim::with(EximOptions {
        starttls: false,
        ..Default::default()
    });
    with_home(
        |h| trust(h, plain.ca_pem()),
        || send(&tls_identity(plain.port(), TlsPolicy::Enabled)).expect("relay"),
    );
    assert_eq!(mail_tls(&plain), "");
}

#[test]
fn starttls_disabled_never_starts_tls() {
    let exim = Exim::start();
    with_home(
        |h| trust(h, exim.ca_pem()),
        || send(&tls_identity(exim.port(), TlsPolicy::Disabled)).expect("relay"),
    );
    assert_eq!(mail_tls(&exim), "");
}

#[test]
fn required_against_a_server_without_starttls_says_so() {
    let exim = Exim::with(EximOptions {
        starttls: false,
        ..Default::default()
    });
    let err = with_home(
        |h| trust(h, exim.ca_pem()),
        || send(&tls_identity(exim.port(), TlsPolicy::Required)).expect_err("no STARTTLS"),
    );
    assert!(err.message.contains("does not offer STARTTLS"), "{err}");
    assert!(err.message.contains("required"), "{err}");
    assert_eq!(err.status, exit::UNAVAILABLE);
    assert!(exim.commands().is_empty());
}

#[test]
fn required_with_a_certificate_from_an_unknown_ca_says_so() {
    let exim = Exim::start();
    let other = tempfile::tempdir().unwrap();
    let stranger = Pki::new(other.path(), "stranger");
    let err = with_home(
        |h| trust(h, &stranger.ca_cert),
        || send(&tls_identity(exim.port(), TlsPolicy::Required)).expect_err("unknown CA"),
    );
    assert!(
        err.message
            .contains("did not verify for the name 'localhost'"),
        "{err}"
    );
    assert!(
        err.message.contains("not signed by a CA in the CA bundle"),
        "{err}"
    );
    assert!(err.message.contains(".authenticate/ca.pem"), "{err}");
    assert!(exim.commands().is_empty());
}

#[test]
fn without_trust_files_the_system_roots_are_used() {
    let exim = Exim::start();
    let err = with_home(
        |_| {},
        || send(&tls_identity(exim.port(), TlsPolicy::Required)).expect_err("test CA unknown"),
    );
    assert!(err.message.contains("system's trusted roots"), "{err}");
}

#[test]
fn a_certificate_for_another_name_is_refused() {
    let exim = Exim::with(EximOptions {
        cert_name: "mail.example.org".into(),
        ..Default::default()
    });
    let err = with_home(
        |h| trust(h, exim.ca_pem()),
        || send(&tls_identity(exim.port(), TlsPolicy::Required)).expect_err("wrong name"),
    );
    assert!(
        err.message
            .contains("did not verify for the name 'localhost'"),
        "{err}"
    );
    assert!(
        err.message.contains("it names only mail.example.org"),
        "{err}"
    );
}

#[test]
fn implicit_tls_talks_tls_from_the_first_byte() {
    let exim = Exim::start();
    with_home(
        |h| trust(h, exim.ca_pem()),
        || send(&tls_identity(exim.tls_port(), TlsPolicy::Implicit)).expect("relay"),
    );
    assert!(mail_tls(&exim).starts_with("TLS"));
    let log = exim.log();
    let on = format!("I=[127.0.0.1]:{}", exim.tls_port());
    assert!(
        log.lines().any(|l| l.contains(" <= ") && l.contains(&on)),
        "{log}"
    );
    exim.wait_for_messages(1);
}

#[test]
fn a_directory_of_cas_is_trusted() {
    let exim = Exim::start();
    with_home(
        |h| {
            let dir = h.join(".authenticate");
            install(&dir.join("ca").join("exim.pem"), exim.ca_pem());
            chmod(&dir.join("ca"), 0o700);
            chmod(&dir, 0o700);
        },
        || send(&tls_identity(exim.port(), TlsPolicy::Required)).expect("relay"),
    );
    assert!(mail_tls(&exim).starts_with("TLS"));
}

#[test]
fn loose_permissions_are_refused_naming_file_and_mode() {
    let exim = Exim::start();
    let err = with_home(
        |h| {
            trust(h, exim.ca_pem());
            chmod(&h.join(".authenticate"), 0o755);
        },
        || send(&tls_identity(exim.port(), TlsPolicy::Required)).expect_err("0755 dir"),
    );
    assert_eq!(err.status, exit::NOPERM);
    assert!(err.message.contains(".authenticate has mode 0755"), "{err}");

    let err = with_home(
        |h| {
            trust(h, exim.ca_pem());
            chmod(&h.join(".authenticate/ca.pem"), 0o644);
        },
        || send(&tls_identity(exim.port(), TlsPolicy::Required)).expect_err("0644 file"),
    );
    assert!(err.message.contains("ca.pem has mode 0644"), "{err}");
    assert!(exim.commands().is_empty());
}

fn client_cert_pem(exim: &Exim, name: &str) -> Vec<u8> {
    let (cert, key) = exim.pki.issue(name, name, "", true);
    let mut pem = fs::read(cert).unwrap();
    pem.extend(fs::read(key).unwrap());
    pem
}

fn write_private(path: &Path, pem: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, pem).unwrap();
    chmod(path, 0o600);
    chmod(path.parent().unwrap(), 0o700);
}

#[test]
fn the_client_certificate_is_presented_host_specific_first() {
    let exim = Exim::with(EximOptions {
        verify_client_certs: true,
        ..Default::default()
    });
    let general = client_cert_pem(&exim, "general-client");
    let specific = client_cert_pem(&exim, "localhost-client");
    with_home(
        |h| {
            trust(h, exim.ca_pem());
            write_private(&h.join(".authenticate/private/smtp-starttls.pem"), &general);
            write_private(
                &h.join(".authenticate/localhost/private/smtp-starttls.pem"),
                &specific,
            );
            chmod(&h.join(".authenticate/localhost"), 0o700);
        },
        || send(&tls_identity(exim.port(), TlsPolicy::Required)).expect("relay"),
    );
    let cmds = exim.commands().join("\n");
    assert!(cmds.contains("peerdn=CN=localhost-client"), "{cmds}");

    let exim = Exim::with(EximOptions {
        verify_client_certs: true,
        ..Default::default()
    });
    let general = client_cert_pem(&exim, "general-client");
    with_home(
        |h| {
            trust(h, exim.ca_pem());
            write_private(&h.join(".authenticate/private/smtp-starttls.pem"), &general);
        },
        || send(&tls_identity(exim.port(), TlsPolicy::Required)).expect("relay"),
    );
    let cmds = exim.commands().join("\n");
    assert!(cmds.contains("peerdn=CN=general-client"), "{cmds}");
}

#[test]
fn an_encrypted_client_key_is_opened_with_the_passphrase() {
    let exim = Exim::with(EximOptions {
        verify_client_certs: true,
        ..Default::default()
    });
    let (cert, key) = exim.pki.issue("enc-client", "enc-client", "", true);
    let enc = exim.pki.dir.join("enc.key");
    let out = std::process::Command::new("openssl")
        .args(["pkcs8", "-topk8", "-passout", "pass:hunter2", "-in"])
        .arg(&key)
        .arg("-out")
        .arg(&enc)
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut pem = fs::read(cert).unwrap();
    pem.extend(fs::read(&enc).unwrap());
    let mut id = tls_identity(exim.port(), TlsPolicy::Required);
    id.certificate_passphrase = Some(esmtp::plan::Secret::new("hunter2"));
    let setup = |h: &Path| {
        trust(h, exim.ca_pem());
        write_private(&h.join(".authenticate/private/smtp-starttls.pem"), &pem);
    };
    with_home(setup, || send(&id)).expect("the key is decrypted with the passphrase");
    assert!(mail_tls(&exim).starts_with("TLS"));
    assert!(exim.commands().join("\n").contains("peerdn=CN=enc-client"));

    id.certificate_passphrase = Some(esmtp::plan::Secret::new("Zebra42"));
    let err = with_home(setup, || send(&id)).expect_err("wrong passphrase");
    assert!(
        err.message.contains("cannot decrypt the private key"),
        "{err}"
    );
    assert!(err.message.contains("smtp-starttls.pem"), "{err}");
    assert!(
        !err.message.contains("hunter2") && !err.message.contains("Zebra42"),
        "{err}"
    );
}

#[test]
fn auth_over_starttls_with_a_plaintext_transcript() {
    let exim = Exim::start();
    let mut id = tls_identity(exim.port(), TlsPolicy::Required);
    id.username = Some(support::USER.into());
    id.secret = Some(esmtp::plan::SecretSource::Password(
        esmtp::plan::Secret::new(support::PASSWORD),
    ));
    id.auth = Some(esmtp::plan::AuthMech::Login);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.log");
    let opts = SessionOptions {
        verbose: false,
        transcript: Some(path.clone()),
    };
    with_home(
        |h| trust(h, exim.ca_pem()),
        || {
            transport::relay(
                &id,
                &support::to_bob(),
                &MessageOptions::default(),
                &opts,
                &mut &message("tls", "over tls\r\n")[..],
            )
            .expect("relay")
        },
    );
    let cmds = exim.commands().join("\n");
    assert!(cmds.contains("auth=alice"), "{cmds}");
    assert!(mail_tls(&exim).starts_with("TLS"));
    // The tap sits above TLS: what follows the handshake is readable.
    let t = fs::read_to_string(&path).unwrap();
    let after = t.split("# TLS established").nth(1).expect("TLS noted");
    assert!(after.contains("C: EHLO client.test"), "{t}");
    assert!(after.contains("C: AUTH LOGIN\n"), "{t}");
    assert!(after.contains("S: 334 VXNlcm5hbWU6"), "{t}");
    assert!(after.contains("C: [credentials redacted]"), "{t}");
    assert!(after.contains("C: MAIL FROM:<sender@example.org>"), "{t}");
    assert!(!t.contains(support::PASSWORD), "{t}");
}

/// A server that offers STARTTLS and then refuses it with 454.
fn refusing_starttls_server() -> support::FakeServer {
    use std::io::Write as _;
    support::FakeServer::start(|r, w| {
        let _ = w.write_all(b"220 fake\r\n");
        let mut seen = Vec::new();
        loop {
            let line = support::read_line(r);
            if line.is_empty() {
                return seen;
            }
            seen.extend_from_slice(line.as_bytes());
            let upper = line.to_ascii_uppercase();
            let reply: &[u8] = if upper.starts_with("EHLO") {
                b"250-fake\r\n250 STARTTLS\r\n"
            } else if upper.starts_with("STARTTLS") {
                b"454 TLS not available due to temporary reason\r\n"
            } else if upper.starts_with("DATA") {
                let _ = w.write_all(b"354 go\r\n");
                loop {
                    let l = support::read_line(r);
                    seen.extend_from_slice(l.as_bytes());
                    if l == ".\r\n" || l.is_empty() {
                        break;
                    }
                }
                b"250 queued\r\n"
            } else if upper.starts_with("QUIT") {
                let _ = w.write_all(b"221 bye\r\n");
                return seen;
            } else {
                b"250 ok\r\n"
            };
            let _ = w.write_all(reply);
        }
    })
}

#[test]
fn a_refused_starttls_goes_on_unencrypted_only_when_enabled() {
    let server = refusing_starttls_server();
    let mut id = tls_identity(server.port, TlsPolicy::Enabled);
    id.relay.host = "127.0.0.1".into();
    with_home(|_| {}, || send(&id)).expect("enabled: plaintext");
    let seen = String::from_utf8(server.join()).unwrap();
    assert!(
        seen.contains("STARTTLS\r\n") && seen.contains("over tls\r\n.\r\n"),
        "{seen}"
    );

    let server = refusing_starttls_server();
    let mut id = tls_identity(server.port, TlsPolicy::Required);
    id.relay.host = "127.0.0.1".into();
    let err = with_home(|_| {}, || send(&id)).expect_err("required: no plaintext");
    assert!(err.message.contains("TLS could not be started"), "{err}");
    assert!(err.message.contains("454"), "{err}");
    let seen = String::from_utf8(server.join()).unwrap();
    assert!(!seen.contains("MAIL FROM"), "{seen}");
}

#[test]
fn a_large_message_over_starttls_arrives_byte_for_byte() {
    let exim = Exim::start();
    let body: String = (0..60_000)
        .map(|i| {
            format!(
                "{}line {i} of a message sent over TLS\r\n",
                if i % 7 == 0 { "." } else { "" }
            )
        })
        .collect();
    let msg = message("big-tls", &body);
    with_home(
        |h| trust(h, exim.ca_pem()),
        || {
            transport::relay(
                &tls_identity(exim.port(), TlsPolicy::Required),
                &support::to_bob(),
                &MessageOptions::default(),
                &SessionOptions::default(),
                &mut &msg[..],
            )
            .expect("relay")
        },
    );
    assert!(mail_tls(&exim).starts_with("TLS"));
    let got = exim.wait_for_messages(1);
    assert_eq!(got[0].message.len(), msg.len());
    assert!(got[0].message == msg, "the message changed on the way");
}
