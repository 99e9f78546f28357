//! Delivery from the queue to a real SMTP server on loopback (Postfix's
//! smtp-sink, which dumps every message it accepts to a file): smarthost
//! down then up, each message exactly once and byte for byte, one session
//! for many messages, concurrent flushes, permanent and temporary failures,
//! lifetime expiry with a bounce through the MDA, a wrapper queue.

use crate::support;

use esmtp::plan::{Plan, QueueMode, Template, TemplatePart};
use esmtp::queue::{self, legacy, store::QueueDir, FlushOptions, Submitted};
use esmtp::transport::{Envelope, MessageOptions, SessionOptions};
use std::collections::BTreeMap;
use std::fs;
use std::io::Cursor;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::{flush_now, free_port, write_wrapper_entry};

/// smtp-sink on 127.0.0.1:port, dumping each accepted message into `dir`.
struct Sink {
    child: Child,
    dir: PathBuf,
    log: PathBuf,
}

impl Sink {
    fn start(port: u16, dir: &Path, extra: &[&str]) -> Sink {
        fs::create_dir_all(dir).unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o777)).unwrap();
        let log = dir.with_extension("log");
        let child = Command::new("/usr/sbin/smtp-sink")
            .args(["-u", "nobody", "-c", "-d"])
            .arg(format!("{}/m.", dir.display()))
            .args(extra)
            .arg(format!("127.0.0.1:{port}"))
            .arg("100")
            .stdin(Stdio::null())
            .stdout(fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("smtp-sink (postfix) is installed by tests/setup/install-deps.sh");
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let sink = Sink {
            child,
            dir: dir.to_path_buf(),
            log,
        };
        // Wait until smtp-sink has counted the probe's session, so that
        // counters read later are not skewed by it (a fixed pause was not
        // enough on a loaded machine).
        for _ in 0..500 {
            if sink.sessions() >= 1 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        sink
    }

    /// Every accepted message: (sender, recipients, message with LF ends).
    fn messages(&self) -> Vec<(String, Vec<String>, String)> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.dir).unwrap() {
            let text = fs::read_to_string(e.unwrap().path()).unwrap();
            let mut sender = String::new();
            let mut rcpts = Vec::new();
            let mut lines = text.split_inclusive('\n').peekable();
            // smtp-sink's own header lines, then its Received: field.
            while let Some(l) = lines.next() {
                if let Some(v) = l.strip_prefix("X-Mail-Args: ") {
                    sender = v
                        .trim()
                        .trim_start_matches('<')
                        .split('>')
                        .next()
                        .unwrap()
                        .into();
                } else if let Some(v) = l.strip_prefix("X-Rcpt-Args: ") {
                    rcpts.push(
                        v.trim()
                            .trim_start_matches('<')
                            .split('>')
                            .next()
                            .unwrap()
                            .into(),
                    );
                } else if l.starts_with("Received: ") {
                    while lines.peek().is_some_and(|n| n.starts_with('\t')) {
                        lines.next();
                    }
                    break;
                }
            }
            let mut msg: String = lines.collect();
            // smtp-sink ends the dump with one empty line of its own.
            if msg.ends_with("\n\n") {
                msg.pop();
            }
            out.push((sender, rcpts, msg));
        }
        out
    }

    /// Sessions counted since `before`, once smtp-sink has counted at least
    /// one (it updates its counters when a session ends, a moment after
    /// the client has gone); a short settle then lets any further one show.
    fn new_sessions(&self, before: usize) -> usize {
        for _ in 0..500 {
            if self.sessions() > before {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(100));
        self.sessions() - before
    }

    /// Sessions smtp-sink counted so far (its -c counters).
    fn sessions(&self) -> usize {
        let log = fs::read_to_string(&self.log).unwrap_or_default();
        log.rsplit("sess=")
            .next()
            .and_then(|s| s.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn plan(tmp: &Path, port: u16) -> Plan {
    let mut plan = support::queued_plan(tmp);
    plan.identities[0].relay.host = "127.0.0.1".into();
    plan.identities[0].relay.port = port;
    plan.identities[0].relay.explicit = true;
    plan.identities[0].timeout_secs = 5;
    plan
}

fn message(i: usize) -> Vec<u8> {
    let mut m = format!(
        "From: <s{i}@example.org>\r\nTo: <r{i}@example.net>\r\nSubject: message {i}\r\n\r\n"
    )
    .into_bytes();
    m.extend_from_slice(b".a line that starts with a dot\r\n");
    while m.len() < 2048 {
        m.extend_from_slice(format!("{i} {} lorem ipsum dolor sit amet\r\n", m.len()).as_bytes());
    }
    m
}

fn envelope(i: usize) -> Envelope {
    Envelope {
        sender: format!("s{i}@example.org"),
        recipients: vec![format!("r{i}@example.net"), format!("cc{i}@example.net")],
    }
}

fn submit(plan: &Plan, i: usize) -> Result<Submitted, esmtp::exit::Failure> {
    let m = message(i);
    let opts = MessageOptions {
        size: Some(m.len() as u64),
        ..Default::default()
    };
    queue::submit(
        plan,
        0,
        &envelope(i),
        &opts,
        &SessionOptions::default(),
        &mut Cursor::new(m),
        esmtp::cli::convert_wrapper_entry,
    )
}

fn lf(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec())
        .unwrap()
        .replace("\r\n", "\n")
}

/// Each of 0..n delivered exactly once, byte for byte, to its recipients.
fn assert_each_once(sink: &Sink, n: usize) {
    let got = sink.messages();
    let mut by_subject: BTreeMap<usize, usize> = BTreeMap::new();
    for (sender, rcpts, msg) in &got {
        let i: usize = sender
            .trim_start_matches('s')
            .split('@')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(msg, &lf(&message(i)), "message {i} changed on the way");
        assert_eq!(rcpts, &envelope(i).recipients);
        *by_subject.entry(i).or_default() += 1;
    }
    for i in 0..n {
        assert_eq!(
            by_subject.get(&i),
            Some(&1),
            "message {i} delivered {:?} times",
            by_subject.get(&i)
        );
    }
    assert_eq!(got.len(), n);
}

#[test]
fn smarthost_down_then_up_delivers_each_once_over_one_session() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let plan = plan(tmp.path(), port);
    // Nothing listens: every submission is stored and succeeds.
    for i in 0..25 {
        match submit(&plan, i) {
            Ok(Submitted::Queued(why)) => assert!(why.contains("queued as"), "{why}"),
            other => panic!("submission {i}: {other:?}"),
        }
    }
    let mut out = Vec::new();
    queue::list_to(&plan, None, &mut out).unwrap().unwrap();
    let listing = String::from_utf8(out).unwrap();
    assert!(listing.contains("-- 25 messages queued"), "{listing}");
    assert!(listing.contains("last error:"), "{listing}");

    // Not due yet (backoff): a plain flush leaves them.
    let report =
        queue::flush_with(&plan, &SessionOptions::default(), &FlushOptions::default()).unwrap();
    assert_eq!(report.delivered, 0);
    assert_eq!(report.skipped, 25);

    let sink = Sink::start(port, &tmp.path().join("sink"), &[]);
    let before = sink.sessions();
    let report = flush_now(&plan, None);
    assert_eq!(report.delivered, 25, "{report:?}");
    assert_each_once(&sink, 25);
    assert_eq!(
        sink.new_sessions(before),
        1,
        "one SMTP session for the whole flush"
    );
    let mut out = Vec::new();
    queue::list_to(&plan, None, &mut out).unwrap().unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), "Mail queue is empty\n");
}

