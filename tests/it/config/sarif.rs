//! `esmtp check --format sarif` against the published SARIF 2.1.0 schema
//! (the schema file of the SARIF 2.1.0 specification as the serde-sarif
//! crate ships it, which tests/setup/install-deps.sh fetches from crates.io
//! to /opt/esmtp-test/sarif-schema-2.1.0.json; validated by Python's
//! jsonschema, formats included, from the virtualenv install-deps makes), and against the JSON report of the same files: same codes, same
//! lines and columns.

use crate::support;

use esmtp::config::{self, codes, sarif};
use serde_json::Value;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> PathBuf {
    let venv = std::env::var("ESMTP_TEST_VENV").unwrap_or_else(|_| "/opt/esmtp-test/venv".into());
    Path::new(&venv).join("bin/python")
}

fn schema() -> PathBuf {
    let path = std::env::var("ESMTP_TEST_SARIF_SCHEMA")
        .unwrap_or_else(|_| "/opt/esmtp-test/sarif-schema-2.1.0.json".into());
    assert!(
        Path::new(&path).is_file(),
        "{path} is missing: run tests/setup/install-deps.sh"
    );
    PathBuf::from(path)
}

/// Validate `doc` against the schema; the validator's complaints.
fn schema_errors(doc: &str) -> Vec<String> {
    const SCRIPT: &str = r#"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
cls = jsonschema.validators.validator_for(schema)
cls.check_schema(schema)
v = cls(schema, format_checker=cls.FORMAT_CHECKER)
for e in v.iter_errors(json.load(sys.stdin)):
    print("/".join(map(str, e.absolute_path)) + ": " + e.message)
"#;
    let mut cmd = Command::new(python());
    cmd.args(["-c", SCRIPT]).arg(schema());
    let o = support::run_with_input(&mut cmd, doc.as_bytes());
    assert!(
        o.status.success(),
        "the validator failed to run (install-deps makes its virtualenv): {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn check(args: &[&str], home: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_esmtp"))
        .arg("check")
        .args(args)
        .current_dir(repo().join("tests/fixtures"))
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .output()
        .unwrap()
}

fn fixture_names() -> Vec<String> {
    let mut v = Vec::new();
    for dir in ["valid", "invalid"] {
        for e in fs::read_dir(repo().join("tests/fixtures").join(dir)).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".esmtprc") {
                v.push(format!("{dir}/{name}"));
            }
        }
    }
    v.sort();
    v
}

/// (file, code, line, column, end line, end column) of every diagnostic of
/// every file, from the JSON report.
fn json_positions(report: &Value) -> Vec<(String, String, Value, Value, Value, Value)> {
    let mut out = Vec::new();
    for f in report["files"].as_array().unwrap() {
        for d in f["diagnostics"].as_array().unwrap() {
            // A diagnostic about the whole file has no span; SARIF points
            // it at line 1.
            let p = match &d["primary"] {
                Value::Null => &serde_json::json!({ "line": 1 }),
                p => p,
            };
            out.push((
                f["file"].as_str().unwrap().to_string(),
                d["code"].as_str().unwrap().to_string(),
                p["line"].clone(),
                p["column"].clone(),
                p["end_line"].clone(),
                p["end_column"].clone(),
            ));
        }
    }
    out
}

fn sarif_positions(log: &Value) -> Vec<(String, String, Value, Value, Value, Value)> {
    let run = &log["runs"][0];
    let uris: Vec<&str> = run["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["location"]["uri"].as_str().unwrap())
        .collect();
    run["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let loc = &r["locations"][0]["physicalLocation"];
            let index = loc["artifactLocation"]["index"].as_u64().unwrap() as usize;
            assert_eq!(loc["artifactLocation"]["uri"], uris[index]);
            let region = &loc["region"];
            (
                uris[index].to_string(),
                r["ruleId"].as_str().unwrap().to_string(),
                region["startLine"].clone(),
                region["startColumn"].clone(),
                region["endLine"].clone(),
                region["endColumn"].clone(),
            )
        })
        .collect()
}

