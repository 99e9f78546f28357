//! SCRAM-SHA-256 (RFC 7677) and SCRAM-SHA-1 (RFC 5802), the client side:
//! pure computations, the exchange itself is in `smtp/authentication.rs`.
//!
//! The user name and the password are bytes, like every mechanism's (see
//! `auth`). When they are UTF-8 they are prepared with SASLprep (RFC 4013)
//! as RFC 5802 asks; a string SASLprep refuses (a control character, an
//! unassigned code point) or bytes that are not UTF-8 are used as they are,
//! which is what a server that does not prepare them (Cyrus SASL) compares.
//!
//! The server is believed only once it has proven that it knows the
//! password: [`Scram::verify`] compares its signature (`v=`) in constant
//! time; the caller never goes on to MAIL without that proof.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::digest::{Digest, FixedOutput, KeyInit, Update};
use hmac::Hmac;
use std::borrow::Cow;

/// The hash of the SCRAM variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha1,
    Sha256,
}

/// The most PBKDF2 iterations a server may ask for: RFC 7677 asks for at
/// least 4096 and servers use up to a few hundred thousand; more would let
/// a hostile server keep the CPU busy for as long as it likes (1 000 000
/// rounds of HMAC-SHA-256 take about half a second).
pub(crate) const MAX_ITERATIONS: u32 = 1_000_000;

/// Longest salt we decode (servers use 16 to 32 bytes).
const MAX_SALT: usize = 1024;

/// Length of our nonce in random bytes (base64: 32 printable characters).
const NONCE_BYTES: usize = 24;

/// A SCRAM exchange in progress, after our client-first message.
pub(crate) struct Scram {
    hash: Hash,
    nonce: String,
    client_first_bare: Vec<u8>,
    /// The server's signature we expect in its final message, once
    /// [`Scram::client_final`] computed it.
    server_signature: Option<Vec<u8>>,
}

/// A SASL `saslname` (RFC 5802, also the authzid of RFC 7628): `,` as
/// `=2C` and `=` as `=3D`.
pub(crate) fn saslname(name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len());
    for &b in name {
        match b {
            b',' => out.extend_from_slice(b"=2C"),
            b'=' => out.extend_from_slice(b"=3D"),
            _ => out.push(b),
        }
    }
    out
}

/// SASLprep (RFC 4013) of UTF-8 bytes, else the bytes as they are.
fn prepared(text: &[u8]) -> Cow<'_, [u8]> {
    match std::str::from_utf8(text) {
        Ok(s) if !s.is_ascii() || s.bytes().any(|b| b.is_ascii_control()) => {
            match stringprep::saslprep(s) {
                Ok(Cow::Owned(p)) => Cow::Owned(p.into_bytes()),
                _ => Cow::Borrowed(text),
            }
        }
        // Printable ASCII is its own SASLprep.
        _ => Cow::Borrowed(text),
    }
}

/// Why the server's message cannot be used.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ScramError {
    /// Not a SCRAM message, or one we must not follow (the text says why).
    Protocol(String),
    /// The server's `e=` error, as it sent it (to be masked and escaped
    /// before it is shown).
    Server(Vec<u8>),
    /// The server's signature is wrong: it does not know the password.
    Unproven,
}

/// The value of attribute `key` (`k=value`) of a SCRAM message.
fn attribute(message: &[u8], key: u8) -> Option<&[u8]> {
    message
        .split(|&b| b == b',')
        .find(|a| a.len() >= 2 && a[0] == key && a[1] == b'=')
        .map(|a| &a[2..])
}

impl Scram {
    /// Start an exchange for `user` with a fresh random nonce; returns it
    /// and the client-first message.
    pub(crate) fn start(hash: Hash, user: &[u8]) -> Option<(Scram, Vec<u8>)> {
        let mut random = [0u8; NONCE_BYTES];
        getrandom::fill(&mut random).ok()?;
        Some(Scram::with_nonce(hash, user, B64.encode(random)))
    }

    pub(crate) fn with_nonce(hash: Hash, user: &[u8], nonce: String) -> (Scram, Vec<u8>) {
        let mut bare = b"n=".to_vec();
        bare.extend_from_slice(&saslname(&prepared(user)));
        bare.extend_from_slice(b",r=");
        bare.extend_from_slice(nonce.as_bytes());
        let mut first = b"n,,".to_vec();
        first.extend_from_slice(&bare);
        (
            Scram {
                hash,
                nonce,
                client_first_bare: bare,
                server_signature: None,
            },
            first,
        )
    }

