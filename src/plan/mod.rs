//! The typed routing plan: what an esmtprc file means, checked and resolved.
//!
//! Plain data only. No I/O happens here; the compiler (`crate::config`) builds a
//! plan from source text, the cache stores it, and routing/transport read it.

mod oauth2;
mod octets;

pub use oauth2::{ClientSecret, OAuth2, OAuth2Preset, OAuth2Provider};
pub use octets::{escape_bytes, Octets, Secret};

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why an identity cannot send: an error in the configuration that concerns
/// only this identity's smarthost (an unresolvable port, half credentials).
/// The file still compiles, as esmtp 1.2 accepts it; local delivery and the
/// other identities work, and only a submission through this identity fails
/// (status 78, before connecting) with this reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unusable {
    /// The diagnostic code (`E005`...), as `esmtp check` reports it.
    pub code: String,
    /// 1-based line of the statement at fault.
    pub line: u32,
    /// The diagnostic's message.
    pub message: String,
    /// Its suggested fix, if any.
    pub help: Option<String>,
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {} [{}]", self.line, self.message, self.code)?;
        if let Some(h) = &self.help {
            write!(f, " (help: {h})")?;
        }
        Ok(())
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
    /// `aliases FILE`: the compiled aliases file (extension, msmtp's keyword).
    pub aliases: Option<Aliases>,
    /// `logfile`, `syslog` before the first `identity`: the delivery log of
    /// every identity that sets none of its own (extension, msmtp's keywords).
    pub log: LogSettings,
}

/// Where delivery attempts are logged (`logfile`, `syslog`). Each part
/// unset (`None`) in an identity is taken from the file's global one.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LogSettings {
    /// `logfile PATH`: absolute, `~/`, or `-` for standard error.
    pub file: Option<String>,
    /// `syslog on|off|FACILITY`.
    pub syslog: Option<Syslog>,
}

impl LogSettings {
    /// The settings in force for an identity: its own parts, the global
    /// ones for the rest.
    pub fn over(&self, global: &LogSettings) -> LogSettings {
        LogSettings {
            file: self.file.clone().or_else(|| global.file.clone()),
            syslog: self.syslog.or(global.syslog),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.file.is_none() && self.syslog.is_none()
    }
    /// The settings in force for `identity`, given the file's `global` ones.
    pub fn of(global: &LogSettings, identity: &Identity) -> LogSettings {
        match &identity.log {
            Some(own) => own.over(global),
            None => global.clone(),
        }
    }
}

/// `syslog off`, or on with a facility (msmtp's names). Serialized as
/// written in a dump: `off` or the facility's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Syslog {
    Off,
    On(Facility),
}

impl From<Syslog> for String {
    fn from(s: Syslog) -> String {
        match s {
            Syslog::Off => "off".into(),
            Syslog::On(f) => f.name(),
        }
    }
}

impl TryFrom<String> for Syslog {
    type Error = String;
    fn try_from(s: String) -> Result<Syslog, String> {
        match s.as_str() {
            "off" => Ok(Syslog::Off),
            name => Facility::parse(name)
                .map(Syslog::On)
                .ok_or_else(|| format!("not a syslog facility: {name}")),
        }
    }
}

/// The syslog facilities msmtp accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Facility {
    Mail,
    User,
    /// LOG_LOCAL0 to LOG_LOCAL7.
    Local(u8),
}

impl Facility {
    /// The facility as `syslog(3)` numbers it (already shifted: LOG_MAIL is
    /// 2 << 3), for the PRI of a message.
    pub fn code(self) -> u8 {
        match self {
            Facility::User => 1 << 3,
            Facility::Mail => 2 << 3,
            Facility::Local(n) => (16 + n.min(7)) << 3,
        }
    }
    /// msmtp's name: `LOG_MAIL`.
    pub fn name(self) -> String {
        match self {
            Facility::User => "LOG_USER".into(),
            Facility::Mail => "LOG_MAIL".into(),
            Facility::Local(n) => format!("LOG_LOCAL{}", n.min(7)),
        }
    }
    /// The facility msmtp's `name` stands for.
    pub fn parse(name: &str) -> Option<Facility> {
        match name {
            "LOG_MAIL" => Some(Facility::Mail),
            "LOG_USER" => Some(Facility::User),
            _ => {
                let n = name.strip_prefix("LOG_LOCAL")?;
                match n.as_bytes() {
                    [d @ b'0'..=b'7'] => Some(Facility::Local(d - b'0')),
                    _ => None,
                }
            }
        }
    }
}

