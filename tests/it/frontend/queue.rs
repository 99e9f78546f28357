//! The queue as a user meets it through the front end: with `queue enabled`
//! a submission to an unreachable smarthost succeeds (0) and says it was
//! queued; `mailq` / `-bp` / `esmtp queue list` show it; `-q`, `deliver` and
//! `esmtp queue flush` deliver it once the smarthost is back.

use crate::support;

use crate::support::frontend::*;
use support::{free_port as closed_port, Exim};

fn queue_env(port: u16) -> Env {
    let env = Env::new("");
    env.write(
        "esmtprc",
        &env.subst(&format!(
            "hostname 127.0.0.1:{port}\nqueue enabled\nqueue_dir \"@DIR@/queue\"\n"
        )),
        0o600,
    );
    env
}

#[test]
fn queued_while_down_then_flushed_by_each_name() {
    let exim = Exim::start();
    for flush in [
        &["sendmail", "-q"][..],
        &["deliver"],
        &["sendmail", "-q30m"],
        &["esmtp-queue-flush"],
    ] {
        let env = queue_env(closed_port());
        let o = env.sendmail(
            &["-f", "me@example.org", "bob@example.net"],
            b"Subject: queued\n\nwhile down\n",
        );
        assert_status(&o, 0);
        assert!(stderr(&o).contains("queued"), "{}", stderr(&o));
        // Listed by mailq and -bp.
        let o = env.run_as("mailq", &[], b"");
        assert_status(&o, 0);
        assert!(stdout(&o).contains("bob@example.net"), "{}", stdout(&o));
        let o = env.sendmail(&["-bp"], b"");
        assert!(stdout(&o).contains("bob@example.net"), "{}", stdout(&o));
        // The smarthost comes back (the file now names the running server).
        env.write(
            "esmtprc",
            &env.subst(&format!(
                "hostname 127.0.0.1:{}\nqueue enabled\nqueue_dir \"@DIR@/queue\"\n",
                exim.port()
            )),
            0o600,
        );
        let before = exim.accepted();
        let o = match flush {
            ["esmtp-queue-flush"] => {
                let rc = env.rc().display().to_string();
                env.esmtp(&["queue", "flush", "-C", &rc], b"")
            }
            [name, args @ ..] => {
                if *name != "sendmail" {
                    std::os::unix::fs::symlink(BIN, env.path(name)).unwrap();
                }
                env.run_as(name, args, b"")
            }
            [] => unreachable!(),
        };
        assert_status(&o, 0);
        assert_eq!(exim.accepted(), before + 1, "{flush:?}");
        let o = env.run_as("mailq", &[], b"");
        assert!(!stdout(&o).contains("bob@example.net"), "{}", stdout(&o));
    }
    let got = exim.wait_for_messages(4);
    assert!(got.iter().all(|m| m.return_path == "me@example.org"));
    assert!(got[0].message.ends_with(b"\r\n\r\nwhile down\r\n"));
}

#[test]
fn with_the_server_up_the_queue_delivers_at_once() {
    let exim = Exim::start();
    let env = queue_env(exim.port());
    let o = env.sendmail(
        &["-f", "me@example.org", "bob@example.net"],
        b"Subject: now\n\nb\n",
    );
    assert_status(&o, 0);
    assert_eq!(exim.accepted(), 1);
    let o = env.run_as("mailq", &[], b"");
    assert!(!stdout(&o).contains("bob@example.net"), "{}", stdout(&o));
}
