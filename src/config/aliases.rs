//! The aliases file of `aliases FILE` (msmtp's keyword): the `/etc/aliases`
//! format as msmtp reads it, compiled with the configuration.
//!
//! ```text
//! # comment
//! root: admin@example.org, backup
//! backup: bob
//!    , carol            (a line starting with a blank continues the previous one)
//! default: me@example.org
//! ```
//! Names match without regard to case; `default` is the catch-all for
//! names not listed. Expansion is recursive (an alias may name another
//! alias); a loop is an error of the file (E026), found here, so a plan
//! never holds one. Every byte is hostile: the file, its entries, their
//! targets and the expansion are bounded.

use super::codes::Code;
use super::diag::{Diagnostic, Span};
use crate::plan::Aliases;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;

/// Larger aliases files are refused unparsed.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;
/// At most this many names.
pub const MAX_ENTRIES: usize = 10_000;
/// At most this many addresses one name expands to, all levels counted.
pub const MAX_EXPANSION: usize = 1000;
/// At most this many aliases deep.
pub const MAX_DEPTH: usize = 16;

/// The aliases file as checked: its name and text (spans point into it)
/// and what was found.
#[derive(Debug, Clone)]
pub struct AliasesFile {
    pub name: String,
    pub text: String,
    pub diagnostics: Vec<Diagnostic>,
}

/// `~/` expanded: `None` when there is no home directory.
pub fn resolve(path: &str) -> Option<PathBuf> {
    match path.strip_prefix("~/") {
        Some(rest) => dirs::home_dir().map(|h| h.join(rest)),
        None => Some(PathBuf::from(path)),
    }
}

/// Read and compile the aliases file named `path` (as written). `Err`:
/// it cannot be used at all (E024, reported at the `aliases` statement).
/// Otherwise the table when the file has no errors, and the file's report.
pub fn load(path: &str) -> Result<(Option<Aliases>, AliasesFile), String> {
    let Some(resolved) = resolve(path) else {
        return Err(format!("{path}: there is no home directory for ~/"));
    };
    let name = resolved.display().to_string();
    let bytes = read(&resolved).map_err(|e| format!("cannot read the aliases file {name}: {e}"))?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(format!(
            "the aliases file {name} is larger than {MAX_FILE_BYTES} bytes; is this the right file?"
        ));
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (table, diagnostics) = parse(&text);
    let table = (!diagnostics.iter().any(Diagnostic::is_error)).then(|| Aliases {
        path: path.to_string(),
        resolved: name.clone(),
        entries: table.entries,
        default: table.default,
        sha256: Sha256::digest(&bytes).into(),
        unusable: None,
    });
    Ok((
        table,
        AliasesFile {
            name,
            text,
            diagnostics,
        },
    ))
}

/// A regular file, opened without following a last-component link
/// (O_NOFOLLOW: a link we did not make), at most one byte beyond the limit.
fn read(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut buf = Vec::new();
    f.take(MAX_FILE_BYTES as u64 + 1).read_to_end(&mut buf)?;
    Ok(buf)
}

/// The table of a file without its paths.
#[derive(Debug, Default)]
pub struct Table {
    pub entries: Vec<(String, Vec<String>)>,
    pub default: Option<Vec<String>>,
}

/// One logical entry: the name's span, the targets with their spans.
struct Entry {
    name: String,
    span: Span,
    targets: Vec<(String, Span)>,
    /// An address of it was refused (already reported).
    refused: bool,
}

