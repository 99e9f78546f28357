//! The files the package and install.sh install besides the binary: the
//! systemd user units (checked by `systemd-analyze verify`, and their
//! commands run as systemd would run them), the network hook (run with a
//! fake loginctl and systemctl, as NetworkManager and networkd-dispatcher
//! call it), install.sh's layout against the package's, the committed
//! shell completions and the sample esmtprc.

use crate::support;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::describe as show;
use support::recorder::Recorder;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_esmtp")
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

/// The `Key=` lines of a unit file.
fn unit_values(unit: &str, key: &str) -> Vec<String> {
    let text = fs::read_to_string(repo().join("packaging/systemd").join(unit)).unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(str::to_string)
        .collect()
}

/// The unit files with the binary's path pointing at the one under test.
fn units_for_test(dir: &Path) {
    for unit in ["esmtp-flush.service", "esmtp-flush.timer"] {
        let text = fs::read_to_string(repo().join("packaging/systemd").join(unit)).unwrap();
        fs::write(
            dir.join(unit),
            text.replace("/usr/bin/esmtp ", &format!("{} ", bin())),
        )
        .unwrap();
    }
}

fn analyze_verify(dir: &Path, runtime: &Path) -> Output {
    Command::new("systemd-analyze")
        .args(["verify", "--user"])
        .arg(dir.join("esmtp-flush.service"))
        .arg(dir.join("esmtp-flush.timer"))
        .env("XDG_RUNTIME_DIR", runtime)
        .current_dir(dir)
        .output()
        .expect("systemd-analyze (systemd) is installed by tests/setup/install-deps.sh")
}

#[test]
fn systemd_analyze_verifies_the_units() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tempfile::tempdir().unwrap();
    fs::set_permissions(runtime.path(), fs::Permissions::from_mode(0o700)).unwrap();
    units_for_test(dir.path());
    let o = analyze_verify(dir.path(), runtime.path());
    assert!(o.status.success(), "{}", show(&o));
    assert!(o.stderr.is_empty() && o.stdout.is_empty(), "{}", show(&o));

    // The check is real: a timer without a schedule is refused.
    let timer = dir.path().join("esmtp-flush.timer");
    let broken = fs::read_to_string(&timer)
        .unwrap()
        .replace("OnCalendar=*:0/5", "OnCalendar=every five minutes");
    fs::write(&timer, broken).unwrap();
    let o = analyze_verify(dir.path(), runtime.path());
    assert!(!o.status.success(), "{}", show(&o));

    // What the units promise.
    assert_eq!(unit_values("esmtp-flush.timer", "OnCalendar"), ["*:0/5"]);
    assert_eq!(
        unit_values("esmtp-flush.timer", "WantedBy"),
        ["timers.target"]
    );
    assert_eq!(unit_values("esmtp-flush.service", "Type"), ["oneshot"]);
    assert_eq!(
        unit_values("esmtp-flush.service", "SuccessExitStatus"),
        ["75"]
    );
}

/// A user's home with an esmtprc whose smarthost is 127.0.0.1:`port`.
fn home_with_queue(port: u16) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let rc = home.path().join(".esmtprc");
    fs::write(
        &rc,
        format!("hostname 127.0.0.1:{port}\ntimeout 10\nqueue enabled\n"),
    )
    .unwrap();
    fs::set_permissions(&rc, fs::Permissions::from_mode(0o600)).unwrap();
    home
}

