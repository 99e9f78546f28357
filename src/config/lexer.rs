//! The esmtprc lexer: the lexical rules of esmtp 1.2 (SPEC §2.2).
//!
//! logos finds where each token starts and scans the simple tokens; bare
//! words and quoted strings are then measured by hand because 1.2's flex
//! lexer chooses between them by longest match, and that choice depends on a
//! mode: after `identity`, `hostname`, `username` and `password` a bare word
//! may contain `:` and keywords ("NAME" mode). The quirks of 1.2 are
//! accepted as the user meant and reported as diagnostics.

use super::codes::Code;
use super::diag::{DiagList, Diagnostic, Span};
use super::keywords::{self, Key, Word};
use super::mask::Mask;
use logos::Logos;

/// A token handed to the lalrpop parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    Eq,
    Key(Key),
    Force,
    Sender,
    ReversePath,
    Default,
    Enabled,
    Disabled,
    Required,
    Str(StrTok),
    /// An unquoted all-digit word, which 1.2 lexes as a number.
    Number(String),
}

/// A string value, escapes decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrTok {
    /// The value as text (bytes that are not UTF-8 replaced by U+FFFD).
    pub text: String,
    /// The quote character, or `None` for a bare word.
    pub quote: Option<char>,
    /// The value's bytes when they are not UTF-8: only for the values that
    /// esmtp 1.2 sends byte for byte (user names and secrets, see
    /// [`keywords::keeps_bytes`]); anywhere else such a value is E009.
    pub raw: Option<Vec<u8>>,
}

/// The bytes of the source behind the text the lexer reads. The text is the
/// source with every sequence that is not UTF-8 replaced by U+FFFD, so that
/// spans and diagnostics work on text; a value that must keep its bytes
/// (a Latin-1 password) is decoded from the bytes themselves.
#[derive(Debug, Clone)]
pub struct RawSource<'s> {
    bytes: &'s [u8],
    /// `(text offset, byte offset)` at the start and after every
    /// replacement; in between, text and bytes advance together. 32 bits
    /// each (the file is at most 4 MiB, its text three times that): a file
    /// of 4 MiB that is not UTF-8 has 4 million of them.
    points: Vec<(u32, u32)>,
}

/// An offset of a configuration file (at most [`super::MAX_FILE_BYTES`],
/// its text at most three times that) in 32 bits.
fn offset32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl<'s> RawSource<'s> {
    /// The text of `bytes` (lossy) and the map back to the bytes.
    pub fn decode(bytes: &'s [u8]) -> (String, RawSource<'s>) {
        let mut text = String::with_capacity(bytes.len());
        let mut points = vec![(0, 0)];
        let mut raw = 0;
        for chunk in bytes.utf8_chunks() {
            text.push_str(chunk.valid());
            raw += chunk.valid().len();
            if !chunk.invalid().is_empty() {
                text.push(char::REPLACEMENT_CHARACTER);
                raw += chunk.invalid().len();
                points.push((offset32(text.len()), offset32(raw)));
            }
        }
        (text, RawSource { bytes, points })
    }

    /// The source of text that was valid UTF-8 all along.
    pub fn utf8(text: &'s str) -> RawSource<'s> {
        RawSource {
            bytes: text.as_bytes(),
            points: vec![(0, 0)],
        }
    }

    /// Was anything replaced?
    pub fn is_lossy(&self) -> bool {
        self.points.len() > 1
    }

    /// The byte offset of a text offset at a token boundary.
    fn offset(&self, text: usize) -> usize {
        let i = self.points.partition_point(|p| p.0 as usize <= text);
        let (t, r) = self.points[i.saturating_sub(1)];
        (r as usize + (text - t as usize)).min(self.bytes.len())
    }

    /// The bytes behind the text `start..end`.
    fn slice(&self, start: usize, end: usize) -> &'s [u8] {
        let (a, b) = (self.offset(start), self.offset(end));
        &self.bytes[a.min(b)..b]
    }
}

