//! The delivery log (`logfile`, `syslog`): one line per delivery attempt
//! (an SMTP transaction or an MDA delivery, each message of a queue flush
//! included) in msmtp's `key=value` style.
//!
//! - The log file is opened `O_APPEND|O_CREAT|O_NOFOLLOW|O_CLOEXEC` (0600
//!   when created) and each line is one `write(2)`, so lines of esmtp
//!   processes logging at once never interleave. A log that cannot be
//!   written is a warning on stderr, never a failed delivery.
//! - Syslog is one datagram to `/dev/log` in the RFC 3164 form
//!   `<PRI>esmtp[PID]: line` (syslog adds the time); failing to reach it is
//!   silent, as syslog(3) is.
//! - With neither set, a failed attempt of a process without a terminal
//!   (cron, the background flusher, the systemd flush timer) goes to syslog
//!   (LOG_MAIL), so that failures are never silent.
//! - Values come from outside (server replies, a Message-ID, addresses):
//!   each is written bare only when it holds no blank, quote, backslash or
//!   control character, else quoted with those escaped, and bounded in
//!   length, so no value can end the line or fake a field. No secret is
//!   ever part of a line: server text is masked by the session before it
//!   gets here, and AUTH lines are never logged.

use super::{Envelope, MessageOptions};
use crate::exit::{self, Failure};
use crate::plan::{AuthMech, Facility, Identity, LogSettings, Octets, Relay, Syslog};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// What the SMTP session of one attempt did, as far as it got.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attempt {
    /// The connection was encrypted (STARTTLS or implicit TLS).
    pub tls: bool,
    /// The mechanism of a successful AUTH.
    pub auth: Option<AuthMech>,
    /// The server's reply that settled the transaction (the reply to the
    /// end of data, or the refusal), as shown: secret masked, controls
    /// escaped, bounded.
    pub reply: Option<(u16, String)>,
}

/// How the message went.
pub enum Via<'a> {
    Smtp {
        relay: &'a Relay,
        user: Option<&'a Octets>,
        attempt: &'a Attempt,
    },
    /// The MDA command template, as the configuration writes it.
    Mda { command: &'a str },
}

/// One delivery attempt.
pub struct Entry<'a> {
    /// The identity's address (`None`: the unnamed section).
    pub identity: Option<&'a str>,
    pub queue_id: Option<&'a str>,
    pub via: Via<'a>,
    pub from: &'a str,
    pub recipients: &'a [String],
    pub size: Option<u64>,
    pub message_id: Option<&'a str>,
    pub duration: Duration,
    pub result: Result<(), &'a Failure>,
}

/// Most bytes of one value in a line (server text is already cut at 1 KiB).
const VALUE_CAP: usize = 1024;
/// Most bytes of the recipient list.
const RECIPIENTS_CAP: usize = 4096;

/// The message of an attempt, as the log names it.
pub struct Message<'a> {
    pub sender: &'a str,
    pub recipients: &'a [String],
    pub size: Option<u64>,
    pub message_id: Option<&'a str>,
    pub queue_id: Option<&'a str>,
}

impl<'a> Message<'a> {
    /// A message sent now (not from the queue): its envelope, and its
    /// size and Message-ID from `options`.
    pub fn sent(envelope: &'a Envelope, options: &'a MessageOptions) -> Message<'a> {
        Message {
            sender: &envelope.sender,
            recipients: &envelope.recipients,
            size: options.size,
            message_id: options.message_id.as_deref(),
            queue_id: None,
        }
    }
}

/// Log an attempt at `message` by `identity` (with the file's global
/// settings `global`), how it went (`via`), the time since `started`.
/// Nothing is done (not even the settings looked up) for a success when
/// no log is set.
pub fn attempt(
    global: &LogSettings,
    identity: &Identity,
    message: &Message<'_>,
    via: Via<'_>,
    started: Instant,
    result: Result<(), &Failure>,
) {
    if result.is_ok() && identity.log.is_none() && global.is_empty() {
        return;
    }
    let entry = Entry {
        identity: identity.address.as_deref(),
        queue_id: message.queue_id,
        via,
        from: message.sender,
        recipients: message.recipients,
        size: message.size,
        message_id: message.message_id,
        duration: started.elapsed(),
        result,
    };
    record(&LogSettings::of(global, identity), &entry);
}

/// How `identity`'s SMTP attempt went, as [`attempt`] takes it.
pub fn smtp<'a>(identity: &'a Identity, attempt: &'a Attempt) -> Via<'a> {
    Via::Smtp {
        relay: &identity.relay,
        user: identity.username.as_ref(),
        attempt,
    }
}

