//! Returning an undeliverable queued message to its sender through the
//! configured MDA (the sender is the local user who ran esmtp): a short
//! report followed by the original message, piped to the MDA as local
//! delivery does (`transport::mda`).

use super::store::LockedEntry;
use crate::plan::Plan;
use crate::transport::mda;
use std::io::{BufReader, Cursor, Read};

/// Pipe a bounce for `entry` into the MDA, addressed to the local user.
pub fn return_to_sender(plan: &Plan, entry: &LockedEntry, why: &str) -> Result<(), String> {
    let Some(template) = &plan.mda else {
        return Err("no mda configured".into());
    };
    let login = crate::sys::login_name();
    let host = crate::sys::hostname();
    let command = template.shell_command(&login, std::slice::from_ref(&login), "MAILER-DAEMON");
    let intro = format!(
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
    );
    let data = entry.open_data().map_err(|e| e.to_string())?;
    let original = crate::message::LfReader::new(BufReader::with_capacity(64 * 1024, data));
    let mut bounce = Cursor::new(intro.into_bytes()).chain(original);
    mda::deliver(&command, &mut bounce, false).map_err(|f| f.message)
}
