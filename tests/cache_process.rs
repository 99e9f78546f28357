//! The compiled-plan cache seen from separate processes, as sendmail
//! invocations use it: each scenario runs this test binary again as a child
//! (`ESMTP_CACHE_CHILD=...`) with HOME and XDG_CACHE_HOME pointed at a
//! temporary directory, and the child loads the plan through the public API
//! and the real compiler, printing what it got as one JSON line.
//!
//! `harness = false`: `main` is either the child or the scenario runner.

#[path = "it/support/plan_files.rs"]
mod plan_files;

use esmtp::cache::{self, Freshness};
use plan_files::rewrite_keeping_mtime;
use serde_json::{json, Value};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const CHILD: &str = "ESMTP_CACHE_CHILD";
const CONFIG: &str = "ESMTP_CACHE_CONFIG";

fn main() {
    if let Ok(mode) = std::env::var(CHILD) {
        child(&mode);
        return;
    }
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let scenarios: &[(&str, fn())] = &[
        (
            "edit_then_load_uses_new_settings",
            edit_then_load_uses_new_settings,
        ),
        (
            "same_size_edit_in_the_same_second_is_seen",
            same_size_edit_in_the_same_second_is_seen,
        ),
        (
            "flipped_byte_is_ignored_and_rebuilt",
            flipped_byte_is_ignored_and_rebuilt,
        ),
        ("truncated_cache_is_ignored", truncated_cache_is_ignored),
        (
            "widened_permissions_are_ignored",
            widened_permissions_are_ignored,
        ),
        ("foreign_owner_is_ignored", foreign_owner_is_ignored),
        (
            "concurrent_invocations_succeed_and_leave_a_valid_cache",
            concurrent_invocations_succeed_and_leave_a_valid_cache,
        ),
        (
            "read_only_or_missing_cache_dir_still_works",
            read_only_or_missing_cache_dir_still_works,
        ),
        (
            "selection_reads_only_what_it_needs",
            selection_reads_only_what_it_needs,
        ),
        (
            "compile_command_writes_the_cache",
            compile_command_writes_the_cache,
        ),
        (
            "default_file_shares_the_cache_and_keeps_its_checks",
            default_file_shares_the_cache_and_keeps_its_checks,
        ),
    ];
    let mut failed = Vec::new();
    let mut ran = 0;
    for (name, f) in scenarios {
        if !filter.is_empty() && !filter.iter().any(|x| name.contains(x.as_str())) {
            continue;
        }
        ran += 1;
        print!("test {name} ... ");
        let _ = std::io::stdout().flush();
        match std::panic::catch_unwind(f) {
            Ok(()) => println!("ok"),
            Err(_) => {
                println!("FAILED");
                failed.push(*name);
            }
        }
    }
    println!("\n{ran} scenarios, {} failed", failed.len());
    if !failed.is_empty() {
        eprintln!("failed: {failed:?}");
        std::process::exit(101);
    }
}

/// The child: one sendmail-like load, reported as a JSON line (last line of
/// stdout; `-v` lines come before it).
fn child(mode: &str) {
    let config = std::env::var_os(CONFIG).map(PathBuf::from);
    let verbose = std::env::var_os("ESMTP_CACHE_VERBOSE").is_some();
    let cfg = config.as_deref();
    let out = if mode == "load" {
        match cache::load_plan(cfg, verbose) {
            Ok(plan) => json!({"ok": true, "plan": plan}),
            Err(f) => json!({"ok": false, "status": f.status, "message": f.message}),
        }
    } else if let Some(sender) = mode.strip_prefix("sender:") {
        match cache::load_plan_for(cfg, verbose, Some(sender)) {
            Ok(s) => json!({"ok": true, "plan": s.plan, "numbers": s.numbers, "total": s.total}),
            Err(f) => json!({"ok": false, "status": f.status, "message": f.message}),
        }
    } else if mode == "fresh" {
        let f = cache::freshness(cfg);
        json!({"ok": true, "fresh": f.is_fresh(), "text": f.to_string(),
               "missing": matches!(f, Freshness::Missing { .. })})
    } else if mode == "compile" {
        match cache::compile_to_cache(cfg, verbose) {
            Ok(p) => json!({"ok": true, "cache": p}),
            Err(f) => json!({"ok": false, "status": f.status, "message": f.message}),
        }
    } else {
        json!({"ok": false, "message": "unknown mode"})
    };
    println!("{out}");
}

