//! `esmtp oauth authorize|status|revoke`: the built-in OAuth 2 token
//! source's subcommand (the tokens of identities with `oauth2`).

use crate::exit::Failure;
use crate::plan::{Identity, OAuth2, Plan, SecretSource};
use crate::transport::oauth::{flow, store};
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// The `oauth` subcommand for the front end's `esmtp` command.
pub fn oauth_command() -> Command {
    let identity = || {
        Arg::new("identity")
            .value_name("IDENTITY")
            .help("The identity's address (default: the default identity)")
    };
    Command::new("oauth")
        .about("Authorize esmtp with an OAuth 2 provider, show or delete the stored tokens")
        .long_about(
            "For identities with `oauth2` in esmtprc: `authorize` gets the first tokens \
             (log in once in a browser, or with --device on another device), `status` \
             shows what is stored, `revoke` deletes it. The tokens are kept in \
             $XDG_DATA_HOME/esmtp/oauth2/ (~/.local/share/esmtp/oauth2/), one private file \
             per identity; every submission after that refreshes the access token itself.",
        )
        .subcommand_required(true)
        .arg(super::config_arg().global(true))
        .subcommand(
            Command::new("authorize")
                .about("Log in with the provider once and store the tokens")
                .arg(
                    Arg::new("device")
                        .long("device")
                        .action(ArgAction::SetTrue)
                        .help("Device flow: print a URL and a code to enter on any device"),
                )
                .arg(identity()),
        )
        .subcommand(
            Command::new("status")
                .about("Show whether tokens are stored, when the access token expires, the scopes")
                .arg(super::text_or_json("Output format"))
                .arg(identity().help("The identity's address (default: every oauth2 identity)")),
        )
        .subcommand(
            Command::new("revoke")
                .about("Delete the stored tokens")
                .arg(identity()),
        )
}

/// What `esmtp oauth` was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthArgs {
    pub config: Option<PathBuf>,
    pub identity: Option<String>,
    pub action: OAuthAction,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OAuthAction {
    Authorize { device: bool },
    Status { json: bool },
    Revoke,
}

impl OAuthArgs {
    /// `None` without a known subcommand (clap requires one).
    pub fn from_matches(m: &ArgMatches) -> Option<OAuthArgs> {
        let (name, s) = m.subcommand()?;
        let action = match name {
            "authorize" => OAuthAction::Authorize {
                device: s.get_flag("device"),
            },
            "status" => OAuthAction::Status {
                json: s.get_one::<String>("format").map(String::as_str) == Some("json"),
            },
            "revoke" => OAuthAction::Revoke,
            _ => return None,
        };
        Some(OAuthArgs {
            config: m.get_one::<PathBuf>("config").cloned(),
            identity: s.get_one::<String>("identity").cloned(),
            action,
        })
    }
}

fn oauth2_of(identity: &Identity) -> Option<&OAuth2> {
    match &identity.secret {
        Some(SecretSource::OAuth2(o)) => Some(o),
        _ => None,
    }
}

/// The identity named on the command line (the default without one); it
/// must have `oauth2`.
fn chosen<'p>(plan: &'p Plan, name: Option<&str>) -> Result<(&'p Identity, &'p OAuth2), Failure> {
    let id = match name {
        Some(n) => {
            let i = crate::route::find_identity(plan, n).ok_or_else(|| {
                Failure::usage(format!(
                    "no identity `{n}` in the configuration (`esmtp dump` lists them)"
                ))
            })?;
            &plan.identities[i]
        }
        None => plan.default_identity(),
    };
    if let Some(u) = &id.unusable {
        return Err(Failure::config(format!(
            "identity {} cannot be used: {u}",
            store::identity_name(id)
        )));
    }
    let oauth = oauth2_of(id).ok_or_else(|| {
        Failure::config(format!(
            "identity {} has no `oauth2` statement: add `oauth2 google`, `oauth2 microsoft` or `oauth2 custom` (with its settings) to it in esmtprc",
            store::identity_name(id)
        ))
    })?;
    Ok((id, oauth))
}