/// Run a unit's command line (its words; the first is the binary) the way
/// the user manager does: no terminal, no input, the user's HOME.
fn run_unit_command(line: &str, home: &Path) -> Output {
    let line = line.replace("/usr/bin/esmtp ", &format!("{} ", bin()));
    let words: Vec<&str> = line.split_whitespace().collect();
    Command::new(words[0])
        .args(&words[1..])
        .env("HOME", home)
        .env_remove("XDG_CACHE_HOME")
        .env_remove("XDG_DATA_HOME")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn the_service_is_silent_with_nothing_queued_and_delivers_what_waits() {
    let condition = unit_values("esmtp-flush.service", "ExecCondition");
    let start = unit_values("esmtp-flush.service", "ExecStart");
    assert_eq!(condition, ["/usr/bin/esmtp queue status --quiet"]);
    assert_eq!(start, ["/usr/bin/esmtp queue flush"]);
    let port = support::free_port();
    let home = home_with_queue(port);

    // Nothing queued: the condition says "skip" (1..254) and prints
    // nothing, and the queue is not even created.
    let o = run_unit_command(&condition[0], home.path());
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(o.stdout.is_empty() && o.stderr.is_empty(), "{}", show(&o));
    assert!(!home.path().join(".local/share/esmtp/queue").exists());

    // The smarthost is down: the message is queued.
    let sent = support::run_with_input(
        Command::new(bin())
            .args(["-f", "me@example.org", "you@example.org"])
            .env("HOME", home.path())
            .env_remove("XDG_CACHE_HOME")
            .env_remove("XDG_DATA_HOME"),
        b"Subject: waiting\n\nfor the network\n",
    );
    assert!(sent.status.success(), "{}", show(&sent));
    let o = run_unit_command(&condition[0], home.path());
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(o.stdout.is_empty() && o.stderr.is_empty(), "{}", show(&o));

    // Still down: the flush exits 75 (SuccessExitStatus) and says why.
    let o = run_unit_command(&start[0], home.path());
    assert_eq!(o.status.code(), Some(75), "{}", show(&o));
    assert!(text(&o.stderr).contains("still queued"), "{}", show(&o));

    // Back: delivered, and the next condition skips again.
    let server = Recorder::on_port(port, 1);
    let o = run_unit_command(&start[0], home.path());
    assert!(o.status.success(), "{}", show(&o));
    assert!(o.stdout.is_empty(), "{}", show(&o));
    let sessions = server.sessions();
    assert_eq!(sessions.len(), 1);
    assert!(
        sessions[0].saw("RCPT TO:<you@example.org>"),
        "{:?}",
        sessions[0].commands
    );
    assert!(text(&sessions[0].data).contains("for the network"));
    let o = run_unit_command(&condition[0], home.path());
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(o.stdout.is_empty() && o.stderr.is_empty(), "{}", show(&o));

    // Without --quiet, status says it in words (and answers the same).
    let o = run_unit_command("/usr/bin/esmtp queue status", home.path());
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert_eq!(text(&o.stdout), "Mail queue is empty\n");
}

/// A fake systemd for the network hook: `loginctl list-users` prints the
/// `users` file; `systemctl` records its arguments in `calls` and answers
/// `is-active` with success for the users listed in `active`; with a
/// `hang` file it never answers.
struct FakeSystemd {
    dir: tempfile::TempDir,
}

impl FakeSystemd {
    fn new(users: &str, active: &[&str]) -> FakeSystemd {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        fs::create_dir(&bin).unwrap();
        let loginctl = "#!/bin/sh\necho \"loginctl $*\" >> \"$FAKE/calls\"\ncat \"$FAKE/users\"\n";
        let systemctl = r#"#!/bin/sh
echo "systemctl $*" >> "$FAKE/calls"
[ -e "$FAKE/hang" ] && exec sleep 60
case "$*" in
  *is-active*)
    for a in "$@"; do
      case $a in *@) grep -qx "${a%@}" "$FAKE/active" && exit 0 ;; esac
    done
    exit 3 ;;
esac
exit 0
"#;
        for (name, script) in [("loginctl", loginctl), ("systemctl", systemctl)] {
            let p = bin.join(name);
            fs::write(&p, script).unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        }
        fs::write(dir.path().join("users"), users).unwrap();
        fs::write(dir.path().join("active"), active.join("\n") + "\n").unwrap();
        FakeSystemd { dir }
    }

    /// Run the hook as a dispatcher would: `args`, and `env` on top of a
    /// PATH that finds the fakes first.
    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let path = format!("{}:/usr/bin:/bin", self.dir.path().join("bin").display());
        let mut cmd = Command::new(repo().join("packaging/network/esmtp-flush-on-network"));
        cmd.args(args)
            .env_clear()
            .env("PATH", path)
            .env("FAKE", self.dir.path())
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    fn calls(&self) -> Vec<String> {
        fs::read_to_string(self.dir.path().join("calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn reset(&self) {
        let _ = fs::remove_file(self.dir.path().join("calls"));
    }
}

const USERS: &str =
    " 1000 alice\n 1001 bob\n 1002 -rf\n 1003 mal@x\n x carol\n 1004 dave extra columns\n";

fn started(calls: &[String]) -> Vec<String> {
    calls
        .iter()
        .filter(|c| c.contains(" start "))
        .cloned()
        .collect()
}

#[test]
fn the_network_hook_starts_the_flush_for_users_who_enabled_the_timer() {
    let fake = FakeSystemd::new(USERS, &["alice", "dave"]);
    let expected = vec![
        "systemctl --user -M alice@ --no-block start esmtp-flush.service".to_string(),
        "systemctl --user -M dave@ --no-block start esmtp-flush.service".to_string(),
    ];
    // NetworkManager: INTERFACE ACTION.
    for args in [&["eth0", "up"][..], &["tun0", "vpn-up"][..]] {
        fake.reset();
        let o = fake.run(args, &[]);
        assert!(o.status.success(), "{}", show(&o));
        assert!(o.stdout.is_empty() && o.stderr.is_empty(), "{}", show(&o));
        let calls = fake.calls();
        assert_eq!(started(&calls), expected, "{calls:#?}");
        // Odd names never reach systemctl; everyone else is asked first.
        assert!(!calls
            .iter()
            .any(|c| c.contains("-rf") || c.contains("mal@x")));
        assert!(calls
            .contains(&"systemctl --user -M bob@ --quiet is-active esmtp-flush.timer".to_string()));
    }
    fake.reset();
    let o = fake.run(
        &["", "connectivity-change"],
        &[("CONNECTIVITY_STATE", "FULL")],
    );
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(started(&fake.calls()), expected);
    // networkd-dispatcher: no arguments, IFACE and STATE.
    fake.reset();
    let o = fake.run(&[], &[("IFACE", "wlan0"), ("STATE", "routable")]);
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(started(&fake.calls()), expected);
}

/// A dispatcher's call: arguments and environment.
type Event<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)]);

