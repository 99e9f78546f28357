//! The diagnostic code registry: every code `check` can report, with its
//! class (error, warning, compatibility report), its short rule name, its
//! one-line summary and its `--explain` text. Diagnostics are built from a
//! [`Code`]; `--explain`, `--explain list`, the SARIF rules and the man
//! pages' references all read this one table.

use super::diag::Severity;
use serde::{Serialize, Serializer};
use std::fmt;

/// What kind of report a code is, which fixes its severity and whether
/// `check` shows it without `--compat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The file (or one identity) cannot be used as it is.
    Error,
    /// Probably a mistake; the file still works.
    Warning,
    /// A difference from esmtp 1.2, shown only with `check --compat`.
    CompatReport,
    /// A construct esmtp 1.2 reads differently, always shown.
    CompatWarning,
}

impl Class {
    pub fn severity(self) -> Severity {
        match self {
            Class::Error => Severity::Error,
            Class::Warning | Class::CompatReport | Class::CompatWarning => Severity::Warning,
        }
    }
    /// How `--explain` names the class.
    pub fn described(self) -> &'static str {
        match self {
            Class::Error => "error",
            Class::Warning => "warning",
            Class::CompatReport => "compatibility report (shown with --compat)",
            Class::CompatWarning => "compatibility warning",
        }
    }
}

/// One registry entry.
#[derive(Debug)]
pub struct Entry {
    pub code: Code,
    pub class: Class,
    /// The rule name (kebab case), as SARIF shows it.
    pub name: &'static str,
    /// The one-line summary.
    pub title: &'static str,
    /// The text of `check --explain CODE`.
    pub explain: &'static str,
}

/// Declares [`Code`] and [`REGISTRY`] from one list, so that every code
/// has exactly one entry and `REGISTRY[code as usize]` is its own.
macro_rules! registry {
    ($($code:ident: $class:ident, $name:literal, $title:literal, $explain:literal;)*) => {
        /// A diagnostic code; its entry is [`Code::entry`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $($code,)*
        }

        /// Every code, in the order `--explain list` and SARIF show them.
        pub static REGISTRY: &[Entry] = &[
            $(Entry {
                code: Code::$code,
                class: Class::$class,
                name: $name,
                title: $title,
                explain: $explain,
            },)*
        ];

        impl Code {
            /// The code as written: `E001`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$code => stringify!($code),)*
                }
            }
        }
    };
}

