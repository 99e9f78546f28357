//! Message handling (SPEC §4) and bad input, through the built binary and a
//! recording MDA: what the MDA receives is what the SMTP relay receives,
//! with LF instead of CRLF.

use crate::support::frontend::*;

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    let head = msg.split("\n\n").next().unwrap_or("");
    head.lines()
        .find(|l| {
            l.len() > name.len()
                && l[..name.len()].eq_ignore_ascii_case(name)
                && l.as_bytes()[name.len()] == b':'
        })
        .map(|l| l[name.len() + 1..].trim())
}

#[test]
fn missing_headers_are_added_and_return_path_removed() {
    let env = Env::with_recorder("");
    let o = env.sendmail(
        &["-f", "me@x.org", "-F", "Jöhn Doe", "bob"],
        b"Return-Path: <evil@x>\nSubject: s\n\nbody\n",
    );
    assert_status(&o, 0);
    let msg = env.read("msg");
    assert!(header(&msg, "Return-Path").is_none(), "{msg}");
    assert_eq!(
        header(&msg, "From"),
        Some("=?UTF-8?B?SsO2aG4gRG9l?= <me@x.org>")
    );
    let date = header(&msg, "Date").unwrap();
    assert!(chrono::DateTime::parse_from_rfc2822(date).is_ok(), "{date}");
    let id = header(&msg, "Message-ID").unwrap();
    assert!(
        id.starts_with('<') && id.ends_with('>') && id.contains('@'),
        "{id}"
    );
    assert!(msg.ends_with("\n\nbody\n"));
}

#[test]
fn existing_headers_are_kept() {
    let env = Env::with_recorder("");
    let input =
        "Date: Mon, 1 Jan 2024 00:00:00 +0000\nfrom: Someone <s@x.org>\nmessage-id: <a@b>\n\nb\n";
    assert_status(&env.sendmail(&["bob"], input.as_bytes()), 0);
    assert_eq!(env.read("msg"), input);
}

#[test]
fn message_id_disabled_is_honoured() {
    let env = Env::with_recorder("message_id disabled\n");
    assert_status(&env.sendmail(&["bob"], b"Subject: s\n\nb\n"), 0);
    let msg = env.read("msg");
    assert!(header(&msg, "Message-ID").is_none(), "{msg}");
    assert!(header(&msg, "Date").is_some());
}

#[test]
fn dash_t_takes_recipients_and_removes_bcc() {
    let env = Env::with_recorder("");
    let input =
        "From: \"Doe, Jane\" <jane@x.org>\nTo: bob, \"Carol C\" <carol>\nCc: team: dave, erin;\n\
                 Bcc: frank\nSubject: s\n\nbody\n";
    let o = env.sendmail(&["-t", "gina"], input.as_bytes());
    assert_status(&o, 0);
    assert_eq!(
        env.recorded_args(),
        [
            "jane@x.org",
            "gina",
            "bob",
            "carol",
            "dave",
            "erin",
            "frank"
        ]
    );
    let msg = env.read("msg");
    assert!(header(&msg, "Bcc").is_none(), "{msg}");
    assert_eq!(header(&msg, "Cc"), Some("team: dave, erin;"));
    // -f wins over From: for the envelope.
    let o = env.sendmail(&["-t", "-f", "me@x.org"], input.as_bytes());
    assert_status(&o, 0);
    assert_eq!(env.recorded_args()[0], "me@x.org");
}

#[test]
fn dash_t_errors_are_65() {
    let env = Env::with_recorder("");
    let o = env.sendmail(&["-t"], b"Subject: no recipients\n\nbody\n");
    assert_status(&o, 65);
    assert_one_line_error(&o, "no recipients found");
    let o = env.sendmail(&["-t"], b"");
    assert_status(&o, 65);
    assert_one_line_error(&o, "no header");
    assert!(!env.exists("msg"));
    // Folded lines belong to the field above.
    let o = env.sendmail(&["-t"], b"To: bob,\r\n\tcarol\nSubject: s\n\n");
    assert_status(&o, 0);
    assert_eq!(env.recorded_args()[1..], ["bob", "carol"]);
    std::fs::remove_file(env.path("msg")).unwrap();
    assert!(!env.exists("msg"));
}

#[test]
fn line_ends_are_normalised_for_the_mda() {
    let env = Env::with_recorder("");
    let o = env.sendmail(
        &["bob"],
        b"Subject: s\r\n\r\nline1\r\nline2\nlast without newline",
    );
    assert_status(&o, 0);
    let msg = env.read("msg");
    assert!(!msg.contains('\r'));
    assert!(
        msg.ends_with("\n\nline1\nline2\nlast without newline\n"),
        "{msg:?}"
    );
}

