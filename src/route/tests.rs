//! Unit tests of routing: the deliveries, their order and their
//! description for given plans and submissions.

use super::*;
use crate::plan::{QueueMode, Template, TemplatePart};

fn lit(s: &str) -> TemplatePart {
    TemplatePart::Literal(s.into())
}

fn mda() -> Template {
    Template {
        source: "/usr/bin/procmail -f %F -d %T".into(),
        parts: vec![
            lit("/usr/bin/procmail -f "),
            TemplatePart::Sender,
            lit(" -d "),
            TemplatePart::Recipients,
        ],
    }
}

/// Unnamed section (default), work@Example.COM, home@example.net.
fn plan() -> Plan {
    let mut p = Plan::empty();
    let mut work = Identity::new(Some("work@Example.COM".into()));
    work.relay.host = "smtp.example.com".into();
    work.relay.port = 587;
    work.qualifydomain = Some("example.com".into());
    let mut home = Identity::new(Some("Home Me <home@example.net>".into()));
    home.message_id = false;
    p.identities.push(work);
    p.identities.push(home);
    p.mda = Some(mda());
    p
}

fn sub(sender: Option<&str>, rcpts: &[&str]) -> Submission {
    Submission {
        sender: sender.map(Mailbox::new),
        header_from: None,
        full_name: None,
        recipients: rcpts
            .iter()
            .map(|r| Recipient {
                addr: r.to_string(),
                source: Source::CommandLine,
            })
            .collect(),
        login: "alice".into(),
        hostname: "host.local".into(),
    }
}

#[test]
fn a_duplicate_identity_is_the_last_declaration_as_in_1_2() {
    let mut p = Plan::empty();
    for (addr, host) in [
        ("a@example.com", "first"),
        ("a@Example.com", "second"),
        ("a@example.com", "third"),
        ("b@example.com", "b"),
    ] {
        let mut id = Identity::new(Some(addr.into()));
        id.relay.host = host.into();
        p.identities.push(id);
    }
    let host = |sender: &str| {
        let d = route(&p, &sub(Some(sender), &["x@y.z"])).unwrap();
        p.identities[d.identity].relay.host.clone()
    };
    // The last exact spelling; an exact spelling before a case-insensitive
    // match (1.2 compares exactly); otherwise the last match.
    assert_eq!(host("a@example.com"), "third");
    assert_eq!(host("a@Example.com"), "second");
    assert_eq!(host("a@EXAMPLE.COM"), "third");
    assert_eq!(host("b@example.com"), "b");
    assert_eq!(declarations(&p, 3), 3);
    assert_eq!(declarations(&p, 4), 1);
    assert_eq!(declarations(&p, 0), 1);
    let d = route(&p, &sub(Some("a@example.com"), &["x@y.z"])).unwrap();
    assert!(
        describe(&p, &d).contains("declared 3 times"),
        "{}",
        describe(&p, &d)
    );
}

#[test]
fn identity_selection_exact_and_domain_case_insensitive() {
    let p = plan();
    let d = route(&p, &sub(Some("work@example.com"), &["a@b.c"])).unwrap();
    assert_eq!((d.identity, d.selected_by), (1, SelectedBy::Sender));
    assert_eq!(d.envelope_sender, "work@example.com");
    // Local part is case-sensitive.
    let d = route(&p, &sub(Some("Work@example.com"), &["a@b.c"])).unwrap();
    assert_eq!((d.identity, d.selected_by), (0, SelectedBy::Default));
    assert_eq!(d.envelope_sender, "Work@example.com");
    // Identity written as "Name <addr>".
    let d = route(&p, &sub(Some("home@EXAMPLE.net"), &["a@b.c"])).unwrap();
    assert_eq!(d.identity, 2);
    assert!(!d.message_id);
}

#[test]
fn sender_given_as_name_and_address() {
    let p = plan();
    let mut s = sub(None, &["a@b.c"]);
    s.sender = Some(Mailbox {
        name: Some("W. Ork".into()),
        addr: "work@example.com".into(),
    });
    let d = route(&p, &s).unwrap();
    assert_eq!(d.identity, 1);
    assert_eq!(d.from.name.as_deref(), Some("W. Ork"));
    s.full_name = Some("Full Name".into());
    assert_eq!(
        route(&p, &s).unwrap().from.name.as_deref(),
        Some("Full Name")
    );
}