/// Parse the text; the table is meaningful only without errors.
pub fn parse(text: &str) -> (Table, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut entries: Vec<Entry> = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let body = line.trim_end_matches(['\n', '\r']);
        // Comments: `#` to the end of the line.
        let body = body.split_once('#').map_or(body, |(b, _)| b);
        if body.trim().is_empty() {
            continue;
        }
        if body.starts_with([' ', '\t']) {
            match entries.last_mut() {
                Some(e) => {
                    let before = diags.len();
                    targets(body, start, &mut e.targets, &mut diags);
                    e.refused |= diags.len() > before;
                }
                None => diags.push(
                    Diagnostic::new(Code::E025, "continuation line with no entry before it")
                        .primary(Span::new(start, start + body.len()), "starts with a blank")
                        .help("an entry starts at the beginning of a line: `name: address`"),
                ),
            }
            continue;
        }
        let Some((name, rest)) = body.split_once(':') else {
            diags.push(
                Diagnostic::new(Code::E025, "line without `:`")
                    .primary(Span::new(start, start + body.len()), "expected `name: address, ...`")
                    .help("write `name: address, address`; a line that starts with a blank continues the previous entry"),
            );
            continue;
        };
        let rest_at = start + name.len() + 1;
        let lead = name.len() - name.trim_start().len();
        let span = Span::new(start + lead, start + lead + name.trim().len());
        let name = name.trim();
        if name.is_empty() || name.contains(['@', ' ', '\t', ',', '"']) || name.starts_with('-') {
            diags.push(
                Diagnostic::new(Code::E025, format!("`{name}` is not a local name"))
                    .primary(span, "an alias is a local name: no `@`, blanks, commas or quotes, no leading `-`")
                    .help("aliases apply to recipients without @domain, such as `root`"),
            );
            continue;
        }
        if entries.len() >= MAX_ENTRIES {
            diags.push(
                Diagnostic::new(Code::E025, format!("more than {MAX_ENTRIES} aliases"))
                    .primary(span, "the rest of the file is not read")
                    .help("is this the right file?"),
            );
            break;
        }
        let mut e = Entry {
            name: name.to_ascii_lowercase(),
            span,
            targets: Vec::new(),
            refused: false,
        };
        let before = diags.len();
        targets(rest, rest_at, &mut e.targets, &mut diags);
        e.refused = diags.len() > before;
        entries.push(e);
    }
    // Each name once: the first wins, the others are reported.
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut unique: Vec<Entry> = Vec::new();
    for e in entries {
        if let Some(&i) = index.get(&e.name) {
            diags.push(
                Diagnostic::new(Code::W021, format!("alias `{}` given twice", e.name))
                    .primary(e.span, "not used")
                    .secondary(unique[i].span, "this one is used")
                    .help("merge the two lines: `name: a, b`"),
            );
            continue;
        }
        if e.targets.is_empty() && !e.refused {
            diags.push(
                Diagnostic::new(Code::E025, format!("alias `{}` has no address", e.name))
                    .primary(e.span, "expected `name: address, ...`"),
            );
        }
        index.insert(e.name.clone(), unique.len());
        unique.push(e);
    }
    if !diags.iter().any(Diagnostic::is_error) {
        check_expansions(&unique, &index, &mut diags);
    }
    let mut table = Table::default();
    for e in unique {
        let t: Vec<String> = e.targets.into_iter().map(|(t, _)| t).collect();
        if e.name == "default" {
            table.default = Some(t);
        } else {
            table.entries.push((e.name, t));
        }
    }
    table.entries.sort();
    diags.sort_by_key(|d| d.start());
    (table, diags)
}

/// The comma-separated addresses of `text` (at `base` in the file).
fn targets(text: &str, base: usize, out: &mut Vec<(String, Span)>, diags: &mut Vec<Diagnostic>) {
    let mut at = base;
    for part in text.split(',') {
        let lead = part.len() - part.trim_start().len();
        let t = part.trim();
        let span = Span::new(at + lead, at + lead + t.len());
        at += part.len() + 1;
        if t.is_empty() {
            continue;
        }
        let t = t
            .strip_prefix('<')
            .and_then(|t| t.strip_suffix('>'))
            .unwrap_or(t);
        match check_target(t) {
            Ok(()) => out.push((t.to_string(), span)),
            Err(e) => diags.push(
                Diagnostic::new(Code::E025, format!("`{t}` is not an address: {e}"))
                    .primary(span, "expected `user@domain` or a local name")
                    .help("mailbox files (`/path`), commands (`|program`) and `:include:` are not supported: esmtp relays only"),
            ),
        }
    }
}