#[test]
fn a_lone_dot_does_not_end_the_message() {
    let env = Env::with_recorder("");
    let o = env.sendmail(&["bob"], b"Subject: s\n\nbefore\n.\nafter\n..\n");
    assert_status(&o, 0);
    assert!(env.read("msg").ends_with("\n\nbefore\n.\nafter\n..\n"));
}

#[test]
fn eight_bit_bytes_pass_unchanged() {
    let env = Env::with_recorder("");
    let body = b"Subject: s\n\n\xe9t\xe9 \xff\n";
    assert_status(&env.sendmail(&["bob"], body), 0);
    let msg = std::fs::read(env.path("msg")).unwrap();
    assert!(msg.ends_with(b"\n\n\xe9t\xe9 \xff\n"));
}

#[test]
fn empty_stdin_is_a_message_with_only_added_headers() {
    let env = Env::with_recorder("");
    let o = env.sendmail(&["-f", "me@x.org", "bob"], b"");
    assert_status(&o, 0);
    let msg = env.read("msg");
    assert!(msg.starts_with("Date: "), "{msg}");
    assert!(msg.contains("\nFrom: me@x.org\n"), "{msg}");
    assert!(msg.ends_with("\n\n"), "{msg:?}");
}

#[test]
fn headers_only_and_missing_blank_line() {
    let env = Env::with_recorder("");
    assert_status(&env.sendmail(&["bob"], b"Subject: only headers"), 0);
    let msg = env.read("msg");
    assert!(msg.starts_with("Subject: only headers\nDate: "), "{msg}");
    assert!(msg.ends_with("\n\n"), "{msg:?}");
    // The first line that is no header starts the body, after a blank line.
    assert_status(
        &env.sendmail(&["bob"], b"Subject: s\nthis is the body\n"),
        0,
    );
    let msg = env.read("msg");
    assert!(msg.starts_with("Subject: s\n"), "{msg}");
    assert!(msg.ends_with(">\n\nthis is the body\n"), "{msg:?}");
    // No headers at all.
    assert_status(&env.sendmail(&["bob"], b"hello world\n"), 0);
    assert!(env.read("msg").ends_with(">\n\nhello world\n"));
}

#[test]
fn nul_bytes_are_refused() {
    let env = Env::with_recorder("");
    let o = env.sendmail(&["bob"], b"Subject: s\n\nbin\0ary\n");
    assert_status(&o, 65);
    assert_one_line_error(&o, "NUL");
    assert!(!env.exists("msg"));
}

#[test]
fn a_2mb_header_line_is_refused_clearly() {
    let env = Env::with_recorder("");
    let mut input = b"Subject: ".to_vec();
    input.extend(std::iter::repeat_n(b'x', 2 << 20));
    input.extend_from_slice(b"\n\nbody\n");
    let o = env.sendmail(&["bob"], &input);
    assert_status(&o, 65);
    assert_one_line_error(&o, "header is larger than");
    assert!(!env.exists("msg"));
    // A 2 MB body line is fine.
    let mut input = b"Subject: s\n\n".to_vec();
    input.extend(std::iter::repeat_n(b'y', 2 << 20));
    let o = env.sendmail(&["bob"], &input);
    assert_status(&o, 0);
    assert!(std::fs::metadata(env.path("msg")).unwrap().len() > 2 << 20);
}

#[test]
fn injection_through_addresses_is_refused() {
    let env = Env::with_recorder("");
    let cases: &[&[&str]] = &[
        &["-f", "me@x.org\r\nRCPT TO:<victim@y.org>", "bob"],
        &["-f", "me@x.org\nBcc: victim@y.org", "bob"],
        &["-f", "me>@x.org", "bob"],
        &["-f", "Me <me@x.org> <you@y.org>", "bob"],
        &["-F", "Me\nBcc: victim@y.org", "bob"],
        &["a@b.org\r\nDATA"],
        &["a@b.org>"],
        &["<a@b.org> x"],
        &["bob\nX-Evil: 1"],
        &["-x"],
        &["--", "-oQ/tmp"],
    ];
    for args in cases {
        let o = env.sendmail(args, b"Subject: s\n\nb\n");
        assert_status(&o, 64);
        assert_eq!(stderr(&o).lines().count(), 1, "{args:?}: {}", stderr(&o));
    }
    assert!(!env.exists("msg"));
}

