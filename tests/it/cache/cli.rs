//! The compiled-plan cache through the built binary, as a mail user agent
//! runs it: `esmtp` in sendmail mode relaying to real Exim servers on
//! loopback (crate::support), `esmtp route` and `esmtp compile`. HOME and
//! XDG_CACHE_HOME point into a temporary directory.

use crate::support;

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use support::{rewrite_keeping_mtime, Exim};

const ESMTP: &str = env!("CARGO_BIN_EXE_esmtp");

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new(rc: &str) -> Home {
        let dir = tempfile::tempdir().unwrap();
        let home = Home { dir };
        fs::write(home.rc(), rc).unwrap();
        fs::set_permissions(home.rc(), fs::Permissions::from_mode(0o600)).unwrap();
        home
    }

    fn rc(&self) -> PathBuf {
        self.dir.path().join(".esmtprc")
    }

    fn cache_home(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    fn cache_file(&self) -> PathBuf {
        support::only_plan_file(&self.cache_home().join("esmtp"))
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(ESMTP);
        c.args(args)
            .env("HOME", self.dir.path())
            .env("XDG_CACHE_HOME", self.cache_home())
            .env_remove("XDG_DATA_HOME")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    fn run(&self, args: &[&str], input: &[u8]) -> Output {
        support::run_with_input(&mut self.command(args), input)
    }

    /// Send one message in sendmail mode, `-v`; returns the -v output.
    fn send(&self, subject: &str) -> String {
        let o = self.run(
            &["-v", "-f", "me@example.org", "bob@example.net"],
            format!("Subject: {subject}\n\nbody\n").as_bytes(),
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn route(&self) -> String {
        let o = self.run(&["route", "-f", "me@example.org", "bob@example.net"], b"");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

fn rc_for(port: u16) -> String {
    format!("identity me@example.org\n  hostname 127.0.0.1:{port}\n  default\n")
}

fn subjects(exim: &Exim) -> Vec<String> {
    exim.messages()
        .iter()
        .map(|m| {
            m.headers()
                .lines()
                .find_map(|l| l.strip_prefix("Subject: ").map(str::to_string))
                .unwrap_or_default()
        })
        .collect()
}

#[test]
fn edited_configuration_is_used_at_once_even_within_the_same_second() {
    let a = Exim::start();
    let b = Exim::start();
    let home = Home::new(&rc_for(a.port()));
    home.send("one");
    a.wait_for_messages(1);
    assert!(home.route().contains(&format!("127.0.0.1:{}", a.port())));
    // Loaded from the cache: no -v line about it.
    let out = home.send("two");
    assert!(!out.contains("compiled plan"), "{out}");
    a.wait_for_messages(2);
    // Same size, same mtime, the other server.
    rewrite_keeping_mtime(&home.rc(), &rc_for(b.port()));
    assert!(home.route().contains(&format!("127.0.0.1:{}", b.port())));
    home.send("three");
    b.wait_for_messages(1);
    assert_eq!(subjects(&a), ["one", "two"]);
    assert_eq!(subjects(&b), ["three"]);
}

#[test]
fn damaged_or_exposed_cache_is_ignored_and_mail_goes_to_the_right_server() {
    let right = Exim::start();
    let wrong = Exim::start();
    let home = Home::new(&rc_for(wrong.port()));
    home.route();
    let stale = fs::read(home.cache_file()).unwrap();
    fs::write(home.rc(), rc_for(right.port())).unwrap();
    home.route();
    let cache = home.cache_file();
    let good = fs::read(&cache).unwrap();
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x20;
    let cases: Vec<(&str, Vec<u8>, u32)> = vec![
        ("flipped", flipped, 0o600),
        ("truncated", good[..good.len() - 3].to_vec(), 0o600),
        ("readable by others", good.clone(), 0o644),
        ("plan of the old file", stale, 0o600),
    ];
    for (i, (what, bytes, mode)) in cases.into_iter().enumerate() {
        fs::write(&cache, &bytes).unwrap();
        fs::set_permissions(&cache, fs::Permissions::from_mode(mode)).unwrap();
        let out = home.send(what);
        assert!(out.contains("compiled plan"), "{what}: {out}");
        right.wait_for_messages(i + 1);
        // Rebuilt, private, and used as it is by the next submission.
        assert_eq!(fs::metadata(&cache).unwrap().mode() & 0o777, 0o600);
        let out = home.send(&format!("{what}, again"));
        assert!(!out.contains("compiled plan"), "{what}: {out}");
        right.wait_for_messages(2 * (i + 1));
    }
    assert!(wrong.messages().is_empty());
}

#[test]
fn concurrent_submissions_after_an_edit_all_succeed() {
    let a = Exim::start();
    let b = Exim::start();
    let home = Home::new(&rc_for(a.port()));
    home.route();
    fs::write(home.rc(), rc_for(b.port())).unwrap();
    let children: Vec<_> = (0..4)
        .map(|i| {
            let mut c = home
                .command(&["-f", "me@example.org", "bob@example.net"])
                .spawn()
                .unwrap();
            let mut stdin = c.stdin.take().unwrap();
            write!(stdin, "Subject: parallel {i}\n\nbody\n").unwrap();
            drop(stdin);
            c
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    b.wait_for_messages(4);
    assert!(a.messages().is_empty());
    // The cache left behind is valid.
    let out = home.send("after");
    assert!(!out.contains("compiled plan"), "{out}");
    b.wait_for_messages(5);
}

#[test]
fn unusable_cache_directory_never_prevents_sending() {
    let exim = Exim::start();
    let home = Home::new(&rc_for(exim.port()));
    // XDG_CACHE_HOME is a file: the cache directory cannot exist.
    fs::write(home.cache_home(), "").unwrap();
    let out = home.send("no cache");
    assert!(out.contains("not cached"), "{out}");
    exim.wait_for_messages(1);
}

#[test]
fn compile_subcommand_writes_the_cache_the_next_submission_uses() {
    let exim = Exim::start();
    let home = Home::new(&rc_for(exim.port()));
    let o = home.run(&["compile"], b"");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cache = home.cache_file();
    assert_eq!(fs::metadata(&cache).unwrap().mode() & 0o777, 0o600);
    assert_eq!(
        fs::metadata(cache.parent().unwrap()).unwrap().mode() & 0o777,
        0o700
    );
    let out = home.send("compiled ahead");
    assert!(!out.contains("compiled plan"), "{out}");
    exim.wait_for_messages(1);
    // A broken file: the diagnostics and status 78, nothing sent.
    fs::write(home.rc(), "identity me@example.org\n  starttls sometimes\n").unwrap();
    let o = home.run(&["compile"], b"");
    assert_eq!(o.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&o.stderr).contains("starttls"));
    let o = home.run(
        &["-f", "me@example.org", "bob@example.net"],
        b"Subject: x\n\nx\n",
    );
    assert_eq!(o.status.code(), Some(78));
    assert_eq!(exim.messages().len(), 1);
}
