//! Crash safety of submission: a process storing messages is killed with
//! SIGKILL at random moments, many times; afterwards every entry in the
//! queue is complete and byte-for-byte right, and the debris of the killed
//! write is cleaned up. Also: a file-size limit (`ulimit -f`) fails the
//! submission with 75 and leaves nothing.
//!
//! The storing process is this test binary re-executed with
//! `ESMTP_QUEUE_HELPER` set (see `helper_process`), so that it can be killed
//! without killing the test.

use esmtp::plan::{Plan, QueueMode};
use esmtp::queue::{self, store::QueueDir};
use esmtp::transport::{Envelope, MessageOptions};
use std::fs;
use std::io::Cursor;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn plan_at(root: &Path) -> Plan {
    let mut plan = Plan::empty();
    plan.queue.mode = QueueMode::Enabled;
    plan.queue.dir = Some(root.to_string_lossy().into_owned());
    plan
}

fn size_of(i: u64) -> usize {
    2000 + ((i * 7919) % 400_000) as usize
}

fn message(i: u64) -> Vec<u8> {
    let size = size_of(i);
    let mut m = format!("Subject: crash test {i}\r\n\r\n").into_bytes();
    let mut n = 0u64;
    while m.len() < size {
        m.extend_from_slice(format!("{i}:{n} the quick brown fox\r\n").as_bytes());
        n += 1;
    }
    m
}

/// [`helper_process`]'s name in this test binary, for `--exact`.
const HELPER_TEST: &str = "queue::crash::helper_process";

/// Not a test on its own: the body of the child processes the other tests
/// start and kill. Does nothing unless `ESMTP_QUEUE_HELPER` is set.
#[test]
fn helper_process() {
    let Ok(mode) = std::env::var("ESMTP_QUEUE_HELPER") else {
        return;
    };
    let root = std::path::PathBuf::from(std::env::var("ESMTP_QUEUE_ROOT").unwrap());
    let plan = plan_at(&root);
    let spool = QueueDir::open(&root).unwrap();
    let start: u64 = std::env::var("ESMTP_QUEUE_START")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    match mode.as_str() {
        "store-forever" => {
            for i in start.. {
                let env = Envelope {
                    sender: format!("{i}@crash.test"),
                    recipients: vec!["r@crash.test".into()],
                };
                queue::store_message(
                    &spool,
                    &plan,
                    0,
                    &env,
                    &MessageOptions::default(),
                    &mut Cursor::new(message(i)),
                )
                .unwrap();
            }
        }
        "store-big" => {
            let env = Envelope {
                sender: "big@crash.test".into(),
                recipients: vec!["r@crash.test".into()],
            };
            let big = vec![b'x'; 1 << 20];
            let r = queue::store_message(
                &spool,
                &plan,
                0,
                &env,
                &MessageOptions::default(),
                &mut Cursor::new(big),
            );
            match r {
                Ok(_) => std::process::exit(0),
                Err(f) => {
                    eprintln!("helper: {f}");
                    std::process::exit(i32::from(f.status))
                }
            }
        }
        other => panic!("unknown helper mode {other}"),
    }
}

fn helper(mode: &str, root: &Path, start: u64) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(["--exact", HELPER_TEST, "--nocapture", "--test-threads", "1"])
        .env("ESMTP_QUEUE_HELPER", mode)
        .env("ESMTP_QUEUE_ROOT", root)
        .env("ESMTP_QUEUE_START", start.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

#[test]
fn kill_9_during_submission_leaves_only_complete_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("q");
    let spool = QueueDir::open(&root).unwrap();
    let mut debris_seen = 0;
    for round in 0..40u64 {
        let mut child = helper("store-forever", &root, round * 1_000_000)
            .spawn()
            .unwrap();
        // Vary the moment of death: 5..80 ms into the run.
        std::thread::sleep(Duration::from_millis(5 + (round * 37) % 75));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        if fs::read_dir(root.join("tmp")).unwrap().count() > 0 {
            debris_seen += 1;
        }
        spool.cleanup();
        assert_eq!(
            fs::read_dir(root.join("tmp")).unwrap().count(),
            0,
            "debris of a killed writer must be cleaned up"
        );
    }
    // Every visible entry is complete and exactly what was submitted.
    let infos = spool.infos();
    assert!(infos.len() >= 40, "only {} stored", infos.len());
    for info in &infos {
        let i: u64 = info.meta.sender.split('@').next().unwrap().parse().unwrap();
        let (_, data) = spool.read_entry(&info.id).unwrap();
        assert_eq!(info.meta.size as usize, data.len());
        assert!(
            data == message(i),
            "entry {} differs from message {i}",
            info.id
        );
        // And it can be taken for delivery.
        assert!(spool.lock(&info.id).unwrap().is_some());
    }
    // The kills did land in the middle of writes at least sometimes
    // (otherwise this test proves nothing).
    assert!(debris_seen > 0, "no kill interrupted a write");
}

#[test]
fn file_size_limit_fails_with_75_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("q");
    let spool = QueueDir::open(&root).unwrap();
    let exe = std::env::current_exe().unwrap();
    // 200 blocks of 512 bytes: the 1 MB message cannot be written.
    let status = Command::new("sh")
        .arg("-c")
        .arg("ulimit -f 200 && exec \"$0\" --exact \"$1\" --nocapture --test-threads 1")
        .arg(&exe)
        .arg(HELPER_TEST)
        .env("ESMTP_QUEUE_HELPER", "store-big")
        .env("ESMTP_QUEUE_ROOT", &root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(75), "{status:?}");
    assert!(spool.ids().is_empty());
    assert_eq!(fs::read_dir(root.join("tmp")).unwrap().count(), 0);
}
