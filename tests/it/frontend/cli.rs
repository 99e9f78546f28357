//! The sendmail command line as the built binary sees it: flags, names,
//! modes, subcommands and exit statuses (SPEC §3).

use crate::support::frontend::*;

const MSG: &[u8] = b"Subject: test\n\nbody\n";

#[test]
fn every_flag_form_parses_and_delivers() {
    let env = Env::with_recorder("");
    let o = env.sendmail(
        &[
            "-oi",
            "-oem",
            "-fme@x.org",
            "-F",
            "Me",
            "-N",
            "failure,delay",
            "-R",
            "hdrs",
            "-V",
            "id1",
            "-B",
            "8BITMIME",
            "-X",
            "/dev/null",
            "-Ax",
            "-c",
            "-d0.1",
            "-e",
            "x",
            "-G",
            "-h",
            "9",
            "-i",
            "-L",
            "tag",
            "-M",
            "x",
            "-m",
            "-n",
            "-O",
            "a=b",
            "-p",
            "smtp",
            "-s",
            "-T",
            "x",
            "-bm",
            "--",
            "bob",
        ],
        MSG,
    );
    assert_status(&o, 0);
    assert_eq!(env.recorded_args(), ["me@x.org", "bob"]);
    assert!(env.read("msg").contains("From: Me <me@x.org>\n"));
}

#[test]
fn separate_and_attached_values_are_the_same() {
    for args in [
        &["-f", "me@x.org", "bob"][..],
        &["-fme@x.org", "bob"],
        &["-rme@x.org", "bob"],
    ] {
        let env = Env::with_recorder("");
        assert_status(&env.sendmail(args, MSG), 0);
        assert_eq!(env.recorded_args(), ["me@x.org", "bob"], "{args:?}");
    }
}

#[test]
fn usage_errors_are_64_with_one_line() {
    let env = Env::with_recorder("");
    let cases: &[(&[&str], &str)] = &[
        (&[], "Recipient names must be specified"),
        (&["-oi", "-oem"], "Recipient names must be specified"),
        (&["-Y", "bob"], "unknown option -Y"),
        (&["--frob", "bob"], "unknown option --frob"),
        (&["bob", "-f"], "option -f requires an argument"),
        (&["-bs"], "-bs (SMTP on standard input) is not supported"),
        (&["-bd"], "-bd (daemon mode) is not supported"),
        (&["-bv", "bob"], "-bv (verify addresses) is not supported"),
        (&["-bx", "bob"], "unknown mode -bx"),
        (&["-B", "BINARYMIME", "bob"], "-B BINARYMIME"),
        (&["-N", "always", "bob"], "-N always"),
        (&["-R", "body", "bob"], "-R body"),
    ];
    for (args, needle) in cases {
        let o = env.sendmail(args, MSG);
        assert_status(&o, 64);
        assert_one_line_error(&o, needle);
    }
    assert!(
        !env.exists("msg"),
        "nothing may be delivered on a usage error"
    );
}

#[test]
fn newaliases_and_bi_without_aliases_say_nothing() {
    let env = Env::with_recorder("");
    for (name, args) in [
        ("newaliases", &[][..]),
        ("sendmail", &["-bi"]),
        ("sendmail", &["-I"]),
    ] {
        let o = env.run_as(name, args, b"");
        assert_status(&o, 0);
        assert!(o.stdout.is_empty() && o.stderr.is_empty());
    }
}

#[test]
fn subcommands_only_as_first_argument_of_esmtp() {
    let env = Env::with_recorder("");
    // As sendmail, "route" is a local recipient.
    let o = env.sendmail(&["route"], MSG);
    assert_status(&o, 0);
    assert_eq!(env.recorded_args()[1], "route");
    // As esmtp, it is the subcommand: nothing delivered, decision printed.
    std::fs::remove_file(env.path("args")).unwrap();
    let rc = env.rc().display().to_string();
    let o = run(
        env.command(BIN)
            .args(["route", "-C", &rc, "-f", "me@x.org", "bob"]),
        b"",
    );
    assert_status(&o, 0);
    assert!(!env.exists("args"));
    let out = stdout(&o);
    assert!(out.contains("envelope sender: me@x.org"), "{out}");
    assert!(out.contains("local via mda: bob"), "{out}");
    // After a flag, a subcommand name is a recipient again.
    let o = run(env.command(BIN).args(["-C", &rc, "-i", "check"]), MSG);
    assert_status(&o, 0);
    assert_eq!(env.recorded_args()[1], "check");
}

