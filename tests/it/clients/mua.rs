//! The built binary driven the way real clients call `/usr/sbin/sendmail`:
//! mutt and bsd-mailx and git send-email themselves (installed by
//! tests/setup/install-deps.sh), cron's and fetchmail's command lines as they
//! write them.

use crate::support::frontend::*;

fn login() -> String {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .unwrap()
        .unwrap()
        .name
}

fn host() -> String {
    gethostname::gethostname().into_string().unwrap()
}

fn procmail_env() -> Env {
    let env = Env::new("mda \"/usr/bin/procmail -p -f %F -m @DIR@/procmailrc %T\"\n");
    env.write(
        "procmailrc",
        &env.subst("MAILDIR=@DIR@\nDEFAULT=@DIR@/mbox\n"),
        0o600,
    );
    env
}

#[test]
fn mutt() {
    let env = Env::with_recorder("");
    let wrapper = env.path("sendmail-wrapper").display().to_string();
    let muttrc = format!(
        "set sendmail=\"{wrapper} -oi -oem\"\nset from=me@example.org\nset use_envelope_from=yes\n\
         set use_domain=no\nset copy=no\nset record=\"\"\n"
    );
    env.write("muttrc", &muttrc, 0o600);
    let o = run(
        env.command("mutt")
            .env("HOME", env.dir.path())
            .args(["-n", "-F"])
            .arg(env.path("muttrc"))
            .args(["-s", "from mutt", "--", "bob", "carol"]),
        b"hello from mutt\n",
    );
    assert_status(&o, 0);
    // mutt ran: sendmail -oi -oem -f me@example.org -- bob carol
    assert_eq!(env.recorded_args(), ["me@example.org", "bob", "carol"]);
    let msg = env.read("msg");
    assert!(msg.contains("Subject: from mutt\n"), "{msg}");
    assert!(msg.contains("\n\nhello from mutt\n"), "{msg}");
    // mutt's own Date: and Message-ID: are kept, not doubled.
    let head = msg.split("\n\n").next().unwrap().to_ascii_lowercase();
    assert_eq!(
        head.lines().filter(|l| l.starts_with("date: ")).count(),
        1,
        "{msg}"
    );
    assert_eq!(
        head.lines()
            .filter(|l| l.starts_with("message-id: "))
            .count(),
        1,
        "{msg}"
    );
}

#[test]
fn bsd_mailx() {
    let env = Env::with_recorder("");
    let wrapper = env.path("sendmail-wrapper").display().to_string();
    env.write("mailrc", &format!("set sendmail={wrapper}\n"), 0o644);
    let o = run(
        env.command("mailx")
            .env("HOME", env.dir.path())
            .env("MAILRC", env.path("mailrc"))
            .args(["-s", "from mailx", "bob"]),
        b"mailx body\n",
    );
    assert_status(&o, 0);
    // mailx runs sendmail -i -t with To: bob.
    assert_eq!(
        env.recorded_args(),
        [format!("{}@{}", login(), host()), "bob".into()]
    );
    let msg = env.read("msg");
    assert!(msg.contains("Subject: from mailx\n"), "{msg}");
    assert!(msg.contains("\nDate: "), "{msg}");
}

#[test]
fn git_send_email() {
    let env = Env::with_recorder("force_mda patches\n");
    let repo = env.path("repo");
    let git = |args: &[&str]| {
        let o = run(
            env.command("git")
                .current_dir(&repo)
                .env("HOME", env.dir.path())
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .args([
                    "-c",
                    "user.name=Tess Ter",
                    "-c",
                    "user.email=tess@example.org",
                ])
                .args(args),
            b"",
        );
        assert_status(&o, 0);
    };
    std::fs::create_dir(&repo).unwrap();
    git(&["init", "-q", "."]);
    git(&["commit", "-q", "--allow-empty", "-m", "a change"]);
    git(&["format-patch", "-q", "-1", "-o", "out"]);
    let wrapper = env.path("sendmail-wrapper").display().to_string();
    let patch = std::fs::read_dir(repo.join("out"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    git(&[
        "send-email",
        "--confirm=never",
        "--quiet",
        &format!("--smtp-server={wrapper}"),
        "--to=list@example.net",
        "--envelope-sender=tess@example.org",
        patch.to_str().unwrap(),
    ]);
    // git ran: sendmail -i -f tess@example.org list@example.net tess@example.org
    assert_eq!(env.recorded_args(), ["tess@example.org", "patches"]);
    let msg = env.read("msg");
    assert!(msg.contains("Subject: [PATCH] a change\n"), "{msg}");
    assert!(msg.contains("From: Tess Ter <tess@example.org>\n"), "{msg}");
}

#[test]
fn git_send_email_argument_form() {
    // The exact form git uses without --envelope-sender: -i, then recipients.
    let env = Env::with_recorder("");
    let o = env.sendmail(
        &["-i", "bob", "carol"],
        b"From: T <t@x.org>\nSubject: [PATCH] x\n\n---\n",
    );
    assert_status(&o, 0);
    assert_eq!(env.recorded_args()[1..], ["bob", "carol"]);
}

#[test]
fn cron() {
    // Debian's cron: sendmail -FCronDaemon -i -B8BITMIME -oem -oi -t, with only
    // To: and Subject: (no Date:, no From:).
    let env = procmail_env();
    let o = env.sendmail(
        &["-FCronDaemon", "-i", "-B8BITMIME", "-oem", "-oi", "-t"],
        b"To: root\nSubject: Cron <root@host> run-parts /etc/cron.daily\n\nsome output\n",
    );
    assert_status(&o, 0);
    let mbox = env.read("mbox");
    let sender = format!("{}@{}", login(), host());
    assert!(mbox.starts_with(&format!("From {sender} ")), "{mbox}");
    // The MDA gets the normalised message: Date:, From: with the -F name.
    assert!(mbox.contains("\nDate: "), "{mbox}");
    assert!(
        mbox.contains(&format!("\nFrom: CronDaemon <{sender}>\n")),
        "{mbox}"
    );
    assert!(mbox.contains("\n\nsome output\n"), "{mbox}");
}

#[test]
fn fetchmail_mda_form() {
    // fetchmail: mda "/usr/sbin/sendmail -oem -f %F %T"
    let env = procmail_env();
    let o = env.sendmail(
        &["-oem", "-f", "list-bounces@lists.example.org", "alice"],
        b"Received: from pop\nFrom: Someone <someone@example.org>\nTo: alice@example.com\n\
          Subject: fetched\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <x@y>\n\nbody\n",
    );
    assert_status(&o, 0);
    let mbox = env.read("mbox");
    assert!(
        mbox.starts_with("From list-bounces@lists.example.org "),
        "{mbox}"
    );
    assert!(
        mbox.contains("\nFrom: Someone <someone@example.org>\n"),
        "{mbox}"
    );
    assert_eq!(mbox.matches("\nDate: ").count(), 1);
}
