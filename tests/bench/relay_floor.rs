//! The floor for the relay benchmark: the least a Rust process can do to
//! relay a message. std only (no tokio, no lettre, no configuration, no
//! header handling): read standard input, connect, EHLO, MAIL, RCPT and
//! DATA pipelined, the message as it came plus the end-of-data marker,
//! QUIT. It does no dot-stuffing and no checks, so it is only for timing
//! against a sink (tests/bench/relay.sh).
//!
//!   relay_floor HOST:PORT SENDER RCPT < message

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

/// Read one reply (all its lines); a 4xx or 5xx one is an error.
fn reply(r: &mut BufReader<TcpStream>) -> std::io::Result<()> {
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line.as_bytes().get(3) == Some(&b'-') {
            continue;
        }
        if line.starts_with(['4', '5']) {
            return Err(std::io::Error::other(line.trim_end().to_string()));
        }
        return Ok(());
    }
}

fn run(args: &[String]) -> std::io::Result<()> {
    let mut msg = Vec::new();
    std::io::stdin().read_to_end(&mut msg)?;
    let stream = TcpStream::connect(&args[0])?;
    stream.set_nodelay(true)?;
    let mut w = stream.try_clone()?;
    let mut r = BufReader::new(stream);
    reply(&mut r)?;
    w.write_all(b"EHLO floor\r\n")?;
    reply(&mut r)?;
    w.write_all(
        format!(
            "MAIL FROM:<{}>\r\nRCPT TO:<{}>\r\nDATA\r\n",
            args[1], args[2]
        )
        .as_bytes(),
    )?;
    for _ in 0..3 {
        reply(&mut r)?;
    }
    if !msg.ends_with(b"\r\n") {
        msg.extend_from_slice(b"\r\n");
    }
    msg.extend_from_slice(b".\r\n");
    w.write_all(&msg)?;
    reply(&mut r)?;
    w.write_all(b"QUIT\r\n")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 3 {
        eprintln!("usage: relay_floor HOST:PORT SENDER RCPT < message");
        std::process::exit(64);
    }
    if let Err(e) = run(&args) {
        eprintln!("relay_floor: {e}");
        std::process::exit(75);
    }
}
