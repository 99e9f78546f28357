//! The values of settings: choices, durations, numbers, hosts and ports,
//! templates and secrets, each checked and stored in the current section
//! (or the file's global settings).

use super::Lowerer;
use crate::config::ast::{Value, ValueKind};
use crate::config::codes::Code;
use crate::config::diag::{shown, Diagnostic, Span};
use crate::config::keywords::{self, Key, ValueType};
use crate::plan::{
    AuthMech, Facility, LogSettings, Octets, QueueMode, Relay, Secret, SecretSource, Syslog,
    Template, TemplatePart, TlsPolicy,
};

pub(super) fn bad_choice(key: Key, v: &Value, help: Option<String>) -> Diagnostic {
    let kw = keywords::keyword(key);
    let words = match kw.value {
        ValueType::Choice(w) => w,
        _ => &[],
    };
    let mut d = Diagnostic::new(
        Code::E003,
        format!(
            "`{}` is not a valid value for `{}`",
            shown(&v.text),
            kw.name
        ),
    )
    .primary(v.span, format!("expected {}", word_list(words)));
    let help = help.or_else(|| {
        if v.kind == ValueKind::Quoted && words.contains(&v.text.as_str()) {
            return Some(format!(
                "esmtp 1.2 takes `{}` only unquoted: `{} {}`",
                v.text, kw.name, v.text
            ));
        }
        let lower = v.text.to_ascii_lowercase();
        words
            .iter()
            .find(|w| {
                // Length first: the distance costs the product of the
                // lengths, and is at least their difference.
                lower.len() >= 3
                    && lower.len().abs_diff(w.len()) <= 2
                    && strsim::damerau_levenshtein(&lower, w) <= 2
            })
            .map(|w| format!("did you mean `{} {}`?", kw.name, w))
    });
    if let Some(h) = help {
        d = d.help(h);
    }
    d
}

fn word_list(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {}", rest.join(", "), last),
        _ => quoted.join(""),
    }
}

impl<'s, 'o> Lowerer<'s, 'o> {
    pub(super) fn global(&mut self, key: Key, v: &Value) {
        match key {
            Key::Mda => {
                let t = self.template(
                    v,
                    &[('T', TemplatePart::Recipients), ('F', TemplatePart::Sender)],
                );
                self.plan_mda = Some(t);
            }
            Key::ForceMda => self.force_mda = Some(v.text.clone()),
            Key::Aliases if self.file_path(key, v) => {
                self.aliases = Some((v.text.clone(), v.span));
            }
            Key::Aliases => {}
            Key::Queue => {
                let mode = match (v.kind, v.text.as_str()) {
                    (ValueKind::Disabled, _) => Some(QueueMode::Disabled),
                    (ValueKind::Enabled, _) => Some(QueueMode::Enabled),
                    (ValueKind::Bare, "background") => Some(QueueMode::Background),
                    _ => None,
                };
                match mode {
                    Some(m) => self.queue.mode = m,
                    None => self.bad_choice(Key::Queue, v, None),
                }
            }
            Key::QueueDir => self.queue.dir = Some(v.text.clone()),
            Key::Logfile | Key::Syslog => {
                let mut log = std::mem::take(&mut self.log);
                self.log_setting(key, v, &mut log);
                self.log = log;
            }
            Key::QueueLifetime => match parse_duration(&v.text) {
                Some(secs) if secs > 0 => self.queue.lifetime_secs = secs,
                _ => self.diags.push(
                    Diagnostic::new(Code::E010, format!("`{}` is not a duration", v.text))
                        .primary(v.span, "expected seconds, or a number with s, m, h or d")
                        .help("for example `queue_lifetime 5d`"),
                ),
            },
            _ => {}
        }
    }

    fn bad_choice(&mut self, key: Key, v: &Value, help: Option<String>) {
        self.diags
            .push_with(Code::E003, || bad_choice(key, v, help));
    }