/// A coarse check of a target; routing checks each address again in full.
fn check_target(t: &str) -> Result<(), &'static str> {
    if t.chars()
        .any(|c| c.is_control() || c.is_whitespace() || crate::address::is_line_separator(c))
    {
        return Err("it holds a blank or a control character");
    }
    if t.starts_with('-') {
        return Err("it starts with `-`");
    }
    if t.contains(['<', '>', '"', '|', ':']) || t.starts_with('/') {
        return Err("it holds `<`, `>`, `\"`, `|` or `:`, or is a path");
    }
    if let Some((local, domain)) = t.rsplit_once('@') {
        if local.is_empty() || domain.is_empty() {
            return Err("the part before or after @ is empty");
        }
        if crate::address::ascii_domain(domain).is_err() {
            return Err("its domain has no ASCII form (IDNA): a character no domain name may hold, a hyphen at the start or end of a label, or a label too long");
        }
    }
    Ok(())
}

/// Expand every entry as a recipient would be, to find loops and
/// expansions beyond the bounds before the file is used.
fn check_expansions(
    entries: &[Entry],
    index: &HashMap<String, usize>,
    diags: &mut Vec<Diagnostic>,
) {
    for e in entries {
        let mut stack = vec![e.name.as_str()];
        let mut count = 0usize;
        if let Err(msg) = walk(entries, index, e, &mut stack, &mut count) {
            diags.push(*msg);
            return;
        }
    }
}

fn walk<'a>(
    entries: &'a [Entry],
    index: &HashMap<String, usize>,
    e: &'a Entry,
    stack: &mut Vec<&'a str>,
    count: &mut usize,
) -> Result<(), Box<Diagnostic>> {
    for (t, span) in &e.targets {
        if t.contains('@') {
            *count += 1;
        } else {
            let key = t.to_ascii_lowercase();
            match index.get(&key) {
                Some(&i) if key != "default" => {
                    let next = &entries[i];
                    if let Some(p) = stack.iter().position(|n| *n == next.name) {
                        let mut cycle: Vec<&str> = stack[p..].to_vec();
                        cycle.push(next.name.as_str());
                        return Err(Box::new(Diagnostic::new(
                            Code::E026,
                            format!("alias loop: {}", cycle.join(" -> ")),
                        )
                        .primary(*span, format!("`{}` leads back to `{}`", e.name, next.name))
                        .secondary(next.span, "the loop starts here")
                        .help("a message to any of these names would never reach an address; end the chain at an address with @domain or a name that is not an alias")));
                    }
                    if stack.len() >= MAX_DEPTH {
                        return Err(Box::new(
                            Diagnostic::new(
                                Code::E026,
                                format!(
                                    "aliases nested more than {MAX_DEPTH} deep: {}",
                                    stack.join(" -> ")
                                ),
                            )
                            .primary(*span, "too deep"),
                        ));
                    }
                    stack.push(next.name.as_str());
                    walk(entries, index, next, stack, count)?;
                    stack.pop();
                }
                _ => *count += 1,
            }
        }
        if *count > MAX_EXPANSION {
            return Err(Box::new(
                Diagnostic::new(
                    Code::E026,
                    format!(
                        "alias `{}` expands to more than {MAX_EXPANSION} addresses",
                        stack[0]
                    ),
                )
                .primary(*span, "the limit is reached here"),
            ));
        }
    }
    Ok(())
}

