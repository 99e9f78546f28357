//! The delivery log (`logfile`, `syslog`), issue 17 §2: the built binary
//! against a real Exim, a hostile scripted server, a real MDA and a real
//! syslog daemon (rsyslog, started by the test; the program reaches it at
//! `/dev/log` inside a private mount namespace, with no path override).

use crate::support;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::exim::{PASSWORD, USER};
use support::hostile::{assert_no_secret, converse, User, MARKER};
use support::{Exim, FakeServer};

/// One parsed log line: the time stamp and the fields in order. Values are
/// bare (up to a blank) or quoted `'...'` with `\\`, `\'`, `\r`, `\n`,
/// `\t` and `\u{HEX}` escapes; anything else fails the test.
#[derive(Debug)]
pub(super) struct Line {
    fields: Vec<(String, String)>,
}

impl Line {
    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    pub(super) fn must(&self, key: &str) -> &str {
        self.get(key)
            .unwrap_or_else(|| panic!("no {key}= in {:?}", self.fields))
    }
}

/// Parse the fields of a line (no time stamp): every key once.
fn parse_fields(text: &str) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (key, after) = rest
            .split_once('=')
            .unwrap_or_else(|| panic!("no = in {rest:?} of {text:?}"));
        assert!(
            !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase()),
            "bad key {key:?} in {text:?}"
        );
        let (value, tail) = if let Some(q) = after.strip_prefix('\'') {
            let mut value = String::new();
            let mut chars = q.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\'' => {
                        end = Some(i + 1);
                        break;
                    }
                    '\\' => match chars.next().map(|(_, c)| c) {
                        Some('\\') => value.push('\\'),
                        Some('\'') => value.push('\''),
                        Some('r') => value.push('\r'),
                        Some('n') => value.push('\n'),
                        Some('t') => value.push('\t'),
                        Some('u') => {
                            let hex: String = chars
                                .by_ref()
                                .map(|(_, c)| c)
                                .take_while(|&c| c != '}')
                                .filter(|&c| c != '{')
                                .collect();
                            let n = u32::from_str_radix(&hex, 16).expect("hex escape");
                            value.push(char::from_u32(n).expect("char"));
                        }
                        other => panic!("bad escape {other:?} in {text:?}"),
                    },
                    c => value.push(c),
                }
            }
            let end = end.unwrap_or_else(|| panic!("unterminated quote in {text:?}"));
            (value, &q[end..])
        } else {
            let end = after.find(' ').unwrap_or(after.len());
            (after[..end].to_string(), &after[end..])
        };
        assert!(
            fields.iter().all(|(k, _)| k != key),
            "{key} twice in {text:?}"
        );
        fields.push((key.to_string(), value));
        rest = tail.strip_prefix(' ').unwrap_or(tail);
        assert!(
            tail.is_empty() || tail.starts_with(' '),
            "junk after {key}: {text:?}"
        );
    }
    fields
}

/// The lines of a log file: each one whole, with msmtp's time stamp.
pub(super) fn read_log(path: &Path) -> Vec<Line> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("log {}: {e}", path.display()));
    assert!(text.ends_with('\n'), "{text:?}");
    text.lines()
        .map(|l| {
            // `Nov 30 08:34:23 `: msmtp's "%b %d %H:%M:%S".
            let b = l.as_bytes();
            assert!(
                b.len() > 16
                    && b[..3].iter().all(u8::is_ascii_alphabetic)
                    && b[3] == b' '
                    && b[4..6].iter().all(u8::is_ascii_digit)
                    && b[6] == b' '
                    && b[9] == b':'
                    && b[12] == b':'
                    && b[15] == b' ',
                "no time stamp: {l:?}"
            );
            assert!(
                !l.chars().any(|c| c.is_control()),
                "control character in {l:?}"
            );
            Line {
                fields: parse_fields(&l[16..]),
            }
        })
        .collect()
}