impl Tok {
    /// How the token is named in "found ..." messages.
    pub fn describe(&self) -> String {
        match self {
            Tok::Eq => "`=`".into(),
            Tok::Key(k) => format!("keyword `{}`", k.name()),
            Tok::Force => "keyword `force`".into(),
            Tok::Sender => "keyword `sender`".into(),
            Tok::ReversePath => "keyword `reverse_path`".into(),
            Tok::Default => "keyword `default`".into(),
            Tok::Enabled => "keyword `enabled`".into(),
            Tok::Disabled => "keyword `disabled`".into(),
            Tok::Required => "keyword `required`".into(),
            Tok::Str(s) => {
                let shown: String = s.text.chars().take(40).collect();
                format!("`{}`", shown.escape_debug())
            }
            Tok::Number(n) => format!("number `{n}`"),
        }
    }
}

/// Where a token may start; logos dispatches on the first characters.
#[derive(Logos, Debug, Clone, Copy, PartialEq, Eq)]
enum Raw {
    #[regex(r"[ \t\r]+")]
    Blank,
    #[token("\n")]
    Newline,
    /// 1.2 ignores a backslash directly before a newline at a token start.
    #[token("\\\n")]
    Continuation,
    #[regex(r"#[^\n]*", allow_greedy = true)]
    Comment,
    #[token("=")]
    Eq,
    #[regex(r"[;,:]")]
    Punct,
    #[regex(r#"["']"#)]
    Quote,
    #[regex(r#"[^=;:,# \t\r\n"']"#)]
    Word,
}

/// The lexer; iterate it for `(start, Tok, end)` triples.
pub struct Lexer<'s> {
    src: &'s str,
    orig: RawSource<'s>,
    raw: logos::Lexer<'s, Raw>,
    /// 1.2's NAME start condition.
    name_mode: bool,
    /// A keyword was read and its value has not come yet: extension keywords
    /// are then plain words (`helo timeout` is the name "timeout").
    want_value: bool,
    /// The keyword whose value comes next (with `want_value`).
    value_of: Option<Key>,
    pub diagnostics: DiagList,
    /// Current line (0-based), for counting stray words.
    line: usize,
    last_stray_line: usize,
    /// Lines with a word where a statement should start: each is a syntax
    /// error, counted here so that a file of garbage can be cut short.
    pub stray_lines: usize,
    /// The token just returned is (part of) a secret: hide this region.
    pub mask: Option<Mask>,
    /// Where each quote that is never closed (W017) starts.
    pub unclosed_quotes: Vec<usize>,
    /// A secret keyword was read (its end) and its value has not come yet.
    secret_key: Option<usize>,
    /// End of the last token hidden as a secret: further words on its line
    /// that no statement expects are hidden too (`password two words`).
    secret_tail: Option<usize>,
    /// The token being returned was expected as a value.
    expecting: bool,
}

impl<'s> Lexer<'s> {
    /// A lexer over UTF-8 text.
    pub fn new(src: &'s str) -> Self {
        Self::with_source(src, RawSource::utf8(src))
    }

    /// A lexer over `src`, the (lossy) text of the bytes in `bytes`.
    pub fn with_source(src: &'s str, orig: RawSource<'s>) -> Self {
        Lexer {
            src,
            orig,
            raw: Raw::lexer(src),
            name_mode: false,
            want_value: false,
            value_of: None,
            diagnostics: DiagList::default(),
            line: 0,
            last_stray_line: usize::MAX,
            stray_lines: 0,
            mask: None,
            unclosed_quotes: Vec::new(),
            secret_key: None,
            secret_tail: None,
            expecting: false,
        }
    }

