//! Lexer + lalrpop parser → statements, lowered as they are parsed, with
//! syntax errors turned into diagnostics in this one place.
//!
//! Work and memory are bounded whatever the file holds (SPEC §9): no list
//! of statements is built (each is lowered as soon as the grammar reduces
//! it), the tokens are remembered in a compact form only for the messages,
//! and reading stops after [`MAX_SYNTAX_ERRORS`] errors or
//! [`MAX_GARBAGE_TOKENS`] words that belong to no statement.

use super::ast::Stmt;
use super::codes::Code;
use super::diag::{DiagList, Diagnostic, Span};
use super::keywords::{self, Key};
use super::lexer::{Lexer, RawSource, Tok};
use super::lower::{Lowered, Lowerer, Options};
use super::mask;
use lalrpop_util::{ErrorRecovery, ParseError};
use std::cell::{Cell, RefCell};

#[allow(clippy::all, unused_parens, dead_code, unused_imports)]
mod generated {
    lalrpop_util::lalrpop_mod!(pub esmtprc, "/esmtprc.rs");
}

/// Token kinds remembered for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenClass {
    Key(Key),
    Force,
    Eq,
    Value,
    Other,
}

/// A token remembered for error messages: start, end (the file is at most
/// [`super::MAX_FILE_BYTES`], so offsets fit in 32 bits), kind.
#[derive(Debug, Clone, Copy)]
pub struct SeenToken(u32, u32, TokenClass);

/// Syntax errors after which the rest of a file is not read.
pub const MAX_SYNTAX_ERRORS: usize = 500;

/// Words that belong to no statement (the parser skips them after an
/// error) after which the rest of a file is not read.
pub const MAX_GARBAGE_TOKENS: usize = 5000;

/// What the grammar's actions hand over: each statement as it is reduced,
/// each error after the parser recovered from it.
pub trait StatementSink {
    fn statement(&self, s: Stmt);
    fn error(&self, e: Recovery);
}

/// One syntax error, split by line, kept until the end of the file for
/// its message (which quotes the masked source, complete only then).
struct LineSyntaxError {
    error: ParseError<usize, Tok, std::convert::Infallible>,
    dropped_end: Option<usize>,
}

/// State shared by the token stream, the grammar's actions and [`parse`].
struct ParseState<'s, 'o> {
    src: &'s str,
    seen: RefCell<Vec<SeenToken>>,
    /// Starts of quotes never closed (W017).
    unclosed: RefCell<Vec<usize>>,
    /// The source with the secrets read so far masked (`None`: none yet).
    masked: RefCell<Option<String>>,
    /// Recoveries seen (before splitting by line).
    recoveries: Cell<usize>,
    /// Errors kept for a message.
    parts: RefCell<Vec<LineSyntaxError>>,
    /// Regions whose statements are dropped (sorted by start).
    poisoned: RefCell<Vec<Span>>,
    lower: RefCell<Lowerer<'s, 'o>>,
    ends: LineEnds<'s>,
}

impl ParseState<'_, '_> {
    fn mask(&self, m: &mask::Mask) {
        let mut masked = self.masked.borrow_mut();
        mask::apply(masked.get_or_insert_with(|| self.src.to_string()), m);
    }
}

impl StatementSink for ParseState<'_, '_> {
    fn statement(&self, s: Stmt) {
        let start = match &s {
            Stmt::Set { span, .. } | Stmt::Default { span } => span.start,
            Stmt::Error => return,
        };
        if covered(&self.poisoned.borrow(), start) {
            return;
        }
        self.lower.borrow_mut().statement(&s);
    }

    fn error(&self, e: Recovery) {
        self.recoveries.set(self.recoveries.get() + 1);
        let masked = self.masked.borrow();
        let shown = masked.as_deref().unwrap_or(self.src);
        let seen = self.seen.borrow();
        let unclosed = self.unclosed.borrow();
        for part in split_by_line(self.src, e) {
            // Which statements the error makes meaningless must be known
            // now, before the next statement is lowered.
            let (d, poison) =
                syntax_diagnostic(shown, self.src, &seen, &unclosed, &self.ends, &part);
            let mut poisoned = self.poisoned.borrow_mut();
            if covered(&poisoned, d.start()) {
                continue;
            }
            if let Some(p) = poison {
                let at = poisoned.partition_point(|q| q.start <= p.start);
                poisoned.insert(at, p);
            }
            self.parts.borrow_mut().push(part);
        }
    }
}