#[test]
fn every_fixture_gives_a_valid_sarif_log_that_agrees_with_the_json_report() {
    let home = tempfile::tempdir().unwrap();
    let names = fixture_names();
    assert!(names.len() > 60);
    let mut args: Vec<&str> = vec!["--no-permission-lints", "--compat", "--format"];
    let files: Vec<&str> = names.iter().map(String::as_str).collect();

    args.push("sarif");
    args.extend(&files);
    let o = check(&args, home.path());
    assert_eq!(o.status.code(), Some(1), "errors found");
    let doc = String::from_utf8(o.stdout).unwrap();
    let errors = schema_errors(&doc);
    assert!(errors.is_empty(), "not valid SARIF 2.1.0: {errors:#?}");
    let log: Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(log["version"], "2.1.0");
    assert_eq!(log["$schema"], sarif::SCHEMA);

    let n = args.len() - files.len() - 1;
    args[n] = "json";
    let o = check(&args, home.path());
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let expected = json_positions(&report);
    assert!(expected.len() > 50, "{}", expected.len());
    assert_eq!(sarif_positions(&log), expected);

    // The rules are the code registry, with its explanations as help; each
    // result's rule is the one its index names, with the same level.
    let run = &log["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), codes::REGISTRY.len());
    for (rule, info) in rules.iter().zip(codes::REGISTRY) {
        assert_eq!(rule["id"], info.code.as_str());
        assert_eq!(rule["shortDescription"]["text"], info.title);
        assert!(rule["help"]["text"]
            .as_str()
            .unwrap()
            .contains(info.explain));
    }
    for r in run["results"].as_array().unwrap() {
        let rule = &rules[r["ruleIndex"].as_u64().unwrap() as usize];
        assert_eq!(rule["id"], r["ruleId"]);
        let want = if r["ruleId"].as_str().unwrap().starts_with('E') {
            "error"
        } else {
            "warning"
        };
        assert_eq!(r["level"], want);
    }
    assert_eq!(run["columnKind"], "unicodeCodePoints");
}

#[test]
fn secondary_labels_file_wide_errors_and_odd_paths_stay_valid() {
    let home = tempfile::tempdir().unwrap();
    // The live ~/.esmtprc, readable by others and holding a password: E012
    // concerns the whole file (no span), W003 too.
    let rc = home.path().join(".esmtprc");
    fs::write(
        &rc,
        "hostname smtp.example.org:587\nusername u\npassword p\n",
    )
    .unwrap();
    fs::set_permissions(&rc, fs::Permissions::from_mode(0o644)).unwrap();
    // A setting given twice (a secondary label), under a name with a
    // blank, a colon and a non-ASCII letter.
    let odd = home.path().join("dot files:é");
    fs::create_dir(&odd).unwrap();
    let twice = odd.join("esmtprc");
    fs::write(
        &twice,
        "helo a\nhelo b\nhostname smtp.example.org:465\nstarttls enabled\n",
    )
    .unwrap();
    let o = check(
        &[
            "--format",
            "sarif",
            rc.to_str().unwrap(),
            twice.to_str().unwrap(),
        ],
        home.path(),
    );
    let doc = String::from_utf8(o.stdout).unwrap();
    let errors = schema_errors(&doc);
    assert!(
        errors.is_empty(),
        "not valid SARIF 2.1.0: {errors:#?}\n{doc}"
    );
    let log: Value = serde_json::from_str(&doc).unwrap();
    let results = log["runs"][0]["results"].as_array().unwrap();
    let codes: Vec<&str> = results
        .iter()
        .map(|r| r["ruleId"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"E012"), "{codes:?}");
    assert!(codes.contains(&"W001"), "{codes:?}");
    let e012 = results.iter().find(|r| r["ruleId"] == "E012").unwrap();
    assert_eq!(
        e012["locations"][0]["physicalLocation"]["region"],
        serde_json::json!({ "startLine": 1 })
    );
    let w001 = results.iter().find(|r| r["ruleId"] == "W001").unwrap();
    let related = &w001["relatedLocations"][0];
    assert_eq!(related["physicalLocation"]["region"]["startLine"], 1);
    assert!(!related["message"]["text"].as_str().unwrap().is_empty());
    let uri = w001["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        .as_str()
        .unwrap();
    assert!(uri.starts_with("file:///"), "{uri}");
    assert!(uri.ends_with("/dot%20files%3A%C3%A9/esmtprc"), "{uri}");
}

#[test]
fn the_validator_rejects_what_the_schema_forbids() {
    let home = tempfile::tempdir().unwrap();
    let o = check(
        &["--format", "sarif", "invalid/starttls-yes.esmtprc"],
        home.path(),
    );
    let mut log: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(schema_errors(&log.to_string()).is_empty());
    log["runs"][0]["results"][0]["level"] = "fatal".into();
    log["runs"][0]["artifacts"][0]["location"]["uri"] = "a b".into();
    let errors = schema_errors(&log.to_string());
    assert_eq!(errors.len(), 2, "{errors:#?}");
}

#[test]
fn sarif_results_snapshot() {
    let p = repo().join("tests/fixtures/invalid/many-errors.esmtprc");
    let bytes = fs::read(&p).unwrap();
    let c = config::compile(
        "invalid/many-errors.esmtprc",
        &bytes,
        &config::Options::default(),
    );
    let log = sarif::log(&[sarif::File {
        name: &c.name,
        text: &c.text,
        diagnostics: &c.diagnostics,
        omitted: 0,
    }]);
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path("../../../snapshots");
    s.set_prepend_module_to_snapshot(false);
    let _guard = s.bind_to_scope();
    insta::assert_json_snapshot!("sarif-many-errors", log["runs"][0]["results"]);
}
