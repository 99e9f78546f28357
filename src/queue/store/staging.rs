//! `tmp/`, where entries are written before they move into `msg/`: the
//! debris of writers that died is removed; what is not a staging file of
//! ours is reported and left alone.
use super::{now, try_flock, Area, Problem, ProblemKind, QueueDir};
use crate::owned::{check_file, Refusal};

/// A staging file whose writer still seems alive (its pid may have been
/// reused) is left alone for this long.
const TMP_GRACE_SECS: u64 = 600;

impl QueueDir {
    /// What in `tmp/` is not a staging file of ours.
    pub(super) fn tmp_problems(&self) -> Vec<Problem> {
        let tmp = &self.dirs.tmp;
        let mut out = Vec::new();
        for name in tmp.names().unwrap_or_default() {
            match tmp.lstat(&name) {
                Ok(Some(st)) => match check_file(&st) {
                    Ok(()) => {}
                    Err(Refusal::Foreign(w)) => {
                        out.push(self.problem(Area::Tmp, &name, ProblemKind::Foreign, w))
                    }
                    Err(Refusal::Unusable(w)) => {
                        out.push(self.problem(Area::Tmp, &name, ProblemKind::Stray, w))
                    }
                },
                Ok(None) => {}
                Err(e) => out.push(self.problem(
                    Area::Tmp,
                    &name,
                    ProblemKind::Stray,
                    format!("cannot be examined: {e}"),
                )),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Remove debris: staging files of ours in `tmp/` whose writer died, or
    /// that nobody holds any more. Returns what is there and is not ours
    /// (left alone).
    pub fn cleanup(&self) -> Vec<Problem> {
        let tmp = &self.dirs.tmp;
        for name in tmp.names().unwrap_or_default() {
            let Ok(Some(st)) = tmp.lstat(&name) else {
                continue;
            };
            if check_file(&st).is_err() {
                continue;
            }
            let text = name.to_string_lossy();
            let writer_alive = staging_pid(&text).is_some_and(|pid| {
                pid == std::process::id() as i32
                    || nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
            });
            let old = now().saturating_sub(st.st_mtime.max(0) as u64) > TMP_GRACE_SECS;
            if writer_alive && !old {
                continue;
            }
            if let Ok(Some((file, held))) = tmp.open_file(&name, false) {
                if let Ok(Some(_lock)) = try_flock(file) {
                    if matches!(tmp.lstat(&name), Ok(Some(now)) if now.st_ino == held.st_ino) {
                        let _ = tmp.unlink(&name);
                    }
                }
            }
        }
        self.tmp_problems()
    }
}

/// The writer's pid in a staging name `ID.pPID`.
fn staging_pid(name: &str) -> Option<i32> {
    name.rsplit_once(".p")?.1.parse().ok()
}
