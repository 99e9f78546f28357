//! Whole-process benchmark driver for the compiled-plan cache: what a
//! submission does before it connects (find the configuration, load the
//! plan, pick the identity for the sender), then print the chosen relay.
//!
//! `cache_route -C FILE -f SENDER [--full]`: `--full` loads the whole plan
//! (`cache::load_plan`) instead of the sender's selection
//! (`cache::load_plan_for`). Run without a usable cache directory
//! (XDG_CACHE_HOME under a file) to measure the uncached cost.
//! Used by `tests/bench/cache.sh`.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut config = None;
    let mut sender = None;
    let mut full = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-C" => config = args.next().map(PathBuf::from),
            "-f" => sender = args.next(),
            "--full" => full = true,
            _ => {
                eprintln!("usage: cache_route -C FILE -f SENDER [--full]");
                return ExitCode::from(64);
            }
        }
    }
    let sender = sender.unwrap_or_default();
    let loaded = if full {
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
