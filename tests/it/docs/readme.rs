//! The README's quick start, run as written (with the provider's name, the
//! credentials and the install location pointed at this test's own Exim and
//! directories): install, write ~/.esmtprc, `esmtp check`, send a test mail.
//! Also the installed layout and the shell completions.

use crate::support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::{Exim, EximOptions, PASSWORD, USER};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The ```sh blocks of the README's "Quick start" section, in order.
fn quick_start_blocks() -> Vec<String> {
    let readme = fs::read_to_string(repo().join("README.md")).unwrap();
    let start = readme
        .find("\n## Quick start\n")
        .expect("README has a Quick start section");
    let section = &readme[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in section.lines() {
        let t = line.trim_start();
        match (&mut current, t) {
            (None, "```sh") => current = Some(String::new()),
            (Some(b), "```") => {
                blocks.push(b.clone());
                current = None;
            }
            (Some(b), _) => {
                // The blocks sit in a numbered list: undo its indentation.
                b.push_str(line.strip_prefix("   ").unwrap_or(line));
                b.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// Replace `from` by `to` in `text`, insisting that it is there: a README
/// edit that breaks the substitution must fail the test, not bypass it.
fn subst(text: &str, from: &str, to: &str) -> String {
    assert!(
        text.contains(from),
        "README quick start no longer has {from:?}:\n{text}"
    );
    text.replace(from, to)
}

struct Machine {
    home: tempfile::TempDir,
    dest: tempfile::TempDir,
}

impl Machine {
    fn bin(&self) -> PathBuf {
        self.dest.path().join("usr/local/bin")
    }

    fn sh(&self, script: &str) -> Output {
        let path = format!(
            "{}:{}",
            self.bin().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Command::new("bash")
            .args(["-euo", "pipefail", "-c", script])
            .current_dir(repo())
            .env("HOME", self.home.path())
            .env("PATH", path)
            .env("DESTDIR", self.dest.path())
            .env("ESMTP_BIN", env!("CARGO_BIN_EXE_esmtp"))
            .env_remove("XDG_CACHE_HOME")
            .env_remove("XDG_DATA_HOME")
            .output()
            .unwrap()
    }
}

fn ok(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what}: {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn the_quick_start_works_as_written() {
    let blocks = quick_start_blocks();
    assert_eq!(
        blocks.len(),
        4,
        "install, ~/.esmtprc, check, send: {blocks:#?}"
    );
    let exim = Exim::with(EximOptions::default());
    let m = Machine {
        home: tempfile::tempdir().unwrap(),
        dest: tempfile::tempdir().unwrap(),
    };
    // Trust this Exim's test CA, as a user would with ~/.authenticate.
    let auth = m.home.path().join(".authenticate");
    fs::create_dir(&auth).unwrap();
    fs::copy(exim.ca_pem(), auth.join("ca.pem")).unwrap();
    fs::set_permissions(auth.join("ca.pem"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::set_permissions(&auth, fs::Permissions::from_mode(0o700)).unwrap();

    // 1. Install (into DESTDIR: this test does not own /usr).
    assert_eq!(blocks[0].trim(), "./install.sh --sendmail");
    ok(&m.sh(&blocks[0]), "install");
    let sendmail = m.dest.path().join("usr/sbin/sendmail");
    assert_eq!(
        fs::read_link(&sendmail).unwrap(),
        Path::new("/usr/local/bin/esmtp")
    );
    for name in ["esmtp", "mailq", "newaliases", "deliver"] {
        assert!(m.bin().join(name).exists(), "{name} installed");
    }
    for page in ["man1/esmtp.1", "man5/esmtprc.5"] {
        let installed = m.dest.path().join("usr/local/share/man").join(page);
        let source = repo()
            .join("man")
            .join(Path::new(page).file_name().unwrap());
        assert_eq!(fs::read(installed).unwrap(), fs::read(source).unwrap());
    }

    // 2. ~/.esmtprc, pointed at the test's Exim and credentials.
    let rc = subst(
        &blocks[1],
        "smtp.example.org:587",
        &format!("localhost:{}", exim.port()),
    );
    let rc = subst(&rc, "username you@example.org", &format!("username {USER}"));
    let rc = subst(
        &rc,
        "passwordeval \"pass show mail/example.org\"",
        &format!("passwordeval \"echo '{PASSWORD}'\""),
    );
    ok(&m.sh(&rc), "write ~/.esmtprc");
    let mode = fs::metadata(m.home.path().join(".esmtprc"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // 3. esmtp check, the installed one, on the file sendmail mode uses.
    assert_eq!(blocks[2].trim(), "esmtp check");
    let check = m.sh(&blocks[2]);
    ok(&check, "esmtp check");
    let out = String::from_utf8_lossy(&check.stdout);
    assert!(out.contains(".esmtprc: ok"), "{out}");

    // 4. The test mail, with -v.
    let sent = m.sh(&blocks[3]);
    ok(&sent, "send a test mail");
    assert!(!sent.stdout.is_empty(), "-v shows the session");
    let got = exim.wait_for_messages(1);
    assert_eq!(got[0].return_path, "you@example.org");
    let text = String::from_utf8_lossy(&got[0].message);
    assert!(text.contains("Subject: test\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nIt works.\r\n"), "{text}");
    let log = exim.log();
    assert!(log.contains("X=TLS"), "sent over STARTTLS: {log}");
    assert!(log.contains(" A="), "authenticated: {log}");
}

#[test]
fn bash_completion_knows_the_subcommands_and_flags() {
    let script = format!(
        r#"source <("{bin}" completions bash)
complete_words() {{ COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${{#COMP_LINE}}; _esmtp esmtp "${{COMP_WORDS[-1]}}" "${{COMP_WORDS[-2]}}"; echo "${{COMPREPLY[@]}}"; }}
complete_words esmtp ch
complete_words esmtp check --f"#,
        bin = env!("CARGO_BIN_EXE_esmtp")
    );
    let o = Command::new("bash").args(["-c", &script]).output().unwrap();
    ok(&o, "bash completion");
    let out = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0].trim(), "check", "{out}");
    assert_eq!(lines[1].trim(), "--format", "{out}");
}

#[test]
fn zsh_and_fish_completions_name_every_subcommand() {
    for shell in ["zsh", "fish"] {
        let o = Command::new(env!("CARGO_BIN_EXE_esmtp"))
            .args(["completions", shell])
            .output()
            .unwrap();
        ok(&o, shell);
        let text = String::from_utf8_lossy(&o.stdout);
        for sub in esmtp::cli::SUBCOMMANDS {
            assert!(text.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    let bad = Command::new(env!("CARGO_BIN_EXE_esmtp"))
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(64));
}
