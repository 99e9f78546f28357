//! Lexer + lalrpop parser → statements, with syntax errors turned into
//! diagnostics in this one place.

use super::ast::Stmt;
use super::diag::{DiagList, Diagnostic, Span};
use super::keywords::{self, Key};
use super::lexer::{Lexer, RawSource, Tok};
use lalrpop_util::{ErrorRecovery, ParseError};
use std::cell::RefCell;

#[allow(clippy::all, unused_parens, dead_code, unused_imports)]
mod generated {
    lalrpop_util::lalrpop_mod!(pub esmtprc, "/esmtprc.rs");
}

/// Token kinds remembered for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Key(Key),
    Force,
    Eq,
    Value,
    Other,
}

/// Syntax errors after which the rest of a file is not read.
pub const MAX_SYNTAX_ERRORS: usize = 500;

struct Recorder<'s, 'e> {
    lexer: Lexer<'s>,
    seen: Vec<(usize, usize, Class)>,
    errors: &'e RefCell<Vec<Recovery>>,
    stopped_at: Option<usize>,
}

impl Iterator for Recorder<'_, '_> {
    type Item = Result<(usize, Tok, usize), std::convert::Infallible>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.stopped_at.is_some() {
            return None;
        }
        let item = self.lexer.next()?;
        if self.errors.borrow().len().max(self.lexer.stray_lines) > MAX_SYNTAX_ERRORS {
            self.stopped_at = item.as_ref().ok().map(|t| t.0);
            return None;
        }
        if let Ok((l, t, r)) = &item {
            let class = match t {
                Tok::Key(k) => Class::Key(*k),
                Tok::Force => Class::Force,
                Tok::Sender => Class::Key(Key::ForceSender),
                Tok::ReversePath => Class::Key(Key::ForceReversePath),
                Tok::Eq => Class::Eq,
                Tok::Str(_) | Tok::Number(_) | Tok::Enabled | Tok::Disabled | Tok::Required => {
                    Class::Value
                }
                Tok::Default => Class::Other,
            };
            self.seen.push((*l, *r, class));
        }
        Some(item)
    }
}

/// Parse source text; returns the statements (with `Stmt::Error` where the
/// parser recovered) and every lexical and syntax diagnostic.
pub fn parse<'s>(src: &'s str, orig: RawSource<'s>) -> (Vec<Stmt>, DiagList) {
    let shared: RefCell<Vec<Recovery>> = RefCell::new(Vec::new());
    let mut rec = Recorder {
        lexer: Lexer::with_source(src, orig),
        seen: Vec::new(),
        errors: &shared,
        stopped_at: None,
    };
    let parser = generated::esmtprc::FileParser::new();
    let result = parser.parse(&shared, &mut rec);
    let mut errors = shared.take();
    let lexical = std::mem::take(&mut rec.lexer.diagnostics);
    let mut diags = lexical.list;
    let stmts = match result {
        Ok(s) => s,
        Err(e) => {
            errors.push(ErrorRecovery {
                error: e,
                dropped_tokens: Vec::new(),
            });
            Vec::new()
        }
    };
    // An unquoted command (`preconnect ssh -f host`) makes the rest of its
    // line meaningless: one error for it, nothing else from that line.
    let mut poisoned: Vec<Span> = Vec::new();
    let mut syntax = Vec::new();
    for e in errors.into_iter().flat_map(|e| split_by_line(src, e)) {
        let (d, poison) = syntax_diagnostic(src, &rec.seen, &diags, e);
        if covered(&poisoned, d.start()) {
            continue;
        }
        if let Some(p) = poison {
            poisoned.push(p);
        }
        syntax.push(d);
    }
    poisoned.sort_by_key(|p| p.start);
    let in_poison = |pos: usize| covered(&poisoned, pos);
    diags.retain(|d| !in_poison(d.start()));
    let mut out = DiagList {
        list: Vec::new(),
        omitted_errors: lexical.omitted_errors,
        omitted_warnings: lexical.omitted_warnings,
    };
    for d in diags.into_iter().chain(syntax) {
        out.push(d);
    }
    if let Some(at) = rec.stopped_at {
        out.push(
            Diagnostic::new(
                "E014",
                format!("too many errors: stopped reading after {MAX_SYNTAX_ERRORS} syntax errors"),
            )
            .primary(Span::new(at, at), "the rest of the file was not read")
            .help("is this an esmtprc file?"),
        );
    }
    let stmts = stmts
        .into_iter()
        .filter(|s| match s {
            Stmt::Set { span, .. } | Stmt::Default { span } => !in_poison(span.start),
            Stmt::Error => true,
        })
        .collect();
    (stmts, out)
}