    pub(super) fn per_identity(&mut self, key: Key, v: &Value) {
        match key {
            Key::Hostname => {
                let relay = self.relay(v);
                let sec = self.cur();
                if relay.port != 0 {
                    // A good hostname cures an earlier bad one (the last wins).
                    sec.errors.retain(|e| e.0 != Key::Hostname);
                }
                sec.identity.relay = relay;
            }
            Key::Username => {
                self.not_utf8(key, v);
                self.cur().identity.username = Some(Octets::new(v.bytes()))
            }
            Key::Password | Key::Passwordeval => self.secret(key, v),
            Key::Starttls => self.starttls(v),
            Key::CertificatePassphrase => {
                self.not_utf8(key, v);
                self.cur().identity.certificate_passphrase = Some(Secret::new(v.bytes()))
            }
            Key::Preconnect => self.cur().identity.preconnect = Some(v.text.clone()),
            Key::Postconnect => self.cur().identity.postconnect = Some(v.text.clone()),
            Key::Qualifydomain => self.cur().identity.qualifydomain = Some(v.text.clone()),
            Key::Helo => self.cur().identity.helo = Some(v.text.clone()),
            Key::ForceSender | Key::ForceReversePath => {
                let t = self.template(v, &[('u', TemplatePart::Login)]);
                if key == Key::ForceSender {
                    self.cur().identity.force_sender = Some(t);
                } else {
                    self.cur().identity.force_reverse_path = Some(t);
                }
            }
            Key::MessageId => self.message_id(v),
            Key::Timeout => self.timeout(v),
            Key::Auth => self.auth(v),
            Key::TlsFingerprint => self.fingerprint(v),
            Key::TlsTrustFile | Key::TlsCertFile | Key::TlsKeyFile => self.tls_path(key, v),
            k if super::oauth2::OAUTH2_KEYS.contains(&k) => self.oauth2_value(k, v),
            Key::Logfile | Key::Syslog => {
                let mut log = self.cur().identity.log.take().unwrap_or_default();
                self.log_setting(key, v, &mut log);
                self.cur().identity.log = (!log.is_empty()).then_some(log);
            }
            _ => {}
        }
    }

    /// `tls_fingerprint`: the SHA-256 fingerprint of the server certificate.
    fn fingerprint(&mut self, v: &Value) {
        match parse_fingerprint(&v.text) {
            Ok(fp) => {
                self.cur()
                    .identity
                    .tls_files
                    .get_or_insert_with(Default::default)
                    .fingerprint = Some(fp)
            }
            Err(e) => {
                let (label, help) = match e {
                    FingerprintError::Weak(kind) => (
                        format!("a {kind} fingerprint; only SHA-256 is accepted"),
                        format!(
                            "{kind} no longer protects against a forged certificate; write the SHA-256 fingerprint, from `{FINGERPRINT_HOWTO}`"
                        ),
                    ),
                    FingerprintError::NoColons(fixed) => (
                        "hex digits without the colons".to_string(),
                        format!("write `tls_fingerprint {fixed}`"),
                    ),
                    FingerprintError::Malformed(why) => (
                        why,
                        format!(
                            "write `tls_fingerprint SHA256:` and 32 pairs of hex digits separated by colons, from `{FINGERPRINT_HOWTO}`"
                        ),
                    ),
                };
                self.diags.push(
                    Diagnostic::new(
                        Code::E022,
                        format!("`{}` is not a SHA-256 fingerprint", shown(&v.text)),
                    )
                    .primary(v.span, label)
                    .help(help),
                );
            }
        }
    }

    /// `logfile PATH` (absolute, `~/` or `-`) or `syslog on|off|FACILITY`
    /// into `log`.
    fn log_setting(&mut self, key: Key, v: &Value, log: &mut LogSettings) {
        if key == Key::Logfile {
            if v.text == "-" || self.file_path(key, v) {
                if self.opts.system_file && v.text.starts_with('/') {
                    self.diags.push(
                        Diagnostic::new(Code::W045, "a shared log file in /etc/esmtprc")
                            .primary(v.span, "every user who sends mail appends to this file")
                            .help("log to syslog (`syslog on`), or give each user a file of their own (`logfile ~/.esmtp.log`)"),
                    );
                }
                log.file = Some(v.text.clone());
            }
            return;
        }
        match v.text.as_str() {
            "on" if v.kind == ValueKind::Bare => log.syslog = Some(Syslog::On(Facility::Mail)),
            "off" if v.kind == ValueKind::Bare => log.syslog = Some(Syslog::Off),
            name => match Facility::parse(name) {
                Some(f) => log.syslog = Some(Syslog::On(f)),
                None => {
                    let upper = name.to_ascii_uppercase();
                    let help = Facility::parse(&upper)
                        .or_else(|| Facility::parse(&format!("LOG_{upper}")))
                        .map(|f| format!("write `syslog {}` (msmtp's spelling)", f.name()));
                    self.bad_choice(key, v, help)
                }
            },
        }
    }