/// A temporary HOME with a configuration file in it.
struct Home {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Home {
    fn new(config_text: &str) -> Home {
        // Under /tmp so that another user can be given access to it.
        let dir = tempfile::Builder::new()
            .prefix("esmtp-cache-")
            .tempdir_in("/tmp")
            .unwrap();
        let config = dir.path().join("esmtprc");
        fs::write(&config, config_text).unwrap();
        fs::set_permissions(&config, fs::Permissions::from_mode(0o600)).unwrap();
        Home { dir, config }
    }

    fn cache_home(&self) -> PathBuf {
        self.dir.path().join("xdg-cache")
    }

    fn cache_dir(&self) -> PathBuf {
        self.cache_home().join("esmtp")
    }

    /// The one cache file (there is one per source).
    fn cache_file(&self) -> PathBuf {
        plan_files::only_plan_file(&self.cache_dir())
    }

    fn command(&self, mode: &str, verbose: bool) -> Command {
        let mut c = Command::new(std::env::current_exe().unwrap());
        if self.config.file_name().is_some_and(|n| n == ".esmtprc") {
            // Sendmail mode: no -C, the file is found in HOME.
            c.env_remove(CONFIG);
        } else {
            c.env(CONFIG, &self.config);
        }
        c.env(CHILD, mode)
            .env("HOME", self.dir.path())
            .env("XDG_CACHE_HOME", self.cache_home())
            .stdin(Stdio::null());
        if verbose {
            c.env("ESMTP_CACHE_VERBOSE", "1");
        }
        c
    }

    /// Run a child; returns its -v lines and its JSON answer.
    fn run_cmd(mut c: Command) -> (Vec<String>, Value) {
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "child failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let last = lines.pop().expect("child printed nothing");
        (lines, serde_json::from_str(&last).unwrap())
    }

    fn run(&self, mode: &str, verbose: bool) -> (Vec<String>, Value) {
        Self::run_cmd(self.command(mode, verbose))
    }

    /// Load the plan as a submission does; returns -v lines and the plan.
    fn load(&self) -> (Vec<String>, Value) {
        let (lines, v) = self.run("load", true);
        assert_eq!(v["ok"], true, "{v}");
        (lines, v["plan"].clone())
    }

