//! The compiled plan on disk (issue 5).
//!
//! Every submission loads its plan through [`load_plan`] (the whole plan) or
//! [`load_plan_for`] (only the identities a sender can select, which keeps a
//! 10 000-identity configuration as cheap as a 10-line one). The cache is a
//! pure accelerator: whatever goes wrong with it (missing, read-only,
//! corrupted, foreign, too open), the source is compiled instead and the mail
//! goes out with the right settings.
//!
//! # Where
//! `$XDG_CACHE_HOME/esmtp` or `~/.cache/esmtp` (0700, the user's own), one
//! file per source named from a hash of its absolute path, 0600, written to
//! a temporary file in the same directory, fsynced and renamed over the old
//! one (concurrent writers each rename a complete file). A file that is not
//! the user's own regular file with no group/other bits and one link, or a
//! directory that is not private, is never read.
//!
//! # Validity
//! A cache file records who wrote it (crate version, [`FORMAT_VERSION`] and
//! the linker's GNU build ID of the executable, a hash of its contents; the
//! stat stamp of `/proc/self/exe` when there is no build ID) and what it was
//! compiled from (the source's stat stamp and SHA-256 of its bytes, and the
//! same for every file the plan depends on: `/etc/services`). It is used
//! only when all of them still match:
//! - the stat stamp (dev, ino, size, mtime ns, ctime ns) is compared first.
//!   When it matches and the source's ctime was at least [`SETTLE`] older
//!   than the moment the source was read, nothing else is read: any later
//!   write to the file must give it a later ctime (ctime cannot be set by
//!   user space), so an equal stamp proves an equal file.
//! - otherwise (stamp differs, or the file was modified so shortly before it
//!   was read that a later same-size write might land in the same timestamp
//!   granule) the source is read and hashed, and the cache is used only if
//!   the hash matches (the cache is then re-stamped so the next load is fast).
//!
//! # Layout (all integers little-endian)
//! ```text
//! magic "ESMTPPC\0" | format u32 | header length u32 | header check [8]
//! header (postcard): program, source, dependencies, global settings, offsets
//! bucket directory: one entry (offset u64, length u32, check [8]) per bucket
//! buckets: identity numbers (u32) whose lowercased address hashes there
//! identity table: one entry (offset u64, length u32, check [8]) per identity
//! identity records (postcard)
//! ```
//! Every piece that is read is checked (SipHash-1-3 of its bytes), so a
//! flipped byte or a truncation anywhere on the path of a load is detected.

use crate::config::{self, Origin};
use crate::exit::{self, Failure};
use crate::plan::{Identity, Plan, QueueSettings, Template};
use rustls_pki_types::TrustAnchor;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use siphasher::sip128::{Hasher128, SipHasher13};
use std::borrow::Cow;
use std::fs::{self, File, OpenOptions};
use std::hash::Hasher;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Bumped whenever the layout or the meaning of a field changes. The crate
/// version and the executable's identity are part of the key as well, so a
/// rebuilt program never trusts a file written by another build.
/// 2: `Identity::tls_explicit`.
/// 3: user names and secrets as bytes (`Octets`), `Identity::unusable`.
pub const FORMAT_VERSION: u32 = 3;
const MAGIC: &[u8; 8] = b"ESMTPPC\0";
/// magic + format + header length + header check.
const PREFIX_LEN: usize = 8 + 4 + 4 + 8;
/// One directory or table entry: offset u64, length u32, check [8].
const ENTRY_LEN: usize = 8 + 4 + 8;
/// A source whose ctime is younger than this, measured against the clock
/// before it was read, is not trusted on its stat stamp alone (covers the
/// coarse kernel clock tick and 1-2 s timestamp granularity of some file
/// systems); its content hash is checked instead.
pub const SETTLE: Duration = Duration::from_secs(3);
/// Files the compiled plan depends on besides the source itself. Service
/// names in `hostname host:service` are resolved at compile time from the
/// services database.
const DEPENDENCIES: &[&str] = &["/etc/services"];
/// The compiler refuses larger files unread (E011); read one byte more.
const MAX_SOURCE_BYTES: u64 = config::MAX_FILE_BYTES as u64;
/// sysexits EX_CANTCREAT: `esmtp compile` could not write the cache.
const CANTCREAT: u8 = 73;

// ───────────────────────────── public API ─────────────────────────────

/// Load the plan for sending: the cached compiled plan when it is valid for
/// the current source, else compile the source (and refresh the cache).
pub fn load_plan(explicit: Option<&Path>, verbose: bool) -> Result<Plan, Failure> {
    let origin = config::locate(explicit)?;
    let store = Store::default_location();
    let ctx = Ctx::new(&store, verbose, &config::compile_for_sending);
    Ok(ctx.load(&origin, Want::All)?.plan)
}

/// The part of a plan one submission can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The global settings and, in file order, the default identity and
    /// every identity whose address equals the sender ignoring case. Select
    /// the identity from this plan exactly as from the full plan.
    pub plan: Plan,
    /// `numbers[i]` is the index in the full plan of `plan.identities[i]`
    /// (for anything stored beyond this run, such as a queue entry).
    pub numbers: Vec<usize>,
    /// Number of identities in the full plan.
    pub total: usize,
}

/// Load only what a submission from `sender` needs: the global settings, the
/// default identity and the identities whose address matches `sender`
/// (compared case-insensitively; `Name <addr>` is understood). From the cache
/// this reads a few hundred bytes whatever the size of the configuration.
/// Selecting an identity in `Selection::plan` gives the same result as in the
/// full plan as long as the selection rule only matches addresses that are
/// equal ignoring case.
pub fn load_plan_for(
    explicit: Option<&Path>,
    verbose: bool,
    sender: Option<&str>,
) -> Result<Selection, Failure> {
    let origin = config::locate(explicit)?;
    let store = Store::default_location();
    let ctx = Ctx::new(&store, verbose, &config::compile_for_sending);
    let loaded = ctx.load(&origin, Want::Sender(sender))?;
    Ok(Selection {
        plan: loaded.plan,
        numbers: loaded.numbers,
        total: loaded.total,
    })
}

/// Compile the configuration (`explicit` or the one sendmail mode would use)
/// and write its cache now. Returns the cache file written.
pub fn compile_to_cache(explicit: Option<&Path>, verbose: bool) -> Result<PathBuf, Failure> {
    let origin = config::locate(explicit)?;
    let store = Store::default_location();
    Ctx::new(&store, verbose, &config::compile_for_sending).compile_to(&origin)
}

/// Whether the cached plan for a configuration can be used as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freshness {
    /// Valid: the next submission loads it without compiling.
    Fresh { cache: PathBuf },
    /// No cache written yet for this source.
    Missing { cache: PathBuf },
    /// There is one, but it will be ignored and rebuilt (the reason says why).
    Stale { cache: PathBuf, reason: String },
    /// Nothing to cache (no configuration file at all).
    NoSource,
    /// Caching is not possible here (no cache directory, unsafe directory...);
    /// every submission compiles the source.
    Unavailable { reason: String },
}

impl Freshness {
    pub fn is_fresh(&self) -> bool {
        matches!(self, Freshness::Fresh { .. })
    }
}

impl std::fmt::Display for Freshness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Freshness::Fresh { cache } => write!(f, "fresh ({})", cache.display()),
            Freshness::Missing { cache } => write!(f, "not compiled yet ({})", cache.display()),
            Freshness::Stale { cache, reason } => {
                write!(f, "stale: {reason} ({})", cache.display())
            }
            Freshness::NoSource => f.write_str("no configuration file, nothing to cache"),
            Freshness::Unavailable { reason } => write!(f, "not cached: {reason}"),
        }
    }
}

