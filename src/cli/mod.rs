//! The command line: sendmail's flags and esmtp's subcommands.
//!
//! Two steps, as in ripgrep: the "low" step records what was typed (the
//! [`getopt`] pre-pass, then clap over the canonical form, giving
//! `ArgMatches`), the "high" step ([`resolve`]) turns it into an
//! [`Action`] that says what the program will do. Every flag is defined once
//! in [`flags::FLAGS`]; [`sendmail_command`] and [`esmtp_command`] build the
//! clap commands from it for parsing, the man page and completions.

mod completions;
mod external;
pub mod flags;
pub mod getopt;
mod run;

use crate::exit::Failure;
use crate::mail_params::{BodyType, Notify, Ret};
use crate::message::Mailbox;
use crate::transport::{Dsn, SessionOptions};
use clap::{Arg, ArgAction, ArgMatches, Command};
use flags::{Role, Takes, FLAGS};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub use run::{prepare, run, Prepared};

const ABOUT: &str = "Relay-only mail transfer agent with a sendmail command line";

/// The subcommands of `esmtp` (recognised only as its first argument).
pub const SUBCOMMANDS: &[&str] = &["check", "dump", "route", "queue", "compile", "completions"];

fn flag_arg(f: &flags::Flag) -> Arg {
    let mut arg = Arg::new(f.id)
        .short(f.short)
        .help(f.help)
        .long_help(f.long_help);
    if !f.aliases.is_empty() {
        arg = arg.visible_short_aliases(f.aliases.iter().copied());
    }
    let ignored = f.role == Role::Ignored;
    match f.takes {
        Takes::Nothing => arg.action(ArgAction::SetTrue),
        Takes::Value(name) => arg
            .value_name(name)
            .num_args(1)
            .allow_hyphen_values(true)
            .value_parser(clap::value_parser!(OsString))
            .action(if ignored {
                ArgAction::Append
            } else {
                ArgAction::Set
            }),
        Takes::Attached(name) => arg
            .value_name(name)
            .num_args(0..=1)
            .require_equals(true)
            .default_missing_value("")
            .value_parser(clap::value_parser!(OsString))
            .action(ArgAction::Set),
    }
}

fn add_sendmail_args(mut cmd: Command) -> Command {
    for f in FLAGS {
        cmd = cmd.arg(flag_arg(f));
    }
    cmd.arg(
        Arg::new("help")
            .long("help")
            .action(ArgAction::Help)
            .help("Print help"),
    )
    .arg(
        Arg::new("version")
            .long("version")
            .action(ArgAction::Version)
            .help("Print version"),
    )
    .arg(
        Arg::new(flags::RECIPIENTS)
            .value_name("RECIPIENT")
            .num_args(0..)
            .value_parser(clap::value_parser!(OsString))
            .action(ArgAction::Append)
            .help("Recipients (a name without @ is delivered locally through the MDA)"),
    )
}

fn base(name: &'static str) -> Command {
    Command::new(name)
        .about(ABOUT)
        .version(env!("CARGO_PKG_VERSION"))
        .disable_help_flag(true)
        .disable_version_flag(true)
        .args_override_self(true)
        .disable_help_subcommand(true)
}

/// `sendmail [FLAGS] [--] RECIPIENT...` (also `mailq`, `newaliases`).
pub fn sendmail_command() -> Command {
    add_sendmail_args(base("sendmail"))
}

/// `esmtp route`: print the routing decision without sending.
pub fn route_command() -> Command {
    Command::new("route")
        .about("Print where a message would go, without sending anything")
        .long_about(
            "Load the plan, select the identity and split the recipients exactly as \
             sending would, then print the decision: identity, envelope sender, the \
             smarthost with its recipients, and the MDA command for local ones. \
             Nothing is sent. With -t the headers are read from standard input.",
        )
        .arg(
            Arg::new("config")
                .short('C')
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .help("Configuration file"),
        )
        .arg(
            Arg::new("sender")
                .short('f')
                .short_alias('r')
                .value_name("ADDR")
                .allow_hyphen_values(true)
                .help("Envelope sender (selects the identity)"),
        )
        .arg(
            Arg::new("extract")
                .short('t')
                .action(ArgAction::SetTrue)
                .help("Also take recipients from the headers on standard input"),
        )
        .arg(
            Arg::new("recipients")
                .value_name("RECIPIENT")
                .num_args(0..)
                .action(ArgAction::Append),
        )
}

