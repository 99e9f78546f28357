//! The end of the file: identities declared twice, half credentials, the
//! default identity, and the [`Plan`] built from the sections.

use super::{Lowered, Lowerer};
use crate::config::codes::Code;
use crate::config::diag::{DiagList, Diagnostic, Span};
use crate::config::keywords::Key;
use crate::plan::{Identity, Plan, TlsPolicy};
use std::collections::HashMap;

impl<'s, 'o> Lowerer<'s, 'o> {
    /// The same identity declared more than once: esmtp 1.2 accepts it,
    /// `-f` selects the last declaration, and the default stays the one
    /// holding the file's first statement. Same meaning here, with a warning.
    fn duplicates(&mut self) {
        let default_section = self.default_mark.map(|d| d.0).or(self.first_statement);
        for group in self.declaration_groups() {
            let last = group[group.len() - 1];
            let Some((addr, span)) = self.sections[last].address.clone() else {
                continue;
            };
            let d = self.declared_more_than_once(&group, &addr, span, default_section);
            self.diags.push(d);
            if self.opts.compat {
                self.case_differences(&group[..group.len() - 1], &addr, span);
            }
        }
    }

    /// The sections of each address declared more than once, in file
    /// order, the groups ordered by their last declaration.
    fn declaration_groups(&self) -> Vec<Vec<usize>> {
        // Each declaration's previous one of the same address: one map
        // entry per address, no list per group (files may be huge).
        let mut last_of: HashMap<String, usize> = HashMap::new();
        let mut previous: Vec<Option<usize>> = vec![None; self.sections.len()];
        for (i, sec) in self.sections.iter().enumerate() {
            if let Some((addr, _)) = &sec.address {
                previous[i] = last_of.insert(crate::address::normalized(addr), i);
            }
        }
        let mut lasts: Vec<usize> = last_of
            .into_values()
            .filter(|&i| previous[i].is_some())
            .collect();
        lasts.sort_unstable();
        lasts
            .into_iter()
            .map(|last| {
                let mut group = vec![last];
                while let Some(p) = group.last().and_then(|&g| previous[g]) {
                    group.push(p);
                }
                group.reverse();
                group
            })
            .collect()
    }

    /// W020 for one address declared in the sections of `group`, the last
    /// of them at `span`.
    fn declared_more_than_once(
        &self,
        group: &[usize],
        addr: &str,
        span: Span,
        default_section: Option<usize>,
    ) -> Diagnostic {
        let earlier = &group[..group.len() - 1];
        let times = match group.len() {
            2 => "twice".to_string(),
            n => format!("{n} times"),
        };
        let mut d = Diagnostic::new(
            Code::W020,
            format!("identity `{addr}` declared {times}: `-f {addr}` selects the last declaration"),
        )
        .primary(
            span,
            format!("`-f {addr}` selects this declaration, as in esmtp 1.2"),
        );
        // The first declarations (and the default) are labelled; a file
        // with thousands of them gets a count, not thousands of labels.
        const LABELS: usize = 3;
        for (n, &e) in earlier.iter().enumerate() {
            let is_default = Some(e) == default_section;
            if n >= LABELS && !is_default {
                continue;
            }
            if let Some((eaddr, espan)) = &self.sections[e].address {
                let by_f = self.selected_by_f(group, e, eaddr);
                let label = if is_default {
                    format!("{by_f}; it stays the default identity")
                } else {
                    by_f
                };
                d = d.secondary(*espan, label);
            }
        }
        if earlier.len() > LABELS {
            d = d.note(format!(
                "declared {} times in all; only the last one is selected by `-f`",
                group.len()
            ));
        }
        d.help("merge the declarations into one identity, or remove the one you do not want")
    }

