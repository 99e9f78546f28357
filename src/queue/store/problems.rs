//! What in the spool is not a usable entry ([`Problem`]): another user's
//! file or a link (left alone, never sent, never deleted), an entry of the
//! user's that cannot be read (moved to `damaged/` by a flush), or
//! something that is no queue file (left alone).
use super::{valid_id, Area, QueueDir};
use crate::owned::{check_file, printable, Refusal};
use std::ffi::OsStr;
use std::path::PathBuf;

/// What a [`Problem`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// Not the user's own (another owner, a link, other links, writable by
    /// others): left alone, never sent, never deleted.
    Foreign,
    /// A queue entry of the user's that cannot be read: a flush moves it to
    /// `damaged/`.
    Damaged,
    /// Something of the user's that is not part of a queue: left alone.
    Stray,
}

/// Something in the spool that is not a usable entry.
#[derive(Debug, Clone)]
pub struct Problem {
    /// The file name, escaped for printing.
    pub name: String,
    pub path: PathBuf,
    pub kind: ProblemKind,
    pub why: String,
}

impl ProblemKind {
    /// What a refusal of a queue entry's file makes it: another user's
    /// file or a link is foreign, a file of the user's that cannot be used
    /// is damaged.
    pub fn of_entry_refusal(r: Refusal) -> (ProblemKind, String) {
        match r {
            Refusal::Foreign(why) => (ProblemKind::Foreign, why),
            Refusal::Unusable(why) => (ProblemKind::Damaged, why),
        }
    }
}

impl Problem {
    /// A problem with the file at `path`, named by its last component.
    pub fn at(path: PathBuf, kind: ProblemKind, why: String) -> Problem {
        Problem {
            name: printable(path.file_name().unwrap_or_default()),
            path,
            kind,
            why,
        }
    }

    /// The refused file of an entry at `path`.
    pub fn refused_entry(path: PathBuf, r: Refusal) -> Problem {
        let (kind, why) = ProblemKind::of_entry_refusal(r);
        Problem::at(path, kind, why)
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = printable(self.path.as_os_str());
        match self.kind {
            ProblemKind::Foreign => write!(
                f,
                "{path} {}: left alone, never sent or followed (remove it yourself)",
                self.why
            ),
            ProblemKind::Damaged => write!(f, "{path} cannot be read: {}", self.why),
            ProblemKind::Stray => write!(f, "{path} {}: not a queue entry, left alone", self.why),
        }
    }
}

impl QueueDir {
    pub(super) fn problem(
        &self,
        area: Area,
        name: &OsStr,
        kind: ProblemKind,
        why: String,
    ) -> Problem {
        Problem {
            name: printable(name),
            path: self.dirs.of(area).join(name),
            kind,
            why,
        }
    }

    /// What a refusal of an entry file means in `area`.
    pub(super) fn entry_problem(&self, area: Area, id: &str, r: Refusal) -> Problem {
        let (kind, why) = ProblemKind::of_entry_refusal(r);
        self.problem(area, id.as_ref(), kind, why)
    }

    /// A name in `area` that is not an entry: its `.state` or `.note`
    /// (checked with the entry), or something else, which is reported.
    pub(super) fn side_file(
        &self,
        area: Area,
        name: &OsStr,
        ids: &std::collections::HashSet<&str>,
    ) -> Option<Problem> {
        let text = name.to_str().unwrap_or("");
        let owner = text
            .strip_suffix(".state")
            .or_else(|| text.strip_suffix(".note").filter(|_| area != Area::Msg))
            .filter(|id| valid_id(id));
        if owner.is_some_and(|id| ids.contains(id)) {
            return None;
        }
        let st = match self.dirs.of(area).lstat(name) {
            Ok(Some(st)) => st,
            Ok(None) => return None,
            Err(e) => {
                return Some(self.problem(
                    area,
                    name,
                    ProblemKind::Stray,
                    format!("cannot be examined: {e}"),
                ))
            }
        };
        Some(match check_file(&st) {
            Err(Refusal::Foreign(w)) => self.problem(area, name, ProblemKind::Foreign, w),
            Err(Refusal::Unusable(w)) => self.problem(area, name, ProblemKind::Stray, w),
            Ok(()) if owner.is_some() => self.problem(
                area,
                name,
                ProblemKind::Stray,
                "belongs to no queued message".into(),
            ),
            Ok(()) => self.problem(area, name, ProblemKind::Stray, "is not a queue file".into()),
        })
    }
}
