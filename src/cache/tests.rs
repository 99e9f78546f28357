use super::validity::{compare_dependency, dependency_record, validate, Invalid, Match, Source};
use super::*;
use crate::owned::stamp::{Build, Program, SETTLE};
use crate::plan::Identity;
use crate::plan::{Relay, Secret, SecretSource};
use std::fs;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// A stand-in compiler for unit tests: one identity per line,
/// `ADDRESS HOST PORT`, the first is the default.
fn shim(_: &Origin, src: &[u8]) -> Result<Plan, Failure> {
    let text = std::str::from_utf8(src).map_err(|_| Failure::config("utf8"))?;
    let mut plan = Plan::empty();
    plan.identities.clear();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() != 3 {
            return Err(Failure::config("bad line"));
        }
        let mut id = Identity::new(Some(w[0].to_string()));
        id.relay = Relay {
            host: w[1].into(),
            port: w[2].parse().map_err(|_| Failure::config("port"))?,
            explicit: true,
        };
        id.secret = Some(SecretSource::Password(Secret::new("pw")));
        plan.identities.push(id);
    }
    if plan.identities.is_empty() {
        plan = Plan::empty();
    }
    Ok(plan)
}

fn setup(src: &str) -> (tempfile::TempDir, PlanStore, Origin) {
    let t = tempfile::tempdir().unwrap();
    let store = PlanStore::at(t.path().join("cache/esmtp"));
    let p = t.path().join("rc");
    fs::write(&p, src).unwrap();
    (t, store, Origin::Explicit(p))
}

fn load(store: &PlanStore, origin: &Origin, want: Scope<'_>) -> Loaded {
    PlanLoader::new(store, false, &shim)
        .load(origin, want)
        .unwrap()
}

#[test]
fn roundtrip_and_selection() {
    let src = "a@X.org h1 25\nb@y.org h2 26\nc@z.org h3 27\n";
    let (_t, store, origin) = setup(src);
    let full = load(&store, &origin, Scope::All);
    assert_eq!(full.plan, shim(&origin, src.as_bytes()).unwrap());
    let cache = store.file_for(origin.path().unwrap()).unwrap();
    assert!(cache.exists());
    assert_eq!(fs::metadata(&cache).unwrap().mode() & 0o777, 0o600);
    let again = load(&store, &origin, Scope::All);
    assert_eq!(again, full);
    let sel = load(&store, &origin, Scope::Sender(Some("Me <B@Y.ORG>")));
    assert_eq!(sel.numbers, vec![0, 1]);
    assert_eq!(sel.plan.identities[1].relay.host, "h2");
    assert_eq!(sel.plan.default_identity, 0);
    let sel = load(&store, &origin, Scope::Sender(Some("nobody@x")));
    assert_eq!(sel.numbers, vec![0]);
    assert_eq!(sel.total, 3);
}

fn cache_of(store: &PlanStore, origin: &Origin) -> PathBuf {
    store.file_for(origin.path().unwrap()).unwrap()
}

fn hosts(l: &Loaded) -> Vec<String> {
    l.plan
        .identities
        .iter()
        .map(|i| i.relay.host.clone())
        .collect()
}

#[test]
fn same_size_edit_with_restored_mtime_is_seen() {
    for settle in [Duration::ZERO, SETTLE] {
        let (_t, mut store, origin) = setup("a@x.org h1 25\n");
        store.settle = settle;
        let path = origin.path().unwrap().to_path_buf();
        assert_eq!(hosts(&load(&store, &origin, Scope::All)), ["h1"]);
        // Fast path taken when settled: the stored key says so.
        let mut r = store
            .open_cache(&cache_of(&store, &origin))
            .unwrap()
            .unwrap();
        assert_eq!(r.header().unwrap().source.settled, settle.is_zero());
        let mtime = fs::metadata(&path).unwrap().modified().unwrap();
        let mut f = OpenOptions::new().write(true).open(&path).unwrap();
        f.write_all(b"a@x.org h2 25\n").unwrap();
        f.set_modified(mtime).unwrap();
        drop(f);
        assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), mtime);
        assert_eq!(hosts(&load(&store, &origin, Scope::All)), ["h2"]);
        assert_eq!(hosts(&load(&store, &origin, Scope::All)), ["h2"]);
    }
}

