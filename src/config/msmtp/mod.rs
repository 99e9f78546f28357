//! `esmtp import msmtp`: an msmtprc read the way msmtp reads it, written
//! out as the equivalent esmtprc.
//!
//! msmtp's syntax (conf.c): one command a line, its argument the rest of
//! the line with blanks trimmed and one pair of enclosing double quotes
//! removed (no escapes); a line whose first non-blank is `#` is a comment;
//! `defaults` starts the settings later accounts begin with; `account NAME
//! [: PARENT[, PARENT...]]` starts an account that begins with the defaults
//! and then each parent's settings, in order. The account named `default`
//! is the one used without `-a`.
//!
//! Each msmtp command has ONE entry in [`COMMANDS`]: the esmtp keyword it
//! becomes, or why it has none (printed as a comment at its place).

mod commands;
mod read;
#[cfg(test)]
mod tests;

use commands::{command, Map, AUTH_KNOWN};
use read::{effective, err, parse, Setting};
use std::fmt::Write as _;

/// Largest msmtprc read (far above any real one).
pub const MAX_FILE: u64 = 1 << 20;
/// Largest esmtprc written: inherited comments repeat in every account,
/// so a small hostile file could otherwise ask for gigabytes.
const MAX_OUTPUT: usize = 16 << 20;

/// A syntax error in the msmtprc: its line and what is wrong. The message
/// never holds a value (a value may be a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    pub line: usize,
    pub message: String,
}

/// A value for a comment: printable, one line.
fn shown(b: &[u8]) -> String {
    String::from_utf8_lossy(b).escape_debug().to_string()
}

/// A value as an esmtprc double-quoted string, its bytes preserved: every
/// byte that could end or change the string is a `\xHH` escape.
pub fn quoted(b: &[u8]) -> String {
    let mut s = String::from("\"");
    for &c in b {
        if c.is_ascii_alphanumeric() || b"@.-_+=/:!$%&()*,;<>?[]^{|}~ ".contains(&c) {
            s.push(c as char);
        } else {
            let _ = write!(s, "\\x{c:02x}");
        }
    }
    s.push('"');
    s
}

fn on_off(s: &Setting) -> Result<bool, ImportError> {
    match s.arg.as_slice() {
        b"" | b"on" => Ok(true),
        b"off" => Ok(false),
        _ => Err(err(s.line, format!("`{}` takes on or off", s.cmd))),
    }
}

fn number(s: &Setting, max: u64) -> Result<u64, ImportError> {
    std::str::from_utf8(&s.arg)
        .ok()
        .and_then(|t| t.parse::<u64>().ok())
        .filter(|&n| n >= 1 && n <= max)
        .ok_or_else(|| {
            err(
                s.line,
                format!("`{}` takes a number from 1 to {max}", s.cmd),
            )
        })
}

/// The address of a `from` esmtp can select an identity by: no msmtp
/// wildcard or substitution, nothing that needs quoting.
fn plain_address(b: &[u8]) -> Option<&str> {
    let t = std::str::from_utf8(b).ok()?;
    let ok = t.contains('@')
        && !t.is_empty()
        && t.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"@.-_+=/!$&'^{}~".contains(&c));
    ok.then_some(t)
}

