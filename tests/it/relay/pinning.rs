//! Certificate pinning (`tls_fingerprint`) and per-identity trust and client
//! files (`tls_trust_file`, `tls_cert_file`, `tls_key_file`), issue 17 §4:
//! the built binary against a real Exim on loopback. Fingerprints are
//! computed by openssl from what the server actually presents, not by the
//! code under test.

use crate::support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::hostile::{Run, User};
use support::{file_fingerprint, Exim, EximOptions, Pki};

/// The SHA-256 fingerprint of the certificate the server on `port`
/// presents, as openssl prints it (`AB:CD:...`).
fn served_fingerprint(port: u16, starttls: bool) -> Option<String> {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", &format!("127.0.0.1:{port}")]);
    if starttls {
        cmd.args(["-starttls", "smtp"]);
    }
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let pem = String::from_utf8_lossy(&out.stdout).into_owned();
    let begin = pem.find("-----BEGIN CERTIFICATE-----")?;
    let end = pem.find("-----END CERTIFICATE-----")? + "-----END CERTIFICATE-----".len();
    let mut x509 = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    use std::io::Write;
    x509.stdin
        .take()?
        .write_all(&pem.as_bytes()[begin..end])
        .ok()?;
    let out = x509.wait_with_output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    Some(text.trim().split_once('=')?.1.to_string())
}