/// A compiled aliases file (`/etc/aliases` format, msmtp's `aliases`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Aliases {
    /// The file as written in the configuration (absolute or `~/`).
    pub path: String,
    /// The file it names, `~/` expanded (a dependency of the cached plan).
    pub resolved: String,
    /// Sorted by name (lowercase: names match without case), unique.
    pub entries: Vec<(String, Vec<String>)>,
    /// `default:`: the catch-all for names not listed.
    pub default: Option<Vec<String>>,
    /// SHA-256 of the bytes compiled: the cache records the file only when
    /// it still holds them (an edit while compiling must not be missed).
    pub sha256: [u8; 32],
    /// Set when the file cannot be used (unreadable, or errors in it): an
    /// error that waits for use, like an unusable identity's. A message
    /// with a recipient without `@` fails with this reason (78); mail to
    /// full addresses still goes. Such a plan is never cached.
    pub unusable: Option<String>,
}

impl Aliases {
    /// The addresses `name` stands for, when it is listed.
    pub fn get(&self, name: &str) -> Option<&[String]> {
        let key = name.to_ascii_lowercase();
        self.entries
            .binary_search_by(|(n, _)| n.as_str().cmp(&key))
            .ok()
            .map(|i| self.entries[i].1.as_slice())
    }
}

/// One identity (or the unnamed section).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The identity's address as written (`identity ADDR`); `None` for the
    /// unnamed section before the first `identity`.
    pub address: Option<String>,
    pub relay: Relay,
    /// The AUTH user name, as bytes (see [`Octets`]).
    pub username: Option<Octets>,
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
    /// Per-identity TLS trust and client files (extensions
    /// `tls_fingerprint`, `tls_trust_file`, `tls_cert_file`, `tls_key_file`).
    /// Paths are kept as written (absolute or `~/`) and read only when TLS
    /// is used, like `~/.authenticate`. Boxed: most identities have none.
    pub tls_files: Option<Box<TlsFiles>>,
    /// Set when an error in the file concerns this identity's smarthost:
    /// sending through it fails with this reason, nothing else does.
    /// (Boxed: rare, and a plan may hold many identities.)
    pub unusable: Option<Box<Unusable>>,
    /// This identity's own `logfile`, `syslog` (each replaces the global
    /// one, see [`Plan::log`]). Boxed: most identities have none.
    pub log: Option<Box<LogSettings>>,
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
            tls_files: None,
            unusable: None,
            log: None,
        }
    }
}

/// `tls_fingerprint`, `tls_trust_file`, `tls_cert_file`, `tls_key_file`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TlsFiles {
    /// SHA-256 of the server's end-entity certificate: when set, it replaces
    /// the CA chain and host name checks (as msmtp's `tls_fingerprint`).
    pub fingerprint: Option<[u8; 32]>,
    /// CA bundle trusted in place of `~/.authenticate/ca.pem`.
    pub trust_file: Option<String>,
    /// Client certificate in place of `~/.authenticate/.../smtp-starttls.pem`.
    pub cert_file: Option<String>,
    /// Its private key, when not in `cert_file`.
    pub key_file: Option<String>,
}

/// A SHA-256 fingerprint as msmtp and `openssl x509 -fingerprint` write it,
/// with esmtp's `SHA256:` prefix: `SHA256:AB:CD:...`.
pub fn fingerprint_text(fp: &[u8]) -> String {
    let hex: Vec<String> = fp.iter().map(|b| format!("{b:02X}")).collect();
    format!("SHA256:{}", hex.join(":"))
}

