//! SMTP AUTH against a real Exim: every mechanism with the right and a wrong
//! secret, the choice of mechanism, passwordeval, and never sending
//! unauthenticated when credentials are configured.

use crate::support;

use esmtp::exit;
use esmtp::plan::{AuthMech, Identity, Secret, SecretSource};
use support::{identity, Exim, EximOptions, PASSWORD, TOKEN, USER};

pub(super) fn with_login(port: u16, secret: &str, mech: Option<AuthMech>) -> Identity {
    let mut id = identity(port);
    id.username = Some(USER.into());
    id.secret = Some(SecretSource::Password(Secret::new(secret)));
    id.auth = mech;
    id
}

pub(super) fn send(id: &Identity, subject: &str) -> Result<(), exit::Failure> {
    support::relay_message(id, subject, "authenticated body\r\n")
}

/// The authenticator Exim used for the accepted message (`A=name:id`).
pub(super) fn accepted_with(exim: &Exim) -> Option<String> {
    exim.log_lines()
        .iter()
        .find(|l| l.contains(" <= "))
        .and_then(|l| {
            l.split(' ')
                .find(|w| w.starts_with("A="))
                .map(str::to_string)
        })
}

fn right_and_wrong(mech: AuthMech, secret: &str, authenticator: &str) {
    right_and_wrong_on(&Exim::start(), mech, secret, authenticator);
}

/// The right secret delivers through `authenticator`; a wrong one is
/// refused with 77 and nothing is sent.
pub(super) fn right_and_wrong_on(exim: &Exim, mech: AuthMech, secret: &str, authenticator: &str) {
    send(&with_login(exim.port(), secret, Some(mech)), "right").expect("right secret");
    assert_eq!(
        accepted_with(exim).as_deref(),
        Some(format!("A={authenticator}:{USER}").as_str()),
        "{}",
        exim.log()
    );
    let got = exim.wait_for_messages(1);
    assert!(got[0].message.ends_with(b"authenticated body\r\n"));

    let err = send(
        &with_login(exim.port(), "wrong secret", Some(mech)),
        "wrong",
    )
    .expect_err("wrong secret");
    assert_eq!(err.status, exit::NOPERM, "{err}");
    assert!(err.message.contains("535"), "{err}");
    assert!(err.message.contains(mech.sasl_name()), "{err}");
    assert!(!err.message.contains("wrong secret"), "{err}");
    assert_eq!(exim.accepted(), 1, "nothing sent after a rejected login");
}

#[test]
fn plain_right_and_wrong() {
    right_and_wrong(AuthMech::Plain, PASSWORD, "plain");
}

#[test]
fn login_right_and_wrong() {
    right_and_wrong(AuthMech::Login, PASSWORD, "login");
}

#[test]
fn cram_md5_right_and_wrong() {
    right_and_wrong(AuthMech::CramMd5, PASSWORD, "cram");
}

#[test]
fn ntlm_right_and_wrong() {
    right_and_wrong(AuthMech::Ntlm, PASSWORD, "ntlm");
}

#[test]
fn xoauth2_right_and_wrong() {
    right_and_wrong(AuthMech::Xoauth2, TOKEN, "xoauth2");
}

#[test]
fn the_strongest_offered_mechanism_is_chosen() {
    let exim = Exim::start();
    send(&with_login(exim.port(), PASSWORD, None), "auto").expect("relay");
    assert_eq!(accepted_with(&exim).as_deref(), Some("A=cram:alice"));
}

#[test]
fn passwordeval_supplies_the_first_line_it_prints() {
    let exim = Exim::start();
    let mut id = identity(exim.port());
    id.username = Some(USER.into());
    id.secret = Some(SecretSource::Eval(format!(
        "printf '%s\\n%s\\n' '{PASSWORD}' 'second line'"
    )));
    send(&id, "eval").expect("relay");
    assert_eq!(accepted_with(&exim).as_deref(), Some("A=cram:alice"));

    id.secret = Some(SecretSource::Eval("exit 1".into()));
    let err = send(&id, "evalfail").expect_err("command fails");
    assert_eq!(err.status, exit::CONFIG, "{err}");
    assert!(err.message.contains("passwordeval"), "{err}");
    // The command ran before connecting: no second connection was made.
    assert_eq!(
        exim.log().matches("TCP/IP connection count").count(),
        1,
        "{}",
        exim.log()
    );
}

#[test]
fn credentials_with_no_usable_mechanism_never_send_unauthenticated() {
    let exim = Exim::with(EximOptions {
        auth: false,
        ..Default::default()
    });
    let err = send(&with_login(exim.port(), PASSWORD, None), "noauth").expect_err("no AUTH");
    assert_eq!(err.status, exit::NOPERM, "{err}");
    assert!(
        err.message.contains("offers no authentication mechanism"),
        "{err}"
    );
    assert!(
        exim.commands().is_empty(),
        "MAIL was sent: {:?}",
        exim.commands()
    );

    // XOAUTH2 is offered; insisting on it with a password (not a token)
    // fails at the server, loudly.
    let exim = Exim::start();
    let err = send(
        &with_login(exim.port(), PASSWORD, Some(AuthMech::Xoauth2)),
        "xo",
    )
    .expect_err("a password is not a token");
    assert_eq!(err.status, exit::NOPERM, "{err}");
    assert_eq!(exim.accepted(), 0);
}
