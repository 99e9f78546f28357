//! The `esmtp` subcommands. Each file holds one subcommand: its clap
//! `Command`, its typed arguments read from clap's matches, and its runner.
//! The parse turns the matches into a [`Subcommand`]; [`Subcommand::run`]
//! dispatches on it, and every runner ends in `Result<(), Failure>`.

pub mod check;
pub mod compile;
pub mod completions;
pub mod dump;
pub mod import;
pub mod oauth;
pub mod probe;
pub mod queue;
pub mod route;

use crate::exit::Failure;
use clap::{ArgMatches, Command};

/// The subcommands of `esmtp` (recognised only as its first argument).
pub const SUBCOMMANDS: &[&str] = &[
    "check",
    "dump",
    "route",
    "queue",
    "compile",
    "completions",
    "import",
    "oauth",
    "probe",
];

/// Every subcommand's clap command, in the order of [`SUBCOMMANDS`].
/// `-C FILE` / `--config FILE`, as the subcommands that use the
/// configuration sendmail mode uses take it.
pub(super) fn config_arg() -> clap::Arg {
    clap::Arg::new("config")
        .short('C')
        .long("config")
        .value_name("FILE")
        .value_parser(clap::value_parser!(std::path::PathBuf))
        .help("Configuration file (default ~/.esmtprc, then /etc/esmtprc)")
}

/// `--format text|json` (default text), as `dump`, `oauth status` and
/// `probe` take it.
pub(super) fn text_or_json(help: &'static str) -> clap::Arg {
    clap::Arg::new("format")
        .long("format")
        .value_name("FORMAT")
        .value_parser(["text", "json"])
        .default_value("text")
        .help(help)
}

pub fn subcommand_commands() -> [Command; 9] {
    [
        check::check_command(),
        dump::dump_command(),
        route::route_command(),
        queue::queue_command(),
        compile::compile_command(),
        completions::completions_command(),
        import::import_command(),
        oauth::oauth_command(),
        probe::probe_command(),
    ]
}

/// The clap command of the subcommand `name` alone.
pub fn subcommand_command(name: &str) -> Option<Command> {
    Some(match name {
        "check" => check::check_command(),
        "dump" => dump::dump_command(),
        "route" => route::route_command(),
        "queue" => queue::queue_command(),
        "compile" => compile::compile_command(),
        "completions" => completions::completions_command(),
        "import" => import::import_command(),
        "oauth" => oauth::oauth_command(),
        "probe" => probe::probe_command(),
        _ => return None,
    })
}

/// An `esmtp` subcommand with what was asked of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subcommand {
    Check(check::CheckArgs),
    Dump(dump::DumpArgs),
    Route(route::RouteArgs),
    Queue(queue::QueueArgs),
    Compile(compile::CompileArgs),
    Completions(completions::CompletionsArgs),
    Import(import::ImportArgs),
    OAuth(oauth::OAuthArgs),
    Probe(probe::ProbeArgs),
}

impl Subcommand {
    /// The subcommand `name` from its clap matches.
    pub fn from_matches(name: &str, m: &ArgMatches) -> Result<Subcommand, Failure> {
        Ok(match name {
            "check" => Subcommand::Check(check::CheckArgs::from_matches(m)),
            "dump" => Subcommand::Dump(dump::DumpArgs::from_matches(m)),
            "route" => Subcommand::Route(route::RouteArgs::from_matches(m)),
            "queue" => Subcommand::Queue(
                queue::QueueArgs::from_matches(m)
                    .ok_or_else(|| Failure::usage("esmtp queue: list, status, flush or remove"))?,
            ),
            "compile" => Subcommand::Compile(compile::CompileArgs::from_matches(m)),
            "completions" => Subcommand::Completions(completions::CompletionsArgs::from_matches(m)),
            "import" => Subcommand::Import(
                import::ImportArgs::from_matches(m)
                    .ok_or_else(|| Failure::usage("esmtp import: msmtp [FILE]"))?,
            ),
            "oauth" => Subcommand::OAuth(
                oauth::OAuthArgs::from_matches(m)
                    .ok_or_else(|| Failure::usage("esmtp oauth: authorize, status or revoke"))?,
            ),
            "probe" => Subcommand::Probe(probe::ProbeArgs::from_matches(m)),
            other => return Err(Failure::usage(format!("unknown subcommand {other}"))),
        })
    }

    /// Carry the subcommand out.
    pub fn run(&self) -> Result<(), Failure> {
        match self {
            Subcommand::Check(args) => check::run_check(args),
            Subcommand::Dump(args) => dump::run_dump(args),
            Subcommand::Route(args) => route::run_route(args),
            Subcommand::Queue(args) => queue::run_queue(args, super::convert_wrapper_entry),
            Subcommand::Compile(args) => compile::run_compile(args),
            Subcommand::Completions(args) => completions::run_completions(args),
            Subcommand::Import(args) => import::run_import(args),
            Subcommand::OAuth(args) => oauth::run_oauth(args),
            Subcommand::Probe(args) => probe::run_probe(args),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `esmtp NAME` is parsed with `subcommand_command(NAME)` alone: it
    /// must know every subcommand, as the full command does.
    #[test]
    fn every_subcommand_has_its_command_alone() {
        let all = subcommand_commands();
        for (name, full) in SUBCOMMANDS.iter().zip(all.iter()) {
            let alone = subcommand_command(name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(alone.get_name(), *name);
            assert_eq!(full.get_name(), *name);
        }
        assert!(subcommand_command("nope").is_none());
    }
}