    /// Which part of the token `(l, tok, r)` is secret (SPEC §9):
    ///
    /// - the token the compiler reads as the value of a secret keyword
    ///   (`password`, `certificate_passphrase`, their aliases), whatever
    ///   its form: quoted, escaped, a number, a keyword such as `enabled`,
    ///   on the next line;
    /// - the words after it on its line that no statement reads (the rest
    ///   of a password with blanks: `password correct horse`);
    /// - and after a word spelled like a secret keyword that became the
    ///   value of another keyword (`hostname` alone on its line, then
    ///   `password x`), what follows it as if it were that keyword.
    ///
    /// Never a token another statement reads as its value, and not a
    /// keyword that only became the value because the secret keyword had
    /// none on its line, nor what follows it (`password` alone, then
    /// `starttls required`: esmtp 1.2 reads `starttls` as the password, but
    /// that is not secret text the user typed; a secret keyword read so,
    /// `password` alone then `password x`, still announces a secret).
    fn secret_mask(&mut self, l: usize, tok: &Tok, r: usize) -> Option<Mask> {
        let pending = self.secret_key.take();
        let starts_statement = matches!(tok, Tok::Key(_) | Tok::Force | Tok::Default);
        let secret_word = matches!(tok, Tok::Str(s) if s.quote.is_none() && s.text.len() <= 22)
            && keywords::is_secret_spelling(&self.src[l..r]);
        if let Tok::Key(k) = tok {
            if k.is_secret() {
                self.secret_tail = None;
                self.secret_key = Some(r);
                return None;
            }
        }
        if let Some(key_end) = pending {
            if *tok == Tok::Eq {
                self.secret_key = pending;
                return None;
            }
            if secret_word {
                self.secret_key = Some(r);
            }
            let later_line = self.src[key_end.min(l)..l].contains('\n');
            let keyword = || match tok {
                Tok::Str(s) => s.quote.is_none() && keywords::lookup(&self.src[l..r]).is_some(),
                _ => !matches!(tok, Tok::Number(_)),
            };
            if later_line && keyword() {
                // The secret keyword had no value on its line: this is the
                // next statement, read as the value (as 1.2 does), and what
                // follows it is that statement's, not a secret.
                self.secret_tail = None;
                return None;
            }
            // The words after it on its line may be the secret.
            self.secret_tail = Some(r);
            if starts_statement {
                // Read as a keyword (`passphrase default`): not the value.
                return None;
            }
            let quoted = matches!(tok, Tok::Str(s) if s.quote.is_some());
            return Some(Mask::value(self.src, Span::new(l, r), quoted));
        }
        if secret_word {
            self.secret_key = Some(r);
            return None;
        }
        let tail = self.secret_tail.take()?;
        if starts_statement || self.expecting || self.src[tail.min(l)..l].contains('\n') {
            return None;
        }
        self.secret_tail = Some(r);
        Some(Mask::whole(Span::new(l, r)))
    }