/// Run `esmtp ARGS` as `user` with `input` on a pipe.
pub(super) fn esmtp(user: &User, args: &[&str], input: &[u8]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_esmtp"));
    cmd.args(args)
        .env("HOME", user.home.path())
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("XDG_DATA_HOME");
    support::run_with_input(&mut cmd, input)
}

fn send(user: &User, rc: &Path, rcpts: &[&str], message: &[u8]) -> Output {
    let mut args = vec!["-C", rc.to_str().unwrap(), "-f", "sender@example.org"];
    args.extend_from_slice(rcpts);
    esmtp(user, &args, message)
}

fn message(id: &str) -> Vec<u8> {
    format!(
        "From: sender@example.org\nTo: bob@example.net\nSubject: log\nMessage-ID: {id}\n\nbody line\n"
    )
    .into_bytes()
}

fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

/// An identity that logs in to Exim (with STARTTLS, the CA trusted).
fn exim_rc(user: &User, exim: &Exim, extra: &str) -> PathBuf {
    user.trust(exim.ca_pem());
    user.rc(&format!(
        "logfile ~/esmtp.log\nidentity sender@example.org\nhostname localhost:{}\n\
         starttls required\nusername {USER}\npassword \"{PASSWORD}\"\n{extra}",
        exim.port()
    ))
}

#[test]
fn success_refusal_and_deferral_each_get_their_line() {
    let exim = Exim::start();
    let user = User::new();
    let rc = exim_rc(&user, &exim, "");
    let ok = send(
        &user,
        &rc,
        &["bob@example.net", "carol@example.net"],
        &message("<ok@x>"),
    );
    assert_eq!(code(&ok), Some(0), "{}", support::describe(&ok));
    let refused = send(&user, &rc, &["refuse-me@example.net"], &message("<five@x>"));
    assert_eq!(code(&refused), Some(67), "{}", support::describe(&refused));
    let deferred = send(&user, &rc, &["defer-me@example.net"], &message("<four@x>"));
    assert_eq!(
        code(&deferred),
        Some(75),
        "{}",
        support::describe(&deferred)
    );

    let log = user.home.path().join("esmtp.log");
    let mode = fs::metadata(&log).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let lines = read_log(&log);
    assert_eq!(lines.len(), 3, "{lines:#?}");
    for l in &lines {
        assert_eq!(l.must("host"), "localhost");
        assert_eq!(l.must("port"), exim.port().to_string());
        assert_eq!(l.must("tls"), "on");
        assert_eq!(l.must("auth"), "on");
        assert_eq!(l.must("user"), USER);
        assert!(l.get("authmech").is_some());
        assert_eq!(l.must("from"), "sender@example.org");
        assert_eq!(l.must("identity"), "sender@example.org");
        assert!(l.must("duration").ends_with('s'));
        assert!(l.must("mailsize").parse::<u64>().unwrap() > 50);
    }
    let (a, b, c) = (&lines[0], &lines[1], &lines[2]);
    assert_eq!(a.must("recipients"), "bob@example.net,carol@example.net");
    assert_eq!(a.must("messageid"), "<ok@x>");
    assert_eq!(a.must("smtpstatus"), "250");
    assert!(a.must("smtpmsg").starts_with("250 OK id="), "{a:?}");
    assert_eq!(a.get("errormsg"), None);
    assert_eq!(a.must("exitcode"), "EX_OK");

    assert_eq!(b.must("recipients"), "refuse-me@example.net");
    assert_eq!(b.must("smtpstatus"), "550");
    assert!(b.must("smtpmsg").contains("no such user here"), "{b:?}");
    assert!(b.must("errormsg").contains("refused"), "{b:?}");
    assert_eq!(b.must("exitcode"), "EX_NOUSER");

    assert_eq!(c.must("smtpstatus"), "451");
    assert!(c.must("smtpmsg").contains("try again later"), "{c:?}");
    assert_eq!(c.must("exitcode"), "EX_TEMPFAIL");
    assert_eq!(c.must("messageid"), "<four@x>");

    // The password, in every form AUTH could carry it, is nowhere.
    let text = fs::read_to_string(&log).unwrap();
    assert_no_secret("the delivery log", &text, USER, PASSWORD);
    exim.wait_for_messages(2);
}

