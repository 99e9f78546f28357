//! Differential test against Debian's esmtp 1.2 (/usr/bin/esmtp): on every
//! fixture both programs reach the same accept/reject verdict, except for the
//! documented differences listed below. Files whose errors concern one
//! identity's smarthost (tests/fixtures/unusable) are accepted by both: 1.2
//! fails only when it sends through that smarthost, as this esmtp does.
//!
//! 1.2 rejects a file by exiting 78 with `FILE:LINE: syntax error at TOKEN`;
//! on an accepted file it goes on to send (to a remote recipient), which fails
//! on this machine without a network. It runs with an empty PATH so that no
//! preconnect command or MDA of a fixture can run.

use crate::support;

use esmtp::config::{self, Options};
use std::path::{Path, PathBuf};
use support::original;

/// Files on which the verdicts differ on purpose, and why.
const EXCEPTIONS: &[(&str, &str)] = &[
    // SPEC §2.2 [differs]: 1.2 quirks accepted as the user meant.
    ("valid/quirk-helo-number.esmtprc", "unquoted number (C101)"),
    (
        "valid/quirk-number-password.esmtprc",
        "unquoted number (C101)",
    ),
    (
        "valid/quirk-comment-last-line.esmtprc",
        "comment on last line without newline (C102)",
    ),
    (
        "valid/quirk-empty-identity.esmtprc",
        "identity without statements (C104)",
    ),
    // Extensions (SPEC §2.4): 1.2 does not know the keywords.
    ("valid/extensions.esmtprc", "extension keywords (C001)"),
    ("valid/tls-pinning.esmtprc", "extension keywords (C001)"),
    ("valid/oauth2.esmtprc", "extension keywords (C001)"),
    (
        "unusable/oauth2-errors.esmtprc",
        "extension keywords (C001)",
    ),
    (
        "valid/tls-files-unused.esmtprc",
        "extension keywords (C001)",
    ),
    // Issue 13 §7: 1.2 sends them, which lets the file inject commands.
    (
        "invalid/wire-injection.esmtprc",
        "control characters in values sent to the server (E020)",
    ),
];

fn corpus() -> Vec<(String, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out = Vec::new();
    for dir in ["valid", "unusable", "invalid"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "esmtprc") {
                out.push((
                    format!("{dir}/{}", p.file_name().unwrap().to_string_lossy()),
                    p,
                ));
            }
        }
    }
    out.sort();
    out
}

/// 1.2's verdict on a private copy of the file in `scratch`.
fn original_accepts(path: &Path, scratch: &Path) -> bool {
    // 1.2 refuses files others can read only for ~/.esmtprc; -C FILE is
    // read as is. Copy to a private place all the same.
    let copy = scratch.join(path.file_name().unwrap());
    std::fs::copy(path, &copy).unwrap();
    support::original_accepts(&copy, scratch)
}

#[test]
fn same_verdict_as_esmtp_1_2_on_the_whole_corpus() {
    assert!(
        Path::new(original()).exists(),
        "esmtp 1.2 missing: run tests/setup/install-deps.sh"
    );
    let scratch = tempfile::tempdir().unwrap();
    let corpus = corpus();
    assert!(corpus.len() >= 40);
    // Run the original in parallel: a few of its runs wait for DNS.
    let verdicts: Vec<(String, bool, bool)> = std::thread::scope(|s| {
        let handles: Vec<_> = corpus
            .iter()
            .map(|(name, path)| {
                let scratch = scratch.path();
                s.spawn(move || {
                    let bytes = std::fs::read(path).unwrap();
                    let ours = config::compile(name, &bytes, &Options::default())
                        .plan
                        .is_some();
                    (name.clone(), original_accepts(path, scratch), ours)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut problems = Vec::new();
    for (name, theirs, ours) in &verdicts {
        let exception = EXCEPTIONS.iter().find(|e| e.0 == name);
        match exception {
            None if theirs != ours => problems.push(format!(
                "{name}: esmtp 1.2 {}, we {}",
                if *theirs { "accepts" } else { "rejects" },
                if *ours { "accept" } else { "reject" }
            )),
            Some((_, why)) if theirs == ours => problems.push(format!(
                "{name}: listed as an exception ({why}) but verdicts agree"
            )),
            _ => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The corpus exercises both verdicts.
    assert!(verdicts.iter().filter(|v| v.1).count() >= 20);
    assert!(verdicts.iter().filter(|v| !v.1).count() >= 15);
}
