//! The one rule for comparing mail addresses: the local part exactly, the
//! domain without regard to ASCII case; `Name <addr>` reduced to `addr`.
//!
//! It sits at the ground, beside the plan, because the configuration
//! compiler (grouping an identity declared twice), the plan cache (the key
//! of its address index) and routing (selecting the identity for a
//! sender) all need it, and the compiler lies below the message and the
//! router in the layers. The address type itself, [`crate::message::Mailbox`]
//! (address and display name), lives with the message.

/// `Name <addr>` → `addr`; anything else unchanged (trimmed).
pub fn bare(text: &str) -> &str {
    match (text.rfind('<'), text.rfind('>')) {
        (Some(l), Some(r)) if l < r => text[l + 1..r].trim(),
        _ => text.trim(),
    }
}

/// Equal addresses: the local part compared exactly, the domain without
/// regard to ASCII case. The same as comparing [`normalized`] forms.
pub fn same(a: &str, b: &str) -> bool {
    match (a.rsplit_once('@'), b.rsplit_once('@')) {
        (Some((la, da)), Some((lb, db))) => la == lb && da.eq_ignore_ascii_case(db),
        (None, None) => a == b,
        _ => false,
    }
}

/// `local@domain` with the domain lower-cased: two addresses are [`same`]
/// exactly when their normalised forms are equal (a map key).
pub fn normalized(addr: &str) -> String {
    match addr.rsplit_once('@') {
        Some((local, domain)) => format!("{local}@{}", domain.to_ascii_lowercase()),
        None => addr.to_string(),
    }
}

/// The key of the plan cache's address index: [`bare`], then the whole
/// address lower-cased. Coarser than [`same`] (it also folds the local
/// part, and non-ASCII case), so every identity [`same`] would select is
/// found under it; the caller then applies [`same`]. Its bytes decide the
/// bucket an identity lands in on disk: it does not change.
pub fn index_key(text: &str) -> String {
    bare(text).to_lowercase()
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
    fn bare_takes_the_angle_brackets() {
        assert_eq!(bare(" Name <a@b.org> "), "a@b.org");
        assert_eq!(bare("a@b.org "), "a@b.org");
        assert_eq!(bare("> a <"), "> a <");
    }
}
