//! The one table of esmtprc keywords.
//!
//! The lexer recognises keywords from this table, lowering checks values by
//! their [`ValueType`], the lints and `dump` name settings through it, and the
//! man page (`man/esmtprc.5`) is generated and tested against it. Adding a
//! keyword starts here.

/// What a statement sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Key {
    Identity,
    Hostname,
    Username,
    Password,
    Starttls,
    CertificatePassphrase,
    Preconnect,
    Postconnect,
    Qualifydomain,
    Helo,
    ForceSender,
    ForceReversePath,
    MessageId,
    Mda,
    ForceMda,
    Default,
    // Extensions.
    Timeout,
    Passwordeval,
    Auth,
    Queue,
    QueueDir,
    QueueLifetime,
    TlsFingerprint,
    TlsTrustFile,
    Aliases,
    TlsCertFile,
    TlsKeyFile,
    Oauth2,
    Oauth2ClientId,
    Oauth2ClientSecret,
    Oauth2ClientSecretEval,
    Oauth2AuthUrl,
    Oauth2TokenUrl,
    Oauth2DeviceUrl,
    Oauth2Scope,
    Logfile,
    Syslog,
}

/// The kind of value a keyword takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// No value (`default`).
    None,
    /// An e-mail address (the identity's).
    Address,
    /// `host[:port]`, port a number or a service name.
    HostPort,
    /// Free text.
    Text,
    /// A secret (password, passphrase).
    Secret,
    /// A shell command.
    Command,
    /// A shell command template with `%T`, `%F`, `%%`.
    MdaTemplate,
    /// An address template with `%u`, `%%`.
    AddressTemplate,
    /// A domain or host name.
    Domain,
    /// A local user name.
    User,
    /// One of the listed words.
    Choice(&'static [&'static str]),
    /// A whole number of seconds.
    Seconds,
    /// Seconds, or a number with an `s`, `m`, `h` or `d` suffix.
    Duration,
    /// A file system path.
    Path,
    /// A certificate's SHA-256 fingerprint, `SHA256:` and colon-separated hex.
    Fingerprint,
    /// An `https://` URL (`http://` only to a loopback host).
    Url,
}

impl ValueType {
    /// How the value is shown in documentation.
    pub fn placeholder(self) -> String {
        match self {
            ValueType::None => String::new(),
            ValueType::Address => "ADDRESS".into(),
            ValueType::HostPort => "HOST[:PORT]".into(),
            ValueType::Text => "NAME".into(),
            ValueType::Secret => "SECRET".into(),
            ValueType::Command | ValueType::MdaTemplate => "COMMAND".into(),
            ValueType::AddressTemplate => "ADDRESS".into(),
            ValueType::Domain => "DOMAIN".into(),
            ValueType::User => "USER".into(),
            ValueType::Choice(words) => words.join("|"),
            ValueType::Seconds => "SECONDS".into(),
            ValueType::Duration => "DURATION".into(),
            ValueType::Path => "PATH".into(),
            ValueType::Fingerprint => "SHA256:XX:XX:...".into(),
            ValueType::Url => "URL".into(),
        }
    }
}

/// Where a statement applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// To the identity it appears in (or the unnamed section).
    Identity,
    /// To the whole file, wherever it appears.
    Global,
    /// Structure: starts or marks an identity.
    Section,
}

/// One keyword of the language.
#[derive(Debug, Clone, Copy)]
pub struct Keyword {
    pub key: Key,
    /// The name as documented (`force sender` is two words).
    pub name: &'static str,
    /// Other spellings accepted (esmtp 1.2 aliases).
    pub aliases: &'static [&'static str],
    pub value: ValueType,
    pub scope: Scope,
    /// The default when the statement is absent, as shown to users.
    pub default: &'static str,
    /// One line of documentation.
    pub doc: &'static str,
    /// Not understood by esmtp 1.2 (reported by `check --compat`).
    pub extension: bool,
    /// The value is lexed as in 1.2 after identity/hostname/username/password:
    /// a bare word may contain `:` and keywords.
    pub name_mode: bool,
}

