//! TLS trust and client identity, as esmtp documents them:
//! `~/.authenticate/ca.pem` (a CA bundle) or `~/.authenticate/ca/` (a
//! directory of PEM files) are the only trusted roots when present; with
//! neither, the system's roots. The client certificate and its key come from
//! `~/.authenticate/HOST/private/smtp-starttls.pem`, else
//! `~/.authenticate/private/smtp-starttls.pem`. The directory must be 0700
//! and every file we read 0600; anything looser is refused, naming the file
//! and its mode.
//!
//! An identity may name its own files instead (`tls_trust_file`,
//! `tls_cert_file`, `tls_key_file`: each file 0600, `~/` expanded), and may
//! pin the server's certificate by its SHA-256 fingerprint
//! (`tls_fingerprint`): then that certificate is trusted whoever signed it,
//! and no CA, name or date check is made (as msmtp does).

mod observed;
mod pinned;

pub(crate) use observed::Seen;

pub mod anchors;

use crate::exit::{self, Failure};
use crate::plan::{Identity, Secret, TlsFiles};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the trusted roots came from (named in certificate errors).
#[derive(Debug, Clone)]
pub(crate) enum TrustSource {
    File(PathBuf),
    Dir(PathBuf),
    System,
    /// `tls_fingerprint`: only the certificate with this SHA-256.
    Pinned([u8; 32]),
}

impl std::fmt::Display for TrustSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrustSource::File(p) => write!(f, "the CA bundle {}", p.display()),
            TrustSource::Dir(p) => write!(f, "the CA directory {}", p.display()),
            TrustSource::System => f.write_str("the system's trusted roots"),
            TrustSource::Pinned(fp) => write!(
                f,
                "the pinned fingerprint {}",
                crate::plan::fingerprint_text(fp)
            ),
        }
    }
}

pub(crate) struct TlsSetup {
    pub config: Arc<ClientConfig>,
    pub trust: TrustSource,
    pub client_cert: Option<PathBuf>,
}

fn check_mode(path: &Path, dir: bool) -> Result<(), Failure> {
    let meta = fs::metadata(path)
        .map_err(|e| Failure::new(exit::NOPERM, format!("cannot read {}: {e}", path.display())))?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        let want = if dir { "0700" } else { "0600" };
        return Err(Failure::new(
            exit::NOPERM,
            format!(
                "{} has mode {:04o}; it holds TLS trust or keys and must be {want} \
                 (chmod {} {})",
                path.display(),
                mode,
                &want[1..],
                path.display()
            ),
        ));
    }
    Ok(())
}

fn read_checked(path: &Path) -> Result<Vec<u8>, Failure> {
    check_mode(path, false)?;
    fs::read(path)
        .map_err(|e| Failure::new(exit::NOPERM, format!("cannot read {}: {e}", path.display())))
}

/// Read a file of public certificates the identity names (`tls_trust_file`,
/// a `tls_cert_file` beside its own `tls_key_file`): anyone may read it
/// (msmtp users point at /etc/ssl/certs/ca-certificates.crt), but only its
/// owner, the user or root, may change it: whoever can write a trust file
/// can make esmtp trust any server.
fn read_public(path: &Path) -> Result<Vec<u8>, Failure> {
    use std::os::unix::fs::MetadataExt;
    let meta = fs::metadata(path)
        .map_err(|e| Failure::new(exit::NOPERM, format!("cannot read {}: {e}", path.display())))?;
    let mode = meta.mode() & 0o7777;
    let me = crate::owned::euid();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(Failure::new(
            exit::NOPERM,
            format!(
                "{} belongs to user id {}, not to you or root; whoever owns it decides \
                 which servers esmtp trusts",
                path.display(),
                meta.uid()
            ),
        ));
    }
    if mode & 0o022 != 0 {
        return Err(Failure::new(
            exit::NOPERM,
            format!(
                "{} has mode {mode:04o}: group or others may change it, and so decide which \
                 servers esmtp trusts (chmod go-w {})",
                path.display(),
                path.display()
            ),
        ));
    }
    fs::read(path)
        .map_err(|e| Failure::new(exit::NOPERM, format!("cannot read {}: {e}", path.display())))
}

fn add_pem_certs(roots: &mut RootCertStore, path: &Path, pem: &[u8]) -> Result<usize, Failure> {
    let mut n = 0;
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| {
            Failure::config(format!(
                "{}: not a valid PEM certificate: {e}",
                path.display()
            ))
        })?;
        roots.add(cert).map_err(|e| {
            Failure::config(format!("{}: unusable CA certificate: {e}", path.display()))
        })?;
        n += 1;
    }
    Ok(n)
}

