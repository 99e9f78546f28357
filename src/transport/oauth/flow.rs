//! The two ways `esmtp oauth authorize` gets the first tokens:
//!
//! - the authorization-code flow with PKCE (RFC 7636, S256) and a loopback
//!   redirect (RFC 8252 §7.3): listen on 127.0.0.1 on a port of the
//!   system's choosing, print the provider's URL (and open a browser when
//!   there is one), accept the one redirect that carries our `state`, and
//!   exchange its code with the verifier;
//! - the device flow (RFC 8628, `--device`): print the verification URL
//!   and the user code, then poll the token endpoint at the interval the
//!   provider asks for (`authorization_pending`, `slow_down`,
//!   `expired_token`).

use super::http::{self, Answer};
use super::store::{Entry, Tokens};
use super::{client_secret, store::identity_name};
use crate::exit::{self, Failure};
use crate::plan::{Identity, OAuth2, OAuth2Provider};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// How long `authorize` waits for the browser's redirect (a person is
/// logging in).
pub const BROWSER_WAIT: Duration = Duration::from_secs(300);
/// The longest a device code is polled, whatever the provider says.
pub const DEVICE_WAIT_MAX: Duration = Duration::from_secs(1800);
/// The request of the redirect, at most.
const MAX_REQUEST: usize = 8 * 1024;

/// Percent-encoding of a query value (RFC 3986 unreserved characters kept).
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-decoding of a query value (`+` is a blank); `None` when it is
/// not UTF-8 or an escape is broken.
pub fn decode(value: &str) -> Option<String> {
    let b = value.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn random_b64(n: usize) -> Result<String, Failure> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes)
        .map_err(|e| Failure::software(format!("no randomness for OAuth 2: {e}")))?;
    Ok(B64URL.encode(bytes))
}

/// The PKCE S256 challenge of `verifier`.
pub fn challenge(verifier: &str) -> String {
    B64URL.encode(Sha256::digest(verifier.as_bytes()))
}

/// The provider's authorization URL for this request.
pub fn authorization_url(
    oauth: &OAuth2,
    auth_url: &str,
    redirect: &str,
    state: &str,
    verifier: &str,
) -> String {
    let mut params = vec![
        ("response_type", "code".to_string()),
        ("client_id", oauth.client_id.clone()),
        ("redirect_uri", redirect.to_string()),
        ("scope", oauth.scope.clone()),
        ("state", state.to_string()),
        ("code_challenge", challenge(verifier)),
        ("code_challenge_method", "S256".to_string()),
    ];
    if oauth.provider == OAuth2Provider::Google {
        // Google grants a refresh token only with these.
        params.push(("access_type", "offline".into()));
        params.push(("prompt", "consent".into()));
    }
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    let sep = if auth_url.contains('?') { '&' } else { '?' };
    format!("{auth_url}{sep}{}", query.join("&"))
}

/// Open `url` in the user's browser when there is one (a graphical session
/// and a terminal on standard output): `xdg-open`, not waited for.
fn open_browser(url: &str) {
    use std::io::IsTerminal;
    let graphical = std::env::var_os("DISPLAY").is_some_and(|v| !v.is_empty())
        || std::env::var_os("WAYLAND_DISPLAY").is_some_and(|v| !v.is_empty());
    if !graphical || !std::io::stdout().is_terminal() {
        return;
    }
    let child = std::process::Command::new("xdg-open")
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Ok(mut child) = child {
        // Reaped in the background; it may outlive us harmlessly.
        std::thread::spawn(move || child.wait());
    }
}

/// The parameters of the redirect's request line `GET /?a=b&c=d HTTP/1.1`;
/// `None` when it is not a request for `/`.
pub fn redirect_params(request: &str) -> Option<Vec<(String, String)>> {
    let line = request.lines().next()?;
    let mut words = line.split(' ');
    let (method, target) = (words.next()?, words.next()?);
    if method != "GET" {
        return None;
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != "/" {
        return None;
    }
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Some((decode(k)?, decode(v)?))
        })
        .collect()
}