const TLS_WORDS: &[&str] = &["disabled", "enabled", "required", "implicit"];
const SWITCH_WORDS: &[&str] = &["enabled", "disabled"];
/// The `auth` words: `AuthMech::config_name` of every mechanism.
pub(crate) const AUTH_WORDS: &[&str] = &[
    "plain",
    "login",
    "cram-md5",
    "ntlm",
    "xoauth2",
    "oauthbearer",
    "scram-sha-256",
    "scram-sha-1",
];
const QUEUE_WORDS: &[&str] = &["disabled", "enabled", "background"];
const OAUTH2_WORDS: &[&str] = &["google", "microsoft", "custom"];
/// msmtp's `syslog` values: on (the default facility), off, or a facility.
pub const SYSLOG_WORDS: &[&str] = &[
    "on",
    "off",
    "LOG_MAIL",
    "LOG_USER",
    "LOG_LOCAL0",
    "LOG_LOCAL1",
    "LOG_LOCAL2",
    "LOG_LOCAL3",
    "LOG_LOCAL4",
    "LOG_LOCAL5",
    "LOG_LOCAL6",
    "LOG_LOCAL7",
];

/// Every keyword, in documentation order.
pub static KEYWORDS: &[Keyword] = &[
    Keyword {
        key: Key::Identity,
        name: "identity",
        aliases: &[],
        value: ValueType::Address,
        scope: Scope::Section,
        default: "",
        doc: "Start a new identity; the statements after it belong to it. Selected by `-f ADDRESS`.",
        extension: false,
        name_mode: true,
    },
    Keyword {
        key: Key::Default,
        name: "default",
        aliases: &[],
        value: ValueType::None,
        scope: Scope::Section,
        default: "",
        doc: "Make the current identity the default one (used when `-f` selects no identity).",
        extension: false,
        name_mode: false,
    },
    Keyword {
        key: Key::Hostname,
        name: "hostname",
        aliases: &["host"],
        value: ValueType::HostPort,
        scope: Scope::Identity,
        default: "localhost:25",
        doc: "The SMTP server (smarthost); port 587 when only a host is given.",
        extension: false,
        name_mode: true,
    },
    Keyword {
        key: Key::Username,
        name: "username",
        aliases: &["user"],
        value: ValueType::Text,
        scope: Scope::Identity,
        default: "",
        doc: "User name for SMTP authentication.",
        extension: false,
        name_mode: true,
    },
    Keyword {
        key: Key::Password,
        name: "password",
        aliases: &["pass"],
        value: ValueType::Secret,
        scope: Scope::Identity,
        default: "",
        doc: "Password for SMTP authentication.",
        extension: false,
        name_mode: true,
    },
    Keyword {
        key: Key::Starttls,
        name: "starttls",
        aliases: &["tls"],
        value: ValueType::Choice(TLS_WORDS),
        scope: Scope::Identity,
        default: "disabled",
        doc: "TLS policy: never, when offered, mandatory STARTTLS, or TLS from the first byte (`implicit`, an extension).",
        extension: false,
        name_mode: false,
    },
    Keyword {
        key: Key::CertificatePassphrase,
        name: "certificate_passphrase",
        aliases: &["passphrase"],
        value: ValueType::Secret,
        scope: Scope::Identity,
        default: "",
        doc: "Passphrase of the TLS client key in ~/.authenticate.",
        extension: false,
        name_mode: false,
    },
    Keyword {
        key: Key::Preconnect,
        name: "preconnect",
        aliases: &[],
        value: ValueType::Command,
        scope: Scope::Identity,
        default: "",
        doc: "Shell command run before connecting; a non-zero exit aborts.",
        extension: false,
        name_mode: false,
    },
    Keyword {
        key: Key::Postconnect,
        name: "postconnect",
        aliases: &[],
        value: ValueType::Command,
        scope: Scope::Identity,
        default: "",
        doc: "Shell command run after a successful session.",
        extension: false,
        name_mode: false,
    },
    Keyword {
        key: Key::Qualifydomain,
        name: "qualifydomain",
        aliases: &[],
        value: ValueType::Domain,
        scope: Scope::Identity,
        default: "",
        doc: "Local recipients become user@DOMAIN and go over SMTP instead of the MDA.",
        extension: false,
        name_mode: false,
    },
    Keyword {
        key: Key::Helo,
        name: "helo",
        aliases: &[],
        value: ValueType::Text,
        scope: Scope::Identity,
        default: "the local host name",
        doc: "Name sent in EHLO/HELO.",
        extension: false,
        name_mode: false,
    },
    Keyword {
        key: Key::ForceSender,
        name: "force sender",
        aliases: &[],
        value: ValueType::AddressTemplate,
        scope: Scope::Identity,
        default: "",
        doc: "Set the Sender: header, replacing any in the message; %u is the login name, %% a percent sign.",
        extension: false,
        name_mode: false,
    },
    Keyword {
        key: Key::ForceReversePath,
        name: "force reverse_path",
        aliases: &[],
        value: ValueType::AddressTemplate,
        scope: Scope::Identity,
        default: "",
        doc: "Fixed envelope sender; the -f address only fills a missing From:; %u and %% as for force sender.",
        extension: false,
        name_mode: false,
    },
    Keyword {
        key: Key::MessageId,
        name: "message_id",
        aliases: &[],
        value: ValueType::Choice(SWITCH_WORDS),
        scope: Scope::Identity,
        default: "enabled",
        doc: "Add a Message-ID: header when the message has none.",
        extension: false,
        name_mode: false,
    },
    Keyword {
        key: Key::Mda,
        name: "mda",
        aliases: &[],
        value: ValueType::MdaTemplate,
        scope: Scope::Global,
        default: "",
        doc: "Mail delivery agent for local recipients; %T is the recipients, %F the sender, %% a percent sign.",
        extension: false,
        name_mode: false,
    },
    Keyword {
        key: Key::ForceMda,
        name: "force_mda",
        aliases: &[],
        value: ValueType::User,
        scope: Scope::Global,
        default: "",
        doc: "Deliver every message to this local user through the MDA, whatever its recipients.",
        extension: false,
        name_mode: false,
    },
    Keyword {
        key: Key::Timeout,
        name: "timeout",
        aliases: &[],
        value: ValueType::Seconds,
        scope: Scope::Identity,
        default: "60",
        doc: "Seconds allowed for connecting and for each server reply.",
        extension: true,
        name_mode: false,
    },
    Keyword {
        key: Key::Passwordeval,
        name: "passwordeval",
        aliases: &[],
        value: ValueType::Command,
        scope: Scope::Identity,
        default: "",
        doc: "Shell command whose first output line is the secret; instead of password.",
        extension: true,
        name_mode: false,
    },
    Keyword {
        key: Key::Auth,
        name: "auth",
        aliases: &[],
        value: ValueType::Choice(AUTH_WORDS),
        scope: Scope::Identity,
        default: "the strongest offered",
        doc: "Use only this SASL mechanism; xoauth2 and oauthbearer take an OAuth 2 access token as the secret.",
        extension: true,
        name_mode: false,
    },
    Keyword {
        key: Key::Queue,
        name: "queue",
        aliases: &[],
        value: ValueType::Choice(QUEUE_WORDS),
        scope: Scope::Global,
        default: "disabled",
        doc: "Durable queue: off, store then send in the foreground, or store then send in the background.",
        extension: true,
        name_mode: false,
    },
    Keyword {
        key: Key::QueueDir,
        name: "queue_dir",
        aliases: &[],
        value: ValueType::Path,
        scope: Scope::Global,
        default: "~/.local/share/esmtp/queue",
        doc: "Directory of the durable queue.",
        extension: true,
        name_mode: true,
    },
    Keyword {
        key: Key::QueueLifetime,
        name: "queue_lifetime",
        aliases: &[],
        value: ValueType::Duration,
        scope: Scope::Global,
        default: "5d",
        doc: "Give up on a queued message after this long (seconds, or with s/m/h/d).",
        extension: true,
        name_mode: false,
    },
    Keyword {
        key: Key::TlsFingerprint,
        name: "tls_fingerprint",
        aliases: &[],
        value: ValueType::Fingerprint,
        scope: Scope::Identity,
        default: "",
        doc: "Trust exactly the server certificate with this SHA-256 fingerprint, whoever signed it, in place of the CA, host name and date checks (msmtp's format).",
        extension: true,
        name_mode: true,
    },
    Keyword {
        key: Key::Aliases,
        name: "aliases",
        aliases: &[],
        value: ValueType::Path,
        scope: Scope::Global,
        default: "",
        doc: "Aliases file in the /etc/aliases format (msmtp's keyword): recipients without @domain are replaced by what it lists for them (`default:` for names not listed), recursively; absolute or ~/ path.",
        extension: true,
        name_mode: true,
    },
    Keyword {
        key: Key::TlsTrustFile,
        name: "tls_trust_file",
        aliases: &[],
        value: ValueType::Path,
        scope: Scope::Identity,
        default: "~/.authenticate/ca.pem",
        doc: "PEM file of the CAs trusted for this identity, in place of ~/.authenticate (absolute or ~/ path; mode 0600).",
        extension: true,
        name_mode: true,
    },
    Keyword {
        key: Key::TlsCertFile,
        name: "tls_cert_file",
        aliases: &[],
        value: ValueType::Path,
        scope: Scope::Identity,
        default: "~/.authenticate/private/smtp-starttls.pem",
        doc: "PEM file of the TLS client certificate for this identity, in place of ~/.authenticate (absolute or ~/ path; mode 0600).",
        extension: true,
        name_mode: true,
    },
    Keyword {
        key: Key::TlsKeyFile,
        name: "tls_key_file",
        aliases: &[],
        value: ValueType::Path,
        scope: Scope::Identity,
        default: "the tls_cert_file",
        doc: "PEM file of the client certificate's private key, when not in tls_cert_file (absolute or ~/ path; mode 0600).",
        extension: true,
        name_mode: true,
    },
    Keyword {
        key: Key::Oauth2,
        name: "oauth2",
        aliases: &[],
        value: ValueType::Choice(OAUTH2_WORDS),
        scope: Scope::Identity,
        default: "",
        doc: "Get the AUTH secret from esmtp's own OAuth 2 token store (authorize once with `esmtp oauth authorize`): the provider's endpoints and scope (`google`, `microsoft`), or those given by the oauth2_*_url settings (`custom`); implies `auth xoauth2` and `username` the identity's address; instead of password.",
        extension: true,
        name_mode: false,
    },
    Keyword {
        key: Key::Oauth2ClientId,
        name: "oauth2_client_id",
        aliases: &[],
        value: ValueType::Text,
        scope: Scope::Identity,
        default: "",
        doc: "The OAuth 2 client id of the application registered with the provider (required with oauth2).",
        extension: true,
        name_mode: true,
    },
    Keyword {
        key: Key::Oauth2ClientSecret,
        name: "oauth2_client_secret",
        aliases: &[],
        value: ValueType::Secret,
        scope: Scope::Identity,
        default: "",
        doc: "The OAuth 2 client secret, when the provider gave the application one.",
        extension: true,
        name_mode: true,
    },
    Keyword {
        key: Key::Oauth2ClientSecretEval,
        name: "oauth2_client_secret_eval",
        aliases: &[],
        value: ValueType::Command,
        scope: Scope::Identity,
        default: "",
        doc: "Shell command whose first output line is the OAuth 2 client secret; instead of oauth2_client_secret.",
        extension: true,
        name_mode: false,
    },
    Keyword {
        key: Key::Oauth2AuthUrl,
        name: "oauth2_auth_url",
        aliases: &[],
        value: ValueType::Url,
        scope: Scope::Identity,
        default: "the provider's",
        doc: "Authorization endpoint (https; http only on loopback), for `oauth2 custom`.",
        extension: true,
        name_mode: true,
    },
    Keyword {
        key: Key::Oauth2TokenUrl,
        name: "oauth2_token_url",
        aliases: &[],
        value: ValueType::Url,
        scope: Scope::Identity,
        default: "the provider's",
        doc: "Token endpoint (https; http only on loopback); required with `oauth2 custom`.",
        extension: true,
        name_mode: true,
    },
    Keyword {
        key: Key::Oauth2DeviceUrl,
        name: "oauth2_device_url",
        aliases: &[],
        value: ValueType::Url,
        scope: Scope::Identity,
        default: "the provider's",
        doc: "Device authorization endpoint (https; http only on loopback), for `esmtp oauth authorize --device` with `oauth2 custom`.",
        extension: true,
        name_mode: true,
    },
    Keyword {
        key: Key::Oauth2Scope,
        name: "oauth2_scope",
        aliases: &[],
        value: ValueType::Text,
        scope: Scope::Identity,
        default: "the provider's",
        doc: "Scopes asked for, separated by blanks (quote the value), for `oauth2 custom`.",
        extension: true,
        name_mode: false,
    },
    Keyword {
        key: Key::Logfile,
        name: "logfile",
        aliases: &[],
        value: ValueType::Path,
        scope: Scope::Identity,
        default: "",
        doc: "Delivery log: one line per delivery attempt appended to this file (absolute or ~/ path; `-` for standard error). Before the first identity it applies to every identity; in an identity it replaces that one (msmtp's keyword).",
        extension: true,
        name_mode: true,
    },
    Keyword {
        key: Key::Syslog,
        name: "syslog",
        aliases: &[],
        value: ValueType::Choice(SYSLOG_WORDS),
        scope: Scope::Identity,
        default: "off",
        doc: "Delivery log to syslog: `on` (facility LOG_MAIL), a facility, or `off`. Before the first identity it applies to every identity; in an identity it replaces that one (msmtp's keyword).",
        extension: true,
        name_mode: false,
    },
];

