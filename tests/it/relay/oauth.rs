//! The built-in OAuth 2 token source end to end: `esmtp oauth authorize`
//! against an HTTPS provider written by the test (the test plays the
//! browser, or enters the device code), then submissions to the real Exim,
//! whose XOAUTH2 authenticator accepts only the access token the provider
//! issued last.

use crate::support;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use support::frontend::{code, stderr, stdout, Env, BIN};
use support::oauth_server::{access_token, Provider, CLIENT_SECRET};
use support::Exim;

pub(super) const ME: &str = "alice@example.org";
const MESSAGE: &[u8] = b"From: alice@example.org\nTo: bob@example.net\nSubject: oauth\n\nbody\n";

pub(super) fn env(provider: &Provider, exim: &Exim, extra: &str) -> Env {
    Env::new(&format!(
        "identity {ME}\nhostname 127.0.0.1:{}\ntimeout 20\n{}{extra}",
        exim.port(),
        provider.settings()
    ))
}

pub(super) fn rc(env: &Env) -> String {
    env.rc().display().to_string()
}

/// The token file of `ME` in the environment's data directory.
pub(super) fn token_file(env: &Env) -> std::path::PathBuf {
    env.path("xdg-data/esmtp/oauth2/alice@example.org_127.0.0.1.json")
}

/// Make the stored access token expired (as time would).
pub(super) fn expire(env: &Env) {
    let path = token_file(env);
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("token file")).expect("json");
    v["expires_at"] = serde_json::json!(1);
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
}

pub(super) fn no_secret(what: &str, text: &str) {
    for marker in ["MARKER", CLIENT_SECRET] {
        assert!(!text.contains(marker), "{what} shows a secret: {text}");
    }
}

/// `esmtp oauth authorize` through the browser: the test follows the
/// printed URL like a browser; the page esmtp answers.
pub(super) fn authorize(env: &Env, provider: &Provider) -> String {
    let mut child = env
        .command(BIN)
        .args(["oauth", "-C", &rc(env), "authorize", ME])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("esmtp oauth authorize");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    let url = loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "no URL printed: {printed}"
        );
        printed.push_str(&line);
        if line.starts_with("https://") {
            break line.trim().to_string();
        }
    };
    assert!(url.starts_with(&provider.url("/auth?")), "{url}");
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    forged_redirects(&url);
    let page = provider.browse(&url);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{printed}{rest}{err}");
    assert!(rest.contains("Authorized"), "{rest}");
    no_secret("authorize", &format!("{printed}{rest}{err}"));
    page
}

/// Another program on this machine answers the loopback redirect first,
/// with the wrong `state`: refused (400) and ignored, so it can neither end
/// the flow (an `error`) nor slip in a code of its own.
fn forged_redirects(url: &str) {
    use std::io::{Read, Write};
    let port: u16 = url
        .split("redirect_uri=http%3A%2F%2F127.0.0.1%3A")
        .nth(1)
        .and_then(|r| r.split("%2F").next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no loopback redirect_uri in {url}"));
    for query in ["state=forged&error=access_denied", "state=forged&code=evil"] {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(s, "GET /?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 400"), "{query}: {answer}");
    }
}

pub(super) fn send(env: &Env, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["-f", ME];
    args.extend_from_slice(extra);
    args.push("bob@example.net");
    env.sendmail(&args, MESSAGE)
}

