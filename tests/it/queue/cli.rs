//! The queue as a user runs it: the built binary as `sendmail`, `mailq`,
//! `esmtp queue list|flush`, `-q`, against the real Exim on loopback.
//! Includes kill -9 of the binary during submissions and during flushes,
//! in a loop, and a full disk (a small tmpfs).

use crate::support;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use support::{free_port as closed_port, Exim};

const BIN: &str = env!("CARGO_BIN_EXE_esmtp");

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("home")).unwrap();
        Setup { dir }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn spool(&self) -> PathBuf {
        self.path().join("spool")
    }
    fn rc(&self) -> PathBuf {
        self.path().join("esmtprc")
    }
    /// (Re)write the configuration: smarthost on `port`, queue on.
    fn configure(&self, port: u16, mode: &str, queue_dir: &Path) {
        fs::write(
            self.rc(),
            format!(
                "hostname 127.0.0.1:{port}\ntimeout 10\nqueue {mode}\nqueue_dir {}\n",
                queue_dir.display()
            ),
        )
        .unwrap();
        fs::set_permissions(self.rc(), fs::Permissions::from_mode(0o600)).unwrap();
    }
    fn cmd(&self, argv0: &str) -> Command {
        let mut c = Command::new(BIN);
        use std::os::unix::process::CommandExt;
        c.arg0(argv0)
            .env("HOME", self.path().join("home"))
            .env("XDG_CACHE_HOME", self.path().join("cache"))
            .env("XDG_DATA_HOME", self.path().join("data"))
            .env_remove("ESMTPRC");
        c
    }
    fn sendmail(&self, args: &[&str], message: &[u8]) -> Output {
        support::run_with_input(
            self.cmd("sendmail").arg("-C").arg(self.rc()).args(args),
            message,
        )
    }
    fn run(&self, argv0: &str, args: &[&str]) -> Output {
        self.cmd(argv0).args(args).output().unwrap()
    }
}

fn message(i: usize) -> Vec<u8> {
    let mut m = format!(
        "From: <s{i}@example.org>\nTo: <bob@example.net>\nSubject: cli {i}\n\
         Date: Wed, 25 Nov 2026 08:00:00 +0000\nMessage-ID: <cli-{i}@example.org>\n\n"
    )
    .into_bytes();
    while m.len() < 2048 {
        m.extend_from_slice(format!("{i}: {} lorem ipsum\n", m.len()).as_bytes());
    }
    m
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn mailq_on_an_empty_queue() {
    let s = Setup::new();
    s.configure(closed_port(), "enabled", &s.spool());
    let rc = s.rc();
    let rc = rc.to_str().unwrap();
    for (argv0, args) in [
        ("mailq", vec!["-C", rc]),
        ("sendmail", vec!["-bp", "-C", rc]),
        ("esmtp", vec!["queue", "list", "-C", rc]),
    ] {
        let out = s.run(argv0, &args);
        assert!(
            out.status.success(),
            "{argv0} {args:?}: {}",
            text(&out.stderr)
        );
        assert_eq!(
            text(&out.stdout),
            "Mail queue is empty\n",
            "{argv0} {args:?}"
        );
    }
}

#[test]
fn down_then_up_as_a_user_runs_it() {
    let s = Setup::new();
    s.configure(closed_port(), "enabled", &s.spool());
    for i in 0..5 {
        let out = s.sendmail(
            &["-f", &format!("s{i}@example.org"), "bob@example.net"],
            &message(i),
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let err = text(&out.stderr);
        assert_eq!(err.lines().count(), 1, "one line on stderr: {err}");
        assert!(err.contains("queued as"), "{err}");
    }
    let rc = s.rc();
    let rc = rc.to_str().unwrap();
    let list = s.run("mailq", &["-C", rc]);
    let listing = text(&list.stdout);
    assert!(listing.contains("-- 5 messages queued"), "{listing}");
    assert!(listing.contains("<s3@example.org>"), "{listing}");
    assert!(listing.contains("last error: "), "{listing}");

    // A flush while still down: 75, all kept.
    let out = s.run("sendmail", &["-q", "-C", rc]);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out.stderr));

    let exim = Exim::start();
    s.configure(exim.port(), "enabled", &s.spool());
    let out = s.run("esmtp", &["queue", "flush", "-C", rc]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let got = exim.wait_for_messages(5);
    for r in &got {
        let i: usize = r.return_path[1..]
            .split('@')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        // Byte for byte what sendmail would have sent (CRLF; the message
        // had every header esmtp adds).
        let want = text(&message(i)).replace('\n', "\r\n");
        assert_eq!(text(&r.message), want, "message {i}");
    }
    assert_eq!(exim.accepted(), 5);
    let list = s.run("mailq", &["-C", rc]);
    assert_eq!(text(&list.stdout), "Mail queue is empty\n");
}

#[test]
fn disk_full_submission_fails_with_75_and_leaves_nothing() {
    let s = Setup::new();
    let mnt = s.path().join("small");
    fs::create_dir(&mnt).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=128k", "tmpfs"])
        .arg(&mnt)
        .status()
        .is_ok_and(|st| st.success());
    assert!(
        ok,
        "mounting a tmpfs needs root (the test machine runs as root)"
    );
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mnt.clone());
    let spool = mnt.join("q");
    s.configure(closed_port(), "enabled", &spool);
    let mut big = message(1);
    big.extend(std::iter::repeat_n(b'x', 400 * 1024));
    big.push(b'\n');
    let out = s.sendmail(&["bob@example.net"], &big);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out.stderr));
    assert_eq!(fs::read_dir(spool.join("msg")).unwrap().count(), 0);
    assert_eq!(fs::read_dir(spool.join("tmp")).unwrap().count(), 0);
    // A small one still fits.
    let out = s.sendmail(&["bob@example.net"], &message(2));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = esmtp::queue::store::QueueDir::open(&spool).unwrap();
    assert_eq!(s.ids().len(), 1);
}

