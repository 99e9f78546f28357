//! `passwordeval`, `preconnect` and `postconnect` bounded (issue 13 §8):
//! each may take the identity's `timeout` (then its process group is
//! killed and the run ends with 75, naming the command), at most 64 KiB of
//! its output is kept, a process it leaves running holds nothing of ours,
//! and a command started from a terminal can read it. All through the
//! built binary, against Exim (or nothing, where the command fails first).

use crate::support;

use crate::support::frontend::*;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};
use support::{Exim, PASSWORD, USER};

const MSG: &[u8] = b"From: sender@example.org\nTo: bob@example.net\nSubject: hooks\n\nbody\n";

/// `sendmail -C rc -f sender@example.org bob@example.net` with [`MSG`];
/// returns the output and how long it took.
fn send(env: &Env) -> (Output, Duration) {
    let t = Instant::now();
    let o = env.sendmail(&["-f", "sender@example.org", "bob@example.net"], MSG);
    (o, t.elapsed())
}

/// Kill what a test's command left running: the pids it wrote to `file`.
fn kill_listed(env: &Env, file: &str) {
    for pid in std::fs::read_to_string(env.path(file))
        .unwrap_or_default()
        .split_whitespace()
    {
        let _ = std::process::Command::new("kill").arg(pid).status();
    }
}

#[track_caller]
fn assert_about(elapsed: Duration, secs: u64) {
    assert!(
        elapsed >= Duration::from_secs(secs) - Duration::from_millis(100)
            && elapsed < Duration::from_secs(secs + 5),
        "took {elapsed:?}, expected about {secs} s"
    );
}

#[test]
fn a_passwordeval_that_sleeps_is_stopped_at_the_timeout() {
    let env = Env::new(&format!(
        "hostname 127.0.0.1:{}\nusername {USER}\npasswordeval \"sleep 30\"\ntimeout 2\n",
        support::free_port()
    ));
    let (o, elapsed) = send(&env);
    assert_status(&o, 75);
    assert_about(elapsed, 2);
    assert_one_line_error(
        &o,
        "the passwordeval command `sleep 30` did not finish within 2 s",
    );
}

#[test]
fn a_hanging_preconnect_is_stopped_and_nothing_is_sent() {
    for cmd in [
        "sleep 30",
        "exec sleep 30",
        "sleep 30 & wait",
        "trap '' TERM; sleep 30",
    ] {
        let env = Env::new(&format!(
            "hostname 127.0.0.1:{}\npreconnect \"{cmd}\"\ntimeout 2\n",
            support::free_port()
        ));
        let (o, elapsed) = send(&env);
        assert_status(&o, 75);
        assert_about(elapsed, 2);
        assert_one_line_error(&o, "the preconnect command");
        assert!(stderr(&o).contains("nothing was sent"), "{}", stderr(&o));
    }
}

#[test]
fn a_hanging_postconnect_is_stopped_after_the_mail_is_sent() {
    let exim = Exim::start();
    let env = Env::new(&format!(
        "hostname 127.0.0.1:{}\npostconnect \"sleep 30\"\ntimeout 2\n",
        exim.port()
    ));
    let (o, elapsed) = send(&env);
    assert_status(&o, 75);
    assert_about(elapsed, 2);
    assert_one_line_error(&o, "the postconnect command `sleep 30` did not finish");
    assert!(stderr(&o).contains("the mail was sent"), "{}", stderr(&o));
    assert_eq!(exim.accepted(), 1);
}

/// Peak RSS of the binary (KB), by /usr/bin/time: the test process's own
/// memory must not count (a child's ru_maxrss includes its parent's at
/// fork time).
fn send_measured(env: &Env) -> (Output, u64) {
    let rss = env.path("rss");
    let rc = env.rc().display().to_string();
    let o = run(
        env.command("/usr/bin/time")
            .args(["-f", "%M", "-o"])
            .arg(&rss)
            .args([
                BIN,
                "-C",
                &rc,
                "-f",
                "sender@example.org",
                "bob@example.net",
            ]),
        MSG,
    );
    // (time writes "Command exited with non-zero status N" first, then %M.)
    let kb = env
        .read("rss")
        .lines()
        .last()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    (o, kb)
}

#[test]
fn a_passwordeval_printing_300_mb_costs_no_memory_and_its_first_line_is_used() {
    let exim = Exim::start();
    let env = Env::new(&format!(
        "hostname 127.0.0.1:{}\nusername {USER}\n\
         passwordeval \"printf '%s\\\\n' '{PASSWORD}'; head -c 300000000 /dev/zero\"\n",
        exim.port()
    ));
    let (o, kb) = send_measured(&env);
    assert_status(&o, 0);
    assert!(kb < 16 * 1024, "peak RSS {kb} KB");
    assert_eq!(exim.accepted(), 1);
    assert!(
        exim.commands()
            .iter()
            .any(|c| c.contains(&format!("auth={USER}"))),
        "{:?}",
        exim.commands()
    );
    // Its output never shows: the secret is in no message.
    assert!(!stderr(&o).contains(PASSWORD) && !stdout(&o).contains(PASSWORD));
}

