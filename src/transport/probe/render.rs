//! The probe's reports as text (sectioned per identity, aligned, colours
//! only on a terminal) and as JSON (the field names are documented in
//! esmtp(1) and stay stable).

use super::{Report, Verification};
use std::fmt::Write as _;

/// ANSI colours, or none.
struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, text: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    fn bold(&self, t: &str) -> String {
        self.wrap("1", t)
    }
    fn good(&self, t: &str) -> String {
        self.wrap("32", t)
    }
    fn bad(&self, t: &str) -> String {
        self.wrap("1;31", t)
    }
    fn warn(&self, t: &str) -> String {
        self.wrap("1;33", t)
    }
}

const LABEL: usize = 13;

fn row(out: &mut String, label: &str, value: &str) {
    let _ = writeln!(out, "  {label:<LABEL$}{value}");
}

/// More lines under one label, aligned with its value.
fn more(out: &mut String, value: &str) {
    let _ = writeln!(out, "  {:<LABEL$}{value}", "");
}

/// The reports as text; `color`: stdout is a terminal.
pub fn render_text(reports: &[Report], color: bool) -> String {
    let p = Paint(color);
    let mut out = String::new();
    for (i, r) in reports.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        one(&mut out, r, &p);
    }
    let usable = reports.iter().filter(|r| r.status == 0).count();
    let problems = reports.iter().filter(|r| r.status == 1).count();
    let failed = reports.len() - usable - problems;
    let _ = writeln!(
        out,
        "\n{} probed: {usable} usable, {problems} with problems, {failed} not reached",
        match reports.len() {
            1 => "1 identity".to_string(),
            n => format!("{n} identities"),
        }
    );
    out
}

fn one(out: &mut String, r: &Report, p: &Paint) {
    let name = r.identity.as_deref().unwrap_or("(the unnamed section)");
    let _ = writeln!(
        out,
        "{}{}",
        p.bold(&format!("identity {name}")),
        if r.default { " (default)" } else { "" }
    );
    let server = match &r.address {
        Some(a) => format!("{} ({a})", r.server),
        None => r.server.clone(),
    };
    row(out, "server", &server);
    for (i, line) in r.greeting.iter().enumerate() {
        if i == 0 {
            row(out, "greeting", line);
        } else {
            more(out, line);
        }
    }
    if let Some(x) = &r.extensions {
        let mut names: Vec<String> = Vec::new();
        if let Some(size) = x.size {
            names.push(if size == 0 {
                "SIZE (no limit)".to_string()
            } else {
                format!("SIZE {size}")
            });
        }
        for (on, n) in [
            (x.dsn, "DSN"),
            (x.eight_bit_mime, "8BITMIME"),
            (x.smtputf8, "SMTPUTF8"),
            (x.pipelining, "PIPELINING"),
            (x.chunking, "CHUNKING"),
            (x.starttls, "STARTTLS"),
        ] {
            if on {
                names.push(n.to_string());
            }
        }
        let shown = if names.is_empty() {
            "none".to_string()
        } else {
            names.join(" ")
        };
        row(
            out,
            "extensions",
            &(if r.helo_only {
                format!("{shown} (the server does not know EHLO)")
            } else {
                shown
            }),
        );
        if let Some(size) = x.size.filter(|s| *s > 0) {
            row(
                out,
                "size limit",
                &format!("{size} bytes ({:.1} MiB)", size as f64 / (1024.0 * 1024.0)),
            );
        }
    }
    match &r.tls {
        Some(t) => row(
            out,
            "tls",
            &format!("{} {} ({})", t.version, t.cipher, t.mode),
        ),
        None if r.extensions.is_some() => row(out, "tls", "none (the connection is not encrypted)"),
        None => {}
    }
    for (i, c) in r.certificates.iter().enumerate() {
        let label = if i == 0 {
            "certificate".to_string()
        } else {
            format!("chain {i}")
        };
        if let Some(e) = &c.error {
            row(out, &label, e);
        } else {
            row(out, &label, &format!("subject   {}", c.subject));
            more(out, &format!("issuer    {}", c.issuer));
            if !c.names.is_empty() {
                more(out, &format!("names     {}", c.names.join(", ")));
            }
            more(
                out,
                &format!("valid     {} to {}", c.not_before, c.not_after),
            );
        }
        more(out, &format!("sha256    {}", c.fingerprint));
    }
    if let Some(Verification {
        verified,
        name,
        trust,
        error,
    }) = &r.verification
    {
        let text = if *verified {
            p.good(&format!("yes, for {name} by {trust}"))
        } else {
            p.bad(&format!(
                "no: {}",
                error.as_deref().unwrap_or("it did not verify")
            ))
        };
        row(out, "verified", &text);
    }
    if let Some(x) = &r.extensions {
        row(
            out,
            "auth offered",
            &if x.auth.is_empty() {
                "none".to_string()
            } else {
                x.auth.join(" ")
            },
        );
        let would = match (r.auth.credentials, r.auth.would_use) {
            (false, _) => "none (the identity has no credentials)".to_string(),
            (true, Some(m)) => match r.auth.insisted {
                // `oauth2` implies `auth xoauth2`.
                Some(_) if m == "XOAUTH2" => format!("{m} (the file says `auth` or `oauth2`)"),
                Some(_) => format!("{m} (the file says `auth`)"),
                None => m.to_string(),
            },
            (true, None) => p.bad("none usable"),
        };
        row(out, "auth used", &would);
    }
    let login = match r.login.result {
        "ok" => p.good(&format!("ok ({})", r.login.mechanism.unwrap_or("?"))),
        // The secret could not be had: the error below says why.
        "failed" if r.error.as_ref().map(|e| &e.message) == r.login.error.as_ref() => {
            p.bad("failed before connecting: see the error")
        }
        "failed" => p.bad(&format!(
            "failed: {}",
            r.login.error.as_deref().unwrap_or("")
        )),
        "withheld" => p.bad("not tried: the certificate did not verify"),
        "no-credentials" => "not tried: the identity has no credentials".to_string(),
        _ => "not tried (use --login)".to_string(),
    };
    if r.extensions.is_some() || r.login.result != "not-asked" {
        row(out, "login", &login);
    }
    if let Some(e) = &r.error {
        let _ = writeln!(
            out,
            "{}: {} (status {})",
            p.bad("error"),
            e.message,
            e.status
        );
    }
    for w in &r.warnings {
        let _ = writeln!(
            out,
            "{}: {}",
            p.warn(&format!("warning[{}]", w.code)),
            w.message
        );
        let _ = writeln!(out, "  = help: {}", w.help);
    }
    let verdict = match r.status {
        0 => p.good("usable"),
        1 => p.warn("usable with problems"),
        _ => p.bad("not usable"),
    };
    row(out, "result", &verdict);
}

/// The reports as one JSON document: `{"status": N, "identities": [...]}`.
pub fn render_json(reports: &[Report], status: u8) -> String {
    let doc = serde_json::json!({
        "status": status,
        "identities": reports,
    });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".to_string());
    text.push('\n');
    text
}
