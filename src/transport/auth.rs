//! SMTP AUTH: the mechanisms we speak and how we pick one.
//!
//! The computations are pure functions here; the exchange itself (commands
//! and challenges) lives in `smtp/authentication.rs`. CRAM-MD5 is HMAC-MD5 (RFC 2195);
//! NTLM is version 1, as libESMTP sends it and as Exim's `spa` server
//! checks it (MD4 of the password as 16-bit units, DES over the challenge).
//! SCRAM (RFC 5802, 7677) is in `scram.rs`; OAUTHBEARER (RFC 7628) is the
//! standard form of XOAUTH2.
//!
//! User names and secrets are bytes, exactly as the file (or `passwordeval`)
//! gives them: esmtp 1.2 sends a Latin-1 password byte for byte in PLAIN
//! and LOGIN, keys CRAM-MD5's HMAC with the same bytes, and makes NTLM's
//! 16-bit units by widening each byte (libESMTP's `nt_unicode`, which Exim's
//! `spa` server mirrors), so every mechanism here works on the same bytes.

use crate::plan::AuthMech;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use des::cipher::{generic_array::GenericArray, BlockEncrypt, KeyInit};
use hmac::{Hmac, Mac};
use md4::{Digest, Md4};

/// Our preference when the file does not insist on a mechanism: those that
/// never show the password first, SCRAM (which also makes the server prove
/// that it knows the password) before all. XOAUTH2 and OAUTHBEARER are used
/// only when asked for (their secret is a token, not a password).
pub(crate) const PREFERENCE: [AuthMech; 6] = [
    AuthMech::ScramSha256,
    AuthMech::ScramSha1,
    AuthMech::CramMd5,
    AuthMech::Ntlm,
    AuthMech::Plain,
    AuthMech::Login,
];

/// Pick the mechanism: the one the file insists on, else the strongest the
/// server offers. `Err` carries the explanation.
pub(crate) fn choose(offered: &[String], insist: Option<AuthMech>) -> Result<AuthMech, String> {
    let has = |m: AuthMech| {
        offered
            .iter()
            .any(|o| o.eq_ignore_ascii_case(m.sasl_name()))
    };
    let list = if offered.is_empty() {
        "none".to_string()
    } else {
        offered.join(" ")
    };
    match insist {
        Some(m) if has(m) => Ok(m),
        // `oauth2` implies `auth xoauth2`: the file may not say it.
        Some(AuthMech::Xoauth2) => Err(format!(
            "the server does not offer AUTH XOAUTH2 (the mechanism of `auth xoauth2`, \
             and of `oauth2` without `auth`; offered: {list})"
        )),
        Some(m) => Err(format!(
            "the server does not offer AUTH {} (the file says `auth {}`; offered: {list})",
            m.sasl_name(),
            m.config_name()
        )),
        None => PREFERENCE.into_iter().find(|m| has(*m)).ok_or_else(|| {
            format!(
                "the server offers no authentication mechanism we can use \
                 (offered: {list}; we speak SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 NTLM PLAIN LOGIN, \
                 and XOAUTH2 and OAUTHBEARER with `auth xoauth2` or `auth oauthbearer`)"
            )
        }),
    }
}

pub(crate) fn b64(data: &[u8]) -> String {
    B64.encode(data)
}

pub(crate) fn unb64(text: &str) -> Option<Vec<u8>> {
    B64.decode(text.trim()).ok()
}

/// `AUTH PLAIN` initial response: base64 of `\0user\0secret`.
pub(crate) fn plain(user: &[u8], secret: &[u8]) -> String {
    let mut v = Vec::with_capacity(user.len() + secret.len() + 2);
    v.push(0);
    v.extend_from_slice(user);
    v.push(0);
    v.extend_from_slice(secret);
    b64(&v)
}

/// XOAUTH2 initial response (Google's and Microsoft's SASL XOAUTH2).
pub(crate) fn xoauth2(user: &[u8], token: &[u8]) -> String {
    let mut v = Vec::with_capacity(user.len() + token.len() + 24);
    v.extend_from_slice(b"user=");
    v.extend_from_slice(user);
    v.extend_from_slice(b"\x01auth=Bearer ");
    v.extend_from_slice(token);
    v.extend_from_slice(b"\x01\x01");
    b64(&v)
}