/// Is `pos` inside one of `spans` (sorted by start, not overlapping much)?
fn covered(spans: &[Span], pos: usize) -> bool {
    let i = spans.partition_point(|p| p.start <= pos);
    spans[..i].iter().rev().take(4).any(|p| pos < p.end)
}

type Recovery = ErrorRecovery<usize, Tok, std::convert::Infallible>;

/// The parser skips words up to the next keyword, possibly over several
/// lines; a skipped line of its own is an independent error.
fn split_by_line(src: &str, e: Recovery) -> Vec<Recovery> {
    let start = match &e.error {
        ParseError::UnrecognizedToken { token, .. } => token.0,
        _ => return vec![e],
    };
    let mut out = Vec::new();
    let mut cur_line_end = line_end(src, start);
    let mut head = ErrorRecovery {
        error: e.error,
        dropped_tokens: Vec::new(),
    };
    for t in e.dropped_tokens {
        if t.0 > cur_line_end {
            cur_line_end = line_end(src, t.0);
            out.push(head);
            head = ErrorRecovery {
                error: ParseError::UnrecognizedToken {
                    token: t.clone(),
                    expected: Vec::new(),
                },
                dropped_tokens: Vec::new(),
            };
        }
        head.dropped_tokens.push(t);
    }
    out.push(head);
    out
}

/// The last token that ends at or before `pos`.
fn before(seen: &[(usize, usize, Class)], pos: usize) -> Option<(usize, usize, Class)> {
    let i = seen.partition_point(|t| t.0 < pos);
    if i == 0 {
        None
    } else {
        Some(seen[i - 1])
    }
}

/// The keyword a value was expected for: the last keyword before `pos`.
fn keyword_before(seen: &[(usize, usize, Class)], pos: usize) -> Option<(Span, Key)> {
    let i = seen.partition_point(|t| t.0 < pos);
    seen[..i].iter().rev().take(3).find_map(|t| match t.2 {
        Class::Key(k) => Some((Span::new(t.0, t.1), k)),
        _ => None,
    })
}

/// What a keyword's value looks like, from the keyword table.
fn value_hint(k: Key) -> String {
    keywords::keyword(k).value.placeholder()
}

