//! MINIMAL dispatch for `esmtp check` / `esmtp dump` (compiler work, issue 2);
//! the front end's main replaces this.

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let sub = args.get(1).and_then(|a| a.to_str()).unwrap_or("");
    let (cmd, run): (clap::Command, fn(&clap::ArgMatches) -> u8) = match sub {
        "check" => (esmtp::config::check_command(), esmtp::config::run_check),
        "dump" => (esmtp::config::dump_command(), esmtp::config::run_dump),
        _ => std::process::exit(0),
    };
    let status = match cmd
        .bin_name(format!("esmtp {sub}"))
        .try_get_matches_from(&args[1..])
    {
        Ok(m) => run(&m),
        Err(e) => {
            let _ = e.print();
            if e.use_stderr() {
                2
            } else {
                0
            }
        }
    };
    std::process::exit(i32::from(status));
}