    /// `tls_trust_file`, `tls_cert_file`, `tls_key_file`: an absolute or
    /// `~/` path (there is no directory a relative path could be taken
    /// from: esmtp is run from anywhere).
    fn tls_path(&mut self, key: Key, v: &Value) {
        if !self.file_path(key, v) {
            return;
        }
        let files = self
            .cur()
            .identity
            .tls_files
            .get_or_insert_with(Default::default);
        let slot = match key {
            Key::TlsTrustFile => &mut files.trust_file,
            Key::TlsCertFile => &mut files.cert_file,
            _ => &mut files.key_file,
        };
        *slot = Some(v.text.clone());
    }

    /// A file setting's value is an absolute or `~/` path (else E023).
    fn file_path(&mut self, key: Key, v: &Value) -> bool {
        let ok = is_file_path(v.text.as_bytes());
        if !ok {
            let name = keywords::keyword(key).name;
            let d = if v.text == "~/" || v.text.is_empty() {
                Diagnostic::new(Code::E023, format!("`{name}` names no file"))
                    .primary(v.span, "a directory, not a file")
                    .help(format!("write `{name} ~/PATH/TO/FILE` or a path from /"))
            } else {
                Diagnostic::new(
                    Code::E023,
                    format!("`{}` is not an absolute or ~/ path", shown(&v.text)),
                )
                .primary(
                    v.span,
                    "esmtp runs from any directory: a relative path has no meaning",
                )
                .help(format!(
                    "write `{name} ~/{}` or a path from /",
                    v.text.trim_start_matches("./")
                ))
            };
            self.diags.push(d);
        }
        ok
    }

    /// `password` or `passwordeval`: the identity's secret (one source).
    fn secret(&mut self, key: Key, v: &Value) {
        let other = if key == Key::Password {
            Key::Passwordeval
        } else {
            Key::Password
        };
        if let Some(first) = self.cur().first.get(&other).copied() {
            self.diags.push(
                Diagnostic::new(Code::E008, "`password` and `passwordeval` in one identity")
                    .primary(v.span, "second source of the secret")
                    .secondary(first, "first given here")
                    .help("keep only one of them"),
            );
        }
        if key == Key::Password {
            self.not_utf8(key, v);
        }
        self.cur().identity.secret = Some(if key == Key::Password {
            SecretSource::Password(Secret::new(v.bytes()))
        } else {
            SecretSource::Eval(v.text.clone())
        });
    }

    /// `starttls`: the TLS policy, with help for the words people try.
    fn starttls(&mut self, v: &Value) {
        let tls = match (v.kind, v.text.as_str()) {
            (ValueKind::Disabled, _) => Some(TlsPolicy::Disabled),
            (ValueKind::Enabled, _) => Some(TlsPolicy::Enabled),
            (ValueKind::Required, _) => Some(TlsPolicy::Required),
            (ValueKind::Bare, "implicit") => {
                if self.opts.compat {
                    self.diags.push(
                        Diagnostic::new(Code::C002, "`starttls implicit` is an extension")
                            .primary(v.span, "esmtp 1.2 reports a syntax error here"),
                    );
                }
                Some(TlsPolicy::Implicit)
            }
            _ => None,
        };
        match tls {
            Some(t) => {
                let sec = self.cur();
                sec.identity.tls = t;
                sec.identity.tls_explicit = true;
                sec.tls_given = true;
            }
            None => {
                let lower = v.text.to_ascii_lowercase();
                let help = match lower.as_str() {
                    "yes" | "on" | "true" | "1" | "y" => Some(
                        "write `starttls enabled` (use TLS when the server offers it) or `starttls required` (never send without it)"
                            .to_string(),
                    ),
                    "no" | "off" | "false" | "0" | "n" | "none" => {
                        Some("write `starttls disabled`".to_string())
                    }
                    "ssl" | "tls" | "smtps" => Some(
                        "for TLS from the first byte (port 465) write `starttls implicit`"
                            .to_string(),
                    ),
                    _ => None,
                };
                self.bad_choice(Key::Starttls, v, help);
            }
        }
    }

    fn message_id(&mut self, v: &Value) {
        match v.kind {
            ValueKind::Enabled => self.cur().identity.message_id = true,
            ValueKind::Disabled => {
                if self.opts.compat {
                    self.diags.push(
                        Diagnostic::new(Code::C004, "esmtp 1.2 ignores `message_id disabled`")
                            .primary(v.span, "honoured here: no Message-ID: is added"),
                    );
                }
                self.cur().identity.message_id = false;
            }
            _ => self.bad_choice(Key::MessageId, v, None),
        }
    }

