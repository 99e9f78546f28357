//! `oauth2` and its settings: each value as it comes (the URLs checked
//! for https), then, at the end of the file, the rules across statements
//! (a client id, a token endpoint, no password beside it, a token
//! mechanism) and the [`OAuth2`] secret source built with the provider's
//! endpoints.

use super::{Lowerer, Section};
use crate::config::ast::{Value, ValueKind};
use crate::config::codes::Code;
use crate::config::diag::{shown, Diagnostic, Span};
use crate::config::keywords::Key;
use crate::plan::{ClientSecret, OAuth2, OAuth2Provider, Octets, Secret, SecretSource};

/// The `oauth2*` statements of one section, until the end of the file.
#[derive(Debug, Default)]
pub struct OAuth2Draft {
    pub provider: Option<OAuth2Provider>,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub client_secret_eval: Option<String>,
    pub auth_url: Option<String>,
    pub token_url: Option<String>,
    pub device_url: Option<String>,
    pub scope: Option<String>,
}

/// The keys of the `oauth2*` statements.
pub const OAUTH2_KEYS: [Key; 8] = [
    Key::Oauth2,
    Key::Oauth2ClientId,
    Key::Oauth2ClientSecret,
    Key::Oauth2ClientSecretEval,
    Key::Oauth2AuthUrl,
    Key::Oauth2TokenUrl,
    Key::Oauth2DeviceUrl,
    Key::Oauth2Scope,
];

/// Why a URL is refused for an OAuth 2 endpoint, when it is.
pub fn url_problem(url: &str) -> Option<&'static str> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return Some("no host in this URL");
    }
    if authority.contains('@') {
        return Some("credentials in a URL are refused");
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("blanks or control characters in the URL");
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    match scheme.to_ascii_lowercase().as_str() {
        "https" => None,
        "http" if is_loopback(host) => None,
        "http" => Some("plain http to a host that is not this machine"),
        _ => Some("not an https URL"),
    }
}