#[test]
fn authorize_then_cached_token_then_refresh_with_rotation() {
    let exim = Exim::start();
    let provider = Provider::start();
    provider.feed(&exim, ME);
    let env = env(&provider, &exim, "");

    // Nothing stored yet: 78 and the advice.
    let out = send(&env, &[]);
    assert_eq!(code(&out), 78, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("run `esmtp oauth authorize alice@example.org`"),
        "{}",
        stderr(&out)
    );

    let page = authorize(&env, &provider);
    assert!(page.contains("esmtp is authorized"), "{page}");
    assert_eq!(provider.grants("authorization_code"), 1);
    let file = token_file(&env);
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dir_mode = std::fs::metadata(file.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);

    // The cached access token: no HTTP request at all, twice.
    for _ in 0..2 {
        let out = send(&env, &["-v"]);
        assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
        no_secret("-v", &format!("{}{}", stdout(&out), stderr(&out)));
        assert!(
            stdout(&out).contains("using the stored OAuth 2 access token (it expires in"),
            "{}",
            stdout(&out)
        );
    }
    assert_eq!(provider.requests("/token"), 1, "only the code exchange");
    assert_eq!(exim.wait_for_messages(2).len(), 2);

    // Expired: refreshed once, the rotated refresh token stored, and Exim
    // (which now accepts only the new access token) takes the message.
    expire(&env);
    let out = send(&env, &["-v"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("refreshed the OAuth 2 access token at the token endpoint"),
        "{}",
        stdout(&out)
    );
    no_secret("-v", &format!("{}{}", stdout(&out), stderr(&out)));
    assert_eq!(provider.grants("refresh_token"), 1);
    let stored: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(stored["access_token"], access_token(2));
    assert_eq!(stored["refresh_token"], "1//REFRESHMARKER-2");
    assert_eq!(exim.wait_for_messages(3).len(), 3);
    let out = send(&env, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        provider.grants("refresh_token"),
        1,
        "the new token is cached"
    );
    // The -X transcript masks the AUTH line (the token).
    let transcript = env.path("transcript");
    let out = send(&env, &["-X", transcript.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let x = std::fs::read_to_string(&transcript).expect("transcript");
    assert!(x.contains("AUTH XOAUTH2"), "{x}");
    no_secret("-X", &x);

    // status shows what is stored, nothing secret; dump and check neither.
    let out = env.esmtp(
        &["oauth", "-C", &rc(&env), "status", "--format", "json"],
        b"",
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(status[0]["identity"], ME);
    assert_eq!(status[0]["stored"], true);
    assert_eq!(status[0]["refresh_token"], true);
    assert_eq!(status[0]["scope"], "smtp offline");
    assert!(status[0]["access_token_expires_in"].as_i64().unwrap() > 3000);
    for args in [
        vec!["oauth", "-C", &rc(&env), "status"],
        vec!["dump", &rc(&env)],
        vec!["dump", "--format", "json", &rc(&env)],
        vec!["check", &rc(&env)],
    ] {
        let out = env.esmtp(&args, b"");
        no_secret(
            &args.join(" "),
            &format!("{}{}", stdout(&out), stderr(&out)),
        );
    }

    // revoke deletes the tokens; sending then needs a new authorization.
    let out = env.esmtp(&["oauth", "-C", &rc(&env), "revoke", ME], b"");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!file.exists());
    let out = send(&env, &[]);
    assert_eq!(code(&out), 78, "{}", stderr(&out));
}

/// `--device`: the code printed, `authorization_pending` honoured.
pub(super) fn authorize_device(env: &Env) {
    let out = env.esmtp(&["oauth", "-C", &rc(env), "authorize", "--device", ME], b"");
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("WDJB-MJHT"), "{}", stdout(&out));
    assert!(stdout(&out).contains("Authorized"), "{}", stdout(&out));
    no_secret(
        "authorize --device",
        &format!("{}{}", stdout(&out), stderr(&out)),
    );
}

#[test]
fn device_flow_then_two_submissions_at_once_refresh_once() {
    let exim = Exim::start();
    let provider = Provider::start();
    provider.feed(&exim, ME);
    provider.with(|s| s.pending_polls = 1);
    let env = env(&provider, &exim, "");
    authorize_device(&env);
    assert_eq!(provider.requests("/device"), 1);
    assert_eq!(
        provider.grants("urn:ietf:params:oauth:grant-type:device_code"),
        2
    );

    expire(&env);
    // The token endpoint is slow: both submissions want a new token while
    // the first refresh is under way.
    provider.with(|s| s.token_delay_ms = 1500);
    let spawn = || {
        env.command(env.path("sendmail"))
            .args(["-C", &rc(&env), "-f", ME, "bob@example.net"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut children = vec![spawn(), spawn()];
    for c in &mut children {
        use std::io::Write;
        c.stdin.take().unwrap().write_all(MESSAGE).unwrap();
    }
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    assert_eq!(provider.grants("refresh_token"), 1, "refreshed once");
    assert_eq!(exim.wait_for_messages(2).len(), 2);
}

#[test]
fn refused_refresh_is_78_and_an_unreachable_endpoint_75_or_queued() {
    let exim = Exim::start();
    let mut provider = Provider::start();
    provider.feed(&exim, ME);
    let queue_dir = tempfile::tempdir().unwrap();
    let env = env(&provider, &exim, "");
    authorize_device(&env);

    expire(&env);
    provider.with(|s| s.refuse_refresh = true);
    let out = send(&env, &[]);
    assert_eq!(code(&out), 78, "{}", stderr(&out));
    assert!(stderr(&out).contains("invalid_grant"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("run `esmtp oauth authorize alice@example.org`"),
        "{}",
        stderr(&out)
    );
    no_secret("refused", &stderr(&out));
    // The refresh token is kept (the user may fix the client and retry).
    let stored = std::fs::read_to_string(token_file(&env)).unwrap();
    assert!(stored.contains("REFRESHMARKER-1"), "{stored}");

    // The endpoint gone: temporary.
    provider.shut_down();
    let out = send(&env, &[]);
    assert_eq!(code(&out), 75, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot be reached"),
        "{}",
        stderr(&out)
    );
    assert_eq!(exim.accepted(), 0);

    // With the queue, the message stays queued.
    let mut rc_text = std::fs::read_to_string(env.rc()).unwrap();
    rc_text = format!(
        "queue enabled\nqueue_dir {}\n{rc_text}",
        queue_dir.path().display()
    );
    env.write("esmtprc", &rc_text, 0o600);
    let out = send(&env, &[]);
    assert_eq!(code(&out), 0, "queued: {}", stderr(&out));
    let out = env.esmtp(&["queue", "status", "-C", &rc(&env)], b"");
    assert_eq!(code(&out), 0, "the message waits: {}", stdout(&out));
    assert_eq!(exim.accepted(), 0);
}

#[test]
fn check_refuses_plain_http_off_loopback_and_a_password_beside_oauth2() {
    let env = Env::new(
        "identity alice@example.org\nhostname smtp.example.org\nstarttls required\n\
         oauth2 custom\noauth2_client_id x\noauth2_token_url http://auth.example.org/token\n\
         identity bob@example.org\nhostname smtp.example.org\nstarttls required\n\
         oauth2 microsoft\noauth2_client_id y\npassword hunter2\n",
    );
    let out = env.esmtp(&["check", &rc(&env)], b"");
    assert_ne!(code(&out), 0);
    let text = stdout(&out) + &stderr(&out);
    assert!(text.contains("E031"), "{text}");
    assert!(
        text.contains("plain http to a host that is not this machine"),
        "{text}"
    );
    assert!(text.contains("E030"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    // Loopback http is accepted (a local test server or proxy).
    let ok = Env::new(
        "identity alice@example.org\nhostname smtp.example.org\nstarttls required\n\
         oauth2 custom\noauth2_client_id x\noauth2_token_url http://127.0.0.1:8080/token\n",
    );
    let out = ok.esmtp(&["check", &rc(&ok)], b"");
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
}

/// A token endpoint that answers too much, or nothing: bounded (64 KiB, the
/// identity's `timeout`), temporary (75), nothing sent. Plain http is
/// allowed on loopback, so a hostile endpoint needs no TLS.
#[test]
fn a_hostile_token_endpoint_is_bounded() {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    let exim = Exim::start();
    for (name, flood) in [("flood", true), ("silent", false)] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            if flood {
                let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n");
                let chunk = [b'x'; 8192];
                while c.write_all(&chunk).is_ok() {}
            } else {
                // Holds the connection open, says nothing, until esmtp
                // gives up and closes it.
                let _ = c.read(&mut buf);
            }
        });
        let env = Env::new(&format!(
            "identity {ME}\nhostname 127.0.0.1:{}\ntimeout 2\noauth2 custom\n\
             oauth2_client_id x\noauth2_token_url http://127.0.0.1:{port}/token\n",
            exim.port()
        ));
        // A stored refresh token, its access token expired.
        let dir = env.path("xdg-data/esmtp/oauth2");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let file = dir.join("alice@example.org_127.0.0.1.json");
        std::fs::write(
            &file,
            r#"{"refresh_token":"1//REFRESHMARKER","access_token":"ya29.OLDMARKER","expires_at":1}"#,
        )
        .unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let start = std::time::Instant::now();
        let out = send(&env, &[]);
        let took = start.elapsed();
        assert_eq!(code(&out), 75, "{name}: {}", stderr(&out));
        assert!(
            took < std::time::Duration::from_secs(30),
            "{name}: {took:?}"
        );
        no_secret(name, &stderr(&out));
        let stored = std::fs::read_to_string(&file).unwrap();
        assert!(
            stored.contains("REFRESHMARKER"),
            "{name}: refresh token kept"
        );
        server.join().unwrap();
    }
    assert_eq!(exim.accepted(), 0);
}