#[test]
fn submission_with_the_server_up_is_delivered_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let plan = plan(tmp.path(), port);
    let sink = Sink::start(port, &tmp.path().join("sink"), &[]);
    assert_eq!(submit(&plan, 0).unwrap(), Submitted::Delivered);
    assert_each_once(&sink, 1);
    let spool = QueueDir::open(&queue::queue_dir(&plan).unwrap()).unwrap();
    assert!(spool.ids().is_empty());
    assert_eq!(fs::read_dir(spool.root().join("tmp")).unwrap().count(), 0);
}

#[test]
fn concurrent_flushes_send_each_message_once() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let plan = plan(tmp.path(), port);
    for i in 0..60 {
        assert!(matches!(submit(&plan, i), Ok(Submitted::Queued(_))));
    }
    let sink = Sink::start(port, &tmp.path().join("sink"), &[]);
    let reports: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3).map(|_| s.spawn(|| flush_now(&plan, None))).collect();
        // Submitting during the flushes is safe too.
        let extra = s.spawn(|| {
            for i in 60..70 {
                submit(&plan, i).unwrap();
            }
        });
        extra.join().unwrap();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // Whatever the interleaving: every message once (the 10 submitted during
    // the flushes went at once or by a flush, still once).
    let delivered: usize = reports.iter().map(|r| r.delivered).sum();
    assert!(delivered <= 70, "{reports:?}");
    flush_now(&plan, None);
    assert_each_once(&sink, 70);
}

#[test]
fn refused_at_submission_is_reported_and_not_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let plan = plan(tmp.path(), port);
    let _sink = Sink::start(port, &tmp.path().join("sink"), &["-f", "RCPT"]);
    let err = submit(&plan, 0).unwrap_err();
    assert!(!err.is_temporary(), "{err:?}");
    assert_ne!(err.status, 0);
    let spool = QueueDir::open(&queue::queue_dir(&plan).unwrap()).unwrap();
    assert!(spool.ids().is_empty());
    assert!(spool.failed_infos().is_empty());
}

