//! Test servers on loopback, shared by every module of the integration-test binary (`crate::support`).
//!
//! [`Exim`] runs the real Exim (unpacked by tests/setup/install-deps.sh) as a
//! daemon on free 127.0.0.1 ports, from a `mktemp -d` under /tmp (Exim drops
//! to Debian-exim, which cannot reach a home directory): its configuration,
//! spool, log and maildir all live there, and the daemon is stopped and the
//! directory removed on drop (kept when ESMTP_KEEP_EXIM is set).
//!
//! What it offers (all on by default, see [`EximOptions`]): STARTTLS on the
//! plain port, a `tls_on_connect_ports` listener, AUTH PLAIN, LOGIN,
//! CRAM-MD5, NTLM (`spa`) and XOAUTH2 for [`USER`]/[`PASSWORD`]/[`TOKEN`],
//! DSN, 8BITMIME, SIZE, PIPELINING, SMTPUTF8. Recipients whose local part starts with `refuse`
//! get 550, with `defer` 451; a message from `drop@...` is refused (550)
//! after its data and the connection dropped, one from `defer@...` deferred
//! (451) after its data. Every MAIL and RCPT command is
//! logged as Exim received it (`MAIL <command> tls=... peerdn=... auth=...`,
//! `RCPT <command>`), and so is a session without a message (`no MAIL in
//! SMTP connection ... C=EHLO,...,AUTH,QUIT`). The server certificate is
//! issued by the test CA for 30 days (`cert_days`), or self-signed
//! (`self_signed`). Everything accepted is delivered to one maildir with
//! CRLF line ends, so a test can compare what arrived byte for byte.
//!
//! [`Pki`] makes a CA and certificates with openssl; [`FakeServer`] is a
//! scripted TCP peer for misbehaving-server cases.
//!
//! Also here: the front end's environment ([`frontend`]), the queue
//! ownership tests' victim and attacker ([`victim`]), hostile peers
//! ([`hostile`]), a recording server ([`recorder`]), the original esmtp 1.2
//! ([`original`]) and running a program with input ([`process`]).
#![allow(dead_code)]

pub mod env;
pub mod exim;
pub mod fake;
pub mod frontend;
pub mod hostile;
pub mod oauth_server;
pub mod original;
pub mod pki;
pub mod plan_files;
pub mod process;
pub mod recorder;
pub mod relay;
pub mod victim;
pub mod wrapper_queue;

pub use exim::*;
pub use fake::*;
pub use original::*;
pub use pki::*;
pub use plan_files::*;
pub use process::describe;
pub use process::run as run_with_input;
pub use relay::*;
pub use wrapper_queue::*;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

/// A temporary directory under /tmp that Debian-exim can enter.
pub fn shared_tempdir(prefix: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/tmp")
        .expect("create a temporary directory under /tmp");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod 0755");
    dir
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
