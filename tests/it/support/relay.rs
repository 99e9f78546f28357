//! The identity, envelope and message most relay tests use, and the trust a home needs.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// A plan identity relaying to 127.0.0.1:`port` with a short timeout.
pub fn identity(port: u16) -> esmtp::plan::Identity {
    let mut id = esmtp::plan::Identity::new(Some("sender@example.org".into()));
    id.relay = esmtp::plan::Relay {
        host: "127.0.0.1".into(),
        port,
        explicit: true,
    };
    id.timeout_secs = 10;
    id.helo = Some("client.test".into());
    id
}

/// The envelope most relay tests use: sender@example.org to bob@example.net.
pub fn to_bob() -> esmtp::transport::Envelope {
    esmtp::transport::Envelope {
        sender: "sender@example.org".into(),
        recipients: vec!["bob@example.net".into()],
    }
}

/// Relay [`message`]`(subject, body)` through `id` on [`to_bob`], with
/// default message and session options.
pub fn relay_message(
    id: &esmtp::plan::Identity,
    subject: &str,
    body: &str,
) -> Result<(), esmtp::exit::Failure> {
    esmtp::transport::relay(
        id,
        &to_bob(),
        &esmtp::transport::MessageOptions::default(),
        &esmtp::transport::SessionOptions::default(),
        &mut &message(subject, body)[..],
    )
}

/// `home`/.authenticate (0700) with ca.pem (0600), a copy of `ca`.
pub fn trust(home: &Path, ca: &Path) {
    let dir = home.join(".authenticate");
    fs::create_dir_all(&dir).unwrap();
    fs::copy(ca, dir.join("ca.pem")).unwrap();
    fs::set_permissions(dir.join("ca.pem"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
}

/// A small message with CRLF line ends.
pub fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Sender <sender@example.org>\r\nTo: bob@example.net\r\nSubject: {subject}\r\n\
         Date: Wed, 25 Nov 2026 08:00:00 +0000\r\nMessage-ID: <{subject}@example.org>\r\n\r\n{body}"
    )
    .replace("\r\n", "\n")
    .replace('\n', "\r\n")
    .into_bytes()
}
