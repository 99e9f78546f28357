//! Whole-process benchmark driver for the compiled-plan cache: what a
//! submission does before it connects (find the configuration, load the
//! plan, pick the identity for the sender), then print the chosen relay.
//!
//! `cache_route -C FILE -f SENDER [--full|--no-cache]`: `--full` loads the
//! whole plan (`cache::load_plan`) instead of the sender's selection
//! (`cache::load_plan_for`); `--no-cache` compiles the source without any
//! cache code (`config::load_for_sending`), the baseline.
//! Used by `tests/bench/cache.sh`.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut config = None;
    let mut sender = None;
    let mut full = false;
    let mut no_cache = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-C" => config = args.next().map(PathBuf::from),
            "-f" => sender = args.next(),
            "--full" => full = true,
            "--no-cache" => no_cache = true,
            _ => {
                eprintln!("usage: cache_route -C FILE -f SENDER [--full|--no-cache]");
                return ExitCode::from(64);
            }
        }
    }
    let sender = sender.unwrap_or_default();
    let loaded = if no_cache {
        esmtp::config::load_for_sending(config.as_deref())
    } else if full {
        esmtp::cache::load_plan(config.as_deref(), false)
    } else {
        esmtp::cache::load_plan_for(config.as_deref(), false, Some(&sender)).map(|s| s.plan)
    };
    let plan = match loaded {
        Ok(p) => p,
        Err(f) => {
            eprintln!("esmtp: {}", f.message);
            return ExitCode::from(f.status);
        }
    };
    let want = sender.to_lowercase();
    let id = plan
        .identities
        .iter()
        .find(|i| {
            i.address
                .as_deref()
                .is_some_and(|a| a.to_lowercase() == want)
        })
        .unwrap_or(plan.default_identity());
    println!("{}", id.relay);
    ExitCode::SUCCESS
}
