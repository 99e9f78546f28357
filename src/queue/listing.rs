//! `mailq`: the queue as people read it: queued entries with their
//! history, failed and damaged ones with why, what in the queue is not
//! used and why, and how many messages wait in an esmtp-wrapper queue.
use super::store::{self, now, Area, Problem, ProblemKind, QueueDir, Survey};
use super::{legacy, queue_dir};
use crate::exit::Failure;
use crate::plan::Plan;
use std::io::{self, Write};
use std::path::Path;

/// `mailq`, `-bp`, `esmtp queue list`: print the queue to stdout.
pub fn list(plan: &Plan) -> Result<(), Failure> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    list_to(plan, legacy::default_dir().as_deref(), &mut out)
        .map_err(|e| Failure::software(format!("cannot write the listing: {e}")))?
}

/// The listing, written to `out`.
pub fn list_to(
    plan: &Plan,
    legacy_dir: Option<&Path>,
    out: &mut dyn Write,
) -> io::Result<Result<(), Failure>> {
    let dir = match queue_dir(plan) {
        Ok(d) => d,
        Err(f) => return Ok(Err(f)),
    };
    let spool = match QueueDir::open(&dir) {
        Ok(s) => s,
        Err(f) => return Ok(Err(f)),
    };
    let at = now();
    let survey = spool.survey();
    let (legacy, legacy_problems) = legacy_dir.map(legacy::survey).unwrap_or_default();
    if survey.is_empty() && legacy == 0 && legacy_problems.is_empty() {
        writeln!(out, "Mail queue is empty")?;
        return Ok(Ok(()));
    }
    write_queued(out, &survey, at)?;
    write_kept(out, &spool, &survey, at)?;
    let counts = write_problems(out, &spool, survey.problems.iter().chain(&legacy_problems))?;
    write_summary(out, &survey, &counts)?;
    if legacy > 0 {
        writeln!(
            out,
            "-- {legacy} message{} in the esmtp-wrapper queue {}, delivered by the next flush",
            if legacy == 1 { "" } else { "s" },
            legacy_dir
                .map(|d| d.display().to_string())
                .unwrap_or_default()
        )?;
    }
    Ok(Ok(()))
}

/// The entries waiting in `msg/`, each with its delivery history.
fn write_queued(out: &mut dyn Write, survey: &Survey, at: u64) -> io::Result<()> {
    for i in &survey.queued {
        write_entry(out, i, at)?;
        let next = if i.state.next_attempt <= at {
            "next attempt: now".to_string()
        } else {
            format!("next attempt in {}", human_secs(i.state.next_attempt - at))
        };
        match &i.state.last_error {
            Some(e) => writeln!(
                out,
                "    ({} attempt{}) last error: {e}; {next}",
                i.state.attempts,
                if i.state.attempts == 1 { "" } else { "s" }
            )?,
            None => writeln!(out, "    {next}")?,
        }
        if let Some(p) = &i.state_problem {
            writeln!(out, "    {}", p.why())?;
        }
    }
    Ok(())
}

/// The entries kept in `failed/` and `damaged/`, each with why.
fn write_kept(out: &mut dyn Write, spool: &QueueDir, survey: &Survey, at: u64) -> io::Result<()> {
    for i in &survey.failed {
        write_entry(out, i, at)?;
        let why = i.note.as_deref().unwrap_or("").trim();
        writeln!(
            out,
            "    FAILED, kept in {}: {why}",
            spool.area_path(Area::Failed).join(&i.id).display()
        )?;
        if let Some(u) = &i.unreadable {
            writeln!(out, "    (the entry cannot be read: {u})")?;
        }
    }
    for i in &survey.damaged {
        writeln!(
            out,
            "{:<24} DAMAGED, kept in {}",
            i.id,
            spool.area_path(Area::Damaged).join(&i.id).display()
        )?;
        let why = i.note.as_deref().or(i.unreadable.as_deref()).unwrap_or("");
        writeln!(out, "    {}", why.trim())?;
    }
    Ok(())
}

/// How many of each kind of [`Problem`] a listing showed.
#[derive(Default)]
struct ProblemCounts {
    unreadable: usize,
    foreign: usize,
    stray: usize,
}

/// What in the queue (and the esmtp-wrapper queue) is not used, and why.
fn write_problems<'p>(
    out: &mut dyn Write,
    spool: &QueueDir,
    problems: impl Iterator<Item = &'p Problem>,
) -> io::Result<ProblemCounts> {
    let msg_dir = spool.area_path(Area::Msg);
    let mut counts = ProblemCounts::default();
    for p in problems {
        let path = crate::owned::printable(p.path.as_os_str());
        match p.kind {
            ProblemKind::Damaged => {
                counts.unreadable += 1;
                writeln!(out, "{:<24} CANNOT BE READ: {}", p.name, p.why)?;
                if p.path.parent() == Some(msg_dir) {
                    writeln!(
                        out,
                        "    {path}; the next flush moves it to {}",
                        spool.area_path(Area::Damaged).display()
                    )?;
                } else {
                    writeln!(out, "    {path}: left alone")?;
                }
            }
            ProblemKind::Foreign => {
                counts.foreign += 1;
                writeln!(out, "{:<24} LEFT ALONE: {}", p.name, p.why)?;
                writeln!(
                    out,
                    "    {path}: not a file of yours; never sent or followed (remove it yourself)"
                )?;
            }
            ProblemKind::Stray => {
                counts.stray += 1;
                writeln!(out, "{:<24} NOT A QUEUE ENTRY: {}", p.name, p.why)?;
                writeln!(out, "    {path}: left alone")?;
            }
        }
    }
    Ok(counts)
}

/// The line that counts it all.
fn write_summary(out: &mut dyn Write, survey: &Survey, counts: &ProblemCounts) -> io::Result<()> {
    let total = survey.queued.len();
    let mut summary = format!(
        "-- {total} message{} queued",
        if total == 1 { "" } else { "s" }
    );
    let damaged = survey.damaged.len() + counts.unreadable;
    for (n, what) in [
        (survey.failed.len(), "failed"),
        (damaged, "damaged"),
        (counts.foreign, "not yours (left alone)"),
        (counts.stray, "not queue entries"),
    ] {
        if n > 0 {
            summary.push_str(&format!(", {n} {what}"));
        }
    }
    writeln!(out, "{summary}")
}

fn write_entry(out: &mut dyn Write, i: &store::EntrySummary, at: u64) -> io::Result<()> {
    let sender = if i.meta.sender.is_empty() {
        "<>".to_string()
    } else {
        format!("<{}>", i.meta.sender)
    };
    writeln!(
        out,
        "{:<24} {:>6} {:>7}  {sender}",
        i.id,
        human_secs(at.saturating_sub(i.meta.created)),
        human_size(i.meta.size)
    )?;
    writeln!(out, "    to: {}", i.meta.recipients.join(", "))
}

fn human_secs(s: u64) -> String {
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86399 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

fn human_size(n: u64) -> String {
    if n < 10_000 {
        format!("{n}")
    } else if n < 10_000_000 {
        format!("{}K", n / 1024)
    } else {
        format!("{}M", n / (1024 * 1024))
    }
}