#[test]
fn an_unreachable_server_and_a_tls_failure_are_logged() {
    let user = User::new();
    let port = support::free_port();
    let rc = user.rc(&format!(
        "logfile ~/log/esmtp.log\nhostname 127.0.0.1:{port}\n"
    ));
    fs::create_dir(user.home.path().join("log")).unwrap();
    let out = send(&user, &rc, &["bob@example.net"], &message("<u@x>"));
    assert_eq!(code(&out), Some(69), "{}", support::describe(&out));
    let lines = read_log(&user.home.path().join("log/esmtp.log"));
    assert_eq!(lines.len(), 1);
    let l = &lines[0];
    assert_eq!(l.must("host"), "127.0.0.1");
    assert_eq!(l.must("tls"), "off");
    assert_eq!(l.must("auth"), "off");
    assert_eq!(l.must("identity"), "<unnamed>");
    assert!(l.must("errormsg").contains("cannot connect"), "{l:?}");
    assert_eq!(l.get("smtpstatus"), None);
    assert_eq!(l.must("exitcode"), "EX_UNAVAILABLE");

    // TLS required, but the server's CA is not trusted: refused before
    // anything is sent, and the log says why.
    let exim = Exim::start();
    let user = User::new();
    let rc = user.rc(&format!(
        "logfile ~/esmtp.log\nhostname localhost:{}\nstarttls required\n",
        exim.port()
    ));
    let out = send(&user, &rc, &["bob@example.net"], &message("<t@x>"));
    assert_eq!(code(&out), Some(69), "{}", support::describe(&out));
    let lines = read_log(&user.home.path().join("esmtp.log"));
    assert_eq!(lines.len(), 1);
    let l = &lines[0];
    assert_eq!(l.must("tls"), "off");
    assert!(l.must("errormsg").contains("certificate"), "{l:?}");
    assert_eq!(l.must("exitcode"), "EX_UNAVAILABLE");
    assert!(exim.commands().is_empty());
}

#[test]
fn a_queue_flush_logs_every_message_with_its_queue_id() {
    let exim = Exim::start();
    let user = User::new();
    user.trust(exim.ca_pem());
    let rc_for = |port: u16| {
        user.rc(&format!(
            "logfile ~/esmtp.log\nqueue enabled\nqueue_dir ~/queue\n\
             identity sender@example.org\nhostname localhost:{port}\nstarttls required\n"
        ))
    };
    // The server is away: three messages are queued (status 0), each
    // attempt logged as a temporary failure with its queue id.
    let rc = rc_for(support::free_port());
    for i in 0..3 {
        let out = send(
            &user,
            &rc,
            &["bob@example.net"],
            &message(&format!("<q{i}@x>")),
        );
        assert_eq!(code(&out), Some(0), "{}", support::describe(&out));
    }
    let log = user.home.path().join("esmtp.log");
    let queued = read_log(&log);
    assert_eq!(queued.len(), 3, "{queued:#?}");
    let mut ids = BTreeMap::new();
    for (i, l) in queued.iter().enumerate() {
        assert_eq!(l.must("exitcode"), "EX_TEMPFAIL");
        assert!(l.must("errormsg").contains("cannot connect"), "{l:?}");
        ids.insert(l.must("queueid").to_string(), format!("<q{i}@x>"));
        assert_eq!(l.must("messageid"), format!("<q{i}@x>"));
    }
    assert_eq!(ids.len(), 3);

    // Back: one flush delivers all three, one line each.
    let rc = rc_for(exim.port());
    let out = esmtp(&user, &["queue", "flush", "-C", rc.to_str().unwrap()], b"");
    assert_eq!(code(&out), Some(0), "{}", support::describe(&out));
    exim.wait_for_messages(3);
    let lines = read_log(&log);
    assert_eq!(lines.len(), 6, "{lines:#?}");
    for l in &lines[3..] {
        assert_eq!(l.must("exitcode"), "EX_OK");
        assert_eq!(l.must("tls"), "on");
        assert_eq!(l.must("smtpstatus"), "250");
        let id = l.must("queueid");
        assert_eq!(
            ids.remove(id).as_deref(),
            Some(l.must("messageid")),
            "{l:?}"
        );
    }
    assert!(ids.is_empty(), "not flushed: {ids:?}");
}