#[test]
fn temporary_refusal_keeps_it_queued_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let plan = plan(tmp.path(), port);
    let _sink = Sink::start(port, &tmp.path().join("sink"), &["-r", "RCPT"]);
    match submit(&plan, 0) {
        Ok(Submitted::Queued(why)) => {
            assert!(why.contains("450") || why.contains("4.3.0"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    let spool = QueueDir::open(&queue::queue_dir(&plan).unwrap()).unwrap();
    let infos = spool.infos();
    assert_eq!(infos.len(), 1);
    assert_eq!(infos[0].state.attempts, 1);
    assert!(infos[0].state.next_attempt > esmtp::queue::store::now());
}

#[test]
fn refused_during_flush_goes_back_to_the_sender_through_the_mda() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let plan = plan(tmp.path(), port);
    for i in 0..2 {
        assert!(matches!(submit(&plan, i), Ok(Submitted::Queued(_))));
    }
    let _sink = Sink::start(port, &tmp.path().join("sink"), &["-f", "RCPT"]);
    // Without an MDA: kept in failed/ and listed.
    let r = flush_now(&plan, None);
    assert_eq!(r.failed, 2, "{r:?}");
    let spool = QueueDir::open(&queue::queue_dir(&plan).unwrap()).unwrap();
    assert!(spool.ids().is_empty());
    assert_eq!(spool.failed_infos().len(), 2);

    // With an MDA: the bounce is piped to it and the entry is gone.
    let mailbox = tmp.path().join("mailbox");
    let tmp2 = tempfile::tempdir().unwrap();
    let mut plan2 = self::plan(tmp2.path(), free_port());
    plan2.mda = Some(Template {
        source: format!("cat >> {}", mailbox.display()),
        parts: vec![TemplatePart::Literal(format!(
            "cat >> {}",
            mailbox.display()
        ))],
    });
    assert!(matches!(submit(&plan2, 7), Ok(Submitted::Queued(_))));
    plan2.identities[0].relay.port = port;
    let r = flush_now(&plan2, None);
    assert_eq!(r.failed, 1, "{r:?}");
    let spool2 = QueueDir::open(&queue::queue_dir(&plan2).unwrap()).unwrap();
    assert!(spool2.ids().is_empty() && spool2.failed_infos().is_empty());
    let bounce = fs::read_to_string(&mailbox).unwrap();
    assert!(
        bounce.contains("Subject: Undelivered mail returned to sender"),
        "{bounce}"
    );
    assert!(bounce.contains("refused"), "{bounce}");
    assert!(bounce.contains("Subject: message 7\n"), "{bounce}");
}

#[test]
fn past_its_lifetime_a_message_is_given_up() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut plan = plan(tmp.path(), port);
    assert!(matches!(submit(&plan, 0), Ok(Submitted::Queued(_))));
    // Make the entry old.
    let spool = QueueDir::open(&queue::queue_dir(&plan).unwrap()).unwrap();
    let id = spool.ids().remove(0);
    spool
        .backdate(&id, esmtp::queue::store::now() - 7200)
        .unwrap();
    plan.queue.lifetime_secs = 3600;
    // Still down: given up, kept in failed/ (no MDA).
    let r = flush_now(&plan, None);
    assert_eq!((r.failed, r.deferred), (1, 0), "{r:?}");
    let failed = spool.failed_infos();
    assert_eq!(failed.len(), 1);
    assert!(failed[0]
        .note
        .as_deref()
        .unwrap()
        .contains("still undeliverable after 2 attempts"));
}

#[test]
fn wrapper_queue_is_delivered() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let plan = plan(tmp.path(), port);
    let wq = tmp.path().join(".esmtp_queue");
    for i in 0..3 {
        write_wrapper_entry(
            &wq,
            &format!("Wrap{i:04}"),
            &format!("-oi -f s{i}@example.org r{i}@example.net cc{i}@example.net"),
            lf(&message(i)).as_bytes(),
        );
    }
    let sink = Sink::start(port, &tmp.path().join("sink"), &[]);
    let r = flush_now(&plan, Some(&wq));
    assert_eq!((r.imported, r.delivered), (3, 3), "{r:?}");
    // The wrapper's messages had Date: and Message-ID: added; the rest is theirs.
    let got = sink.messages();
    assert_eq!(got.len(), 3);
    for (sender, rcpts, msg) in got {
        let i: usize = sender[1..].split('@').next().unwrap().parse().unwrap();
        assert_eq!(rcpts, envelope(i).recipients);
        let original = lf(&message(i));
        let (head, body) = original.split_once("\n\n").unwrap();
        assert!(msg.starts_with(head), "{msg}");
        assert!(
            msg.contains("\nDate: ") && msg.contains("\nMessage-ID: <"),
            "{msg}"
        );
        assert!(msg.ends_with(&format!("\n\n{body}")), "{msg}");
    }
    assert_eq!(fs::read_dir(&wq).unwrap().count(), 0);
    assert_eq!(legacy::pending(&wq), 0);
}

