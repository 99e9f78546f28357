//! The one runner of shell commands from the configuration: `preconnect`,
//! `postconnect` and `passwordeval` (bounded: the identity's `timeout` and
//! [`OUTPUT_LIMIT`] bytes of output kept, by [`run`]), and the MDA (by
//! [`run_fed`]: it reads the message on its standard input and has no time
//! limit). Both start the command with [`shell`]; nothing else in the
//! program starts a shell.
//!
//! A bounded command runs as `/bin/sh -c COMMAND` in a process group of its
//! own, with standard input on /dev/null and its output on pipes that we
//! read as it comes, so it never blocks on a full pipe and never fills our
//! memory:
//! - standard output: `passwordeval`'s first [`OUTPUT_LIMIT`] bytes are
//!   kept (the secret is the first line; it must end within them), the rest
//!   is read and thrown away; `preconnect`/`postconnect` write it to
//!   /dev/null (nothing of it is needed);
//! - standard error: passed on to ours as it comes (control characters
//!   escaped, so a command cannot drive the terminal), up to
//!   [`OUTPUT_LIMIT`] bytes, the rest read and thrown away with a note.
//!
//! The command is done when the shell exits: a process it left running
//! (`ssh -f` opening a tunnel, `sleep 100 &`) keeps running, but holds
//! nothing of ours (what is left in the pipes is read without waiting, then
//! the pipes are closed). When the timeout expires first, the whole process
//! group gets SIGTERM, then SIGKILL 200 ms later, and the failure says which
//! command it was (status 75). While it runs, a command started from an
//! interactive terminal is given the terminal's foreground (as a shell does
//! for a job), so that a command asking for a passphrase on /dev/tty
//! (`ssh`, `bw`, `read </dev/tty`) can read it; the terminal is taken back
//! when it is done.

use crate::exit::{Failure, CONFIG, SOFTWARE, TEMPFAIL};
use nix::sys::signal::{killpg, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The most of a command's output that is kept (standard output) or passed
/// on (standard error).
pub const OUTPUT_LIMIT: usize = 64 * 1024;

/// How long a command has between SIGTERM and SIGKILL once its time is up.
const GRACE: Duration = Duration::from_millis(200);

/// `/bin/sh -c COMMAND`: how every command of the configuration is run.
pub(crate) fn shell(command: &str) -> Command {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg(command);
    cmd
}

/// What a bounded command left when its shell exited.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    /// The first [`OUTPUT_LIMIT`] bytes of its standard output (when kept).
    pub stdout: Vec<u8>,
    /// It printed more than that to its standard output.
    pub truncated: bool,
}

/// Why a bounded command did not finish.
#[derive(Debug)]
pub enum Unfinished {
    /// It could not be started.
    Spawn(io::Error),
    /// Reading its output or waiting for it failed.
    Io(io::Error),
    /// It was still running when its time was up (and has been killed).
    TimedOut,
}

