//! In-process cost of loading the plan: from the cache (the sender's
//! selection and the whole plan) against reading and compiling the source, for a
//! 10-line and a 10 000-identity configuration.
//!
//! `cargo bench --bench cache_load`

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::path::{Path, PathBuf};

/// The 10-line configuration (tests/bench/small.rc, shared with cache.sh).
const SMALL: &str = include_str!("small.rc");

fn big() -> String {
    let mut s = String::new();
    for i in 0..10_000 {
        s.push_str(&format!(
            "identity user{i}@example{}.org\n  hostname smtp{i}.example.org:587\n  \
             username user{i}\n  password pw{i}xyz\n  starttls required\n",
            i % 97
        ));
    }
    s
}

fn write_rc(dir: &Path, name: &str, text: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    // Single-threaded here: set before anything reads the environment.
    std::env::set_var("XDG_CACHE_HOME", dir.path().join("cache"));
    let small = write_rc(dir.path(), "small.rc", SMALL);
    let big_text = big();
    let big = write_rc(dir.path(), "big.rc", &big_text);
    // Fill the caches and let the sources settle so the stat stamp is trusted.
    for p in [&small, &big] {
        esmtp::cache::compile_to_cache(Some(p), false).unwrap();
    }
    std::thread::sleep(esmtp::owned::stamp::SETTLE + std::time::Duration::from_millis(200));
    for p in [&small, &big] {
        esmtp::cache::load_plan(Some(p), false).unwrap();
        assert!(esmtp::cache::freshness(Some(p)).is_fresh());
    }

    let mut g = c.benchmark_group("10-line");
    g.bench_function("read and compile (no cache)", |b| {
        b.iter(|| esmtp::config::load_for_sending(Some(&small)).unwrap())
    });
    g.bench_function("cached selection", |b| {
        b.iter(|| {
            esmtp::cache::load_plan_for(Some(&small), false, Some(black_box("me@example.org")))
                .unwrap()
        })
    });
    g.bench_function("cached whole plan", |b| {
        b.iter(|| esmtp::cache::load_plan(Some(&small), false).unwrap())
    });
    g.finish();

    let mut g = c.benchmark_group("10000-identity");
    g.sample_size(10);
    g.bench_function("read and compile (no cache)", |b| {
        b.iter(|| esmtp::config::load_for_sending(Some(&big)).unwrap())
    });
    g.bench_function("cached whole plan", |b| {
        b.iter(|| esmtp::cache::load_plan(Some(&big), false).unwrap())
    });
    g.finish();
    let mut g = c.benchmark_group("10000-identity");
    g.bench_function("cached selection", |b| {
        b.iter(|| {
            esmtp::cache::load_plan_for(
                Some(&big),
                false,
                Some(black_box("user7777@example17.org")),
            )
            .unwrap()
        })
    });
    g.finish();
}

/// The system trust store: loaded natively at each TLS submission, or
/// from the cache.
fn anchors(c: &mut Criterion) {
    let mut g = c.benchmark_group("system trust anchors");
    g.bench_function("native load and parse", |b| {
        b.iter(|| {
            let mut roots = rustls::RootCertStore::empty();
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
            roots.roots.len()
        })
    });
    let native = esmtp::transport::tls::anchors::system_trust_anchors();
    assert!(!native.is_empty());
    g.bench_function("cached", |b| {
        b.iter(|| esmtp::transport::tls::anchors::system_trust_anchors().len())
    });
    g.finish();
}

criterion_group!(benches, bench, anchors);
criterion_main!(benches);