/// Not a test on its own: the body of the flushing child process that
/// `kill_9_during_flush_loses_nothing` starts and kills. Does nothing unless
/// `ESMTP_QUEUE_FLUSH_HELPER` is set.
#[test]
fn helper_flush_process() {
    let Ok(root) = std::env::var("ESMTP_QUEUE_FLUSH_HELPER") else {
        return;
    };
    let port: u16 = std::env::var("ESMTP_QUEUE_PORT").unwrap().parse().unwrap();
    let plan = plan(Path::new(&root), port);
    flush_now(&plan, None);
}

#[test]
fn kill_9_during_flush_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let plan = plan(tmp.path(), port);
    let spool = QueueDir::open(&queue::queue_dir(&plan).unwrap()).unwrap();
    let n = 150;
    for i in 0..n {
        let m = message(i);
        queue::store_message(
            &spool,
            &plan,
            0,
            &envelope(i),
            &MessageOptions::default(),
            &mut Cursor::new(m),
        )
        .unwrap();
    }
    let sink = Sink::start(port, &tmp.path().join("sink"), &[]);
    let mut kills = 0;
    for round in 0..40u64 {
        if spool.ids().is_empty() {
            break;
        }
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "queue::delivery::helper_flush_process",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env("ESMTP_QUEUE_FLUSH_HELPER", tmp.path())
            .env("ESMTP_QUEUE_PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(3 + (round * 7) % 20));
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
    }
    // Whatever is left goes now; the debris of the killed ones is cleaned.
    let r = flush_now(&plan, None);
    assert_eq!(r.deferred + r.failed, 0, "{r:?}");
    assert!(spool.ids().is_empty());
    assert_eq!(fs::read_dir(spool.root().join("tmp")).unwrap().count(), 0);
    assert!(
        kills >= 2,
        "the flushes finished before any kill: the test proves nothing"
    );

    // Nothing lost, nothing changed; a message can be sent twice only when a
    // kill fell between the server's acceptance and the removal (at most
    // once per kill).
    let mut count: BTreeMap<usize, usize> = BTreeMap::new();
    for (sender, rcpts, msg) in sink.messages() {
        let i: usize = sender[1..].split('@').next().unwrap().parse().unwrap();
        assert_eq!(msg, lf(&message(i)));
        assert_eq!(rcpts, envelope(i).recipients);
        *count.entry(i).or_default() += 1;
    }
    for i in 0..n {
        assert!(count.get(&i).is_some_and(|&c| c >= 1), "message {i} lost");
    }
    let duplicates: usize = count.values().map(|c| c - 1).sum();
    assert!(
        duplicates <= kills,
        "{duplicates} duplicates for {kills} kills"
    );
}

#[test]
fn background_mode_delivers_from_a_detached_process() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut plan = plan(tmp.path(), port);
    plan.queue.mode = QueueMode::Background;
    let sink = Sink::start(port, &tmp.path().join("sink"), &[]);
    match submit(&plan, 0) {
        Ok(Submitted::Queued(why)) => assert!(why.contains("in the background"), "{why}"),
        other => panic!("{other:?}"),
    }
    let spool = QueueDir::open(&queue::queue_dir(&plan).unwrap()).unwrap();
    for _ in 0..100 {
        if spool.ids().is_empty() && sink.messages().len() == 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(spool.ids().is_empty(), "still queued after 5 s");
    assert_each_once(&sink, 1);
}

#[test]
fn a_burst_of_background_submissions_shares_connections() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut plan = plan(tmp.path(), port);
    plan.queue.mode = QueueMode::Background;
    let sink = Sink::start(port, &tmp.path().join("sink"), &[]);
    let before = sink.sessions();
    let n = 30;
    for i in 0..n {
        assert!(matches!(submit(&plan, i), Ok(Submitted::Queued(_))));
    }
    let spool = QueueDir::open(&queue::queue_dir(&plan).unwrap()).unwrap();
    for _ in 0..200 {
        if spool.ids().is_empty() && sink.messages().len() >= n {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(spool.ids().is_empty(), "still queued after 10 s");
    assert_each_once(&sink, n);
    let sessions = sink.new_sessions(before);
    assert!(
        sessions < n / 2,
        "{sessions} connections for {n} background submissions"
    );
}
