//! SCRAM-SHA-256, SCRAM-SHA-1 and OAUTHBEARER (issue 16 §2, §3): against
//! a real SCRAM server (Cyrus SASL behind Exim's `cyrus_sasl`), a real
//! OAUTHBEARER server (Exim's `plaintext`), and small hostile servers for
//! what a real one will not do (a wrong server signature, success without
//! one, `e=` errors, the JSON status of a refused token, a token too long
//! for one command line).

use crate::support;

use esmtp::exit;
use esmtp::plan::AuthMech;
use support::hostile::{assert_no_secret, b64, b64_decode, converse, Seen, User, MARKER};
use support::{Exim, EximOptions, FakeServer, PASSWORD, TOKEN, USER};

use super::auth::{accepted_with, right_and_wrong_on, send, with_login};

fn scram_exim() -> Exim {
    Exim::with(EximOptions {
        scram: true,
        ..Default::default()
    })
}

/// [`right_and_wrong_on`], and the wrong secret was refused by
/// `authenticator` itself.
fn right_and_wrong(exim: &Exim, mech: AuthMech, secret: &str, authenticator: &str) {
    right_and_wrong_on(exim, mech, secret, authenticator);
    assert!(
        exim.log()
            .contains(&format!("{authenticator} authenticator failed")),
        "{}",
        exim.log()
    );
}

#[test]
fn scram_sha_256_right_and_wrong_against_cyrus_sasl() {
    right_and_wrong(&scram_exim(), AuthMech::ScramSha256, PASSWORD, "scram256");
}

#[test]
fn scram_sha_1_right_and_wrong_against_cyrus_sasl() {
    right_and_wrong(&scram_exim(), AuthMech::ScramSha1, PASSWORD, "scram1");
}

#[test]
fn oauthbearer_right_and_wrong_against_exim() {
    right_and_wrong(&Exim::start(), AuthMech::Oauthbearer, TOKEN, "oauthbearer");
}

#[test]
fn oauthbearer_over_implicit_tls_names_that_port() {
    // The server compares `port=` with the port the connection came to:
    // the implicit-TLS one here.
    let exim = Exim::with(EximOptions {
        cert_name: "127.0.0.1".into(),
        ..Default::default()
    });
    let home = tempfile::tempdir().unwrap();
    support::trust(home.path(), exim.ca_pem());
    let mut id = with_login(exim.tls_port(), TOKEN, Some(AuthMech::Oauthbearer));
    id.tls = esmtp::plan::TlsPolicy::Implicit;
    support::env::with_home(home.path(), || send(&id, "tls")).expect("relay over TLS");
    assert_eq!(accepted_with(&exim), Some(format!("A=oauthbearer:{USER}")));
}

#[test]
fn scram_is_preferred_over_every_other_mechanism_offered() {
    // Exim offers PLAIN LOGIN CRAM-MD5 NTLM XOAUTH2 OAUTHBEARER and both
    // SCRAMs: without `auth`, SCRAM-SHA-256.
    let exim = scram_exim();
    send(&with_login(exim.port(), PASSWORD, None), "auto").expect("relay");
    assert_eq!(accepted_with(&exim).as_deref(), Some("A=scram256:alice"));
}

// ---- hostile servers ------------------------------------------------------

const GREETING: &[u8] = b"220 hostile.test ESMTP\r\n";
const SCRAM_EHLO: &str = "250-hostile.test\r\n250 AUTH PLAIN SCRAM-SHA-256 SCRAM-SHA-1\r\n";

/// What the server does after our SCRAM client-final message.
#[derive(Clone, Copy, Debug)]
enum Final {
    /// `v=` with a signature that is not the password's.
    WrongSignature,
    /// 235 at once, without any `v=`.
    SuccessWithoutSignature,
    /// `e=invalid-proof`, then 535 after the empty response.
    Error,
    /// `e=unknown-user` instead of the server-first message.
    ErrorFirst,
}