fn load_roots(auth_dir: Option<&Path>) -> Result<(RootCertStore, TrustSource), Failure> {
    let mut roots = RootCertStore::empty();
    if let Some(dir) = auth_dir {
        let file = dir.join("ca.pem");
        if file.exists() {
            let pem = read_checked(&file)?;
            if add_pem_certs(&mut roots, &file, &pem)? == 0 {
                return Err(Failure::config(format!(
                    "{} holds no certificate",
                    file.display()
                )));
            }
            return Ok((roots, TrustSource::File(file)));
        }
        let cadir = dir.join("ca");
        if cadir.is_dir() {
            let mut n = 0;
            for (path, pem) in ca_dir_files(&cadir)? {
                n += add_pem_certs(&mut roots, &path, &pem)?;
            }
            if n == 0 {
                return Err(Failure::config(format!(
                    "{} holds no certificate",
                    cadir.display()
                )));
            }
            return Ok((roots, TrustSource::Dir(cadir)));
        }
    }
    // The system store, pre-decoded in the anchor cache while its files are
    // unchanged (2.4 ms -> 1.0 ms per TLS submission).
    roots.extend(anchors::system_trust_anchors());
    if roots.is_empty() {
        return Err(Failure::config(
            "no trusted CA certificates: the system has none and there is no \
             ~/.authenticate/ca.pem",
        ));
    }
    Ok((roots, TrustSource::System))
}

type ClientIdentity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn load_client_identity(
    path: &Path,
    key_path: &Path,
    passphrase: Option<&Secret>,
) -> Result<ClientIdentity, Failure> {
    // A file that holds the key is private; a certificate beside its own
    // key file is public, like a trust file.
    let pem = if key_path == path {
        read_checked(path)?
    } else {
        read_public(path)?
    };
    let key_pem;
    let (pem_k, path_k) = if key_path == path {
        (&pem, path)
    } else {
        key_pem = read_checked(key_path)?;
        (&key_pem, key_path)
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| Failure::config(format!("{}: bad PEM: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(Failure::config(format!(
            "{} holds no certificate (it must hold the client certificate and its key)",
            path.display()
        )));
    }
    let text = String::from_utf8_lossy(pem_k);
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(Failure::config(format!(
            "{}: the private key is encrypted in OpenSSL's legacy format, which is not \
             supported; convert it to PKCS#8, keeping the passphrase: \
             openssl pkcs8 -topk8 -in OLD -out NEW",
            path_k.display()
        )));
    }
    if let Some(block) = pem_block(&text, "ENCRYPTED PRIVATE KEY") {
        let Some(passphrase) = passphrase else {
            return Err(Failure::config(format!(
                "{}: the private key is encrypted but the identity has no \
                 certificate_passphrase",
                path_k.display()
            )));
        };
        let key = decrypt_pkcs8(block, passphrase).map_err(|why| {
            Failure::config(format!(
                "{}: cannot decrypt the private key with certificate_passphrase: {why}",
                path_k.display()
            ))
        })?;
        return Ok((certs, key));
    }
    let key = PrivateKeyDer::from_pem_slice(pem_k).map_err(|e| {
        Failure::config(format!("{}: no usable private key: {e}", path_k.display()))
    })?;
    Ok((certs, key))
}

/// The text of the first PEM block with this label, boundaries included.
fn pem_block<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)?;
    let stop = text[start..].find(&end)? + start + end.len();
    Some(&text[start..stop])
}

/// Decrypt a PKCS#8 `ENCRYPTED PRIVATE KEY` (PBES2: PBKDF2 or scrypt with
/// AES-CBC, what `openssl pkcs8 -topk8` writes).
fn decrypt_pkcs8(block: &str, passphrase: &Secret) -> Result<PrivateKeyDer<'static>, String> {
    let (_label, der) = pkcs8::der::pem::decode_vec(block.as_bytes()).map_err(|e| e.to_string())?;
    let info =
        pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice()).map_err(|e| e.to_string())?;
    let doc = info
        .decrypt(passphrase.expose())
        .map_err(|_| "wrong passphrase, or an unsupported encryption scheme".to_string())?;
    Ok(PrivateKeyDer::Pkcs8(
        rustls::pki_types::PrivatePkcs8KeyDer::from(doc.as_bytes().to_vec()),
    ))
}

