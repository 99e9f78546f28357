//! A certificate as `esmtp probe` shows it: subject, issuer, names,
//! validity and the SHA-256 fingerprint in the form `tls_fingerprint`
//! takes. Every text from the certificate is the server's, so control
//! characters are escaped and lengths bounded.
//!
//! Read by hand: the few fields shown are a short walk through the DER
//! (RFC 5280 §4.1), and x509-cert, the crate for it, brought its table of
//! every known OID name with it (+295 KB and 2400 relocations that every
//! run of esmtp, not only the probe, paid at start-up). Nothing here is
//! trusted: rustls and webpki verify the certificate; this only shows it.

use super::super::shown::printable;
use serde::Serialize;
use sha2::{Digest, Sha256};

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

/// One DER element: its tag, its contents, and what follows it.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None; // high tag numbers: not in the fields we read
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The elements of a constructed value, in order.
fn elements(mut input: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    std::iter::from_fn(move || {
        let (tag, body, rest) = tlv(input)?;
        input = rest;
        Some((tag, body))
    })
}

/// An OBJECT IDENTIFIER as dotted text.
fn oid_text(body: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    for &b in body {
        value = (value << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value - first * 40);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
        if arcs.len() > 32 {
            break;
        }
    }
    let parts: Vec<String> = arcs.iter().map(u64::to_string).collect();
    parts.join(".")
}

/// The short name of an attribute type (RFC 4514 §3), else its OID.
fn attribute_name(oid: &[u8]) -> String {
    match oid {
        [0x55, 0x04, 0x03] => "CN".into(),
        [0x55, 0x04, 0x06] => "C".into(),
        [0x55, 0x04, 0x07] => "L".into(),
        [0x55, 0x04, 0x08] => "ST".into(),
        [0x55, 0x04, 0x0a] => "O".into(),
        [0x55, 0x04, 0x0b] => "OU".into(),
        [0x55, 0x04, 0x05] => "serialNumber".into(),
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => "emailAddress".into(),
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC".into(),
        other => oid_text(other),
    }
}

/// A directory string (UTF8String, PrintableString, IA5String,
/// TeletexString as Latin-1, BMPString, UniversalString) as text.
fn string_value(tag: u8, body: &[u8]) -> String {
    match tag {
        0x1e => {
            let units: Vec<u16> = body
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        0x1c => body
            .chunks_exact(4)
            .map(|c| {
                char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])).unwrap_or('\u{fffd}')
            })
            .collect(),
        0x14 => body.iter().map(|&b| char::from(b)).collect(),
        _ => String::from_utf8_lossy(body).into_owned(),
    }
}

/// A value escaped as RFC 4514 §2.4 says.
fn escape_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && matches!(c, '#' | ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A Name as RFC 4514 writes it: the most specific part first,
/// `CN=R11,O=Let's Encrypt,C=US`.
fn name_text(body: &[u8]) -> String {
    let mut rdns: Vec<String> = Vec::new();
    for (tag, set) in elements(body).take(64) {
        if tag != 0x31 {
            continue;
        }
        let parts: Vec<String> = elements(set)
            .take(16)
            .filter(|(t, _)| *t == 0x30)
            .filter_map(|(_, atv)| {
                let mut it = elements(atv);
                let (t, oid) = it.next()?;
                let (vt, value) = it.next()?;
                (t == 0x06).then(|| {
                    format!(
                        "{}={}",
                        attribute_name(oid),
                        escape_value(&string_value(vt, value))
                    )
                })
            })
            .collect();
        rdns.push(parts.join("+"));
    }
    rdns.reverse();
    bounded(&rdns.join(","))
}

/// UTCTime or GeneralizedTime as seconds since the epoch.
fn time(tag: u8, body: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(body).ok()?;
    let digits = text.strip_suffix('Z')?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (year, rest) = match (tag, digits.len()) {
        (0x17, 12) => {
            let yy: i32 = digits[..2].parse().ok()?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &digits[2..])
        }
        (0x18, 14) => (digits[..4].parse().ok()?, &digits[4..]),
        _ => return None,
    };
    let n = |i: usize| rest[i..i + 2].parse::<u32>().ok();
    let date = chrono::NaiveDate::from_ymd_opt(year, n(0)?, n(2)?)?;
    Some(date.and_hms_opt(n(4)?, n(6)?, n(8)?)?.and_utc().timestamp())
}

fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| secs.to_string())
}

/// One GeneralName of the subject alternative names (RFC 5280 §4.2.1.6).
fn general_name(tag: u8, body: &[u8]) -> String {
    match tag {
        0x82 => format!("DNS:{}", bounded(&String::from_utf8_lossy(body))),
        0x81 => format!("email:{}", bounded(&String::from_utf8_lossy(body))),
        0x86 => format!("URI:{}", bounded(&String::from_utf8_lossy(body))),
        0x87 => match body.len() {
            4 => format!(
                "IP:{}",
                std::net::Ipv4Addr::new(body[0], body[1], body[2], body[3])
            ),
            16 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(body);
                format!("IP:{}", std::net::Ipv6Addr::from(a))
            }
            _ => "IP:(malformed)".to_string(),
        },
        0xa4 => match tlv(body) {
            Some((0x30, name, _)) => format!("DirName:{}", name_text(name)),
            _ => "DirName:(malformed)".to_string(),
        },
        _ => "(other name)".to_string(),
    }
}

/// The subject alternative names in the extensions (`[3]` of the TBS).
fn alt_names(extensions: &[u8]) -> Vec<String> {
    const SAN: &[u8] = &[0x55, 0x1d, 0x11];
    let Some((0x30, list, _)) = tlv(extensions) else {
        return Vec::new();
    };
    for (_, ext) in elements(list).filter(|(t, _)| *t == 0x30).take(64) {
        let mut it = elements(ext);
        let Some((0x06, oid)) = it.next() else {
            continue;
        };
        if oid != SAN {
            continue;
        }
        let value = it.find(|(t, _)| *t == 0x04).map(|(_, v)| v);
        if let Some((0x30, names, _)) = value.and_then(tlv) {
            return elements(names)
                .take(MAX_NAMES)
                .map(|(t, b)| general_name(t, b))
                .collect();
        }
    }
    Vec::new()
}

struct Fields {
    subject: String,
    issuer: String,
    names: Vec<String>,
    not_before: i64,
    not_after: i64,
}

/// The fields shown, from the TBSCertificate (RFC 5280 §4.1).
fn fields(der: &[u8]) -> Option<Fields> {
    let (0x30, cert, _) = tlv(der)? else {
        return None;
    };
    let (0x30, tbs, _) = tlv(cert)? else {
        return None;
    };
    let mut it = elements(tbs).peekable();
    if it.peek().map(|(t, _)| *t) == Some(0xa0) {
        it.next(); // version
    }
    let _serial = it.next().filter(|(t, _)| *t == 0x02)?;
    let _signature = it.next().filter(|(t, _)| *t == 0x30)?;
    let (_, issuer) = it.next().filter(|(t, _)| *t == 0x30)?;
    let (_, validity) = it.next().filter(|(t, _)| *t == 0x30)?;
    let (_, subject) = it.next().filter(|(t, _)| *t == 0x30)?;
    let mut times = elements(validity);
    let (tb, b) = times.next()?;
    let (ta, a) = times.next()?;
    let names = it
        .find(|(t, _)| *t == 0xa3)
        .map(|(_, ext)| alt_names(ext))
        .unwrap_or_default();
    Some(Fields {
        subject: name_text(subject),
        issuer: name_text(issuer),
        names,
        not_before: time(tb, b)?,
        not_after: time(ta, a)?,
    })
}

