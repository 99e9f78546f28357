//! Reading the spool without taking locks: the entries of an area with
//! their metadata and history ([`EntrySummary`]), and everything at once for a
//! listing ([`Survey`]).
use super::entry::read_state;
use super::format::{read_header, DeliveryHistory, Meta};
use super::{read_small, valid_id, Area, Problem, ProblemKind, QueueDir};
use crate::owned::{OwnDir, Refusal};

/// A summary of one entry, for listing.
#[derive(Debug, Clone)]
pub struct EntrySummary {
    pub id: String,
    pub meta: Meta,
    pub state: DeliveryHistory,
    /// For failed and damaged entries: why.
    pub note: Option<String>,
    /// For failed and damaged entries: why the entry itself cannot be read.
    pub unreadable: Option<String>,
    /// Its delivery history could not be used (the entry is treated as new).
    pub state_problem: Option<Refusal>,
}

/// Everything in the spool, for listing.
#[derive(Debug, Default)]
pub struct Survey {
    pub queued: Vec<EntrySummary>,
    pub failed: Vec<EntrySummary>,
    pub damaged: Vec<EntrySummary>,
    pub problems: Vec<Problem>,
}

impl Survey {
    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
            && self.failed.is_empty()
            && self.damaged.is_empty()
            && self.problems.is_empty()
    }
}

fn read_note(dir: &OwnDir, id: &str) -> Option<String> {
    match read_small(dir, &format!("{id}.note")) {
        Ok(Some(bytes)) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        Ok(None) => None,
        Err(r) => Some(format!("(its note {})", r.why())),
    }
}

impl QueueDir {
    /// Entries ready for delivery, without taking locks (even a moment's
    /// lock would make a concurrent flush skip the entry).
    pub fn infos(&self) -> Vec<EntrySummary> {
        self.scan(Area::Msg).0
    }

    /// Entries given up on.
    pub fn failed_infos(&self) -> Vec<EntrySummary> {
        self.scan(Area::Failed).0
    }

    /// Entries moved aside because they could not be read.
    pub fn damaged_infos(&self) -> Vec<EntrySummary> {
        self.scan(Area::Damaged).0
    }

    /// The usable entries of `msg/` and what is wrong there.
    pub fn scan_queued(&self) -> (Vec<EntrySummary>, Vec<Problem>) {
        self.scan(Area::Msg)
    }

    /// Everything, for listing: nothing is moved or removed.
    pub fn survey(&self) -> Survey {
        let (queued, mut problems) = self.scan(Area::Msg);
        let (failed, p) = self.scan(Area::Failed);
        problems.extend(p);
        let (damaged, p) = self.scan(Area::Damaged);
        problems.extend(p);
        problems.extend(self.tmp_problems());
        problems.extend(self.control_problems());
        Survey {
            queued,
            failed,
            damaged,
            problems,
        }
    }

    fn scan(&self, area: Area) -> (Vec<EntrySummary>, Vec<Problem>) {
        let dir = self.dirs.of(area);
        let mut problems = Vec::new();
        let mut names = match dir.names() {
            Ok(n) => n,
            Err(e) => {
                let p = self.problem(
                    area,
                    "".as_ref(),
                    ProblemKind::Damaged,
                    format!("cannot be listed: {e}"),
                );
                return (Vec::new(), vec![p]);
            }
        };
        names.sort();
        let ids: std::collections::HashSet<&str> = names
            .iter()
            .filter_map(|n| n.to_str())
            .filter(|n| valid_id(n))
            .collect();
        let kept = area != Area::Msg;
        let mut infos = Vec::new();
        for name in &names {
            let Some(id) = name.to_str().filter(|n| valid_id(n)) else {
                if let Some(p) = self.side_file(area, name, &ids) {
                    problems.push(p);
                }
                continue;
            };
            let header = match dir.open_file(id, false) {
                Ok(Some((f, _))) => read_header(&f).map_err(|e| Refusal::Unusable(e.to_string())),
                Ok(None) => continue, // gone meanwhile
                Err(r) => Err(r),
            };
            let (meta, unreadable) = match header {
                Ok((meta, _)) => (meta, None),
                Err(Refusal::Foreign(w)) => {
                    problems.push(self.problem(area, name, ProblemKind::Foreign, w));
                    continue;
                }
                // Failed and damaged entries are listed even when unreadable.
                Err(Refusal::Unusable(w)) if kept => (Meta::default(), Some(w)),
                Err(Refusal::Unusable(w)) => {
                    problems.push(self.problem(area, name, ProblemKind::Damaged, w));
                    continue;
                }
            };
            let (state, _, state_problem) = read_state(dir, id);
            let note = if kept { read_note(dir, id) } else { None };
            infos.push(EntrySummary {
                id: id.to_string(),
                meta,
                state,
                note,
                unreadable,
                state_problem,
            });
        }
        infos.sort_by(|a, b| (a.meta.created, &a.id).cmp(&(b.meta.created, &b.id)));
        (infos, problems)
    }
}
