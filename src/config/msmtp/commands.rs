//! Every msmtp command and what it becomes in an esmtprc: ONE entry each.

/// What an msmtp command becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Map {
    /// Handled by the converter itself (host, port, from, auth, tls...).
    Special,
    /// The same value (quoted, bytes kept) under this esmtprc keyword.
    Keyword(&'static str),
    /// No esmtp equivalent: a comment with this reason.
    None(&'static str),
    /// Its value must not be shown even in a comment.
    Secret(&'static str),
}

/// Every msmtp 1.8 command and what it becomes.
pub(super) const COMMANDS: &[(&str, Map)] = &[
    ("host", Map::Special),
    ("port", Map::Special),
    ("from", Map::Special),
    ("user", Map::Special),
    ("password", Map::Special),
    ("passwordeval", Map::Special),
    ("auth", Map::Special),
    ("tls", Map::Special),
    ("tls_starttls", Map::Special),
    ("timeout", Map::Special),
    ("domain", Map::Keyword("helo")),
    ("tls_fingerprint", Map::Special),
    ("tls_trust_file", Map::Special),
    ("tls_cert_file", Map::Special),
    ("tls_key_file", Map::Special),
    (
        "tls_certcheck",
        Map::None("esmtp always verifies the server's certificate"),
    ),
    ("tls_crl_file", Map::None("esmtp has no CRL setting")),
    (
        "tls_priorities",
        Map::None("esmtp chooses TLS versions and ciphers itself"),
    ),
    (
        "tls_host_override",
        Map::None("esmtp verifies the certificate for the host it connects to"),
    ),
    (
        "tls_min_dh_prime_bits",
        Map::None("esmtp's TLS library has no finite-field DH"),
    ),
    ("aliases", Map::Special),
    ("logfile", Map::None("esmtp has no delivery log")),
    (
        "logfile_time_format",
        Map::None("esmtp has no delivery log"),
    ),
    (
        "syslog",
        Map::None("esmtp does not log deliveries to syslog"),
    ),
    (
        "dsn_notify",
        Map::None("esmtp asks for DSN per message (-N), not in its file"),
    ),
    (
        "dsn_return",
        Map::None("esmtp asks for DSN per message (-R), not in its file"),
    ),
    (
        "auto_from",
        Map::None("esmtp takes the sender from -f or the identity"),
    ),
    (
        "maildomain",
        Map::None("esmtp takes the sender from -f or the identity"),
    ),
    (
        "from_full_name",
        Map::None("esmtp does not write From: headers"),
    ),
    (
        "add_missing_from_header",
        Map::None("esmtp always adds a missing From: (the identity's address)"),
    ),
    (
        "add_missing_date_header",
        Map::None("esmtp always adds a missing Date:"),
    ),
    (
        "set_from_header",
        Map::None("esmtp does not rewrite From: headers"),
    ),
    (
        "set_date_header",
        Map::None("esmtp does not rewrite Date: headers"),
    ),
    (
        "set_msgid_header",
        Map::None("esmtp adds a Message-ID when missing (message_id, enabled by default)"),
    ),
    (
        "remove_bcc_headers",
        Map::None("esmtp always removes Bcc: headers"),
    ),
    (
        "undisclosed_recipients",
        Map::None("esmtp does not rewrite recipient headers"),
    ),
    (
        "source_ip",
        Map::None("esmtp does not bind a source address"),
    ),
    (
        "proxy_host",
        Map::None("esmtp has no SOCKS proxy (a preconnect tunnel can stand in)"),
    ),
    (
        "proxy_port",
        Map::None("esmtp has no SOCKS proxy (a preconnect tunnel can stand in)"),
    ),
    ("socket", Map::None("esmtp connects over TCP only")),
    ("protocol", Map::None("esmtp speaks SMTP only")),
    (
        "ntlmdomain",
        Map::None("esmtp's NTLM takes no domain setting"),
    ),
    (
        "eval",
        Map::Secret("esmtp cannot take settings from a command's output"),
    ),
];

/// esmtp's `auth` words, which msmtp spells the same.
pub(super) const AUTH_KNOWN: &[&str] = crate::config::keywords::AUTH_WORDS;

pub(super) fn command(name: &str) -> Option<Map> {
    COMMANDS.iter().find(|(n, _)| *n == name).map(|(_, m)| *m)
}
