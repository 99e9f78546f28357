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
use crate::cli::Action;
use crate::exit::Failure;
use crate::plan::Plan;
use crate::route::Local;
use std::ffi::OsString;
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
        let (meta, ready, mut problem) = match prepare(plan, &cmd, &mail) {
            Ok(p) => {
                let problem = match &p.ready.decision.local {
                    Some(local) if !abandoned => deliver_local(&p.ready, local).err(),
                    _ => None,
                };
                if p.meta.recipients.is_empty() && problem.is_none() && !abandoned {
                    // Local recipients only, and they have it.
                    remove_wrapper_entry(&entry)?;
                    n += 1;
                    continue;
                }
                (p.meta, Some(p.ready), problem)
            }
            Err(why) => (fallback_meta(plan), None, Some(why)),
        };
        if abandoned {
            problem = Some("the esmtp-wrapper never finished writing this message (stale lock); it may be incomplete: check it and resend it".into());
        }
        let locked = match &ready {
            Some(r) => spool.create(&id, &meta, &mut r.spool.crlf(), Some(r.spool.size))?,
            // Kept as the wrapper wrote it, in failed/, for the user to see.
            None => spool.create(&id, &meta, &mut Cursor::new(&mail), None)?,
        };
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
fn deliver_local(ready: &crate::cli::Prepared, local: &Local) -> Result<(), String> {
    let feed = |stdin: &mut std::process::ChildStdin| ready.spool.write_lf(stdin).map(drop);
    crate::transport::mda::deliver_with(&local.command, false, feed).map_err(|f| f.message)
}

fn fallback_meta(plan: &Plan) -> Meta {
    let idx = plan.default_identity;
    Meta {
        created: now(),
        identity: plan.identities.get(idx).and_then(|i| i.address.clone()),
        identity_index: idx,
        ..Meta::default()
    }
}

/// A wrapper entry made ready through the same path as sendmail mode: its
/// stored arguments parsed by the front end's flag table, its headers
/// handled and its route decided by the front end, so that `-F`, `-t`,
/// `force sender`, `qualifydomain` and the rest mean what they mean there.
pub struct Prepared {
    /// What the queue entry records (its recipients may be empty when all
    /// of them are local).
    pub meta: Meta,
    pub ready: crate::cli::Prepared,
}

pub fn prepare(plan: &Plan, cmd: &str, raw: &[u8]) -> Result<Prepared, String> {
    let mut argv: Vec<OsString> = vec!["sendmail".into()];
    argv.extend(cmd.split_whitespace().map(OsString::from));
    let send = match crate::cli::parse(argv).map_err(|f| f.message)? {
        Action::Submit(send) => send,
        _ => {
            return Err(format!(
                "the stored command line is not a submission: {cmd}"
            ))
        }
    };
    let mut input = raw;
    let headers = crate::message::read_headers(&mut input).map_err(|f| f.message)?;
    let ready =
        crate::cli::prepare(plan, &send, &headers, &mut input, |_| {}).map_err(|f| f.message)?;
    let options = ready.spool.options(&send);
    let meta = super::meta_for(
        plan,
        ready.decision.identity,
        &ready.decision.envelope(),
        &options,
    );
    Ok(Prepared { meta, ready })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Template, TemplatePart};
    use std::io::Read;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn send(cmd: &str) -> crate::cli::Send {
        let mut argv: Vec<OsString> = vec!["sendmail".into()];
        argv.extend(cmd.split_whitespace().map(OsString::from));
        match crate::cli::parse(argv).unwrap() {
            Action::Submit(send) => *send,
            other => panic!("{other:?}"),
        }
    }

    fn text(p: &Prepared) -> String {
        let mut out = String::new();
        p.ready.spool.crlf().read_to_string(&mut out).unwrap();
        out
    }

    fn with_mda(mut plan: Plan) -> Plan {
        plan.mda = Some(Template {
            source: "cat".into(),
            parts: vec![TemplatePart::Literal("cat".into())],
        });
        plan
    }

    #[test]
    fn parses_wrapper_arguments() {
        let a = send("-oi -fme@x.org -t a@b -- -c@d");
        assert_eq!(a.sender.map(|m| m.addr).as_deref(), Some("me@x.org"));
        assert!(a.extract);
        assert_eq!(a.recipients, s(&["a@b", "-c@d"]));
        let a = send("-ti -f me@x.org -N never -C /x r@s");
        assert!(a.extract);
        assert_eq!(a.sender.map(|m| m.addr).as_deref(), Some("me@x.org"));
        assert_eq!(a.dsn.notify.as_deref(), Some("NEVER"));
        assert_eq!(a.recipients, s(&["r@s"]));
    }

    #[test]
    fn prepares_extracted_message() {
        let plan = Plan::empty();
        let raw = b"From: Me <me@x.org>\nTo: a@b, B <c@d>\nBcc: e@f\nSubject: hi\n\nbody\n.line\n";
        let p = prepare(&plan, "-t", raw).unwrap();
        assert!(p.ready.decision.local.is_none());
        assert_eq!(p.meta.recipients, s(&["a@b", "c@d", "e@f"]));
        assert_eq!(p.meta.sender, "me@x.org");
        let text = text(&p);
        assert!(!text.contains("Bcc"));
        assert!(text.contains("Date: "));
        assert!(text.contains("Message-ID: <"));
        assert!(text.ends_with("\r\n\r\nbody\r\n.line\r\n"));
        assert!(!text.replace("\r\n", "").contains('\r'));
        assert_eq!(p.ready.spool.size, text.len() as u64);
    }

    #[test]
    fn the_front_ends_header_policy_applies_to_imported_messages() {
        let mut plan = Plan::empty();
        plan.identities[0].force_sender = Some(Template {
            source: "robot@x.org".into(),
            parts: vec![TemplatePart::Literal("robot@x.org".into())],
        });
        let p = prepare(&plan, "-F Mary -f me@x.org a@b", b"Subject: x\n\nhi\n").unwrap();
        let text = text(&p);
        assert!(text.contains("From: Mary <me@x.org>\r\n"), "{text}");
        assert!(text.contains("Sender: robot@x.org\r\n"), "{text}");
    }

    #[test]
    fn local_recipients_are_split_off() {
        let mut plan = with_mda(Plan::empty());
        let p = prepare(&plan, "root a@b.c", b"Subject: x\n\nhi\n").unwrap();
        let local = |p: &Prepared| {
            p.ready
                .decision
                .local
                .as_ref()
                .map(|l| l.recipients.clone())
        };
        assert_eq!(local(&p), Some(s(&["root"])));
        assert_eq!(p.meta.recipients, s(&["a@b.c"]));
        plan.identities[0].qualifydomain = Some("example.org".into());
        let p = prepare(&plan, "root", b"Subject: x\n\nhi\n").unwrap();
        assert!(local(&p).is_none());
        assert_eq!(p.meta.recipients, s(&["root@example.org"]));
        plan.force_mda = Some("me".into());
        let p = prepare(&plan, "a@b.c", b"Subject: x\n\nhi\n").unwrap();
        assert_eq!(local(&p), Some(s(&["me"])));
        assert!(p.meta.recipients.is_empty());
    }
}
