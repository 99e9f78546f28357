//! One mail transaction: MAIL FROM with its parameters (BODY, SIZE, DSN,
//! SMTPUTF8), RCPT TO for every recipient (pipelined when offered), DATA.

use super::super::reply::Reply;
use super::super::{Envelope, MessageOptions};
use super::error::{status_for, NoReply};
use super::{say, warn, Connection};
use crate::exit::{self, Failure};
use crate::mail_params::BodyType;
use std::io::Read;

/// Reject what would break the command line or smuggle another command.
fn check_address(what: &str, addr: &str) -> Result<(), Failure> {
    let bad =
        |c: char| c.is_control() || c == '<' || c == '>' || crate::address::is_line_separator(c);
    if addr.chars().any(bad) {
        return Err(Failure::new(
            exit::DATAERR,
            format!("{what} address {addr:?} contains characters that cannot go into SMTP"),
        ));
    }
    Ok(())
}

/// RFC 3461 xtext.
fn xtext(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if (b'!'..=b'~').contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

/// The replies to MAIL, RCPT (when pipelined, all of them) and DATA (when
/// pipelined with a single recipient), in the order they were read.
struct EnvelopeReplies {
    mail: Reply,
    /// `None` when not pipelined: each RCPT is sent when its turn comes.
    rcpt: Option<std::vec::IntoIter<Reply>>,
    data: Option<Reply>,
}

/// Reject an envelope that cannot go into SMTP commands.
fn check_envelope(envelope: &Envelope) -> Result<(), Failure> {
    check_address("sender", &envelope.sender)?;
    if envelope.recipients.is_empty() {
        return Err(Failure::new(exit::DATAERR, "no recipients"));
    }
    for r in &envelope.recipients {
        check_address("recipient", r)?;
    }
    Ok(())
}

impl Connection {
    /// One transaction. On a refusal before DATA the transaction is reset
    /// and the connection stays usable.
    pub(crate) fn send(
        &mut self,
        envelope: &Envelope,
        options: &MessageOptions,
        message: &mut dyn Read,
    ) -> Result<(), Failure> {
        if self.broken {
            return Err(Failure::tempfail(format!(
                "the connection to {} was lost",
                self.server
            )));
        }
        self.settled.take();
        check_envelope(envelope)?;
        let (envelope, smtputf8) = self.wire_envelope(envelope, options)?;
        let envelope = &envelope;
        let (mail, notify) = self.mail_command(envelope, options, smtputf8)?;
        let rcpt_lines: Vec<String> = envelope
            .recipients
            .iter()
            .map(|rcpt| match &notify {
                Some(n) => format!("RCPT TO:<{rcpt}> NOTIFY={n}"),
                None => format!("RCPT TO:<{rcpt}>"),
            })
            .collect();
        let mut replies = self.send_envelope(&mail, &rcpt_lines)?;
        // A pipelined DATA that got 354 leaves the server reading a message:
        // a transaction abandoned now must drop the connection, not RSET.
        let in_data = replies.data.as_ref().is_some_and(Reply::is_intermediate);
        if let Some(r) = replies.data.as_ref().filter(|r| r.is_positive()) {
            return Err(self.unexpected(r, "DATA"));
        }
        self.accept_sender(&envelope.sender, &replies.mail, in_data)?;
        self.accept_recipients(envelope, &rcpt_lines, &mut replies.rcpt, in_data)?;
        self.start_data(replies.data)?;
        self.transfer_body(message)
    }

    /// The MAIL FROM command with its parameters (BODY, SIZE, RET, ENVID,
    /// SMTPUTF8) as far as the server offers them, and the NOTIFY value for
    /// every RCPT when DSN is used.
    fn mail_command(
        &self,
        envelope: &Envelope,
        options: &MessageOptions,
        smtputf8: bool,
    ) -> Result<(String, Option<String>), Failure> {
        let caps = &self.caps;
        if let (Some(size), Some(limit @ 1..)) = (options.size, caps.size) {
            if size > limit {
                return Err(Failure::software(format!(
                "the message is {size} bytes but {} accepts at most {limit} (SIZE); nothing was sent",
                self.server
            )));
            }
        }

        let mut mail = format!("MAIL FROM:<{}>", envelope.sender);
        self.push_body_type(&mut mail, options);
        if let (Some(size), Some(_)) = (options.size, caps.size) {
            mail.push_str(&format!(" SIZE={size}"));
        }
        let dsn = &options.dsn;
        let wants_dsn = dsn.notify.is_some() || dsn.ret.is_some() || dsn.envid.is_some();
        let use_dsn = wants_dsn && caps.dsn;
        if wants_dsn && !caps.dsn {
            warn(&format!(
                "{} does not offer DSN; the delivery status notification request \
                 (-N/-R/-V) is ignored",
                self.server
            ));
        }
        if use_dsn {
            if let Some(ret) = &dsn.ret {
                mail.push_str(&format!(" RET={ret}"));
            }
            if let Some(envid) = &dsn.envid {
                mail.push_str(&format!(" ENVID={}", xtext(envid)));
            }
        }
        if smtputf8 {
            mail.push_str(" SMTPUTF8");
        }
        let notify = match (&dsn.notify, use_dsn) {
            (Some(n), true) => Some(n.to_string()),
            _ => None,
        };
        Ok((mail, notify))
    }

    /// The envelope as it goes on the wire, and whether MAIL FROM carries
    /// SMTPUTF8 (RFC 6531). SMTPUTF8 is used when the server offers it and
    /// the message needs it: an envelope address that is not ASCII, a
    /// header esmtp added with such an address, or UTF-8 in the header
    /// block; the addresses then go as written. Without it every domain
    /// goes as A-labels (IDNA), and an address whose local part is not
    /// ASCII fails the message before MAIL FROM (65: no conversion can
    /// carry it).
    fn wire_envelope<'e>(
        &self,
        envelope: &'e Envelope,
        options: &MessageOptions,
    ) -> Result<(std::borrow::Cow<'e, Envelope>, bool), Failure> {
        use std::borrow::Cow;
        let all = || std::iter::once(&envelope.sender).chain(&envelope.recipients);
        let utf8_envelope = all().any(|a| !a.is_ascii());
        let needed = utf8_envelope || options.utf8_added_header.is_some() || options.utf8_headers;
        if self.caps.smtputf8 && needed {
            return Ok((Cow::Borrowed(envelope), true));
        }
        let lacks = |what: &str, addr: &str| {
            Failure::new(
                exit::DATAERR,
                format!(
                    "{} does not offer SMTPUTF8, so the {what} <{addr}> cannot be sent: \
                     its local part is not ASCII and has no ASCII form; nothing was sent \
                     (use an ASCII address, or a server that offers SMTPUTF8)",
                    self.server
                ),
            )
        };
        if let Some(addr) = &options.utf8_added_header {
            return Err(lacks(
                "address esmtp writes into the From:/Sender: header",
                addr,
            ));
        }
        if !utf8_envelope {
            return Ok((Cow::Borrowed(envelope), false));
        }
        let convert = |what: &str, addr: &str| match crate::address::ascii_address(addr) {
            Ok(a) => Ok(a.into_owned()),
            Err(crate::address::NotAscii::LocalPart) => Err(lacks(what, addr)),
            Err(crate::address::NotAscii::Domain(e)) => Err(Failure::new(
                exit::DATAERR,
                format!("the {what} <{addr}> cannot be sent: {e}; nothing was sent"),
            )),
        };
        let sender = convert("sender address", &envelope.sender)?;
        let recipients = envelope
            .recipients
            .iter()
            .map(|r| convert("recipient address", r))
            .collect::<Result<_, _>>()?;
        Ok((Cow::Owned(Envelope { sender, recipients }), false))
    }

    /// ` BODY=7BIT` or ` BODY=8BITMIME` when the server offers 8BITMIME; a
    /// warning when an 8-bit message goes to a server that does not.
    fn push_body_type(&self, mail: &mut String, options: &MessageOptions) {
        let eight_bit = match options.body_type {
            Some(BodyType::EightBitMime) => true,
            Some(BodyType::SevenBit) => false,
            // Unknown content is declared 8-bit: the label is harmless on
            // 7-bit text, its absence is wrong on 8-bit text.
            None => options.eight_bit || options.streamed,
        };
        if self.caps.eight_bit_mime {
            match options.body_type {
                Some(BodyType::SevenBit) => mail.push_str(" BODY=7BIT"),
                _ if eight_bit => mail.push_str(" BODY=8BITMIME"),
                _ => {}
            }
        } else if options.body_type == Some(BodyType::EightBitMime) || options.eight_bit {
            warn(&format!(
                "{} does not offer 8BITMIME; the 8-bit message is sent as it is",
                self.server
            ));
        }
    }

    /// Send MAIL (and, with PIPELINING, every RCPT and maybe DATA) and read
    /// the replies to what was sent.
    ///
    /// With PIPELINING, MAIL and every RCPT go out in one write and the
    /// replies are read in order, one per command: one round trip instead
    /// of 1 + n. With a single recipient DATA joins them (a server must
    /// refuse DATA when no recipient was accepted); with several, DATA
    /// waits until every recipient is known to be accepted, so that none
    /// gets the message unless all do.
    fn send_envelope(
        &mut self,
        mail: &str,
        rcpt_lines: &[String],
    ) -> Result<EnvelopeReplies, Failure> {
        if !self.caps.pipelining {
            let r = self
                .command(mail)
                .map_err(|t| self.failure(t, "MAIL FROM"))?;
            return Ok(EnvelopeReplies {
                mail: r,
                rcpt: None,
                data: None,
            });
        }
        let data_pipelined = rcpt_lines.len() == 1;
        let mut batch = mail.to_string();
        for l in rcpt_lines {
            batch.push_str("\r\n");
            batch.push_str(l);
        }
        if data_pipelined {
            batch.push_str("\r\nDATA");
        }
        batch.push_str("\r\n");
        self.write(&batch)
            .map_err(|t| self.failure(t, "MAIL FROM"))?;
        let mail_reply = self.read().map_err(|t| self.failure(t, "MAIL FROM"))?;
        let mut replies = Vec::with_capacity(rcpt_lines.len());
        for _ in rcpt_lines {
            replies.push(self.read().map_err(|t| self.failure(t, "RCPT TO"))?);
        }
        let mut data_reply = None;
        if data_pipelined {
            data_reply = Some(self.read().map_err(|t| self.failure(t, "DATA"))?);
        }
        Ok(EnvelopeReplies {
            mail: mail_reply,
            rcpt: Some(replies.into_iter()),
            data: data_reply,
        })
    }

    /// The reply to MAIL FROM: a refusal ends the transaction.
    fn accept_sender(&mut self, sender: &str, reply: &Reply, in_data: bool) -> Result<(), Failure> {
        if self.verbose {
            say(format_args!("From {sender}: {}", self.show(reply)));
        }
        if reply.is_positive() {
            return Ok(());
        }
        if !reply.is_negative() {
            return Err(self.unexpected(reply, "MAIL FROM"));
        }
        let f = Failure::new(
            status_for(reply, exit::SOFTWARE),
            format!(
                "{} refused the sender <{sender}>: {}",
                self.server,
                self.settle(reply)
            ),
        );
        self.reset_or_abandon(in_data);
        Err(f)
    }

    /// The replies to every RCPT TO (sent now when not pipelined): one
    /// refusal and the message goes to no one.
    fn accept_recipients(
        &mut self,
        envelope: &Envelope,
        rcpt_lines: &[String],
        pipelined: &mut Option<std::vec::IntoIter<Reply>>,
        in_data: bool,
    ) -> Result<(), Failure> {
        let mut refused = Vec::new();
        let mut permanent = false;
        for (rcpt, line) in envelope.recipients.iter().zip(rcpt_lines) {
            let reply = match pipelined {
                Some(replies) => match replies.next() {
                    Some(r) => r,
                    None => return Err(self.failure(NoReply::Closed, "RCPT TO")),
                },
                None => self.command(line).map_err(|t| self.failure(t, "RCPT TO"))?,
            };
            if self.verbose {
                say(format_args!("To {rcpt}: {}", self.show(&reply)));
            }
            if reply.is_negative() {
                permanent |= !reply.is_transient();
                refused.push(format!("<{rcpt}>: {}", self.settle(&reply)));
            } else if !reply.is_positive() {
                return Err(self.unexpected(&reply, "RCPT TO"));
            }
        }
        if refused.is_empty() {
            return Ok(());
        }
        self.reset_or_abandon(in_data);
        let status = if permanent {
            exit::NOUSER
        } else {
            exit::TEMPFAIL
        };
        let n = envelope.recipients.len();
        Err(Failure::new(
            status,
            format!(
                "{} refused {} of {n} recipient{}, so the message was not sent to anyone: {}",
                self.server,
                refused.len(),
                if n == 1 { "" } else { "s" },
                refused.join("; ")
            ),
        ))
    }

    /// DATA (unless it was pipelined and `pipelined` is its reply): the
    /// server must answer 354.
    fn start_data(&mut self, pipelined: Option<Reply>) -> Result<(), Failure> {
        let data_reply = match pipelined {
            Some(r) => r,
            None => self.command("DATA").map_err(|t| self.failure(t, "DATA"))?,
        };
        if data_reply.is_negative() {
            let f = Failure::new(
                status_for(&data_reply, exit::SOFTWARE),
                format!("{} refused DATA: {}", self.server, self.settle(&data_reply)),
            );
            self.reset();
            return Err(f);
        }
        if !data_reply.is_intermediate() {
            return Err(self.unexpected(&data_reply, "DATA"));
        }
        if self.verbose {
            say(format_args!("Sending the message"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envid_is_xtext() {
        assert_eq!(xtext("a+b=c d"), "a+2Bb+3Dc+20d");
    }
}