/// An IPv6 address as msmtp's `host` may hold it.
fn ipv6(b: &[u8]) -> Option<std::net::Ipv6Addr> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// Convert the msmtprc `src` (named `name` in the header) to esmtprc text.
pub fn convert(src: &[u8], name: &str) -> Result<String, ImportError> {
    let accounts = parse(src)?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# esmtprc converted by `esmtp import msmtp` from {}",
        shown(name.as_bytes())
    );
    if accounts.is_empty() {
        out.push_str("# (the msmtprc defines no account)\n");
        return Ok(out);
    }
    // `account default : X` with nothing of its own marks X as default.
    let default_alias = accounts
        .iter()
        .find(|a| a.name == "default")
        .and_then(|a| a.alias_of.clone());
    // esmtp has one aliases file for all identities: the default account's
    // (else the first account's), written once at the top.
    let aliases = accounts
        .iter()
        .find(|a| a.name == "default" || default_alias.as_deref() == Some(a.name.as_str()))
        .or(accounts.first())
        .and_then(|a| {
            effective(&a.settings)
                .into_iter()
                .find(|s| s.cmd == "aliases")
        })
        .map(|s| s.arg)
        .filter(|p| super::lower::is_file_path(p));
    // Written as a statement only when esmtp can use the file as it is, so
    // that the result passes `esmtp check`; otherwise a comment says why.
    let chosen = aliases.clone();
    let aliases = aliases.filter(|path| {
        let text = String::from_utf8_lossy(path);
        let why = match super::aliases::load(&text) {
            Ok((Some(_), _)) => return true,
            Ok((None, file)) => format!(
                "{} has entries esmtp cannot use; `esmtp check` shows them once you add `aliases {}`",
                file.name,
                quoted(path)
            ),
            Err(e) => e,
        };
        let _ = writeln!(out, "# msmtp `aliases {}`: not converted: {why}", shown(path));
        false
    });
    if let Some(path) = &aliases {
        let _ = writeln!(out, "aliases {}", quoted(path));
    }
    let mut blocks: Vec<(bool, String)> = Vec::new();
    let mut total = 0usize;
    // The addresses taken, compared as esmtp compares identities.
    let mut used: std::collections::HashSet<String> = std::collections::HashSet::new();
    let key = crate::address::normalized;
    for acc in &accounts {
        if acc.name == "default" && default_alias.is_some() {
            continue;
        }
        let is_default =
            acc.name == "default" || default_alias.as_deref() == Some(acc.name.as_str());
        let settings = effective(&acc.settings);
        let from = settings.iter().find(|s| s.cmd == "from");
        let plain = from.and_then(|f| plain_address(&f.arg)).map(str::to_string);
        let taken = plain.as_ref().is_some_and(|a| used.contains(&key(a)));
        let address = plain.filter(|_| !taken);
        let mut block = String::new();
        let _ = writeln!(
            block,
            "\n# msmtp account {} (line {})",
            shown(acc.name.as_bytes()),
            acc.line
        );
        let top = address.is_none();
        if let Some(a) = &address {
            used.insert(key(a));
            let _ = writeln!(block, "identity {a}");
        } else if is_default {
            block.push_str("# no `from` esmtp can select by: these settings are the unnamed identity, used when no identity matches\n");
        } else {
            block.push_str(if taken {
                "# not converted: an earlier account has the same `from`, and esmtp selects an identity by its address\n"
            } else {
                "# not converted: esmtp selects an identity by one exact address, and this account has none (see its `from`)\n"
            });
        }
        let body = account_body(
            &settings,
            top && !is_default,
            chosen.as_deref().map(|c| (c, aliases.is_some())),
        )?;
        if top && !is_default {
            for l in body.lines() {
                let _ = writeln!(block, "#   {}", l.trim_start_matches("# "));
            }
        } else {
            block.push_str(&body);
            if is_default && !top {
                block.push_str("default\n");
            }
        }
        total += block.len();
        if total > MAX_OUTPUT {
            return Err(err(
                acc.line,
                format!(
                    "the converted esmtprc would exceed {} MiB",
                    MAX_OUTPUT >> 20
                ),
            ));
        }
        blocks.push((top && is_default, block));
    }
    // The unnamed identity must come before the first `identity`.
    blocks.sort_by_key(|(first, _)| !*first);
    for (_, b) in blocks {
        out.push_str(&b);
    }
    Ok(out)
}