/// A failed attempt has been logged by this process.
static FAILURE_LOGGED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A submission failed before any attempt was logged (a configuration
/// error, a message that cannot be sent, a failure the log could not
/// see): without a terminal to show it on, it goes to syslog (LOG_MAIL),
/// so that a failure is never silent.
pub fn unattempted(f: &Failure, sender: &str, recipients: &[String]) {
    use std::sync::atomic::Ordering;
    if FAILURE_LOGGED.load(Ordering::Relaxed) || has_terminal() {
        return;
    }
    let mut line = String::new();
    field(
        &mut line,
        "from",
        if sender.is_empty() { "<>" } else { sender },
    );
    field(&mut line, "recipients", &self::recipients(recipients));
    quoted(&mut line, "errormsg", &f.message);
    field(&mut line, "exitcode", exitcode_name(f.status));
    to_syslog(Facility::Mail, true, &line);
}

/// Log one attempt where `settings` say; with none, a failure of a process
/// without a terminal goes to syslog.
pub fn record(settings: &LogSettings, entry: &Entry<'_>) {
    if entry.result.is_err() {
        FAILURE_LOGGED.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let syslog = match settings.syslog {
        Some(Syslog::On(f)) => Some(f),
        Some(Syslog::Off) => None,
        None if settings.file.is_none() && entry.result.is_err() && !has_terminal() => {
            Some(Facility::Mail)
        }
        None => None,
    };
    if settings.file.is_none() && syslog.is_none() {
        return;
    }
    let line = format_line(entry);
    if let Some(f) = syslog {
        to_syslog(f, entry.result.is_err(), &line);
    }
    if let Some(path) = &settings.file {
        if let Err(e) = to_file(path, &line) {
            warn_once(path, &e);
        }
    }
}

/// Someone is there to read a failure on the terminal.
fn has_terminal() -> bool {
    std::io::stdin().is_terminal() || std::io::stderr().is_terminal()
}

/// The line without the time, as msmtp's `msmtp_get_log_info` orders its
/// keys (host, tls, auth, user, from, recipients, mailsize, smtpstatus,
/// smtpmsg, errormsg, exitcode), with ours before `exitcode`.
pub fn format_line(e: &Entry<'_>) -> String {
    let mut out = String::with_capacity(256);
    match &e.via {
        Via::Smtp {
            relay,
            user,
            attempt,
        } => {
            field(&mut out, "host", &relay.host);
            field(&mut out, "port", &relay.port.to_string());
            field(&mut out, "tls", if attempt.tls { "on" } else { "off" });
            field(
                &mut out,
                "auth",
                if attempt.auth.is_some() { "on" } else { "off" },
            );
            if let Some(m) = attempt.auth {
                field(&mut out, "authmech", m.sasl_name());
                if let Some(u) = user {
                    field(&mut out, "user", &u.to_string());
                }
            }
        }
        Via::Mda { command } => field(&mut out, "mda", command),
    }
    field(
        &mut out,
        "from",
        if e.from.is_empty() { "<>" } else { e.from },
    );
    field(&mut out, "recipients", &recipients(e.recipients));
    if let Some(size) = e.size {
        field(&mut out, "mailsize", &size.to_string());
    }
    if let Via::Smtp { attempt, .. } = &e.via {
        if let Some((code, text)) = &attempt.reply {
            field(&mut out, "smtpstatus", &code.to_string());
            quoted(&mut out, "smtpmsg", text);
        }
    }
    if let Err(f) = &e.result {
        quoted(&mut out, "errormsg", &f.message);
    }
    field(&mut out, "identity", e.identity.unwrap_or("<unnamed>"));
    if let Some(id) = e.queue_id {
        field(&mut out, "queueid", id);
    }
    if let Some(id) = e.message_id {
        field(&mut out, "messageid", id);
    }
    field(
        &mut out,
        "duration",
        &format!("{:.3}s", e.duration.as_secs_f64()),
    );
    let status = match &e.result {
        Ok(()) => exit::OK,
        Err(f) => f.status,
    };
    field(&mut out, "exitcode", exitcode_name(status));
    out
}

/// `a,b,c`, cut at [`RECIPIENTS_CAP`] with the number left out.
fn recipients(list: &[String]) -> String {
    let mut out = String::new();
    for (i, r) in list.iter().enumerate() {
        if out.len() + r.len() > RECIPIENTS_CAP {
            out.push_str(&format!(",...({} more)", list.len() - i));
            break;
        }
        if i > 0 {
            out.push(',');
        }
        out.push_str(r);
    }
    out
}

/// Most bytes of the value of `key`.
fn cap(key: &str) -> usize {
    if key == "recipients" {
        // Cut by [`recipients`] at an address, with the count left out.
        RECIPIENTS_CAP + 64
    } else {
        VALUE_CAP
    }
}

/// ` key=value`: bare when the value is safe so, else quoted.
fn field(out: &mut String, key: &str, value: &str) {
    let bare = !value.is_empty()
        && value.len() <= cap(key)
        && !value
            .chars()
            .any(|c| c == ' ' || c == '\'' || c == '\\' || unsafe_char(c));
    if bare {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(key);
        out.push('=');
        out.push_str(value);
    } else {
        quoted(out, key, value);
    }
}

/// A character that could end a line or hide text in a terminal or a log
/// viewer: C0, DEL, C1, and the Unicode line and paragraph separators.
fn unsafe_char(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// ` key='value'` with `\`, `'` and unsafe characters escaped, at most
/// [`cap`] bytes of the value.
fn quoted(out: &mut String, key: &str, value: &str) {
    if !out.is_empty() {
        out.push(' ');
    }
    out.push_str(key);
    out.push_str("='");
    let mut cut = value.len().min(cap(key));
    while !value.is_char_boundary(cut) {
        cut -= 1;
    }
    for c in value[..cut].chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if unsafe_char(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    if cut < value.len() {
        out.push_str("...");
    }
    out.push('\'');
}

/// sysexits.h's name of a status, as msmtp logs it.
pub fn exitcode_name(status: u8) -> &'static str {
    match status {
        exit::OK => "EX_OK",
        exit::USAGE => "EX_USAGE",
        exit::DATAERR => "EX_DATAERR",
        exit::NOINPUT => "EX_NOINPUT",
        exit::NOUSER => "EX_NOUSER",
        68 => "EX_NOHOST",
        exit::UNAVAILABLE => "EX_UNAVAILABLE",
        exit::SOFTWARE => "EX_SOFTWARE",
        exit::OSERR => "EX_OSERR",
        exit::OSFILE => "EX_OSFILE",
        exit::CANTCREAT => "EX_CANTCREAT",
        exit::IOERR => "EX_IOERR",
        exit::TEMPFAIL => "EX_TEMPFAIL",
        exit::PROTOCOL => "EX_PROTOCOL",
        exit::NOPERM => "EX_NOPERM",
        exit::CONFIG => "EX_CONFIG",
        _ => "EX_SOFTWARE",
    }
}

/// Append `line` with msmtp's time stamp (`%b %d %H:%M:%S`, local time) to
/// the file `path` (`~/` expanded; `-` is stderr), in one write.
fn to_file(path: &str, line: &str) -> std::io::Result<()> {
    let stamped = format!("{} {line}\n", chrono::Local::now().format("%b %d %H:%M:%S"));
    if path == "-" {
        return one_write(&mut std::io::stderr().lock(), stamped.as_bytes());
    }
    let path = match path.strip_prefix("~/") {
        Some(rest) => dirs::home_dir()
            .ok_or_else(|| std::io::Error::other("no home directory for ~/"))?
            .join(rest),
        None => std::path::PathBuf::from(path),
    };
    let mut file = open_log(&path)?;
    one_write(&mut file, stamped.as_bytes())
}

/// Open the log for appending, never through a link at its last component,
/// never blocking on a FIFO; only a regular file is written.
fn open_log(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use nix::fcntl::OFlag;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags((OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).bits())
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(nix::errno::Errno::ELOOP as i32) {
                std::io::Error::other("it is a symbolic link, which esmtp does not follow")
            } else {
                e
            }
        })?;
    let kind = file.metadata()?.file_type();
    if !kind.is_file() && !kind.is_char_device() {
        return Err(std::io::Error::other("it is not a regular file"));
    }
    Ok(file)
}

/// The whole line in one `write(2)` (a second write could land after
/// another process's line): a short write is an error.
fn one_write(out: &mut dyn Write, bytes: &[u8]) -> std::io::Result<()> {
    let n = out.write(bytes)?;
    if n < bytes.len() {
        return Err(std::io::Error::other(format!(
            "only {n} of {} bytes written (disk full?)",
            bytes.len()
        )));
    }
    Ok(())
}

/// `esmtp: warning: cannot write the delivery log ...`, once per process
/// (a flush logs many messages).
fn warn_once(path: &str, e: &std::io::Error) {
    use std::sync::atomic::{AtomicBool, Ordering};
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        let _ = writeln!(
            std::io::stderr(),
            "esmtp: warning: cannot write the delivery log {path}: {e} (the delivery itself is not affected)"
        );
    }
}

