//! Server text as the user sees it (error messages, `-v`, `-X`): secrets
//! masked, control characters escaped.
//!
//! A hostile server can put anything in a reply: terminal escape sequences
//! (`ESC [2J` clears the screen, OSC sequences retitle the window or worse),
//! a CR that makes a line overwrite itself, bidi overrides that reorder
//! what is shown, or the client's own AUTH data echoed back (base64 or
//! decoded). [`printable`] escapes every C0/C1 control character, DEL,
//! the bidi controls and bytes that are not UTF-8 (as Postfix's
//! `printable()` censors server text before it logs it); [`Masker`] knows
//! the session's secret and its encodings and replaces them, before
//! escaping, wherever a server repeats them.

use super::transcript::REDACTED;
use base64::Engine;
use std::borrow::Cow;
use std::fmt::Write as _;

/// Characters that change how text is displayed rather than being shown.
fn is_control(c: char) -> bool {
    (c.is_control() && c != '\t')
        || matches!(c, '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `bytes` as text that is safe on a terminal and in a log: controls as
/// `\xHH` (ASCII, and bytes that are not UTF-8) or `\u{HHHH}`.
pub fn printable(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if !is_control(c) {
                out.push(c);
            } else if c.is_ascii() {
                let _ = write!(out, "\\x{:02x}", c as u32);
            } else {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// Masks the session's secret wherever server text repeats it: the secret
/// itself, the base64 forms we sent (PLAIN, LOGIN, XOAUTH2) and any base64
/// word that decodes to something containing the secret.
#[derive(Debug, Clone, Default)]
pub struct Masker {
    secret: Vec<u8>,
    needles: Vec<Vec<u8>>,
}

/// Base64 as servers echo it: padding optional, trailing bits allowed.
const LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

fn b64(data: &[u8]) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .encode(data)
        .into_bytes()
}

impl Masker {
    /// A masker for `secret` as sent by `user` (an empty secret masks
    /// nothing).
    pub fn new(user: &[u8], secret: &[u8]) -> Masker {
        if secret.is_empty() {
            return Masker::default();
        }
        let mut plain = vec![0];
        plain.extend_from_slice(user);
        plain.push(0);
        plain.extend_from_slice(secret);
        let mut xoauth2 = b"user=".to_vec();
        xoauth2.extend_from_slice(user);
        xoauth2.extend_from_slice(b"\x01auth=Bearer ");
        xoauth2.extend_from_slice(secret);
        xoauth2.extend_from_slice(b"\x01\x01");
        let b64_secret = b64(secret);
        // The base64 of the secret without its padding (`=` may be dropped
        // or changed by an echo).
        let unpadded = b64_secret
            .strip_suffix(b"==")
            .or_else(|| b64_secret.strip_suffix(b"="))
            .unwrap_or(&b64_secret)
            .to_vec();
        let needles = vec![
            secret.to_vec(),
            b64_secret,
            unpadded,
            b64(&plain),
            b64(&xoauth2),
        ];
        Masker {
            secret: secret.to_vec(),
            needles,
        }
    }

    /// True when there is nothing to mask.
    pub fn is_empty(&self) -> bool {
        self.secret.is_empty()
    }

    /// `text` with every repetition of the secret replaced by
    /// `[credentials redacted]`.
    pub fn mask<'a>(&self, text: &'a [u8]) -> Cow<'a, [u8]> {
        if self.is_empty() || text.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        for needle in &self.needles {
            for at in memchr::memmem::find_iter(text, needle) {
                ranges.push((at, at + needle.len()));
            }
        }
        // Base64 words that decode to something holding the secret.
        let is_b64 = |b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
        let mut i = 0;
        while i < text.len() {
            if !is_b64(text[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < text.len() && is_b64(text[i]) {
                i += 1;
            }
            while i < text.len() && text[i] == b'=' {
                i += 1;
            }
            let word = &text[start..i];
            if word.len() >= 4 {
                if let Ok(decoded) = LENIENT.decode(word) {
                    if memchr::memmem::find(&decoded, &self.secret).is_some() {
                        ranges.push((start, i));
                    }
                }
            }
        }
        if ranges.is_empty() {
            return Cow::Borrowed(text);
        }
        ranges.sort_unstable();
        let mut out = Vec::with_capacity(text.len());
        let mut at = 0;
        for (start, end) in ranges {
            if end <= at {
                continue;
            }
            if start >= at {
                out.extend_from_slice(&text[at..start]);
                out.extend_from_slice(REDACTED.as_bytes());
            }
            at = end;
        }
        out.extend_from_slice(&text[at..]);
        Cow::Owned(out)
    }

    /// Masked, then escaped: server text ready to be shown.
    pub fn show(&self, text: &[u8]) -> String {
        printable(&self.mask(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_and_text_is_kept() {
        assert_eq!(printable(b"250 ok"), "250 ok");
        assert_eq!(printable(b"a\x1b[2Jb"), "a\\x1b[2Jb");
        assert_eq!(printable(b"x\ry\0z\x7f"), "x\\x0dy\\x00z\\x7f");
        assert_eq!(printable(b"tab\tkept"), "tab\tkept");
        assert_eq!(
            printable("K\u{f6}ln \u{20ac}".as_bytes()),
            "K\u{f6}ln \u{20ac}"
        );
        // C1 CSI, a bidi override and a byte that is not UTF-8.
        assert_eq!(printable("\u{9b}2J".as_bytes()), "\\u{9b}2J");
        assert_eq!(printable("a\u{202e}b".as_bytes()), "a\\u{202e}b");
        assert_eq!(printable(b"\xff\xfe"), "\\xff\\xfe");
    }

    #[test]
    fn the_secret_and_its_encodings_are_masked() {
        let m = Masker::new(b"alice", b"hunter2!");
        let plain = b64(b"\0alice\0hunter2!");
        let line = format!(
            "535 bad AUTH PLAIN {} (decoded: \0alice\0hunter2!) login {} secret hunter2!",
            String::from_utf8_lossy(&plain),
            String::from_utf8_lossy(&b64(b"hunter2!")),
        );
        let shown = m.show(line.as_bytes());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains(&String::from_utf8_lossy(&plain).into_owned()));
        assert!(!shown.contains("aHVudGVy"), "{shown}");
        assert!(shown.starts_with("535 bad AUTH PLAIN [credentials redacted]"));
        assert!(
            shown.contains("\\x00alice\\x00[credentials redacted]"),
            "{shown}"
        );
        // Re-encoded at another offset, or without padding.
        let shifted = b64(b"xx:hunter2!:yy");
        let unpadded = String::from_utf8_lossy(&b64(b"hunter2!"))
            .trim_end_matches('=')
            .to_string();
        let s = m.show(format!("535 {} {unpadded}", String::from_utf8_lossy(&shifted)).as_bytes());
        assert_eq!(s, "535 [credentials redacted] [credentials redacted]");
        // Nothing else is touched.
        assert_eq!(m.show(b"250 2.0.0 OK aGVsbG8="), "250 2.0.0 OK aGVsbG8=");
        assert!(matches!(m.mask(b"250 ok"), Cow::Borrowed(_)));
        assert!(Masker::new(b"alice", b"").is_empty());
    }

    #[test]
    fn a_short_secret_inside_other_words_is_masked_once() {
        let m = Masker::new(b"u", b"ab");
        assert_eq!(
            m.show(b"xabyab"),
            "x[credentials redacted]y[credentials redacted]"
        );
    }
}
