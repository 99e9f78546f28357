//! The few facts about the system the front end needs: who runs it, on
//! which host, standard descriptors that are really open, and the system
//! files the compiled plan depends on.

use nix::fcntl::{fcntl, FcntlArg};
use nix::unistd::{getuid, User};
use std::os::fd::{AsRawFd, BorrowedFd, IntoRawFd};

/// The services database: service names in `hostname host:service` are
/// resolved from it at compile time, so a compiled plan depends on it.
pub const SERVICES_DB: &str = "/etc/services";

/// The login name of the real user (`%u`, the default sender's local part):
/// the password database entry of the real uid, else `$LOGNAME`/`$USER`,
/// else the uid as a number.
pub fn login_name() -> String {
    let uid = getuid();
    if let Ok(Some(user)) = User::from_uid(uid) {
        return user.name;
    }
    for var in ["LOGNAME", "USER"] {
        if let Ok(name) = std::env::var(var) {
            if !name.is_empty() && !name.chars().any(|c| c.is_control() || c.is_whitespace()) {
                return name;
            }
        }
    }
    uid.as_raw().to_string()
}

/// The host name (the default sender's domain, the Message-ID's right side).
pub fn hostname() -> String {
    let name = gethostname::gethostname().to_string_lossy().into_owned();
    if name.is_empty() || name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        "localhost".to_string()
    } else {
        name
    }
}

/// Ignore SIGPIPE, as Rust's runtime start-up does: writing to a closed
/// pipe or socket then fails with `BrokenPipe` instead of killing us.
pub fn ignore_sigpipe() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: SIG_IGN runs no code of ours in a signal context.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigIgn) };
}

/// Make sure descriptors 0, 1 and 2 are open (on /dev/null when they were
/// closed), so that no file we open later becomes "standard output" and
/// no diagnostic ends up inside the spooled message.
pub fn ensure_std_fds() {
    for fd in 0..3 {
        // SAFETY: the descriptor is only queried, never closed or kept.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        if fcntl(borrowed, FcntlArg::F_GETFD).is_ok() {
            continue;
        }
        let Ok(file) = std::fs::OpenOptions::new()
            .read(fd == 0)
            .write(fd != 0)
            .open("/dev/null")
        else {
            continue;
        };
        if file.as_raw_fd() == fd {
            // It took the lowest free number, which is the one we wanted.
            let _ = file.into_raw_fd();
        }
        // Otherwise a lower descriptor was missing too; that one is
        // handled first, in order, so this case cannot happen.
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_clean() {
        let login = super::login_name();
        assert!(!login.is_empty() && !login.contains(char::is_whitespace));
        let host = super::hostname();
        assert!(!host.is_empty() && !host.contains(char::is_whitespace));
    }
}