registry! {
    E001: Error, "syntax-error", "syntax error",
        "The parser expected a statement (a keyword such as `hostname`) or the value of the statement before, and found something else. Keywords are lower case. Misspelled keywords are suggested. A value with blanks must be quoted: `preconnect \"ssh -f host sleep 5\"`. esmtp 1.2 stops at the first such error with `FILE:LINE: syntax error at TOKEN`; esmtp reports every one.";
    E002: Error, "missing-value", "missing value",
        "Every keyword except `default` takes a value: `hostname smtp.example.org:587`. The file ended, or another keyword came, where the value should be.";
    E003: Error, "invalid-value-for-a-keyword-that-takes-fixed-words", "invalid value for a keyword that takes fixed words",
        "`starttls` takes `disabled`, `enabled`, `required` or `implicit`; `message_id` takes `enabled` or `disabled`; `auth` takes `plain`, `login`, `cram-md5`, `ntlm`, `xoauth2`, `oauthbearer`, `scram-sha-256` or `scram-sha-1`; `queue` takes `disabled`, `enabled` or `background`. `starttls yes` is not understood by esmtp 1.2 either: write `starttls enabled` (use TLS when the server offers it) or `starttls required` (refuse to send without it).";
    E004: Error, "keyword-used-as-a-value", "keyword used as a value",
        "esmtp 1.2 reads `enabled`, `disabled`, `required` and `default` as keywords wherever they appear, except right after `identity`, `hostname`, `username` and `password`. To use such a word as a value, quote it: `helo \"default\"`.";
    E005: Error, "invalid-host-or-port", "invalid host or port",
        "`hostname` takes `HOST` or `HOST:PORT`, where PORT is a number from 1 to 65535 or a service name such as `smtp` (25), `submission` (587) or `smtps` (465), resolved when the file is compiled. An IPv6 address with a port is written `[::1]:25`. This error concerns only the identity it is in (esmtp 1.2 accepts the file and fails only when it sends through that smarthost): the file still compiles, local delivery and the other identities work, and sending through this identity fails with status 78 before connecting.";
    E007: Error, "duplicate-identity-no-longer-reported", "duplicate identity (no longer reported)",
        "Two identities with the same address used to be an error. esmtp 1.2 accepts them, so they are now warning W020, with 1.2's meaning: `-f` selects the last declaration.";
    E008: Error, "password-and-passwordeval-together", "password and passwordeval together",
        "`passwordeval` runs a command that prints the secret; `password` gives it in the file. One identity can use only one of them.";
    E009: Error, "bytes-that-are-not-text-in-a-value", "bytes that are not text in a value",
        "Values must be UTF-8 text without NUL bytes. The file, or the escape sequences in a value (`\\xHH`, `\\0OOO`, `\\DDD`), produced bytes that are not. Comments may contain anything, and `username`, `password` and `certificate_passphrase` may hold any bytes but NUL: esmtp 1.2 sends them byte for byte (a Latin-1 password in a Latin-1 file), and so does this esmtp (C007 with --compat).";
    E010: Error, "invalid-number-or-duration", "invalid number or duration",
        "`timeout` takes a whole number of seconds from 1 up; `queue_lifetime` takes seconds or a number with a suffix: `90s`, `30m`, `12h`, `5d`.";
    E011: Error, "file-too-large", "file too large",
        "A configuration file larger than 4 MiB is refused without being parsed, so that a wrong file (a mailbox, a binary) cannot use unbounded memory.";
    E012: Error, "configuration-file-cannot-be-used", "configuration file cannot be used",
        "~/.esmtprc must be a regular file (not a symbolic link) owned by you, with no permission bits beyond 0710, because it may hold a password. Fix it with `chmod 600 ~/.esmtprc`. In a dotfiles repository, check the file with `esmtp check FILE --no-permission-lints`.";
    E013: Error, "unterminated-quoted-string", "unterminated quoted string",
        "A value starts with a quote that is never closed on its line. esmtp 1.2 then reads the quote as part of a bare word and the following words as new statements. Close the quote: `helo \"my host\"`.";
    E014: Error, "too-many-errors", "too many errors",
        "After 500 syntax errors, or 5000 words that belong to no statement, the rest of the file is not read: it is most likely not an esmtprc file at all. The errors found so far are reported.";
    E015: Error, "username-without-password-or-the-reverse", "username without password, or the reverse",
        "SMTP authentication needs both a user name and a secret (`password` or `passwordeval`). With only one of them esmtp 1.2 sends a broken AUTH command or none, depending on the server. This error concerns only its identity: the file still compiles, local delivery and the other identities work, and sending through this identity fails with status 78 before connecting. Add the missing half, or remove the other if the server needs no login.";
    E016: Error, "tls-client-certificate-cannot-be-used", "TLS client certificate cannot be used",
        "Checked for the live configuration only. The identity uses TLS, and its client certificate (`tls_cert_file` and `tls_key_file`, or else ~/.authenticate/HOST/private/smtp-starttls.pem or ~/.authenticate/private/smtp-starttls.pem when it exists) cannot be used: it cannot be read, the directory in ~/.authenticate is not 0700 or a file not 0600, it holds no certificate, or its key does not decrypt with `certificate_passphrase`. Sending through this identity fails with status 78 before connecting, with the same message; the other identities and local delivery work.";
    E020: Error, "control-character-in-a-value-sent-to-the-server", "control character in a value sent to the server",
        "`helo`, the identity address, `force sender`, `force reverse_path`, `qualifydomain` and `hostname` are written as text into the SMTP dialogue (EHLO, MAIL FROM), into headers (From:, Sender:) or into the TLS handshake and the name look-up. A control character there (CR, LF, NUL, TAB, ESC and the others, also when written as an escape such as `\\r`, `\\x0a`, `\\0` or `\\012`) would end the command early and let the rest be read as a command of its own: `helo \"a.example\\r\\nMAIL FROM:<spoof@example.org>\"` would forge the sender of every message. Remove the character. `username`, `password` and `certificate_passphrase` may hold any byte: AUTH encodes them.";
    E021: Error, "too-many-identities", "too many identities",
        "A file may declare at most 50000 identities, so that compiling it has bounded memory (a 4 MiB file of `identity` lines would declare 300000). The identities after the limit, and everything after them, are not used, and the file does not compile. Is this the right file?";
    E022: Error, "invalid-tls-fingerprint", "invalid TLS fingerprint",
        "`tls_fingerprint` takes the SHA-256 fingerprint of the server's certificate as msmtp writes it: 32 pairs of hex digits separated by colons, optionally after `SHA256:` (`tls_fingerprint SHA256:AB:CD:...`). SHA-1 and MD5 fingerprints, which msmtp still accepts, are refused: a certificate with the same SHA-1 or MD5 fingerprint can be forged. Get the SHA-256 fingerprint with `openssl s_client -connect HOST:PORT -starttls smtp </dev/null | openssl x509 -noout -fingerprint -sha256`. The file does not compile until it is fixed, so a mistyped pin never falls back to trusting any CA.";
    E023: Error, "tls-file-path-not-absolute", "TLS file path not absolute",
        "`tls_trust_file`, `tls_cert_file`, `tls_key_file`, `aliases` and `logfile` take an absolute path (`/etc/ssl/home-ca.pem`) or one under your home directory (`~/certs/ca.pem`); `logfile -` is standard error. esmtp is run by mail clients and cron from any directory, so a relative path would mean a different file each time.";
    E024: Error, "aliases-file-cannot-be-used", "aliases file cannot be used",
        "`aliases FILE` names a file that cannot be read: it does not exist, is not a regular file, is a symbolic link (esmtp never follows a link it did not make), or is larger than 1 MiB. Every recipient without @domain is looked up in it, so until it is fixed a message to a local name (`root`, `cron`) fails with status 78 and nothing of it is sent; as with an unusable identity (errors that wait for use, as esmtp 1.2's do), mail to full addresses still goes. `esmtp check` reports it as an error; `newaliases` checks the file.";
    E025: Error, "syntax-error-in-the-aliases-file", "syntax error in the aliases file",
        "The aliases file has the /etc/aliases format as msmtp reads it: `name: address, address` on one line, `#` starts a comment, a line starting with a blank continues the entry above it, and `default: address` is the catch-all for names not listed. A name is a local name (no @, blanks, commas or quotes); an address is `user@domain` (sent over SMTP) or a local name (given to the MDA, or expanded again when it is itself an alias). Mailbox files (`/path`), commands (`|program`) and `:include:` are not supported: esmtp only relays. At most 10000 names.";
    E026: Error, "alias-loop", "alias loop",
        "Aliases are expanded recursively: `root: admin` and `admin: bob@example.org` send root's mail to bob@example.org. A chain that comes back to a name already on it (`a: b`, `b: a`) would never end, so it is an error of the file, reported with the whole chain; so is a chain more than 16 aliases deep or a name that expands to more than 1000 addresses. `esmtp check` reports it; until it is fixed a message to a local name fails with status 78 (nothing of it is sent), while mail to full addresses still goes.";
    E030: Error, "oauth2-beside-a-password", "oauth2 beside a password",
        "`oauth2` makes esmtp get the secret itself: an OAuth 2 access token from its own token store (filled once by `esmtp oauth authorize`, refreshed at the provider's token endpoint when it is about to expire). A `password` or `passwordeval` in the same identity would be a second source of the secret. Remove it. This error concerns only its identity: sending through it fails with status 78 before connecting.";
    E031: Error, "oauth2-endpoint-not-https", "oauth2 endpoint not https",
        "`oauth2_auth_url`, `oauth2_token_url` and `oauth2_device_url` take an `https://` URL: the token endpoint receives the refresh token and answers with the access token, which anyone on the way of a plain connection could read and use. `http://` is accepted only for this machine (127.0.0.1, ::1, localhost), for a local test server or a proxy you run. A URL with a user name or password in it is refused. This error concerns only its identity.";
    E032: Error, "oauth2-custom-without-a-token-url", "oauth2 custom without a token URL",
        "`oauth2 custom` has no built-in endpoints: `oauth2_token_url` is required (the access token is fetched and refreshed there); `oauth2_auth_url` is needed for `esmtp oauth authorize`, `oauth2_device_url` for `esmtp oauth authorize --device`, and `oauth2_scope` names the scopes to ask for. `oauth2 google` and `oauth2 microsoft` carry the providers' published endpoints and SMTP scopes. This error concerns only its identity.";
    E033: Error, "oauth2-without-a-client-id", "oauth2 without a client id",
        "An OAuth 2 provider gives tokens only to a registered application, named by its client id: register one (Google Cloud console, Microsoft Entra admin center) or use one you already have, and write `oauth2_client_id ID` (and `oauth2_client_secret SECRET` when the provider gave the application a secret). This error concerns only its identity.";
    E034: Error, "oauth2-with-a-password-mechanism", "oauth2 with a password mechanism",
        "`oauth2` gives an access token, which only a token mechanism can send: XOAUTH2 (what Gmail and Outlook.com speak), or OAUTHBEARER (RFC 7628) where this esmtp speaks it. `auth plain`, `login`, `cram-md5` and `ntlm` need a password. Remove `auth` (`oauth2` implies `auth xoauth2`), or name a token mechanism. This error concerns only its identity.";
    E035: Error, "oauth2-client-secret-given-twice", "oauth2 client secret given twice",
        "`oauth2_client_secret` gives the client secret in the file, `oauth2_client_secret_eval` runs a command that prints it: one identity can use only one of them. This error concerns only its identity.";
    E060: Error, "domain-without-an-ascii-form", "domain without an ASCII form",
        "The identity address, `force sender`, `force reverse_path` and `qualifydomain` may be written with a domain that is not ASCII (`user@bücher.example`). A server that does not offer SMTPUTF8 (RFC 6531) gets such a domain as its A-label (`xn--bcher-kva.example`, IDNA 2008 as Unicode's UTS 46 processes it), and an identity is selected by `-f` in either form, so the domain must have one. This one has none: a label holds a character no domain name may hold (a symbol, a blank, a character outside Unicode's IDNA table), starts or ends with a hyphen, mixes writing directions, or is longer than DNS allows. Correct the domain, or write it in its A-label form as the domain's registry shows it. The file does not compile until it is fixed.";
    E061: Error, "line-separator-in-an-address", "line separator in an address",
        "The identity address, `force sender`, `force reverse_path` and `qualifydomain` may hold UTF-8, but not the Unicode line and paragraph separators U+2028 and U+2029: some programs end a line there, so in a header or an SMTP command they could end the line early, as a control character would (E020). Remove the character.";
    W001: Warning, "setting-given-twice", "setting given twice",
        "A statement given twice in one identity (or a global one given twice in the file): the last one wins, as in esmtp 1.2. Usually the first was meant to be deleted, or an `identity` line is missing between them.";
    W002: Warning, "default-given-more-than-once", "`default` given more than once",
        "Only one identity can be the default. As in esmtp 1.2, the last `default` wins.";
    W003: Warning, "password-in-a-file-others-can-read", "password in a file others can read",
        "The file holds a password (or passphrase) and its permissions let other users read it. Run `chmod 600 FILE`. Use `--no-permission-lints` for a copy in a dotfiles repository.";
    W004: Warning, "password-in-etc-esmtprc", "password in /etc/esmtprc",
        "/etc/esmtprc is read by every user of the machine, so a password there is visible to all of them. Put credentials in each user's ~/.esmtprc instead.";
    W005: Warning, "credentials-sent-in-clear", "credentials sent in clear",
        "The identity authenticates, but says `starttls disabled` and the server is not on this machine: the password crosses the network in clear text (with PLAIN or LOGIN) for anyone on the way to read. Use `starttls required` (or `starttls implicit` on port 465).";
    W006: Warning, "username-without-password-or-the-reverse-no-longer-reported", "username without password, or the reverse (no longer reported)",
        "Half credentials are now error E015, which makes only their identity unusable.";
    W007: Warning, "empty-password", "empty password",
        "`password \"\"` authenticates with an empty secret, which servers almost always refuse. Remove the statement if no authentication is wanted.";
    W008: Warning, "identity-is-not-an-e-mail-address", "identity is not an e-mail address",
        "An identity is selected when the `-f` address (or the From: address with -t) equals its address. A value that is not of the form user@domain can never be selected; it is only reachable as the default.";
    W009: Warning, "no-hostname", "no hostname",
        "An identity without `hostname` relays to localhost:25. This is how esmtp 1.2 behaves too, but identities do not inherit the hostname of the unnamed section, which often surprises.";
    W010: Warning, "starttls-on-the-implicit-tls-port", "STARTTLS on the implicit-TLS port",
        "Port 465 (smtps/submissions) speaks TLS from the first byte; a STARTTLS session there hangs or fails. Use `starttls implicit` (an extension), or port 587 with STARTTLS.";
    W011: Warning, "mda-without-t", "mda without %T",
        "The MDA command is given the local recipients through `%T`. Without it the MDA cannot know whom to deliver to (procmail uses `-d %T`).";
    W012: Warning, "force-mda-without-mda", "force_mda without mda",
        "`force_mda` sends every message to a local user through the MDA, but no `mda` is set, so every message fails (status 72).";
    W013: Warning, "unknown-placeholder", "unknown %-placeholder",
        "`force sender` and `force reverse_path` know `%u` (login name) and `%%`; `mda` knows `%T` (recipients), `%F` (sender) and `%%`. Any other `%x` is kept literally; write `%%` for a percent sign.";
    W014: Warning, "program-not-found", "program not found",
        "The first word of a command (`preconnect`, `postconnect`, `passwordeval`, `mda`) names a program that is not on PATH or not executable. It is looked up when the file is checked; it may exist on the machine the file is meant for.";
    W015: Warning, "auth-setting-that-cannot-work", "auth setting that cannot work",
        "`auth` restricts the mechanism, but the identity has no user name or no secret; `auth xoauth2` and `auth oauthbearer` need an access token, from `oauth2` (esmtp's own token store) or `passwordeval`.";
    W016: Warning, "quoted-string-over-several-lines", "quoted string over several lines",
        "A quoted value ends only at the next quote of the same kind, even several lines later. This usually means a closing quote is missing.";
    W017: Warning, "unmatched-quote", "unmatched quote",
        "A quote that is never closed is not a quote for esmtp 1.2: it becomes part of a bare word. Add the closing quote.";
    W018: Warning, "setting-without-effect", "setting without effect",
        "The setting can have no effect: `certificate_passphrase` decrypts the TLS client key, but the identity has `starttls disabled` (the default), so no TLS session is ever made. The same holds for `tls_fingerprint`, `tls_trust_file`, `tls_cert_file` and `tls_key_file` without TLS; `tls_trust_file` is not used when `tls_fingerprint` is given (the fingerprint replaces the CA check), and `tls_key_file` is not used without `tls_cert_file`.";
    W019: Warning, "suspicious-host-name", "suspicious host name",
        "The host name is empty or contains characters that no host name has (blanks, `@`, `/`). Sending will fail to connect.";
    W020: Warning, "identity-declared-more-than-once", "identity declared more than once",
        "Two `identity` statements with the same address (the domain compared without regard to case). As in esmtp 1.2, `-f ADDRESS` selects the last declaration, and the default identity stays the one holding the file's first statement (or marked `default`), even when it is an earlier declaration of the same address. `esmtp route -f ADDRESS` shows which one is used. Merge the declarations, or remove the one you do not want.";
    W021: Warning, "alias-given-twice", "alias given twice",
        "A name appears twice in the aliases file (names are compared without regard to case). The first entry is used, as msmtp does; merge the two lines into one: `name: a, b`.";
    W025: Warning, "password-without-a-starttls-statement", "password without a `starttls` statement",
        "The identity authenticates to a server on another machine and has no `starttls` statement, so the connection is not encrypted. esmtp then never uses a mechanism that shows the password to anyone on the way (PLAIN, LOGIN, XOAUTH2, OAUTHBEARER), as Postfix's client does by default (`noplaintext`): sending fails before anything secret is sent, unless the server offers SCRAM, CRAM-MD5 or NTLM. esmtp 1.2 sent the password in clear here. Write `starttls required` (the server must offer STARTTLS; `starttls implicit` on port 465), or `starttls disabled` to accept sending the password in clear.";
    W030: Warning, "oauth2-setting-without-oauth2", "oauth2 setting without oauth2",
        "`oauth2_client_id`, `oauth2_client_secret`, `oauth2_client_secret_eval`, `oauth2_auth_url`, `oauth2_token_url`, `oauth2_device_url` and `oauth2_scope` are used only by an identity with an `oauth2` statement (`oauth2 google`, `oauth2 microsoft` or `oauth2 custom`). Add it, or remove the setting.";
    W045: Warning, "shared-log-file-in-etc-esmtprc", "shared log file in /etc/esmtprc",
        "/etc/esmtprc is read by every user of the machine, so a `logfile` there with an absolute path is one file that every user's esmtp appends to: it must be writable by all of them, and then anyone can write lines into it that look like deliveries, or read who mails whom. Log to syslog (`syslog on`), which records the user of each line, or name a file under each user's home (`logfile ~/.esmtp.log`).";
    W050: Warning, "starttls-required-but-not-offered", "`starttls required` but not offered",
        "Reported by `esmtp probe`. The identity says `starttls required`, and the server's EHLO reply does not offer STARTTLS: every submission through this identity fails with status 69 before anything is sent. If the server speaks TLS from the first byte (usually port 465), write `starttls implicit`; if it should offer STARTTLS, ask its administrator, or suspect something on the way that removes it (a firewall that \"inspects\" SMTP does). Do not lower the policy to send a password in clear.";
    W051: Warning, "auth-mechanism-not-offered", "AUTH mechanism not offered",
        "Reported by `esmtp probe`. The identity insists on one mechanism (`auth X`) and the server does not offer it: every submission through this identity fails before anything is sent. Remove the `auth` statement to let esmtp choose among those offered, or name one the probe lists. Some servers offer AUTH only after STARTTLS: the probe shows what the server offers on the connection a submission would use.";
    W052: Warning, "no-usable-auth-mechanism", "no usable AUTH mechanism",
        "Reported by `esmtp probe`. The identity has credentials, and the server offers only mechanisms esmtp does not speak (esmtp speaks SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, NTLM, PLAIN, LOGIN, and XOAUTH2 or OAUTHBEARER with an access token): every submission through this identity fails before anything is sent. Check that this is the right server and port (submission is usually 587 with STARTTLS or 465 with implicit TLS).";
    W053: Warning, "certificate-expires-soon", "certificate expires soon",
        "Reported by `esmtp probe`. The server's certificate expires within 14 days, or has expired. Once it has expired every submission through this identity fails (status 69) unless the identity pins it with `tls_fingerprint`, and a pinned certificate that is renewed gets a new fingerprint: run `esmtp probe` again after the renewal and paste the new one. Tell the server's administrator.";
    W054: Warning, "certificate-does-not-verify", "certificate does not verify",
        "Reported by `esmtp probe`. The certificate the server presents does not verify for the name in `hostname`: it is not signed by a CA you trust (`tls_trust_file`, ~/.authenticate/ca.pem or ~/.authenticate/ca/, else the system's), it names other hosts, it has expired, or it is not the one `tls_fingerprint` pins. Every submission through this identity fails (status 69) and nothing is sent; the probe does not log in either. If it is your own server with a self-signed certificate, pin it: copy the SHA256 fingerprint the probe prints into `tls_fingerprint` (after checking it on the server itself, e.g. `openssl x509 -noout -fingerprint -sha256 -in CERT`). If `hostname` is an address or an alias, write the name the certificate has.";
    W055: Warning, "size-limit-smaller-than-typical-mail", "size limit smaller than typical mail",
        "Reported by `esmtp probe`. The server declares a SIZE limit below 10 MiB. Mail with a few photos or a PDF is often larger (and base64 makes an attachment a third larger), so such messages will be refused (or, with the queue on, stay in the queue). Nothing to fix in esmtp: ask the server's administrator, or send large files another way.";
    W056: Warning, "credentials-set-but-no-auth-offered", "credentials set but no AUTH offered",
        "Reported by `esmtp probe`. The identity has a `username` and a secret, and the server offers no AUTH at all on the connection a submission uses, so every submission through this identity fails. Many servers offer AUTH only after STARTTLS: write `starttls required` when the server offers STARTTLS. If the server takes mail without a login (a relay that trusts your address), remove `username` and `password`.";
    W057: Warning, "cleartext-policy-refuses-auth", "cleartext policy refuses AUTH",
        "Reported by `esmtp probe`. The connection to this server is not encrypted, it is on another machine, and the only mechanisms it offers (PLAIN, LOGIN, XOAUTH2, OAUTHBEARER) would show the password to anyone on the way: esmtp refuses to send it (see W025) and every submission through this identity fails with status 78. Write `starttls required` if the server offers STARTTLS (or `starttls implicit` for port 465), or `starttls disabled` to accept sending the password in clear.";
    W058: Warning, "login-refused", "login refused",
        "Reported by `esmtp probe --login`. The server refused the identity's login (wrong user name or password, an expired token, an account that needs an app password), or the exchange failed. The probe prints the server's reply; the secret is never shown. Every submission through this identity fails the same way.";
    C001: CompatReport, "extension-keyword", "extension keyword",
        "The keyword is an extension of this esmtp; esmtp 1.2 rejects the file with a syntax error. Shown by `check --compat` so that a file can be kept valid for both.";
    C002: CompatReport, "implicit-tls", "implicit TLS",
        "`starttls implicit` is an extension (TLS from the first byte, SMTPS); esmtp 1.2 rejects it.";
    C003: CompatReport, "port-465-implies-implicit-tls", "port 465 implies implicit TLS",
        "A hostname on port 465 with no `starttls` statement speaks TLS from the first byte here; esmtp 1.2 speaks plain SMTP to it, which fails.";
    C004: CompatReport, "message-id-disabled-is-ignored-by-esmtp-1-2", "message_id disabled is ignored by esmtp 1.2",
        "esmtp 1.2 always adds a Message-ID: header; this esmtp honours `message_id disabled`.";
    C005: CompatReport, "identity-compared-differently", "identity compared differently",
        "Two identities whose addresses differ only in the case of the domain. A `-f` address spelled exactly as one of them selects that one in both programs. Spelled otherwise (`a@EXAMPLE.ORG`), it selects the last of them here, where the domain is compared without regard to case; esmtp 1.2 compares exactly and uses the default identity.";
    C006: CompatReport, "ipv6-address-in-hostname", "IPv6 address in hostname",
        "`hostname [::1]:25` (or a bare IPv6 address) is understood here; esmtp 1.2 splits the value at the first colon and fails to connect.";
    C007: CompatReport, "value-that-is-not-utf-8", "value that is not UTF-8",
        "A `username`, `password` or `certificate_passphrase` whose bytes are not UTF-8 (a Latin-1 file, or escapes such as `\\xe9`). esmtp 1.2 sends such a value byte for byte in AUTH PLAIN and LOGIN, keys CRAM-MD5 with the same bytes and widens each byte to 16 bits for NTLM; this esmtp does exactly the same. Servers that expect UTF-8 may refuse it.";
    C101: CompatWarning, "unquoted-number", "unquoted number",
        "esmtp 1.2 lexes an unquoted all-digit value (`password 12345`, `helo 123`) as a number, which no statement accepts: a syntax error. This esmtp takes it as the text it is. Quote it (`password \"12345\"`) to keep the file valid for both.";
    C102: CompatWarning, "comment-on-the-last-line-without-newline", "comment on the last line without newline",
        "esmtp 1.2 ends a comment only at a newline, so a comment on the last line of a file without a final newline is a syntax error there. End the file with a newline.";
    C103: CompatWarning, "stray-punctuation", "stray punctuation",
        "`;`, `,` and (outside hostname/identity/username/password values) `:` are not part of the language; esmtp 1.2 echoes them to standard output and ignores them. Quote the value they belong to, or remove them.";
    C104: CompatWarning, "identity-without-statements", "identity without statements",
        "esmtp 1.2's grammar requires at least one statement after every `identity` except the first, and reports a syntax error otherwise. This esmtp accepts the empty identity (it relays to localhost:25).";
    C105: CompatWarning, "trailing-backslash", "trailing backslash",
        "A backslash at the end of a bare word is part of the value in esmtp 1.2 (it is not a line continuation). Remove it unless it is meant.";
}

