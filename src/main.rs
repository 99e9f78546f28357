//! esmtp: the program. Everything happens in [`esmtp::cli::run`], which maps
//! every failure to its one-line message and exit status in one place.

fn main() {
    esmtp::sys::ensure_std_fds();
    let status = esmtp::cli::run(std::env::args_os().collect());
    std::process::exit(i32::from(status));
}
