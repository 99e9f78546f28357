//! The keyword table checked against itself and the key enum.

use super::*;

#[test]
fn every_key_has_one_entry() {
    let all = [
        Key::Identity,
        Key::Hostname,
        Key::Username,
        Key::Password,
        Key::Starttls,
        Key::CertificatePassphrase,
        Key::Preconnect,
        Key::Postconnect,
        Key::Qualifydomain,
        Key::Helo,
        Key::ForceSender,
        Key::ForceReversePath,
        Key::MessageId,
        Key::Mda,
        Key::ForceMda,
        Key::Default,
        Key::Timeout,
        Key::Passwordeval,
        Key::Auth,
        Key::Queue,
        Key::QueueDir,
        Key::QueueLifetime,
        Key::TlsFingerprint,
        Key::TlsTrustFile,
        Key::Aliases,
        Key::TlsCertFile,
        Key::TlsKeyFile,
        Key::Oauth2,
        Key::Oauth2ClientId,
        Key::Oauth2ClientSecret,
        Key::Oauth2ClientSecretEval,
        Key::Oauth2AuthUrl,
        Key::Oauth2TokenUrl,
        Key::Oauth2DeviceUrl,
        Key::Oauth2Scope,
        Key::Logfile,
        Key::Syslog,
    ];
    for k in all {
        assert_eq!(KEYWORDS.iter().filter(|e| e.key == k).count(), 1, "{k:?}");
    }
    assert_eq!(KEYWORDS.len(), all.len());
}

#[test]
fn secrets_come_from_the_table() {
    let secret: Vec<Key> = KEYWORDS
        .iter()
        .filter(|k| k.is_secret())
        .map(|k| k.key)
        .collect();
    assert_eq!(
        secret,
        [
            Key::Password,
            Key::CertificatePassphrase,
            Key::Oauth2ClientSecret
        ]
    );
    assert!(!Key::Username.is_secret() && !Key::Passwordeval.is_secret());
}

#[test]
fn aliases_resolve() {
    assert_eq!(lookup("host"), Some((Word::Key(Key::Hostname), false)));
    assert_eq!(lookup("tls"), Some((Word::Key(Key::Starttls), false)));
    assert_eq!(
        lookup("passphrase"),
        Some((Word::Key(Key::CertificatePassphrase), false))
    );
    assert_eq!(lookup("timeout"), Some((Word::Key(Key::Timeout), true)));
    assert_eq!(lookup("default"), Some((Word::Default, false)));
    assert_eq!(lookup("force sender"), None);
    assert_eq!(lookup("Hostname"), None);
}