#[test]
fn the_network_hook_does_nothing_on_other_events() {
    let fake = FakeSystemd::new(USERS, &["alice"]);
    let cases: &[Event] = &[
        (&["eth0", "down"], &[]),
        (&["eth0", "pre-up"], &[]),
        (&["eth0", "dhcp4-change"], &[]),
        (&["lo", "up"], &[]),
        (
            &["", "connectivity-change"],
            &[("CONNECTIVITY_STATE", "LIMITED")],
        ),
        (&["none", "hostname"], &[]),
        (&[], &[("IFACE", "eth0"), ("STATE", "degraded")]),
        (&[], &[("IFACE", "lo"), ("STATE", "routable")]),
        (&[], &[]),
    ];
    for (args, env) in cases {
        let o = fake.run(args, env);
        assert!(o.status.success(), "{args:?} {env:?}: {}", show(&o));
        assert!(o.stdout.is_empty() && o.stderr.is_empty(), "{}", show(&o));
        assert_eq!(fake.calls(), Vec::<String>::new(), "{args:?} {env:?}");
    }
}

#[test]
fn the_network_hook_is_quiet_without_systemd_and_bounded_when_it_hangs() {
    // No loginctl on PATH (a system without systemd): nothing, quietly.
    let empty = tempfile::tempdir().unwrap();
    let o = Command::new(repo().join("packaging/network/esmtp-flush-on-network"))
        .args(["eth0", "up"])
        .env_clear()
        .env("PATH", empty.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", show(&o));
    assert!(o.stdout.is_empty() && o.stderr.is_empty(), "{}", show(&o));

    // A user manager that never answers holds the dispatcher for the
    // timeout only (networkd-dispatcher waits for its scripts).
    let fake = FakeSystemd::new(" 1000 alice\n", &["alice"]);
    fs::write(fake.dir.path().join("hang"), "").unwrap();
    let t = Instant::now();
    let o = fake.run(&["eth0", "up"], &[("ESMTP_HOOK_TIMEOUT", "1")]);
    let took = t.elapsed();
    assert!(o.status.success(), "{}", show(&o));
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert_eq!(started(&fake.calls()), Vec::<String>::new());
}

/// The package's file list, from Cargo.toml's cargo-deb assets: path in
/// the package -> Some(symlink target) or None for a file.
fn package_assets() -> BTreeMap<String, Option<String>> {
    let toml = fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let start = toml.find("\nassets = [").expect("cargo-deb assets");
    let body = &toml[start..toml[start..].find("\n]").map(|e| start + e).unwrap()];
    let quoted = |s: &str| -> Vec<String> {
        s.split('"')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    let mut out = BTreeMap::new();
    for line in body.lines().skip(1) {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("{ dest = ") {
            let q = quoted(rest);
            out.insert(q[0].clone(), Some(q[1].clone()));
        } else if line.starts_with('[') {
            let q = quoted(line);
            let mut dest = q[1].clone();
            if dest.ends_with('/') {
                dest.push_str(Path::new(&q[0]).file_name().unwrap().to_str().unwrap());
            }
            out.insert(dest, None);
        }
    }
    assert!(out.len() > 20, "{out:#?}");
    out
}

/// Where install.sh (PREFIX=/usr/local) puts what the package puts at
/// `dest`; None for what only the Debian package has.
fn local_place(dest: &str) -> Option<String> {
    let dest = dest.strip_suffix(".gz").unwrap_or(dest);
    if dest == "usr/lib/sendmail" || dest.ends_with("/copyright") {
        // A system path (install.sh --sendmail makes it); Debian's copyright file.
        return None;
    }
    for (pkg, local) in [
        ("usr/lib/NetworkManager/", "etc/NetworkManager/"),
        ("usr/lib/networkd-dispatcher/", "etc/networkd-dispatcher/"),
        ("usr/share/doc/esmtp-rs/", "usr/local/share/doc/esmtp/"),
        (
            "usr/share/zsh/vendor-completions/",
            "usr/local/share/zsh/site-functions/",
        ),
        ("usr/", "usr/local/"),
    ] {
        if let Some(rest) = dest.strip_prefix(pkg) {
            return Some(format!("{local}{rest}"));
        }
    }
    panic!("no /usr/local place for {dest}")
}

fn files_under(root: &Path) -> Vec<String> {
    let o = Command::new("find")
        .arg(root)
        .args([
            "(", "-type", "f", "-o", "-type", "l", ")", "-printf", "%P\\n",
        ])
        .output()
        .unwrap();
    let mut v: Vec<String> = text(&o.stdout).lines().map(str::to_string).collect();
    v.sort();
    v
}

fn install(dest: &Path, args: &[&str]) -> Output {
    Command::new("sh")
        .arg(repo().join("install.sh"))
        .args(args)
        .env("DESTDIR", dest)
        .env("ESMTP_BIN", bin())
        .env_remove("PREFIX")
        .output()
        .unwrap()
}

#[test]
fn install_sh_installs_the_packages_files_under_usr_local() {
    let dest = tempfile::tempdir().unwrap();
    let o = install(dest.path(), &[]);
    assert!(o.status.success(), "{}", show(&o));
    let mut expected: Vec<String> = package_assets()
        .keys()
        .filter_map(|d| local_place(d))
        .collect();
    expected.sort();
    assert_eq!(files_under(dest.path()), expected);

    // Same kinds, and every link leads to an installed file.
    for (pkg_dest, link) in package_assets() {
        let Some(local) = local_place(&pkg_dest) else {
            continue;
        };
        let path = dest.path().join(&local);
        let meta = fs::symlink_metadata(&path).unwrap();
        assert_eq!(meta.file_type().is_symlink(), link.is_some(), "{local}");
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&path).unwrap();
            let resolved = if target.is_absolute() {
                dest.path().join(target.strip_prefix("/").unwrap())
            } else {
                path.parent().unwrap().join(target)
            };
            assert!(resolved.exists(), "{local} -> {}", resolved.display());
        } else {
            let want = if local.contains("/bin/") || local.contains("/libexec/") {
                0o755
            } else {
                0o644
            };
            assert_eq!(meta.permissions().mode() & 0o7777, want, "{local}");
        }
    }

    // The units run this prefix's binary; the man pages and hook are the
    // repository's; the completions are what the binary prints.
    let service = fs::read_to_string(
        dest.path()
            .join("usr/local/lib/systemd/user/esmtp-flush.service"),
    )
    .unwrap();
    assert!(service.contains("ExecStart=/usr/local/bin/esmtp queue flush\n"));
    assert!(service.contains("ExecCondition=/usr/local/bin/esmtp queue status --quiet\n"));
    assert!(!service.contains("/usr/bin/esmtp"));
    for (installed, source) in [
        ("usr/local/share/man/man5/esmtprc.5", "man/esmtprc.5"),
        (
            "usr/local/libexec/esmtp/esmtp-flush-on-network",
            "packaging/network/esmtp-flush-on-network",
        ),
        (
            "usr/local/share/zsh/site-functions/_esmtp",
            "packaging/completions/_esmtp",
        ),
        (
            "usr/local/share/doc/esmtp/examples/sample.esmtprc",
            "packaging/sample.esmtprc",
        ),
    ] {
        assert_eq!(
            fs::read(dest.path().join(installed)).unwrap(),
            fs::read(repo().join(source)).unwrap(),
            "{installed}"
        );
    }
    assert_eq!(
        fs::read_link(
            dest.path()
                .join("etc/NetworkManager/dispatcher.d/90-esmtp-flush")
        )
        .unwrap(),
        PathBuf::from("/usr/local/libexec/esmtp/esmtp-flush-on-network")
    );

    // --sendmail adds the system names, pointing into the prefix.
    let dest = tempfile::tempdir().unwrap();
    let o = install(dest.path(), &["--sendmail"]);
    assert!(o.status.success(), "{}", show(&o));
    for name in [
        "usr/sbin/sendmail",
        "usr/lib/sendmail",
        "usr/bin/mailq",
        "usr/bin/newaliases",
    ] {
        assert_eq!(
            fs::read_link(dest.path().join(name)).unwrap(),
            PathBuf::from("/usr/local/bin/esmtp"),
            "{name}"
        );
    }
}

