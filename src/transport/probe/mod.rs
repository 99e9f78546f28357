//! `esmtp probe`: connect to an identity's smarthost exactly as a
//! submission does (preconnect, the connect timeout, implicit TLS or
//! STARTTLS per its policy, its trust: ~/.authenticate, `tls_trust_file`,
//! `tls_fingerprint`), note what the server offers on the way, optionally
//! log in through the one authentication path submissions use, QUIT
//! (nothing is sent), run postconnect, and hold what was seen against the
//! plan: warnings W050-W058 with their fixes.
//!
//! The session is [`smtp::Connection`]'s own, in probing mode: the only
//! differences are that the secret is read only with `--login`, that the
//! certificate's verifier records the chain and its verdict and lets the
//! handshake end even when it does not verify (to show the certificate),
//! and that no login is tried over a certificate that did not verify.

mod certificate;
mod render;

pub use certificate::CertificateInfo;
pub use render::{render_json, render_text};

use super::auth::PREFERENCE;
use super::smtp::{self, Connection, Login, NoMechanism, Observed, Probing, TlsMode};
use super::{usable, SessionOptions};
use crate::config::codes::Code;
use crate::exit;
use crate::plan::{AuthMech, Identity, TlsPolicy};
use serde::Serialize;

/// A SIZE limit below this is smaller than much of today's mail (W055).
pub const TYPICAL_MAIL: u64 = 10 * 1024 * 1024;
/// A certificate that expires within this many seconds is reported (W053).
pub const EXPIRY_WARNING_SECS: i64 = 14 * 24 * 3600;

/// What the server offers (its EHLO reply).
#[derive(Debug, Clone, Serialize, Default)]
pub struct Extensions {
    /// `SIZE` limit in bytes; 0 when offered without a limit, `None` when
    /// not offered.
    pub size: Option<u64>,
    pub dsn: bool,
    #[serde(rename = "8bitmime")]
    pub eight_bit_mime: bool,
    pub smtputf8: bool,
    pub pipelining: bool,
    pub chunking: bool,
    /// STARTTLS was offered (before TLS).
    pub starttls: bool,
    /// The AUTH mechanisms offered, upper case.
    pub auth: Vec<String>,
}

/// The TLS session.
#[derive(Debug, Clone, Serialize)]
pub struct Tls {
    /// `starttls` or `implicit`.
    pub mode: &'static str,
    /// `TLSv1.3`.
    pub version: String,
    pub cipher: String,
}

/// Whether the certificate verified.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub verified: bool,
    /// The name it was checked for (the `hostname`).
    pub name: String,
    /// What it was checked against.
    pub trust: String,
    pub error: Option<String>,
}

/// AUTH as this identity would do it.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Auth {
    /// The identity has a user name and a secret.
    pub credentials: bool,
    /// The mechanism the file insists on (`auth X`).
    pub insisted: Option<&'static str>,
    /// The mechanism a submission would use on this connection.
    pub would_use: Option<&'static str>,
}

/// What became of `--login`.
#[derive(Debug, Clone, Serialize)]
pub struct LoginReport {
    /// `not-asked`, `ok`, `failed`, `withheld` (the certificate did not
    /// verify) or `no-credentials`.
    pub result: &'static str,
    pub mechanism: Option<&'static str>,
    pub error: Option<String>,
}

/// A problem found, with its fix.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub code: Code,
    pub message: String,
    pub help: String,
}

/// Why the probe could not finish.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub status: u8,
    pub message: String,
}

/// The probe of one identity.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The identity's address; `None` for the unnamed section.
    pub identity: Option<String>,
    pub default: bool,
    /// `host:port`.
    pub server: String,
    /// The address connected to.
    pub address: Option<String>,
    /// 0 usable, 1 problems found, else the sysexits status of the
    /// failure (69 unreachable, 75 temporary...).
    pub status: u8,
    pub error: Option<Problem>,
    pub greeting: Vec<String>,
    /// The last EHLO (or HELO) reply, line by line.
    pub ehlo: Vec<String>,
    /// `None` when the server was not reached that far; with `helo_only`
    /// the server did not know EHLO.
    pub extensions: Option<Extensions>,
    pub helo_only: bool,
    pub tls: Option<Tls>,
    /// The chain the server presented, its own certificate first.
    pub certificates: Vec<CertificateInfo>,
    pub verification: Option<Verification>,
    pub auth: Auth,
    pub login: LoginReport,
    pub warnings: Vec<Finding>,
}