/// Give a subcommand (and its own subcommands) `-h`/`--help`: the top
/// level disables clap's help flag because sendmail's `-h` takes a value,
/// and clap propagates that choice to subcommands.
fn with_help(cmd: Command) -> Command {
    let subs: Vec<Command> = cmd.get_subcommands().cloned().collect();
    let mut cmd = cmd.arg(
        Arg::new("help")
            .short('h')
            .long("help")
            .action(ArgAction::Help)
            .help("Print help"),
    );
    for sub in subs {
        let name = sub.get_name().to_string();
        cmd = cmd.mut_subcommand(name, |_| with_help(sub));
    }
    cmd
}

/// `esmtp`: the sendmail flags plus the subcommands.
pub fn esmtp_command() -> Command {
    add_sendmail_args(base("esmtp"))
        .subcommand(with_help(external::check_command()))
        .subcommand(with_help(external::dump_command()))
        .subcommand(with_help(route_command()))
        .subcommand(with_help(external::queue_command()))
        .subcommand(with_help(crate::cache::compile_command()))
        .subcommand(with_help(completions::completions_command()))
}

/// What the invocation asks for.
#[derive(Debug)]
pub enum Action {
    Submit(Box<Send>),
    ListQueue {
        config: Option<PathBuf>,
    },
    FlushQueue {
        config: Option<PathBuf>,
        session: SessionOptions,
    },
    /// `newaliases`, `-bi`, `-I`: nothing to do.
    Nothing,
    /// Help or version text for standard output.
    Print(String),
    /// An `esmtp` subcommand.
    Subcommand(String, ArgMatches),
}

