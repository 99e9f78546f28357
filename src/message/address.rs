//! Addresses in a message: the mailbox type (address and display name),
//! address lists as written on a command line or in a header, and a mailbox
//! written back as a header value.

use super::headers::Field;

/// An address with an optional display name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mailbox {
    pub name: Option<String>,
    pub addr: String,
}

impl Mailbox {
    pub fn new(addr: impl Into<String>) -> Self {
        Mailbox {
            name: None,
            addr: addr.into(),
        }
    }
}

/// Parse the addresses of one header field.
pub(super) fn field_addresses(field: &Field) -> Result<Vec<Mailbox>, String> {
    let (header, _) = mailparse::parse_header(field.raw()).map_err(|e| e.to_string())?;
    match mailparse::addrparse_header(&header) {
        Ok(list) => Ok(flatten(&list)),
        Err(_) => parse_local_list(&header.get_value()),
    }
}

/// Parse an address list as written on a command line or in a header
/// (`a@b, Name <c@d>`, groups, comments; local names such as `root`).
pub fn parse_address_list(text: &str) -> Result<Vec<Mailbox>, String> {
    match mailparse::addrparse(text) {
        Ok(list) => Ok(flatten(&list)),
        Err(_) => parse_local_list(text),
    }
}

fn flatten(list: &mailparse::MailAddrList) -> Vec<Mailbox> {
    let mut out = Vec::new();
    for addr in list.iter() {
        match addr {
            mailparse::MailAddr::Single(s) => out.push(Mailbox {
                name: s.display_name.clone(),
                addr: s.addr.clone(),
            }),
            mailparse::MailAddr::Group(g) => out.extend(g.addrs.iter().map(|s| Mailbox {
                name: s.display_name.clone(),
                addr: s.addr.clone(),
            })),
        }
    }
    out
}

/// mailparse insists on an `@` in every address; mail to local users
/// (`To: root`, cron's habit) has none. Split the list at top-level commas
/// and parse each element on its own: elements with `@` through mailparse,
/// local names by hand (angle brackets, comments and a group name removed).
fn parse_local_list(text: &str) -> Result<Vec<Mailbox>, String> {
    let mut out = Vec::new();
    for element in split_top_level(text) {
        let element = element.trim();
        if element.is_empty() {
            continue;
        }
        if element.contains('@') {
            // mailparse reads a bare quoted local part ("a b"@c) only
            // inside angle brackets.
            let list = mailparse::addrparse(element)
                .or_else(|e| match element.contains('<') {
                    true => Err(e),
                    false => mailparse::addrparse(&format!("<{}>", strip_comments(element).trim())),
                })
                .map_err(|e| e.to_string())?;
            out.extend(flatten(&list));
            continue;
        }
        let mut s = strip_comments(element);
        // A group: "name: member, member;"
        if let Some(colon) = s.find(':') {
            if !s[..colon].contains('<') {
                s = s[colon + 1..].to_string();
            }
        }
        let s = s.trim().trim_end_matches(';').trim();
        let (name, addr) = match (s.find('<'), s.rfind('>')) {
            (Some(l), Some(r)) if l < r => {
                let name = s[..l].trim().trim_matches('"').trim();
                (
                    (!name.is_empty()).then(|| name.to_string()),
                    s[l + 1..r].trim().to_string(),
                )
            }
            (None, None) => (None, s.to_string()),
            _ => return Err(format!("unbalanced angle brackets in {element:?}")),
        };
        if addr.is_empty() {
            continue;
        }
        if addr.chars().any(char::is_whitespace) {
            return Err(format!("{addr:?} is not an address"));
        }
        out.push(Mailbox { name, addr });
    }
    Ok(out)
}

/// Split at commas outside quotes, comments and angle brackets.
fn split_top_level(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut escaped, mut comment, mut angle) = (false, false, 0u32, false);
    for c in text.chars() {
        if escaped {
            escaped = false;
            cur.push(c);
            continue;
        }
        match c {
            '\\' => escaped = true,
            '"' if comment == 0 => quoted = !quoted,
            '(' if !quoted => comment += 1,
            ')' if !quoted && comment > 0 => comment -= 1,
            '<' if !quoted && comment == 0 => angle = true,
            '>' if !quoted && comment == 0 => angle = false,
            ',' if !quoted && comment == 0 && !angle => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    parts.push(cur);
    parts
}

fn strip_comments(text: &str) -> String {
    let mut out = String::new();
    let (mut depth, mut quoted) = (0u32, false);
    for c in text.chars() {
        match c {
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// A mailbox as a header value: the display name quoted, or encoded
/// (RFC 2047) when it is not ASCII.
pub fn format_mailbox(m: &Mailbox) -> String {
    let Some(name) = m.name.as_deref().filter(|n| !n.trim().is_empty()) else {
        return m.addr.clone();
    };
    let name = if !name.is_ascii() {
        use base64::Engine;
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(name.as_bytes())
        )
    } else if name
        .chars()
        .any(|c| "()<>[]:;@\\,.\"".contains(c) || c.is_ascii_control())
    {
        format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        name.to_string()
    };
    format!("{name} <{}>", m.addr)
}
