//! Picking up a queue left by the classic esmtp-wrapper script.
//!
//! The wrapper keeps `~/.esmtp_queue/XXXXXXXX/` with `cmd` (its sendmail
//! arguments as `echo "$@"` wrote them, later word-split by the shell),
//! `mail` (the raw message) and `lock` while it writes. Each complete entry
//! is turned into a spool entry (envelope from the arguments, message
//! normalised as a submission would be) under the id `w-XXXXXXXX`, then the
//! wrapper's directory is removed. An entry whose `lock` is older than
//! [`STALE_LOCK_SECS`] was abandoned by a writer that died half-way: it is
//! kept in `failed/` for the user to check, never sent.

use super::store::{now, Meta, Spool};
use crate::exit::Failure;
use crate::plan::Plan;
use crate::route::{bare_address, find_identity};
use crate::sys::login_name;
use std::fs;
use std::io::Cursor;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A wrapper lock older than this belongs to a writer that died.
pub const STALE_LOCK_SECS: u64 = 600;

/// `~/.esmtp_queue`, when it exists.
pub fn default_dir() -> Option<PathBuf> {
    let d = dirs::home_dir()?.join(".esmtp_queue");
    d.is_dir().then_some(d)
}

/// The sendmail arguments that matter for the envelope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args {
    pub sender: Option<String>,
    pub extract: bool,
    pub recipients: Vec<String>,
    pub notify: Option<String>,
    pub ret: Option<String>,
    pub envid: Option<String>,
    pub body_type: Option<String>,
}

/// Parse sendmail arguments (getopt style, SPEC §3.2) as far as the
/// envelope is concerned; other flags are skipped with their values.
pub fn parse_args(args: &[String]) -> Args {
    let mut out = Args::default();
    let mut i = 0;
    let mut only_recipients = false;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if only_recipients || !a.starts_with('-') || a.len() == 1 {
            out.recipients.push(a.clone());
            continue;
        }
        if a == "--" {
            only_recipients = true;
            continue;
        }
        let flags = &a[1..];
        for (pos, c) in flags.char_indices() {
            let rest = &flags[pos + c.len_utf8()..];
            match c {
                // Take the rest of the word (possibly empty).
                'b' | 'q' => break,
                'f' | 'r' | 'F' | 'C' | 'X' | 'N' | 'R' | 'V' | 'B' | 'A' | 'd' | 'e' | 'h'
                | 'L' | 'M' | 'O' | 'o' | 'p' | 'T' => {
                    let value = if !rest.is_empty() {
                        rest.to_string()
                    } else if i < args.len() {
                        i += 1;
                        args[i - 1].clone()
                    } else {
                        String::new()
                    };
                    match c {
                        'f' | 'r' => out.sender = Some(value),
                        'N' => out.notify = Some(value.to_ascii_uppercase()),
                        'R' => out.ret = Some(value.to_ascii_uppercase()),
                        'V' => out.envid = Some(value),
                        'B' => out.body_type = Some(value.to_ascii_uppercase()),
                        _ => {}
                    }
                    break;
                }
                't' => out.extract = true,
                _ => {}
            }
        }
    }
    out
}

