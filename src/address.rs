//! The one rule for comparing mail addresses: the local part exactly, the
//! domain without regard to case and written in either of its forms
//! (`bücher.example` and its A-label `xn--bcher-kva.example` are one
//! domain); `Name <addr>` reduced to `addr`. And the one conversion of an
//! address to ASCII (IDNA, for a server without SMTPUTF8).
//!
//! It sits at the ground, beside the plan, because the configuration
//! compiler (grouping an identity declared twice), the plan cache (the key
//! of its address index) and routing (selecting the identity for a
//! sender) all need it, and the compiler lies below the message and the
//! router in the layers. The address type itself, [`crate::message::Mailbox`]
//! (address and display name), lives with the message.

use std::borrow::Cow;
use std::fmt;

/// `Name <addr>` → `addr`; anything else unchanged (trimmed).
pub fn bare(text: &str) -> &str {
    match (text.rfind('<'), text.rfind('>')) {
        (Some(l), Some(r)) if l < r => text[l + 1..r].trim(),
        _ => text.trim(),
    }
}

/// Equal addresses: the local part compared exactly, the domain without
/// regard to case and in either form (U-labels or A-labels). The same as
/// comparing [`normalized`] forms.
pub fn same(a: &str, b: &str) -> bool {
    match (a.rsplit_once('@'), b.rsplit_once('@')) {
        (Some((la, da)), Some((lb, db))) => la == lb && same_domain(da, db),
        (None, None) => a == b,
        _ => false,
    }
}

fn same_domain(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    domain_key(a) == domain_key(b)
}

/// The domain as it is compared: A-labels, lower case. A domain that IDNA
/// cannot convert stays as written (ASCII lower-cased): it is not ASCII,
/// so it equals no convertible domain.
fn domain_key(domain: &str) -> Cow<'_, str> {
    match ascii_domain(domain) {
        Ok(d) if d.bytes().any(|b| b.is_ascii_uppercase()) => Cow::Owned(d.to_ascii_lowercase()),
        Ok(d) => d,
        Err(_) => Cow::Owned(domain.to_ascii_lowercase()),
    }
}

/// `local@domain` with the domain as compared (A-labels, lower case): two
/// addresses are [`same`] exactly when their normalised forms are equal (a
/// map key).
pub fn normalized(addr: &str) -> String {
    match addr.rsplit_once('@') {
        Some((local, domain)) => format!("{local}@{}", domain_key(domain)),
        None => addr.to_string(),
    }
}

/// The key of the plan cache's address index: [`bare`], then the local
/// part lower-cased and the domain as compared (A-labels, lower case).
/// Coarser than [`same`] (it also folds the local part, and non-ASCII
/// case), so every identity [`same`] would select is found under it; the
/// caller then applies [`same`]. Its bytes decide the bucket an identity
/// lands in on disk: a change is a new cache format. For an ASCII address
/// it is the address lower-cased.
pub fn index_key(text: &str) -> String {
    let addr = bare(text);
    match addr.rsplit_once('@') {
        Some((local, domain)) if !domain.is_ascii() => {
            let domain = match ascii_domain(domain) {
                Ok(d) => d.to_ascii_lowercase(),
                Err(_) => domain.to_lowercase(),
            };
            format!("{}@{domain}", local.to_lowercase())
        }
        _ => addr.to_lowercase(),
    }
}

/// A domain IDNA cannot write in ASCII (RFC 5891, UTS 46): a label holds a
/// character no domain name may hold (a symbol, a blank, a character not
/// in Unicode's IDNA table), is badly formed (a leading or trailing
/// hyphen, mixed directions), or is longer than DNS allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdnaError;

impl fmt::Display for IdnaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the domain cannot be converted to ASCII (IDNA): a label is empty, holds a character \
             no domain name may hold, starts or ends with a hyphen, or is too long",
        )
    }
}

/// The domain with every non-ASCII label as its A-label (`bücher.example`
/// → `xn--bcher-kva.example`; UTS 46 nontransitional processing, as IDNA
/// 2008 asks: lower case, `ß` kept). An ASCII domain is returned as it is
/// (its own rules are the router's), so that nothing changes for it.
pub fn ascii_domain(domain: &str) -> Result<Cow<'_, str>, IdnaError> {
    if domain.is_ascii() {
        return Ok(Cow::Borrowed(domain));
    }
    idna::uts46::Uts46::new()
        .to_ascii(
            domain.as_bytes(),
            idna::uts46::AsciiDenyList::URL,
            idna::uts46::Hyphens::CheckFirstLast,
            idna::uts46::DnsLength::Verify,
        )
        .map_err(|_| IdnaError)
}

/// Why an address cannot be written in ASCII.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotAscii {
    /// The local part is not ASCII: only SMTPUTF8 can carry it.
    LocalPart,
    /// The domain cannot be converted (IDNA).
    Domain(IdnaError),
}

/// The address as a server without SMTPUTF8 can take it: the domain as
/// A-labels; unchanged when it is ASCII already.
pub fn ascii_address(addr: &str) -> Result<Cow<'_, str>, NotAscii> {
    if addr.is_ascii() {
        return Ok(Cow::Borrowed(addr));
    }
    let Some((local, domain)) = addr.rsplit_once('@') else {
        return Err(NotAscii::LocalPart);
    };
    if !local.is_ascii() {
        return Err(NotAscii::LocalPart);
    }
    let domain = ascii_domain(domain).map_err(NotAscii::Domain)?;
    Ok(Cow::Owned(format!("{local}@{domain}")))
}

