//! Routing (SPEC §5): plan + submission → the deliveries to make.
//!
//! A pure function: no I/O, no clock, no environment. The login name and the
//! host name come in with the submission, so the same plan and arguments
//! always give the same decision, in the same order.

use crate::address::{bare, same};
use crate::exit::{Failure, CONFIG, DATAERR, OSFILE, USAGE};
use crate::message::Mailbox;
use crate::plan::{Identity, Plan};
use std::collections::HashSet;
use std::fmt;

/// Where an address came from: decides the exit status when it is bad
/// (64 for the command line, 65 for the message, 78 for the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    CommandLine,
    Header,
}

impl Source {
    fn status(self) -> u8 {
        match self {
            Source::CommandLine => USAGE,
            Source::Header => DATAERR,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub addr: String,
    pub source: Source,
}

/// Everything routing needs to know about one message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Submission {
    /// `-f`/`-r`.
    pub sender: Option<Mailbox>,
    /// The first `From:` mailbox, with `-t`.
    pub header_from: Option<Mailbox>,
    /// `-F`.
    pub full_name: Option<String>,
    /// Command line first, then (with `-t`) the headers.
    pub recipients: Vec<Recipient>,
    /// Login name of the user (`%u`, default sender).
    pub login: String,
    /// Host name (default sender's domain).
    pub hostname: String,
}

/// What chose the identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectedBy {
    /// The `-f` address equals the identity's address.
    Sender,
    /// With `-t` and no `-f`: the `From:` address.
    FromHeader,
    /// Nothing matched: the default identity.
    Default,
}

/// Local delivery through the MDA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Local {
    pub recipients: Vec<String>,
    /// The shell command, `%T`/`%F` expanded and quoted.
    pub command: String,
}

/// The routing decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Index into `plan.identities`.
    pub identity: usize,
    pub selected_by: SelectedBy,
    /// Reverse path (empty: the null sender).
    pub envelope_sender: String,
    /// The `From:` to add when the message has none.
    pub from: Mailbox,
    /// `force sender`: the `Sender:` value.
    pub sender_header: Option<String>,
    /// Add `Message-ID:` when missing.
    pub message_id: bool,
    /// Recipients for the identity's smarthost, in one transaction.
    pub remote: Vec<String>,
    pub local: Option<Local>,
}

/// Decide where the message goes.
pub fn route(plan: &Plan, sub: &Submission) -> Result<Decision, Failure> {
    let (candidate, candidate_source, by) = match (&sub.sender, &sub.header_from) {
        (Some(m), _) => (Some(m), Source::CommandLine, SelectedBy::Sender),
        (None, Some(m)) => (Some(m), Source::Header, SelectedBy::FromHeader),
        (None, None) => (None, Source::CommandLine, SelectedBy::Default),
    };
    let (identity, selected_by) = match candidate.and_then(|m| find_identity(plan, &m.addr)) {
        Some(i) => (i, by),
        None => (plan.default_identity, SelectedBy::Default),
    };
    let id = plan
        .identities
        .get(identity)
        .ok_or_else(|| Failure::new(CONFIG, "the plan has no default identity"))?;
    let default_sender = format!("{}@{}", sub.login, sub.hostname);
    let identity_addr = id.address.as_deref().map(bare);

    let envelope_sender = if let Some(t) = &id.force_reverse_path {
        let s = t.expand(&sub.login, &[], "", |v| v.to_string());
        check_sender(&s)
            .map_err(|e| Failure::new(CONFIG, format!("force reverse_path gives {s:?}: {e}")))?;
        s
    } else if let Some(m) = candidate {
        check_sender(&m.addr).map_err(|e| {
            Failure::new(
                candidate_source.status(),
                format!("invalid sender address {:?}: {e}", m.addr),
            )
        })?;
        m.addr.clone()
    } else if let Some(a) = identity_addr {
        a.to_string()
    } else {
        default_sender.clone()
    };

    let from_addr = [
        sub.sender.as_ref().map(|m| m.addr.as_str()),
        Some(envelope_sender.as_str()),
    ]
    .into_iter()
    .flatten()
    .find(|a| !a.is_empty())
    .unwrap_or(&default_sender);
    let from = Mailbox {
        name: sub
            .full_name
            .clone()
            .or_else(|| sub.sender.as_ref().and_then(|m| m.name.clone())),
        addr: from_addr.to_string(),
    };

    let sender_header = match &id.force_sender {
        Some(t) => {
            let s = t.expand(&sub.login, &[], "", |v| v.to_string());
            if s.chars().any(char::is_control) {
                return Err(Failure::new(
                    CONFIG,
                    format!("force sender gives {s:?}, which holds a control character"),
                ));
            }
            Some(s)
        }
        None => None,
    };

    let (remote, local) = split_recipients(plan, id, sub)?;
    if remote.is_empty() && local.is_empty() {
        return Err(Failure::new(DATAERR, "no recipients"));
    }
    let local = if local.is_empty() {
        None
    } else {
        let Some(mda) = &plan.mda else {
            return Err(Failure::new(
                OSFILE,
                format!(
                    "no mda configured: local delivery to {} needs an `mda` statement in the configuration",
                    local.join(", ")
                ),
            ));
        };
        let command = mda.shell_command(&sub.login, &local, &envelope_sender);
        Some(Local {
            recipients: local,
            command,
        })
    };

    Ok(Decision {
        identity,
        selected_by,
        envelope_sender,
        from,
        sender_header,
        message_id: id.message_id,
        remote,
        local,
    })
}

