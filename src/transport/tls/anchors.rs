//! The system's trusted CA certificates, pre-decoded: a cache file
//! (`system-roots.anchors`, beside the compiled plans, in the same private
//! store) holding the rustls trust anchors the native loader finds, used
//! while every file and directory they came from keeps its stat stamp.
//!
//! Layout (integers little-endian):
//! ```text
//! magic "ESMTPCA\0" | format u32 | payload length u32 | payload check [8]
//! payload (postcard): the program that wrote it, the stamps of the
//! sources, the anchors
//! ```

use crate::owned::private::{cache_dir, checksum, PrivateDir};
use crate::owned::stamp::{Program, Stamp, SETTLE};
use rustls_pki_types::TrustAnchor;
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Version of the anchor file's layout. It was the plan cache's format
/// number (3) when the two shared one; kept, so files written by earlier
/// builds keep their bytes (they are invalidated by the build ID anyway).
const ANCHOR_FORMAT: u32 = 3;
/// magic + format + payload length + payload check.
const PREFIX_LEN: usize = 8 + 4 + 4 + 8;

/// The system's trusted CA certificates as rustls trust anchors, exactly as
/// `rustls_native_certs::load_native_certs` finds them, from a cache file
/// (`system-roots.anchors` beside the plans) while every file they come from
/// is unchanged. Loading and parsing the system store costs ~5.6 ms per TLS
/// submission here (a 220 KB bundle plus 290 files in /etc/ssl/certs);
/// checking the cache costs a directory listing and a stat per file.
///
/// Errors are not reported: like the native loader, unreadable certificates
/// are skipped; an empty result means there is none.
pub fn system_trust_anchors() -> Vec<TrustAnchor<'static>> {
    let (file, dirs) = native_sources();
    AnchorCache::default_location().trust_anchors(file.as_deref(), &dirs, &|| {
        rustls_native_certs::load_native_certs().certs
    })
}

