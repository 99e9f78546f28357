//! The token store: one private file per identity in
//! `$XDG_DATA_HOME/esmtp/oauth2/` (`~/.local/share/esmtp/oauth2/`; the
//! directory 0700, each file 0600, the user's own, one link, never
//! followed through a link, written atomically: see
//! [`crate::owned::private`]), and beside each file its lock, which a
//! refresh holds (flock) so that concurrent submissions refresh once.

use crate::exit::{self, Failure};
use crate::owned::private::PrivateDir;
use crate::plan::Identity;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What is stored for one identity.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Tokens {
    /// The refresh token: never dropped unless the provider sends a new one.
    pub refresh_token: Option<String>,
    pub access_token: Option<String>,
    /// When the access token expires, in seconds since the epoch.
    pub expires_at: Option<u64>,
    /// The scopes granted (as the token endpoint named them).
    pub scope: Option<String>,
    /// The token endpoint the tokens came from.
    pub token_url: Option<String>,
}

/// The store's directory.
pub fn dir() -> Option<PathBuf> {
    dirs::data_dir().map(|d| d.join("esmtp").join("oauth2"))
}

/// Who an identity is, in messages and for `esmtp oauth IDENTITY`.
pub fn identity_name(identity: &Identity) -> String {
    match (&identity.address, &identity.username) {
        (Some(a), _) => a.clone(),
        (None, Some(u)) => u.to_string(),
        (None, None) => "(unnamed)".to_string(),
    }
}

