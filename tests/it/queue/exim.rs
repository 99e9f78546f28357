//! The queue against the real Exim on loopback (the shared harness in
//! crate::support): smarthost down, then up; every message arrives exactly
//! once and byte for byte; a deferring recipient stays queued; a wrapper
//! queue arrives.

use crate::support;

use esmtp::plan::Plan;
use esmtp::queue::{self, store::QueueDir, Submitted};
use esmtp::transport::{Envelope, MessageOptions, SessionOptions};
use std::collections::BTreeMap;
use std::fs;
use std::io::Cursor;
use std::path::Path;
use support::{flush_now, free_port as closed_port, write_wrapper_entry, Exim};

fn plan(dir: &Path, port: u16) -> Plan {
    let mut plan = support::queued_plan(dir);
    let mut id = support::identity(port);
    id.tls = esmtp::plan::TlsPolicy::Disabled;
    plan.identities = vec![id];
    plan
}

fn message(i: usize) -> Vec<u8> {
    let mut body = String::new();
    body.push_str(".leading dot\r\n..two dots\r\n");
    body.push_str("8-bit: caf\u{e9}\r\n");
    for n in 0..40 {
        body.push_str(&format!("line {n} of message {i}\r\n"));
    }
    support::message(&format!("queued-{i}"), &body)
}

/// `i` of the sender address `sender{i}@example.org` that [`submit`] used.
fn number_of(sender: &str) -> usize {
    sender
        .strip_prefix("sender")
        .and_then(|s| s.split('@').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a sender of submit(): {sender}"))
}

fn submit(plan: &Plan, i: usize) -> Result<Submitted, esmtp::exit::Failure> {
    let m = message(i);
    let opts = MessageOptions {
        eight_bit: true,
        size: Some(m.len() as u64),
        ..Default::default()
    };
    submit_as(
        plan,
        &format!("sender{i}@example.org"),
        &format!("bob{i}@example.net"),
        &opts,
        m,
    )
}

/// Submit `m` from `sender` to `recipient` through the plan's first identity.
fn submit_as(
    plan: &Plan,
    sender: &str,
    recipient: &str,
    opts: &MessageOptions,
    m: Vec<u8>,
) -> Result<Submitted, esmtp::exit::Failure> {
    let env = Envelope {
        sender: sender.into(),
        recipients: vec![recipient.into()],
    };
    queue::submit(
        plan,
        0,
        &env,
        opts,
        &SessionOptions::default(),
        &mut Cursor::new(m),
        esmtp::cli::convert_wrapper_entry,
    )
}

#[test]
fn smarthost_down_then_exim_up_delivers_each_once_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let mut plan = plan(tmp.path(), closed_port());
    // Exim queues (does not deliver at once) from the 11th message of one
    // connection on (smtp_accept_queue_per_connection = 10): stay at 10.
    let n = 10;
    for i in 0..n {
        assert!(
            matches!(submit(&plan, i), Ok(Submitted::Queued(_))),
            "submission {i} with the smarthost down"
        );
    }
    let mut out = Vec::new();
    queue::list_to(&plan, None, &mut out).unwrap().unwrap();
    let listing = String::from_utf8(out).unwrap();
    assert!(
        listing.contains(&format!("-- {n} messages queued")),
        "{listing}"
    );
    assert!(listing.contains("<sender3@example.org>"), "{listing}");
    assert!(listing.contains("to: bob3@example.net"), "{listing}");

    // The smarthost comes up.
    let exim = Exim::start();
    plan.identities[0].relay.port = exim.port();
    let report = flush_now(&plan, None);
    assert_eq!(report.delivered, n, "{report:?}");
    let got = exim.wait_for_messages(n);
    let mut seen: BTreeMap<usize, usize> = BTreeMap::new();
    for r in &got {
        let i = number_of(&r.return_path);
        assert_eq!(r.envelope_to, format!("bob{i}@example.net"));
        assert!(r.message == message(i), "message {i} changed on the way");
        *seen.entry(i).or_default() += 1;
    }
    for i in 0..n {
        assert_eq!(seen.get(&i), Some(&1), "message {i}");
    }
    // A second flush has nothing to do.
    let report = flush_now(&plan, None);
    assert_eq!(report, Default::default());
    assert_eq!(exim.accepted(), n);
}

