//! The binary layout of a compiled plan file: its encoder and its checked
//! decoder (random access, so a selection reads only what it needs).
//!
//! Layout (all integers little-endian)
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

use super::validity::{FileRecord, DEPENDENCIES};
use super::{selected, sender_keys, Loaded, Scope};
use crate::address::index_key;
use crate::owned::private::checksum;
use crate::owned::stamp::{Build, Program};
use crate::plan::{Aliases, Identity, LogSettings, Plan, QueueSettings, Template};
use serde::{Deserialize, Serialize};
use siphasher::sip128::SipHasher13;
use std::borrow::Cow;
use std::fs::File;
use std::hash::Hasher;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

/// Bumped whenever the layout or the meaning of a field changes. The crate
/// version and the executable's identity are part of the key as well, so a
/// rebuilt program never trusts a file written by another build.
/// 2: `Identity::tls_explicit`.
/// 3: user names and secrets as bytes (`Octets`), `Identity::unusable`.
/// 4: `Identity::tls_files` (tls_fingerprint, tls_trust_file, tls_cert_file, tls_key_file).
/// 5: `Globals::aliases` (the compiled aliases file, a dependency).
/// 6: `Aliases::unusable` (an aliases file's errors wait for use).
/// 7: the address index key compares domains by their A-labels (IDNA), so
///    `u@bücher.example` and `u@xn--bcher-kva.example` share a bucket.
/// 8: `SecretSource::OAuth2` (oauth2 and its settings).
/// 9: `Globals::log`, `Identity::log` (logfile, syslog).
/// 10: `AuthMech::{Oauthbearer, ScramSha256, ScramSha1}`.
pub const FORMAT_VERSION: u32 = 10;
pub(super) const MAGIC: &[u8; 8] = b"ESMTPPC\0";
/// magic + format + header length + header check.
pub(super) const PREFIX_LEN: usize = 8 + 4 + 4 + 8;
/// One directory or table entry: offset u64, length u32, check [8].
pub(super) const ENTRY_LEN: usize = 8 + 4 + 8;

/// Settings of the plan outside the identities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Globals {
    pub(super) default_identity: u32,
    pub(super) identities: u32,
    pub(super) mda: Option<Template>,
    pub(super) force_mda: Option<String>,
    pub(super) queue: QueueSettings,
    pub(super) aliases: Option<Aliases>,
    pub(super) log: LogSettings,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Header {
    pub(super) program: Program,
    pub(super) source: FileRecord,
    pub(super) deps: Vec<FileRecord>,
    pub(super) globals: Globals,
    pub(super) buckets: u32,
    pub(super) directory_offset: u64,
    pub(super) table_offset: u64,
}

pub(super) fn bucket_of(key: &str, buckets: u32) -> u32 {
    let mut h = SipHasher13::new();
    h.write(key.as_bytes());
    // `buckets` is at least 1.
    (h.finish() % u64::from(buckets.max(1))) as u32
}

// ───────────────────────────── encoding ─────────────────────────────

pub(super) fn put_entry(out: &mut Vec<u8>, offset: u64, bytes: &[u8]) {
    out.extend_from_slice(&offset.to_le_bytes());
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(&checksum(bytes));
}