/// The client certificate file for `host`, if there is one:
/// `~/.authenticate/HOST/private/smtp-starttls.pem`, else
/// `~/.authenticate/private/smtp-starttls.pem`.
fn client_cert_path(auth_dir: Option<&Path>, host: &str) -> Option<PathBuf> {
    let dir = auth_dir?;
    let specific = dir.join(host).join("private").join("smtp-starttls.pem");
    let general = dir.join("private").join("smtp-starttls.pem");
    // A host name never contains '/', but do not let one walk elsewhere.
    let specific_ok = !host.contains('/') && !host.starts_with('.') && specific.exists();
    if specific_ok {
        Some(specific)
    } else if general.exists() {
        Some(general)
    } else {
        None
    }
}

/// Read the client certificate and key at `path` (its directory 0700, the
/// file 0600, the key decrypted with `passphrase`). It belongs to the
/// identity's configuration, so every problem is a configuration error (78).
fn client_identity(
    cert: &ClientCert,
    passphrase: Option<&Secret>,
) -> Result<ClientIdentity, Failure> {
    let load = || match cert {
        ClientCert::Authenticate(path) => {
            if let Some(private) = path.parent() {
                check_mode(private, true)?;
            }
            load_client_identity(path, path, passphrase)
        }
        ClientCert::Files { cert, key } => load_client_identity(cert, key, passphrase),
    };
    load().map_err(|f| Failure::config(f.message))
}

/// Where the client certificate of an identity comes from.
enum ClientCert {
    /// `~/.authenticate/.../smtp-starttls.pem` (certificate and key).
    Authenticate(PathBuf),
    /// `tls_cert_file`, and `tls_key_file` or the same file.
    Files { cert: PathBuf, key: PathBuf },
}

impl ClientCert {
    fn path(&self) -> &Path {
        match self {
            ClientCert::Authenticate(p) => p,
            ClientCert::Files { cert, .. } => cert,
        }
    }
}

/// A path of `tls_trust_file`, `tls_cert_file` or `tls_key_file`: absolute,
/// or `~/` and the home directory (the compiler accepts nothing else).
fn expand(path: &str) -> Result<PathBuf, Failure> {
    match path.strip_prefix("~/") {
        Some(rest) => dirs::home_dir()
            .map(|h| h.join(rest))
            .ok_or_else(|| Failure::config(format!("cannot expand {path}: no home directory"))),
        None => Ok(PathBuf::from(path)),
    }
}

/// The client certificate TLS to `host` presents for an identity with
/// these files, if any.
fn client_cert(
    files: Option<&TlsFiles>,
    auth_dir: Option<&Path>,
    host: &str,
) -> Result<Option<ClientCert>, Failure> {
    if let Some(cert) = files.and_then(|f| f.cert_file.as_deref()) {
        let cert = expand(cert)?;
        let key = match files.and_then(|f| f.key_file.as_deref()) {
            Some(k) => expand(k)?,
            None => cert.clone(),
        };
        return Ok(Some(ClientCert::Files { cert, key }));
    }
    Ok(client_cert_path(auth_dir, host).map(ClientCert::Authenticate))
}

/// The problem, if any, with the client certificate TLS would present for
/// `identity` (what `esmtp check` reports for the live configuration;
/// sending fails on it with status 78 before connecting).
pub fn client_certificate_problem(identity: &Identity) -> Option<String> {
    let files = identity.tls_files.as_deref();
    let auth_dir = authenticate_dir().filter(|d| d.exists());
    let cert = match client_cert(files, auth_dir.as_deref(), &identity.relay.host) {
        Ok(c) => c?,
        Err(f) => return Some(f.message),
    };
    client_identity(&cert, identity.certificate_passphrase.as_ref())
        .err()
        .map(|f| f.message)
}

/// The roots of a `tls_trust_file`.
fn trust_file_roots(file: &str) -> Result<(RootCertStore, TrustSource), Failure> {
    let file = expand(file)?;
    let mut roots = RootCertStore::empty();
    let pem = read_public(&file)?;
    if add_pem_certs(&mut roots, &file, &pem)? == 0 {
        return Err(Failure::config(format!(
            "{} (tls_trust_file) holds no certificate",
            file.display()
        )));
    }
    Ok((roots, TrustSource::File(file)))
}

/// Build the client configuration for TLS to the identity's smarthost.
/// Reads `~/.authenticate` (or the identity's own files) only now, when TLS
/// is actually used (before connecting, so that a client certificate that
/// cannot be used stops the submission before anything is sent).
pub(crate) fn setup(identity: &Identity) -> Result<TlsSetup, Failure> {
    setup_with(identity, None)
}

/// [`setup`] for `esmtp probe`: the same trust and client certificate, and
/// a verifier that records the presented chain and the verdict in `seen`
/// and lets the handshake finish even when the certificate does not
/// verify, so that the probe can show it. The session must then send
/// nothing secret: `seen` says whether it verified.
pub(crate) fn setup_observed(
    identity: &Identity,
    seen: &observed::Seen,
) -> Result<TlsSetup, Failure> {
    setup_with(identity, Some(seen))
}

