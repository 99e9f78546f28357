//! `-X FILE`: a plaintext protocol transcript appended to a file.
//!
//! `C:` lines are what we sent, `S:` what the server answered, `H:` the
//! message headers as sent. The body is not recorded. Inside an AUTH
//! exchange every client line is redacted: the original esmtp wrote the
//! base64 credentials into this file, we never do. Server lines have the
//! session's secret masked (a server may echo our AUTH data back), and
//! every line has its control characters escaped, so that `cat`ting the
//! file cannot drive the terminal.

use super::shown::{printable, Masker};
use crate::exit::{self, Failure};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

pub(crate) struct Transcript {
    out: BufWriter<File>,
    client_partial: Vec<u8>,
    client_partial_redact: bool,
    server_partial: Vec<u8>,
    masker: Masker,
}

/// A server line longer than this is written in pieces (the reply reader
/// refuses it long before).
const PARTIAL_CAP: usize = 8 * 1024;

pub(crate) const REDACTED: &str = "[credentials redacted]";

impl Transcript {
    pub(crate) fn open(path: &Path) -> Result<Transcript, Failure> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| {
                Failure::new(
                    exit::SOFTWARE,
                    format!("cannot open transcript file {}: {e}", path.display()),
                )
            })?;
        Ok(Transcript {
            out: BufWriter::new(file),
            client_partial: Vec::new(),
            client_partial_redact: false,
            server_partial: Vec::new(),
            masker: Masker::default(),
        })
    }

    /// Mask this secret (and its encodings) in server lines from now on.
    pub(crate) fn set_masker(&mut self, masker: Masker) {
        self.masker = masker;
    }

    fn line(&mut self, prefix: &str, text: &[u8]) {
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        let _ = self.out.write_all(prefix.as_bytes());
        let _ = self.out.write_all(printable(text).as_bytes());
        let _ = self.out.write_all(b"\n");
    }

    fn server_line(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let masked = self.masker.mask(line).into_owned();
        self.line("S: ", &masked);
    }

    pub(crate) fn client(&mut self, bytes: &[u8], redact: bool) {
        self.client_partial_redact |= redact;
        let mut rest = bytes;
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            self.client_partial.extend_from_slice(&rest[..pos]);
            let line = std::mem::take(&mut self.client_partial);
            if self.client_partial_redact {
                let shown = redact_line(&line);
                self.line("C: ", shown.as_bytes());
            } else {
                self.line("C: ", &line);
            }
            self.client_partial_redact = redact;
            rest = &rest[pos + 1..];
        }
        self.client_partial.extend_from_slice(rest);
    }

    pub(crate) fn client_line(&mut self, line: &[u8]) {
        self.line("C: ", line);
    }

    pub(crate) fn server(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            self.server_partial.extend_from_slice(&rest[..pos]);
            let line = std::mem::take(&mut self.server_partial);
            self.server_line(&line);
            rest = &rest[pos + 1..];
        }
        self.server_partial.extend_from_slice(rest);
        if self.server_partial.len() > PARTIAL_CAP {
            let line = std::mem::take(&mut self.server_partial);
            self.server_line(&line);
        }
        let _ = self.out.flush();
    }

    pub(crate) fn header(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        self.line("H: ", line);
    }

    /// A line of our own (`# ...`), e.g. where TLS starts.
    pub(crate) fn note(&mut self, text: &str) {
        self.line("# ", text.as_bytes());
        let _ = self.out.flush();
    }

    /// Write a partial client line (the body never ends up here).
    pub(crate) fn flush_partial(&mut self) {
        if !self.client_partial.is_empty() {
            let line = std::mem::take(&mut self.client_partial);
            if self.client_partial_redact {
                self.line("C: ", REDACTED.as_bytes());
            } else {
                self.line("C: ", &line);
            }
        }
        self.client_partial_redact = false;
        let _ = self.out.flush();
    }
}

/// `AUTH PLAIN dGVzdA==` → `AUTH PLAIN [credentials redacted]`; any other
/// line of the exchange → `[credentials redacted]`.
fn redact_line(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches('\r');
    let mut words = text.split_whitespace();
    match (words.next(), words.next()) {
        (Some(cmd), Some(mech)) if cmd.eq_ignore_ascii_case("AUTH") => {
            if words.next().is_some() {
                format!("{cmd} {mech} {REDACTED}")
            } else {
                format!("{cmd} {mech}")
            }
        }
        _ => REDACTED.to_string(),
    }
}

impl Drop for Transcript {
    fn drop(&mut self) {
        self.flush_partial();
        if !self.server_partial.is_empty() {
            let line = std::mem::take(&mut self.server_partial);
            self.server_line(&line);
        }
        let _ = self.out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::redact_line;

    #[test]
    fn auth_lines_never_show_credentials() {
        assert_eq!(
            redact_line(b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r"),
            "AUTH PLAIN [credentials redacted]"
        );
        assert_eq!(redact_line(b"AUTH CRAM-MD5\r"), "AUTH CRAM-MD5");
        assert_eq!(redact_line(b"YWxpY2U=\r"), "[credentials redacted]");
    }
}
