//! Unit tests of the msmtprc reader and converter.

use super::*;

#[test]
fn quoted_keeps_every_byte_in_escapes() {
    assert_eq!(quoted(b"a\"b\\c#d\xff"), "\"a\\x22b\\x5cc\\x23d\\xff\"");
}

#[test]
fn inheritance_defaults_and_default_alias() {
    let src = b"defaults\nport 587\ntls on\naccount a\nhost h\nfrom a@x\naccount b : a\nfrom b@x\naccount default : b\n";
    let out = convert(src, "f").unwrap();
    assert!(
        out.contains("identity a@x\nstarttls required\nhostname h:587\n"),
        "{out}"
    );
    assert!(
        out.contains("identity b@x\nstarttls required\nhostname h:587\ndefault\n"),
        "{out}"
    );
}

#[test]
fn many_accounts_and_parents_stay_linear() {
    // Each account inherits the previous one four times: copying every
    // inherited line would double the list each time.
    let mut src = b"defaults\nhost h\naccount a0\nfrom a0@x\n".to_vec();
    for i in 1..20_000 {
        let p = i - 1;
        src.extend_from_slice(
            format!("account a{i} : a{p}, a{p}, a{p}, a{p}\nfrom a{i}@x\n").as_bytes(),
        );
    }
    let t = std::time::Instant::now();
    let out = convert(&src, "f").unwrap();
    assert!(out.contains("identity a19999@x\nhostname h:25\n"));
    // Generous for a debug build on a loaded machine; quadratic or
    // exponential work takes minutes or never ends.
    assert!(
        t.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn output_is_bounded() {
    let mut src = b"defaults\n".to_vec();
    // Ten long unsupported settings, repeated in each of 500 accounts
    // (20 MB of comments from a 50 KB file).
    for cmd in [
        "aliases",
        "logfile",
        "syslog",
        "dsn_notify",
        "dsn_return",
        "tls_crl_file",
    ]
    .iter()
    .chain(&["source_ip", "proxy_host", "socket", "ntlmdomain"])
    {
        src.extend_from_slice(format!("{cmd} {}\n", "x".repeat(4000)).as_bytes());
    }
    for i in 0..500 {
        src.extend_from_slice(format!("account a{i}\n").as_bytes());
    }
    let result = convert(&src, "f");
    assert!(
        matches!(&result, Err(e) if e.message.contains("MiB")),
        "{:?}",
        result.map(|o| o.len())
    );
}

#[test]
fn errors_carry_the_line_and_no_value() {
    let e = convert(b"account a\nhost h\nbogus secret\n", "f").unwrap_err();
    assert_eq!(e.line, 3);
    assert!(!e.message.contains("secret"));
    assert_eq!(convert(b"host h\n", "f").unwrap_err().line, 1);
    let both = convert(
        b"account a\nhost h\nfrom a@b\npasswordeval x\npassword p\npassword\n",
        "f",
    )
    .unwrap();
    assert!(
        both.contains("passwordeval \"x\"") && !both.contains("password \""),
        "{both}"
    );
    let both = convert(
        b"account a\nhost h\nfrom a@b\npasswordeval x\npassword p\n",
        "f",
    )
    .unwrap();
    assert!(
        both.contains("password \"p\"\n") && !both.contains("passwordeval \""),
        "{both}"
    );
    let v6 = convert(b"account a\nhost ::1\nport 2525\n", "f").unwrap();
    assert!(v6.contains("hostname [::1]:2525\n"), "{v6}");
    assert_eq!(convert(b"account a : z\n", "f").unwrap_err().line, 1);
    let e = convert(b"account a\ntls maybe-secret\n", "f").unwrap_err();
    assert!(!e.message.contains("maybe"));
}

/// Every esmtprc keyword the table names is one the compiler knows, and the
/// README text of a converted command names it.
#[test]
fn the_table_names_real_keywords() {
    use crate::config::keywords::lookup;
    for (name, map) in commands::COMMANDS {
        match map {
            Map::Keyword(k) => assert!(lookup(k).is_some(), "{name}: `{k}` is no esmtprc keyword"),
            Map::Special(text, keywords) => {
                for k in *keywords {
                    assert!(lookup(k).is_some(), "{name}: `{k}` is no esmtprc keyword");
                    assert!(
                        text.contains(&format!("`{k}")),
                        "{name}: {text:?} does not name `{k}`"
                    );
                }
            }
            Map::None(_) | Map::Secret(_) => {}
        }
    }
}

/// The README's "Moving from msmtp" tables are the ones made from the
/// command tables (`ESMTP_WRITE_README=1 cargo test --lib msmtp` rewrites
/// them after a change to the tables).
#[test]
fn readme_tables_are_generated() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let mut expected = readme.clone();
    for (name, table) in [
        ("msmtp-options", commands::readme_options()),
        ("msmtp-commands", commands::readme_table()),
    ] {
        let begin = format!("<!-- {name}: generated from src/config/msmtp/commands.rs -->\n");
        let end = format!("<!-- end of {name} -->");
        let at = expected
            .find(&begin)
            .unwrap_or_else(|| panic!("README lacks {begin}"))
            + begin.len();
        let to = at
            + expected[at..]
                .find(&end)
                .unwrap_or_else(|| panic!("README lacks {end}"));
        expected.replace_range(at..to, &table);
    }
    if expected != readme && std::env::var_os("ESMTP_WRITE_README").is_some() {
        std::fs::write(path, &expected).unwrap();
        return;
    }
    assert!(
        expected == readme,
        "README's msmtp tables differ from src/config/msmtp/commands.rs; run ESMTP_WRITE_README=1 cargo test --lib msmtp"
    );
}
