//! The spool on its own: durability layout, listing, locking, disk full,
//! esmtp-wrapper import. (Delivery is in queue_delivery.rs.)

use crate::support;

use esmtp::plan::{Plan, QueueMode};
use esmtp::queue::store::{DeliveryHistory, Meta, QueueDir};
use esmtp::queue::{self, legacy};
use esmtp::transport::{Envelope, MessageOptions};
use std::fs;
use std::io::Cursor;
use std::path::Path;
use support::{queued_plan as plan_in, wrapper_import, write_wrapper_entry};

fn envelope(i: usize) -> Envelope {
    Envelope {
        sender: format!("sender{i}@example.org"),
        recipients: vec![format!("rcpt{i}@example.net"), "other@example.net".into()],
    }
}

fn message(i: usize, size: usize) -> Vec<u8> {
    let mut m = format!("Subject: message {i}\r\n\r\n").into_bytes();
    while m.len() < size {
        m.extend_from_slice(format!("line {i} {}\r\n", m.len()).as_bytes());
    }
    m
}

fn store(plan: &Plan, i: usize, size: usize) -> String {
    let spool = QueueDir::open(&queue::queue_dir(plan).unwrap()).unwrap();
    let msg = message(i, size);
    let entry = queue::store_message(
        &spool,
        plan,
        0,
        &envelope(i),
        &MessageOptions::default(),
        &mut Cursor::new(msg),
    )
    .unwrap();
    entry.id().to_string()
}

#[test]
fn stored_entry_is_complete_and_private() {
    let tmp = tempfile::tempdir().unwrap();
    let plan = plan_in(tmp.path());
    let id = store(&plan, 1, 3000);
    let root = tmp.path().join("q");
    let entry = root.join("msg").join(&id);
    let spool = QueueDir::open(&root).unwrap();
    let (meta, data) = spool.read_entry(&id).unwrap();
    assert_eq!(data, message(1, 3000));
    assert_eq!(meta.sender, "sender1@example.org");
    assert_eq!(meta.recipients, envelope(1).recipients);
    assert_eq!(meta.size, message(1, 3000).len() as u64);
    let raw = fs::read(&entry).unwrap();
    assert!(raw.starts_with(b"ESMTPQ1 "));
    use std::os::unix::fs::PermissionsExt;
    for dir in ["", "msg", "tmp", "failed", "damaged"] {
        assert_eq!(
            fs::metadata(root.join(dir)).unwrap().permissions().mode() & 0o777,
            0o700,
            "{dir}"
        );
    }
    assert_eq!(
        fs::metadata(&entry).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // A damaged entry (cut short) is never taken for delivery, and never
    // invisible: listed as damaged until a flush moves it to damaged/.
    fs::write(&entry, &raw[..raw.len() - 10]).unwrap();
    assert!(spool.lock(&id).unwrap().is_none());
    assert!(spool.infos().is_empty());
    let problems = spool.survey().problems;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].kind, esmtp::queue::store::ProblemKind::Damaged);
    assert!(problems[0].why.contains("message bytes"), "{problems:?}");
    let kept = spool.set_aside(&id, &problems[0].why).unwrap();
    assert_eq!(kept, root.join("damaged").join(&id));
    assert!(spool.ids().is_empty());
    assert_eq!(fs::read(&kept).unwrap(), &raw[..raw.len() - 10]);
    let damaged = spool.damaged_infos();
    assert_eq!(damaged.len(), 1, "a damaged entry is listed as damaged");
    assert!(damaged[0]
        .note
        .as_deref()
        .unwrap()
        .contains("message bytes"));
    // Nothing left in the staging area.
    assert_eq!(fs::read_dir(root.join("tmp")).unwrap().count(), 0);
}