/// `localhost` or a loopback address (not a name that merely starts with
/// `127.`).
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl<'s, 'o> Lowerer<'s, 'o> {
    /// One `oauth2*` statement.
    pub(super) fn oauth2_value(&mut self, key: Key, v: &Value) {
        if matches!(
            key,
            Key::Oauth2AuthUrl | Key::Oauth2TokenUrl | Key::Oauth2DeviceUrl
        ) {
            let problem = if v.text.contains("://") {
                url_problem(&v.text)
            } else {
                Some("not a URL")
            };
            if let Some(why) = problem {
                let name = key.name();
                let sec = self.sections.len() - 1;
                let d = self.identity_error(
                    sec,
                    Some(key),
                    Diagnostic::new(
                        Code::E031,
                        format!("`{}` cannot be an OAuth 2 endpoint", shown(&v.text)),
                    )
                    .primary(v.span, why)
                    .help(format!(
                        "write `{name} https://HOST/PATH` (http:// is accepted only for 127.0.0.1, ::1 or localhost)"
                    )),
                );
                self.identity_errors.push(d);
                return;
            }
        }
        let draft = self.cur().oauth2.get_or_insert_with(Default::default);
        let text = v.text.clone();
        match key {
            Key::Oauth2 => {
                let provider = match (v.kind, text.as_str()) {
                    (ValueKind::Bare | ValueKind::Quoted, "google") => OAuth2Provider::Google,
                    (ValueKind::Bare | ValueKind::Quoted, "microsoft") => OAuth2Provider::Microsoft,
                    (ValueKind::Bare | ValueKind::Quoted, "custom") => OAuth2Provider::Custom,
                    _ => {
                        let help = match text.to_ascii_lowercase().as_str() {
                            "gmail" | "googlemail" => Some("write `oauth2 google`".to_string()),
                            "outlook" | "office365" | "hotmail" | "live" | "m365" => {
                                Some("write `oauth2 microsoft`".to_string())
                            }
                            _ => None,
                        };
                        self.bad_choice_with(Key::Oauth2, v, help);
                        return;
                    }
                };
                draft.provider = Some(provider);
            }
            Key::Oauth2ClientId => draft.client_id = Some(text),
            Key::Oauth2ClientSecret => draft.client_secret = Some(Secret::new(v.bytes())),
            Key::Oauth2ClientSecretEval => draft.client_secret_eval = Some(text),
            Key::Oauth2AuthUrl => draft.auth_url = Some(text),
            Key::Oauth2TokenUrl => draft.token_url = Some(text),
            Key::Oauth2DeviceUrl => draft.device_url = Some(text),
            Key::Oauth2Scope => draft.scope = Some(text),
            _ => {}
        }
    }

    /// At the end of the file: every section's OAuth 2 settings checked
    /// and turned into its secret source (before the credential checks,
    /// which count `oauth2` as the secret).
    pub(super) fn oauth2_sections(&mut self) {
        for i in 0..self.sections.len() {
            let Some(draft) = self.sections[i].oauth2.take() else {
                continue;
            };
            let errors = self.oauth2_errors(i, &draft);
            let sec = &self.sections[i];
            let Some(provider) = draft.provider else {
                let unused: Vec<Span> = OAUTH2_KEYS
                    .iter()
                    .filter_map(|k| sec.values.get(k).copied())
                    .collect();
                for span in unused {
                    self.diags.push(
                        Diagnostic::new(Code::W030, "OAuth 2 setting without `oauth2`")
                            .primary(span, "never used: this identity has no `oauth2` statement")
                            .help("add `oauth2 google`, `oauth2 microsoft` or `oauth2 custom` to this identity, or remove the setting"),
                    );
                }
                continue;
            };
            if errors > 0 {
                continue;
            }
            let preset = provider.preset();
            let client_secret = match (draft.client_secret, draft.client_secret_eval) {
                (Some(s), _) => Some(ClientSecret::Value(s)),
                (None, Some(c)) => Some(ClientSecret::Eval(c)),
                (None, None) => None,
            };
            let pick = |given: Option<String>, preset: Option<&'static str>| {
                given.or_else(|| preset.map(str::to_string))
            };
            let oauth = OAuth2 {
                provider,
                client_id: draft.client_id.unwrap_or_default(),
                client_secret,
                auth_url: pick(draft.auth_url, preset.as_ref().map(|p| p.auth_url)),
                token_url: pick(draft.token_url, preset.as_ref().map(|p| p.token_url))
                    .unwrap_or_default(),
                device_url: pick(draft.device_url, preset.as_ref().map(|p| p.device_url)),
                scope: pick(draft.scope, preset.as_ref().map(|p| p.scope)).unwrap_or_default(),
            };
            let sec = &mut self.sections[i];
            let id = &mut sec.identity;
            id.secret = Some(SecretSource::OAuth2(Box::new(oauth)));
            id.auth.get_or_insert(crate::plan::AuthMech::Xoauth2);
            if id.username.is_none() {
                id.username = sec.address.as_ref().map(|a| Octets::from(a.0.as_str()));
            }
        }
    }

    /// The errors of section `i`'s `oauth2` settings (each makes the
    /// identity unusable); their number.
    fn oauth2_errors(&mut self, i: usize, draft: &OAuth2Draft) -> usize {
        let sec = &self.sections[i];
        let Some(at) = sec.values.get(&Key::Oauth2).copied() else {
            return 0;
        };
        let mut found: Vec<(Key, Diagnostic)> = Vec::new();
        if let Some(p) = sec
            .values
            .get(&Key::Password)
            .or(sec.values.get(&Key::Passwordeval))
            .copied()
        {
            let which = if sec.values.contains_key(&Key::Password) {
                "password"
            } else {
                "passwordeval"
            };
            found.push((
                Key::Oauth2,
                Diagnostic::new(Code::E030, format!("`oauth2` and `{which}` in one identity"))
                    .primary(at, "the secret comes from the OAuth 2 token store")
                    .secondary(p, "a second source of the secret")
                    .help(format!(
                        "remove `{which}`: `oauth2` gets the access token itself (after `esmtp oauth authorize`)"
                    )),
            ));
        }
        if draft.client_id.is_none() {
            found.push((
                Key::Oauth2,
                Diagnostic::new(Code::E033, "`oauth2` without `oauth2_client_id`")
                    .primary(at, "the provider needs the id of the application asking for the token")
                    .help("add `oauth2_client_id ID` with the client id of the application you registered with the provider"),
            ));
        }
        if let (Some(_), Some(_)) = (&draft.client_secret, &draft.client_secret_eval) {
            let s = sec.values.get(&Key::Oauth2ClientSecretEval).copied();
            let first = sec.values.get(&Key::Oauth2ClientSecret).copied();
            if let (Some(s), Some(first)) = (s, first) {
                found.push((
                    Key::Oauth2ClientSecretEval,
                    Diagnostic::new(
                        Code::E035,
                        "`oauth2_client_secret` and `oauth2_client_secret_eval` in one identity",
                    )
                    .primary(s, "second source of the client secret")
                    .secondary(first, "first given here")
                    .help("keep only one of them"),
                ));
            }
        }
        if draft.provider == Some(OAuth2Provider::Custom)
            && !sec.values.contains_key(&Key::Oauth2TokenUrl)
        {
            found.push((
                Key::Oauth2TokenUrl,
                Diagnostic::new(Code::E032, "`oauth2 custom` without `oauth2_token_url`")
                    .primary(at, "no token endpoint to get or refresh the access token from")
                    .help("add `oauth2_token_url https://HOST/PATH` (and `oauth2_auth_url`, `oauth2_scope`), or use `oauth2 google` or `oauth2 microsoft`"),
            ));
        }
        if let (Some(mech), Some(a)) = (sec.identity.auth, sec.values.get(&Key::Auth).copied()) {
            if !mech.takes_token() {
                found.push((
                    Key::Auth,
                    Diagnostic::new(
                        Code::E034,
                        format!("`auth {}` cannot send an OAuth 2 token", mech.config_name()),
                    )
                    .primary(a, "this mechanism needs a password")
                    .secondary(at, "the secret is an OAuth 2 access token")
                    .help("remove `auth` (`oauth2` uses XOAUTH2), or write `auth xoauth2`"),
                ));
            }
        }
        let n = found.len();
        for (key, d) in found {
            let d = self.identity_error(i, Some(key), d);
            self.credential_errors.push(d);
        }
        n
    }

    fn bad_choice_with(&mut self, key: Key, v: &Value, help: Option<String>) {
        self.diags
            .push_with(Code::E003, || super::values::bad_choice(key, v, help));
    }
}

impl Section {
    /// The span that stands for the secret of an `oauth2` identity.
    pub fn oauth2_span(&self) -> Option<Span> {
        self.values.get(&Key::Oauth2).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::url_problem;

    #[test]
    fn endpoints_are_https_except_on_loopback() {
        assert_eq!(url_problem("https://oauth2.googleapis.com/token"), None);
        assert_eq!(url_problem("http://127.0.0.1:8080/token"), None);
        assert_eq!(url_problem("http://[::1]:8080/token"), None);
        assert_eq!(url_problem("http://localhost/token"), None);
        assert!(url_problem("http://auth.example.org/token").is_some());
        assert!(url_problem("http://127.0.0.1.evil.example/token").is_some());
        assert!(url_problem("ftp://example.org/").is_some());
        assert!(url_problem("https://user:pw@example.org/").is_some());
        assert!(url_problem("https:///token").is_some());
        assert!(url_problem("https://a b/").is_some());
    }
}
