//! AUTH on an open session: which mechanism may go over this connection
//! (credentials never go in clear to another machine by a mechanism that
//! reveals them unless the file says `starttls disabled` itself), the
//! secret (`password`, `passwordeval` or the `oauth2` token store), and
//! the SASL dialogue.

use super::super::auth;
use super::super::hooks;
use super::super::reply::Reply;
use super::super::stream::TapMode;
use super::connect::{ehlo_name, hook_timeout};
use super::error::{status_for, NoReply};
use super::{say, warn, Connection};
use crate::exit::{self, Failure};
use crate::plan::{AuthMech, Identity, SecretSource, TlsPolicy};

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Credentials {
    /// Encrypted, or to this machine: any mechanism.
    Send,
    /// Unencrypted to another machine, and the file says `starttls
    /// disabled` itself: any mechanism, with a warning for those that
    /// reveal the secret.
    Warn,
    /// Unencrypted to another machine otherwise: only mechanisms that do
    /// not reveal the secret (SCRAM, CRAM-MD5, NTLM).
    Conceal,
}

/// May credentials go over this connection, and how? Encrypted or to
/// this machine: yes. Otherwise a mechanism that shows the secret to
/// anyone on the way only when the file turned TLS off itself: no
/// `starttls` statement is not an opt-out (Postfix's `noplaintext`).
pub(crate) fn credentials_policy(
    policy: TlsPolicy,
    explicit: bool,
    encrypted: bool,
    loopback: bool,
) -> Credentials {
    if encrypted || loopback {
        Credentials::Send
    } else if policy == TlsPolicy::Disabled && explicit {
        Credentials::Warn
    } else {
        Credentials::Conceal
    }
}

/// Does this mechanism put the secret itself on the wire (readable by
/// anyone on the way of an unencrypted connection)?
pub(super) fn reveals_secret(m: AuthMech) -> bool {
    m.reveals_secret()
}

/// The secret: the `password`, or the first line `passwordeval` prints
/// (bounded in time by the identity's `timeout`, see [`hooks`]), as bytes:
/// esmtp 1.2 sends them as they are, UTF-8 or not.
/// With `oauth2`, also where the token came from (for `-v`).
pub(super) fn secret(
    identity: &Identity,
) -> Result<(Vec<u8>, Option<super::super::oauth::TokenNote>), Failure> {
    match &identity.secret {
        None => Ok((Vec::new(), None)),
        Some(SecretSource::Password(s)) => Ok((s.expose().to_vec(), None)),
        Some(SecretSource::Eval(command)) => {
            Ok((hooks::password_eval(command, hook_timeout(identity))?, None))
        }
        Some(SecretSource::OAuth2(oauth)) => {
            super::super::oauth::access_token(identity, oauth, hook_timeout(identity))
                .map(|(token, note)| (token, Some(note)))
        }
    }
}

/// Why no mechanism can be used.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NoMechanism {
    /// None offered that we may use ([`auth::choose`]'s explanation).
    Unusable(String),
    /// Those offered would show the secret on an unencrypted connection.
    Cleartext(Vec<AuthMech>),
}

/// The mechanism for AUTH among those `offered`: the one the file insists
/// on, else the strongest, of those `policy` allows.
pub(crate) fn pick(
    offered: &[String],
    insist: Option<AuthMech>,
    policy: &Credentials,
) -> Result<AuthMech, NoMechanism> {
    let mut offered = offered.to_vec();
    let mut withheld: Vec<AuthMech> = Vec::new();
    loop {
        match auth::choose(&offered, insist) {
            Ok(m) if reveals_secret(m) && *policy == Credentials::Conceal => {
                withheld.push(m);
                offered.retain(|o| !o.eq_ignore_ascii_case(m.sasl_name()));
            }
            Ok(m) => return Ok(m),
            Err(why) if withheld.is_empty() => return Err(NoMechanism::Unusable(why)),
            Err(_) => return Err(NoMechanism::Cleartext(withheld)),
        }
    }
}

pub(super) enum AuthError {
    NoReply(NoReply),
    /// The reply that ended the exchange early (a refusal, usually).
    Refused(Reply),
    Protocol(String),
    /// The final reply, after the server explained why (SCRAM's `e=`,
    /// OAUTHBEARER's JSON status), shown safely.
    Explained(Reply, String),
    /// The server could not prove that it knows the password (SCRAM):
    /// nothing more is sent on this connection.
    Unproven(String),
}

/// The longest command line RFC 4954 (section 4) lets AUTH with an initial
/// response take, CRLF included.
const AUTH_LINE_MAX: usize = 512;

/// At most this much of a server's explanation is shown.
const EXPLANATION_CAP: usize = 300;

