//! Benchmark driver for the SMTP relay until the `esmtp` binary routes
//! mail: one process = one `transport::relay` of standard input, as the
//! real binary would do after loading its plan.
//!
//!   relay HOST PORT SENDER RCPT... < message        one message, streamed
//!   relay -n COUNT HOST PORT SENDER RCPT... < msg   COUNT messages over one
//!                                                   Session; prints msg/s
use esmtp::plan::{Identity, Relay};
use esmtp::transport::{self, Envelope, MessageOptions, Session, SessionOptions};
use std::io::Read;
use std::time::Instant;

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut count = None;
    if args.first().map(String::as_str) == Some("-n") && args.len() > 1 {
        count = args[1].parse::<usize>().ok();
        args.drain(..2);
    }
    if args.len() < 4 {
        eprintln!("usage: relay [-n COUNT] HOST PORT SENDER RCPT... < message");
        std::process::exit(64);
    }
    let mut id = Identity::new(Some(args[2].clone()));
    id.relay = Relay {
        host: args[0].clone(),
        port: args[1].parse().unwrap_or(25),
        explicit: true,
    };
    let envelope = Envelope {
        sender: args[2].clone(),
        recipients: args[3..].to_vec(),
    };
    let opts = MessageOptions::default();
    let session = SessionOptions::default();
    let result = match count {
        None => {
            let stdin = std::io::stdin();
            let mut lock = stdin.lock();
            transport::relay(&id, &envelope, &opts, &session, &mut lock)
        }
        Some(n) => {
            let mut msg = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut msg);
            let start = Instant::now();
            let run = || -> Result<(), esmtp::exit::Failure> {
                let mut s = Session::connect(&id, &session)?;
                for _ in 0..n {
                    s.send(&envelope, &opts, &mut &msg[..])?;
                }
                s.quit()
            };
            let r = run();
            let secs = start.elapsed().as_secs_f64();
            if r.is_ok() {
                println!(
                    "{n} messages over one connection in {secs:.3} s: {:.0} messages/s",
                    n as f64 / secs
                );
            }
            r
        }
    };
    if let Err(f) = result {
        eprintln!("relay: {f}");
        std::process::exit(i32::from(f.status));
    }
}
