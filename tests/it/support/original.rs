//! The original esmtp 1.2, as the differential tests run it.

use std::path::Path;
use std::process::{Command, Stdio};

/// Debian installs the original esmtp 1.2 as /usr/bin/esmtp (older
/// packages: /usr/sbin).
pub fn original() -> &'static str {
    ["/usr/bin/esmtp", "/usr/sbin/esmtp"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("/usr/bin/esmtp")
}

/// esmtp 1.2's verdict on the configuration file `path`: true unless it
/// rejects it with a syntax error (status 78). It runs for 5 s at most,
/// with PATH and HOME set to `scratch`.
pub fn original_accepts(path: &Path, scratch: &Path) -> bool {
    let out = Command::new("/usr/bin/timeout")
        .args(["5", original(), "-C"])
        .arg(path)
        .args(["-f", "nobody@nowhere.invalid", "rcpt@example.invalid"])
        .env("PATH", scratch)
        .env("HOME", scratch)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
        .unwrap();
    !(out.status.code() == Some(78)
        && String::from_utf8_lossy(&out.stderr).contains("syntax error"))
}
