//! The command line: sendmail's flags and esmtp's subcommands.
//!
//! Two steps, as in ripgrep: the "low" step records what was typed (the
//! [`getopt`] pre-pass, then the canonical reader or clap, giving a
//! [`Typed`]), the "high" step ([`resolve`]) turns it into an [`Action`]
//! that says what the program will do. Every flag is defined once in
//! [`flags::FLAGS`]; [`sendmail_command`] and [`esmtp_command`] build the
//! clap commands from it for parsing, the man page and completions; each
//! subcommand lives in [`commands`].

pub mod commands;
mod definition;
pub mod flags;
pub mod getopt;
mod resolve;
mod run;
mod typed;
mod wrapper;

use crate::exit::Failure;
use crate::submit::Request;
use crate::transport::SessionOptions;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub use commands::SUBCOMMANDS;
pub use definition::{esmtp_command, sendmail_command};
pub use resolve::{parse_recipient_arg, parse_sender, resolve};
pub use run::run;
pub use typed::{Canonical, Typed};
pub use wrapper::convert_wrapper_entry;

/// What the invocation asks for.
#[derive(Debug)]
pub enum Action {
    Submit(Box<Request>),
    ListQueue {
        config: Option<PathBuf>,
    },
    FlushQueue {
        config: Option<PathBuf>,
        session: SessionOptions,
    },
    /// `newaliases`, `-bi`, `-I`: check the aliases file of `aliases FILE`.
    CheckAliases {
        config: Option<PathBuf>,
    },
    /// Help or version text for standard output.
    Print(String),
    /// An `esmtp` subcommand.
    Subcommand(commands::Subcommand),
}

/// The program name as invoked (basename of argv\[0\]).
fn invoked_name(argv0: Option<&OsString>) -> String {
    argv0
        .map(|a| {
            Path::new(a)
                .file_name()
                .unwrap_or(a.as_os_str())
                .to_string_lossy()
                .into_owned()
        })
        .unwrap_or_else(|| "sendmail".into())
}

/// Parse the whole command line (argv\[0\] included).
pub fn parse(argv: Vec<OsString>) -> Result<Action, Failure> {
    let name = invoked_name(argv.first());
    let args = argv.get(1..).unwrap_or_default();
    if name == "esmtp" {
        if let Some(first) = args.first().and_then(|a| a.to_str()) {
            if let Some(cmd) = definition::esmtp_subcommand(first) {
                let matches = match cmd.try_get_matches_from(&argv) {
                    Ok(m) => m,
                    Err(e) => {
                        let mut result = help_or_failure(e);
                        if let Err(f) = &mut result {
                            if first == "check" || first == "dump" {
                                f.status = commands::check::CHECK_USAGE;
                            }
                        }
                        return result;
                    }
                };
                return match matches.subcommand() {
                    Some((sub, m)) => Ok(Action::Subcommand(commands::Subcommand::from_matches(
                        sub, m,
                    )?)),
                    None => Err(Failure::usage("missing subcommand")),
                };
            }
        }
    }
    let canonical = getopt::canonicalize(&name, args)?;
    // The canonical form is already split by the flag table; reading it
    // directly skips building clap's command (a fifth of a 2 KB
    // submission's instructions). Help and version go through clap.
    if let Some(typed) = Canonical::read(&canonical) {
        return resolve(&name, &typed);
    }
    let cmd = if name == "esmtp" {
        esmtp_command()
    } else {
        sendmail_command().name(name.clone())
    };
    let matches = match cmd.try_get_matches_from(canonical) {
        Ok(m) => m,
        Err(e) => return help_or_failure(e),
    };
    resolve(&name, &matches)
}

/// Help and version requests are output; anything else is a usage error.
fn help_or_failure(e: clap::Error) -> Result<Action, Failure> {
    match e.kind() {
        clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
            Ok(Action::Print(e.render().to_string()))
        }
        _ => Err(clap_failure(e)),
    }
}

