//! Issue 13 §8, the compiler half: compiling any file under the 4 MiB
//! limit has bounded memory and time, degenerate input included. Each
//! generated file (just under the limit) is checked by the built binary
//! under `/usr/bin/time -f %M` (the peak RSS of that process alone: the
//! `ru_maxrss` of a child forked from this large test process would include
//! ours at fork time), and the large valid ones are dumped, compiled into
//! the cache and routed from it. Peak RSS must stay under 128 MB and the
//! output small; the time is only bounded loosely here (a debug build on a
//! loaded machine) and reported: the release figures are in ARCHITECTURE.md.

use esmtp::config::{self, Options, MAX_FILE_BYTES};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const LIMIT_KB: u64 = 128 * 1024;
/// Far above what a run takes; catches work that is not bounded.
const LOOSE: Duration = Duration::from_secs(90);
const SIZE: usize = MAX_FILE_BYTES - 64;

/// `unit` repeated to fill the file.
fn fill(unit: &str) -> Vec<u8> {
    unit.as_bytes().iter().copied().cycle().take(SIZE).collect()
}

/// `head`, then `unit` repeated, then `tail`, to fill the file.
fn around(head: &str, unit: &str, tail: &str) -> Vec<u8> {
    let mut v = head.as_bytes().to_vec();
    let n = SIZE - head.len() - tail.len();
    v.extend(unit.as_bytes().iter().copied().cycle().take(n));
    v.extend_from_slice(tail.as_bytes());
    v
}

/// Lines made by `line(i)` until the file is full.
fn lines(line: impl Fn(usize) -> String) -> Vec<u8> {
    let mut v = Vec::with_capacity(SIZE);
    for i in 0.. {
        let l = line(i);
        if v.len() + l.len() > SIZE {
            break;
        }
        v.extend_from_slice(l.as_bytes());
    }
    v
}

fn hostile() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("equals", fill("=")),
        ("equals-lines", fill("=\n")),
        ("keywords", fill("hostname ")),
        ("keyword-lines", fill("hostname\n")),
        ("defaults", fill("default ")),
        ("force", fill("force ")),
        ("same-identity", fill("identity a@b\n")),
        (
            "identities",
            lines(|i| format!("identity u{i}@example.org\nhostname h{i}\nusername u\npass p\n")),
        ),
        ("short-identities", lines(|i| format!("identity {i:x}\n"))),
        ("semicolons", fill(";")),
        ("quotes", fill("\"")),
        ("single-quotes", fill("'")),
        ("comment", around("#", "#", "")),
        ("comment-lines", fill("# comment\n")),
        ("escapes", around("helo \"", "\\x41", "\"\n")),
        ("escapes-bare", fill("\\x41")),
        ("huge-token", fill("a")),
        ("huge-value", around("helo ", "a", "\n")),
        ("words", fill("a ")),
        ("word-lines", fill("a\n")),
        ("numbers", fill("1 ")),
        ("passwords", fill("pass x ")),
        ("password-lines", fill("password x\n")),
        ("bad-choices", fill("starttls yes\n")),
        ("multi-line-strings", fill("preconnect \"a\nb\" ")),
        ("one-string", around("preconnect \"", "\n", "\"\n")),
        ("unclosed-quotes", fill("helo \"a\n")),
        ("stray-words", fill("helo a b c d e f g\n")),
        ("not-utf8", vec![0xff; SIZE]),
        ("nul", vec![0u8; SIZE]),
        ("control-values", fill("helo \"a\\r\\nb\"\n")),
    ]
}

struct Run {
    status: Option<i32>,
    rss_kb: u64,
    took: Duration,
    stdout: usize,
}

