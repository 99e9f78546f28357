//! Diagnostics: stable codes, spans, labels, help; rendered as codespan
//! text, JSON or GitHub Actions annotation lines.

use super::snippet::{LineTable, Snippet};
use codespan_reporting::diagnostic as cs;
use codespan_reporting::term;
use serde::Serialize;

/// A byte range in the (UTF-8) source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub primary: Option<Label>,
    pub secondary: Vec<Label>,
    pub help: Option<String>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

impl Diagnostic {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        let severity = if code.starts_with('E') {
            Severity::Error
        } else {
            Severity::Warning
        };
        Diagnostic {
            code,
            severity,
            message: message.into(),
            primary: None,
            secondary: Vec::new(),
            help: None,
            notes: Vec::new(),
        }
    }
    pub fn primary(mut self, span: Span, label: impl Into<String>) -> Self {
        self.primary = Some(Label {
            span,
            message: label.into(),
        });
        self
    }
    pub fn secondary(mut self, span: Span, label: impl Into<String>) -> Self {
        self.secondary.push(Label {
            span,
            message: label.into(),
        });
        self
    }
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
    /// Compatibility reports shown only with `check --compat`.
    pub fn compat_only(&self) -> bool {
        self.code.starts_with("C0")
    }
    /// Where the diagnostic points (for sorting).
    pub fn start(&self) -> usize {
        self.primary.as_ref().map(|l| l.span.start).unwrap_or(0)
    }
    /// Every label's span.
    pub fn spans(&self) -> impl Iterator<Item = &Span> {
        self.primary
            .iter()
            .chain(self.secondary.iter())
            .map(|l| &l.span)
    }
    /// Make every text fit for a terminal or a log: control characters
    /// escaped, at most [`MAX_TEXT`] bytes (a message may quote a value,
    /// and a value may be megabytes long or hold escape sequences).
    fn bound_texts(&mut self) {
        bound_text(&mut self.message);
        for l in self.primary.iter_mut().chain(self.secondary.iter_mut()) {
            bound_text(&mut l.message);
        }
        if let Some(h) = &mut self.help {
            bound_text(h);
        }
        for n in &mut self.notes {
            bound_text(n);
        }
    }
}

/// The longest message, label, help or note kept.
pub const MAX_TEXT: usize = 1000;

fn bound_text(s: &mut String) {
    if s.len() <= MAX_TEXT && !s.chars().any(char::is_control) {
        return;
    }
    *s = escape_bounded(s, usize::MAX, MAX_TEXT);
}