fn suggest(word: &str) -> Option<&'static str> {
    let lower = word.to_ascii_lowercase();
    if keywords::lookup(&lower).is_some() {
        return keywords::spellings().find(|s| *s == lower);
    }
    let mut best: Option<(&'static str, f64)> = None;
    for cand in keywords::spellings() {
        let cand_word = cand.rsplit(' ').next().unwrap_or(cand);
        // The distance is at least the difference in length, and costs the
        // product of the lengths (a 4 MiB word took minutes): skip early.
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

fn line_end(src: &str, pos: usize) -> usize {
    src[pos.min(src.len())..]
        .find('\n')
        .map(|i| pos + i)
        .unwrap_or(src.len())
}

fn syntax_diagnostic(
    src: &str,
    seen: &[(usize, usize, Class)],
    lexical: &[Diagnostic],
    e: ErrorRecovery<usize, Tok, std::convert::Infallible>,
) -> (Diagnostic, Option<Span>) {
    let dropped_end = e.dropped_tokens.iter().map(|t| t.2).max();
    let d = syntax_diagnostic_inner(src, seen, e);
    let Some(p) = d.primary.clone() else {
        return (d, None);
    };
    // An unclosed quote earlier on the same line explains the error.
    let line_start = src[..p.span.start.min(src.len())]
        .rfind('\n')
        .map(|i| i + 1)
        .unwrap_or(0);
    let from = lexical.partition_point(|q| q.start() < line_start);
    if let Some(q) = lexical[from..]
        .iter()
        .take_while(|q| q.start() < p.span.start)
        .find(|q| q.code == "W017")
    {
        let qs = q.start();
        let end = line_end(src, qs);
        let text = src[qs..end].trim_end();
        let quote = &text[..1];
        let d = Diagnostic::new("E013", "unterminated quoted string")
            .primary(Span::new(qs, qs + 1), "this quote is never closed")
            .secondary(p.span, "so this is read as a new word")
            .help(format!("close it: `{text}{quote}`"));
        return (d, Some(Span::new(qs, end)));
    }
    let mut poison = Span::new(
        p.span.start,
        dropped_end.unwrap_or(p.span.end).max(p.span.end),
    );
    if d.code == "E001" && d.message.contains("after the value of") {
        poison.end = poison.end.max(line_end(src, p.span.start));
    }
    (d, Some(poison))
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
fn swallowed(src: &str, seen: &[(usize, usize, Class)], pos: usize, d: Diagnostic) -> Diagnostic {
    let Some((ps, pe, Class::Value)) = before(seen, pos) else {
        return d;
    };
    if pos >= line_end(src, ps) {
        return d;
    }
    let Some((ks, k)) = keyword_before(seen, ps) else {
        return d;
    };
    if !src[ks.end..ps].contains('\n') {
        return d;
    }
    let word = &src[ps..pe];
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
    seen: &[(usize, usize, Class)],
    e: ErrorRecovery<usize, Tok, std::convert::Infallible>,
) -> Diagnostic {
    let dropped_end = e.dropped_tokens.iter().map(|t| t.2).max();
    match e.error {
        ParseError::UnrecognizedToken {
            token: (l, tok, r),
            expected,
        } => {
            let span = Span::new(l, r);
            let wants_value = expected.iter().any(|x| x == "str");
            let wants_force = expected.iter().any(|x| x == "\"sender\"");
            if wants_force {
                return Diagnostic::new(
                    "E001",
                    format!(
                        "`force` must be followed by `sender` or `reverse_path`, found {}",
                        tok.describe()
                    ),
                )
                .primary(span, "expected `sender` or `reverse_path`")
                .help("write `force sender ADDRESS` or `force reverse_path ADDRESS`");
            }
            if wants_value {
                let kw = keyword_before(seen, l);
                let kname = kw.map(|k| k.1.name()).unwrap_or("the keyword");
                let same_line = l < line_end(src, kw.map(|k| k.0.end).unwrap_or(l));
                let is_value_word = same_line
                    && matches!(
                        tok,
                        Tok::Default | Tok::Force | Tok::Sender | Tok::ReversePath | Tok::Key(_)
                    );
                if is_value_word {
                    let word = &src[l..r];
                    let mut d = Diagnostic::new(
                        "E004",
                        format!(
                            "{} cannot be the value of `{kname}` unquoted",
                            tok.describe()
                        ),
                    )
                    .primary(span, "read as a keyword here")
                    .help(format!("quote it: `{kname} \"{word}\"`"));
                    if let Some((ks, _)) = kw {
                        d = d.secondary(ks, "value of this statement");
                    }
                    return d;
                }
                let mut d = Diagnostic::new("E002", format!("missing value for `{kname}`"))
                    .primary(
                        kw.map(|k| k.0).unwrap_or(span),
                        "this keyword needs a value",
                    )
                    .secondary(span, format!("found {} instead", tok.describe()));
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
                    let rest = &src[l..rest_end.min(line_end(src, l))];
                    let d =
                        Diagnostic::new("E001", format!("`{word}` is not a statement by itself"))
                            .primary(span, "expected a keyword")
                            .help(format!("write `force {rest}`"));
                    swallowed(src, seen, l, d)
                }
                Tok::Str(_) | Tok::Number(_) => {
                    let word = &src[l..r];
                    let suggestion = match &tok {
                        Tok::Str(s) if s.quote.is_none() => suggest(&s.text),
                        _ => None,
                    };
                    if let Some(k) = suggestion {
                        let fixed = k.rsplit(' ').next().unwrap_or(k);
                        return Diagnostic::new("E001", format!("unknown keyword `{word}`"))
                            .primary(span, "not a keyword")
                            .help(format!("did you mean `{fixed}`?"));
                    }
                    // Extra words after a value on the same line: an unquoted command.
                    if let Some((ps, pe, Class::Value)) = before(seen, l) {
                        let line_of_prev = line_end(src, ps);
                        if l < line_of_prev {
                            if let Some((ks, k)) = keyword_before(seen, ps) {
                                if src[ks.end..ps].contains('\n') {
                                    return Diagnostic::new(
                                        "E002",
                                        format!("missing value for `{}`", k.name()),
                                    )
                                    .primary(ks, "this keyword has no value on its line")
                                    .secondary(
                                        Span::new(ps, pe),
                                        format!("so this is read as the value of `{}`", k.name()),
                                    )
                                    .help(no_value_help(k));
                                }
                                let whole = src[ps..line_of_prev].trim_end();
                                let whole = match whole.find(" #") {
                                    Some(i) => whole[..i].trim_end(),
                                    None => whole,
                                };
                                let d = Diagnostic::new(
                                    "E001",
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
                    Diagnostic::new("E001", format!("expected a keyword, found {}", tok.describe()))
                        .primary(span, "not a keyword")
                        .help("statements start with a keyword such as `hostname`, `identity` or `mda`; see `man esmtprc`")
                }

                Tok::Eq => swallowed(
                    src,
                    seen,
                    l,
                    Diagnostic::new("E001", "unexpected `=`")
                        .primary(span, "`=` may only follow a keyword, once")
                        .help("remove it"),
                ),
                _ => swallowed(
                    src,
                    seen,
                    l,
                    Diagnostic::new("E001", format!("unexpected {}", tok.describe()))
                        .primary(span, "expected a statement here"),
                ),
            }
        }
        ParseError::UnrecognizedEof { location, expected } => {
            let wants_value = expected.iter().any(|x| x == "str");
            let kw = keyword_before(seen, location);
            if wants_value {
                if let Some((ks, k)) = kw {
                    return Diagnostic::new(
                        "E002",
                        format!("missing value for `{}` at end of file", k.name()),
                    )
                    .primary(ks, "this keyword needs a value")
                    .help(format!("write `{} {}`", k.name(), value_hint(k)));
                }
            }
            let at = location.min(src.len());
            if expected.iter().any(|x| x == "\"sender\"") {
                return Diagnostic::new("E001", "`force` at the end of the file")
                    .primary(Span::new(at, at), "expected `sender` or `reverse_path`")
                    .help("write `force sender ADDRESS` or `force reverse_path ADDRESS`");
            }
            Diagnostic::new("E001", "unexpected end of file").primary(
                Span::new(at, at),
                "the file ends in the middle of a statement",
            )
        }
        ParseError::InvalidToken { location } => {
            Diagnostic::new("E001", "invalid token").primary(Span::new(location, location), "here")
        }
        ParseError::ExtraToken { token: (l, tok, r) } => {
            Diagnostic::new("E001", format!("unexpected {}", tok.describe()))
                .primary(Span::new(l, r), "here")
        }
        ParseError::User { error } => match error {},
    }
}