/// Probe `identity` (`default`: it is the default identity); `login`:
/// authenticate too. `now`: seconds since the epoch, for the expiry check.
pub fn probe(identity: &Identity, default: bool, login: bool, now: i64) -> Report {
    let probing = Probing::new(login);
    let session = SessionOptions::default();
    let outcome = usable(identity)
        .and_then(|()| Connection::connect_probing(identity, &session, &probing))
        .and_then(|conn| conn.quit(true));
    let seen = probing.observed();
    let chain = probing.chain.chain();
    let mut report = Report {
        identity: identity.address.clone(),
        default,
        server: identity.relay.to_string(),
        address: seen.address.map(|a| a.to_string()),
        status: exit::OK,
        error: None,
        greeting: seen.greeting.clone(),
        ehlo: seen.ehlo.clone(),
        extensions: None,
        helo_only: seen.helo_only,
        tls: seen.tls.as_ref().map(|t| Tls {
            mode: match t.mode {
                TlsMode::Implicit => "implicit",
                TlsMode::Starttls => "starttls",
            },
            version: t.version.clone(),
            cipher: t.cipher.clone(),
        }),
        certificates: chain
            .certs
            .iter()
            .map(|c| certificate::describe(c))
            .collect(),
        verification: chain.verdict.as_ref().map(|v| Verification {
            verified: v.is_ok(),
            name: identity.relay.host.clone(),
            trust: chain.trust.clone(),
            error: v.as_ref().err().cloned(),
        }),
        auth: Auth::default(),
        login: login_report(&seen.login, identity, login),
        warnings: Vec::new(),
    };
    if !seen.ehlo.is_empty() {
        let c = &seen.caps;
        report.extensions = Some(Extensions {
            size: c.size,
            dsn: c.dsn,
            eight_bit_mime: c.eight_bit_mime,
            smtputf8: c.smtputf8,
            pipelining: c.pipelining,
            chunking: c.chunking,
            starttls: seen.starttls_offered,
            auth: c.auth.clone(),
        });
    }
    let mut expected_failure = false;
    findings(identity, &seen, &mut report, now, &mut expected_failure);
    if let Err(f) = outcome {
        // A failure the findings explain (STARTTLS required and not
        // offered, a login refused) is a problem of the server or the
        // file, reported as such: the server was reached.
        if !expected_failure {
            report.error = Some(Problem {
                status: f.status,
                message: f.message,
            });
        }
    }
    report.status = match (&report.error, report.warnings.is_empty()) {
        (Some(p), _) => p.status,
        (None, false) => 1,
        (None, true) => exit::OK,
    };
    report
}

fn login_report(login: &Login, identity: &Identity, asked: bool) -> LoginReport {
    let (result, mechanism, error) = match login {
        Login::NotAsked if asked && identity.username.is_none() => ("no-credentials", None, None),
        Login::NotAsked => ("not-asked", None, None),
        Login::Withheld => (
            "withheld",
            None,
            Some("the server's certificate did not verify: no secret was sent".to_string()),
        ),
        Login::Done(m) => ("ok", Some(m.sasl_name()), None),
        Login::Failed(why) => ("failed", None, Some(why.clone())),
    };
    LoginReport {
        result,
        mechanism,
        error,
    }
}

fn warn(report: &mut Report, code: Code, message: String, help: String) {
    report.warnings.push(Finding {
        code,
        message,
        help,
    });
}