/// Report whether the cached plan for the configuration file `path` (as
/// `esmtp check FILE` / `dump FILE` name it, or `None` for the one sendmail
/// mode would use) is fresh. Reads and hashes; never writes, never compiles.
pub fn freshness(path: Option<&Path>) -> Freshness {
    let origin = match config::locate(path) {
        Ok(o) => o,
        Err(f) => return Freshness::Unavailable { reason: f.message },
    };
    Store::default_location().freshness(&origin)
}

/// The directory the cache lives in: `$XDG_CACHE_HOME/esmtp` or
/// `~/.cache/esmtp`.
pub fn cache_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|d| d.join("esmtp"))
}

/// `esmtp compile [FILE]`.
pub fn compile_command() -> clap::Command {
    clap::Command::new("compile")
        .about("Compile the configuration and store the compiled plan in the cache")
        .long_about(
            "Compile the configuration (FILE, or the one sendmail mode reads: ~/.esmtprc, \
             else /etc/esmtprc) and store the compiled plan in $XDG_CACHE_HOME/esmtp \
             (~/.cache/esmtp). Every submission does this by itself when the cached plan \
             is missing or stale; running it ahead saves that cost on the next message.",
        )
        .arg(
            clap::Arg::new("file")
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .help("Configuration file (default: ~/.esmtprc, else /etc/esmtprc)"),
        )
        .arg(
            clap::Arg::new("verbose")
                .short('v')
                .long("verbose")
                .action(clap::ArgAction::SetTrue)
                .help("Say what was compiled and where it went"),
        )
}

/// Run `esmtp compile` from its parsed arguments; returns the exit status.
pub fn run_compile(matches: &clap::ArgMatches) -> u8 {
    let file = matches.get_one::<PathBuf>("file");
    let verbose = matches.get_flag("verbose");
    match compile_to_cache(file.map(PathBuf::as_path), verbose) {
        Ok(path) => {
            if verbose {
                println!("esmtp: compiled plan written to {}", path.display());
            }
            exit::OK
        }
        Err(f) => {
            eprintln!("esmtp: {}", f.message);
            f.status
        }
    }
}

// ───────────────────────────── on-disk records ─────────────────────────────

/// Identity of a file as `stat` sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_ns: i64,
    ctime: i64,
    ctime_ns: i64,
}

impl Stamp {
    fn of(m: &fs::Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: m.mtime(),
            mtime_ns: m.mtime_nsec(),
            ctime: m.ctime(),
            ctime_ns: m.ctime_nsec(),
        }
    }

    /// True when the last change of the file is at least [`SETTLE`] before
    /// `read_start`, so that no later write can reproduce this stamp.
    fn settled_before(&self, read_start: SystemTime, settle: Duration) -> bool {
        let Ok(now) = read_start.duration_since(UNIX_EPOCH) else {
            return false;
        };
        let Ok(ctime_s) = u64::try_from(self.ctime) else {
            return false;
        };
        let Ok(ctime_ns) = u32::try_from(self.ctime_ns) else {
            return false;
        };
        let ctime = Duration::new(ctime_s, ctime_ns.min(999_999_999));
        ctime + settle <= now
    }
}

/// Who wrote a cache file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Program {
    version: String,
    format: u32,
    build: Build,
}

/// What makes this build unique.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Build {
    /// The linker's GNU build ID: a hash of the executable's contents.
    GnuBuildId(Vec<u8>),
    /// Without a build ID: the stat stamp of the executable file.
    Executable(Stamp),
}

impl Program {
    /// `None` when the executable cannot be identified (no build ID and no
    /// /proc): then nothing is cached at all.
    fn current() -> Option<Program> {
        let build = match gnu_build_id() {
            Some(id) => Build::GnuBuildId(id),
            None => Build::Executable(Stamp::of(&fs::metadata("/proc/self/exe").ok()?)),
        };
        Some(Program {
            version: env!("CARGO_PKG_VERSION").to_string(),
            format: FORMAT_VERSION,
            build,
        })
    }
}

/// The GNU build ID note of the running executable, read from its program
/// headers in memory (no system call; `stat("/proc/self/exe")` costs ~8 µs).
fn gnu_build_id() -> Option<Vec<u8>> {
    use nix::libc;
    const NT_GNU_BUILD_ID: u32 = 3;

    /// Called by the loader for each loaded object, the main program first;
    /// looks at that one only.
    unsafe extern "C" fn visit(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: the loader passes a valid `dl_phdr_info` whose program
        // headers and PT_NOTE segments are mapped for the life of the
        // process; `data` is the `Option<Vec<u8>>` passed below. Every read
        // is bounded by the segment's size.
        unsafe {
            let out = &mut *(data as *mut Option<Vec<u8>>);
            let info = &*info;
            if info.dlpi_phdr.is_null() {
                return 1;
            }
            let phdrs = std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum));
            for ph in phdrs.iter().filter(|p| p.p_type == libc::PT_NOTE) {
                let align = if ph.p_align == 8 { 8 } else { 4 };
                let start = (info.dlpi_addr as usize).wrapping_add(ph.p_vaddr as usize);
                let notes = std::slice::from_raw_parts(start as *const u8, ph.p_memsz as usize);
                let mut at = 0usize;
                let word = |i: usize| -> Option<u32> {
                    let b = notes.get(i..i + 4)?;
                    Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                };
                while let (Some(namesz), Some(descsz), Some(kind)) =
                    (word(at), word(at + 4), word(at + 8))
                {
                    let name_at = at + 12;
                    let desc_at = name_at + (namesz as usize).next_multiple_of(align);
                    let next = desc_at + (descsz as usize).next_multiple_of(align);
                    let (Some(name), Some(desc)) = (
                        notes.get(name_at..name_at + namesz as usize),
                        notes.get(desc_at..desc_at + descsz as usize),
                    ) else {
                        break;
                    };
                    if kind == NT_GNU_BUILD_ID && name == b"GNU\0" && !desc.is_empty() {
                        *out = Some(desc.to_vec());
                        return 1;
                    }
                    at = next;
                }
            }
            1
        }
    }

    let mut out: Option<Vec<u8>> = None;
    // SAFETY: `visit` only reads loader-provided data and writes `out`.
    unsafe {
        libc::dl_iterate_phdr(
            Some(visit),
            &mut out as *mut Option<Vec<u8>> as *mut libc::c_void,
        );
    }
    out
}

/// A file the plan was compiled from, as it was when read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct FileRecord {
    path: PathBuf,
    /// `None`: the file did not exist (its appearance invalidates the cache).
    stamp: Option<Stamp>,
    sha256: [u8; 32],
    /// The stamp alone proves the content (see [`Stamp::settled_before`]).
    settled: bool,
}

/// Settings of the plan outside the identities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Globals {
    default_identity: u32,
    identities: u32,
    mda: Option<Template>,
    force_mda: Option<String>,
    queue: QueueSettings,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Header {
    program: Program,
    source: FileRecord,
    deps: Vec<FileRecord>,
    globals: Globals,
    buckets: u32,
    directory_offset: u64,
    table_offset: u64,
}

/// Integrity check of a piece of the file: SipHash-1-3 (fast, no CPU
/// feature detection; SHA-256 would cost a `cpuid`, ~17 µs in a VM, on every
/// submission). Not a defence against someone who can write the file: the
/// file is trusted only when it is the user's own and private.
fn check(bytes: &[u8]) -> [u8; 8] {
    let mut h = SipHasher13::new();
    h.write(bytes);
    h.finish().to_le_bytes()
}

fn bucket_of(key: &str, buckets: u32) -> u32 {
    let mut h = SipHasher13::new();
    h.write(key.as_bytes());
    // `buckets` is at least 1.
    (h.finish() % u64::from(buckets.max(1))) as u32
}

// ───────────────────────────── encoding ─────────────────────────────

fn put_entry(out: &mut Vec<u8>, offset: u64, bytes: &[u8]) {
    out.extend_from_slice(&offset.to_le_bytes());
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(&check(bytes));
}

