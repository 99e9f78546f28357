//! What files mean: the plan the compiler builds (SPEC §2).

use esmtp::config::{self, Options};
use esmtp::plan::{AuthMech, Plan, QueueMode, SecretSource, TemplatePart, TlsPolicy};

fn plan(src: &str) -> Plan {
    let c = config::compile("t", src.as_bytes(), &Options::default());
    match c.plan {
        Some(p) => p,
        None => panic!("does not compile:\n{}", c.render_errors()),
    }
}

fn codes(src: &str) -> Vec<&'static str> {
    let opts = Options {
        compat: true,
        ..Options::default()
    };
    config::compile("t", src.as_bytes(), &opts)
        .diagnostics
        .iter()
        .map(|d| d.code.as_str())
        .collect()
}

fn addr(p: &Plan) -> Option<&str> {
    p.default_identity().address.as_deref()
}

#[test]
fn empty_file_is_one_default_identity_to_localhost_25() {
    assert_eq!(plan(""), Plan::empty());
    assert_eq!(plan("# only a comment\n"), Plan::empty());
}

#[test]
fn default_identity_rules() {
    // The identity holding the first statement.
    assert_eq!(addr(&plan("hostname a\nidentity x@y\nhostname b\n")), None);
    assert_eq!(
        addr(&plan("identity a@x\nidentity b@x\nhostname h\n")),
        Some("b@x")
    );
    // mda and force_mda do not count.
    let p = plan("mda \"procmail -d %T\"\nidentity a@x\nhostname h\nidentity b@x\nhostname i\n");
    assert_eq!(addr(&p), Some("a@x"));
    assert_eq!(
        p.identities.len(),
        2,
        "the unnamed section with only mda is dropped"
    );
    // `default` wins, the last one.
    assert_eq!(
        addr(&plan(
            "identity a@x\nhostname h\nidentity b@x\nhostname i\ndefault\n"
        )),
        Some("b@x")
    );
    assert_eq!(
        addr(&plan("identity a@x\ndefault\nhostname h\nidentity b@x\nhostname i\ndefault\nidentity c@x\nhostname j\n")),
        Some("b@x")
    );
    // No statement at all: the last identity declared.
    assert_eq!(
        addr(&plan("mda \"m %T\"\nidentity only@x\n")),
        Some("only@x")
    );
    // `default` in the unnamed section.
    let p = plan("default\nidentity a@x\nhostname h\n");
    assert_eq!(p.default_identity, 0);
    assert_eq!(p.identities[0].address, None);
}

#[test]
fn identities_do_not_inherit() {
    let p = plan("hostname main:25\nusername u\npassword p\nidentity a@x\nhelo me\n");
    let a = &p.identities[1];
    assert!(!a.relay.explicit);
    assert_eq!((a.relay.host.as_str(), a.relay.port), ("localhost", 25));
    assert!(a.username.is_none() && a.secret.is_none());
}

#[test]
fn ports_and_service_names() {
    let port = |s: &str| plan(s).identities[0].relay.port;
    assert_eq!(port("hostname h\n"), 587);
    assert_eq!(port("hostname h:25\n"), 25);
    assert_eq!(port("hostname = h:smtp\n"), 25);
    assert_eq!(port("hostname h:submission\n"), 587);
    assert_eq!(port("hostname h:smtps\n"), 465);
    assert_eq!(port("hostname h:submissions\n"), 465);
    assert_eq!(port("hostname [::1]:2525\n"), 2525);
    assert!(codes("hostname h:bogus-service\n").contains(&"E005"));
    assert!(codes("hostname h:0\n").contains(&"E005"));
}

