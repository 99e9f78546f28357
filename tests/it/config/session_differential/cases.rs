//! The corpus of the session differential (SPEC §2): each case a
//! configuration, arguments and the documented difference if any.

/// A documented difference between 1.2 and this esmtp (SPEC.md [differs]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Diff {
    /// An error of this identity's smarthost (SPEC §2.3): we fail with 78
    /// before connecting; 1.2 connects (or tries to) and fails or sends
    /// without the login.
    RefusedBeforeConnecting,
    /// `message_id disabled` is honoured (SPEC §4); 1.2 adds one anyway.
    MessageIdHonoured,
    /// `-f` with another case of the identity's domain selects it here
    /// (SPEC §2.3); 1.2 compares exactly and uses the default identity.
    DomainCase,
    /// NTLM with this secret, whose hash holds a zero byte: libESMTP keys
    /// DES with `strlen()` of the hash, so 1.2 drops the bytes after it
    /// (its responses are wrong, servers refuse them); ours are right. Both
    /// are computed from the same bytes, each byte widened to 16 bits.
    NtlmZeroByte(&'static [u8]),
}

pub(super) struct Case {
    pub(super) name: &'static str,
    /// The configuration; `{P0}`..`{P2}` become ephemeral ports of the
    /// recording server.
    pub(super) rc: &'static [u8],
    pub(super) args: &'static [&'static str],
    /// AUTH mechanisms offered ("" for none).
    pub(super) mechs: &'static str,
    /// Fixed ports listened on too (listeners 3, 4...), by service name.
    pub(super) fixed: &'static [&'static str],
    pub(super) differs: Option<(Diff, &'static str)>,
}

pub(super) const fn case(
    name: &'static str,
    rc: &'static [u8],
    args: &'static [&'static str],
) -> Case {
    Case {
        name,
        rc,
        args,
        mechs: "",
        fixed: &[],
        differs: None,
    }
}

pub(super) const fn auth(mut c: Case, mechs: &'static str) -> Case {
    c.mechs = mechs;
    c
}

pub(super) const fn differs(mut c: Case, d: Diff, why: &'static str) -> Case {
    c.differs = Some((d, why));
    c
}

pub(super) const fn fixed(mut c: Case, fixed: &'static [&'static str]) -> Case {
    c.fixed = fixed;
    c
}

pub(super) const FROM_A: &[&str] = &["-f", "a@example.org", "rcpt@example.net"];
pub(super) const FROM_UNKNOWN: &[&str] = &["-f", "nobody@example.org", "rcpt@example.net"];
/// Two identities, a@ on listener 0 and b@ on listener 1.
pub(super) const TWO: &[u8] =
    b"identity a@example.org\nhostname 127.0.0.1:{P0}\nidentity b@example.org\nhostname 127.0.0.1:{P1}\n";