/// The warnings: what was seen held against the plan.
fn findings(
    identity: &Identity,
    seen: &Observed,
    report: &mut Report,
    now: i64,
    expected_failure: &mut bool,
) {
    let server = report.server.clone();
    let reached = !seen.ehlo.is_empty();

    if let Some(Verification {
        verified: false,
        error,
        ..
    }) = &report.verification
    {
        let why = error.clone().unwrap_or_default();
        let help = match report.certificates.first() {
            Some(c) if identity.tls_files.as_ref().is_some_and(|f| f.fingerprint.is_some()) => format!(
                "if the server's certificate was renewed, check the new one on the server and pin it: `tls_fingerprint {}`",
                c.fingerprint
            ),
            Some(c) => format!(
                "if this is your own server with a self-signed certificate, check the fingerprint on the server and pin it: `tls_fingerprint {}`; if `hostname` is an alias, write a name the certificate has{}",
                c.fingerprint,
                if c.names.is_empty() { String::new() } else { format!(" ({})", c.names.join(", ")) }
            ),
            None => "see `esmtp check --explain W054`".to_string(),
        };
        warn(
            report,
            Code::W054,
            format!("{why}; sending through this identity fails (status 69)"),
            help,
        );
    }

    if let Some(cert) = report.certificates.first() {
        if let Some(after) = cert.not_after_unix {
            let left = after.saturating_sub(now);
            if left <= EXPIRY_WARNING_SECS {
                let message = if left <= 0 {
                    format!("the certificate of {server} expired on {}", cert.not_after)
                } else {
                    format!(
                        "the certificate of {server} expires on {} (in {} days)",
                        cert.not_after,
                        left / 86_400
                    )
                };
                let pinned = identity
                    .tls_files
                    .as_ref()
                    .is_some_and(|f| f.fingerprint.is_some());
                let help = if pinned {
                    "tell the server's administrator; after the renewal, run `esmtp probe` again and pin the new fingerprint (`tls_fingerprint`)".to_string()
                } else {
                    "tell the server's administrator: once it has expired, sending through this identity fails (status 69)".to_string()
                };
                warn(report, Code::W053, message, help);
            }
        }
    }

    let no_starttls = identity.tls == TlsPolicy::Required
        && reached
        && !seen.starttls_offered
        && seen.tls.is_none();
    if no_starttls {
        *expected_failure = true;
        warn(
            report,
            Code::W050,
            format!("`starttls required` but {server} does not offer STARTTLS: sending through this identity fails (status 69)"),
            if identity.relay.port == 465 {
                "port 465 takes TLS from the first byte: write `starttls implicit`".to_string()
            } else {
                "write `starttls implicit` if the server takes TLS from the first byte (port 465); otherwise ask its administrator to offer STARTTLS (something on the way may remove it)".to_string()
            },
        );
    }

    if let Some(size) = seen
        .caps
        .size
        .filter(|s| reached && *s > 0 && *s < TYPICAL_MAIL)
    {
        warn(
            report,
            Code::W055,
            format!(
                "{server} accepts messages of at most {size} bytes ({:.1} MiB): mail with a few photos or a PDF is often larger",
                size as f64 / (1024.0 * 1024.0)
            ),
            "ask the server's administrator for a larger limit, or send large files another way".to_string(),
        );
    }

    // Without STARTTLS the session stopped before AUTH.
    if !no_starttls {
        auth_findings(identity, seen, report, expected_failure);
    }
}