#[test]
fn the_committed_completions_are_what_the_binary_prints() {
    for (shell, file) in [
        ("bash", "esmtp.bash"),
        ("zsh", "_esmtp"),
        ("fish", "esmtp.fish"),
    ] {
        let o = Command::new(bin())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", show(&o));
        let committed = fs::read(repo().join("packaging/completions").join(file)).unwrap();
        assert!(
            o.stdout == committed,
            "packaging/completions/{file} is stale (the package ships it); regenerate it:\n  \
             cargo run -- completions {shell} > packaging/completions/{file}"
        );
    }
}

#[test]
fn the_sample_esmtprc_has_no_errors_and_names_the_timer() {
    let sample = repo().join("packaging/sample.esmtprc");
    let o = Command::new(bin())
        .args(["check", "--format", "json", "--no-permission-lints"])
        .arg(&sample)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let file = &report["files"][0];
    assert_eq!(file["errors"], 0, "{}", show(&o));
    // Only "program not found" for the example password commands, which
    // depend on the machine.
    for d in file["diagnostics"].as_array().unwrap() {
        assert_eq!(d["code"], "W014", "{d}");
    }
    let text = fs::read_to_string(&sample).unwrap();
    assert!(text.contains("systemctl --user enable --now esmtp-flush.timer"));
}

