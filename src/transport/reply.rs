//! SMTP replies from a server we do not trust (RFC 5321 §4.2).
//!
//! A reply is one or more lines `CODE-text` ended by `CODE text` (or a bare
//! `CODE`), all with the same three-digit code. Every line is bounded
//! ([`MAX_LINE`] bytes, CRLF included) and so is every reply
//! ([`MAX_LINES`] lines), so a server cannot make us hold more than a few
//! hundred KiB whatever it sends; anything else is a protocol error.
//!
//! This module is pure: [`Builder`] takes the lines of one reply as they
//! come (the session reads them from the socket in `stream.rs`), and
//! [`parse`] reads one reply from the start of a byte slice. Reply text is
//! kept as raw bytes: it is shown to the user only through
//! `shown::Shown`, which masks secrets and escapes control characters.

/// Longest reply line we accept, CRLF included. RFC 5321 allows 512;
/// Postfix's `line_length_limit` is 2048; EHLO lines with long AUTH lists
/// or banners stay far below 4 KiB.
pub const MAX_LINE: usize = 4096;

/// Most lines one reply may have (an EHLO reply has about 10 to 20).
pub const MAX_LINES: usize = 128;

/// One complete reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code, 200 to 599.
    pub code: u16,
    /// The text of each line after `CODE-`/`CODE `, without the line end.
    pub lines: Vec<Vec<u8>>,
}

impl Reply {
    /// 2 (positive completion), 3 (intermediate), 4 (transient) or 5
    /// (permanent).
    pub fn class(&self) -> u16 {
        self.code / 100
    }

    pub fn is_positive(&self) -> bool {
        self.class() == 2
    }

    pub fn is_intermediate(&self) -> bool {
        self.class() == 3
    }

    pub fn is_negative(&self) -> bool {
        self.class() >= 4
    }

    pub fn is_transient(&self) -> bool {
        self.class() == 4
    }

    /// The text of the first line, lossily decoded (for parsing ASCII
    /// data such as an AUTH challenge).
    pub fn first_text(&self) -> String {
        self.lines
            .first()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .unwrap_or_default()
    }
}

/// Why a reply was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyError {
    /// A line longer than [`MAX_LINE`].
    LineTooLong,
    /// More than [`MAX_LINES`] lines.
    TooManyLines,
    /// A line that is not `CODE`, `CODE text` or `CODE-text` with a code
    /// from 200 to 599, or a continuation with another code. The line (at
    /// most 100 bytes of it) is kept to show.
    Malformed(Vec<u8>),
}

impl std::fmt::Display for ReplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplyError::LineTooLong => {
                write!(f, "a reply line longer than {MAX_LINE} bytes")
            }
            ReplyError::TooManyLines => write!(f, "a reply of more than {MAX_LINES} lines"),
            ReplyError::Malformed(line) => {
                write!(
                    f,
                    "a malformed reply line: {}",
                    super::shown::printable(line)
                )
            }
        }
    }
}

/// Collects the lines of one reply.
#[derive(Debug, Default)]
pub struct Builder {
    code: u16,
    lines: Vec<Vec<u8>>,
}

/// Split one line (its LF, and a CR before it, removed if present) into
/// code, "last line" and text.
fn split(line: &[u8]) -> Result<(u16, bool, &[u8]), ReplyError> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let malformed = || ReplyError::Malformed(line[..line.len().min(100)].to_vec());
    if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) {
        return Err(malformed());
    }
    let code = line[..3]
        .iter()
        .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    if !(200..600).contains(&code) {
        return Err(malformed());
    }
    match line.get(3) {
        None => Ok((code, true, &[])),
        Some(b' ') => Ok((code, true, &line[4..])),
        Some(b'-') => Ok((code, false, &line[4..])),
        Some(_) => Err(malformed()),
    }
}