fn setup_with(identity: &Identity, observe: Option<&observed::Seen>) -> Result<TlsSetup, Failure> {
    let host = identity.relay.host.as_str();
    let files = identity.tls_files.as_deref();
    let own = |f: fn(&TlsFiles) -> bool| files.is_some_and(f);
    let pinned = files.and_then(|f| f.fingerprint);
    let trust_given = pinned.is_some() || own(|f| f.trust_file.is_some());
    let cert_given = own(|f| f.cert_file.is_some());
    // ~/.authenticate is read (and its mode checked) only for what the
    // identity does not name itself.
    let auth_dir = if trust_given && cert_given {
        None
    } else {
        authenticate_dir().filter(|d| d.exists())
    };
    if let Some(dir) = &auth_dir {
        check_mode(dir, true)?;
    }

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Failure::software(format!("TLS setup failed: {e}")))?;
    let (builder, trust) = match (pinned, files.and_then(|f| f.trust_file.as_deref())) {
        // `esmtp probe`: the same trust, behind a verifier that records
        // the chain and the verdict (see [`observed`]).
        (pinned, trust_file) if observe.is_some() => {
            let (inner, trust): (Arc<dyn rustls::client::danger::ServerCertVerifier>, _) =
                match (pinned, trust_file) {
                    (Some(fp), _) => (
                        Arc::new(pinned::PinnedServer::new(
                            fp,
                            provider.signature_verification_algorithms,
                        )),
                        TrustSource::Pinned(fp),
                    ),
                    (None, trust_file) => {
                        let (roots, trust) = match trust_file {
                            Some(file) => trust_file_roots(file)?,
                            None => load_roots(auth_dir.as_deref())?,
                        };
                        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
                            Arc::new(roots),
                            provider.clone(),
                        )
                        .build()
                        .map_err(|e| Failure::config(format!("TLS setup failed: {e}")))?;
                        (verifier, trust)
                    }
                };
            let server = identity.relay.to_string();
            let seen = observe.cloned().unwrap_or_default();
            let recorder = observed::Recording::new(inner, seen, host, &server, trust.clone());
            (
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(recorder)),
                trust,
            )
        }
        (Some(fp), _) => (
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(pinned::PinnedServer::new(
                    fp,
                    provider.signature_verification_algorithms,
                ))),
            TrustSource::Pinned(fp),
        ),
        (None, Some(file)) => {
            let (roots, trust) = trust_file_roots(file)?;
            (builder.with_root_certificates(roots), trust)
        }
        (None, None) => {
            let (roots, trust) = load_roots(auth_dir.as_deref())?;
            (builder.with_root_certificates(roots), trust)
        }
    };

    let client = client_cert(files, auth_dir.as_deref(), host)?;
    let passphrase = identity.certificate_passphrase.as_ref();
    let config = match &client {
        Some(cert) => {
            let (certs, key) = client_identity(cert, passphrase)?;
            builder.with_client_auth_cert(certs, key).map_err(|e| {
                Failure::config(format!(
                    "{}: unusable client certificate: {e}",
                    cert.path().display()
                ))
            })?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(TlsSetup {
        config: Arc::new(config),
        trust,
        client_cert: client.map(|c| c.path().to_path_buf()),
    })
}

/// The PEM files of the CAs an identity trusts besides the system's, for
/// HTTPS to its OAuth 2 endpoints: its `tls_trust_file`, else
/// `~/.authenticate/ca.pem` or the files of `~/.authenticate/ca/` (the same
/// files, read with the same checks, as for its smarthost). A pinned
/// `tls_fingerprint` concerns the smarthost only.
fn extra_trust_pems(identity: &Identity) -> Result<Vec<(PathBuf, Vec<u8>)>, Failure> {
    if let Some(file) = identity
        .tls_files
        .as_deref()
        .and_then(|f| f.trust_file.as_deref())
    {
        let file = expand(file)?;
        let pem = read_public(&file)?;
        return Ok(vec![(file, pem)]);
    }
    let Some(dir) = authenticate_dir().filter(|d| d.exists()) else {
        return Ok(Vec::new());
    };
    check_mode(&dir, true)?;
    let file = dir.join("ca.pem");
    if file.exists() {
        let pem = read_checked(&file)?;
        return Ok(vec![(file, pem)]);
    }
    let cadir = dir.join("ca");
    if !cadir.is_dir() {
        return Ok(Vec::new());
    }
    ca_dir_files(&cadir)
}

/// The files of `~/.authenticate/ca/` (0700), each read with its mode
/// checked (0600), in name order.
fn ca_dir_files(cadir: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>, Failure> {
    check_mode(cadir, true)?;
    let mut entries: Vec<PathBuf> = fs::read_dir(cadir)
        .map_err(|e| Failure::config(format!("cannot read {}: {e}", cadir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    entries
        .into_iter()
        .map(|p| read_checked(&p).map(|pem| (p, pem)))
        .collect()
}

/// The client configuration for HTTPS to an identity's OAuth 2 endpoints:
/// the system's roots (from the same cache as SMTP) plus the identity's own
/// CAs ([`extra_trust_pems`]), the ring provider, no client certificate.
pub(crate) fn endpoint_config(identity: &Identity) -> Result<Arc<ClientConfig>, Failure> {
    let mut roots = RootCertStore::empty();
    roots.extend(anchors::system_trust_anchors());
    for (path, pem) in extra_trust_pems(identity)? {
        add_pem_certs(&mut roots, &path, &pem)?;
    }
    if roots.is_empty() {
        return Err(Failure::config(
            "no trusted CA certificates for the OAuth 2 endpoint: the system has none \
             and the identity names none (tls_trust_file, ~/.authenticate/ca.pem)",
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Failure::software(format!("TLS setup failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, Failure> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_string())
        .map_err(|_| Failure::config(format!("'{host}' is not a valid name for TLS")))
}

/// Describe a failed handshake: a certificate that did not verify is told
/// apart from every other failure.
pub(crate) fn describe_handshake_error(
    err: &std::io::Error,
    host: &str,
    server: &str,
    trust: &TrustSource,
) -> (bool, String) {
    let mut source: Option<&(dyn std::error::Error + 'static)> = err.get_ref().map(|e| e as _);
    while let Some(e) = source {
        if let Some(rustls::Error::InvalidCertificate(cert)) = e.downcast_ref::<rustls::Error>() {
            return (true, describe_certificate_error(cert, host, server, trust));
        }
        source = e.source();
    }
    (
        false,
        format!("the TLS handshake with {host} failed: {err}"),
    )
}

/// Why a certificate did not verify, as the user reads it.
pub(crate) fn describe_certificate_error(
    cert: &rustls::CertificateError,
    host: &str,
    server: &str,
    trust: &TrustSource,
) -> String {
    if let Some(m) = pinned::mismatch(cert) {
        return format!(
            "the certificate of {server} is not the one tls_fingerprint pins: \
             it has {}, tls_fingerprint expects {}",
            crate::plan::fingerprint_text(&m.presented),
            crate::plan::fingerprint_text(&m.expected)
        );
    }
    let what = match cert {
        rustls::CertificateError::UnknownIssuer => {
            format!("it is not signed by a CA in {trust}")
        }
        rustls::CertificateError::NotValidForNameContext { presented, .. }
            if !presented.is_empty() =>
        {
            // rustls shows names as `DnsName("x")`: keep the x.
            let names: Vec<&str> = presented
                .iter()
                .map(|p| match (p.find('"'), p.rfind('"')) {
                    (Some(a), Some(b)) if b > a => &p[a + 1..b],
                    _ => p.as_str(),
                })
                .collect();
            format!("it names only {}", names.join(", "))
        }
        rustls::CertificateError::NotValidForName
        | rustls::CertificateError::NotValidForNameContext { .. } => {
            "it is issued for other names".to_string()
        }
        rustls::CertificateError::Expired | rustls::CertificateError::ExpiredContext { .. } => {
            "it has expired".into()
        }
        other => {
            // webpki's own reasons come as `Other(OtherError(Reason))`.
            let text = format!("{other:?}");
            if text.contains("CaUsedAsEndEntity") {
                "it is a CA certificate presented as the server's own (as `openssl req \
                 -x509` makes a self-signed one), and no CA you trust signed it"
                    .to_string()
            } else {
                text
            }
        }
    };
    format!("the certificate of {server} did not verify for the name '{host}': {what}")
}

/// True when a handshake failed because the peer sent something that is
/// not TLS (plain text where the first record should be).
pub(crate) fn is_not_tls(err: &std::io::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = err.get_ref().map(|e| e as _);
    while let Some(e) = source {
        if let Some(rustls::Error::InvalidMessage(_)) = e.downcast_ref::<rustls::Error>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// The ~/.authenticate directory: `~` is a non-empty `$HOME`, else the
/// password database's home (what `dirs::home_dir` does).
pub fn authenticate_dir() -> Option<PathBuf> {
    dirs::home_dir().map(|h| h.join(".authenticate"))
}