#[test]
fn deferred_recipient_stays_queued_and_goes_later() {
    let tmp = tempfile::tempdir().unwrap();
    let exim = Exim::start();
    let plan = plan(tmp.path(), exim.port());
    let m = message(1);
    let r = submit_as(
        &plan,
        "sender1@example.org",
        "defer-me@example.net",
        &MessageOptions::default(),
        m,
    );
    match r {
        Ok(Submitted::Queued(why)) => assert!(why.contains("451"), "{why}"),
        other => panic!("{other:?}"),
    }
    let spool = QueueDir::open(&queue::queue_dir(&plan).unwrap()).unwrap();
    let infos = spool.infos();
    assert_eq!(infos.len(), 1);
    assert!(infos[0]
        .state
        .last_error
        .as_deref()
        .unwrap()
        .contains("451"));
    // And a refused one is reported, not kept.
    let err = submit_as(
        &plan,
        "sender1@example.org",
        "refuse-me@example.net",
        &MessageOptions::default(),
        message(2),
    )
    .unwrap_err();
    assert!(!err.is_temporary(), "{err:?}");
    assert_eq!(spool.infos().len(), 1);
}

#[test]
fn wrapper_queue_is_delivered_to_exim() {
    let tmp = tempfile::tempdir().unwrap();
    let exim = Exim::start();
    let plan = plan(tmp.path(), exim.port());
    let wq = tmp.path().join(".esmtp_queue");
    for i in 0..3 {
        let lf = String::from_utf8(message(i)).unwrap().replace("\r\n", "\n");
        write_wrapper_entry(
            &wq,
            &format!("wrap{i:04}"),
            &format!("-oi -f sender{i}@example.org -- bob{i}@example.net"),
            lf.as_bytes(),
        );
    }
    let report = flush_now(&plan, Some(&wq));
    assert_eq!((report.imported, report.delivered), (3, 3), "{report:?}");
    let got = exim.wait_for_messages(3);
    for r in got {
        let i = number_of(&r.return_path);
        assert_eq!(r.envelope_to, format!("bob{i}@example.net"));
        // The message had Date: and Message-ID: already: it arrives unchanged.
        assert!(r.message == message(i), "wrapper message {i} changed");
    }
    assert_eq!(fs::read_dir(&wq).unwrap().count(), 0);
}

#[test]
fn flush_reconnects_when_the_server_drops_the_connection() {
    let tmp = tempfile::tempdir().unwrap();
    let mut plan = plan(tmp.path(), closed_port());
    // First in the queue: a message Exim refuses after its data and then
    // hangs up on; the others must still go, over a new connection.
    let r = submit_as(
        &plan,
        "drop@example.org",
        "bob@example.net",
        &MessageOptions::default(),
        message(99),
    );
    assert!(matches!(r, Ok(Submitted::Queued(_))), "{r:?}");
    for i in 0..3 {
        assert!(matches!(submit(&plan, i), Ok(Submitted::Queued(_))));
    }
    let exim = Exim::start();
    plan.identities[0].relay.port = exim.port();
    let report = flush_now(&plan, None);
    assert_eq!((report.delivered, report.failed), (3, 1), "{report:?}");
    let got = exim.wait_for_messages(3);
    assert!(got.iter().all(|r| r.return_path != "drop@example.org"));
    let spool = QueueDir::open(&queue::queue_dir(&plan).unwrap()).unwrap();
    assert!(spool.ids().is_empty());
    assert_eq!(spool.failed_infos().len(), 1);
}

#[test]
fn a_rejected_login_keeps_the_message_queued_until_the_password_is_fixed() {
    let tmp = tempfile::tempdir().unwrap();
    let exim = Exim::start();
    let mut plan = plan(tmp.path(), exim.port());
    plan.identities[0].username = Some(support::USER.into());
    plan.identities[0].secret = Some(esmtp::plan::SecretSource::Password(
        esmtp::plan::Secret::new("wrong password"),
    ));
    match submit(&plan, 1) {
        Ok(Submitted::Queued(why)) => assert!(why.contains("535"), "{why}"),
        other => panic!("a wrong password must not lose the mail: {other:?}"),
    }
    let spool = QueueDir::open(&queue::queue_dir(&plan).unwrap()).unwrap();
    assert_eq!(spool.infos().len(), 1);
    // The user fixes the password and flushes: it goes out.
    plan.identities[0].secret = Some(esmtp::plan::SecretSource::Password(
        esmtp::plan::Secret::new(support::PASSWORD),
    ));
    queue::flush(
        &plan,
        &SessionOptions::default(),
        esmtp::cli::convert_wrapper_entry,
    )
    .unwrap();
    let got = exim.wait_for_messages(1);
    assert_eq!(got[0].message, message(1));
    assert!(spool.infos().is_empty());
}
