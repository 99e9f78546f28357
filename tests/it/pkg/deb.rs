//! The Debian package, end to end: built from this repository with
//! cargo-deb (Cargo.toml's `[package.metadata.deb]`), checked by lintian,
//! then installed into a minimal Debian 12 made by debootstrap, where it
//! replaces Debian's esmtp-run (another MTA), relays a message with
//! `sendmail -t` to a recording server on loopback, queues one while that
//! server is down and delivers it with the installed unit's command,
//! lists the queue with `mailq`, shows `man esmtprc`, and leaves no file
//! behind after `apt-get purge`.
//!
//! The package holds the binary this test run built (a debug build, put
//! where `cargo deb --no-build` looks for it), so the test does not pay
//! for a release build; everything else is exactly what `cargo deb` packs.
//!
//! The minimal system (debootstrap --variant=minbase, with man-db and
//! esmtp-run) is made once per machine and kept as a tarball under
//! /var/cache/esmtp-test (about 1m45s to make; unpacking it takes
//! seconds). Commands run in it through `unshare --mount` + `chroot`, with
//! /proc mounted in that private mount namespace only, so nothing stays
//! mounted when a command ends, whatever happens to the test.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;
use support::describe as show;
use support::recorder::Recorder;

const SUITE: &str = "bookworm";
/// What the minimal system gets besides minbase: man (for `man esmtprc`)
/// and esmtp 1.2's MTA package, for the package to replace.
const INCLUDE: &str = "man-db,esmtp-run";
const CACHE_DIR: &str = "/var/cache/esmtp-test";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

fn ok(o: Output, what: &str) -> Output {
    assert!(o.status.success(), "{what}: {}", show(&o));
    o
}

fn phase(start: &mut Instant, what: &str) {
    eprintln!("pkg_deb: {what}: {:.1?}", start.elapsed());
    *start = Instant::now();
}

/// `cargo deb --no-build` with this run's binary as target/release/esmtp.
fn build_deb(work: &Path) -> PathBuf {
    let target = work.join("target");
    fs::create_dir_all(target.join("release")).unwrap();
    fs::copy(env!("CARGO_BIN_EXE_esmtp"), target.join("release/esmtp")).unwrap();
    let deb = work.join("esmtp-rs.deb");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    ok(
        Command::new(cargo)
            .args(["deb", "--no-build", "--fast", "--output"])
            .arg(&deb)
            .env("CARGO_TARGET_DIR", &target)
            .current_dir(repo())
            .output()
            .expect("cargo-deb is installed by tests/setup/install-deps.sh"),
        "cargo deb",
    );
    deb
}

/// lintian's tags for the package: no errors; the warnings are the ones
/// README explains.
fn lintian(deb: &Path) {
    let o = Command::new("lintian")
        .args(["--fail-on", "error", "--no-tag-display-limit"])
        .arg(deb)
        .output()
        .expect("lintian is installed by tests/setup/install-deps.sh");
    let out = text(&o.stdout);
    eprintln!("lintian:\n{out}");
    assert!(o.status.success(), "lintian: {}", show(&o));
    let tags: BTreeSet<&str> = out
        .lines()
        .filter(|l| l.starts_with("E: ") || l.starts_with("W: "))
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    let known: BTreeSet<&str> = ["initial-upload-closes-no-bugs"].into();
    assert!(
        tags.is_subset(&known),
        "new lintian errors or warnings: {:?}",
        tags.difference(&known).collect::<Vec<_>>()
    );
}

