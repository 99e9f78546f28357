//! Issue 13 §6, the configuration half: the value of `password` and
//! `certificate_passphrase` (and their aliases) never leaves the process.
//! A marker secret goes through every path that shows a configuration:
//! valid and invalid files, every format of `check` (with and without
//! colour, with `--compat`), `--explain` for every code, `dump` (text and
//! JSON), `route`, `compile`, and the errors printed when sending. The
//! masked renderings are snapshot-tested (snapshots/secrets-*.snap).

use crate::support;

use esmtp::config::{self, diag, Options};
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The marker secret, and one made of digits (an unquoted number is a
/// token of its own).
const MARK: &str = "Zq7Xw9Kp";
const NUM: &str = "97531864";

/// Every piece of a marker that would betray it.
fn fragments() -> Vec<&'static str> {
    let mut v = Vec::new();
    for (m, n) in [(MARK, 4), (NUM, 5)] {
        for i in 0..=m.len() - n {
            v.push(&m[i..i + n]);
        }
    }
    v
}

fn assert_no_secret(what: &str, out: &[u8]) {
    let text = String::from_utf8_lossy(out);
    for f in fragments() {
        assert!(
            !text.contains(f),
            "{what}: `{f}` of the secret is shown:\n{text}"
        );
    }
}

/// Files that hold the marker as a secret, one per way it can be written
/// or go wrong: (name, content).
fn files() -> Vec<(&'static str, String)> {
    let head = "identity me@example.org\nhostname smtp.example.org:587\nusername me\n";
    let f = |body: String| format!("{head}{body}");
    vec![
        // Valid files with a lint on the secret's line.
        ("plain", f(format!("password {MARK}\n"))),
        ("equals", f(format!("password = {MARK}\n"))),
        ("alias", f(format!("pass {MARK}\n"))),
        ("quoted", f(format!("password \"{MARK} {MARK}\"\n"))),
        ("single-quoted", f(format!("password '{MARK}'\n"))),
        ("hash", f(format!("password {MARK}#{MARK}\n"))),
        ("escapes", f("password Zq7\\x58w9Kp\\101\n".to_string())),
        ("number", f(format!("password {NUM}\n"))),
        ("multiline", f(format!("password \"{MARK}\n{MARK}\"\n"))),
        ("next-line", f(format!("password\n  {MARK}\n"))),
        ("crlf", f(format!("password {MARK}\r\nhelo h\r\n"))),
        ("keyword-value", f(format!("password default\npass {MARK}\n"))),
        (
            "passphrase",
            f(format!("certificate_passphrase {MARK}\npassword x\n")),
        ),
        (
            "passphrase-alias",
            f(format!("passphrase \"{MARK}\"\nstarttls required\npassword x\n")),
        ),
        (
            "twice",
            f(format!("password {MARK}\npassword {MARK}{MARK}\n")),
        ),
        (
            "xoauth2",
            f(format!("password {MARK}\nauth xoauth2\nstarttls required\n")),
        ),
        ("semicolon", f(format!("password {MARK};\n"))),
        // Invalid files: errors on, near and after the secret's line.
        ("extra-words", f(format!("password {MARK} {MARK} {NUM}\n"))),
        ("unknown-after", f(format!("password {MARK} hostnme x\n"))),
        ("misspelled-after", f(format!("password {MARK}\nhostnme x\n"))),
        ("unterminated", f(format!("password \"{MARK} {MARK}\nhelo x\n"))),
        ("unterminated-eof", f(format!("password '{MARK}"))),
        ("passphrase-keyword", f("passphrase default\npassword x\n".to_string())),
        (
            "passphrase-enabled",
            f(format!("passphrase enabled {MARK}\npassword x\n")),
        ),
        (
            "passphrase-default-word",
            f(format!("passphrase default {MARK}\npassword x\n")),
        ),
        ("equals-after", f(format!("password {MARK} = {MARK}\n"))),
        ("equals-before", f(format!("hostname = = x\npassword {MARK}\n"))),
        (
            "passwordeval-too",
            f(format!("password {MARK}\npasswordeval \"pass show x\"\n")),
        ),
        (
            "swallowed",
            f(format!("password\nstarttls required\nhostname\npassword {MARK}\n")),
        ),
        ("force", f(format!("force password {MARK}\n"))),
        (
            "bad-escape",
            f("password Zq7X\\xffw9Kp\nstarttls yes\n".to_string()),
        ),
        (
            "many-errors",
            f(format!(
                "{}password {MARK} oops\n{}",
                "bogus\n".repeat(60),
                "= =\n".repeat(60)
            )),
        ),
        (
            "second-identity",
            format!(
                "{head}password {MARK}\nidentity other@example.org\nhostname h\nusername u\npass {MARK} {MARK}\nstarttls yes\n"
            ),
        ),
    ]
}