/// OAUTHBEARER initial response (RFC 7628 section 3.1): the GS2 header
/// naming `user` as the authorization identity, then the host and port we
/// connected to and the token.
pub(crate) fn oauthbearer(user: &[u8], host: &str, port: &str, token: &[u8]) -> String {
    let mut v = b"n,a=".to_vec();
    v.extend_from_slice(&crate::transport::scram::saslname(user));
    v.extend_from_slice(b",\x01host=");
    v.extend_from_slice(host.as_bytes());
    v.extend_from_slice(b"\x01port=");
    v.extend_from_slice(port.as_bytes());
    v.extend_from_slice(b"\x01auth=Bearer ");
    v.extend_from_slice(token);
    v.extend_from_slice(b"\x01\x01");
    b64(&v)
}

/// CRAM-MD5 answer to a base64 challenge.
pub(crate) fn cram_md5(user: &[u8], secret: &[u8], challenge_b64: &str) -> Option<String> {
    let challenge = unb64(challenge_b64)?;
    let mut mac = <Hmac<md5::Md5> as Mac>::new_from_slice(secret).ok()?;
    mac.update(&challenge);
    let digest = mac.finalize().into_bytes();
    let mut answer = Vec::with_capacity(user.len() + 33);
    answer.extend_from_slice(user);
    answer.push(b' ');
    for b in digest {
        answer.extend_from_slice(format!("{b:02x}").as_bytes());
    }
    Some(b64(&answer))
}

const NTLM_SIG: &[u8; 8] = b"NTLMSSP\0";
/// NEGOTIATE_UNICODE | NEGOTIATE_OEM | REQUEST_TARGET | NEGOTIATE_NTLM |
/// NEGOTIATE_ALWAYS_SIGN.
const NTLM_FLAGS: u32 = 0x0000_8207;

/// NTLM type 1 (negotiate) message, base64.
pub(crate) fn ntlm_negotiate() -> String {
    let mut m = Vec::with_capacity(32);
    m.extend_from_slice(NTLM_SIG);
    m.extend_from_slice(&1u32.to_le_bytes());
    m.extend_from_slice(&NTLM_FLAGS.to_le_bytes());
    // Empty domain and workstation security buffers pointing at the end.
    for _ in 0..2 {
        m.extend_from_slice(&0u16.to_le_bytes());
        m.extend_from_slice(&0u16.to_le_bytes());
        m.extend_from_slice(&32u32.to_le_bytes());
    }
    b64(&m)
}

/// The 8-byte server challenge of an NTLM type 2 message.
pub(crate) fn ntlm_challenge(type2_b64: &str) -> Option<[u8; 8]> {
    let m = unb64(type2_b64)?;
    if m.len() < 32 || &m[..8] != NTLM_SIG || m[8..12] != 2u32.to_le_bytes() {
        return None;
    }
    let mut c = [0u8; 8];
    c.copy_from_slice(&m[24..32]);
    Some(c)
}

/// Expand 7 key bytes to an 8-byte DES key (the parity bit is ignored).
fn des_key(k7: &[u8]) -> [u8; 8] {
    [
        k7[0] >> 1,
        ((k7[0] & 0x01) << 6) | (k7[1] >> 2),
        ((k7[1] & 0x03) << 5) | (k7[2] >> 3),
        ((k7[2] & 0x07) << 4) | (k7[3] >> 4),
        ((k7[3] & 0x0f) << 3) | (k7[4] >> 5),
        ((k7[4] & 0x1f) << 2) | (k7[5] >> 6),
        ((k7[5] & 0x3f) << 1) | (k7[6] >> 7),
        k7[6] & 0x7f,
    ]
    .map(|b| b << 1)
}

