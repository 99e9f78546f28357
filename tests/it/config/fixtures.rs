//! Every fixture under tests/fixtures/{valid,unusable,invalid}: its
//! diagnostics and, for files that compile, its dump (text and JSON) are
//! snapshot-tested. Valid files compile without errors; files under
//! `unusable` have errors that concern one identity's smarthost only, so
//! they compile with that identity marked unusable; invalid ones do not
//! compile.

use esmtp::config::{self, codes, diag, dump, Options};
use std::path::{Path, PathBuf};

fn fixtures(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "esmtprc"))
        .collect();
    v.sort();
    v
}

fn opts() -> Options {
    Options {
        compat: true,
        ..Options::default()
    }
}

fn name_of(dir: &str, p: &Path) -> String {
    format!("{dir}/{}", p.file_name().unwrap().to_string_lossy())
}

/// The check report as a user sees it (plain text), plus a JSON rendering
/// of the same diagnostics so that spans and codes are pinned exactly.
fn report(name: &str, bytes: &[u8]) -> String {
    let c = config::compile(name, bytes, &opts());
    let mut s = diag::render_human(&c.name, &c.text, &c.diagnostics);
    s.push_str(&format!(
        "{} errors, {} warnings\n",
        c.errors(),
        c.warnings()
    ));
    s.push_str("--- short ---\n");
    s.push_str(&diag::render_short(&c.name, &c.text, &c.diagnostics));
    s
}

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path("../../../snapshots");
    s.set_prepend_module_to_snapshot(false);
    s
}

#[test]
fn unusable_fixtures_compile_with_errors_and_unusable_identities() {
    let _guard = settings().bind_to_scope();
    let files = fixtures("unusable");
    assert!(files.len() >= 6);
    for p in files {
        let name = name_of("unusable", &p);
        let bytes = std::fs::read(&p).unwrap();
        let c = config::compile(&name, &bytes, &opts());
        assert!(c.errors() > 0, "{name} has no error");
        let plan = c
            .plan
            .as_ref()
            .unwrap_or_else(|| panic!("{name} does not compile:\n{}", c.render_errors()));
        let unusable: Vec<_> = plan
            .identities
            .iter()
            .filter_map(|i| i.unusable.as_ref())
            .collect();
        assert!(!unusable.is_empty(), "{name}: no identity is unusable");
        // Each unusable identity names an error check reports, by code.
        for u in &unusable {
            assert!(
                c.diagnostics
                    .iter()
                    .any(|d| d.is_error() && d.code.as_str() == u.code && d.message == u.message),
                "{name}: {u:?}"
            );
        }
        for d in c.diagnostics.iter().filter(|d| d.is_error()) {
            assert!(
                config::WAITING_ERROR_CODES.contains(&d.code),
                "{name}: {} is not an identity error",
                d.code
            );
        }
        let stem = p.file_stem().unwrap().to_string_lossy().to_string();
        insta::assert_snapshot!(format!("check-unusable-{stem}"), report(&name, &bytes));
        let redacted = plan.redacted();
        insta::assert_snapshot!(format!("dump-{stem}"), dump::text(&name, &redacted));
        insta::assert_snapshot!(format!("dump-json-{stem}"), dump::json(&redacted));
    }
}

#[test]
fn corpus_is_big_enough() {
    assert!(fixtures("valid").len() + fixtures("invalid").len() >= 40);
    assert!(fixtures("valid")
        .iter()
        .any(|p| p.ends_with("multi-identity.esmtprc")));
}

