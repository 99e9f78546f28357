//! Replays the fuzz corpus without the fuzzer (issue 13 §10): every file of
//! `tests/fuzz/corpus/<target>/` (seeds and what the fuzzer kept) and of
//! `tests/fuzz/artifacts/<target>/` (inputs that once crashed, hung or blew
//! up a target, fixed since) goes through the same target functions the
//! fuzzer runs (`tests/fuzz/targets.rs`), so a regression shows in the
//! normal `cargo test`. The fuzzing itself runs in CI (`tests/fuzz/run.sh`).

#[path = "../../fuzz/targets.rs"]
mod targets;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz")
}

/// One target: every corpus and artifact file, each within a time bound far
/// above what any of them takes (the fuzzer's own limit is 5 s per input).
fn replay(name: &str) {
    let run = targets::TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
        .unwrap_or_else(|| panic!("no target {name}"));
    let corpus = files(&root().join("corpus").join(name));
    assert!(
        corpus.len() >= 3,
        "tests/fuzz/corpus/{name} holds {} files; the seeds are missing",
        corpus.len()
    );
    let artifacts = files(&root().join("artifacts").join(name));
    for file in corpus.iter().chain(&artifacts) {
        let bytes = std::fs::read(file).unwrap();
        let start = Instant::now();
        let outcome = std::panic::catch_unwind(|| run(&bytes));
        let took = start.elapsed();
        assert!(outcome.is_ok(), "{name} panicked on {}", file.display());
        assert!(
            took < Duration::from_secs(10),
            "{name} took {took:?} on {}",
            file.display()
        );
    }
}

#[test]
fn every_target_has_a_corpus_and_a_binary() {
    for (name, _) in targets::TARGETS {
        assert!(
            root().join("corpus").join(name).is_dir(),
            "no corpus for {name}"
        );
        let bin = root().join("fuzz_targets").join(format!("{name}.rs"));
        let text = std::fs::read_to_string(&bin).unwrap_or_default();
        assert!(
            text.contains(&format!("esmtp_fuzz::{name}(")),
            "{} does not run the target {name}",
            bin.display()
        );
    }
    // And no corpus without its target.
    for dir in files_and_dirs(&root().join("corpus")) {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            targets::TARGETS.iter().any(|(n, _)| *n == name),
            "corpus/{name} has no target"
        );
    }
}

fn files_and_dirs(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect()
}

#[test]
fn config_corpus() {
    replay("config");
}

#[test]
fn cache_corpus() {
    replay("cache");
}

#[test]
fn queue_corpus() {
    replay("queue");
}

#[test]
fn reply_corpus() {
    replay("reply");
}

#[test]
fn scram_corpus() {
    replay("scram");
}

#[test]
fn headers_corpus() {
    replay("headers");
}

#[test]
fn addresses_corpus() {
    replay("addresses");
}

#[test]
fn getopt_corpus() {
    replay("getopt");
}

#[test]
fn legacy_corpus() {
    replay("legacy");
}

#[test]
fn http_corpus() {
    replay("http");
}

/// The seeds of the binary formats are written by the program itself: the
/// cache's from the valid fixtures, the queue's by the spool. They must
/// still decode, so that a format change cannot leave the fuzzer starting
/// from files the decoder refuses at the first byte. With
/// `ESMTP_FUZZ_WRITE_SEEDS=1` they are written again first (after a format
/// change: `ESMTP_FUZZ_WRITE_SEEDS=1 cargo test --test it fuzz::corpus`).
#[test]
fn binary_seeds_are_current() {
    if std::env::var_os("ESMTP_FUZZ_WRITE_SEEDS").is_some() {
        write_seeds();
    }
    let cache = files(&root().join("corpus/cache"));
    let cache: Vec<_> = cache.iter().filter(|p| is_seed(p)).collect();
    assert!(cache.len() >= 5, "cache seeds missing");
    for file in cache {
        let bytes = std::fs::read(file).unwrap();
        if let Err(e) = esmtp::cache::fuzzing::decode(&bytes, None) {
            panic!("{}: {e}; write the seeds again", file.display());
        }
    }
    let queue = files(&root().join("corpus/queue"));
    let entries: Vec<_> = queue
        .iter()
        .filter(|p| is_seed(p) && !p.to_string_lossy().ends_with(".state"))
        .collect();
    assert!(entries.len() >= 2, "queue seeds missing");
    for file in entries {
        let bytes = std::fs::read(file).unwrap();
        let r = esmtp::queue::store::decode_header(&mut &bytes[..], bytes.len() as u64);
        assert!(
            r.is_ok(),
            "{}: {r:?}; write the seeds again",
            file.display()
        );
    }
}

