//! The queue belongs to its user alone (issue 13 §4): an attacker (the
//! `nobody` user, running real commands) prepares the victim's queue
//! directory, plants entries, links and FIFOs in it and in the
//! esmtp-wrapper queue; the victim (root, and an ordinary user) runs the
//! built binary. Nothing planted is ever sent, followed, written through or
//! deleted; every refusal names what it refused; submissions fail with 75
//! (the mail client keeps the message: mutt is driven to show it) and
//! flushes and listings with 77. Messages go to the real Exim on loopback,
//! which shows what was sent.

use crate::support;
use crate::support::victim;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{free_port as closed_port, Exim};
use victim::*;

fn queue_one(w: &World, subject: &str, rcpt: &str) -> String {
    let before = w.queued();
    let o = w.sendmail(&["-f", "victim@example.org", rcpt], &message(subject));
    assert_status(&o, 0);
    assert!(text(&o.stderr).contains("queued as"), "{}", text(&o.stderr));
    let mut now = w.queued();
    now.retain(|id| !before.contains(id));
    assert_eq!(now.len(), 1, "{now:?}");
    now.remove(0)
}

/// Exim saw no RCPT for any of `addresses`.
fn never_sent_to(exim: &Exim, addresses: &[&str]) {
    let commands = exim.commands().join("\n");
    for a in addresses {
        assert!(!commands.contains(a), "{a} was sent to: {commands}");
    }
}

