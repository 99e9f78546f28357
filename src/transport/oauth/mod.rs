//! The built-in OAuth 2 token source (`oauth2 ...` in esmtprc): the token
//! store ([`store`]), the HTTPS requests ([`http`], reached only when a
//! token must be fetched), the flows of `esmtp oauth authorize` ([`flow`]),
//! and [`access_token`], the secret of an `oauth2` identity at submission
//! and in queue flushes.

pub mod flow;
pub mod http;
pub mod store;

use crate::exit::{self, Failure};
use crate::plan::{ClientSecret, Identity, OAuth2};
use std::time::Duration;
use store::{identity_name, Entry, Tokens};

/// An access token is used until this many seconds before it expires.
pub const EXPIRY_MARGIN: u64 = 60;

/// The advice of every failure that only a new authorization cures.
pub fn authorize_advice(identity: &Identity) -> String {
    format!(
        "run `esmtp oauth authorize {}`",
        crate::plan::shell_quote(&identity_name(identity))
    )
}

/// The access token of an `oauth2` identity: the stored one while it is
/// good for [`EXPIRY_MARGIN`] more seconds (no HTTP request at all), else
/// a new one from the token endpoint, refreshed once however many
/// submissions ask at the same time (the entry's lock; whoever gets it
/// second reads the store again), and stored with the rotated refresh
/// token before it is used.
///
/// No token stored, or the refresh refused (`invalid_grant`): 78 with the
/// advice to authorize; the endpoint unreachable, slow or failing: 75
/// (the queue keeps the message).
pub fn access_token(
    identity: &Identity,
    oauth: &OAuth2,
    timeout: Duration,
) -> Result<(Vec<u8>, TokenNote), Failure> {
    let entry = Entry::of(identity)?;
    let stored = entry.load()?;
    if let Some(t) = stored.as_ref() {
        if let Some(token) = t.fresh_access_token(EXPIRY_MARGIN) {
            return Ok((token.as_bytes().to_vec(), TokenNote::Stored(t.expires_in())));
        }
    }
    if stored
        .as_ref()
        .and_then(|t| t.refresh_token.as_ref())
        .is_none()
    {
        return Err(not_authorized(identity, stored.is_some()));
    }
    // Another process may be refreshing: wait for it (bounded by its own
    // timeout), then read what it stored.
    let _lock = entry.lock(timeout.saturating_mul(2) + Duration::from_secs(5))?;
    let mut tokens = match entry.load()? {
        Some(t) => t,
        None => return Err(not_authorized(identity, false)),
    };
    if let Some(token) = tokens.fresh_access_token(EXPIRY_MARGIN) {
        let note = TokenNote::Stored(tokens.expires_in());
        return Ok((token.as_bytes().to_vec(), note));
    }
    let Some(refresh) = tokens.refresh_token.clone() else {
        return Err(not_authorized(identity, true));
    };
    refresh_tokens(identity, oauth, timeout, &refresh, &mut tokens)?;
    entry.save(&tokens)?;
    let note = TokenNote::Refreshed(tokens.expires_in());
    match tokens.access_token {
        Some(t) => Ok((t.into_bytes(), note)),
        None => Err(not_authorized(identity, true)),
    }
}

/// Where an access token came from, for `-v` (never the token itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenNote {
    /// The stored one, still fresh; seconds until it expires.
    Stored(Option<i64>),
    /// Just refreshed at the token endpoint (and stored).
    Refreshed(Option<i64>),
}

impl std::fmt::Display for TokenNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (what, secs) = match self {
            TokenNote::Stored(s) => ("using the stored OAuth 2 access token", s),
            TokenNote::Refreshed(s) => (
                "refreshed the OAuth 2 access token at the token endpoint",
                s,
            ),
        };
        match secs {
            Some(s) => write!(f, "{what} (it expires in {} min)", s.max(&0) / 60),
            None => f.write_str(what),
        }
    }
}

fn not_authorized(identity: &Identity, stored: bool) -> Failure {
    let what = if stored {
        "holds no refresh token"
    } else {
        "holds no token"
    };
    Failure::config(format!(
        "the OAuth 2 token store {what} for {}: {}",
        identity_name(identity),
        authorize_advice(identity)
    ))
}

/// The client secret, when the identity has one (`oauth2_client_secret_eval`
/// runs through the hook runner, bounded by `timeout`).
pub fn client_secret(oauth: &OAuth2, timeout: Duration) -> Result<Option<String>, Failure> {
    let bytes = match &oauth.client_secret {
        None => return Ok(None),
        Some(ClientSecret::Value(s)) => s.expose().to_vec(),
        Some(ClientSecret::Eval(cmd)) => {
            super::hooks::secret_eval("oauth2_client_secret_eval", cmd, timeout)?
        }
    };
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| Failure::config("the OAuth 2 client secret is not UTF-8 text"))
}

/// Exchange `refresh` for a new access token into `tokens`.
fn refresh_tokens(
    identity: &Identity,
    oauth: &OAuth2,
    timeout: Duration,
    refresh: &str,
    tokens: &mut Tokens,
) -> Result<(), Failure> {
    let secret = client_secret(oauth, timeout)?;
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh),
        ("client_id", oauth.client_id.as_str()),
    ];
    if let Some(s) = &secret {
        form.push(("client_secret", s.as_str()));
    }
    let client = http::Client::new(identity, timeout)?;
    match client.post("token", &oauth.token_url, &form)? {
        http::Answer::Granted(map) => {
            if tokens.update(&map) {
                tokens.token_url = Some(oauth.token_url.clone());
                Ok(())
            } else {
                Err(Failure::tempfail(format!(
                    "the OAuth 2 token endpoint {} answered without an access token",
                    oauth.token_url
                )))
            }
        }
        http::Answer::Refused {
            error, description, ..
        } => Err(refused(identity, &oauth.token_url, &error, &description)),
    }
}

/// A token endpoint's refusal: `invalid_grant` (the refresh token was
/// revoked or expired) and every other refusal need the user: 78.
pub fn refused(identity: &Identity, url: &str, error: &str, description: &str) -> Failure {
    let said = if description.is_empty() {
        error.to_string()
    } else {
        format!("{error}: {description}")
    };
    let advice = match error {
        "invalid_client" | "unauthorized_client" => format!(
            "check oauth2_client_id and oauth2_client_secret, then {}",
            authorize_advice(identity)
        ),
        _ => authorize_advice(identity),
    };
    Failure::new(
        exit::CONFIG,
        format!(
            "the OAuth 2 token endpoint {url} refused to refresh the access token of {} ({said}): {advice}",
            identity_name(identity)
        ),
    )
}