    /// The client-final message answering `server_first`, proving that we
    /// know `password`.
    pub(crate) fn client_final(
        &mut self,
        server_first: &[u8],
        password: &[u8],
    ) -> Result<Vec<u8>, ScramError> {
        self.client_final_within(server_first, password, MAX_ITERATIONS)
    }

    /// [`Scram::client_final`] doing at most `max_iterations` (the fuzz
    /// target keeps them cheap).
    pub(crate) fn client_final_within(
        &mut self,
        server_first: &[u8],
        password: &[u8],
        max_iterations: u32,
    ) -> Result<Vec<u8>, ScramError> {
        let protocol = |why: &str| ScramError::Protocol(why.to_string());
        if let Some(e) = attribute(server_first, b'e') {
            return Err(ScramError::Server(e.to_vec()));
        }
        if server_first.starts_with(b"m=") {
            return Err(protocol(
                "the server demands an extension we do not know (m=)",
            ));
        }
        let nonce = attribute(server_first, b'r')
            .ok_or_else(|| protocol("the server's first message has no nonce (r=)"))?;
        if nonce.len() <= self.nonce.len()
            || !nonce.starts_with(self.nonce.as_bytes())
            || !nonce.iter().all(|&b| b.is_ascii_graphic() && b != b',')
        {
            return Err(protocol(
                "the server's nonce does not extend ours (a replayed or forged exchange)",
            ));
        }
        let salt = attribute(server_first, b's')
            .filter(|s| s.len() <= MAX_SALT * 4 / 3 + 4)
            .and_then(|s| B64.decode(s).ok())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| protocol("the server's salt (s=) is missing or not base64"))?;
        let iterations = attribute(server_first, b'i')
            .and_then(|i| std::str::from_utf8(i).ok())
            .and_then(|i| i.parse::<u32>().ok())
            .filter(|i| *i >= 1)
            .ok_or_else(|| protocol("the server's iteration count (i=) is missing or invalid"))?;
        if iterations > max_iterations {
            return Err(ScramError::Protocol(format!(
                "the server asks for {iterations} iterations (at most {max_iterations} are done)"
            )));
        }
        let mut without_proof = b"c=biws,r=".to_vec(); // biws: base64 of "n,,"
        without_proof.extend_from_slice(nonce);
        let mut auth_message = self.client_first_bare.clone();
        auth_message.push(b',');
        auth_message.extend_from_slice(server_first);
        auth_message.push(b',');
        auth_message.extend_from_slice(&without_proof);
        let password = prepared(password);
        let (proof, server_signature) = match self.hash {
            Hash::Sha1 => {
                proofs::<sha1::Sha1, Hmac<sha1::Sha1>>(&password, &salt, iterations, &auth_message)
            }
            Hash::Sha256 => proofs::<sha2::Sha256, Hmac<sha2::Sha256>>(
                &password,
                &salt,
                iterations,
                &auth_message,
            ),
        };
        self.server_signature = Some(server_signature);
        let mut out = without_proof;
        out.extend_from_slice(b",p=");
        out.extend_from_slice(B64.encode(proof).as_bytes());
        Ok(out)
    }

    /// Check the server-final message: `v=` must be the signature only a
    /// server that knows the password can make.
    pub(crate) fn verify(&self, server_final: &[u8]) -> Result<(), ScramError> {
        if let Some(e) = attribute(server_final, b'e') {
            return Err(ScramError::Server(e.to_vec()));
        }
        let Some(expected) = &self.server_signature else {
            return Err(ScramError::Unproven);
        };
        let got = attribute(server_final, b'v')
            .and_then(|v| B64.decode(v).ok())
            .ok_or(ScramError::Unproven)?;
        // Constant time: no early exit on the first differing byte.
        let same = got.len() == expected.len()
            && got
                .iter()
                .zip(expected)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if same {
            Ok(())
        } else {
            Err(ScramError::Unproven)
        }
    }
}

/// HMAC of `data` keyed with `key` (`M` is `Hmac<D>`).
fn hmac<M: KeyInit + Update + FixedOutput>(key: &[u8], data: &[u8]) -> Vec<u8> {
    // Any key length is valid for HMAC.
    let Ok(mut mac) = <M as KeyInit>::new_from_slice(key) else {
        return Vec::new();
    };
    mac.update(data);
    mac.finalize_fixed().to_vec()
}

