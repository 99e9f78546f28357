//! `esmtp completions SHELL`: shell completion scripts generated from the
//! same clap definitions that parse the command line, so they cannot drift.

use crate::exit::Failure;
use clap::{Arg, ArgMatches, Command};
use clap_complete::Shell;

/// What `esmtp completions` was asked: the shell to complete for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletionsArgs {
    pub shell: Shell,
}

impl CompletionsArgs {
    pub fn from_matches(m: &ArgMatches) -> CompletionsArgs {
        let shell = match m.get_one::<String>("shell").map(String::as_str) {
            Some("zsh") => Shell::Zsh,
            Some("fish") => Shell::Fish,
            _ => Shell::Bash,
        };
        CompletionsArgs { shell }
    }
}

/// The `completions` subcommand.
pub fn completions_command() -> Command {
    Command::new("completions")
        .about("Print a shell completion script (bash, zsh or fish)")
        .arg(
            Arg::new("shell")
                .value_name("SHELL")
                .required(true)
                .value_parser(["bash", "zsh", "fish"])
                .help("The shell to complete for"),
        )
}

/// Print the completion script.
pub fn run_completions(args: &CompletionsArgs) -> Result<(), Failure> {
    let mut out = Vec::new();
    clap_complete::generate(
        args.shell,
        &mut crate::cli::esmtp_command(),
        "esmtp",
        &mut out,
    );
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&out)
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::new(crate::exit::OSERR, format!("stdout: {e}")))
}