#[test]
fn listing_shows_entries_and_says_when_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let plan = plan_in(tmp.path());
    let mut out = Vec::new();
    queue::list_to(&plan, None, &mut out).unwrap().unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), "Mail queue is empty\n");

    let a = store(&plan, 1, 100);
    let b = store(&plan, 2, 20000);
    // A failed attempt shows its error and the next attempt.
    let spool = QueueDir::open(&queue::queue_dir(&plan).unwrap()).unwrap();
    let mut e = spool.lock(&b).unwrap().unwrap();
    e.record_failure("connection refused", esmtp::queue::store::now())
        .unwrap();
    drop(e);

    let mut out = Vec::new();
    queue::list_to(&plan, None, &mut out).unwrap().unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains(&a) && text.contains(&b), "{text}");
    assert!(text.contains("<sender1@example.org>"), "{text}");
    assert!(
        text.contains("to: rcpt2@example.net, other@example.net"),
        "{text}"
    );
    assert!(text.contains("19K"), "{text}");
    assert!(
        text.contains("(1 attempt) last error: connection refused; next attempt in 1m"),
        "{text}"
    );
    assert!(text.contains("next attempt: now"), "{text}");
    assert!(text.ends_with("-- 2 messages queued\n"), "{text}");
}

#[test]
fn a_locked_entry_is_not_handed_out_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let plan = plan_in(tmp.path());
    let id = store(&plan, 1, 100);
    let spool = QueueDir::open(&queue::queue_dir(&plan).unwrap()).unwrap();
    let first = spool.lock(&id).unwrap();
    assert!(first.is_some());
    // Another open file description (as another process would have) is refused.
    assert!(spool.lock(&id).unwrap().is_none());
    let entry = first.unwrap();
    spool.remove(entry).unwrap();
    // Gone after removal, and not resurrected by a stale lock holder.
    assert!(spool.lock(&id).unwrap().is_none());
    assert!(spool.ids().is_empty());
}

#[test]
fn backoff_grows_and_is_capped() {
    assert_eq!(DeliveryHistory::backoff_secs(1), 60);
    assert_eq!(DeliveryHistory::backoff_secs(2), 120);
    assert_eq!(DeliveryHistory::backoff_secs(3), 240);
    assert_eq!(DeliveryHistory::backoff_secs(20), 3600);
}

#[test]
fn debris_in_tmp_is_cleaned_only_when_unlocked() {
    let tmp = tempfile::tempdir().unwrap();
    let plan = plan_in(tmp.path());
    let root = queue::queue_dir(&plan).unwrap();
    let spool = QueueDir::open(&root).unwrap();
    // A half-written entry whose writer died (pid 999999 does not exist).
    let dead = root.join("tmp").join("dead-1.p999999");
    fs::write(&dead, b"half a mess").unwrap();
    // One still being written by a live process: its lock is held.
    let live = root.join("tmp").join("live-1");
    fs::write(&live, b"half").unwrap();
    let held = nix::fcntl::Flock::lock(
        fs::File::open(&live).unwrap(),
        nix::fcntl::FlockArg::LockExclusiveNonblock,
    )
    .map_err(|(_, e)| e)
    .unwrap();
    spool.cleanup();
    assert!(!dead.exists());
    assert!(live.exists());
    drop(held);
    spool.cleanup();
    assert!(!live.exists());
}

#[test]
fn identity_is_found_by_address_after_the_config_changes() {
    use esmtp::plan::Identity;
    let mut plan = Plan::empty();
    plan.identities = vec![
        Identity::new(None),
        Identity::new(Some("me@Example.org".into())),
        Identity::new(Some("work@corp.example".into())),
    ];
    plan.default_identity = 0;
    let meta = Meta {
        identity: Some("work@corp.example".into()),
        identity_index: 2,
        sender: "work@corp.example".into(),
        recipients: vec!["a@b".into()],
        ..Meta::default()
    };
    assert_eq!(queue::resolve_identity(&plan, &meta), 2);
    // Reordered: still found by its address.
    plan.identities.swap(1, 2);
    assert_eq!(queue::resolve_identity(&plan, &meta), 1);
    // Removed: the default takes it.
    plan.identities.remove(1);
    assert_eq!(queue::resolve_identity(&plan, &meta), 0);
    // Domain compared case-insensitively.
    let mut m2 = meta.clone();
    m2.identity = Some("me@example.ORG".into());
    assert_eq!(queue::resolve_identity(&plan, &m2), 1);
}

