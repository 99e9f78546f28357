//! `esmtp dump`: print the compiled plan, secrets redacted, as text or
//! JSON, with the state of its cached copy.

use super::check::{CHECK_PROBLEMS, CHECK_USAGE};
use crate::config::{self, compile, dump, locate, read_source, Options, Origin};
use crate::exit::Failure;
use clap::{Arg, ArgMatches, Command};
use std::io::Write;
use std::path::PathBuf;

/// What `esmtp dump` was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpArgs {
    pub file: Option<PathBuf>,
    pub json: bool,
}

impl DumpArgs {
    pub fn from_matches(m: &ArgMatches) -> DumpArgs {
        DumpArgs {
            file: m.get_one::<PathBuf>("file").cloned(),
            json: m.get_one::<String>("format").map(String::as_str) == Some("json"),
        }
    }
}

/// The `dump` subcommand.
pub fn dump_command() -> Command {
    Command::new("dump")
        .about("Print the compiled configuration plan, secrets redacted")
        .arg(
            Arg::new("file")
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .help("File to compile (default: the one sendmail mode uses)"),
        )
        .arg(super::text_or_json("Output format"))
}

/// Run `esmtp dump`; the failure carries the linter status (its messages
/// are printed here).
pub fn run_dump(args: &DumpArgs) -> Result<(), Failure> {
    let origin = match &args.file {
        Some(p) => Origin::Explicit(p.clone()),
        None => match locate(None) {
            Ok(Origin::None) => {
                eprintln!("esmtp dump: {}", config::no_file_message());
                return Err(Failure::reported(CHECK_USAGE));
            }
            Ok(o) => o,
            Err(f) => {
                eprintln!("esmtp dump: {}", f.message);
                return Err(Failure::reported(CHECK_PROBLEMS));
            }
        },
    };
    let Some(path) = origin.path() else {
        return Err(Failure::reported(CHECK_USAGE));
    };
    let bytes = match read_source(path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("esmtp dump: {}: {e}", path.display());
            return Err(Failure::reported(CHECK_USAGE));
        }
    };
    let name = path.display().to_string();
    let mut comp = compile(&name, &bytes, &Options::default());
    drop(bytes);
    let Some(plan) = comp.plan.take() else {
        eprint!("{}", comp.render_errors());
        return Err(Failure::reported(CHECK_PROBLEMS));
    };
    drop(comp);
    // One copy of the plan at a time, and no copy of the output (a large
    // file: bounded memory).
    let redacted = plan.redacted();
    drop(plan);
    let json = args.json;
    let text = if json {
        dump::json(&redacted)
    } else {
        dump::text(&name, &redacted)
    };
    drop(redacted);
    let mut stdout = std::io::stdout().lock();
    let written = if json {
        stdout.write_all(text.as_bytes())
    } else {
        stdout.write_all(text.trim_end().as_bytes()).and_then(|_| {
            writeln!(
                stdout,
                "\n# cached plan: {}",
                crate::cache::freshness(Some(path))
            )
        })
    };
    if written.and_then(|_| stdout.flush()).is_err() {
        return Err(Failure::reported(CHECK_USAGE));
    }
    Ok(())
}
