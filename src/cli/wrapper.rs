//! Entries of the classic esmtp-wrapper's queue as submissions: the stored
//! sendmail arguments read by this command line's flag table, the message
//! made ready by the submission pipeline. The queue's import is handed
//! [`convert_wrapper_entry`] and never reads a command line itself.

use super::{parse, Action};
use crate::plan::Plan;
use crate::queue::legacy::Converted;
use std::ffi::OsString;

/// A wrapper entry (`cmd`: its sendmail arguments as `echo "$@"` wrote
/// them, word-split as the shell did; `mail`: the raw message) made ready
/// exactly as sendmail mode would make it, so that `-F`, `-t`, `force
/// sender`, `qualifydomain` and the rest mean what they mean there.
pub fn convert_wrapper_entry(plan: &Plan, cmd: &str, mail: &[u8]) -> Result<Converted, String> {
    let mut argv: Vec<OsString> = vec!["sendmail".into()];
    argv.extend(cmd.split_whitespace().map(OsString::from));
    let send = match parse(argv).map_err(|f| f.message)? {
        Action::Submit(send) => send,
        _ => {
            return Err(format!(
                "the stored command line is not a submission: {cmd}"
            ))
        }
    };
    let mut input = mail;
    let headers = crate::message::read_headers(&mut input).map_err(|f| f.message)?;
    let ready =
        crate::submit::prepare(plan, &send, &headers, &mut input, |_| {}).map_err(|f| f.message)?;
    Ok(Converted {
        envelope: crate::submit::envelope(&ready.decision),
        options: crate::submit::spooled_options(&send, &ready.spool, ready.message_id.clone()),
        decision: ready.decision,
        message: ready.spool,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Template, TemplatePart};
    use crate::queue::legacy::WrapperEntry;
    use std::io::Read;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn prepare(plan: &Plan, cmd: &str, raw: &[u8]) -> Result<WrapperEntry, String> {
        crate::queue::legacy::wrapper_entry(plan, cmd, raw, convert_wrapper_entry)
    }

    fn send(cmd: &str) -> crate::submit::Request {
        let mut argv: Vec<OsString> = vec!["sendmail".into()];
        argv.extend(cmd.split_whitespace().map(OsString::from));
        match parse(argv).unwrap() {
            Action::Submit(send) => *send,
            other => panic!("{other:?}"),
        }
    }

    fn text(p: &WrapperEntry) -> String {
        let mut out = String::new();
        p.converted.message.crlf().read_to_string(&mut out).unwrap();
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
        assert_eq!(a.dsn.notify, Some(crate::mail_params::Notify::Never));
        assert_eq!(a.recipients, s(&["r@s"]));
    }

    #[test]
    fn prepares_extracted_message() {
        let plan = Plan::empty();
        let raw = b"From: Me <me@x.org>\nTo: a@b, B <c@d>\nBcc: e@f\nSubject: hi\n\nbody\n.line\n";
        let p = prepare(&plan, "-t", raw).unwrap();
        assert!(p.converted.decision.local.is_none());
        assert_eq!(p.meta.recipients, s(&["a@b", "c@d", "e@f"]));
        assert_eq!(p.meta.sender, "me@x.org");
        let text = text(&p);
        assert!(!text.contains("Bcc"));
        assert!(text.contains("Date: "));
        assert!(text.contains("Message-ID: <"));
        assert!(text.ends_with("\r\n\r\nbody\r\n.line\r\n"));
        assert!(!text.replace("\r\n", "").contains('\r'));
        assert_eq!(p.converted.message.size, text.len() as u64);
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
        let local = |p: &WrapperEntry| {
            p.converted
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