#[test]
fn tls_policy_and_implicit_on_465() {
    let tls = |s: &str| plan(s).identities[0].tls;
    assert_eq!(tls("hostname h\n"), TlsPolicy::Disabled);
    assert_eq!(tls("hostname h\nstarttls enabled\n"), TlsPolicy::Enabled);
    assert_eq!(tls("hostname h\ntls = required\n"), TlsPolicy::Required);
    assert_eq!(tls("hostname h\nstarttls implicit\n"), TlsPolicy::Implicit);
    assert_eq!(tls("hostname h:465\n"), TlsPolicy::Implicit);
    assert_eq!(tls("hostname h:smtps\n"), TlsPolicy::Implicit);
    assert_eq!(
        tls("hostname h:465\nstarttls disabled\n"),
        TlsPolicy::Disabled
    );
    assert!(codes("hostname h:465\n").contains(&"C003"));
    assert!(codes("hostname h\nstarttls implicit\n").contains(&"C002"));
}

#[test]
fn lexical_rules_of_1_2() {
    let id = |s: &str| plan(s).identities[0].clone();
    // Several statements per line, optional `=`.
    let a = id("hostname=h:25 username u password = p helo x");
    assert_eq!(a.username, Some("u".into()));
    assert_eq!(a.helo.as_deref(), Some("x"));
    // `#` only at a token start.
    let a = id("password abc#def # comment\nusername u\n");
    assert_eq!(
        a.secret,
        Some(SecretSource::Password(esmtp::plan::Secret::new("abc#def")))
    );
    // Keywords as values after identity/hostname/username/password.
    let p = plan("identity default\nusername hostname\npassword default\n");
    assert_eq!(p.identities[0].address.as_deref(), Some("default"));
    assert_eq!(p.identities[0].username, Some("hostname".into()));
    // Escapes in both quote styles and bare words (in a value that may
    // hold control characters: see tests/it/config/wire_values.rs).
    assert_eq!(
        id("preconnect \"a\\tb\\x41\\101\\q\"\n")
            .preconnect
            .as_deref(),
        Some("a\tbAeq")
    );
    assert_eq!(id("helo 'x\\\\y'\n").helo.as_deref(), Some("x\\y"));
    assert_eq!(id("preconnect x\\ny\n").preconnect.as_deref(), Some("x\ny"));
    // Quotes inside a bare word are literal; a quoted string spans lines.
    assert_eq!(id("helo a\"b\n").helo.as_deref(), Some("a\"b"));
    assert_eq!(
        id("preconnect \"a\nb\"\n").preconnect.as_deref(),
        Some("a\nb")
    );
    // Aliases.
    let a = id("host h:25\nuser u\npass p\ntls required\npassphrase k\n");
    assert_eq!(a.relay.host, "h");
    assert_eq!(a.tls, TlsPolicy::Required);
    assert!(a.certificate_passphrase.is_some());
    // CRLF and blanks.
    assert_eq!(id("hostname h:25\r\nhelo x\r\n").helo.as_deref(), Some("x"));
    // Line continuation.
    assert_eq!(id("hostname \\\n h:25\n").relay.host, "h");
    // Extension keywords are plain words in value position.
    assert_eq!(id("helo timeout\n").helo.as_deref(), Some("timeout"));
}

#[test]
fn quirks_accepted_as_meant_with_warnings() {
    let p = plan("password 12345\nhelo 123\nusername u\n");
    assert_eq!(
        p.identities[0].secret,
        Some(SecretSource::Password(esmtp::plan::Secret::new("12345")))
    );
    assert_eq!(p.identities[0].helo.as_deref(), Some("123"));
    assert_eq!(
        codes("password 12345\nusername u\nhostname localhost\n"),
        vec!["C101"]
    );
    assert_eq!(codes("hostname localhost\n# c"), vec!["C102"]);
    assert_eq!(codes("hostname localhost;\n"), vec!["C103"]);
    assert!(codes("identity a@x\nhostname h\nidentity b@x\n").contains(&"C104"));
}

