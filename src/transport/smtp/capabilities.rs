//! What the server said it can do: the keywords of its EHLO reply.

use super::super::reply::Reply;

/// What the server said it can do (its EHLO reply).
#[derive(Debug, Default, Clone)]
pub(crate) struct Capabilities {
    pub starttls: bool,
    pub eight_bit_mime: bool,
    pub dsn: bool,
    pub smtputf8: bool,
    pub pipelining: bool,
    /// `SIZE` offered; `Some(0)` means no fixed limit.
    pub size: Option<u64>,
    pub auth: Vec<String>,
    pub chunking: bool,
}

impl Capabilities {
    /// Parse the raw text of an EHLO reply (`250-KEYWORD params` lines;
    /// the first line is the server's name).
    #[cfg(test)]
    pub(crate) fn parse(raw: &str) -> Capabilities {
        match super::super::reply::parse(raw.as_bytes()) {
            Ok(Some((r, _))) if r.is_positive() => Capabilities::from_reply(&r),
            _ => Capabilities::default(),
        }
    }

    /// The keywords of an EHLO reply (the first line is the server's name).
    pub(crate) fn from_reply(r: &Reply) -> Capabilities {
        let mut caps = Capabilities::default();
        for line in r.lines.iter().skip(1) {
            let line = String::from_utf8_lossy(line);
            let mut words = line.split_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            match keyword.to_ascii_uppercase().as_str() {
                "STARTTLS" => caps.starttls = true,
                "8BITMIME" => caps.eight_bit_mime = true,
                "DSN" => caps.dsn = true,
                "SMTPUTF8" => caps.smtputf8 = true,
                "PIPELINING" => caps.pipelining = true,
                "CHUNKING" => caps.chunking = true,
                "SIZE" => caps.size = Some(words.next().and_then(|n| n.parse().ok()).unwrap_or(0)),
                "AUTH" => {
                    for m in words {
                        let m = m.to_ascii_uppercase();
                        if !caps.auth.contains(&m) {
                            caps.auth.push(m);
                        }
                    }
                }
                _ => {}
            }
        }
        caps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ehlo_keywords_are_read() {
        let caps = Capabilities::parse(
            "250-exim.test Hello\r\n250-SIZE 31457280\r\n250-8BITMIME\r\n250-DSN\r\n\
             250-AUTH PLAIN cram-md5\r\n250-STARTTLS\r\n250 HELP\r\n",
        );
        assert!(caps.starttls && caps.eight_bit_mime && caps.dsn);
        assert_eq!(caps.size, Some(31457280));
        assert_eq!(caps.auth, vec!["PLAIN".to_string(), "CRAM-MD5".to_string()]);
        assert_eq!(Capabilities::parse("250-x\r\n250 SIZE\r\n").size, Some(0));
    }
}