    fn timeout(&mut self, v: &Value) {
        match v.text.parse::<u64>() {
            Ok(n) if n > 0 => self.cur().identity.timeout_secs = n,
            _ => self.diags.push(
                Diagnostic::new(
                    Code::E010,
                    format!("`{}` is not a number of seconds", v.text),
                )
                .primary(v.span, "expected a whole number from 1 up")
                .help("for example `timeout 30`"),
            ),
        }
    }

    /// `auth`: the one mechanism allowed, by its esmtprc or SASL name.
    fn auth(&mut self, v: &Value) {
        let lower = v.text.to_ascii_lowercase();
        let mech = AuthMech::ALL
            .iter()
            .copied()
            .find(|m| m.config_name() == lower || m.sasl_name().eq_ignore_ascii_case(&lower));
        match (v.kind, mech) {
            (ValueKind::Bare | ValueKind::Quoted, Some(m)) => self.cur().identity.auth = Some(m),
            _ => self.bad_choice(Key::Auth, v, None),
        }
    }

    /// A value kept as bytes that is not UTF-8 (a Latin-1 password): as
    /// esmtp 1.2 does, it is used byte for byte; a compat note says so.
    fn not_utf8(&mut self, key: Key, v: &Value) {
        if v.raw.is_some() && self.opts.compat {
            self.diags.push(
                Diagnostic::new(
                    Code::C007,
                    format!("the value of `{}` is not UTF-8", keywords::keyword(key).name),
                )
                .primary(v.span, "used byte for byte, as esmtp 1.2 does")
                .note(if key == Key::CertificatePassphrase {
                    "the client key is decrypted with these bytes"
                } else {
                    "servers that expect UTF-8 (AUTH PLAIN, RFC 4616) may refuse it; NTLM widens each byte to 16 bits, as esmtp 1.2 does"
                }),
            );
        }
    }

    /// The smarthost of a `hostname` statement. A port that cannot be
    /// resolved is an error of this identity only: it gets port 0 (and the
    /// value as written), and cannot send.
    fn relay(&mut self, v: &Value) -> Relay {
        if self.opts.compat && (v.text.starts_with('[') || v.text.matches(':').count() > 1) {
            self.diags.push(
                Diagnostic::new(Code::C006, "IPv6 address in `hostname`")
                    .primary(v.span, "esmtp 1.2 cannot parse an IPv6 address here"),
            );
        }
        match parse_hostport(&v.text) {
            Ok((host, port)) => Relay {
                host,
                port: port.unwrap_or(587),
                explicit: true,
            },
            Err(msg) => {
                let sec = self.sections.len() - 1;
                let d = self.identity_error(
                    sec,
                    Some(Key::Hostname),
                    Diagnostic::new(Code::E005, msg)
                        .primary(v.span, "in this hostname")
                        .help("write `hostname HOST:PORT` with PORT a number or a service name such as `submission`"),
                );
                self.identity_errors.push(d);
                Relay {
                    host: v.text.clone(),
                    port: 0,
                    explicit: true,
                }
            }
        }
    }