/// A clap error as one line with status 64.
fn clap_failure(e: clap::Error) -> Failure {
    let text = e.render().to_string();
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("invalid command line");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    Failure::usage(first.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail_params::{BodyType, Notify, Ret};
    use crate::message::Mailbox;

    fn parse_as(name: &str, args: &[&str]) -> Result<Action, Failure> {
        let mut argv = vec![OsString::from(name)];
        argv.extend(args.iter().map(OsString::from));
        parse(argv)
    }

    fn send(args: &[&str]) -> Request {
        match parse_as("/usr/sbin/sendmail", args) {
            Ok(Action::Submit(s)) => *s,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn usage_error(args: &[&str]) -> String {
        match parse_as("sendmail", args) {
            Err(e) => {
                assert_eq!(e.status, crate::exit::USAGE, "{args:?}");
                e.message
            }
            Ok(a) => panic!("{args:?} parsed: {a:?}"),
        }
    }

    /// The submission path as it was before [`Canonical`]: clap over the
    /// canonical command line.
    fn via_clap(name: &str, args: &[&str]) -> String {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let result = getopt::canonicalize(name, &args).and_then(|canonical| {
            let cmd = if name == "esmtp" {
                esmtp_command()
            } else {
                sendmail_command().name(name.to_string())
            };
            match cmd.try_get_matches_from(canonical) {
                Ok(m) => resolve(name, &m),
                Err(e) => help_or_failure(e),
            }
        });
        format!("{result:?}")
    }

    fn check_same(name: &str, args: &[&str]) {
        if name == "esmtp" && args.first().is_some_and(|a| SUBCOMMANDS.contains(a)) {
            return; // Subcommands never reach either reader.
        }
        assert_eq!(
            format!("{:?}", parse_as(name, args)),
            via_clap(name, args),
            "{name} {args:?}"
        );
    }

    #[test]
    fn reading_the_canonical_line_agrees_with_clap() {
        let lines: &[&[&str]] = &[
            &["-oi", "-oem", "-f", "me@x.org", "--", "a@b.c", "-d@e.f"],
            &["-i", "a@b.c"],
            &["-t"],
            &["-fme@x.org", "-Fme", "-tv", "-X", "/tmp/t", "-Cfile", "bob"],
            &["-r", "Me <me@x.org>", "bob"],
            &["-f", "<>", "a@b"],
            &["-f", "a@b", "-f", "c@d", "x@y"],
            &[
                "-N",
                "failure,delay",
                "-Rhdrs",
                "-V",
                "id-1",
                "-B",
                "8bitmime",
                "a@b",
            ],
            &["-Nnever", "a@b"],
            &["-N", "sometimes", "a@b"],
            &[
                "-A", "x", "-c", "-d", "0.1", "-e", "x", "-G", "-h", "5", "-L", "tag", "a@b",
            ],
            &[
                "-M", "x", "-m", "-n", "-O", "a=b", "-o", "x", "-p", "smtp", "-s", "-T", "x",
            ],
            &["-bm", "a@b"],
            &["-bp"],
            &["-bs"],
            &["-bz"],
            &["-bi"],
            &["-I"],
            &["-q"],
            &["-q30m"],
            &["-q", "bob"],
            &[],
            &["-i"],
            &["-Y", "a@b"],
            &["-f"],
            &["-f", "a@b\r\nRCPT TO:<x@y>", "c@d"],
            &["a@b\nX: y"],
            &["a@b.c, Name <d@e.f>", "bob"],
            &["route"],
            &["-i", "check"],
            &["--", "-t", "x@y"],
            &["-"],
            &["--help"],
            &["--version"],
        ];
        for name in ["sendmail", "esmtp", "mailq", "newaliases", "deliver"] {
            for args in lines {
                check_same(name, args);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn any_flag_mix_reads_the_same_without_clap(
            args in proptest::collection::vec(
                "(-[a-zA-Z]{1,3}|--|[a-z@.<>, ]{0,8}|-q[0-9m]{0,3}|-[fFNRVBbCX][a-z0-9@,]{0,6})", 0..8)
        ) {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            for name in ["sendmail", "esmtp", "mailq"] {
                if name == "esmtp" && args.first().is_some_and(|a| SUBCOMMANDS.contains(a)) {
                    continue;
                }
                proptest::prop_assert_eq!(
                    format!("{:?}", parse_as(name, &args)),
                    via_clap(name, &args),
                    "{} {:?}", name, args
                );
            }
        }
    }

    #[test]
    fn commands_are_well_formed() {
        sendmail_command().debug_assert();
        esmtp_command().debug_assert();
    }

    #[test]
    fn mutt_and_friends() {
        let s = send(&["-oi", "-oem", "-f", "me@x.org", "--", "a@b.c", "-d@e.f"]);
        assert_eq!(s.sender, Some(Mailbox::new("me@x.org")));
        assert_eq!(s.recipients, ["a@b.c", "-d@e.f"]);
        let s = send(&["-i", "a@b.c"]);
        assert_eq!(s.recipients, ["a@b.c"]);
        let s = send(&["-t"]);
        assert!(s.extract && s.recipients.is_empty());
        let s = send(&["-fme@x.org", "-Fme", "-tv", "-X", "/tmp/t", "-Cfile", "bob"]);
        assert_eq!(s.sender.unwrap().addr, "me@x.org");
        assert_eq!(s.full_name.as_deref(), Some("me"));
        assert!(s.extract && s.session.verbose);
        assert_eq!(s.session.transcript, Some(PathBuf::from("/tmp/t")));
        assert_eq!(s.config, Some(PathBuf::from("file")));
        let s = send(&["-r", "Me <me@x.org>", "bob"]);
        assert_eq!(s.sender.unwrap().name.as_deref(), Some("Me"));
        assert_eq!(send(&["-f", "<>", "a@b"]).sender, Some(Mailbox::default()));
    }

    #[test]
    fn dsn_and_body() {
        let s = send(&[
            "-N",
            "failure,delay",
            "-Rhdrs",
            "-V",
            "id-1",
            "-B",
            "8bitmime",
            "a@b",
        ]);
        assert_eq!(
            s.dsn.notify.as_ref().map(ToString::to_string).as_deref(),
            Some("FAILURE,DELAY")
        );
        assert_eq!(s.dsn.ret, Some(Ret::Hdrs));
        assert_eq!(s.dsn.envid.as_deref(), Some("id-1"));
        assert_eq!(s.body_type, Some(BodyType::EightBitMime));
        assert_eq!(send(&["-Nnever", "a@b"]).dsn.notify, Some(Notify::Never));
        usage_error(&["-N", "sometimes", "a@b"]);
        usage_error(&["-R", "some", "a@b"]);
        usage_error(&["-B", "BINARYMIME", "a@b"]);
        usage_error(&["-V", "a b", "a@b"]);
    }

    #[test]
    fn ignored_flags_are_accepted() {
        let s = send(&[
            "-A", "x", "-c", "-d", "0.1", "-e", "x", "-G", "-h", "5", "-i", "-L", "tag", "-M", "x",
            "-m", "-n", "-O", "a=b", "-o", "x", "-oi", "-oem", "-p", "smtp", "-s", "-T", "x",
            "-bm", "a@b",
        ]);
        assert_eq!(s.recipients, ["a@b"]);
    }

    #[test]
    fn modes() {
        assert!(matches!(
            parse_as("sendmail", &["-bp"]),
            Ok(Action::ListQueue { .. })
        ));
        assert!(matches!(
            parse_as("mailq", &[]),
            Ok(Action::ListQueue { .. })
        ));
        assert!(matches!(
            parse_as("mailq", &["-q"]),
            Ok(Action::FlushQueue { .. })
        ));
        assert!(matches!(
            parse_as("sendmail", &["-q"]),
            Ok(Action::FlushQueue { .. })
        ));
        assert!(matches!(
            parse_as("sendmail", &["-q30m"]),
            Ok(Action::FlushQueue { .. })
        ));
        assert!(matches!(
            parse_as("deliver", &[]),
            Ok(Action::FlushQueue { .. })
        ));
        assert!(matches!(
            parse_as("newaliases", &[]),
            Ok(Action::CheckAliases { .. })
        ));
        assert!(matches!(
            parse_as("sendmail", &["-bi"]),
            Ok(Action::CheckAliases { .. })
        ));
        assert!(matches!(
            parse_as("sendmail", &["-I"]),
            Ok(Action::CheckAliases { .. })
        ));
        assert!(usage_error(&["-bs"]).contains("-bs"));
        assert!(usage_error(&["-bd"]).contains("daemon"));
        assert!(usage_error(&["-bz"]).contains("-bz"));
    }

    #[test]
    fn usage_errors() {
        assert_eq!(usage_error(&[]), "Recipient names must be specified");
        assert_eq!(usage_error(&["-i"]), "Recipient names must be specified");
        assert!(usage_error(&["-Y", "a@b"]).contains("-Y"));
        assert!(usage_error(&["-f"]).contains("requires an argument"));
        assert!(usage_error(&["-f", "a@b\r\nRCPT TO:<x@y>", "c@d"]).contains("control"));
        assert!(usage_error(&["a@b\nX: y"]).contains("control"));
        assert!(usage_error(&["-F", "Me\nBcc: x@y", "a@b"]).contains("control"));
    }

    #[test]
    fn subcommands_only_for_esmtp() {
        match parse_as("esmtp", &["route", "-f", "a@b", "bob"]) {
            Ok(Action::Subcommand(commands::Subcommand::Route(args))) => {
                assert_eq!(args.sender.as_deref(), Some("a@b"));
                assert_eq!(args.recipients, ["bob"]);
            }
            other => panic!("{other:?}"),
        }
        // As sendmail, "route" is a recipient.
        assert_eq!(send(&["route"]).recipients, ["route"]);
        // After flags, too.
        match parse_as("esmtp", &["-i", "check"]) {
            Ok(Action::Submit(s)) => assert_eq!(s.recipients, ["check"]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_as("esmtp", &["queue", "list"]),
            Ok(Action::Subcommand(..))
        ));
    }

    #[test]
    fn recipient_lists() {
        assert_eq!(
            send(&["a@b.c, Name <d@e.f>", "bob"]).recipients,
            ["a@b.c", "d@e.f", "bob"]
        );
    }

    #[test]
    fn help_and_version() {
        match parse_as("sendmail", &["--help"]) {
            Ok(Action::Print(t)) => {
                assert!(t.contains("-f <ADDR>") && t.contains("envelope sender"))
            }
            other => panic!("{other:?}"),
        }
        for args in [
            &["route", "--help"][..],
            &["queue", "flush", "-h"],
            &["check", "--help"],
        ] {
            match parse_as("esmtp", args) {
                Ok(Action::Print(t)) => assert!(t.contains("Usage: esmtp"), "{t}"),
                other => panic!("{args:?}: {other:?}"),
            }
        }
        match parse_as("esmtp", &["--version"]) {
            Ok(Action::Print(t)) => assert!(t.contains(env!("CARGO_PKG_VERSION"))),
            other => panic!("{other:?}"),
        }
    }
}