#[test]
fn every_flipped_byte_and_every_truncation_is_harmless() {
    let src = "a@x.org h1 25\nb@y.org h2 26\n";
    let (_t, mut store, origin) = setup(src);
    store.settle = Duration::ZERO;
    let want = shim(&origin, src.as_bytes()).unwrap();
    load(&store, &origin, Scope::All);
    let cache = cache_of(&store, &origin);
    let good = fs::read(&cache).unwrap();
    let write = |bytes: &[u8]| {
        let _ = fs::remove_file(&cache);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&cache)
            .unwrap();
        f.write_all(bytes).unwrap();
    };
    for i in 0..good.len() {
        // Every byte, a different bit each time.
        let mut bad = good.clone();
        bad[i] ^= 1 << (i % 8);
        write(&bad);
        assert_eq!(load(&store, &origin, Scope::All).plan, want, "flip at {i}");
        write(&bad);
        let sel = load(&store, &origin, Scope::Sender(Some("b@y.org")));
        assert_eq!(hosts(&sel), ["h1", "h2"], "flip at {i}");
    }
    for len in 0..good.len() {
        write(&good[..len]);
        assert_eq!(load(&store, &origin, Scope::All).plan, want, "cut at {len}");
        assert_eq!(
            fs::read(&cache).unwrap(),
            good,
            "rebuilt after cut at {len}"
        );
    }
}

