//! `esmtp import msmtp [FILE]`: print the esmtprc equivalent of an msmtprc.

use crate::config::msmtp;
use crate::exit::{Failure, DATAERR};
use clap::{Arg, ArgMatches, Command};
use std::io::{Read, Write};
use std::path::PathBuf;

/// What `esmtp import` was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportArgs {
    /// The msmtprc; `None`: msmtp's own lookup.
    pub file: Option<PathBuf>,
}

impl ImportArgs {
    pub fn from_matches(m: &ArgMatches) -> Option<ImportArgs> {
        let sub = m.subcommand_matches("msmtp")?;
        Some(ImportArgs {
            file: sub.get_one::<PathBuf>("file").cloned(),
        })
    }
}

/// `esmtp import msmtp [FILE]`.
pub fn import_command() -> Command {
    Command::new("import")
        .about("Convert another program's configuration to esmtprc")
        .subcommand_required(true)
        .subcommand(
            Command::new("msmtp")
                .about("Print the esmtprc equivalent of an msmtprc on standard output")
                .long_about(
                    "Read an msmtprc (FILE, or msmtp's own: $XDG_CONFIG_HOME/msmtp/config, \
                     else ~/.msmtprc) and print the equivalent esmtprc: each account becomes \
                     an identity, the default account the default identity; every setting \
                     without an esmtp equivalent becomes a comment saying why. Secrets are \
                     copied into the output, never into comments or messages.",
                )
                .arg(
                    Arg::new("file")
                        .value_name("FILE")
                        .value_parser(clap::value_parser!(PathBuf))
                        .help("The msmtprc (default: msmtp's own)"),
                ),
        )
}

/// Run `esmtp import msmtp`.
pub fn run_import(args: &ImportArgs) -> Result<(), Failure> {
    let path = match &args.file {
        Some(p) => p.clone(),
        None => msmtp::default_path().ok_or_else(|| {
            Failure::new(
                crate::exit::NOINPUT,
                "import msmtp: no msmtprc found ($XDG_CONFIG_HOME/msmtp/config, ~/.msmtprc)",
            )
        })?,
    };
    let unreadable = |e: std::io::Error| {
        Failure::new(
            crate::exit::NOINPUT,
            format!("import msmtp: cannot read {}: {e}", path.display()),
        )
    };
    // Only a regular file (a FIFO or a device could block or never end);
    // checked before opening, which would block on a FIFO, and again on
    // what was opened.
    let not_file = || {
        Failure::new(
            crate::exit::NOINPUT,
            format!("import msmtp: {} is not a regular file", path.display()),
        )
    };
    if !std::fs::metadata(&path).map_err(unreadable)?.is_file() {
        return Err(not_file());
    }
    let file = std::fs::File::open(&path).map_err(unreadable)?;
    if !file.metadata().map_err(unreadable)?.is_file() {
        return Err(not_file());
    }
    let mut src = Vec::new();
    file.take(msmtp::MAX_FILE + 1)
        .read_to_end(&mut src)
        .map_err(unreadable)?;
    if src.len() as u64 > msmtp::MAX_FILE {
        return Err(Failure::new(
            DATAERR,
            format!(
                "import msmtp: {} is larger than {} bytes",
                path.display(),
                msmtp::MAX_FILE
            ),
        ));
    }
    let name = path.display().to_string();
    let text = msmtp::convert(&src, &name)
        .map_err(|e| Failure::new(DATAERR, format!("{}:{}: {}", name, e.line, e.message)))?;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| {
            Failure::new(
                crate::exit::IOERR,
                format!("import msmtp: writing the output: {e}"),
            )
        })
}