    fn bytes(&self) -> &'s [u8] {
        self.src.as_bytes()
    }

    /// End of the bare word starting at `start` under the current mode.
    fn bare_end(&self, start: usize) -> usize {
        let b = self.bytes();
        let mut i = start;
        while i < b.len() {
            match b[i] {
                b'=' | b';' | b',' | b' ' | b'\t' | b'\r' | b'\n' => break,
                b':' if !self.name_mode => break,
                _ => i += 1,
            }
        }
        i
    }

    /// The token at `start` that begins with a word or quote character.
    fn word(&mut self, start: usize) -> (usize, Tok, usize) {
        let b = self.bytes();
        let bare = self.bare_end(start);
        // A quoted string, unless the bare word reading is longer (flex).
        if let q @ (b'"' | b'\'') = b[start] {
            let close = b[start + 1..].iter().position(|&c| c == q);
            match close {
                Some(off) if start + off + 2 >= bare => {
                    let end = start + off + 2;
                    let inner = &self.src[start + 1..end - 1];
                    let lines = inner.matches('\n').count();
                    if lines > 0 {
                        self.diagnostics.push_with(Code::W016, || {
                            Diagnostic::new(
                                Code::W016,
                                format!("quoted string runs over {} line end(s)", lines),
                            )
                            .primary(Span::new(start, end), "the string starts here and ends at the next quote")
                            .help("check for a missing closing quote; a quoted value cannot contain its own quote character")
                        });
                    }
                    let (text, raw) = self.decode(inner, start + 1, Span::new(start, end));
                    self.name_mode = false;
                    self.want_value = false;
                    return (
                        start,
                        Tok::Str(StrTok {
                            text,
                            quote: Some(q as char),
                            raw,
                        }),
                        end,
                    );
                }
                None => {
                    self.unclosed_quotes.push(start);
                    self.diagnostics.push(
                        Diagnostic::new(
                            Code::W017,
                            "quote is never closed: it is read as part of a bare word",
                        )
                        .primary(Span::new(start, start + 1), "no matching quote after this")
                        .help("add the closing quote, or remove this one"),
                    );
                }
                Some(_) => {}
            }
        }
        // 1.2 reads `-?[0-9]+` followed by a non-letter as a number, which
        // no statement accepts.
        let mut d = start;
        if b[d] == b'-' {
            d += 1;
        }
        let digits_start = d;
        while d < b.len() && b[d].is_ascii_digit() {
            d += 1;
        }
        if d > digits_start && d < b.len() && !b[d].is_ascii_alphabetic() {
            let number_len = d + 1 - start;
            let bare_len = bare - start;
            let is_number = if self.name_mode {
                number_len > bare_len
            } else {
                number_len >= bare_len
            };
            if is_number {
                self.name_mode = false;
                self.want_value = false;
                return (start, Tok::Number(self.src[start..d].to_string()), d);
            }
        }
        let text = &self.src[start..bare];
        if !self.name_mode {
            if let Some((w, extension)) = keywords::lookup(text) {
                if !(extension && self.want_value) {
                    let tok = match w {
                        Word::Key(k) => {
                            self.name_mode = keywords::keyword(k).name_mode;
                            self.want_value = true;
                            self.value_of = Some(k);
                            Tok::Key(k)
                        }
                        Word::Force => {
                            self.want_value = true;
                            self.value_of = None;
                            Tok::Force
                        }
                        Word::Sender => Tok::Sender,
                        Word::ReversePath => Tok::ReversePath,
                        Word::Default => {
                            self.want_value = false;
                            Tok::Default
                        }
                        Word::Enabled => {
                            self.want_value = false;
                            Tok::Enabled
                        }
                        Word::Disabled => {
                            self.want_value = false;
                            Tok::Disabled
                        }
                        Word::Required => {
                            self.want_value = false;
                            Tok::Required
                        }
                    };
                    return (start, tok, bare);
                }
            }
        }
        if text.len() > 1 && text.ends_with('\\') && !text.ends_with("\\\\") {
            self.diagnostics.push(
                Diagnostic::new(Code::C105, "a backslash ends this word")
                    .primary(Span::new(bare - 1, bare), "taken as part of the value")
                    .help("esmtp 1.2 reads this backslash into the value too; remove it unless it is meant"),
            );
        }
        let (decoded, raw) = self.decode(text, start, Span::new(start, bare));
        self.name_mode = false;
        self.want_value = false;
        (
            start,
            Tok::Str(StrTok {
                text: decoded,
                quote: None,
                raw,
            }),
            bare,
        )
    }

    /// Decode the C escapes of 1.2 (`\n \t \b \r \\ \xHH \0OOO \DDD`, any
    /// other `\c` is `c`; a trailing backslash stays) from the value's bytes.
    /// Returns the text and, for a value that keeps its bytes and is not
    /// UTF-8, the bytes.
    fn decode(&mut self, text: &str, at: usize, span: Span) -> (String, Option<Vec<u8>>) {
        // `text` is the source text at `at`; its bytes in the file differ
        // only where the file is not UTF-8.
        let lossy = self.orig.is_lossy();
        let b = if lossy {
            self.orig.slice(at, at + text.len())
        } else {
            text.as_bytes()
        };
        let escaped = b.contains(&b'\\');
        // The common case: a UTF-8 source, no escape: the value is `text`.
        if !escaped && !lossy && !b.contains(&0) {
            return (text.to_string(), None);
        }
        let mut out: Vec<u8> = Vec::with_capacity(b.len());
        let mut i = if escaped { 0 } else { b.len() };
        if !escaped {
            out.extend_from_slice(b);
        }
        while i < b.len() {
            if b[i] != b'\\' || i + 1 >= b.len() {
                out.push(b[i]);
                i += 1;
                continue;
            }
            let c = b[i + 1];
            i += 2;
            match c {
                b'x' | b'X' => {
                    let mut v: u32 = 0;
                    let mut n = 0;
                    while n < 2 && i < b.len() && b[i].is_ascii_hexdigit() {
                        v = v * 16 + (b[i] as char).to_digit(16).unwrap_or(0);
                        i += 1;
                        n += 1;
                    }
                    out.push(v as u8);
                }
                b'0' => {
                    // Up to three octal digits, the 0 included (as 1.2).
                    let mut v: u32 = 0;
                    let mut n = 1;
                    while n < 3 && i < b.len() && (b'0'..=b'7').contains(&b[i]) {
                        v = v * 8 + u32::from(b[i] - b'0');
                        i += 1;
                        n += 1;
                    }
                    out.push(v as u8);
                }
                b'1'..=b'9' => {
                    let mut v: u32 = u32::from(c - b'0');
                    let mut n = 1;
                    while n < 3 && i < b.len() && b[i].is_ascii_digit() {
                        v = v * 10 + u32::from(b[i] - b'0');
                        i += 1;
                        n += 1;
                    }
                    out.push((v & 0xff) as u8);
                }
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'b' => out.push(8),
                b'r' => out.push(b'\r'),
                other => out.push(other),
            }
        }
        if out.contains(&0) {
            self.diagnostics.push(
                Diagnostic::new(Code::E009, "NUL byte in a value")
                    .primary(span, "contains a NUL byte")
                    .help("a configuration file is text; remove the NUL byte"),
            );
            return (String::from_utf8_lossy(&out).into_owned(), None);
        }
        match String::from_utf8(out) {
            Ok(text) => (text, None),
            Err(e) => {
                let keeps = self.want_value && self.value_of.is_some_and(keywords::keeps_bytes);
                let bytes = e.into_bytes();
                let text = String::from_utf8_lossy(&bytes).into_owned();
                if keeps {
                    return (text, Some(bytes));
                }
                if escaped && std::str::from_utf8(b).is_ok() {
                    self.diagnostics.push(
                        Diagnostic::new(
                            Code::E009,
                            "this value decodes to bytes that are not UTF-8",
                        )
                        .primary(span, "escape sequences here produce invalid UTF-8"),
                    );
                } else {
                    self.diagnostics.push(
                        Diagnostic::new(Code::E009, "this value is not valid UTF-8")
                            .primary(span, "contains bytes that are not UTF-8")
                            .help("save the file as UTF-8"),
                    );
                }
                (text, None)
            }
        }
    }
}