/// Wait until the server presents the certificate with `fingerprint` (Exim
/// reloads a replaced certificate on its own, not at once).
fn wait_until_served(exim: &Exim, fingerprint: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let served = served_fingerprint(exim.port(), true);
        if served.as_deref() == Some(fingerprint) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "Exim still presents {served:?}, not {fingerprint}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Replace the server's certificate with a self-signed one for localhost;
/// returns its fingerprint once the server presents it.
fn self_signed(exim: &Exim) -> String {
    let dir = &exim.pki.dir;
    let (cert, key) = (dir.join("self.pem"), dir.join("self.key"));
    let out = support::run_with_input(
        Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
            .args(["-subj", "/CN=home server", "-addext"])
            .args(["subjectAltName=DNS:localhost", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert),
        b"",
    );
    assert!(out.status.success(), "openssl req: {out:?}");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    // Key first: the pair is read when the certificate changes.
    fs::rename(&key, dir.join("server.key")).unwrap();
    fs::rename(&cert, dir.join("server.pem")).unwrap();
    let fp = file_fingerprint(&dir.join("server.pem"));
    wait_until_served(exim, &fp);
    fp
}

fn rc(user: &User, port: u16, starttls: &str, extra: &str) -> std::path::PathBuf {
    user.rc(&format!(
        "identity sender@example.org\nhostname localhost:{port}\nstarttls {starttls}\n\
         username {}\npassword \"{}\"\n{extra}",
        support::exim::USER,
        support::exim::PASSWORD
    ))
}

/// Send the test message through an identity on `port` with `starttls`
/// and `extra` statements.
fn send(user: &User, port: u16, starttls: &str, extra: &str) -> Run {
    user.send_msg(&rc(user, port, starttls, extra), &[])
}

fn private(path: &Path, from: &Path) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::copy(from, path).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
}

fn assert_delivered(exim: &Exim, run: &Run) {
    assert_eq!(run.code, Some(0), "{run:?}\n{}", exim.log());
    let got = exim.wait_for_messages(1);
    assert!(got[0].message.ends_with(b"body line\r\n"));
    let cmds = exim.commands().join("\n");
    assert!(cmds.contains(" tls=TLS"), "{cmds}");
}

/// Refused before anything was sent: status 69 (as every TLS verification
/// failure), no MAIL and no login in Exim's log.
fn assert_refused(exim: &Exim, run: &Run) {
    assert_eq!(run.code, Some(69), "{run:?}");
    assert!(run.stderr.contains("nothing was sent"), "{}", run.stderr);
    assert!(exim.commands().is_empty(), "{}", exim.log());
    let log = exim.log();
    assert!(!log.contains(" A="), "{log}");
    assert!(!log.contains("authenticator failed"), "{log}");
}

#[test]
fn a_self_signed_server_with_the_pinned_fingerprint_gets_the_mail() {
    let exim = Exim::start();
    let fp = self_signed(&exim);
    // No ~/.authenticate: the system's roots would refuse this certificate.
    let user = User::new();
    let run = send(
        &user,
        exim.port(),
        "required",
        &format!("tls_fingerprint SHA256:{fp}\n"),
    );
    assert_delivered(&exim, &run);
    // msmtp's form, without the SHA256: prefix, in lower case.
    let user = User::new();
    let run = send(
        &user,
        exim.port(),
        "required",
        &format!("tls_fingerprint {}\n", fp.to_lowercase()),
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    exim.wait_for_messages(2);
}

#[test]
fn implicit_tls_honours_the_pin_too() {
    let exim = Exim::start();
    let fp = served_fingerprint(exim.tls_port(), false).expect("certificate");
    let user = User::new();
    let run = send(
        &user,
        exim.tls_port(),
        "implicit",
        &format!("tls_fingerprint SHA256:{fp}\n"),
    );
    assert_delivered(&exim, &run);

    let user = User::new();
    let wrong = format!("SHA256:{}", ["00"; 32].join(":"));
    let run = send(
        &user,
        exim.tls_port(),
        "implicit",
        &format!("tls_fingerprint {wrong}\n"),
    );
    assert_eq!(run.code, Some(69), "{run:?}");
    assert!(run.stderr.contains(&wrong), "{}", run.stderr);
}

#[test]
fn a_wrong_fingerprint_is_refused_even_from_a_trusted_ca() {
    let exim = Exim::start();
    let presented = served_fingerprint(exim.port(), true).expect("certificate");
    let user = User::new();
    // The CA is trusted: without the pin this would be delivered.
    user.trust(exim.ca_pem());
    let wrong = format!("SHA256:{}", ["AB"; 32].join(":"));
    let run = send(
        &user,
        exim.port(),
        "required",
        &format!("tls_fingerprint {wrong}\n"),
    );
    assert_refused(&exim, &run);
    assert!(run.stderr.contains(&wrong), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("SHA256:{presented}")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("tls_fingerprint"), "{}", run.stderr);
    // `starttls enabled` does not fall back to plain text on a mismatch.
    let run = send(
        &user,
        exim.port(),
        "enabled",
        &format!("tls_fingerprint {wrong}\n"),
    );
    assert_refused(&exim, &run);
}

#[test]
fn a_rotated_certificate_is_refused_by_the_old_fingerprint() {
    let exim = Exim::start();
    let old = served_fingerprint(exim.port(), true).expect("certificate");
    let user = User::new();
    let pinned = rc(
        &user,
        exim.port(),
        "required",
        &format!("tls_fingerprint SHA256:{old}\n"),
    );
    let run = user.send_msg(&pinned, &[]);
    assert_delivered(&exim, &run);

    // The server gets a new certificate from the same CA, for the same name.
    let (cert, _key) = exim
        .pki
        .issue("server", "localhost", "DNS:localhost", false);
    let new = file_fingerprint(&cert);
    assert_ne!(new, old);
    wait_until_served(&exim, &new);
    let before = exim.commands().len();
    let run = user.send_msg(&pinned, &[]);
    assert_eq!(run.code, Some(69), "{run:?}");
    assert!(
        run.stderr.contains(&format!("SHA256:{new}")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("SHA256:{old}")),
        "{}",
        run.stderr
    );
    assert_eq!(exim.commands().len(), before, "{}", exim.log());
}

#[test]
fn tls_trust_file_replaces_authenticate() {
    let exim = Exim::start();
    let other = tempfile::tempdir().unwrap();
    let stranger = Pki::new(other.path(), "stranger");
    let user = User::new();
    // ~/.authenticate trusts another CA; the identity's own file is used.
    user.trust(&stranger.ca_cert);
    private(&user.home.path().join("certs/home-ca.pem"), exim.ca_pem());
    let run = send(
        &user,
        exim.port(),
        "required",
        "tls_trust_file ~/certs/home-ca.pem\n",
    );
    assert_delivered(&exim, &run);
}

#[test]
fn tls_trust_file_with_the_wrong_ca_is_refused() {
    let exim = Exim::start();
    let other = tempfile::tempdir().unwrap();
    let stranger = Pki::new(other.path(), "stranger");
    let user = User::new();
    // ~/.authenticate would trust the server; the identity's file does not.
    user.trust(exim.ca_pem());
    let file = user.home.path().join("certs/other-ca.pem");
    private(&file, &stranger.ca_cert);
    let run = send(
        &user,
        exim.port(),
        "required",
        &format!("tls_trust_file {}\n", file.display()),
    );
    assert_refused(&exim, &run);
    assert!(
        run.stderr.contains(&format!(
            "not signed by a CA in the CA bundle {}",
            file.display()
        )),
        "{}",
        run.stderr
    );
}

/// A trust file holds public certificates: readable by all is fine (msmtp
/// users name /etc/ssl/certs/ca-certificates.crt, mode 0644), but one that
/// group or others may change would let them choose whom esmtp trusts.
#[test]
fn a_trust_file_others_can_read_is_used_one_they_can_change_is_refused() {
    let user = User::new();
    let file = user.home.path().join("certs/home-ca.pem");
    let trust = "tls_trust_file ~/certs/home-ca.pem\n";
    // (mode, owner, what the refusal says; None: delivered)
    let cases = [
        (0o644, None, None),
        (0o664, None, Some(&["has mode 0664", "chmod go-w"][..])),
        // Another user's file, even read-only, is theirs to change.
        (0o644, Some(65534), Some(&["belongs to user id 65534"][..])),
    ];
    for (mode, owner, refusal) in cases {
        let exim = Exim::start();
        private(&file, exim.ca_pem());
        fs::set_permissions(&file, fs::Permissions::from_mode(mode)).unwrap();
        std::os::unix::fs::chown(&file, owner, None).unwrap();
        let run = send(&user, exim.port(), "required", trust);
        match refusal {
            None => assert_delivered(&exim, &run),
            Some(said) => {
                assert_eq!(run.code, Some(77), "{run:?}");
                for why in said {
                    assert!(run.stderr.contains(why), "{}", run.stderr);
                }
                assert!(exim.commands().is_empty());
            }
        }
    }
}

#[test]
fn tls_cert_file_and_tls_key_file_present_the_client_certificate() {
    let exim = Exim::with(EximOptions {
        verify_client_certs: true,
        ..Default::default()
    });
    let (cert, key) = exim.pki.issue("own-client", "own-client", "", true);
    let user = User::new();
    user.trust(exim.ca_pem());
    let home = user.home.path();
    private(&home.join("tls/me.pem"), &cert);
    private(&home.join("tls/me.key"), &key);
    let run = send(
        &user,
        exim.port(),
        "required",
        "tls_cert_file ~/tls/me.pem\ntls_key_file ~/tls/me.key\n",
    );
    assert_delivered(&exim, &run);
    let cmds = exim.commands().join("\n");
    assert!(cmds.contains("peerdn=CN=own-client"), "{cmds}");

    // A key others can read stops the submission before connecting (78
    // names the file; nothing reaches the server).
    fs::set_permissions(home.join("tls/me.key"), fs::Permissions::from_mode(0o640)).unwrap();
    let before = exim.commands().len();
    let run = send(
        &user,
        exim.port(),
        "required",
        "tls_cert_file ~/tls/me.pem\ntls_key_file ~/tls/me.key\n",
    );
    assert_eq!(run.code, Some(78), "{run:?}");
    assert!(
        run.stderr.contains("me.key has mode 0640"),
        "{}",
        run.stderr
    );
    assert_eq!(exim.commands().len(), before);
}

#[test]
fn check_reports_a_tls_cert_file_that_cannot_be_used() {
    let user = User::new();
    let home = user.home.path();
    let other = tempfile::tempdir().unwrap();
    let pki = Pki::new(other.path(), "check");
    let (cert, key) = pki.issue("me", "me", "", true);
    private(&home.join("tls/me.pem"), &cert);
    private(&home.join("tls/me.key"), &key);
    let rc = home.join(".esmtprc");
    fs::write(
        &rc,
        "identity me@example.org\nhostname mail.example.org\nstarttls required\n\
         tls_cert_file ~/tls/me.pem\ntls_key_file ~/tls/me.key\n",
    )
    .unwrap();
    fs::set_permissions(&rc, fs::Permissions::from_mode(0o600)).unwrap();
    let check = || {
        Command::new(env!("CARGO_BIN_EXE_esmtp"))
            .arg("check")
            .env("HOME", home)
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_CACHE_HOME")
            .output()
            .expect("esmtp check")
    };
    let out = check();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("E016"), "{text}");

    fs::set_permissions(home.join("tls/me.key"), fs::Permissions::from_mode(0o644)).unwrap();
    let out = check();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("E016"), "{text}");
    assert!(text.contains("me.key has mode 0644"), "{text}");
    assert!(text.contains("fix the tls_cert_file"), "{text}");
}