#[test]
fn an_mda_delivery_is_logged() {
    let user = User::new();
    let dir = user.home.path();
    let mbox = dir.join("mbox");
    fs::write(
        dir.join("procmailrc"),
        format!("DEFAULT={}\nLOGFILE=/dev/null\n", mbox.display()),
    )
    .unwrap();
    let command = format!(
        "/usr/bin/procmail -p -f %F -m {} %T",
        dir.join("procmailrc").display()
    );
    let rc = user.rc(&format!("logfile ~/esmtp.log\nmda \"{command}\"\n"));
    let out = send(&user, &rc, &["bob"], &message("<mda@x>"));
    assert_eq!(code(&out), Some(0), "{}", support::describe(&out));
    assert!(fs::read_to_string(&mbox).unwrap().contains("body line"));
    let lines = read_log(&user.home.path().join("esmtp.log"));
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let l = &lines[0];
    assert_eq!(l.must("mda"), command);
    assert_eq!(l.get("host"), None);
    assert_eq!(l.must("recipients"), "bob");
    assert_eq!(l.must("messageid"), "<mda@x>");
    assert_eq!(l.must("exitcode"), "EX_OK");

    // A failing MDA: its status, and the reason.
    let rc = user.rc("logfile ~/esmtp.log\nmda \"exit 3\"\n");
    let out = send(&user, &rc, &["bob"], &message("<mda2@x>"));
    assert_eq!(code(&out), Some(71), "{}", support::describe(&out));
    let lines = read_log(&user.home.path().join("esmtp.log"));
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1].must("exitcode"), "EX_OSERR");
    assert!(lines[1].get("errormsg").is_some());
}

/// A server whose replies carry control characters, fake fields and the
/// secret it was sent: the line stays one line with the right fields, and
/// the secret is masked.
#[test]
fn a_hostile_reply_cannot_forge_a_line_or_leak_the_secret() {
    let user = User::new();
    let server = FakeServer::start(|r, _w| {
        let mut secret_b64 = String::new();
        converse(r, b"220 fake\r\n", move |line| {
            let upper = line.to_ascii_uppercase();
            if upper.starts_with("EHLO") {
                b"250-fake\r\n250 AUTH PLAIN\r\n".to_vec()
            } else if upper.starts_with("AUTH PLAIN") {
                secret_b64 = line[11..].trim().to_string();
                b"235 ok\r\n".to_vec()
            } else if upper.starts_with("DATA") {
                b"354 go\r\n".to_vec()
            } else if line == ".\r\n" {
                format!(
                    "550-no\x1b[2J\x07 {secret_b64} exitcode=EX_OK\r\n550 host=evil \
                     '\\ {MARKER}\x0b\x7f\u{85}\r\n"
                )
                .into_bytes()
            } else if upper.starts_with("QUIT") {
                b"221 bye\r\n".to_vec()
            } else {
                b"250 ok\r\n".to_vec()
            }
        })
        .into_bytes()
    });
    let rc = user.rc(&format!(
        "logfile ~/esmtp.log\nhostname 127.0.0.1:{}\nstarttls disabled\n\
         username alice\npassword \"{MARKER}\"\n",
        server.port
    ));
    let out = send(
        &user,
        &rc,
        &["bob@example.net"],
        &message("<evil\tid' x=y@x>"),
    );
    server.join();
    assert_eq!(code(&out), Some(70), "{}", support::describe(&out));
    let text = fs::read_to_string(user.home.path().join("esmtp.log")).unwrap();
    assert_eq!(text.matches('\n').count(), 1, "{text:?}");
    assert_no_secret("the delivery log", &text, "alice", MARKER);
    let lines = read_log(&user.home.path().join("esmtp.log"));
    let l = &lines[0];
    assert_eq!(l.must("host"), "127.0.0.1");
    assert_eq!(l.must("smtpstatus"), "550");
    assert_eq!(l.must("exitcode"), "EX_SOFTWARE");
    assert_eq!(l.must("messageid"), "<evil\tid' x=y@x>");
    let msg = l.must("smtpmsg");
    assert!(
        msg.contains("exitcode=EX_OK") && msg.contains("host=evil"),
        "{msg:?}"
    );
    assert!(!msg.contains(MARKER), "{msg:?}");
}

