//! Lowering: statements → [`Plan`], checking values and applying the
//! identity and default-identity rules of SPEC §2.3.

use super::ast::{Stmt, Value, ValueKind};
use super::diag::{shown, DiagList, Diagnostic, Span};
use super::keywords::{self, Key, Scope, ValueType};
use super::mask::stars;
use crate::plan::{
    AuthMech, Identity, Octets, Plan, QueueMode, QueueSettings, Relay, Secret, SecretSource,
    Template, TemplatePart, TlsPolicy, Unusable,
};
use std::collections::HashMap;

/// Options of one compilation.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Report extensions and other differences from esmtp 1.2 (C0xx).
    pub compat: bool,
    /// Look up the programs of preconnect/postconnect/passwordeval/mda on PATH.
    pub lint_programs: bool,
    /// Permission bits of the live file, for the permission lints; `None`
    /// switches them off.
    pub file_mode: Option<u32>,
    /// The file is /etc/esmtprc (readable by every user).
    pub system_file: bool,
    /// For the live configuration: what is wrong with the TLS client
    /// certificate an identity would present to a host (`~/.authenticate`),
    /// given its `certificate_passphrase` (the caller's I/O; `None`: not
    /// checked).
    pub client_certs: Option<CertCheck>,
}

/// See [`Options::client_certs`].
pub type CertCheck = fn(&str, Option<&crate::plan::Secret>) -> Option<String>;

/// One identity (or the unnamed section) while lowering.
#[derive(Debug)]
pub struct Section {
    pub address: Option<(String, Span)>,
    pub identity: Identity,
    /// Span of the last statement of each key (its value span).
    pub values: KeyMap,
    /// Span of the first statement of each key.
    pub first: KeyMap,
    /// Statements in the section (1.2's grammar counts `mda` and `default`).
    pub statements: usize,
    /// Per-identity statements or `default` (the unnamed section is kept
    /// in the plan only with one of these).
    pub own_statements: usize,
    pub tls_given: bool,
    /// Errors that make only this identity unusable, with the statement
    /// they concern (a later good statement of the same key cures them) and
    /// where they point (the line is counted once, at the end).
    pub errors: Vec<(Key, usize, Unusable)>,
}

impl Section {
    /// The value spans of the last `username` and of the last secret
    /// (`password` or `passwordeval`), when given.
    pub fn credential_spans(&self) -> (Option<Span>, Option<Span>) {
        let secret = self
            .values
            .get(&Key::Password)
            .or(self.values.get(&Key::Passwordeval))
            .copied();
        (self.values.get(&Key::Username).copied(), secret)
    }

    fn new(address: Option<(String, Span)>) -> Self {
        let identity = Identity::new(address.as_ref().map(|a| a.0.clone()));
        Section {
            address,
            identity,
            values: KeyMap::default(),
            first: KeyMap::default(),
            statements: 0,
            own_statements: 0,
            tls_given: false,
            errors: Vec::new(),
        }
    }
}

/// A small map from keys to spans (one slot per key; no hashing).
#[derive(Debug, Clone, Default)]
pub struct KeyMap(Vec<(Key, Span)>);

impl KeyMap {
    pub fn get(&self, key: &Key) -> Option<&Span> {
        self.0.iter().find(|e| e.0 == *key).map(|e| &e.1)
    }
    pub fn contains_key(&self, key: &Key) -> bool {
        self.get(key).is_some()
    }
    pub fn insert(&mut self, key: Key, span: Span) {
        match self.0.iter_mut().find(|e| e.0 == key) {
            Some(e) => e.1 = span,
            None => self.0.push((key, span)),
        }
    }
    pub fn values(&self) -> impl Iterator<Item = &Span> {
        self.0.iter().map(|e| &e.1)
    }
}

/// The result of lowering, kept for the lints.
pub struct Lowered {
    /// Errors that concern one identity's smarthost (SPEC §2.3): reported
    /// by `check`, but the plan compiles with the identity marked unusable.
    pub identity_errors: DiagList,
    /// The same from checks across statements (half credentials), which
    /// after a syntax error mostly repeat it (the statement was dropped).
    pub credential_errors: DiagList,
    pub sections: Vec<Section>,
    /// Plan index of each kept section (`None`: the unnamed section dropped).
    pub plan_index: Vec<Option<usize>>,
    pub globals: HashMap<Key, Span>,
    pub plan: Plan,
}