/// Serialize `plan` with its key into the file layout.
pub(super) fn encode(
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
            let b = bucket_of(&index_key(addr), buckets) as usize;
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
        aliases: plan.aliases.clone(),
        log: plan.log.clone(),
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
    out.extend_from_slice(&checksum(&header_bytes));
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
pub(super) struct Reader {
    /// `None` when the whole file is in `head` (see [`fuzzing::decode`]).
    pub(super) file: Option<File>,
    pub(super) len: u64,
    /// The first bytes of the file, read at once (the whole file when it is
    /// small or when the whole plan is wanted); reads inside it are free.
    pub(super) head: Vec<u8>,
}

impl Reader {
    /// Read the first `n` bytes (at most the file) into memory.
    pub(super) fn load_head(&mut self, n: u64) -> Result<(), String> {
        let n = self.len.min(n) as usize;
        if self.head.len() < n {
            self.head = self.read(0, n)?.into_owned();
        }
        Ok(())
    }

    pub(super) fn read(&self, offset: u64, len: usize) -> Result<Cow<'_, [u8]>, String> {
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

    pub(super) fn header(&mut self) -> Result<Header, String> {
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
        if checksum(hbytes) != buf[16..24] {
            return Err("corrupted header".into());
        }
        postcard::from_bytes(hbytes).map_err(|_| "undecodable header".to_string())
    }

    /// Read the entry at `at` and the checked bytes it points to.
    pub(super) fn entry(&self, at: u64) -> Result<Cow<'_, [u8]>, String> {
        let e = self.read(at, ENTRY_LEN)?;
        let mut o = [0u8; 8];
        o.copy_from_slice(&e[..8]);
        let len = u32::from_le_bytes([e[8], e[9], e[10], e[11]]) as usize;
        let bytes = self.read(u64::from_le_bytes(o), len)?;
        if checksum(&bytes) != e[12..20] {
            return Err("corrupted".into());
        }
        Ok(bytes)
    }

    pub(super) fn identity(&self, h: &Header, i: u32) -> Result<Identity, String> {
        if i >= h.globals.identities {
            return Err("corrupted index".into());
        }
        let bytes = self.entry(h.table_offset + u64::from(i) * ENTRY_LEN as u64)?;
        postcard::from_bytes(&bytes).map_err(|_| "undecodable identity".to_string())
    }

    pub(super) fn bucket(&self, h: &Header, key: &str) -> Result<Vec<u32>, String> {
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

pub(super) fn globals_plan(
    g: &Globals,
    identities: Vec<Identity>,
    default_identity: usize,
) -> Plan {
    Plan {
        identities,
        default_identity,
        mda: g.mda.clone(),
        force_mda: g.force_mda.clone(),
        queue: g.queue.clone(),
        aliases: g.aliases.clone(),
        log: g.log.clone(),
    }
}

/// The header's own numbers agree with each other and with the file's
/// length `len`: the bucket directory and the identity table lie inside
/// the file, so no offset computed from them overflows and nothing sized
/// from them is larger than the file.
pub(super) fn consistent(header: &Header, len: u64) -> Result<(), String> {
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

/// Check every bucket and every identity record of a validated cache file.
pub(super) fn verify_all(reader: &mut Reader, header: &Header) -> Result<(), String> {
    reader.load_head(u64::MAX)?;
    for b in 0..header.buckets {
        let bytes = reader.entry(header.directory_offset + u64::from(b) * ENTRY_LEN as u64)?;
        if bytes.len() % 4 != 0 {
            return Err("corrupted index".into());
        }
    }
    read_plan(reader, header, Scope::All).map(|_| ())
}

/// Decode the plan (or the selection) from a validated cache file.
pub(super) fn read_plan(
    reader: &Reader,
    header: &Header,
    want: Scope<'_>,
) -> Result<Loaded, String> {
    let g = &header.globals;
    let total = g.identities as usize;
    let mut numbers: Vec<u32> = match want {
        Scope::All => (0..g.identities).collect(),
        Scope::Sender(sender) => {
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
        Scope::Sender(s) => sender_keys(s),
        Scope::All => Vec::new(),
    };
    let mut identities = Vec::with_capacity(numbers.len());
    let mut kept = Vec::with_capacity(numbers.len());
    let mut default_identity = None;
    for &i in &numbers {
        let id = reader.identity(header, i)?;
        let keep = match want {
            Scope::All => true,
            Scope::Sender(_) => selected(
                i as usize,
                g.default_identity as usize,
                id.address.as_deref(),
                &keys,
            ),
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
        read_plan(&reader, &header, Scope::Sender(sender))?;
        verify_all(&mut reader, &header)?;
        read_plan(&reader, &header, Scope::All).map(|l| l.plan)
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
        let sum = checksum(hbytes);
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
                    let sum = checksum(data);
                    bytes[at + 12..at + 20].copy_from_slice(&sum);
                }
            }
        }
    }
}