/// Where the smarthost is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relay {
    pub host: String,
    /// Numeric port; service names are resolved at compile time. 0 only in
    /// an unusable identity whose `hostname` could not be resolved (`host`
    /// then holds the value as written).
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
        if self.port == 0 {
            // A `hostname` whose port could not be resolved (the identity
            // is unusable): the value as written.
            f.write_str(&self.host)
        } else if self.host.contains(':') {
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
    /// `oauth2 ...`: an access token from esmtp's own OAuth 2 token store,
    /// refreshed at the token endpoint when it is about to expire.
    OAuth2(Box<OAuth2>),
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
    /// RFC 7628: a bearer token, like XOAUTH2. Extension.
    Oauthbearer,
    /// RFC 7677. Extension.
    ScramSha256,
    /// RFC 5802. Extension.
    ScramSha1,
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
            AuthMech::Oauthbearer => "OAUTHBEARER",
            AuthMech::ScramSha256 => "SCRAM-SHA-256",
            AuthMech::ScramSha1 => "SCRAM-SHA-1",
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
            AuthMech::Oauthbearer => "oauthbearer",
            AuthMech::ScramSha256 => "scram-sha-256",
            AuthMech::ScramSha1 => "scram-sha-1",
        }
    }
    /// Does this mechanism put the secret itself on the wire (readable by
    /// anyone on the way of an unencrypted connection)? CRAM-MD5, NTLM and
    /// SCRAM send only proofs of it.
    pub fn reveals_secret(self) -> bool {
        match self {
            AuthMech::Plain | AuthMech::Login | AuthMech::Xoauth2 | AuthMech::Oauthbearer => true,
            AuthMech::CramMd5 | AuthMech::Ntlm | AuthMech::ScramSha256 | AuthMech::ScramSha1 => {
                false
            }
        }
    }
    /// Is the secret an OAuth 2 access token rather than a password?
    pub fn takes_token(self) -> bool {
        matches!(self, AuthMech::Xoauth2 | AuthMech::Oauthbearer)
    }
    pub const ALL: [AuthMech; 8] = [
        AuthMech::Plain,
        AuthMech::Login,
        AuthMech::CramMd5,
        AuthMech::Ntlm,
        AuthMech::Xoauth2,
        AuthMech::Oauthbearer,
        AuthMech::ScramSha256,
        AuthMech::ScramSha1,
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

    /// The shell command for one local delivery: the template with `%T` as
    /// the recipients and `%F` as the envelope sender, each quoted for the
    /// shell ([`shell_quote`]), and `%u` as the login.
    pub fn shell_command(&self, login: &str, recipients: &[String], sender: &str) -> String {
        self.expand(login, recipients, sender, shell_quote)
    }
}

/// Quote `value` as one word for a POSIX shell. Words made only of
/// characters that no shell treats specially stay as they are; anything
/// else goes inside single quotes, where nothing is special, with each `'`
/// written as `'\''`.
pub fn shell_quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./_-".contains(&b));
    if plain {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
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
            aliases: None,
            log: LogSettings::default(),
        }
    }

    /// The delivery log settings in force for `identity`.
    pub fn log_for(&self, identity: &Identity) -> LogSettings {
        LogSettings::of(&self.log, identity)
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
            if let Some(SecretSource::OAuth2(o)) = &mut id.secret {
                if let Some(ClientSecret::Value(s)) = &mut o.client_secret {
                    *s = Secret::new(Secret::REDACTED);
                }
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

    /// `/usr/bin/procmail -f %F -d %T`.
    fn procmail() -> Template {
        Template {
            source: "/usr/bin/procmail -f %F -d %T".into(),
            parts: vec![
                TemplatePart::Literal("/usr/bin/procmail -f ".into()),
                TemplatePart::Sender,
                TemplatePart::Literal(" -d ".into()),
                TemplatePart::Recipients,
            ],
        }
    }

    #[test]
    fn template_expansion_quotes_substitutions() {
        let out = procmail().expand("me", &["a".into(), "b".into()], "s@x", |v| format!("<{v}>"));
        assert_eq!(out, "/usr/bin/procmail -f <s@x> -d <a> <b>");
    }

    #[test]
    fn shell_command_quotes_each_substitution() {
        let cmd = procmail().shell_command("me", &["bob".into(), "o'hara".into()], "a@b");
        assert_eq!(cmd, "/usr/bin/procmail -f a@b -d bob 'o'\\''hara'");
    }
}