/// A small tmpfs: submission of a message that does not fit fails with 75
/// and leaves nothing behind, and a message that fits still works after.
#[test]
fn disk_full_fails_with_75_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("mnt");
    fs::create_dir(&mnt).unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(&mnt)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "mounting a tmpfs needs root (the test machine runs as root)"
    );
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _guard = Unmount(&mnt);

    let mut plan = Plan::empty();
    plan.queue.mode = QueueMode::Enabled;
    plan.queue.dir = Some(mnt.join("q").to_string_lossy().into_owned());
    let root = queue::queue_dir(&plan).unwrap();
    let spool = QueueDir::open(&root).unwrap();
    let big = message(1, 600 * 1024);
    let err = queue::store_message(
        &spool,
        &plan,
        0,
        &envelope(1),
        &MessageOptions::default(),
        &mut Cursor::new(big),
    )
    .err()
    .expect("a 600 KB message cannot fit in 256 KB");
    assert_eq!(err.status, 75, "{err}");
    assert!(err.message.contains("No space left"), "{err}");
    assert_eq!(fs::read_dir(root.join("msg")).unwrap().count(), 0);
    assert_eq!(fs::read_dir(root.join("tmp")).unwrap().count(), 0);
    // The same through the public submit: 75, nothing queued.
    let err = queue::submit(
        &plan,
        0,
        &envelope(1),
        &MessageOptions::default(),
        &Default::default(),
        &mut Cursor::new(message(1, 600 * 1024)),
        esmtp::cli::convert_wrapper_entry,
    )
    .unwrap_err();
    assert_eq!(err.status, 75);
    assert!(spool.ids().is_empty());
    // Space is back: a small one is stored.
    let id = store(&plan, 2, 2000);
    assert_eq!(spool.ids(), vec![id]);
}

#[test]
fn wrapper_queue_is_imported() {
    let tmp = tempfile::tempdir().unwrap();
    let plan = plan_in(tmp.path());
    let wq = tmp.path().join(".esmtp_queue");
    let a = write_wrapper_entry(
        &wq,
        "AbCd1234",
        "-oi -f me@example.org friend@example.net",
        b"Subject: one\n\nhello\n",
    );
    let b = write_wrapper_entry(
        &wq,
        "EfGh5678",
        "-t -i",
        b"From: Me <me@example.org>\nTo: x@example.net\nBcc: y@example.net\nSubject: two\n\nbody\n",
    );
    // Being written right now (fresh lock): left alone.
    let c = write_wrapper_entry(&wq, "IjKl9012", "z@example.net", b"Subject: three\n\n");
    fs::write(c.join("lock"), b"").unwrap();

    let mut out = Vec::new();
    queue::list_to(&plan, Some(&wq), &mut out).unwrap().unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("3 messages in the esmtp-wrapper queue"),
        "{text}"
    );

    let spool = QueueDir::open(&queue::queue_dir(&plan).unwrap()).unwrap();
    assert_eq!(
        legacy::import(&spool, &plan, &wrapper_import(&wq)).unwrap(),
        2
    );
    assert!(!a.exists() && !b.exists() && c.exists());
    let infos = spool.infos();
    assert_eq!(infos.len(), 2);
    let one = infos.iter().find(|i| i.id == "w-AbCd1234").unwrap();
    assert_eq!(one.meta.sender, "me@example.org");
    assert_eq!(one.meta.recipients, vec!["friend@example.net".to_string()]);
    let two = infos.iter().find(|i| i.id == "w-EfGh5678").unwrap();
    assert_eq!(two.meta.sender, "me@example.org");
    assert_eq!(
        two.meta.recipients,
        vec!["x@example.net".to_string(), "y@example.net".to_string()]
    );
    let (_, data) = spool.read_entry("w-EfGh5678").unwrap();
    let text = String::from_utf8(data).unwrap();
    assert!(text.starts_with("From: Me <me@example.org>\r\nTo: x@example.net\r\nSubject: two\r\n"));
    assert!(text.ends_with("\r\n\r\nbody\r\n"));
    // Importing again does nothing.
    assert_eq!(
        legacy::import(&spool, &plan, &wrapper_import(&wq)).unwrap(),
        0
    );
}