/// Serialize `plan` with its key into the file layout.
fn encode(
    plan: &Plan,
    program: Program,
    source: FileRecord,
    deps: Vec<FileRecord>,
) -> Result<Vec<u8>, String> {
    let n = plan.identities.len();
    let count = u32::try_from(n).map_err(|_| "too many identities".to_string())?;
    let buckets = count.max(1);
    let mut bucket_lists: Vec<Vec<u8>> = vec![Vec::new(); buckets as usize];
    for (i, id) in plan.identities.iter().enumerate() {
        if let Some(addr) = &id.address {
            let b = bucket_of(&crate::address::index_key(addr), buckets) as usize;
            bucket_lists[b].extend_from_slice(&(i as u32).to_le_bytes());
        }
    }
    let records: Vec<Vec<u8>> = plan
        .identities
        .iter()
        .map(postcard::to_allocvec)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot encode the plan: {e}"))?;
    let globals = Globals {
        default_identity: u32::try_from(plan.default_identity)
            .map_err(|_| "bad default identity".to_string())?,
        identities: count,
        mda: plan.mda.clone(),
        force_mda: plan.force_mda.clone(),
        queue: plan.queue.clone(),
    };
    let mut header = Header {
        program,
        source,
        deps,
        globals,
        buckets,
        directory_offset: 0,
        table_offset: 0,
    };
    // The header holds offsets that depend on its own (varint-encoded)
    // length: re-encode until the offsets are stable.
    let mut header_bytes = postcard::to_allocvec(&header).map_err(|e| e.to_string())?;
    loop {
        let dir_off = (PREFIX_LEN + header_bytes.len()) as u64;
        let buckets_off = dir_off + (buckets as usize * ENTRY_LEN) as u64;
        let bucket_bytes: u64 = bucket_lists.iter().map(|b| b.len() as u64).sum();
        let table_off = buckets_off + bucket_bytes;
        if header.directory_offset == dir_off && header.table_offset == table_off {
            break;
        }
        header.directory_offset = dir_off;
        header.table_offset = table_off;
        header_bytes = postcard::to_allocvec(&header).map_err(|e| e.to_string())?;
    }
    let mut out = Vec::with_capacity(
        header.table_offset as usize + n * ENTRY_LEN + records.iter().map(Vec::len).sum::<usize>(),
    );
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(header_bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(&check(&header_bytes));
    out.extend_from_slice(&header_bytes);
    let mut off = header.directory_offset + (buckets as usize * ENTRY_LEN) as u64;
    for b in &bucket_lists {
        put_entry(&mut out, off, b);
        off += b.len() as u64;
    }
    for b in &bucket_lists {
        out.extend_from_slice(b);
    }
    debug_assert_eq!(out.len() as u64, header.table_offset);
    let mut off = header.table_offset + (n * ENTRY_LEN) as u64;
    for r in &records {
        put_entry(&mut out, off, r);
        off += r.len() as u64;
    }
    for r in &records {
        out.extend_from_slice(r);
    }
    Ok(out)
}

// ───────────────────────────── decoding ─────────────────────────────

/// Random access to an opened cache file with every read checked.
struct Reader {
    /// `None` when the whole file is in `head` (see [`fuzzing::decode`]).
    file: Option<File>,
    len: u64,
    /// The first bytes of the file, read at once (the whole file when it is
    /// small or when the whole plan is wanted); reads inside it are free.
    head: Vec<u8>,
}

impl Reader {
    /// Read the first `n` bytes (at most the file) into memory.
    fn load_head(&mut self, n: u64) -> Result<(), String> {
        let n = self.len.min(n) as usize;
        if self.head.len() < n {
            self.head = self.read(0, n)?.into_owned();
        }
        Ok(())
    }

    fn read(&self, offset: u64, len: usize) -> Result<Cow<'_, [u8]>, String> {
        let end = offset
            .checked_add(len as u64)
            .filter(|&end| end <= self.len)
            .ok_or("truncated")?;
        if end <= self.head.len() as u64 {
            return Ok(Cow::Borrowed(&self.head[offset as usize..end as usize]));
        }
        let file = self.file.as_ref().ok_or("truncated")?;
        let mut buf = vec![0u8; len];
        file.read_exact_at(&mut buf, offset)
            .map_err(|e| format!("unreadable: {e}"))?;
        Ok(Cow::Owned(buf))
    }

    fn header(&mut self) -> Result<Header, String> {
        // One read for the prefix and (almost always) the whole header; a
        // small file is read whole.
        self.load_head(8192)?;
        let mut buf = self.head.clone();
        if buf.len() < PREFIX_LEN || &buf[..8] != MAGIC {
            return Err("not a compiled plan".into());
        }
        let format = u32::from_le_bytes([buf[8], buf[9], buf[10], buf[11]]);
        if format != FORMAT_VERSION {
            return Err(format!("written in format {format}"));
        }
        let hlen = u32::from_le_bytes([buf[12], buf[13], buf[14], buf[15]]) as usize;
        if PREFIX_LEN + hlen > buf.len() {
            buf = self.read(0, PREFIX_LEN + hlen)?.into_owned();
        }
        let hbytes = &buf[PREFIX_LEN..PREFIX_LEN + hlen];
        if check(hbytes) != buf[16..24] {
            return Err("corrupted header".into());
        }
        postcard::from_bytes(hbytes).map_err(|_| "undecodable header".to_string())
    }

    /// Read the entry at `at` and the checked bytes it points to.
    fn entry(&self, at: u64) -> Result<Cow<'_, [u8]>, String> {
        let e = self.read(at, ENTRY_LEN)?;
        let mut o = [0u8; 8];
        o.copy_from_slice(&e[..8]);
        let len = u32::from_le_bytes([e[8], e[9], e[10], e[11]]) as usize;
        let bytes = self.read(u64::from_le_bytes(o), len)?;
        if check(&bytes) != e[12..20] {
            return Err("corrupted".into());
        }
        Ok(bytes)
    }

    fn identity(&self, h: &Header, i: u32) -> Result<Identity, String> {
        if i >= h.globals.identities {
            return Err("corrupted index".into());
        }
        let bytes = self.entry(h.table_offset + u64::from(i) * ENTRY_LEN as u64)?;
        postcard::from_bytes(&bytes).map_err(|_| "undecodable identity".to_string())
    }

    fn bucket(&self, h: &Header, key: &str) -> Result<Vec<u32>, String> {
        let b = bucket_of(key, h.buckets);
        let bytes = self.entry(h.directory_offset + u64::from(b) * ENTRY_LEN as u64)?;
        if bytes.len() % 4 != 0 {
            return Err("corrupted index".into());
        }
        Ok(bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
}

fn globals_plan(g: &Globals, identities: Vec<Identity>, default_identity: usize) -> Plan {
    Plan {
        identities,
        default_identity,
        mda: g.mda.clone(),
        force_mda: g.force_mda.clone(),
        queue: g.queue.clone(),
    }
}

// ───────────────────────────── selection ─────────────────────────────

#[derive(Debug, Clone, Copy)]
enum Want<'a> {
    All,
    Sender(Option<&'a str>),
}

/// A plan as loaded, possibly reduced to a selection.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Loaded {
    plan: Plan,
    numbers: Vec<usize>,
    total: usize,
}

fn sender_keys(sender: Option<&str>) -> Vec<String> {
    let Some(s) = sender else { return Vec::new() };
    let mut keys = vec![s.trim().to_lowercase(), crate::address::index_key(s)];
    keys.dedup();
    keys.retain(|k| !k.is_empty());
    keys
}

