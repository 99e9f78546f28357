//! Carrying out an [`Action`]: load the plan, read the message, route it,
//! deliver it. Every failure comes back here as a [`Failure`] and leaves as
//! one line on stderr and its exit status, in [`run`] only.

use super::{external, parse, parse_recipient_arg, parse_sender, Action, Send};
use crate::exit::{Failure, DATAERR, OK, USAGE};
use crate::message::{self, HeaderPolicy, Spooled};
use crate::plan::{Plan, QueueMode, Template, TemplatePart};
use crate::route::{self, Recipient, Source, Submission};
use crate::transport::{self, mda, Envelope, MessageOptions};
use crate::{cache, queue, sys};
use clap::ArgMatches;
use std::ffi::OsString;
use std::io::{self, BufRead, Read, Write};
use std::path::PathBuf;

/// Run the program for `argv`; the exit status.
pub fn run(argv: Vec<OsString>) -> u8 {
    let result = parse(argv).and_then(dispatch);
    match result {
        Ok(status) => status,
        Err(failure) => report(&failure),
    }
}

/// Print a failure as `esmtp: ...` on stderr (ignoring a closed stderr) and
/// give its status.
fn report(failure: &Failure) -> u8 {
    let _ = writeln!(io::stderr(), "esmtp: {}", failure.message);
    failure.status
}

fn dispatch(action: Action) -> Result<u8, Failure> {
    match action {
        Action::Submit(send) => submit(&send).map(|()| OK),
        Action::ListQueue { config } => {
            let plan = cache::load_plan(config.as_deref(), false)?;
            queue::list(&plan).map(|()| OK)
        }
        Action::FlushQueue { config, session } => {
            let plan = cache::load_plan(config.as_deref(), session.verbose)?;
            queue::flush(&plan, &session).map(|()| OK)
        }
        Action::Nothing => Ok(OK),
        Action::Print(text) => {
            let _ = io::stdout().write_all(text.as_bytes());
            Ok(OK)
        }
        Action::Subcommand(name, m) => subcommand(&name, &m),
    }
}

fn subcommand(name: &str, m: &ArgMatches) -> Result<u8, Failure> {
    match name {
        "check" => Ok(external::run_check(m)),
        "dump" => Ok(external::run_dump(m)),
        "route" => route_subcommand(m).map(|()| OK),
        "queue" => external::run_queue(m),
        "compile" => Ok(cache::run_compile(m)),
        "completions" => super::completions::run_completions(m).map(|()| OK),
        other => Err(Failure::usage(format!("unknown subcommand {other}"))),
    }
}

/// `esmtp route [-C FILE] [-f ADDR] [-t] RCPT...`
fn route_subcommand(m: &ArgMatches) -> Result<(), Failure> {
    let sender = m
        .get_one::<String>("sender")
        .map(|s| parse_sender(s))
        .transpose()?;
    let mut recipients = Vec::new();
    for r in m.get_many::<String>("recipients").into_iter().flatten() {
        recipients.extend(parse_recipient_arg(r)?);
    }
    let extract = m.get_flag("extract");
    if recipients.is_empty() && !extract {
        return Err(Failure::usage("Recipient names must be specified"));
    }
    let send = Send {
        sender,
        extract,
        recipients,
        ..Send::default()
    };
    let headers = if extract {
        message::read_headers(&mut io::stdin().lock())?
    } else {
        message::Headers::default()
    };
    let config = m.get_one::<PathBuf>("config").map(|p| p.as_path());
    let plan = cache::load_plan_for(config, false, selector(&send, &headers).as_deref())?.plan;
    let (decision, _) = decide(&plan, &send, &headers)?;
    let _ = io::stdout().write_all(route::describe(&plan, &decision).as_bytes());
    Ok(())
}

/// The address that selects the identity (as `route::route` picks it), for
/// loading only the identities it can select from the cached plan.
fn selector(send: &Send, headers: &message::Headers) -> Option<String> {
    match &send.sender {
        Some(m) => Some(m.addr.clone()),
        None if send.extract => headers.from().ok().flatten().map(|m| m.addr),
        None => None,
    }
}

