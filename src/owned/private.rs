//! The private-file store the caches keep their files in (the compiled
//! plans and the system trust anchors): a directory of the user's own with
//! no group or other bits (made 0700, tightened when too open), files that
//! are read only when they are the user's own regular file, private (no
//! group or other bits), with one link, opened without following a link,
//! and written atomically (a private temporary file in the same directory,
//! fsynced, renamed over the old one).
//!
//! A cache is an accelerator: these rules are stricter than the queue's
//! ([`super::check_dir`], [`super::check_file`]: not writable by others),
//! since a cache file that might have been read or planted by someone else
//! is simply rebuilt.

use siphasher::sip128::SipHasher13;
use std::fs::{self, File, OpenOptions};
use std::hash::Hasher;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The directory the caches live in: `$XDG_CACHE_HOME/esmtp` or
/// `~/.cache/esmtp`.
pub fn cache_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|d| d.join("esmtp"))
}

/// Integrity check of a piece of a cache file: SipHash-1-3 (fast, no CPU
/// feature detection; SHA-256 would cost a `cpuid`, ~17 µs in a VM, on
/// every submission). Not a defence against someone who can write the file:
/// the file is trusted only when it is the user's own and private.
pub fn checksum(bytes: &[u8]) -> [u8; 8] {
    let mut h = SipHasher13::new();
    h.write(bytes);
    h.finish().to_le_bytes()
}

/// A private directory of the user's, named by its path.
#[derive(Debug, Clone, Copy)]
pub struct PrivateDir<'a> {
    dir: &'a Path,
}

impl<'a> PrivateDir<'a> {
    pub fn new(dir: &'a Path) -> Self {
        PrivateDir { dir }
    }

    /// The directory is ours and private; `create` makes it (0700) when
    /// missing and tightens an own directory that is too open.
    pub fn ensure(&self, create: bool) -> Result<&'a Path, String> {
        let dir = self.dir;
        let uid = super::euid();
        let m = match fs::symlink_metadata(dir) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?
            }
            Err(e) => return Err(format!("{}: {e}", dir.display())),
        };
        if !m.is_dir() {
            return Err(format!("{} is not a directory", dir.display()));
        }
        if m.uid() != uid {
            return Err(format!("{} is not owned by you", dir.display()));
        }
        if m.mode() & 0o077 != 0 {
            if !create {
                return Err(format!("{} is accessible to others", dir.display()));
            }
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| format!("{} is accessible to others: {e}", dir.display()))?;
        }
        Ok(dir)
    }

    /// Open the file at `path` (in this directory) only if the directory is
    /// private and the file is a private regular file of ours with one link;
    /// `Ok(None)` when either is missing. Returns the file and its length.
    pub fn open(&self, path: &Path) -> Result<Option<(File, u64)>, String> {
        let dir = self.dir;
        let m = match fs::symlink_metadata(dir) {
            Ok(m) => m,
            // Missing, or something else where its parent should be: no
            // file to read (the write that follows says why, once).
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(format!("{}: {e}", dir.display())),
        };
        let uid = super::euid();
        if !m.is_dir() || m.uid() != uid || m.mode() & 0o077 != 0 {
            return Err(format!(
                "{} is not a private directory of yours",
                dir.display()
            ));
        }
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("unreadable: {e}")),
        };
        let m = file.metadata().map_err(|e| format!("unreadable: {e}"))?;
        if !m.is_file() {
            return Err("not a regular file".into());
        }
        if m.uid() != uid {
            return Err("not owned by you".into());
        }
        if m.mode() & 0o077 != 0 {
            return Err(format!(
                "accessible to others (mode {:o})",
                m.mode() & 0o777
            ));
        }
        if m.nlink() != 1 {
            return Err("has other links".into());
        }
        Ok(Some((file, m.len())))
    }

    /// [`PrivateDir::open`] and read the whole file.
    pub fn read(&self, path: &Path) -> Result<Option<Vec<u8>>, String> {
        let Some((file, len)) = self.open(path)? else {
            return Ok(None);
        };
        let len = usize::try_from(len).map_err(|_| "truncated")?;
        let mut buf = vec![0u8; len];
        file.read_exact_at(&mut buf, 0)
            .map_err(|e| format!("unreadable: {e}"))?;
        Ok(Some(buf))
    }

    /// Write `bytes` to `path` (in this directory, made private first)
    /// atomically: a private temporary file in the same directory, fsync,
    /// rename. Concurrent writers each rename a complete file; the last one
    /// wins.
    pub fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), String> {
        let dir = self.ensure(true)?;
        let mut rnd = [0u8; 8];
        getrandom::fill(&mut rnd).map_err(|e| e.to_string())?;
        let tmp = dir.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            rnd.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ));
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(nix::libc::O_NOFOLLOW)
                .open(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, path)
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(format!("cannot write {}: {e}", path.display()));
        }
        remove_abandoned(dir);
        Ok(())
    }
}

/// Temporary files left by a writer that died before its rename: removed
/// by the next writer once they are old enough not to be in progress.
fn remove_abandoned(dir: &Path) {
    const ABANDONED: Duration = Duration::from_secs(600);
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if !e.file_name().as_encoded_bytes().starts_with(b".tmp-") {
            continue;
        }
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > ABANDONED);
        if old {
            let _ = fs::remove_file(e.path());
        }
    }
}
