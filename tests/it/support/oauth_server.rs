//! An OAuth 2 provider on loopback for the `oauth2` tests: authorization
//! (`GET /auth`, redirecting to the client's loopback `redirect_uri` with
//! a code and the client's `state`), token (`POST /token`: the
//! authorization code checked against the PKCE challenge, the device
//! code, refresh tokens rotated on each use) and device (`POST /device`)
//! endpoints over HTTPS with a certificate from a test CA. Every request is
//! counted; each access token it issues is handed to Exim (the only one
//! Exim then accepts).
#![allow(dead_code)]

use super::hostile::tls_server;
use super::{Exim, Pki};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub const CLIENT_ID: &str = "esmtp-test-client";
pub const CLIENT_SECRET: &str = "CLIENTSECRETMARKER";
pub const CODE: &str = "AUTHCODE42";

/// What the provider does and has done.
#[derive(Default)]
pub struct State {
    /// Requests per path (`/auth`, `/token`, `/device`).
    pub requests: HashMap<String, usize>,
    /// `/token` requests by grant type.
    pub grants: HashMap<String, usize>,
    /// The PKCE challenge of the last authorization request.
    pub challenge: Option<String>,
    /// The refresh token now valid.
    pub refresh: Option<String>,
    /// Tokens issued so far (access tokens are `ya29.MARKER-N`).
    pub issued: usize,
    /// `expires_in` of the access tokens issued.
    pub expires_in: u64,
    /// Refuse every refresh with `invalid_grant`.
    pub refuse_refresh: bool,
    /// Device polls answered `authorization_pending` before the grant.
    pub pending_polls: usize,
    /// Milliseconds `/token` waits before answering (to overlap clients).
    pub token_delay_ms: u64,
    /// Where each new access token goes (Exim's token file), with the user.
    pub exim_user: Option<String>,
    pub exim_dir: Option<PathBuf>,
}