/// The file name of an identity's tokens: its address (else its user
/// name) and its smarthost, so that the same address with two servers
/// has two entries; bytes other than letters, digits and `@.+-` become
/// `_`. Stable while the identity's address and hostname stay.
pub fn file_stem(identity: &Identity) -> String {
    let who = identity_name(identity);
    let raw = format!("{who}_{}", identity.relay.host);
    let mut stem: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "@.+-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(160)
        .collect();
    if stem.starts_with('.') {
        stem.insert(0, '_');
    }
    stem
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Tokens {
    /// A token file's bytes; `None` when they are not one.
    pub fn decode(bytes: &[u8]) -> Option<Tokens> {
        serde_json::from_slice(bytes).ok()
    }

    /// The access token, when it is still good for at least `margin`.
    pub fn fresh_access_token(&self, margin: u64) -> Option<&str> {
        let token = self.access_token.as_deref().filter(|t| !t.is_empty())?;
        let expires = self.expires_at?;
        (expires > now().saturating_add(margin)).then_some(token)
    }

    /// Seconds until the access token expires (negative: expired).
    pub fn expires_in(&self) -> Option<i64> {
        self.expires_at
            .map(|e| i64::try_from(e).unwrap_or(i64::MAX) - i64::try_from(now()).unwrap_or(0))
    }

    /// Take a token endpoint's successful answer: a new access token, and
    /// a rotated refresh token when the provider sent one (the old one is
    /// kept otherwise).
    pub fn update(&mut self, answer: &serde_json::Map<String, serde_json::Value>) -> bool {
        let text = |k: &str| answer.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let Some(access) = text("access_token").filter(|t| !t.is_empty()) else {
            return false;
        };
        self.access_token = Some(access);
        // Seconds, as a number or (some servers) a string; an hour when
        // absent, as most providers grant.
        let secs = answer
            .get("expires_in")
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
            .unwrap_or(3600)
            .min(10 * 365 * 86400);
        self.expires_at = Some(now().saturating_add(secs));
        if let Some(r) = text("refresh_token").filter(|t| !t.is_empty()) {
            self.refresh_token = Some(r);
        }
        if let Some(s) = text("scope") {
            self.scope = Some(s);
        }
        true
    }
}

/// Largest token file read (a refresh token and an access token are a few
/// KiB at most).
const MAX_FILE: u64 = 256 * 1024;

/// One identity's entry in the store.
pub struct Entry {
    dir: PathBuf,
    stem: String,
}

impl Entry {
    pub fn of(identity: &Identity) -> Result<Entry, Failure> {
        let dir = dir().ok_or_else(|| {
            Failure::config("cannot find the data directory for the OAuth 2 token store (set HOME or XDG_DATA_HOME)")
        })?;
        Ok(Entry {
            dir,
            stem: file_stem(identity),
        })
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(format!("{}.json", self.stem))
    }

    fn broken(&self, why: impl std::fmt::Display) -> Failure {
        Failure::config(format!(
            "the OAuth 2 token file {} cannot be used: {why}",
            self.path().display()
        ))
    }

    /// The stored tokens; `None` when nothing is stored.
    pub fn load(&self) -> Result<Option<Tokens>, Failure> {
        let store = PrivateDir::new(&self.dir);
        let path = self.path();
        let Some((file, len)) = store.open(&path).map_err(|e| self.broken(e))? else {
            return Ok(None);
        };
        if len > MAX_FILE {
            return Err(self.broken(format!("larger than {} KiB", MAX_FILE / 1024)));
        }
        let mut bytes = Vec::with_capacity(len as usize);
        use std::io::Read;
        file.take(MAX_FILE)
            .read_to_end(&mut bytes)
            .map_err(|e| self.broken(e))?;
        // The reason only: serde's message could quote the file.
        Tokens::decode(&bytes)
            .map(Some)
            .ok_or_else(|| self.broken("not a token file of this esmtp"))
    }

    /// Store `tokens` atomically (a complete file replaces the old one).
    pub fn save(&self, tokens: &Tokens) -> Result<(), Failure> {
        let bytes = serde_json::to_vec_pretty(tokens)
            .map_err(|e| Failure::software(format!("cannot encode the tokens: {e}")))?;
        PrivateDir::new(&self.dir)
            .write_atomic(&self.path(), &bytes)
            .map_err(|e| {
                Failure::new(
                    exit::CANTCREAT,
                    format!("cannot store the OAuth 2 tokens: {e}"),
                )
            })
    }

    /// Delete the stored tokens; false when there were none.
    pub fn remove(&self) -> Result<bool, Failure> {
        // Only a file that passes the store's checks (ours, private, one
        // link, not a link) is ours to delete.
        let exists = PrivateDir::new(&self.dir)
            .open(&self.path())
            .map_err(|e| self.broken(e))?
            .is_some();
        if !exists {
            return Ok(false);
        }
        std::fs::remove_file(self.path())
            .map_err(|e| self.broken(format!("cannot delete it: {e}")))?;
        let _ = std::fs::remove_file(self.dir.join(format!("{}.lock", self.stem)));
        Ok(true)
    }

    /// Hold the entry's lock (created 0600 in the private directory, not
    /// followed through a link), waiting at most `wait`: the process that
    /// holds it is refreshing, bounded by its own timeout.
    pub fn lock(&self, wait: Duration) -> Result<nix::fcntl::Flock<File>, Failure> {
        use nix::fcntl::{Flock, FlockArg};
        let dir = PrivateDir::new(&self.dir)
            .ensure(true)
            .map_err(|e| self.broken(e))?;
        let path = dir.join(format!("{}.lock", self.stem));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| self.broken(format!("cannot open its lock {}: {e}", path.display())))?;
        let m = file.metadata().map_err(|e| self.broken(e))?;
        if !m.is_file() || m.uid() != crate::owned::euid() {
            return Err(self.broken(format!("{} is not a file of yours", path.display())));
        }
        let deadline = Instant::now() + wait;
        loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(l) => return Ok(l),
                Err((f, nix::errno::Errno::EWOULDBLOCK)) if Instant::now() < deadline => {
                    file = f;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err((_, e)) => {
                    return Err(Failure::tempfail(format!(
                        "another esmtp is refreshing the OAuth 2 token ({}): {e}",
                        path.display()
                    )))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_are_plain_file_names() {
        let mut id = Identity::new(Some("a/../b@x.org".into()));
        id.relay.host = "smtp.x.org".into();
        assert_eq!(file_stem(&id), "a_.._b@x.org_smtp.x.org");
        let mut id = Identity::new(Some("..".into()));
        id.relay.host = "h".into();
        assert!(!file_stem(&id).starts_with('.'));
    }

    #[test]
    fn a_refresh_keeps_the_refresh_token_unless_rotated() {
        let mut t = Tokens {
            refresh_token: Some("r1".into()),
            ..Default::default()
        };
        let answer: serde_json::Value =
            serde_json::json!({"access_token": "a1", "expires_in": 3600});
        assert!(t.update(answer.as_object().unwrap()));
        assert_eq!(t.refresh_token.as_deref(), Some("r1"));
        assert_eq!(t.fresh_access_token(60), Some("a1"));
        let answer =
            serde_json::json!({"access_token": "a2", "expires_in": "30", "refresh_token": "r2"});
        assert!(t.update(answer.as_object().unwrap()));
        assert_eq!(t.refresh_token.as_deref(), Some("r2"));
        assert_eq!(t.fresh_access_token(60), None);
        assert!(!t.update(serde_json::json!({"error": "x"}).as_object().unwrap()));
    }
}
