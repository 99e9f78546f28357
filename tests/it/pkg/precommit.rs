//! The pre-commit hook, with the real `pre-commit` (from PyPI, in the
//! virtualenv tests/setup/install-deps.sh makes) on a throwaway dotfiles
//! repository configured with the README's three lines: a bad esmtprc
//! blocks the commit, a good one passes, other files do not wake the hook.
//! The hook repository is a throwaway one holding this repository's
//! `.pre-commit-hooks.yaml` as it is in the work tree.

use crate::support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;
use support::describe as show;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn venv_bin() -> PathBuf {
    let venv = std::env::var("ESMTP_TEST_VENV").unwrap_or_else(|_| "/opt/esmtp-test/venv".into());
    Path::new(&venv).join("bin")
}

/// What a git command printed (git gives a hook's output on stderr).
fn output(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The yaml block after "**pre-commit.**" in the README.
fn readme_config() -> String {
    let readme = fs::read_to_string(repo().join("README.md")).unwrap();
    let at = readme
        .find("**pre-commit.**")
        .expect("README shows the pre-commit configuration");
    let rest = &readme[at..];
    let start = rest.find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
    let end = start + rest[start..].find("```").unwrap();
    rest[start..end].to_string()
}

struct Env {
    _dir: tempfile::TempDir,
    home: PathBuf,
    bin: PathBuf,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let bin = dir.path().join("bin");
        fs::create_dir_all(&home).unwrap();
        fs::create_dir_all(&bin).unwrap();
        // "The installed esmtp": the one this test run built, on PATH.
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_esmtp"), bin.join("esmtp")).unwrap();
        Env {
            _dir: dir,
            home,
            bin,
        }
    }

    fn cmd(&self, program: &str, dir: &Path) -> Command {
        let mut c = Command::new(program);
        c.current_dir(dir)
            .env_clear()
            .env("HOME", &self.home)
            .env(
                "PATH",
                format!(
                    "{}:{}:/usr/local/bin:/usr/bin:/bin",
                    self.bin.display(),
                    venv_bin().display()
                ),
            )
            .env("PRE_COMMIT_HOME", self.home.join("pre-commit-cache"))
            .env("LANG", "C.UTF-8")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.org")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.org");
        c
    }

    fn git(&self, dir: &Path, args: &[&str]) -> Output {
        self.cmd("git", dir).args(args).output().unwrap()
    }

    fn git_ok(&self, dir: &Path, args: &[&str]) -> String {
        let o = self.git(dir, args);
        assert!(o.status.success(), "git {args:?}: {}", show(&o));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }
}

#[test]
fn a_bad_esmtprc_blocks_the_commit_and_a_good_one_passes() {
    let env = Env::new();
    let work = env.home.as_path();

    // The hook repository: this repository's hook definitions.
    let hooks = work.join("esmtp-hooks");
    fs::create_dir(&hooks).unwrap();
    env.git_ok(&hooks, &["init", "-q"]);
    fs::copy(
        repo().join(".pre-commit-hooks.yaml"),
        hooks.join(".pre-commit-hooks.yaml"),
    )
    .unwrap();
    env.git_ok(&hooks, &["add", "."]);
    env.git_ok(&hooks, &["commit", "-qm", "hooks"]);
    let rev = env.git_ok(&hooks, &["rev-parse", "HEAD"]);

    // The dotfiles repository, configured as the README says.
    let dots = work.join("dotfiles");
    fs::create_dir_all(dots.join("mail")).unwrap();
    env.git_ok(&dots, &["init", "-q"]);
    let config = readme_config();
    assert!(config.contains("hooks: [{id: esmtp-check}]"), "{config}");
    let config = config
        .replace("URL-OF-THE-ESMTP-REPOSITORY", hooks.to_str().unwrap())
        .replace("TAG-OR-COMMIT", &rev);
    fs::write(dots.join(".pre-commit-config.yaml"), config).unwrap();
    let t = Instant::now();
    let o = env
        .cmd("pre-commit", &dots)
        .arg("install")
        .output()
        .expect("pre-commit is installed by tests/setup/install-deps.sh");
    assert!(o.status.success(), "pre-commit install: {}", show(&o));

    // A mistake in ~/.esmtprc's copy: the commit is refused, with the
    // diagnostic, and nothing is committed.
    fs::write(
        dots.join("mail/.esmtprc"),
        "hostname smtp.example.org:587\nstarttls yes\n",
    )
    .unwrap();
    env.git_ok(&dots, &["add", "."]);
    let o = env.git(&dots, &["commit", "-qm", "mail settings"]);
    eprintln!(
        "pre-commit, first run (sets up the hook): {:.1?}",
        t.elapsed()
    );
    assert!(!o.status.success(), "the commit went through: {}", show(&o));
    let out = output(&o);
    assert!(out.contains("esmtp check"), "{out}");
    assert!(out.contains("Failed"), "{out}");
    assert!(out.contains("E003"), "{out}");
    assert!(out.contains("mail/.esmtprc"), "{out}");
    assert!(!env
        .git(&dots, &["rev-parse", "--verify", "-q", "HEAD"])
        .status
        .success());

    // Fixed: the commit passes, through the hook.
    fs::write(
        dots.join("mail/.esmtprc"),
        "hostname smtp.example.org:587\nstarttls required\n",
    )
    .unwrap();
    env.git_ok(&dots, &["add", "."]);
    let t = Instant::now();
    let o = env.git(&dots, &["commit", "-m", "mail settings"]);
    eprintln!("pre-commit, a passing commit: {:.1?}", t.elapsed());
    assert!(o.status.success(), "{}", show(&o));
    let out = output(&o);
    assert!(
        out.contains("esmtp check") && out.contains("Passed"),
        "{out}"
    );
    let files = env.git_ok(&dots, &["show", "--name-only", "--format=", "HEAD"]);
    assert!(files.lines().any(|f| f == "mail/.esmtprc"), "{files}");

    // A file that is not an esmtprc does not run the hook at all.
    fs::write(dots.join("notes.txt"), "starttls yes\n").unwrap();
    env.git_ok(&dots, &["add", "."]);
    let o = env.git(&dots, &["commit", "-m", "notes"]);
    assert!(o.status.success(), "{}", show(&o));
    let out = output(&o);
    assert!(out.contains("no files to check"), "{out}");
}