impl Connection {
    /// AUTH as `user` with `secret`, by the mechanism this connection
    /// allows (see [`credentials_policy`]); a failure ends the session.
    pub(super) fn login(
        &mut self,
        identity: &Identity,
        user: &[u8],
        secret: &[u8],
        peer_is_loopback: bool,
    ) -> Result<(), Failure> {
        let policy = credentials_policy(
            identity.tls,
            identity.tls_explicit,
            self.wire.is_tls(),
            peer_is_loopback,
        );
        let chosen = self.mechanism(identity, &policy);
        let r = chosen.and_then(|mech| {
            if policy == Credentials::Warn && reveals_secret(mech) {
                warn(&format!(
                    "sending the password unencrypted to {} with {} (starttls disabled)",
                    self.server,
                    mech.sasl_name()
                ));
            }
            self.authenticate(user, secret, mech)
        });
        if let Err(f) = r {
            self.abort();
            return Err(f);
        }
        Ok(())
    }

    /// The mechanism for AUTH: the one the file insists on, else the
    /// strongest offered, of those the connection allows.
    pub(super) fn mechanism(
        &self,
        identity: &Identity,
        policy: &Credentials,
    ) -> Result<AuthMech, Failure> {
        match pick(&self.caps.auth, identity.auth, policy) {
            Ok(m) => Ok(m),
            Err(NoMechanism::Unusable(why)) => Err(Failure::new(
                exit::NOPERM,
                format!(
                    "cannot authenticate to {}: {why}; nothing was sent",
                    self.server
                ),
            )),
            Err(NoMechanism::Cleartext(withheld)) => {
                Err(self.cleartext_refused(identity, &withheld))
            }
        }
    }

    /// Why the password is not sent, and the fix.
    pub(super) fn cleartext_refused(&self, identity: &Identity, withheld: &[AuthMech]) -> Failure {
        let server = &self.server;
        let names: Vec<&str> = withheld.iter().map(|m| m.sasl_name()).collect();
        let fix = match identity.tls {
            TlsPolicy::Enabled => format!(
                "`starttls enabled` went on without TLS because {server} {}; if it should \
                 offer TLS, someone on the way may have removed it. Write `starttls required` \
                 to never go on without TLS, or `starttls disabled` to accept sending the \
                 password in clear",
                if self.caps.starttls {
                    "refused STARTTLS"
                } else {
                    "did not offer STARTTLS"
                }
            ),
            _ if self.caps.starttls => format!(
                "{server} offers STARTTLS: write `starttls required` in this identity (or \
                 `starttls disabled` to accept sending the password in clear)"
            ),
            _ => "write `starttls required` if the server can use TLS (or `starttls \
                  disabled` to accept sending the password in clear)"
                .to_string(),
        };
        Failure::new(
            exit::CONFIG,
            format!(
                "refusing to send the password to {server} over an unencrypted connection: \
                 {} would show it to anyone on the way, and without a `starttls` statement \
                 the file does not allow that; nothing was sent. {fix}",
                names.join(" and ")
            ),
        )
    }

    pub(super) fn authenticate(
        &mut self,
        user_bytes: &[u8],
        secret: &[u8],
        mech: AuthMech,
    ) -> Result<(), Failure> {
        let user = crate::plan::escape_bytes(user_bytes);
        if self.verbose {
            say(format_args!(
                "Authenticating as {user} with {}",
                mech.sasl_name()
            ));
        }
        self.wire.set_mode(TapMode::Auth);
        let r = self.auth_exchange(mech, user_bytes, secret);
        self.wire.set_mode(TapMode::Commands);
        match r {
            Ok(r) if r.is_positive() => {
                if self.verbose {
                    say(format_args!("Authenticated"));
                }
                self.auth_used = Some(mech);
                Ok(())
            }
            Ok(r) | Err(AuthError::Refused(r)) if r.is_negative() => Err(Failure::new(
                status_for(&r, exit::NOPERM),
                format!(
                    "{} rejected the login of {user} with {}: {}",
                    self.server,
                    mech.sasl_name(),
                    self.show(&r)
                ),
            )),
            Ok(r) | Err(AuthError::Refused(r)) => {
                Err(self.unexpected(&r, &format!("AUTH {}", mech.sasl_name())))
            }
            Err(AuthError::Explained(r, why)) if r.is_negative() => Err(Failure::new(
                status_for(&r, exit::NOPERM),
                format!(
                    "{} rejected the login of {user} with {}: {} (the server's reason: {why})",
                    self.server,
                    mech.sasl_name(),
                    self.show(&r)
                ),
            )),
            Err(AuthError::Explained(r, _)) => {
                Err(self.unexpected(&r, &format!("AUTH {}", mech.sasl_name())))
            }
            Err(AuthError::Unproven(why)) => {
                self.broken = true;
                self.wire.shutdown_now();
                Err(Failure::new(
                    exit::PROTOCOL,
                    format!(
                        "{} did not prove that it knows the password of {user} ({}: {why}); \
                         it may not be the server it claims to be, so nothing more is sent",
                        self.server,
                        mech.sasl_name()
                    ),
                ))
            }
            Err(AuthError::NoReply(t)) => Err(self.failure(t, "authentication")),
            Err(AuthError::Protocol(why)) => {
                // Cancel the exchange as RFC 4954 says.
                let _ = self.command("*");
                Err(Failure::new(
                    exit::PROTOCOL,
                    format!("authentication with {} failed: {why}", mech.sasl_name()),
                ))
            }
        }
    }