fn auth_findings(
    identity: &Identity,
    seen: &Observed,
    report: &mut Report,
    expected_failure: &mut bool,
) {
    let server = report.server.clone();
    let credentials = identity.username.is_some() && identity.secret.is_some();
    report.auth.credentials = credentials;
    report.auth.insisted = identity.auth.map(AuthMech::sasl_name);
    if seen.ehlo.is_empty() || !credentials {
        return;
    }
    // Where the session got to before it tried to log in: TLS is on when a
    // submission's would be.
    let encrypted = seen.tls.is_some();
    let policy = smtp::credentials_policy(
        identity.tls,
        identity.tls_explicit,
        encrypted,
        seen.loopback,
    );
    if seen.caps.auth.is_empty() {
        let help = if !encrypted && seen.starttls_offered {
            format!("{server} offers STARTTLS, and many servers offer AUTH only after it: write `starttls required`; if the server needs no login, remove `username` and the secret")
        } else {
            "if the server takes mail without a login, remove `username` and the secret; otherwise check the server and port (submission is usually 587 with STARTTLS, or 465 with implicit TLS)".to_string()
        };
        *expected_failure |= matches!(seen.login, Login::Failed(_));
        warn(
            report,
            Code::W056,
            format!("the identity has credentials but {server} offers no AUTH: sending through this identity fails"),
            help,
        );
        return;
    }
    match smtp::pick(&seen.caps.auth, identity.auth, &policy) {
        Ok(m) => report.auth.would_use = Some(m.sasl_name()),
        Err(NoMechanism::Unusable(why)) => {
            *expected_failure |= matches!(seen.login, Login::Failed(_));
            let (code, help) = match identity.auth {
                // A token goes by XOAUTH2 or OAUTHBEARER, nothing else.
                Some(m) if m.takes_token() => {
                    let other = match m {
                        AuthMech::Xoauth2 => AuthMech::Oauthbearer,
                        _ => AuthMech::Xoauth2,
                    };
                    let offered = seen
                        .caps
                        .auth
                        .iter()
                        .any(|o| o.eq_ignore_ascii_case(other.sasl_name()));
                    (
                        Code::W051,
                        if offered {
                            format!(
                                "write `auth {}`: the server offers {}, the other mechanism that sends an access token",
                                other.config_name(),
                                other.sasl_name()
                            )
                        } else {
                            "the server takes no access token (neither XOAUTH2 nor OAUTHBEARER): check the server and port".to_string()
                        },
                    )
                }
                Some(m) => (
                    Code::W051,
                    format!(
                        "remove `auth {}` to let esmtp choose among those offered{}",
                        m.config_name(),
                        usable_offered(&seen.caps.auth)
                    ),
                ),
                None => (
                    Code::W052,
                    "check the server and port (submission is usually 587 with STARTTLS, or 465 with implicit TLS)".to_string(),
                ),
            };
            warn(
                report,
                code,
                format!("{why}: sending through this identity fails"),
                help,
            );
        }
        Err(NoMechanism::Cleartext(withheld)) => {
            *expected_failure |= matches!(seen.login, Login::Failed(_));
            let names: Vec<&str> = withheld.iter().map(|m| m.sasl_name()).collect();
            let help = if seen.starttls_offered {
                format!("{server} offers STARTTLS: write `starttls required` (or `starttls disabled` to accept sending the password in clear)")
            } else {
                "write `starttls required` if the server can use TLS, `starttls implicit` for port 465 (or `starttls disabled` to accept sending the password in clear)".to_string()
            };
            warn(
                report,
                Code::W057,
                format!(
                    "the connection to {server} is not encrypted and {} would show the password to anyone on the way: esmtp refuses to send it (status 78)",
                    names.join(" and ")
                ),
                help,
            );
        }
    }
    if let Login::Failed(why) = &seen.login {
        *expected_failure = true;
        if report.auth.would_use.is_some() {
            warn(
                report,
                Code::W058,
                why.clone(),
                "check the user name and the secret (`password`, `passwordeval`); some providers need an app password or `auth xoauth2`".to_string(),
            );
        }
    }
}

/// `: (of those offered, esmtp speaks X Y)` when some are usable.
fn usable_offered(offered: &[String]) -> String {
    let ours: Vec<&str> = PREFERENCE
        .iter()
        .map(|m| m.sasl_name())
        .filter(|n| offered.iter().any(|o| o.eq_ignore_ascii_case(n)))
        .collect();
    if ours.is_empty() {
        String::new()
    } else {
        format!(" (of those offered, esmtp speaks {})", ours.join(" "))
    }
}