#[test]
fn default_identity_and_default_sender() {
    let mut p = plan();
    let d = route(&p, &sub(None, &["a@b.c"])).unwrap();
    assert_eq!((d.identity, d.selected_by), (0, SelectedBy::Default));
    assert_eq!(d.envelope_sender, "alice@host.local");
    assert_eq!(d.from, Mailbox::new("alice@host.local"));
    // A default identity with an address sends as that address.
    p.default_identity = 1;
    let d = route(&p, &sub(None, &["a@b.c"])).unwrap();
    assert_eq!(d.envelope_sender, "work@Example.COM");
    // An unknown -f selects the default but is still the sender.
    let d = route(&p, &sub(Some("x@y.z"), &["a@b.c"])).unwrap();
    assert_eq!((d.identity, d.envelope_sender.as_str()), (1, "x@y.z"));
}

#[test]
fn from_header_selects_with_t_but_f_wins() {
    let p = plan();
    let mut s = sub(None, &["a@b.c"]);
    s.header_from = Some(Mailbox::new("home@example.net"));
    let d = route(&p, &s).unwrap();
    assert_eq!((d.identity, d.selected_by), (2, SelectedBy::FromHeader));
    assert_eq!(d.envelope_sender, "home@example.net");
    s.sender = Some(Mailbox::new("work@example.com"));
    let d = route(&p, &s).unwrap();
    assert_eq!((d.identity, d.selected_by), (1, SelectedBy::Sender));
}

#[test]
fn qualifydomain_makes_local_names_remote() {
    let p = plan();
    let d = route(&p, &sub(Some("work@example.com"), &["bob", "c@d.e"])).unwrap();
    assert_eq!(d.remote, ["bob@example.com", "c@d.e"]);
    assert_eq!(d.local, None);
    // The default identity has no qualifydomain: bob is local.
    let d = route(&p, &sub(None, &["bob", "c@d.e"])).unwrap();
    assert_eq!(d.remote, ["c@d.e"]);
    let local = d.local.unwrap();
    assert_eq!(local.recipients, ["bob"]);
    assert_eq!(
        local.command,
        "/usr/bin/procmail -f alice@host.local -d bob"
    );
}

#[test]
fn mixed_recipients_keep_order_and_drop_duplicates() {
    let p = plan();
    let d = route(
        &p,
        &sub(None, &["x@a.b", "bob", "y@a.b", "x@a.b", "carol", "bob"]),
    )
    .unwrap();
    assert_eq!(d.remote, ["x@a.b", "y@a.b"]);
    assert_eq!(d.local.unwrap().recipients, ["bob", "carol"]);
}

#[test]
fn force_mda_takes_everything() {
    let mut p = plan();
    p.force_mda = Some("mailbox".into());
    let d = route(&p, &sub(None, &["x@a.b", "bob"])).unwrap();
    assert!(d.remote.is_empty());
    assert_eq!(d.local.unwrap().recipients, ["mailbox"]);
}

#[test]
fn force_reverse_path_and_force_sender() {
    let mut p = plan();
    p.identities[1].force_reverse_path = Some(Template {
        source: "%u@example.com".into(),
        parts: vec![TemplatePart::Login, lit("@example.com")],
    });
    p.identities[1].force_sender = Some(Template {
        source: "%u <%u@example.com>".into(),
        parts: vec![
            TemplatePart::Login,
            lit(" <"),
            TemplatePart::Login,
            lit("@example.com>"),
        ],
    });
    let d = route(&p, &sub(Some("work@example.com"), &["a@b.c"])).unwrap();
    assert_eq!(d.envelope_sender, "alice@example.com");
    // The -f address is still what a missing From: gets.
    assert_eq!(d.from.addr, "work@example.com");
    assert_eq!(
        d.sender_header.as_deref(),
        Some("alice <alice@example.com>")
    );
}

#[test]
fn local_without_mda_is_72() {
    let mut p = plan();
    p.mda = None;
    let e = route(&p, &sub(None, &["bob"])).unwrap_err();
    assert_eq!(e.status, OSFILE);
    assert!(route(&p, &sub(None, &["a@b.c"])).is_ok());
}

