//! Every msmtp command and what it becomes in an esmtprc: ONE entry each.

/// What an msmtp command becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Map {
    /// Handled by the converter itself (host, port, from, auth, tls...):
    /// what it becomes, as the README's table says it, and the esmtprc
    /// keywords that text names (checked against the keyword table).
    Special(&'static str, &'static [&'static str]),
    /// The same value (quoted, bytes kept) under this esmtprc keyword.
    Keyword(&'static str),
    /// No esmtp equivalent: a comment with this reason.
    None(&'static str),
    /// Its value must not be shown even in a comment.
    Secret(&'static str),
}

/// Every msmtp 1.8 command and what it becomes.
pub(super) const COMMANDS: &[(&str, Map)] = &[
    (
        "host",
        Map::Special(
            "`hostname HOST:PORT` (the port from `port`, else 25, or 465 with `tls on` + `tls_starttls off`)",
            &["hostname"],
        ),
    ),
    (
        "port",
        Map::Special(
            "the port of `hostname HOST:PORT`",
            &["hostname"],
        ),
    ),
    (
        "from",
        Map::Special(
            "`identity ADDRESS`: an account becomes the identity of its `from` address (a wildcard or substitution `from` has no equivalent: esmtp selects an identity by one exact address); `account default` becomes the unnamed identity or `default`",
            &["identity", "default"],
        ),
    ),
    (
        "user",
        Map::Special(
            "`username`",
            &["username"],
        ),
    ),
    (
        "password",
        Map::Special(
            "`password` (the same bytes)",
            &["password"],
        ),
    ),
    (
        "passwordeval",
        Map::Special(
            "`passwordeval` (the first line it prints)",
            &["passwordeval"],
        ),
    ),
    (
        "auth",
        Map::Special(
            "`auth MECH` for `plain`, `login`, `cram-md5`, `ntlm`, `xoauth2`, `oauthbearer`, `scram-sha-256`, `scram-sha-1` (msmtp's names; `gssapi`, `digest-md5`, `external` have none); `auth on` is the default (the strongest mechanism offered); `auth off` is no `username`",
            &["auth", "username"],
        ),
    ),
    (
        "tls",
        Map::Special(
            "`starttls required`; with `tls_starttls off`, `starttls implicit`; `tls off` is `starttls disabled`",
            &["starttls"],
        ),
    ),
    (
        "tls_starttls",
        Map::Special(
            "see `tls`",
            &[],
        ),
    ),
    (
        "timeout",
        Map::Special(
            "`timeout SECONDS` (esmtp always has one: 60 s by default)",
            &["timeout"],
        ),
    ),
    ("domain", Map::Keyword("helo")),
    (
        "tls_fingerprint",
        Map::Special(
            "`tls_fingerprint SHA256:01:23:...` (the msmtp form is accepted as it is; SHA-1 and MD5 fingerprints are refused with E022). As in msmtp, it replaces every other check of the certificate",
            &["tls_fingerprint"],
        ),
    ),
    (
        "tls_trust_file",
        Map::Special(
            "`tls_trust_file FILE` (absolute or `~/`; yours or root's, writable by its owner alone; `system` is the default)",
            &["tls_trust_file"],
        ),
    ),
    (
        "tls_cert_file",
        Map::Special(
            "`tls_cert_file FILE` (absolute or `~/`)",
            &["tls_cert_file"],
        ),
    ),
    (
        "tls_key_file",
        Map::Special(
            "`tls_key_file FILE` (absolute or `~/`; mode 0600)",
            &["tls_key_file"],
        ),
    ),
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
    (
        "aliases",
        Map::Special(
            "`aliases FILE` (global: one file for all identities; absolute or `~/`; the same `/etc/aliases` format with `default:`, expanded recursively, loops an error E026; `newaliases` checks it, `esmtp route` shows the expansion)",
            &["aliases"],
        ),
    ),
    (
        "logfile",
        Map::Special(
            "`logfile FILE` (absolute or `~/`; before the first `identity` for all, inside one for that identity; the same `key=value` line and time stamp, plus `identity=`, `queueid=`, `messageid=`, `duration=`, `authmech=`; `logfile -` is standard error, where msmtp's is standard output)",
            &["logfile", "identity"],
        ),
    ),
    (
        "logfile_time_format",
        Map::None("esmtp's log file uses msmtp's default time format"),
    ),
    (
        "syslog",
        Map::Special(
            "`syslog on|off|LOG_MAIL|LOG_USER|LOG_LOCAL0`..`7` (a value is required; msmtp's bare `syslog` is `syslog LOG_USER`, its default facility, while esmtp's `on` is LOG_MAIL); with no log set, a failure without a terminal (cron) goes to syslog",
            &["syslog"],
        ),
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
        Map::None("esmtp takes the full name per message (-F NAME) for a From: it adds"),
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

/// The README's "Moving from msmtp" table of msmtprc commands, made from
/// [`COMMANDS`] (a test keeps the README equal to it).
#[cfg(test)]
pub(super) fn readme_table() -> String {
    let mut out = String::from("| msmtprc | esmtprc |\n|---|---|\n");
    for (name, map) in COMMANDS {
        let esmtp = match map {
            Map::Special(text, _) => text.to_string(),
            Map::Keyword(k) => format!("`{k}` (the same value)"),
            Map::None(why) | Map::Secret(why) => format!("none: {why}"),
        };
        out.push_str(&format!("| `{name}` | {} |\n", cell(&esmtp)));
    }
    out
}

pub(super) fn command(name: &str) -> Option<Map> {
    COMMANDS.iter().find(|(n, _)| *n == name).map(|(_, m)| *m)
}

/// msmtp's command-line options and modes, and what an esmtp user types
/// instead. Every msmtprc command is also an msmtp `--option`; those are in
/// [`COMMANDS`] (esmtp takes them from its file only).
#[cfg(test)]
pub(super) const OPTIONS: &[(&str, &str)] = &[
    (
        "msmtp [-t] RECIPIENT...",
        "the same: `esmtp` (or `sendmail`) `[-t] RECIPIENT...`",
    ),
    ("-C FILE, --file=FILE", "`-C FILE`"),
    (
        "-a ACCOUNT, --account=ACCOUNT",
        "`-f ADDRESS`: the identity is chosen by the sender's address",
    ),
    ("-f ADDRESS, --from=ADDRESS", "`-f ADDRESS` (also `-r`)"),
    (
        "--read-envelope-from",
        "the default with `-t`: the `From:` address is the sender unless `-f` is given",
    ),
    ("-N, --dsn-notify; -R, --dsn-return", "`-N`, `-R`, `-V ENVID`"),
    (
        "-X FILE, --logfile=FILE",
        "the `logfile` keyword (esmtp's `-X FILE` writes a protocol transcript, not a delivery log)",
    ),
    (
        "-d, --debug",
        "`-v` (progress) and `-X FILE` (the protocol transcript, credentials masked)",
    ),
    (
        "-P, --pretend",
        "`esmtp route -f ADDRESS RECIPIENT...` (what would happen) and `esmtp dump` (the whole plan)",
    ),
    (
        "-S, --serverinfo",
        "`esmtp probe [IDENTITY...|--all]` (what the server offers, held against the plan; `--login` tries the credentials, `--format json`; see \"Is my server ready?\")",
    ),
    (
        "--configure=ADDRESS",
        "none: write the four lines of the README's quick start, or `esmtp import msmtp` an msmtprc you have",
    ),
    (
        "--rmqs=HOST",
        "none: esmtp sends no ETRN; `esmtp -q` delivers its own queue",
    ),
    (
        "msmtpq, msmtp-queue",
        "the built-in queue: `queue enabled`, `mailq`, `esmtp -q`, `esmtp queue`",
    ),
    ("--version, --help", "`--version`, `--help`, `esmtp SUBCOMMAND --help`"),
];

/// A table cell: a `|` (even in code) would end the cell in Markdown.
#[cfg(test)]
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// The README's table of [`OPTIONS`].
#[cfg(test)]
pub(super) fn readme_options() -> String {
    let mut out = String::from("| msmtp | esmtp |\n|---|---|\n");
    for (msmtp, esmtp) in OPTIONS {
        out.push_str(&format!("| `{}` | {} |\n", cell(msmtp), cell(esmtp)));
    }
    out
}