/// What a recipient without `@` stands for: the addresses and local names
/// it expands to (in order, without duplicates) and the chain shown by
/// `route` (`root -> admin@example.org`). A name not listed, with no
/// `default:`, stands for itself. The file was checked when compiled; the
/// bounds hold here too.
pub fn expand(table: &Aliases, name: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let top: Vec<String> = match table.get(name) {
        Some(t) => t.to_vec(),
        None => match &table.default {
            Some(d) if !name.eq_ignore_ascii_case("default") => d.clone(),
            _ => return Ok(vec![name.to_string()]),
        },
    };
    let mut stack = vec![name.to_ascii_lowercase()];
    expand_into(table, &top, &mut stack, &mut out)?;
    Ok(out)
}

fn expand_into(
    table: &Aliases,
    targets: &[String],
    stack: &mut Vec<String>,
    out: &mut Vec<String>,
) -> Result<(), String> {
    for t in targets {
        let key = t.to_ascii_lowercase();
        let next = if t.contains('@') {
            None
        } else {
            table.get(&key)
        };
        match next {
            Some(more) => {
                if stack.contains(&key) {
                    stack.push(key);
                    return Err(format!("alias loop: {}", stack.join(" -> ")));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(format!("aliases nested more than {MAX_DEPTH} deep"));
                }
                stack.push(key);
                expand_into(table, more, stack, out)?;
                stack.pop();
            }
            None => {
                if !out.contains(t) {
                    if out.len() >= MAX_EXPANSION {
                        return Err(format!(
                            "an alias expands to more than {MAX_EXPANSION} addresses"
                        ));
                    }
                    out.push(t.clone());
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Aliases {
        let (t, d) = parse(text);
        assert!(!d.iter().any(Diagnostic::is_error), "{d:?}");
        Aliases {
            entries: t.entries,
            default: t.default,
            ..Default::default()
        }
    }

    #[test]
    fn the_format() {
        let t = table("# c\nRoot: admin@example.org, postmaster\npostmaster: bob # x\n  , carol\n\ndefault: me@example.org\n");
        assert_eq!(
            expand(&t, "root").unwrap(),
            ["admin@example.org", "bob", "carol"]
        );
        assert_eq!(
            expand(&t, "ROOT").unwrap(),
            ["admin@example.org", "bob", "carol"]
        );
        assert_eq!(expand(&t, "nobody").unwrap(), ["me@example.org"]);
        let t = table("a: b\n");
        assert_eq!(expand(&t, "x").unwrap(), ["x"]);
    }

    #[test]
    fn loops_and_errors_have_spans() {
        let text = "a: b\nb: c, x@y.org\nc: a\n";
        let (_, d) = parse(text);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].code, Code::E026);
        assert!(
            d[0].message.contains("a -> b -> c -> a"),
            "{}",
            d[0].message
        );
        let s = d[0].primary.as_ref().unwrap().span;
        assert_eq!(&text[s.start..s.end], "a");
        let text = "ok: x@y.org\nbroken line\nq: <bad address@>\n";
        let (_, d) = parse(text);
        // The line and the address.
        assert_eq!(d.len(), 2);
        let s = d[0].primary.as_ref().unwrap().span;
        assert_eq!(&text[s.start..s.end], "broken line");
    }

    #[test]
    fn spans_with_blanks_around_the_name() {
        let text = "root \t:  a@b.org,  bad<\n";
        let (_, d) = parse(text);
        assert_eq!(d.len(), 1);
        let s = d[0].primary.as_ref().unwrap().span;
        assert_eq!(&text[s.start..s.end], "bad<");
    }

    #[test]
    fn bounded() {
        let mut text = String::new();
        for i in 0..40 {
            text.push_str(&format!("a{i}: a{}\n", i + 1));
        }
        let (_, d) = parse(&text);
        assert!(d
            .iter()
            .any(|d| d.code == Code::E026 && d.message.contains("deep")));
        let wide: Vec<String> = (0..2000).map(|i| format!("u{i}@x.org")).collect();
        let (_, d) = parse(&format!("a: {}\n", wide.join(",")));
        assert!(d.iter().any(|d| d.message.contains("more than 1000")));
    }
}
