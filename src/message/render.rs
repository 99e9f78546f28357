//! The header policy (SPEC §4) and the final header block rendered from it.

use super::address::{format_mailbox, Mailbox};
use super::headers::Headers;
use super::line_ends::{LineEnds, Normaliser};
use crate::exit::{Failure, USAGE};

/// What to change in the header block (SPEC §4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderPolicy {
    /// `-t`: remove `Bcc:`.
    pub remove_bcc: bool,
    /// `force sender`: the `Sender:` value replacing any in the message.
    pub sender: Option<String>,
    /// `Date:` value to add when missing.
    pub date: String,
    /// `From:` to add when missing.
    pub from: Mailbox,
    /// `Message-ID:` to add when missing (`None`: `message_id disabled`).
    pub message_id: Option<String>,
}

/// Render the final header block with CRLF line ends, ending in the empty
/// line. Existing fields keep their order and bytes (line ends normalised);
/// added fields follow them, as libESMTP adds them.
pub fn render_headers(headers: &Headers, policy: &HeaderPolicy) -> Vec<u8> {
    let mut out = Vec::new();
    for field in &headers.fields {
        if field.is("Return-Path")
            || (policy.remove_bcc && field.is("Bcc"))
            || (policy.sender.is_some() && field.is("Sender"))
        {
            continue;
        }
        let mut crlf = Normaliser::new(LineEnds::Crlf);
        // Writing to a Vec cannot fail.
        let _ = crlf.feed(field.raw(), &mut out);
        let _ = crlf.finish(&mut out);
    }
    let mut add = |name: &str, value: &str| {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    };
    if let Some(sender) = &policy.sender {
        add("Sender", sender);
    }
    if !headers.has("Date") {
        add("Date", &policy.date);
    }
    if !headers.has("From") {
        add("From", &format_mailbox(&policy.from));
    }
    if let Some(id) = &policy.message_id {
        if !headers.has("Message-ID") {
            add("Message-ID", id);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Reject text that would break out of a header or an SMTP command line.
pub fn check_header_text(what: &str, text: &str) -> Result<(), Failure> {
    if text.chars().any(|c| c.is_control()) {
        return Err(Failure::new(
            USAGE,
            format!("{what} contains a control character (CR, LF, NUL or similar): {text:?}"),
        ));
    }
    Ok(())
}
