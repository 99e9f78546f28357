//! Reading an msmtprc the way msmtp's conf.c does: lines, sections,
//! inheritance. Nothing here writes esmtprc text.

use super::commands::command;
use super::ImportError;

/// Longest line msmtp reads (its LINEBUFSIZE less the terminator).
const MAX_LINE: usize = 4095;

/// One setting as written: command, argument bytes, line.
#[derive(Debug, Clone)]
pub(super) struct Setting {
    pub(super) cmd: String,
    pub(super) arg: Vec<u8>,
    pub(super) line: usize,
}

#[derive(Debug, Clone)]
pub(super) struct Account {
    pub(super) name: String,
    pub(super) line: usize,
    /// Only `account default : X` with nothing of its own.
    pub(super) alias_of: Option<String>,
    pub(super) settings: Vec<Setting>,
}

/// Read an msmtprc into its accounts (each with its whole, inherited list
/// of settings, later ones winning).
pub(super) fn parse(src: &[u8]) -> Result<Vec<Account>, ImportError> {
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

pub(super) fn err(line: usize, message: impl Into<String>) -> ImportError {
    ImportError {
        line,
        message: message.into(),
    }
}

pub(super) fn trim(b: &[u8]) -> &[u8] {
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
pub(super) fn unquote(b: &[u8]) -> Vec<u8> {
    if b.len() >= 2 && b[0] == b'"' && b[b.len() - 1] == b'"' {
        b[1..b.len() - 1].to_vec()
    } else {
        b.to_vec()
    }
}

/// `NAME` or `NAME : PARENT[, PARENT...]`.
pub(super) fn account_line(arg: &[u8], line: usize) -> Result<(String, Vec<String>), ImportError> {
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

/// Add `s` to a list that holds each command once, in the order each
/// first appears, the last value winning: inheritance copies at most one
/// entry per known command, however many parents and accounts a file has.
pub(super) fn merge(list: &mut Vec<Setting>, s: Setting) {
    match list.iter_mut().find(|o| o.cmd == s.cmd) {
        Some(o) => *o = s,
        None => list.push(s),
    }
}

/// The settings of one account that are set.
pub(super) fn effective(settings: &[Setting]) -> Vec<Setting> {
    let mut out = settings.to_vec();
    // An empty argument unsets these (msmtp stores NULL).
    const UNSET_BY_EMPTY: &[&str] = &["host", "from", "user", "password", "passwordeval", "domain"];
    out.retain(|s| !(s.arg.is_empty() && UNSET_BY_EMPTY.contains(&s.cmd.as_str())));
    out
}