fn is_seed(p: &Path) -> bool {
    p.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("seed-"))
}

const CACHE_SEEDS: &[&str] = &[
    "multi-identity",
    "gmail",
    "force-sender",
    "force-mda",
    "aliases",
    "debian-sample",
    "extensions",
    "starttls-values",
    "quoted-identity",
    "single-identity-no-statement",
    "tls-pinning",
    "oauth2",
];

fn write_seeds() {
    use esmtp::queue::store::{DeliveryHistory, Meta, QueueDir};
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/valid");
    let dir = root().join("corpus/cache");
    std::fs::create_dir_all(&dir).unwrap();
    for name in CACHE_SEEDS {
        let src = std::fs::read(fixtures.join(format!("{name}.esmtprc"))).unwrap();
        let c = esmtp::config::compile(name, &src, &Default::default());
        let plan = c.plan.unwrap_or_else(|| panic!("{name} does not compile"));
        let bytes = esmtp::cache::fuzzing::encode(&plan).unwrap();
        std::fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
    }
    let dir = root().join("corpus/queue");
    std::fs::create_dir_all(&dir).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let spool = QueueDir::open(tmp.path()).unwrap();
    let entries: [(&str, Meta, &[u8]); 3] = [
        (
            "plain",
            Meta {
                version: 1,
                created: 1_700_000_000,
                identity: Some("user@example.org".into()),
                sender: "user@example.org".into(),
                recipients: vec!["a@example.net".into(), "b@example.net".into()],
                ..Meta::default()
            },
            b"Subject: hi\r\nFrom: user@example.org\r\n\r\nbody\r\n",
        ),
        (
            "dsn",
            Meta {
                version: 1,
                created: 1_700_000_000,
                identity: None,
                identity_index: 1,
                sender: String::new(),
                recipients: vec!["root@example.net".into()],
                notify: Some("FAILURE,DELAY".parse().unwrap()),
                ret: Some("HDRS".parse().unwrap()),
                envid: Some("id+2B1".into()),
                body_type: Some("8BITMIME".parse().unwrap()),
                eight_bit: true,
                utf8_headers: false,
                utf8_added_header: None,
                message_id: None,
                size: 0,
            },
            "Subject: \u{e9}t\u{e9}\r\n\r\n\u{e9}\r\n".as_bytes(),
        ),
        (
            "utf8",
            Meta {
                version: 1,
                created: 1_700_000_000,
                identity: Some("jörg@bücher.example".into()),
                sender: "jörg@bücher.example".into(),
                recipients: vec!["ана@пример.испытание".into()],
                eight_bit: true,
                utf8_headers: true,
                utf8_added_header: Some("jörg@bücher.example".into()),
                ..Meta::default()
            },
            "Subject: Gr\u{fc}\u{df}e\r\n\r\nbody\r\n".as_bytes(),
        ),
    ];
    for (name, meta, msg) in entries {
        let id = format!("seed{name}");
        let entry = spool.create(&id, &meta, &mut &msg[..], None).unwrap();
        drop(entry);
        let bytes = std::fs::read(tmp.path().join("msg").join(&id)).unwrap();
        std::fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
    }
    let state = DeliveryHistory {
        attempts: 3,
        last_attempt: Some(1_700_000_100),
        next_attempt: 1_700_000_340,
        last_error: Some("mx.example.org answered RCPT TO with 451 4.7.1 try later".into()),
    };
    std::fs::write(
        dir.join("seed-retry.state"),
        serde_json::to_vec(&state).unwrap(),
    )
    .unwrap();
}

/// The reply target reads real sessions to their end (a harness that
/// stopped at the first reply would fuzz nothing behind it).
#[test]
fn the_reply_target_reads_every_reply() {
    let count = |seed: &str| {
        let bytes = std::fs::read(root().join("corpus/reply").join(seed)).unwrap();
        esmtp::transport::fuzzing::replies(&bytes)
    };
    // Greeting, EHLO, 334, 535, 250, 250, 354, 250.
    assert_eq!(count("seed-exim"), 8);
    assert_eq!(count("seed-gmail"), 4);
    assert_eq!(count("seed-refused"), 1);
    // A continuation with another code ends the reading.
    assert_eq!(count("seed-mixed-codes"), 1);
}