#[test]
fn a_queue_directory_made_by_the_attacker_is_refused() {
    let exim = Exim::start();
    for victim in VICTIMS {
        let w = World::new(victim);
        w.configure(exim.port(), "enabled", "");
        let evil = w.source(
            "evil.entry",
            &entry_bytes(
                "attacker@evil.example",
                "evil@evil.example",
                "Subject: x\n\nspam\n",
            ),
        );
        // The attacker creates the victim's queue directory first, open to
        // everybody, with an entry of its own ready to go.
        w.attacker(
            &w.shared(),
            &format!(
                "mkdir q && chmod 0777 q && cd q && mkdir msg tmp failed damaged && \
                 chmod 0777 msg tmp failed damaged && cp {} msg/1-evil",
                evil.display()
            ),
        );
        let refusal = format!(
            "{} is owned by nobody (uid 65534), mode 0777, not by you (uid {})",
            w.queue().display(),
            victim.uid
        );

        let o = w.sendmail(&["bob@example.net"], &message("refused"));
        assert_status(&o, 75);
        let err = text(&o.stderr);
        assert!(err.contains(&refusal), "{err}");
        assert!(err.contains("not queued or sent"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        // Nothing of the victim's went in.
        assert_eq!(w.names("msg"), ["1-evil"]);
        assert!(w.names("tmp").is_empty());

        for o in [w.queue_cmd("flush"), w.queue_cmd("list"), w.mailq()] {
            assert_status(&o, 77);
            assert!(text(&o.stderr).contains(&refusal), "{}", text(&o.stderr));
        }
        assert_eq!(w.names("msg"), ["1-evil"]);
    }
    assert_eq!(exim.accepted(), 0);
}

/// Collects what a process writes to the terminal, to wait for a text.
struct Screen(Arc<Mutex<Vec<u8>>>);

impl Screen {
    fn wait_for(&self, needle: &str, count: usize) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let seen = text(&self.0.lock().unwrap()).matches(needle).count();
            if seen >= count {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
    fn text(&self) -> String {
        text(&self.0.lock().unwrap())
    }
}

/// mutt, interactive (on a terminal made by `script`): the send fails with
/// 75 because the queue directory is the attacker's, and the message stays
/// in mutt, which postpones it on request. Nothing reaches the server.
#[test]
fn mutt_keeps_the_message_when_the_queue_is_refused() {
    let exim = Exim::start();
    let w = World::new(USER);
    w.configure(exim.port(), "enabled", "");
    w.attacker(&w.shared(), "mkdir q && chmod 0777 q");
    let muttrc = format!(
        "set sendmail=\"{} -C {} -oi -oem\"\nset from=victim@example.org\nset use_envelope_from=yes\n\
         set copy=no\nset record=\"\"\nset postponed={}\nset postpone=yes\nset editor=true\n\
         set abort_unmodified=no\nset edit_headers=no\nset mbox_type=mbox\nset spoolfile={}\n\
         set folder={}\n",
        w.bin().display(),
        w.rc().display(),
        w.home().join("postponed").display(),
        w.home().join("inbox").display(),
        w.home().display()
    );
    w.victim_file(&w.home().join("muttrc"), muttrc.as_bytes());
    w.victim_file(&w.home().join("inbox"), b"");
    w.victim_file(&w.home().join("body"), b"a body mutt must not lose\n");
    let mut script = Command::new("script");
    script.args([
        "-qfc",
        "mutt -n -F muttrc -s 'kept by mutt' -i body bob@example.net",
        "/dev/null",
    ]);
    w.as_victim(&mut script);
    let mut child = script
        .env("TERM", "xterm")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let screen = Screen(Arc::new(Mutex::new(Vec::new())));
    let mut out = child.stdout.take().unwrap();
    let buf = screen.0.clone();
    let reader = std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = out.read(&mut chunk) {
            if n == 0 {
                break;
            }
            buf.lock().unwrap().extend_from_slice(&chunk[..n]);
        }
    });
    let mut keys = child.stdin.take().unwrap();
    let mut press = |k: &str| {
        let _ = keys.write_all(k.as_bytes());
        let _ = keys.flush();
    };
    // Confirm the recipient (and the subject, if asked), then send from
    // the compose menu.
    assert!(screen.wait_for("To: ", 1), "{}", screen.text());
    press("\r");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut confirmed = 0;
    while !screen.text().contains("y:Send") {
        assert!(Instant::now() < deadline, "{}", screen.text());
        if screen.text().matches("Subject:").count() > confirmed {
            confirmed += 1;
            press("\r");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    press("y");
    assert!(
        screen.wait_for("Error sending message, child exited 75", 1),
        "{}",
        screen.text()
    );
    // mutt shows esmtp's message, back to the compose menu, postpone.
    assert!(
        screen.wait_for("not queued or sent", 1),
        "{}",
        screen.text()
    );
    press("q");
    assert!(screen.wait_for("y:Send", 2), "{}", screen.text());
    press("P");
    assert!(screen.wait_for("postponed", 1), "{}", screen.text());
    drop(keys);
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.wait();
    reader.join().unwrap();
    let kept = fs::read_to_string(w.home().join("postponed")).unwrap();
    assert!(kept.contains("Subject: kept by mutt"), "{kept}");
    assert!(kept.contains("a body mutt must not lose"), "{kept}");
    assert_eq!(exim.accepted(), 0);
    assert!(fs::read_dir(w.queue()).unwrap().next().is_none());
}

type Attack = fn(&World);

#[test]
fn directories_that_are_not_the_victims_own_are_refused() {
    let exim = Exim::start();
    let cases: [(&str, Attack, &str); 8] = [
        (
            "",
            |w| fs::set_permissions(w.queue(), fs::Permissions::from_mode(0o770)).unwrap(),
            "is writable by its group (mode 0770)",
        ),
        (
            "",
            |w| fs::set_permissions(w.queue(), fs::Permissions::from_mode(0o703)).unwrap(),
            "is writable by others (mode 0703)",
        ),
        (
            "msg",
            |w| {
                // The attacker's own directory, with an entry, in place of msg/.
                let evil = w.source(
                    "evil.entry",
                    &entry_bytes("a@evil.example", "evil@evil.example", "Subject: x\n\ny\n"),
                );
                w.attacker(
                    &w.shared(),
                    &format!("mkdir evil-msg && cp {} evil-msg/1-evil", evil.display()),
                );
                fs::rename(w.queue().join("msg"), w.home().join("old-msg")).unwrap();
                w.plant(&w.queue(), "ln -s ../evil-msg msg");
            },
            "is a symbolic link",
        ),
        (
            "tmp",
            |w| w.chown_attacker(&w.queue().join("tmp")),
            "is owned by nobody (uid 65534), mode 0700",
        ),
        (
            "failed",
            |w| {
                fs::remove_dir(w.queue().join("failed")).unwrap();
                w.plant(&w.queue(), "touch failed");
            },
            "is a regular file, not a directory",
        ),
        (
            "damaged",
            |w| {
                fs::remove_dir(w.queue().join("damaged")).unwrap();
                w.plant(&w.queue(), "mkdir damaged");
            },
            "is owned by nobody (uid 65534), mode 07",
        ),
        (
            "msg",
            |w| {
                fs::set_permissions(w.queue().join("msg"), fs::Permissions::from_mode(0o720))
                    .unwrap()
            },
            "is writable by its group (mode 0720)",
        ),
        (
            "",
            |w| {
                // The whole queue directory a link to a directory of the victim's.
                fs::rename(w.queue(), w.home().join("real-q")).unwrap();
                std::os::unix::fs::symlink(w.home().join("real-q"), w.queue()).unwrap();
                w.give(&w.queue());
            },
            "is a symbolic link",
        ),
    ];
    for victim in VICTIMS {
        for (sub, attack, why) in cases {
            let w = World::new(victim);
            // A message waits in the victim's queue (the server was down).
            w.configure(closed_port(), "enabled", "");
            queue_one(&w, "waiting", "bob@example.net");
            attack(&w);
            w.configure(exim.port(), "enabled", "");
            let dir = if sub.is_empty() {
                w.queue()
            } else {
                w.queue().join(sub)
            };
            let refusal = format!("{} {why}", dir.display());
            let o = w.sendmail(&["bob@example.net"], &message("another"));
            assert_status(&o, 75);
            assert!(
                text(&o.stderr).contains(&refusal),
                "{refusal}: {}",
                text(&o.stderr)
            );
            for o in [w.queue_cmd("flush"), w.mailq()] {
                assert_status(&o, 77);
                let err = text(&o.stderr);
                assert!(err.contains(&refusal), "{refusal}: {err}");
                assert!(err.contains("not used"), "{err}");
            }
        }
    }
    // Neither the waiting message nor the attacker's was sent.
    assert_eq!(exim.accepted(), 0);
}

#[test]
fn planted_entries_are_reported_never_sent_and_left_alone() {
    for victim in VICTIMS {
        let exim = Exim::start();
        let w = World::new(victim);
        w.configure(closed_port(), "enabled", "");
        let good = queue_one(&w, "good", "bob@example.net");
        let msg = w.queue().join("msg");

        let evil = w.source(
            "evil.entry",
            &entry_bytes(
                "attacker@evil.example",
                "evil@evil.example",
                "Subject: evil\n\nspam\n",
            ),
        );
        // Valid entries of the victim's outside the queue, which a link
        // would make the victim's flush send.
        let secret = w.home().join("secret.entry");
        let secret_bytes = entry_bytes(
            "victim@example.org",
            "secret@evil.example",
            "Subject: secret\n\nthe victim's secret\n",
        );
        w.victim_file(&secret, &secret_bytes);
        let hard = w.home().join("hard.entry");
        let hard_bytes = entry_bytes(
            "victim@example.org",
            "hard@evil.example",
            "Subject: h\n\nh\n",
        );
        w.victim_file(&hard, &hard_bytes);
        w.plant(
            &msg,
            &format!(
                "cp {} 1-evil && ln -s {} 2-link && mkfifo 3-fifo",
                evil.display(),
                secret.display()
            ),
        );
        // A second name for a file of the victim's (as a backup tool makes).
        fs::hard_link(&hard, msg.join("4-hard")).unwrap();
        // An entry of the victim's that anybody may rewrite.
        let open_bytes = entry_bytes(
            "victim@example.org",
            "open@evil.example",
            "Subject: o\n\no\n",
        );
        w.victim_file(&msg.join("5-open"), &open_bytes);
        fs::set_permissions(msg.join("5-open"), fs::Permissions::from_mode(0o666)).unwrap();
        let planted = ["1-evil", "2-link", "3-fifo", "4-hard", "5-open"];
        let why = [
            "is a regular file owned by nobody (uid 65534), not by you",
            "is a symbolic link",
            "is a FIFO owned by nobody (uid 65534), not by you",
            "has 2 hard links",
            "is writable by others (mode 0666)",
        ];

        // Listed, each with why; the good message too.
        let o = w.mailq();
        assert_status(&o, 0);
        let list = text(&o.stdout);
        assert!(list.contains(&good), "{list}");
        for (name, why) in planted.iter().zip(why) {
            assert!(
                list.contains(&format!("{name:<24} LEFT ALONE: {why}")),
                "{name}: {list}"
            );
        }
        assert!(
            list.contains("-- 1 message queued, 5 not yours (left alone)"),
            "{list}"
        );

        // A flush (it must not hang on the FIFO) sends the good one only.
        w.configure(exim.port(), "enabled", "");
        let o = w.queue_cmd("flush");
        assert_status(&o, 77);
        let err = text(&o.stderr);
        for (name, why) in planted.iter().zip(why) {
            let line = format!("{} {why}", msg.join(name).display());
            assert!(err.contains(&line), "{line}: {err}");
        }
        assert_eq!(
            err.matches("left alone, never sent or followed").count(),
            5,
            "{err}"
        );
        assert!(err.contains("5 files in the queue not yours"), "{err}");
        let got = exim.wait_for_messages(1);
        assert_eq!(got.len(), 1);
        never_sent_to(&exim, &["evil@evil.example", "secret@", "hard@", "open@"]);

        // Everything planted is where it was, as it was.
        assert_eq!(w.names("msg"), planted);
        assert_eq!(
            fs::read(msg.join("1-evil")).unwrap(),
            fs::read(&evil).unwrap()
        );
        assert_eq!(fs::read_link(msg.join("2-link")).unwrap(), secret);
        assert_eq!(fs::read(&secret).unwrap(), secret_bytes);
        assert!(fs::symlink_metadata(msg.join("3-fifo"))
            .unwrap()
            .file_type()
            .is_fifo());
        assert_eq!(fs::metadata(&hard).unwrap().nlink(), 2);
        assert_eq!(fs::read(&hard).unwrap(), hard_bytes);
        assert_eq!(fs::read(msg.join("5-open")).unwrap(), open_bytes);
        assert!(w.names("failed").is_empty() && w.names("damaged").is_empty());
        // Later flushes say the same and still send nothing.
        assert_status(&w.queue_cmd("flush"), 77);
        assert_eq!(exim.accepted(), 1);
    }
}

/// Read a file (or say it is missing), for "untouched" checks.
fn content(p: &Path) -> Option<Vec<u8>> {
    fs::read(p).ok()
}

#[test]
fn links_planted_where_the_queue_writes_are_never_written_through() {
    for victim in VICTIMS {
        let exim = Exim::start();
        let w = World::new(victim);
        w.configure(closed_port(), "enabled", "");
        let a = queue_one(&w, "a", "bob@example.net");
        let b = queue_one(&w, "b", "refuse-me@example.net");
        let c = queue_one(&w, "c", "refuse-too@example.net");
        let (msg, failed) = (w.queue().join("msg"), w.queue().join("failed"));

        // The victim's files the links point at, and names that must not
        // come to exist.
        let targets = ["state", "note", "lock"].map(|t| {
            let p = w.home().join(format!("{t}-target"));
            w.victim_file(&p, format!("precious {t}\n").as_bytes());
            p
        });
        let absent = ["again-target", "note2-target"].map(|t| w.home().join(t));
        fs::remove_file(msg.join(format!("{a}.state"))).unwrap();
        w.plant(&msg, &format!("ln -s {} {a}.state", targets[0].display()));
        w.plant(
            &failed,
            &format!(
                "ln -s {} {b}.note && ln -s {} {c}.note",
                targets[1].display(),
                absent[1].display()
            ),
        );
        w.plant(
            &w.queue(),
            &format!(
                "ln -s {} flush.lock && ln -s {} flush.again",
                targets[2].display(),
                absent[0].display()
            ),
        );
        let untouched = |w: &World| {
            for (t, name) in targets.iter().zip(["state", "note", "lock"]) {
                assert_eq!(
                    content(t).as_deref(),
                    Some(format!("precious {name}\n").as_bytes()),
                    "{}",
                    t.display()
                );
                assert_eq!(fs::metadata(t).unwrap().nlink(), 1);
            }
            for p in &absent {
                assert!(
                    fs::symlink_metadata(p).is_err(),
                    "{} was created",
                    p.display()
                );
            }
            for link in [
                msg.join(format!("{a}.state")),
                failed.join(format!("{b}.note")),
                failed.join(format!("{c}.note")),
                w.queue().join("flush.lock"),
                w.queue().join("flush.again"),
            ] {
                assert!(
                    fs::symlink_metadata(&link)
                        .unwrap()
                        .file_type()
                        .is_symlink(),
                    "{}",
                    link.display()
                );
            }
        };

        // A flush while the server is down records attempts: not through
        // the planted state link.
        let o = w.queue_cmd("flush");
        assert_status(&o, 77);
        let err = text(&o.stderr);
        assert!(
            err.contains(&format!("{a}.state is a symbolic link: left alone")),
            "{err}"
        );
        assert!(err.contains("flush.lock is a symbolic link"), "{err}");
        assert!(err.contains("flush.again is a symbolic link"), "{err}");
        assert!(
            err.contains(&format!("{a}: this attempt is not recorded")),
            "{err}"
        );
        untouched(&w);

        // The server is back: a is sent, b refused (550) and moved to
        // failed/ without writing its note through the link.
        w.configure(exim.port(), "enabled", "");
        let o = w.queue_cmd("flush");
        assert_status(&o, 77);
        let err = text(&o.stderr);
        for id in [&b, &c] {
            assert!(err.contains(&format!("giving up on {id}")), "{err}");
            assert!(
                err.contains(&format!("{id}.note is a symbolic link: left alone")),
                "{err}"
            );
            assert!(w.names("failed").contains(id));
        }
        assert_eq!(exim.wait_for_messages(1).len(), 1);
        assert!(w.queued().is_empty());
        untouched(&w);

        // Background delivery never opens the planted lock or request.
        w.configure(exim.port(), "background", "");
        let o = w.sendmail(&["bob@example.net"], &message("background"));
        assert_status(&o, 0);
        let err = text(&o.stderr);
        assert!(err.contains("not delivering in the background"), "{err}");
        assert!(err.contains("flush.lock is a symbolic link"), "{err}");
        std::thread::sleep(Duration::from_millis(1500));
        untouched(&w);
        assert_eq!(w.queued().len(), 1);

        // mailq shows every planted link.
        let o = w.mailq();
        assert_status(&o, 0);
        let list = text(&o.stdout);
        for name in ["flush.lock", "flush.again", &format!("{a}.state")] {
            assert!(
                list.contains(&format!("{name:<24} LEFT ALONE: is a symbolic link")),
                "{name}: {list}"
            );
        }
        assert_eq!(
            list.matches("(its note is a symbolic link)").count(),
            2,
            "{list}"
        );
        untouched(&w);
        assert_eq!(exim.accepted(), 1);
    }
}

#[test]
fn the_esmtp_wrapper_queue_follows_the_same_rules() {
    for victim in VICTIMS {
        let exim = Exim::start();
        let w = World::new(victim);
        w.configure(exim.port(), "enabled", "");
        let wq = w.home().join(".esmtp_queue");
        fs::create_dir(&wq).unwrap();
        fs::set_permissions(&wq, fs::Permissions::from_mode(0o755)).unwrap();
        w.give(&wq);
        let entry = |name: &str, cmd: &str, mail: &[u8]| {
            let d = wq.join(name);
            fs::create_dir(&d).unwrap();
            fs::set_permissions(&d, fs::Permissions::from_mode(0o700)).unwrap();
            w.give(&d);
            w.victim_file(&d.join("cmd"), format!("{cmd}\n").as_bytes());
            w.victim_file(&d.join("mail"), mail);
            d
        };
        entry(
            "Good0001",
            "-oi -f victim@example.org bob@example.net",
            b"Subject: good\n\nfrom the wrapper\n",
        );
        // The victim's own entry whose mail is a link to a private file.
        let secret = w.home().join("secret.txt");
        w.victim_file(&secret, b"Subject: secret\n\nthe victim's secret\n");
        let link = entry("Link0001", "-oi secret@evil.example", b"");
        fs::remove_file(link.join("mail")).unwrap();
        w.plant(&link, &format!("ln -s {} mail", secret.display()));
        // The attacker's entry.
        w.plant(
            &wq,
            "mkdir Evil0001 && echo '-oi evil@evil.example' > Evil0001/cmd && \
             printf 'Subject: evil\\n\\nspam\\n' > Evil0001/mail",
        );

        let o = w.mailq();
        assert_status(&o, 0);
        let list = text(&o.stdout);
        assert!(
            list.contains("-- 1 message in the esmtp-wrapper queue"),
            "{list}"
        );
        assert!(
            list.contains("mail                     LEFT ALONE: is a symbolic link"),
            "{list}"
        );
        assert!(
            list.contains("Evil0001                 LEFT ALONE: is owned by nobody"),
            "{list}"
        );

        let o = w.queue_cmd("flush");
        assert_status(&o, 77);
        let err = text(&o.stderr);
        assert!(
            err.contains(&format!(
                "{} is a symbolic link: left alone",
                link.join("mail").display()
            )),
            "{err}"
        );
        assert!(
            err.contains(&format!(
                "{} is owned by nobody (uid 65534)",
                wq.join("Evil0001").display()
            )),
            "{err}"
        );
        let got = exim.wait_for_messages(1);
        assert_eq!(got.len(), 1);
        assert!(text(&got[0].message).contains("from the wrapper"));
        never_sent_to(&exim, &["secret@evil.example", "evil@evil.example"]);
        let mut left: Vec<_> = fs::read_dir(&wq)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["Evil0001", "Link0001"]);
        assert!(fs::symlink_metadata(link.join("mail"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            fs::read(&secret).unwrap(),
            b"Subject: secret\n\nthe victim's secret\n"
        );
        fs::remove_dir_all(wq.join("Evil0001")).unwrap();
        fs::remove_dir_all(&link).unwrap();

        // The wrapper queue itself open to others, then a link: refused,
        // its entries not imported.
        entry(
            "Good0002",
            "-oi -f victim@example.org bob@example.net",
            b"Subject: good 2\n\nwaits\n",
        );
        fs::set_permissions(&wq, fs::Permissions::from_mode(0o777)).unwrap();
        let o = w.queue_cmd("flush");
        assert_status(&o, 77);
        let err = text(&o.stderr);
        assert!(
            err.contains(&format!(
                "{} is writable by others (mode 0777)",
                wq.display()
            )),
            "{err}"
        );
        fs::set_permissions(&wq, fs::Permissions::from_mode(0o700)).unwrap();
        fs::rename(&wq, w.home().join("real-wq")).unwrap();
        std::os::unix::fs::symlink(w.home().join("real-wq"), &wq).unwrap();
        w.give(&wq);
        let o = w.queue_cmd("flush");
        assert_status(&o, 77);
        assert!(
            text(&o.stderr).contains(&format!("{} is a symbolic link", wq.display())),
            "{}",
            text(&o.stderr)
        );
        assert!(w.home().join("real-wq/Good0002/mail").exists());
        assert_eq!(exim.accepted(), 1);
    }
}