struct TokenRecorder<'s, 'c, 'o> {
    lexer: Lexer<'s>,
    state: &'c ParseState<'s, 'o>,
    /// Where reading stopped, and after what.
    stopped_at: Option<(usize, String)>,
    /// Tokens since the last one that starts a statement.
    since_start: usize,
    garbage: usize,
}

impl Iterator for TokenRecorder<'_, '_, '_> {
    type Item = Result<(usize, Tok, usize), std::convert::Infallible>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.stopped_at.is_some() {
            return None;
        }
        let item = self.lexer.next()?;
        if let Some(m) = self.lexer.mask.take() {
            self.state.mask(&m);
        }
        if self.lexer.unclosed_quotes.len() > self.state.unclosed.borrow().len() {
            *self.state.unclosed.borrow_mut() = self.lexer.unclosed_quotes.clone();
        }
        let Ok((l, t, r)) = &item else {
            return Some(item);
        };
        let starts = matches!(t, Tok::Key(_) | Tok::Force | Tok::Default);
        self.since_start = if starts { 0 } else { self.since_start + 1 };
        // `force sender = VALUE` is the longest statement.
        if self.since_start > 3 {
            self.garbage += 1;
        }
        if self.state.recoveries.get().max(self.lexer.stray_lines) > MAX_SYNTAX_ERRORS {
            self.stopped_at = Some((*l, format!("{MAX_SYNTAX_ERRORS} syntax errors")));
            return None;
        }
        if self.garbage > MAX_GARBAGE_TOKENS {
            self.stopped_at = Some((
                *l,
                format!("{MAX_GARBAGE_TOKENS} words that belong to no statement"),
            ));
            return None;
        }
        let class = match t {
            Tok::Key(k) => TokenClass::Key(*k),
            Tok::Force => TokenClass::Force,
            Tok::Sender => TokenClass::Key(Key::ForceSender),
            Tok::ReversePath => TokenClass::Key(Key::ForceReversePath),
            Tok::Eq => TokenClass::Eq,
            Tok::Str(_) | Tok::Number(_) | Tok::Enabled | Tok::Disabled | Tok::Required => {
                TokenClass::Value
            }
            Tok::Default => TokenClass::Other,
        };
        if class != TokenClass::Eq {
            self.state
                .seen
                .borrow_mut()
                .push(SeenToken(*l as u32, *r as u32, class));
        }
        Some(item)
    }
}

/// Parse source text and lower each statement as it comes; returns the
/// lowering (the plan, for the lints), every lexical, syntax and lowering
/// diagnostic, and the source with its secrets masked (`None` when it has
/// none), which is what every diagnostic must be shown with.
pub fn parse_and_lower<'s>(
    src: &'s str,
    orig: RawSource<'s>,
    opts: &Options,
) -> (Lowered, DiagList, Option<String>) {
    let state = ParseState {
        src,
        seen: RefCell::new(Vec::new()),
        unclosed: RefCell::new(Vec::new()),
        masked: RefCell::new(None),
        recoveries: Cell::new(0),
        parts: RefCell::new(Vec::new()),
        poisoned: RefCell::new(Vec::new()),
        lower: RefCell::new(Lowerer::new(src, opts)),
        ends: LineEnds::new(src),
    };
    let mut rec = TokenRecorder {
        lexer: Lexer::with_source(src, orig),
        state: &state,
        stopped_at: None,
        since_start: 0,
        garbage: 0,
    };
    let parser = generated::esmtprc::FileParser::new();
    let result = parser.parse(&state as &dyn StatementSink, &mut rec);
    if let Err(e) = result {
        state.error(ErrorRecovery {
            error: e,
            dropped_tokens: Vec::new(),
        });
    }
    let stopped_at = rec.stopped_at.take();
    let lexical = std::mem::take(&mut rec.lexer.diagnostics);
    drop(rec);
    let ParseState {
        seen,
        masked,
        parts,
        poisoned,
        lower,
        unclosed,
        ..
    } = state;
    let (seen, masked, parts, poisoned, unclosed) = (
        seen.into_inner(),
        masked.into_inner(),
        parts.into_inner(),
        poisoned.into_inner(),
        unclosed.into_inner(),
    );
    let (lowered, lower_diags) = lower.into_inner().finish();
    let shown = masked.as_deref().unwrap_or(src);
    // Now that the whole file is masked, the messages can quote it.
    let ends = LineEnds::new(shown);
    let syntax: Vec<Diagnostic> = parts
        .iter()
        .map(|p| syntax_diagnostic(shown, src, &seen, &unclosed, &ends, p).0)
        .collect();
    drop(seen);
    let in_poison = |pos: usize| covered(&poisoned, pos);
    let mut out = DiagList::default();
    out.omitted_errors = lexical.omitted_errors;
    out.omitted_warnings = lexical.omitted_warnings;
    for d in lexical.list.into_iter().filter(|d| !in_poison(d.start())) {
        out.push(d);
    }
    for d in syntax {
        out.push(d);
    }
    if let Some((at, after)) = stopped_at {
        out.push(
            Diagnostic::new(
                Code::E014,
                format!("too many errors: stopped reading after {after}"),
            )
            .primary(Span::new(at, at), "the rest of the file was not read")
            .help("is this an esmtprc file?"),
        );
    }
    out.append(lower_diags);
    (lowered, out, masked)
}