/// `text` with its control characters escaped (`\r`, `\u{1b}`), at most
/// `chars` characters and about `bytes` bytes of it (then `…`).
fn escape_bounded(text: &str, chars: usize, bytes: usize) -> String {
    let mut out = String::with_capacity(text.len().min(bytes.saturating_add(8)));
    for (i, c) in text.chars().enumerate() {
        if i == chars || out.len() >= bytes {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// `text` with its control characters escaped, so that none reaches a
/// terminal or a log.
pub fn escape_controls(text: &str) -> String {
    escape_bounded(text, usize::MAX, usize::MAX)
}

/// A value as a message quotes it: at most 60 characters (then `…`),
/// control characters escaped. Never for a secret (see [`super::mask`]).
pub fn shown(text: &str) -> String {
    escape_bounded(text, 60, usize::MAX)
}

/// Diagnostics of one compilation, at most [`DiagList::KEEP`] errors and
/// as many warnings kept (memory stays bounded on garbage, and a flood of
/// warnings cannot hide an error); the rest are only counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiagList {
    pub list: Vec<Diagnostic>,
    pub omitted_errors: usize,
    pub omitted_warnings: usize,
    /// Errors in `list`.
    kept_errors: usize,
}

impl DiagList {
    pub const KEEP: usize = 1000;

    /// Whether a diagnostic of this code would only be counted.
    fn full(&self, error: bool) -> bool {
        if error {
            self.kept_errors >= Self::KEEP
        } else {
            self.list.len() - self.kept_errors >= Self::KEEP
        }
    }

    fn count_omitted(&mut self, error: bool) {
        if error {
            self.omitted_errors += 1;
        } else {
            self.omitted_warnings += 1;
        }
    }

    pub fn push(&mut self, mut d: Diagnostic) {
        let error = d.is_error();
        if self.full(error) {
            self.count_omitted(error);
            return;
        }
        d.bound_texts();
        self.kept_errors += usize::from(error);
        self.list.push(d);
    }
    /// Push the diagnostic `make` builds, or only count it when the list
    /// is full (a flood of diagnostics costs no allocation).
    pub fn push_with(&mut self, code: &'static str, make: impl FnOnce() -> Diagnostic) {
        let error = code.starts_with('E');
        if self.full(error) {
            self.count_omitted(error);
        } else {
            self.push(make());
        }
    }
    pub fn append(&mut self, other: DiagList) {
        self.omitted_errors += other.omitted_errors;
        self.omitted_warnings += other.omitted_warnings;
        for d in other.list {
            self.push(d);
        }
    }
    pub fn has_errors(&self) -> bool {
        self.omitted_errors > 0 || self.kept_errors > 0
    }
}

impl std::ops::Deref for DiagList {
    type Target = [Diagnostic];
    fn deref(&self) -> &[Diagnostic] {
        &self.list
    }
}

/// What each code means, for `check --explain`.
pub struct CodeInfo {
    pub code: &'static str,
    pub title: &'static str,
    pub explain: &'static str,
}

pub static CODES: &[CodeInfo] = &[
    CodeInfo { code: "E001", title: "syntax error", explain: "The parser expected a statement (a keyword such as `hostname`) or the value of the statement before, and found something else. Keywords are lower case. Misspelled keywords are suggested. A value with blanks must be quoted: `preconnect \"ssh -f host sleep 5\"`. esmtp 1.2 stops at the first such error with `FILE:LINE: syntax error at TOKEN`; esmtp reports every one." },
    CodeInfo { code: "E002", title: "missing value", explain: "Every keyword except `default` takes a value: `hostname smtp.example.org:587`. The file ended, or another keyword came, where the value should be." },
    CodeInfo { code: "E003", title: "invalid value for a keyword that takes fixed words", explain: "`starttls` takes `disabled`, `enabled`, `required` or `implicit`; `message_id` takes `enabled` or `disabled`; `auth` takes `plain`, `login`, `cram-md5`, `ntlm` or `xoauth2`; `queue` takes `disabled`, `enabled` or `background`. `starttls yes` is not understood by esmtp 1.2 either: write `starttls enabled` (use TLS when the server offers it) or `starttls required` (refuse to send without it)." },
    CodeInfo { code: "E004", title: "keyword used as a value", explain: "esmtp 1.2 reads `enabled`, `disabled`, `required` and `default` as keywords wherever they appear, except right after `identity`, `hostname`, `username` and `password`. To use such a word as a value, quote it: `helo \"default\"`." },
    CodeInfo { code: "E005", title: "invalid host or port", explain: "`hostname` takes `HOST` or `HOST:PORT`, where PORT is a number from 1 to 65535 or a service name such as `smtp` (25), `submission` (587) or `smtps` (465), resolved when the file is compiled. An IPv6 address with a port is written `[::1]:25`. This error concerns only the identity it is in (esmtp 1.2 accepts the file and fails only when it sends through that smarthost): the file still compiles, local delivery and the other identities work, and sending through this identity fails with status 78 before connecting." },
    CodeInfo { code: "E007", title: "duplicate identity (no longer reported)", explain: "Two identities with the same address used to be an error. esmtp 1.2 accepts them, so they are now warning W020, with 1.2's meaning: `-f` selects the last declaration." },
    CodeInfo { code: "E008", title: "password and passwordeval together", explain: "`passwordeval` runs a command that prints the secret; `password` gives it in the file. One identity can use only one of them." },
    CodeInfo { code: "E009", title: "bytes that are not text in a value", explain: "Values must be UTF-8 text without NUL bytes. The file, or the escape sequences in a value (`\\xHH`, `\\0OOO`, `\\DDD`), produced bytes that are not. Comments may contain anything, and `username`, `password` and `certificate_passphrase` may hold any bytes but NUL: esmtp 1.2 sends them byte for byte (a Latin-1 password in a Latin-1 file), and so does this esmtp (C007 with --compat)." },
    CodeInfo { code: "E010", title: "invalid number or duration", explain: "`timeout` takes a whole number of seconds from 1 up; `queue_lifetime` takes seconds or a number with a suffix: `90s`, `30m`, `12h`, `5d`." },
    CodeInfo { code: "E011", title: "file too large", explain: "A configuration file larger than 4 MiB is refused without being parsed, so that a wrong file (a mailbox, a binary) cannot use unbounded memory." },
    CodeInfo { code: "E012", title: "configuration file cannot be used", explain: "~/.esmtprc must be a regular file (not a symbolic link) owned by you, with no permission bits beyond 0710, because it may hold a password. Fix it with `chmod 600 ~/.esmtprc`. In a dotfiles repository, check the file with `esmtp check FILE --no-permission-lints`." },
    CodeInfo { code: "E013", title: "unterminated quoted string", explain: "A value starts with a quote that is never closed on its line. esmtp 1.2 then reads the quote as part of a bare word and the following words as new statements. Close the quote: `helo \"my host\"`." },
    CodeInfo { code: "E014", title: "too many errors", explain: "After 500 syntax errors, or 5000 words that belong to no statement, the rest of the file is not read: it is most likely not an esmtprc file at all. The errors found so far are reported." },
    CodeInfo { code: "E015", title: "username without password, or the reverse", explain: "SMTP authentication needs both a user name and a secret (`password` or `passwordeval`). With only one of them esmtp 1.2 sends a broken AUTH command or none, depending on the server. This error concerns only its identity: the file still compiles, local delivery and the other identities work, and sending through this identity fails with status 78 before connecting. Add the missing half, or remove the other if the server needs no login." },
    CodeInfo { code: "E016", title: "TLS client certificate cannot be used", explain: "Checked for the live configuration only. The identity uses TLS, and ~/.authenticate/HOST/private/smtp-starttls.pem (or ~/.authenticate/private/smtp-starttls.pem) exists but cannot be used: it cannot be read, its directory is not 0700 or the file not 0600, it holds no certificate, or its key does not decrypt with `certificate_passphrase`. Sending through this identity fails with status 78 before connecting, with the same message; the other identities and local delivery work." },
    CodeInfo { code: "E020", title: "control character in a value sent to the server", explain: "`helo`, the identity address, `force sender`, `force reverse_path`, `qualifydomain` and `hostname` are written as text into the SMTP dialogue (EHLO, MAIL FROM), into headers (From:, Sender:) or into the TLS handshake and the name look-up. A control character there (CR, LF, NUL, TAB, ESC and the others, also when written as an escape such as `\\r`, `\\x0a`, `\\0` or `\\012`) would end the command early and let the rest be read as a command of its own: `helo \"a.example\\r\\nMAIL FROM:<spoof@example.org>\"` would forge the sender of every message. Remove the character. `username`, `password` and `certificate_passphrase` may hold any byte: AUTH encodes them." },
    CodeInfo { code: "E021", title: "too many identities", explain: "A file may declare at most 50000 identities, so that compiling it has bounded memory (a 4 MiB file of `identity` lines would declare 300000). The identities after the limit, and everything after them, are not used, and the file does not compile. Is this the right file?" },
    CodeInfo { code: "W001", title: "setting given twice", explain: "A statement given twice in one identity (or a global one given twice in the file): the last one wins, as in esmtp 1.2. Usually the first was meant to be deleted, or an `identity` line is missing between them." },
    CodeInfo { code: "W002", title: "`default` given more than once", explain: "Only one identity can be the default. As in esmtp 1.2, the last `default` wins." },
    CodeInfo { code: "W003", title: "password in a file others can read", explain: "The file holds a password (or passphrase) and its permissions let other users read it. Run `chmod 600 FILE`. Use `--no-permission-lints` for a copy in a dotfiles repository." },
    CodeInfo { code: "W004", title: "password in /etc/esmtprc", explain: "/etc/esmtprc is read by every user of the machine, so a password there is visible to all of them. Put credentials in each user's ~/.esmtprc instead." },
    CodeInfo { code: "W005", title: "credentials sent in clear", explain: "The identity authenticates, but says `starttls disabled` and the server is not on this machine: the password crosses the network in clear text (with PLAIN or LOGIN) for anyone on the way to read. Use `starttls required` (or `starttls implicit` on port 465)." },
    CodeInfo { code: "W006", title: "username without password, or the reverse (no longer reported)", explain: "Half credentials are now error E015, which makes only their identity unusable." },
    CodeInfo { code: "W007", title: "empty password", explain: "`password \"\"` authenticates with an empty secret, which servers almost always refuse. Remove the statement if no authentication is wanted." },
    CodeInfo { code: "W008", title: "identity is not an e-mail address", explain: "An identity is selected when the `-f` address (or the From: address with -t) equals its address. A value that is not of the form user@domain can never be selected; it is only reachable as the default." },
    CodeInfo { code: "W009", title: "no hostname", explain: "An identity without `hostname` relays to localhost:25. This is how esmtp 1.2 behaves too, but identities do not inherit the hostname of the unnamed section, which often surprises." },
    CodeInfo { code: "W010", title: "STARTTLS on the implicit-TLS port", explain: "Port 465 (smtps/submissions) speaks TLS from the first byte; a STARTTLS session there hangs or fails. Use `starttls implicit` (an extension), or port 587 with STARTTLS." },
    CodeInfo { code: "W011", title: "mda without %T", explain: "The MDA command is given the local recipients through `%T`. Without it the MDA cannot know whom to deliver to (procmail uses `-d %T`)." },
    CodeInfo { code: "W012", title: "force_mda without mda", explain: "`force_mda` sends every message to a local user through the MDA, but no `mda` is set, so every message fails (status 72)." },
    CodeInfo { code: "W013", title: "unknown %-placeholder", explain: "`force sender` and `force reverse_path` know `%u` (login name) and `%%`; `mda` knows `%T` (recipients), `%F` (sender) and `%%`. Any other `%x` is kept literally; write `%%` for a percent sign." },
    CodeInfo { code: "W014", title: "program not found", explain: "The first word of a command (`preconnect`, `postconnect`, `passwordeval`, `mda`) names a program that is not on PATH or not executable. It is looked up when the file is checked; it may exist on the machine the file is meant for." },
    CodeInfo { code: "W015", title: "auth setting that cannot work", explain: "`auth` restricts the mechanism, but the identity has no user name or no secret; `auth xoauth2` needs an access token, normally from `passwordeval`." },
    CodeInfo { code: "W016", title: "quoted string over several lines", explain: "A quoted value ends only at the next quote of the same kind, even several lines later. This usually means a closing quote is missing." },
    CodeInfo { code: "W017", title: "unmatched quote", explain: "A quote that is never closed is not a quote for esmtp 1.2: it becomes part of a bare word. Add the closing quote." },
    CodeInfo { code: "W018", title: "setting without effect", explain: "The setting can have no effect: `certificate_passphrase` decrypts the TLS client key, but the identity has `starttls disabled` (the default), so no TLS session is ever made." },
    CodeInfo { code: "W019", title: "suspicious host name", explain: "The host name is empty or contains characters that no host name has (blanks, `@`, `/`). Sending will fail to connect." },
    CodeInfo { code: "W020", title: "identity declared more than once", explain: "Two `identity` statements with the same address (the domain compared without regard to case). As in esmtp 1.2, `-f ADDRESS` selects the last declaration, and the default identity stays the one holding the file's first statement (or marked `default`), even when it is an earlier declaration of the same address. `esmtp route -f ADDRESS` shows which one is used. Merge the declarations, or remove the one you do not want." },
    CodeInfo { code: "W025", title: "password without a `starttls` statement", explain: "The identity authenticates to a server on another machine and has no `starttls` statement, so the connection is not encrypted. esmtp then never uses a mechanism that shows the password to anyone on the way (PLAIN, LOGIN, XOAUTH2), as Postfix's client does by default (`noplaintext`): sending fails before anything secret is sent, unless the server offers CRAM-MD5 or NTLM. esmtp 1.2 sent the password in clear here. Write `starttls required` (the server must offer STARTTLS; `starttls implicit` on port 465), or `starttls disabled` to accept sending the password in clear." },
    CodeInfo { code: "C001", title: "extension keyword", explain: "The keyword is an extension of this esmtp; esmtp 1.2 rejects the file with a syntax error. Shown by `check --compat` so that a file can be kept valid for both." },
    CodeInfo { code: "C002", title: "implicit TLS", explain: "`starttls implicit` is an extension (TLS from the first byte, SMTPS); esmtp 1.2 rejects it." },
    CodeInfo { code: "C003", title: "port 465 implies implicit TLS", explain: "A hostname on port 465 with no `starttls` statement speaks TLS from the first byte here; esmtp 1.2 speaks plain SMTP to it, which fails." },
    CodeInfo { code: "C004", title: "message_id disabled is ignored by esmtp 1.2", explain: "esmtp 1.2 always adds a Message-ID: header; this esmtp honours `message_id disabled`." },
    CodeInfo { code: "C005", title: "identity compared differently", explain: "Two identities whose addresses differ only in the case of the domain. A `-f` address spelled exactly as one of them selects that one in both programs. Spelled otherwise (`a@EXAMPLE.ORG`), it selects the last of them here, where the domain is compared without regard to case; esmtp 1.2 compares exactly and uses the default identity." },
    CodeInfo { code: "C006", title: "IPv6 address in hostname", explain: "`hostname [::1]:25` (or a bare IPv6 address) is understood here; esmtp 1.2 splits the value at the first colon and fails to connect." },
    CodeInfo { code: "C007", title: "value that is not UTF-8", explain: "A `username`, `password` or `certificate_passphrase` whose bytes are not UTF-8 (a Latin-1 file, or escapes such as `\\xe9`). esmtp 1.2 sends such a value byte for byte in AUTH PLAIN and LOGIN, keys CRAM-MD5 with the same bytes and widens each byte to 16 bits for NTLM; this esmtp does exactly the same. Servers that expect UTF-8 may refuse it." },
    CodeInfo { code: "C101", title: "unquoted number", explain: "esmtp 1.2 lexes an unquoted all-digit value (`password 12345`, `helo 123`) as a number, which no statement accepts: a syntax error. This esmtp takes it as the text it is. Quote it (`password \"12345\"`) to keep the file valid for both." },
    CodeInfo { code: "C102", title: "comment on the last line without newline", explain: "esmtp 1.2 ends a comment only at a newline, so a comment on the last line of a file without a final newline is a syntax error there. End the file with a newline." },
    CodeInfo { code: "C103", title: "stray punctuation", explain: "`;`, `,` and (outside hostname/identity/username/password values) `:` are not part of the language; esmtp 1.2 echoes them to standard output and ignores them. Quote the value they belong to, or remove them." },
    CodeInfo { code: "C104", title: "identity without statements", explain: "esmtp 1.2's grammar requires at least one statement after every `identity` except the first, and reports a syntax error otherwise. This esmtp accepts the empty identity (it relays to localhost:25)." },
    CodeInfo { code: "C105", title: "trailing backslash", explain: "A backslash at the end of a bare word is part of the value in esmtp 1.2 (it is not a line continuation). Remove it unless it is meant." },
];

pub fn code_info(code: &str) -> Option<&'static CodeInfo> {
    CODES.iter().find(|c| c.code.eq_ignore_ascii_case(code))
}

/// The text of `esmtp check --explain CODE`.
pub fn explain(code: &str) -> Option<String> {
    let c = code_info(code)?;
    let kind = match c.code.as_bytes()[0] {
        b'E' => "error",
        b'W' => "warning",
        _ if c.code.starts_with("C0") => "compatibility report (shown with --compat)",
        _ => "compatibility warning",
    };
    Some(format!(
        "{}: {} ({})\n\n{}\n",
        c.code, c.title, kind, c.explain
    ))
}

/// Line and column (1-based, columns in characters) of a byte offset.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let mut off = offset;
    while off > 0 && !src.is_char_boundary(off) {
        off -= 1;
    }
    let before = &src[..off];
    let line = memchr::memchr_iter(b'\n', before.as_bytes()).count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

/// The codespan form of `d`, its labels at `ranges` (one per label,
/// primary first: see [`Diagnostic::spans`]).
fn to_codespan(d: &Diagnostic, ranges: &[std::ops::Range<usize>]) -> cs::Diagnostic<()> {
    let mut out = match d.severity {
        Severity::Error => cs::Diagnostic::error(),
        Severity::Warning => cs::Diagnostic::warning(),
    }
    .with_code(d.code)
    .with_message(&d.message);
    let mut labels = Vec::new();
    let mut ranges = ranges.iter().cloned();
    if let Some(p) = &d.primary {
        let r = ranges.next().unwrap_or(p.span.start..p.span.end);
        labels.push(cs::Label::primary((), r).with_message(&p.message));
    }
    for s in &d.secondary {
        let r = ranges.next().unwrap_or(s.span.start..s.span.end);
        labels.push(cs::Label::secondary((), r).with_message(&s.message));
    }
    let mut notes: Vec<String> = d.notes.clone();
    if let Some(h) = &d.help {
        notes.push(format!("help: {h}"));
    }
    out = out.with_labels(labels).with_notes(notes);
    out
}

/// Each diagnostic with the snippet of the source it shows (bounded: see
/// [`Snippet`]) and its labels mapped into that snippet.
fn with_snippets<E>(
    name: &str,
    src: &str,
    diags: &[Diagnostic],
    mut each: impl FnMut(&Diagnostic, &Snippet, &cs::Diagnostic<()>) -> Result<(), E>,
) -> Result<(), E> {
    let table = LineTable::for_spans(src, diags.iter().flat_map(|d| d.spans()));
    for d in diags {
        let spans: Vec<Span> = d.spans().copied().collect();
        let (snippet, mapped) = Snippet::new(name, src, &table, &spans);
        each(d, &snippet, &to_codespan(d, &mapped))?;
    }
    Ok(())
}

/// Render diagnostics as rustc-style text.
pub fn render_human(name: &str, src: &str, diags: &[Diagnostic]) -> String {
    let config = term::Config::default();
    let mut out = String::new();
    let _ = with_snippets(name, src, diags, |d, snippet, cs| {
        match term::emit_into_string(&config, snippet, cs) {
            Ok(s) => out.push_str(&s),
            Err(_) => {
                out.push_str(&format!("{name}: {}[{}]: {}\n", sev(d), d.code, d.message));
            }
        }
        Ok::<(), ()>(())
    });
    out
}

/// Render diagnostics as rustc-style text with ANSI colours (for a terminal).
pub fn render_human_color(name: &str, src: &str, diags: &[Diagnostic]) -> String {
    use codespan_reporting::term::termcolor::Buffer;
    let config = term::Config::default();
    let mut buf = Buffer::ansi();
    let done = with_snippets(name, src, diags, |_, snippet, cs| {
        term::emit_to_write_style(&mut buf, &config, snippet, cs)
    });
    if done.is_err() {
        return render_human(name, src, diags);
    }
    String::from_utf8_lossy(buf.as_slice()).into_owned()
}

fn sev(d: &Diagnostic) -> &'static str {
    match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// One line per diagnostic: `FILE:LINE:COL: error[E001]: message`.
pub fn render_short(name: &str, src: &str, diags: &[Diagnostic]) -> String {
    let table = LineTable::for_spans(src, diags.iter().flat_map(|d| d.spans()));
    let mut out = String::new();
    for d in diags {
        match &d.primary {
            Some(p) => {
                let (l, c) = table.line_col(src, p.span.start);
                out.push_str(&format!(
                    "{name}:{l}:{c}: {}[{}]: {}\n",
                    sev(d),
                    d.code,
                    d.message
                ));
            }
            None => out.push_str(&format!("{name}: {}[{}]: {}\n", sev(d), d.code, d.message)),
        }
    }
    out
}

fn gh_escape(s: &str, property: bool) -> String {
    let mut o = s
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A");
    if property {
        o = o.replace(':', "%3A").replace(',', "%2C");
    }
    o
}

/// GitHub Actions workflow commands (`::error file=...::message`).
pub fn render_github(name: &str, src: &str, diags: &[Diagnostic]) -> String {
    let table = LineTable::for_spans(src, diags.iter().flat_map(|d| d.spans()));
    let mut out = String::new();
    for d in diags {
        let kind = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut msg = d.message.clone();
        if let Some(p) = &d.primary {
            if !p.message.is_empty() {
                msg.push_str(&format!(": {}", p.message));
            }
        }
        if let Some(h) = &d.help {
            msg.push_str(&format!("\nhelp: {h}"));
        }
        let mut props = format!("file={}", gh_escape(name, true));
        if let Some(p) = &d.primary {
            let (l, c) = table.line_col(src, p.span.start);
            let (el, ec) = table.line_col(src, p.span.end);
            props.push_str(&format!(",line={l},col={c},endLine={el},endColumn={ec}"));
        }
        props.push_str(&format!(",title={}", gh_escape(d.code, true)));
        out.push_str(&format!("::{kind} {props}::{}\n", gh_escape(&msg, false)));
    }
    out
}

#[derive(Serialize)]
struct JsonLabel<'a> {
    message: &'a str,
    start: usize,
    end: usize,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
}