/// Every entry in the spool is complete: its message has the size its
/// header says and ends with the body that was submitted.
fn assert_spool_complete(spool: &Path, body_of: impl Fn(&str) -> Vec<u8>) -> usize {
    if !spool.join("msg").is_dir() {
        return 0; // killed before the queue was even created
    }
    let s = esmtp::queue::store::QueueDir::open(spool).unwrap();
    let mut n = 0;
    for id in s.ids() {
        let (meta, data) = s.read_entry(&id).unwrap();
        assert_eq!(meta.size as usize, data.len(), "{id}");
        let want = body_of(&meta.sender);
        assert!(data.ends_with(&want), "{id} is not the whole message");
        n += 1;
    }
    n
}

#[test]
fn kill_9_of_the_binary_during_submissions_and_flushes() {
    let s = Setup::new();
    s.configure(closed_port(), "enabled", &s.spool());
    let rc = s.rc();
    let rc = rc.to_str().unwrap();
    // Messages of ~1 MB so that a kill often lands inside the write.
    let big = |i: usize| -> Vec<u8> {
        let mut m = message(i);
        for n in 0..(20_000 + i * 300) {
            m.extend_from_slice(format!("{i} {n} the quick brown fox jumps\n").as_bytes());
        }
        m
    };
    let body_of = |sender: &str| -> Vec<u8> {
        let i: usize = sender[1..].split('@').next().unwrap().parse().unwrap();
        let m = text(&big(i));
        let body = m.split_once("\n\n").unwrap().1.replace('\n', "\r\n");
        body.into_bytes()
    };
    let mut finished = 0;
    for round in 0..25usize {
        let mut child = s
            .cmd("sendmail")
            .args([
                "-C",
                rc,
                "-f",
                &format!("s{round}@example.org"),
                "bob@example.net",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let msg = big(round);
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&msg);
        });
        std::thread::sleep(Duration::from_millis(2 + (round as u64 * 13) % 60));
        let _ = child.kill();
        let status = child.wait().unwrap();
        let _ = writer.join();
        if status.success() {
            finished += 1;
        }
        assert_spool_complete(&s.spool(), body_of);
    }
    let queued = assert_spool_complete(&s.spool(), body_of);
    assert!(
        queued >= finished,
        "{finished} acknowledged, {queued} queued"
    );
    assert!(
        finished < 25,
        "no kill interrupted a submission: the test proves nothing"
    );

    // Now flushes, killed in a loop, then one that finishes.
    let exim = Exim::start();
    s.configure(exim.port(), "enabled", &s.spool());
    let mut kills = 0;
    for round in 0..15u64 {
        if fs::read_dir(s.spool().join("msg")).unwrap().count() == 0 {
            break;
        }
        let mut child = s
            .cmd("esmtp")
            .args(["queue", "flush", "-C", rc])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(20 + (round * 17) % 80));
        let _ = child.kill();
        child.wait().unwrap();
        kills += 1;
        assert_spool_complete(&s.spool(), body_of);
    }
    let out = s.run("esmtp", &["queue", "flush", "-C", rc]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let left: Vec<_> = fs::read_dir(s.spool().join("msg"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        left.is_empty(),
        "left in msg/ after a flush that said all went: {left:?}"
    );
    assert_eq!(fs::read_dir(s.spool().join("tmp")).unwrap().count(), 0);
    // Every queued message arrived; a duplicate only where a kill fell
    // between the server's acceptance and the removal.
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for l in exim.log_lines().iter().filter(|l| l.contains(" <= ")) {
        let sender = l.split(" <= ").nth(1).unwrap().split(' ').next().unwrap();
        *count.entry(sender.to_string()).or_default() += 1;
    }
    assert_eq!(count.len(), queued, "{count:?}");
    let dups: usize = count.values().map(|c| c - 1).sum();
    assert!(dups <= kills, "{dups} duplicates for {kills} kills");
}
