//! esmtp: the program. Everything happens in [`esmtp::cli::run`], which maps
//! every failure to its one-line message and exit status in one place.
//!
//! `main` is the C entry point itself (`no_main`): std's runtime start-up
//! would find the main thread's stack bounds for its stack-overflow message
//! by reading and parsing /proc/self/maps and install signal handlers on an
//! alternate stack, which is a measurable part of a 2 KB submission. The
//! arguments still come through std (glibc hands them to std's initialiser);
//! what the runtime does that we need is done here: SIGPIPE ignored (a
//! closed pipe or socket is an error to report, not a silent death), the
//! standard descriptors open, and standard output flushed by
//! `std::process::exit`.

// The test harness brings its own `main` (the binary has no tests).
#![cfg_attr(not(test), no_main)]

#[cfg(not(test))]
use std::ffi::{c_char, c_int};

#[cfg(not(test))]
#[no_mangle]
pub extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    esmtp::sys::ignore_sigpipe();
    esmtp::sys::ensure_std_fds();
    let status = esmtp::cli::run(std::env::args_os().collect());
    std::process::exit(i32::from(status));
}