/// The corpus (SPEC §2).
pub(super) fn cases() -> Vec<Case> {
    vec![
        // §2.3 statements, one at a time.
        case("minimal", b"hostname 127.0.0.1:{P0}\n", FROM_A),
        case("helo", b"hostname 127.0.0.1:{P0}\nhelo client.example.org\n", FROM_A),
        auth(
            case(
                "username and password, PLAIN",
                b"hostname 127.0.0.1:{P0}\nusername alice\npassword s3cret\n",
                FROM_A,
            ),
            "PLAIN",
        ),
        auth(
            case(
                "username and password, LOGIN",
                b"hostname 127.0.0.1:{P0}\nusername alice\npassword s3cret\n",
                FROM_A,
            ),
            "LOGIN",
        ),
        auth(
            case(
                "username and password, NTLM",
                b"hostname 127.0.0.1:{P0}\nusername alice\npassword Password\n",
                FROM_A,
            ),
            "NTLM",
        ),
        auth(
            case(
                "starttls enabled, not offered: the session goes on in clear",
                b"hostname 127.0.0.1:{P0}\nstarttls enabled\nusername u\npassword p\n",
                FROM_A,
            ),
            "PLAIN",
        ),
        case(
            "starttls required, not offered: nothing is sent",
            b"hostname 127.0.0.1:{P0}\nstarttls required\n",
            FROM_A,
        ),
        case(
            "starttls disabled, certificate_passphrase unused",
            b"hostname 127.0.0.1:{P0}\nstarttls disabled\ncertificate_passphrase secret\n",
            FROM_A,
        ),
        case(
            "preconnect and postconnect",
            b"hostname 127.0.0.1:{P0}\npreconnect \"echo pre >> hooks\"\npostconnect 'echo post >> hooks'\n",
            FROM_A,
        ),
        case(
            "qualifydomain",
            b"hostname 127.0.0.1:{P0}\nqualifydomain example.net\n",
            &["-f", "a@example.org", "bob", "carol@example.com"],
        ),
        case(
            "force sender",
            b"hostname 127.0.0.1:{P0}\nforce sender \"Robot <robot@example.org>\"\n",
            FROM_A,
        ),
        case(
            "force reverse_path with %u",
            b"hostname 127.0.0.1:{P0}\nforce reverse_path %u@example.org\n",
            FROM_A,
        ),
        case(
            "message_id enabled",
            b"hostname 127.0.0.1:{P0}\nmessage_id enabled\n",
            FROM_A,
        ),
        differs(
            case(
                "message_id disabled",
                b"hostname 127.0.0.1:{P0}\nmessage_id disabled\n",
                FROM_A,
            ),
            Diff::MessageIdHonoured,
            "SPEC §4: `message_id disabled` is honoured; 1.2 ignores it",
        ),
        case(
            "mda and force_mda are global; the remote recipient still goes out",
            b"mda \"/bin/cat > /dev/null\"\nidentity a@example.org\nhostname 127.0.0.1:{P0}\n",
            FROM_A,
        ),
        // §2.3 identity rules.
        case(
            "-f selects the identity",
            TWO,
            &["-f", "b@example.org", "rcpt@example.net"],
        ),
        case(
            "an unknown -f uses the default: the identity of the first statement",
            TWO,
            FROM_UNKNOWN,
        ),
        case(
            "mda does not count as the first statement",
            b"mda \"/bin/cat\"\nidentity a@example.org\nhostname 127.0.0.1:{P0}\nidentity b@example.org\nhostname 127.0.0.1:{P1}\n",
            FROM_UNKNOWN,
        ),
        case(
            "statements before the first identity: the unnamed default",
            b"hostname 127.0.0.1:{P0}\nidentity b@example.org\nhostname 127.0.0.1:{P1}\n",
            FROM_UNKNOWN,
        ),
        case(
            "default marks the default; the last mark wins",
            b"identity a@example.org\nhostname 127.0.0.1:{P0}\ndefault\nidentity b@example.org\nhostname 127.0.0.1:{P1}\nidentity c@example.org\nhostname 127.0.0.1:{P2}\ndefault\n",
            FROM_UNKNOWN,
        ),
        case(
            "-t takes the sender from From: and selects by it",
            TWO,
            &["-t"],
        ),
        case(
            "identities do not inherit from the unnamed section",
            b"hostname 127.0.0.1:{P0}\nhelo unnamed.example\nusername u\npassword p\nidentity b@example.org\nhostname 127.0.0.1:{P1}\n",
            &["-f", "b@example.org", "rcpt@example.net"],
        ),
        differs(
            case(
                "-f with another case of the domain",
                b"identity a@example.org\nhostname 127.0.0.1:{P0}\nidentity b@Example.ORG\nhostname 127.0.0.1:{P1}\n",
                &["-f", "b@example.org", "rcpt@example.net"],
            ),
            Diff::DomainCase,
            "SPEC §2.3 [differs]: the domain is compared without regard to case",
        ),
        // The same identity twice: -f selects the later one, the default
        // stays the identity of the first statement.
        case(
            "duplicate identity: -f selects the later declaration",
            b"identity a@example.org\nhostname 127.0.0.1:{P0}\nidentity a@example.org\nhostname 127.0.0.1:{P1}\n",
            FROM_A,
        ),
        case(
            "duplicate identity: the default stays the first",
            b"identity a@example.org\nhostname 127.0.0.1:{P0}\nidentity a@example.org\nhostname 127.0.0.1:{P1}\n",
            &["-f", "other@example.org", "rcpt@example.net"],
        ),
        case(
            "duplicate identity three times with a default mark between",
            b"identity a@example.org\nhostname 127.0.0.1:{P0}\nidentity a@example.org\nhostname 127.0.0.1:{P1}\ndefault\nidentity a@example.org\nhostname 127.0.0.1:{P2}\n",
            FROM_A,
        ),
        case(
            "duplicate identity spelled differently: the exact spelling wins",
            b"identity a@Example.org\nhostname 127.0.0.1:{P0}\nidentity a@example.org\nhostname 127.0.0.1:{P1}\n",
            &["-f", "a@Example.org", "rcpt@example.net"],
        ),
        // §2.2 lexical rules and escapes.
        case(
            "free form: two statements on one line, optional =",
            b"hostname = 127.0.0.1:{P0} helo=one.example\n",
            FROM_A,
        ),
        auth(
            case(
                "keywords as values after username and password; # inside a word",
                b"hostname 127.0.0.1:{P0}\nusername hostname\npassword abc#def # a comment\n",
                FROM_A,
            ),
            "PLAIN",
        ),
        auth(
            case(
                "password default is the password \"default\"",
                b"hostname 127.0.0.1:{P0}\nusername u\npassword default\n",
                FROM_A,
            ),
            "PLAIN",
        ),
        auth(
            case(
                "escapes: \\n \\t \\b \\r \\\\ \\xHH \\0OOO \\DDD and \\c",
                b"hostname 127.0.0.1:{P0}\nusername \"u\\tv\\x41\\101\"\npassword 'a\\\\b\\0101\\065\\q\\r\\b'\n",
                FROM_A,
            ),
            "PLAIN",
        ),
        case(
            "escapes in helo, single quotes",
            b"hostname '127.0.0.1:{P0}'\nhelo 'h\\x61\\055x'\n",
            FROM_A,
        ),
        case(
            "stray punctuation is ignored",
            b"hostname 127.0.0.1:{P0} ;\nhelo x.example ,\n",
            FROM_A,
        ),
        case(
            "CRLF line ends",
            b"hostname 127.0.0.1:{P0}\r\nhelo crlf.example\r\n",
            FROM_A,
        ),
        case(
            "a Latin-1 comment",
            b"# caf\xe9 cr\xe8me\nhostname 127.0.0.1:{P0}\n",
            FROM_A,
        ),
        // Latin-1 secrets, byte for byte.
        auth(
            case(
                "Latin-1 file: raw bytes in username and password, PLAIN",
                b"hostname 127.0.0.1:{P0}\nusername jos\xe9\npassword \"caf\xe9 cr\xe8me\"\n",
                FROM_A,
            ),
            "PLAIN",
        ),
        auth(
            case(
                "Latin-1 file: raw bytes, LOGIN",
                b"hostname 127.0.0.1:{P0}\nusername jos\xe9\npassword caf\xe9\n",
                FROM_A,
            ),
            "LOGIN",
        ),
        auth(
            case(
                "Latin-1 file: raw bytes, NTLM",
                b"hostname 127.0.0.1:{P0}\nusername jos\xe9\npassword cr\xe8me\n",
                FROM_A,
            ),
            "NTLM",
        ),
        auth(
            differs(
                case(
                    "Latin-1 file: NTLM with a hash that holds a zero byte",
                    b"hostname 127.0.0.1:{P0}\nusername jos\xe9\npassword caf\xe9\n",
                    FROM_A,
                ),
                Diff::NtlmZeroByte(b"caf\xe9"),
                "libESMTP keys DES with strlen() of the hash: 1.2's responses are wrong for this password",
            ),
            "NTLM",
        ),
        auth(
            case(
                "Latin-1 by escapes: \\xe9 and decimal \\233",
                b"hostname 127.0.0.1:{P0}\nusername \"u\\xe9\"\npassword caf\\233\n",
                FROM_A,
            ),
            "PLAIN",
        ),
        auth(
            case(
                "UTF-8 secret, NTLM widens each byte as 1.2 does",
                "hostname 127.0.0.1:{P0}\nusername jos\u{e9}\npassword caf\u{e9}\n".as_bytes(),
                FROM_A,
            ),
            "NTLM",
        ),
        // Half credentials: an error of that identity.
        auth(
            differs(
                case(
                    "username without password",
                    b"hostname 127.0.0.1:{P0}\nusername alice\n",
                    FROM_A,
                ),
                Diff::RefusedBeforeConnecting,
                "SPEC §2.3: half credentials make the identity unusable (E015); 1.2 sends a broken AUTH or none",
            ),
            "PLAIN",
        ),
        auth(
            differs(
                case(
                    "password without username",
                    b"hostname 127.0.0.1:{P0}\npassword s3cret\n",
                    FROM_A,
                ),
                Diff::RefusedBeforeConnecting,
                "SPEC §2.3: half credentials make the identity unusable (E015)",
            ),
            "PLAIN",
        ),
        auth(
            case(
                "half credentials in another identity do not matter",
                b"identity a@example.org\nhostname 127.0.0.1:{P0}\nidentity b@example.org\nhostname 127.0.0.1:{P1}\nusername alice\n",
                FROM_A,
            ),
            "PLAIN",
        ),
        // Unusable ports: only that identity fails.
        differs(
            case(
                "SERVER:PORT left from a template",
                b"identity a@example.org\nhostname = SERVER:PORT\nidentity b@example.org\nhostname 127.0.0.1:{P1}\n",
                FROM_A,
            ),
            Diff::RefusedBeforeConnecting,
            "SPEC §2.3: an unresolvable port makes the identity unusable (E005); 1.2 fails to connect (69)",
        ),
        case(
            "SERVER:PORT in another identity does not matter",
            b"identity a@example.org\nhostname = SERVER:PORT\nidentity b@example.org\nhostname 127.0.0.1:{P1}\n",
            &["-f", "b@example.org", "rcpt@example.net"],
        ),
        differs(
            case(
                "a backslash at the end of the port",
                b"identity a@example.org\nhostname 127.0.0.1:{P0}\\\nhelo x.example\n",
                FROM_A,
            ),
            Diff::RefusedBeforeConnecting,
            "SPEC §2.2: the backslash is part of the port (E005); 1.2 fails to connect",
        ),
        // Ports: service names and the default 587.
        fixed(
            case(
                "service name submission",
                b"hostname 127.0.0.1:submission\n",
                FROM_A,
            ),
            &["submission"],
        ),
        fixed(
            case(
                "service name from /etc/services",
                b"hostname 127.0.0.1:gopher\n",
                FROM_A,
            ),
            &["gopher"],
        ),
        fixed(
            case(
                "a hostname without a port is port 587",
                b"hostname 127.0.0.1\n",
                FROM_A,
            ),
            &["submission"],
        ),
    ]
}
