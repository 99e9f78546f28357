//! The clap commands: `sendmail` (also `mailq`, `newaliases`, `deliver`)
//! built from the flag table ([`super::flags::FLAGS`]), and `esmtp`, which
//! adds the subcommands of [`super::commands`]. They parse what the
//! canonical reader cannot (help, version, subcommands) and generate the
//! man page's flag list and the shell completions.

use super::commands;
use super::flags::{self, Role, Takes, FLAGS};
use clap::{Arg, ArgAction, Command};
use std::ffi::OsString;

const ABOUT: &str = "Relay-only mail transfer agent with a sendmail command line";

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
    commands::subcommand_commands()
        .into_iter()
        .fold(add_sendmail_args(base("esmtp")), |cmd, sub| {
            cmd.subcommand(with_help(sub))
        })
}

/// `esmtp NAME ...`, for parsing one subcommand: the top level with that
/// subcommand alone. Building every subcommand's clap command (and the
/// sendmail flags) costs each `esmtp SUBCOMMAND` run more than its own
/// work when that is small (a cached `esmtp route`); what is parsed,
/// shown in help and usage, and refused is the same.
pub fn esmtp_subcommand(name: &str) -> Option<Command> {
    commands::subcommand_command(name).map(|sub| base("esmtp").subcommand(with_help(sub)))
}
