//! The man pages against the single definitions they document: every
//! esmtprc keyword (with its aliases and choice values) must be in
//! esmtprc(5), extensions in its EXTENSIONS section; and both pages must
//! render without warnings; every diagnostic code they cite is
//! in the code registry, with the class the page gives it.

use esmtp::config::codes::{Class, Code};
use esmtp::config::keywords::{Scope, ValueType, KEYWORDS};
use std::path::Path;
use std::process::Command;

fn man(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("man").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The page's text with the troff escapes that matter for matching undone.
fn plain(src: &str) -> String {
    let mut s = src
        .replace("\\-", "-")
        .replace("\\(dq", "\"")
        .replace("\\(aq", "'");
    for f in ["\\fB", "\\fI", "\\fR", "\\fP"] {
        s = s.replace(f, "");
    }
    s
}

/// The text of one `.SH` section (up to the next `.SH`).
fn section<'a>(page: &'a str, title: &str) -> &'a str {
    let head = format!(".SH {title}\n");
    let start = page
        .find(&head)
        .unwrap_or_else(|| panic!("no section {title}"));
    let rest = &page[start + head.len()..];
    &rest[..rest.find("\n.SH ").unwrap_or(rest.len())]
}

/// True when `word` appears as a bold term: `.B word`, `.BI word ...`,
/// `.BR word ...`, or a line that starts with it.
fn has_bold(page: &str, word: &str) -> bool {
    page.lines().any(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        let macro_term =
            matches!(words.first(), Some(&".B" | &".BI" | &".BR" | &".TP")) && line.contains(word);
        // Font escapes are already undone: a tagged paragraph may begin
        // with the term itself.
        macro_term || line.starts_with(word)
    })
}

#[test]
fn every_keyword_alias_and_choice_is_in_esmtprc_5() {
    let page = plain(&man("esmtprc.5"));
    let statements = section(&page, "STATEMENTS");
    let extensions = section(&page, "EXTENSIONS");
    let mut missing = Vec::new();
    for kw in KEYWORDS {
        let place = if kw.extension { extensions } else { statements };
        // "force sender" is written with its value on a .BI line.
        let term = kw.name.split(' ').next_back().unwrap_or(kw.name);
        if !has_bold(place, term) {
            missing.push(format!(
                "{} (expected in {})",
                kw.name,
                if kw.extension {
                    "EXTENSIONS"
                } else {
                    "STATEMENTS"
                }
            ));
        }
        for alias in kw.aliases {
            // Written "(alias)" after the keyword's own term.
            if !page.contains(&format!("({alias})")) {
                missing.push(format!("alias {alias} of {}", kw.name));
            }
        }
        if let ValueType::Choice(words) = kw.value {
            for w in words {
                if !page.contains(w) {
                    missing.push(format!("value {w} of {}", kw.name));
                }
            }
        }
        if kw.scope == Scope::Global {
            let entry = place
                .split(".TP\n")
                .find(|e| e.lines().next().is_some_and(|l| l.contains(term)));
            if !entry.is_some_and(|e| e.contains("Global")) {
                missing.push(format!("{}: not marked Global", kw.name));
            }
        }
    }
    assert!(missing.is_empty(), "esmtprc.5 lacks: {missing:#?}");
}

#[test]
fn man_pages_render_without_warnings() {
    for page in ["esmtp.1", "esmtprc.5"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("man").join(page);
        let out = Command::new("groff")
            .args(["-ww", "-z", "-man", "-Tutf8"])
            .arg(&path)
            .output()
            .expect("groff is installed by tests/setup/install-deps.sh");
        assert!(out.status.success(), "{page}: groff failed");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.trim().is_empty(), "{page}: groff warns:\n{stderr}");
        let lint = Command::new("mandoc")
            .args(["-T", "lint", "-W", "warning"])
            .arg(&path)
            .output()
            .expect("mandoc is installed by tests/setup/install-deps.sh");
        let text = String::from_utf8_lossy(&lint.stdout);
        assert!(
            lint.status.success() && text.trim().is_empty(),
            "{page}: mandoc lint:\n{text}"
        );
    }
}

/// Every diagnostic code the pages cite (`E020`, `W025`) is in the
/// registry, and the page calls an error an error and a warning a warning.
#[test]
fn every_code_cited_is_in_the_registry() {
    let mut cited = 0;
    for name in ["esmtp.1", "esmtprc.5"] {
        let page = plain(&man(name));
        for line in page.lines() {
            let words = line.split(|c: char| !c.is_ascii_alphanumeric());
            for word in words.filter(|w| is_code(w)) {
                let code = Code::parse(word).unwrap_or_else(|| panic!("{name}: {word}"));
                let said = if line.contains("error") {
                    Some(Class::Error)
                } else if line.contains("warn") {
                    Some(Class::Warning)
                } else {
                    None
                };
                if let Some(class) = said {
                    assert_eq!(code.class(), class, "{name}: {line}");
                }
                cited += 1;
            }
        }
    }
    assert!(cited >= 3, "{cited}");
}

/// `E020`, `W001`, `C101`: a letter of the registry and three digits.
fn is_code(word: &str) -> bool {
    let b = word.as_bytes();
    b.len() == 4 && matches!(b[0], b'E' | b'W' | b'C') && b[1..].iter().all(u8::is_ascii_digit)
}
