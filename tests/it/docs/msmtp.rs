//! The README's "Moving from msmtp" tables (generated from the importer's
//! command tables, which a unit test keeps equal) name only esmtp
//! subcommands that exist.

use std::collections::BTreeSet;
use std::process::Command;

#[test]
fn every_subcommand_the_msmtp_tables_name_exists() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("<!-- msmtp-options:")
        .expect("README has the msmtp tables");
    let end = readme
        .find("<!-- end of msmtp-commands -->")
        .expect("end of the msmtp tables");
    let mut named = BTreeSet::new();
    for span in readme[start..end].split('`').skip(1).step_by(2) {
        let mut words = span.split_whitespace();
        if words.next() == Some("esmtp") {
            if let Some(sub) = words
                .next()
                .filter(|w| w.bytes().all(|b| b.is_ascii_lowercase()))
            {
                named.insert(sub.to_string());
            }
        }
    }
    assert!(
        named.contains("route") && named.contains("import"),
        "{named:?}"
    );
    for sub in named {
        let out = Command::new(env!("CARGO_BIN_EXE_esmtp"))
            .args([&sub, "--help"])
            .output()
            .unwrap();
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("Usage: esmtp"),
            "`esmtp {sub}` named in README's msmtp tables is no subcommand: {out:?}"
        );
    }
}
