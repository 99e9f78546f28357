//! Directories and files that must be the user's own: the rules every
//! store of esmtp's own files follows (the queue here, the caches in
//! [`private`], their validity stamps in [`stamp`]).
//!
//! A directory is used only if it is a real directory (not a symbolic
//! link) owned by the effective user and not writable by group or others;
//! esmtp creates its directories 0700. Everything inside is reached
//! relative to the directory's descriptor, never through a link: a file is
//! looked at with `fstatat(AT_SYMLINK_NOFOLLOW)` before it is opened (so a
//! FIFO or a device is never opened), opened with `O_NOFOLLOW|O_NONBLOCK`,
//! and checked again on the descriptor (the answer that counts). A file is
//! used only if it is a regular file of the user's, with one link, not
//! writable by group or others. New files are created with
//! `O_CREAT|O_EXCL|O_NOFOLLOW`; a file is put in place by a rename that
//! never replaces something that is not the user's own file.
//!
//! Root is held to the same rules: root can open anybody's files, so the
//! ownership check is what keeps another user's planted file from being
//! taken for root's own.

pub mod private;
pub mod stamp;

use nix::errno::Errno;
use nix::fcntl::{openat, AtFlags, OFlag};
use nix::sys::stat::{fstat, fstatat, mkdirat, FileStat, Mode, SFlag};
use nix::unistd::{fsync, unlinkat, UnlinkatFlags};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// Why a file or directory is not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not the user's own, a symbolic link, a file with other links, or
    /// writable by others: never followed, never used, never deleted.
    Foreign(String),
    /// The user's own, but not what it should be (another kind of file, or
    /// it cannot be opened): kept, and reported.
    Unusable(String),
}

impl Refusal {
    pub fn why(&self) -> &str {
        match self {
            Refusal::Foreign(w) | Refusal::Unusable(w) => w,
        }
    }
}

/// Why a directory cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirError {
    pub path: PathBuf,
    pub why: String,
    /// True when it exists but is not a private directory of the user's;
    /// false when it could not be created or opened.
    pub refused: bool,
}

impl std::fmt::Display for DirError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = printable(self.path.as_os_str());
        if self.refused {
            write!(f, "{path} {}", self.why)
        } else {
            write!(f, "{path}: {}", self.why)
        }
    }
}

pub(crate) fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// "nobody (uid 65534)", or "uid 1234" for an unknown user.
pub fn owner(uid: u32) -> String {
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
        Ok(Some(u)) => format!("{} (uid {uid})", u.name),
        _ => format!("uid {uid}"),
    }
}

fn kind(st: &FileStat) -> &'static str {
    match SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) {
        SFlag::S_IFREG => "a regular file",
        SFlag::S_IFDIR => "a directory",
        SFlag::S_IFLNK => "a symbolic link",
        SFlag::S_IFIFO => "a FIFO",
        SFlag::S_IFSOCK => "a socket",
        SFlag::S_IFCHR => "a character device",
        SFlag::S_IFBLK => "a block device",
        _ => "of an unknown kind",
    }
}

fn is(st: &FileStat, t: SFlag) -> bool {
    st.st_mode & SFlag::S_IFMT.bits() == t.bits()
}

fn mode(st: &FileStat) -> u32 {
    st.st_mode & 0o7777
}

fn writers(st: &FileStat) -> &'static str {
    if st.st_mode & 0o002 != 0 {
        "others"
    } else {
        "its group"
    }
}

/// A directory may be used: a directory of the user's, not writable by
/// group or others.
pub fn check_dir(st: &FileStat) -> Result<(), String> {
    let me = euid();
    if !is(st, SFlag::S_IFDIR) {
        return Err(format!("is {}, not a directory", kind(st)));
    }
    if st.st_uid != me {
        return Err(format!(
            "is owned by {}, mode {:04o}, not by you (uid {me})",
            owner(st.st_uid),
            mode(st),
        ));
    }
    if st.st_mode & 0o022 != 0 {
        return Err(format!(
            "is writable by {} (mode {:04o}); it must be writable only by you",
            writers(st),
            mode(st)
        ));
    }
    Ok(())
}

