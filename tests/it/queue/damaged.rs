//! A damaged queue entry is never invisible (issue 13 §5): the built
//! binary, run as root and as an ordinary user, finds entries cut short,
//! with a bad magic, bad JSON metadata, a wrong size, no read permission,
//! a directory and a FIFO in its queue, and a good entry whose delivery
//! history is garbage. `mailq` lists every one with why; a flush reports
//! each on stderr, moves it to damaged/ byte for byte (nothing is ever
//! deleted because it could not be read), still delivers the good ones to
//! Exim, and exits 74; `mailq` then lists them as damaged until the user
//! removes them.

use crate::support;
use crate::support::victim;

use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use support::{free_port as closed_port, Exim};
use victim::*;

#[test]
fn damaged_entries_are_listed_moved_aside_and_kept() {
    for victim in VICTIMS {
        let exim = Exim::start();
        let w = World::new(victim);
        w.configure(closed_port(), "enabled", "");
        for (subject, rcpt) in [
            ("good", "bob@example.net"),
            ("history", "carol@example.net"),
        ] {
            let o = w.sendmail(&["-f", "victim@example.org", rcpt], &message(subject));
            assert_status(&o, 0);
        }
        let msg = w.queue().join("msg");
        let ids = w.queued();
        assert_eq!(ids.len(), 2);
        let good = fs::read(msg.join(&ids[0])).unwrap();
        // The second one's delivery history is garbage; the entry is fine.
        w.victim_file(&msg.join(format!("{}.state", ids[1])), b"{\"attempts\": tw");

        // Entries of the victim's, damaged in every way.
        let header_end = good.iter().position(|&b| b == b'\n').unwrap() + 1;
        let meta_end =
            header_end + good[header_end..].iter().position(|&b| b == b'\n').unwrap() + 1;
        let mut bad_magic = good.clone();
        bad_magic[0] = b'X';
        let mut bad_json = good[..header_end].to_vec();
        bad_json.extend_from_slice(b"{\"version\":1,\"sender\":\n");
        bad_json.extend_from_slice(&good[meta_end..]);
        let mut too_long = good.clone();
        too_long.extend_from_slice(b"appended\r\n");
        let mut files: Vec<(&str, Vec<u8>, &str)> = vec![
            (
                "d1-cut",
                good[..40].to_vec(),
                "the entry's metadata line is cut short",
            ),
            ("d2-magic", bad_magic, "not a queue entry (bad magic)"),
            ("d3-json", bad_json, "bad entry metadata: "),
            ("d4-size", too_long, "the entry holds "),
            (
                "d5-short",
                good[..20].to_vec(),
                "no entry header (the file is too short)",
            ),
        ];
        if victim != ROOT {
            // Root reads any file: unreadable only for an ordinary user.
            files.push((
                "d6-unreadable",
                good.clone(),
                "cannot be opened: Permission denied",
            ));
        }
        for (name, bytes, _) in &files {
            w.victim_file(&msg.join(name), bytes);
        }
        if victim != ROOT {
            fs::set_permissions(msg.join("d6-unreadable"), fs::Permissions::from_mode(0o000))
                .unwrap();
        }
        let dir = msg.join("d7-dir");
        fs::create_dir(&dir).unwrap();
        w.victim_file(&dir.join("inside"), b"kept\n");
        w.give(&dir);
        nix::unistd::mkfifo(&msg.join("d8-fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        w.give(&msg.join("d8-fifo"));
        let mut damaged: Vec<(&str, &str)> = files.iter().map(|(n, _, why)| (*n, *why)).collect();
        damaged.push(("d7-dir", "is a directory"));
        damaged.push(("d8-fifo", "is a FIFO"));

        // mailq lists each with why, and the good ones.
        let o = w.mailq();
        assert_status(&o, 0);
        let list = text(&o.stdout);
        assert!(!list.contains("Mail queue is empty"), "{list}");
        for (name, why) in &damaged {
            assert!(
                list.contains(&format!("{name:<24} CANNOT BE READ: {why}")),
                "{name}: {list}"
            );
        }
        assert!(list.contains(&ids[0]) && list.contains(&ids[1]), "{list}");
        assert!(
            list.contains(&format!("{}.state is damaged (", ids[1]))
                && list.contains("): delivery history lost; the message is treated as new"),
            "{list}"
        );
        let n = damaged.len();
        assert!(
            list.contains(&format!("-- 2 messages queued, {n} damaged\n")),
            "{list}"
        );

        // A flush: reported, moved aside, the good ones still delivered.
        w.configure(exim.port(), "enabled", "");
        let o = w.queue_cmd("flush");
        assert_status(&o, 74);
        let err = text(&o.stderr);
        let aside = w.queue().join("damaged");
        for (name, why) in &damaged {
            let line = format!("{} cannot be read: {why}", msg.join(name).display());
            assert!(err.contains(&line), "{line}: {err}");
            let moved = format!("moved to {} (kept)", aside.join(name).display());
            assert!(err.contains(&moved), "{moved}: {err}");
        }
        assert!(
            err.contains(&format!("{}.state is damaged", ids[1])),
            "{err}"
        );
        assert!(
            err.contains(&format!("{n} queue entries could not be read (kept aside)")),
            "{err}"
        );
        assert_eq!(exim.wait_for_messages(2).len(), 2);
        assert_eq!(exim.accepted(), 2);
        // msg/ is empty (the garbage history went with its message);
        // damaged/ holds every entry as it was, with a note saying why.
        assert!(w.names("msg").is_empty(), "{:?}", w.names("msg"));
        for (name, bytes, why) in &files {
            if *name == "d6-unreadable" {
                let m = fs::metadata(aside.join(name)).unwrap();
                assert_eq!(m.permissions().mode() & 0o777, 0);
                assert_eq!(m.len(), bytes.len() as u64);
            } else {
                assert_eq!(&fs::read(aside.join(name)).unwrap(), bytes, "{name}");
            }
            let note = fs::read_to_string(aside.join(format!("{name}.note"))).unwrap();
            assert!(note.contains(why), "{note}");
        }
        assert_eq!(fs::read(aside.join("d7-dir/inside")).unwrap(), b"kept\n");
        assert!(fs::symlink_metadata(aside.join("d8-fifo"))
            .unwrap()
            .file_type()
            .is_fifo());

        // mailq shows them, kept; a second flush has nothing to say.
        let o = w.mailq();
        assert_status(&o, 0);
        let list = text(&o.stdout);
        for (name, why) in &damaged {
            let kept = format!(
                "{name:<24} DAMAGED, kept in {}\n    {why}",
                aside.join(name).display()
            );
            assert!(list.contains(&kept), "{kept}: {list}");
        }
        assert!(
            list.ends_with(&format!("-- 0 messages queued, {n} damaged\n")),
            "{list}"
        );
        let o = w.queue_cmd("flush");
        assert_status(&o, 0);
        assert_eq!(text(&o.stderr), "");

        // The user decides: `esmtp queue remove` deletes a damaged file of
        // theirs (and its note), never a directory.
        let mut rm = w.cmd("esmtp");
        rm.args(["queue", "remove", "d2-magic", "-C"]).arg(w.rc());
        assert_status(&run_within(&mut rm, b"", 60), 0);
        assert!(!aside.join("d2-magic").exists());
        assert!(!aside.join("d2-magic.note").exists());
        let mut rm = w.cmd("esmtp");
        rm.args(["queue", "remove", "d7-dir", "-C"]).arg(w.rc());
        let o = run_within(&mut rm, b"", 60);
        assert_status(&o, 77);
        assert!(
            text(&o.stderr).contains("is a directory: not removed"),
            "{}",
            text(&o.stderr)
        );
        assert!(aside.join("d7-dir/inside").exists());
        let o = w.mailq();
        assert!(
            text(&o.stdout).ends_with(&format!("-- 0 messages queued, {} damaged\n", n - 1)),
            "{}",
            text(&o.stdout)
        );
    }
}

/// `queue list` with nothing but a damaged entry never says the queue is
/// empty (before this, it did, and a flush exited 0 in silence).
#[test]
fn a_queue_of_only_damaged_entries_is_not_empty() {
    let w = World::new(USER);
    w.configure(closed_port(), "enabled", "");
    let o = w.sendmail(&["bob@example.net"], &message("only"));
    assert_status(&o, 0);
    let id = w.queued().remove(0);
    let entry = w.queue().join("msg").join(&id);
    let bytes = fs::read(&entry).unwrap();
    w.victim_file(&entry, &bytes[..40]);
    let o = w.queue_cmd("list");
    assert_status(&o, 0);
    let list = text(&o.stdout);
    assert!(
        list.contains(&format!("{id:<24} CANNOT BE READ: ")),
        "{list}"
    );
    assert!(
        list.ends_with("-- 0 messages queued, 1 damaged\n"),
        "{list}"
    );
    let o = w.queue_cmd("flush");
    assert_status(&o, 74);
    assert_eq!(
        fs::read(w.queue().join("damaged").join(&id)).unwrap(),
        &bytes[..40]
    );
}