#[test]
fn templates() {
    let p = plan("hostname h\nforce sender \"%u@x.org\"\nforce reverse_path = 'b+%u%%@x'\nmda \"/usr/bin/procmail -f %F -d %T\"\n");
    let fs = p.identities[0].force_sender.clone().unwrap();
    assert_eq!(
        fs.parts,
        vec![TemplatePart::Login, TemplatePart::Literal("@x.org".into())]
    );
    let rp = p.identities[0].force_reverse_path.clone().unwrap();
    assert_eq!(rp.expand("me", &[], "", |s| s.to_string()), "b+me%@x");
    let mda = p.mda.unwrap();
    assert!(
        mda.parts.contains(&TemplatePart::Sender) && mda.parts.contains(&TemplatePart::Recipients)
    );
    // %T is not valid in force sender; %u not in mda.
    assert!(codes("force sender \"%T\"\nhostname localhost\n").contains(&"W013"));
    assert!(codes("mda \"x %u %T\"\n").contains(&"W013"));
}

#[test]
fn extensions() {
    let p = plan("hostname h\nusername u\npasswordeval \"pass show x\"\nauth cram-md5\ntimeout 15\nqueue background\nqueue_dir /q\nqueue_lifetime 3h\n");
    let a = &p.identities[0];
    assert_eq!(a.secret, Some(SecretSource::Eval("pass show x".into())));
    assert_eq!(a.auth, Some(AuthMech::CramMd5));
    assert_eq!(a.timeout_secs, 15);
    assert_eq!(p.queue.mode, QueueMode::Background);
    assert_eq!(p.queue.dir.as_deref(), Some("/q"));
    assert_eq!(p.queue.lifetime_secs, 3 * 3600);
    assert_eq!(plan("queue enabled\n").queue.mode, QueueMode::Enabled);
    assert_eq!(plan("queue_lifetime 600\n").queue.lifetime_secs, 600);
    let c = codes("hostname h\ntimeout 5\n");
    assert!(c.contains(&"C001"));
    // Without --compat, extensions are silent.
    let quiet = config::compile("t", b"hostname localhost\ntimeout 5\n", &Options::default());
    assert!(quiet.diagnostics.is_empty(), "{:?}", quiet.diagnostics);
    assert!(codes("password p\npasswordeval x\n").contains(&"E008"));
    assert!(codes("timeout 0\n").contains(&"E010"));
}

#[test]
fn errors_and_their_codes() {
    assert_eq!(codes("hostnmae x\n"), vec!["E001"]);
    assert_eq!(codes("starttls yes\n"), vec!["E003"]);
    assert_eq!(codes("helo default\n"), vec!["E004"]);
    assert_eq!(codes("helo\n"), vec!["E002"]);
    // The same identity twice: 1.2 accepts it (`-f` selects the last).
    // (The domains differ in case: C005 says 1.2 tells them apart.)
    assert_eq!(
        codes("identity a@x.org\nhostname h\nidentity a@X.ORG\nhostname i\n"),
        vec!["W020", "C005"]
    );
    assert_eq!(
        codes("identity a@x.org\nhostname h\nidentity a@x.org\nhostname i\n"),
        vec!["W020"]
    );
    // Every independent error in one run.
    let many = codes("hostnmae a\nstarttls yes\nhelo default\nsender x\nmessage_id maybe\nforce from x\nusernme u\n");
    assert_eq!(
        many.iter().filter(|c| c.starts_with('E')).count(),
        7,
        "{many:?}"
    );
}

#[test]
fn help_texts_carry_the_fix() {
    let c = config::compile(
        "t",
        b"hostnmae x\nsender = a@b\nstarttls yes\npreconnect ssh -f host sleep 5\n",
        &Options::default(),
    );
    let helps: Vec<String> = c
        .diagnostics
        .iter()
        .filter_map(|d| d.help.clone())
        .collect();
    assert!(helps.iter().any(|h| h.contains("`hostname`")), "{helps:?}");
    assert!(
        helps.iter().any(|h| h.contains("force sender = a@b")),
        "{helps:?}"
    );
    assert!(helps
        .iter()
        .any(|h| h.contains("starttls enabled") && h.contains("starttls required")));
    assert!(
        helps
            .iter()
            .any(|h| h.contains("preconnect \"ssh -f host sleep 5\"")),
        "{helps:?}"
    );
}

