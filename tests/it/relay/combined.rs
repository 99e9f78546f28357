//! Where features built apart meet (the built binary, end to end): the
//! built-in OAuth 2 token source with OAUTHBEARER, the delivery log with
//! SCRAM, XOAUTH2 and SMTPUTF8, `esmtp probe` with SCRAM, an `oauth2`
//! identity and another host reached in clear. The helpers are those of
//! each feature's own tests.

use crate::support;

use super::log::{esmtp, read_log};
use super::netns::{nothing_secret_sent, recording_server};
use super::oauth::{authorize, env, expire, no_secret, rc, send, token_file, ME};
use super::probe::{codes, esmtprc, probe};
use support::exim::{PASSWORD, USER};
use support::frontend::{code, stderr, stdout, Env};
use support::hostile::{assert_no_secret, Netns, Seen, User, MARKER};
use support::oauth_server::{access_token, Provider};
use support::{Exim, EximOptions};

/// The `A=` of every message Exim accepted, in order.
fn accepted_as(exim: &Exim) -> Vec<String> {
    exim.log_lines()
        .iter()
        .filter(|l| l.contains(" <= "))
        .map(|l| {
            l.split(' ')
                .find(|w| w.starts_with("A="))
                .unwrap_or("A=<none>")
                .to_string()
        })
        .collect()
}

fn scram_exim() -> Exim {
    Exim::with(EximOptions {
        scram: true,
        ..Default::default()
    })
}

/// An `oauth2` identity authorized through the test provider (each access
/// token it issues the only one Exim's XOAUTH2 and OAUTHBEARER accept),
/// with `extra` in its section.
fn authorized(exim: &Exim, extra: &str) -> (Provider, Env) {
    let provider = Provider::start();
    provider.feed(exim, ME);
    let env = env(&provider, exim, extra);
    authorize(&env, &provider);
    assert_eq!(provider.grants("authorization_code"), 1);
    (provider, env)
}

// ---- 1. oauth2 with OAUTHBEARER ------------------------------------------