/// A message submission as the command line describes it.
#[derive(Debug, Clone, Default)]
pub struct Send {
    pub sender: Option<Mailbox>,
    pub full_name: Option<String>,
    pub extract: bool,
    pub config: Option<PathBuf>,
    pub session: SessionOptions,
    pub dsn: Dsn,
    pub body_type: Option<BodyType>,
    pub recipients: Vec<String>,
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
            if SUBCOMMANDS.contains(&first) {
                let matches = match esmtp_command().try_get_matches_from(&argv) {
                    Ok(m) => m,
                    Err(e) => {
                        let mut result = help_or_failure(e);
                        if let Err(f) = &mut result {
                            if first == "check" || first == "dump" {
                                f.status = external::CHECK_USAGE;
                            }
                        }
                        return result;
                    }
                };
                return match matches.subcommand() {
                    Some((sub, m)) => Ok(Action::Subcommand(sub.to_string(), m.clone())),
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

/// What was typed, by flag id: the part of clap's `ArgMatches` that
/// [`resolve`] reads, so that it can also read [`Canonical`].
pub trait Typed {
    /// A switch (`Takes::Nothing`) was given.
    fn flag(&self, id: &str) -> bool;
    /// The last value given for a flag that takes one.
    fn value(&self, id: &str) -> Option<&OsString>;
    /// The flag was given, with or without a value.
    fn given(&self, id: &str) -> bool;
    /// The operands (recipients), in order.
    fn operands(&self) -> Vec<&OsString>;
}

impl Typed for ArgMatches {
    fn flag(&self, id: &str) -> bool {
        self.get_flag(id)
    }
    fn value(&self, id: &str) -> Option<&OsString> {
        self.get_one::<OsString>(id)
    }
    fn given(&self, id: &str) -> bool {
        self.contains_id(id) && self.value_source(id).is_some()
    }
    fn operands(&self) -> Vec<&OsString> {
        self.get_many::<OsString>(flags::RECIPIENTS)
            .into_iter()
            .flatten()
            .collect()
    }
}

/// The canonical command line ([`getopt::canonicalize`]) read by the flag
/// table: each flag once per occurrence, `-q` or `-q=VALUE`, every value
/// as the next argument, operands after `--`. The last occurrence wins,
/// as clap's `args_override_self` makes it.
#[derive(Debug)]
pub struct Canonical {
    given: Vec<(&'static str, Option<OsString>)>,
    operands: Vec<OsString>,
}

impl Canonical {
    /// `None` for anything else (`--help`, `--version`): clap handles it.
    pub fn read(canonical: &[OsString]) -> Option<Canonical> {
        use std::os::unix::ffi::OsStrExt;
        let mut given = Vec::new();
        let mut args = canonical.iter().skip(1);
        while let Some(arg) = args.next() {
            let bytes = arg.as_bytes();
            if bytes == b"--" {
                return Some(Canonical {
                    given,
                    operands: args.cloned().collect(),
                });
            }
            let (letter, attached) = match bytes {
                [b'-', c] => (*c, None),
                [b'-', c, b'=', rest @ ..] => (*c, Some(rest)),
                _ => return None,
            };
            let flag = flags::lookup(char::from(letter)).filter(|_| letter.is_ascii())?;
            let value = match (flag.takes, attached) {
                (Takes::Nothing, None) => None,
                (Takes::Value(_), None) => Some(args.next()?.clone()),
                (Takes::Attached(_), v) => {
                    Some(std::ffi::OsStr::from_bytes(v.unwrap_or(b"")).to_owned())
                }
                _ => return None,
            };
            given.push((flag.id, value));
        }
        None
    }
}

impl Typed for Canonical {
    fn flag(&self, id: &str) -> bool {
        self.given(id)
    }
    fn value(&self, id: &str) -> Option<&OsString> {
        self.given
            .iter()
            .rev()
            .find(|(g, _)| *g == id)
            .and_then(|(_, v)| v.as_ref())
    }
    fn given(&self, id: &str) -> bool {
        self.given.iter().any(|(g, _)| *g == id)
    }
    fn operands(&self) -> Vec<&OsString> {
        self.operands.iter().collect()
    }
}

fn text(m: &dyn Typed, id: &str, what: &str) -> Result<Option<String>, Failure> {
    match m.value(id) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(|s| Some(s.to_string()))
            .ok_or_else(|| Failure::usage(format!("{what} is not valid UTF-8"))),
    }
}

fn path(m: &dyn Typed, id: &str) -> Option<PathBuf> {
    m.value(id).map(PathBuf::from)
}

/// The high step: from what was typed to what to do.
pub fn resolve(name: &str, m: &dyn Typed) -> Result<Action, Failure> {
    let config = path(m, flags::CONFIG);
    let session = SessionOptions {
        verbose: m.flag(flags::VERBOSE),
        transcript: path(m, flags::TRANSCRIPT),
    };
    let mut mode = match name {
        "mailq" => Mode::List,
        "newaliases" => Mode::Nothing,
        "deliver" => Mode::Flush,
        _ => Mode::Submit,
    };
    if let Some(b) = text(m, flags::MODE, "the -b mode")? {
        mode = match b.as_str() {
            "m" => Mode::Submit,
            "p" => Mode::List,
            "i" => Mode::Nothing,
            _ => {
                return Err(
                    match flags::UNSUPPORTED_MODES.iter().find(|(k, _)| *k == b) {
                        Some((k, what)) => {
                            Failure::usage(format!("-b{k} ({what}) is not supported by esmtp"))
                        }
                        None => Failure::usage(format!("unknown mode -b{}", printable(&b))),
                    },
                )
            }
        };
    }
    if m.flag(flags::INIT_ALIASES) {
        mode = Mode::Nothing;
    }
    if m.given(flags::QUEUE_RUN) {
        mode = Mode::Flush;
    }
    match mode {
        Mode::Nothing => return Ok(Action::Nothing),
        Mode::List => return Ok(Action::ListQueue { config }),
        Mode::Flush => return Ok(Action::FlushQueue { config, session }),
        Mode::Submit => {}
    }

    let sender = match text(m, flags::SENDER, "the -f address")? {
        Some(s) => Some(parse_sender(&s)?),
        None => None,
    };
    let full_name = text(m, flags::FULL_NAME, "the -F name")?;
    if let Some(n) = &full_name {
        crate::message::check_header_text("the -F name", n)?;
    }
    let dsn = Dsn {
        notify: text(m, flags::NOTIFY, "-N")?
            .map(|v| parse_notify(&v))
            .transpose()?,
        ret: text(m, flags::RET, "-R")?
            .map(|v| parse_ret(&v))
            .transpose()?,
        envid: text(m, flags::ENVID, "-V")?
            .map(|v| parse_envid(&v))
            .transpose()?,
    };
    let body_type = text(m, flags::BODY, "-B")?
        .map(|v| parse_body(&v))
        .transpose()?;
    let mut recipients = Vec::new();
    for r in m.operands() {
        let r = r
            .to_str()
            .ok_or_else(|| Failure::usage("a recipient is not valid UTF-8"))?;
        recipients.extend(parse_recipient_arg(r)?);
    }
    let extract = m.flag(flags::EXTRACT);
    if recipients.is_empty() && !extract {
        return Err(Failure::usage("Recipient names must be specified"));
    }
    Ok(Action::Submit(Box::new(Send {
        sender,
        full_name,
        extract,
        config,
        session,
        dsn,
        body_type,
        recipients,
    })))
}

enum Mode {
    Submit,
    List,
    Flush,
    Nothing,
}

/// `-f ADDR`: `addr`, `Name <addr>`, or `<>` / empty for the null sender.
pub fn parse_sender(s: &str) -> Result<Mailbox, Failure> {
    if s.chars().any(char::is_control) {
        return Err(Failure::usage(format!(
            "the -f address {s:?} contains a control character (CR, LF, NUL or similar)"
        )));
    }
    let t = s.trim();
    if t.is_empty() || t == "<>" {
        return Ok(Mailbox::default());
    }
    if t.contains('<') || t.contains('>') {
        let list = crate::message::parse_address_list(t)
            .map_err(|e| Failure::usage(format!("invalid -f address {s:?}: {e}")))?;
        return match list.as_slice() {
            [one] => Ok(one.clone()),
            _ => Err(Failure::usage(format!(
                "the -f address {s:?} must be one address"
            ))),
        };
    }
    Ok(Mailbox::new(t))
}

/// A recipient argument: one address, or a list (`a@b, Name <c@d>`) when it
/// holds a comma or an angle bracket.
pub fn parse_recipient_arg(s: &str) -> Result<Vec<String>, Failure> {
    if s.chars().any(char::is_control) {
        return Err(Failure::usage(format!(
            "the recipient {s:?} contains a control character (CR, LF, NUL or similar)"
        )));
    }
    if s.contains([',', '<', '>']) {
        let list = crate::message::parse_address_list(s)
            .map_err(|e| Failure::usage(format!("invalid recipient {s:?}: {e}")))?;
        return Ok(list.into_iter().map(|m| m.addr).collect());
    }
    let t = s.trim();
    if t.is_empty() {
        return Err(Failure::usage("an empty recipient"));
    }
    Ok(vec![t.to_string()])
}

/// A value from the command line as an error message quotes it: control
/// characters escaped, so that none reaches the terminal or a log.
fn printable(v: &str) -> String {
    crate::config::diag::escape_controls(v)
}

fn parse_notify(v: &str) -> Result<Notify, Failure> {
    v.parse().map_err(|_| {
        Failure::usage(format!(
            "-N {}: expected never, or a list of failure, delay, success",
            printable(v)
        ))
    })
}

fn parse_ret(v: &str) -> Result<Ret, Failure> {
    v.parse()
        .map_err(|_| Failure::usage(format!("-R {}: expected full or hdrs", printable(v))))
}

fn parse_envid(v: &str) -> Result<String, Failure> {
    if v.is_empty() || v.len() > 100 || !v.bytes().all(|b| (33..=126).contains(&b)) {
        return Err(Failure::usage(format!(
            "-V {v:?}: the envelope id must be 1 to 100 printable ASCII characters"
        )));
    }
    Ok(v.to_string())
}

fn parse_body(v: &str) -> Result<BodyType, Failure> {
    v.parse()
        .map_err(|_| Failure::usage(format!("-B {}: expected 7BIT or 8BITMIME", printable(v))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_as(name: &str, args: &[&str]) -> Result<Action, Failure> {
        let mut argv = vec![OsString::from(name)];
        argv.extend(args.iter().map(OsString::from));
        parse(argv)
    }

    fn send(args: &[&str]) -> Send {
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
        assert!(matches!(parse_as("newaliases", &[]), Ok(Action::Nothing)));
        assert!(matches!(
            parse_as("sendmail", &["-bi"]),
            Ok(Action::Nothing)
        ));
        assert!(matches!(parse_as("sendmail", &["-I"]), Ok(Action::Nothing)));
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
            Ok(Action::Subcommand(name, m)) => {
                assert_eq!(name, "route");
                assert_eq!(m.get_one::<String>("sender").unwrap(), "a@b");
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