#[test]
fn injection_attempts_are_refused_or_quoted() {
    let p = plan();
    for bad in [
        "a@b.c\r\nRCPT TO:<x@y>",
        "a>@b.c",
        "<a@b.c>",
        "a b@c.d",
        "a@b c.d",
        "-oQ/tmp",
        "-oQx",
        "-oQ/tmp@x.org",
        "../../etc/passwd",
        "a/b",
    ] {
        let e = route(&p, &sub(None, &[bad])).unwrap_err();
        assert_eq!(e.status, USAGE, "{bad}");
    }
    for bad in [
        "x@y.z\nX-Evil: 1",
        "x>@y.z",
        "a <b@c.d>",
        "-oQ/tmp/x@x.org",
        "-f@x.org",
        "-root",
        "a/b",
    ] {
        let e = route(&p, &sub(Some(bad), &["a@b.c"])).unwrap_err();
        assert_eq!(e.status, USAGE, "{bad}");
    }
    let mut s = sub(None, &[]);
    s.recipients.push(Recipient {
        addr: "x@y\rz".into(),
        source: Source::Header,
    });
    assert_eq!(route(&p, &s).unwrap_err().status, DATAERR);
    let d = route(&p, &sub(None, &["x'; touch pwned #"])).unwrap();
    assert_eq!(
        d.local.unwrap().command,
        "/usr/bin/procmail -f alice@host.local -d 'x'\\''; touch pwned #'"
    );
    // From the headers (-t): 65; from the file: 78.
    let mut s = sub(None, &[]);
    s.header_from = Some(Mailbox::new("-oQ/tmp/x@x.org"));
    s.recipients.push(Recipient {
        addr: "bob".into(),
        source: Source::Header,
    });
    assert_eq!(route(&p, &s).unwrap_err().status, DATAERR);
    let mut p = plan();
    p.force_mda = Some("../mbox".into());
    assert_eq!(
        route(&p, &sub(None, &["a@b.c"])).unwrap_err().status,
        CONFIG
    );
}

#[test]
fn valid_odd_addresses() {
    for ok in [
        "\"a b\"@c.d",
        "o'hara@x.ie",
        "a+tag@b.c",
        "x@[127.0.0.1]",
        "jö@bü.de",
    ] {
        assert_eq!(check_remote(ok), Ok(()), "{ok}");
    }
    assert!(check_sender("").is_ok());
    assert!(check_sender("root").is_ok());
}

#[test]
fn no_recipients_is_65() {
    assert_eq!(route(&plan(), &sub(None, &[])).unwrap_err().status, DATAERR);
}

#[test]
fn deterministic() {
    let mut p = plan();
    p.queue.mode = QueueMode::Enabled;
    let s = sub(Some("home@example.net"), &["b@c.d", "bob", "a@c.d"]);
    let a = route(&p, &s).unwrap();
    for _ in 0..10 {
        assert_eq!(route(&p, &s).unwrap(), a);
    }
    assert_eq!(describe(&p, &a), describe(&p, &route(&p, &s).unwrap()));
    assert!(describe(&p, &a).contains("remote via queue, then smtp localhost:25"));
}

#[test]
fn international_addresses_route_and_select() {
    let mut p = Plan::empty();
    let mut id = Identity::new(Some("jörg@xn--bcher-kva.example".into()));
    id.relay.host = "bücher".into();
    id.qualifydomain = Some("例え.テスト".into());
    p.identities.push(id);
    let d = route(
        &p,
        &sub(
            Some("jörg@BÜCHER.example"),
            &["root", "ана@пример.испытание"],
        ),
    )
    .unwrap();
    assert_eq!(d.identity, 1);
    assert_eq!(d.selected_by, SelectedBy::Sender);
    // Addresses stay as written: the transport picks the form per server.
    assert_eq!(d.envelope_sender, "jörg@BÜCHER.example");
    assert_eq!(d.remote, ["root@例え.テスト", "ана@пример.испытание"]);
    for (bad, why) in [
        ("a@-bücher.example", "IDNA"),
        ("a@bü\u{2028}cher.example", "U+2028"),
        ("a\u{85}b@example.org", "control"),
    ] {
        let e = route(&p, &sub(Some("x@example.org"), &[bad])).unwrap_err();
        assert_eq!(e.status, USAGE, "{bad:?}");
        assert!(e.message.contains(why), "{bad:?}: {}", e.message);
    }
}