/// Run the binary under `/usr/bin/time -f %M`: its exit status, peak RSS
/// (KB), time and output size.
fn measured(args: &[&str], home: &Path) -> Run {
    let start = Instant::now();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(env!("CARGO_BIN_EXE_esmtp"))
        .args(args)
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .output()
        .expect("/usr/bin/time (package time, tests/setup/install-deps.sh)");
    let took = start.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let rss_kb = stderr
        .lines()
        .last()
        .and_then(|l| l.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no RSS from /usr/bin/time: {stderr}"));
    // `time` reports the status of the command it ran.
    let status = if stderr.contains("Command terminated by signal") {
        None
    } else {
        out.status.code()
    };
    Run {
        status,
        rss_kb,
        took,
        stdout: out.stdout.len(),
    }
}

fn bounded(what: &str, r: &Run, statuses: &[i32]) {
    eprintln!(
        "{what:55} {:>6} KB {:>7.2} s {:>8} bytes out, status {:?}",
        r.rss_kb,
        r.took.as_secs_f64(),
        r.stdout,
        r.status
    );
    assert!(
        r.status.is_some_and(|s| statuses.contains(&s)),
        "{what}: status {:?}",
        r.status
    );
    assert!(r.rss_kb < LIMIT_KB, "{what}: {} KB", r.rss_kb);
    assert!(r.took < LOOSE, "{what}: {:?}", r.took);
}

/// Check each file of `files` (a part of [`hostile`]: the parts run in
/// parallel).
fn check_each(files: impl Iterator<Item = (&'static str, Vec<u8>)>) {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    for (name, bytes) in files {
        assert!(bytes.len() <= MAX_FILE_BYTES && bytes.len() > MAX_FILE_BYTES - 100);
        let path = h.join(format!("{name}.esmtprc"));
        std::fs::write(&path, &bytes).unwrap();
        let p = path.to_str().unwrap();
        let r = measured(&["check", "--no-permission-lints", p], h);
        bounded(&format!("check {name}"), &r, &[0, 1]);
        // What is shown is bounded too (50 diagnostics, each with a
        // snippet cut to a few lines of at most a few hundred bytes).
        assert!(r.stdout < 256 * 1024, "{name}: {} bytes", r.stdout);
        std::fs::remove_file(&path).unwrap();
    }
}

#[test]
fn checking_any_file_under_the_limit_is_bounded_1() {
    check_each(hostile().into_iter().step_by(2));
}

#[test]
fn checking_any_file_under_the_limit_is_bounded_2() {
    check_each(hostile().into_iter().skip(1).step_by(2));
}

#[test]
fn every_format_is_bounded() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    for (name, bytes) in hostile() {
        if !["equals-lines", "one-string", "not-utf8", "stray-words"].contains(&name) {
            continue;
        }
        let path = h.join(format!("{name}.esmtprc"));
        std::fs::write(&path, &bytes).unwrap();
        let p = path.to_str().unwrap();
        for format in ["json", "github", "sarif"] {
            let r = measured(
                &["check", "--no-permission-lints", "--format", format, p],
                h,
            );
            bounded(&format!("check --format {format} {name}"), &r, &[0, 1]);
            assert!(r.stdout < 256 * 1024, "{name} {format}: {} bytes", r.stdout);
        }
    }
}

/// The largest valid file: as many identities as fit, each with its
/// settings.
fn many_identities() -> Vec<u8> {
    lines(|i| {
        format!("identity u{i}@example.org\nhostname smtp{i}.example.org:587\nusername u{i}\npassword \"secret {i}\"\nstarttls required\n")
    })
}

#[test]
fn the_largest_valid_file_dumps_compiles_and_routes_bounded() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let bytes = many_identities();
    let path = h.join("many.esmtprc");
    std::fs::write(&path, &bytes).unwrap();
    let p = path.to_str().unwrap();
    for args in [
        &["dump", p][..],
        &["dump", "--format", "json", p],
        &["compile", p],
        // From the cached plan just written.
        &["route", "-C", p, "-f", "u7@example.org", "bob@example.org"],
    ] {
        let r = measured(args, h);
        bounded(&args[..args.len() - 1].join(" "), &r, &[0]);
    }
    let plans: Vec<_> = std::fs::read_dir(h.join("cache/esmtp")).unwrap().collect();
    assert_eq!(plans.len(), 1, "{plans:?}");
}

#[test]
fn too_many_identities_is_an_error_that_is_shown() {
    let src = lines(|i| format!("identity {i}\n"));
    let comp = config::compile("t", &src, &Options::default());
    assert!(comp.plan.is_none());
    // Among the diagnostics shown first, although thousands of warnings
    // (unquoted numbers) come before it in the file.
    let shown = &comp.diagnostics[..config::diag_cap()];
    assert!(shown.iter().any(|d| d.code == "E021"), "{shown:?}");
    assert!(comp.warnings() > 1000);
    let sending = comp.render_errors();
    assert!(sending.contains("E021"), "{sending}");
}