    /// Parse a `%` template; unknown placeholders stay literal with W013.
    fn template(&mut self, v: &Value, allowed: &[(char, TemplatePart)]) -> Template {
        let mut parts: Vec<TemplatePart> = Vec::new();
        let mut lit = String::new();
        let mut chars = v.text.chars().peekable();
        let mut unknown: Vec<String> = Vec::new();
        while let Some(c) = chars.next() {
            if c != '%' {
                lit.push(c);
                continue;
            }
            match chars.peek().copied() {
                Some('%') => {
                    chars.next();
                    lit.push('%');
                }
                Some(n) => {
                    if let Some((_, part)) = allowed.iter().find(|a| a.0 == n) {
                        chars.next();
                        if !lit.is_empty() {
                            parts.push(TemplatePart::Literal(std::mem::take(&mut lit)));
                        }
                        parts.push(part.clone());
                    } else {
                        chars.next();
                        lit.push('%');
                        lit.push(n);
                        unknown.push(format!("%{n}"));
                    }
                }
                None => lit.push('%'),
            }
        }
        if !lit.is_empty() {
            parts.push(TemplatePart::Literal(lit));
        }
        let known: Vec<String> = allowed.iter().map(|a| format!("`%{}`", a.0)).collect();
        for u in unknown {
            let raw = &self.src[v.span.start..v.span.end];
            let span = raw
                .find(&u)
                .map(|i| Span::new(v.span.start + i, v.span.start + i + u.len()))
                .unwrap_or(v.span);
            self.diags.push(
                Diagnostic::new(Code::W013, format!("unknown placeholder `{u}`"))
                    .primary(
                        span,
                        format!("kept literally; known here: {} and `%%`", known.join(", ")),
                    )
                    .help(format!("write `%{u}` to mean a literal `{u}`")),
            );
        }
        Template {
            source: v.text.clone(),
            parts,
        }
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`; the port resolved.
pub fn parse_hostport(text: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, "")) => (h, None),
            Some((h, p)) => match p.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None => return Err(format!("unexpected `{p}` after `]`")),
            },
            None => return Err("`[` without a matching `]`".to_string()),
        }
    } else if text.matches(':').count() > 1 {
        // Only a bare IPv6 address may hold several colons.
        if text.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!(
                "`{text}` is neither HOST:PORT nor an IPv6 address (write `[ADDRESS]:PORT` for IPv6 with a port)"
            ));
        }
        (text, None)
    } else {
        match text.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (text, None),
        }
    };
    let port = match port {
        None => None,
        Some("") => return Err("empty port after `:`".to_string()),
        Some(p) => Some(resolve_port(p)?),
    };
    Ok((host.to_string(), port))
}

/// A port number or a service name (`/etc/services` for the rare ones).
pub fn resolve_port(p: &str) -> Result<u16, String> {
    if p.bytes().all(|b| b.is_ascii_digit()) {
        return match p.parse::<u32>() {
            Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
            _ => Err(format!("port `{p}` is out of range (1 to 65535)")),
        };
    }
    let builtin = match p {
        "smtp" | "mail" => Some(25),
        "submission" => Some(587),
        "smtps" | "submissions" | "ssmtp" => Some(465),
        _ => None,
    };
    if let Some(n) = builtin {
        return Ok(n);
    }
    if let Ok(services) = std::fs::read_to_string(crate::sys::SERVICES_DB) {
        for line in services.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let (Some(name), Some(portproto)) = (words.next(), words.next()) else {
                continue;
            };
            let Some((port, "tcp")) = portproto.split_once('/') else {
                continue;
            };
            if name == p || words.any(|alias| alias == p) {
                if let Ok(n) = port.parse::<u16>() {
                    return Ok(n);
                }
            }
        }
    }
    Err(format!("unknown service name `{p}`"))
}

/// How to get a server's SHA-256 fingerprint, for help texts.
const FINGERPRINT_HOWTO: &str = "openssl s_client -connect HOST:PORT -starttls smtp </dev/null | openssl x509 -noout -fingerprint -sha256";

/// What file settings (`tls_*_file`, `aliases`) accept: an absolute path,
/// or one under `~/` that names something below it.
pub fn is_file_path(text: &[u8]) -> bool {
    text.starts_with(b"/") || (text.starts_with(b"~/") && text.len() > 2)
}

/// Why a `tls_fingerprint` value was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum FingerprintError {
    /// A SHA-1 or MD5 fingerprint (msmtp still accepts them).
    Weak(&'static str),
    /// 64 hex digits without colons: the value to write instead.
    NoColons(String),
    Malformed(String),
}

/// A SHA-256 fingerprint as msmtp takes it (32 colon-separated pairs of hex
/// digits), optionally after `SHA256:` (any case), as `esmtp probe` and
/// `ssh-keygen`-style tools print it.
pub fn parse_fingerprint(text: &str) -> Result<[u8; 32], FingerprintError> {
    let (prefix, body) = match text.split_once(':') {
        Some((p, rest)) if p.len() > 2 && p.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            (Some(p.to_ascii_uppercase()), rest)
        }
        _ => (None, text),
    };
    match prefix.as_deref() {
        None | Some("SHA256") | Some("SHA-256") => {}
        Some("SHA1") | Some("SHA-1") => return Err(FingerprintError::Weak("SHA-1")),
        Some("MD5") => return Err(FingerprintError::Weak("MD5")),
        Some(other) => {
            return Err(FingerprintError::Malformed(format!(
                "unknown fingerprint type `{}`",
                shown(other)
            )))
        }
    }
    if !body.contains(':') && body.len() == 64 && body.bytes().all(|b| b.is_ascii_hexdigit()) {
        let pairs: Vec<String> = body
            .as_bytes()
            .chunks(2)
            .map(|c| String::from_utf8_lossy(c).to_ascii_uppercase())
            .collect();
        return Err(FingerprintError::NoColons(format!(
            "SHA256:{}",
            pairs.join(":")
        )));
    }
    let parts: Vec<&str> = body.split(':').collect();
    let mut bytes = Vec::with_capacity(32);
    for p in &parts {
        if p.len() != 2 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(FingerprintError::Malformed(format!(
                "`{}` is not a pair of hex digits",
                shown(p)
            )));
        }
        bytes.push(
            u8::from_str_radix(p, 16).map_err(|e| FingerprintError::Malformed(e.to_string()))?,
        );
    }
    match (bytes.len(), prefix.is_some()) {
        (32, _) => {
            let mut fp = [0u8; 32];
            fp.copy_from_slice(&bytes);
            Ok(fp)
        }
        (20, false) => Err(FingerprintError::Weak("SHA-1")),
        (16, false) => Err(FingerprintError::Weak("MD5")),
        (n, _) => Err(FingerprintError::Malformed(format!(
            "{n} bytes; a SHA-256 fingerprint has 32"
        ))),
    }
}

/// Seconds, or a number with an s/m/h/d suffix.
pub fn parse_duration(text: &str) -> Option<u64> {
    let t = text.trim();
    let (num, mult) = match t.char_indices().last()? {
        (i, 's') => (&t[..i], 1),
        (i, 'm') => (&t[..i], 60),
        (i, 'h') => (&t[..i], 3600),
        (i, 'd') => (&t[..i], 86400),
        _ => (t, 1),
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    num.parse::<u64>().ok()?.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostport_forms() {
        assert_eq!(parse_hostport("a.b"), Ok(("a.b".into(), None)));
        assert_eq!(parse_hostport("a.b:25"), Ok(("a.b".into(), Some(25))));
        assert_eq!(
            parse_hostport("a.b:submission"),
            Ok(("a.b".into(), Some(587)))
        );
        assert_eq!(parse_hostport("[::1]:2525"), Ok(("::1".into(), Some(2525))));
        assert_eq!(parse_hostport("::1"), Ok(("::1".into(), None)));
        assert!(parse_hostport("a:0").is_err());
        assert!(parse_hostport("a:99999").is_err());
        assert!(parse_hostport("a:nosuchservice").is_err());
        assert!(parse_hostport("a:").is_err());
        assert!(parse_hostport("127.0.0.1:x:y").is_err());
        assert!(parse_hostport("host:25:25").is_err());
    }

    #[test]
    fn fingerprints() {
        let hex: Vec<String> = (0u8..32).map(|b| format!("{b:02x}")).collect();
        let want: Vec<u8> = (0u8..32).collect();
        let bare = hex.join(":");
        assert_eq!(
            parse_fingerprint(&bare).map(|f| f.to_vec()),
            Ok(want.clone())
        );
        let prefixed = format!("SHA256:{}", bare.to_uppercase());
        assert_eq!(parse_fingerprint(&prefixed).map(|f| f.to_vec()), Ok(want));
        assert_eq!(
            parse_fingerprint(&hex[..20].join(":")),
            Err(FingerprintError::Weak("SHA-1"))
        );
        assert_eq!(
            parse_fingerprint(&hex[..16].join(":")),
            Err(FingerprintError::Weak("MD5"))
        );
        assert_eq!(
            parse_fingerprint(&format!("MD5:{}", hex[..16].join(":"))),
            Err(FingerprintError::Weak("MD5"))
        );
        assert!(matches!(
            parse_fingerprint(&hex.concat()),
            Err(FingerprintError::NoColons(f)) if f == crate::plan::fingerprint_text(&(0u8..32).collect::<Vec<_>>())
        ));
        assert!(matches!(
            parse_fingerprint("SHA256:zz"),
            Err(FingerprintError::Malformed(_))
        ));
        assert!(matches!(
            parse_fingerprint(&hex[..31].join(":")),
            Err(FingerprintError::Malformed(_))
        ));
        assert!(matches!(
            parse_fingerprint(""),
            Err(FingerprintError::Malformed(_))
        ));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Some(90));
        assert_eq!(parse_duration("5d"), Some(432000));
        assert_eq!(parse_duration("2h"), Some(7200));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_duration("d"), None);
    }
}