/// Is `pos` inside one of `spans` (sorted by start, not overlapping much)?
fn covered(spans: &[Span], pos: usize) -> bool {
    let i = spans.partition_point(|p| p.start <= pos);
    spans[..i].iter().rev().take(4).any(|p| pos < p.end)
}

pub type Recovery = ErrorRecovery<usize, Tok, std::convert::Infallible>;

/// The parser skips words up to the next keyword, possibly over several
/// lines; a skipped line of its own is an independent error.
fn split_by_line(src: &str, e: Recovery) -> Vec<LineSyntaxError> {
    let mut out = Vec::new();
    if !matches!(e.error, ParseError::UnrecognizedToken { .. }) {
        out.push(LineSyntaxError {
            error: e.error,
            dropped_end: e.dropped_tokens.iter().map(|t| t.2).max(),
        });
        return out;
    }
    let mut head = LineSyntaxError {
        error: e.error,
        dropped_end: None,
    };
    let mut prev_end = match &head.error {
        ParseError::UnrecognizedToken { token, .. } => token.2,
        _ => 0,
    };
    for t in e.dropped_tokens {
        let (l, _, r) = &t;
        if src[prev_end.min(*l)..*l].contains('\n') {
            let next = LineSyntaxError {
                error: ParseError::UnrecognizedToken {
                    token: t.clone(),
                    expected: Vec::new(),
                },
                dropped_end: None,
            };
            out.push(std::mem::replace(&mut head, next));
        }
        head.dropped_end = Some(head.dropped_end.unwrap_or(0).max(*r));
        prev_end = *r;
    }
    out.push(head);
    out
}

/// The last token that ends at or before `pos`.
fn before(seen: &[SeenToken], pos: usize) -> Option<(usize, usize, TokenClass)> {
    let i = seen.partition_point(|t| (t.0 as usize) < pos);
    if i == 0 {
        None
    } else {
        let t = seen[i - 1];
        Some((t.0 as usize, t.1 as usize, t.2))
    }
}

/// The keyword a value was expected for: the last keyword before `pos`.
fn keyword_before(seen: &[SeenToken], pos: usize) -> Option<(Span, Key)> {
    let i = seen.partition_point(|t| (t.0 as usize) < pos);
    seen[..i].iter().rev().take(3).find_map(|t| match t.2 {
        TokenClass::Key(k) => Some((Span::new(t.0 as usize, t.1 as usize), k)),
        _ => None,
    })
}

/// What a keyword's value looks like, from the keyword table.
fn value_hint(k: Key) -> String {
    keywords::keyword(k).value.placeholder()
}