/// A SCRAM server that plays its part as far as the client-first message
/// (a nonce that extends the client's, a salt, 4096 iterations), then
/// misbehaves as `fin` says; 250 to anything else.
fn scram_server(fin: Final) -> FakeServer {
    let mut step = 0;
    FakeServer::start(move |r, _w| {
        converse(r, GREETING, move |l: &str| {
            let upper = l.to_ascii_uppercase();
            let line = l.trim_end();
            if upper.starts_with("EHLO") {
                return SCRAM_EHLO.as_bytes().to_vec();
            }
            if upper.starts_with("QUIT") {
                return b"221 bye\r\n".to_vec();
            }
            if upper.starts_with("AUTH SCRAM") {
                step = 1;
                let first = b64_decode(line.rsplit(' ').next().unwrap_or(""));
                let first = String::from_utf8_lossy(&first).into_owned();
                let nonce = first.rsplit("r=").next().unwrap_or("").to_string();
                if let Final::ErrorFirst = fin {
                    return format!("334 {}\r\n", b64(b"e=unknown-user")).into_bytes();
                }
                let server_first = format!("r={nonce}SERVERNONCE,s={},i=4096", b64(b"salt"));
                return format!("334 {}\r\n", b64(server_first.as_bytes())).into_bytes();
            }
            if step == 1 {
                step = 2;
                return match fin {
                    Final::WrongSignature => format!(
                        "334 {}\r\n",
                        b64(format!("v={}", b64(&[7u8; 32])).as_bytes())
                    )
                    .into_bytes(),
                    Final::SuccessWithoutSignature => b"235 2.7.0 welcome\r\n".to_vec(),
                    Final::Error => format!("334 {}\r\n", b64(b"e=invalid-proof")).into_bytes(),
                    Final::ErrorFirst => b"501 5.7.0 cancelled\r\n".to_vec(),
                };
            }
            if step == 2 && line.is_empty() {
                step = 3;
                return b"535 5.7.8 authentication failed\r\n".to_vec();
            }
            if upper.starts_with("DATA") {
                return b"354 go ahead\r\n".to_vec();
            }
            b"250 ok\r\n".to_vec()
        })
        .into_bytes()
    })
}

/// The lines the client sent from its AUTH command on.
fn from_auth(seen: &Seen) -> Vec<&String> {
    seen.lines
        .iter()
        .skip_while(|l| !l.to_ascii_uppercase().starts_with("AUTH "))
        .collect()
}

/// Run the binary as a user with `-v -X` against `server` with this
/// identity text: the run, what the server saw, the transcript.
fn run_against(server: FakeServer, rc_extra: &str) -> (support::hostile::Run, Seen, String) {
    let user = User::new();
    let x = user.home.path().join("transcript");
    let rc = user.rc(&format!(
        "hostname 127.0.0.1:{}\ntimeout 5\nhelo client.test\nusername alice\n{rc_extra}",
        server.port
    ));
    let run = user.send_msg(&rc, &["-v", "-X", x.to_str().unwrap()]);
    let seen = Seen::from_bytes(&server.join());
    let transcript = std::fs::read_to_string(&x).unwrap_or_default();
    for (what, text) in [
        ("stderr", &run.stderr),
        ("stdout", &run.stdout),
        ("the transcript", &transcript),
    ] {
        assert_no_secret(what, text, "alice", MARKER);
    }
    (run, seen, transcript)
}

#[test]
fn a_scram_server_with_a_wrong_signature_is_refused_and_gets_nothing_more() {
    for mech in ["scram-sha-256", "scram-sha-1"] {
        let (run, seen, transcript) = run_against(
            scram_server(Final::WrongSignature),
            &format!("password \"{MARKER}\"\nauth {mech}\n"),
        );
        assert_eq!(run.code, Some(i32::from(exit::PROTOCOL)), "{mech}: {run:?}");
        assert!(
            run.stderr
                .contains("did not prove that it knows the password")
                && run.stderr.contains("signature"),
            "{mech}: {run:?}"
        );
        // AUTH, the client-final message, then nothing: no empty response,
        // no MAIL, not even QUIT.
        let after_auth = from_auth(&seen);
        assert_eq!(after_auth.len(), 2, "{mech}: {seen:?}");
        assert!(after_auth[0].starts_with(&format!("AUTH {} ", mech.to_ascii_uppercase())));
        // The client-final message: the channel binding of "n,,", the
        // server's nonce, a proof.
        let last = String::from_utf8_lossy(&b64_decode(after_auth[1])).into_owned();
        assert!(last.starts_with("c=biws,r="), "{last}");
        assert!(last.contains("SERVERNONCE,p="), "{last}");
        assert!(!seen.has("MAIL"), "{mech}: {seen:?}");
        // Every client line of the exchange is masked in the transcript,
        // the proof included.
        assert!(
            transcript.contains(&format!(
                "C: AUTH {} [credentials redacted]",
                mech.to_ascii_uppercase()
            )),
            "{transcript}"
        );
        assert!(
            !transcript.contains("c=biws") && !transcript.contains(after_auth[1].trim_end()),
            "{transcript}"
        );
    }
}

