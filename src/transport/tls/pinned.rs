//! `tls_fingerprint`: trust exactly the server certificate whose SHA-256 is
//! pinned, whoever signed it. As msmtp does, the fingerprint replaces every
//! other check of the certificate (CA chain, host name, dates): it names
//! one certificate, so nothing else about it needs to be believed. The
//! handshake's signatures are still verified with the certificate's key, so
//! only the holder of that key can present it.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, OtherError, SignatureScheme};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The verifier of a pinned certificate.
#[derive(Debug)]
pub(super) struct PinnedServer {
    fingerprint: [u8; 32],
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedServer {
    pub(super) fn new(fingerprint: [u8; 32], algorithms: WebPkiSupportedAlgorithms) -> Self {
        PinnedServer {
            fingerprint,
            algorithms,
        }
    }
}

/// The presented certificate is not the pinned one.
#[derive(Debug)]
pub(super) struct Mismatch {
    pub expected: [u8; 32],
    pub presented: [u8; 32],
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "certificate fingerprint {} is not the pinned {}",
            crate::plan::fingerprint_text(&self.presented),
            crate::plan::fingerprint_text(&self.expected)
        )
    }
}

impl std::error::Error for Mismatch {}

/// The mismatch, when a certificate was refused for not being the pinned one.
pub(super) fn mismatch(err: &CertificateError) -> Option<&Mismatch> {
    match err {
        CertificateError::Other(OtherError(e)) => e.downcast_ref::<Mismatch>(),
        _ => None,
    }
}

impl ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let presented: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        if presented == self.fingerprint {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(Mismatch {
                    expected: self.fingerprint,
                    presented,
                })),
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