/// The table entry of a key.
pub fn keyword(key: Key) -> &'static Keyword {
    // The table holds every key; a missing one is a programming error caught
    // by the unit test below, and falls back to the first entry.
    KEYWORDS
        .iter()
        .find(|k| k.key == key)
        .unwrap_or(&KEYWORDS[0])
}

impl Key {
    pub fn name(self) -> &'static str {
        keyword(self).name
    }
    /// The value is a secret: masked in every output (see
    /// [`super::mask`]), never quoted in a message.
    pub fn is_secret(self) -> bool {
        secrets().0.contains(&self)
    }
}

impl Key {
    /// Given before the first `identity`, the statement is global (the
    /// default of every identity); inside an identity it replaces the
    /// global one for that identity.
    pub fn global_before_identity(self) -> bool {
        matches!(self, Key::Logfile | Key::Syslog)
    }

    /// The value is written as text into the SMTP dialogue (EHLO, MAIL
    /// FROM), a header (From:, Sender:), the TLS handshake (SNI) or a name
    /// look-up, so it may not hold control characters (SPEC §9, E020).
    /// User names and secrets are not: AUTH encodes them.
    pub fn reaches_wire(self) -> bool {
        matches!(
            self,
            Key::Identity
                | Key::Hostname
                | Key::Helo
                | Key::Qualifydomain
                | Key::ForceSender
                | Key::ForceReversePath
        )
    }
}

