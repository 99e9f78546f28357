//! Compile-time benchmark of the esmtprc compiler (criterion).
//!
//! `cargo bench --bench compile`. Target: a typical 10-line file in under
//! 100 µs in-process. The whole-process figure for the 10 000-identity file
//! is measured with hyperfine (see ARCHITECTURE.md).

use criterion::{criterion_group, criterion_main, Criterion};
use esmtp::config::{self, Options};
use std::hint::black_box;

const TYPICAL: &str = r#"# ~/.esmtprc
identity "john.doe@work.example.com"
    hostname = smtp.work.example.com:587
    username = "jdoe"
    password = "correct horse battery staple"
    starttls = required
    default
identity me@home.example.org
    hostname mail.home.example.org:submission
mda "/usr/bin/procmail -d %T"
"#;

fn ten_thousand() -> String {
    let mut src = String::new();
    for i in 0..10_000 {
        src.push_str(&format!(
            "identity user{i}@example.org\n  hostname smtp{i}.example.org:587\n  username user{i}\n  password \"secret {i}\"\n  starttls required\n"
        ));
    }
    src
}

fn bench(c: &mut Criterion) {
    let opts = Options::default();
    c.bench_function("compile typical 10-line file", |b| {
        b.iter(|| {
            let comp = config::compile("bench", black_box(TYPICAL.as_bytes()), &opts);
            assert!(comp.plan.is_some());
            comp
        })
    });
    let big = ten_thousand();
    let mut g = c.benchmark_group("large");
    g.sample_size(20);
    g.bench_function("compile 10 000 identities", |b| {
        b.iter(|| config::compile("bench", black_box(big.as_bytes()), &opts))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