#[test]
fn route_prints_the_decision() {
    let env = Env::new(
        "identity work@example.com\n  hostname smtp.example.com:587\n  qualifydomain example.com\n\
         identity home@example.net\n  hostname mail.example.net:587\n  default\n\
         mda \"/usr/bin/procmail -f %F -d %T\"\n",
    );
    let rc = env.rc().display().to_string();
    let route = |args: &[&str]| {
        let mut all = vec!["route", "-C", &rc];
        all.extend_from_slice(args);
        let o = run(env.command(BIN).args(&all), b"");
        assert_status(&o, 0);
        stdout(&o)
    };
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../../../snapshots");
    // The names the snapshots had when this file was its own test binary.
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        insta::assert_snapshot!(
            "frontend_cli__frontend_route_work",
            route(&["-f", "Me <work@EXAMPLE.com>", "bob", "a@b.c"])
        );
        insta::assert_snapshot!(
            "frontend_cli__frontend_route_default",
            route(&["bob", "x'; touch pwned #", "a@b.c"])
        );
    });
}

#[test]
fn help_lists_flags_and_subcommands() {
    let env = Env::new("");
    let o = env.esmtp(&["--help"], b"");
    assert_status(&o, 0);
    let out = stdout(&o);
    for needle in ["-f <ADDR>", "-q[=<TIME>]", "route", "check", "queue"] {
        assert!(out.contains(needle), "{needle} missing from:\n{out}");
    }
}

#[test]
fn closed_stdout_and_stderr_never_panic() {
    let env = Env::with_recorder("");
    let sh = |args: &str| {
        run(
            env.command("sh").args([
                "-c",
                &format!("exec \"$0\" -C \"$1\" {args} >&- 2>&-"),
                &env.path("sendmail").display().to_string(),
                &env.rc().display().to_string(),
            ]),
            MSG,
        )
    };
    // Usage error with nowhere to write it: still 64, no panic (101).
    assert_status(&sh("-Y bob"), 64);
    // Verbose delivery with stdout closed: delivered, and nothing of ours
    // leaked into the message.
    assert_status(&sh("-v bob"), 0);
    let msg = env.read("msg");
    assert!(msg.starts_with("Subject: test\n"), "{msg}");
    assert!(!msg.contains("esmtp:"), "{msg}");
}

#[test]
fn without_c_the_users_esmtprc_is_used_and_checked() {
    let env = Env::with_recorder("");
    let home = env.path("home");
    std::fs::create_dir(&home).unwrap();
    let rc = home.join(".esmtprc");
    std::fs::copy(env.rc(), &rc).unwrap();
    let send = || {
        run(
            env.command(env.path("sendmail"))
                .arg("bob")
                .env("HOME", &home),
            MSG,
        )
    };
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = send();
    assert_status(&o, 78);
    assert_one_line_error(&o, "0644");
    assert!(!env.exists("msg"));
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_status(&send(), 0);
    assert_eq!(env.recorded_args()[1], "bob");
}

#[test]
fn the_man_page_documents_every_flag_and_subcommand() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("man/esmtp.1");
    let page = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\\-", "-")
        .replace("\\fB", "")
        .replace("\\fI", "")
        .replace("\\fR", "");
    let mut missing = Vec::new();
    for flag in esmtp::cli::flags::FLAGS {
        for c in std::iter::once(flag.short).chain(flag.aliases.iter().copied()) {
            let term = format!("-{c}");
            // `-f` as a word of its own, or with its value attached for
            // the flags documented that way (-bp, -oi, -q30m).
            let attached_ok = matches!(c, 'b' | 'o' | 'q');
            let found = page
                .split(|ch: char| ch.is_whitespace() || ch == ',')
                .filter_map(|w| w.strip_prefix(term.as_str()))
                .any(|rest| attached_ok || !rest.starts_with(|n: char| n.is_ascii_alphabetic()));
            if !found {
                missing.push(term);
            }
        }
    }
    for sub in esmtp::cli::SUBCOMMANDS {
        if !page.contains(sub) {
            missing.push((*sub).to_string());
        }
    }
    assert!(missing.is_empty(), "not in man/esmtp.1: {missing:?}");
}

#[test]
fn route_with_t_reads_the_headers_and_sends_nothing() {
    let env = Env::with_recorder("identity me@example.org\nhostname smtp.example.org:587\n");
    let rc = env.rc().display().to_string();
    let o = env.esmtp(
        &["route", "-C", &rc, "-t"],
        b"From: Me <me@EXAMPLE.org>\nTo: bob, a@b.example\nBcc: c@d.example\n\nbody\n",
    );
    assert_status(&o, 0);
    let out = stdout(&o);
    assert!(
        out.contains("identity: me@example.org (selected by the From: address)"),
        "{out}"
    );
    assert!(
        out.contains("remote via smtp smtp.example.org:587"),
        "{out}"
    );
    assert!(out.contains("a@b.example, c@d.example"), "{out}");
    assert!(out.contains("local via mda: bob"), "{out}");
    assert!(!env.exists("args"), "route must not deliver");
    // Usage errors as for sending.
    let o = env.esmtp(&["route", "-C", &rc], b"");
    assert_status(&o, 64);
    assert_one_line_error(&o, "Recipient names must be specified");
}