impl Keyword {
    /// The value is a secret ([`ValueType::Secret`]: `password`,
    /// `certificate_passphrase`, and any secret keyword added later).
    pub fn is_secret(&self) -> bool {
        self.value == ValueType::Secret
    }
}

/// A word the lexer turns into a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Word {
    /// A statement keyword taking a value.
    Key(Key),
    /// `default`.
    Default,
    /// `force` (followed by `sender` or `reverse_path`).
    Force,
    Sender,
    ReversePath,
    Enabled,
    Disabled,
    Required,
}

/// Look a bare word up. Extension keywords are returned too; the lexer
/// recognises them only where a statement starts.
pub fn lookup(word: &str) -> Option<(Word, bool)> {
    // Fast rejection of values (host names, addresses, paths).
    if word.len() > 25
        || !word
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit())
    {
        return None;
    }
    let w = match word {
        "force" => Word::Force,
        "sender" => Word::Sender,
        "reverse_path" => Word::ReversePath,
        "enabled" => Word::Enabled,
        "disabled" => Word::Disabled,
        "required" => Word::Required,
        "default" => Word::Default,
        _ => {
            let k = KEYWORDS
                .iter()
                .find(|k| !k.name.contains(' ') && (k.name == word || k.aliases.contains(&word)))?;
            return Some((Word::Key(k.key), k.extension));
        }
    };
    Some((w, false))
}

