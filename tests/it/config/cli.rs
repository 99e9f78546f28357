//! `esmtp check` and `esmtp dump` as a user runs them (the built binary).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn esmtp(args: &[&str], home: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_esmtp"))
        .args(args)
        .env("HOME", home)
        .output()
        .unwrap()
}

fn fixture(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
        .display()
        .to_string()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn write(dir: &Path, name: &str, content: &str, mode: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

#[test]
fn check_exit_statuses() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let ok = esmtp(&["check", &fixture("valid/multi-identity.esmtprc")], h);
    assert_eq!(ok.status.code(), Some(0), "{}", stdout(&ok));
    assert!(stdout(&ok).ends_with(": ok\n"));
    let bad = esmtp(&["check", &fixture("invalid/many-errors.esmtprc")], h);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stdout(&bad).contains("6 errors"));
    // Warnings fail only with --deny-warnings.
    let warn = fixture("valid/cleartext-password.esmtprc");
    assert_eq!(esmtp(&["check", &warn], h).status.code(), Some(0));
    assert_eq!(
        esmtp(&["check", "--deny-warnings", &warn], h).status.code(),
        Some(1)
    );
    // Several files: the worst status.
    let both = esmtp(
        &["check", &warn, &fixture("invalid/starttls-yes.esmtprc")],
        h,
    );
    assert_eq!(both.status.code(), Some(1));
    // I/O and usage problems: 2.
    assert_eq!(
        esmtp(&["check", "/nonexistent/esmtprc"], h).status.code(),
        Some(2)
    );
    assert_eq!(
        esmtp(&["check", "--format", "xml", &warn], h).status.code(),
        Some(2)
    );
    assert_eq!(
        esmtp(&["check", "--no-such-flag"], h).status.code(),
        Some(2)
    );
}

#[test]
fn check_formats() {
    let home = tempfile::tempdir().unwrap();
    let f = fixture("invalid/starttls-yes.esmtprc");
    let json = esmtp(&["check", "--format", "json", &f], home.path());
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let d = &v["files"][0]["diagnostics"][0];
    assert_eq!(d["code"], "E003");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["primary"]["line"], 2);
    assert_eq!(d["primary"]["column"], 10);
    assert!(d["help"].as_str().unwrap().contains("starttls required"));
    let gh = esmtp(&["check", "--format", "github", &f], home.path());
    let line = stdout(&gh);
    assert!(line.starts_with("::error file="), "{line}");
    assert!(line.contains(",line=2,col=10,"), "{line}");
    assert!(line.contains("title=E003::"), "{line}");
    assert_eq!(line.lines().count(), 1);
}

