//! Where the compiled plans live, one file per source, kept in the
//! shared private-file store ([`crate::owned::private`]).
//!
//! `$XDG_CACHE_HOME/esmtp` or `~/.cache/esmtp` (0700, the user's own), one
//! file per source named from a hash of its absolute path, 0600, written to
//! a temporary file in the same directory, fsynced and renamed over the old
//! one (concurrent writers each rename a complete file). A file that is not
//! the user's own regular file with no group/other bits and one link, or a
//! directory that is not private, is never read.
//!

use super::format::{verify_all, Reader, FORMAT_VERSION};
use super::validity::{validate, Invalid, Source};
use super::Freshness;
use crate::config::Origin;
use crate::owned::private::{cache_dir, PrivateDir};
use crate::owned::stamp::{Program, SETTLE};
use siphasher::sip128::{Hasher128, SipHasher13};
use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the compiled plan files live.
#[derive(Debug, Clone)]
pub struct PlanStore {
    pub(super) dir: Option<PathBuf>,
    /// [`SETTLE`], shorter in tests.
    pub(super) settle: Duration,
}

impl PlanStore {
    /// `$XDG_CACHE_HOME/esmtp` or `~/.cache/esmtp`.
    pub fn default_location() -> PlanStore {
        PlanStore {
            dir: cache_dir(),
            settle: SETTLE,
        }
    }

    /// A cache in `dir` (tests, tools).
    pub fn at(dir: impl Into<PathBuf>) -> PlanStore {
        PlanStore {
            dir: Some(dir.into()),
            settle: SETTLE,
        }
    }

    /// The cache file for a source, named from a hash of its absolute path
    /// (the same whether the file is `~/.esmtprc` found by sendmail mode or
    /// given with `-C` or to `esmtp compile`: the plan does not depend on how
    /// the file was found).
    pub(super) fn file_for(&self, source: &Path) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        // Absolute, not canonical: resolving symbolic links would cost a
        // readlink per path component on every submission, and the source's
        // identity is checked by its stamp and hash anyway.
        let path = std::path::absolute(source).unwrap_or_else(|_| source.to_path_buf());
        let mut h = SipHasher13::new();
        h.write(path.as_os_str().as_encoded_bytes());
        Some(dir.join(format!("{:032x}.plan", h.finish128().as_u128())))
    }

    /// The directory is ours and private; `create` makes it (0700) when
    /// missing and tightens an own directory that is too open.
    pub(super) fn check_dir(&self, create: bool) -> Result<&Path, String> {
        let dir = self
            .dir
            .as_deref()
            .ok_or("no cache directory (HOME unset)")?;
        PrivateDir::new(dir).ensure(create)
    }

    /// Open a cache file only if it is a private regular file of ours.
    pub(super) fn open_cache(&self, path: &Path) -> Result<Option<Reader>, String> {
        let dir = self.dir.as_deref().ok_or("no cache directory")?;
        let Some((file, len)) = PrivateDir::new(dir).open(path)? else {
            return Ok(None);
        };
        Ok(Some(Reader {
            file: Some(file),
            len,
            head: Vec::new(),
        }))
    }

    /// Write `bytes` to `path` atomically (see [`PrivateDir::write_atomic`]).
    pub(super) fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), String> {
        let dir = self
            .dir
            .as_deref()
            .ok_or("no cache directory (HOME unset)")?;
        PrivateDir::new(dir).write_atomic(path, bytes)
    }

    pub(super) fn freshness(&self, origin: &Origin) -> Freshness {
        let Some(path) = origin.path() else {
            return Freshness::NoSource;
        };
        let Some(cache) = self.file_for(path) else {
            return Freshness::Unavailable {
                reason: "no cache directory (HOME unset)".into(),
            };
        };
        let Some(program) = Program::current(FORMAT_VERSION) else {
            return Freshness::Unavailable {
                reason: "cannot identify the running program (/proc not mounted)".into(),
            };
        };
        let mut source = match Source::open(path) {
            Ok(s) => s,
            Err(f) => return Freshness::Unavailable { reason: f.message },
        };
        let mut reader = match self.open_cache(&cache) {
            Ok(Some(r)) => r,
            Ok(None) => {
                // Missing; but can it ever be written?
                let blocked = cache
                    .ancestors()
                    .skip(1)
                    .find(|a| a.exists())
                    .filter(|a| !a.is_dir());
                return match blocked {
                    Some(b) => Freshness::Unavailable {
                        reason: format!("{} is not a directory", b.display()),
                    },
                    None => Freshness::Missing { cache },
                };
            }
            Err(reason) => return Freshness::Stale { cache, reason },
        };
        // Check every byte, not only what a submission would read.
        let full = validate(&mut reader, &program, &mut source, self.settle)
            .and_then(|(h, _)| verify_all(&mut reader, &h).map_err(Invalid::Broken));
        match full {
            Ok(()) => Freshness::Fresh { cache },
            Err(Invalid::Stale(reason)) | Err(Invalid::Broken(reason)) => {
                Freshness::Stale { cache, reason }
            }
            Err(Invalid::Fatal(f)) => Freshness::Unavailable { reason: f.message },
        }
    }
}
