//! A certificate as `esmtp probe` shows it: subject, issuer, names,
//! validity and the SHA-256 fingerprint in the form `tls_fingerprint`
//! takes. Parsed with `x509-cert`; every text from the certificate is
//! the server's, so control characters are escaped and lengths bounded.

use super::super::shown::printable;
use serde::Serialize;
use sha2::{Digest, Sha256};
use x509_cert::der::Decode;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::time::Time;
use x509_cert::Certificate;

/// At most this many names of a certificate are shown.
const MAX_NAMES: usize = 50;
/// A longer subject, issuer or name is cut.
const MAX_TEXT: usize = 512;

/// One certificate of the chain.
#[derive(Debug, Clone, Serialize)]
pub struct CertificateInfo {
    pub subject: String,
    pub issuer: String,
    /// The subject alternative names: `DNS:host`, `IP:addr`, `email:...`.
    pub names: Vec<String>,
    /// RFC 3339, UTC.
    pub not_before: String,
    pub not_after: String,
    /// Seconds since the epoch (for the expiry check and JSON readers).
    pub not_after_unix: Option<i64>,
    /// `SHA256:AB:CD:...`, ready for `tls_fingerprint`.
    pub fingerprint: String,
    /// Set when the certificate could not be decoded (only the
    /// fingerprint is then known).
    pub error: Option<String>,
}

fn bounded(text: &str) -> String {
    let shown = printable(text.as_bytes());
    if shown.len() <= MAX_TEXT {
        return shown;
    }
    let mut end = MAX_TEXT;
    while !shown.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &shown[..end])
}

fn unix(t: &Time) -> i64 {
    i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| secs.to_string())
}

fn general_name(n: &GeneralName) -> String {
    match n {
        GeneralName::DnsName(s) => format!("DNS:{}", bounded(s.as_str())),
        GeneralName::Rfc822Name(s) => format!("email:{}", bounded(s.as_str())),
        GeneralName::UniformResourceIdentifier(s) => format!("URI:{}", bounded(s.as_str())),
        GeneralName::IpAddress(o) => {
            let b = o.as_bytes();
            match b.len() {
                4 => format!("IP:{}", std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3])),
                16 => {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(b);
                    format!("IP:{}", std::net::Ipv6Addr::from(a))
                }
                _ => "IP:(malformed)".to_string(),
            }
        }
        GeneralName::DirectoryName(name) => format!("DirName:{}", bounded(&name.to_string())),
        _ => "(other name)".to_string(),
    }
}

/// Describe the certificate in `der`.
pub fn describe(der: &[u8]) -> CertificateInfo {
    let fp: [u8; 32] = Sha256::digest(der).into();
    let fingerprint = crate::plan::fingerprint_text(&fp);
    let cert = match Certificate::from_der(der) {
        Ok(c) => c,
        Err(e) => {
            return CertificateInfo {
                subject: String::new(),
                issuer: String::new(),
                names: Vec::new(),
                not_before: String::new(),
                not_after: String::new(),
                not_after_unix: None,
                fingerprint,
                error: Some(format!("cannot decode the certificate: {e}")),
            }
        }
    };
    let tbs = &cert.tbs_certificate;
    let names = match tbs.get::<SubjectAltName>() {
        Ok(Some((_, san))) => san.0.iter().take(MAX_NAMES).map(general_name).collect(),
        _ => Vec::new(),
    };
    let not_before = unix(&tbs.validity.not_before);
    let not_after = unix(&tbs.validity.not_after);
    CertificateInfo {
        subject: bounded(&tbs.subject.to_string()),
        issuer: bounded(&tbs.issuer.to_string()),
        names,
        not_before: rfc3339(not_before),
        not_after: rfc3339(not_after),
        not_after_unix: Some(not_after),
        fingerprint,
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_described_by_its_fingerprint_only() {
        let info = describe(b"\x30\x03\x02\x01\x00 not a certificate");
        assert!(info.error.is_some());
        assert!(info.fingerprint.starts_with("SHA256:"));
        assert_eq!(info.fingerprint.len(), "SHA256:".len() + 32 * 3 - 1);
    }

    #[test]
    fn long_or_control_text_is_made_safe() {
        assert_eq!(bounded("a\x1b[31mb"), "a\\x1b[31mb");
        let long = "x".repeat(2000);
        assert_eq!(bounded(&long).len(), MAX_TEXT + 3);
    }
}