/// Run `command` for at most `timeout`, keeping its standard output when
/// `keep_stdout` (else it goes to /dev/null).
pub fn run(command: &str, timeout: Duration, keep_stdout: bool) -> Result<Finished, Unfinished> {
    let deadline = Instant::now() + timeout;
    let mut cmd = shell(command);
    cmd.stdin(Stdio::null())
        .stdout(if keep_stdout {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn().map_err(Unfinished::Spawn)?;
    let pid = Pid::from_raw(child.id() as i32);
    let terminal = Foreground::hand_to(pid);
    let output = read_until_exit(&mut child, pid, deadline);
    let result = match output {
        Ok(out) => child
            .wait()
            .map(|status| Finished {
                status,
                stdout: out.kept,
                truncated: out.truncated,
            })
            .map_err(Unfinished::Io),
        Err(trouble) => {
            stop(&mut child, pid);
            Err(trouble)
        }
    };
    drop(terminal);
    result
}

/// What a command fed on its standard input left when it exited.
#[derive(Debug)]
pub struct Fed {
    pub status: ExitStatus,
    /// Writing its standard input failed (other than by its closing the
    /// pipe early, which only its exit status judges).
    pub write_error: Option<io::Error>,
}

/// Why a fed command did not run to its end.
#[derive(Debug)]
pub enum FedUnfinished {
    /// It could not be started.
    Spawn(io::Error),
    /// Waiting for it failed.
    Wait(io::Error),
}

/// Run `command` with `feed` writing its standard input (the MDA reading
/// the message), until it exits. Unlike [`run`] it has no time limit (it
/// may take as long as the message takes to read) and stays in our own
/// process group (Ctrl-C reaches it with us); its standard output and
/// error are ours.
pub fn run_fed(
    command: &str,
    feed: impl FnOnce(&mut ChildStdin) -> io::Result<()>,
) -> Result<Fed, FedUnfinished> {
    let mut child = shell(command)
        .stdin(Stdio::piped())
        .spawn()
        .map_err(FedUnfinished::Spawn)?;
    let mut write_error = None;
    if let Some(mut stdin) = child.stdin.take() {
        match feed(&mut stdin) {
            Ok(_) => {}
            // The command stopped reading; its exit status tells whether it
            // minded.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
            Err(e) => write_error = Some(e),
        }
        drop(stdin);
    }
    let status = child.wait().map_err(FedUnfinished::Wait)?;
    Ok(Fed {
        status,
        write_error,
    })
}

/// KeptStdout gathered from a command.
#[derive(Default)]
struct KeptStdout {
    kept: Vec<u8>,
    truncated: bool,
}

/// Read the command's pipes until its shell exits or the deadline passes.
/// The shell is not reaped here (so that its process group stays ours
/// until we are done with it).
fn read_until_exit(
    child: &mut Child,
    pid: Pid,
    deadline: Instant,
) -> Result<KeptStdout, Unfinished> {
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    for fd in stdout
        .as_ref()
        .map(AsFd::as_fd)
        .into_iter()
        .chain(stderr.as_ref().map(AsFd::as_fd))
    {
        set_nonblocking(fd).map_err(Unfinished::Io)?;
    }
    let exit_fd = pidfd_open(pid);
    let mut out = KeptStdout::default();
    let mut errors = StderrRelay::default();
    let mut buf = vec![0u8; 64 * 1024];
    // Without a pidfd the exit is noticed by looking, more rarely as time
    // goes on.
    let mut tick = Duration::from_millis(1);
    loop {
        if has_exited(pid).map_err(Unfinished::Io)? {
            // What it wrote before it exited is in the pipes; a process it
            // left behind may write on, so read what is there and no more.
            for _ in 0..64 {
                let more_out = drain_some(&mut stdout, &mut buf, |b| out.keep(b))?;
                let more_err = drain_some(&mut stderr, &mut buf, |b| errors.pass(b))?;
                if !more_out && !more_err {
                    break;
                }
            }
            errors.finish();
            return Ok(out);
        }
        let now = Instant::now();
        if now >= deadline {
            errors.finish();
            return Err(Unfinished::TimedOut);
        }
        let mut wait = deadline - now;
        if exit_fd.is_none() {
            wait = wait.min(tick);
            tick = (tick * 2).min(Duration::from_millis(20));
        }
        let fds: Vec<BorrowedFd<'_>> = [
            stdout.as_ref().map(AsFd::as_fd),
            stderr.as_ref().map(AsFd::as_fd),
            exit_fd.as_ref().map(AsFd::as_fd),
        ]
        .into_iter()
        .flatten()
        .collect();
        let ready = poll_readable(&fds, wait).map_err(Unfinished::Io)?;
        if ready {
            drain_some(&mut stdout, &mut buf, |b| out.keep(b))?;
            drain_some(&mut stderr, &mut buf, |b| errors.pass(b))?;
        }
    }
}

impl KeptStdout {
    fn keep(&mut self, bytes: &[u8]) {
        let room = OUTPUT_LIMIT - self.kept.len();
        if bytes.len() > room {
            self.truncated = true;
        }
        self.kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

/// One non-blocking read from `pipe` into `sink`; the pipe is closed at its
/// end. True when something was read.
fn drain_some<R: Read>(
    pipe: &mut Option<R>,
    buf: &mut [u8],
    mut sink: impl FnMut(&[u8]),
) -> Result<bool, Unfinished> {
    let Some(r) = pipe else {
        return Ok(false);
    };
    loop {
        match r.read(buf) {
            Ok(0) => {
                *pipe = None;
                return Ok(false);
            }
            Ok(n) => {
                sink(&buf[..n]);
                return Ok(true);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(Unfinished::Io(e)),
        }
    }
}

fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = fcntl(fd, FcntlArg::F_GETFL).map_err(io::Error::from)?;
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
    fcntl(fd, FcntlArg::F_SETFL(flags)).map_err(io::Error::from)?;
    Ok(())
}

/// Wait until one of `fds` is readable (or hung up), at most `wait`.
fn poll_readable(fds: &[BorrowedFd<'_>], wait: Duration) -> io::Result<bool> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut set: Vec<PollFd<'_>> = fds
        .iter()
        .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
        .collect();
    // Round up, so that a wait under a millisecond does not spin.
    let ms = u32::try_from(wait.as_millis().saturating_add(1)).unwrap_or(u32::MAX);
    let timeout = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
    match poll(&mut set, timeout) {
        Ok(n) => Ok(n > 0),
        Err(nix::errno::Errno::EINTR) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// True once the process has exited (it stays a zombie until reaped).
fn has_exited(pid: Pid) -> io::Result<bool> {
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    loop {
        match waitid(Id::Pid(pid), flags) {
            Ok(WaitStatus::StillAlive) => return Ok(false),
            Ok(_) => return Ok(true),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// A descriptor that becomes readable when `pid` exits (Linux 5.3 and
/// later); `None` elsewhere.
fn pidfd_open(pid: Pid) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor
    // (close-on-exec) or -1; nothing else is touched.
    let fd = unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_open, pid.as_raw(), 0) };
    let fd = i32::try_from(fd).ok().filter(|&fd| fd >= 0)?;
    // SAFETY: the descriptor was just created and is owned by no one else.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Time is up: SIGTERM to the whole group, SIGKILL after [`GRACE`], then
/// reap the shell. The shell is reaped last, so the group id cannot have
/// been given to anyone else while we signal it.
fn stop(child: &mut Child, pid: Pid) {
    let _ = killpg(pid, Signal::SIGTERM);
    // A member stopped (SIGTTIN) sees the SIGTERM only once continued.
    let _ = killpg(pid, Signal::SIGCONT);
    let until = Instant::now() + GRACE;
    while Instant::now() < until && !has_exited(pid).unwrap_or(true) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = killpg(pid, Signal::SIGKILL);
    let _ = child.wait();
}

/// The terminal's foreground, lent to a command's process group while it
/// runs (when we have it: started from an interactive shell, in the
/// foreground). SIGTTOU stays blocked meanwhile, so that we may write to
/// the terminal and take it back from the background.
struct Foreground {
    tty: std::fs::File,
    ours: Pid,
    mask: SigSet,
}

impl Foreground {
    fn hand_to(group: Pid) -> Option<Foreground> {
        use nix::unistd::{getpgrp, tcgetpgrp, tcsetpgrp};
        use std::os::unix::fs::OpenOptionsExt;
        let tty = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::libc::O_NOCTTY)
            .open("/dev/tty")
            .ok()?;
        let ours = getpgrp();
        if tcgetpgrp(&tty).ok()? != ours {
            return None;
        }
        let mut ttou = SigSet::empty();
        ttou.add(Signal::SIGTTOU);
        let mut mask = SigSet::empty();
        nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&ttou), Some(&mut mask))
            .ok()?;
        let lent = Foreground { tty, ours, mask };
        tcsetpgrp(&lent.tty, group).ok()?;
        // A command that read the terminal before it was its own stopped
        // (SIGTTIN); go on.
        let _ = killpg(group, Signal::SIGCONT);
        Some(lent)
    }
}

impl Drop for Foreground {
    fn drop(&mut self) {
        let _ = nix::unistd::tcsetpgrp(&self.tty, self.ours);
        let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&self.mask), None);
    }
}

/// A command's standard error, passed on to ours: control characters
/// escaped (`\x1b`), at most [`OUTPUT_LIMIT`] bytes, then a note.
#[derive(Default)]
struct StderrRelay {
    passed: usize,
    dropped: bool,
    /// The start of a UTF-8 sequence cut by the read.
    partial: Vec<u8>,
}

impl StderrRelay {
    fn pass(&mut self, bytes: &[u8]) {
        let room = OUTPUT_LIMIT.saturating_sub(self.passed);
        if bytes.len() > room {
            self.dropped = true;
        }
        let bytes = &bytes[..bytes.len().min(room)];
        self.passed += bytes.len();
        let mut text = std::mem::take(&mut self.partial);
        text.extend_from_slice(bytes);
        // Keep an incomplete sequence at the end for the next read.
        let cut = match std::str::from_utf8(&text) {
            Ok(_) => text.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => text.len(),
        };
        self.partial = text.split_off(cut);
        if !text.is_empty() {
            let _ = io::stderr().write_all(escape_controls(&text).as_bytes());
        }
    }

    fn finish(&mut self) {
        let rest = std::mem::take(&mut self.partial);
        if !rest.is_empty() {
            let _ = io::stderr().write_all(escape_controls(&rest).as_bytes());
        }
        if std::mem::take(&mut self.dropped) {
            let _ = writeln!(
                io::stderr(),
                "esmtp: (more than {} KiB of error output; the rest was not shown)",
                OUTPUT_LIMIT / 1024
            );
        }
    }
}

/// `bytes` as text for a terminal: invalid UTF-8 replaced, control
/// characters other than newline and tab written as `\xHH` (`\u{HHHH}` for
/// C1 controls).
fn escape_controls(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\t' => out.push(c),
            c if c.is_control() && (c as u32) < 0x80 => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// How a command ended, for a message.
fn how(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(s)) => format!("signal {s}"),
        (None, None) => status.to_string(),
    }
}

fn timed_out(what: &str, command: &str, timeout: Duration, after: &str) -> Failure {
    Failure::new(
        TEMPFAIL,
        format!(
            "the {what} command `{command}` did not finish within {} s (timeout) and was \
             stopped{after}",
            timeout.as_secs()
        ),
    )
}

/// Run a `preconnect` or `postconnect` command. `after` ends each message
/// (what it means for the mail, e.g. "; nothing was sent"). Its failure is
/// status 70 as in esmtp 1.2; running out of time 75.
pub fn run_hook(what: &str, command: &str, timeout: Duration, after: &str) -> Result<(), Failure> {
    match run(command, timeout, false) {
        Ok(f) if f.status.success() => Ok(()),
        Ok(f) => Err(Failure::new(
            SOFTWARE,
            format!(
                "the {what} command `{command}` failed with {}{after}",
                how(f.status)
            ),
        )),
        Err(Unfinished::TimedOut) => Err(timed_out(what, command, timeout, after)),
        Err(Unfinished::Spawn(e) | Unfinished::Io(e)) => Err(Failure::new(
            SOFTWARE,
            format!("cannot run the {what} command `{command}`: {e}{after}"),
        )),
    }
}

/// The secret a `passwordeval` command prints: its first line (without the
/// line end; a last line without one counts). The line must end within the
/// first [`OUTPUT_LIMIT`] bytes; what follows it, however long, is read and
/// thrown away. The command must succeed; running out of time is status
/// 75, anything else 78. No message ever quotes what it printed.
pub fn password_eval(command: &str, timeout: Duration) -> Result<Vec<u8>, Failure> {
    secret_eval("passwordeval", command, timeout)
}

/// [`password_eval`] for any setting that runs a command printing a
/// secret (`what` names it in messages: `oauth2_client_secret_eval`).
pub fn secret_eval(what: &str, command: &str, timeout: Duration) -> Result<Vec<u8>, Failure> {
    let f = match run(command, timeout, true) {
        Ok(f) => f,
        Err(Unfinished::TimedOut) => return Err(timed_out(what, command, timeout, "")),
        Err(Unfinished::Spawn(e) | Unfinished::Io(e)) => {
            return Err(Failure::new(
                CONFIG,
                format!("cannot run the {what} command `{command}`: {e}"),
            ))
        }
    };
    if !f.status.success() {
        return Err(Failure::new(
            CONFIG,
            format!(
                "the {what} command `{command}` failed with {}",
                how(f.status)
            ),
        ));
    }
    let line = match memchr::memchr(b'\n', &f.stdout) {
        Some(end) => &f.stdout[..end],
        None if f.truncated => {
            return Err(Failure::new(
                CONFIG,
                format!(
                    "the {what} command `{command}` printed no line end within its first {} KiB",
                    OUTPUT_LIMIT / 1024
                ),
            ))
        }
        None => &f.stdout[..],
    };
    if f.stdout.is_empty() {
        return Err(Failure::new(
            CONFIG,
            format!("the {what} command `{command}` printed nothing"),
        ));
    }
    Ok(line.strip_suffix(b"\r").unwrap_or(line).to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHORT: Duration = Duration::from_secs(20);

    #[test]
    fn the_first_line_is_the_secret() {
        assert_eq!(
            password_eval("printf 'pw\\nmore\\n'", SHORT).unwrap(),
            b"pw"
        );
        assert_eq!(password_eval("printf 'pw\\r\\n'", SHORT).unwrap(), b"pw");
        assert_eq!(password_eval("printf 'no end'", SHORT).unwrap(), b"no end");
        assert_eq!(password_eval("echo", SHORT).unwrap(), b"");
        let e = password_eval("true", SHORT).unwrap_err();
        assert_eq!(e.status, CONFIG);
        assert!(e.message.contains("printed nothing"), "{}", e.message);
        let e = password_eval("echo secret; exit 3", SHORT).unwrap_err();
        assert_eq!(e.status, CONFIG);
        assert!(e.message.contains("exit status 3"), "{}", e.message);
        assert!(!e.message.replace("echo secret", "").contains("secret"));
    }

    #[test]
    fn output_past_the_limit_is_read_and_thrown_away() {
        // The line ends within the limit: the rest does not matter.
        let s = password_eval("echo pw; head -c 3000000 /dev/zero", SHORT).unwrap();
        assert_eq!(s, b"pw");
        let e = password_eval("head -c 100000 /dev/zero; echo", SHORT).unwrap_err();
        assert!(e.message.contains("no line end within"), "{}", e.message);
        // A line of exactly the limit is fine.
        let cmd = format!("head -c {} /dev/zero | tr '\\0' x; echo", OUTPUT_LIMIT - 1);
        assert_eq!(password_eval(&cmd, SHORT).unwrap().len(), OUTPUT_LIMIT - 1);
        // preconnect output is not even read.
        run_hook("preconnect", "head -c 3000000 /dev/zero", SHORT, "").unwrap();
    }

    #[test]
    fn time_is_bounded_and_the_group_is_killed() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("survived");
        let t = Instant::now();
        let cmd = format!("(sleep 2; touch {}) & sleep 30", marker.display());
        let e = run_hook(
            "preconnect",
            &cmd,
            Duration::from_secs(1),
            "; nothing was sent",
        )
        .unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        assert_eq!(e.status, TEMPFAIL);
        assert!(
            e.message.contains("did not finish within 1 s"),
            "{}",
            e.message
        );
        assert!(e.message.ends_with("nothing was sent"), "{}", e.message);
        // The subshell in the group was killed with the shell.
        std::thread::sleep(Duration::from_millis(2500));
        assert!(!marker.exists());
    }

    #[test]
    fn a_process_left_running_does_not_hold_us() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        let t = Instant::now();
        let cmd = format!("sleep 30 & echo $! >> {}; echo pw", pids.display());
        assert_eq!(password_eval(&cmd, SHORT).unwrap(), b"pw");
        let cmd = format!("sleep 30 & echo $! >> {}", pids.display());
        run_hook("postconnect", &cmd, SHORT, "").unwrap();
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        let pids = std::fs::read_to_string(pids).unwrap();
        assert_eq!(pids.lines().count(), 2);
        for pid in pids.lines() {
            let pid = Pid::from_raw(pid.trim().parse().unwrap());
            // Still running (not ours to stop), until the test is done.
            nix::sys::signal::kill(pid, Signal::SIGKILL).unwrap();
        }
    }

    #[test]
    fn failures_say_which_command() {
        let e = run_hook("postconnect", "exit 4", SHORT, " (the mail was sent)").unwrap_err();
        assert_eq!(e.status, SOFTWARE);
        assert_eq!(
            e.message,
            "the postconnect command `exit 4` failed with exit status 4 (the mail was sent)"
        );
        let e = run_hook("preconnect", "kill -9 $$", SHORT, "").unwrap_err();
        assert!(e.message.contains("signal 9"), "{}", e.message);
    }

    #[test]
    fn terminal_controls_are_escaped() {
        assert_eq!(
            escape_controls(b"a\x1b[31mb\n\tc\x07"),
            "a\\x1b[31mb\n\tc\\x07"
        );
        assert_eq!(escape_controls("\u{9b}x é".as_bytes()), "\\u{9b}x é");
    }
}