#[test]
fn lints() {
    // An explicit `starttls disabled` sends the password in clear (W005);
    // without a statement it is never sent in clear (W025), except by
    // SCRAM, CRAM-MD5 or NTLM, which do not reveal it.
    let warnings = |src: &str| -> Vec<&'static str> {
        codes(src)
            .into_iter()
            .filter(|c| c.starts_with('W'))
            .collect()
    };
    let clear = "hostname smtp.x.org\nusername u\npassword p\nstarttls disabled\n";
    assert_eq!(warnings(clear), ["W005"]);
    assert_eq!(
        warnings("hostname smtp.x.org\nusername u\npassword p\n"),
        ["W025"]
    );
    assert_eq!(
        warnings("hostname smtp.x.org\nusername u\npassword p\nauth login\n"),
        ["W025"]
    );
    assert!(warnings("hostname smtp.x.org\nusername u\npassword p\nauth cram-md5\n").is_empty());
    // SCRAM proves the password without revealing it; OAUTHBEARER shows
    // its token, and a fixed `password` for it is a token that expires.
    for scram in ["scram-sha-256", "scram-sha-1"] {
        let rc = format!("hostname smtp.x.org\nusername u\npassword p\nauth {scram}\n");
        assert!(warnings(&rc).is_empty(), "{scram}: {:?}", warnings(&rc));
    }
    assert_eq!(
        warnings("hostname smtp.x.org\nusername u\npassword p\nauth oauthbearer\n"),
        ["W025", "W015"]
    );
    assert!(warnings(
        "hostname smtp.x.org\nusername u\npasswordeval \"cat t\"\nauth oauthbearer\nstarttls required\n"
    )
    .is_empty());
    for safe in ["enabled", "required", "implicit"] {
        let rc = format!("hostname smtp.x.org\nusername u\npassword p\nstarttls {safe}\n");
        assert!(warnings(&rc).is_empty(), "{safe}: {:?}", warnings(&rc));
    }
    assert!(warnings("hostname smtp.x.org:465\nusername u\npassword p\n").is_empty());
    assert!(warnings("hostname localhost\nusername u\npassword p\n").is_empty());
    // Half credentials: an error of the identity (E015), not a lint.
    assert!(codes("hostname h\nusername u\n").contains(&"E015"));
    assert!(codes("hostname h\npassword p\n").contains(&"E015"));
    assert!(codes("hostname localhost\nusername u\npassword \"\"\n").contains(&"W007"));
    assert!(codes("identity \"John Doe\"\nhostname h\n").contains(&"W008"));
    assert!(codes("identity a@x\n").contains(&"W009"));
    assert!(codes("hostname h:465\nstarttls required\n").contains(&"W010"));
    assert!(codes("mda procmail\n").contains(&"W011"));
    assert!(codes("force_mda root\n").contains(&"W012"));
    assert!(codes("hostname localhost\nhostname localhost\n").contains(&"W001"));
    assert!(
        codes("identity a@x\nhostname h\ndefault\nidentity b@x\nhostname i\ndefault\n")
            .contains(&"W002")
    );
    let with_programs = Options {
        lint_programs: true,
        ..Options::default()
    };
    let c = config::compile(
        "t",
        b"hostname localhost\npreconnect \"no-such-program-xyz --flag\"\n",
        &with_programs,
    );
    assert!(c.diagnostics.iter().any(|d| d.code == "W014"));
    let c = config::compile(
        "t",
        b"hostname localhost\npreconnect \"sh -c true\"\n",
        &with_programs,
    );
    assert!(c.diagnostics.iter().all(|d| d.code != "W014"));
    // Permission lints.
    let perm = |mode, system| Options {
        file_mode: Some(mode),
        system_file: system,
        ..Options::default()
    };
    let src = b"hostname localhost\nusername u\npassword p\n";
    let c = config::compile("t", src, &perm(0o644, false));
    assert!(c.diagnostics.iter().any(|d| d.code == "W003"));
    let c = config::compile("t", src, &perm(0o600, false));
    assert!(c.diagnostics.iter().all(|d| d.code != "W003"));
    let c = config::compile("t", src, &perm(0o644, true));
    assert!(c.diagnostics.iter().any(|d| d.code == "W004"));
}