#[test]
fn a_passwordeval_with_no_line_end_in_its_first_64_kib_is_refused() {
    let env = Env::new(&format!(
        "hostname 127.0.0.1:{}\nusername {USER}\npasswordeval \"head -c 300000000 /dev/zero | tr '\\\\0' x\"\n",
        support::free_port()
    ));
    let (o, kb) = send_measured(&env);
    assert_status(&o, 78);
    assert_one_line_error(&o, "printed no line end within its first 64 KiB");
    assert!(kb < 16 * 1024, "peak RSS {kb} KB");
    assert!(!stderr(&o).contains("xxxx"), "{}", stderr(&o));
}

#[test]
fn a_failing_passwordeval_shows_its_error_but_never_its_output() {
    let env = Env::new(&format!(
        "hostname 127.0.0.1:{}\nusername {USER}\n\
         passwordeval \"echo 'SECRET-ON-STDOUT'; printf 'gpg: decryption failed\\\\033[31m\\\\n' >&2; exit 2\"\n",
        support::free_port()
    ));
    let (o, _) = send(&env);
    assert_status(&o, 78);
    let err = stderr(&o);
    assert!(err.contains("gpg: decryption failed\\x1b[31m\n"), "{err:?}");
    assert!(err.contains("failed with exit status 2"), "{err}");
    assert!(
        !err.replace("echo 'SECRET-ON-STDOUT'", "")
            .contains("SECRET-ON-STDOUT"),
        "{err}"
    );
    assert!(!stdout(&o).contains("SECRET"));
}

#[test]
fn a_preconnect_writing_megabytes_is_not_held_up_and_costs_no_memory() {
    let exim = Exim::start();
    let env = Env::new(&format!(
        "hostname 127.0.0.1:{}\n\
         preconnect \"head -c 50000000 /dev/zero; head -c 50000000 /dev/zero | tr '\\\\0' e >&2\"\n\
         postconnect \"head -c 50000000 /dev/zero >&2; head -c 50000000 /dev/zero\"\n\
         timeout 30\n",
        exim.port()
    ));
    let (o, kb) = send_measured(&env);
    assert_status(&o, 0);
    assert_eq!(exim.accepted(), 1);
    assert!(kb < 16 * 1024, "peak RSS {kb} KB");
    // 64 KiB of each command's error output is passed on, then a note.
    let err = stderr(&o);
    // (Escaped: a NUL byte shows as 4 characters.)
    assert!(
        err.len() < 2 * 4 * 64 * 1024 + 1024,
        "{} bytes on stderr",
        err.len()
    );
    assert_eq!(
        err.matches("of error output; the rest was not shown")
            .count(),
        2
    );
    assert!(err.contains("\\x00\\x00"), "NUL bytes are escaped");
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
}

#[test]
fn a_process_left_running_by_a_command_does_not_hold_us() {
    let exim = Exim::start();
    let env = Env::new("");
    let pids = env.path("pids").display().to_string();
    env.write(
        "esmtprc",
        &format!(
            "hostname 127.0.0.1:{}\nusername {USER}\n\
             passwordeval \"sleep 100 & echo $! >> {pids}; echo '{PASSWORD}'\"\n\
             preconnect \"sleep 100 & echo $! >> {pids}\"\n\
             postconnect \"sleep 100 & echo $! >> {pids}\"\n",
            exim.port()
        ),
        0o600,
    );
    // Standard output and error are pipes read to their end, as a mail
    // client reading our messages does: a left process must not hold them.
    let (o, elapsed) = send(&env);
    let left = env.read("pids");
    kill_listed(&env, "pids");
    assert_status(&o, 0);
    assert_eq!(left.lines().count(), 3, "{left}");
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
    assert_eq!(exim.accepted(), 1);
}

/// From an interactive terminal (a pty made by script(1)), a passwordeval
/// that reads the passphrase from /dev/tty gets it: the command has the
/// terminal's foreground while it runs (else it would stop on SIGTTIN until
/// the timeout).
#[test]
fn a_passwordeval_can_ask_on_the_terminal() {
    let exim = Exim::start();
    let env = Env::new(&format!(
        "hostname 127.0.0.1:{}\nusername {USER}\n\
         passwordeval 'printf \"Passphrase: \" >/dev/tty; read -r p </dev/tty; echo \"$p\"'\n\
         timeout 20\n",
        exim.port()
    ));
    std::fs::write(env.path("msg.eml"), MSG).unwrap();
    let inner = format!(
        "{BIN} -C {} -f sender@example.org bob@example.net < {}; echo \"status=$?\"",
        env.rc().display(),
        env.path("msg.eml").display()
    );
    let t = Instant::now();
    let o = run(
        env.command("script")
            .args(["-q", "-e", "-c", &inner, "/dev/null"])
            .stderr(Stdio::piped()),
        format!("{PASSWORD}\n").as_bytes(),
    );
    let elapsed = t.elapsed();
    let out = stdout(&o);
    assert!(out.contains("Passphrase: "), "{out}");
    assert!(out.contains("status=0"), "{out}");
    assert!(elapsed < Duration::from_secs(15), "took {elapsed:?}");
    assert_eq!(exim.accepted(), 1);
}