    /// When `-f` selects the earlier declaration `e` of `group`, spelled
    /// `eaddr`: `-f` prefers an exact spelling (1.2 compares exactly), so a
    /// declaration spelled unlike every later one is still selected by that
    /// spelling.
    fn selected_by_f(&self, group: &[usize], e: usize, eaddr: &str) -> String {
        let shadowed = group.iter().filter(|&&o| o > e).any(|&o| {
            self.sections[o]
                .address
                .as_ref()
                .is_some_and(|a| a.0 == *eaddr)
        });
        if shadowed {
            "never selected by `-f`".to_string()
        } else {
            format!("selected by `-f` only when spelled exactly `{eaddr}`")
        }
    }

    /// C005 for each `earlier` declaration whose spelling differs from the
    /// last one's (`addr`, at `span`) only in the case of the domain.
    fn case_differences(&mut self, earlier: &[usize], addr: &str, span: Span) {
        for &e in earlier {
            let Some((eaddr, _)) = &self.sections[e].address else {
                continue;
            };
            if eaddr != addr {
                self.diags.push(
                    Diagnostic::new(
                        Code::C005,
                        format!("`{eaddr}` and `{addr}` differ only in the case of the domain"),
                    )
                    .primary(span, "`-f` with another case of the domain selects the last declaration here; esmtp 1.2 compares exactly and uses the default identity"),
                );
            }
        }
    }

    /// A user name without a secret, or a secret without a user name: this
    /// identity cannot authenticate (esmtp 1.2 sends a broken AUTH or none),
    /// so it cannot send.
    fn half_credentials(&mut self) {
        for i in 0..self.sections.len() {
            let sec = &self.sections[i];
            let name = || match &sec.address {
                Some((a, _)) => format!("identity `{a}`"),
                None => "the unnamed section".to_string(),
            };
            let d = match sec.credential_spans() {
                (Some(u), None) => Diagnostic::new(
                    Code::E015,
                    format!("{} has a username but no password", name()),
                )
                .primary(u, "cannot authenticate without a secret")
                .help("add `password` (or `passwordeval \"COMMAND\"`) to this identity, or remove `username` if the server needs no login"),
                (None, Some(p)) => Diagnostic::new(
                    Code::E015,
                    format!("{} has a password but no username", name()),
                )
                .primary(p, "cannot authenticate without a user name")
                .help("add `username NAME` to this identity, or remove the password if the server needs no login"),
                _ => continue,
            };
            let d = self.identity_error(i, None, d);
            self.credential_errors.push(d);
        }
    }

    /// Port 465 without a TLS statement means implicit TLS.
    fn port_465_implicit_tls(&mut self) {
        let compat = self.opts.compat;
        let mut extra = Vec::new();
        for sec in &mut self.sections {
            if !sec.tls_given && sec.identity.relay.explicit && sec.identity.relay.port == 465 {
                sec.identity.tls = TlsPolicy::Implicit;
                if compat {
                    if let Some(span) = sec.values.get(&Key::Hostname) {
                        extra.push(
                            Diagnostic::new(Code::C003, "port 465 without `starttls`: implicit TLS")
                                .primary(*span, "TLS from the first byte here; esmtp 1.2 speaks plain SMTP to this port"),
                        );
                    }
                }
            }
        }
        for d in extra {
            self.diags.push(d);
        }
    }

    /// C104: 1.2 requires statements after every identity but the first.
    fn identities_without_statements(&mut self) {
        for sec in self.sections.iter().skip(2) {
            if sec.statements == 0 {
                if let Some((_, span)) = &sec.address {
                    self.diags.push(
                        Diagnostic::new(Code::C104, "identity without any statement")
                            .primary(
                                *span,
                                "esmtp 1.2 reports a syntax error after this identity",
                            )
                            .help("add its `hostname` (it relays to localhost:25 without one)"),
                    );
                }
            }
        }
    }

