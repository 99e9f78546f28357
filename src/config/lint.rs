//! Policy lints over the lowered configuration: secrets in files others can
//! read, credentials sent in clear, hosts and programs that look wrong,
//! settings without effect, and the TLS client certificate of the live file.

use super::codes::Code;
use super::diag::{DiagList, Diagnostic, Span};
use super::keywords::Key;
use super::lower::{Lowered, Options};
use crate::plan::{SecretSource, TemplatePart, TlsPolicy};
use std::path::Path;

fn is_loopback(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    h == "localhost"
        || h.ends_with(".localhost")
        || h == "::1"
        || h.starts_with("127.")
        || h.starts_with("/")
}

/// W025: credentials for another machine and no `starttls` statement.
/// The password is then never sent by a mechanism that reveals it (the
/// default is not an opt-out): sending fails unless the server offers
/// SCRAM, CRAM-MD5 or NTLM.
fn no_starttls_statement(
    name: &str,
    id: &crate::plan::Identity,
    secret: Span,
) -> Option<Diagnostic> {
    let label = match id.auth {
        Some(m) if !m.reveals_secret() => return None,
        Some(m) => format!(
            "`auth {}` would show it in clear to {}: sending will fail",
            m.config_name(),
            id.relay
        ),
        None => format!(
            "not sent unencrypted to {}: sending fails unless the server offers SCRAM, CRAM-MD5 or NTLM",
            id.relay
        ),
    };
    Some(
        Diagnostic::new(
            Code::W025,
            format!("{name} has a password but no `starttls` statement"),
        )
        .primary(secret, label)
        .help("write `starttls required` (or `starttls disabled` to accept sending the password in clear)"),
    )
}

fn looks_like_address(a: &str) -> bool {
    match a.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !a.chars().any(|c| c.is_whitespace() || c == '<' || c == '>')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        }
        None => false,
    }
}

