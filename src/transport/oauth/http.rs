//! The HTTPS requests of OAuth 2: form posts to the token and device
//! endpoints, one request per connection (`Connection: close`), HTTP/1.1
//! over std's socket and the program's rustls (ring provider). Reached only
//! when a token must be fetched or refreshed: a submission with a cached
//! access token builds no client.
//!
//! Written here rather than taken from ureq: ureq 3 (on the same rustls)
//! added 817 KB and 1 461 relocations to the binary, which every
//! submission paid at start-up (5 % of a cached `esmtp route`), OAuth 2 or
//! not; these few form posts need a status line, two headers and a
//! bounded body.
//!
//! Trust: the system's roots (the cached anchors SMTP uses) plus the
//! identity's own CAs ([`crate::transport::tls::endpoint_config`]). Every
//! request is bounded by the identity's `timeout` as a whole (connect,
//! handshake, every read, however slowly the answer trickles), its answer
//! by [`MAX_ANSWER`] bytes; redirects are not followed, no proxy is used.

use crate::exit::{self, Failure};
use crate::plan::Identity;
use rustls::ClientConfig;
use serde_json::{Map, Value};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest answer read from an endpoint (head and body).
pub const MAX_ANSWER: usize = 64 * 1024;

/// What an endpoint answered.
pub enum Answer {
    /// 2xx with a JSON object.
    Granted(Map<String, Value>),
    /// 4xx with an OAuth 2 error (RFC 6749 §5.2): its `error` code and
    /// description (made safe to show).
    Refused {
        status: u16,
        error: String,
        description: String,
    },
}

/// Server text made safe to show: control characters dropped, at most 300
/// characters.
pub fn shown(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(300).collect()
}

/// An `https://host[:port]/path` (or `http://` to loopback, as the
/// compiler allows) taken apart.
#[derive(Debug, PartialEq, Eq)]
pub struct Url<'a> {
    pub tls: bool,
    pub host: &'a str,
    pub port: u16,
    /// Path and query, at least `/`.
    pub target: &'a str,
}

pub fn parse_url(url: &str) -> Option<Url<'_>> {
    let (scheme, rest) = url.split_once("://")?;
    let tls = match scheme.to_ascii_lowercase().as_str() {
        "https" => true,
        "http" => false,
        _ => return None,
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, target) = rest.split_at(end);
    let target = target.split('#').next().unwrap_or("");
    let target = if target.is_empty() { "/" } else { target };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let default = if tls { 443 } else { 80 };
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (h, after) = v6.split_once(']')?;
            match after.strip_prefix(':') {
                Some(p) => (h, p.parse().ok()?),
                None if after.is_empty() => (h, default),
                None => return None,
            }
        }
        None => match authority.split_once(':') {
            Some((h, p)) => (h, p.parse().ok()?),
            None => (authority, default),
        },
    };
    Some(Url {
        tls,
        host,
        port,
        target,
    })
}

/// The HTTPS client for one identity.
pub struct Client {
    config: Arc<ClientConfig>,
    timeout: Duration,
}

/// Bytes in and out under one deadline.
trait Conn: Read + Write {}
impl<T: Read + Write> Conn for T {}

impl Client {
    pub fn new(identity: &Identity, timeout: Duration) -> Result<Client, Failure> {
        Ok(Client {
            config: crate::transport::tls::endpoint_config(identity)?,
            timeout,
        })
    }

    /// POST `form` to `url` (an endpoint of `what`, for messages) and read
    /// the answer. Unreachable, timed out, 5xx, 429 or an answer that is
    /// not JSON: temporary (75). The form's values never appear in a
    /// message.
    pub fn post(&self, what: &str, url: &str, form: &[(&str, &str)]) -> Result<Answer, Failure> {
        let temp = |why: String| {
            Failure::new(
                exit::TEMPFAIL,
                format!("the OAuth 2 {what} endpoint {url} {why}"),
            )
        };
        let u = parse_url(url)
            .ok_or_else(|| Failure::config(format!("`{url}` is not an http(s) URL")))?;
        let body: Vec<String> = form
            .iter()
            .map(|(k, v)| format!("{}={}", super::flow::encode(k), super::flow::encode(v)))
            .collect();
        let body = body.join("&");
        let host = if u.host.contains(':') {
            format!("[{}]", u.host)
        } else {
            u.host.to_string()
        };
        let host_header = if u.port == if u.tls { 443 } else { 80 } {
            host
        } else {
            format!("{host}:{}", u.port)
        };
        let request = format!(
            "POST {} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: esmtp/{}\r\n\
             Accept: application/json\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            u.target,
            env!("CARGO_PKG_VERSION"),
            body.len()
        );
        let deadline = Instant::now() + self.timeout;
        let (status, bytes) = self
            .exchange(&u, request.as_bytes(), deadline)
            .map_err(&temp)?;
        answer(status, &bytes).map_err(temp)
    }

