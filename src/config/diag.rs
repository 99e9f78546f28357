//! Diagnostics: stable codes, spans, labels, help; rendered as codespan
//! text, JSON or GitHub Actions annotation lines.

use super::codes::{Class, Code};
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
    pub code: Code,
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
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: code.severity(),
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
        self.code.class() == Class::CompatReport
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
    pub fn push_with(&mut self, code: Code, make: impl FnOnce() -> Diagnostic) {
        let error = code.severity() == Severity::Error;
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
    .with_code(d.code.as_str())
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
        props.push_str(&format!(",title={}", gh_escape(d.code.as_str(), true)));
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
            code: d.code.as_str(),
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
    fn line_col_counts_chars() {
        assert_eq!(line_col("ab\ncé d", 7), (2, 4));
        assert_eq!(line_col("", 5), (1, 1));
    }
}
