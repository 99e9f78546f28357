//! An identity whose smarthost the configuration gets wrong (an
//! unresolvable port, half credentials, a client certificate that cannot be
//! used) is unusable, as in esmtp 1.2: the file compiles, local delivery
//! and the other identities work, and only a submission through that
//! identity fails, with status 78 and the reason `esmtp check` gives,
//! before anything connects. With the queue: refused at submission (the
//! user is there to fix the file; nothing is stored that cannot leave),
//! kept queued at a flush when the file was broken after the message was
//! accepted (it is ours to deliver once the file is fixed).

use crate::support::frontend::*;
use std::io::ErrorKind;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;

const MSG: &[u8] = b"To: remote@example.net\nSubject: unusable\n\nbody\n";

/// A listener that must never see a connection; check with [`untouched`].
fn trap() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

/// `out` contains `needle` (shown when it does not).
#[track_caller]
fn has(out: &str, needle: &str) {
    assert!(out.contains(needle), "{needle:?} not in:\n{out}");
}

#[track_caller]
fn untouched(l: &TcpListener) {
    match l.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the smarthost was contacted: {other:?}"),
    }
}

#[test]
fn half_credentials_fail_with_78_before_connecting_and_local_mail_is_delivered() {
    let (l, port) = trap();
    let env = Env::with_recorder(&format!(
        "identity a@example.org\nhostname 127.0.0.1:{port}\nusername alice\n"
    ));
    let o = env.sendmail(&["-f", "a@example.org", "bob", "remote@example.net"], MSG);
    assert_status(&o, 78);
    assert_one_line_error(&o, "identity a@example.org cannot send");
    has(&stderr(&o), "has a username but no password [E015]");
    has(&stderr(&o), "line 4"); // after the recorder's `mda` line
    untouched(&l);
    // The local recipient got the message all the same.
    assert_eq!(env.recorded_args(), ["a@example.org", "bob"]);
    has(&env.read("msg"), "Subject: unusable");
    // `check` reports the same error (exit 1); `dump` shows the identity
    // as unusable; `route` says the remote part cannot be sent.
    let check = env.esmtp(&["check", env.rc().to_str().unwrap()], b"");
    assert_status(&check, 1);
    has(&stdout(&check), "error[E015]");
    let dump = env.esmtp(&["dump", env.rc().to_str().unwrap()], b"");
    assert_status(&dump, 0);
    has(&stdout(&dump), "[unusable]");
    let json = env.esmtp(
        &["dump", "--format", "json", env.rc().to_str().unwrap()],
        b"",
    );
    has(&stdout(&json), "\"code\": \"E015\"");
    let route = env.esmtp(
        &[
            "route",
            "-C",
            env.rc().to_str().unwrap(),
            "-f",
            "a@example.org",
            "x@example.net",
        ],
        b"",
    );
    assert_status(&route, 0);
    has(&stdout(&route), "cannot be sent");
}

#[test]
fn an_unresolvable_port_fails_only_that_identity() {
    let (l, port) = trap();
    let env = Env::with_recorder(&format!(
        "identity broken@example.org\nhostname = SERVER:PORT\n\
         identity good@example.org\nhostname 127.0.0.1:{port}\n"
    ));
    let o = env.sendmail(&["-f", "broken@example.org", "remote@example.net"], MSG);
    assert_status(&o, 78);
    assert_one_line_error(&o, "unknown service name `PORT` [E005]");
    untouched(&l);
    // A message for local users only never needs the smarthost.
    let local = env.sendmail(&["-f", "broken@example.org", "bob"], MSG);
    assert_status(&local, 0);
    assert_eq!(env.recorded_args(), ["broken@example.org", "bob"]);
}

#[test]
fn with_the_queue_an_unusable_identity_is_refused_at_submission() {
    let env = Env::with_recorder(
        "queue enabled\nqueue_dir @DIR@/q\nidentity a@example.org\nhostname SERVER:PORT\n",
    );
    let o = env.sendmail(&["-f", "a@example.org", "remote@example.net"], MSG);
    assert_status(&o, 78);
    assert_one_line_error(&o, "cannot send");
    let q = env.sendmail(&["-bp"], b"");
    assert_status(&q, 0);
    has(&stdout(&q), "Mail queue is empty");
}

#[test]
fn a_queued_message_whose_identity_became_unusable_stays_queued() {
    // Queued while the file was right (the server is down: 127.0.0.1 on a
    // port nobody listens on), then the file is broken.
    let (l, port) = trap();
    drop(l);
    let env = Env::with_recorder(&format!(
        "queue enabled\nqueue_dir @DIR@/q\nidentity a@example.org\nhostname 127.0.0.1:{port}\n"
    ));
    let o = env.sendmail(&["-f", "a@example.org", "remote@example.net"], MSG);
    assert_status(&o, 0);
    has(&stderr(&o), "queued");
    env.write(
        "esmtprc",
        &env.subst(
            "queue enabled\nqueue_dir @DIR@/q\nidentity a@example.org\nhostname SERVER:PORT\n",
        ),
        0o600,
    );
    let flush = env.sendmail(&["-q"], b"");
    assert_status(&flush, 75);
    let q = env.sendmail(&["-bp"], b"");
    let listing = stdout(&q);
    has(&listing, "1 message queued");
    assert!(
        listing.contains("cannot send") && listing.contains("[E005]"),
        "{listing}"
    );
}

#[test]
fn a_client_certificate_that_cannot_be_used_is_an_error_of_its_identity() {
    let (l, port) = trap();
    let env = Env::new("");
    let home = env.path("home");
    let private = home.join(".authenticate").join("private");
    std::fs::create_dir_all(&private).unwrap();
    std::fs::write(private.join("smtp-starttls.pem"), "not a certificate\n").unwrap();
    std::fs::set_permissions(
        private.join("smtp-starttls.pem"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    for d in [&private, &home.join(".authenticate")] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let rc = home.join(".esmtprc");
    std::fs::write(
        &rc,
        format!(
            "identity tls@example.org\nhostname 127.0.0.1:{port}\nstarttls required\n\
             identity plain@example.org\nhostname 127.0.0.1:{port}\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).unwrap();
    let run = |args: &[&str], input: &[u8]| {
        crate::support::frontend::run(env.command(BIN).args(args).env("HOME", &home), input)
    };
    // check: the live file, so the certificate is looked at.
    let check = run(&["check"], b"");
    assert_status(&check, 1);
    has(&stdout(&check), "error[E016]");
    has(&stdout(&check), "smtp-starttls.pem");
    // Sending through it fails with 78 before connecting.
    let o = run(&["-f", "tls@example.org", "remote@example.net"], MSG);
    assert_status(&o, 78);
    has(&stderr(&o), "smtp-starttls.pem");
    untouched(&l);
    // The same file elsewhere (a dotfiles copy) is not checked against
    // this machine's ~/.authenticate.
    let copy = env.path("copy");
    std::fs::copy(&rc, &copy).unwrap();
    let check = run(
        &["check", "--no-permission-lints", copy.to_str().unwrap()],
        b"",
    );
    assert!(!stdout(&check).contains("E016"), "{}", stdout(&check));
}