/// Split into (remote, local), without duplicates, in order.
fn split_recipients(
    plan: &Plan,
    id: &Identity,
    sub: &Submission,
) -> Result<(Vec<String>, Vec<String>), Failure> {
    let (mut remote, mut local) = (Vec::new(), Vec::new());
    let mut seen = HashSet::new();
    for r in &sub.recipients {
        let bad = |e: String| {
            Failure::new(
                r.source.status(),
                format!("invalid recipient address {:?}: {e}", r.addr),
            )
        };
        if r.addr.contains('@') {
            check_remote(&r.addr).map_err(bad)?;
            if seen.insert(r.addr.clone()) && plan.force_mda.is_none() {
                remote.push(r.addr.clone());
            }
        } else {
            check_local(&r.addr).map_err(bad)?;
            let (addr, is_remote) = match &id.qualifydomain {
                Some(domain) => (format!("{}@{domain}", r.addr), true),
                None => (r.addr.clone(), false),
            };
            if seen.insert(addr.clone()) && plan.force_mda.is_none() {
                if is_remote {
                    check_remote(&addr).map_err(bad)?;
                    remote.push(addr);
                } else {
                    local.push(addr);
                }
            }
        }
    }
    if let Some(user) = &plan.force_mda {
        check_local(user)
            .map_err(|e| Failure::new(CONFIG, format!("invalid force_mda user {user:?}: {e}")))?;
        local = vec![user.clone()];
    }
    Ok((remote, local))
}

/// The identity whose address equals `addr` (local part exact, domain
/// case-insensitive). An identity declared more than once is the *last*
/// declaration, as in esmtp 1.2; among declarations that differ in the
/// case of the domain, one spelled exactly as `addr` comes first (1.2
/// compares exactly).
pub fn find_identity(plan: &Plan, addr: &str) -> Option<usize> {
    fn address(id: &Identity) -> Option<&str> {
        id.address.as_deref().map(bare)
    }
    plan.identities
        .iter()
        .rposition(|id| address(id) == Some(addr))
        .or_else(|| {
            plan.identities
                .iter()
                .rposition(|id| address(id).is_some_and(|a| same(a, addr)))
        })
}

/// How many identities of the plan share the address of `plan.identities[i]`
/// (1 when it is declared once).
pub fn declarations(plan: &Plan, i: usize) -> usize {
    let Some(addr) = plan.identities.get(i).and_then(|id| id.address.as_deref()) else {
        return 1;
    };
    let addr = bare(addr);
    plan.identities
        .iter()
        .filter(|id| id.address.as_deref().is_some_and(|a| same(bare(a), addr)))
        .count()
}

const ATEXT_SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~";

/// Why an address may not start with `-`: every program it is handed to on
/// a command line (the MDA's `%F` and `%T`, a bounce to the sender, the
/// smarthost's own delivery) would take it for an option. Postfix refuses
/// such addresses too (`allow_min_user = no`).
const LEADING_DASH: &str =
    "an address may not start with '-' (a program it is handed to would read it as an option)";