fn respond(stream: &mut TcpStream, status: &str, text: &str) {
    let body = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>esmtp</title></head><body><p>{text}</p></body></html>\n"
    );
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
}

/// Read a request head from `stream`: at most [`MAX_REQUEST`] bytes, 10 s.
fn read_request(stream: &mut TcpStream) -> Option<String> {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while buf.len() < MAX_REQUEST {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
            break;
        }
    }
    String::from_utf8(buf).ok()
}

/// Wait for the redirect that carries `state`; return its code and the
/// connection, to answer once the code is exchanged.
fn await_redirect(
    listener: &TcpListener,
    state: &str,
    wait: Duration,
) -> Result<(String, TcpStream), Failure> {
    let deadline = Instant::now() + wait;
    listener
        .set_nonblocking(true)
        .map_err(|e| Failure::software(format!("loopback listener: {e}")))?;
    loop {
        let (mut stream, _) = match listener.accept() {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(Failure::tempfail(format!(
                        "no answer from the browser within {} s; nothing was stored",
                        wait.as_secs()
                    )));
                }
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            Err(e) => return Err(Failure::software(format!("loopback listener: {e}"))),
        };
        let _ = stream.set_nonblocking(false);
        let Some(params) = read_request(&mut stream).and_then(|r| redirect_params(&r)) else {
            // A favicon, a probe: not the redirect.
            respond(&mut stream, "404 Not Found", "Not found.");
            continue;
        };
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        // Not the answer to this request (another program on this machine
        // can reach the port too): refused and ignored, so that it can
        // neither end the flow nor slip in a code of its own.
        if get("state") != Some(state) {
            respond(
                &mut stream,
                "400 Bad Request",
                "This is not the answer to esmtp's request.",
            );
            continue;
        }
        if let Some(error) = get("error") {
            let error = http::shown(error);
            let description = http::shown(get("error_description").unwrap_or(""));
            respond(
                &mut stream,
                "200 OK",
                "esmtp was not authorized. You may close this window.",
            );
            return Err(Failure::config(format!(
                "the provider did not authorize esmtp ({error}{}{description}); nothing was stored",
                if description.is_empty() { "" } else { ": " }
            )));
        }
        match get("code") {
            Some(code) if !code.is_empty() => return Ok((code.to_string(), stream)),
            _ => {
                respond(&mut stream, "400 Bad Request", "No authorization code.");
                return Err(Failure::new(
                    exit::PROTOCOL,
                    "the redirect carries no authorization code; nothing was stored",
                ));
            }
        }
    }
}

