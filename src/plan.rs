//! The typed routing plan: what an esmtprc file means, checked and resolved.
//!
//! Plain data only. No I/O happens here; the compiler (`crate::config`) builds a
//! plan from source text, the cache stores it, and routing/transport read it.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A secret value (password, passphrase). Its `Debug` and `Display` never show
/// the value; serde serializes it in clear because the compiled-plan cache
/// must be able to restore it (the cache file is 0600 in a 0700 directory).
/// Anything shown to a user (dump, -v, transcripts) must go through
/// [`Plan::redacted`] or print `Secret` with `{}`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub const REDACTED: &'static str = "********";

    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The value itself. Call only where the secret is actually used
    /// (the AUTH exchange, decrypting a key).
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(")?;
        f.write_str(Self::REDACTED)?;
        f.write_str(")")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::REDACTED)
    }
}

/// The whole compiled configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// In file order. Index 0 is the unnamed section when the file has
    /// statements before the first `identity` (or the file is empty).
    pub identities: Vec<Identity>,
    /// Index into `identities` of the default identity.
    pub default_identity: usize,
    /// Global `mda` command template.
    pub mda: Option<Template>,
    /// Global `force_mda` user: every message goes to this user through the MDA.
    pub force_mda: Option<String>,
    /// Durable queue settings (extension).
    pub queue: QueueSettings,
}

/// One identity (or the unnamed section).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The identity's address as written (`identity ADDR`); `None` for the
    /// unnamed section before the first `identity`.
    pub address: Option<String>,
    pub relay: Relay,
    pub username: Option<String>,
    pub secret: Option<SecretSource>,
    pub tls: TlsPolicy,
    /// The file has a `starttls` statement for this identity: an explicit
    /// `starttls disabled` is the only opt-out from TLS for credentials
    /// (the default is not, see SPEC §9).
    pub tls_explicit: bool,
    pub certificate_passphrase: Option<Secret>,
    pub preconnect: Option<String>,
    pub postconnect: Option<String>,
    pub qualifydomain: Option<String>,
    pub helo: Option<String>,
    pub force_sender: Option<Template>,
    pub force_reverse_path: Option<Template>,
    /// Add `Message-ID:` when missing (default true).
    pub message_id: bool,
    /// Connect and per-reply timeout in seconds (extension `timeout`, default 60).
    pub timeout_secs: u64,
    /// Insist on one AUTH mechanism (extension `auth`).
    pub auth: Option<AuthMech>,
}

impl Identity {
    pub const DEFAULT_TIMEOUT_SECS: u64 = 60;

    /// An identity with every setting at its default: relay to localhost:25,
    /// no credentials, no TLS.
    pub fn new(address: Option<String>) -> Self {
        Identity {
            address,
            relay: Relay::default(),
            username: None,
            secret: None,
            tls: TlsPolicy::Disabled,
            tls_explicit: false,
            certificate_passphrase: None,
            preconnect: None,
            postconnect: None,
            qualifydomain: None,
            helo: None,
            force_sender: None,
            force_reverse_path: None,
            message_id: true,
            timeout_secs: Self::DEFAULT_TIMEOUT_SECS,
            auth: None,
        }
    }
}

/// Where the smarthost is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relay {
    pub host: String,
    /// Numeric port; service names are resolved at compile time.
    pub port: u16,
    /// False when no `hostname` statement was given (localhost:25 fallback).
    pub explicit: bool,
}

impl Default for Relay {
    fn default() -> Self {
        Relay {
            host: "localhost".into(),
            port: 25,
            explicit: false,
        }
    }
}

impl fmt::Display for Relay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Where the AUTH secret comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SecretSource {
    /// `password ...` in the file.
    Password(Secret),
    /// `passwordeval "COMMAND"`: the first line the command prints.
    Eval(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsPolicy {
    Disabled,
    Enabled,
    Required,
    /// TLS from the first byte (SMTPS, usually port 465). Extension.
    Implicit,
}

impl TlsPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsPolicy::Disabled => "disabled",
            TlsPolicy::Enabled => "enabled",
            TlsPolicy::Required => "required",
            TlsPolicy::Implicit => "implicit",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthMech {
    Plain,
    Login,
    CramMd5,
    Ntlm,
    Xoauth2,
}

impl AuthMech {
    /// The SASL name as the server advertises it.
    pub fn sasl_name(self) -> &'static str {
        match self {
            AuthMech::Plain => "PLAIN",
            AuthMech::Login => "LOGIN",
            AuthMech::CramMd5 => "CRAM-MD5",
            AuthMech::Ntlm => "NTLM",
            AuthMech::Xoauth2 => "XOAUTH2",
        }
    }
    /// The name as written in esmtprc (`auth cram-md5`).
    pub fn config_name(self) -> &'static str {
        match self {
            AuthMech::Plain => "plain",
            AuthMech::Login => "login",
            AuthMech::CramMd5 => "cram-md5",
            AuthMech::Ntlm => "ntlm",
            AuthMech::Xoauth2 => "xoauth2",
        }
    }
    pub const ALL: [AuthMech; 5] = [
        AuthMech::Plain,
        AuthMech::Login,
        AuthMech::CramMd5,
        AuthMech::Ntlm,
        AuthMech::Xoauth2,
    ];
}

