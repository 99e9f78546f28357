//! What a session saw, for `esmtp probe`: the connection set up exactly as
//! a submission sets it up, with each step noted on the way (greeting,
//! EHLO, TLS, the certificate, the login), so that a failure part way
//! still leaves what came before it to show.

use super::super::reply::Reply;
use super::super::shown::Masker;
use super::super::tls;
use super::Capabilities;
use crate::plan::AuthMech;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// How TLS came on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TlsMode {
    Implicit,
    Starttls,
}

/// The TLS session: protocol version and cipher suite.
#[derive(Debug, Clone)]
pub(crate) struct TlsFacts {
    pub mode: TlsMode,
    /// `TLSv1.3`.
    pub version: String,
    pub cipher: String,
}

/// What became of the login.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum Login {
    /// No `--login`, or the identity has no credentials.
    #[default]
    NotAsked,
    /// Not tried: the server's certificate did not verify.
    Withheld,
    /// Authenticated with this mechanism.
    Done(AuthMech),
    /// The login failed (the message says why; never the secret).
    Failed(String),
}

/// What the session saw so far.
#[derive(Debug, Clone, Default)]
pub(crate) struct Observed {
    /// The address connected to.
    pub address: Option<SocketAddr>,
    pub loopback: bool,
    /// The greeting, one line each, control characters escaped.
    pub greeting: Vec<String>,
    /// The last EHLO (or HELO) reply, shown as the greeting.
    pub ehlo: Vec<String>,
    /// The server did not know EHLO: HELO was used.
    pub helo_only: bool,
    /// What the last EHLO offered.
    pub caps: Capabilities,
    /// STARTTLS was offered before TLS (the reply after TLS need not say).
    pub starttls_offered: bool,
    pub tls: Option<TlsFacts>,
    pub login: Login,
}

/// A probing session: whether to log in, and where it notes what it sees.
#[derive(Debug, Clone, Default)]
pub(crate) struct Probing {
    pub login: bool,
    pub seen: Arc<Mutex<Observed>>,
    /// The certificate chain and its verdict, filled in by the verifier.
    pub chain: tls::Seen,
}

impl Probing {
    pub(crate) fn new(login: bool) -> Probing {
        Probing {
            login,
            ..Probing::default()
        }
    }

    pub(crate) fn note(&self, f: impl FnOnce(&mut Observed)) {
        match self.seen.lock() {
            Ok(mut o) => f(&mut o),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    pub(crate) fn observed(&self) -> Observed {
        match self.seen.lock() {
            Ok(o) => o.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

/// A reply as lines to show: `220 text`, `250-text`..., control
/// characters escaped and the secret masked.
pub(crate) fn reply_lines(masker: &Masker, r: &Reply) -> Vec<String> {
    let n = r.lines.len();
    r.lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let sep = if i + 1 == n { ' ' } else { '-' };
            format!("{}{sep}{}", r.code, masker.show(l))
        })
        .collect()
}

/// rustls's `TLSv1_3` as people write it: `TLSv1.3`.
pub(crate) fn version_text(debug: &str) -> String {
    debug.replace('_', ".")
}
