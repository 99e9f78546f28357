//! `esmtp completions SHELL`: shell completion scripts generated from the
//! same clap definitions that parse the command line, so they cannot drift.

use clap::{Arg, ArgMatches, Command};
use clap_complete::Shell;

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

pub fn run_completions(m: &ArgMatches) -> Result<(), crate::exit::Failure> {
    let shell = match m.get_one::<String>("shell").map(String::as_str) {
        Some("zsh") => Shell::Zsh,
        Some("fish") => Shell::Fish,
        _ => Shell::Bash,
    };
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut super::esmtp_command(), "esmtp", &mut out);
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&out)
        .and_then(|()| stdout.flush())
        .map_err(|e| crate::exit::Failure::new(crate::exit::OSERR, format!("stdout: {e}")))
}
