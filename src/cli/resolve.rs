//! The high step: from what was typed ([`Typed`]) to what the program will
//! do ([`Action`]): the mode, the session options, and the submission with
//! its sender, recipients, DSN and body type checked.

use super::flags;
use super::typed::Typed;
use super::Action;
use crate::exit::Failure;
use crate::mail_params::{BodyType, Notify, Ret};
use crate::message::Mailbox;
use crate::submit::Request;
use crate::transport::{Dsn, SessionOptions};
use std::path::PathBuf;

fn text(m: &dyn Typed, id: &str, what: &str) -> Result<Option<String>, Failure> {
    match m.value(id) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(|s| Some(s.to_string()))
            .ok_or_else(|| Failure::usage(format!("{what} is not valid UTF-8"))),
    }
}

fn path(m: &dyn Typed, id: &str) -> Option<PathBuf> {
    m.value(id).map(PathBuf::from)
}

/// The high step: from what was typed to what to do.
pub fn resolve(name: &str, m: &dyn Typed) -> Result<Action, Failure> {
    let config = path(m, flags::CONFIG);
    let session = SessionOptions {
        verbose: m.flag(flags::VERBOSE),
        transcript: path(m, flags::TRANSCRIPT),
    };
    let mut mode = match name {
        "mailq" => Mode::List,
        "newaliases" => Mode::Nothing,
        "deliver" => Mode::Flush,
        _ => Mode::Submit,
    };
    if let Some(b) = text(m, flags::MODE, "the -b mode")? {
        mode = match b.as_str() {
            "m" => Mode::Submit,
            "p" => Mode::List,
            "i" => Mode::Nothing,
            _ => {
                return Err(
                    match flags::UNSUPPORTED_MODES.iter().find(|(k, _)| *k == b) {
                        Some((k, what)) => {
                            Failure::usage(format!("-b{k} ({what}) is not supported by esmtp"))
                        }
                        None => Failure::usage(format!("unknown mode -b{}", printable(&b))),
                    },
                )
            }
        };
    }
    if m.flag(flags::INIT_ALIASES) {
        mode = Mode::Nothing;
    }
    if m.given(flags::QUEUE_RUN) {
        mode = Mode::Flush;
    }
    match mode {
        Mode::Nothing => return Ok(Action::CheckAliases { config }),
        Mode::List => return Ok(Action::ListQueue { config }),
        Mode::Flush => return Ok(Action::FlushQueue { config, session }),
        Mode::Submit => {}
    }

    let sender = match text(m, flags::SENDER, "the -f address")? {
        Some(s) => Some(parse_sender(&s)?),
        None => None,
    };
    let full_name = text(m, flags::FULL_NAME, "the -F name")?;
    if let Some(n) = &full_name {
        crate::message::check_header_text("the -F name", n)?;
    }
    let dsn = Dsn {
        notify: text(m, flags::NOTIFY, "-N")?
            .map(|v| parse_notify(&v))
            .transpose()?,
        ret: text(m, flags::RET, "-R")?
            .map(|v| parse_ret(&v))
            .transpose()?,
        envid: text(m, flags::ENVID, "-V")?
            .map(|v| parse_envid(&v))
            .transpose()?,
    };
    let body_type = text(m, flags::BODY, "-B")?
        .map(|v| parse_body(&v))
        .transpose()?;
    let mut recipients = Vec::new();
    for r in m.operands() {
        let r = r
            .to_str()
            .ok_or_else(|| Failure::usage("a recipient is not valid UTF-8"))?;
        recipients.extend(parse_recipient_arg(r)?);
    }
    let extract = m.flag(flags::EXTRACT);
    if recipients.is_empty() && !extract {
        return Err(Failure::usage("Recipient names must be specified"));
    }
    Ok(Action::Submit(Box::new(Request {
        sender,
        full_name,
        extract,
        config,
        session,
        dsn,
        body_type,
        recipients,
    })))
}

enum Mode {
    Submit,
    List,
    Flush,
    Nothing,
}

/// `-f ADDR`: `addr`, `Name <addr>`, or `<>` / empty for the null sender.
pub fn parse_sender(s: &str) -> Result<Mailbox, Failure> {
    if s.chars().any(char::is_control) {
        return Err(Failure::usage(format!(
            "the -f address {s:?} contains a control character (CR, LF, NUL or similar)"
        )));
    }
    let t = s.trim();
    if t.is_empty() || t == "<>" {
        return Ok(Mailbox::default());
    }
    if t.contains('<') || t.contains('>') {
        let list = crate::message::parse_address_list(t)
            .map_err(|e| Failure::usage(format!("invalid -f address {s:?}: {e}")))?;
        return match list.as_slice() {
            [one] => Ok(one.clone()),
            _ => Err(Failure::usage(format!(
                "the -f address {s:?} must be one address"
            ))),
        };
    }
    Ok(Mailbox::new(t))
}

/// A recipient argument: one address, or a list (`a@b, Name <c@d>`) when it
/// holds a comma or an angle bracket.
pub fn parse_recipient_arg(s: &str) -> Result<Vec<String>, Failure> {
    if s.chars().any(char::is_control) {
        return Err(Failure::usage(format!(
            "the recipient {s:?} contains a control character (CR, LF, NUL or similar)"
        )));
    }
    if s.contains([',', '<', '>']) {
        let list = crate::message::parse_address_list(s)
            .map_err(|e| Failure::usage(format!("invalid recipient {s:?}: {e}")))?;
        return Ok(list.into_iter().map(|m| m.addr).collect());
    }
    let t = s.trim();
    if t.is_empty() {
        return Err(Failure::usage("an empty recipient"));
    }
    Ok(vec![t.to_string()])
}

/// A value from the command line as an error message quotes it: control
/// characters escaped, so that none reaches the terminal or a log.
fn printable(v: &str) -> String {
    crate::config::diag::escape_controls(v)
}

fn parse_notify(v: &str) -> Result<Notify, Failure> {
    v.parse().map_err(|_| {
        Failure::usage(format!(
            "-N {}: expected never, or a list of failure, delay, success",
            printable(v)
        ))
    })
}

fn parse_ret(v: &str) -> Result<Ret, Failure> {
    v.parse()
        .map_err(|_| Failure::usage(format!("-R {}: expected full or hdrs", printable(v))))
}

fn parse_envid(v: &str) -> Result<String, Failure> {
    if v.is_empty() || v.len() > 100 || !v.bytes().all(|b| (33..=126).contains(&b)) {
        return Err(Failure::usage(format!(
            "-V {v:?}: the envelope id must be 1 to 100 printable ASCII characters"
        )));
    }
    Ok(v.to_string())
}

fn parse_body(v: &str) -> Result<BodyType, Failure> {
    v.parse()
        .map_err(|_| Failure::usage(format!("-B {}: expected 7BIT or 8BITMIME", printable(v))))
}