#[test]
fn abandoned_wrapper_entry_is_kept_but_never_sent() {
    let tmp = tempfile::tempdir().unwrap();
    let plan = plan_in(tmp.path());
    let wq = tmp.path().join(".esmtp_queue");
    let d = write_wrapper_entry(&wq, "Stale123", "a@example.net", b"Subject: cut\n\nhal");
    fs::write(d.join("lock"), b"").unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    fs::File::options()
        .write(true)
        .open(d.join("lock"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let spool = QueueDir::open(&queue::queue_dir(&plan).unwrap()).unwrap();
    assert_eq!(
        legacy::import(&spool, &plan, &wrapper_import(&wq)).unwrap(),
        1
    );
    assert!(spool.ids().is_empty());
    let failed = spool.failed_infos();
    assert_eq!(failed.len(), 1);
    assert!(failed[0]
        .note
        .as_deref()
        .unwrap()
        .contains("never finished"));
    let mut out = Vec::new();
    queue::list_to(&plan, Some(&wq), &mut out).unwrap().unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("FAILED"), "{text}");
    // `esmtp queue remove` deletes it.
    assert!(spool.remove_id("w-Stale123").unwrap());
    assert!(spool.failed_infos().is_empty());
}

#[test]
fn a_message_shorter_than_announced_is_not_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let plan = plan_in(tmp.path());
    let spool = QueueDir::open(&queue::queue_dir(&plan).unwrap()).unwrap();
    let msg = message(1, 3000);
    let opts = MessageOptions {
        size: Some(msg.len() as u64 + 100),
        ..Default::default()
    };
    let err = queue::store_message(&spool, &plan, 0, &envelope(1), &opts, &mut Cursor::new(msg))
        .err()
        .expect("a short message must be refused");
    assert_eq!(err.status, 75);
    assert!(err.message.contains("ended early"), "{err}");
    assert!(spool.ids().is_empty());
    assert_eq!(fs::read_dir(spool.root().join("tmp")).unwrap().count(), 0);
}

#[test]
fn wrapper_local_recipients_go_through_the_mda() {
    use esmtp::plan::{Template, TemplatePart};
    let tmp = tempfile::tempdir().unwrap();
    let mut plan = plan_in(tmp.path());
    let mailbox = tmp.path().join("mailbox");
    let cmd = format!("cat >> '{}'", mailbox.display());
    plan.mda = Some(Template {
        source: cmd.clone(),
        parts: vec![TemplatePart::Literal(cmd)],
    });
    let wq = tmp.path().join(".esmtp_queue");
    write_wrapper_entry(
        &wq,
        "Local001",
        "-f me@example.org root friend@example.net",
        b"Subject: cron output\n\nhello\n",
    );
    write_wrapper_entry(&wq, "Local002", "root", b"Subject: local only\n\nhi\n");
    let spool = QueueDir::open(&queue::queue_dir(&plan).unwrap()).unwrap();
    assert_eq!(
        legacy::import(&spool, &plan, &wrapper_import(&wq)).unwrap(),
        2
    );
    let mbox = fs::read_to_string(&mailbox).unwrap();
    assert!(mbox.contains("Subject: cron output\n"), "{mbox}");
    assert!(mbox.contains("Subject: local only\n"), "{mbox}");
    assert!(!mbox.contains('\r'), "the MDA gets LF line ends");
    // Only the remote part waits for the smarthost.
    let infos = spool.infos();
    assert_eq!(infos.len(), 1);
    assert_eq!(
        infos[0].meta.recipients,
        vec!["friend@example.net".to_string()]
    );

    // Without an MDA a local-only entry is kept in failed/ with the reason.
    plan.mda = None;
    write_wrapper_entry(&wq, "Local003", "root", b"Subject: nowhere\n\nhi\n");
    assert_eq!(
        legacy::import(&spool, &plan, &wrapper_import(&wq)).unwrap(),
        1
    );
    let failed = spool.failed_infos();
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0].note.as_deref().unwrap().contains("no mda"),
        "{:?}",
        failed[0].note
    );
}

#[test]
fn an_entry_claiming_an_impossible_size_is_bad_data_not_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let plan = plan_in(tmp.path());
    let id = store(&plan, 1, 100);
    let root = tmp.path().join("q");
    let entry = root.join("msg").join(&id);
    // The size field says u64::MAX: header offset + size would overflow.
    let mut raw = fs::read(&entry).unwrap();
    raw[8..28].copy_from_slice(format!("{:020}", u64::MAX).as_bytes());
    fs::write(&entry, &raw).unwrap();
    let spool = QueueDir::open(&root).unwrap();
    let err = spool.read_entry(&id).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");
}

