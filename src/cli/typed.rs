//! The low step: what was typed, by flag id, read either from clap's
//! `ArgMatches` or, for the common submission, straight from the canonical
//! command line ([`Canonical`]) without building clap's command.

use super::flags::{self, Takes};
use clap::ArgMatches;
use std::ffi::OsString;

/// What was typed, by flag id: the part of clap's `ArgMatches` that
/// [`super::resolve`] reads, so that it can also read [`Canonical`].
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
