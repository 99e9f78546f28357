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

use std::fmt::Write as _;

/// Longest line msmtp reads (its LINEBUFSIZE less the terminator).
const MAX_LINE: usize = 4095;
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

/// What an msmtp command becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Map {
    /// Handled by the converter itself (host, port, from, auth, tls...).
    Special,
    /// The same value (quoted, bytes kept) under this esmtprc keyword.
    Keyword(&'static str),
    /// No esmtp equivalent: a comment with this reason.
    None(&'static str),
    /// Its value must not be shown even in a comment.
    Secret(&'static str),
}

/// Every msmtp 1.8 command and what it becomes.
const COMMANDS: &[(&str, Map)] = &[
    ("host", Map::Special),
    ("port", Map::Special),
    ("from", Map::Special),
    ("user", Map::Special),
    ("password", Map::Special),
    ("passwordeval", Map::Special),
    ("auth", Map::Special),
    ("tls", Map::Special),
    ("tls_starttls", Map::Special),
    ("timeout", Map::Special),
    ("domain", Map::Keyword("helo")),
    ("tls_fingerprint", Map::Special),
    ("tls_trust_file", Map::Special),
    ("tls_cert_file", Map::Special),
    ("tls_key_file", Map::Special),
    (
        "tls_certcheck",
        Map::None("esmtp always verifies the server's certificate"),
    ),
    ("tls_crl_file", Map::None("esmtp has no CRL setting")),
    (
        "tls_priorities",
        Map::None("esmtp chooses TLS versions and ciphers itself"),
    ),
    (
        "tls_host_override",
        Map::None("esmtp verifies the certificate for the host it connects to"),
    ),
    (
        "tls_min_dh_prime_bits",
        Map::None("esmtp's TLS library has no finite-field DH"),
    ),
    ("aliases", Map::Special),
    ("logfile", Map::None("esmtp has no delivery log")),
    (
        "logfile_time_format",
        Map::None("esmtp has no delivery log"),
    ),
    (
        "syslog",
        Map::None("esmtp does not log deliveries to syslog"),
    ),
    (
        "dsn_notify",
        Map::None("esmtp asks for DSN per message (-N), not in its file"),
    ),
    (
        "dsn_return",
        Map::None("esmtp asks for DSN per message (-R), not in its file"),
    ),
    (
        "auto_from",
        Map::None("esmtp takes the sender from -f or the identity"),
    ),
    (
        "maildomain",
        Map::None("esmtp takes the sender from -f or the identity"),
    ),
    (
        "from_full_name",
        Map::None("esmtp does not write From: headers"),
    ),
    (
        "add_missing_from_header",
        Map::None("esmtp always adds a missing From: (the identity's address)"),
    ),
    (
        "add_missing_date_header",
        Map::None("esmtp always adds a missing Date:"),
    ),
    (
        "set_from_header",
        Map::None("esmtp does not rewrite From: headers"),
    ),
    (
        "set_date_header",
        Map::None("esmtp does not rewrite Date: headers"),
    ),
    (
        "set_msgid_header",
        Map::None("esmtp adds a Message-ID when missing (message_id, enabled by default)"),
    ),
    (
        "remove_bcc_headers",
        Map::None("esmtp always removes Bcc: headers"),
    ),
    (
        "undisclosed_recipients",
        Map::None("esmtp does not rewrite recipient headers"),
    ),
    (
        "source_ip",
        Map::None("esmtp does not bind a source address"),
    ),
    (
        "proxy_host",
        Map::None("esmtp has no SOCKS proxy (a preconnect tunnel can stand in)"),
    ),
    (
        "proxy_port",
        Map::None("esmtp has no SOCKS proxy (a preconnect tunnel can stand in)"),
    ),
    ("socket", Map::None("esmtp connects over TCP only")),
    ("protocol", Map::None("esmtp speaks SMTP only")),
    (
        "ntlmdomain",
        Map::None("esmtp's NTLM takes no domain setting"),
    ),
    (
        "eval",
        Map::Secret("esmtp cannot take settings from a command's output"),
    ),
];

/// esmtp's `auth` words, as msmtp spells them.
const AUTH_KNOWN: &[&str] = &["plain", "login", "cram-md5", "ntlm", "xoauth2"];

fn command(name: &str) -> Option<Map> {
    COMMANDS.iter().find(|(n, _)| *n == name).map(|(_, m)| *m)
}

/// One setting as written: command, argument bytes, line.
#[derive(Debug, Clone)]
struct Setting {
    cmd: String,
    arg: Vec<u8>,
    line: usize,
}

#[derive(Debug, Clone)]
struct Account {
    name: String,
    line: usize,
    /// Only `account default : X` with nothing of its own.
    alias_of: Option<String>,
    settings: Vec<Setting>,
}

/// Read an msmtprc into its accounts (each with its whole, inherited list
/// of settings, later ones winning).
fn parse(src: &[u8]) -> Result<Vec<Account>, ImportError> {
    let mut defaults: Vec<Setting> = Vec::new();
    let mut accounts: Vec<Account> = Vec::new();
    // Account name -> its index (a file may hold many accounts).
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    // Where settings go: None before any section, Some(None) defaults,
    // Some(Some(i)) the account i.
    let mut current: Option<Option<usize>> = None;
    for (n, raw) in src.split(|&b| b == b'\n').enumerate() {
        let line = n + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.len() > MAX_LINE {
            return Err(err(line, format!("line longer than {MAX_LINE} characters")));
        }
        let text = trim(raw);
        if text.is_empty() || text[0] == b'#' {
            continue;
        }
        let cmd_len = text
            .iter()
            .position(|b| b.is_ascii_whitespace())
            .unwrap_or(text.len());
        let cmd = String::from_utf8_lossy(&text[..cmd_len]).into_owned();
        let arg = unquote(trim(&text[cmd_len..]));
        match cmd.as_str() {
            "defaults" => {
                if !arg.is_empty() {
                    return Err(err(line, "`defaults` takes no argument"));
                }
                current = Some(None);
            }
            "account" => {
                let (name, parents) = account_line(&arg, line)?;
                if index.contains_key(&name) {
                    return Err(err(line, format!("account {name} was already defined")));
                }
                let mut settings = defaults.clone();
                for p in &parents {
                    match index.get(p) {
                        Some(&a) => {
                            for s in &accounts[a].settings {
                                merge(&mut settings, s.clone());
                            }
                        }
                        None => {
                            return Err(err(line, format!("account {p} is not (yet) defined")));
                        }
                    }
                }
                let alias_of = (parents.len() == 1).then(|| parents[0].clone());
                index.insert(name.clone(), accounts.len());
                accounts.push(Account {
                    name,
                    line,
                    alias_of,
                    settings,
                });
                current = Some(Some(accounts.len() - 1));
            }
            _ => {
                if command(&cmd).is_none() {
                    return Err(err(line, "unknown msmtp command (msmtp refuses it too)"));
                }
                let setting = Setting { cmd, arg, line };
                match current {
                    None => {
                        return Err(err(
                            line,
                            "a setting before any `defaults` or `account` line",
                        ));
                    }
                    Some(None) => merge(&mut defaults, setting),
                    Some(Some(i)) => {
                        accounts[i].alias_of = None;
                        merge(&mut accounts[i].settings, setting);
                    }
                }
            }
        }
    }
    Ok(accounts)
}

fn err(line: usize, message: impl Into<String>) -> ImportError {
    ImportError {
        line,
        message: message.into(),
    }
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end.max(start)]
}

/// msmtp's trim_string: one pair of enclosing double quotes goes.
fn unquote(b: &[u8]) -> Vec<u8> {
    if b.len() >= 2 && b[0] == b'"' && b[b.len() - 1] == b'"' {
        b[1..b.len() - 1].to_vec()
    } else {
        b.to_vec()
    }
}

/// `NAME` or `NAME : PARENT[, PARENT...]`.
fn account_line(arg: &[u8], line: usize) -> Result<(String, Vec<String>), ImportError> {
    let text = std::str::from_utf8(arg).map_err(|_| err(line, "account name is not UTF-8"))?;
    let (name, parents) = match text.split_once(':') {
        Some((n, p)) => (n.trim(), Some(p)),
        None => (text.trim(), None),
    };
    if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == ',') {
        return Err(err(line, "`account` needs one account name"));
    }
    let mut list = Vec::new();
    if let Some(p) = parents {
        for parent in p.split(',') {
            let parent = parent.trim();
            if parent.is_empty() {
                return Err(err(line, "empty parent account name after `:`"));
            }
            list.push(parent.to_string());
        }
    }
    Ok((name.to_string(), list))
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

/// Add `s` to a list that holds each command once, in the order each
/// first appears, the last value winning: inheritance copies at most one
/// entry per known command, however many parents and accounts a file has.
fn merge(list: &mut Vec<Setting>, s: Setting) {
    match list.iter_mut().find(|o| o.cmd == s.cmd) {
        Some(o) => *o = s,
        None => list.push(s),
    }
}

/// The settings of one account that are set.
fn effective(settings: &[Setting]) -> Vec<Setting> {
    let mut out = settings.to_vec();
    // An empty argument unsets these (msmtp stores NULL).
    const UNSET_BY_EMPTY: &[&str] = &["host", "from", "user", "password", "passwordeval", "domain"];
    out.retain(|s| !(s.arg.is_empty() && UNSET_BY_EMPTY.contains(&s.cmd.as_str())));
    out
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
        .filter(|p| p.starts_with(b"/") || p.starts_with(b"~/"));
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
            Some(Map::Special) => {}
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
                if s.arg.starts_with(b"/") || s.arg.starts_with(b"~/") {
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
                } else if s.arg.starts_with(b"/") || s.arg.starts_with(b"~/") {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_keeps_every_byte_in_escapes() {
        assert_eq!(quoted(b"a\"b\\c#d\xff"), "\"a\\x22b\\x5cc\\x23d\\xff\"");
    }

    #[test]
    fn inheritance_defaults_and_default_alias() {
        let src = b"defaults\nport 587\ntls on\naccount a\nhost h\nfrom a@x\naccount b : a\nfrom b@x\naccount default : b\n";
        let out = convert(src, "f").unwrap();
        assert!(
            out.contains("identity a@x\nstarttls required\nhostname h:587\n"),
            "{out}"
        );
        assert!(
            out.contains("identity b@x\nstarttls required\nhostname h:587\ndefault\n"),
            "{out}"
        );
    }

    #[test]
    fn many_accounts_and_parents_stay_linear() {
        // Each account inherits the previous one four times: copying every
        // inherited line would double the list each time.
        let mut src = b"defaults\nhost h\naccount a0\nfrom a0@x\n".to_vec();
        for i in 1..20_000 {
            let p = i - 1;
            src.extend_from_slice(
                format!("account a{i} : a{p}, a{p}, a{p}, a{p}\nfrom a{i}@x\n").as_bytes(),
            );
        }
        let t = std::time::Instant::now();
        let out = convert(&src, "f").unwrap();
        assert!(out.contains("identity a19999@x\nhostname h:25\n"));
        // Generous for a debug build on a loaded machine; quadratic or
        // exponential work takes minutes or never ends.
        assert!(
            t.elapsed() < std::time::Duration::from_secs(20),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn output_is_bounded() {
        let mut src = b"defaults\n".to_vec();
        // Ten long unsupported settings, repeated in each of 500 accounts
        // (20 MB of comments from a 50 KB file).
        for cmd in [
            "aliases",
            "logfile",
            "syslog",
            "dsn_notify",
            "dsn_return",
            "tls_crl_file",
        ]
        .iter()
        .chain(&["source_ip", "proxy_host", "socket", "ntlmdomain"])
        {
            src.extend_from_slice(format!("{cmd} {}\n", "x".repeat(4000)).as_bytes());
        }
        for i in 0..500 {
            src.extend_from_slice(format!("account a{i}\n").as_bytes());
        }
        let result = convert(&src, "f");
        assert!(
            matches!(&result, Err(e) if e.message.contains("MiB")),
            "{:?}",
            result.map(|o| o.len())
        );
    }

    #[test]
    fn errors_carry_the_line_and_no_value() {
        let e = convert(b"account a\nhost h\nbogus secret\n", "f").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(!e.message.contains("secret"));
        assert_eq!(convert(b"host h\n", "f").unwrap_err().line, 1);
        let both = convert(
            b"account a\nhost h\nfrom a@b\npasswordeval x\npassword p\npassword\n",
            "f",
        )
        .unwrap();
        assert!(
            both.contains("passwordeval \"x\"") && !both.contains("password \""),
            "{both}"
        );
        let both = convert(
            b"account a\nhost h\nfrom a@b\npasswordeval x\npassword p\n",
            "f",
        )
        .unwrap();
        assert!(
            both.contains("password \"p\"\n") && !both.contains("passwordeval \""),
            "{both}"
        );
        let v6 = convert(b"account a\nhost ::1\nport 2525\n", "f").unwrap();
        assert!(v6.contains("hostname [::1]:2525\n"), "{v6}");
        assert_eq!(convert(b"account a : z\n", "f").unwrap_err().line, 1);
        let e = convert(b"account a\ntls maybe-secret\n", "f").unwrap_err();
        assert!(!e.message.contains("maybe"));
    }
}