/// The background flusher's files are never opened, created or removed
/// through a link (the submission checks them before it forks; these are
/// the calls a race past that check would reach).
#[test]
fn control_files_are_never_followed() {
    use std::os::unix::fs::symlink;
    let tmp = tempfile::tempdir().unwrap();
    let plan = plan_in(tmp.path());
    let root = queue::queue_dir(&plan).unwrap();
    let spool = QueueDir::open(&root).unwrap();
    // Own files work as before.
    assert!(spool.background_guard().unwrap().is_some());
    assert!(!spool.take_rescan());
    spool.request_rescan().unwrap();
    spool.request_rescan().unwrap();
    assert!(spool.take_rescan());
    assert!(spool.control_problems().is_empty());

    let precious = tmp.path().join("precious");
    fs::write(&precious, b"keep me\n").unwrap();
    let absent = tmp.path().join("absent");
    fs::remove_file(root.join("flush.lock")).unwrap();
    symlink(&precious, root.join("flush.lock")).unwrap();
    symlink(&absent, root.join("flush.again")).unwrap();
    let err = spool.background_guard().unwrap_err();
    assert!(
        err.to_string().ends_with("flush.lock is a symbolic link"),
        "{err}"
    );
    let err = spool.request_rescan().unwrap_err();
    assert!(
        err.to_string().ends_with("flush.again is a symbolic link"),
        "{err}"
    );
    assert!(!spool.take_rescan());
    assert_eq!(fs::read(&precious).unwrap(), b"keep me\n");
    assert!(!absent.exists());
    assert!(fs::symlink_metadata(root.join("flush.again"))
        .unwrap()
        .file_type()
        .is_symlink());
    let problems = spool.control_problems();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems.iter().all(|p| p.why == "is a symbolic link"));
}

/// An entry written by the version that kept the DSN values and the body
/// type as strings (the fuzz seed `seed-dsn`, byte for byte) still loads,
/// with the typed values, and the same metadata is written back as the
/// same JSON: old entries flush, and new ones stay readable by that
/// version.
#[test]
fn metadata_of_the_string_era_loads_typed_and_is_written_the_same() {
    use esmtp::mail_params::{BodyType, Notify, NotifyOn, Ret};
    let json = br#"{"version":1,"created":1700000000,"identity":null,"identity_index":1,"sender":"","recipients":["root@example.net"],"notify":"FAILURE,DELAY","ret":"HDRS","envid":"id+2B1","body_type":"8BITMIME","eight_bit":true}"#;
    let body = "Subject: \u{e9}t\u{e9}\r\n\r\n\u{e9}\r\n".as_bytes();
    let mut entry = format!("ESMTPQ1 {:020}\n", body.len()).into_bytes();
    entry.extend_from_slice(json);
    entry.push(b'\n');
    entry.extend_from_slice(body);
    let (meta, offset) =
        esmtp::queue::store::decode_header(&mut &entry[..], entry.len() as u64).expect("decodes");
    assert_eq!(offset as usize, entry.len() - body.len());
    assert_eq!(
        meta.notify,
        Some(Notify::On(vec![NotifyOn::Failure, NotifyOn::Delay]))
    );
    assert_eq!(meta.ret, Some(Ret::Hdrs));
    assert_eq!(meta.body_type, Some(BodyType::EightBitMime));
    assert_eq!(meta.envid.as_deref(), Some("id+2B1"));
    assert_eq!(serde_json::to_vec(&meta).unwrap(), json);
    // Each value the previous version could write.
    for (field, value) in [
        ("notify", "\"NEVER\""),
        ("notify", "\"SUCCESS,FAILURE,DELAY\""),
        ("ret", "\"FULL\""),
        ("body_type", "\"7BIT\""),
        ("notify", "null"),
    ] {
        let old = String::from_utf8(json.to_vec()).unwrap();
        let start = old.find(&format!("\"{field}\":")).unwrap() + field.len() + 3;
        // Every such field holds a quoted string in `json`.
        let end = start + 1 + old[start + 1..].find('"').unwrap() + 1;
        let edited = format!("{}{value}{}", &old[..start], &old[end..]);
        let meta: Meta = serde_json::from_str(&edited).expect(&edited);
        assert_eq!(serde_json::to_string(&meta).unwrap(), edited);
    }
}
