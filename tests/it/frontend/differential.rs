//! The command line against Debian's esmtp 1.2 (/usr/bin/esmtp): the same
//! arguments, the same configuration, the same recording MDA. Exit statuses
//! and what reaches the MDA must agree, except where SPEC §3 says we differ
//! on purpose (listed below with the reason).

use crate::support::frontend::*;

const CLASSIC: &str = "/usr/bin/esmtp";
const MSG: &[u8] = b"To: carol\nSubject: x\n\nbody\n";

/// (arguments, classic status, our status, why they differ)
const DIFFERENCES: &[(&str, i32, i32, &str)] = &[
    (
        "-q",
        64,
        -1,
        "bare -q is valid (SPEC 3.1); ours flushes the queue",
    ),
    (
        "-V envid bob",
        64,
        0,
        "1.2 mistakes -V for a mode; -V is the DSN envelope id",
    ),
    (
        "-O a=b bob",
        64,
        0,
        "-O opt=val is in the ignored list (SPEC 3.2)",
    ),
    (
        "-N sometimes bob",
        0,
        64,
        "a DSN condition that does not exist is a usage error",
    ),
    (
        "-R body bob",
        0,
        64,
        "a DSN return that does not exist is a usage error",
    ),
    (
        "-T x bob",
        0,
        0,
        "1.2 takes -T as a switch (x becomes a recipient); SPEC 3.2 says -T x",
    ),
];

const SAME: &[&str] = &[
    "-Y bob",
    "-bs",
    "-bd",
    "-bt",
    "-bz bob",
    "",
    "-oi",
    "-oi -oem",
    "-t",
    "-bi",
    "-I",
    "-f",
    "-B 7BIT bob",
    "-B 8BITMIME bob",
    "-B foo bob",
    "-N never bob",
    "-N failure,delay bob",
    "-R full bob",
    "-R hdrs bob",
    "-oi -oem -f me@x.org -- bob",
    "-fme@x.org bob",
    "-f me@x.org bob",
    "-r me@x.org bob",
    "-i bob",
    "-Ac bob",
    "-c bob",
    "-d 0 bob",
    "-e x bob",
    "-G bob",
    "-h 5 bob",
    "-L t bob",
    "-M x bob",
    "-m bob",
    "-n bob",
    "-p smtp bob",
    "-s bob",
    "-v bob",
    "-bm bob",
    "-F Name bob",
    "-t -f me@x.org",
];

/// Exit status and the MDA's arguments (None: the MDA did not run).
type Outcome = (i32, Option<Vec<String>>);

fn run_both(args: &str) -> (Outcome, Outcome) {
    let argv: Vec<&str> = args.split_whitespace().collect();
    let one = |bin: &str| {
        let env = Env::with_recorder("");
        let o = run(
            env.command(bin)
                .arg("-C")
                .arg(env.rc())
                .args(&argv)
                .env("HOME", env.dir.path()),
            MSG,
        );
        let args = env.exists("args").then(|| env.recorded_args());
        (code(&o), args)
    };
    let classic = one(CLASSIC);
    let mut ours = one(BIN);
    // Without -f, 1.2 gives the MDA an empty %F; we give login@hostname
    // (SPEC §4, the envelope sender when none is given).
    if !argv
        .iter()
        .any(|a| a.starts_with("-f") || a.starts_with("-r"))
    {
        if let Some(args) = &mut ours.1 {
            let login = nix::unistd::User::from_uid(nix::unistd::getuid())
                .unwrap()
                .unwrap()
                .name;
            let host = gethostname::gethostname().into_string().unwrap();
            assert_eq!(args.remove(0), format!("{login}@{host}"), "{argv:?}");
        }
    }
    (classic, ours)
}

#[test]
fn statuses_and_mda_arguments_agree_with_esmtp_1_2() {
    assert!(
        std::path::Path::new(CLASSIC).exists(),
        "{CLASSIC} missing: run tests/setup/install-deps.sh"
    );
    for args in SAME {
        let (classic, ours) = run_both(args);
        assert_eq!(classic, ours, "sendmail {args}");
    }
}

#[test]
fn deliberate_differences_are_exactly_these() {
    for (args, classic_status, our_status, why) in DIFFERENCES {
        let (classic, ours) = run_both(args);
        assert_eq!(classic.0, *classic_status, "classic, sendmail {args}");
        if *our_status >= 0 {
            assert_eq!(ours.0, *our_status, "ours, sendmail {args}: {why}");
        }
        assert_ne!(classic, ours, "sendmail {args} no longer differs: {why}");
    }
}
