//! esmtp-wrapper queue entries and queue flushes, as the queue tests make and run them.

use std::fs;
use std::path::{Path, PathBuf};

/// An entry of an esmtp-wrapper queue as the script stores it: `cmd` (its
/// sendmail arguments as `echo "$@"` wrote them) and `mail` (the raw
/// message, LF line ends). Returns the entry's directory.
pub fn write_wrapper_entry(qdir: &Path, name: &str, cmd: &str, mail: &[u8]) -> PathBuf {
    let d = qdir.join(name);
    fs::create_dir_all(&d).unwrap();
    fs::write(d.join("cmd"), format!("{cmd}\n")).unwrap();
    fs::write(d.join("mail"), mail).unwrap();
    d
}

/// The esmtp-wrapper queue in `dir`, its entries converted as the program
/// converts them.
pub fn wrapper_import(dir: &Path) -> esmtp::queue::legacy::WrapperImport {
    esmtp::queue::legacy::WrapperImport {
        dir: dir.to_path_buf(),
        convert: esmtp::cli::convert_wrapper_entry,
    }
}

/// Flush the queue of `plan` now, due or not; with `wrapper`, import that
/// esmtp-wrapper queue first (and flush only what is due).
pub fn flush_now(plan: &esmtp::plan::Plan, wrapper: Option<&Path>) -> esmtp::queue::FlushReport {
    let opts = esmtp::queue::FlushOptions {
        force: wrapper.is_none(),
        wrapper: wrapper.map(wrapper_import),
    };
    esmtp::queue::flush_with(plan, &esmtp::transport::SessionOptions::default(), &opts).unwrap()
}

/// A plan with the queue on (`queue enabled`) in `dir`/q, and otherwise
/// as [`esmtp::plan::Plan::empty`].
pub fn queued_plan(dir: &Path) -> esmtp::plan::Plan {
    let mut plan = esmtp::plan::Plan::empty();
    plan.queue.mode = esmtp::plan::QueueMode::Enabled;
    plan.queue.dir = Some(dir.join("q").to_string_lossy().into_owned());
    plan
}
