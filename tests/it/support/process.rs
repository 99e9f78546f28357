//! Running a program with a message on its standard input, for every
//! support module that starts one.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Run a command with `input` on stdin (written from a thread, so large
/// inputs cannot deadlock), collecting stdout and stderr.
pub fn run(cmd: &mut Command, input: &[u8]) -> Output {
    run_within(cmd, input, None)
}

/// [`run`], and with a `limit` the command is killed once it has run that
/// long, failing the test (for what must never hang).
pub fn run_within(cmd: &mut Command, input: &[u8], limit: Option<Duration>) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let Some(limit) = limit else {
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        return out;
    };
    let readers = [
        std::os::fd::OwnedFd::from(child.stdout.take().unwrap()),
        std::os::fd::OwnedFd::from(child.stderr.take().unwrap()),
    ]
    .map(|pipe| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = std::fs::File::from(pipe).read_to_end(&mut v);
            v
        })
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    writer.join().unwrap();
    let [stdout, stderr] = readers.map(|r| r.join().unwrap());
    Output {
        status,
        stdout,
        stderr,
    }
}

/// A finished command's status and output, for assertion messages.
pub fn describe(o: &Output) -> String {
    format!(
        "{:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
