//! Every sendmail flag, defined once, with its documentation.
//!
//! This table is the single source of truth: the getopt pre-pass
//! ([`super::getopt`]) reads it to know which letters take a value, and
//! [`super::sendmail_command`] turns it into clap arguments, from which the
//! man page and shell completions are generated.

/// What follows a flag letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takes {
    /// A plain switch (`-t`).
    Nothing,
    /// A required value, attached or as the next argument (`-fADDR`, `-f ADDR`).
    Value(&'static str),
    /// An optional value that must be attached (`-q`, `-q30m`).
    Attached(&'static str),
}

/// Whether the program acts on the flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Used,
    /// Accepted for sendmail compatibility and otherwise ignored.
    Ignored,
}

/// One sendmail flag.
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    /// The clap argument id.
    pub id: &'static str,
    pub short: char,
    /// Other letters meaning the same (`-r` for `-f`).
    pub aliases: &'static [char],
    pub takes: Takes,
    pub role: Role,
    /// One line for `--help`.
    pub help: &'static str,
    /// The paragraph for the man page.
    pub long_help: &'static str,
}

impl Flag {
    pub fn matches(&self, c: char) -> bool {
        self.short == c || self.aliases.contains(&c)
    }
}

const fn used(
    id: &'static str,
    short: char,
    takes: Takes,
    help: &'static str,
    long_help: &'static str,
) -> Flag {
    Flag {
        id,
        short,
        aliases: &[],
        takes,
        role: Role::Used,
        help,
        long_help,
    }
}

const fn ignored(id: &'static str, short: char, takes: Takes) -> Flag {
    Flag {
        id,
        short,
        aliases: &[],
        takes,
        role: Role::Ignored,
        help: "Accepted for sendmail compatibility; ignored",
        long_help: "Accepted for compatibility with sendmail and ignored.",
    }
}

pub const SENDER: &str = "sender";
pub const FULL_NAME: &str = "full_name";
pub const EXTRACT: &str = "extract";
pub const CONFIG: &str = "config";
pub const VERBOSE: &str = "verbose";
pub const TRANSCRIPT: &str = "transcript";
pub const NOTIFY: &str = "notify";
pub const RET: &str = "ret";
pub const ENVID: &str = "envid";
pub const BODY: &str = "body";
pub const MODE: &str = "mode";
pub const INIT_ALIASES: &str = "init_aliases";
pub const QUEUE_RUN: &str = "queue_run";
pub const IGNORE_DOTS: &str = "ignore_dots";
pub const RECIPIENTS: &str = "recipients";