fn des_encrypt(k7: &[u8], block: &[u8; 8]) -> [u8; 8] {
    let key = des_key(k7);
    let cipher = des::Des::new(GenericArray::from_slice(&key));
    let mut b = GenericArray::clone_from_slice(block);
    cipher.encrypt_block(&mut b);
    let mut out = [0u8; 8];
    out.copy_from_slice(&b);
    out
}

/// 16-byte hash → 24-byte response to the challenge (three DES blocks).
fn ntlm_p24(hash16: &[u8; 16], challenge: &[u8; 8]) -> [u8; 24] {
    let mut p21 = [0u8; 21];
    p21[..16].copy_from_slice(hash16);
    let mut out = [0u8; 24];
    for i in 0..3 {
        out[i * 8..i * 8 + 8].copy_from_slice(&des_encrypt(&p21[i * 7..i * 7 + 7], challenge));
    }
    out
}

/// NTLM's 16-bit little-endian units, one per byte (libESMTP's
/// `nt_unicode`): what esmtp 1.2 sends and Exim's `spa` server computes.
/// For ASCII and Latin-1 this is UTF-16LE.
fn widen(s: &[u8]) -> Vec<u8> {
    s.iter().flat_map(|&b| [b, 0]).collect()
}

pub(crate) fn nt_hash(secret: &[u8]) -> [u8; 16] {
    let d = Md4::digest(widen(secret));
    let mut h = [0u8; 16];
    h.copy_from_slice(&d);
    h
}

fn lm_hash(secret: &[u8]) -> [u8; 16] {
    let mut pw = [0u8; 14];
    for (i, b) in secret.iter().take(14).enumerate() {
        pw[i] = b.to_ascii_uppercase();
    }
    let magic = b"KGS!@#$%";
    let mut h = [0u8; 16];
    h[..8].copy_from_slice(&des_encrypt(&pw[..7], magic));
    h[8..].copy_from_slice(&des_encrypt(&pw[7..], magic));
    h
}

/// NTLM (v1) response to the challenge.
pub(crate) fn nt_response(secret: &[u8], challenge: &[u8; 8]) -> [u8; 24] {
    ntlm_p24(&nt_hash(secret), challenge)
}