/// Whether `word` is a spelling of a secret keyword (`password`, `pass`,
/// `certificate_passphrase`, `passphrase`, ...).
pub fn is_secret_spelling(word: &str) -> bool {
    secrets().1.contains(&word)
}

/// The secret keys and their spellings, from the table (asked for every
/// token: computed once).
fn secrets() -> &'static (Vec<Key>, Vec<&'static str>) {
    static SECRETS: std::sync::OnceLock<(Vec<Key>, Vec<&'static str>)> = std::sync::OnceLock::new();
    SECRETS.get_or_init(|| {
        let secret = KEYWORDS.iter().filter(|k| k.is_secret());
        let keys = secret.clone().map(|k| k.key).collect();
        let spellings = secret
            .flat_map(|k| std::iter::once(k.name).chain(k.aliases.iter().copied()))
            .collect();
        (keys, spellings)
    })
}

/// Whether the value of `key` is kept as bytes: esmtp 1.2 sends user names
/// and secrets byte for byte, so a Latin-1 `password` is not an error
/// (SPEC §2.3); every other value must be UTF-8 text (E009).
pub fn keeps_bytes(key: Key) -> bool {
    matches!(
        key,
        Key::Username | Key::Password | Key::CertificatePassphrase
    )
}

/// Every spelling a user might mean, for "did you mean" suggestions.
pub fn spellings() -> impl Iterator<Item = &'static str> {
    KEYWORDS
        .iter()
        .flat_map(|k| std::iter::once(k.name).chain(k.aliases.iter().copied()))
}

#[cfg(test)]
mod tests;