/// The minimal system's tarball, made on first use.
fn base_tarball() -> PathBuf {
    let cache = Path::new(CACHE_DIR).join(format!(
        "debootstrap-{SUITE}-minbase-{}.tar",
        INCLUDE.replace(',', "+")
    ));
    if cache.is_file() {
        return cache;
    }
    fs::create_dir_all(CACHE_DIR).unwrap();
    let work = tempfile::Builder::new()
        .prefix("esmtp-debootstrap-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let root = work.path().join("root");
    ok(
        Command::new("debootstrap")
            .args(["--variant=minbase", &format!("--include={INCLUDE}"), SUITE])
            .arg(&root)
            .output()
            .expect("debootstrap is installed by tests/setup/install-deps.sh"),
        "debootstrap",
    );
    // Written aside and renamed: a concurrent run never reads half a file.
    let partial = cache.with_extension(format!("tar.{}", std::process::id()));
    ok(
        Command::new("tar")
            .arg("-C")
            .arg(&root)
            .args(["--numeric-owner", "-cf"])
            .arg(&partial)
            .arg(".")
            .output()
            .unwrap(),
        "tar the minimal system",
    );
    fs::rename(&partial, &cache).unwrap();
    cache
}

/// A minimal Debian in a temporary directory, removed on drop.
struct Chroot {
    dir: Option<tempfile::TempDir>,
}

impl Chroot {
    fn unpack(tarball: &Path) -> Chroot {
        let dir = tempfile::Builder::new()
            .prefix("esmtp-chroot-")
            .tempdir_in("/var/tmp")
            .unwrap();
        ok(
            Command::new("tar")
                .arg("-C")
                .arg(dir.path())
                .args(["--numeric-owner", "-xpf"])
                .arg(tarball)
                .output()
                .unwrap(),
            "unpack the minimal system",
        );
        Chroot { dir: Some(dir) }
    }

    fn root(&self) -> &Path {
        self.dir
            .as_ref()
            .map(|d| d.path())
            .unwrap_or(Path::new("/nonexistent"))
    }

    fn path(&self, inside: &str) -> PathBuf {
        self.root().join(inside.trim_start_matches('/'))
    }

    /// Run `argv` inside, with /proc mounted in a private mount namespace.
    fn command(&self, argv: &[&str]) -> Command {
        let mut c = Command::new("unshare");
        c.args(["--mount", "--fork", "sh", "-c"])
            .arg(r#"mount -t proc proc "$0/proc" && exec chroot "$0" "$@""#)
            .arg(self.root())
            .args(argv)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("HOME", "/tmp/home")
            .env("LANG", "C.UTF-8")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, argv: &[&str]) -> Output {
        self.command(argv).output().unwrap()
    }

    fn run_with_input(&self, argv: &[&str], input: &[u8]) -> Output {
        support::run_with_input(&mut self.command(argv), input)
    }

    /// Every path of the system with its type and mode, except the
    /// virtual file systems, /tmp (the test's own files), and the package
    /// managers' bookkeeping (their databases, caches and logs change with
    /// every install and removal, and man-db's index with every page).
    fn files(&self) -> BTreeMap<String, String> {
        const SKIP: &[&str] = &[
            "proc",
            "dev",
            "sys",
            "run",
            "tmp",
            "var/lib/dpkg",
            "var/lib/apt",
            "var/cache/apt",
            "var/cache/debconf",
            "var/cache/man",
            "var/log",
        ];
        let o = ok(
            Command::new("find")
                .arg(self.root())
                .args(["-xdev", "-mindepth", "1", "-printf", "%P\t%y %m\n"])
                .output()
                .unwrap(),
            "find",
        );
        text(&o.stdout)
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .filter(|(p, _)| {
                !SKIP
                    .iter()
                    .any(|s| *p == *s || p.starts_with(&format!("{s}/")))
            })
            .map(|(p, k)| (p.to_string(), k.to_string()))
            .collect()
    }

    /// The files a package owns (`dpkg -L`), without the leading slash.
    fn package_files(&self, package: &str) -> BTreeSet<String> {
        let o = ok(self.run(&["dpkg", "-L", package]), "dpkg -L");
        text(&o.stdout)
            .lines()
            .map(|l| l.trim_start_matches('/').to_string())
            .filter(|l| !l.is_empty())
            .collect()
    }

    fn status(&self, package: &str) -> String {
        let o = self.run(&["dpkg-query", "-W", "-f", "${Status}", package]);
        text(&o.stdout)
    }

    fn write(&self, inside: &str, content: &str, mode: u32) {
        let p = self.path(inside);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, content).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    }
}

impl Drop for Chroot {
    fn drop(&mut self) {
        // Mounts live in each command's own namespace; should one ever be
        // visible here, leave the directory rather than delete through it.
        let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let root = self.root().to_string_lossy().into_owned();
        if mounts.lines().any(|l| l.contains(&root)) {
            eprintln!("pkg_deb: something is mounted under {root}; leaving it there");
            if let Some(d) = self.dir.take() {
                let _ = d.keep();
            }
        }
    }
}

fn rc(port: u16) -> String {
    format!("hostname 127.0.0.1:{port}\ntimeout 10\nqueue enabled\n")
}

#[test]
fn the_package_installs_works_and_purges_cleanly_in_a_minimal_debian() {
    let mut t = Instant::now();
    let work = tempfile::tempdir().unwrap();
    let deb = build_deb(work.path());
    phase(&mut t, "cargo deb");
    lintian(&deb);
    phase(&mut t, "lintian");
    let tarball = base_tarball();
    phase(&mut t, "minimal system (debootstrap or cache)");
    let sys = Chroot::unpack(&tarball);
    phase(&mut t, "unpack");

    // Before: esmtp 1.2 is the MTA.
    assert_eq!(sys.status("esmtp-run"), "install ok installed");
    let replaced: BTreeSet<String> = sys
        .package_files("esmtp")
        .union(&sys.package_files("esmtp-run"))
        .cloned()
        .collect();
    let before = sys.files();
    fs::copy(&deb, sys.path("/tmp/esmtp-rs.deb")).unwrap();

    // Installing replaces it.
    let o = ok(
        sys.run(&[
            "apt-get",
            "install",
            "-y",
            "--no-install-recommends",
            "/tmp/esmtp-rs.deb",
        ]),
        "apt-get install",
    );
    phase(&mut t, "apt-get install");
    let out = text(&o.stdout);
    assert!(out.contains("esmtp-run"), "apt removes esmtp-run:\n{out}");
    assert_eq!(sys.status("esmtp-rs"), "install ok installed");
    for gone in ["esmtp-run", "esmtp"] {
        assert_ne!(sys.status(gone), "install ok installed", "{gone}");
    }
    for name in [
        "/usr/sbin/sendmail",
        "/usr/lib/sendmail",
        "/usr/bin/mailq",
        "/usr/bin/newaliases",
    ] {
        let o = ok(sys.run(&["readlink", "-f", name]), "readlink");
        assert_eq!(text(&o.stdout).trim(), "/usr/bin/esmtp", "{name}");
    }
    for file in [
        "/usr/share/man/man1/esmtp.1.gz",
        "/usr/share/man/man5/esmtprc.5.gz",
        "/usr/share/bash-completion/completions/esmtp",
        "/usr/share/zsh/vendor-completions/_esmtp",
        "/usr/share/fish/vendor_completions.d/esmtp.fish",
        "/usr/share/doc/esmtp-rs/README.md",
        "/usr/share/doc/esmtp-rs/examples/sample.esmtprc",
        "/usr/share/doc/esmtp-rs/copyright",
        "/usr/share/doc/esmtp-rs/changelog.Debian.gz",
        "/usr/lib/systemd/user/esmtp-flush.service",
        "/usr/lib/systemd/user/esmtp-flush.timer",
    ] {
        assert!(sys.path(file).is_file(), "{file} installed");
    }
    for hook in [
        "/usr/lib/NetworkManager/dispatcher.d/90-esmtp-flush",
        "/usr/lib/networkd-dispatcher/routable.d/90-esmtp-flush",
    ] {
        let o = ok(sys.run(&["test", "-x", hook]), hook);
        drop(o);
        let o = ok(sys.run(&["readlink", "-f", hook]), "readlink");
        assert_eq!(
            text(&o.stdout).trim(),
            "/usr/libexec/esmtp/esmtp-flush-on-network"
        );
    }

    // sendmail -t relays to a server on loopback.
    let server = Recorder::start(1);
    sys.write("/tmp/home/.esmtprc", &rc(server.port), 0o600);
    let o = ok(
        sys.run_with_input(
            &["/usr/sbin/sendmail", "-t"],
            b"From: alice@example.org\nTo: bob@example.org\nSubject: from the package\n\nhello from the chroot\n",
        ),
        "sendmail -t",
    );
    drop(o);
    let got = server.sessions();
    assert_eq!(got.len(), 1);
    assert!(
        got[0].saw("MAIL FROM:<alice@example.org>"),
        "{:?}",
        got[0].commands
    );
    assert!(
        got[0].saw("RCPT TO:<bob@example.org>"),
        "{:?}",
        got[0].commands
    );
    let data = text(&got[0].data);
    assert!(data.contains("Subject: from the package\r\n"), "{data}");
    assert!(
        data.ends_with("\r\n\r\nhello from the chroot\r\n"),
        "{data}"
    );
    phase(&mut t, "sendmail -t");

    // With the server down the message waits; mailq lists it; the unit's
    // own command delivers it once the server is back.
    let port = support::free_port();
    sys.write("/tmp/home/.esmtprc", &rc(port), 0o600);
    let o = ok(
        sys.run_with_input(
            &[
                "/usr/sbin/sendmail",
                "-f",
                "alice@example.org",
                "carol@example.org",
            ],
            b"Subject: queued\n\nwaiting for the network\n",
        ),
        "sendmail, server down",
    );
    assert!(text(&o.stderr).contains("queued"), "{}", show(&o));
    let o = ok(sys.run(&["mailq"]), "mailq");
    let listing = text(&o.stdout);
    assert!(listing.contains("to: carol@example.org"), "{listing}");
    assert!(listing.contains("-- 1 message queued"), "{listing}");
    let o = sys.run(&["esmtp", "queue", "status", "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));

    let unit = fs::read_to_string(sys.path("/usr/lib/systemd/user/esmtp-flush.service")).unwrap();
    let exec_start: Vec<&str> = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart")
        .split_whitespace()
        .collect();
    assert_eq!(exec_start[0], "/usr/bin/esmtp");
    let server = Recorder::on_port(port, 1);
    ok(sys.run(&exec_start), "the unit's ExecStart");
    let got = server.sessions();
    assert_eq!(got.len(), 1);
    assert!(got[0].saw("RCPT TO:<carol@example.org>"));
    assert!(text(&got[0].data).contains("waiting for the network"));
    let o = ok(sys.run(&["mailq"]), "mailq");
    assert_eq!(text(&o.stdout), "Mail queue is empty\n");
    let o = sys.run(&["esmtp", "queue", "status", "--quiet"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(o.stdout.is_empty() && o.stderr.is_empty(), "{}", show(&o));
    phase(&mut t, "queue and flush");

    // The manual pages, through man-db.
    let man = |args: &[&str]| -> String {
        let mut argv = vec!["env", "MANPAGER=cat", "MANWIDTH=80", "man"];
        argv.extend_from_slice(args);
        text(&ok(sys.run(&argv), "man").stdout)
    };
    let page = man(&["esmtprc"]);
    assert!(page.contains("ESMTPRC(5)"), "{page}");
    assert!(page.contains("esmtp-flush.timer"), "{page}");
    let page = man(&["8", "sendmail"]);
    assert!(page.contains("ESMTP(1)"), "{page}");
    assert!(
        page.contains("/usr/lib/systemd/user/esmtp-flush.timer"),
        "{page}"
    );
    assert!(
        page.contains("/usr/lib/NetworkManager/dispatcher.d/90-esmtp-flush"),
        "{page}"
    );
    phase(&mut t, "man");

    // Purging leaves nothing behind: nothing added, and nothing gone but
    // the files of the MTA it replaced.
    ok(
        sys.run(&["apt-get", "purge", "-y", "esmtp-rs"]),
        "apt-get purge",
    );
    phase(&mut t, "apt-get purge");
    assert_eq!(sys.status("esmtp-rs"), "");
    let after = sys.files();
    let added: Vec<&String> = after.keys().filter(|p| !before.contains_key(*p)).collect();
    assert!(added.is_empty(), "left behind by purge: {added:#?}");
    let changed: Vec<&String> = after
        .iter()
        .filter(|(p, kind)| before.get(*p).is_some_and(|b| b != *kind))
        .map(|(p, _)| p)
        .collect();
    assert!(changed.is_empty(), "changed type or mode: {changed:#?}");
    let removed: Vec<&String> = before
        .keys()
        .filter(|p| !after.contains_key(*p) && !replaced.contains(*p))
        .collect();
    assert!(removed.is_empty(), "removed, not esmtp's: {removed:#?}");
    let _ = std::io::stderr().flush();
}