impl Code {
    pub fn entry(self) -> &'static Entry {
        &REGISTRY[self as usize]
    }
    pub fn class(self) -> Class {
        self.entry().class
    }
    pub fn severity(self) -> Severity {
        self.class().severity()
    }
    /// The code written `text` (case ignored): `e001` is [`Code::E001`].
    pub fn parse(text: &str) -> Option<Code> {
        REGISTRY
            .iter()
            .map(|e| e.code)
            .find(|c| c.as_str().eq_ignore_ascii_case(text))
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// The text of `esmtp check --explain CODE`.
pub fn explain(code: &str) -> Option<String> {
    let e = Code::parse(code)?.entry();
    Some(format!(
        "{}: {} ({})\n\n{}\n",
        e.code,
        e.title,
        e.class.described(),
        e.explain
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_is_its_own_codes() {
        for (i, e) in REGISTRY.iter().enumerate() {
            assert_eq!(e.code as usize, i);
            assert_eq!(e.code.entry().code, e.code);
            assert_eq!(Code::parse(e.code.as_str()), Some(e.code));
            assert!(explain(e.code.as_str()).is_some());
        }
        assert_eq!(Code::parse("e001"), Some(Code::E001));
        assert!(explain("e001").is_some());
        assert!(explain("X999").is_none());
    }

    #[test]
    fn the_class_follows_the_letter() {
        for e in REGISTRY {
            let code = e.code.as_str();
            let want = match code.as_bytes()[0] {
                b'E' => Class::Error,
                b'W' => Class::Warning,
                _ if code.starts_with("C0") => Class::CompatReport,
                _ => Class::CompatWarning,
            };
            assert_eq!(e.class, want, "{code}");
        }
    }

    /// The rule name is the title in kebab case (what SARIF showed before
    /// names were written in the table).
    #[test]
    fn rule_names_are_the_titles_in_kebab_case() {
        fn kebab(title: &str) -> String {
            let mut name = String::new();
            for c in title.chars() {
                if c.is_ascii_alphanumeric() {
                    name.push(c.to_ascii_lowercase());
                } else if !name.is_empty() && !name.ends_with('-') {
                    name.push('-');
                }
            }
            name.trim_end_matches('-').to_string()
        }
        assert_eq!(Code::W002.entry().name, "default-given-more-than-once");
        assert_eq!(Code::W011.entry().name, "mda-without-t");
        for e in REGISTRY {
            assert_eq!(e.name, kebab(e.title), "{}", e.code);
            assert!(!e.name.is_empty() && !e.name.starts_with('-'));
        }
    }
}
