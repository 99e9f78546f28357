//! Finding and loading the configuration for sending (SPEC §2.1). One test
//! function: it changes HOME, which is process-wide, through
//! `support::env::with_home`.

use crate::support;
use esmtp::config::{self, Origin};
use esmtp::exit::CONFIG;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn set_mode(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn locate_and_load_for_sending() {
    let home = tempfile::tempdir().unwrap();
    support::env::with_home(home.path(), || locate_and_load_in(home.path()));
}

fn locate_and_load_in(h: &Path) {
    let rc = h.join(".esmtprc");

    // -C FILE: taken as is, nothing else is read.
    let other = h.join("other.rc");
    std::fs::write(&other, "hostname relay.example.org:2525\n").unwrap();
    assert_eq!(
        config::locate(Some(&other)),
        Ok(Origin::Explicit(other.clone()))
    );
    let plan = config::load_for_sending(Some(&other)).unwrap();
    assert_eq!(plan.default_identity().relay.port, 2525);

    // ~/.esmtprc: used when it is private.
    std::fs::write(&rc, "hostname a.example.org\n").unwrap();
    set_mode(&rc, 0o600);
    assert_eq!(config::locate(None), Ok(Origin::User(rc.clone())));
    set_mode(&rc, 0o710);
    assert_eq!(config::locate(None), Ok(Origin::User(rc.clone())));
    // Readable by others: refused with 78 and a clear reason.
    set_mode(&rc, 0o644);
    let err = config::locate(None).unwrap_err();
    assert_eq!(err.status, CONFIG);
    assert!(
        err.message.contains("0644") && err.message.contains("chmod 600"),
        "{}",
        err.message
    );
    assert_eq!(config::load_for_sending(None).unwrap_err().status, CONFIG);
    // A symbolic link is not a regular file.
    std::fs::remove_file(&rc).unwrap();
    std::os::unix::fs::symlink(&other, &rc).unwrap();
    let err = config::locate(None).unwrap_err();
    assert!(err.message.contains("symbolic link"), "{}", err.message);
    std::fs::remove_file(&rc).unwrap();
    // A directory is not either.
    std::fs::create_dir(&rc).unwrap();
    set_mode(&rc, 0o700);
    assert!(config::locate(None).is_err());
    std::fs::remove_dir(&rc).unwrap();

    // No ~/.esmtprc: /etc/esmtprc if the machine has one, else nothing.
    match config::locate(None).unwrap() {
        Origin::System(p) => assert_eq!(p, Path::new("/etc/esmtprc")),
        Origin::None => {
            let err = config::load_for_sending(None).unwrap_err();
            assert_eq!(err.status, CONFIG);
            assert!(err.message.contains(".esmtprc") && err.message.contains("/etc/esmtprc"));
        }
        o => panic!("unexpected {o:?}"),
    }

    // Errors end in 78; compile_for_sending of nothing is the empty plan.
    let bad = h.join("bad.rc");
    std::fs::write(&bad, "starttls yes\n").unwrap();
    let err = config::load_for_sending(Some(&bad)).unwrap_err();
    assert_eq!(err.status, CONFIG);
    assert!(err.message.contains("esmtp check"));
    assert_eq!(
        config::compile_for_sending(&Origin::None, b"").unwrap(),
        esmtp::plan::Plan::empty()
    );
    let missing = h.join("missing.rc");
    assert_eq!(
        config::load_for_sending(Some(&missing)).unwrap_err().status,
        CONFIG
    );
}