/// Longest line sent to syslog (rsyslog's default limit is 8 KiB).
const SYSLOG_CAP: usize = 7 * 1024;

/// One datagram to `/dev/log`: `<PRI>esmtp[PID]: line`, LOG_ERR for a
/// failure and LOG_INFO for a success (as msmtp). Silent on failure.
fn to_syslog(facility: Facility, error: bool, line: &str) {
    let severity: u8 = if error { 3 } else { 6 };
    let mut msg = format!(
        "<{}>esmtp[{}]: ",
        facility.code() | severity,
        std::process::id()
    );
    let mut cut = line.len().min(SYSLOG_CAP);
    while !line.is_char_boundary(cut) {
        cut -= 1;
    }
    msg.push_str(&line[..cut]);
    let Ok(sock) = std::os::unix::net::UnixDatagram::unbound() else {
        return;
    };
    // A syslog daemon that does not read must not hold a delivery.
    let _ = sock.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = sock.send_to(msg.as_bytes(), "/dev/log");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(
        attempt: &'a Attempt,
        relay: &'a Relay,
        result: Result<(), &'a Failure>,
    ) -> Entry<'a> {
        Entry {
            identity: Some("me@example.org"),
            queue_id: None,
            via: Via::Smtp {
                relay,
                user: None,
                attempt,
            },
            from: "me@example.org",
            recipients: &[],
            size: Some(12),
            message_id: Some("<a@b>"),
            duration: Duration::from_millis(1500),
            result,
        }
    }

    #[test]
    fn a_success_in_msmtp_style() {
        let relay = Relay {
            host: "smtp.example.org".into(),
            port: 587,
            explicit: true,
        };
        let attempt = Attempt {
            tls: true,
            auth: Some(AuthMech::Plain),
            reply: Some((250, "250 2.0.0 Ok: queued as X".into())),
        };
        let rcpts = ["a@x".to_string(), "b@y".to_string()];
        let user = Octets::from("me");
        let mut e = entry(&attempt, &relay, Ok(()));
        e.recipients = &rcpts;
        e.via = Via::Smtp {
            relay: &relay,
            user: Some(&user),
            attempt: &attempt,
        };
        assert_eq!(
            format_line(&e),
            "host=smtp.example.org port=587 tls=on auth=on authmech=PLAIN user=me \
             from=me@example.org recipients=a@x,b@y mailsize=12 smtpstatus=250 \
             smtpmsg='250 2.0.0 Ok: queued as X' identity=me@example.org \
             messageid=<a@b> duration=1.500s exitcode=EX_OK"
        );
    }

    #[test]
    fn hostile_values_cannot_end_the_line_or_fake_a_field() {
        let relay = Relay::default();
        let attempt = Attempt {
            reply: Some((550, "550 no\r\nexitcode=EX_OK ' x\u{85}\u{2028}\\".into())),
            ..Attempt::default()
        };
        let f = Failure::new(exit::NOUSER, "refused\nfake=1");
        let mut e = entry(&attempt, &relay, Err(&f));
        e.message_id = Some("<x y='1'\n>");
        let line = format_line(&e);
        assert!(!line.chars().any(unsafe_char), "{line}");
        assert!(
            line.contains("smtpmsg='550 no\\r\\nexitcode=EX_OK \\' x\\u{85}\\u{2028}\\\\'"),
            "{line}"
        );
        assert!(line.contains("messageid='<x y=\\'1\\'\\n>'"), "{line}");
        assert!(line.ends_with(" exitcode=EX_NOUSER"), "{line}");
        assert_eq!(line.matches("exitcode=").count(), 2, "{line}");
        let long = "x".repeat(10_000);
        let mut e = entry(&attempt, &relay, Ok(()));
        e.message_id = Some(&long);
        assert!(format_line(&e).len() < 3000);
    }

    #[test]
    fn recipients_are_bounded() {
        let many: Vec<String> = (0..2000).map(|i| format!("user{i}@example.org")).collect();
        let r = recipients(&many);
        assert!(
            r.len() < RECIPIENTS_CAP + 30 && r.ends_with("more)"),
            "{}",
            r.len()
        );
    }
}
