//! The test process's environment, which every test of this binary shares:
//! the one place a test may change it ([`with_home`]), under one lock, so
//! that no two tests change it at once.

use std::ffi::OsString;
use std::path::Path;
use std::sync::Mutex;

/// Held while a test has HOME pointed at a directory of its own.
static HOME_LOCK: Mutex<()> = Mutex::new(());

/// Restores HOME when dropped, even when the test panics.
struct RestoreHome(Option<OsString>);

impl Drop for RestoreHome {
    fn drop(&mut self) {
        match self.0.take() {
            Some(h) => std::env::set_var("HOME", h),
            None => std::env::remove_var("HOME"),
        }
    }
}

/// Run `f` with HOME set to `home` (what `~` means to the library code
/// under test: `~/.esmtprc`, `~/.authenticate`), holding the lock, and put
/// the previous HOME back afterwards. Child processes get their HOME with
/// `Command::env` instead.
pub fn with_home<R>(home: &Path, f: impl FnOnce() -> R) -> R {
    let _guard = HOME_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let _restore = RestoreHome(std::env::var_os("HOME"));
    std::env::set_var("HOME", home);
    f()
}

/// The process's own HOME, never one a test set for a while: read under
/// the lock, for the child processes of tests that do not choose a HOME
/// (a child inherits the environment of the moment it starts).
pub fn process_home() -> Option<OsString> {
    let _guard = HOME_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    std::env::var_os("HOME")
}
