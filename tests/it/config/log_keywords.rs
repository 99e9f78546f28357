//! `logfile` and `syslog` (issue 17 §2) in the compiler: where they apply,
//! their values, their diagnostics, `dump` and `check --compat`.

use esmtp::config::{self, dump, Options};
use esmtp::plan::{Facility, LogSettings, Plan, Syslog};

fn compile(src: &str, opts: &Options) -> config::Compilation {
    config::compile("t", src.as_bytes(), opts)
}

fn plan(src: &str) -> Plan {
    let c = compile(src, &Options::default());
    match c.plan {
        Some(p) => p,
        None => panic!("does not compile:\n{}", c.render_errors()),
    }
}

/// The codes of a file made of `src` and a hostname (no W009).
fn codes(src: &str, opts: &Options) -> Vec<&'static str> {
    compile(&format!("hostname localhost\n{src}"), opts)
        .diagnostics
        .iter()
        .map(|d| d.code.as_str())
        .collect()
}

fn log(file: Option<&str>, syslog: Option<Syslog>) -> LogSettings {
    LogSettings {
        file: file.map(str::to_string),
        syslog,
    }
}

#[test]
fn global_before_the_first_identity_and_replaced_inside_one() {
    let p = plan(
        "logfile ~/esmtp.log\nsyslog on\n\
         identity a@example.org\nhostname a.example.org\n\
         identity b@example.org\nhostname b.example.org\nsyslog LOG_LOCAL5\nlogfile -\n\
         identity c@example.org\nhostname c.example.org\nsyslog off\n",
    );
    let on = Some(Syslog::On(Facility::Mail));
    assert_eq!(p.log, log(Some("~/esmtp.log"), on));
    // The global statements do not make the unnamed section an identity
    // (the default stays the first identity, as without them).
    assert_eq!(p.identities.len(), 3);
    assert_eq!(
        p.default_identity().address.as_deref(),
        Some("a@example.org")
    );
    assert_eq!(p.log_for(&p.identities[0]), log(Some("~/esmtp.log"), on));
    assert_eq!(
        p.log_for(&p.identities[1]),
        log(Some("-"), Some(Syslog::On(Facility::Local(5))))
    );
    assert_eq!(
        p.log_for(&p.identities[2]),
        log(Some("~/esmtp.log"), Some(Syslog::Off))
    );
    assert_eq!(Facility::Local(5).code(), 21 << 3);
    assert_eq!(Facility::Mail.code(), 2 << 3);
    assert_eq!(Facility::User.code(), 1 << 3);
}

#[test]
fn bad_values_are_errors_with_the_fix() {
    let opts = Options::default();
    let c = compile("syslog log_mail\n", &opts);
    assert!(c.plan.is_none());
    let text = c.render_errors();
    assert!(
        text.contains("E003") && text.contains("syslog LOG_MAIL"),
        "{text}"
    );
    let c = compile("syslog mail\n", &opts);
    assert!(c.render_errors().contains("write `syslog LOG_MAIL`"));
    assert_eq!(codes("syslog LOG_LOCAL8\n", &opts), ["E003"]);
    assert_eq!(codes("syslog \"on\"\n", &opts), ["E003"]);
    let c = compile("logfile esmtp.log\n", &opts);
    assert!(c.plan.is_none());
    assert!(c.render_errors().contains("logfile ~/esmtp.log"));
    assert_eq!(
        codes("logfile /var/log/esmtp.log\nsyslog LOG_USER\n", &opts),
        [] as [&str; 0]
    );
    // Given twice before the first identity: the last wins, with W001.
    assert_eq!(codes("syslog on\nsyslog off\n", &opts), ["W001"]);
    assert_eq!(
        plan("syslog on\nsyslog off\n").log.syslog,
        Some(Syslog::Off)
    );
}

#[test]
fn a_shared_log_file_in_etc_esmtprc_is_a_warning() {
    let system = Options {
        system_file: true,
        ..Options::default()
    };
    assert_eq!(codes("logfile /var/log/esmtp.log\n", &system), ["W045"]);
    assert_eq!(codes("logfile ~/.esmtp.log\n", &system), [] as [&str; 0]);
    assert_eq!(codes("logfile -\nsyslog on\n", &system), [] as [&str; 0]);
    assert_eq!(
        codes("logfile /var/log/esmtp.log\n", &Options::default()),
        [] as [&str; 0]
    );
}

#[test]
fn compat_flags_them_and_dump_shows_them() {
    let compat = Options {
        compat: true,
        ..Options::default()
    };
    let src = "logfile ~/l\nidentity a@b.c\nhostname h\nsyslog LOG_LOCAL0\n";
    assert_eq!(codes(src, &compat), ["C001", "C001"]);
    let p = plan(src);
    let text = dump::text("t", &p.redacted());
    assert!(
        text.contains("  syslog                  LOG_LOCAL0\n"),
        "{text}"
    );
    assert!(
        text.contains("\nlogfile                   \"~/l\"\n"),
        "{text}"
    );
    assert!(text.contains("\nsyslog                    -\n"), "{text}");
    let json = dump::json(&p.redacted());
    assert!(json.contains("\"syslog\": \"LOG_LOCAL0\""), "{json}");
}
