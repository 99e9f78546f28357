//! The verifier of `esmtp probe`: the identity's own verifier (its CA
//! roots or its pinned fingerprint) behind one that records the chain the
//! server presented and the verdict, and lets the handshake finish even
//! when the certificate does not verify, so that the probe can show what
//! the server presents (the fingerprint to pin, the names it has).
//!
//! Never used to send mail: the probe reads the verdict and sends nothing
//! secret over a connection whose certificate did not verify (no login).
//! The handshake's signatures are still checked by the real verifier.

use super::{describe_certificate_error, TrustSource};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, Error, SignatureScheme};
use std::sync::{Arc, Mutex};

/// At most this many certificates of a chain are kept (a server may send
/// a long one; rustls bounds the handshake message, this bounds the copy).
const MAX_CHAIN: usize = 16;

/// What the server presented, and whether it verified.
#[derive(Debug, Clone, Default)]
pub(crate) struct Chain {
    /// DER of the end-entity certificate first, then the intermediates.
    pub certs: Vec<Vec<u8>>,
    /// `None` before the handshake got there; `Some(Err(why))` when the
    /// certificate did not verify (why, as the user reads it).
    pub verdict: Option<Result<(), String>>,
    /// Where the trust came from (CA bundle, system, pinned fingerprint).
    pub trust: String,
}

/// Shared between the verifier (inside rustls) and the probe.
#[derive(Debug, Clone, Default)]
pub(crate) struct Seen(Arc<Mutex<Chain>>);

impl Seen {
    pub(crate) fn chain(&self) -> Chain {
        match self.0.lock() {
            Ok(c) => c.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// True only when a certificate was presented and it verified.
    pub(crate) fn verified(&self) -> bool {
        matches!(self.chain().verdict, Some(Ok(())))
    }

    fn record(&self, chain: Chain) {
        match self.0.lock() {
            Ok(mut c) => *c = chain,
            Err(p) => *p.into_inner() = chain,
        }
    }
}

#[derive(Debug)]
pub(super) struct Recording {
    inner: Arc<dyn ServerCertVerifier>,
    seen: Seen,
    host: String,
    server: String,
    trust: TrustSource,
}

impl Recording {
    pub(super) fn new(
        inner: Arc<dyn ServerCertVerifier>,
        seen: Seen,
        host: &str,
        server: &str,
        trust: TrustSource,
    ) -> Self {
        Recording {
            inner,
            seen,
            host: host.to_string(),
            server: server.to_string(),
            trust,
        }
    }
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let verdict = match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(_) => Ok(()),
            Err(Error::InvalidCertificate(e)) => Err(describe_certificate_error(
                &e,
                &self.host,
                &self.server,
                &self.trust,
            )),
            Err(e) => Err(format!(
                "the certificate of {} did not verify: {e}",
                self.server
            )),
        };
        let certs = std::iter::once(end_entity)
            .chain(intermediates)
            .take(MAX_CHAIN)
            .map(|c| c.as_ref().to_vec())
            .collect();
        self.seen.record(Chain {
            certs,
            verdict: Some(verdict),
            trust: self.trust.to_string(),
        });
        // The probe goes on to show the server; the verdict keeps it from
        // sending anything secret.
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
