//! Byte strings of the plan: user names and secrets exactly as the file
//! spells them, and how they are shown.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Bytes that are usually text: a user name or a secret exactly as the file
/// spells it. esmtp 1.2 sends these byte for byte (a Latin-1 password in a
/// Latin-1 file is sent as Latin-1), so they are kept as bytes, not as
/// UTF-8 text. Shown (`Display`, human-readable serializers such as JSON)
/// as text with every byte that is not UTF-8 written `\xHH`; stored
/// (postcard, the plan cache) as the bytes themselves.
#[derive(Clone, PartialEq, Eq, Default, Hash)]
pub struct Octets(Vec<u8>);

impl Octets {
    pub fn new(value: impl Into<Vec<u8>>) -> Self {
        Octets(value.into())
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    /// The value as text, when it is UTF-8.
    pub fn to_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Is every byte UTF-8 text?
    pub fn is_utf8(&self) -> bool {
        self.to_str().is_some()
    }
}

impl From<&str> for Octets {
    fn from(s: &str) -> Self {
        Octets(s.as_bytes().to_vec())
    }
}
impl From<String> for Octets {
    fn from(s: String) -> Self {
        Octets(s.into_bytes())
    }
}
impl From<Vec<u8>> for Octets {
    fn from(v: Vec<u8>) -> Self {
        Octets(v)
    }
}
impl From<&[u8]> for Octets {
    fn from(v: &[u8]) -> Self {
        Octets(v.to_vec())
    }
}
impl PartialEq<str> for Octets {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}
impl PartialEq<&str> for Octets {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

/// `bytes` as text: UTF-8 as it is (control characters and backslashes
/// escaped), any other byte as `\xHH`. Never fails, never hides that a byte
/// is not text.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() || c == '\\' {
                out.extend(c.escape_default());
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

impl fmt::Display for Octets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_str() {
            Some(s) if !s.chars().any(char::is_control) => f.write_str(s),
            _ => f.write_str(&escape_bytes(&self.0)),
        }
    }
}

impl fmt::Debug for Octets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

impl Serialize for Octets {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&self.to_string())
        } else {
            s.serialize_bytes(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Octets {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Octets;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("bytes or a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Octets, E> {
                Ok(Octets::from(v))
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Octets, E> {
                Ok(Octets::from(v))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Octets, E> {
                Ok(Octets(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Octets, A::Error> {
                let mut v = Vec::new();
                while let Some(b) = a.next_element::<u8>()? {
                    v.push(b);
                }
                Ok(Octets(v))
            }
        }
        if d.is_human_readable() {
            d.deserialize_any(V)
        } else {
            d.deserialize_byte_buf(V)
        }
    }
}

/// A secret value (password, passphrase), kept as bytes (see [`Octets`]).
/// Its `Debug` and `Display` never show the value; serde serializes it in
/// clear because the compiled-plan cache must be able to restore it (the
/// cache file is 0600 in a 0700 directory). Anything shown to a user (dump,
/// -v, transcripts) must go through [`Plan::redacted`] or print `Secret`
/// with `{}`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Secret(Octets);

impl Secret {
    pub const REDACTED: &'static str = "********";

    pub fn new(value: impl Into<Octets>) -> Self {
        Secret(value.into())
    }
    /// The value itself, byte for byte as the file (or `passwordeval`) gave
    /// it. Call only where the secret is actually used (the AUTH exchange,
    /// decrypting a key).
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Whether the secret is UTF-8 text (a Latin-1 password is not).
    pub fn is_utf8(&self) -> bool {
        self.0.is_utf8()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(")?;
        f.write_str(Self::REDACTED)?;
        f.write_str(")")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::REDACTED)
    }
}