    fn fresh(&self) -> bool {
        let (_, v) = self.run("fresh", false);
        v["fresh"].as_bool().unwrap()
    }
}

fn config(host: &str, port: u16) -> String {
    format!(
        "# two identities\n\
         identity alice@example.org\n  hostname {host}:{port}\n  username alice\n  password s3cret\n  starttls required\n\
         identity bob@example.net\n  hostname bob.example.net:587\n  default\n"
    )
}

fn relay_of(plan: &Value, address: &str) -> String {
    let id = plan["identities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["address"] == address)
        .unwrap_or_else(|| panic!("no identity {address} in {plan}"));
    format!(
        "{}:{}",
        id["relay"]["host"].as_str().unwrap(),
        id["relay"]["port"]
    )
}

fn edit_then_load_uses_new_settings() {
    let home = Home::new(&config("one.example.org", 25));
    let (_, plan) = home.load();
    assert_eq!(relay_of(&plan, "alice@example.org"), "one.example.org:25");
    assert!(home.fresh());
    let cache = home.cache_file();
    assert_eq!(fs::metadata(&cache).unwrap().mode() & 0o777, 0o600);
    assert_eq!(
        fs::metadata(home.cache_dir()).unwrap().mode() & 0o777,
        0o700
    );
    // An edit that changes the size.
    fs::write(&home.config, config("two.example.org", 2525)).unwrap();
    assert!(!home.fresh());
    let (_, plan) = home.load();
    assert_eq!(relay_of(&plan, "alice@example.org"), "two.example.org:2525");
    assert!(home.fresh());
    // Loaded from the cache now: no -v line, same plan.
    let (lines, again) = home.load();
    assert!(lines.is_empty(), "{lines:?}");
    assert_eq!(again, plan);
}

fn same_size_edit_in_the_same_second_is_seen() {
    let home = Home::new(&config("one.example.org", 25));
    let (_, plan) = home.load();
    assert_eq!(relay_of(&plan, "alice@example.org"), "one.example.org:25");
    for (host, port) in [("two.example.org", 26), ("six.example.org", 26)] {
        rewrite_keeping_mtime(&home.config, &config(host, port));
        let (_, plan) = home.load();
        assert_eq!(
            relay_of(&plan, "alice@example.org"),
            format!("{host}:{port}")
        );
    }
}

fn expect_ignored_once(home: &Home) {
    let (lines, plan) = home.load();
    assert_eq!(relay_of(&plan, "alice@example.org"), "one.example.org:25");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("recompiling"), "{lines:?}");
    assert!(home.fresh());
    let (lines, _) = home.load();
    assert!(lines.is_empty(), "{lines:?}");
}

fn flipped_byte_is_ignored_and_rebuilt() {
    let home = Home::new(&config("one.example.org", 25));
    home.load();
    let cache = home.cache_file();
    let good = fs::read(&cache).unwrap();
    // A byte in the header, one in the middle, the last one.
    for at in [20, good.len() / 2, good.len() - 1] {
        let mut bad = good.clone();
        bad[at] ^= 0x04;
        fs::write(&cache, &bad).unwrap();
        assert!(!home.fresh(), "flip at {at} not detected");
        expect_ignored_once(&home);
    }
}

fn truncated_cache_is_ignored() {
    let home = Home::new(&config("one.example.org", 25));
    home.load();
    let cache = home.cache_file();
    let good = fs::read(&cache).unwrap();
    for len in [0, 10, good.len() / 2, good.len() - 1] {
        fs::write(&cache, &good[..len]).unwrap();
        expect_ignored_once(&home);
    }
}

fn widened_permissions_are_ignored() {
    let home = Home::new(&config("one.example.org", 25));
    home.load();
    let cache = home.cache_file();
    fs::set_permissions(&cache, fs::Permissions::from_mode(0o644)).unwrap();
    expect_ignored_once(&home);
    assert_eq!(fs::metadata(&cache).unwrap().mode() & 0o777, 0o600);
    // The directory opened to others: not trusted until it is private again.
    fs::set_permissions(home.cache_dir(), fs::Permissions::from_mode(0o755)).unwrap();
    assert!(!home.fresh());
    expect_ignored_once(&home);
    assert_eq!(
        fs::metadata(home.cache_dir()).unwrap().mode() & 0o777,
        0o700
    );
}

fn foreign_owner_is_ignored() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("(foreign_owner_is_ignored needs root to chown; checked by unit tests)");
        return;
    }
    let home = Home::new(&config("one.example.org", 25));
    home.load();
    let cache = home.cache_file();
    std::os::unix::fs::chown(&cache, Some(65534), Some(65534)).unwrap();
    expect_ignored_once(&home);
    assert_eq!(fs::metadata(&cache).unwrap().uid(), 0);
}