    /// Connect, send `request`, read the answer: its status and body.
    fn exchange(
        &self,
        u: &Url<'_>,
        request: &[u8],
        deadline: Instant,
    ) -> Result<(u16, Vec<u8>), String> {
        let left = || {
            deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
                .ok_or_else(|| format!("did not answer within {} s", self.timeout.as_secs()))
        };
        let addrs: Vec<_> = (u.host, u.port)
            .to_socket_addrs()
            .map_err(|e| {
                format!(
                    "cannot be reached: cannot find the address of {}: {e}",
                    u.host
                )
            })?
            .collect();
        let mut last = String::from("no address");
        let mut tcp = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, left()?) {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = e.to_string(),
            }
        }
        let tcp = tcp.ok_or_else(|| format!("cannot be reached: {last}"))?;
        let _ = tcp.set_nodelay(true);
        let sock = tcp
            .try_clone()
            .map_err(|e| format!("cannot be reached: {e}"))?;
        let mut conn: Box<dyn Conn> = if u.tls {
            let name = crate::transport::tls::server_name(u.host).map_err(|f| f.message)?;
            let tls = rustls::ClientConnection::new(self.config.clone(), name)
                .map_err(|e| format!("cannot be reached: TLS: {e}"))?;
            Box::new(rustls::StreamOwned::new(tls, tcp))
        } else {
            Box::new(tcp)
        };
        let io = |e: std::io::Error| -> String {
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) {
                format!("did not answer within {} s", self.timeout.as_secs())
            } else {
                format!("cannot be reached: {}", shown(&e.to_string()))
            }
        };
        sock.set_write_timeout(Some(left()?)).map_err(io)?;
        conn.write_all(request).map_err(io)?;
        conn.flush().map_err(io)?;
        // Read the whole answer (the server closes: `Connection: close`),
        // every read bounded by what is left of the deadline.
        let mut buf = Vec::with_capacity(4096);
        let mut chunk = [0u8; 4096];
        loop {
            sock.set_read_timeout(Some(left()?)).map_err(io)?;
            match conn.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    if buf.len() > MAX_ANSWER {
                        return Err(format!("sent an answer larger than {MAX_ANSWER} bytes"));
                    }
                    if complete(&buf) {
                        break;
                    }
                }
                // A server that closes without TLS's close_notify: the
                // framing below says whether the answer is whole.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(io(e)),
            }
        }
        parse_response(&buf).ok_or_else(|| "sent no complete HTTP answer".to_string())
    }
}

/// What an endpoint's status and body say: a grant, a refusal, or (`Err`,
/// why) a temporary failure: 5xx, 429 or an answer that is not JSON.
pub fn answer(status: u16, body: &[u8]) -> Result<Answer, String> {
    if status >= 500 || status == 429 {
        return Err(format!("answered HTTP {status}; try again later"));
    }
    let json: Option<Map<String, Value>> = serde_json::from_slice(body).ok();
    match (status, json) {
        (200..=299, Some(map)) => Ok(Answer::Granted(map)),
        (400..=499, json) => {
            let text = |k: &str| {
                json.as_ref()
                    .and_then(|m| m.get(k))
                    .and_then(|v| v.as_str())
                    .map(shown)
            };
            Ok(Answer::Refused {
                status,
                error: text("error").unwrap_or_else(|| format!("HTTP {status}")),
                description: text("error_description").unwrap_or_default(),
            })
        }
        (_, _) => Err(format!(
            "answered HTTP {status} without the JSON object OAuth 2 sends"
        )),
    }
}

/// The head of an answer: status, `Content-Length`, chunked, and where the
/// body starts.
fn head(buf: &[u8]) -> Option<(u16, Option<usize>, bool, usize)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let text = std::str::from_utf8(&buf[..end]).ok()?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next()?;
    let mut words = status_line.split(' ');
    if !words.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let status: u16 = words.next()?.parse().ok()?;
    let (mut length, mut chunked) = (None, false);
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        if k.eq_ignore_ascii_case("content-length") {
            length = Some(v.parse().ok()?);
        } else if k.eq_ignore_ascii_case("transfer-encoding") {
            chunked = v.eq_ignore_ascii_case("chunked");
        }
    }
    Some((status, length, chunked, end))
}

/// Is the answer in `buf` whole (by its length, or its last chunk)? The
/// client stops reading when it is.
pub fn complete(buf: &[u8]) -> bool {
    match head(buf) {
        Some((_, _, true, start)) => dechunk(&buf[start..]).is_some(),
        // Not `start + n`: a hostile length overflows it.
        Some((_, Some(n), false, start)) => buf.len() - start >= n,
        _ => false,
    }
}

