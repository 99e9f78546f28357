//! Shared by the front end's integration tests: a temporary directory with
//! an esmtprc, the built binary under the names clients call it by, and a
//! recording MDA.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::process;
pub use process::run;

pub const BIN: &str = env!("CARGO_BIN_EXE_esmtp");

pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    /// A temporary directory (mode 0755, so that MDAs changing user can
    /// reach it) holding `esmtprc` with `config`. `@DIR@` in `config` is
    /// replaced by the directory's path.
    pub fn new(config: &str) -> Env {
        let dir = tempfile::Builder::new()
            .prefix("esmtp-frontend-")
            .tempdir_in("/tmp")
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let env = Env { dir };
        env.write("esmtprc", &env.subst(config), 0o600);
        // The names clients run: sendmail-compatible wrappers that add -C.
        for name in ["sendmail", "mailq", "newaliases"] {
            std::os::unix::fs::symlink(BIN, env.path(name)).unwrap();
        }
        let wrapper = format!(
            "#!/bin/bash\nexec -a sendmail {} -C {} \"$@\"\n",
            BIN,
            env.rc().display()
        );
        env.write("sendmail-wrapper", &wrapper, 0o755);
        env
    }

    /// A recording MDA: `mda` statement writing each argument
    /// NUL-terminated to `args` and the message to `msg`.
    pub fn with_recorder(extra: &str) -> Env {
        let env = Env::new(&format!("mda \"@DIR@/record %F %T\"\n{extra}"));
        env.write(
            "record",
            "#!/bin/sh\nd=$(dirname \"$0\")\nprintf '%s\\0' \"$@\" > \"$d/args\"\ncat > \"$d/msg\"\n",
            0o755,
        );
        env
    }

    pub fn subst(&self, text: &str) -> String {
        text.replace("@DIR@", &self.dir.path().display().to_string())
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn rc(&self) -> PathBuf {
        self.path("esmtprc")
    }

    pub fn write(&self, name: &str, text: &str, mode: u32) {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    pub fn exists(&self, name: &str) -> bool {
        self.path(name).exists()
    }

    /// The recorded MDA arguments (sender first, then recipients).
    pub fn recorded_args(&self) -> Vec<String> {
        self.read("args")
            .split('\0')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// A command whose caches and data (the compiled-plan cache, the
    /// default queue) stay inside the directory, with the process's own
    /// HOME (not one another test set for a while).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        if let Some(home) = super::env::process_home() {
            cmd.env("HOME", home);
        }
        cmd.env("XDG_CACHE_HOME", self.path("xdg-cache"))
            .env("XDG_DATA_HOME", self.path("xdg-data"));
        cmd
    }

    /// Run the binary as `name` (a symlink in the directory) with `-C rc`
    /// first, then `args`, feeding `input`.
    pub fn run_as(&self, name: &str, args: &[&str], input: &[u8]) -> Output {
        let mut all = vec!["-C".to_string(), self.rc().display().to_string()];
        all.extend(args.iter().map(|s| s.to_string()));
        run(self.command(self.path(name)).args(&all), input)
    }

    /// Run the binary as `esmtp` with exactly `args`.
    pub fn esmtp(&self, args: &[&str], input: &[u8]) -> Output {
        run(self.command(BIN).args(args), input)
    }

    /// `sendmail -C rc ARGS` with `input` on stdin.
    pub fn sendmail(&self, args: &[&str], input: &[u8]) -> Output {
        self.run_as("sendmail", args, input)
    }
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Assert the exit status, showing stderr when it differs.
#[track_caller]
pub fn assert_status(o: &Output, expected: i32) {
    assert_eq!(code(o), expected, "stderr: {}", stderr(o));
}

/// A one-line `esmtp: ...` message on stderr containing `needle`.
#[track_caller]
pub fn assert_one_line_error(o: &Output, needle: &str) {
    let err = stderr(o);
    assert!(err.starts_with("esmtp: "), "stderr: {err:?}");
    assert_eq!(err.trim_end().lines().count(), 1, "stderr: {err:?}");
    assert!(err.contains(needle), "{needle:?} not in {err:?}");
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}