#[test]
fn scram_servers_that_refuse_or_cannot_prove_are_reported_and_get_no_mail() {
    for (fin, auth, code, says, client_line) in [
        // Success without the signature: not authenticated, 76.
        (
            Final::SuccessWithoutSignature,
            "auth scram-sha-256\n",
            exit::PROTOCOL,
            &["without sending its signature"][..],
            None,
        ),
        // e= instead of the signature: the empty response, then the 535.
        (
            Final::Error,
            "",
            exit::NOPERM,
            &["535", "e=invalid-proof"][..],
            Some("\r\n"),
        ),
        // e= instead of the server-first message: cancelled with `*`.
        (
            Final::ErrorFirst,
            "auth scram-sha-1\n",
            exit::NOPERM,
            &["e=unknown-user"][..],
            Some("*\r\n"),
        ),
    ] {
        let (run, seen, _) =
            run_against(scram_server(fin), &format!("password \"{MARKER}\"\n{auth}"));
        assert_eq!(run.code, Some(i32::from(code)), "{fin:?}: {run:?}");
        for needle in says {
            assert!(run.stderr.contains(needle), "{fin:?}: {needle}: {run:?}");
        }
        if let Some(line) = client_line {
            assert!(seen.lines.iter().any(|l| l == line), "{fin:?}: {seen:?}");
        }
        assert!(!seen.has("MAIL"), "{fin:?}: {seen:?}");
    }
}

/// An OAUTHBEARER server that refuses every token the RFC 7628 way: a 334
/// with its JSON status, then (after the dummy response) 535. It also
/// takes the initial response after an empty 334 challenge.
fn oauthbearer_refusing_server(status: Vec<u8>) -> FakeServer {
    let mut awaiting_response = false;
    FakeServer::start(move |r, _w| {
        converse(r, GREETING, move |l: &str| {
            let upper = l.to_ascii_uppercase();
            let line = l.trim_end();
            if upper.starts_with("EHLO") {
                b"250-hostile.test\r\n250 AUTH OAUTHBEARER\r\n".to_vec()
            } else if upper == "AUTH OAUTHBEARER\r\n" {
                awaiting_response = true;
                b"334 \r\n".to_vec()
            } else if upper.starts_with("AUTH OAUTHBEARER ") || awaiting_response {
                awaiting_response = false;
                format!("334 {}\r\n", b64(&status)).into_bytes()
            } else if line == "AQ==" {
                b"535 5.7.8 token refused\r\n".to_vec()
            } else if upper.starts_with("QUIT") {
                b"221 bye\r\n".to_vec()
            } else {
                b"250 ok\r\n".to_vec()
            }
        })
        .into_bytes()
    })
}

#[test]
fn a_refused_oauthbearer_token_gets_the_dummy_response_and_the_status_is_reported() {
    for token in [MARKER.to_string(), format!("{MARKER}{}", "x".repeat(600))] {
        let server = oauthbearer_refusing_server(
            b"{\"status\":\"invalid_token\",\"schemes\":\"bearer\",\"scope\":\"https://mail.google.com/\"}\x1b[2J"
                .to_vec(),
        );
        let port = server.port;
        let (run, seen, transcript) = run_against(
            server,
            &format!("passwordeval \"printf '%s\\\\n' '{token}'\"\nauth oauthbearer\n"),
        );
        let long = token.len() > 400;
        assert_eq!(run.code, Some(i32::from(exit::NOPERM)), "{run:?}");
        assert!(
            run.stderr.contains("535 5.7.8 token refused")
                && run.stderr.contains("\"status\":\"invalid_token\"")
                && run.stderr.contains("\\x1b[2J")
                && !run.stderr.contains('\x1b'),
            "{run:?}"
        );
        // What went over the wire: the initial response (inline, or after
        // an empty challenge when the line would pass 512 bytes), AQ==.
        let auth = from_auth(&seen);
        // The command line stays within RFC 4954's 512 bytes (a response
        // line may be longer).
        assert!(auth[0].len() <= 512, "{seen:?}");
        let response = if long {
            assert_eq!(auth[0], "AUTH OAUTHBEARER\r\n");
            auth[1].trim_end().to_string()
        } else {
            auth[0].trim_end().rsplit(' ').next().unwrap().to_string()
        };
        assert_eq!(
            b64_decode(&response),
            format!("n,a=alice,\x01host=127.0.0.1\x01port={port}\x01auth=Bearer {token}\x01\x01")
                .into_bytes()
        );
        assert_eq!(auth[if long { 2 } else { 1 }], "AQ==\r\n", "{seen:?}");
        assert!(!seen.has("MAIL"), "{seen:?}");
        assert!(!transcript.contains(&token), "{transcript}");
    }
}

#[test]
fn a_status_echoing_the_token_is_masked_before_it_is_cut() {
    // The status is shown up to 300 bytes: the token straddles the cut.
    let mut status = format!("{{\"status\":\"{}", "x".repeat(285)).into_bytes();
    status.extend_from_slice(MARKER.as_bytes());
    status.extend_from_slice(b"\"}");
    let (run, _, _) = run_against(
        oauthbearer_refusing_server(status),
        &format!("password \"{MARKER}\"\nauth oauthbearer\n"),
    );
    assert_eq!(run.code, Some(i32::from(exit::NOPERM)), "{run:?}");
    // Masked, then cut: the cut falls inside the mask, not the token.
    assert!(run.stderr.contains("xx[cre ...)"), "{run:?}");
    assert!(!run.stderr.contains(&MARKER[..4]), "{run:?}");
}
