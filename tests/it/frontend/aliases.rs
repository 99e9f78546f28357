//! `aliases FILE` (msmtp's keyword, issue 17 §1) end to end: cron mail to
//! `root` relayed to a real Exim under its alias, an alias to a local name
//! through the MDA, `default:`, a loop refused with nothing sent, an edit
//! of the aliases file taking effect with a cached plan, `check` and
//! `newaliases` on good and bad files.

use crate::support;

use crate::support::frontend::*;
use support::Exim;

/// An esmtprc relaying to `port` with a recording MDA and `aliases @DIR@/aliases`.
fn env_with(port: u16, aliases: &str) -> Env {
    let env = Env::with_recorder(&format!(
        "hostname 127.0.0.1:{port}\naliases @DIR@/aliases\n"
    ));
    env.write("aliases", aliases, 0o644);
    env
}

const CRON: &[u8] = b"Subject: Cron <root@host> run-parts /etc/cron.daily\n\nreport\n";

#[test]
fn cron_mail_to_root_goes_to_its_alias_over_smtp() {
    let exim = Exim::start();
    let env = env_with(
        exim.port(),
        "# the machine's aliases\nROOT: admin@example.org\npostmaster: root\n",
    );
    // As cron runs it: `sendmail -i -FCronDaemon -oem root`, names in any case.
    let o = env.sendmail(
        &[
            "-i",
            "-FCronDaemon",
            "-oem",
            "-f",
            "cron@example.org",
            "root",
        ],
        CRON,
    );
    assert_status(&o, 0);
    let got = exim.wait_for_messages(1);
    assert_eq!(got[0].envelope_to, "admin@example.org");
    assert_eq!(got[0].return_path, "cron@example.org");
    assert!(!env.exists("args"), "nothing for the MDA");
    // Through another alias, and `route` shows the chain.
    let o = env.esmtp(
        &["route", "-C", env.rc().to_str().unwrap(), "postmaster"],
        b"",
    );
    assert_status(&o, 0);
    assert!(
        stdout(&o).contains("alias: postmaster -> admin@example.org\n"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn an_alias_to_local_names_reaches_the_mda_and_mixes_with_remote() {
    let exim = Exim::start();
    let env = env_with(
        exim.port(),
        "root: ops, boss@example.org\nops: alice\n  , bob   # continued\n",
    );
    let o = env.sendmail(&["-f", "cron@example.org", "root"], CRON);
    assert_status(&o, 0);
    assert_eq!(env.recorded_args(), ["cron@example.org", "alice", "bob"]);
    assert!(env.read("msg").contains("Subject: Cron <root@host>"));
    let got = exim.wait_for_messages(1);
    assert_eq!(got[0].envelope_to, "boss@example.org");
}

#[test]
fn default_catches_names_not_listed_but_not_addresses() {
    let exim = Exim::start();
    let env = env_with(exim.port(), "root: alice\ndefault: me@example.org\n");
    let o = env.sendmail(
        &[
            "-f",
            "cron@example.org",
            "www-data",
            "carol@example.net",
            "root",
        ],
        CRON,
    );
    assert_status(&o, 0);
    assert_eq!(env.recorded_args(), ["cron@example.org", "alice"]);
    let got = exim.wait_for_messages(2);
    let mut to: Vec<_> = got.iter().map(|m| m.envelope_to.clone()).collect();
    to.sort();
    assert_eq!(to, ["carol@example.net", "me@example.org"]);
}

#[test]
fn a_loop_is_an_error_that_waits_for_a_local_name() {
    let exim = Exim::start();
    let env = env_with(
        exim.port(),
        "root: admin\nadmin: ops, x@example.org\nops: root\n",
    );
    let o = env.sendmail(&["-f", "cron@example.org", "root", "bob@example.net"], CRON);
    // 78 (EX_CONFIG): the fault is in the configuration, as for any error of
    // esmtprc; cron mails the output to its owner, nothing is half sent.
    assert_status(&o, 78);
    let err = stderr(&o);
    assert!(
        err.contains("alias loop: root -> admin -> ops -> root"),
        "{err}"
    );
    assert!(
        err.contains(&env.path("aliases").display().to_string()),
        "{err}"
    );
    assert!(!env.exists("args"));
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(exim.accepted(), 0);
    // An error that waits for use (as esmtp 1.2's do): mail to full
    // addresses, which never looks at the aliases file, still goes ...
    let o = env.sendmail(
        &["-f", "git@example.org", "bob@example.net"],
        b"Subject: patch\n\nx\n",
    );
    assert_status(&o, 0);
    assert_eq!(exim.wait_for_messages(1)[0].envelope_to, "bob@example.net");
    // ... and `check` still fails on the file, pointing into it.
    let rc = env.rc().display().to_string();
    let o = env.esmtp(&["check", &rc], b"");
    assert_status(&o, 1);
    let out = stdout(&o) + &stderr(&o);
    assert!(out.contains("E025") && out.contains("E026"), "{out}");
}

#[test]
fn a_missing_aliases_file_fails_only_local_names() {
    let exim = Exim::start();
    let env = env_with(exim.port(), "root: admin@example.org\n");
    std::fs::remove_file(env.path("aliases")).unwrap();
    let o = env.sendmail(&["-f", "cron@example.org", "root"], CRON);
    assert_status(&o, 78);
    let err = stderr(&o);
    assert!(
        err.contains("recipient root:") && err.contains("cannot read the aliases file"),
        "{err}"
    );
    let o = env.sendmail(
        &["-f", "git@example.org", "bob@example.net"],
        b"Subject: patch\n\nx\n",
    );
    assert_status(&o, 0);
    assert_eq!(exim.wait_for_messages(1)[0].envelope_to, "bob@example.net");
    // Never cached while unusable: the file's return takes effect at once.
    env.write("aliases", "root: admin@example.org\n", 0o644);
    let o = env.sendmail(&["-f", "cron@example.org", "root"], CRON);
    assert_status(&o, 0);
    let got = exim.wait_for_messages(2);
    assert!(got.iter().any(|m| m.envelope_to == "admin@example.org"));
}

#[test]
fn editing_the_aliases_file_takes_effect_with_a_cached_plan() {
    let exim = Exim::start();
    let env = env_with(exim.port(), "root: first@example.org\n");
    let rc = env.rc().display().to_string();
    assert_status(&env.esmtp(&["compile", &rc], b""), 0);
    let check = env.esmtp(&["check", "-v", &rc], b"");
    assert!(
        stdout(&check).contains("cached plan: fresh"),
        "{}",
        stdout(&check)
    );
    assert_status(&env.sendmail(&["-f", "cron@example.org", "root"], CRON), 0);
    assert_eq!(
        exim.wait_for_messages(1)[0].envelope_to,
        "first@example.org"
    );
    // Same length, other content: the cache must notice.
    env.write("aliases", "root: again@example.org\n", 0o644);
    let check = env.esmtp(&["check", "-v", &rc], b"");
    assert!(
        stdout(&check).contains("changed"),
        "the cache should be stale: {}",
        stdout(&check)
    );
    assert_status(&env.sendmail(&["-f", "cron@example.org", "root"], CRON), 0);
    let got = exim.wait_for_messages(2);
    assert!(
        got.iter().any(|m| m.envelope_to == "again@example.org"),
        "{:?}",
        got.iter().map(|m| &m.envelope_to).collect::<Vec<_>>()
    );
    // Removing it is an error of the configuration, not a stale success.
    std::fs::remove_file(env.path("aliases")).unwrap();
    let o = env.sendmail(&["-f", "cron@example.org", "root"], CRON);
    assert_status(&o, 78);
    assert!(
        stderr(&o).contains("cannot read the aliases file"),
        "{}",
        stderr(&o)
    );
}

/// Snapshots live in the top-level snapshots/ with the others.
fn snapshot(name: &str, text: String) {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path("../../../snapshots");
    s.set_prepend_module_to_snapshot(false);
    s.bind(|| insta::assert_snapshot!(name, text));
}

/// `check` output with the temporary directory replaced, for a snapshot.
fn report(env: &Env, o: &std::process::Output) -> String {
    stdout(o).replace(&env.dir.path().display().to_string(), "@DIR@")
}

#[test]
fn check_shows_errors_in_the_aliases_file_with_their_spans() {
    let env = env_with(
        1,
        "root: admin@example.org\nbroken line\nops: |/usr/bin/script\nRoot: twice@example.org\n",
    );
    let rc = env.rc().display().to_string();
    let o = env.esmtp(&["check", "--no-permission-lints", &rc], b"");
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    snapshot("check-aliases-file-errors", report(&env, &o));
    // A loop, with the chain.
    env.write("aliases", "a: b\nb: c@example.org, a\n", 0o644);
    let o = env.esmtp(&["check", "--no-permission-lints", &rc], b"");
    assert_eq!(code(&o), 1);
    snapshot("check-aliases-file-loop", report(&env, &o));
}

#[test]
fn newaliases_checks_the_aliases_file() {
    let env = env_with(
        1,
        "root: admin@example.org\nops: root\ndefault: me@example.org\n",
    );
    for o in [
        env.run_as("newaliases", &[], b""),
        env.sendmail(&["-bi"], b""),
        env.sendmail(&["-I"], b""),
    ] {
        assert_status(&o, 0);
        assert!(
            stdout(&o).ends_with("aliases: 2 aliases and default, ok\n"),
            "{}",
            stdout(&o)
        );
    }
    env.write("aliases", "root admin@example.org\n", 0o644);
    let o = env.run_as("newaliases", &[], b"");
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).contains("line without `:`"), "{}", stdout(&o));
    assert!(stdout(&o).contains("aliases:1:1"), "{}", stdout(&o));
    // A symbolic link is not followed.
    std::fs::remove_file(env.path("aliases")).unwrap();
    env.write("real", "root: admin@example.org\n", 0o644);
    std::os::unix::fs::symlink(env.path("real"), env.path("aliases")).unwrap();
    let o = env.run_as("newaliases", &[], b"");
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).contains("E024"), "{}", stdout(&o));
    // A relative path is an error of the configuration (E023), reported.
    let bad = Env::new("aliases relative/aliases\n");
    let o = bad.run_as("newaliases", &[], b"");
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).contains("E023"), "{}", stdout(&o));
}