/// The authorization-code flow; `out` gets the URL to open. The tokens are
/// stored before the browser is told it is done.
pub fn authorize(
    identity: &Identity,
    oauth: &OAuth2,
    timeout: Duration,
    out: &mut dyn Write,
) -> Result<Tokens, Failure> {
    let auth_url = oauth.auth_url.as_deref().ok_or_else(|| {
        Failure::config(format!(
            "{} has no `oauth2_auth_url`: add it, or use `esmtp oauth authorize --device`",
            identity_name(identity)
        ))
    })?;
    let client = http::Client::new(identity, timeout)?;
    let secret = client_secret(oauth, timeout)?;
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| Failure::tempfail(format!("cannot listen on 127.0.0.1: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| Failure::software(e.to_string()))?
        .port();
    let redirect = format!("http://127.0.0.1:{port}/");
    let state = random_b64(16)?;
    let verifier = random_b64(32)?;
    let url = authorization_url(oauth, auth_url, &redirect, &state, &verifier);
    let _ = writeln!(
        out,
        "To authorize esmtp to send as {}, open this URL in a browser and log in:\n\n{url}\n\nWaiting for the browser (at most {} s)...",
        identity_name(identity),
        BROWSER_WAIT.as_secs()
    );
    let _ = out.flush();
    open_browser(&url);
    let (code, mut browser) = await_redirect(&listener, &state, BROWSER_WAIT)?;
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect.as_str()),
        ("client_id", oauth.client_id.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    if let Some(s) = &secret {
        form.push(("client_secret", s.as_str()));
    }
    let result = client
        .post("token", &oauth.token_url, &form)
        .and_then(|answer| granted(identity, oauth, answer))
        .and_then(|tokens| store(identity, tokens));
    let text = match &result {
        Ok(_) => "esmtp is authorized. You may close this window.",
        Err(_) => "esmtp could not get a token; see the terminal.",
    };
    respond(&mut browser, "200 OK", text);
    result
}

/// Store `tokens` (a first authorization replaces what was stored).
fn store(identity: &Identity, tokens: Tokens) -> Result<Tokens, Failure> {
    let entry = Entry::of(identity)?;
    let _lock = entry.lock(Duration::from_secs(30))?;
    entry.save(&tokens)?;
    Ok(tokens)
}

/// The tokens of a token endpoint's answer to a grant.
fn granted(identity: &Identity, oauth: &OAuth2, answer: Answer) -> Result<Tokens, Failure> {
    match answer {
        Answer::Granted(map) => {
            let mut tokens = Tokens::default();
            if !tokens.update(&map) {
                return Err(Failure::new(
                    exit::PROTOCOL,
                    format!(
                        "the OAuth 2 token endpoint {} answered without an access token",
                        oauth.token_url
                    ),
                ));
            }
            tokens.token_url = Some(oauth.token_url.clone());
            if tokens.scope.is_none() {
                tokens.scope = Some(oauth.scope.clone());
            }
            Ok(tokens)
        }
        Answer::Refused {
            error, description, ..
        } => Err(Failure::config(format!(
            "the OAuth 2 token endpoint {} refused the grant for {} ({error}{}{description}); nothing was stored",
            oauth.token_url,
            identity_name(identity),
            if description.is_empty() { "" } else { ": " }
        ))),
    }
}

/// What a device endpoint granted (RFC 8628 §3.2).
#[derive(Debug, PartialEq, Eq)]
pub struct DeviceGrant {
    pub device_code: String,
    pub user_code: String,
    /// Where the user enters the code (empty when not said).
    pub verify: String,
    /// Seconds between two polls, 1 to 60.
    pub interval: u64,
    /// How long the code is polled, at most [`DEVICE_WAIT_MAX`].
    pub wait: Duration,
}

/// A device endpoint's granted answer; `None` without a device and user
/// code.
pub fn device_grant(map: &Map<String, Value>) -> Option<DeviceGrant> {
    let text = |k: &str| map.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let number = |k: &str| {
        map.get(k)
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
    };
    let (device_code, user_code) = (text("device_code")?, text("user_code")?);
    // Google says verification_url, RFC 8628 verification_uri.
    let verify = text("verification_uri")
        .or_else(|| text("verification_url"))
        .unwrap_or_default();
    Some(DeviceGrant {
        device_code,
        user_code,
        verify,
        interval: number("interval").unwrap_or(5).clamp(1, 60),
        wait: Duration::from_secs(number("expires_in").unwrap_or(900)).min(DEVICE_WAIT_MAX),
    })
}

/// The device flow; `out` gets the URL and the code to enter.
pub fn authorize_device(
    identity: &Identity,
    oauth: &OAuth2,
    timeout: Duration,
    out: &mut dyn Write,
) -> Result<Tokens, Failure> {
    let device_url = oauth.device_url.as_deref().ok_or_else(|| {
        Failure::config(format!(
            "{} has no `oauth2_device_url`: add it, or use `esmtp oauth authorize` without --device",
            identity_name(identity)
        ))
    })?;
    let client = http::Client::new(identity, timeout)?;
    let secret = client_secret(oauth, timeout)?;
    let form = [
        ("client_id", oauth.client_id.as_str()),
        ("scope", oauth.scope.as_str()),
    ];
    let map = match client.post("device authorization", device_url, &form)? {
        Answer::Granted(map) => map,
        Answer::Refused {
            error, description, ..
        } => {
            return Err(Failure::config(format!(
                "the OAuth 2 device endpoint {device_url} refused ({error}{}{description})",
                if description.is_empty() { "" } else { ": " }
            )))
        }
    };
    let Some(DeviceGrant {
        device_code,
        user_code,
        verify,
        mut interval,
        wait,
    }) = device_grant(&map)
    else {
        return Err(Failure::new(
            exit::PROTOCOL,
            format!(
                "the OAuth 2 device endpoint {device_url} answered without a device and user code"
            ),
        ));
    };
    let _ = writeln!(
        out,
        "To authorize esmtp to send as {}, open {} in a browser and enter the code {}\n\nWaiting (at most {} s)...",
        identity_name(identity),
        http::shown(&verify),
        http::shown(&user_code),
        wait.as_secs()
    );
    let _ = out.flush();
    let deadline = Instant::now() + wait;
    let mut poll = vec![
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("device_code", device_code.as_str()),
        ("client_id", oauth.client_id.as_str()),
    ];
    if let Some(s) = &secret {
        poll.push(("client_secret", s.as_str()));
    }
    loop {
        std::thread::sleep(Duration::from_secs(interval));
        if Instant::now() >= deadline {
            return Err(expired(identity));
        }
        match client.post("token", &oauth.token_url, &poll)? {
            Answer::Refused { error, .. } if error == "authorization_pending" => {}
            Answer::Refused { error, .. } if error == "slow_down" => interval += 5,
            Answer::Refused { error, .. } if error == "expired_token" => {
                return Err(expired(identity))
            }
            answer => return granted(identity, oauth, answer).and_then(|t| store(identity, t)),
        }
    }
}

fn expired(identity: &Identity) -> Failure {
    Failure::config(format!(
        "the device code expired before it was entered; nothing was stored: run `esmtp oauth authorize --device {}` again",
        crate::plan::shell_quote(&identity_name(identity))
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_of_rfc_7636_appendix_b() {
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn query_values_round_trip() {
        let v = "https://mail.google.com/ a+b&c=d é";
        assert_eq!(decode(&encode(v)).as_deref(), Some(v));
        assert_eq!(decode("%zz"), None);
        assert_eq!(decode("%4"), None);
    }

    #[test]
    fn only_the_root_request_is_the_redirect() {
        let p = redirect_params("GET /?code=a%2Fb&state=s HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!(
            p,
            vec![("code".into(), "a/b".into()), ("state".into(), "s".into())]
        );
        assert!(redirect_params("GET /favicon.ico HTTP/1.1\r\n\r\n").is_none());
        assert!(redirect_params("POST /?code=a HTTP/1.1\r\n\r\n").is_none());
    }

    #[test]
    fn device_answers() {
        let grant = |v: serde_json::Value| device_grant(v.as_object().unwrap());
        let d = grant(serde_json::json!({
            "device_code": "D", "user_code": "U",
            "verification_url": "https://www.google.com/device",
            "expires_in": "99999999999999999999", "interval": 0
        }));
        // An expires_in beyond u64 is not a number: the default 900 s.
        assert_eq!(
            d,
            Some(DeviceGrant {
                device_code: "D".into(),
                user_code: "U".into(),
                verify: "https://www.google.com/device".into(),
                interval: 1,
                wait: Duration::from_secs(900),
            })
        );
        let d = grant(serde_json::json!({
            "device_code": "D", "user_code": "U", "verification_uri": "v",
            "expires_in": u64::MAX, "interval": "3600"
        }))
        .unwrap();
        assert_eq!(
            (d.verify.as_str(), d.interval, d.wait),
            ("v", 60, DEVICE_WAIT_MAX)
        );
        assert_eq!(
            grant(serde_json::json!({"device_code": "D", "user_code": 1})),
            None
        );
    }
}