/// An address fit for `MAIL FROM`/`RCPT TO`: `local@domain`, the local part
/// a dot-atom or a quoted string, no blanks or controls outside quotes,
/// never `<` or `>`, never a leading `-`.
pub fn check_remote(addr: &str) -> Result<(), String> {
    if addr.chars().any(char::is_control) {
        return Err("it contains a control character (CR, LF, NUL or similar)".into());
    }
    if addr.starts_with('-') {
        return Err(LEADING_DASH.into());
    }
    let Some((local, domain)) = addr.rsplit_once('@') else {
        return Err("it has no @domain".into());
    };
    if domain.is_empty() {
        return Err("the domain after @ is empty".into());
    }
    let literal = domain.starts_with('[') && domain.ends_with(']');
    let domain_ok = if literal {
        domain[1..domain.len() - 1]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".:-".contains(c))
    } else {
        domain.split('.').all(|l| {
            !l.is_empty()
                && l.chars()
                    .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
        })
    };
    if !domain_ok {
        return Err(format!("{domain:?} is not a domain"));
    }
    if local.is_empty() {
        return Err("the part before @ is empty".into());
    }
    if local.len() >= 2 && local.starts_with('"') && local.ends_with('"') {
        let inner = &local[1..local.len() - 1];
        let mut escaped = false;
        for c in inner.chars() {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => return Err("a quote inside a quoted local part".into()),
                _ => {}
            }
        }
        if escaped {
            return Err("the quoted local part ends in a backslash".into());
        }
        return Ok(());
    }
    let atom_ok = local.split('.').all(|atom| {
        !atom.is_empty()
            && atom
                .chars()
                .all(|c| c.is_alphanumeric() || ATEXT_SPECIALS.contains(c) || !c.is_ascii())
    });
    if !atom_ok {
        return Err(if local.chars().any(char::is_whitespace) {
            "it contains a blank; quote the local part (\"a b\"@example.org)".into()
        } else {
            format!("{local:?} is not a valid local part")
        });
    }
    Ok(())
}

/// A local user name for the MDA: anything the shell quoting can carry, but
/// no control characters, no leading `-` (the MDA would read an option) and
/// no `/` (an MDA that makes a path of the name, `$HOME/Mail/$USER` or a
/// maildir named after it, would leave its directory).
pub fn check_local(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".into());
    }
    if name.chars().any(char::is_control) {
        return Err("it contains a control character (CR, LF, NUL or similar)".into());
    }
    if name.starts_with('-') {
        return Err("a local name may not start with '-'".into());
    }
    if name.contains('/') {
        return Err("a local name may not contain '/'".into());
    }
    Ok(())
}

/// A reverse path: empty (null sender), a remote address, or a local name.
pub fn check_sender(addr: &str) -> Result<(), String> {
    if addr.is_empty() {
        Ok(())
    } else if addr.contains('@') {
        check_remote(addr)
    } else if addr.contains(['<', '>']) || addr.chars().any(char::is_whitespace) {
        Err("it contains a blank or an angle bracket".into())
    } else {
        check_local(addr)
    }
}

impl fmt::Display for SelectedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SelectedBy::Sender => "selected by the -f address",
            SelectedBy::FromHeader => "selected by the From: address",
            SelectedBy::Default => "the default identity",
        })
    }
}

/// The decision as text (for `esmtp route`).
pub fn describe(plan: &Plan, d: &Decision) -> String {
    let mut out = String::new();
    let Some(id) = plan.identities.get(d.identity) else {
        return out;
    };
    let name = id.address.as_deref().unwrap_or("(unnamed)");
    out.push_str(&format!("identity: {name} ({})\n", d.selected_by));
    let n = declarations(plan, d.identity);
    if n > 1 {
        let which = if d.selected_by == SelectedBy::Default {
            "this is the default one; `-f` selects the last"
        } else {
            "`-f` selects the last, this one"
        };
        out.push_str(&format!(
            "  declared {n} times in the configuration: {which}\n"
        ));
    }
    let sender = if d.envelope_sender.is_empty() {
        "<>"
    } else {
        &d.envelope_sender
    };
    out.push_str(&format!("envelope sender: {sender}\n"));
    if let Some(s) = &d.sender_header {
        out.push_str(&format!("Sender: {s}\n"));
    }
    if !d.remote.is_empty() {
        let how = match plan.queue.mode {
            crate::plan::QueueMode::Disabled => "smtp",
            _ => "queue, then smtp",
        };
        out.push_str(&format!(
            "remote via {how} {} (starttls {}): {}\n",
            id.relay,
            id.tls.as_str(),
            d.remote.join(", ")
        ));
        if let Some(u) = &id.unusable {
            out.push_str(&format!(
                "  cannot be sent: this identity is unusable: {u}\n"
            ));
        }
    }
    if let Some(l) = &d.local {
        out.push_str(&format!(
            "local via mda: {}\n  command: {}\n",
            l.recipients.join(", "),
            l.command
        ));
    }
    out
}

#[cfg(test)]
mod tests {
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
}