#[test]
fn concurrent_writers_never_mix_their_lines() {
    const N: usize = 24;
    let user = User::new();
    let port = support::free_port();
    // Long lines: 150 recipients each, over 3 KiB, and a distinct mark per
    // process in every recipient.
    let rc = user.rc(&format!("logfile ~/esmtp.log\nhostname 127.0.0.1:{port}\n"));
    let children: Vec<_> = (0..N)
        .map(|p| {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_esmtp"));
            cmd.args(["-C", rc.to_str().unwrap(), "-f", "sender@example.org"]);
            for r in 0..150 {
                cmd.arg(format!("p{p}r{r}@example.net"));
            }
            let mut child = cmd
                .env("HOME", user.home.path())
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn esmtp");
            let _ = child
                .stdin
                .take()
                .unwrap()
                .write_all(&message(&format!("<p{p}@x>")));
            child
        })
        .collect();
    for mut c in children {
        assert_eq!(c.wait().unwrap().code(), Some(69));
    }
    let lines = read_log(&user.home.path().join("esmtp.log"));
    assert_eq!(lines.len(), N);
    let mut seen = [false; N];
    for l in &lines {
        let id = l.must("messageid");
        let p: usize = id[2..id.len() - 3].parse().unwrap();
        let want: Vec<String> = (0..150).map(|r| format!("p{p}r{r}@example.net")).collect();
        assert_eq!(l.must("recipients"), want.join(","));
        assert_eq!(l.must("exitcode"), "EX_UNAVAILABLE");
        assert!(!seen[p]);
        seen[p] = true;
    }
}

#[test]
fn a_log_that_cannot_be_written_is_a_warning_not_a_failure() {
    let exim = Exim::start();
    let user = User::new();
    // A symbolic link where the log should be: not followed.
    let target = user.home.path().join("elsewhere");
    fs::write(&target, "").unwrap();
    std::os::unix::fs::symlink(&target, user.home.path().join("esmtp.log")).unwrap();
    let rc = exim_rc(&user, &exim, "");
    let out = send(&user, &rc, &["bob@example.net"], &message("<w@x>"));
    assert_eq!(code(&out), Some(0), "{}", support::describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: cannot write the delivery log ~/esmtp.log")
            && stderr.contains("symbolic link"),
        "{stderr}"
    );
    assert_eq!(fs::read_to_string(&target).unwrap(), "");
    exim.wait_for_messages(1);

    // `-` is standard error.
    let user = User::new();
    let rc = user.rc(&format!(
        "logfile -\nhostname 127.0.0.1:{}\n",
        support::free_port()
    ));
    let out = send(&user, &rc, &["bob@example.net"], &message("<e@x>"));
    assert_eq!(code(&out), Some(69));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .lines()
            .any(|l| l.contains(" host=127.0.0.1 ") && l.ends_with("exitcode=EX_UNAVAILABLE")),
        "{stderr}"
    );
}

// ───────────────────────────── syslog ─────────────────────────────

