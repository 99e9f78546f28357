//! esmtp: the program. Everything happens in [`esmtp::cli::run`], which maps
//! every failure to its one-line message and exit status in one place.
//!
//! On glibc Linux, `main` is the C entry point itself (`no_main`): std's
//! runtime start-up would find the main thread's stack bounds for its
//! stack-overflow message by reading and parsing /proc/self/maps and
//! install signal handlers on an alternate stack, a measurable part of a
//! 2 KB submission (ARCHITECTURE.md, "Start-up"). glibc hands the
//! arguments to std's initialiser before `main`, so `std::env::args_os`
//! still works; what the runtime does that we need is done here: SIGPIPE
//! ignored (a closed pipe or socket is an error to report, not a silent
//! death), the standard descriptors open, and standard output flushed by
//! `std::process::exit`. Elsewhere (musl, other systems, where the
//! arguments reach std only through its own start-up) it is a normal
//! `fn main` doing the same.

// The test harness brings its own `main` (the binary has no tests).
#![cfg_attr(all(not(test), target_os = "linux", target_env = "gnu"), no_main)]

#[cfg(all(not(test), target_os = "linux", target_env = "gnu"))]
#[no_mangle]
pub extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    start()
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn main() {
    start()
}

/// What both entry points do: the runtime's useful part, then the program.
#[cfg_attr(test, allow(dead_code))]
fn start() -> ! {
    esmtp::sys::ignore_sigpipe();
    esmtp::sys::ensure_std_fds();
    let status = esmtp::cli::run(std::env::args_os().collect());
    std::process::exit(i32::from(status));
}