/// The esmtprc statements (and comments) of one account's settings;
/// `masked`: they will be shown as comments, so no secret goes in.
fn account_body(
    settings: &[Setting],
    masked: bool,
    aliases: Option<(&[u8], bool)>,
) -> Result<String, ImportError> {
    let secret = |v: &[u8]| {
        if masked {
            "********".to_string()
        } else {
            quoted(v)
        }
    };
    let get = |c: &str| settings.iter().find(|s| s.cmd == c);
    let mut b = String::new();
    let tls = get("tls").map(on_off).transpose()?.unwrap_or(false);
    let starttls = get("tls_starttls").map(on_off).transpose()?.unwrap_or(true);
    let auth_off = matches!(get("auth"), Some(s) if s.arg == b"off");
    for s in settings {
        match command(&s.cmd) {
            Some(Map::Special(..)) => {}
            Some(Map::Keyword(keyword)) => {
                let _ = writeln!(b, "{keyword} {}", quoted(&s.arg));
                continue;
            }
            Some(Map::None(why)) => {
                let _ = writeln!(
                    b,
                    "# msmtp `{} {}` (line {}): no equivalent, {why}",
                    s.cmd,
                    shown(&s.arg),
                    s.line
                );
                continue;
            }
            Some(Map::Secret(why)) => {
                let _ = writeln!(
                    b,
                    "# msmtp `{} ********` (line {}): no equivalent, {why}",
                    s.cmd, s.line
                );
                continue;
            }
            None => continue,
        }
        match s.cmd.as_str() {
            "host" => {
                let host = std::str::from_utf8(&s.arg)
                    .ok()
                    .filter(|h| {
                        !h.is_empty()
                            && h.bytes()
                                .all(|c| c.is_ascii_alphanumeric() || b".-_".contains(&c))
                    })
                    .map(str::to_string)
                    .or_else(|| ipv6(&s.arg).map(|a| format!("[{a}]")))
                    .ok_or_else(|| err(s.line, "`host` takes a host name or an IP address"))?;
                let port = match get("port") {
                    Some(p) => number(p, 65535)?,
                    None if tls && !starttls => 465,
                    None => 25,
                };
                let _ = writeln!(b, "hostname {host}:{port}");
            }
            "port" => {
                number(s, 65535)?;
                if get("host").is_none() {
                    b.push_str("# msmtp `port` without `host`: msmtp would refuse this account\n");
                }
            }
            "from" if plain_address(&s.arg).is_none() => {
                let _ = writeln!(
                    b,
                    "# msmtp `from {}` (line {}): no equivalent, esmtp matches one exact address (no wildcards or substitutions)",
                    shown(&s.arg),
                    s.line
                );
            }
            "user" if auth_off => {
                let _ = writeln!(b, "# msmtp `user {}`: not used, `auth off`", shown(&s.arg));
            }
            "password" | "passwordeval" if auth_off => {
                let _ = writeln!(b, "# msmtp `{} ********`: not used, `auth off`", s.cmd);
            }
            "user" => {
                let _ = writeln!(b, "username {}", quoted(&s.arg));
            }
            "passwordeval" if get("password").is_some() => {
                let _ =
                    writeln!(
                    b,
                    "# msmtp `passwordeval {}`: not used, msmtp runs it only without `password`",
                    if masked { "********".to_string() } else { shown(&s.arg) }
                );
            }
            "password" => {
                let _ = writeln!(b, "password {}", secret(&s.arg));
            }
            "passwordeval" => {
                let _ = writeln!(b, "passwordeval {}", quoted(&s.arg));
            }
            "auth" => {
                let mech = String::from_utf8_lossy(&s.arg).to_ascii_lowercase();
                match mech.as_str() {
                    "" | "on" => b.push_str(
                        "# msmtp `auth on`: esmtp chooses the strongest mechanism offered\n",
                    ),
                    "off" => b.push_str(
                        "# msmtp `auth off`: no username, so esmtp does not authenticate\n",
                    ),
                    m if AUTH_KNOWN.contains(&m) => {
                        let _ = writeln!(b, "auth {m}");
                    }
                    m => {
                        let _ = writeln!(
                            b,
                            "# msmtp `auth {}` (line {}): esmtp does not know this mechanism; it chooses the strongest offered",
                            shown(m.as_bytes()),
                            s.line
                        );
                    }
                }
            }
            "tls" => {
                let policy = match (tls, starttls) {
                    (false, _) => "disabled",
                    (true, true) => "required",
                    (true, false) => "implicit",
                };
                let _ = writeln!(b, "starttls {policy}");
            }
            "tls_starttls" if !tls => {
                b.push_str("# msmtp `tls_starttls`: no effect with `tls off`\n");
            }
            "tls_fingerprint" | "tls_trust_file" | "tls_cert_file" | "tls_key_file" | "aliases" => {
                file_setting(s, aliases, &mut b);
            }
            "logfile" | "syslog" => log_setting(s, &mut b),
            "timeout" => {
                if s.arg == b"off" {
                    b.push_str("# msmtp `timeout off`: esmtp always bounds its waits (default 60 seconds)\n");
                } else {
                    let _ = writeln!(b, "timeout {}", number(s, 86_400)?);
                }
            }
            _ => {}
        }
    }
    if get("host").is_none() {
        b.push_str("# no msmtp `host`: msmtp would refuse this account; esmtp uses localhost:25\n");
    }
    Ok(b)
}