#[derive(Serialize)]
struct JsonDiag<'a> {
    code: &'a str,
    severity: Severity,
    message: &'a str,
    primary: Option<JsonLabel<'a>>,
    secondary: Vec<JsonLabel<'a>>,
    help: Option<&'a str>,
    notes: &'a [String],
}

fn json_label<'a>(src: &str, table: &LineTable, l: &'a Label) -> JsonLabel<'a> {
    let (line, column) = table.line_col(src, l.span.start);
    let (end_line, end_column) = table.line_col(src, l.span.end);
    JsonLabel {
        message: &l.message,
        start: l.span.start,
        end: l.span.end,
        line,
        column,
        end_line,
        end_column,
    }
}

/// Diagnostics as JSON values (with line/column).
pub fn to_json(src: &str, diags: &[Diagnostic]) -> serde_json::Value {
    let table = LineTable::for_spans(src, diags.iter().flat_map(|d| d.spans()));
    let list: Vec<JsonDiag> = diags
        .iter()
        .map(|d| JsonDiag {
            code: d.code,
            severity: d.severity,
            message: &d.message,
            primary: d.primary.as_ref().map(|l| json_label(src, &table, l)),
            secondary: d
                .secondary
                .iter()
                .map(|l| json_label(src, &table, l))
                .collect(),
            help: d.help.as_deref(),
            notes: &d.notes,
        })
        .collect();
    serde_json::to_value(list).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_used_is_explained_once() {
        for c in CODES {
            assert_eq!(CODES.iter().filter(|o| o.code == c.code).count(), 1);
            assert!(explain(c.code).is_some());
        }
        assert!(explain("e001").is_some());
        assert!(explain("X999").is_none());
    }

    #[test]
    fn every_code_in_the_source_is_explained() {
        let sources = [
            include_str!("lexer.rs"),
            include_str!("parse.rs"),
            include_str!("lower.rs"),
            include_str!("lint.rs"),
            include_str!("../cli/commands/check.rs"),
            include_str!("mod.rs"),
        ];
        let mut found = 0;
        for src in sources {
            for part in src.split("Diagnostic::new(").skip(1) {
                let rest = part.trim_start();
                if let Some(code) = rest.strip_prefix('"').and_then(|r| r.get(..4)) {
                    found += 1;
                    assert!(code_info(code).is_some(), "{code} has no explanation");
                }
            }
        }
        assert!(found > 40, "{found}");
    }

    #[test]
    fn line_col_counts_chars() {
        assert_eq!(line_col("ab\ncé d", 7), (2, 4));
        assert_eq!(line_col("", 5), (1, 1));
    }
}