fn suggest(word: &str) -> Option<&'static str> {
    // No keyword is within reach of a long word (and the edit distance
    // costs its length times the keyword's).
    if word.len() > 30 {
        return None;
    }
    let lower = word.to_ascii_lowercase();
    if keywords::lookup(&lower).is_some() {
        return keywords::spellings().find(|s| *s == lower);
    }
    let mut best: Option<(&'static str, f64)> = None;
    for cand in keywords::spellings() {
        let cand_word = cand.rsplit(' ').next().unwrap_or(cand);
        // The distance is at least the difference in length, and costs the
        // product of the lengths: skip early.
        if lower.len().abs_diff(cand_word.len()) > 2.max(cand_word.len() / 4) {
            continue;
        }
        let d = strsim::damerau_levenshtein(&lower, cand_word);
        let score = strsim::jaro_winkler(&lower, cand_word);
        if d <= 2.max(cand_word.len() / 4) && lower.len() >= 3 && best.is_none_or(|b| score > b.1) {
            best = Some((cand, score));
        }
    }
    best.map(|b| b.0)
}

fn quote_for_shell_value(text: &str) -> String {
    if !text.contains('"') {
        format!("\"{text}\"")
    } else {
        format!("'{text}'")
    }
}

/// Where the line holding `pos` ends, remembering the last answer: the
/// errors of one long line ask again and again (bounded work).
struct LineEnds<'s> {
    src: &'s str,
    last: Cell<(usize, usize)>,
}

impl<'s> LineEnds<'s> {
    fn new(src: &'s str) -> Self {
        LineEnds {
            src,
            last: Cell::new((usize::MAX, 0)),
        }
    }
    fn at(&self, pos: usize) -> usize {
        let (from, end) = self.last.get();
        if from <= pos && pos <= end {
            return end;
        }
        let end = line_end(self.src, pos);
        self.last.set((pos.min(end), end));
        end
    }
}

fn line_end(src: &str, pos: usize) -> usize {
    src[pos.min(src.len())..]
        .find('\n')
        .map(|i| pos + i)
        .unwrap_or(src.len())
}

/// How a token is named in a message: a secret (or what may be part of
/// one) as its masked source text, anything else as [`Tok::describe`].
fn describe(shown: &str, orig: &str, l: usize, tok: &Tok, r: usize) -> String {
    let span = Span::new(l, r);
    if mask::is_masked(shown, orig, span) {
        format!("`{}`", mask::shown_source(shown, span, 40))
    } else {
        tok.describe()
    }
}

/// The diagnostic for one syntax error, quoting `shown` (the masked
/// source; `orig` is the source itself), and the region whose statements
/// it makes meaningless.
fn syntax_diagnostic(
    shown: &str,
    orig: &str,
    seen: &[SeenToken],
    unclosed: &[usize],
    ends: &LineEnds,
    e: &LineSyntaxError,
) -> (Diagnostic, Option<Span>) {
    let src = shown;
    let dropped_end = e.dropped_end;
    let d = syntax_diagnostic_inner(src, orig, seen, e);
    let Some(p) = d.primary.clone() else {
        return (d, None);
    };
    // An unclosed quote earlier on the same line explains the error.
    if let Some(&qs) = unclosed
        .iter()
        .find(|&&q| q < p.span.start && !src[q..p.span.start].contains('\n'))
    {
        let end = ends.at(qs);
        let text = bounded(src[qs..end].trim_end(), 200);
        let quote = &text[..1];
        let d = Diagnostic::new(Code::E013, "unterminated quoted string")
            .primary(Span::new(qs, qs + 1), "this quote is never closed")
            .secondary(p.span, "so this is read as a new word")
            .help(format!("close it: `{text}{quote}`"));
        return (d, Some(Span::new(qs, end)));
    }
    let mut poison = Span::new(
        p.span.start,
        dropped_end.unwrap_or(p.span.end).max(p.span.end),
    );
    if d.code == Code::E001 && d.message.contains("after the value of") {
        poison.end = poison.end.max(ends.at(p.span.start));
    }
    (d, Some(poison))
}

