//! `esmtp compile`: compile the configuration into the plan cache ahead of
//! the next submission.

use crate::exit::Failure;
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::path::PathBuf;

/// What `esmtp compile` was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileArgs {
    pub file: Option<PathBuf>,
    pub verbose: bool,
}

impl CompileArgs {
    pub fn from_matches(m: &ArgMatches) -> CompileArgs {
        CompileArgs {
            file: m.get_one::<PathBuf>("file").cloned(),
            verbose: m.get_flag("verbose"),
        }
    }
}

/// `esmtp compile [FILE]`.
pub fn compile_command() -> Command {
    Command::new("compile")
        .about("Compile the configuration and store the compiled plan in the cache")
        .long_about(
            "Compile the configuration (FILE, or the one sendmail mode reads: ~/.esmtprc, \
             else /etc/esmtprc) and store the compiled plan in $XDG_CACHE_HOME/esmtp \
             (~/.cache/esmtp). Every submission does this by itself when the cached plan \
             is missing or stale; running it ahead saves that cost on the next message.",
        )
        .arg(
            Arg::new("file")
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .help("Configuration file (default: ~/.esmtprc, else /etc/esmtprc)"),
        )
        .arg(
            Arg::new("verbose")
                .short('v')
                .long("verbose")
                .action(ArgAction::SetTrue)
                .help("Say what was compiled and where it went"),
        )
}

/// Run `esmtp compile`.
pub fn run_compile(args: &CompileArgs) -> Result<(), Failure> {
    let path = crate::cache::compile_to_cache(args.file.as_deref(), args.verbose)?;
    if args.verbose {
        println!("esmtp: compiled plan written to {}", path.display());
    }
    Ok(())
}
