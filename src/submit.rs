//! The submission pipeline: a message and its envelope as the command line
//! (or a stored esmtp-wrapper entry) describes it, routed by the plan, its
//! headers rendered by the policy, its body normalised into a spool, then
//! relayed, queued or handed to the MDA. The command line and the queue's
//! esmtp-wrapper import both call down into [`prepare`]; sendmail mode runs
//! the whole of it in [`submit`].

use crate::exit::{Failure, DATAERR, USAGE};
use crate::mail_params::BodyType;
use crate::message::{self, HeaderPolicy, Mailbox, Spooled};
use crate::plan::{Identity, Plan, QueueMode, Template, TemplatePart};
use crate::queue::legacy::EntryConverter;
use crate::route::{self, Recipient, Source, Submission};
use crate::transport::{self, log, mda, Dsn, Envelope, MessageOptions, SessionOptions};
use crate::{cache, queue, sys};
use std::io::{self, BufRead, Read, Write};
use std::path::PathBuf;
use std::time::Instant;

/// A message submission as the command line (or a stored esmtp-wrapper
/// entry) describes it: the input of the pipeline.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub sender: Option<Mailbox>,
    pub full_name: Option<String>,
    pub extract: bool,
    pub config: Option<PathBuf>,
    pub session: SessionOptions,
    pub dsn: Dsn,
    pub body_type: Option<BodyType>,
    pub recipients: Vec<String>,
}

/// The address that selects the identity (as `route::route` picks it), for
/// loading only the identities it can select from the cached plan.
pub fn selector(send: &Request, headers: &message::Headers) -> Option<String> {
    match &send.sender {
        Some(m) => Some(m.addr.clone()),
        None if send.extract => headers.from().ok().flatten().map(|m| m.addr),
        None => None,
    }
}

/// Build the submission from the command line and the headers, and route it.
pub fn decide(
    plan: &Plan,
    send: &Request,
    headers: &message::Headers,
) -> Result<(route::Decision, String), Failure> {
    let mut recipients: Vec<Recipient> = send
        .recipients
        .iter()
        .map(|r| Recipient {
            addr: r.clone(),
            source: Source::CommandLine,
        })
        .collect();
    let mut header_from = None;
    if send.extract {
        if headers.fields.is_empty() {
            return Err(Failure::new(
                DATAERR,
                "-t: the message has no header to take recipients from",
            ));
        }
        let found = headers.recipients()?;
        if found.is_empty() && recipients.is_empty() {
            return Err(Failure::new(
                DATAERR,
                "-t: no recipients found in To:, Cc: or Bcc:",
            ));
        }
        recipients.extend(found.into_iter().map(|addr| Recipient {
            addr,
            source: Source::Header,
        }));
        // The From: address matters only when -f does not say who sends.
        if send.sender.is_none() {
            header_from = headers.from()?;
        }
    }
    if recipients.is_empty() {
        return Err(Failure::new(USAGE, "Recipient names must be specified"));
    }
    let hostname = sys::hostname();
    // The password database lookup (NSS) only when the name can show.
    let login = if needs_login(plan, send) {
        sys::login_name()
    } else {
        String::new()
    };
    let sub = Submission {
        sender: send.sender.clone(),
        header_from,
        full_name: send.full_name.clone(),
        recipients,
        login,
        hostname: hostname.clone(),
    };
    Ok((route::route(plan, &sub)?, hostname))
}

/// Whether routing can use the login name: `%u` in a template the plan
/// holds, or the default sender (`login@host`), which appears only when no
/// `-f` address is given (or it is the null sender).
fn needs_login(plan: &Plan, send: &Request) -> bool {
    let uses = |t: &Option<Template>| {
        t.as_ref()
            .is_some_and(|t| t.parts.contains(&TemplatePart::Login))
    };
    send.sender.as_ref().is_none_or(|m| m.addr.is_empty())
        || uses(&plan.mda)
        || plan
            .identities
            .iter()
            .any(|id| uses(&id.force_reverse_path) || uses(&id.force_sender))
}

