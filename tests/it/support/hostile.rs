//! Hostile SMTP peers and the `esmtp` binary run as a user against them
//! (issue 13: replies out of order, data injected before TLS, replies
//! unbounded in time or size, secrets echoed back, control characters,
//! credentials towards another host).
//!
//! [`User`] runs the built binary with its own home and esmtprc, through
//! `/usr/bin/time` for its peak RSS (the binary's own, not the test
//! process's: `ru_maxrss` of a child forked from the big test process
//! would include the parent's memory), optionally inside a network
//! namespace ([`Netns`]). [`converse`] answers a client line by line for
//! scripts of [`super::FakeServer`]; [`tls_server`] makes the TLS end of a
//! STARTTLS for them.
#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A password that must never show up where it must not.
pub const MARKER: &str = "Mk7-s3cr3t-Zq!9";

pub fn b64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// The CRAM-MD5 digest (RFC 2195) of `challenge` keyed with `secret`, in
/// lower-case hex, as a server checks it.
pub fn cram_md5_hex(secret: &[u8], challenge: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<md5::Md5> as Mac>::new_from_slice(secret).expect("any key length");
    mac.update(challenge);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Decode base64 as servers read it (padding optional); garbage decodes
/// to nothing.
pub fn b64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .unwrap_or_default()
}

/// Every form of `secret` (sent by `user`) that must not leak: the secret,
/// its base64, AUTH PLAIN's and XOAUTH2's base64.
pub fn secret_forms(user: &str, secret: &str) -> Vec<String> {
    vec![
        secret.to_string(),
        b64(secret.as_bytes()),
        b64(format!("\0{user}\0{secret}").as_bytes()),
        b64(format!("user={user}\x01auth=Bearer {secret}\x01\x01").as_bytes()),
    ]
}

/// Assert that no form of the secret is in `text` (named `what`).
pub fn assert_no_secret(what: &str, text: &str, user: &str, secret: &str) {
    for form in secret_forms(user, secret) {
        assert!(
            !text.contains(&form),
            "{what} shows the secret as {form:?}:\n{text}"
        );
    }
}

/// One run of the binary.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    /// The program's stderr (without `/usr/bin/time`'s line).
    pub stderr: String,
    pub elapsed: Duration,
    /// Peak resident set size of the binary, KiB.
    pub max_rss_kib: u64,
}

const RSS_TAG: &str = "esmtp-test-max-rss-kib=";

/// A user: a home directory of their own and an esmtprc.
pub struct User {
    pub home: tempfile::TempDir,
}

impl Default for User {
    fn default() -> Self {
        User::new()
    }
}

impl User {
    pub fn new() -> User {
        User {
            home: tempfile::tempdir().expect("home"),
        }
    }

    /// Write the esmtprc (0600); returns its path.
    pub fn rc(&self, text: &str) -> PathBuf {
        let path = self.home.path().join("esmtprc");
        fs::write(&path, text).expect("write esmtprc");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
        path
    }

    /// Trust `ca` for TLS (`~/.authenticate/ca.pem`).
    pub fn trust(&self, ca: &Path) {
        super::trust(self.home.path(), ca);
    }

    /// `esmtp -C RC ARGS -f sender@example.org bob@example.net` with
    /// `stdin`, inside `netns` when given.
    pub fn send(&self, rc: &Path, args: &[&str], stdin: Stdio, netns: Option<&str>) -> Run {
        let mut cmd = Command::new("/usr/bin/time");
        cmd.arg("-f").arg(format!("{RSS_TAG}%M"));
        if let Some(ns) = netns {
            cmd.args(["ip", "netns", "exec", ns]);
        }
        cmd.arg(env!("CARGO_BIN_EXE_esmtp"))
            .arg("-C")
            .arg(rc)
            .args(args)
            .args(["-f", "sender@example.org", "bob@example.net"])
            .env("HOME", self.home.path())
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_CACHE_HOME")
            .env_remove("XDG_DATA_HOME")
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let start = Instant::now();
        let out = cmd.output().expect("run /usr/bin/time esmtp");
        let elapsed = start.elapsed();
        let all = String::from_utf8_lossy(&out.stderr).into_owned();
        let mut max_rss_kib = 0;
        let mut stderr = String::new();
        for line in all.split_inclusive('\n') {
            match line.trim_end().strip_prefix(RSS_TAG) {
                Some(n) => max_rss_kib = n.parse().expect("RSS figure"),
                None => stderr.push_str(line),
            }
        }
        assert!(max_rss_kib > 0, "no RSS figure from /usr/bin/time: {all}");
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr,
            elapsed,
            max_rss_kib,
        }
    }

    /// [`User::send`] of [`message`] from a pipe, on loopback.
    pub fn send_msg(&self, rc: &Path, args: &[&str]) -> Run {
        let file = self.home.path().join("message.eml");
        fs::write(&file, message()).expect("write message");
        self.send(
            rc,
            args,
            Stdio::from(fs::File::open(&file).expect("open")),
            None,
        )
    }
}