#[test]
fn addresses_with_spaces() {
    let env = Env::with_recorder("force_mda bob\n");
    let o = env.sendmail(&["john doe@x.org"], b"Subject: s\n\nb\n");
    assert_status(&o, 64);
    assert_one_line_error(&o, "blank");
    // Quoted local parts and "Name <addr>" are addresses.
    let o = env.sendmail(
        &["\"john doe\"@x.org", "John Doe <jd@x.org>"],
        b"Subject: s\n\nb\n",
    );
    assert_status(&o, 0);
    assert_eq!(env.recorded_args()[1], "bob");
}

#[test]
fn ten_thousand_recipients() {
    let env = Env::with_recorder("");
    let names: Vec<String> = (0..10_000).map(|i| format!("u{i}")).collect();
    let args: Vec<&str> = names.iter().map(String::as_str).collect();
    let o = env.sendmail(&args, b"Subject: many\n\nb\n");
    assert_status(&o, 0);
    let got = env.recorded_args();
    assert_eq!(got.len(), 10_001);
    assert_eq!(got[1..], names[..]);
    // From the headers, with duplicates removed.
    let mut to = String::from("To: ");
    to.push_str(&names.join(", "));
    to.push_str(", u0\nSubject: many\n\nb\n");
    assert_status(&env.sendmail(&["-t"], to.as_bytes()), 0);
    assert_eq!(env.recorded_args().len(), 10_001);
}

#[test]
fn force_sender_and_reverse_path() {
    let env = Env::with_recorder(
        "force sender \"Robot <%u@example.com>\"\nforce reverse_path \"bounces-%u@example.com\"\n",
    );
    let o = env.sendmail(
        &["-f", "me@x.org", "bob"],
        b"Sender: old@x.org\nSubject: s\n\nb\n",
    );
    assert_status(&o, 0);
    let login = nix::unistd::User::from_uid(nix::unistd::getuid())
        .unwrap()
        .unwrap()
        .name;
    assert_eq!(
        env.recorded_args()[0],
        format!("bounces-{login}@example.com")
    );
    let msg = env.read("msg");
    assert_eq!(
        header(&msg, "Sender"),
        Some(format!("Robot <{login}@example.com>").as_str())
    );
    assert_eq!(msg.matches("Sender:").count(), 1);
    // The -f address is what a missing From: gets.
    assert_eq!(header(&msg, "From"), Some("me@x.org"));
}

#[test]
fn default_sender_is_login_at_hostname() {
    let env = Env::with_recorder("");
    assert_status(&env.sendmail(&["bob"], b"Subject: s\n\nb\n"), 0);
    let login = nix::unistd::User::from_uid(nix::unistd::getuid())
        .unwrap()
        .unwrap()
        .name;
    let host = gethostname::gethostname().into_string().unwrap();
    assert_eq!(env.recorded_args()[0], format!("{login}@{host}"));
}

#[test]
fn no_usable_temporary_directory_is_a_temporary_failure() {
    // A message larger than what the spool keeps in memory needs the file.
    let env = Env::with_recorder("");
    let mut big = b"Subject: s\n\n".to_vec();
    big.extend(b"a line of the body\n".repeat(esmtp::message::SPOOL_MEMORY_LIMIT / 10));
    let o = run(
        env.command(env.path("sendmail"))
            .arg("-C")
            .arg(env.rc())
            .arg("bob")
            .env("TMPDIR", env.path("missing")),
        &big,
    );
    assert_status(&o, 75);
    assert_one_line_error(&o, "temporary file");
    assert!(!env.exists("msg"));
    // A small one never touches the temporary directory.
    let o = run(
        env.command(env.path("sendmail"))
            .arg("-C")
            .arg(env.rc())
            .arg("bob")
            .env("TMPDIR", env.path("missing")),
        b"Subject: s\n\nb\n",
    );
    assert_status(&o, 0);
    assert!(env.exists("msg"));
}

#[test]
fn a_broken_from_header_only_matters_without_f() {
    let env = Env::with_recorder("");
    let input = b"From: <<broken\nTo: bob\nSubject: s\n\nb\n";
    let o = env.sendmail(&["-t"], input);
    assert_status(&o, 65);
    assert_one_line_error(&o, "From:");
    assert_status(&env.sendmail(&["-t", "-f", "me@x.org"], input), 0);
    assert_eq!(env.recorded_args(), ["me@x.org", "bob"]);
}