/// A character an address may not hold although it is no control
/// character: the Unicode line and paragraph separators (U+2028, U+2029),
/// which some programs take for the end of a line. (Controls, C0 and C1,
/// are refused everywhere already.)
pub fn is_line_separator(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}')
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLES: &[&str] = &[
        "a@b.org",
        "a@B.ORG",
        "A@b.org",
        "Name <a@b.org>",
        " a@b.org ",
        "root",
        "Root",
        "x@y@Z.org",
        "x@y@z.org",
        "ü@É.org",
        "ü@é.org",
        "u@bücher.example",
        "u@BÜCHER.example",
        "u@xn--bcher-kva.example",
        "u@XN--BCHER-KVA.EXAMPLE",
        "ü@xn--bcher-kva.example",
        "u@bad\u{2028}.example",
        "u@-bad.example",
        "u@-BAD.example",
        "",
        "<>",
    ];

    #[test]
    fn same_is_equality_of_normalized_forms() {
        for a in SAMPLES {
            for b in SAMPLES {
                assert_eq!(same(a, b), normalized(a) == normalized(b), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn the_index_key_never_separates_same_addresses() {
        for a in SAMPLES {
            for b in SAMPLES {
                if same(bare(a), bare(b)) {
                    assert_eq!(index_key(a), index_key(b), "{a:?} {b:?}");
                }
            }
        }
        assert_eq!(index_key(" Name <A@B.org> "), "a@b.org");
        assert!(!same("A@b.org", "a@b.org"));
    }

    #[test]
    fn both_forms_of_a_domain_are_one_domain() {
        assert!(same("u@bücher.example", "u@xn--bcher-kva.example"));
        assert!(same("u@XN--BCHER-KVA.example", "u@BÜCHER.EXAMPLE"));
        assert!(!same("U@bücher.example", "u@xn--bcher-kva.example"));
        assert!(!same("u@bucher.example", "u@bücher.example"));
        // A domain IDNA refuses equals itself only.
        assert!(same("u@-bad.example", "u@-bad.example"));
        assert!(!same("u@-bad.example", "u@bad.example"));
        assert_eq!(
            normalized("Jörg@Bücher.Example"),
            "Jörg@xn--bcher-kva.example"
        );
        assert_eq!(
            index_key("Jörg <Jörg@bücher.example>"),
            "jörg@xn--bcher-kva.example"
        );
        // ASCII addresses keep the key they had.
        assert_eq!(index_key("A@B.org"), "a@b.org");
    }

    #[test]
    fn a_domain_goes_as_a_labels() {
        assert_eq!(
            ascii_domain("bücher.example").unwrap(),
            "xn--bcher-kva.example"
        );
        assert_eq!(
            ascii_domain("例え.テスト").unwrap(),
            "xn--r8jz45g.xn--zckzah"
        );
        // IDNA 2008: ß is a letter of its own (IDNA 2003 made it "ss").
        assert_eq!(
            ascii_domain("straße.example").unwrap(),
            "xn--strae-oqa.example"
        );
        // ASCII is left as it is, case and all.
        assert_eq!(ascii_domain("Example.ORG").unwrap(), "Example.ORG");
        for bad in [
            "-bücher.example",
            "bücher-.example",
            "a b.ü",
            "ü\u{2028}.example",
            "ü/x.example",
        ] {
            assert_eq!(ascii_domain(bad), Err(IdnaError), "{bad:?}");
        }
        // UTS 46 maps the fullwidth ＠ (U+FF20) to `@` and the fullwidth
        // full stop to `.`: the deny list keeps an `@` out of a domain.
        assert_eq!(ascii_domain("ü＠evil.example"), Err(IdnaError));
        assert_eq!(ascii_domain("ü。example").unwrap(), "xn--tda.example");
        let long = format!("{}.example", "ü".repeat(70));
        assert_eq!(ascii_domain(&long), Err(IdnaError));
    }

    #[test]
    fn an_address_goes_as_ascii_when_its_local_part_is() {
        assert_eq!(ascii_address("a@b.org").unwrap(), "a@b.org");
        assert_eq!(
            ascii_address("user@bücher.example").unwrap(),
            "user@xn--bcher-kva.example"
        );
        assert_eq!(
            ascii_address("jörg@bücher.example"),
            Err(NotAscii::LocalPart)
        );
        assert_eq!(ascii_address("jörg@example.org"), Err(NotAscii::LocalPart));
        assert_eq!(ascii_address("jörg"), Err(NotAscii::LocalPart));
        assert_eq!(
            ascii_address("a@-bü.example"),
            Err(NotAscii::Domain(IdnaError))
        );
    }

    #[test]
    fn bare_takes_the_angle_brackets() {
        assert_eq!(bare(" Name <a@b.org> "), "a@b.org");
        assert_eq!(bare("a@b.org "), "a@b.org");
        assert_eq!(bare("> a <"), "> a <");
    }
}