/// The sendmail flags, in the order the documentation shows them.
pub const FLAGS: &[Flag] = &[
    Flag {
        aliases: &['r'],
        ..used(
            SENDER,
            'f',
            Takes::Value("ADDR"),
            "Envelope sender; selects the identity",
            "Set the envelope sender (reverse path) to ADDR and select the identity \
             whose address equals ADDR (domain compared case-insensitively). ADDR may \
             be written \"Name <addr>\"; `<>` is the null sender. -r is a synonym.",
        )
    },
    used(
        FULL_NAME,
        'F',
        Takes::Value("NAME"),
        "Full name of the sender, used in an added From: header",
        "The sender's full name. It is used as the display name of a From: header \
         that esmtp adds because the message has none.",
    ),
    used(
        EXTRACT,
        't',
        Takes::Nothing,
        "Take recipients from To:, Cc: and Bcc:, then remove Bcc:",
        "Read the recipients from the To:, Cc: and Bcc: headers of the message; \
         recipients on the command line are added. Bcc: is removed before sending. \
         Without -f, the From: address is the envelope sender and selects the identity.",
    ),
    used(
        CONFIG,
        'C',
        Takes::Value("FILE"),
        "Configuration file (instead of ~/.esmtprc or /etc/esmtprc)",
        "Read the configuration from FILE; no other file is read.",
    ),
    used(
        VERBOSE,
        'v',
        Takes::Nothing,
        "Verbose progress on standard output",
        "Report the progress of the delivery on standard output.",
    ),
    used(
        TRANSCRIPT,
        'X',
        Takes::Value("FILE"),
        "Append a protocol transcript to FILE (credentials never written)",
        "Append a transcript of the SMTP dialogue to FILE: client lines prefixed \
         with C:, server lines with S:, headers with H:. Credentials are never written.",
    ),
    used(
        NOTIFY,
        'N',
        Takes::Value("DSN"),
        "Delivery status notifications: never, or failure,delay,success",
        "Request delivery status notifications (RFC 3461): `never`, or a comma \
         separated list of `failure`, `delay`, `success`. Sent only when the server \
         offers DSN.",
    ),
    used(
        RET,
        'R',
        Takes::Value("RET"),
        "What a DSN returns: full or hdrs",
        "Return the full message (`full`) or only its headers (`hdrs`) in a \
         delivery status notification.",
    ),
    used(
        ENVID,
        'V',
        Takes::Value("ENVID"),
        "Envelope identifier for DSNs",
        "An envelope identifier that delivery status notifications will quote.",
    ),
    used(
        BODY,
        'B',
        Takes::Value("TYPE"),
        "Body type: 7BIT or 8BITMIME",
        "Declare the body type to the server: `7BIT` or `8BITMIME`. Without it, \
         8BITMIME is declared when the message contains 8-bit bytes.",
    ),
    used(
        MODE,
        'b',
        Takes::Value("MODE"),
        "Mode: m deliver (default), p list the queue, i rebuild aliases (no-op)",
        "Operating mode: `-bm` delivers the message (the default), `-bp` lists the \
         queue as mailq does, `-bi` does nothing (as newaliases). The modes \
         a, d, D, h, H, P, s, t, v of sendmail are not supported and exit with status 64.",
    ),
    used(
        INIT_ALIASES,
        'I',
        Takes::Nothing,
        "Same as -bi: do nothing",
        "Same as -bi: there is no alias database; exit successfully.",
    ),
    used(
        QUEUE_RUN,
        'q',
        Takes::Attached("TIME"),
        "Deliver the queue once (-q or -q30m)",
        "Deliver the messages waiting in the queue once. An attached interval \
         (-q30m) is accepted and ignored: esmtp runs no daemon.",
    ),
    Flag {
        help: "Dots alone on a line do not end the message (always so); ignored",
        long_help: "A line holding a single dot never ends the message: esmtp \
                    always reads standard input to its end. Accepted and ignored.",
        ..ignored(IGNORE_DOTS, 'i', Takes::Nothing)
    },
    ignored("ignore_A", 'A', Takes::Value("X")),
    ignored("ignore_c", 'c', Takes::Nothing),
    ignored("ignore_d", 'd', Takes::Value("X")),
    ignored("ignore_e", 'e', Takes::Value("X")),
    ignored("ignore_G", 'G', Takes::Nothing),
    ignored("ignore_h", 'h', Takes::Value("N")),
    ignored("ignore_L", 'L', Takes::Value("TAG")),
    ignored("ignore_M", 'M', Takes::Value("X")),
    ignored("ignore_m", 'm', Takes::Nothing),
    ignored("ignore_n", 'n', Takes::Nothing),
    ignored("ignore_O", 'O', Takes::Value("OPT=VAL")),
    Flag {
        help: "Sendmail option (-oi, -oem, ...); ignored",
        ..ignored("ignore_o", 'o', Takes::Value("X"))
    },
    ignored("ignore_p", 'p', Takes::Value("PROTO")),
    ignored("ignore_s", 's', Takes::Nothing),
    ignored("ignore_T", 'T', Takes::Value("X")),
];

/// The flag for a letter, if any.
pub fn lookup(c: char) -> Option<&'static Flag> {
    FLAGS.iter().find(|f| f.matches(c))
}

/// Sendmail modes (`-bX`) that esmtp does not support, with what they mean.
pub const UNSUPPORTED_MODES: &[(&str, &str)] = &[
    ("a", "ARPANET mode"),
    ("d", "daemon mode"),
    ("D", "foreground daemon mode"),
    ("h", "host status"),
    ("H", "purge host status"),
    ("P", "print queue counts"),
    ("s", "SMTP on standard input"),
    ("t", "address test mode"),
    ("v", "verify addresses"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for f in FLAGS {
            for c in std::iter::once(f.short).chain(f.aliases.iter().copied()) {
                assert!(seen.insert(c), "letter -{c} defined twice");
            }
        }
    }

    #[test]
    fn every_flag_is_documented() {
        for f in FLAGS {
            assert!(!f.help.is_empty() && !f.long_help.is_empty(), "{}", f.id);
        }
    }
}