fn esmtp() -> Command {
    Command::new(env!("CARGO_BIN_EXE_esmtp"))
}

fn run(cmd: &mut Command, home: &Path) -> Output {
    support::run_with_input(
        cmd.env("HOME", home)
            .env("XDG_CACHE_HOME", home.join("cache"))
            .env_remove("NO_COLOR"),
        b"Subject: hi\n\nhello\n",
    )
}

fn both(o: &Output) -> Vec<u8> {
    let mut v = o.stdout.clone();
    v.extend_from_slice(&o.stderr);
    v
}

/// The formats `check --format` offers (read from its help, so that a
/// format added later is covered too).
fn check_formats(home: &Path) -> Vec<String> {
    let help = run(esmtp().args(["check", "--help"]), home);
    let text = String::from_utf8_lossy(&help.stdout).into_owned();
    let at = text.find("--format").expect("check has --format");
    let rest = &text[at..];
    let list = rest
        .split("[possible values: ")
        .nth(1)
        .and_then(|r| r.split(']').next())
        .expect("possible values of --format");
    let formats: Vec<String> = list.split(", ").map(str::to_string).collect();
    assert!(formats.len() >= 3, "{formats:?}");
    formats
}

fn write_rc(dir: &Path, name: &str, content: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(format!("{name}.esmtprc"));
    std::fs::write(&p, content).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

#[test]
fn no_output_of_any_command_shows_the_secret() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let formats = check_formats(h);
    let mut masked_seen = 0;
    let mut errors_seen = 0;
    for (name, content) in files() {
        let rc = write_rc(h, name, &content);
        let rc = rc.to_str().unwrap();
        let mut runs: Vec<(String, Output)> = Vec::new();
        for format in &formats {
            for extra in [&[][..], &["--compat"][..], &["--deny-warnings"][..]] {
                let mut args = vec!["check", "--format", format.as_str()];
                args.extend_from_slice(extra);
                args.push(rc);
                runs.push((args.join(" "), run(esmtp().args(&args), h)));
            }
        }
        for args in [
            &["check", rc][..],
            &["dump", rc],
            &["dump", "--format", "json", rc],
            &["compile", "-v", rc],
            &["route", "-C", rc, "-f", "me@example.org", "bob@example.org"],
            &["-C", rc, "-v", "-f", "me@example.org", "bob@example.org"],
            &["-C", rc, "-f", "other@example.org", "bob"],
        ] {
            runs.push((args.join(" "), run(esmtp().args(args), h)));
        }
        for (what, out) in &runs {
            assert_no_secret(&format!("{name}: esmtp {what}"), &both(out));
        }
        // The secret's line was shown, masked (not merely left out).
        let human = &runs
            .iter()
            .find(|r| r.0.starts_with("check --format human"))
            .unwrap()
            .1;
        let text = String::from_utf8_lossy(&human.stdout);
        if text.contains("****") {
            masked_seen += 1;
        }
        if human.status.code() == Some(1) && text.contains("error[") {
            errors_seen += 1;
        }
    }
    assert!(masked_seen >= 20, "only {masked_seen} files showed a mask");
    assert!(errors_seen >= 10, "only {errors_seen} files had errors");
}