/// A new Message-ID: time, process and randomness at the host.
fn message_id(hostname: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut random = [0u8; 6];
    let _ = getrandom::fill(&mut random);
    let random: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "<{}.{:06}.{}.{random}@{hostname}>",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id()
    )
}

/// A message made ready for delivery: where it goes, and its normalised form.
pub struct Prepared {
    pub decision: route::Decision,
    pub spool: Spooled,
    pub international: International,
    /// The message's Message-ID (its own or the one added).
    pub message_id: Option<String>,
}

/// What the header block asks of SMTPUTF8 (see [`MessageOptions`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct International {
    /// The header block holds UTF-8 text.
    pub utf8_headers: bool,
    /// An added header holds an address whose local part is not ASCII.
    pub utf8_added_header: Option<String>,
}

/// A header block ready to go, and what it asks of SMTPUTF8.
struct Rendered {
    decision: route::Decision,
    head: Vec<u8>,
    international: International,
    message_id: Option<String>,
}

/// An address as esmtp writes it into a header it adds (`From:`,
/// `Sender:`; `text` may be `Name <addr>`): with the domain as A-labels
/// when the local part is ASCII, so that any server can take it;
/// otherwise as written, and the address is returned: the message then
/// needs SMTPUTF8.
fn header_address(text: &str) -> (String, Option<String>) {
    let addr = crate::address::bare(text);
    match crate::address::ascii_address(addr) {
        Ok(std::borrow::Cow::Owned(ascii)) => {
            // `bare` returns a part of `text`: put the ASCII form in its place.
            let start = (addr.as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
            match (text.get(..start), text.get(start + addr.len()..)) {
                (Some(before), Some(after)) => (format!("{before}{ascii}{after}"), None),
                _ => (ascii, None),
            }
        }
        Ok(std::borrow::Cow::Borrowed(_)) => (text.to_string(), None),
        Err(crate::address::NotAscii::LocalPart) => (text.to_string(), Some(addr.to_string())),
        // Routing has refused such a domain already.
        Err(crate::address::NotAscii::Domain(_)) => (text.to_string(), None),
    }
}

/// Route a submission and normalise its message: the headers the policy
/// adds or removes, then the body from `input`, into a [`Spooled`]. sendmail
/// mode and the import of an esmtp-wrapper queue both come through here.
/// `routed` sees the decision before the body is read (`-v`).
pub fn prepare(
    plan: &Plan,
    send: &Request,
    headers: &message::Headers,
    input: &mut dyn BufRead,
    routed: impl FnOnce(&route::Decision),
) -> Result<Prepared, Failure> {
    let r = route_and_render(plan, send, headers, routed)?;
    let spool = Spooled::write(&r.head, &headers.body_prefix, input)?;
    Ok(Prepared {
        decision: r.decision,
        spool,
        international: r.international,
        message_id: r.message_id,
    })
}

/// Route a submission and render its header block with the policy's
/// additions and removals; the body is not read yet. Also the message's
/// Message-ID (its own, or the one added), for the delivery log.
fn route_and_render(
    plan: &Plan,
    send: &Request,
    headers: &message::Headers,
    routed: impl FnOnce(&route::Decision),
) -> Result<Rendered, Failure> {
    let (decision, hostname) = decide(plan, send, headers)?;
    routed(&decision);
    let mut utf8_added_header = None;
    let sender = decision.sender_header.as_deref().map(|s| {
        let (text, utf8) = header_address(s);
        utf8_added_header = utf8_added_header.take().or(utf8);
        text
    });
    let mut from = decision.from.clone();
    if !headers.has("From") {
        let (addr, utf8) = header_address(&from.addr);
        from.addr = addr;
        utf8_added_header = utf8_added_header.take().or(utf8);
    }
    let policy = HeaderPolicy {
        remove_bcc: send.extract,
        sender,
        // The clock, the time zone and randomness only for what is added.
        date: if headers.has("Date") {
            String::new()
        } else {
            chrono::Local::now().to_rfc2822()
        },
        from,
        message_id: (decision.message_id && !headers.has("Message-ID"))
            .then(|| message_id(&hostname)),
    };
    let head = message::render_headers(headers, &policy);
    let international = International {
        utf8_headers: !head.is_ascii() && std::str::from_utf8(&head).is_ok(),
        utf8_added_header,
    };
    let message_id = headers.value("Message-ID").or(policy.message_id);
    Ok(Rendered {
        decision,
        head,
        international,
        message_id,
    })
}

/// The SMTP envelope of a decision's remote part.
pub fn envelope(decision: &route::Decision) -> Envelope {
    Envelope {
        sender: decision.envelope_sender.clone(),
        recipients: decision.remote.clone(),
    }
}

/// The per-message SMTP options for a prepared message.
pub fn spooled_options(send: &Request, ready: &Prepared) -> MessageOptions {
    message_options(
        send,
        &ready.international,
        ready.spool.eight_bit,
        ready.spool.size,
        false,
        ready.message_id.clone(),
    )
}

/// The per-message SMTP options: the command line's DSN and body type,
/// and what is known of the content (see [`MessageOptions::streamed`]).
fn message_options(
    send: &Request,
    international: &International,
    eight_bit: bool,
    size: u64,
    streamed: bool,
    message_id: Option<String>,
) -> MessageOptions {
    MessageOptions {
        dsn: send.dsn.clone(),
        body_type: send.body_type,
        eight_bit,
        size: Some(size),
        streamed,
        utf8_headers: international.utf8_headers,
        utf8_added_header: international.utf8_added_header.clone(),
        message_id,
    }
}

/// Relay one message now (not through the queue) and log the attempt.
fn relay_logged(
    plan: &Plan,
    identity: &Identity,
    envelope: &Envelope,
    options: &MessageOptions,
    session: &SessionOptions,
    message: &mut dyn Read,
    started: Instant,
) -> Result<(), Failure> {
    let mut attempt = log::Attempt::default();
    let result =
        transport::relay_noted(identity, envelope, options, session, message, &mut attempt);
    log::attempt(
        &plan.log,
        identity,
        &log::Message::sent(envelope, options),
        log::smtp(identity, &attempt),
        started,
        result.as_ref().map(|_| ()),
    );
    result
}

/// sendmail mode: read the message, route it, deliver it. A background
/// flush started by the queue imports the esmtp-wrapper queue with
/// `convert`. A failure before any delivery attempt (the configuration,
/// the message) of a process without a terminal still goes to syslog.
pub fn submit(send: &Request, convert: EntryConverter) -> Result<(), Failure> {
    submit_message(send, convert).inspect_err(|f| {
        let sender = send.sender.as_ref().map(|m| m.addr.as_str());
        log::unattempted(f, sender.unwrap_or(""), &send.recipients);
    })
}

fn submit_message(send: &Request, convert: EntryConverter) -> Result<(), Failure> {
    let verbose = send.session.verbose;
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let headers = message::read_headers(&mut input)?;
    // The global settings and only the identities this sender can select
    // (the queue records an identity by its address, so a reduced plan's
    // index is safe to hand to queue::submit).
    let selector = selector(send, &headers);
    let plan = cache::load_plan_for(send.config.as_deref(), verbose, selector.as_deref())?.plan;
    let started = Instant::now();
    let Rendered {
        decision,
        head,
        international,
        message_id,
    } = route_and_render(&plan, send, &headers, |d| {
        if verbose {
            let _ = io::stdout().write_all(route::describe(&plan, d).as_bytes());
        }
    })?;
    let identity = || {
        plan.identities
            .get(decision.identity)
            .ok_or_else(|| Failure::software("routing chose an identity the plan lacks"))
    };

    // A large message that is already a file (mutt, `esmtp rcpt < file`)
    // and goes only to the smarthost, with no queue to keep it in, is sent
    // as it is read: no copy to a spool while the server waits.
    let single_relay = plan.queue.mode == QueueMode::Disabled
        && decision.local.is_none()
        && !decision.remote.is_empty();
    let stream_size = single_relay
        .then(|| message::stdin_file_remaining(&mut input))
        .flatten()
        .map(|rest| (head.len() + headers.body_prefix.len()) as u64 + rest)
        .filter(|&size| size > message::SPOOL_MEMORY_LIMIT as u64);
    // An identity the configuration marks unusable fails before anything
    // is stored or sent: a configuration error does not heal by waiting in
    // the queue, and the user is here to see it (local recipients are
    // still delivered below).
    let unusable = if decision.remote.is_empty() {
        Ok(())
    } else {
        identity().and_then(transport::usable)
    };
    if let Some(size) = stream_size.filter(|_| unusable.is_ok()) {
        let mut message = message::NulChecked(
            head.as_slice()
                .chain(headers.body_prefix.as_slice())
                .chain(input),
        );
        let options = message_options(send, &international, false, size, true, message_id);
        return relay_logged(
            &plan,
            identity()?,
            &envelope(&decision),
            &options,
            &send.session,
            &mut message,
            started,
        );
    }
    let spool = Spooled::write(&head, &headers.body_prefix, &mut input)?;

    let mut failures = Vec::new();
    if let Err(f) = unusable {
        failures.push(f);
    } else if !decision.remote.is_empty() {
        let envelope = envelope(&decision);
        let options = message_options(
            send,
            &international,
            spool.eight_bit,
            spool.size,
            false,
            message_id.clone(),
        );
        let result = if plan.queue.mode == QueueMode::Disabled {
            identity().and_then(|identity| {
                relay_logged(
                    &plan,
                    identity,
                    &envelope,
                    &options,
                    &send.session,
                    &mut spool.wire(),
                    started,
                )
            })
        } else {
            queue::submit(
                &plan,
                decision.identity,
                &envelope,
                &options,
                &send.session,
                &mut spool.crlf(),
                convert,
            )
            .map(|submitted| {
                if let queue::Submitted::Queued(reason) = submitted {
                    let _ = writeln!(io::stderr(), "esmtp: {reason}");
                }
            })
        };
        if let Err(f) = result {
            failures.push(f);
        }
    }
    if let Some(local) = &decision.local {
        let feed = |stdin: &mut std::process::ChildStdin| spool.write_lf(stdin).map(drop);
        let started = Instant::now();
        let result = mda::deliver_with(&local.command, verbose, feed);
        if let (Some(identity), Some(mda)) = (plan.identities.get(decision.identity), &plan.mda) {
            let message = log::Message {
                sender: &decision.envelope_sender,
                recipients: &local.recipients,
                size: Some(spool.size),
                message_id: message_id.as_deref(),
                queue_id: None,
            };
            let via = log::Via::Mda {
                command: &mda.source,
            };
            log::attempt(
                &plan.log,
                identity,
                &message,
                via,
                started,
                result.as_ref().map(|_| ()),
            );
        }
        if let Err(f) = result {
            failures.push(f);
        }
    }
    let mut failures = failures.into_iter();
    match failures.next() {
        None => Ok(()),
        Some(first) => {
            for other in failures {
                other.report();
            }
            Err(first)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Identity;

    fn template(parts: Vec<TemplatePart>) -> Option<Template> {
        Some(Template {
            source: String::new(),
            parts,
        })
    }

    /// `-f` as the command line reads it: `<>` is the null sender.
    fn mailbox(s: &str) -> Mailbox {
        match s {
            "<>" => Mailbox::default(),
            _ if s.contains('<') => message::parse_address_list(s).unwrap().remove(0),
            _ => Mailbox::new(s),
        }
    }

    fn send(sender: Option<&str>, rcpts: &[&str]) -> Request {
        Request {
            sender: sender.map(mailbox),
            recipients: rcpts.iter().map(|r| r.to_string()).collect(),
            ..Request::default()
        }
    }

    /// Added headers carry A-labels whenever the local part is ASCII; a
    /// local part that is not is kept and reported (it needs SMTPUTF8).
    #[test]
    fn added_header_addresses_prefer_ascii() {
        let ascii = |s: &str| header_address(s).0;
        assert_eq!(ascii("u@bücher.example"), "u@xn--bcher-kva.example");
        assert_eq!(
            ascii("Jörg Müller <u@Bücher.example>"),
            "Jörg Müller <u@xn--bcher-kva.example>"
        );
        assert_eq!(ascii("u@example.org"), "u@example.org");
        assert_eq!(header_address("root"), ("root".into(), None));
        assert_eq!(
            header_address("Jörg <jörg@bücher.example>"),
            (
                "Jörg <jörg@bücher.example>".into(),
                Some("jörg@bücher.example".into())
            )
        );
        let plan = {
            let mut p = Plan::empty();
            p.identities[0].relay.host = "h".into();
            p
        };
        let mut send = send(Some("Jörg <u@bücher.example>"), &["a@b.c"]);
        send.full_name = Some("Jörg Müller".into());
        let headers = message::Headers::default();
        let r = route_and_render(&plan, &send, &headers, |_| {}).unwrap();
        let head = String::from_utf8(r.head).unwrap();
        assert!(
            head.contains("From: =?UTF-8?B?SsO2cmcgTcO8bGxlcg==?= <u@xn--bcher-kva.example>\r\n"),
            "{head}"
        );
        assert_eq!(r.international, International::default());
        let send = self::send(Some("jörg@example.org"), &["a@b.c"]);
        let r = route_and_render(&plan, &send, &headers, |_| {}).unwrap();
        assert_eq!(
            r.international,
            International {
                utf8_headers: true,
                utf8_added_header: Some("jörg@example.org".into()),
            }
        );
    }

    /// Whenever the login is not looked up, routing gives the same decision
    /// as with the real name.
    #[test]
    fn the_login_is_looked_up_whenever_it_can_show() {
        let mut plain = Plan::empty();
        let mut work = Identity::new(Some("work@example.com".into()));
        work.relay.host = "smtp.example.com".into();
        plain.identities.push(work);
        let mut with_mda = plain.clone();
        with_mda.mda = template(vec![
            TemplatePart::Literal("deliver -u ".into()),
            TemplatePart::Login,
        ]);
        let mut with_force = plain.clone();
        with_force.identities[0].force_sender = template(vec![TemplatePart::Login]);
        let mut with_reverse = plain.clone();
        with_reverse.identities[1].force_reverse_path = template(vec![
            TemplatePart::Login,
            TemplatePart::Literal("@x".into()),
        ]);
        let sends = [
            send(Some("me@example.org"), &["a@b.c"]),
            send(Some("work@example.com"), &["a@b.c", "bob"]),
            send(Some("<>"), &["a@b.c"]),
            send(None, &["a@b.c"]),
        ];
        let mut skipped = 0;
        for plan in [&plain, &with_mda, &with_force, &with_reverse] {
            for s in &sends {
                let sub = |login: &str| Submission {
                    sender: s.sender.clone(),
                    header_from: None,
                    full_name: None,
                    recipients: s
                        .recipients
                        .iter()
                        .map(|r| Recipient {
                            addr: r.clone(),
                            source: Source::CommandLine,
                        })
                        .collect(),
                    login: login.into(),
                    hostname: "host".into(),
                };
                if needs_login(plan, s) {
                    continue;
                }
                skipped += 1;
                let with = route::route(plan, &sub("alice"));
                let without = route::route(plan, &sub(""));
                match (with, without) {
                    (Ok(a), Ok(b)) => assert_eq!(a, b, "{s:?}"),
                    (Err(a), Err(b)) => assert_eq!(a.message, b.message),
                    (a, b) => panic!("{a:?} / {b:?}"),
                }
            }
        }
        assert!(skipped >= 2, "{skipped}");
        assert!(needs_login(&plain, &send(None, &["a@b"])));
        assert!(needs_login(&plain, &send(Some("<>"), &["a@b"])));
        assert!(!needs_login(&plain, &send(Some("Me <me@x.org>"), &["a@b"])));
        assert!(needs_login(&with_mda, &send(Some("me@x.org"), &["a@b"])));
        assert!(needs_login(&with_force, &send(Some("me@x.org"), &["a@b"])));
        assert!(needs_login(
            &with_reverse,
            &send(Some("me@x.org"), &["a@b"])
        ));
    }
}