/// NTLM type 3 (authenticate) message, base64.
pub(crate) fn ntlm_authenticate(
    user: &[u8],
    secret: &[u8],
    challenge: &[u8; 8],
    host: &str,
) -> String {
    let lm = ntlm_p24(&lm_hash(secret), challenge);
    let nt = nt_response(secret, challenge);
    // A "DOMAIN\user" login names the domain.
    let (domain, user) = match user.iter().position(|&b| b == b'\\') {
        Some(i) => (&user[..i], &user[i + 1..]),
        None => (&b""[..], user),
    };
    let domain = widen(domain);
    let user = widen(user);
    let wks = widen(host.to_ascii_uppercase().as_bytes());
    let fields: [&[u8]; 5] = [&lm, &nt, &domain, &user, &wks];

    let header_len = 64usize;
    let mut m = Vec::with_capacity(header_len + fields.iter().map(|f| f.len()).sum::<usize>());
    m.extend_from_slice(NTLM_SIG);
    m.extend_from_slice(&3u32.to_le_bytes());
    let mut offset = header_len;
    for f in fields {
        let len = f.len() as u16;
        m.extend_from_slice(&len.to_le_bytes());
        m.extend_from_slice(&len.to_le_bytes());
        m.extend_from_slice(&(offset as u32).to_le_bytes());
        offset += f.len();
    }
    // Session key: empty.
    m.extend_from_slice(&0u16.to_le_bytes());
    m.extend_from_slice(&0u16.to_le_bytes());
    m.extend_from_slice(&(offset as u32).to_le_bytes());
    m.extend_from_slice(&NTLM_FLAGS.to_le_bytes());
    for f in fields {
        m.extend_from_slice(f);
    }
    b64(&m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cram_md5_matches_rfc_2195() {
        // RFC 2195 section 2 example.
        let challenge = b64(b"<1896.697170952@postoffice.reston.mci.net>");
        let answer = cram_md5(b"tim", b"tanstaaftanstaaf", &challenge).unwrap();
        assert_eq!(
            String::from_utf8(unb64(&answer).unwrap()).unwrap(),
            "tim b913a602c7eda7a495b4e6e7334d3890"
        );
    }

    #[test]
    fn nt_response_matches_the_published_ntlmv1_vector() {
        // [MS-NLMP] 4.2.2: password "Password", challenge 0123456789abcdef.
        let challenge = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
        assert_eq!(
            nt_hash(b"Password"),
            [
                0xa4, 0xf4, 0x9c, 0x40, 0x65, 0x10, 0xbd, 0xca, 0xb6, 0x82, 0x4e, 0xe7, 0xc3, 0x0f,
                0xd8, 0x52
            ]
        );
        assert_eq!(
            nt_response(b"Password", &challenge),
            [
                0x67, 0xc4, 0x30, 0x11, 0xf3, 0x02, 0x98, 0xa2, 0xad, 0x35, 0xec, 0xe6, 0x4f, 0x16,
                0x33, 0x1c, 0x44, 0xbd, 0xbe, 0xd9, 0x27, 0x84, 0x1f, 0x94
            ]
        );
        assert_eq!(
            ntlm_p24(&lm_hash(b"Password"), &challenge),
            [
                0x98, 0xde, 0xf7, 0xb8, 0x7f, 0x88, 0xaa, 0x5d, 0xaf, 0xe2, 0xdf, 0x77, 0x96, 0x88,
                0xa1, 0x72, 0xde, 0xf1, 0x1c, 0x7d, 0x5c, 0xcd, 0xef, 0x13
            ]
        );
    }

    #[test]
    fn choice_prefers_mechanisms_that_hide_the_password() {
        let offered: Vec<String> = ["PLAIN", "LOGIN", "CRAM-MD5"].map(String::from).into();
        assert_eq!(choose(&offered, None), Ok(AuthMech::CramMd5));
        let scram: Vec<String> = ["PLAIN", "SCRAM-SHA-1", "CRAM-MD5", "scram-sha-256"]
            .map(String::from)
            .into();
        assert_eq!(choose(&scram, None), Ok(AuthMech::ScramSha256));
        assert_eq!(choose(&scram[..3], None), Ok(AuthMech::ScramSha1));
        assert!(choose(&["OAUTHBEARER".into()], None).is_err());
        assert_eq!(choose(&offered, Some(AuthMech::Login)), Ok(AuthMech::Login));
        assert!(choose(&offered, Some(AuthMech::Xoauth2)).is_err());
        assert!(choose(&["XOAUTH2".into()], None).is_err());
        assert!(choose(&[], None).is_err());
    }

    #[test]
    fn plain_and_xoauth2_encode_as_specified() {
        assert_eq!(unb64(&plain(b"alice", b"pw")).unwrap(), b"\0alice\0pw");
        assert_eq!(
            unb64(&xoauth2(b"alice", b"TOKEN")).unwrap(),
            b"user=alice\x01auth=Bearer TOKEN\x01\x01"
        );
        // RFC 7628 section 4.1's example, with an authzid that needs escaping.
        assert_eq!(
            unb64(&oauthbearer(b"u,s=r", "server.example.com", "143", b"vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==")).unwrap(),
            b"n,a=u=2Cs=3Dr,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
        );
    }

    #[test]
    fn latin1_secrets_are_used_byte_for_byte() {
        // PLAIN carries the bytes themselves.
        assert_eq!(
            unb64(&plain(b"u\xe9", b"caf\xe9")).unwrap(),
            b"\0u\xe9\0caf\xe9"
        );
        // NTLM widens each byte: Latin-1 "caf\xe9" is UTF-16LE "café".
        let utf16: Vec<u8> = "café"
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        assert_eq!(widen(b"caf\xe9"), utf16);
        assert_eq!(nt_hash(b"caf\xe9"), {
            let d = Md4::digest(&utf16);
            let mut h = [0u8; 16];
            h.copy_from_slice(&d);
            h
        });
        // CRAM-MD5: tests/it/config/session_differential/ checks the digest.
    }
}