/// A real rsyslogd listening on a socket of its own, writing what it
/// receives as `FACILITY.SEVERITY TAG[PID] MSG` lines; programs reach it
/// at `/dev/log` only inside [`Syslogd::run`]'s mount namespace.
struct Syslogd {
    dir: tempfile::TempDir,
    child: std::process::Child,
}

impl Syslogd {
    fn start() -> Syslogd {
        let dir = support::shared_tempdir("esmtp-syslog");
        let d = dir.path().display();
        fs::write(
            dir.path().join("rsyslog.conf"),
            format!(
                "global(workDirectory=\"{d}\")\n\
                 module(load=\"imuxsock\" SysSock.Use=\"off\")\n\
                 input(type=\"imuxsock\" Socket=\"{d}/log.sock\" CreatePath=\"on\")\n\
                 template(name=\"t\" type=\"string\" string=\"%syslogfacility-text%.%syslogseverity-text% %programname%[%procid%] %msg%\\n\")\n\
                 *.* action(type=\"omfile\" file=\"{d}/out.log\" template=\"t\")\n"
            ),
        )
        .unwrap();
        let child = Command::new("rsyslogd")
            .args(["-n", "-f"])
            .arg(dir.path().join("rsyslog.conf"))
            .arg("-i")
            .arg(dir.path().join("pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rsyslogd is installed by tests/setup/install-deps.sh");
        let sock = dir.path().join("log.sock");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !sock.exists() {
            assert!(Instant::now() < deadline, "rsyslogd made no socket");
            std::thread::sleep(Duration::from_millis(50));
        }
        Syslogd { dir, child }
    }

    /// Run `esmtp ARGS` as `user` with stdin and stderr pipes (no
    /// terminal), in a new session, inside a mount namespace where
    /// `/dev/log` is this daemon's socket.
    fn run(&self, user: &User, args: &[&str], input: &[u8]) -> Output {
        let d = self.dir.path().display();
        // A private /dev (a tmpfs) with the devices a program may need and
        // the socket as /dev/log: nothing changes outside the namespace.
        let script = format!(
            "set -e; mkdir -p {d}/olddev; mount --bind /dev {d}/olddev; \
             mount -t tmpfs -o mode=755 tmpfs /dev; \
             for n in null zero urandom random; do touch /dev/$n; mount --bind {d}/olddev/$n /dev/$n; done; \
             touch /dev/log; mount --bind {d}/log.sock /dev/log; exec \"$@\""
        );
        let mut cmd = Command::new("setsid");
        cmd.args(["unshare", "--mount", "sh", "-c", &script, "sh"])
            .arg(env!("CARGO_BIN_EXE_esmtp"))
            .args(args)
            .env("HOME", user.home.path());
        support::run_with_input(&mut cmd, input)
    }

    /// Wait until the daemon has written `n` lines from esmtp.
    fn lines(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = fs::read_to_string(self.dir.path().join("out.log")).unwrap_or_default();
            let lines: Vec<String> = text
                .lines()
                .filter(|l| l.contains(" esmtp["))
                .map(str::to_string)
                .collect();
            if lines.len() >= n || Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Syslogd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `FACILITY.SEVERITY esmtp[PID] fields`.
fn syslog_line(line: &str) -> (String, Vec<(String, String)>) {
    let (prio, rest) = line.split_once(' ').unwrap();
    let (tag, msg) = rest.split_once(' ').unwrap();
    assert!(tag.starts_with("esmtp[") && tag.ends_with(']'), "{line}");
    assert!(tag[6..tag.len() - 1].parse::<u32>().is_ok(), "{line}");
    // No time stamp of ours: syslog adds it.
    (prio.to_string(), parse_fields(msg.trim_start()))
}

#[test]
fn syslog_gets_the_configured_facility_and_the_severity_of_the_result() {
    let syslogd = Syslogd::start();
    let exim = Exim::start();
    let user = User::new();
    user.trust(exim.ca_pem());
    let rc = user.rc(&format!(
        "syslog LOG_LOCAL3\nidentity sender@example.org\nhostname localhost:{}\nstarttls required\n\
         identity other@example.org\nhostname 127.0.0.1:{}\nsyslog on\n",
        exim.port(),
        support::free_port()
    ));
    let rc = rc.to_str().unwrap();
    let ok = syslogd.run(
        &user,
        &["-C", rc, "-f", "sender@example.org", "bob@example.net"],
        &message("<s1@x>"),
    );
    assert_eq!(code(&ok), Some(0), "{}", support::describe(&ok));
    let bad = syslogd.run(
        &user,
        &["-C", rc, "-f", "other@example.org", "bob@example.net"],
        &message("<s2@x>"),
    );
    assert_eq!(code(&bad), Some(69), "{}", support::describe(&bad));
    let lines = syslogd.lines(2);
    assert_eq!(lines.len(), 2, "{lines:?}");
    let (prio, fields) = syslog_line(&lines[0]);
    assert_eq!(prio, "local3.info");
    assert!(
        fields.contains(&("exitcode".into(), "EX_OK".into())),
        "{fields:?}"
    );
    assert!(fields.contains(&("messageid".into(), "<s1@x>".into())));
    // The identity's own `syslog on` (LOG_MAIL) replaces the global one.
    let (prio, fields) = syslog_line(&lines[1]);
    assert_eq!(prio, "mail.err");
    assert!(
        fields.contains(&("exitcode".into(), "EX_UNAVAILABLE".into())),
        "{fields:?}"
    );
    exim.wait_for_messages(1);
}

/// Send message `<ID@x>` to bob with the esmtprc `rc_text` (`{port}` an
/// unreachable port) under `syslogd`, expecting `status`.
fn run_with(syslogd: &Syslogd, user: &User, rc_text: &str, id: &str, status: i32) {
    let rc = user.rc(&rc_text.replace("{port}", &support::free_port().to_string()));
    let args = ["-C", rc.to_str().unwrap(), "bob@example.net"];
    let out = syslogd.run(user, &args, &message(&format!("<{id}@x>")));
    assert_eq!(code(&out), Some(status), "{}", support::describe(&out));
}

#[test]
fn without_a_terminal_a_failure_goes_to_syslog_by_default() {
    let syslogd = Syslogd::start();
    let user = User::new();
    // No logfile, no syslog, no terminal: the failure is not silent.
    run_with(&syslogd, &user, "hostname 127.0.0.1:{port}\n", "d1", 69);
    let lines = syslogd.lines(1);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let (prio, fields) = syslog_line(&lines[0]);
    assert_eq!(prio, "mail.err");
    assert!(
        fields.contains(&("messageid".into(), "<d1@x>".into())),
        "{fields:?}"
    );
    // `syslog off` says no, even for failures.
    run_with(
        &syslogd,
        &user,
        "syslog off\nhostname 127.0.0.1:{port}\n",
        "d2",
        69,
    );
    // A success is not logged by default; a later failure shows the
    // daemon was listening all along.
    let exim = Exim::start();
    let rc = format!("hostname localhost:{}\n", exim.port());
    run_with(&syslogd, &user, &rc, "d3", 0);
    run_with(&syslogd, &user, "hostname 127.0.0.1:{port}\n", "d4", 69);
    // A failure before any attempt (an identity the configuration makes
    // unusable: 78) is not silent either.
    run_with(
        &syslogd,
        &user,
        "hostname h.example:{port}\nusername u\n",
        "d5",
        78,
    );
    let lines = syslogd.lines(3);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[1].contains("messageid=<d4@x>"), "{lines:?}");
    let (prio, fields) = syslog_line(&lines[2]);
    assert_eq!(prio, "mail.err");
    assert!(
        fields.contains(&("exitcode".into(), "EX_CONFIG".into()))
            && fields.contains(&("recipients".into(), "bob@example.net".into())),
        "{fields:?}"
    );
    exim.wait_for_messages(1);
}