pub struct Provider {
    pub pki: Pki,
    pub port: u16,
    pub state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

/// The access token the provider issues as its `n`th token.
pub fn access_token(n: usize) -> String {
    format!("ya29.ACCESSMARKER-{n}")
}

fn refresh_token(n: usize) -> String {
    format!("1//REFRESHMARKER-{n}")
}

impl Provider {
    pub fn start() -> Provider {
        let dir = super::shared_tempdir("esmtp-oauth.");
        let pki = Pki::new(&dir.path().join("pki"), "oauth");
        let (cert, key) = pki.issue("endpoint", "localhost", "DNS:localhost,IP:127.0.0.1", false);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let state = Arc::new(Mutex::new(State {
            expires_in: 3600,
            ..State::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !sp.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((tcp, _)) => {
                        let _ = tcp.set_nonblocking(false);
                        let st = st.clone();
                        let (cert, key) = (cert.clone(), key.clone());
                        std::thread::spawn(move || {
                            if let Ok(mut tls) = tls_server(tcp, &cert, &key) {
                                serve(&mut tls, &st);
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Provider {
            pki,
            port,
            state,
            stop,
            thread: Some(thread),
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    /// The esmtprc lines of an `oauth2 custom` identity using this provider.
    pub fn settings(&self) -> String {
        format!(
            "oauth2 custom\noauth2_client_id {CLIENT_ID}\noauth2_client_secret {CLIENT_SECRET}\n\
             oauth2_auth_url {}\noauth2_token_url {}\noauth2_device_url {}\n\
             oauth2_scope \"smtp offline\"\ntls_trust_file {}\n",
            self.url("/auth"),
            self.url("/token"),
            self.url("/device"),
            self.pki.ca_cert.display()
        )
    }

    /// Hand every access token issued to `exim`, for `user`.
    pub fn feed(&self, exim: &Exim, user: &str) {
        let mut s = self.state.lock().unwrap();
        s.exim_user = Some(user.to_string());
        s.exim_dir = Some(exim.dir.path().to_path_buf());
    }

    pub fn requests(&self, path: &str) -> usize {
        *self.state.lock().unwrap().requests.get(path).unwrap_or(&0)
    }

    pub fn grants(&self, grant: &str) -> usize {
        *self.state.lock().unwrap().grants.get(grant).unwrap_or(&0)
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    /// Play the browser: GET the printed authorization URL, follow its
    /// redirect to esmtp's loopback listener; the page esmtp answers.
    pub fn browse(&self, url: &str) -> String {
        use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};
        let ca = std::fs::read(&self.pki.ca_cert).expect("ca");
        let ca = Certificate::from_pem(&ca).expect("ca pem");
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .root_certs(RootCerts::Specific(Arc::new(vec![ca])))
            .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .build();
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .max_redirects(0)
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .new_agent();
        let resp = agent.get(url).call().expect("GET the authorization URL");
        assert_eq!(resp.status().as_u16(), 302, "the provider redirects");
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("Location")
            .to_string();
        assert!(location.starts_with("http://127.0.0.1:"), "{location}");
        let mut page = agent.get(&location).call().expect("GET the redirect");
        page.body_mut().read_to_string().expect("page")
    }
}

impl Provider {
    /// Stop listening (a connection is then refused); the CA stays.
    pub fn shut_down(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.shut_down();
    }
}

fn decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (b[i], hex) {
            (b'%', Some(x)) => {
                out.push(x);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn params(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn respond(w: &mut impl Write, status: &str, extra: &str, body: &str) {
    let _ = write!(
        w,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
        body.len()
    );
    let _ = w.flush();
}

fn serve(tls: &mut (impl Read + Write), state: &Mutex<State>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = match tls.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        if buf.len() > 65536 {
            return;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match tls.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = String::from_utf8_lossy(&buf[head_end..head_end + length]).into_owned();
    let line = head.lines().next().unwrap_or("");
    let mut words = line.split(' ');
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    *state
        .lock()
        .unwrap()
        .requests
        .entry(path.to_string())
        .or_default() += 1;
    match (method, path) {
        ("GET", "/auth") => {
            let p = params(query);
            let ok = p.get("client_id").map(String::as_str) == Some(CLIENT_ID)
                && p.get("response_type").map(String::as_str) == Some("code")
                && p.get("code_challenge_method").map(String::as_str) == Some("S256")
                && p.get("scope").map(String::as_str) == Some("smtp offline");
            let (Some(redirect), Some(st), Some(ch)) = (
                p.get("redirect_uri"),
                p.get("state"),
                p.get("code_challenge"),
            ) else {
                return respond(tls, "400 Bad Request", "", "{}");
            };
            if !ok {
                return respond(tls, "400 Bad Request", "", "{}");
            }
            state.lock().unwrap().challenge = Some(ch.clone());
            let location = format!("{redirect}?code={CODE}&state={}", encode(st));
            respond(tls, "302 Found", &format!("Location: {location}\r\n"), "");
        }
        ("POST", "/device") => {
            let p = params(&body);
            if p.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
                return respond(tls, "400 Bad Request", "", r#"{"error":"invalid_client"}"#);
            }
            respond(
                tls,
                "200 OK",
                "",
                r#"{"device_code":"DEVICECODE","user_code":"WDJB-MJHT","verification_uri":"https://localhost/device","expires_in":60,"interval":1}"#,
            );
        }
        ("POST", "/token") => {
            let p = params(&body);
            let delay = state.lock().unwrap().token_delay_ms;
            std::thread::sleep(Duration::from_millis(delay));
            let grant = p.get("grant_type").cloned().unwrap_or_default();
            let mut s = state.lock().unwrap();
            *s.grants.entry(grant.clone()).or_default() += 1;
            let client_ok = p.get("client_id").map(String::as_str) == Some(CLIENT_ID)
                && p.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET);
            if !client_ok {
                drop(s);
                return respond(tls, "401 Unauthorized", "", r#"{"error":"invalid_client"}"#);
            }
            let granted = match grant.as_str() {
                "authorization_code" => {
                    let verifier = p.get("code_verifier").cloned().unwrap_or_default();
                    let challenge = B64URL.encode(Sha256::digest(verifier.as_bytes()));
                    p.get("code").map(String::as_str) == Some(CODE)
                        && s.challenge.as_deref() == Some(challenge.as_str())
                        && p.get("redirect_uri")
                            .is_some_and(|r| r.starts_with("http://127.0.0.1:"))
                }
                "urn:ietf:params:oauth:grant-type:device_code" => {
                    if p.get("device_code").map(String::as_str) != Some("DEVICECODE") {
                        false
                    } else if s.pending_polls > 0 {
                        s.pending_polls -= 1;
                        drop(s);
                        return respond(
                            tls,
                            "400 Bad Request",
                            "",
                            r#"{"error":"authorization_pending"}"#,
                        );
                    } else {
                        true
                    }
                }
                "refresh_token" => {
                    !s.refuse_refresh && p.get("refresh_token") == s.refresh.as_ref()
                }
                _ => false,
            };
            if !granted {
                drop(s);
                return respond(
                    tls,
                    "400 Bad Request",
                    "",
                    r#"{"error":"invalid_grant","error_description":"Token has been expired or revoked."}"#,
                );
            }
            s.issued += 1;
            let n = s.issued;
            let (access, refresh) = (access_token(n), refresh_token(n));
            s.refresh = Some(refresh.clone());
            if let (Some(user), Some(dir)) = (&s.exim_user, &s.exim_dir) {
                write_token(dir, user, &access);
            }
            let body = format!(
                r#"{{"access_token":"{access}","token_type":"Bearer","expires_in":{},"refresh_token":"{refresh}","scope":"smtp offline"}}"#,
                s.expires_in
            );
            drop(s);
            respond(tls, "200 OK", "", &body);
        }
        _ => respond(tls, "404 Not Found", "", "{}"),
    }
}

fn write_token(dir: &std::path::Path, user: &str, token: &str) {
    use std::os::unix::fs::PermissionsExt;
    for (name, text) in [("xoauth2-user", user), ("xoauth2-token", token)] {
        let tmp = dir.join(format!("{name}.tmp"));
        std::fs::write(&tmp, text).expect("token file");
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        std::fs::rename(&tmp, dir.join(name)).expect("rename");
    }
}