/// Reduce a full plan the way a cached load does, so that results never
/// depend on whether the cache was used.
fn reduce(plan: Plan, want: Want<'_>) -> Loaded {
    let total = plan.identities.len();
    let Want::Sender(sender) = want else {
        return Loaded {
            plan,
            numbers: (0..total).collect(),
            total,
        };
    };
    let keys = sender_keys(sender);
    let mut numbers = Vec::new();
    let mut identities = Vec::new();
    let mut default_identity = 0;
    let Plan {
        identities: all,
        default_identity: def,
        mda,
        force_mda,
        queue,
    } = plan;
    for (i, id) in all.into_iter().enumerate() {
        let matches = id
            .address
            .as_deref()
            .is_some_and(|a| keys.contains(&crate::address::index_key(a)));
        if i == def || matches {
            if i == def {
                default_identity = identities.len();
            }
            numbers.push(i);
            identities.push(id);
        }
    }
    Loaded {
        plan: Plan {
            identities,
            default_identity,
            mda,
            force_mda,
            queue,
        },
        numbers,
        total,
    }
}

// ───────────────────────────── the store ─────────────────────────────

/// Where cache files live.
#[derive(Debug, Clone)]
pub struct Store {
    dir: Option<PathBuf>,
    /// [`SETTLE`], shorter in tests.
    settle: Duration,
}

type CompileFn<'a> = &'a dyn Fn(&Origin, &[u8]) -> Result<Plan, Failure>;

/// The source as opened for one load.
struct Source {
    path: PathBuf,
    /// From `stat`; once the file is read, from `fstat` of the descriptor
    /// read (the bytes are then at least as new as the stamp).
    stamp: Stamp,
    /// Clock reading taken before the stat and the read.
    read_start: SystemTime,
    bytes: Option<Vec<u8>>,
}

impl Source {
    /// Only `stat` the source: a valid cache needs nothing more.
    fn open(path: &Path) -> Result<Source, Failure> {
        let read_start = SystemTime::now();
        let m = fs::metadata(path)
            .map_err(|e| Failure::config(format!("open: {}: {e}", path.display())))?;
        Ok(Source {
            path: std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
            stamp: Stamp::of(&m),
            read_start,
            bytes: None,
        })
    }

    fn bytes(&mut self) -> Result<&[u8], Failure> {
        if self.bytes.is_none() {
            let fail = |e: std::io::Error| {
                Failure::config(format!("cannot read {}: {e}", self.path.display()))
            };
            let file = File::open(&self.path).map_err(fail)?;
            self.stamp = Stamp::of(&file.metadata().map_err(fail)?);
            // At most one byte beyond what the compiler accepts, so that a
            // huge file is refused without being read whole.
            let limit = MAX_SOURCE_BYTES + 1;
            let mut buf = Vec::with_capacity(self.stamp.size.min(limit) as usize);
            file.take(limit).read_to_end(&mut buf).map_err(fail)?;
            self.bytes = Some(buf);
        }
        Ok(self.bytes.as_deref().unwrap_or_default())
    }

    fn record(&mut self, settle: Duration) -> Result<FileRecord, Failure> {
        let sha256 = Sha256::digest(self.bytes()?).into();
        Ok(FileRecord {
            path: self.path.clone(),
            stamp: Some(self.stamp),
            sha256,
            settled: self.stamp.settled_before(self.read_start, settle),
        })
    }
}

fn dependency_record(path: &Path, settle: Duration) -> FileRecord {
    let read_start = SystemTime::now();
    match File::open(path) {
        Ok(mut f) => {
            let stamp = f.metadata().ok().map(|m| Stamp::of(&m));
            let mut buf = Vec::new();
            let ok = f.read_to_end(&mut buf).is_ok();
            FileRecord {
                path: path.to_path_buf(),
                settled: ok && stamp.is_some_and(|s| s.settled_before(read_start, settle)),
                stamp: if ok { stamp } else { None },
                sha256: Sha256::digest(&buf).into(),
            }
        }
        Err(_) => FileRecord {
            path: path.to_path_buf(),
            stamp: None,
            sha256: Sha256::digest(b"").into(),
            settled: true,
        },
    }
}

/// How a recorded file compares with the file now.
enum Match {
    /// Proven equal by its stamp alone.
    Settled,
    /// Equal content, but the record should be re-stamped.
    Rehashed,
    Changed,
}

fn compare_dependency(rec: &FileRecord, settle: Duration) -> Match {
    let now = fs::metadata(&rec.path).ok().map(|m| Stamp::of(&m));
    match (rec.stamp, now) {
        (None, None) => Match::Settled,
        (Some(a), Some(b)) if a == b && rec.settled => Match::Settled,
        (Some(_), Some(_)) => {
            let cur = dependency_record(&rec.path, settle);
            if cur.stamp.is_some() && cur.sha256 == rec.sha256 {
                Match::Rehashed
            } else {
                Match::Changed
            }
        }
        _ => Match::Changed,
    }
}

impl Store {
    /// `$XDG_CACHE_HOME/esmtp` or `~/.cache/esmtp`.
    pub fn default_location() -> Store {
        Store {
            dir: cache_dir(),
            settle: SETTLE,
        }
    }

    /// A cache in `dir` (tests, tools).
    pub fn at(dir: impl Into<PathBuf>) -> Store {
        Store {
            dir: Some(dir.into()),
            settle: SETTLE,
        }
    }

    /// The cache file for a source, named from a hash of its absolute path
    /// (the same whether the file is `~/.esmtprc` found by sendmail mode or
    /// given with `-C` or to `esmtp compile`: the plan does not depend on how
    /// the file was found).
    fn file_for(&self, source: &Path) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        // Absolute, not canonical: resolving symbolic links would cost a
        // readlink per path component on every submission, and the source's
        // identity is checked by its stamp and hash anyway.
        let path = std::path::absolute(source).unwrap_or_else(|_| source.to_path_buf());
        let mut h = SipHasher13::new();
        h.write(path.as_os_str().as_encoded_bytes());
        Some(dir.join(format!("{:032x}.plan", h.finish128().as_u128())))
    }

    /// The directory is ours and private; `create` makes it (0700) when
    /// missing and tightens an own directory that is too open.
    fn check_dir(&self, create: bool) -> Result<&Path, String> {
        let dir = self
            .dir
            .as_deref()
            .ok_or("no cache directory (HOME unset)")?;
        let uid = nix::unistd::geteuid().as_raw();
        let m = match fs::symlink_metadata(dir) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?
            }
            Err(e) => return Err(format!("{}: {e}", dir.display())),
        };
        if !m.is_dir() {
            return Err(format!("{} is not a directory", dir.display()));
        }
        if m.uid() != uid {
            return Err(format!("{} is not owned by you", dir.display()));
        }
        if m.mode() & 0o077 != 0 {
            if !create {
                return Err(format!("{} is accessible to others", dir.display()));
            }
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| format!("{} is accessible to others: {e}", dir.display()))?;
        }
        Ok(dir)
    }

    /// Open a cache file only if it is a private regular file of ours.
    fn open_cache(&self, path: &Path) -> Result<Option<Reader>, String> {
        let dir = self.dir.as_deref().ok_or("no cache directory")?;
        let m = match fs::symlink_metadata(dir) {
            Ok(m) => m,
            // Missing, or something else where its parent should be: no
            // cache to read (the write that follows says why, once).
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(format!("{}: {e}", dir.display())),
        };
        let uid = nix::unistd::geteuid().as_raw();
        if !m.is_dir() || m.uid() != uid || m.mode() & 0o077 != 0 {
            return Err(format!(
                "{} is not a private directory of yours",
                dir.display()
            ));
        }
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("unreadable: {e}")),
        };
        let m = file.metadata().map_err(|e| format!("unreadable: {e}"))?;
        if !m.is_file() {
            return Err("not a regular file".into());
        }
        if m.uid() != uid {
            return Err("not owned by you".into());
        }
        if m.mode() & 0o077 != 0 {
            return Err(format!(
                "accessible to others (mode {:o})",
                m.mode() & 0o777
            ));
        }
        if m.nlink() != 1 {
            return Err("has other links".into());
        }
        Ok(Some(Reader {
            file: Some(file),
            len: m.len(),
            head: Vec::new(),
        }))
    }

    /// Write `bytes` to `path` atomically: a private temporary file in the
    /// same directory, fsync, rename. Concurrent writers each rename a
    /// complete file; the last one wins.
    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), String> {
        let dir = self.check_dir(true)?;
        let mut rnd = [0u8; 8];
        getrandom::fill(&mut rnd).map_err(|e| e.to_string())?;
        let tmp = dir.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            rnd.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ));
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(nix::libc::O_NOFOLLOW)
                .open(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, path)
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(format!("cannot write {}: {e}", path.display()));
        }
        remove_abandoned(dir);
        Ok(())
    }

    fn freshness(&self, origin: &Origin) -> Freshness {
        let Some(path) = origin.path() else {
            return Freshness::NoSource;
        };
        let Some(cache) = self.file_for(path) else {
            return Freshness::Unavailable {
                reason: "no cache directory (HOME unset)".into(),
            };
        };
        let Some(program) = Program::current() else {
            return Freshness::Unavailable {
                reason: "cannot identify the running program (/proc not mounted)".into(),
            };
        };
        let mut source = match Source::open(path) {
            Ok(s) => s,
            Err(f) => return Freshness::Unavailable { reason: f.message },
        };
        let mut reader = match self.open_cache(&cache) {
            Ok(Some(r)) => r,
            Ok(None) => {
                // Missing; but can it ever be written?
                let blocked = cache
                    .ancestors()
                    .skip(1)
                    .find(|a| a.exists())
                    .filter(|a| !a.is_dir());
                return match blocked {
                    Some(b) => Freshness::Unavailable {
                        reason: format!("{} is not a directory", b.display()),
                    },
                    None => Freshness::Missing { cache },
                };
            }
            Err(reason) => return Freshness::Stale { cache, reason },
        };
        // Check every byte, not only what a submission would read.
        let full = validate(&mut reader, &program, &mut source, self.settle)
            .and_then(|(h, _)| verify_all(&mut reader, &h).map_err(Invalid::Broken));
        match full {
            Ok(()) => Freshness::Fresh { cache },
            Err(Invalid::Stale(reason)) | Err(Invalid::Broken(reason)) => {
                Freshness::Stale { cache, reason }
            }
            Err(Invalid::Fatal(f)) => Freshness::Unavailable { reason: f.message },
        }
    }
}

