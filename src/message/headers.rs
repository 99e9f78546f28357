//! The header block: one scan of the lines before the body, bounded by
//! [`MAX_HEADER_BYTES`], and the fields read from it.

use super::address::{field_addresses, Mailbox};
use crate::exit::{Failure, DATAERR, SOFTWARE};
use std::io::{self, BufRead};

/// Largest header block accepted (the same default as Exim's `header_maxsize`).
pub const MAX_HEADER_BYTES: usize = 1 << 20;

/// One header field, as read: name, colon, value and its folded lines, with
/// the line ends of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    raw: Vec<u8>,
}

impl Field {
    pub fn new(raw: Vec<u8>) -> Self {
        Field { raw }
    }
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }
    /// The field name (before the colon, without trailing blanks).
    pub fn name(&self) -> &[u8] {
        let end = self.raw.iter().position(|&b| b == b':').unwrap_or(0);
        let mut name = &self.raw[..end];
        while let [rest @ .., b' ' | b'\t'] = name {
            name = rest;
        }
        name
    }
    pub fn is(&self, name: &str) -> bool {
        self.name().eq_ignore_ascii_case(name.as_bytes())
    }
}

/// The header block of the message and what was read past it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    pub fields: Vec<Field>,
    /// Bytes already read that belong to the body: the first line when it
    /// was not a header line (the message had no header block, or it was not
    /// ended by an empty line).
    pub body_prefix: Vec<u8>,
}

/// True for a byte allowed in a field name (RFC 5322 ftext).
fn is_ftext(b: u8) -> bool {
    (33..=126).contains(&b) && b != b':'
}

/// True when `line` starts a header field: a non-empty field name, optional
/// blanks (obsolete syntax), then a colon.
fn starts_field(line: &[u8]) -> bool {
    let name_len = line.iter().take_while(|&&b| is_ftext(b)).count();
    if name_len == 0 {
        return false;
    }
    let rest = &line[name_len..];
    let blanks = rest
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    rest.get(blanks) == Some(&b':')
}

fn is_blank_line(line: &[u8]) -> bool {
    line == b"\n" || line == b"\r\n" || line == b"\r"
}

/// Read one line into `line`, with its line end: LF, CRLF or a bare CR (a
/// line ends where the spool and SMTP end it, see [`line_ends`]), at most
/// `limit` bytes (one more for the LF of a CRLF). Returns the bytes read;
/// 0 at the end of the input.
fn read_line(input: &mut dyn BufRead, line: &mut Vec<u8>, limit: usize) -> io::Result<usize> {
    let mut n = 0;
    loop {
        let buf = match input.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(n);
        }
        if line.last() == Some(&b'\r') {
            // The line ended in a CR at the end of the last buffer.
            if buf[0] == b'\n' {
                line.push(b'\n');
                input.consume(1);
                n += 1;
            }
            return Ok(n);
        }
        let window = &buf[..buf.len().min(limit - n)];
        if window.is_empty() {
            return Ok(n);
        }
        let (take, done) = match memchr::memchr2(b'\r', b'\n', window) {
            None => (window.len(), false),
            Some(k) => match (window[k], window.get(k + 1)) {
                (b'\r', Some(b'\n')) => (k + 2, true),
                // A CR at the end of the buffer: the next byte decides.
                (b'\r', None) => (k + 1, false),
                _ => (k + 1, true),
            },
        };
        line.extend_from_slice(&window[..take]);
        input.consume(take);
        n += take;
        if done {
            return Ok(n);
        }
    }
}

/// Read the header block: up to the first empty line (consumed), or up to
/// the first line that is neither a header field nor a continuation (kept
/// as the start of the body), or to the end of the input.
pub fn read_headers(input: &mut dyn BufRead) -> Result<Headers, Failure> {
    let mut headers = Headers::default();
    let mut total = 0usize;
    loop {
        let mut line = Vec::new();
        let limit = MAX_HEADER_BYTES.saturating_sub(total) + 1;
        let n = read_line(input, &mut line, limit)
            .map_err(|e| Failure::new(SOFTWARE, format!("cannot read the message: {e}")))?;
        if n == 0 || is_blank_line(&line) {
            return Ok(headers);
        }
        if total == 0 && headers.fields.is_empty() && line.starts_with(b"From ") {
            // An mbox "From " line in front of the headers: not part of the
            // message (sendmail and Postfix drop it too).
            total += n;
            if total > MAX_HEADER_BYTES {
                return Err(header_too_large());
            }
            continue;
        }
        let continuation = matches!(line[0], b' ' | b'\t') && !headers.fields.is_empty();
        let header_line = continuation || starts_field(&line);
        if !header_line {
            headers.body_prefix = line;
            return Ok(headers);
        }
        total += n;
        if total > MAX_HEADER_BYTES {
            return Err(header_too_large());
        }
        if continuation {
            if let Some(last) = headers.fields.last_mut() {
                last.raw.extend_from_slice(&line);
            }
        } else {
            headers.fields.push(Field::new(line));
        }
    }
}

fn header_too_large() -> Failure {
    Failure::new(
        DATAERR,
        format!(
            "the message header is larger than {} KiB; is a blank line missing after the headers?",
            MAX_HEADER_BYTES / 1024
        ),
    )
}

impl Headers {
    pub fn has(&self, name: &str) -> bool {
        self.fields.iter().any(|f| f.is(name))
    }

    /// The value of the first field `name`, unfolded and trimmed, as text
    /// (not checked: for the delivery log, which escapes it).
    pub fn value(&self, name: &str) -> Option<String> {
        let raw = self.fields.iter().find(|f| f.is(name))?.raw();
        let colon = raw.iter().position(|&b| b == b':')?;
        let text = String::from_utf8_lossy(&raw[colon + 1..]);
        let unfolded: String = text.split(['\r', '\n']).collect();
        Some(unfolded.trim().to_string())
    }

    /// The addresses of `To:`, `Cc:` and `Bcc:`, in order (for `-t`).
    pub fn recipients(&self) -> Result<Vec<String>, Failure> {
        let mut out = Vec::new();
        for field in &self.fields {
            if field.is("To") || field.is("Cc") || field.is("Bcc") {
                let list = field_addresses(field).map_err(|e| {
                    Failure::new(
                        DATAERR,
                        format!(
                            "cannot read the addresses in {}: {e}",
                            String::from_utf8_lossy(field.name())
                        ),
                    )
                })?;
                out.extend(list.into_iter().map(|m| m.addr));
            }
        }
        Ok(out)
    }

    /// The first mailbox of the first `From:` field.
    pub fn from(&self) -> Result<Option<Mailbox>, Failure> {
        let Some(field) = self.fields.iter().find(|f| f.is("From")) else {
            return Ok(None);
        };
        let list = field_addresses(field)
            .map_err(|e| Failure::new(DATAERR, format!("cannot read the address in From: {e}")))?;
        Ok(list.into_iter().next())
    }
}
