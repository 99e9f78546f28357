//! A victim and an attacker on one machine, for the queue's ownership
//! tests (issue 13 §4, §5): the built binary copied to a 0755 directory
//! under /tmp (the checkout may sit in root's private home), a home of the
//! victim's own (0700), a world-writable sticky directory (like /tmp) where
//! both can create files, and the attacker (`nobody`) running real
//! commands with its own credentials.
//!
//! The victim is root or an ordinary user (a uid without a passwd entry:
//! nothing in esmtp needs one, and no test user has to be created).
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::{chown, lchown, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use super::process;

pub use super::frontend::BIN;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Victim {
    pub uid: u32,
    pub gid: u32,
}

pub const ROOT: Victim = Victim { uid: 0, gid: 0 };
/// An ordinary user.
pub const USER: Victim = Victim {
    uid: 64101,
    gid: 64101,
};
/// Both kinds of victim: root can open anybody's files, so the ownership
/// checks are all that protects it.
pub const VICTIMS: [Victim; 2] = [ROOT, USER];

/// The attacker: `nobody`.
pub const ATTACKER: u32 = 65534;

pub struct World {
    pub dir: tempfile::TempDir,
    pub victim: Victim,
}

impl World {
    pub fn new(victim: Victim) -> World {
        let dir = tempfile::Builder::new()
            .prefix("esmtp-queue-owner-")
            .tempdir_in("/tmp")
            .unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let w = World { dir, victim };
        fs::create_dir(w.path("bin")).unwrap();
        // Copied by a `cp` process: a file this (multi-threaded) process
        // held open for writing could be inherited by a child another test
        // forks meanwhile, and executing it would fail (ETXTBSY).
        let copied = Command::new("cp").arg(BIN).arg(w.bin()).status().unwrap();
        assert!(copied.success());
        fs::set_permissions(w.bin(), fs::Permissions::from_mode(0o755)).unwrap();
        // Where anybody may create files (a sticky 1777 directory, as /tmp).
        fs::create_dir(w.shared()).unwrap();
        fs::set_permissions(w.shared(), fs::Permissions::from_mode(0o1777)).unwrap();
        fs::create_dir(w.home()).unwrap();
        fs::set_permissions(w.home(), fs::Permissions::from_mode(0o700)).unwrap();
        w.give(&w.home());
        w
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    pub fn bin(&self) -> PathBuf {
        self.path("bin/esmtp")
    }
    pub fn shared(&self) -> PathBuf {
        self.path("shared")
    }
    pub fn home(&self) -> PathBuf {
        self.path("home")
    }
    /// The victim's queue directory (in the shared directory, where an
    /// attacker could create it first).
    pub fn queue(&self) -> PathBuf {
        self.shared().join("q")
    }
    pub fn rc(&self) -> PathBuf {
        self.home().join("esmtprc")
    }

    /// Make `path` the victim's (not following a link).
    pub fn give(&self, path: &Path) {
        lchown(path, Some(self.victim.uid), Some(self.victim.gid)).unwrap();
    }

    /// Write a file of the victim's (mode 0600).
    pub fn victim_file(&self, path: &Path, bytes: &[u8]) {
        fs::write(path, bytes).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
        self.give(path);
    }

    /// The victim's configuration: smarthost on `port`, the queue on in
    /// `mode` (enabled, background) at [`World::queue`], plus `extra`.
    pub fn configure(&self, port: u16, mode: &str, extra: &str) {
        let text = format!(
            "hostname 127.0.0.1:{port}\ntimeout 10\nqueue {mode}\nqueue_dir {}\n{extra}",
            self.queue().display()
        );
        self.victim_file(&self.rc(), text.as_bytes());
    }

    /// The binary run as the victim, by the name `argv0`, with a clean
    /// environment pointing into the victim's home.
    pub fn cmd(&self, argv0: &str) -> Command {
        let mut c = Command::new(self.bin());
        c.arg0(argv0);
        self.as_victim(&mut c);
        c
    }

    /// Run `c` as the victim, in a clean environment.
    pub fn as_victim(&self, c: &mut Command) {
        let home = self.home();
        c.env_clear()
            .env("HOME", &home)
            .env("USER", "victim")
            .env("LOGNAME", "victim")
            .env("PATH", "/usr/bin:/bin:/usr/sbin:/sbin")
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .current_dir(&home);
        // (std drops root's supplementary groups when it sets the uid.)
        if self.victim != ROOT {
            c.uid(self.victim.uid).gid(self.victim.gid);
        }
    }

    /// Submit `message` as sendmail would be called: `-C RC args...`.
    pub fn sendmail(&self, args: &[&str], message: &[u8]) -> Output {
        let mut c = self.cmd("sendmail");
        c.arg("-C").arg(self.rc()).args(args);
        run_within(&mut c, message, 60)
    }

    /// `esmtp queue SUB -C RC`.
    pub fn queue_cmd(&self, sub: &str) -> Output {
        let mut c = self.cmd("esmtp");
        c.args(["queue", sub, "-C"]).arg(self.rc());
        run_within(&mut c, b"", 60)
    }

    /// `mailq -C RC`.
    pub fn mailq(&self) -> Output {
        let mut c = self.cmd("mailq");
        c.arg("-C").arg(self.rc());
        run_within(&mut c, b"", 60)
    }

    /// Run `script` with `sh -c` as the attacker, in `cwd`; it must succeed.
    pub fn attacker(&self, cwd: &Path, script: &str) {
        let out = Command::new("/bin/sh")
            .args(["-c", script])
            .current_dir(cwd)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .uid(ATTACKER)
            .gid(ATTACKER)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "attacker's `{script}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Let the attacker plant things in the victim's directory `dir` (as
    /// if it had been left open once: made 0777 for the moment, its parents
    /// searchable), then restore the modes.
    pub fn plant(&self, dir: &Path, script: &str) {
        let mut opened = Vec::new();
        for d in dir.ancestors().take_while(|d| *d != self.dir.path()) {
            let mode = fs::metadata(d).unwrap().permissions().mode() & 0o7777;
            opened.push((d.to_path_buf(), mode));
            let wide = if d == dir { 0o777 } else { mode | 0o711 };
            fs::set_permissions(d, fs::Permissions::from_mode(wide)).unwrap();
        }
        self.attacker(dir, script);
        for (d, mode) in opened {
            fs::set_permissions(&d, fs::Permissions::from_mode(mode)).unwrap();
        }
    }

    /// A file the attacker can copy from (0644, in the world directory).
    pub fn source(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(name);
        fs::write(&p, bytes).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        p
    }

    /// Give `path` to the attacker (not following a link).
    pub fn to_attacker(&self, path: &Path) {
        lchown(path, Some(ATTACKER), Some(ATTACKER)).unwrap();
    }

    /// Change the owner of a directory to the attacker.
    pub fn chown_attacker(&self, path: &Path) {
        chown(path, Some(ATTACKER), Some(ATTACKER)).unwrap();
    }

    /// The names in the queue directory `sub` (sorted).
    pub fn names(&self, sub: &str) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.queue().join(sub))
            .map(|rd| {
                rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Entry ids in `msg/` (names without a dot).
    pub fn queued(&self) -> Vec<String> {
        self.names("msg")
            .into_iter()
            .filter(|n| !n.contains('.'))
            .collect()
    }
}

/// A queue entry file as esmtp writes it: magic, size, one line of JSON
/// metadata, the message.
pub fn entry_bytes(sender: &str, recipient: &str, message: &str) -> Vec<u8> {
    let meta = format!(
        "{{\"version\":1,\"created\":{},\"identity\":null,\"identity_index\":0,\
         \"sender\":\"{sender}\",\"recipients\":[\"{recipient}\"]}}\n",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    );
    let message = message.replace('\n', "\r\n");
    let mut out = format!("ESMTPQ1 {:020}\n", message.len()).into_bytes();
    out.extend_from_slice(meta.as_bytes());
    out.extend_from_slice(message.as_bytes());
    out
}

/// Run `cmd` with `input` on stdin; a run longer than `secs` is killed and
/// fails the test (a queue must never hang on what it finds).
pub fn run_within(cmd: &mut Command, input: &[u8], secs: u64) -> Output {
    process::run_within(cmd, input, Some(Duration::from_secs(secs)))
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Assert the exit status, showing stdout and stderr otherwise.
pub fn assert_status(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
}

/// A small message.
pub fn message(subject: &str) -> Vec<u8> {
    format!(
        "From: <victim@example.org>\nTo: <bob@example.net>\nSubject: {subject}\n\
         Date: Wed, 25 Nov 2026 08:00:00 +0000\nMessage-ID: <{subject}@example.org>\n\nhello\n"
    )
    .into_bytes()
}