/// Temporary files left by a writer that died before its rename: removed
/// by the next writer once they are old enough not to be in progress.
fn remove_abandoned(dir: &Path) {
    const ABANDONED: Duration = Duration::from_secs(600);
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if !e.file_name().as_encoded_bytes().starts_with(b".tmp-") {
            continue;
        }
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > ABANDONED);
        if old {
            let _ = fs::remove_file(e.path());
        }
    }
}

enum Invalid {
    /// Out of date: rebuild quietly.
    Stale(String),
    /// Damaged or not ours: rebuild, say so under -v.
    Broken(String),
    /// The source itself cannot be read.
    Fatal(Failure),
}

/// Check a cache file's key against the program and the sources now.
/// Returns the header and whether the file should be re-stamped.
fn validate(
    reader: &mut Reader,
    program: &Program,
    source: &mut Source,
    settle: Duration,
) -> Result<(Header, bool), Invalid> {
    let header = reader.header().map_err(Invalid::Broken)?;
    if header.program != *program {
        return Err(Invalid::Stale("written by another build of esmtp".into()));
    }
    if header.source.path != source.path {
        return Err(Invalid::Broken("written for another file".into()));
    }
    let mut restamp = false;
    let same_stamp = header.source.stamp == Some(source.stamp);
    if !(same_stamp && header.source.settled) {
        let sha: [u8; 32] = Sha256::digest(source.bytes().map_err(Invalid::Fatal)?).into();
        if sha != header.source.sha256 {
            return Err(Invalid::Stale("the configuration changed".into()));
        }
        // Same content: re-stamp when the stamp moved on or has settled.
        restamp = header.source.stamp != Some(source.stamp)
            || source.stamp.settled_before(source.read_start, settle);
    }
    let wanted: Vec<&str> = DEPENDENCIES.to_vec();
    if header.deps.len() != wanted.len()
        || header
            .deps
            .iter()
            .zip(&wanted)
            .any(|(d, w)| d.path != Path::new(w))
    {
        return Err(Invalid::Stale("written with other dependencies".into()));
    }
    for d in &header.deps {
        match compare_dependency(d, settle) {
            Match::Settled => {}
            Match::Rehashed => restamp = true,
            Match::Changed => {
                return Err(Invalid::Stale(format!("{} changed", d.path.display())));
            }
        }
    }
    consistent(&header, reader.len).map_err(Invalid::Broken)?;
    Ok((header, restamp))
}

/// The header's own numbers agree with each other and with the file's
/// length `len`: the bucket directory and the identity table lie inside
/// the file, so no offset computed from them overflows and nothing sized
/// from them is larger than the file.
fn consistent(header: &Header, len: u64) -> Result<(), String> {
    let g = &header.globals;
    let inside = |offset: u64, entries: u32| {
        u64::from(entries)
            .checked_mul(ENTRY_LEN as u64)
            .and_then(|size| size.checked_add(offset))
            .is_some_and(|end| end <= len)
    };
    if g.identities == 0
        || g.default_identity >= g.identities
        || header.buckets == 0
        || !inside(header.directory_offset, header.buckets)
        || !inside(header.table_offset, g.identities)
    {
        return Err("inconsistent header".into());
    }
    Ok(())
}

/// One load: the store, verbosity and the compiler to fall back to.
struct Ctx<'a> {
    store: &'a Store,
    verbose: bool,
    compile: CompileFn<'a>,
    /// At most one line about the cache per run.
    said: std::cell::Cell<bool>,
}

impl<'a> Ctx<'a> {
    fn new(store: &'a Store, verbose: bool, compile: CompileFn<'a>) -> Self {
        Ctx {
            store,
            verbose,
            compile,
            said: std::cell::Cell::new(false),
        }
    }

    fn say(&self, line: impl std::fmt::Display) {
        if self.verbose && !self.said.replace(true) {
            println!("esmtp: {line}");
        }
    }

    fn load(&self, origin: &Origin, want: Want<'_>) -> Result<Loaded, Failure> {
        let Some(path) = origin.path() else {
            // As `config::load_for_sending`: no file at all is an error.
            return Err(Failure::config(config::no_file_message()));
        };
        let mut source = Source::open(path)?;
        let program = Program::current();
        let cache = self.store.file_for(path);
        if let (Some(program), Some(cache)) = (&program, &cache) {
            match self.try_cached(cache, program, &mut source, want) {
                Ok(Some(loaded)) => return Ok(loaded),
                Ok(None) => {}
                Err(Invalid::Fatal(f)) => return Err(f),
                Err(Invalid::Stale(reason)) => {
                    self.say(format_args!(
                        "compiled plan out of date ({reason}); recompiling"
                    ));
                }
                Err(Invalid::Broken(reason)) => {
                    self.say(format_args!(
                        "ignoring the compiled plan {}: {reason}; recompiling",
                        cache.display()
                    ));
                }
            }
        }
        let plan = (self.compile)(origin, source.bytes()?)?;
        if let (Some(program), Some(cache)) = (program, &cache) {
            if let Err(e) = self.store_plan(cache, &plan, program, &mut source) {
                self.say(format_args!("compiled plan not cached: {e}"));
            }
        }
        Ok(reduce(plan, want))
    }