#[test]
fn the_live_file_with_permission_lints() {
    // W003 points at the password of a ~/.esmtprc others can read, and
    // E012 says the file may not be used; sending refuses it.
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let rc = h.join(".esmtprc");
    std::fs::write(
        &rc,
        format!("hostname smtp.example.org\nusername u\npassword {MARK}\n"),
    )
    .unwrap();
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o644)).unwrap();
    for format in check_formats(h) {
        let out = run(esmtp().args(["check", "--format", &format]), h);
        assert_eq!(out.status.code(), Some(1), "{format}");
        assert_no_secret(&format!("check --format {format}"), &both(&out));
    }
    let out = run(esmtp().args(["check"]), h);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("W003") && text.contains("password ********"),
        "{text}"
    );
    let out = run(esmtp().args(["-v", "bob@example.org"]), h);
    assert_eq!(out.status.code(), Some(78));
    assert_no_secret("sending", &both(&out));
}

#[test]
fn explain_never_quotes_a_secret() {
    let home = tempfile::tempdir().unwrap();
    let list = run(esmtp().args(["check", "--explain", "list"]), home.path());
    let list = String::from_utf8_lossy(&list.stdout).into_owned();
    let codes: Vec<&str> = list.lines().filter_map(|l| l.split(' ').next()).collect();
    assert!(codes.len() > 40, "{codes:?}");
    for code in codes {
        let out = run(esmtp().args(["check", "--explain", code]), home.path());
        assert_eq!(out.status.code(), Some(0), "{code}");
        assert!(!out.stdout.is_empty());
        assert_no_secret(code, &both(&out));
    }
}

/// The source as every renderer sees it: the secret replaced by `*`, byte
/// for byte (quotes and line ends kept), so spans and carets stay right.
fn masked(src: &str) -> String {
    config::compile("t", src.as_bytes(), &Options::default()).text
}

#[test]
fn what_is_masked() {
    // The value, whatever its form; the quotes and line ends stay.
    assert_eq!(masked("password abc#d\n"), "password *****\n");
    assert_eq!(masked("pass = \"a b\"\n"), "pass = \"***\"\n");
    assert_eq!(masked("password 'a\nb'\n"), "password '*\n*'\n");
    assert_eq!(masked("password x\\x41\n"), "password *****\n");
    assert_eq!(masked("passphrase 123\n"), "passphrase ***\n");
    assert_eq!(masked("password\n  x\n"), "password\n  *\n");
    // What may be the rest of a secret with blanks, up to a keyword.
    assert_eq!(
        masked("password a b = c helo h\n"),
        "password * * * * helo h\n"
    );
    assert_eq!(
        masked("password \"a b\nhelo h\n"),
        "password \"* *\nhelo h\n"
    );
    // A keyword written as the value on the same line: read as a keyword
    // if it starts a statement (then shown, and the statement's value is
    // not the secret), else read as the value.
    assert_eq!(masked("passphrase default x\n"), "passphrase default *\n");
    assert_eq!(masked("passphrase hostname h\n"), "passphrase hostname h\n");
    assert_eq!(masked("passphrase enabled x\n"), "passphrase ******* *\n");
    // A keyword that only became the value because `password` had none
    // on its line is shown (it is not secret text the user typed), and so
    // is the rest of that statement; a secret keyword read so still
    // announces a secret.
    assert_eq!(
        masked("password\nstarttls required\n"),
        "password\nstarttls required\n"
    );
    assert_eq!(masked("password\npassword x\n"), "password\npassword *\n");
    // A secret keyword swallowed as another keyword's value.
    assert_eq!(
        masked("hostname\npassword secret\n"),
        "hostname\npassword ******\n"
    );
    // Nothing else.
    let plain = "identity a@b\nhostname h\nusername u\nhelo passwordless\n";
    assert_eq!(masked(plain), plain);
    // Every byte of a character that is not ASCII.
    assert_eq!(masked("password é\n"), "password **\n");
}

fn report(name: &str, src: &str) -> String {
    let opts = Options {
        compat: true,
        ..Options::default()
    };
    let c = config::compile(name, src.as_bytes(), &opts);
    let mut s = diag::render_human(&c.name, &c.text, &c.diagnostics);
    s.push_str("--- github ---\n");
    s.push_str(&diag::render_github(&c.name, &c.text, &c.diagnostics));
    s.push_str("--- json ---\n");
    s.push_str(&serde_json::to_string_pretty(&diag::to_json(&c.text, &c.diagnostics)).unwrap());
    s.push('\n');
    s
}

