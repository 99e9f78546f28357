//! The HTTPS requests of OAuth 2: form posts to the token and device
//! endpoints, over ureq on rustls with the ring provider (the program's
//! one TLS stack). Reached only when a token must be fetched or refreshed:
//! a submission with a cached access token never builds the client.
//!
//! Trust: the system's roots plus the identity's own CAs
//! ([`crate::transport::tls::extra_trust_pems`]: `tls_trust_file`, else
//! `~/.authenticate/ca.pem` or `ca/`). Every request is bounded by the
//! identity's `timeout` as a whole, its answer by [`MAX_ANSWER`] bytes; no
//! redirect is followed and no proxy from the environment is used.

use crate::exit::{self, Failure};
use crate::plan::Identity;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// Largest answer read from an endpoint.
pub const MAX_ANSWER: u64 = 64 * 1024;

/// What an endpoint answered.
pub enum Answer {
    /// 2xx with a JSON object.
    Granted(Map<String, Value>),
    /// 4xx with an OAuth 2 error (RFC 6749 §5.2): its `error` code and
    /// description (made safe to show).
    Refused {
        status: u16,
        error: String,
        description: String,
    },
}

/// The HTTPS client for one identity.
pub struct Client {
    agent: ureq::Agent,
}

/// Server text made safe to show: control characters dropped, at most 300
/// characters.
pub fn shown(text: &str) -> String {
    let clean: String = text.chars().filter(|c| !c.is_control()).take(300).collect();
    clean
}

impl Client {
    pub fn new(identity: &Identity, timeout: Duration) -> Result<Client, Failure> {
        use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};
        let mut roots: Vec<Certificate<'static>> = Vec::new();
        let native = rustls_native_certs::load_native_certs();
        for c in native.certs {
            roots.push(Certificate::from_der(c.as_ref()).to_owned());
        }
        for (path, pem) in crate::transport::tls::extra_trust_pems(identity)? {
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| {
                    Failure::config(format!(
                        "{}: not a valid PEM certificate: {e}",
                        path.display()
                    ))
                })?;
                roots.push(Certificate::from_der(cert.as_ref()).to_owned());
            }
        }
        if roots.is_empty() {
            return Err(Failure::config(
                "no trusted CA certificates for the OAuth 2 token endpoint: the system has none \
                 and the identity names none (tls_trust_file, ~/.authenticate/ca.pem)",
            ));
        }
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .root_certs(RootCerts::Specific(Arc::new(roots)))
            .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .build();
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .proxy(None)
            .max_redirects(0)
            .max_response_header_size(16 * 1024)
            .user_agent(concat!("esmtp/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Ok(Client { agent })
    }

    /// POST `form` to `url` (an endpoint of `what`, for messages) and read
    /// the answer. Unreachable, timed out, 5xx, 429 or an answer that is
    /// not JSON: temporary (75). The form's values never appear in a
    /// message.
    pub fn post(&self, what: &str, url: &str, form: &[(&str, &str)]) -> Result<Answer, Failure> {
        let temp = |why: String| {
            Failure::new(
                exit::TEMPFAIL,
                format!("the OAuth 2 {what} endpoint {url} {why}"),
            )
        };
        let mut resp = self
            .agent
            .post(url)
            .header("Accept", "application/json")
            .send_form(form.iter().copied())
            .map_err(|e| temp(format!("cannot be reached: {}", describe(&e))))?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_vec()
            .map_err(|e| temp(format!("sent no complete answer: {}", describe(&e))))?;
        if status >= 500 || status == 429 {
            return Err(temp(format!("answered HTTP {status}; try again later")));
        }
        let json: Option<Map<String, Value>> = serde_json::from_slice(&body).ok();
        match (status, json) {
            (200..=299, Some(map)) => Ok(Answer::Granted(map)),
            (400..=499, Some(map)) => {
                let text = |k: &str| map.get(k).and_then(|v| v.as_str()).map(shown);
                Ok(Answer::Refused {
                    status,
                    error: text("error").unwrap_or_else(|| "unknown_error".into()),
                    description: text("error_description").unwrap_or_default(),
                })
            }
            (400..=499, None) => Ok(Answer::Refused {
                status,
                error: "unknown_error".into(),
                description: String::new(),
            }),
            (_, _) => Err(temp(format!(
                "answered HTTP {status} without the JSON object OAuth 2 sends"
            ))),
        }
    }
}

/// A ureq error in words (ureq's text names the cause: refused, timed
/// out, certificate).
fn describe(e: &ureq::Error) -> String {
    shown(&e.to_string())
}