/// A file may be used: a regular file of the user's, one link, not
/// writable by group or others.
pub fn check_file(st: &FileStat) -> Result<(), Refusal> {
    if is(st, SFlag::S_IFLNK) {
        return Err(Refusal::Foreign("is a symbolic link".into()));
    }
    if st.st_uid != euid() {
        return Err(Refusal::Foreign(format!(
            "is {} owned by {}, not by you",
            kind(st),
            owner(st.st_uid)
        )));
    }
    if !is(st, SFlag::S_IFREG) {
        return Err(Refusal::Unusable(format!("is {}", kind(st))));
    }
    if st.st_nlink != 1 {
        return Err(Refusal::Foreign(format!(
            "has {} hard links (another name elsewhere)",
            st.st_nlink
        )));
    }
    if st.st_mode & 0o022 != 0 {
        return Err(Refusal::Foreign(format!(
            "is writable by {} (mode {:04o})",
            writers(st),
            mode(st)
        )));
    }
    Ok(())
}

/// A file name as it may be printed: control characters and bytes that are
/// not UTF-8 escaped (names in a queue directory may come from anyone).
pub fn printable(name: &OsStr) -> String {
    String::from_utf8_lossy(name.as_bytes())
        .chars()
        .flat_map(|c| {
            if c.is_control() || c == '\u{fffd}' {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// An open directory that passed [`check_dir`]; everything in it is
/// reached through its descriptor.
#[derive(Debug)]
pub struct OwnDir {
    fd: OwnedFd,
    path: PathBuf,
}

const DIR_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

fn io_err(e: Errno) -> io::Error {
    io::Error::from(e)
}

impl OwnDir {
    /// Open the directory at `path`; with `create`, make it (and missing
    /// parents) 0700 first when it does not exist. The bool says whether it
    /// was created.
    pub fn open(path: &Path, create: bool) -> Result<(OwnDir, bool), DirError> {
        let mut created = false;
        let mut fd = nix::fcntl::open(path, DIR_FLAGS, Mode::empty());
        if create && matches!(fd, Err(Errno::ENOENT)) {
            match std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(path)
            {
                Ok(()) => created = true,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(DirError {
                        path: path.to_path_buf(),
                        why: format!("cannot create: {e}"),
                        refused: false,
                    })
                }
            }
            fd = nix::fcntl::open(path, DIR_FLAGS, Mode::empty());
        }
        let dir = Self::checked(fd, path.to_path_buf(), || {
            fstatat(nix::fcntl::AT_FDCWD, path, AtFlags::AT_SYMLINK_NOFOLLOW)
        })?;
        Ok((dir, created))
    }

    /// Open (with `create`, make 0700 first when missing) the subdirectory
    /// `name`. The bool says whether it was created.
    pub fn sub(&self, name: &str, create: bool) -> Result<(OwnDir, bool), DirError> {
        let mut created = false;
        let mut fd = openat(self.fd.as_fd(), name, DIR_FLAGS, Mode::empty());
        if create && matches!(fd, Err(Errno::ENOENT)) {
            match mkdirat(self.fd.as_fd(), name, Mode::S_IRWXU) {
                Ok(()) => created = true,
                Err(Errno::EEXIST) => {}
                Err(e) => {
                    return Err(DirError {
                        path: self.join(name),
                        why: format!("cannot create: {}", io_err(e)),
                        refused: false,
                    })
                }
            }
            fd = openat(self.fd.as_fd(), name, DIR_FLAGS, Mode::empty());
        }
        let dir = Self::checked(fd, self.join(name), || self.lstat_raw(name))?;
        Ok((dir, created))
    }

    fn checked(
        fd: nix::Result<OwnedFd>,
        path: PathBuf,
        lstat: impl FnOnce() -> nix::Result<FileStat>,
    ) -> Result<OwnDir, DirError> {
        let refused = |why: String| DirError {
            path: path.clone(),
            why,
            refused: true,
        };
        let io = |what: &str, e: Errno| DirError {
            path: path.clone(),
            why: format!("{what}: {}", io_err(e)),
            refused: false,
        };
        let fd = match fd {
            Ok(fd) => fd,
            // Not a directory, or a symbolic link: say what it is.
            Err(e @ (Errno::ELOOP | Errno::ENOTDIR)) => {
                return Err(match lstat() {
                    Ok(st) if is(&st, SFlag::S_IFLNK) => refused("is a symbolic link".into()),
                    Ok(st) => refused(check_dir(&st).err().unwrap_or_else(|| e.to_string())),
                    Err(_) => refused(io_err(e).to_string()),
                });
            }
            // Not ours to open (another user's 0700 directory): say whose.
            Err(e) => {
                return Err(match lstat() {
                    Ok(st) if check_dir(&st).is_err() => {
                        refused(check_dir(&st).err().unwrap_or_default())
                    }
                    _ => io("cannot open", e),
                })
            }
        };
        let st = fstat(&fd).map_err(|e| io("cannot stat", e))?;
        check_dir(&st).map_err(refused)?;
        Ok(OwnDir { fd, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of `name` in this directory, for messages.
    pub fn join(&self, name: impl AsRef<OsStr>) -> PathBuf {
        self.path.join(name.as_ref())
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    fn lstat_raw(&self, name: impl AsRef<OsStr>) -> nix::Result<FileStat> {
        fstatat(self.fd.as_fd(), name.as_ref(), AtFlags::AT_SYMLINK_NOFOLLOW)
    }

    /// What is at `name`, not following a link (`None`: nothing).
    pub fn lstat(&self, name: impl AsRef<OsStr>) -> io::Result<Option<FileStat>> {
        match self.lstat_raw(name) {
            Ok(st) => Ok(Some(st)),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(io_err(e)),
        }
    }

    /// Open the file `name` if it may be used ([`check_file`]); `Ok(None)`
    /// when there is nothing by that name.
    pub fn open_file(
        &self,
        name: impl AsRef<OsStr>,
        write: bool,
    ) -> Result<Option<(File, FileStat)>, Refusal> {
        let name = name.as_ref();
        // Look before opening: a FIFO or a device is never opened.
        match self.lstat(name) {
            Ok(Some(st)) => check_file(&st)?,
            Ok(None) => return Ok(None),
            Err(e) => return Err(Refusal::Unusable(format!("cannot be examined: {e}"))),
        }
        let access = if write {
            OFlag::O_RDWR
        } else {
            OFlag::O_RDONLY
        };
        let flags = access | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        let fd = match openat(
            self.fd.as_fd(),
            name,
            flags | OFlag::O_NOCTTY,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(None),
            Err(Errno::ELOOP) => return Err(Refusal::Foreign("is a symbolic link".into())),
            Err(e) => {
                return Err(Refusal::Unusable(format!(
                    "cannot be opened: {}",
                    io_err(e)
                )))
            }
        };
        // What the descriptor holds is what counts.
        let st = fstat(&fd).map_err(|e| Refusal::Unusable(format!("cannot stat: {e}")))?;
        check_file(&st)?;
        Ok(Some((File::from(fd), st)))
    }

    /// Create `name` (0600); fails if anything exists by that name.
    pub fn create_new(&self, name: impl AsRef<OsStr>) -> io::Result<File> {
        let flags = OFlag::O_RDWR
            | OFlag::O_CREAT
            | OFlag::O_EXCL
            | OFlag::O_NOFOLLOW
            | OFlag::O_CLOEXEC
            | OFlag::O_NOCTTY;
        openat(
            self.fd.as_fd(),
            name.as_ref(),
            flags,
            Mode::S_IRUSR | Mode::S_IWUSR,
        )
        .map(File::from)
        .map_err(io_err)
    }

    /// [`OwnDir::create_new`], first removing a file of the user's left
    /// by that name (a staging file of a dead process with the same pid).
    pub fn create_replacing(&self, name: impl AsRef<OsStr>) -> io::Result<File> {
        let name = name.as_ref();
        match self.create_new(name) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                self.unlink_own(name).map_err(|r| {
                    io::Error::new(
                        e.kind(),
                        format!("{} {}", self.join(name).display(), r.why()),
                    )
                })?;
                self.create_new(name)
            }
            other => other,
        }
    }

    /// The names in the directory (not `.` and `..`), unsorted.
    pub fn names(&self) -> io::Result<Vec<OsString>> {
        let mut dir = nix::dir::Dir::openat(self.fd.as_fd(), ".", DIR_FLAGS, Mode::empty())
            .map_err(io_err)?;
        let mut out = Vec::new();
        for e in dir.iter() {
            let e = e.map_err(io_err)?;
            let name = e.file_name().to_bytes();
            if name != b"." && name != b".." {
                out.push(OsStr::from_bytes(name).to_os_string());
            }
        }
        Ok(out)
    }

    /// Remove the name `name` (never what a link points to).
    pub fn unlink(&self, name: impl AsRef<OsStr>) -> io::Result<()> {
        unlinkat(self.fd.as_fd(), name.as_ref(), UnlinkatFlags::NoRemoveDir).map_err(io_err)
    }

    /// Remove `name` only if it is a file of the user's ([`check_file`]).
    /// `Ok(false)`: nothing was there.
    pub fn unlink_own(&self, name: impl AsRef<OsStr>) -> Result<bool, Refusal> {
        let name = name.as_ref();
        match self.lstat(name) {
            Ok(Some(st)) => check_file(&st)?,
            Ok(None) => return Ok(false),
            Err(e) => return Err(Refusal::Unusable(format!("cannot be examined: {e}"))),
        }
        match self.unlink(name) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Refusal::Unusable(format!("cannot be removed: {e}"))),
        }
    }

    /// Remove the empty subdirectory `name`.
    pub fn rmdir(&self, name: impl AsRef<OsStr>) -> io::Result<()> {
        unlinkat(self.fd.as_fd(), name.as_ref(), UnlinkatFlags::RemoveDir).map_err(io_err)
    }

    /// Rename `from` to `to_dir`/`to`, never replacing anything there
    /// (`AlreadyExists` then).
    pub fn rename_noreplace(
        &self,
        from: impl AsRef<OsStr>,
        to_dir: &OwnDir,
        to: impl AsRef<OsStr>,
    ) -> io::Result<()> {
        let (from, to) = (from.as_ref(), to.as_ref());
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        {
            use nix::fcntl::{renameat2, RenameFlags};
            match renameat2(
                self.fd.as_fd(),
                from,
                to_dir.fd.as_fd(),
                to,
                RenameFlags::RENAME_NOREPLACE,
            ) {
                Ok(()) => return Ok(()),
                // The file system cannot: look, then rename (the directories
                // are the user's alone, so nobody else can slip in between).
                Err(Errno::EINVAL | Errno::ENOSYS) => {}
                Err(e) => return Err(io_err(e)),
            }
        }
        if to_dir.lstat(to)?.is_some() {
            return Err(io::Error::from(io::ErrorKind::AlreadyExists));
        }
        self.rename(from, to_dir, to)
    }

    /// Rename `from` to `to_dir`/`to`, replacing what is there.
    pub fn rename(
        &self,
        from: impl AsRef<OsStr>,
        to_dir: &OwnDir,
        to: impl AsRef<OsStr>,
    ) -> io::Result<()> {
        nix::fcntl::renameat(
            self.fd.as_fd(),
            from.as_ref(),
            to_dir.fd.as_fd(),
            to.as_ref(),
        )
        .map_err(io_err)
    }

    /// Write `bytes` to `name` atomically: a new file staged in `staging`
    /// under this process's id, then renamed into place. What is there
    /// already is replaced only if it is a file of the user's; anything
    /// else is left alone and the write fails saying why. No fsync.
    pub fn put(&self, name: &str, bytes: &[u8], staging: &OwnDir) -> Result<(), String> {
        let tmp = format!("{name}.p{}", std::process::id());
        let written = staging
            .create_replacing(&tmp)
            .and_then(|mut f| f.write_all(bytes));
        if let Err(e) = written {
            let _ = staging.unlink_own(&tmp);
            return Err(format!(
                "cannot write {}: {e}",
                staging.join(&tmp).display()
            ));
        }
        let placed = match staging.rename_noreplace(&tmp, self, name) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match self.lstat(name) {
                Ok(Some(st)) => match check_file(&st) {
                    Ok(()) => staging
                        .rename(&tmp, self, name)
                        .map_err(|e| format!("cannot write {}: {e}", self.join(name).display())),
                    Err(r) => Err(format!(
                        "{} {}: left alone",
                        self.join(name).display(),
                        r.why()
                    )),
                },
                _ => staging
                    .rename_noreplace(&tmp, self, name)
                    .map_err(|e| format!("cannot write {}: {e}", self.join(name).display())),
            },
            other => other.map_err(|e| format!("cannot write {}: {e}", self.join(name).display())),
        };
        if placed.is_err() {
            let _ = staging.unlink_own(&tmp);
        }
        placed
    }

    /// Make the directory's entries durable.
    pub fn sync(&self) -> io::Result<()> {
        fsync(self.fd.as_fd()).map_err(io_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn st(path: &Path) -> FileStat {
        fstatat(nix::fcntl::AT_FDCWD, path, AtFlags::AT_SYMLINK_NOFOLLOW).unwrap()
    }

    #[test]
    fn directories_are_created_private_and_links_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let (d, created) = OwnDir::open(&tmp.path().join("a/b"), true).unwrap();
        assert!(created);
        assert_eq!(mode(&st(d.path())), 0o700);
        let (_, created) = d.sub("c", true).unwrap();
        assert!(created);
        assert!(!d.sub("c", true).unwrap().1);

        symlink(tmp.path().join("a/b/c"), tmp.path().join("a/b/link")).unwrap();
        let e = d.sub("link", true).unwrap_err();
        assert!(
            e.refused && e.to_string().ends_with("link is a symbolic link"),
            "{e:?}"
        );
        let e = OwnDir::open(&tmp.path().join("a/b/link"), true).unwrap_err();
        assert!(e.refused && e.why == "is a symbolic link", "{e:?}");

        std::fs::set_permissions(
            tmp.path().join("a/b/c"),
            std::fs::Permissions::from_mode(0o770),
        )
        .unwrap();
        let e = d.sub("c", true).unwrap_err();
        assert!(
            e.refused && e.why.contains("writable by its group (mode 0770)"),
            "{e:?}"
        );
        std::fs::write(tmp.path().join("a/b/f"), b"").unwrap();
        let e = d.sub("f", false).unwrap_err();
        assert!(
            e.refused && e.why == "is a regular file, not a directory",
            "{e:?}"
        );
    }

    #[test]
    fn files_are_checked_without_following_or_opening_fifos() {
        let tmp = tempfile::tempdir().unwrap();
        let (d, _) = OwnDir::open(tmp.path(), false).unwrap();
        d.create_new("f").unwrap().write_all(b"x").unwrap();
        assert!(d.open_file("f", false).unwrap().is_some());
        assert!(d.create_new("f").is_err());
        assert_eq!(d.open_file("none", false).unwrap().map(|_| ()), None);

        symlink(tmp.path().join("f"), tmp.path().join("l")).unwrap();
        assert_eq!(
            d.open_file("l", false).unwrap_err(),
            Refusal::Foreign("is a symbolic link".into())
        );
        // O_EXCL|O_NOFOLLOW: a dangling link is not followed either.
        symlink(tmp.path().join("new"), tmp.path().join("dangling")).unwrap();
        assert!(d.create_new("dangling").is_err());
        assert!(!tmp.path().join("new").exists());

        std::fs::hard_link(tmp.path().join("f"), tmp.path().join("h")).unwrap();
        assert!(
            matches!(d.open_file("h", false), Err(Refusal::Foreign(w)) if w.contains("2 hard links"))
        );
        std::fs::remove_file(tmp.path().join("h")).unwrap();

        nix::unistd::mkfifo(&tmp.path().join("p"), Mode::S_IRUSR | Mode::S_IWUSR).unwrap();
        assert_eq!(
            d.open_file("p", false).unwrap_err(),
            Refusal::Unusable("is a FIFO".into())
        );

        std::fs::set_permissions(tmp.path().join("f"), std::fs::Permissions::from_mode(0o666))
            .unwrap();
        assert!(
            matches!(d.open_file("f", false), Err(Refusal::Foreign(w)) if w == "is writable by others (mode 0666)")
        );
        std::fs::set_permissions(tmp.path().join("f"), std::fs::Permissions::from_mode(0o620))
            .unwrap();
        assert!(
            matches!(d.open_file("f", false), Err(Refusal::Foreign(w)) if w == "is writable by its group (mode 0620)")
        );
        assert!(d.unlink_own("f").is_err());
        assert!(tmp.path().join("f").exists());
    }

    #[test]
    fn put_replaces_only_own_files() {
        let tmp = tempfile::tempdir().unwrap();
        let (d, _) = OwnDir::open(tmp.path(), false).unwrap();
        let (staging, _) = d.sub("tmp", true).unwrap();
        d.put("a", b"one", &staging).unwrap();
        d.put("a", b"two", &staging).unwrap();
        assert_eq!(std::fs::read(tmp.path().join("a")).unwrap(), b"two");
        let target = tmp.path().join("target");
        std::fs::write(&target, b"keep").unwrap();
        symlink(&target, tmp.path().join("b")).unwrap();
        let e = d.put("b", b"evil", &staging).unwrap_err();
        assert!(e.contains("symbolic link: left alone"), "{e}");
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        assert!(std::fs::symlink_metadata(tmp.path().join("b"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(staging.names().unwrap(), Vec::<OsString>::new());
    }

    #[test]
    fn names_are_printable() {
        assert_eq!(printable(OsStr::new("abc-1")), "abc-1");
        assert_eq!(printable(OsStr::new("a\x1b[31mb\n")), "a\\u{1b}[31mb\\n");
        assert_eq!(printable(OsStr::from_bytes(b"x\xff")), "x\\u{fffd}");
    }
}