fn concurrent_invocations_succeed_and_leave_a_valid_cache() {
    let home = Home::new(&config("one.example.org", 25));
    for round in 0..3 {
        let host = format!("r{round}.example.org");
        fs::write(&home.config, config(&host, 25)).unwrap();
        let children: Vec<_> = (0..6)
            .map(|i| {
                let mode = if i % 2 == 0 {
                    "load"
                } else {
                    "sender:alice@EXAMPLE.org"
                };
                home.command(mode, false)
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert!(out.status.success());
            let text = String::from_utf8(out.stdout).unwrap();
            let v: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
            assert_eq!(v["ok"], true, "{v}");
            assert_eq!(
                relay_of(&v["plan"], "alice@example.org"),
                format!("{host}:25")
            );
        }
        assert!(home.fresh());
        let leftovers: Vec<_> = fs::read_dir(home.cache_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().starts_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}

fn read_only_or_missing_cache_dir_still_works() {
    // The cache directory cannot be created: a file is in its way.
    let home = Home::new(&config("one.example.org", 25));
    fs::write(home.cache_home(), "not a directory").unwrap();
    for _ in 0..2 {
        let (lines, plan) = home.load();
        assert_eq!(relay_of(&plan, "alice@example.org"), "one.example.org:25");
        assert!(lines.iter().any(|l| l.contains("not cached")), "{lines:?}");
    }
    // A read-only cache directory, for a user who cannot override it.
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let home = Home::new(&config("one.example.org", 25));
    let nobody = 65534;
    fs::create_dir_all(home.cache_dir()).unwrap();
    for p in [
        home.dir.path().to_path_buf(),
        home.config.clone(),
        home.cache_home(),
        home.cache_dir(),
    ] {
        std::os::unix::fs::chown(&p, Some(nobody), Some(nobody)).unwrap();
    }
    fs::set_permissions(home.cache_dir(), fs::Permissions::from_mode(0o500)).unwrap();
    use std::os::unix::process::CommandExt;
    for _ in 0..2 {
        let mut c = home.command("load", true);
        c.uid(nobody).gid(nobody);
        let (lines, v) = Home::run_cmd(c);
        assert_eq!(v["ok"], true, "{v}");
        assert_eq!(
            relay_of(&v["plan"], "alice@example.org"),
            "one.example.org:25"
        );
        assert!(lines.iter().any(|l| l.contains("not cached")), "{lines:?}");
    }
    assert_eq!(fs::read_dir(home.cache_dir()).unwrap().count(), 0);
}

fn selection_reads_only_what_it_needs() {
    let home = Home::new(&config("one.example.org", 25));
    for _ in 0..2 {
        // First compiled, then from the cache: the same answer.
        let (_, v) = home.run("sender:Alice Example <alice@EXAMPLE.ORG>", false);
        assert_eq!(v["ok"], true, "{v}");
        assert_eq!(v["total"], 2);
        assert_eq!(v["numbers"], json!([0, 1]));
        let (_, v) = home.run("sender:carol@example.org", false);
        assert_eq!(v["numbers"], json!([1]));
        assert_eq!(
            relay_of(&v["plan"], "bob@example.net"),
            "bob.example.net:587"
        );
        assert_eq!(v["plan"]["default_identity"], 0);
    }
}

fn compile_command_writes_the_cache() {
    let home = Home::new(&config("one.example.org", 25));
    let (_, v) = home.run("fresh", false);
    assert_eq!(v["missing"], true, "{v}");
    let (_, v) = home.run("compile", false);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(Path::new(v["cache"].as_str().unwrap()), home.cache_file());
    assert!(home.fresh());
    // A broken configuration: compile fails with 78 and writes nothing new.
    fs::write(&home.config, "identity\n hostname :x:y\n").unwrap();
    let (_, v) = home.run("compile", false);
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["status"], 78);
    assert!(!home.fresh());
}

fn default_file_shares_the_cache_and_keeps_its_checks() {
    let mut home = Home::new(&config("one.example.org", 25));
    let rc = home.dir.path().join(".esmtprc");
    fs::rename(&home.config, &rc).unwrap();
    // `esmtp compile ~/.esmtprc`, then a submission in sendmail mode (the
    // file found in HOME): the cache written by the first is used.
    let explicit = Home::run_cmd({
        let mut c = home.command("compile", false);
        c.env(CONFIG, &rc);
        c
    });
    assert_eq!(explicit.1["ok"], true, "{}", explicit.1);
    home.config = rc.clone();
    let (lines, plan) = home.load();
    assert!(lines.is_empty(), "{lines:?}");
    assert_eq!(relay_of(&plan, "alice@example.org"), "one.example.org:25");
    assert!(home.fresh());
    // The permission check on ~/.esmtprc still applies with a valid cache.
    fs::set_permissions(&rc, fs::Permissions::from_mode(0o644)).unwrap();
    let (_, v) = home.run("load", false);
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["status"], 78);
    assert!(v["message"].as_str().unwrap().contains("0644"), "{v}");
}
