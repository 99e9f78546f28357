//! Masking secrets in the source text before any diagnostic shows it.
//!
//! The lexer knows which tokens are the value of a secret keyword (the
//! `secret` flag of the keyword table: `password`, `certificate_passphrase`
//! and their aliases); their bytes are replaced by `*` in a copy of the
//! source, once, before any renderer sees it. The mask has the same byte
//! length as the text it hides, so every span stays valid and every caret
//! lines up; quotes and line ends are kept, so the snippet keeps its shape.
//! Every output (human, short, JSON, GitHub annotations, the errors printed
//! when sending) renders from the masked copy ([`crate::config::Compilation::text`]).
//!
//! Messages, labels and help texts never quote the decoded value of a
//! secret: where a message names a word of the source, it takes it from the
//! masked copy ([`shown_source`]), or writes [`stars`] for it.

use super::diag::Span;

/// The mask character.
pub const MASK: u8 = b'*';

const STARS: &str = "****************************************************************";

/// A region of the source to hide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mask {
    pub span: Span,
    /// Keep the first byte (an opening quote).
    pub keep_first: bool,
    /// Keep the last byte (the closing quote).
    pub keep_last: bool,
}

impl Mask {
    /// The mask of a value token: a quoted value keeps both quotes, a bare
    /// word that starts with an unmatched quote keeps that quote.
    pub fn value(src: &str, span: Span, quoted: bool) -> Mask {
        let first = src.as_bytes().get(span.start).copied();
        let starts_with_quote = matches!(first, Some(b'"' | b'\''));
        Mask {
            span,
            keep_first: starts_with_quote,
            keep_last: quoted && span.end >= span.start + 2,
        }
    }
    /// A region hidden entirely (line ends kept).
    pub fn whole(span: Span) -> Mask {
        Mask {
            span,
            keep_first: false,
            keep_last: false,
        }
    }
}

/// `*` repeated `n` times: what a message writes for a secret word `n`
/// bytes long.
pub fn stars(n: usize) -> String {
    "*".repeat(n)
}

/// Hide `m` in `text`, in place: every byte of the region becomes `*`
/// except line ends (`\n`, `\r`) and the kept quotes. The length and the
/// line structure of `text` do not change, and the result is still UTF-8
/// (every byte of a multi-byte character is replaced).
pub fn apply(text: &mut String, m: &Mask) {
    let len = text.len();
    let start = m.span.start.min(len);
    let end = m.span.end.min(len);
    if start >= end || !text.is_char_boundary(start) || !text.is_char_boundary(end) {
        return;
    }
    let from = start + usize::from(m.keep_first);
    let to = end - usize::from(m.keep_last && end > from);
    let mut run: Option<usize> = None;
    let mut i = from;
    // Replace maximal runs that hold no line end, each by as many stars.
    while i <= to {
        let at_end = i == to;
        let is_line_end = !at_end && matches!(text.as_bytes()[i], b'\n' | b'\r');
        match (run, at_end || is_line_end) {
            (Some(s), true) => {
                let mut from = s;
                while from < i {
                    // A chunk ends on a character boundary (the bytes after
                    // it are not replaced yet).
                    let mut to = (from + STARS.len()).min(i);
                    while !text.is_char_boundary(to) {
                        to -= 1;
                    }
                    text.replace_range(from..to, &STARS[..to - from]);
                    from = to;
                }
                run = None;
            }
            (None, false) => run = Some(i),
            _ => {}
        }
        i += 1;
    }
}

/// `text` with every mask applied (for callers that hold the masks).
pub fn masked(text: &str, masks: &[Mask]) -> String {
    let mut out = text.to_string();
    for m in masks {
        apply(&mut out, m);
    }
    out
}

/// Whether `masked[span]` hides something of `orig[span]`.
pub fn is_masked(masked: &str, orig: &str, span: Span) -> bool {
    match (
        masked.get(span.start..span.end),
        orig.get(span.start..span.end),
    ) {
        (Some(a), Some(b)) => a != b,
        _ => false,
    }
}

/// The source text of `span` as a message may quote it: from the masked
/// copy, at most `max` characters (then `…`).
pub fn shown_source(masked: &str, span: Span, max: usize) -> String {
    let s = masked.get(span.start..span.end).unwrap_or("");
    let mut out: String = s.chars().take(max).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(src: &str, start: usize, end: usize, quoted: bool) -> String {
        let mut t = src.to_string();
        apply(&mut t, &Mask::value(src, Span::new(start, end), quoted));
        t
    }

    #[test]
    fn same_length_quotes_and_line_ends_kept() {
        assert_eq!(mask("password abc#d", 9, 14, false), "password *****");
        assert_eq!(mask("pass \"a b\"\n", 5, 10, true), "pass \"***\"\n");
        assert_eq!(mask("pass 'a\nb'", 5, 10, true), "pass '*\n*'");
        assert_eq!(mask("pass 'a\r\nb'", 5, 11, true), "pass '*\r\n*'");
        // An unterminated quote read as a bare word keeps the quote only.
        assert_eq!(mask("pass \"abc", 5, 9, false), "pass \"***");
        // Escapes are hidden byte for byte; multi-byte characters too.
        assert_eq!(mask("pass \\x41é", 5, 11, false), "pass ******");
        assert_eq!(mask("pass \"\"", 5, 7, true), "pass \"\"");
        assert_eq!(mask("pass x", 5, 6, false), "pass *");
    }

    #[test]
    fn long_values_of_multi_byte_characters() {
        let src = format!("password {}x\n", "é".repeat(100));
        let out = mask(&src, 9, src.len() - 1, false);
        assert_eq!(out, format!("password {}\n", "*".repeat(201)));
    }

    #[test]
    fn out_of_range_is_ignored() {
        assert_eq!(mask("pass x", 5, 60, false), "pass *");
        assert_eq!(mask("é", 1, 2, false), "é");
    }

    #[test]
    fn shown_source_truncates() {
        assert_eq!(shown_source("abcdef", Span::new(1, 5), 2), "bc…");
        assert_eq!(shown_source("abcdef", Span::new(1, 3), 2), "bc");
    }
}