/// A small message with LF line ends, as a mail program gives it.
pub fn message() -> Vec<u8> {
    b"From: Sender <sender@example.org>\nTo: bob@example.net\nSubject: hostile\n\
      Date: Wed, 25 Nov 2026 08:00:00 +0000\nMessage-ID: <hostile@example.org>\n\nbody line\n"
        .to_vec()
}

/// Read one line (up to LF) as bytes; empty at the end of the stream.
pub fn read_raw_line(r: &mut impl BufRead) -> Vec<u8> {
    let mut line = Vec::new();
    let _ = r.read_until(b'\n', &mut line);
    line
}

/// What a [`converse`] script saw: every line the client sent (the
/// message body included) and whether an end-of-data marker came.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    pub lines: Vec<String>,
    pub marker: bool,
}

impl Seen {
    /// What a [`super::FakeServer`] script returns: every line, and a last
    /// line `MARKER SEEN` or `NO MARKER`.
    pub fn into_bytes(self) -> Vec<u8> {
        let mut out = self.lines.concat().into_bytes();
        out.extend_from_slice(if self.marker {
            b"MARKER SEEN"
        } else {
            b"NO MARKER"
        });
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Seen {
        let text = String::from_utf8_lossy(bytes);
        let (body, marker) = match text.strip_suffix("MARKER SEEN") {
            Some(b) => (b.to_string(), true),
            None => (
                text.strip_suffix("NO MARKER").unwrap_or(&text).to_string(),
                false,
            ),
        };
        Seen {
            lines: body.split_inclusive('\n').map(str::to_string).collect(),
            marker,
        }
    }

    pub fn has(&self, prefix: &str) -> bool {
        self.lines
            .iter()
            .any(|l| l.to_ascii_uppercase().starts_with(prefix))
    }

    pub fn text(&self) -> String {
        self.lines.concat()
    }
}

/// Greet with `greeting`, then answer each command line with
/// `respond(line)` (nothing when it returns an empty reply) until the
/// client closes. After a DATA answered with 354 the body is read up to
/// the end-of-data marker, and `respond(".\r\n")` answers the marker.
/// Works over a plain socket or a TLS stream (replies are written through
/// the reader's inner stream).
pub fn converse<S: Read + Write>(
    r: &mut BufReader<S>,
    greeting: &[u8],
    mut respond: impl FnMut(&str) -> Vec<u8>,
) -> Seen {
    let mut seen = Seen::default();
    let _ = r.get_mut().write_all(greeting);
    loop {
        let line = read_raw_line(r);
        if line.is_empty() {
            return seen;
        }
        let text = String::from_utf8_lossy(&line).into_owned();
        seen.lines.push(text.clone());
        let reply = respond(&text);
        if !reply.is_empty() && r.get_mut().write_all(&reply).is_err() {
            return seen;
        }
        let _ = r.get_mut().flush();
        if text.to_ascii_uppercase().starts_with("DATA") && reply.starts_with(b"354") {
            loop {
                let body = read_raw_line(r);
                if body.is_empty() {
                    return seen;
                }
                let end = body == b".\r\n";
                seen.lines.push(String::from_utf8_lossy(&body).into_owned());
                if end {
                    seen.marker = true;
                    let reply = respond(".\r\n");
                    let _ = r.get_mut().write_all(&reply);
                    let _ = r.get_mut().flush();
                    break;
                }
            }
        }
    }
}

/// The usual answers: 250 to EHLO with `ehlo` as its keywords, 354 to
/// DATA, 221 to QUIT, 250 to everything else (the marker too).
pub fn usual(ehlo: &'static str) -> impl FnMut(&str) -> Vec<u8> {
    move |line: &str| {
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            ehlo.as_bytes().to_vec()
        } else if upper.starts_with("DATA") {
            b"354 go ahead\r\n".to_vec()
        } else if upper.starts_with("QUIT") {
            b"221 bye\r\n".to_vec()
        } else {
            b"250 ok\r\n".to_vec()
        }
    }
}