/// The body of chunked encoding, when its last chunk has arrived.
fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..eol]).ok()?;
        let size_text = size_text.split(';').next()?.trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        data = &data[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        // The chunk and its CRLF (not `size + 2`: a hostile size
        // overflows it).
        if data.len() < 2 || data.len() - 2 < size {
            return None;
        }
        let (chunk, after) = data.split_at(size);
        if !after.starts_with(b"\r\n") {
            return None;
        }
        out.extend_from_slice(chunk);
        data = &after[2..];
    }
}

/// The status and body of a whole answer (a body without length ends
/// where the connection did).
pub fn parse_response(buf: &[u8]) -> Option<(u16, Vec<u8>)> {
    let (status, length, chunked, start) = head(buf)?;
    let rest = &buf[start..];
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(n) = length {
        rest.get(..n)?.to_vec()
    } else {
        rest.to_vec()
    };
    Some((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("https://oauth2.googleapis.com/token").unwrap();
        assert_eq!(
            u,
            Url {
                tls: true,
                host: "oauth2.googleapis.com",
                port: 443,
                target: "/token"
            }
        );
        let u = parse_url("http://[::1]:8080?x=1#f").unwrap();
        assert_eq!((u.host, u.port, u.target), ("::1", 8080, "?x=1"));
        assert_eq!(parse_url("https://h").unwrap().target, "/");
        assert!(parse_url("https://u@h/").is_none());
        assert!(parse_url("ftp://h/").is_none());
        assert!(parse_url("https://h:x/").is_none());
    }

    #[test]
    fn answers_by_length_chunks_or_end() {
        let a = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
        assert!(complete(a));
        assert_eq!(parse_response(a), Some((200, b"{}".to_vec())));
        let c = b"HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4;x\r\n\":1}\r\n0\r\n\r\n";
        assert!(complete(c));
        assert_eq!(parse_response(c), Some((400, b"{\"a\":1}".to_vec())));
        assert!(!complete(&c[..c.len() - 5]));
        let e = b"HTTP/1.0 200 OK\r\n\r\n{\"x\":1}";
        assert!(!complete(e));
        assert_eq!(parse_response(e), Some((200, b"{\"x\":1}".to_vec())));
        assert_eq!(parse_response(b"garbage\r\n\r\n"), None);
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{}"),
            None
        );
    }

    /// Sizes near 2^64 (fuzz target `http`): `size + 2` and `start + n`
    /// overflowed; such an answer is incomplete, never whole.
    #[test]
    fn hostile_sizes_are_refused() {
        let c = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffe\r\n{}\r\n0\r\n\r\n";
        assert!(!complete(c));
        assert_eq!(parse_response(c), None);
        let c = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n{}\r\n0\r\n\r\n";
        assert_eq!(parse_response(c), None);
        let l = b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n{}";
        assert!(!complete(l));
        assert_eq!(parse_response(l), None);
    }

    /// A chunk's data is followed by CRLF; anything else is not chunked
    /// encoding (and a chunk cut before its CRLF is not whole yet).
    #[test]
    fn a_chunk_ends_with_crlf() {
        let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        let with = |body: &[u8]| [&head[..], body].concat();
        let good = with(b"2\r\n{}\r\n0\r\n\r\n");
        assert_eq!(parse_response(&good), Some((200, b"{}".to_vec())));
        for bad in [
            &b"2\r\n{}xx0\r\n\r\n"[..],
            b"1\r\n{}\r\n0\r\n\r\n",
            b"2\r\n{}\r",
        ] {
            let bad = with(bad);
            assert!(!complete(&bad), "{:?}", String::from_utf8_lossy(&bad));
            assert_eq!(parse_response(&bad), None);
        }
    }

    #[test]
    fn answers_by_status_and_json() {
        assert!(matches!(answer(200, b"{\"a\":1}"), Ok(Answer::Granted(m)) if m.len() == 1));
        assert!(answer(200, b"[1]").is_err());
        assert!(answer(429, b"{}").is_err());
        assert!(answer(503, b"{}").is_err());
        assert!(answer(302, b"{}").is_err());
        let Ok(Answer::Refused {
            status,
            error,
            description,
        }) = answer(400, b"<html>")
        else {
            panic!("not a refusal");
        };
        assert_eq!(
            (status, error.as_str(), description.as_str()),
            (400, "HTTP 400", "")
        );
        let long = "d".repeat(400);
        let body =
            format!("{{\"error\":\"invalid_grant\\u001b[31m\",\"error_description\":\"{long}\"}}");
        let Ok(Answer::Refused {
            error, description, ..
        }) = answer(400, body.as_bytes())
        else {
            panic!("not a refusal");
        };
        assert_eq!(error, "invalid_grant[31m");
        assert_eq!(description.len(), 300);
    }
}
