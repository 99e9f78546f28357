//! `esmtp check --format sarif`: the diagnostics as a SARIF 2.1.0 log, the
//! format GitHub code scanning (and other code-scanning tools) take.
//!
//! One run for all checked files. The rules are the whole diagnostic code
//! registry ([`codes::REGISTRY`]) with its titles and `--explain` texts, so a
//! result's rule carries its help; results point at their file with a
//! line/column region (columns counted in Unicode code points, as
//! [`diag::line_col`] counts them, and said so in `columnKind`).

use super::codes;
use super::diag::{Diagnostic, Label, Severity};
use super::snippet::LineTable;
use serde_json::{json, Value};

/// The schema a SARIF 2.1.0 log names (OASIS, errata 01).
pub const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// One checked file, as `check` shows it.
pub struct File<'a> {
    /// The name the file was given by (a path).
    pub name: &'a str,
    /// Its text; every span of `diagnostics` points into it.
    pub text: &'a str,
    /// The diagnostics shown.
    pub diagnostics: &'a [Diagnostic],
    /// Diagnostics found but not shown (past the cap).
    pub omitted: usize,
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

fn rules() -> Vec<Value> {
    codes::REGISTRY
        .iter()
        .map(|c| {
            let help = format!(
                "{}\n\n`esmtp check --explain {}` shows this text.",
                c.explain, c.code
            );
            json!({
                "id": c.code,
                "name": c.name,
                "shortDescription": { "text": c.title },
                "fullDescription": { "text": c.explain },
                "help": { "text": help, "markdown": help },
                "defaultConfiguration": { "level": level(c.class.severity()) },
            })
        })
        .collect()
}

/// `name` as a URI reference: a relative path stays relative (GitHub
/// resolves it against the repository), an absolute one becomes a
/// `file://` URI; every byte outside RFC 3986's unreserved set and `/` is
/// percent-encoded (a `:` in a first segment would otherwise read as a
/// scheme).
pub fn uri(name: &str) -> String {
    let path = name.strip_prefix("./").unwrap_or(name);
    let mut out = String::with_capacity(path.len() + 8);
    if path.starts_with('/') {
        out.push_str("file://");
    }
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The lines and columns of every label of a file, found in one pass (a
/// 4 MiB file of one line would otherwise be scanned for each).
fn lines_of(file: &File) -> LineTable {
    LineTable::for_spans(file.text, file.diagnostics.iter().flat_map(|d| d.spans()))
}

fn region(text: &str, lines: &LineTable, start: usize, end: usize) -> Value {
    let (start_line, start_column) = lines.line_col(text, start);
    let (end_line, end_column) = lines.line_col(text, end.max(start));
    json!({
        "startLine": start_line,
        "startColumn": start_column,
        "endLine": end_line,
        "endColumn": end_column,
    })
}

fn physical(file: &File, lines: &LineTable, index: usize, label: Option<&Label>) -> Value {
    // A diagnostic about the whole file (its permissions) points at its
    // first line: code scanning wants a line for every result.
    let region = match label {
        Some(l) => region(file.text, lines, l.span.start, l.span.end),
        None => json!({ "startLine": 1 }),
    };
    json!({
        "artifactLocation": { "uri": uri(file.name), "index": index },
        "region": region,
    })
}

fn message(d: &Diagnostic) -> String {
    let mut text = d.message.clone();
    if let Some(p) = d.primary.as_ref().filter(|p| !p.message.is_empty()) {
        text.push_str(": ");
        text.push_str(&p.message);
    }
    for note in &d.notes {
        text.push_str("\nnote: ");
        text.push_str(note);
    }
    if let Some(h) = &d.help {
        text.push_str("\nhelp: ");
        text.push_str(h);
    }
    text
}

fn result(file: &File, lines: &LineTable, index: usize, d: &Diagnostic) -> Value {
    let mut r = json!({
        "ruleId": d.code.as_str(),
        "level": level(d.severity),
        "message": { "text": message(d) },
        "locations": [ { "physicalLocation": physical(file, lines, index, d.primary.as_ref()) } ],
    });
    r["ruleIndex"] = json!(d.code as usize);
    if !d.secondary.is_empty() {
        let related: Vec<Value> = d
            .secondary
            .iter()
            .enumerate()
            .map(|(n, l)| {
                json!({
                    "id": n,
                    "message": { "text": l.message },
                    "physicalLocation": physical(file, lines, index, Some(l)),
                })
            })
            .collect();
        r["relatedLocations"] = json!(related);
    }
    r
}

/// The SARIF log for `files`.
pub fn log(files: &[File]) -> Value {
    let artifacts: Vec<Value> = files
        .iter()
        .map(|f| json!({ "location": { "uri": uri(f.name) }, "roles": ["analysisTarget"] }))
        .collect();
    let results: Vec<Value> = files
        .iter()
        .enumerate()
        .flat_map(|(i, f)| {
            let lines = lines_of(f);
            f.diagnostics
                .iter()
                .map(|d| result(f, &lines, i, d))
                .collect::<Vec<_>>()
        })
        .collect();
    let notifications: Vec<Value> = files
        .iter()
        .filter(|f| f.omitted > 0)
        .map(|f| {
            json!({
                "level": "warning",
                "message": { "text": format!(
                    "{}: {} more diagnostics not shown", f.name, f.omitted
                ) },
            })
        })
        .collect();
    let mut invocation = json!({ "executionSuccessful": true });
    if !notifications.is_empty() {
        invocation["toolExecutionNotifications"] = json!(notifications);
    }
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [ {
            "tool": { "driver": {
                "name": "esmtp",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": rules(),
            } },
            "invocations": [invocation],
            "artifacts": artifacts,
            "columnKind": "unicodeCodePoints",
            "results": results,
        } ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::codes::Code;
    use crate::config::diag;

    #[test]
    fn uris_are_references_with_only_unreserved_bytes() {
        assert_eq!(uri("dotfiles/esmtprc"), "dotfiles/esmtprc");
        assert_eq!(uri("./a b/é:x"), "a%20b/%C3%A9%3Ax");
        assert_eq!(uri("/home/u/.esmtprc"), "file:///home/u/.esmtprc");
        assert_eq!(uri("c:rc"), "c%3Arc");
    }

    #[test]
    fn results_point_at_lines_and_code_point_columns() {
        let text = "helo \"é\"\nbad\n";
        let d = Diagnostic::new(Code::E001, "unknown keyword `bad`")
            .primary(diag::Span::new(10, 13), "not a keyword");
        let f = File {
            name: "rc",
            text,
            diagnostics: std::slice::from_ref(&d),
            omitted: 0,
        };
        let log = log(&[f]);
        let r = &log["runs"][0]["results"][0];
        assert_eq!(r["ruleId"], "E001");
        assert_eq!(r["level"], "error");
        assert_eq!(r["ruleIndex"], 0);
        let region = &r["locations"][0]["physicalLocation"]["region"];
        assert_eq!(region["startLine"], 2);
        assert_eq!(region["startColumn"], 1);
        assert_eq!(region["endColumn"], 4);
        assert_eq!(r["message"]["text"], "unknown keyword `bad`: not a keyword");
    }
}