/// Run `esmtp oauth ...`.
pub fn run_oauth(args: &OAuthArgs) -> Result<(), Failure> {
    let plan = crate::cache::load_plan(args.config.as_deref(), false)?;
    let name = args.identity.as_deref();
    match &args.action {
        OAuthAction::Authorize { device } => {
            let (id, oauth) = chosen(&plan, name)?;
            let timeout = Duration::from_secs(id.timeout_secs.max(1));
            let mut out = std::io::stdout();
            let tokens = if *device {
                flow::authorize_device(id, oauth, timeout, &mut out)?
            } else {
                flow::authorize(id, oauth, timeout, &mut out)?
            };
            let path = store::Entry::of(id)?.path();
            let _ = writeln!(
                out,
                "Authorized: tokens for {} stored in {}.",
                store::identity_name(id),
                path.display()
            );
            if tokens.refresh_token.is_none() {
                eprintln!(
                    "esmtp: warning: the provider sent no refresh token: esmtp can send only until the access token expires (Microsoft: the scope needs offline_access)"
                );
            }
            Ok(())
        }
        OAuthAction::Status { json } => {
            let ids: Vec<(&Identity, &OAuth2)> = match name {
                Some(_) => vec![chosen(&plan, name)?],
                None => plan
                    .identities
                    .iter()
                    .filter_map(|i| oauth2_of(i).map(|o| (i, o)))
                    .collect(),
            };
            let mut rows = Vec::new();
            for (id, oauth) in ids {
                rows.push(status_row(id, oauth)?);
            }
            let text = if *json {
                let mut t = serde_json::to_string_pretty(&rows)
                    .map_err(|e| Failure::software(e.to_string()))?;
                t.push('\n');
                t
            } else if rows.is_empty() {
                "no identity has `oauth2`\n".to_string()
            } else {
                rows.iter().map(status_text).collect()
            };
            let _ = std::io::stdout().write_all(text.as_bytes());
            Ok(())
        }
        OAuthAction::Revoke => {
            let (id, _) = chosen(&plan, name)?;
            let entry = store::Entry::of(id)?;
            if entry.remove()? {
                println!(
                    "Deleted the OAuth 2 tokens of {} ({}).",
                    store::identity_name(id),
                    entry.path().display()
                );
            } else {
                println!("No OAuth 2 tokens stored for {}.", store::identity_name(id));
            }
            Ok(())
        }
    }
}

/// One identity's line of `esmtp oauth status`: nothing secret in it.
#[derive(Debug, serde::Serialize)]
struct StatusRow {
    identity: String,
    provider: &'static str,
    file: String,
    stored: bool,
    refresh_token: bool,
    /// Seconds until the access token expires (negative: expired).
    access_token_expires_in: Option<i64>,
    /// RFC 3339 time of the expiry.
    access_token_expires_at: Option<String>,
    scope: Option<String>,
}

fn status_row(id: &Identity, oauth: &OAuth2) -> Result<StatusRow, Failure> {
    let entry = store::Entry::of(id)?;
    let tokens = entry.load()?;
    let t = tokens.as_ref();
    Ok(StatusRow {
        identity: store::identity_name(id),
        provider: oauth.provider.as_str(),
        file: entry.path().display().to_string(),
        stored: t.is_some(),
        refresh_token: t.is_some_and(|t| t.refresh_token.is_some()),
        access_token_expires_in: t
            .filter(|t| t.access_token.is_some())
            .and_then(|t| t.expires_in()),
        access_token_expires_at: t
            .filter(|t| t.access_token.is_some())
            .and_then(|t| t.expires_at)
            .and_then(|e| chrono::DateTime::from_timestamp(i64::try_from(e).ok()?, 0))
            .map(|d| d.to_rfc3339()),
        scope: t.and_then(|t| t.scope.clone()),
    })
}

fn status_text(r: &StatusRow) -> String {
    let mut s = format!("{} (oauth2 {})\n", r.identity, r.provider);
    if !r.stored {
        s.push_str(&format!(
            "  no tokens stored: run `esmtp oauth authorize {}`\n",
            crate::plan::shell_quote(&r.identity)
        ));
        return s;
    }
    s.push_str(&format!("  tokens:        {}\n", r.file));
    s.push_str(&format!(
        "  refresh token: {}\n",
        if r.refresh_token { "stored" } else { "none" }
    ));
    match (r.access_token_expires_in, &r.access_token_expires_at) {
        (Some(secs), Some(at)) if secs > 0 => {
            s.push_str(&format!("  access token:  expires {at} (in {secs} s)\n"))
        }
        (Some(_), Some(at)) => s.push_str(&format!(
            "  access token:  expired {at} (refreshed at the next submission)\n"
        )),
        _ => s.push_str("  access token:  none (fetched at the next submission)\n"),
    }
    if let Some(scope) = &r.scope {
        s.push_str(&format!("  scopes:        {scope}\n"));
    }
    s
}