/// The man page text with the troff escapes that matter undone.
fn man_text(page: &str) -> String {
    fs::read_to_string(repo().join("man").join(page))
        .unwrap()
        .replace("\\-", "-")
        .replace("\\fR", "")
        .replace("\\fI", "")
        .replace("\\fB", "")
}

#[test]
fn the_docs_start_install_with_the_package_and_say_where_timer_and_hooks_live() {
    let readme = fs::read_to_string(repo().join("README.md")).unwrap();
    let install = &readme[readme.find("\n## Install\n").expect("an Install section")..];
    let first_block = &install[install.find("```sh\n").unwrap()..];
    let first_block = &first_block[..first_block[6..].find("```").unwrap()];
    assert!(first_block.contains("cargo deb"), "{first_block}");
    assert!(
        first_block.contains("apt install ./target/debian/esmtp-rs_"),
        "{first_block}"
    );
    let laptops = &readme[readme
        .find("\n## Queueing for laptops and dial-up\n")
        .expect("the laptops section")..];
    // The section ends at the next heading of its level, or with the file.
    let end = laptops[4..].find("\n## ").map_or(laptops.len(), |i| i + 4);
    let laptops = &laptops[..end];

    let places = [
        "/usr/lib/systemd/user/",
        "/usr/lib/NetworkManager/dispatcher.d/90-esmtp-flush",
        "/usr/lib/networkd-dispatcher/routable.d/90-esmtp-flush",
        "/usr/libexec/esmtp/esmtp-flush-on-network",
    ];
    let assets = package_assets();
    let esmtp1 = man_text("esmtp.1");
    let esmtprc5 = man_text("esmtprc.5");
    for place in places {
        assert!(
            assets.keys().any(|a| format!("/{a}").starts_with(place)),
            "{place} is not where the package puts it"
        );
        assert!(laptops.contains(place), "README lacks {place}");
        assert!(esmtp1.contains(place), "esmtp(1) lacks {place}");
    }
    for text in [laptops, esmtp1.as_str(), esmtprc5.as_str()] {
        assert!(text.contains("systemctl --user enable --now esmtp-flush.timer"));
    }
    assert!(esmtprc5.contains("/usr/lib/systemd/user/esmtp-flush.timer"));
}
