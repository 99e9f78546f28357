//! The recording SMTP server of the session differential: it answers
//! like a smarthost on several listeners and keeps what each client
//! sent, AUTH exchanges decoded (what the client proved).

use super::*;

/// The fixed NTLM challenge of the recording server.
pub(super) const NONCE: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];
pub(super) const CRAM_CHALLENGE: &[u8] = b"<1896.697170952@rec.example>";

/// What a client proved in AUTH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Auth {
    /// PLAIN or LOGIN: the user name and secret as sent (base64 decoded).
    Clear {
        mech: &'static str,
        user: Vec<u8>,
        secret: Vec<u8>,
    },
    /// NTLM: the LM and NT responses to [`NONCE`].
    Ntlm { lm: Vec<u8>, nt: Vec<u8> },
    /// CRAM-MD5: the user name and the hex digest.
    Cram { user: Vec<u8>, digest: String },
    /// An exchange that did not complete (what the client sent).
    Broken(String),
}

/// One SMTP session as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct Session {
    /// Which listener was connected to.
    pub(super) listener: usize,
    /// The EHLO (or HELO) argument.
    pub(super) hello: String,
    pub(super) auth: Vec<Auth>,
    /// The MAIL FROM address (parameters left out: BODY=, SIZE= differ).
    pub(super) mail_from: Option<String>,
    pub(super) rcpt_to: Vec<String>,
    /// Header field names of the message, lower-cased, sorted.
    pub(super) header_names: Vec<String>,
    /// `Sender:` and `From:` as received (what `force sender` and `-F`
    /// decide), values trimmed.
    pub(super) headers: BTreeMap<String, String>,
    /// The body after the header block, as received (CRLF, dot-stuffed).
    pub(super) body: Vec<u8>,
}

pub(super) fn b64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .unwrap_or_else(|_| text.as_bytes().to_vec())
}

pub(super) fn read_line(r: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    match r.read_until(b'\n', &mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => {
            while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                line.pop();
            }
            Some(line)
        }
    }
}

pub(super) fn text(line: &[u8]) -> String {
    String::from_utf8_lossy(line).into_owned()
}

/// The address inside `<...>` of `MAIL FROM:<a> PARAMS`.
pub(super) fn path_of(line: &str) -> String {
    match (line.find('<'), line.find('>')) {
        (Some(a), Some(b)) if a < b => line[a + 1..b].to_string(),
        _ => line.split(':').nth(1).unwrap_or("").trim().to_string(),
    }
}

/// Serve one SMTP session: greet, offer `mechs`, record everything.
pub(super) fn serve(stream: TcpStream, listener: usize, mechs: &str) -> Session {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
    let mut w = stream.try_clone().expect("clone");
    let mut r = BufReader::new(stream);
    let mut s = Session {
        listener,
        ..Session::default()
    };
    let say = |w: &mut TcpStream, line: &str| {
        let _ = w.write_all(line.as_bytes());
        let _ = w.write_all(b"\r\n");
    };
    say(&mut w, "220 rec.example ESMTP recorder");
    while let Some(line) = read_line(&mut r) {
        let cmd = text(&line);
        let upper = cmd.to_ascii_uppercase();
        if upper.starts_with("EHLO ") || upper.starts_with("HELO ") {
            s.hello = cmd[5..].trim().to_string();
            let mut reply = String::from("250-rec.example\r\n250-8BITMIME\r\n");
            if !mechs.is_empty() {
                reply.push_str(&format!("250-AUTH {mechs}\r\n"));
            }
            reply.push_str("250 ENHANCEDSTATUSCODES");
            say(&mut w, &reply);
        } else if upper.starts_with("AUTH ") {
            let words: Vec<&str> = cmd.split_whitespace().collect();
            let mech = words
                .get(1)
                .map(|m| m.to_ascii_uppercase())
                .unwrap_or_default();
            let initial = words.get(2).map(|i| b64(i));
            let auth = auth_exchange(&mut r, &mut w, &mech, initial);
            s.auth.push(auth);
        } else if upper.starts_with("MAIL FROM") {
            s.mail_from = Some(path_of(&cmd));
            say(&mut w, "250 2.1.0 ok");
        } else if upper.starts_with("RCPT TO") {
            s.rcpt_to.push(path_of(&cmd));
            say(&mut w, "250 2.1.5 ok");
        } else if upper == "DATA" {
            say(&mut w, "354 go ahead");
            let mut in_headers = true;
            let mut data = Vec::new();
            while let Some(l) = read_line(&mut r) {
                if l == b"." {
                    break;
                }
                if in_headers {
                    if l.is_empty() {
                        in_headers = false;
                        continue;
                    }
                    if l[0] != b' ' && l[0] != b'\t' {
                        let field = text(&l);
                        if let Some((name, value)) = field.split_once(':') {
                            let name = name.trim().to_ascii_lowercase();
                            if name == "sender" || name == "from" {
                                s.headers.insert(name.clone(), value.trim().to_string());
                            }
                            s.header_names.push(name);
                        }
                    }
                    continue;
                }
                data.extend_from_slice(&l);
                data.extend_from_slice(b"\r\n");
            }
            s.header_names.sort();
            s.body = data;
            say(&mut w, "250 2.0.0 queued");
        } else if upper == "QUIT" {
            say(&mut w, "221 2.0.0 bye");
            break;
        } else if upper == "RSET" || upper == "NOOP" {
            say(&mut w, "250 ok");
        } else {
            say(&mut w, "502 5.5.1 not here");
        }
    }
    s
}

