//! A small recording SMTP server on 127.0.0.1 for tests that need a whole
//! session from a client they cannot script (a packaged binary in a chroot,
//! a flush started as a systemd unit would start it): it answers each
//! command the usual way, keeps the commands and the message data, and
//! serves a given number of sessions.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

/// One session as the server saw it.
#[derive(Debug, Clone, Default)]
pub struct Session {
    /// Command lines, without CRLF (DATA's content excluded).
    pub commands: Vec<String>,
    /// The message data, dot-stuffing undone, without the final ".".
    pub data: Vec<u8>,
}

impl Session {
    /// True when a command starting with `prefix` was received (MAIL FROM
    /// carries parameters after the address).
    pub fn saw(&self, prefix: &str) -> bool {
        self.commands.iter().any(|c| c.starts_with(prefix))
    }
}

/// The server: bound at once, serving in a thread.
pub struct Recorder {
    pub port: u16,
    handle: Option<thread::JoinHandle<Vec<Session>>>,
}

impl Recorder {
    /// Listen on a free port for `sessions` sessions.
    pub fn start(sessions: usize) -> Recorder {
        Self::on(TcpListener::bind("127.0.0.1:0").expect("bind"), sessions)
    }

    /// Listen on `port` (one that was free a moment ago).
    pub fn on_port(port: u16, sessions: usize) -> Recorder {
        Self::on(
            TcpListener::bind(("127.0.0.1", port)).expect("bind the given port"),
            sessions,
        )
    }

    fn on(listener: TcpListener, sessions: usize) -> Recorder {
        let port = listener.local_addr().expect("addr").port();
        let handle = thread::spawn(move || {
            let mut out = Vec::new();
            for _ in 0..sessions {
                let Ok((stream, _)) = listener.accept() else {
                    break;
                };
                out.push(serve(stream));
            }
            out
        });
        Recorder {
            port,
            handle: Some(handle),
        }
    }

    /// Wait for the sessions (a client that never comes fails the test
    /// through its own timeout, not here: call this after the client ran).
    pub fn sessions(mut self) -> Vec<Session> {
        self.handle
            .take()
            .map(|h| h.join().expect("the recorder panicked"))
            .unwrap_or_default()
    }
}

fn serve(stream: TcpStream) -> Session {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let mut w = stream.try_clone().expect("clone");
    let mut r = BufReader::new(stream);
    let mut s = Session::default();
    let _ = w.write_all(b"220 recorder ESMTP\r\n");
    loop {
        let mut line = Vec::new();
        if r.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
            return s;
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        let upper = text.to_ascii_uppercase();
        s.commands.push(text);
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-recorder\r\n250-8BITMIME\r\n250 SIZE 100000000\r\n"
        } else if upper == "DATA" {
            let _ = w.write_all(b"354 go ahead\r\n");
            loop {
                let mut l = Vec::new();
                if r.read_until(b'\n', &mut l).unwrap_or(0) == 0 {
                    return s;
                }
                if l == b".\r\n" {
                    break;
                }
                let l = l.strip_prefix(b".").unwrap_or(&l);
                s.data.extend_from_slice(l);
            }
            b"250 queued\r\n"
        } else if upper == "QUIT" {
            let _ = w.write_all(b"221 bye\r\n");
            return s;
        } else {
            b"250 ok\r\n"
        };
        let _ = w.write_all(reply);
    }
}
