//! Property tests: the compiler never panics, and every diagnostic span lies
//! inside the file (on character boundaries, so it can be shown).

use esmtp::config::{self, diag, Options};
use proptest::prelude::*;

fn check_spans(bytes: &[u8]) {
    let opts = Options {
        compat: true,
        ..Options::default()
    };
    let c = config::compile("p", bytes, &opts);
    for d in &c.diagnostics {
        for l in d.primary.iter().chain(d.secondary.iter()) {
            assert!(l.span.start <= l.span.end, "{d:?}");
            assert!(l.span.end <= c.text.len(), "{d:?} beyond {}", c.text.len());
            assert!(c.text.is_char_boundary(l.span.start) && c.text.is_char_boundary(l.span.end));
        }
    }
    // Every rendering works on whatever came out.
    let _ = diag::render_human("p", &c.text, &c.diagnostics);
    let _ = diag::render_github("p", &c.text, &c.diagnostics);
    let _ = diag::to_json(&c.text, &c.diagnostics);
    // Errors of one identity leave a plan with that identity unusable; any
    // other error leaves none.
    let fatal = c.omitted_errors > 0
        || c.diagnostics
            .iter()
            .any(|d| d.is_error() && !config::WAITING_ERROR_CODES.contains(&d.code));
    assert_eq!(c.plan.is_some(), !fatal, "{:?}", c.diagnostics);
    if let Some(plan) = &c.plan {
        assert_eq!(
            plan.identities.iter().any(|i| i.unusable.is_some()),
            c.errors() > 0,
            "{:?}",
            c.diagnostics
        );
    }
}

/// Pieces of the language, so that random files reach deep into the parser.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("identity".to_string()),
        Just("hostname".to_string()),
        Just("host".to_string()),
        Just("username".to_string()),
        Just("password".to_string()),
        Just("starttls".to_string()),
        Just("force".to_string()),
        Just("sender".to_string()),
        Just("reverse_path".to_string()),
        Just("mda".to_string()),
        Just("force_mda".to_string()),
        Just("default".to_string()),
        Just("enabled".to_string()),
        Just("required".to_string()),
        Just("timeout".to_string()),
        Just("queue".to_string()),
        Just("=".to_string()),
        Just(";".to_string()),
        Just(":".to_string()),
        Just("\\".to_string()),
        Just("#".to_string()),
        Just("\"".to_string()),
        Just("'".to_string()),
        Just("%".to_string()),
        Just("\n".to_string()),
        Just(" ".to_string()),
        Just("\r\n".to_string()),
        "[a-z0-9@.:%\\\\]{1,8}",
        "-?[0-9]{1,6}",
        any::<char>().prop_map(|c| c.to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        check_spans(&bytes);
    }

    #[test]
    fn token_soup_never_panics(pieces in proptest::collection::vec(piece(), 0..60), sep in prop_oneof![Just(" "), Just(""), Just("\n")]) {
        check_spans(pieces.join(sep).as_bytes());
    }
}