/// One AUTH exchange; always ends it with 235 (or 501 when cancelled).
pub(super) fn auth_exchange(
    r: &mut BufReader<TcpStream>,
    w: &mut TcpStream,
    mech: &str,
    initial: Option<Vec<u8>>,
) -> Auth {
    let mut ask = |w: &mut TcpStream, challenge: &str| -> Option<Vec<u8>> {
        let _ = w.write_all(format!("334 {challenge}\r\n").as_bytes());
        let line = read_line(r)?;
        if line == b"*" {
            return None;
        }
        Some(b64(&text(&line)))
    };
    let result = match mech {
        "PLAIN" => {
            let data = match initial {
                Some(d) => Some(d),
                None => ask(w, ""),
            };
            match data {
                Some(d) => {
                    let parts: Vec<&[u8]> = d.splitn(3, |b| *b == 0).collect();
                    match parts.as_slice() {
                        [_, user, secret] => Auth::Clear {
                            mech: "PLAIN",
                            user: user.to_vec(),
                            secret: secret.to_vec(),
                        },
                        _ => Auth::Broken(format!("PLAIN {d:?}")),
                    }
                }
                None => Auth::Broken("PLAIN cancelled".into()),
            }
        }
        "LOGIN" => {
            let user = match initial {
                Some(u) => Some(u),
                None => ask(w, "VXNlcm5hbWU6"),
            };
            match user {
                Some(user) => match ask(w, "UGFzc3dvcmQ6") {
                    Some(secret) => Auth::Clear {
                        mech: "LOGIN",
                        user,
                        secret,
                    },
                    None => Auth::Broken("LOGIN cancelled at the password".into()),
                },
                None => Auth::Broken("LOGIN cancelled".into()),
            }
        }
        "NTLM" => {
            let negotiate = match initial {
                Some(n) => Some(n),
                None => ask(w, ""),
            };
            let mut t2 = b"NTLMSSP\0".to_vec();
            t2.extend_from_slice(&2u32.to_le_bytes());
            t2.extend_from_slice(&[0u8; 8]);
            t2.extend_from_slice(&0x0000_8201u32.to_le_bytes());
            t2.extend_from_slice(&NONCE);
            t2.extend_from_slice(&[0u8; 8]);
            let challenge = base64::engine::general_purpose::STANDARD.encode(&t2);
            match negotiate.and_then(|_| ask(w, &challenge)) {
                Some(t3) if t3.len() >= 28 => {
                    let field = |at: usize| {
                        let len = u16::from_le_bytes([t3[at], t3[at + 1]]) as usize;
                        let off =
                            u32::from_le_bytes([t3[at + 4], t3[at + 5], t3[at + 6], t3[at + 7]])
                                as usize;
                        t3.get(off..off + len)
                            .map(<[u8]>::to_vec)
                            .unwrap_or_default()
                    };
                    Auth::Ntlm {
                        lm: field(12),
                        nt: field(20),
                    }
                }
                other => Auth::Broken(format!("NTLM {other:?}")),
            }
        }
        "CRAM-MD5" => {
            let challenge = base64::engine::general_purpose::STANDARD.encode(CRAM_CHALLENGE);
            match ask(w, &challenge) {
                Some(answer) => match answer.iter().rposition(|b| *b == b' ') {
                    Some(i) => Auth::Cram {
                        user: answer[..i].to_vec(),
                        digest: text(&answer[i + 1..]),
                    },
                    None => Auth::Broken(format!("CRAM-MD5 {answer:?}")),
                },
                None => Auth::Broken("CRAM-MD5 cancelled".into()),
            }
        }
        other => Auth::Broken(format!("unknown mechanism {other}")),
    };
    let reply: &[u8] = match result {
        Auth::Broken(_) => b"501 5.5.2 cancelled\r\n",
        _ => b"235 2.7.0 ok\r\n",
    };
    let _ = w.write_all(reply);
    result
}

/// Listen on `listeners`, serve the first connection, until `stop`.
pub(super) fn record(
    listeners: Vec<TcpListener>,
    mechs: String,
    stop: Arc<AtomicBool>,
) -> Option<Session> {
    for l in &listeners {
        l.set_nonblocking(true).expect("nonblocking");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        for (i, l) in listeners.iter().enumerate() {
            if let Ok((stream, _)) = l.accept() {
                stream.set_nonblocking(false).expect("blocking");
                return Some(serve(stream, i, &mechs));
            }
        }
        if stop.load(Ordering::SeqCst) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}