/// The server side of TLS over `tcp` with the certificate and key at
/// these paths (PEM). `Err` when the client does not complete the
/// handshake.
pub fn tls_server(
    tcp: TcpStream,
    cert: &Path,
    key: &Path,
) -> Result<rustls::StreamOwned<rustls::ServerConnection, TcpStream>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .expect("cert file")
        .collect::<Result<_, _>>()
        .expect("cert");
    let key = PrivateKeyDer::from_pem_file(key).expect("key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("server config");
    let conn = rustls::ServerConnection::new(Arc::new(config)).expect("server connection");
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    stream
        .sock
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .map_err(|e| e.to_string())?;
    }
    Ok(stream)
}

/// Read everything until the peer closes: how many bytes, and the last
/// `cap` of them (what ends the stream matters).
pub fn drain_tail(r: &mut impl Read, cap: usize) -> (u64, Vec<u8>) {
    let mut total = 0u64;
    let mut kept = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => return (total, kept),
            Ok(n) => {
                total += n as u64;
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > cap {
                    let cut = kept.len() - cap;
                    kept.drain(..cut);
                }
            }
        }
    }
}

/// A network namespace joined to this one by a veth pair, on addresses
/// outside 127/8: a process run inside it (`ip netns exec NAME`) reaches
/// [`Netns::host_ip`] as another machine. Torn down on drop.
pub struct Netns {
    pub name: String,
    outside: String,
    /// The address of the root-namespace end (where test servers listen).
    pub host_ip: String,
}

static NETNS_SEQ: AtomicU32 = AtomicU32::new(0);

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

impl Netns {
    /// A fresh namespace with names and a /30 of 198.18.0.0/15 (RFC 2544's
    /// benchmarking range) that no other test of any process is using.
    pub fn new() -> Netns {
        let pid = std::process::id();
        let mut last = String::new();
        for _ in 0..64 {
            let seq = NETNS_SEQ.fetch_add(1, Ordering::Relaxed);
            let id = pid.wrapping_mul(64).wrapping_add(seq);
            let name = format!("esmtp-t{pid}-{seq}");
            let outside = format!("et{:x}a", id & 0xfff_ffff);
            let inside = format!("et{:x}b", id & 0xfff_ffff);
            // 2^15 /30 subnets in 198.18.0.0/15.
            let n = id % (1 << 15);
            let base = (198u32 << 24) | (18 << 16) | (n << 2);
            let addr = |k: u32| {
                let a = base + k;
                format!(
                    "{}.{}.{}.{}",
                    a >> 24,
                    (a >> 16) & 255,
                    (a >> 8) & 255,
                    a & 255
                )
            };
            let (host_ip, guest_ip) = (addr(1), addr(2));
            let made = Netns {
                name: name.clone(),
                outside: outside.clone(),
                host_ip: host_ip.clone(),
            };
            let setup = ip(&["netns", "add", &name])
                .and_then(|_| {
                    ip(&[
                        "link", "add", &outside, "type", "veth", "peer", "name", &inside,
                    ])
                })
                .and_then(|_| ip(&["link", "set", &inside, "netns", &name]))
                .and_then(|_| ip(&["addr", "add", &format!("{host_ip}/30"), "dev", &outside]))
                .and_then(|_| ip(&["link", "set", &outside, "up"]))
                .and_then(|_| {
                    ip(&[
                        "-n",
                        &name,
                        "addr",
                        "add",
                        &format!("{guest_ip}/30"),
                        "dev",
                        &inside,
                    ])
                })
                .and_then(|_| ip(&["-n", &name, "link", "set", &inside, "up"]))
                .and_then(|_| ip(&["-n", &name, "link", "set", "lo", "up"]));
            match setup {
                Ok(()) => return made,
                // Drop tears down whatever part was made; try other names.
                Err(e) => last = e,
            }
        }
        panic!("cannot make a network namespace: {last}");
    }
}

impl Default for Netns {
    fn default() -> Self {
        Netns::new()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting one end of a veth pair deletes both.
        let _ = ip(&["link", "del", &self.outside]);
        let _ = ip(&["netns", "del", &self.name]);
    }
}