impl Builder {
    /// Take one line (with or without its line end). `Ok(Some)` once the
    /// reply is complete; the builder is then ready for the next reply.
    pub fn line(&mut self, line: &[u8]) -> Result<Option<Reply>, ReplyError> {
        if line.len() > MAX_LINE {
            return Err(ReplyError::LineTooLong);
        }
        let (code, last, text) = split(line)?;
        if self.lines.is_empty() {
            self.code = code;
        } else if code != self.code {
            let shown = line.strip_suffix(b"\n").unwrap_or(line);
            return Err(ReplyError::Malformed(
                shown[..shown.len().min(100)].to_vec(),
            ));
        }
        if self.lines.len() >= MAX_LINES {
            return Err(ReplyError::TooManyLines);
        }
        self.lines.push(text.to_vec());
        if last {
            Ok(Some(Reply {
                code: self.code,
                lines: std::mem::take(&mut self.lines),
            }))
        } else {
            Ok(None)
        }
    }

    /// True while no line of a reply has been taken.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

/// Read one reply from the start of `bytes`: the reply and how many bytes
/// it took, `Ok(None)` if `bytes` ends before the reply does. What follows
/// the reply is not looked at.
pub fn parse(bytes: &[u8]) -> Result<Option<(Reply, usize)>, ReplyError> {
    let mut b = Builder::default();
    let mut at = 0;
    while let Some(pos) = memchr::memchr(b'\n', &bytes[at..]) {
        let end = at + pos + 1;
        if let Some(reply) = b.line(&bytes[at..end])? {
            return Ok(Some((reply, end)));
        }
        at = end;
    }
    if bytes.len() - at >= MAX_LINE {
        return Err(ReplyError::LineTooLong);
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Result<Option<(Reply, usize)>, ReplyError> {
        parse(text.as_bytes())
    }

    #[test]
    fn single_and_multi_line_replies() {
        let (r, n) = one("250 ok\r\nextra").unwrap().unwrap();
        assert_eq!((r.code, n), (250, 8));
        assert_eq!(r.lines, vec![b"ok".to_vec()]);
        let (r, n) = one("250-a.example\r\n250-SIZE 10\r\n250 HELP\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(n, 38);
        assert_eq!(r.lines.len(), 3);
        assert_eq!(r.first_text(), "a.example");
        // A bare code, and a bare LF, are accepted.
        assert_eq!(one("354\n").unwrap().unwrap().0.code, 354);
        assert_eq!(one("220-x\n220 y\n").unwrap().unwrap().1, 12);
    }

    #[test]
    fn incomplete_replies_wait_for_more() {
        assert_eq!(one("").unwrap(), None);
        assert_eq!(one("25").unwrap(), None);
        assert_eq!(one("250-a\r\n250").unwrap(), None);
    }

    #[test]
    fn garbage_is_malformed() {
        for bad in [
            "HTTP/1.1 400 Bad\r\n",
            "25x ok\r\n",
            "250_ok\r\n",
            "150 one\r\n",
            "600 six\r\n",
            "\r\n",
            "250-a\r\n251 b\r\n",
        ] {
            assert!(
                matches!(one(bad), Err(ReplyError::Malformed(_))),
                "{bad:?}: {:?}",
                one(bad)
            );
        }
    }

    #[test]
    fn lines_and_replies_are_bounded() {
        let long = format!("250 {}\r\n", "x".repeat(MAX_LINE));
        assert_eq!(one(&long), Err(ReplyError::LineTooLong));
        let unended = "x".repeat(MAX_LINE);
        assert_eq!(one(&unended), Err(ReplyError::LineTooLong));
        let fits = format!("250 {}\r\n", "x".repeat(MAX_LINE - 6));
        assert!(one(&fits).unwrap().is_some());
        let many = "250-x\r\n".repeat(MAX_LINES) + "250 end\r\n";
        assert_eq!(one(&many), Err(ReplyError::TooManyLines));
        let most = "250-x\r\n".repeat(MAX_LINES - 1) + "250 end\r\n";
        assert_eq!(one(&most).unwrap().unwrap().0.lines.len(), MAX_LINES);
    }

    #[test]
    fn classes() {
        let r = |code| Reply {
            code,
            lines: Vec::new(),
        };
        assert!(r(250).is_positive() && r(354).is_intermediate());
        assert!(r(421).is_negative() && r(421).is_transient());
        assert!(r(554).is_negative() && !r(554).is_transient());
    }
}