/// Entries waiting in a wrapper queue (for `mailq`).
pub fn pending(dir: &Path) -> usize {
    entries(dir).len()
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

fn age_secs(p: &Path) -> Option<u64> {
    let m = fs::metadata(p).ok()?;
    Some(now().saturating_sub(m.mtime().max(0) as u64))
}

/// True when the wrapper itself is delivering (its dotlockfile holds a live pid).
fn wrapper_delivering(dir: &Path) -> bool {
    let Ok(text) = fs::read_to_string(dir.join(".deliver_lock")) else {
        return false;
    };
    match text.trim().parse::<i32>() {
        Ok(pid) if pid > 0 => nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok(),
        _ => false,
    }
}

/// Import every complete wrapper entry into `spool`; returns how many.
pub fn import(spool: &Spool, plan: &Plan, dir: &Path) -> Result<usize, Failure> {
    if wrapper_delivering(dir) {
        return Ok(0);
    }
    let mut n = 0;
    for entry in entries(dir) {
        let name = entry
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let id: String = format!("w-{name}")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if spool.exists(&id) {
            // Imported before a crash could remove the original.
            let _ = fs::remove_dir_all(&entry);
            continue;
        }
        let lock = entry.join("lock");
        let abandoned = match age_secs(&lock) {
            Some(age) if age < STALE_LOCK_SECS => continue, // still being written
            Some(_) => true,
            None => false,
        };
        let (Ok(cmd), Ok(mail)) = (
            fs::read_to_string(entry.join("cmd")),
            fs::read(entry.join("mail")),
        ) else {
            if !abandoned && age_secs(&entry).is_some_and(|a| a > STALE_LOCK_SECS) {
                // mkdir without content, long ago: debris.
                let _ = fs::remove_dir(&entry);
            }
            continue;
        };
        let args: Vec<String> = cmd.split_whitespace().map(str::to_string).collect();
        let parsed = parse_args(&args);
        let (meta, message, mut problem) = match prepare(plan, &parsed, &mail) {
            Ok(p) => {
                let problem = if abandoned || p.local.is_empty() {
                    None
                } else {
                    deliver_local(plan, &p).err()
                };
                if p.meta.recipients.is_empty() && problem.is_none() && !abandoned {
                    // Local recipients only, and they have it.
                    remove_wrapper_entry(&entry)?;
                    n += 1;
                    continue;
                }
                (p.meta, p.message, problem)
            }
            Err(why) => {
                let (_, m) = fallback_meta(plan);
                (m, mail.clone(), Some(why))
            }
        };
        if abandoned {
            problem = Some("the esmtp-wrapper never finished writing this message (stale lock); it may be incomplete: check it and resend it".into());
        }
        let locked = spool.create(&id, &meta, &mut Cursor::new(message), None)?;
        match problem {
            // Remote recipients still go; the local failure is reported.
            Some(why) if !meta.recipients.is_empty() && !abandoned => {
                eprintln!("esmtp: esmtp-wrapper entry {name}: {why}");
                drop(locked);
            }
            Some(why) => {
                let _ = spool.fail(locked, &format!("esmtp-wrapper entry {name}: {why}"));
            }
            None => drop(locked),
        }
        remove_wrapper_entry(&entry)?;
        n += 1;
    }
    if n > 0 {
        let _ = super::store::sync_dir(dir);
    }
    Ok(n)
}

fn remove_wrapper_entry(entry: &Path) -> Result<(), Failure> {
    fs::remove_dir_all(entry)
        .map_err(|e| Failure::tempfail(format!("queue: cannot remove {}: {e}", entry.display())))
}

/// Local recipients of a wrapper entry go through the MDA now, as esmtp
/// 1.2 would have sent them when the wrapper ran it.
fn deliver_local(plan: &Plan, p: &Prepared) -> Result<(), String> {
    let Some(template) = &plan.mda else {
        return Err(format!(
            "no mda configured for the local recipients {}",
            p.local.join(", ")
        ));
    };
    let command = crate::transport::mda::command(template, &login_name(), &p.local, &p.meta.sender);
    let mut lf = crate::message::LfReader::new(std::io::BufReader::new(Cursor::new(&p.message)));
    crate::transport::mda::deliver(&command, &mut lf, false).map_err(|f| f.message)
}

fn fallback_meta(plan: &Plan) -> (usize, Meta) {
    let idx = plan.default_identity;
    (
        idx,
        Meta {
            created: now(),
            identity: plan.identities.get(idx).and_then(|i| i.address.clone()),
            identity_index: idx,
            ..Meta::default()
        },
    )
}

fn is_header_line(line: &[u8]) -> bool {
    match line.iter().position(|&b| b == b':') {
        Some(p) if p > 0 => line[..p].iter().all(|&b| (33..=126).contains(&b)),
        _ => false,
    }
}

fn header_name(line: &[u8]) -> String {
    let p = line.iter().position(|&b| b == b':').unwrap_or(0);
    String::from_utf8_lossy(&line[..p]).to_ascii_lowercase()
}

/// A wrapper entry made ready: the spool entry for the smarthost (its
/// `meta.recipients` may be empty) and the local recipients for the MDA.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub identity: usize,
    pub meta: Meta,
    /// The normalised message, CRLF.
    pub message: Vec<u8>,
    /// Recipients without `@` (and no `qualifydomain`), or the `force_mda`
    /// user: delivered through the MDA, as esmtp 1.2 did for the wrapper.
    pub local: Vec<String>,
}