    pub fn finish(mut self) -> (Lowered, DiagList) {
        self.port_465_implicit_tls();
        self.duplicates();
        self.identities_without_statements();
        self.oauth2_sections();
        self.half_credentials();
        // Which sections the plan keeps: the unnamed one only when it holds
        // per-identity statements or there is no identity at all.
        let keep_unnamed = self.sections[0].own_statements > 0 || self.sections.len() == 1;
        self.number_error_lines();
        // With errors the plan is thrown away: do not build it.
        let failed = self.diags.has_errors();
        let mut plan_index = Vec::with_capacity(self.sections.len());
        let mut identities = Vec::with_capacity(if failed { 1 } else { self.sections.len() });
        for (i, sec) in self.sections.iter_mut().enumerate() {
            if failed || (i == 0 && !keep_unnamed) {
                plan_index.push(None);
            } else {
                plan_index.push(Some(identities.len()));
                let mut id = std::mem::replace(&mut sec.identity, Identity::new(None));
                id.unusable = std::mem::take(&mut sec.errors)
                    .into_iter()
                    .next()
                    .map(|e| Box::new(e.2));
                identities.push(id);
            }
        }
        let default_section = self
            .default_mark
            .map(|d| d.0)
            .or(self.first_statement)
            .unwrap_or(self.sections.len() - 1);
        let default_identity = plan_index
            .get(default_section)
            .copied()
            .flatten()
            .unwrap_or(0);
        let mut aliases_file = None;
        let mut aliases = None;
        if let Some((path, span)) = &self.aliases {
            // Errors of the aliases file wait for use (SPEC §2.3): `check`
            // reports them, the plan compiles with the file marked unusable,
            // and only a message to a local name fails.
            let unusable = |reason: String| crate::plan::Aliases {
                path: path.clone(),
                resolved: crate::config::aliases::resolve(path)
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| path.clone()),
                unusable: Some(reason),
                ..Default::default()
            };
            match crate::config::aliases::load(path) {
                Err(e) => {
                    aliases = Some(unusable(e.clone()));
                    self.identity_errors.push(
                        Diagnostic::new(Code::E024, e)
                            .primary(*span, "the aliases file")
                            .help("`aliases` names a readable regular file in the /etc/aliases format"),
                    );
                }
                Ok((table, report)) => {
                    let errors = report.diagnostics.iter().filter(|d| d.is_error()).count();
                    if errors > 0 {
                        let what = format!("{errors} error(s) in the aliases file {}", report.name);
                        aliases = Some(unusable(first_error(&report, errors)));
                        self.identity_errors.push(
                            Diagnostic::new(Code::E025, what)
                                .primary(*span, "this file")
                                .help(format!(
                                    "`newaliases` or `esmtp check` shows them in {}",
                                    report.name
                                )),
                        );
                    } else {
                        aliases = table;
                    }
                    aliases_file = Some(report);
                }
            }
        }
        let plan = Plan {
            identities,
            default_identity,
            mda: self.plan_mda,
            force_mda: self.force_mda,
            queue: self.queue,
            aliases,
            log: self.log,
        };
        (
            Lowered {
                identity_errors: self.identity_errors,
                credential_errors: self.credential_errors,
                sections: self.sections,
                plan_index,
                globals: self.globals,
                plan,
                aliases_file,
            },
            self.diags,
        )
    }
}

/// The first error of an aliases file, with its line, for the message of a
/// submission that needs the file.
fn first_error(report: &crate::config::aliases::AliasesFile, errors: usize) -> String {
    let Some(d) = report.diagnostics.iter().find(|d| d.is_error()) else {
        return format!("errors in {}", report.name);
    };
    let line = d.primary.as_ref().map_or(0, |l| {
        report.text[..l.span.start.min(report.text.len())]
            .matches('\n')
            .count()
            + 1
    });
    let more = match errors {
        0 | 1 => String::new(),
        n => format!(" and {} more error(s)", n - 1),
    };
    format!("{} (line {line}){more}; `newaliases` shows them", d.message)
}