    fn try_cached(
        &self,
        cache: &Path,
        program: &Program,
        source: &mut Source,
        want: Want<'_>,
    ) -> Result<Option<Loaded>, Invalid> {
        let mut reader = match self.store.open_cache(cache) {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(None),
            Err(reason) => return Err(Invalid::Broken(reason)),
        };
        let (header, restamp) = validate(&mut reader, program, source, self.store.settle)?;
        if restamp || matches!(want, Want::All) {
            // Everything will be read: one read instead of two per identity.
            reader.load_head(u64::MAX).map_err(Invalid::Broken)?;
        }
        let loaded = read_plan(&reader, &header, want).map_err(Invalid::Broken)?;
        if restamp {
            // Same content, newer stamp: rewrite the key so that the next
            // load trusts the stamp again (best effort).
            if let Ok(full) = read_plan(&reader, &header, Want::All) {
                let _ = self.store_plan(cache, &full.plan, program.clone(), source);
            }
        }
        Ok(Some(loaded))
    }

    fn store_plan(
        &self,
        cache: &Path,
        plan: &Plan,
        program: Program,
        source: &mut Source,
    ) -> Result<(), String> {
        // Nothing to do when the directory is unusable.
        self.store.check_dir(true)?;
        let settle = self.store.settle;
        let src = source.record(settle).map_err(|f| f.message)?;
        let deps = DEPENDENCIES
            .iter()
            .map(|d| dependency_record(Path::new(d), settle))
            .collect();
        let bytes = encode(plan, program, src, deps)?;
        self.store.write_atomic(cache, &bytes)
    }

    fn compile_to(&self, origin: &Origin) -> Result<PathBuf, Failure> {
        let Some(path) = origin.path() else {
            return Err(Failure::config(config::no_file_message()));
        };
        let mut source = Source::open(path)?;
        let plan = (self.compile)(origin, source.bytes()?)?;
        let program = Program::current().ok_or_else(|| {
            Failure::new(
                CANTCREAT,
                "cannot identify the running program (/proc not mounted); nothing cached",
            )
        })?;
        let cache = self
            .store
            .file_for(path)
            .ok_or_else(|| Failure::new(CANTCREAT, "no cache directory (HOME unset)"))?;
        self.store_plan(&cache, &plan, program, &mut source)
            .map_err(|e| Failure::new(CANTCREAT, e))?;
        Ok(cache)
    }
}

/// Check every bucket and every identity record of a validated cache file.
fn verify_all(reader: &mut Reader, header: &Header) -> Result<(), String> {
    reader.load_head(u64::MAX)?;
    for b in 0..header.buckets {
        let bytes = reader.entry(header.directory_offset + u64::from(b) * ENTRY_LEN as u64)?;
        if bytes.len() % 4 != 0 {
            return Err("corrupted index".into());
        }
    }
    read_plan(reader, header, Want::All).map(|_| ())
}

/// Decode the plan (or the selection) from a validated cache file.
fn read_plan(reader: &Reader, header: &Header, want: Want<'_>) -> Result<Loaded, String> {
    let g = &header.globals;
    let total = g.identities as usize;
    let mut numbers: Vec<u32> = match want {
        Want::All => (0..g.identities).collect(),
        Want::Sender(sender) => {
            let mut n = vec![g.default_identity];
            for key in sender_keys(sender) {
                n.extend(reader.bucket(header, &key)?);
            }
            n.sort_unstable();
            n.dedup();
            n
        }
    };
    let keys = match want {
        Want::Sender(s) => sender_keys(s),
        Want::All => Vec::new(),
    };
    let mut identities = Vec::with_capacity(numbers.len());
    let mut kept = Vec::with_capacity(numbers.len());
    let mut default_identity = None;
    for &i in &numbers {
        let id = reader.identity(header, i)?;
        let keep = match want {
            Want::All => true,
            Want::Sender(_) => {
                i == g.default_identity
                    || id
                        .address
                        .as_deref()
                        .is_some_and(|a| keys.contains(&crate::address::index_key(a)))
            }
        };
        if keep {
            if i == g.default_identity {
                default_identity = Some(identities.len());
            }
            identities.push(id);
            kept.push(i);
        }
    }
    numbers = kept;
    let default_identity = default_identity.ok_or("no default identity")?;
    Ok(Loaded {
        plan: globals_plan(g, identities, default_identity),
        numbers: numbers.into_iter().map(|i| i as usize).collect(),
        total,
    })
}

// ───────────────────────────── fuzzing ─────────────────────────────

/// The decoder on bytes, for the fuzz targets (`tests/fuzz`) and the replay
/// of their corpus in `cargo test`. Not an API.
#[doc(hidden)]
pub mod fuzzing {
    use super::*;

    /// Decode `bytes` as a cache file the way a load reads it once the
    /// validity key matched: the header, a sender's selection, every piece
    /// (as `esmtp check` does), the whole plan.
    pub fn decode(bytes: &[u8], sender: Option<&str>) -> Result<Plan, String> {
        let mut reader = Reader {
            file: None,
            len: bytes.len() as u64,
            head: bytes.to_vec(),
        };
        let header = reader.header()?;
        consistent(&header, reader.len)?;
        read_plan(&reader, &header, Want::Sender(sender))?;
        verify_all(&mut reader, &header)?;
        read_plan(&reader, &header, Want::All).map(|l| l.plan)
    }

    /// Encode `plan` as `esmtp compile` writes it, under a made-up key.
    pub fn encode(plan: &Plan) -> Result<Vec<u8>, String> {
        let source = FileRecord {
            path: PathBuf::from("/fuzz/esmtprc"),
            stamp: None,
            sha256: [0; 32],
            settled: false,
        };
        let deps = DEPENDENCIES
            .iter()
            .map(|d| FileRecord {
                path: PathBuf::from(d),
                ..source.clone()
            })
            .collect();
        let program = Program {
            version: "fuzz".into(),
            format: FORMAT_VERSION,
            build: Build::GnuBuildId(vec![0; 20]),
        };
        super::encode(plan, program, source, deps)
    }

    /// Recompute every check that can be found in `bytes`, so that mutated
    /// bytes get past the checks to the decoders behind them.
    pub fn reseal(bytes: &mut [u8]) {
        let Some(prefix) = bytes.get(..PREFIX_LEN) else {
            return;
        };
        let hlen = u32::from_le_bytes([prefix[12], prefix[13], prefix[14], prefix[15]]) as usize;
        let Some(hbytes) = bytes.get(PREFIX_LEN..PREFIX_LEN.saturating_add(hlen)) else {
            return;
        };
        let sum = check(hbytes);
        let Ok(header) = postcard::from_bytes::<Header>(hbytes) else {
            bytes[16..24].copy_from_slice(&sum);
            return;
        };
        bytes[16..24].copy_from_slice(&sum);
        let tables = [
            (header.directory_offset, header.buckets),
            (header.table_offset, header.globals.identities),
        ];
        for (start, count) in tables {
            for i in 0..u64::from(count) {
                let Some(at) = (i * ENTRY_LEN as u64)
                    .checked_add(start)
                    .and_then(|a| usize::try_from(a).ok())
                else {
                    break;
                };
                let Some(e) = bytes.get(at..at.saturating_add(ENTRY_LEN)) else {
                    break;
                };
                let mut o = [0u8; 8];
                o.copy_from_slice(&e[..8]);
                let len = u32::from_le_bytes([e[8], e[9], e[10], e[11]]) as usize;
                let data = usize::try_from(u64::from_le_bytes(o))
                    .ok()
                    .and_then(|o| bytes.get(o..o.checked_add(len)?));
                if let Some(data) = data {
                    let sum = check(data);
                    bytes[at + 12..at + 20].copy_from_slice(&sum);
                }
            }
        }
    }
}

// ───────────────────────── system trust anchors ─────────────────────────