/// At most `max` bytes of `text`, cut at a character boundary (a value
/// quoted in a help text).
fn bounded(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The help for a keyword left without a value on its line, whose value
/// became the first word of the next line.
fn no_value_help(k: Key) -> String {
    if k == Key::Password {
        "if an empty password was meant, write `password \"\"`; otherwise put the password on the same line as `password`".to_string()
    } else {
        format!("write `{} {}` on one line", k.name(), value_hint(k))
    }
}

/// `d` is an error at `pos`, where a statement should start. When the word
/// before it on its line is the value of a keyword left without a value on
/// an earlier line (`password` + newline + `starttls required`: 1.2 reads
/// `starttls` as the password, as this esmtp does), say so: in the message
/// (for the one-line formats), with a label on that keyword and a help.
/// `src` is the masked source: a keyword read as a password is not masked
/// (it is not secret text the user typed), a word typed there is.
fn swallowed(src: &str, seen: &[SeenToken], pos: usize, d: Diagnostic) -> Diagnostic {
    let Some((ps, pe, TokenClass::Value)) = before(seen, pos) else {
        return d;
    };
    if src[ps.min(pos)..pos].contains('\n') {
        return d;
    }
    let Some((ks, k)) = keyword_before(seen, ps) else {
        return d;
    };
    if !src[ks.end..ps].contains('\n') {
        return d;
    }
    let word = mask::shown_source(src, Span::new(ps, pe), 40);
    let mut d = d;
    d.message = format!(
        "{} (`{}` has no value on its line, so `{word}` was read as its value)",
        d.message,
        k.name()
    );
    d.secondary(
        ks,
        format!(
            "no value on this line: `{word}` on the next line was read as the value of `{}`",
            k.name()
        ),
    )
    .secondary(
        Span::new(ps, pe),
        format!("read as the value of `{}`", k.name()),
    )
    .help(no_value_help(k))
}

fn syntax_diagnostic_inner(
    src: &str,
    orig: &str,
    seen: &[SeenToken],
    e: &LineSyntaxError,
) -> Diagnostic {
    let dropped_end = e.dropped_end;
    match &e.error {
        ParseError::UnrecognizedToken {
            token: (l, tok, r),
            expected,
        } => {
            let (l, r) = (*l, *r);
            let span = Span::new(l, r);
            let secret = mask::is_masked(src, orig, span);
            let describe = |tok: &Tok| describe(src, orig, l, tok, r);
            let wants_value = expected.iter().any(|x| x == "str");
            let wants_force = expected.iter().any(|x| x == "\"sender\"");
            if wants_force {
                return Diagnostic::new(
                    Code::E001,
                    format!(
                        "`force` must be followed by `sender` or `reverse_path`, found {}",
                        describe(tok)
                    ),
                )
                .primary(span, "expected `sender` or `reverse_path`")
                .help("write `force sender ADDRESS` or `force reverse_path ADDRESS`");
            }
            if wants_value {
                let kw = keyword_before(seen, l);
                let kname = kw.map(|k| k.1.name()).unwrap_or("the keyword");
                let same_line = kw.is_none_or(|k| !src[k.0.end.min(l)..l].contains('\n'));
                let is_value_word = same_line
                    && matches!(
                        tok,
                        Tok::Default | Tok::Force | Tok::Sender | Tok::ReversePath | Tok::Key(_)
                    );
                if is_value_word {
                    let word = bounded(&src[l..r], 60);
                    let mut d = Diagnostic::new(
                        Code::E004,
                        format!(
                            "{} cannot be the value of `{kname}` unquoted",
                            describe(tok)
                        ),
                    )
                    .primary(span, "read as a keyword here")
                    .help(format!("quote it: `{kname} \"{word}\"`"));
                    if let Some((ks, _)) = kw {
                        d = d.secondary(ks, "value of this statement");
                    }
                    return d;
                }
                let mut d = Diagnostic::new(Code::E002, format!("missing value for `{kname}`"))
                    .primary(
                        kw.map(|k| k.0).unwrap_or(span),
                        "this keyword needs a value",
                    )
                    .secondary(span, format!("found {} instead", describe(tok)));
                if let Some(k) = kw {
                    d = d.help(format!("write `{} {}`", k.1.name(), value_hint(k.1)));
                }
                return d;
            }
            // A statement was expected.
            match &tok {
                Tok::Sender | Tok::ReversePath => {
                    let word = &src[l..r];
                    let rest_end = dropped_end.unwrap_or(r).max(r);
                    let rest = src[l..rest_end].split('\n').next().unwrap_or("");
                    let rest = bounded(rest, 200);
                    let d = Diagnostic::new(
                        Code::E001,
                        format!("`{word}` is not a statement by itself"),
                    )
                    .primary(span, "expected a keyword")
                    .help(format!("write `force {rest}`"));
                    swallowed(src, seen, l, d)
                }
                Tok::Str(_) | Tok::Number(_) => {
                    let word = mask::shown_source(src, span, 60);
                    // No "did you mean" for what may be part of a secret.
                    let suggestion = match &tok {
                        Tok::Str(s) if s.quote.is_none() && !secret => suggest(&s.text),
                        _ => None,
                    };
                    if let Some(k) = suggestion {
                        let fixed = k.rsplit(' ').next().unwrap_or(k);
                        return Diagnostic::new(Code::E001, format!("unknown keyword `{word}`"))
                            .primary(span, "not a keyword")
                            .help(format!("did you mean `{fixed}`?"));
                    }
                    // Extra words after a value on the same line: an unquoted command.
                    if let Some((ps, pe, TokenClass::Value)) = before(seen, l) {
                        if !src[ps.min(l)..l].contains('\n') {
                            if let Some((ks, k)) = keyword_before(seen, ps) {
                                if src[ks.end..ps].contains('\n') {
                                    return Diagnostic::new(
                                        Code::E002,
                                        format!("missing value for `{}`", k.name()),
                                    )
                                    .primary(ks, "this keyword has no value on its line")
                                    .secondary(
                                        Span::new(ps, pe),
                                        format!("so this is read as the value of `{}`", k.name()),
                                    )
                                    .help(no_value_help(k));
                                }
                                let line = bounded(&src[ps..], 200).split('\n').next();
                                let whole = line.unwrap_or("").trim_end();
                                let whole = match whole.find(" #") {
                                    Some(i) => whole[..i].trim_end(),
                                    None => whole,
                                };
                                let d = Diagnostic::new(
                                    Code::E001,
                                    format!(
                                        "unexpected `{word}` after the value of `{}`",
                                        k.name()
                                    ),
                                )
                                .primary(span, "a value ends at a blank")
                                .secondary(Span::new(ps, pe), "the value is only this word");
                                return d.secondary(ks, "of this statement").help(format!(
                                    "quote the whole value: `{} {}`",
                                    k.name(),
                                    quote_for_shell_value(whole)
                                ));
                            }
                        }
                    }
                    Diagnostic::new(Code::E001, format!("expected a keyword, found {}", describe(tok)))
                        .primary(span, "not a keyword")
                        .help("statements start with a keyword such as `hostname`, `identity` or `mda`; see `man esmtprc`")
                }

                Tok::Eq => swallowed(
                    src,
                    seen,
                    l,
                    Diagnostic::new(Code::E001, "unexpected `=`")
                        .primary(span, "`=` may only follow a keyword, once")
                        .help("remove it"),
                ),
                _ => swallowed(
                    src,
                    seen,
                    l,
                    Diagnostic::new(Code::E001, format!("unexpected {}", describe(tok)))
                        .primary(span, "expected a statement here"),
                ),
            }
        }
        ParseError::UnrecognizedEof { location, expected } => {
            let location = *location;
            let wants_value = expected.iter().any(|x| x == "str");
            let kw = keyword_before(seen, location);
            if wants_value {
                if let Some((ks, k)) = kw {
                    return Diagnostic::new(
                        Code::E002,
                        format!("missing value for `{}` at end of file", k.name()),
                    )
                    .primary(ks, "this keyword needs a value")
                    .help(format!("write `{} {}`", k.name(), value_hint(k)));
                }
            }
            let at = location.min(src.len());
            if expected.iter().any(|x| x == "\"sender\"") {
                return Diagnostic::new(Code::E001, "`force` at the end of the file")
                    .primary(Span::new(at, at), "expected `sender` or `reverse_path`")
                    .help("write `force sender ADDRESS` or `force reverse_path ADDRESS`");
            }
            Diagnostic::new(Code::E001, "unexpected end of file").primary(
                Span::new(at, at),
                "the file ends in the middle of a statement",
            )
        }
        ParseError::InvalidToken { location } => Diagnostic::new(Code::E001, "invalid token")
            .primary(Span::new(*location, *location), "here"),
        ParseError::ExtraToken { token: (l, tok, r) } => Diagnostic::new(
            Code::E001,
            format!("unexpected {}", describe(src, orig, *l, tok, *r)),
        )
        .primary(Span::new(*l, *r), "here"),
        ParseError::User { error } => match *error {},
    }
}