#[test]
fn valid_fixtures_compile_and_dump() {
    let _guard = settings().bind_to_scope();
    for p in fixtures("valid") {
        let name = name_of("valid", &p);
        let bytes = std::fs::read(&p).unwrap();
        let c = config::compile(&name, &bytes, &opts());
        let plan = c
            .plan
            .as_ref()
            .unwrap_or_else(|| panic!("{name} does not compile:\n{}", c.render_errors()));
        assert_eq!(c.errors(), 0, "{name}:\n{}", c.render_errors());
        assert!(
            plan.identities.iter().all(|i| i.unusable.is_none()),
            "{name}"
        );
        let stem = p.file_stem().unwrap().to_string_lossy().to_string();
        insta::assert_snapshot!(format!("check-valid-{stem}"), report(&name, &bytes));
        let redacted = plan.redacted();
        insta::assert_snapshot!(format!("dump-{stem}"), dump::text(&name, &redacted));
        insta::assert_snapshot!(format!("dump-json-{stem}"), dump::json(&redacted));
        // Deterministic: the same input gives the same plan and report.
        let again = config::compile(&name, &bytes, &opts());
        assert_eq!(again.plan.as_ref(), Some(plan));
        assert_eq!(again.diagnostics, c.diagnostics);
    }
}

#[test]
fn invalid_fixtures_report_errors() {
    let _guard = settings().bind_to_scope();
    for p in fixtures("invalid") {
        let name = name_of("invalid", &p);
        let bytes = std::fs::read(&p).unwrap();
        let c = config::compile(&name, &bytes, &opts());
        assert!(c.plan.is_none(), "{name} compiled");
        assert!(c.errors() > 0, "{name} has no error");
        for d in &c.diagnostics {
            assert!(
                codes::explain(d.code.as_str()).is_some(),
                "{name}: {} has no explanation",
                d.code
            );
        }
        let stem = p.file_stem().unwrap().to_string_lossy().to_string();
        insta::assert_snapshot!(format!("check-invalid-{stem}"), report(&name, &bytes));
    }
}

#[test]
fn machine_readable_reports() {
    let _guard = settings().bind_to_scope();
    let p =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid/many-errors.esmtprc");
    let bytes = std::fs::read(&p).unwrap();
    let c = config::compile("invalid/many-errors.esmtprc", &bytes, &opts());
    insta::assert_snapshot!(
        "github-many-errors",
        diag::render_github(&c.name, &c.text, &c.diagnostics)
    );
    let json = serde_json::to_string_pretty(&diag::to_json(&c.text, &c.diagnostics)).unwrap();
    insta::assert_snapshot!("json-many-errors", json);
}

/// `password` with nothing after it on its line takes the next keyword as
/// its value (as in 1.2): the error that follows says so in every format.
#[test]
fn a_keyword_read_as_the_password_is_explained_in_every_format() {
    let _guard = settings().bind_to_scope();
    let name = "invalid/password-swallows-keyword.esmtprc";
    let bytes = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap();
    let c = config::compile(name, &bytes, &opts());
    let d = c
        .diagnostics
        .iter()
        .find(|d| d.is_error())
        .expect("an error");
    // The error is on `required`, and points back at `password`.
    let at = |l: &diag::Label| &c.text[l.span.start..l.span.end];
    assert_eq!(d.primary.as_ref().map(at), Some("required"));
    assert!(d
        .secondary
        .iter()
        .any(|l| at(l) == "password" && l.message.contains("`starttls`")));
    assert!(d
        .help
        .as_deref()
        .is_some_and(|h| h.contains("password \"\"")));
    let human = diag::render_human(&c.name, &c.text, &c.diagnostics);
    let short = diag::render_short(&c.name, &c.text, &c.diagnostics);
    let github = diag::render_github(&c.name, &c.text, &c.diagnostics);
    let json = serde_json::to_string_pretty(&diag::to_json(&c.text, &c.diagnostics)).unwrap();
    for (format, out) in [
        ("human", &human),
        ("short", &short),
        ("github", &github),
        ("json", &json),
    ] {
        assert!(
            out.contains("`starttls`") && out.contains("`password`"),
            "{format}: {out}"
        );
    }
    for (format, out) in [("human", &human), ("github", &github), ("json", &json)] {
        assert!(
            out.contains("password \\\"\\\"") || out.contains("password \"\""),
            "{format}: {out}"
        );
    }
    insta::assert_snapshot!("github-password-swallows-keyword", github);
    insta::assert_snapshot!("json-password-swallows-keyword", json);
}