#[test]
fn check_compat_reports_extensions() {
    let home = tempfile::tempdir().unwrap();
    let f = fixture("valid/extensions.esmtprc");
    let plain = esmtp(
        &["check", "--deny-warnings", "--format", "json", &f],
        home.path(),
    );
    let v: serde_json::Value = serde_json::from_slice(&plain.stdout).unwrap();
    assert!(v["files"][0]["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| !d["code"].as_str().unwrap().starts_with('C')));
    let compat = esmtp(&["check", "--compat", &f], home.path());
    let out = stdout(&compat);
    for kw in [
        "passwordeval",
        "auth",
        "timeout",
        "queue",
        "queue_dir",
        "queue_lifetime",
    ] {
        assert!(
            out.contains(&format!("`{kw}` is an extension")),
            "{kw}: {out}"
        );
    }
    assert!(out.contains("C002"));
}

#[test]
fn explain() {
    let home = tempfile::tempdir().unwrap();
    let o = esmtp(&["check", "--explain", "E003"], home.path());
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("starttls required"));
    assert_eq!(
        esmtp(&["check", "--explain", "Z999"], home.path())
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn check_without_file_uses_the_live_file_and_its_permissions() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let content = "hostname localhost:25\nusername u\npassword p\n";
    write(h, ".esmtprc", content, 0o644);
    // The live file: a mode sending refuses is an error.
    let o = esmtp(&["check"], h);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("E012"));
    assert!(stdout(&o).contains("W003"));
    // Switched off for a checked-out dotfile.
    let o = esmtp(&["check", "--no-permission-lints"], h);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    // A copy elsewhere is not the live file.
    let copy = write(h, "dotfile-esmtprc", content, 0o644);
    let o = esmtp(&["check", copy.to_str().unwrap()], h);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    // Fixed permissions: clean.
    write(h, ".esmtprc", content, 0o600);
    let o = esmtp(&["check"], h);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn dump_text_and_json_redact_secrets() {
    let home = tempfile::tempdir().unwrap();
    let f = fixture("valid/multi-identity.esmtprc");
    let t = esmtp(&["dump", &f], home.path());
    assert_eq!(t.status.code(), Some(0));
    let text = stdout(&t);
    assert!(!text.contains("correct horse") && !text.contains("pa$$w0rd"));
    assert!(text.contains("********"));
    assert!(text.contains("smtp.work.example.com:587"));
    let j = esmtp(&["dump", "--format", "json", &f], home.path());
    let js = stdout(&j);
    assert!(!js.contains("correct horse"));
    let v: serde_json::Value = serde_json::from_str(&js).unwrap();
    assert_eq!(v["default_identity"], 0);
    assert_eq!(v["identities"][1]["relay"]["port"], 587);
    // Deterministic.
    assert_eq!(
        esmtp(&["dump", "--format", "json", &f], home.path()).stdout,
        j.stdout
    );
    // A file with errors: diagnostics on stderr, status 1.
    let bad = esmtp(
        &["dump", &fixture("invalid/starttls-yes.esmtprc")],
        home.path(),
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("E003"));
}

#[test]
fn generated_ten_thousand_identities_check_clean() {
    let dir = tempfile::tempdir().unwrap();
    let mut src = String::new();
    for i in 0..10_000 {
        src.push_str(&format!(
            "identity user{i}@example.org\n  hostname smtp.example.org:587\n  username user{i}\n  password \"s{i}\"\n  starttls required\n"
        ));
    }
    let p = write(dir.path(), "big.esmtprc", &src, 0o600);
    let o = esmtp(&["check", p.to_str().unwrap()], dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn huge_and_binary_files_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    // 100 MB (sparse): refused after reading at most the limit.
    let big = dir.path().join("huge");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(100 * 1024 * 1024).unwrap();
    let o = esmtp(&["check", big.to_str().unwrap()], dir.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("E011"));
    // Garbage with thousands of errors: capped output with a count.
    let mut garbage = Vec::new();
    for i in 0..20_000u32 {
        garbage.extend_from_slice(format!("x{i}\0\n").as_bytes());
    }
    let g = dir.path().join("garbage");
    std::fs::write(&g, garbage).unwrap();
    let o = esmtp(&["check", g.to_str().unwrap()], dir.path());
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("more diagnostics not shown"),
        "{}",
        &out[out.len().saturating_sub(300)..]
    );
    assert!(out.matches("error[").count() <= 50);
}

#[test]
fn no_configuration_file_at_all() {
    let home = tempfile::tempdir().unwrap();
    if Path::new("/etc/esmtprc").exists() {
        // The machine has a system file: check finds it.
        let o = esmtp(&["check", "--no-permission-lints"], home.path());
        assert!(stdout(&o).contains("/etc/esmtprc"));
    } else {
        let o = esmtp(&["check"], home.path());
        assert_eq!(o.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&o.stderr).contains("no configuration file"));
    }
}

#[test]
fn check_and_dump_say_whether_the_cached_plan_is_fresh() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    // A file that is not the one sendmail mode uses (a dotfiles copy in
    // CI): no cache line without -v (a private path, and noise), in no
    // format.
    let rc = write(h, "rc", "hostname mail.example.org\n", 0o600);
    let rc = rc.to_str().unwrap();
    for format in ["human", "short", "json", "github"] {
        let o = esmtp(&["check", "--format", format, rc], h);
        assert_eq!(o.status.code(), Some(0), "{format}: {}", stdout(&o));
        assert!(!stdout(&o).contains("cache"), "{format}: {}", stdout(&o));
    }
    let json = stdout(&esmtp(&["check", "--verbose", "--format", "json", rc], h));
    assert!(json.contains("\"cache\""), "{json}");
    let check = |h| stdout(&esmtp(&["check", "-v", rc], h));
    assert!(
        check(h).contains("cached plan: not compiled yet"),
        "{}",
        check(h)
    );
    let compiled = esmtp(&["compile", rc], h);
    assert_eq!(compiled.status.code(), Some(0));
    assert!(check(h).contains("cached plan: fresh"), "{}", check(h));
    let dump = stdout(&esmtp(&["dump", rc], h));
    assert!(dump.contains("# cached plan: fresh"), "{dump}");
    // Same size, new content: the cache no longer matches.
    write(h, "rc", "hostname mail.example.net\n", 0o600);
    assert!(check(h).contains("cached plan: stale"), "{}", check(h));
    // A file with errors has no plan to cache: no line either.
    let bad = write(h, "bad", "hostname\n", 0o600);
    let o = stdout(&esmtp(&["check", bad.to_str().unwrap()], h));
    assert!(
        o.contains("error[E002]") && !o.contains("cached plan"),
        "{o}"
    );
    // The live file (~/.esmtprc) says it, named or not...
    let live = write(h, ".esmtprc", "hostname mail.example.org\n", 0o600);
    let named = stdout(&esmtp(&["check", live.to_str().unwrap()], h));
    assert!(named.contains("cached plan: not compiled yet"), "{named}");
    let unnamed = stdout(&esmtp(&["check"], h));
    assert!(
        unnamed.contains("cached plan: not compiled yet"),
        "{unnamed}"
    );
    // ... but not when it does not compile.
    write(h, ".esmtprc", "hostname\n", 0o600);
    let broken = stdout(&esmtp(&["check"], h));
    assert!(!broken.contains("cached plan"), "{broken}");
}
