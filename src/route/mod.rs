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
    /// What `aliases FILE` replaced a recipient with.
    Aliases,
}

impl Source {
    fn status(self) -> u8 {
        match self {
            Source::CommandLine => USAGE,
            Source::Header => DATAERR,
            Source::Aliases => CONFIG,
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
    /// `aliases FILE`: each recipient replaced, with what it became
    /// (`root -> admin@example.org`), in order.
    pub aliased: Vec<(String, Vec<String>)>,
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
            if let Err(e) = check_header_address(bare(&s)) {
                return Err(Failure::new(
                    CONFIG,
                    format!("force sender gives {s:?}: {e}"),
                ));
            }
            Some(s)
        }
        None => None,
    };

    let (remote, local, aliased) = split_recipients(plan, id, sub)?;
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
        aliased,
    })
}

/// The recipients after `aliases FILE`: a name without `@` replaced by
/// what the file lists for it (checked as a local name first), with what
/// was replaced.
type Expanded = (Vec<(String, Source)>, Vec<(String, Vec<String>)>);

fn expand_aliases(plan: &Plan, sub: &Submission) -> Result<Expanded, Failure> {
    let mut out = Vec::with_capacity(sub.recipients.len());
    let mut aliased = Vec::new();
    for r in &sub.recipients {
        let table = match &plan.aliases {
            Some(t) if !r.addr.contains('@') => t,
            _ => {
                out.push((r.addr.clone(), r.source));
                continue;
            }
        };
        if let Some(why) = &table.unusable {
            return Err(Failure::new(
                CONFIG,
                format!(
                    "recipient {}: local names are looked up in the aliases file {}, which cannot be used: {why}",
                    r.addr, table.resolved
                ),
            ));
        }
        check_local(&r.addr).map_err(|e| {
            Failure::new(
                r.source.status(),
                format!("invalid recipient address {:?}: {e}", r.addr),
            )
        })?;
        let got = crate::config::aliases::expand(table, &r.addr).map_err(|e| {
            Failure::new(
                CONFIG,
                format!(
                    "recipient {}: {e} (in the aliases file {})",
                    r.addr, table.resolved
                ),
            )
        })?;
        if got.len() != 1 || got[0] != r.addr {
            aliased.push((r.addr.clone(), got.clone()));
        }
        // What the aliases file wrote is configuration: its faults are 78.
        out.extend(got.into_iter().map(|a| (a, Source::Aliases)));
    }
    Ok((out, aliased))
}

/// Remote recipients, local ones, and what aliases replaced.
type Split = (Vec<String>, Vec<String>, Vec<(String, Vec<String>)>);

/// Split into (remote, local), without duplicates, in order.
fn split_recipients(plan: &Plan, id: &Identity, sub: &Submission) -> Result<Split, Failure> {
    let (mut remote, mut local) = (Vec::new(), Vec::new());
    let mut seen = HashSet::new();
    let (recipients, aliased) = expand_aliases(plan, sub)?;
    for (addr, source) in &recipients {
        let bad = |e: String| {
            Failure::new(
                source.status(),
                format!("invalid recipient address {addr:?}: {e}"),
            )
        };
        if addr.contains('@') {
            check_remote(addr).map_err(bad)?;
            if seen.insert(addr.clone()) && plan.force_mda.is_none() {
                remote.push(addr.clone());
            }
        } else {
            check_local(addr).map_err(bad)?;
            let (addr, is_remote) = match &id.qualifydomain {
                Some(domain) => (format!("{addr}@{domain}"), true),
                None => (addr.clone(), false),
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
    Ok((remote, local, aliased))
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
    check_characters(addr)?;
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
    // A domain that is not ASCII must have an A-label form: a server
    // without SMTPUTF8 gets that form, and identities are matched by it.
    if let Err(e) = crate::address::ascii_domain(domain) {
        return Err(format!("{domain:?}: {e}"));
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
    check_characters(name)?;
    if name.starts_with('-') {
        return Err("a local name may not start with '-'".into());
    }
    if name.contains('/') {
        return Err("a local name may not contain '/'".into());
    }
    Ok(())
}

/// No control character (C0, DEL, C1) and no Unicode line or paragraph
/// separator: UTF-8 in an address opens no way to end a line.
fn check_characters(addr: &str) -> Result<(), String> {
    if addr.chars().any(char::is_control) {
        return Err("it contains a control character (CR, LF, NUL or similar)".into());
    }
    if addr.chars().any(crate::address::is_line_separator) {
        return Err("it contains a Unicode line or paragraph separator (U+2028, U+2029)".into());
    }
    Ok(())
}

/// An address written into a header: no line separator, and a domain
/// that has an A-label form.
fn check_header_address(addr: &str) -> Result<(), String> {
    check_characters(addr)?;
    match addr.rsplit_once('@') {
        Some((_, domain)) => crate::address::ascii_domain(domain)
            .map(drop)
            .map_err(|e| format!("{domain:?}: {e}")),
        None => Ok(()),
    }
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
    for (name, to) in &d.aliased {
        out.push_str(&format!("alias: {name} -> {}\n", to.join(", ")));
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
mod tests;