/// A parsed `%`-template: `force sender`, `force reverse_path` (`%u`, `%%`) or
/// the MDA command (`%T`, `%F`, `%%`). The compiler guarantees that only the
/// placeholders valid for the statement appear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    /// The text as written in the file.
    pub source: String,
    pub parts: Vec<TemplatePart>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TemplatePart {
    Literal(String),
    /// `%u`: the login name of the user running esmtp.
    Login,
    /// `%T`: the local recipients, each quoted for the shell.
    Recipients,
    /// `%F`: the envelope sender, quoted for the shell.
    Sender,
}

impl Template {
    /// Expand the template; `quote` is applied to substituted values (the MDA
    /// passes a shell quoter, address templates pass identity).
    pub fn expand(
        &self,
        login: &str,
        recipients: &[String],
        sender: &str,
        quote: impl Fn(&str) -> String,
    ) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                TemplatePart::Literal(s) => out.push_str(s),
                TemplatePart::Login => out.push_str(&quote(login)),
                TemplatePart::Sender => out.push_str(&quote(sender)),
                TemplatePart::Recipients => {
                    let quoted: Vec<String> = recipients.iter().map(|r| quote(r)).collect();
                    out.push_str(&quoted.join(" "));
                }
            }
        }
        out
    }
}

/// Durable queue settings (extension; global).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueSettings {
    pub mode: QueueMode,
    /// Queue directory; `None` means the default (`$XDG_DATA_HOME/esmtp/queue`
    /// or `~/.local/share/esmtp/queue`).
    pub dir: Option<String>,
    /// Give up on a message after this many seconds in the queue.
    pub lifetime_secs: u64,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            mode: QueueMode::Disabled,
            dir: None,
            lifetime_secs: 5 * 24 * 3600,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueMode {
    /// Classic behaviour: send now, fail with a status.
    Disabled,
    /// Store durably, then try to deliver at once in the foreground.
    Enabled,
    /// Store durably, then deliver from a detached background process.
    Background,
}

impl Plan {
    /// The plan of an empty file: one unnamed default identity relaying to
    /// localhost:25 without authentication.
    pub fn empty() -> Self {
        Plan {
            identities: vec![Identity::new(None)],
            default_identity: 0,
            mda: None,
            force_mda: None,
            queue: QueueSettings::default(),
        }
    }

    pub fn default_identity(&self) -> &Identity {
        &self.identities[self.default_identity]
    }

    /// A copy with every secret replaced by [`Secret::REDACTED`], for showing.
    pub fn redacted(&self) -> Plan {
        let mut p = self.clone();
        for id in &mut p.identities {
            if let Some(SecretSource::Password(s)) = &mut id.secret {
                *s = Secret::new(Secret::REDACTED);
            }
            if let Some(s) = &mut id.certificate_passphrase {
                *s = Secret::new(Secret::REDACTED);
            }
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_shows_in_debug_or_display() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{s}").contains("hunter2"));
        let mut id = Identity::new(Some("a@b".into()));
        id.secret = Some(SecretSource::Password(s.clone()));
        assert!(!format!("{id:?}").contains("hunter2"));
    }

    #[test]
    fn redacted_plan_holds_no_secret() {
        let mut plan = Plan::empty();
        plan.identities[0].secret = Some(SecretSource::Password(Secret::new("pw1")));
        plan.identities[0].certificate_passphrase = Some(Secret::new("pw2"));
        let json = serde_json::to_string(&plan.redacted()).unwrap();
        assert!(!json.contains("pw1") && !json.contains("pw2"));
        assert!(serde_json::to_string(&plan).unwrap().contains("pw1"));
    }

    #[test]
    fn template_expansion_quotes_substitutions() {
        let t = Template {
            source: "/usr/bin/procmail -f %F -d %T".into(),
            parts: vec![
                TemplatePart::Literal("/usr/bin/procmail -f ".into()),
                TemplatePart::Sender,
                TemplatePart::Literal(" -d ".into()),
                TemplatePart::Recipients,
            ],
        };
        let out = t.expand("me", &["a".into(), "b".into()], "s@x", |v| format!("<{v}>"));
        assert_eq!(out, "/usr/bin/procmail -f <s@x> -d <a> <b>");
    }
}