/// Is the first word of a shell command an executable we can find?
fn program_found(command: &str) -> Option<String> {
    let words = shlex::split(command)?;
    // Skip leading VAR=value assignments.
    let prog = words
        .into_iter()
        .find(|w| !w.contains('=') || w.starts_with('/'))?;
    if prog.contains('/') {
        return if is_executable(Path::new(&prog)) {
            None
        } else {
            Some(prog)
        };
    }
    // Shell builtins and keywords cannot be checked.
    if matches!(
        prog.as_str(),
        "exec"
            | "cd"
            | "echo"
            | "printf"
            | "test"
            | "["
            | "true"
            | "false"
            | "if"
            | "for"
            | "while"
            | "case"
            | "{"
            | "("
            | "."
            | ":"
            | "eval"
            | "read"
    ) {
        return None;
    }
    let path = std::env::var_os("PATH")?;
    if std::env::split_paths(&path).any(|d| is_executable(&d.join(&prog))) {
        None
    } else {
        Some(prog)
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

pub fn lint(l: &Lowered, opts: &Options) -> DiagList {
    let mut out = DiagList::default();
    let mut has_password: Option<Span> = None;
    for (i, sec) in l.sections.iter().enumerate() {
        let Some(Some(pi)) = l.plan_index.get(i) else {
            continue;
        };
        let Some(id) = l.plan.identities.get(*pi) else {
            continue;
        };
        let name = match &sec.address {
            Some((a, _)) => format!("identity `{a}`"),
            None => "the unnamed section".to_string(),
        };
        let anchor = sec
            .address
            .as_ref()
            .map(|a| a.1)
            .or_else(|| sec.first.values().min_by_key(|s| s.start).copied());
        if let Some((addr, span)) = &sec.address {
            if !looks_like_address(addr) {
                out.push(
                    Diagnostic::new(Code::W008, format!("identity `{addr}` is not an e-mail address"))
                        .primary(*span, "`-f` can never select this identity")
                        .help("write the sender address it stands for, such as `identity \"john@example.org\"`"),
                );
            }
        }
        if !sec.values.contains_key(&Key::Hostname) {
            let mut d = Diagnostic::new(
                Code::W009,
                format!("{name} has no hostname: it relays to localhost:25"),
            );
            if let Some(a) = anchor {
                d = d.primary(a, "no `hostname` in this identity");
            }
            if i > 0 && l.sections[0].values.contains_key(&Key::Hostname) {
                d = d.note("identities do not inherit the hostname of the unnamed section");
            }
            out.push(d.help("add `hostname HOST:PORT` after it"));
        } else if let Some(span) = sec.values.get(&Key::Hostname) {
            let h = &id.relay.host;
            if h.is_empty() || h.chars().any(|c| c.is_whitespace() || c == '@' || c == '/') {
                out.push(
                    Diagnostic::new(Code::W019, format!("`{h}` does not look like a host name"))
                        .primary(*span, "sending will fail to connect"),
                );
            }
        }
        // A username without a secret (or the reverse) is E015, an error of
        // the identity (lower.rs).
        let (user_span, secret_span) = sec.credential_spans();
        if let Some(SecretSource::Password(p)) = &id.secret {
            if let Some(span) = sec.values.get(&Key::Password) {
                has_password.get_or_insert(*span);
                if p.is_empty() {
                    out.push(
                        Diagnostic::new(Code::W007, "empty password")
                            .primary(*span, "servers almost always refuse an empty secret")
                            .help(
                                "remove `username` and `password` if no authentication is wanted",
                            ),
                    );
                }
            }
        }
        if id.certificate_passphrase.is_some() {
            if let Some(span) = sec.values.get(&Key::CertificatePassphrase) {
                has_password.get_or_insert(*span);
                if id.tls == TlsPolicy::Disabled {
                    out.push(
                        Diagnostic::new(Code::W018, "`certificate_passphrase` with TLS disabled")
                            .primary(*span, "never used: this identity does not use TLS")
                            .help("add `starttls required`"),
                    );
                }
            }
        }
        if let Some(files) = &id.tls_files {
            for key in [
                Key::TlsFingerprint,
                Key::TlsTrustFile,
                Key::TlsCertFile,
                Key::TlsKeyFile,
            ] {
                let Some(span) = sec.values.get(&key) else {
                    continue;
                };
                // An `oauth2` identity's token endpoint trusts it too.
                let oauth2 = matches!(id.secret, Some(SecretSource::OAuth2(_)));
                if key == Key::TlsTrustFile && oauth2 {
                    continue;
                }
                if id.tls == TlsPolicy::Disabled {
                    let mut d =
                        Diagnostic::new(Code::W018, format!("`{}` with TLS disabled", key.name()))
                            .primary(*span, "never used: this identity does not use TLS");
                    if let Some(t) = sec.values.get(&Key::Starttls) {
                        d = d.secondary(*t, "TLS disabled here");
                    }
                    out.push(d.help("write `starttls required`"));
                } else if key == Key::TlsKeyFile && files.cert_file.is_none() {
                    out.push(
                        Diagnostic::new(Code::W018, "`tls_key_file` without `tls_cert_file`")
                            .primary(
                                *span,
                                "never used: there is no client certificate to go with it",
                            )
                            .help("add `tls_cert_file FILE` with the certificate of this key"),
                    );
                } else if key == Key::TlsTrustFile && files.fingerprint.is_some() {
                    let mut d =
                        Diagnostic::new(Code::W018, "`tls_trust_file` with `tls_fingerprint`")
                            .primary(*span, "never used: the fingerprint replaces the CA check");
                    if let Some(f) = sec.values.get(&Key::TlsFingerprint) {
                        d = d.secondary(*f, "the server is trusted by this fingerprint");
                    }
                    out.push(d.help("remove one of them"));
                }
            }
        }
        if let (Some(_), Some(s)) = (user_span, secret_span) {
            if id.tls == TlsPolicy::Disabled && !is_loopback(&id.relay.host) {
                match sec.values.get(&Key::Starttls) {
                    Some(t) if id.tls_explicit => out.push(
                        Diagnostic::new(
                            Code::W005,
                            format!("{name} sends its password in clear text"),
                        )
                        .primary(s, format!("sent unencrypted to {}", id.relay))
                        .secondary(*t, "TLS disabled here")
                        .help("write `starttls required` in place of `starttls disabled`"),
                    ),
                    _ => {
                        if let Some(d) = no_starttls_statement(&name, id, s) {
                            out.push(d);
                        }
                    }
                }
            }
        }
        if id.relay.port == 465 && matches!(id.tls, TlsPolicy::Enabled | TlsPolicy::Required) {
            let mut d = Diagnostic::new(Code::W010, "STARTTLS on port 465, the implicit-TLS port");
            if let Some(t) = sec.values.get(&Key::Starttls) {
                d = d.primary(*t, "the server expects TLS from the first byte");
            }
            if let Some(h) = sec.values.get(&Key::Hostname) {
                d = d.secondary(*h, "port 465 here");
            }
            out.push(d.help("write `starttls implicit`, or use port 587 with STARTTLS"));
        }
        if let Some(mech) = id.auth {
            if let Some(span) = sec.values.get(&Key::Auth) {
                if user_span.is_none() || secret_span.is_none() {
                    out.push(
                        Diagnostic::new(
                            Code::W015,
                            format!("`auth {}` without credentials", mech.config_name()),
                        )
                        .primary(*span, "nothing to authenticate with")
                        .help("add `username` and `password` (or `passwordeval`)"),
                    );
                } else if mech.takes_token() && matches!(id.secret, Some(SecretSource::Password(_)))
                {
                    out.push(
                        Diagnostic::new(
                            Code::W015,
                            format!("`auth {}` with a fixed password", mech.config_name()),
                        )
                        .primary(*span, "OAuth 2 access tokens expire within hours")
                        .help("let esmtp get the token (`oauth2`), or fetch it with `passwordeval \"COMMAND\"`"),
                    );
                }
            }
        }
        if opts.lint_programs {
            for (key, cmd) in [
                (Key::Preconnect, id.preconnect.as_deref()),
                (Key::Postconnect, id.postconnect.as_deref()),
                (
                    Key::Passwordeval,
                    match &id.secret {
                        Some(SecretSource::Eval(c)) => Some(c.as_str()),
                        _ => None,
                    },
                ),
            ] {
                if let (Some(cmd), Some(span)) = (cmd, sec.values.get(&key)) {
                    if let Some(prog) = program_found(cmd) {
                        out.push(
                            Diagnostic::new(Code::W014, format!("program `{prog}` not found"))
                                .primary(*span, format!("`{}` runs it", key.name()))
                                .help("install it, or give its full path"),
                        );
                    }
                }
            }
        }
    }
    // Globals.
    if let Some(mda) = &l.plan.mda {
        let span = l.globals.get(&Key::Mda).copied();
        if !mda.parts.contains(&TemplatePart::Recipients) {
            let mut d = Diagnostic::new(Code::W011, "`mda` without `%T`");
            if let Some(s) = span {
                d = d.primary(s, "the MDA is not told the recipients");
            }
            out.push(d.help(format!(
                "for procmail: `mda \"{} -d %T\"`",
                mda.source.trim_end()
            )));
        }
        if opts.lint_programs {
            if let (Some(prog), Some(s)) = (program_found(&mda.source.replace('%', "")), span) {
                out.push(
                    Diagnostic::new(Code::W014, format!("program `{prog}` not found"))
                        .primary(s, "`mda` runs it")
                        .help("install it, or give its full path"),
                );
            }
        }
    }
    if l.plan.force_mda.is_some() && l.plan.mda.is_none() {
        let mut d = Diagnostic::new(Code::W012, "`force_mda` without `mda`");
        if let Some(s) = l.globals.get(&Key::ForceMda) {
            d = d.primary(*s, "every message goes to the MDA, but none is set");
        }
        out.push(d.help("add `mda \"/usr/bin/procmail -d %T\"` or similar"));
    }
    if let Some(span) = has_password {
        if opts.system_file {
            out.push(
                Diagnostic::new(Code::W004, "password in /etc/esmtprc")
                    .primary(span, "every user of this machine can read it")
                    .help("move credentials to each user's ~/.esmtprc (mode 0600)"),
            );
        } else if let Some(mode) = opts.file_mode {
            if mode & 0o044 != 0 {
                out.push(
                    Diagnostic::new(
                        Code::W003,
                        format!(
                            "password in a file that others can read (mode {:04o})",
                            mode & 0o7777
                        ),
                    )
                    .primary(span, "readable by other users")
                    .help("run `chmod 600` on the file"),
                );
            }
        }
    }
    out
}

/// The live configuration only: an identity that uses TLS with a client
/// certificate in `~/.authenticate` that cannot be used (unreadable, too
/// open, a key that does not decrypt with `certificate_passphrase`). An
/// error of that identity (E016): sending through it fails with status 78
/// before connecting, with the same message.
pub fn client_certificates(l: &Lowered, check: super::lower::CertCheck) -> DiagList {
    let mut out = DiagList::default();
    for (i, sec) in l.sections.iter().enumerate() {
        let Some(Some(pi)) = l.plan_index.get(i) else {
            continue;
        };
        let Some(id) = l.plan.identities.get(*pi) else {
            continue;
        };
        if id.tls == TlsPolicy::Disabled || id.unusable.is_some() {
            continue;
        }
        let Some(problem) = check(id) else {
            continue;
        };
        let span = sec
            .values
            .get(&Key::TlsCertFile)
            .or(sec.values.get(&Key::TlsKeyFile))
            .or(sec.values.get(&Key::CertificatePassphrase))
            .or(sec.values.get(&Key::Starttls))
            .or(sec.values.get(&Key::Hostname))
            .copied()
            .or(sec.address.as_ref().map(|a| a.1));
        let mut d = Diagnostic::new(
            Code::E016,
            format!("the TLS client certificate cannot be used: {problem}"),
        );
        if let Some(span) = span {
            d = d.primary(
                span,
                format!("TLS to {} presents this certificate", id.relay),
            );
        }
        let help = if id.tls_files.as_ref().is_some_and(|f| f.cert_file.is_some()) {
            "fix the tls_cert_file (or tls_key_file); sending through this identity fails until then"
        } else {
            "fix the file in ~/.authenticate (or remove it to send without a client certificate); sending through this identity fails until then"
        };
        out.push(d.help(help));
    }
    out
}