/// Describe the certificate in `der`.
pub fn describe(der: &[u8]) -> CertificateInfo {
    let fp: [u8; 32] = Sha256::digest(der).into();
    let fingerprint = crate::plan::fingerprint_text(&fp);
    match fields(der) {
        Some(f) => CertificateInfo {
            subject: f.subject,
            issuer: f.issuer,
            names: f.names,
            not_before: rfc3339(f.not_before),
            not_after: rfc3339(f.not_after),
            not_after_unix: Some(f.not_after),
            fingerprint,
            error: None,
        },
        None => CertificateInfo {
            subject: String::new(),
            issuer: String::new(),
            names: Vec::new(),
            not_before: String::new(),
            not_after: String::new(),
            not_after_unix: None,
            fingerprint,
            error: Some("the certificate could not be decoded".to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    /// `openssl req -x509 -subj "/C=US/O=Let's, Encrypt/OU=a" -addext
    /// "subjectAltName=DNS:a.example,IP:192.0.2.1,IP:2001:db8::1,email:x@example.org"`;
    /// the expected texts are what `openssl x509 -nameopt RFC2253` prints.
    const CERT: &str = "MIIB+TCCAZ6gAwIBAgIUHvLssR2DO2EzJU2Axw3B0nx3KzMwCgYIKoZIzj0EAwIwMjELMAkGA1UEBhMCVVMxFzAVBgNVBAoMDkxldCdzLCBFbmNyeXB0MQowCAYDVQQLDAFhMB4XDTI2MTEzMDA5MTI1NVoXDTM2MTEyNzA5MTI1NVowMjELMAkGA1UEBhMCVVMxFzAVBgNVBAoMDkxldCdzLCBFbmNyeXB0MQowCAYDVQQLDAFhMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAERuhrD1hc8xaRvQUvGKuykzV7tScNXCIWmLywT4jzBFP+n/p3lhK+vOy5Uk5vRl1UPdmj6JHOHrseqS56ysO9J6OBkTCBjjAdBgNVHQ4EFgQUWNhc5lF81gxeIVlmrC5vbQY66v0wHwYDVR0jBBgwFoAUWNhc5lF81gxeIVlmrC5vbQY66v0wDwYDVR0TAQH/BAUwAwEB/zA7BgNVHREENDAygglhLmV4YW1wbGWHBMAAAgGHECABDbgAAAAAAAAAAAAAAAGBDXhAZXhhbXBsZS5vcmcwCgYIKoZIzj0EAwIDSQAwRgIhALD4CrNo+k8eQC3NqaqZPhW3yvlHsED5Vxe4tMYYGvqcAiEAkC1eDsXqf5nfA48lRf1Nl/wsERia4sGeAUX8t/V2k/E=";

    #[test]
    fn the_fields_are_read_as_openssl_reads_them() {
        let der = base64::engine::general_purpose::STANDARD
            .decode(CERT)
            .unwrap();
        let info = describe(&der);
        assert_eq!(info.error, None);
        assert_eq!(info.subject, "OU=a,O=Let's\\, Encrypt,C=US");
        assert_eq!(info.issuer, info.subject);
        assert_eq!(
            info.names,
            [
                "DNS:a.example",
                "IP:192.0.2.1",
                "IP:2001:db8::1",
                "email:x@example.org"
            ]
        );
        assert_eq!(info.not_before, "2026-11-30T09:12:55Z");
        assert_eq!(info.not_after, "2036-11-27T09:12:55Z");
        assert_eq!(
            info.fingerprint,
            "SHA256:C9:03:CF:4F:C7:6F:91:B3:83:47:F9:4A:F6:97:BD:A2:80:E8:12:B5:3E:DD:2D:61:7B:C5:32:8E:5A:59:DC:F4"
        );
        // Every prefix of it is refused without a panic.
        for n in 0..der.len() {
            let _ = describe(&der[..n]);
        }
        assert!(describe(&der[..der.len() / 2]).error.is_some());
    }

    #[test]
    fn times_and_oids() {
        assert_eq!(time(0x17, b"491231235959Z"), Some(2524607999));
        assert_eq!(time(0x17, b"500101000000Z"), Some(-631152000));
        assert_eq!(time(0x18, b"20261130091255Z"), Some(1796029975));
        assert_eq!(time(0x18, b"2026113009125Z"), None);
        assert_eq!(time(0x17, b"261330000000Z"), None);
        assert_eq!(
            oid_text(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d]),
            "1.2.840.113549"
        );
        assert_eq!(attribute_name(&[0x55, 0x04, 0x2a]), "2.5.4.42");
    }

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
