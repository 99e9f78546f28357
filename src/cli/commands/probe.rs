//! `esmtp probe [IDENTITY...|--all] [--login] [--format text|json]`: what
//! each identity's smarthost offers, held against the plan (the work is
//! `transport::probe`'s).

use crate::exit::{self, Failure};
use crate::plan::Plan;
use crate::transport::probe::{self, Report};
use crate::{cache, route};
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::io::Write;
use std::path::PathBuf;

/// What `esmtp probe` was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeArgs {
    pub config: Option<PathBuf>,
    /// Identity addresses; empty: the default identity (or `--all`).
    pub identities: Vec<String>,
    pub all: bool,
    pub login: bool,
    /// `text` or `json`.
    pub format: String,
}

impl ProbeArgs {
    pub fn from_matches(m: &ArgMatches) -> ProbeArgs {
        ProbeArgs {
            config: m.get_one::<PathBuf>("config").cloned(),
            identities: m
                .get_many::<String>("identity")
                .into_iter()
                .flatten()
                .cloned()
                .collect(),
            all: m.get_flag("all"),
            login: m.get_flag("login"),
            format: m
                .get_one::<String>("format")
                .cloned()
                .unwrap_or_else(|| "text".into()),
        }
    }
}

/// The `probe` subcommand.
pub fn probe_command() -> Command {
    Command::new("probe")
        .about("Connect to each identity's smarthost as sending would, and report what it offers")
        .long_about(
            "Connect to the smarthost of each IDENTITY as a submission would (preconnect, \
             timeout, implicit TLS or STARTTLS per the identity's policy, its trust files and \
             pinned fingerprint) and report the greeting, the EHLO extensions, TLS version and \
             cipher, the certificate chain with its SHA-256 fingerprint (ready for \
             tls_fingerprint), whether it verifies for the configured name, the AUTH \
             mechanisms offered and the one this identity would use; then QUIT. Nothing is \
             sent. What was found is held against the configuration: warnings with a fix \
             (W050-W058, see `esmtp check --explain CODE`). IDENTITY is an identity's address \
             as in -f; `default` (or no IDENTITY) names the default identity. \
             Exit status: 0 every identity usable, 1 problems found, 69 unreachable, 75 \
             temporary failure (timeout); with several identities, the worst.",
        )
        .arg(super::config_arg())
        .arg(
            Arg::new("all")
                .long("all")
                .action(ArgAction::SetTrue)
                .conflicts_with("identity")
                .help("Probe every identity that has a hostname"),
        )
        .arg(
            Arg::new("login")
                .long("login")
                .action(ArgAction::SetTrue)
                .help("Also log in with the identity's credentials (then QUIT; nothing is sent)"),
        )
        .arg(super::text_or_json(
            "Output: text, or json (field names in esmtp(1))",
        ))
        .arg(
            Arg::new("identity")
                .value_name("IDENTITY")
                .num_args(0..)
                .action(ArgAction::Append)
                .help("Identity addresses (default: the default identity)"),
        )
}

/// The identities to probe, as indexes into the plan.
fn chosen(plan: &Plan, args: &ProbeArgs) -> Result<Vec<usize>, Failure> {
    if args.all {
        let all: Vec<usize> = (0..plan.identities.len())
            .filter(|&i| plan.identities[i].relay.explicit)
            .collect();
        if all.is_empty() {
            return Err(Failure::usage(
                "esmtp probe --all: no identity has a hostname (the default relays to localhost:25; \
                 probe it with `esmtp probe`)",
            ));
        }
        return Ok(all);
    }
    if args.identities.is_empty() {
        return Ok(vec![plan.default_identity]);
    }
    let mut out = Vec::new();
    for name in &args.identities {
        let bare = crate::address::bare(name);
        let i = match route::find_identity(plan, bare) {
            Some(i) => i,
            None if name == "default" => plan.default_identity,
            None => {
                return Err(Failure::usage(format!(
                    "esmtp probe: no identity {}; the file declares {}",
                    crate::plan::escape_bytes(name.as_bytes()),
                    declared(plan)
                )))
            }
        };
        if !out.contains(&i) {
            out.push(i);
        }
    }
    Ok(out)
}

fn declared(plan: &Plan) -> String {
    let names: Vec<&str> = plan
        .identities
        .iter()
        .filter_map(|id| id.address.as_deref())
        .take(10)
        .collect();
    if names.is_empty() {
        "none (probe the default with `esmtp probe`)".to_string()
    } else {
        names.join(", ")
    }
}

/// `esmtp probe`.
pub fn run_probe(args: &ProbeArgs) -> Result<(), Failure> {
    let plan = cache::load_plan(args.config.as_deref(), false)?;
    let which = chosen(&plan, args)?;
    let now = chrono::Utc::now().timestamp();
    let reports: Vec<Report> = which
        .iter()
        .map(|&i| {
            probe::probe(
                &plan.identities[i],
                i == plan.default_identity,
                args.login,
                now,
            )
        })
        .collect();
    let status = probe::worst(reports.iter().map(|r| r.status));
    let text = if args.format == "json" {
        probe::render_json(&reports, status)
    } else {
        let color = {
            use std::io::IsTerminal;
            std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        };
        probe::render_text(&reports, color)
    };
    let _ = std::io::stdout().write_all(text.as_bytes());
    if status == exit::OK {
        Ok(())
    } else {
        Err(Failure::reported(status))
    }
}