/// Where `rustls_native_certs::load_native_certs` reads: `SSL_CERT_FILE` and
/// `SSL_CERT_DIR` when set, else what `openssl_probe` finds.
fn native_sources() -> (Option<PathBuf>, Vec<PathBuf>) {
    let file = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
    let dirs: Vec<PathBuf> = std::env::var_os("SSL_CERT_DIR")
        .map(|d| {
            std::env::split_paths(&d)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    if file.is_some() || !dirs.is_empty() {
        return (file, dirs);
    }
    let probe = openssl_probe::probe();
    (probe.cert_file, probe.cert_dir)
}

/// One file or directory the anchors were read from, as it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Seen {
    path: PathBuf,
    stamp: Option<Stamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct AnchorKey {
    file: Option<PathBuf>,
    dirs: Vec<PathBuf>,
    /// The file, each directory and each directory entry (links followed),
    /// entries sorted by name.
    seen: Vec<Seen>,
}

impl AnchorKey {
    fn now(file: Option<&Path>, dirs: &[PathBuf]) -> AnchorKey {
        let stamp = |p: &Path| fs::metadata(p).ok().map(|m| Stamp::of(&m));
        let mut seen = Vec::new();
        if let Some(f) = file {
            seen.push(Seen {
                path: f.to_path_buf(),
                stamp: stamp(f),
            });
        }
        for d in dirs {
            seen.push(Seen {
                path: d.clone(),
                stamp: stamp(d),
            });
            let mut entries: Vec<PathBuf> = fs::read_dir(d)
                .map(|r| r.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
            entries.sort();
            seen.extend(entries.into_iter().map(|path| Seen {
                stamp: stamp(&path),
                path,
            }));
        }
        AnchorKey {
            file: file.map(Path::to_path_buf),
            dirs: dirs.to_vec(),
            seen,
        }
    }

    fn settled_before(&self, start: SystemTime, settle: Duration) -> bool {
        self.seen
            .iter()
            .all(|s| s.stamp.is_none_or(|st| st.settled_before(start, settle)))
    }
}

/// Trust anchor fields: subject, subject public key info, name constraints.
type AnchorParts = (Vec<u8>, Vec<u8>, Option<Vec<u8>>);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct AnchorFile {
    program: Program,
    key: AnchorKey,
    anchors: Vec<AnchorParts>,
}

const ANCHOR_MAGIC: &[u8; 8] = b"ESMTPCA\0";
const ANCHOR_FILE: &str = "system-roots.anchors";

type CertLoader<'a> = &'a dyn Fn() -> Vec<rustls_pki_types::CertificateDer<'static>>;

/// Where the anchor cache file lives, and how long its sources must have
/// been unchanged before their stamps are trusted.
#[derive(Debug, Clone)]
struct AnchorCache {
    dir: Option<PathBuf>,
    /// [`SETTLE`], shorter in tests.
    settle: Duration,
}

impl AnchorCache {
    /// Beside the compiled plans: `$XDG_CACHE_HOME/esmtp` or `~/.cache/esmtp`.
    fn default_location() -> AnchorCache {
        AnchorCache {
            dir: cache_dir(),
            settle: SETTLE,
        }
    }

    #[cfg(test)]
    fn at(dir: impl Into<PathBuf>) -> AnchorCache {
        AnchorCache {
            dir: Some(dir.into()),
            settle: SETTLE,
        }
    }

    fn trust_anchors(
        &self,
        file: Option<&Path>,
        dirs: &[PathBuf],
        load: CertLoader<'_>,
    ) -> Vec<TrustAnchor<'static>> {
        let start = SystemTime::now();
        let key = AnchorKey::now(file, dirs);
        let program = Program::current(ANCHOR_FORMAT);
        let cache = self.dir.as_ref().map(|d| d.join(ANCHOR_FILE));
        if let (Some(program), Some(cache)) = (&program, &cache) {
            if let Ok(Some(found)) = self.read_anchors(cache, program, &key) {
                return found;
            }
        }
        // Parse the certificates as rustls does when they are added.
        let mut roots = rustls::RootCertStore::empty();
        for cert in load() {
            let _ = roots.add(cert);
        }
        let anchors = roots.roots;
        // Only a settled key proves the files unchanged later.
        if let (Some(program), Some(cache)) = (program, &cache) {
            if key.settled_before(start, self.settle) {
                let parts = anchors
                    .iter()
                    .map(|a| {
                        (
                            a.subject.to_vec(),
                            a.subject_public_key_info.to_vec(),
                            a.name_constraints.as_ref().map(|n| n.to_vec()),
                        )
                    })
                    .collect();
                let body = AnchorFile {
                    program,
                    key,
                    anchors: parts,
                };
                if let Ok(payload) = postcard::to_allocvec(&body) {
                    let mut out = Vec::with_capacity(PREFIX_LEN + payload.len());
                    out.extend_from_slice(ANCHOR_MAGIC);
                    out.extend_from_slice(&ANCHOR_FORMAT.to_le_bytes());
                    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
                    out.extend_from_slice(&checksum(&payload));
                    out.extend_from_slice(&payload);
                    if let Some(dir) = &self.dir {
                        let _ = PrivateDir::new(dir).write_atomic(cache, &out);
                    }
                }
            }
        }
        anchors
    }

    fn read_anchors(
        &self,
        cache: &Path,
        program: &Program,
        key: &AnchorKey,
    ) -> Result<Option<Vec<TrustAnchor<'static>>>, String> {
        let dir = self.dir.as_deref().ok_or("no cache directory")?;
        let Some(bytes) = PrivateDir::new(dir).read(cache)? else {
            return Ok(None);
        };
        let b = &bytes;
        if b.len() < PREFIX_LEN || &b[..8] != ANCHOR_MAGIC {
            return Err("not a trust anchor cache".into());
        }
        if u32::from_le_bytes([b[8], b[9], b[10], b[11]]) != ANCHOR_FORMAT {
            return Err("other format".into());
        }
        let len = u32::from_le_bytes([b[12], b[13], b[14], b[15]]) as usize;
        let payload = b.get(PREFIX_LEN..PREFIX_LEN + len).ok_or("truncated")?;
        if checksum(payload) != b[16..24] {
            return Err("corrupted".into());
        }
        let file: AnchorFile = postcard::from_bytes(payload).map_err(|e| e.to_string())?;
        if file.program != *program || file.key != *key {
            return Ok(None);
        }
        Ok(Some(
            file.anchors
                .into_iter()
                .map(|(subject, spki, nc)| TrustAnchor {
                    subject: subject.into(),
                    subject_public_key_info: spki.into(),
                    name_constraints: nc.map(Into::into),
                })
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first `n` certificates of the system bundle, as PEM.
    fn some_pems(n: usize) -> Vec<String> {
        let bundle = fs::read_to_string("/etc/ssl/certs/ca-certificates.crt")
            .expect("the ca-certificates bundle (Debian package ca-certificates)");
        bundle
            .split_inclusive("-----END CERTIFICATE-----\n")
            .filter(|c| c.contains("BEGIN CERTIFICATE"))
            .take(n)
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn trust_anchors_are_cached_while_their_files_are_unchanged() {
        let t = tempfile::tempdir().unwrap();
        let mut store = AnchorCache::at(t.path().join("cache"));
        store.settle = Duration::ZERO;
        let pems = some_pems(4);
        let bundle = t.path().join("bundle.pem");
        let dir = t.path().join("certs");
        fs::create_dir(&dir).unwrap();
        fs::write(&bundle, pems[..3].concat()).unwrap();
        let loads = std::cell::Cell::new(0);
        let loader = || {
            loads.set(loads.get() + 1);
            rustls_native_certs::load_certs_from_paths(Some(&bundle), Some(&dir)).certs
        };
        let get = |store: &AnchorCache| {
            store.trust_anchors(Some(&bundle), std::slice::from_ref(&dir), &loader)
        };
        let first = get(&store);
        assert_eq!((first.len(), loads.get()), (3, 1));
        assert!(t.path().join("cache").join(ANCHOR_FILE).exists());
        // Unchanged files: from the cache, the same anchors.
        assert_eq!(get(&store), first);
        assert_eq!(loads.get(), 1);
        // A certificate added to the directory, then the bundle edited.
        fs::write(dir.join("extra.pem"), &pems[3]).unwrap();
        assert_eq!(get(&store).len(), 4);
        assert_eq!(loads.get(), 2);
        fs::write(&bundle, pems[..2].concat()).unwrap();
        assert_eq!(get(&store).len(), 3);
        assert_eq!(get(&store).len(), 3);
        assert_eq!(loads.get(), 3);
        // A damaged cache is not used.
        let cache = t.path().join("cache").join(ANCHOR_FILE);
        let mut bytes = fs::read(&cache).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        fs::write(&cache, &bytes).unwrap();
        assert_eq!(get(&store).len(), 3);
        assert_eq!(loads.get(), 4);
        // Files changed moments ago are not trusted on their stamps.
        store.settle = SETTLE;
        fs::write(&bundle, pems[..1].concat()).unwrap();
        assert_eq!(get(&store).len(), 2);
        assert_eq!(get(&store).len(), 2);
        assert_eq!(loads.get(), 6);
    }

    #[test]
    fn system_store_round_trips_through_the_cache() {
        let t = tempfile::tempdir().unwrap();
        let store = AnchorCache::at(t.path().join("cache"));
        let (file, dirs) = native_sources();
        let native = || rustls_native_certs::load_native_certs().certs;
        let first = store.trust_anchors(file.as_deref(), &dirs, &native);
        assert!(!first.is_empty());
        let never = || -> Vec<rustls_pki_types::CertificateDer<'static>> {
            panic!("the system store should come from the cache")
        };
        if AnchorKey::now(file.as_deref(), &dirs).settled_before(SystemTime::now(), SETTLE) {
            assert_eq!(store.trust_anchors(file.as_deref(), &dirs, &never), first);
        }
    }
}