#[test]
fn oauth2_tokens_go_as_oauthbearer_cached_then_refreshed() {
    let exim = Exim::start();
    let (provider, env) = authorized(&exim, "auth oauthbearer\nlogfile @DIR@/esmtp.log\n");

    // The cached token: no request to the token endpoint, OAUTHBEARER.
    let out = send(&env, &["-v"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    no_secret("-v", &format!("{}{}", stdout(&out), stderr(&out)));
    assert_eq!(provider.requests("/token"), 1, "only the code exchange");
    exim.wait_for_messages(1);
    assert_eq!(accepted_as(&exim), [format!("A=oauthbearer:{USER}")]);

    // Expired: refreshed once, and Exim (which now takes only the new
    // token) accepts it over OAUTHBEARER.
    let stale = std::fs::read(token_file(&env)).unwrap();
    expire(&env);
    let transcript = env.path("transcript");
    let out = send(&env, &["-X", transcript.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(provider.grants("refresh_token"), 1);
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(token_file(&env)).unwrap()).unwrap();
    assert_eq!(stored["access_token"], access_token(2));
    exim.wait_for_messages(2);
    assert_eq!(accepted_as(&exim).len(), 2);
    assert!(
        accepted_as(&exim)
            .iter()
            .all(|a| a == &format!("A=oauthbearer:{USER}")),
        "{}",
        exim.log()
    );
    let x = std::fs::read_to_string(&transcript).unwrap();
    assert!(x.contains("AUTH OAUTHBEARER"), "{x}");
    no_secret("-X", &x);

    // `probe --login` logs in the same way, with the cached token.
    let out = env.esmtp(
        &["probe", "-C", &rc(&env), "--login", "--format", "json"],
        b"",
    );
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    no_secret("probe", &format!("{}{}", stdout(&out), stderr(&out)));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let j = &doc["identities"][0];
    assert_eq!(j["login"]["result"], "ok", "{j}");
    assert_eq!(j["login"]["mechanism"], "OAUTHBEARER", "{j}");
    assert_eq!(provider.grants("refresh_token"), 1);

    // The server really checks the token: the old one (put back as if
    // still valid) is refused by the oauthbearer authenticator.
    std::fs::write(token_file(&env), &stale).unwrap();
    let out = send(&env, &[]);
    assert_eq!(code(&out), 77, "{}", stderr(&out));
    no_secret("refused", &stderr(&out));
    assert!(
        exim.log().contains("oauthbearer authenticator failed"),
        "{}",
        exim.log()
    );
    assert_eq!(exim.accepted(), 2);

    // The delivery log: OAUTHBEARER for each delivery, no AUTH for the
    // refusal, and no token anywhere.
    let log = env.path("esmtp.log");
    let text = std::fs::read_to_string(&log).unwrap();
    no_secret("the delivery log", &text);
    let lines = read_log(&log);
    assert_eq!(lines.len(), 3, "{text}");
    for l in &lines[..2] {
        assert_eq!(l.must("authmech"), "OAUTHBEARER");
        assert_eq!(l.must("exitcode"), "EX_OK");
    }
    assert_eq!(lines[2].must("auth"), "off");
    assert_eq!(lines[2].get("authmech"), None);
    assert_eq!(lines[2].must("exitcode"), "EX_NOPERM");
}

// ---- 2. the delivery log names the mechanism -----------------------------

#[test]
fn the_log_names_scram_sha_256_and_no_secret() {
    let exim = scram_exim();
    let user = User::new();
    user.trust(exim.ca_pem());
    let rc = user.rc(&format!(
        "logfile ~/esmtp.log\nidentity sender@example.org\nhostname localhost:{}\n\
         starttls required\nusername {USER}\npassword \"{PASSWORD}\"\nauth scram-sha-256\n",
        exim.port()
    ));
    let out = esmtp(
        &user,
        &[
            "-C",
            rc.to_str().unwrap(),
            "-f",
            "sender@example.org",
            "bob@example.net",
        ],
        b"Subject: scram\nMessage-ID: <scram@x>\n\nbody\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", support::describe(&out));
    exim.wait_for_messages(1);
    assert_eq!(accepted_as(&exim), ["A=scram256:alice"]);
    let log = user.home.path().join("esmtp.log");
    let lines = read_log(&log);
    assert_eq!(lines.len(), 1);
    let l = &lines[0];
    assert_eq!(l.must("authmech"), "SCRAM-SHA-256");
    assert_eq!(l.must("auth"), "on");
    assert_eq!(l.must("user"), USER);
    assert_eq!(l.must("exitcode"), "EX_OK");
    assert_eq!(l.must("messageid"), "<scram@x>");
    assert_no_secret(
        "the delivery log",
        &std::fs::read_to_string(&log).unwrap(),
        USER,
        PASSWORD,
    );
}

#[test]
fn the_log_names_xoauth2_of_an_oauth2_identity_and_no_token() {
    let exim = Exim::start();
    let (_provider, env) = authorized(&exim, "auth xoauth2\nlogfile @DIR@/esmtp.log\n");
    let out = send(&env, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    exim.wait_for_messages(1);
    assert_eq!(accepted_as(&exim), [format!("A=xoauth2:{USER}")]);
    let log = env.path("esmtp.log");
    let lines = read_log(&log);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let l = &lines[0];
    assert_eq!(l.must("authmech"), "XOAUTH2");
    assert_eq!(l.must("user"), ME);
    assert_eq!(l.must("exitcode"), "EX_OK");
    let text = std::fs::read_to_string(&log).unwrap();
    no_secret("the delivery log", &text);
    assert_no_secret("the delivery log", &text, ME, &access_token(1));
}

// ---- 3. esmtp probe with SCRAM and with an oauth2 identity ---------------

#[test]
fn probe_would_use_scram_sha_256_and_its_login_sends_no_mail() {
    let exim = scram_exim();
    let user = User::new();
    user.trust(exim.ca_pem());
    let rc = esmtprc(&user, exim.port(), "required", "");
    let run = probe(&user, &rc, &["--format", "json"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let j = &run.json()["identities"][0];
    let offered: Vec<&str> = j["extensions"]["auth"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(offered.contains(&"SCRAM-SHA-256"), "{offered:?}");
    assert_eq!(j["auth"]["would_use"], "SCRAM-SHA-256", "{j}");
    assert_eq!(j["login"]["result"], "not-asked");
    assert!(codes(j).is_empty(), "{j}");
    let text = probe(&user, &rc, &[]);
    assert_eq!(text.code, Some(0), "{text:?}");
    assert!(
        text.stdout.contains("  auth used    SCRAM-SHA-256"),
        "{}",
        text.stdout
    );
    assert!(!exim.log().contains("AUTH"), "{}", exim.log());

    let run = probe(&user, &rc, &["--login", "--format", "json"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let j = &run.json()["identities"][0];
    assert_eq!(j["login"]["result"], "ok", "{j}");
    assert_eq!(j["login"]["mechanism"], "SCRAM-SHA-256");
    let log = exim.login_without_mail();
    assert!(!log.contains("authenticator failed"), "{log}");
    assert!(exim.commands().is_empty(), "{log}");
    assert_eq!(exim.accepted(), 0);
    for out in [&run.stdout, &run.stderr, &text.stdout] {
        assert_no_secret("probe output", out, USER, PASSWORD);
    }
}

#[test]
fn probe_login_of_an_oauth2_identity_uses_the_stored_token() {
    let exim = Exim::start();
    let provider = Provider::start();
    provider.feed(&exim, ME);
    let env = env(&provider, &exim, "");
    let run = |args: &[&str]| {
        let mut all = vec!["probe", "-C"];
        let rc = rc(&env);
        all.push(&rc);
        all.extend_from_slice(args);
        let out = env.esmtp(&all, b"");
        no_secret("probe", &format!("{}{}", stdout(&out), stderr(&out)));
        assert!(!stdout(&out).contains("ya29."), "{}", stdout(&out));
        out
    };
    // Nothing stored: --login fails before connecting, and says so.
    let out = run(&["--login", "--format", "json"]);
    assert_eq!(code(&out), 78, "{}{}", stdout(&out), stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let j = &doc["identities"][0];
    assert_eq!(j["login"]["result"], "failed", "{j}");
    let why = j["login"]["error"].as_str().unwrap();
    assert!(
        why.contains(&format!("run `esmtp oauth authorize {ME}`")),
        "{j}"
    );
    assert_eq!(j["error"]["message"], why, "{j}");
    let out = run(&["--login"]);
    assert_eq!(code(&out), 78, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("  login        failed before connecting: see the error"),
        "{text}"
    );
    assert!(text.contains("esmtp oauth authorize"), "{text}");
    assert!(exim
        .log_lines()
        .iter()
        .all(|l| !l.contains("SMTP connection from")));

    authorize(&env, &provider);
    // Without --login the token is not even read (nor refreshed).
    expire(&env);
    let out = run(&["--format", "json"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let j = &doc["identities"][0];
    assert_eq!(j["auth"]["would_use"], "XOAUTH2", "{j}");
    assert_eq!(j["login"]["result"], "not-asked");
    assert_eq!(provider.requests("/token"), 1, "only the code exchange");

    // --login: the expired token is refreshed as for a submission, and
    // the new one logs in; nothing is sent.
    for (args, refreshes) in [
        (&["--login", "--format", "json"][..], 1),
        (&["--login", "--format", "json"][..], 1),
    ] {
        let out = run(args);
        assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let j = &doc["identities"][0];
        assert_eq!(j["login"]["result"], "ok", "{j}");
        assert_eq!(j["login"]["mechanism"], "XOAUTH2");
        assert_eq!(provider.grants("refresh_token"), refreshes);
    }
    let out = run(&["--login"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("  auth used    XOAUTH2"),
        "{}",
        stdout(&out)
    );
    let log = exim.wait_for_log(3, |l: &str| {
        l.contains("no MAIL in SMTP connection") && l.contains("AUTH")
    });
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("no MAIL in SMTP connection") && l.contains("AUTH"))
            .count(),
        3,
        "{log}"
    );
    assert!(!log.contains("authenticator failed"), "{log}");
    assert!(exim.commands().is_empty(), "{log}");
    assert_eq!(provider.grants("refresh_token"), 1);

    // A refresh refused: the login failed, with the provider's reason.
    expire(&env);
    provider.with(|s| s.refuse_refresh = true);
    let out = run(&["--login", "--format", "json"]);
    assert_eq!(code(&out), 78, "{}{}", stdout(&out), stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let j = &doc["identities"][0];
    assert_eq!(j["login"]["result"], "failed", "{j}");
    assert!(
        j["login"]["error"]
            .as_str()
            .unwrap()
            .contains("invalid_grant"),
        "{j}"
    );
}

// ---- 4. probe towards another host in clear ------------------------------

/// `esmtp probe --login --format FORMAT` run inside `ns` for an identity
/// with a password, against a recording server on the host's side that
/// offers `auth` without STARTTLS: the run and what the server saw.
fn probe_from(ns: &Netns, auth: &'static str, format: &str) -> (std::process::Output, Seen) {
    let server = recording_server(&ns.host_ip, auth, false);
    let user = User::new();
    let rc = user.rc(&format!(
        "identity sender@example.org\nhostname {}:{}\ntimeout 10\n\
         username alice\npassword \"{MARKER}\"\n",
        ns.host_ip, server.port
    ));
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &ns.name])
        .arg(env!("CARGO_BIN_EXE_esmtp"))
        .args(["probe", "-C", rc.to_str().unwrap(), "--login"])
        .args(["--format", format])
        .env("HOME", user.home.path())
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("XDG_DATA_HOME")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("ip netns exec esmtp probe");
    let (o, e) = (stdout(&out), stderr(&out));
    assert!(!e.contains("cannot connect"), "{format}: {e}");
    assert_no_secret(format, &format!("{o}{e}"), "alice", MARKER);
    let seen = Seen::from_bytes(&server.join());
    assert!(seen.has("EHLO"), "{format}: {seen:?}");
    (out, seen)
}

#[test]
fn probe_reports_w057_for_plain_only_in_clear_to_another_host() {
    let ns = Netns::new();
    let (out, seen) = probe_from(&ns, "PLAIN", "json");
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let j = &doc["identities"][0];
    assert_eq!(codes(j), ["W057"], "{j}");
    assert!(j["auth"]["would_use"].is_null(), "{j}");
    assert_ne!(j["login"]["result"], "ok", "{j}");
    let message = j["warnings"][0]["message"].as_str().unwrap();
    assert!(message.contains("PLAIN"), "{message}");
    assert!(message.contains(&ns.host_ip), "{message}");
    nothing_secret_sent("json", &seen);

    let (out, seen) = probe_from(&ns, "PLAIN", "text");
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    let o = stdout(&out);
    assert!(o.contains("warning[W057]"), "{o}");
    assert!(o.contains("starttls required"), "{o}");
    nothing_secret_sent("text", &seen);

    // SCRAM beside PLAIN does not show the password: no W057, the probe
    // would use it and tries it (this server refuses every SCRAM: W058).
    let (out, seen) = probe_from(&ns, "PLAIN SCRAM-SHA-256", "json");
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let j = &doc["identities"][0];
    assert_eq!(j["auth"]["would_use"], "SCRAM-SHA-256", "{j}");
    assert_eq!(codes(j), ["W058"], "{j}");
    assert!(seen.has("AUTH SCRAM-SHA-256 "), "{seen:?}");
    assert!(!seen.has("AUTH PLAIN"), "{seen:?}");
    assert!(!seen.has("MAIL"), "{seen:?}");
}

// ---- 5. SMTPUTF8 and the delivery log -------------------------------------

#[test]
fn a_utf8_sender_is_logged_on_one_parseable_line() {
    let exim = Exim::with(EximOptions {
        starttls: false,
        auth: false,
        ..EximOptions::default()
    });
    let user = User::new();
    let sender = "jörg@bücher.example";
    let rcpt = "zoë@例え.テスト";
    let rc = user.rc(&format!(
        "logfile ~/esmtp.log\nidentity \"{sender}\"\nhostname 127.0.0.1:{}\ntimeout 10\n",
        exim.port()
    ));
    let out = esmtp(
        &user,
        &["-C", rc.to_str().unwrap(), "-f", sender, rcpt],
        "Subject: grüße\nMessage-ID: <ü@x>\n\nbody\n".as_bytes(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", support::describe(&out));
    exim.wait_for_messages(1);
    let mail = exim
        .commands()
        .into_iter()
        .find(|c| c.starts_with("MAIL "))
        .expect("MAIL logged");
    assert!(mail.contains("SMTPUTF8"), "{mail}");

    let log = user.home.path().join("esmtp.log");
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.matches('\n').count(), 1, "{text:?}");
    let lines = read_log(&log);
    let l = &lines[0];
    assert_eq!(l.must("from"), sender);
    assert_eq!(l.must("identity"), sender);
    assert_eq!(l.must("recipients"), rcpt);
    assert_eq!(l.must("messageid"), "<ü@x>");
    assert_eq!(l.must("exitcode"), "EX_OK");
    assert_eq!(l.must("smtpstatus"), "250");

    // To a server without SMTPUTF8 a UTF-8 local part cannot go: the
    // failure is one line too.
    let plain = Exim::with(EximOptions {
        starttls: false,
        auth: false,
        smtputf8: false,
        ..EximOptions::default()
    });
    let rc = user.rc(&format!(
        "logfile ~/esmtp.log\nidentity \"{sender}\"\nhostname 127.0.0.1:{}\ntimeout 10\n",
        plain.port()
    ));
    let out = esmtp(
        &user,
        &["-C", rc.to_str().unwrap(), "-f", sender, "bob@example.net"],
        b"Subject: x\nMessage-ID: <n@x>\n\nbody\n",
    );
    assert_eq!(out.status.code(), Some(65), "{}", support::describe(&out));
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.matches('\n').count(), 2, "{text:?}");
    let lines = read_log(&log);
    let l = &lines[1];
    assert_eq!(l.must("from"), sender);
    assert_eq!(l.must("exitcode"), "EX_DATAERR");
    assert!(
        l.must("errormsg").contains("does not offer SMTPUTF8"),
        "{l:?}"
    );
    assert!(plain.commands().is_empty(), "{}", plain.log());
}

/// An `oauth2` identity without `auth` uses XOAUTH2: towards a server that
/// offers only OAUTHBEARER the probe and a submission say so without
/// claiming the file has an `auth` line, and the fix is `auth oauthbearer`
/// (not removing an `auth` the file does not have, nor PLAIN).
#[test]
fn an_oauth2_identity_towards_a_server_with_oauthbearer_only() {
    let server = || {
        support::FakeServer::start(|reader, _writer| {
            support::hostile::converse(
                reader,
                b"220 fake ESMTP\r\n",
                support::hostile::usual("250-fake\r\n250 AUTH PLAIN OAUTHBEARER\r\n"),
            )
            .into_bytes()
        })
    };
    let provider = Provider::start();
    let s = server();
    let env = Env::new(&format!(
        "identity {ME}\nhostname 127.0.0.1:{}\ntimeout 20\n{}",
        s.port,
        provider.settings()
    ));
    let out = env.esmtp(&["probe", "-C", &rc(&env), "--format", "json"], b"");
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let j = &doc["identities"][0];
    assert_eq!(codes(j), ["W051"], "{j}");
    let message = j["warnings"][0]["message"].as_str().unwrap();
    assert!(!message.contains("the file says"), "{message}");
    assert!(message.contains("`oauth2` without `auth`"), "{message}");
    let help = j["warnings"][0]["help"].as_str().unwrap();
    assert!(help.starts_with("write `auth oauthbearer`"), "{help}");
    assert!(
        !help.contains("remove") && !help.contains("PLAIN"),
        "{help}"
    );
    s.join();

    // A submission (a valid token stored) stops before AUTH with the same
    // explanation.
    let s = server();
    let env = Env::new(&format!(
        "identity {ME}\nhostname 127.0.0.1:{}\ntimeout 20\n{}",
        s.port,
        provider.settings()
    ));
    let file = token_file(&env);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let mode = |p: &std::path::Path, m| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    };
    mode(file.parent().unwrap(), 0o700);
    std::fs::write(
        &file,
        r#"{"refresh_token":"1//REFRESHMARKER","access_token":"ya29.ACCESSMARKER","expires_at":99999999999}"#,
    )
    .unwrap();
    mode(&file, 0o600);
    let out = send(&env, &[]);
    let seen = Seen::from_bytes(&s.join());
    assert_eq!(code(&out), 77, "{}", stderr(&out));
    assert!(!seen.has("AUTH"), "{seen:?}");
    assert!(!seen.has("MAIL"), "{seen:?}");
    let err = stderr(&out);
    assert!(err.contains("does not offer AUTH XOAUTH2"), "{err}");
    assert!(!err.contains("the file says"), "{err}");
    no_secret("the refusal", &err);
    assert_eq!(provider.requests("/token"), 0);
}
