//! A scripted SMTP peer for cases Exim will not produce, and the helpers its scripts use.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

/// A scripted SMTP peer on 127.0.0.1 for cases Exim will not produce: it
/// accepts one connection and runs `script` on it in a thread.
pub struct FakeServer {
    pub port: u16,
    handle: Option<thread::JoinHandle<Vec<u8>>>,
}

impl FakeServer {
    pub fn start<F>(script: F) -> FakeServer
    where
        F: FnOnce(&mut BufReader<TcpStream>, &mut TcpStream) -> Vec<u8> + Send + 'static,
    {
        FakeServer::start_on("127.0.0.1", script)
    }

    /// [`FakeServer::start`] on a free port of the address `ip`.
    pub fn start_on<F>(ip: &str, script: F) -> FakeServer
    where
        F: FnOnce(&mut BufReader<TcpStream>, &mut TcpStream) -> Vec<u8> + Send + 'static,
    {
        let listener = TcpListener::bind((ip, 0)).expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let handle = thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            let mut writer = stream.try_clone().expect("clone");
            let mut reader = BufReader::new(stream);
            script(&mut reader, &mut writer)
        });
        FakeServer {
            port,
            handle: Some(handle),
        }
    }

    /// What the script returned (usually what it read); a panic in the
    /// script fails the test here.
    pub fn join(mut self) -> Vec<u8> {
        self.handle
            .take()
            .map(|h| h.join().expect("the fake server's script panicked"))
            .unwrap_or_default()
    }
}

/// Read one command line (CRLF) from the client.
pub fn read_line(r: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    let _ = r.read_line(&mut line);
    line
}

/// Greet, answer EHLO with `ehlo`, then read `n` commands (a pipelined
/// batch) without answering them.
pub fn greet_and_read(
    r: &mut BufReader<TcpStream>,
    w: &mut TcpStream,
    ehlo: &[u8],
    n: usize,
) -> Vec<String> {
    let _ = w.write_all(b"220 fake\r\n");
    let _ = read_line(r);
    let _ = w.write_all(ehlo);
    (0..n).map(|_| read_line(r)).collect()
}

/// Answer every command up to and including DATA's 354 the usual way;
/// returns the commands read.
pub fn fake_handshake(r: &mut BufReader<TcpStream>, w: &mut TcpStream) -> Vec<String> {
    fake_handshake_with(r, w, b"250-fake\r\n250-8BITMIME\r\n250 SIZE 1000000\r\n")
}

/// [`fake_handshake`] with the given EHLO reply.
pub fn fake_handshake_with(
    r: &mut BufReader<TcpStream>,
    w: &mut TcpStream,
    ehlo: &[u8],
) -> Vec<String> {
    let mut seen = Vec::new();
    let _ = w.write_all(b"220 fake ESMTP\r\n");
    loop {
        let line = read_line(r);
        if line.is_empty() {
            return seen;
        }
        let upper = line.to_ascii_uppercase();
        seen.push(line.trim_end().to_string());
        let reply: &[u8] = if upper.starts_with("EHLO") {
            ehlo
        } else if upper.starts_with("DATA") {
            let _ = w.write_all(b"354 go ahead\r\n");
            return seen;
        } else {
            b"250 ok\r\n"
        };
        let _ = w.write_all(reply);
    }
}

/// Read everything until the peer closes; returns it.
pub fn drain(r: &mut BufReader<TcpStream>) -> Vec<u8> {
    let mut v = Vec::new();
    let _ = r.read_to_end(&mut v);
    v
}