/// The status of several probes: the worst one (a failure over problems
/// over none; unreachable over temporary).
pub fn worst(statuses: impl IntoIterator<Item = u8>) -> u8 {
    fn rank(s: u8) -> u8 {
        match s {
            exit::OK => 0,
            1 => 1,
            exit::TEMPFAIL => 2,
            exit::UNAVAILABLE => 3,
            _ => 4,
        }
    }
    statuses
        .into_iter()
        .max_by_key(|s| rank(*s))
        .unwrap_or(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Octets, Secret, SecretSource};

    fn identity(tls: TlsPolicy, explicit: bool) -> Identity {
        let mut id = Identity::new(Some("a@example.org".into()));
        id.relay.host = "smtp.example.org".into();
        id.relay.port = 587;
        id.relay.explicit = true;
        id.tls = tls;
        id.tls_explicit = explicit;
        id.username = Some(Octets::new(b"alice".to_vec()));
        id.secret = Some(SecretSource::Password(Secret::new(b"pw".to_vec())));
        id
    }

    fn seen(auth: &[&str], starttls: bool) -> Observed {
        let mut o = Observed {
            ehlo: vec!["250 ok".into()],
            starttls_offered: starttls,
            ..Observed::default()
        };
        o.caps.auth = auth.iter().map(|a| a.to_string()).collect();
        o
    }

    fn empty_report(id: &Identity) -> Report {
        Report {
            identity: id.address.clone(),
            default: true,
            server: id.relay.to_string(),
            address: None,
            status: 0,
            error: None,
            greeting: Vec::new(),
            ehlo: Vec::new(),
            extensions: None,
            helo_only: false,
            tls: None,
            certificates: Vec::new(),
            verification: None,
            auth: Auth::default(),
            login: login_report(&Login::NotAsked, id, false),
            warnings: Vec::new(),
        }
    }

    fn found(id: &Identity, o: &Observed) -> (Vec<Code>, Report) {
        let mut r = empty_report(id);
        let mut expected = false;
        findings(id, o, &mut r, 0, &mut expected);
        (r.warnings.iter().map(|w| w.code).collect(), r)
    }

    #[test]
    fn the_cleartext_policy_is_held_against_another_machine() {
        // Unencrypted, not loopback, no starttls statement: PLAIN is withheld.
        let id = identity(TlsPolicy::Disabled, false);
        let (codes, r) = found(&id, &seen(&["PLAIN", "LOGIN"], true));
        assert_eq!(codes, vec![Code::W057]);
        assert!(r.warnings[0].help.contains("starttls required"));
        assert_eq!(r.auth.would_use, None);
        // `starttls disabled` written in the file accepts the risk.
        let id = identity(TlsPolicy::Disabled, true);
        let (codes, r) = found(&id, &seen(&["PLAIN"], false));
        assert!(codes.is_empty());
        assert_eq!(r.auth.would_use, Some("PLAIN"));
        // CRAM-MD5 does not show the secret: it goes anyway.
        let id = identity(TlsPolicy::Disabled, false);
        let (codes, r) = found(&id, &seen(&["PLAIN", "CRAM-MD5"], false));
        assert!(codes.is_empty());
        assert_eq!(r.auth.would_use, Some("CRAM-MD5"));
    }

    #[test]
    fn mechanisms_and_auth_offers() {
        let mut id = identity(TlsPolicy::Disabled, true);
        assert_eq!(found(&id, &seen(&["GSSAPI"], false)).0, vec![Code::W052]);
        assert_eq!(found(&id, &seen(&[], false)).0, vec![Code::W056]);
        id.auth = Some(AuthMech::CramMd5);
        assert_eq!(found(&id, &seen(&["PLAIN"], false)).0, vec![Code::W051]);
        // No credentials: nothing to hold against AUTH.
        id.username = None;
        id.secret = None;
        assert!(found(&id, &seen(&[], false)).0.is_empty());
    }

    #[test]
    fn starttls_required_and_size() {
        let id = identity(TlsPolicy::Required, true);
        let (codes, _) = found(&id, &seen(&["PLAIN"], false));
        assert_eq!(codes, vec![Code::W050]);
        let mut o = seen(&["CRAM-MD5"], false);
        o.caps.size = Some(TYPICAL_MAIL - 1);
        let id = identity(TlsPolicy::Disabled, true);
        assert_eq!(found(&id, &o).0, vec![Code::W055]);
        o.caps.size = Some(TYPICAL_MAIL);
        assert!(found(&id, &o).0.is_empty());
        o.caps.size = Some(0);
        assert!(found(&id, &o).0.is_empty());
    }

    #[test]
    fn the_worst_status_wins() {
        assert_eq!(worst([0, 1, 0]), 1);
        assert_eq!(worst([1, 75, 0]), 75);
        assert_eq!(worst([69, 75]), 69);
        assert_eq!(worst([69, 78]), 78);
        assert_eq!(worst([]), 0);
    }
}