/// Lowers statements one at a time, as the parser hands them over.
pub struct Lowerer<'s, 'o> {
    src: &'s str,
    opts: &'o Options,
    diags: DiagList,
    identity_errors: DiagList,
    credential_errors: DiagList,
    sections: Vec<Section>,
    globals_first: HashMap<Key, Span>,
    globals: HashMap<Key, Span>,
    first_statement: Option<usize>,
    default_mark: Option<(usize, Span)>,
    plan_mda: Option<Template>,
    force_mda: Option<String>,
    queue: QueueSettings,
    /// More than [`MAX_IDENTITIES`] identities: the rest is not lowered.
    stopped: bool,
}

/// Identities in one file, at most (bounded memory, SPEC §9: a 4 MiB file
/// could otherwise declare 300 000 of them, each with its settings).
pub const MAX_IDENTITIES: usize = 50_000;

pub fn lower(stmts: &[Stmt], src: &str, opts: &Options) -> (Lowered, DiagList) {
    let mut l = Lowerer::new(src, opts);
    for s in stmts {
        l.statement(s);
    }
    l.finish()
}

fn bad_choice(key: Key, v: &Value, help: Option<String>) -> Diagnostic {
    let kw = keywords::keyword(key);
    let words = match kw.value {
        ValueType::Choice(w) => w,
        _ => &[],
    };
    let mut d = Diagnostic::new(
        "E003",
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
    pub fn new(src: &'s str, opts: &'o Options) -> Self {
        Lowerer {
            src,
            opts,
            diags: DiagList::default(),
            identity_errors: DiagList::default(),
            credential_errors: DiagList::default(),
            sections: vec![Section::new(None)],
            globals_first: HashMap::new(),
            globals: HashMap::new(),
            first_statement: None,
            default_mark: None,
            plan_mda: None,
            force_mda: None,
            queue: QueueSettings::default(),
            stopped: false,
        }
    }

    fn cur(&mut self) -> &mut Section {
        let i = self.sections.len() - 1;
        &mut self.sections[i]
    }

    /// An error that makes only section `sec` unusable (its smarthost),
    /// caused by the statement of `key` (`None`: by the identity as a whole).
    fn identity_error(&mut self, sec: usize, key: Option<Key>, d: Diagnostic) -> Diagnostic {
        let unusable = Unusable {
            code: d.code.to_string(),
            line: 0,
            message: d.message.clone(),
            help: d.help.clone(),
        };
        if let Some(section) = self.sections.get_mut(sec) {
            // One per statement key: the last statement is the one that
            // counts (and a file may repeat a bad one by the thousand).
            let key = key.unwrap_or(Key::Identity);
            section.errors.retain(|e| e.0 != key);
            section.errors.push((key, d.start(), unusable));
        }
        d
    }

    /// The line of each section's first error, counted in one pass over
    /// the source (a file may hold errors by the thousand).
    fn number_error_lines(&mut self) {
        let mut wanted: Vec<(usize, usize)> = self
            .sections
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.errors.first().map(|e| (e.1, i)))
            .collect();
        wanted.sort_unstable();
        let bytes = self.src.as_bytes();
        let (mut line, mut pos) = (1usize, 0usize);
        for (at, i) in wanted {
            let at = at.min(bytes.len()).max(pos);
            line += bytes[pos..at].iter().filter(|&&b| b == b'\n').count();
            pos = at;
            if let Some(e) = self.sections[i].errors.first_mut() {
                e.2.line = u32::try_from(line).unwrap_or(u32::MAX);
            }
        }
    }

    pub fn statement(&mut self, s: &Stmt) {
        if self.stopped {
            return;
        }
        match s {
            Stmt::Error => {}
            Stmt::Default { span } => {
                let cur = self.sections.len() - 1;
                if let Some((_, prev)) = self.default_mark {
                    self.diags.push(
                        Diagnostic::new("W002", "`default` given more than once")
                            .primary(*span, "this one wins")
                            .secondary(prev, "first given here")
                            .help("remove one of them"),
                    );
                }
                self.default_mark = Some((cur, *span));
                self.cur().statements += 1;
                self.cur().own_statements += 1;
            }
            Stmt::Set {
                key: Key::Identity,
                value,
                ..
            } => {
                if self.sections.len() > MAX_IDENTITIES {
                    self.diags.push(
                        Diagnostic::new(
                            "E021",
                            format!("more than {MAX_IDENTITIES} identities"),
                        )
                        .primary(value.span, "the rest of the file is not used")
                        .help("is this the right file? split it, or generate only the identities that are used"),
                    );
                    self.stopped = true;
                    return;
                }
                self.check_value_kind(Key::Identity, value);
                self.check_wire_text(Key::Identity, value);
                self.sections
                    .push(Section::new(Some((value.text.clone(), value.span))));
            }
            Stmt::Set {
                key,
                key_span,
                value,
                span,
            } => self.set(*key, *key_span, value, *span),
        }
    }

    /// Value checks shared by every keyword; false when the value is unusable.
    fn check_value_kind(&mut self, key: Key, v: &Value) -> bool {
        let kw = keywords::keyword(key);
        let choice = matches!(kw.value, ValueType::Choice(_));
        // A secret is never quoted: its mask has the width of its source.
        let text = || {
            if kw.is_secret() {
                stars(v.span.end - v.span.start)
            } else {
                shown(&v.text)
            }
        };
        if v.kind.is_keyword() && !choice {
            self.diags.push_with("E004", || {
                let text = text();
                Diagnostic::new(
                    "E004",
                    format!(
                        "keyword `{}` cannot be the value of `{}` unquoted",
                        text, kw.name
                    ),
                )
                .primary(v.span, "read as a keyword here")
                .help(format!("quote it: `{} \"{}\"`", kw.name, text))
            });
            return false;
        }
        if v.kind == ValueKind::Number && !kw.extension && !choice {
            self.diags.push_with("C101", || {
                Diagnostic::new("C101", "unquoted number as a value")
                    .primary(
                        v.span,
                        "esmtp 1.2 reads this as a number: a syntax error there",
                    )
                    .help(format!(
                        "quote it to keep the file valid for esmtp 1.2: `{} \"{}\"`",
                        kw.name,
                        text()
                    ))
            });
        }
        true
    }

    /// A value written as text to the server or into a header holds no
    /// control character (SPEC §9): `helo "a\r\nMAIL FROM:<x@y>"` would
    /// inject a command. False when the value is refused.
    fn check_wire_text(&mut self, key: Key, v: &Value) -> bool {
        if !key.reaches_wire() {
            return true;
        }
        // Control characters are C0, DEL and C1 (U+0080.. is 0xC2 0x80..);
        // this test of every byte compiles to vector code.
        let suspect = v.text.bytes().fold(false, |seen, b| {
            seen | (b < 0x20) | (b == 0x7f) | (b == 0xc2)
        });
        if !suspect {
            return true;
        }
        let Some(c) = v.text.chars().find(|c| c.is_control()) else {
            return true;
        };
        // A NUL byte is already an error of its own (E009).
        if v.text.contains('\0') {
            return false;
        }
        let what = match c {
            '\r' => "CR".to_string(),
            '\n' => "LF".to_string(),
            '\t' => "TAB".to_string(),
            '\u{1b}' => "ESC".to_string(),
            c => format!("U+{:04X}", c as u32),
        };
        let name = key.name();
        self.diags.push(
            Diagnostic::new(
                "E020",
                format!("control character ({what}) in the value of `{name}`"),
            )
            .primary(v.span, "this value is sent to the server as text")
            .help("remove it: in the SMTP dialogue or a header, a control character could end the line and start a command of its own"),
        );
        false
    }

    fn set(&mut self, key: Key, key_span: Span, v: &Value, span: Span) {
        let kw = keywords::keyword(key);
        if kw.extension && self.opts.compat {
            self.diags.push(
                Diagnostic::new("C001", format!("`{}` is an extension", kw.name))
                    .primary(key_span, "esmtp 1.2 reports a syntax error here"),
            );
        }
        if !self.check_value_kind(key, v) || !self.check_wire_text(key, v) {
            return;
        }
        let cur_idx = self.sections.len() - 1;
        if kw.scope == Scope::Global {
            if let Some(first) = self.globals_first.get(&key) {
                let first = *first;
                self.diags.push_with("W001", || {
                    Diagnostic::new("W001", format!("`{}` given twice", kw.name))
                        .primary(span, "this one wins")
                        .secondary(first, "first given here")
                        .note(format!("`{}` is global: it applies to the whole file, whichever identity it appears in", kw.name))
                });
            } else {
                self.globals_first.insert(key, span);
            }
            self.globals.insert(key, v.span);
            self.cur().statements += 1;
            self.global(key, v);
            return;
        }
        self.first_statement.get_or_insert(cur_idx);
        let sec = self.cur();
        sec.statements += 1;
        sec.own_statements += 1;
        let dup = sec.first.get(&key).copied();
        if dup.is_none() {
            sec.first.insert(key, span);
        }
        sec.values.insert(key, v.span);
        if let Some(first) = dup {
            self.diags.push_with("W001", || {
                Diagnostic::new("W001", format!("`{}` given twice in one identity", kw.name))
                    .primary(span, "this one wins")
                    .secondary(first, "first given here")
                    .help("remove one, or add the `identity` line that is missing between them")
            });
        }
        self.per_identity(key, v);
    }

    fn global(&mut self, key: Key, v: &Value) {
        match key {
            Key::Mda => {
                let t = self.template(
                    v,
                    &[('T', TemplatePart::Recipients), ('F', TemplatePart::Sender)],
                );
                self.plan_mda = Some(t);
            }
            Key::ForceMda => self.force_mda = Some(v.text.clone()),
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
            Key::QueueLifetime => match parse_duration(&v.text) {
                Some(secs) if secs > 0 => self.queue.lifetime_secs = secs,
                _ => self.diags.push(
                    Diagnostic::new("E010", format!("`{}` is not a duration", v.text))
                        .primary(v.span, "expected seconds, or a number with s, m, h or d")
                        .help("for example `queue_lifetime 5d`"),
                ),
            },
            _ => {}
        }
    }

    fn bad_choice(&mut self, key: Key, v: &Value, help: Option<String>) {
        self.diags.push_with("E003", || bad_choice(key, v, help));
    }

    fn per_identity(&mut self, key: Key, v: &Value) {
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
            Key::Password | Key::Passwordeval => {
                let other = if key == Key::Password {
                    Key::Passwordeval
                } else {
                    Key::Password
                };
                if let Some(first) = self.cur().first.get(&other).copied() {
                    self.diags.push(
                        Diagnostic::new("E008", "`password` and `passwordeval` in one identity")
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
            Key::Starttls => {
                let tls = match (v.kind, v.text.as_str()) {
                    (ValueKind::Disabled, _) => Some(TlsPolicy::Disabled),
                    (ValueKind::Enabled, _) => Some(TlsPolicy::Enabled),
                    (ValueKind::Required, _) => Some(TlsPolicy::Required),
                    (ValueKind::Bare, "implicit") => {
                        if self.opts.compat {
                            self.diags.push(
                                Diagnostic::new("C002", "`starttls implicit` is an extension")
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
            Key::MessageId => match v.kind {
                ValueKind::Enabled => self.cur().identity.message_id = true,
                ValueKind::Disabled => {
                    if self.opts.compat {
                        self.diags.push(
                            Diagnostic::new("C004", "esmtp 1.2 ignores `message_id disabled`")
                                .primary(v.span, "honoured here: no Message-ID: is added"),
                        );
                    }
                    self.cur().identity.message_id = false;
                }
                _ => self.bad_choice(Key::MessageId, v, None),
            },
            Key::Timeout => match v.text.parse::<u64>() {
                Ok(n) if n > 0 => self.cur().identity.timeout_secs = n,
                _ => self.diags.push(
                    Diagnostic::new("E010", format!("`{}` is not a number of seconds", v.text))
                        .primary(v.span, "expected a whole number from 1 up")
                        .help("for example `timeout 30`"),
                ),
            },
            Key::Auth => {
                let lower = v.text.to_ascii_lowercase();
                let mech = AuthMech::ALL.iter().copied().find(|m| {
                    m.config_name() == lower || m.sasl_name().eq_ignore_ascii_case(&lower)
                });
                match (v.kind, mech) {
                    (ValueKind::Bare | ValueKind::Quoted, Some(m)) => {
                        self.cur().identity.auth = Some(m)
                    }
                    _ => self.bad_choice(Key::Auth, v, None),
                }
            }
            _ => {}
        }
    }

    /// A value kept as bytes that is not UTF-8 (a Latin-1 password): as
    /// esmtp 1.2 does, it is used byte for byte; a compat note says so.
    fn not_utf8(&mut self, key: Key, v: &Value) {
        if v.raw.is_some() && self.opts.compat {
            self.diags.push(
                Diagnostic::new(
                    "C007",
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
                Diagnostic::new("C006", "IPv6 address in `hostname`")
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
                    Diagnostic::new("E005", msg)
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
                Diagnostic::new("W013", format!("unknown placeholder `{u}`"))
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

    /// The same identity declared more than once: esmtp 1.2 accepts it,
    /// `-f` selects the last declaration, and the default stays the one
    /// holding the file's first statement. Same meaning here, with a warning.
    fn duplicates(&mut self) {
        // Each declaration's previous one of the same address: one map
        // entry per address, no list per group (files may be huge).
        let mut last_of: HashMap<String, usize> = HashMap::new();
        let mut previous: Vec<Option<usize>> = vec![None; self.sections.len()];
        for (i, sec) in self.sections.iter().enumerate() {
            if let Some((addr, _)) = &sec.address {
                previous[i] = last_of.insert(crate::address::normalized(addr), i);
            }
        }
        let default_section = self.default_mark.map(|d| d.0).or(self.first_statement);
        let mut lasts: Vec<usize> = last_of
            .into_values()
            .filter(|&i| previous[i].is_some())
            .collect();
        lasts.sort_unstable();
        for last in lasts {
            let mut group = vec![last];
            while let Some(p) = group.last().and_then(|&g| previous[g]) {
                group.push(p);
            }
            group.reverse();
            let earlier = &group[..group.len() - 1];
            let Some((addr, span)) = self.sections[last].address.clone() else {
                continue;
            };
            let times = match group.len() {
                2 => "twice".to_string(),
                n => format!("{n} times"),
            };
            let mut d = Diagnostic::new(
                "W020",
                format!(
                    "identity `{addr}` declared {times}: `-f {addr}` selects the last declaration"
                ),
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
                    // `-f` prefers an exact spelling (1.2 compares exactly):
                    // a declaration spelled unlike every later one is still
                    // selected by that spelling.
                    let shadowed = group.iter().filter(|&&o| o > e).any(|&o| {
                        self.sections[o]
                            .address
                            .as_ref()
                            .is_some_and(|a| a.0 == *eaddr)
                    });
                    let by_f = if shadowed {
                        "never selected by `-f`".to_string()
                    } else {
                        format!("selected by `-f` only when spelled exactly `{eaddr}`")
                    };
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
            self.diags.push(d.help(
                "merge the declarations into one identity, or remove the one you do not want",
            ));
            if self.opts.compat {
                for &e in earlier {
                    let Some((eaddr, _)) = &self.sections[e].address else {
                        continue;
                    };
                    if *eaddr != addr {
                        self.diags.push(
                            Diagnostic::new(
                                "C005",
                                format!("`{eaddr}` and `{addr}` differ only in the case of the domain"),
                            )
                            .primary(span, "`-f` with another case of the domain selects the last declaration here; esmtp 1.2 compares exactly and uses the default identity"),
                        );
                    }
                }
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
                    "E015",
                    format!("{} has a username but no password", name()),
                )
                .primary(u, "cannot authenticate without a secret")
                .help("add `password` (or `passwordeval \"COMMAND\"`) to this identity, or remove `username` if the server needs no login"),
                (None, Some(p)) => Diagnostic::new(
                    "E015",
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

    pub fn finish(mut self) -> (Lowered, DiagList) {
        // Port 465 without a TLS statement means implicit TLS.
        let compat = self.opts.compat;
        let mut extra = Vec::new();
        for sec in &mut self.sections {
            if !sec.tls_given && sec.identity.relay.explicit && sec.identity.relay.port == 465 {
                sec.identity.tls = TlsPolicy::Implicit;
                if compat {
                    if let Some(span) = sec.values.get(&Key::Hostname) {
                        extra.push(
                            Diagnostic::new("C003", "port 465 without `starttls`: implicit TLS")
                                .primary(*span, "TLS from the first byte here; esmtp 1.2 speaks plain SMTP to this port"),
                        );
                    }
                }
            }
        }
        for d in extra {
            self.diags.push(d);
        }
        self.duplicates();
        // 1.2 requires statements after every identity but the first.
        for sec in self.sections.iter().skip(2) {
            if sec.statements == 0 {
                if let Some((_, span)) = &sec.address {
                    self.diags.push(
                        Diagnostic::new("C104", "identity without any statement")
                            .primary(
                                *span,
                                "esmtp 1.2 reports a syntax error after this identity",
                            )
                            .help("add its `hostname` (it relays to localhost:25 without one)"),
                    );
                }
            }
        }
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
        let plan = Plan {
            identities,
            default_identity,
            mda: self.plan_mda,
            force_mda: self.force_mda,
            queue: self.queue,
        };
        (
            Lowered {
                identity_errors: self.identity_errors,
                credential_errors: self.credential_errors,
                sections: self.sections,
                plan_index,
                globals: self.globals,
                plan,
            },
            self.diags,
        )
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
    fn durations() {
        assert_eq!(parse_duration("90"), Some(90));
        assert_eq!(parse_duration("5d"), Some(432000));
        assert_eq!(parse_duration("2h"), Some(7200));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_duration("d"), None);
    }
}
