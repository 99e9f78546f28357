//! Returning an undeliverable queued message to its sender through the
//! configured MDA (the sender is the local user who ran esmtp).

use super::store::Locked;
use crate::plan::Plan;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

/// The login name of the user running us.
pub fn login_name() -> String {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .or_else(|| std::env::var("LOGNAME").ok())
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "root".to_string())
}

/// Quote one word for `sh`.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Pipe a bounce for `entry` into the MDA, addressed to the local user.
pub fn return_to_sender(plan: &Plan, entry: &Locked, why: &str) -> Result<(), String> {
    let Some(mda) = &plan.mda else {
        return Err("no mda configured".into());
    };
    let login = login_name();
    let command = mda.expand(
        &login,
        std::slice::from_ref(&login),
        "MAILER-DAEMON",
        shell_quote,
    );
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let data = entry.open_data().map_err(|e| e.to_string())?;

    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(&command)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run the MDA: {e}"))?;
    let written = (|| -> std::io::Result<()> {
        let Some(stdin) = child.stdin.take() else {
            return Ok(());
        };
        let mut w = std::io::BufWriter::new(stdin);
        write!(
            w,
            "From: Mail Delivery System <MAILER-DAEMON@{host}>\n\
             To: {login}\n\
             Subject: Undelivered mail returned to sender\n\
             Date: {date}\n\
             Auto-Submitted: auto-replied\n\
             \n\
             esmtp on {host} could not deliver your message (queue id {id})\n\
             to: {to}\n\
             \n\
             Reason: {why}\n\
             \n\
             ----- The original message follows -----\n\n",
            date = chrono::Local::now().to_rfc2822(),
            id = entry.id(),
            to = entry.meta.recipients.join(", "),
        )?;
        let mut r = BufReader::new(data);
        let mut line = Vec::new();
        loop {
            line.clear();
            if r.read_until(b'\n', &mut line)? == 0 {
                break;
            }
            if line.ends_with(b"\r\n") {
                line.truncate(line.len() - 2);
                line.push(b'\n');
            }
            w.write_all(&line)?;
        }
        w.flush()
    })();
    let status = child.wait().map_err(|e| e.to_string())?;
    written.map_err(|e| format!("writing to the MDA: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the MDA `{command}` failed ({status})"))
    }
}
