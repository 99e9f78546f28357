//! Local delivery: the configured MDA command, run by the one shell-command
//! runner (`hooks`), reading the message (LF line ends) on its standard
//! input.
//!
//! The command line itself is built by routing
//! ([`crate::plan::Template::shell_command`]): `%T` and `%F` are substituted
//! quoted for the shell, so an address can never add shell syntax: a
//! recipient `x'; touch /tmp/pwned #` reaches the MDA as one literal
//! argument.

use super::hooks;
use crate::exit::{Failure, OSERR};
use std::io::{self, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::ChildStdin;

/// Run `command` and pipe `message` into it. Non-zero exit, death by a
/// signal, or failure to start: status 71 with the reason.
pub fn deliver(command: &str, message: &mut dyn Read, verbose: bool) -> Result<(), Failure> {
    deliver_with(command, verbose, |stdin| io::copy(message, stdin).map(drop))
}

/// [`deliver`] with the message written by `feed` into the MDA's standard
/// input (which can then be copied kernel-side, e.g. from a spool file).
pub fn deliver_with(
    command: &str,
    verbose: bool,
    feed: impl FnOnce(&mut ChildStdin) -> io::Result<()>,
) -> Result<(), Failure> {
    if verbose {
        let _ = writeln!(io::stdout(), "esmtp: delivering with the MDA: {command}");
    }
    // Run as every command of the configuration is (see `hooks`), but in
    // our own process group and with no time limit: it may take as long as
    // the message takes to read, and Ctrl-C reaches it with us.
    let fed = hooks::run_fed(command, feed).map_err(|trouble| match trouble {
        hooks::FedUnfinished::Spawn(e) => {
            let why = if e.raw_os_error() == Some(nix::libc::E2BIG) {
                "the command line is too long (too many local recipients?)".to_string()
            } else {
                e.to_string()
            };
            Failure::new(OSERR, format!("cannot run the MDA: {why}"))
        }
        hooks::FedUnfinished::Wait(e) => {
            Failure::new(OSERR, format!("cannot wait for the MDA: {e}"))
        }
    })?;
    let (status, write_error) = (fed.status, fed.write_error);
    if let Some(code) = status.code() {
        if code != 0 {
            return Err(Failure::new(
                OSERR,
                format!("the MDA failed with exit status {code}: {command}"),
            ));
        }
    } else if let Some(signal) = status.signal() {
        return Err(Failure::new(
            OSERR,
            format!("the MDA was killed by signal {signal}: {command}"),
        ));
    }
    if let Some(e) = write_error {
        return Err(Failure::new(
            OSERR,
            format!("cannot write the message to the MDA: {e}"),
        ));
    }
    if verbose {
        let _ = writeln!(io::stdout(), "esmtp: the MDA accepted the message");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::shell_quote;

    /// What `sh` makes of a quoted word.
    fn sh_words(script: &str) -> Vec<String> {
        let out = hooks::shell(&format!(
            "for a in {script}; do printf '%s\\0' \"$a\"; done"
        ))
        .output()
        .unwrap();
        assert!(out.status.success());
        out.stdout
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8(s.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn quoting_survives_the_shell() {
        let nasty = [
            "x'; touch /tmp/pwned #",
            "$(id)",
            "`id`",
            "a b",
            "'",
            "''",
            "\\",
            "\"q\"",
            "*",
            "~root",
            "a;b|c&d>e<f",
            "é",
        ];
        for n in nasty {
            assert_eq!(sh_words(&shell_quote(n)), [n], "{n}");
        }
        assert_eq!(shell_quote("bob"), "bob");
        assert_eq!(shell_quote("me@x.org"), "me@x.org");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn mda_status_is_reported() {
        let mut msg: &[u8] = b"hello\n";
        assert!(deliver("cat >/dev/null", &mut msg, false).is_ok());
        let mut msg: &[u8] = b"hello\n";
        let err = deliver("exit 67", &mut msg, false).unwrap_err();
        assert_eq!(err.status, OSERR);
        assert!(err.message.contains("67"), "{}", err.message);
        // An MDA that reads nothing and fails: no panic on the broken pipe.
        let big = vec![b'x'; 1 << 20];
        let err = deliver("exit 3", &mut &big[..], false).unwrap_err();
        assert!(err.message.contains("status 3"));
        let err = deliver("kill -9 $$", &mut &b"x"[..], false).unwrap_err();
        assert!(err.message.contains("signal 9"), "{}", err.message);
    }
}