#[test]
fn unsafe_cache_files_are_ignored_and_replaced() {
    let (_t, store, origin) = setup("a@x.org h1 25\n");
    load(&store, &origin, Scope::All);
    let cache = cache_of(&store, &origin);
    // A forged plan with other settings, made readable by others.
    let forged = {
        let (_t2, store2, origin2) = setup("a@x.org evil 25\n");
        let _ = &origin2;
        load(&store2, &origin2, Scope::All);
        fs::read(cache_of(&store2, &origin2)).unwrap()
    };
    fs::write(&cache, &forged).unwrap();
    fs::set_permissions(&cache, fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(hosts(&load(&store, &origin, Scope::All)), ["h1"]);
    assert_eq!(fs::metadata(&cache).unwrap().mode() & 0o777, 0o600);
    // Good content but too open: still not trusted, replaced.
    let ino = fs::metadata(&cache).unwrap().ino();
    fs::set_permissions(&cache, fs::Permissions::from_mode(0o640)).unwrap();
    assert_eq!(hosts(&load(&store, &origin, Scope::All)), ["h1"]);
    let m = fs::metadata(&cache).unwrap();
    assert_eq!(m.mode() & 0o777, 0o600);
    assert_ne!(m.ino(), ino);
    // A symlink in place of the cache file is not followed.
    fs::remove_file(&cache).unwrap();
    std::os::unix::fs::symlink(origin.path().unwrap(), &cache).unwrap();
    assert_eq!(hosts(&load(&store, &origin, Scope::All)), ["h1"]);
    assert!(!fs::symlink_metadata(&cache)
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn unusable_directory_never_prevents_loading() {
    let (t, _store, origin) = setup("a@x.org h1 25\n");
    // The cache directory cannot exist: a file is in the way.
    fs::write(t.path().join("blocker"), "").unwrap();
    let store = PlanStore::at(t.path().join("blocker/esmtp"));
    assert_eq!(hosts(&load(&store, &origin, Scope::All)), ["h1"]);
    assert!(matches!(
        store.freshness(&origin),
        Freshness::Unavailable { .. }
    ));
    // A directory open to others is tightened before it is written to.
    let dir = t.path().join("open");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
    let store = PlanStore::at(&dir);
    assert_eq!(hosts(&load(&store, &origin, Scope::All)), ["h1"]);
    assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
    assert!(store.freshness(&origin).is_fresh());
}

#[test]
fn concurrent_loads_all_succeed_and_leave_a_valid_cache() {
    let (_t, store, origin) = setup("a@x.org h1 25\nb@y.org h2 26\n");
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| load(&store, &origin, Scope::All)))
            .collect();
        for h in handles {
            assert_eq!(hosts(&h.join().unwrap()), ["h1", "h2"]);
        }
    });
    assert!(store.freshness(&origin).is_fresh());
    let leftovers: Vec<_> = fs::read_dir(store.dir.as_ref().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn another_build_or_dependency_change_invalidates() {
    let (_t, store, origin) = setup("a@x.org h1 25\n");
    load(&store, &origin, Scope::All);
    let cache = cache_of(&store, &origin);
    let program = Program::current(FORMAT_VERSION).unwrap();
    let mut other = program.clone();
    other.build = Build::GnuBuildId(vec![0; 20]);
    let mut src = Source::open(origin.path().unwrap()).unwrap();
    let mut r = store.open_cache(&cache).unwrap().unwrap();
    assert!(validate(&mut r, &program, &mut src, SETTLE).is_ok());
    assert!(matches!(
        validate(&mut r, &other, &mut src, SETTLE),
        Err(Invalid::Stale(_))
    ));
    // Same file reached as ~/.esmtprc: the same cache file.
    let user = Origin::User(origin.path().unwrap().to_path_buf());
    assert_eq!(cache_of(&store, &user), cache);
    // A recorded dependency that changed.
    let mut rec = dependency_record(Path::new(crate::sys::SERVICES_DB), SETTLE);
    assert!(matches!(
        compare_dependency(&rec, SETTLE),
        Match::Settled | Match::Rehashed
    ));
    rec.sha256[0] ^= 1;
    rec.settled = false;
    assert!(matches!(compare_dependency(&rec, SETTLE), Match::Changed));
}

#[test]
fn abandoned_temporary_files_are_removed_by_the_next_writer() {
    let (_t, store, origin) = setup("a@x.org h1 25\n");
    load(&store, &origin, Scope::All);
    let dir = store.dir.clone().unwrap();
    let old = dir.join(".tmp-1-dead");
    let young = dir.join(".tmp-2-busy");
    for p in [&old, &young] {
        fs::write(p, "partial").unwrap();
    }
    let f = OpenOptions::new().write(true).open(&old).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    drop(f);
    fs::write(origin.path().unwrap(), "a@x.org h2 25\n").unwrap();
    assert_eq!(hosts(&load(&store, &origin, Scope::All)), ["h2"]);
    assert!(!old.exists());
    assert!(young.exists());
}

/// A cached plan is reduced by the sender's index key: an identity
/// written with a Unicode domain is found from its A-label and the
/// reverse (the key compares A-labels), from the cache as from the source.
#[test]
fn selection_finds_either_form_of_a_domain() {
    let src = "a@x.org h1 25\nu@bücher.example h2 26\nv@xn--r8jz45g.xn--zckzah h3 27\n";
    let (_t, store, origin) = setup(src);
    for _ in 0..2 {
        for (sender, n, host) in [
            ("u@XN--BCHER-KVA.example", 1, "h2"),
            ("Jörg <u@Bücher.example>", 1, "h2"),
            ("v@例え.テスト", 2, "h3"),
        ] {
            let sel = load(&store, &origin, Scope::Sender(Some(sender)));
            assert_eq!(sel.numbers, vec![0, n], "{sender}");
            assert_eq!(sel.plan.identities[1].relay.host, host, "{sender}");
        }
    }
}