/// Build the submission from the command line and the headers, and route it.
fn decide(
    plan: &Plan,
    send: &Send,
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
fn needs_login(plan: &Plan, send: &Send) -> bool {
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
}

/// Route a submission and normalise its message: the headers the policy
/// adds or removes, then the body from `input`, into a [`Spooled`]. sendmail
/// mode and the import of an esmtp-wrapper queue both come through here.
/// `routed` sees the decision before the body is read (`-v`).
pub fn prepare(
    plan: &Plan,
    send: &Send,
    headers: &message::Headers,
    input: &mut dyn BufRead,
    routed: impl FnOnce(&route::Decision),
) -> Result<Prepared, Failure> {
    let (decision, head) = route_and_render(plan, send, headers, routed)?;
    let spool = Spooled::write(&head, &headers.body_prefix, input)?;
    Ok(Prepared { decision, spool })
}

/// Route a submission and render its header block with the policy's
/// additions and removals; the body is not read yet.
fn route_and_render(
    plan: &Plan,
    send: &Send,
    headers: &message::Headers,
    routed: impl FnOnce(&route::Decision),
) -> Result<(route::Decision, Vec<u8>), Failure> {
    let (decision, hostname) = decide(plan, send, headers)?;
    routed(&decision);
    let policy = HeaderPolicy {
        remove_bcc: send.extract,
        sender: decision.sender_header.clone(),
        // The clock, the time zone and randomness only for what is added.
        date: if headers.has("Date") {
            String::new()
        } else {
            chrono::Local::now().to_rfc2822()
        },
        from: decision.from.clone(),
        message_id: (decision.message_id && !headers.has("Message-ID"))
            .then(|| message_id(&hostname)),
    };
    let head = message::render_headers(headers, &policy);
    Ok((decision, head))
}

impl route::Decision {
    /// The SMTP envelope of the remote part.
    pub fn envelope(&self) -> Envelope {
        Envelope {
            sender: self.envelope_sender.clone(),
            recipients: self.remote.clone(),
        }
    }
}

impl Spooled {
    /// The per-message SMTP options for the spooled message.
    pub fn options(&self, send: &Send) -> MessageOptions {
        message_options(send, self.eight_bit, self.size, false)
    }
}

/// The per-message SMTP options: the command line's DSN and body type,
/// and what is known of the content (see [`MessageOptions::streamed`]).
fn message_options(send: &Send, eight_bit: bool, size: u64, streamed: bool) -> MessageOptions {
    MessageOptions {
        dsn: send.dsn.clone(),
        body_type: send.body_type,
        eight_bit,
        size: Some(size),
        streamed,
    }
}

/// sendmail mode: read the message, route it, deliver it.
fn submit(send: &Send) -> Result<(), Failure> {
    let verbose = send.session.verbose;
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let headers = message::read_headers(&mut input)?;
    // The global settings and only the identities this sender can select
    // (the queue records an identity by its address, so a reduced plan's
    // index is safe to hand to queue::submit).
    let selector = selector(send, &headers);
    let plan = cache::load_plan_for(send.config.as_deref(), verbose, selector.as_deref())?.plan;
    let (decision, head) = route_and_render(&plan, send, &headers, |d| {
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
        return transport::relay(
            identity()?,
            &decision.envelope(),
            &message_options(send, false, size, true),
            &send.session,
            &mut message,
        );
    }
    let spool = Spooled::write(&head, &headers.body_prefix, &mut input)?;

    let mut failures = Vec::new();
    if let Err(f) = unusable {
        failures.push(f);
    } else if !decision.remote.is_empty() {
        let envelope = decision.envelope();
        let options = spool.options(send);
        let result = if plan.queue.mode == QueueMode::Disabled {
            identity().and_then(|identity| {
                transport::relay(
                    identity,
                    &envelope,
                    &options,
                    &send.session,
                    &mut spool.wire(),
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
        if let Err(f) = mda::deliver_with(&local.command, verbose, feed) {
            failures.push(f);
        }
    }
    let mut failures = failures.into_iter();
    match failures.next() {
        None => Ok(()),
        Some(first) => {
            for other in failures {
                report(&other);
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

    fn send(sender: Option<&str>, rcpts: &[&str]) -> Send {
        Send {
            sender: sender.map(|s| parse_sender(s).unwrap()),
            recipients: rcpts.iter().map(|r| r.to_string()).collect(),
            ..Send::default()
        }
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