/// msmtp's `logfile` and `syslog`, as esmtp writes them.
fn log_setting(s: &Setting, b: &mut String) {
    let arg = String::from_utf8_lossy(&s.arg);
    match (s.cmd.as_str(), arg.as_ref()) {
        ("logfile", "") => b.push_str("# msmtp `logfile` without a file: no log\n"),
        ("logfile", "-") => b.push_str(
            "# msmtp `logfile -` is standard output; esmtp's `logfile -` is standard error\nlogfile -\n",
        ),
        ("logfile", _) if super::lower::is_file_path(&s.arg) => {
            let _ = writeln!(b, "logfile {}", quoted(&s.arg));
        }
        ("logfile", _) => {
            let _ = writeln!(
                b,
                "# msmtp `logfile {}` (line {}): esmtp needs an absolute or ~/ path (it runs from any directory)",
                shown(&s.arg),
                s.line
            );
        }
        // msmtp's default facility is LOG_USER (esmtp's `on` is LOG_MAIL).
        (_, "" | "on") => b.push_str("syslog LOG_USER\n"),
        (_, "off") => b.push_str("syslog off\n"),
        (_, name) if crate::plan::Facility::parse(name).is_some() => {
            let _ = writeln!(b, "syslog {name}");
        }
        (_, _) => {
            let _ = writeln!(
                b,
                "# msmtp `syslog {}` (line {}): not a facility msmtp or esmtp knows",
                shown(&s.arg),
                s.line
            );
        }
    }
}

/// msmtp's own lookup of its file: $XDG_CONFIG_HOME/msmtp/config (or
/// ~/.config/msmtp/config), then ~/.msmtprc.
pub fn default_path() -> Option<std::path::PathBuf> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty());
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|x| !x.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| {
            home.as_ref()
                .map(|h| std::path::Path::new(h).join(".config"))
        });
    if let Some(x) = xdg {
        let p = x.join("msmtp").join("config");
        if p.exists() {
            return Some(p);
        }
    }
    home.map(|h| std::path::Path::new(&h).join(".msmtprc"))
}

/// The settings that name a certificate or a file (`tls_*`, `aliases`):
/// carried over where esmtprc can say the same, a comment with the reason
/// otherwise. `aliases`: the one file written at the top, and whether it
/// was written.
fn file_setting(s: &Setting, aliases: Option<(&[u8], bool)>, b: &mut String) {
    match s.cmd.as_str() {
        "tls_fingerprint" => {
            let text = String::from_utf8_lossy(&s.arg);
            match super::lower::parse_fingerprint(&text) {
                Ok(_) => {
                    let _ = writeln!(b, "tls_fingerprint {}", quoted(&s.arg));
                }
                Err(super::lower::FingerprintError::Weak(kind)) => {
                    let _ = writeln!(
                    b,
                    "# msmtp `tls_fingerprint {}` (line {}): a {kind} fingerprint, too weak for esmtp; \
                     pin the SHA-256 one (openssl x509 -noout -fingerprint -sha256 -in CERT)",
                    shown(&s.arg),
                    s.line
                );
                }
                Err(_) => {
                    let _ = writeln!(
                    b,
                    "# msmtp `tls_fingerprint {}` (line {}): not a SHA-256 fingerprint esmtp can read",
                    shown(&s.arg),
                    s.line
                );
                }
            }
        }
        "tls_trust_file" if s.arg == b"system" || s.arg.is_empty() => {
            let _ = writeln!(
                b,
                "# msmtp `tls_trust_file {}`: the system's CAs, which esmtp trusts by default",
                shown(&s.arg)
            );
        }
        "tls_trust_file" | "tls_cert_file" | "tls_key_file" => {
            if super::lower::is_file_path(&s.arg) {
                let _ = writeln!(b, "{} {}", s.cmd, quoted(&s.arg));
            } else {
                let _ = writeln!(
                b,
                "# msmtp `{} {}` (line {}): esmtp needs an absolute or ~/ path (it runs from any directory)",
                s.cmd,
                shown(&s.arg),
                s.line
            );
            }
        }
        "aliases" => {
            let why = if aliases == Some((s.arg.as_slice(), true)) {
                "the `aliases` line at the top (one file for all identities in esmtp)"
            } else if aliases == Some((s.arg.as_slice(), false)) {
                "not converted: see the comment at the top"
            } else if super::lower::is_file_path(&s.arg) {
                "no equivalent, esmtp has one aliases file for all identities (the `aliases` line at the top)"
            } else {
                "no equivalent, esmtp needs an absolute or ~/ path (it runs from any directory)"
            };
            let _ = writeln!(
                b,
                "# msmtp `aliases {}` (line {}): {why}",
                shown(&s.arg),
                s.line
            );
        }
        _ => {}
    }
}
