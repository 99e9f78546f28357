//! The subcommands other parts of the program own, behind one small shim so
//! the front end builds before they land: `check` and `dump` belong to the
//! configuration compiler (`crate::config`).
//!
//! TEMPORARY: until the compiler provides `config::check_command()`,
//! `config::run_check(&ArgMatches) -> u8`, `config::dump_command()` and
//! `config::run_dump(&ArgMatches) -> u8`, these say so and exit 70. Swap the
//! bodies for calls to those functions when they are on main.

use crate::exit::SOFTWARE;
use clap::{Arg, ArgMatches, Command};
use std::io::Write;

pub fn check_command() -> Command {
    Command::new("check")
        .about("Parse, compile and lint a configuration file without sending")
        .arg(Arg::new("file").value_name("FILE"))
}

pub fn dump_command() -> Command {
    Command::new("dump")
        .about("Print the compiled plan, secrets redacted")
        .arg(Arg::new("file").value_name("FILE"))
}

fn not_yet(what: &str) -> u8 {
    let _ = writeln!(
        std::io::stderr(),
        "esmtp: `esmtp {what}` is not available in this build yet"
    );
    SOFTWARE
}

pub fn run_check(_m: &ArgMatches) -> u8 {
    not_yet("check")
}

pub fn run_dump(_m: &ArgMatches) -> u8 {
    not_yet("dump")
}
