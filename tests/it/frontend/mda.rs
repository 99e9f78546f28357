//! Local delivery through real MDAs from Debian (procmail, maildrop), a shell
//! pipeline, the shell-injection proof, and the MDA's exit statuses.

use crate::support::frontend::*;

fn procmail_env(mda: &str) -> Env {
    let env = Env::new(&format!("mda \"{mda}\"\n"));
    env.write(
        "procmailrc",
        &env.subst(
            "MAILDIR=@DIR@\nDEFAULT=@DIR@/mbox\nLOGFILE=@DIR@/procmail.log\n\
             :0\n* ^Subject:.*urgent\nurgent/\n",
        ),
        0o600,
    );
    env
}

#[test]
fn procmail_delivers_into_an_mbox() {
    let env = procmail_env("/usr/bin/procmail -p -f %F -m @DIR@/procmailrc %T");
    let o = env.sendmail(
        &["-oi", "-f", "alice@example.org", "bob"],
        b"Subject: hello\r\n\r\nfirst\r\n.\r\nFrom the start\r\n",
    );
    assert_status(&o, 0);
    let mbox = env.read("mbox");
    assert!(mbox.starts_with("From alice@example.org "), "{mbox}");
    assert!(mbox.contains("\nSubject: hello\nDate: "), "{mbox}");
    assert!(mbox.contains("\nMessage-ID: <"), "{mbox}");
    // LF line ends, the lone dot kept, mbox quoting done by procmail.
    assert!(mbox.contains("\n\nfirst\n.\n>From the start\n"), "{mbox:?}");
    assert!(!mbox.contains('\r'));
}

#[test]
fn procmail_recipes_see_the_message() {
    let env = procmail_env("/usr/bin/procmail -p -f %F -m @DIR@/procmailrc %T");
    assert_status(&env.sendmail(&["bob"], b"Subject: urgent\n\nnow\n"), 0);
    let new: Vec<_> = std::fs::read_dir(env.path("urgent/new")).unwrap().collect();
    assert_eq!(new.len(), 1);
    assert!(!env.exists("mbox"));
}

#[test]
fn maildrop_delivers_into_a_maildir() {
    let env = Env::new("mda \"/usr/bin/maildrop -f %F @DIR@/filter %T\"\n");
    for sub in ["", "/new", "/cur", "/tmp"] {
        std::fs::create_dir_all(env.path(&format!("Maildir{sub}"))).unwrap();
    }
    env.write(
        "filter",
        &env.subst(
            "xfilter \"reformail -A 'X-Envelope-From: $FROM' -A 'X-Rcpt: $1'\"\nto \"@DIR@/Maildir/\"\n",
        ),
        0o600,
    );
    let o = env.sendmail(
        &["-f", "alice@example.org", "bob"],
        b"Subject: md\n\nbody\n",
    );
    assert_status(&o, 0);
    let new: Vec<_> = std::fs::read_dir(env.path("Maildir/new"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(new.len(), 1);
    let msg = std::fs::read_to_string(&new[0]).unwrap();
    assert!(
        msg.contains("X-Envelope-From: alice@example.org\n"),
        "{msg}"
    );
    assert!(msg.contains("X-Rcpt: bob\n"), "{msg}");
    assert!(msg.contains("\nFrom: alice@example.org\n"), "{msg}");
}

#[test]
fn a_shell_pipeline_as_mda() {
    let env = procmail_env(
        "/usr/bin/formail -I 'X-Pipeline: yes' | /usr/bin/procmail -p -f %F -m @DIR@/procmailrc %T",
    );
    assert_status(
        &env.sendmail(&["-f", "a@b.org", "bob"], b"Subject: p\n\nbody\n"),
        0,
    );
    let mbox = env.read("mbox");
    assert!(mbox.contains("\nX-Pipeline: yes\n"), "{mbox}");
}

#[test]
fn addresses_never_run_shell_code() {
    let env = Env::with_recorder("");
    // Local names cannot hold '/': the commands name files in the current
    // directory, which is the test's own.
    let nasty = [
        "x'; touch pwned1 #",
        "$(touch pwned2)",
        "`touch pwned3`",
        "a;touch pwned4",
        "\"; touch pwned5; \"",
        "*",
    ];
    let sender = "\"$(touch pwned6)\"@x.org";
    let rc = env.rc().display().to_string();
    let mut args = vec!["-C", &rc, "-f", sender, "--"];
    args.extend(nasty);
    let o = run(
        env.command(env.path("sendmail"))
            .current_dir(env.dir.path())
            .args(&args),
        b"Subject: s\n\nb\n",
    );
    assert_status(&o, 0);
    let mut expected = vec![sender.to_string()];
    expected.extend(nasty.iter().map(|s| s.to_string()));
    assert_eq!(env.recorded_args(), expected);
    for i in 1..=6 {
        assert!(!env.exists(&format!("pwned{i}")), "pwned{i} exists");
    }
}

#[test]
fn mda_failures_are_71_with_the_status() {
    let env = Env::new("mda \"exit 75\"\n");
    let o = env.sendmail(&["bob"], b"Subject: s\n\nb\n");
    assert_status(&o, 71);
    assert_one_line_error(&o, "exit status 75");
    let env = Env::new("mda \"/nonexistent/mda %T\"\n");
    let o = env.sendmail(&["bob"], b"Subject: s\n\nb\n");
    assert_status(&o, 71);
    assert!(stderr(&o).contains("exit status 127"), "{}", stderr(&o));
    let env = Env::new("mda \"kill -9 $$\"\n");
    let o = env.sendmail(&["bob"], b"Subject: s\n\nb\n");
    assert_status(&o, 71);
    assert!(stderr(&o).contains("signal 9"), "{}", stderr(&o));
}

#[test]
fn an_mda_that_reads_nothing_cannot_hang_or_kill_us() {
    let env = Env::new("mda \"exec true\"\n");
    let mut big = b"Subject: s\n\n".to_vec();
    big.extend(std::iter::repeat_n(b'z', 8 << 20));
    assert_status(&env.sendmail(&["bob"], &big), 0);
}

#[test]
fn local_delivery_without_mda_is_72() {
    let env = Env::new("");
    let o = env.sendmail(&["bob", "carol"], b"Subject: s\n\nb\n");
    assert_status(&o, 72);
    assert_one_line_error(&o, "bob, carol");
}

#[test]
fn force_mda_takes_remote_recipients_too() {
    let env = Env::with_recorder("force_mda postmaster\n");
    let o = env.sendmail(
        &["-f", "a@b.org", "x@y.org", "z@w.org", "bob"],
        b"Subject: s\n\nb\n",
    );
    assert_status(&o, 0);
    assert_eq!(env.recorded_args(), ["a@b.org", "postmaster"]);
}