#[test]
fn bad_input_is_bounded() {
    // NUL bytes, garbage, unterminated quote at end of file.
    for src in [
        &b"\0\0\0"[..],
        b"\xff\xfe\x00garbage\x01\x02",
        b"helo \"abc",
        b"password \"",
        b"'",
    ] {
        let c = config::compile("t", src, &Options::default());
        for d in &c.diagnostics {
            if let Some(p) = &d.primary {
                assert!(p.span.end <= c.text.len());
            }
        }
    }
    // Thousands of errors: reading stops after 500, rendering is capped.
    let src = "bogus\n".repeat(5000);
    let c = config::compile("t", src.as_bytes(), &Options::default());
    assert!((500..=502).contains(&c.errors()), "{}", c.errors());
    assert!(c.diagnostics.iter().any(|d| d.code == "E014"));
    let shown = c.render_errors();
    assert!(
        shown.contains("more errors"),
        "{}",
        &shown[shown.len() - 200..]
    );
    // Thousands of errors that are not syntax errors: all counted, at most
    // DiagList::KEEP kept.
    let src = "timeout 0\n".repeat(3000);
    let c = config::compile("t", src.as_bytes(), &Options::default());
    assert_eq!(c.errors(), 3000);
    assert!(c.diagnostics.len() <= 2 * config::diag::DiagList::KEEP);
    // Thousands of declarations of one identity: one warning, a few labels.
    let src = "identity a@b\n".repeat(3000);
    let c = config::compile("t", src.as_bytes(), &Options::default());
    assert_eq!(c.errors(), 0);
    let dup: Vec<_> = c.diagnostics.iter().filter(|d| d.code == "W020").collect();
    assert_eq!(dup.len(), 1);
    assert!(dup[0].secondary.len() <= 4, "{:?}", dup[0]);
    let src = "identity a@b\nhostname h:0\n".repeat(3000);
    let c = config::compile("t", src.as_bytes(), &Options::default());
    assert_eq!(c.errors(), 3000);
    assert!(c.diagnostics.len() <= 2 * config::diag::DiagList::KEEP);
    // Too large: refused without parsing.
    let big = vec![b'#'; config::MAX_FILE_BYTES + 1];
    let c = config::compile("t", &big, &Options::default());
    assert_eq!(c.diagnostics[0].code, "E011");
}

#[test]
fn non_utf8_in_values_is_an_error_but_fine_in_comments() {
    assert!(
        config::compile("t", b"# Jos\xe9\nhostname h\n", &Options::default())
            .plan
            .is_some()
    );
    let c = config::compile("t", b"hostname h\xe9\n", &Options::default());
    assert!(c.diagnostics.iter().any(|d| d.code == "E009"));
    let c = config::compile("t", b"helo \"\\xe9\"\n", &Options::default());
    assert!(c.diagnostics.iter().any(|d| d.code == "E009"));
}

#[test]
fn ten_thousand_identities() {
    let mut src = String::from("mda \"/usr/bin/procmail -d %T\"\n");
    for i in 0..10_000 {
        src.push_str(&format!(
            "identity user{i}@example.org\n  hostname smtp{i}.example.org:587\n  username user{i}\n  password \"secret {i}\"\n  starttls required\n"
        ));
    }
    src.push_str("default\n");
    let p = plan(&src);
    assert_eq!(p.identities.len(), 10_000);
    assert_eq!(p.default_identity, 9_999);
    assert_eq!(p.identities[1234].relay.host, "smtp1234.example.org");
}
