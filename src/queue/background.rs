//! The background flusher: after a submission with `queue background`, a
//! detached process (double fork) delivers the queue; one per spool, and
//! a burst of submissions gathers into one connection.
use super::flush::{flush_with, FlushOptions};
use super::legacy::{EntryConverter, WrapperImport};
use super::queue_dir;
use super::store::QueueDir;
use crate::exit::Failure;
use crate::plan::Plan;
use crate::transport::SessionOptions;
use std::io;

/// Flush the queue from a detached process (double fork, new session,
/// standard streams on /dev/null). Forking rather than re-executing keeps
/// the exact plan of this submission (`-C FILE` included) without passing
/// it on a command line. The caller (a sendmail process) is single-threaded
/// at this point: no runtime has been started.
pub(super) fn spawn_flusher(plan: &Plan, convert: EntryConverter) -> Result<(), String> {
    use nix::sys::wait::waitpid;
    use nix::unistd::{fork, setsid, ForkResult};
    // SAFETY: the child only runs our own code (no locks held by other
    // threads are needed: allocation is fork-safe in glibc) and leaves with
    // _exit.
    match unsafe { fork() } {
        Err(e) => Err(e.to_string()),
        Ok(ForkResult::Parent { child }) => {
            // The intermediate child exits at once; reap it.
            let _ = waitpid(child, None);
            Ok(())
        }
        Ok(ForkResult::Child) => {
            let _ = setsid();
            // SAFETY: as above; the grandchild is re-parented to init.
            match unsafe { fork() } {
                Ok(ForkResult::Child) => {
                    detach_stdio();
                    let status = match run_flusher(plan, convert) {
                        Ok(()) => 0,
                        Err(f) => i32::from(f.status),
                    };
                    // SAFETY: ends the process without running the parent's
                    // exit handlers twice.
                    unsafe { nix::libc::_exit(status) }
                }
                _ => unsafe { nix::libc::_exit(0) },
            }
        }
    }
}

/// How long a background flusher waits for more submissions before each scan.
const BACKGROUND_GATHER: std::time::Duration = std::time::Duration::from_millis(500);

/// One background flusher per spool: a burst of submissions (git
/// send-email) must not open a connection each. A submission that finds
/// the guard taken asks the holder for one more scan; the holder looks for
/// that request after letting the guard go, so no message is left behind.
fn run_flusher(plan: &Plan, convert: EntryConverter) -> Result<(), Failure> {
    let spool = QueueDir::open(&queue_dir(plan)?)?;
    let opts = FlushOptions {
        force: false,
        wrapper: WrapperImport::at_default_dir(convert),
    };
    let io = |e: io::Error| Failure::tempfail(format!("queue: {e}"));
    loop {
        let guard = match spool.background_guard().map_err(io)? {
            Some(g) => g,
            None => {
                spool.request_rescan().map_err(io)?;
                match spool.background_guard().map_err(io)? {
                    Some(g) => g,
                    None => return Ok(()),
                }
            }
        };
        // Let a burst gather so that it shares one connection (the
        // wrapper waited 5 s for the same reason).
        std::thread::sleep(BACKGROUND_GATHER);
        spool.take_rescan();
        flush_with(plan, &SessionOptions::default(), &opts)?;
        drop(guard);
        if !spool.take_rescan() {
            return Ok(());
        }
    }
}

fn detach_stdio() {
    use std::os::fd::AsRawFd;
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        for fd in 0..3 {
            // SAFETY: dup2 onto the standard descriptors we own.
            unsafe {
                nix::libc::dup2(null.as_raw_fd(), fd);
            }
        }
    }
}
