//! Randomised differential test against esmtp 1.2: files assembled from the
//! pieces of the language (keywords, values, quotes, escapes, comments,
//! punctuation, numbers) get the same accept/reject verdict from both
//! programs, unless our diagnostics name one of the documented differences.

use crate::support;

use esmtp::config::{self, Options};
use support::original_accepts;

/// Diagnostics that mark a documented difference in verdict.
const DIFFERENCES: &[&str] = &[
    "C101", "C102", "C104", "C001", "C002", // we accept, 1.2 rejects
    "E009", "E020", // we reject, 1.2 accepts
];

const PIECES: &[&str] = &[
    "identity",
    "hostname",
    "host",
    "username",
    "user",
    "password",
    "pass",
    "starttls",
    "tls",
    "certificate_passphrase",
    "passphrase",
    "preconnect",
    "postconnect",
    "qualifydomain",
    "helo",
    "force",
    "sender",
    "reverse_path",
    "message_id",
    "mda",
    "force_mda",
    "default",
    "enabled",
    "disabled",
    "required",
    "=",
    "=",
    ";",
    ",",
    ":",
    "#",
    "# a comment",
    "\\",
    "\"",
    "'",
    "\"quoted value\"",
    "'single'",
    "\"a\\x41\\101\"",
    "a@b.example",
    "127.0.0.1:1",
    "localhost:1",
    "x:y",
    "123",
    "-5",
    "12ab",
    "7.5",
    "%u@x",
    "word",
    "a#b",
    "\"\"",
    "timeout",
    "auth",
    "queue",
    "implicit",
];
const STATEMENTS: &[&str] = &[
    "identity",
    "identity",
    "hostname",
    "host",
    "username",
    "user",
    "password",
    "pass",
    "starttls",
    "tls",
    "certificate_passphrase",
    "passphrase",
    "preconnect",
    "postconnect",
    "qualifydomain",
    "helo",
    "force sender",
    "force reverse_path",
    "message_id",
    "mda",
    "force_mda",
    "default",
];
const VALUES: &[&str] = &[
    "a@b.example",
    "\"John Doe\"",
    "'x y'",
    "word",
    "a#b",
    "\"\"",
    "123",
    "12ab",
    "-5",
    "7.5",
    "x:y",
    "127.0.0.1:1",
    "default",
    "identity",
    "hostname",
    "\"a\\x41\"",
    "a\\tb",
    "%u@x",
    "\"%T\"",
    "\"unterminated",
    "x\\",
    "\"two\nlines\"",
    "timeout",
    "enabled",
    "a;b",
    "a,b",
    "a=b",
    "'q\"q'",
    "\"q'q\"",
    "sender",
    "force",
];
const SEPS: &[&str] = &[" ", " ", " ", "\n", "\n", "\t", "\r\n", ""];

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[(self.next() % v.len() as u64) as usize]
    }
}

#[test]
fn random_files_get_the_same_verdict_as_esmtp_1_2() {
    let scratch = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut files = Vec::new();
    for i in 0..500 {
        // Start with a safe relay so that accepted files fail fast.
        let mut s = String::from("hostname 127.0.0.1:1\n");
        let n = 1 + rng.next() % 6;
        for _ in 0..n {
            if rng.next() % 6 == 0 {
                // Noise.
                s.push_str(rng.pick(PIECES));
                s.push_str(rng.pick(SEPS));
                continue;
            }
            let kw = rng.pick(STATEMENTS);
            s.push_str(kw);
            s.push_str(rng.pick(SEPS));
            if rng.next() % 2 == 0 {
                s.push('=');
                s.push_str(rng.pick(SEPS));
            }
            if kw != "default" {
                let v = if kw.contains("tls") || kw == "message_id" {
                    rng.pick(&["enabled", "disabled", "required", "yes", "\"enabled\""])
                } else {
                    rng.pick(VALUES)
                };
                s.push_str(v);
            }
            s.push_str(rng.pick(&["\n", "\n", " ", "\r\n", "\t", " # note\n"]));
        }
        if rng.next() % 2 == 0 {
            s.push('\n');
        }
        let p = scratch.path().join(format!("r{i}.esmtprc"));
        std::fs::write(&p, &s).unwrap();
        files.push((p, s));
    }
    let results: Vec<(String, bool, bool, Vec<&'static str>)> = std::thread::scope(|sc| {
        let hs: Vec<_> = files
            .chunks(50)
            .map(|chunk| {
                let scratch = scratch.path();
                sc.spawn(move || {
                    chunk
                        .iter()
                        .map(|(p, s)| {
                            let c = config::compile(
                                "r",
                                s.as_bytes(),
                                &Options {
                                    compat: true,
                                    ..Options::default()
                                },
                            );
                            let codes = c.diagnostics.iter().map(|d| d.code.as_str()).collect();
                            (
                                s.clone(),
                                original_accepts(p, scratch),
                                c.plan.is_some(),
                                codes,
                            )
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let mut mismatches = Vec::new();
    let mut compared = 0;
    for (src, theirs, ours, codes) in &results {
        if codes.iter().any(|c| DIFFERENCES.contains(c)) {
            continue;
        }
        compared += 1;
        if theirs != ours {
            mismatches.push(format!("1.2 {theirs}, we {ours}: {src:?} {codes:?}"));
        }
    }
    let accepted = results.iter().filter(|r| r.1).count();
    eprintln!(
        "compared {compared}, 1.2 accepted {accepted} of {}",
        results.len()
    );
    assert!(accepted >= 40, "too few accepted files: {accepted}");
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert!(compared >= 150, "only {compared} compared");
}
