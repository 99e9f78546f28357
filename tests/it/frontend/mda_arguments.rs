//! What reaches the MDA's command line cannot be an option or a path
//! (issue 13 §7): the envelope sender (`%F`) and the local recipients
//! (`%T`) never start with `-` (Postfix's `allow_min_user = no`), and a
//! local name never contains `/`. Refused before the MDA runs, with the
//! status of where the address came from: 64 the command line, 65 the
//! message (`-t`), 78 the configuration. With procmail, as a user runs it.

use crate::support::frontend::*;

const MSG: &[u8] = b"Subject: s\n\nbody\n";

/// procmail delivering into `mbox`, and a recorder beside it that notes
/// whether any MDA ran.
fn procmail_env(extra: &str) -> Env {
    let env = Env::new(&format!(
        "mda \"@DIR@/ran; /usr/bin/procmail -f %F -m @DIR@/procmailrc %T\"\n{extra}"
    ));
    env.write(
        "procmailrc",
        &env.subst("MAILDIR=@DIR@\nDEFAULT=@DIR@/mbox\nLOGFILE=@DIR@/procmail.log\n"),
        0o600,
    );
    env.write(
        "ran",
        "#!/bin/sh\ntouch \"$(dirname \"$0\")/mda-ran\"\n",
        0o755,
    );
    env
}

#[track_caller]
fn assert_refused(env: &Env, args: &[&str], input: &[u8], status: i32, why: &str) {
    let o = env.sendmail(args, input);
    assert_status(&o, status);
    assert_one_line_error(&o, why);
    assert!(!env.exists("mda-ran"), "{args:?}: the MDA ran");
    assert!(!env.exists("mbox"), "{args:?}: something was delivered");
}

#[test]
fn a_sender_that_looks_like_an_option_never_reaches_the_mda() {
    let env = procmail_env("");
    for sender in ["-oQ/tmp/x@x.org", "-oQ/tmp", "-f", "-t@example.org", "-"] {
        assert_refused(
            &env,
            &["-f", sender, "bob"],
            MSG,
            64,
            "may not start with '-'",
        );
    }
    // From the message's From: with -t: 65.
    assert_refused(
        &env,
        &["-t"],
        b"From: -oQ/tmp/x@x.org\nTo: bob\n\nbody\n",
        65,
        "may not start with '-'",
    );
}

#[test]
fn local_names_are_no_options_and_no_paths() {
    let env = procmail_env("");
    for (rcpt, why) in [
        ("-oQ/tmp", "may not start with '-'"),
        ("-d", "may not start with '-'"),
        ("../../etc/passwd", "may not contain '/'"),
        ("bob/../alice", "may not contain '/'"),
        ("/var/mail/bob", "may not contain '/'"),
    ] {
        assert_refused(&env, &["-f", "me@x.org", "--", rcpt], MSG, 64, why);
        // Nor with the others beside it.
        assert_refused(&env, &["-f", "me@x.org", "--", "bob", rcpt], MSG, 64, why);
    }
    // From To: with -t: 65.
    assert_refused(
        &env,
        &["-t", "-f", "me@x.org"],
        b"To: bob, ../mbox\n\nbody\n",
        65,
        "may not contain '/'",
    );
    // A remote recipient that looks like an option is refused too.
    assert_refused(
        &env,
        &["-f", "me@x.org", "--", "-oQ@example.org"],
        MSG,
        64,
        "may not start with '-'",
    );
}

#[test]
fn the_configuration_cannot_name_such_a_user_either() {
    let env = procmail_env("force_mda \"../mbox\"\n");
    assert_refused(
        &env,
        &["-f", "me@x.org", "bob"],
        MSG,
        78,
        "may not contain '/'",
    );
}

#[test]
fn a_dash_or_a_dot_inside_a_name_is_fine() {
    let env = procmail_env("");
    let o = env.sendmail(&["-f", "a-b@x-y.org", "--", "bob-smith"], MSG);
    // procmail delivers to its DEFAULT whatever the name: it ran, with the
    // arguments as given.
    assert_status(&o, 0);
    assert!(env.exists("mda-ran"));
    let mbox = env.read("mbox");
    assert!(mbox.starts_with("From a-b@x-y.org "), "{mbox}");
}