#[test]
fn masked_renderings() {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../../../snapshots");
    settings.set_prepend_module_to_snapshot(false);
    let _guard = settings.bind_to_scope();
    for (name, content) in files() {
        if ![
            "plain",
            "quoted",
            "number",
            "multiline",
            "extra-words",
            "unknown-after",
            "unterminated",
            "passphrase-default-word",
            "swallowed",
        ]
        .contains(&name)
        {
            continue;
        }
        let out = report(&format!("{name}.esmtprc"), &content);
        assert_no_secret(name, out.as_bytes());
        insta::assert_snapshot!(format!("secrets-{name}"), out);
    }
}

#[test]
fn colour_rendering_is_masked_too() {
    for (name, content) in files() {
        let c = config::compile(name, content.as_bytes(), &Options::default());
        let out = diag::render_human_color(&c.name, &c.text, &c.diagnostics);
        assert_no_secret(name, out.as_bytes());
        assert_no_secret(name, c.render_errors().as_bytes());
    }
}

/// A line of a generated file: a statement with the marker as a secret,
/// a good statement, or a broken one (never an unbalanced quote outside a
/// secret, which would make the marker part of another value).
fn line() -> impl Strategy<Value = String> {
    let secret = prop_oneof![
        Just(format!("password {MARK}")),
        Just(format!("pass = {MARK}")),
        Just(format!("passphrase \"{MARK} {MARK}\"")),
        Just(format!("certificate_passphrase '{MARK}")),
        Just(format!("password \"{MARK}")),
        Just(format!("password {MARK} {MARK} x")),
        Just(format!("password {MARK} hostnme {MARK}")),
        Just(format!("password {MARK}#{MARK};{MARK}")),
        Just(format!("password {NUM}")),
        Just(format!("password {NUM}{MARK}")),
        Just(format!("password {MARK}={MARK}")),
        Just("password Zq7\\x58w9Kp".to_string()),
        Just(format!("password\n{MARK}")),
        Just(format!("passphrase default {MARK}")),
        Just(format!("passphrase enabled {MARK}")),
        Just("password".to_string()),
    ];
    let good = prop_oneof![
        Just("identity a@example.org".to_string()),
        Just("hostname h.example.org:25".to_string()),
        Just("username u".to_string()),
        Just("starttls required".to_string()),
        Just("helo h".to_string()),
        Just("default".to_string()),
        Just("mda \"/bin/cat %T\"".to_string()),
        Just("force sender x@y".to_string()),
        Just("auth plain".to_string()),
        Just("timeout 5".to_string()),
        Just("passwordeval \"echo x\"".to_string()),
    ];
    let broken = prop_oneof![
        Just("hostnme x".to_string()),
        Just("starttls yes".to_string()),
        Just("= =".to_string()),
        Just("timeout x".to_string()),
        Just("hostname h:99999".to_string()),
        Just("force".to_string()),
        Just("sender x".to_string()),
        Just("helo \"a\\r\\nb\"".to_string()),
        Just(";".to_string()),
        Just("12345".to_string()),
        Just("enabled".to_string()),
        Just("hostname".to_string()),
        Just("identity".to_string()),
        Just("username".to_string()),
        Just("\\".to_string()),
    ];
    prop_oneof![3 => secret, 3 => good, 2 => broken]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn generated_files_never_show_the_secret(
        lines in prop::collection::vec((line(), prop_oneof![Just("\n"), Just(" "), Just("\r\n")]), 1..25),
        compat in any::<bool>(),
    ) {
        let src: String = lines.iter().map(|(l, sep)| format!("{l}{sep}")).collect();
        let opts = Options { compat, ..Options::default() };
        let c = config::compile("p", src.as_bytes(), &opts);
        let mut out = diag::render_human(&c.name, &c.text, &c.diagnostics);
        out.push_str(&diag::render_human_color(&c.name, &c.text, &c.diagnostics));
        out.push_str(&diag::render_short(&c.name, &c.text, &c.diagnostics));
        out.push_str(&diag::render_github(&c.name, &c.text, &c.diagnostics));
        out.push_str(&diag::to_json(&c.text, &c.diagnostics).to_string());
        out.push_str(&c.render_errors());
        for f in fragments() {
            prop_assert!(!out.contains(f), "`{}` shown for\n{}\n{}", f, src, out);
        }
    }
}