impl Iterator for Lexer<'_> {
    type Item = Result<(usize, Tok, usize), std::convert::Infallible>;

    fn next(&mut self) -> Option<Self::Item> {
        self.expecting = self.want_value;
        let item = self.next_token();
        self.mask = match &item {
            Some(Ok((l, tok, r))) => self.secret_mask(*l, tok, *r),
            _ => None,
        };
        item
    }
}

impl Lexer<'_> {
    fn next_token(&mut self) -> Option<<Self as Iterator>::Item> {
        loop {
            let raw = self.raw.next()?;
            let span = self.raw.span();
            let start = span.start;
            match raw {
                Ok(Raw::Blank) => {}
                Ok(Raw::Newline) | Ok(Raw::Continuation) => self.line += 1,
                Ok(Raw::Comment) => {
                    if span.end == self.src.len() {
                        self.diagnostics.push(
                            Diagnostic::new(
                                Code::C102,
                                "comment on the last line without a final newline",
                            )
                            .primary(
                                Span::new(start, span.end),
                                "esmtp 1.2 reports a syntax error here",
                            )
                            .help("end the file with a newline"),
                        );
                    }
                }
                Ok(Raw::Eq) => return Some(Ok((start, Tok::Eq, span.end))),
                Ok(Raw::Punct) if self.name_mode && self.bytes()[start] == b':' => {
                    let tok = self.word(start);
                    self.raw.bump(tok.2 - span.end);
                    return Some(Ok(tok));
                }
                Ok(Raw::Punct) => {
                    self.diagnostics.push_with(Code::C103, || {
                        Diagnostic::new(Code::C103, "stray punctuation is ignored")
                            .primary(
                                Span::new(start, span.end),
                                "ignored (esmtp 1.2 echoes it to standard output)",
                            )
                            .help("remove it, or quote the value it belongs to")
                    });
                }
                Ok(Raw::Quote) | Ok(Raw::Word) | Err(()) => {
                    let expecting = self.want_value;
                    let tok = self.word(start);
                    if !expecting
                        && matches!(tok.1, Tok::Str(_) | Tok::Number(_))
                        && self.line != self.last_stray_line
                    {
                        self.last_stray_line = self.line;
                        self.stray_lines += 1;
                    }
                    if tok.2 > span.end {
                        self.raw.bump(tok.2 - span.end);
                    }
                    return Some(Ok(tok));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        Lexer::new(src)
            .map(|r| r.map(|t| t.1))
            .collect::<Result<_, _>>()
            .unwrap_or_default()
    }
    fn s(t: &str) -> Tok {
        Tok::Str(StrTok {
            text: t.into(),
            quote: None,
            raw: None,
        })
    }

    #[test]
    fn name_mode_keeps_colon_and_keywords() {
        assert_eq!(
            toks("hostname a:25 password default helo a:b"),
            vec![
                Tok::Key(Key::Hostname),
                s("a:25"),
                Tok::Key(Key::Password),
                s("default"),
                Tok::Key(Key::Helo),
                s("a"),
                s("b"),
            ]
        );
    }

    #[test]
    fn numbers_as_flex_reads_them() {
        assert_eq!(
            toks("helo 123\n"),
            vec![Tok::Key(Key::Helo), Tok::Number("123".into())]
        );
        assert_eq!(toks("helo 123"), vec![Tok::Key(Key::Helo), s("123")]);
        assert_eq!(toks("helo 12ab\n"), vec![Tok::Key(Key::Helo), s("12ab")]);
        assert_eq!(toks("helo 12.5\n"), vec![Tok::Key(Key::Helo), s("12.5")]);
        assert_eq!(
            toks("helo -5\n"),
            vec![Tok::Key(Key::Helo), Tok::Number("-5".into())]
        );
        assert_eq!(
            toks("password 12345\n"),
            vec![Tok::Key(Key::Password), Tok::Number("12345".into())]
        );
        assert_eq!(
            toks("password 123:45\n"),
            vec![Tok::Key(Key::Password), s("123:45")]
        );
    }

    #[test]
    fn comments_quotes_and_escapes() {
        assert_eq!(
            toks("password abc#def # c\nhelo #x\ny"),
            vec![
                Tok::Key(Key::Password),
                s("abc#def"),
                Tok::Key(Key::Helo),
                s("y")
            ]
        );
        assert_eq!(
            toks(r#"helo "a b\x41\101\0101\q""#),
            vec![
                Tok::Key(Key::Helo),
                Tok::Str(StrTok {
                    text: "a bAe\u{8}1q".into(),
                    quote: Some('"'),
                    raw: None,
                })
            ]
        );
        assert_eq!(toks("helo \"a\"b"), vec![Tok::Key(Key::Helo), s("\"a\"b")]);
        assert_eq!(
            toks("helo timeout timeout"),
            vec![Tok::Key(Key::Helo), s("timeout"), Tok::Key(Key::Timeout)]
        );
    }
}