/// The system's trusted CA certificates as rustls trust anchors, exactly as
/// `rustls_native_certs::load_native_certs` finds them, from a cache file
/// (`system-roots.anchors` beside the plans) while every file they come from
/// is unchanged. Loading and parsing the system store costs ~5.6 ms per TLS
/// submission here (a 220 KB bundle plus 290 files in /etc/ssl/certs);
/// checking the cache costs a directory listing and a stat per file.
///
/// Errors are not reported: like the native loader, unreadable certificates
/// are skipped; an empty result means there is none.
pub fn system_trust_anchors() -> Vec<TrustAnchor<'static>> {
    let (file, dirs) = native_sources();
    Store::default_location().trust_anchors(file.as_deref(), &dirs, &|| {
        rustls_native_certs::load_native_certs().certs
    })
}

/// Where `rustls_native_certs::load_native_certs` reads: `SSL_CERT_FILE` and
/// `SSL_CERT_DIR` when set, else what `openssl_probe` finds.
fn native_sources() -> (Option<PathBuf>, Vec<PathBuf>) {
    let file = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
    let dirs: Vec<PathBuf> = std::env::var_os("SSL_CERT_DIR")
        .map(|d| {
            std::env::split_paths(&d)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    if file.is_some() || !dirs.is_empty() {
        return (file, dirs);
    }
    let probe = openssl_probe::probe();
    (probe.cert_file, probe.cert_dir)
}

/// One file or directory the anchors were read from, as it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Seen {
    path: PathBuf,
    stamp: Option<Stamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct AnchorKey {
    file: Option<PathBuf>,
    dirs: Vec<PathBuf>,
    /// The file, each directory and each directory entry (links followed),
    /// entries sorted by name.
    seen: Vec<Seen>,
}

impl AnchorKey {
    fn now(file: Option<&Path>, dirs: &[PathBuf]) -> AnchorKey {
        let stamp = |p: &Path| fs::metadata(p).ok().map(|m| Stamp::of(&m));
        let mut seen = Vec::new();
        if let Some(f) = file {
            seen.push(Seen {
                path: f.to_path_buf(),
                stamp: stamp(f),
            });
        }
        for d in dirs {
            seen.push(Seen {
                path: d.clone(),
                stamp: stamp(d),
            });
            let mut entries: Vec<PathBuf> = fs::read_dir(d)
                .map(|r| r.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
            entries.sort();
            seen.extend(entries.into_iter().map(|path| Seen {
                stamp: stamp(&path),
                path,
            }));
        }
        AnchorKey {
            file: file.map(Path::to_path_buf),
            dirs: dirs.to_vec(),
            seen,
        }
    }

    fn settled_before(&self, start: SystemTime, settle: Duration) -> bool {
        self.seen
            .iter()
            .all(|s| s.stamp.is_none_or(|st| st.settled_before(start, settle)))
    }
}

/// Trust anchor fields: subject, subject public key info, name constraints.
type AnchorParts = (Vec<u8>, Vec<u8>, Option<Vec<u8>>);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct AnchorFile {
    program: Program,
    key: AnchorKey,
    anchors: Vec<AnchorParts>,
}

const ANCHOR_MAGIC: &[u8; 8] = b"ESMTPCA\0";
const ANCHOR_FILE: &str = "system-roots.anchors";

type CertLoader<'a> = &'a dyn Fn() -> Vec<rustls_pki_types::CertificateDer<'static>>;

impl Store {
    fn trust_anchors(
        &self,
        file: Option<&Path>,
        dirs: &[PathBuf],
        load: CertLoader<'_>,
    ) -> Vec<TrustAnchor<'static>> {
        let start = SystemTime::now();
        let key = AnchorKey::now(file, dirs);
        let program = Program::current();
        let cache = self.dir.as_ref().map(|d| d.join(ANCHOR_FILE));
        if let (Some(program), Some(cache)) = (&program, &cache) {
            if let Ok(Some(found)) = self.read_anchors(cache, program, &key) {
                return found;
            }
        }
        // Parse the certificates as rustls does when they are added.
        let mut roots = rustls::RootCertStore::empty();
        for cert in load() {
            let _ = roots.add(cert);
        }
        let anchors = roots.roots;
        // Only a settled key proves the files unchanged later.
        if let (Some(program), Some(cache)) = (program, &cache) {
            if key.settled_before(start, self.settle) {
                let parts = anchors
                    .iter()
                    .map(|a| {
                        (
                            a.subject.to_vec(),
                            a.subject_public_key_info.to_vec(),
                            a.name_constraints.as_ref().map(|n| n.to_vec()),
                        )
                    })
                    .collect();
                let body = AnchorFile {
                    program,
                    key,
                    anchors: parts,
                };
                if let Ok(payload) = postcard::to_allocvec(&body) {
                    let mut out = Vec::with_capacity(PREFIX_LEN + payload.len());
                    out.extend_from_slice(ANCHOR_MAGIC);
                    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
                    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
                    out.extend_from_slice(&check(&payload));
                    out.extend_from_slice(&payload);
                    let _ = self.write_atomic(cache, &out);
                }
            }
        }
        anchors
    }

    fn read_anchors(
        &self,
        cache: &Path,
        program: &Program,
        key: &AnchorKey,
    ) -> Result<Option<Vec<TrustAnchor<'static>>>, String> {
        let Some(mut reader) = self.open_cache(cache)? else {
            return Ok(None);
        };
        reader.load_head(u64::MAX)?;
        let b = &reader.head;
        if b.len() < PREFIX_LEN || &b[..8] != ANCHOR_MAGIC {
            return Err("not a trust anchor cache".into());
        }
        if u32::from_le_bytes([b[8], b[9], b[10], b[11]]) != FORMAT_VERSION {
            return Err("other format".into());
        }
        let len = u32::from_le_bytes([b[12], b[13], b[14], b[15]]) as usize;
        let payload = b.get(PREFIX_LEN..PREFIX_LEN + len).ok_or("truncated")?;
        if check(payload) != b[16..24] {
            return Err("corrupted".into());
        }
        let file: AnchorFile = postcard::from_bytes(payload).map_err(|e| e.to_string())?;
        if file.program != *program || file.key != *key {
            return Ok(None);
        }
        Ok(Some(
            file.anchors
                .into_iter()
                .map(|(subject, spki, nc)| TrustAnchor {
                    subject: subject.into(),
                    subject_public_key_info: spki.into(),
                    name_constraints: nc.map(Into::into),
                })
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Relay, Secret, SecretSource};

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

    fn setup(src: &str) -> (tempfile::TempDir, Store, Origin) {
        let t = tempfile::tempdir().unwrap();
        let store = Store::at(t.path().join("cache/esmtp"));
        let p = t.path().join("rc");
        fs::write(&p, src).unwrap();
        (t, store, Origin::Explicit(p))
    }

    fn load(store: &Store, origin: &Origin, want: Want<'_>) -> Loaded {
        Ctx::new(store, false, &shim).load(origin, want).unwrap()
    }

    #[test]
    fn roundtrip_and_selection() {
        let src = "a@X.org h1 25\nb@y.org h2 26\nc@z.org h3 27\n";
        let (_t, store, origin) = setup(src);
        let full = load(&store, &origin, Want::All);
        assert_eq!(full.plan, shim(&origin, src.as_bytes()).unwrap());
        let cache = store.file_for(origin.path().unwrap()).unwrap();
        assert!(cache.exists());
        assert_eq!(fs::metadata(&cache).unwrap().mode() & 0o777, 0o600);
        let again = load(&store, &origin, Want::All);
        assert_eq!(again, full);
        let sel = load(&store, &origin, Want::Sender(Some("Me <B@Y.ORG>")));
        assert_eq!(sel.numbers, vec![0, 1]);
        assert_eq!(sel.plan.identities[1].relay.host, "h2");
        assert_eq!(sel.plan.default_identity, 0);
        let sel = load(&store, &origin, Want::Sender(Some("nobody@x")));
        assert_eq!(sel.numbers, vec![0]);
        assert_eq!(sel.total, 3);
    }

    fn cache_of(store: &Store, origin: &Origin) -> PathBuf {
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
            assert_eq!(hosts(&load(&store, &origin, Want::All)), ["h1"]);
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
            assert_eq!(hosts(&load(&store, &origin, Want::All)), ["h2"]);
            assert_eq!(hosts(&load(&store, &origin, Want::All)), ["h2"]);
        }
    }

    #[test]
    fn every_flipped_byte_and_every_truncation_is_harmless() {
        let src = "a@x.org h1 25\nb@y.org h2 26\n";
        let (_t, mut store, origin) = setup(src);
        store.settle = Duration::ZERO;
        let want = shim(&origin, src.as_bytes()).unwrap();
        load(&store, &origin, Want::All);
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
            assert_eq!(load(&store, &origin, Want::All).plan, want, "flip at {i}");
            write(&bad);
            let sel = load(&store, &origin, Want::Sender(Some("b@y.org")));
            assert_eq!(hosts(&sel), ["h1", "h2"], "flip at {i}");
        }
        for len in 0..good.len() {
            write(&good[..len]);
            assert_eq!(load(&store, &origin, Want::All).plan, want, "cut at {len}");
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
        load(&store, &origin, Want::All);
        let cache = cache_of(&store, &origin);
        // A forged plan with other settings, made readable by others.
        let forged = {
            let (_t2, store2, origin2) = setup("a@x.org evil 25\n");
            let _ = &origin2;
            load(&store2, &origin2, Want::All);
            fs::read(cache_of(&store2, &origin2)).unwrap()
        };
        fs::write(&cache, &forged).unwrap();
        fs::set_permissions(&cache, fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(hosts(&load(&store, &origin, Want::All)), ["h1"]);
        assert_eq!(fs::metadata(&cache).unwrap().mode() & 0o777, 0o600);
        // Good content but too open: still not trusted, replaced.
        let ino = fs::metadata(&cache).unwrap().ino();
        fs::set_permissions(&cache, fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(hosts(&load(&store, &origin, Want::All)), ["h1"]);
        let m = fs::metadata(&cache).unwrap();
        assert_eq!(m.mode() & 0o777, 0o600);
        assert_ne!(m.ino(), ino);
        // A symlink in place of the cache file is not followed.
        fs::remove_file(&cache).unwrap();
        std::os::unix::fs::symlink(origin.path().unwrap(), &cache).unwrap();
        assert_eq!(hosts(&load(&store, &origin, Want::All)), ["h1"]);
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
        let store = Store::at(t.path().join("blocker/esmtp"));
        assert_eq!(hosts(&load(&store, &origin, Want::All)), ["h1"]);
        assert!(matches!(
            store.freshness(&origin),
            Freshness::Unavailable { .. }
        ));
        // A directory open to others is tightened before it is written to.
        let dir = t.path().join("open");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        let store = Store::at(&dir);
        assert_eq!(hosts(&load(&store, &origin, Want::All)), ["h1"]);
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        assert!(store.freshness(&origin).is_fresh());
    }

    #[test]
    fn concurrent_loads_all_succeed_and_leave_a_valid_cache() {
        let (_t, store, origin) = setup("a@x.org h1 25\nb@y.org h2 26\n");
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| load(&store, &origin, Want::All)))
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
        load(&store, &origin, Want::All);
        let cache = cache_of(&store, &origin);
        let program = Program::current().unwrap();
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
        let mut rec = dependency_record(Path::new("/etc/services"), SETTLE);
        assert!(matches!(
            compare_dependency(&rec, SETTLE),
            Match::Settled | Match::Rehashed
        ));
        rec.sha256[0] ^= 1;
        rec.settled = false;
        assert!(matches!(compare_dependency(&rec, SETTLE), Match::Changed));
    }

    #[test]
    fn build_id_is_the_one_the_linker_wrote() {
        let id = gnu_build_id().expect("this test binary has a GNU build ID");
        assert!(id.len() >= 8);
        assert_eq!(gnu_build_id(), Some(id.clone()));
        let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let exe = std::env::current_exe().unwrap();
        if let Ok(out) = std::process::Command::new("readelf")
            .arg("-n")
            .arg(&exe)
            .output()
        {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains(&format!("Build ID: {hex}")), "{text}");
        }
    }

    #[test]
    fn abandoned_temporary_files_are_removed_by_the_next_writer() {
        let (_t, store, origin) = setup("a@x.org h1 25\n");
        load(&store, &origin, Want::All);
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
        assert_eq!(hosts(&load(&store, &origin, Want::All)), ["h2"]);
        assert!(!old.exists());
        assert!(young.exists());
    }

    /// The first `n` certificates of the system bundle, as PEM.
    fn some_pems(n: usize) -> Vec<String> {
        let bundle = fs::read_to_string("/etc/ssl/certs/ca-certificates.crt")
            .expect("the ca-certificates bundle (Debian package ca-certificates)");
        bundle
            .split_inclusive("-----END CERTIFICATE-----\n")
            .filter(|c| c.contains("BEGIN CERTIFICATE"))
            .take(n)
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn trust_anchors_are_cached_while_their_files_are_unchanged() {
        let t = tempfile::tempdir().unwrap();
        let mut store = Store::at(t.path().join("cache"));
        store.settle = Duration::ZERO;
        let pems = some_pems(4);
        let bundle = t.path().join("bundle.pem");
        let dir = t.path().join("certs");
        fs::create_dir(&dir).unwrap();
        fs::write(&bundle, pems[..3].concat()).unwrap();
        let loads = std::cell::Cell::new(0);
        let loader = || {
            loads.set(loads.get() + 1);
            rustls_native_certs::load_certs_from_paths(Some(&bundle), Some(&dir)).certs
        };
        let get =
            |store: &Store| store.trust_anchors(Some(&bundle), std::slice::from_ref(&dir), &loader);
        let first = get(&store);
        assert_eq!((first.len(), loads.get()), (3, 1));
        assert!(t.path().join("cache").join(ANCHOR_FILE).exists());
        // Unchanged files: from the cache, the same anchors.
        assert_eq!(get(&store), first);
        assert_eq!(loads.get(), 1);
        // A certificate added to the directory, then the bundle edited.
        fs::write(dir.join("extra.pem"), &pems[3]).unwrap();
        assert_eq!(get(&store).len(), 4);
        assert_eq!(loads.get(), 2);
        fs::write(&bundle, pems[..2].concat()).unwrap();
        assert_eq!(get(&store).len(), 3);
        assert_eq!(get(&store).len(), 3);
        assert_eq!(loads.get(), 3);
        // A damaged cache is not used.
        let cache = t.path().join("cache").join(ANCHOR_FILE);
        let mut bytes = fs::read(&cache).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        fs::write(&cache, &bytes).unwrap();
        assert_eq!(get(&store).len(), 3);
        assert_eq!(loads.get(), 4);
        // Files changed moments ago are not trusted on their stamps.
        store.settle = SETTLE;
        fs::write(&bundle, pems[..1].concat()).unwrap();
        assert_eq!(get(&store).len(), 2);
        assert_eq!(get(&store).len(), 2);
        assert_eq!(loads.get(), 6);
    }

    #[test]
    fn system_store_round_trips_through_the_cache() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::at(t.path().join("cache"));
        let (file, dirs) = native_sources();
        let native = || rustls_native_certs::load_native_certs().certs;
        let first = store.trust_anchors(file.as_deref(), &dirs, &native);
        assert!(!first.is_empty());
        let never = || -> Vec<rustls_pki_types::CertificateDer<'static>> {
            panic!("the system store should come from the cache")
        };
        if AnchorKey::now(file.as_deref(), &dirs).settled_before(SystemTime::now(), SETTLE) {
            assert_eq!(store.trust_anchors(file.as_deref(), &dirs, &never), first);
        }
    }
}