    pub(super) fn auth_command(&mut self, line: &str) -> Result<Reply, AuthError> {
        self.command(line).map_err(AuthError::NoReply)
    }

    /// The text of a 334 challenge; anything else ends the exchange.
    pub(super) fn challenge(&self, r: Reply) -> Result<String, AuthError> {
        if r.code == 334 {
            Ok(r.first_text())
        } else if r.is_negative() || r.is_positive() {
            Err(AuthError::Refused(r))
        } else {
            Err(AuthError::Protocol(format!(
                "expected a 334 challenge, got {}",
                self.show(&r)
            )))
        }
    }

    /// `AUTH MECH RESPONSE`, or, when that line would be longer than RFC
    /// 4954 allows, `AUTH MECH` and the response after the server's empty
    /// 334 challenge.
    pub(super) fn initial_response(
        &mut self,
        mech: AuthMech,
        response: &str,
    ) -> Result<Reply, AuthError> {
        let line = format!("AUTH {} {response}", mech.sasl_name());
        if line.len() + 2 <= AUTH_LINE_MAX {
            return self.auth_command(&line);
        }
        let r = self.auth_command(&format!("AUTH {}", mech.sasl_name()))?;
        self.challenge(r)?;
        self.auth_command(response)
    }

    /// The host and port this connection went to, as OAUTHBEARER names
    /// them (`self.server` is the relay as `host:port` or `[v6]:port`).
    fn host_and_port(&self) -> (String, String) {
        match self.server.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => (
                host.trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string(),
                port.to_string(),
            ),
            _ => (self.server.clone(), String::new()),
        }
    }

    /// A server text (OAUTHBEARER's JSON status, SCRAM's `e=`) as it may
    /// be shown: secrets masked (before it is cut, so that no part of a
    /// secret survives at the cut), bounded, controls escaped.
    fn explanation(&self, text: &[u8]) -> String {
        let masked = self.masker.mask(text);
        let cut = &masked[..masked.len().min(EXPLANATION_CAP)];
        let mut shown = super::super::shown::printable(cut);
        if masked.len() > EXPLANATION_CAP {
            shown.push_str(" ...");
        }
        shown
    }

    /// The SCRAM dialogue (RFC 5802 section 5, over RFC 4954): our first
    /// message, the server's salt and iterations, our proof, then the
    /// server's proof, which must be right before anything else is sent.
    fn scram_exchange(
        &mut self,
        mech: AuthMech,
        user: &[u8],
        secret: &[u8],
    ) -> Result<Reply, AuthError> {
        use super::super::scram::{Hash, Scram, ScramError};
        let hash = if mech == AuthMech::ScramSha1 {
            Hash::Sha1
        } else {
            Hash::Sha256
        };
        let (mut scram, first) = Scram::start(hash, user).ok_or_else(|| {
            AuthError::Protocol("no random numbers from the system for the nonce".into())
        })?;
        let r = self.initial_response(mech, &auth::b64(&first))?;
        let c = self.challenge(r)?;
        let server_first = auth::unb64(&c).ok_or_else(|| {
            AuthError::Protocol("the server's first SCRAM message is not base64".into())
        })?;
        let client_final = match scram.client_final(&server_first, secret) {
            Ok(m) => m,
            Err(ScramError::Server(e)) => {
                // Refused before any proof: cancel (RFC 4954) and report.
                let why = format!("e={}", self.explanation(&e));
                let r = self.auth_command("*")?;
                return Err(AuthError::Explained(r, why));
            }
            Err(ScramError::Protocol(why)) => return Err(AuthError::Protocol(why)),
            Err(ScramError::Unproven) => {
                return Err(AuthError::Protocol(
                    "the server's message is not SCRAM".into(),
                ))
            }
        };
        let r = self.auth_command(&auth::b64(&client_final))?;
        if r.is_positive() {
            // Success without the server's proof: it never showed that it
            // knows the password.
            return Err(AuthError::Unproven(
                "it accepted the login without sending its signature".into(),
            ));
        }
        let c = self.challenge(r)?;
        let server_final = auth::unb64(&c)
            .ok_or_else(|| AuthError::Unproven("its final SCRAM message is not base64".into()))?;
        match scram.verify(&server_final) {
            Ok(()) => self.auth_command(""),
            Err(ScramError::Server(e)) => {
                // The server refused our proof and said why; its final
                // reply follows our empty response.
                let why = format!("e={}", self.explanation(&e));
                let last = self.auth_command("")?;
                if last.is_positive() {
                    return Err(AuthError::Unproven(format!(
                        "it accepted the login after refusing it ({why})"
                    )));
                }
                Err(AuthError::Explained(last, why))
            }
            Err(_) => Err(AuthError::Unproven(
                "its signature (v=) is not the one the password gives".into(),
            )),
        }
    }

    /// The AUTH dialogue; the last reply is returned for the caller to
    /// judge.
    pub(super) fn auth_exchange(
        &mut self,
        mech: AuthMech,
        user: &[u8],
        secret: &[u8],
    ) -> Result<Reply, AuthError> {
        match mech {
            AuthMech::Plain => {
                self.auth_command(&format!("AUTH PLAIN {}", auth::plain(user, secret)))
            }
            AuthMech::Login => {
                let r = self.auth_command("AUTH LOGIN")?;
                self.challenge(r)?;
                let r = self.auth_command(&auth::b64(user))?;
                self.challenge(r)?;
                self.auth_command(&auth::b64(secret))
            }
            AuthMech::CramMd5 => {
                let r = self.auth_command("AUTH CRAM-MD5")?;
                let c = self.challenge(r)?;
                let answer = auth::cram_md5(user, secret, &c).ok_or_else(|| {
                    AuthError::Protocol("the CRAM-MD5 challenge is not base64".into())
                })?;
                self.auth_command(&answer)
            }
            AuthMech::Ntlm => {
                let r = self.auth_command(&format!("AUTH NTLM {}", auth::ntlm_negotiate()))?;
                let c = self.challenge(r)?;
                let nonce = auth::ntlm_challenge(&c)
                    .ok_or_else(|| AuthError::Protocol("the NTLM challenge is malformed".into()))?;
                let host = ehlo_name();
                self.auth_command(&auth::ntlm_authenticate(user, secret, &nonce, &host))
            }
            AuthMech::Xoauth2 => {
                let r =
                    self.auth_command(&format!("AUTH XOAUTH2 {}", auth::xoauth2(user, secret)))?;
                if r.code == 334 {
                    // The server explains the failure in a challenge; an
                    // empty answer makes it send the final (negative) reply.
                    self.auth_command("")
                } else {
                    Ok(r)
                }
            }
            AuthMech::Oauthbearer => {
                let (host, port) = self.host_and_port();
                let r =
                    self.initial_response(mech, &auth::oauthbearer(user, &host, &port, secret))?;
                if r.code != 334 {
                    return Ok(r);
                }
                // RFC 7628 section 3.2.2: the failure is a JSON status in a
                // challenge; the dummy response %x01 makes the server send
                // its final (negative) reply.
                let why = match auth::unb64(&r.first_text()) {
                    Some(status) if !status.is_empty() => self.explanation(&status),
                    _ => "none given".to_string(),
                };
                let last = self.auth_command(&auth::b64(b"\x01"))?;
                Err(AuthError::Explained(last, why))
            }
            AuthMech::ScramSha256 | AuthMech::ScramSha1 => self.scram_exchange(mech, user, secret),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_go_in_clear_to_another_machine_only_when_the_file_says_so() {
        use Credentials::*;
        use TlsPolicy::*;
        // (policy, explicit, encrypted, loopback)
        assert_eq!(credentials_policy(Enabled, true, false, false), Conceal);
        assert_eq!(credentials_policy(Required, true, false, false), Conceal);
        assert_eq!(credentials_policy(Disabled, false, false, false), Conceal);
        assert_eq!(credentials_policy(Disabled, true, false, false), Warn);
        assert_eq!(credentials_policy(Enabled, true, true, false), Send);
        assert_eq!(credentials_policy(Enabled, true, false, true), Send);
        assert_eq!(credentials_policy(Disabled, false, false, true), Send);
        assert!(reveals_secret(AuthMech::Plain) && reveals_secret(AuthMech::Login));
        assert!(reveals_secret(AuthMech::Xoauth2));
        assert!(!reveals_secret(AuthMech::CramMd5) && !reveals_secret(AuthMech::Ntlm));
        assert!(reveals_secret(AuthMech::Oauthbearer));
        assert!(!reveals_secret(AuthMech::ScramSha256) && !reveals_secret(AuthMech::ScramSha1));
    }
}