/// ClientProof and ServerSignature (RFC 5802 section 3), `M` being
/// `Hmac<D>` (which keys its state once: PBKDF2 then costs two hash blocks
/// per iteration, not four).
fn proofs<D, M>(
    password: &[u8],
    salt: &[u8],
    iterations: u32,
    auth_message: &[u8],
) -> (Vec<u8>, Vec<u8>)
where
    D: Digest,
    M: KeyInit + Update + FixedOutput + Clone + Sync,
{
    let mut salted = vec![0u8; <D as Digest>::output_size()];
    // Any password and salt length is valid for PBKDF2-HMAC.
    let _ = pbkdf2::pbkdf2::<M>(password, salt, iterations, &mut salted);
    let client_key = hmac::<M>(&salted, b"Client Key");
    let stored_key = D::digest(&client_key);
    let client_signature = hmac::<M>(&stored_key, auth_message);
    let proof = client_key
        .iter()
        .zip(&client_signature)
        .map(|(k, s)| k ^ s)
        .collect();
    let server_key = hmac::<M>(&salted, b"Server Key");
    (proof, hmac::<M>(&server_key, auth_message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scram_sha_1_matches_rfc_5802() {
        // RFC 5802 section 5.
        let (mut s, first) =
            Scram::with_nonce(Hash::Sha1, b"user", "fyko+d2lbbFgONRv9qkxdawL".into());
        assert_eq!(first, b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");
        let server_first =
            b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
        let last = s.client_final(server_first, b"pencil").unwrap();
        assert_eq!(
            last,
            b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
        );
        assert_eq!(s.verify(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ="), Ok(()));
        assert_eq!(
            s.verify(b"v=rmF9pqV8S7suAoZWja4dJRkFsKR="),
            Err(ScramError::Unproven)
        );
        assert_eq!(s.verify(b"x=1"), Err(ScramError::Unproven));
        assert_eq!(
            s.verify(b"e=invalid-proof"),
            Err(ScramError::Server(b"invalid-proof".to_vec()))
        );
    }

    #[test]
    fn scram_sha_256_matches_rfc_7677() {
        // RFC 7677 section 3.
        let (mut s, first) =
            Scram::with_nonce(Hash::Sha256, b"user", "rOprNGfwEbeRWgbNEkqO".into());
        assert_eq!(first, b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let last = s.client_final(server_first, b"pencil").unwrap();
        assert_eq!(
            last,
            &b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="[..]
        );
        assert_eq!(
            s.verify(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
            Ok(())
        );
        assert_eq!(s.verify(b"v=AAAA"), Err(ScramError::Unproven));
    }

    #[test]
    fn hostile_server_first_messages_are_refused() {
        let start = || Scram::with_nonce(Hash::Sha256, b"u", "abc".into()).0;
        for bad in [
            &b"r=abc,s=QSXCR+Q6sek8bf92,i=4096"[..], // does not extend our nonce
            b"r=xyzabc,s=QSXCR+Q6sek8bf92,i=4096",   // does not start with it
            b"r=abcd,i=4096",                        // no salt
            b"r=abcd,s=!!,i=4096",                   // salt not base64
            b"r=abcd,s=QSXCR+Q6sek8bf92",            // no iterations
            b"r=abcd,s=QSXCR+Q6sek8bf92,i=0",
            b"r=abcd,s=QSXCR+Q6sek8bf92,i=-1",
            b"r=abcd,s=QSXCR+Q6sek8bf92,i=4294967296",
            b"r=abcd,s=QSXCR+Q6sek8bf92,i=4000000000", // too many
            b"m=ext,r=abcd,s=QSXCR+Q6sek8bf92,i=4096",
            b"",
        ] {
            assert!(
                matches!(
                    start().client_final(bad, b"pw"),
                    Err(ScramError::Protocol(_))
                ),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            start().client_final(b"e=unknown-user", b"pw"),
            Err(ScramError::Server(b"unknown-user".to_vec()))
        );
        // Without a client-final, no signature can be right.
        assert_eq!(start().verify(b"v=AAAA"), Err(ScramError::Unproven));
    }

    #[test]
    fn names_are_escaped_and_prepared() {
        assert_eq!(saslname(b"a,b=c"), b"a=2Cb=3Dc");
        let (_, first) = Scram::with_nonce(Hash::Sha1, b"u,=", "n".into());
        assert_eq!(first, b"n,,n=u=2C=3D,r=n");
        // SASLprep: a non-ASCII space becomes a space, a soft hyphen is
        // removed; bytes that are not UTF-8 stay as they are.
        assert_eq!(&*prepared("a\u{a0}b".as_bytes()), b"a b");
        assert_eq!(&*prepared("I\u{ad}X".as_bytes()), b"IX");
        assert_eq!(&*prepared(b"caf\xe9"), b"caf\xe9");
        assert_eq!(&*prepared(b"s3cret pass"), b"s3cret pass");
        // A control character is prohibited: used as it is.
        assert_eq!(&*prepared(b"a\x07"), b"a\x07");
    }
}
