//! Lowering: statements → [`Plan`], checking values and applying the
//! identity and default-identity rules of SPEC §2.3. This room owns the
//! lowerer's state and the statement dispatch (which setting goes where,
//! given twice, quoted or not, safe on the wire); [`values`] reads each
//! setting's value, [`finish`] applies the whole-file rules and builds the
//! plan.

mod finish;
mod oauth2;
mod values;

pub use values::{
    is_file_path, parse_duration, parse_fingerprint, parse_hostport, resolve_port, FingerprintError,
};

use super::ast::{Stmt, Value, ValueKind};
use super::codes::Code;
use super::diag::{shown, DiagList, Diagnostic, Span};
use super::keywords::{self, Key, Scope, ValueType};
use super::mask::stars;
use crate::plan::{Identity, LogSettings, Plan, QueueSettings, Template, Unusable};
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
pub type CertCheck = fn(&Identity) -> Option<String>;

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
    /// The `oauth2*` statements, until the end of the file.
    pub oauth2: Option<oauth2::OAuth2Draft>,
}

impl Section {
    /// The value spans of the last `username` and of the last secret
    /// (`password` or `passwordeval`), when given.
    pub fn credential_spans(&self) -> (Option<Span>, Option<Span>) {
        let secret = self
            .values
            .get(&Key::Password)
            .or(self.values.get(&Key::Passwordeval))
            .copied()
            .or(self.oauth2_span());
        // `oauth2` logs in as the identity's address by default.
        let user = self
            .values
            .get(&Key::Username)
            .copied()
            .or(self.oauth2_span().filter(|_| self.address.is_some()));
        (user, secret)
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
            oauth2: None,
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
    /// The aliases file's own report (its diagnostics point into it).
    pub aliases_file: Option<super::aliases::AliasesFile>,
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
    /// `aliases FILE`: the value and where it was written.
    aliases: Option<(String, Span)>,
    queue: QueueSettings,
    /// `logfile`, `syslog` before the first `identity`.
    log: LogSettings,
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
            aliases: None,
            queue: QueueSettings::default(),
            log: LogSettings::default(),
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
                        Diagnostic::new(Code::W002, "`default` given more than once")
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
                            Code::E021,
                            format!("more than {MAX_IDENTITIES} identities"),
                        )
                        .primary(value.span, "the rest of the file is not used")
                        .help("is this the right file? split it, or generate only the identities that are used"),
                    );
                    self.stopped = true;
                    return;
                }
                self.check_value_kind(Key::Identity, value);
                if self.check_wire_text(Key::Identity, value) {
                    self.check_international(Key::Identity, value);
                }
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
            self.diags.push_with(Code::E004, || {
                let text = text();
                Diagnostic::new(
                    Code::E004,
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
            self.diags.push_with(Code::C101, || {
                Diagnostic::new(Code::C101, "unquoted number as a value")
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
                Code::E020,
                format!("control character ({what}) in the value of `{name}`"),
            )
            .primary(v.span, "this value is sent to the server as text")
            .help("remove it: in the SMTP dialogue or a header, a control character could end the line and start a command of its own"),
        );
        false
    }

    /// An address or domain of the configuration may be UTF-8 (SMTPUTF8,
    /// IDNA), but its domain needs an ASCII form (E060) and it holds no
    /// Unicode line separator (E061). False when the value is refused.
    fn check_international(&mut self, key: Key, v: &Value) -> bool {
        let domain = match key {
            Key::Qualifydomain => v.text.as_str(),
            Key::Identity | Key::ForceSender | Key::ForceReversePath => {
                match crate::address::bare(&v.text).rsplit_once('@') {
                    Some((_, domain)) => domain,
                    None => "",
                }
            }
            _ => return true,
        };
        if v.text.is_ascii() {
            return true;
        }
        let name = key.name();
        if v.text.chars().any(crate::address::is_line_separator) {
            self.diags.push(
                Diagnostic::new(
                    Code::E061,
                    format!("Unicode line separator (U+2028 or U+2029) in the value of `{name}`"),
                )
                .primary(
                    v.span,
                    "this value is written into headers and SMTP commands",
                )
                .help("remove it: some programs end a line there"),
            );
            return false;
        }
        // A template's placeholder (`%u`) is not part of a domain.
        if domain.contains('%') {
            return true;
        }
        let Err(e) = crate::address::ascii_domain(domain) else {
            return true;
        };
        self.diags.push(
            Diagnostic::new(
                Code::E060,
                format!("the domain `{}` in `{name}` has no ASCII form", shown(domain)),
            )
            .primary(v.span, e.to_string())
            .help("correct the domain, or write its A-label (`xn--...`) form as its registry shows it"),
        );
        false
    }

    fn set(&mut self, key: Key, key_span: Span, v: &Value, span: Span) {
        let kw = keywords::keyword(key);
        if kw.extension && self.opts.compat {
            self.diags.push(
                Diagnostic::new(Code::C001, format!("`{}` is an extension", kw.name))
                    .primary(key_span, "esmtp 1.2 reports a syntax error here"),
            );
        }
        if !self.check_value_kind(key, v)
            || !self.check_wire_text(key, v)
            || !self.check_international(key, v)
        {
            return;
        }
        let cur_idx = self.sections.len() - 1;
        // `logfile` and `syslog` before the first identity are the whole
        // file's (like msmtp's `defaults`); inside one, that identity's.
        let global_here = key.global_before_identity() && self.sections.len() == 1;
        if kw.scope == Scope::Global || global_here {
            if let Some(first) = self.globals_first.get(&key) {
                let first = *first;
                self.diags.push_with(Code::W001, || {
                    Diagnostic::new(Code::W001, format!("`{}` given twice", kw.name))
                        .primary(span, "this one wins")
                        .secondary(first, "first given here")
                        .note(if global_here {
                            format!("`{}` before the first `identity` is global: it applies to every identity without its own", kw.name)
                        } else {
                            format!("`{}` is global: it applies to the whole file, whichever identity it appears in", kw.name)
                        })
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
            self.diags.push_with(Code::W001, || {
                Diagnostic::new(
                    Code::W001,
                    format!("`{}` given twice in one identity", kw.name),
                )
                .primary(span, "this one wins")
                .secondary(first, "first given here")
                .help("remove one, or add the `identity` line that is missing between them")
            });
        }
        self.per_identity(key, v);
    }
}