/// Envelope and normalised message (CRLF, missing Date/From/Message-ID
/// added, Return-Path dropped, Bcc dropped with -t) of a wrapper entry.
pub fn prepare(plan: &Plan, args: &Args, raw: &[u8]) -> Result<Prepared, String> {
    // Split into lines without their line ends.
    let mut lines: Vec<&[u8]> = raw.split(|&b| b == b'\n').collect();
    if raw.ends_with(b"\n") {
        lines.pop();
    }
    let lines: Vec<&[u8]> = lines
        .into_iter()
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .collect();
    // Header fields: (name, full text with continuation lines).
    let mut headers: Vec<(String, Vec<&[u8]>)> = Vec::new();
    let mut body_start = lines.len();
    for (n, line) in lines.iter().enumerate() {
        if line.is_empty() {
            body_start = n + 1;
            break;
        }
        if (line[0] == b' ' || line[0] == b'\t') && !headers.is_empty() {
            if let Some(h) = headers.last_mut() {
                h.1.push(line);
            }
            continue;
        }
        if is_header_line(line) {
            headers.push((header_name(line), vec![line]));
            continue;
        }
        body_start = n;
        break;
    }

    let header_text = |h: &(String, Vec<&[u8]>)| -> Vec<u8> {
        let mut v = Vec::new();
        for l in &h.1 {
            v.extend_from_slice(l);
            v.extend_from_slice(b"\r\n");
        }
        v
    };
    let addresses_of = |name: &str| -> Vec<String> {
        let mut out = Vec::new();
        for h in headers.iter().filter(|h| h.0 == name) {
            let text = header_text(h);
            if let Ok((parsed, _)) = mailparse::parse_header(&text) {
                if let Ok(list) = mailparse::addrparse_header(&parsed) {
                    for a in list.iter() {
                        match a {
                            mailparse::MailAddr::Single(s) => out.push(s.addr.clone()),
                            mailparse::MailAddr::Group(g) => {
                                out.extend(g.addrs.iter().map(|s| s.addr.clone()))
                            }
                        }
                    }
                }
            }
        }
        out
    };

    let mut recipients: Vec<String> = Vec::new();
    if args.extract {
        for name in ["to", "cc", "bcc"] {
            recipients.extend(addresses_of(name));
        }
    }
    recipients.extend(args.recipients.iter().map(|r| bare_address(r).to_string()));
    if recipients.is_empty() {
        return Err("no recipients".into());
    }

    let from_header = addresses_of("from").into_iter().next();
    let chosen = args
        .sender
        .as_deref()
        .map(|s| bare_address(s).to_string())
        .or_else(|| {
            if args.extract {
                from_header.clone()
            } else {
                None
            }
        });
    let idx = chosen
        .as_deref()
        .and_then(|s| find_identity(plan, s))
        .unwrap_or(plan.default_identity)
        .min(plan.identities.len().saturating_sub(1));
    let identity = plan.identities.get(idx);
    let mut local = Vec::new();
    if let Some(user) = &plan.force_mda {
        local.push(user.clone());
        recipients.clear();
    } else {
        let qualify = identity.and_then(|i| i.qualifydomain.clone());
        let mut remote = Vec::new();
        for r in recipients.drain(..) {
            match (&qualify, r.contains('@')) {
                (_, true) => remote.push(r),
                (Some(d), false) => remote.push(format!("{r}@{d}")),
                (None, false) => local.push(r),
            }
        }
        recipients = remote;
    }
    let login = login_name();
    let host = crate::sys::hostname();
    let sender = identity
        .and_then(|i| i.force_reverse_path.as_ref())
        .map(|t| t.expand(&login, &[], "", |s| s.to_string()))
        .or(chosen.clone())
        .or_else(|| {
            identity.and_then(|i| i.address.as_deref().map(|a| bare_address(a).to_string()))
        })
        .unwrap_or_else(|| format!("{login}@{host}"));

    let mut out: Vec<u8> = Vec::with_capacity(raw.len() + 256);
    let has = |name: &str| headers.iter().any(|h| h.0 == name);
    for h in &headers {
        if h.0 == "return-path" || (args.extract && h.0 == "bcc") {
            continue;
        }
        out.extend(header_text(h));
    }
    if !has("date") {
        out.extend(format!("Date: {}\r\n", chrono::Local::now().to_rfc2822()).into_bytes());
    }
    if !has("from") {
        out.extend(format!("From: {}\r\n", chosen.as_deref().unwrap_or(&sender)).into_bytes());
    }
    if !has("message-id") && identity.is_none_or(|i| i.message_id) {
        out.extend(
            format!(
                "Message-ID: <{}.{}@{host}>\r\n",
                super::store::new_id(),
                std::process::id()
            )
            .into_bytes(),
        );
    }
    out.extend_from_slice(b"\r\n");
    for l in &lines[body_start.min(lines.len())..] {
        out.extend_from_slice(l);
        out.extend_from_slice(b"\r\n");
    }
    let eight_bit = out.iter().any(|&b| b >= 0x80);

    let meta = Meta {
        version: 1,
        created: now(),
        identity: identity.and_then(|i| i.address.clone()),
        identity_index: idx,
        sender,
        recipients,
        notify: args.notify.clone(),
        ret: args.ret.clone(),
        envid: args.envid.clone(),
        body_type: args
            .body_type
            .clone()
            .filter(|b| b == "7BIT" || b == "8BITMIME"),
        eight_bit,
        size: out.len() as u64,
    };
    Ok(Prepared {
        identity: idx,
        meta,
        message: out,
        local,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_wrapper_arguments() {
        let a = parse_args(&s(&["-oi", "-fme@x.org", "-t", "a@b", "--", "-c@d"]));
        assert_eq!(a.sender.as_deref(), Some("me@x.org"));
        assert!(a.extract);
        assert_eq!(a.recipients, s(&["a@b", "-c@d"]));
        let a = parse_args(&s(&[
            "-ti", "-f", "me@x.org", "-N", "never", "-C", "/x", "r@s",
        ]));
        assert!(a.extract);
        assert_eq!(a.sender.as_deref(), Some("me@x.org"));
        assert_eq!(a.notify.as_deref(), Some("NEVER"));
        assert_eq!(a.recipients, s(&["r@s"]));
    }

    #[test]
    fn prepares_extracted_message() {
        let plan = Plan::empty();
        let raw = b"From: Me <me@x.org>\nTo: a@b, B <c@d>\nBcc: e@f\nSubject: hi\n\nbody\n.line\n";
        let args = parse_args(&s(&["-t"]));
        let Prepared {
            meta,
            message: msg,
            local,
            ..
        } = prepare(&plan, &args, raw).unwrap();
        assert!(local.is_empty());
        assert_eq!(meta.recipients, s(&["a@b", "c@d", "e@f"]));
        assert_eq!(meta.sender, "me@x.org");
        let text = String::from_utf8(msg).unwrap();
        assert!(!text.contains("Bcc"));
        assert!(text.contains("Date: "));
        assert!(text.contains("Message-ID: <"));
        assert!(text.ends_with("\r\n\r\nbody\r\n.line\r\n"));
        assert!(!text.replace("\r\n", "").contains('\r'));
        assert_eq!(meta.size, text.len() as u64);
    }

    #[test]
    fn local_recipients_are_split_off() {
        let mut plan = Plan::empty();
        let p = prepare(
            &plan,
            &parse_args(&s(&["root", "a@b.c"])),
            b"Subject: x\n\nhi\n",
        )
        .unwrap();
        assert_eq!(p.local, s(&["root"]));
        assert_eq!(p.meta.recipients, s(&["a@b.c"]));
        plan.identities[0].qualifydomain = Some("example.org".into());
        let p = prepare(&plan, &parse_args(&s(&["root"])), b"Subject: x\n\nhi\n").unwrap();
        assert!(p.local.is_empty());
        assert_eq!(p.meta.recipients, s(&["root@example.org"]));
        plan.force_mda = Some("me".into());
        let p = prepare(&plan, &parse_args(&s(&["a@b.c"])), b"Subject: x\n\nhi\n").unwrap();
        assert_eq!(p.local, s(&["me"]));
        assert!(p.meta.recipients.is_empty());
    }
}
