//! Every fixture under tests/fixtures/{valid,invalid}: its diagnostics and,
//! for valid files, its dump (text and JSON) are snapshot-tested; valid files
//! compile without errors, invalid ones do not compile.

use esmtp::config::{self, diag, dump, Options};
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
    s.set_snapshot_path("../snapshots");
    s.set_prepend_module_to_snapshot(false);
    s
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
                diag::code_info(d.code).is_some(),
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
