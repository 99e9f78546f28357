//! The bytes of an entry file: the first line (magic and message size),
//! the metadata line ([`Meta`]: envelope, identity, options) and the
//! delivery history kept beside it ([`DeliveryHistory`], `ID.state`). Entries written
//! by earlier versions must keep reading: fields are only ever added, with
//! defaults.
use crate::mail_params::{BodyType, Notify, Ret};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};

/// First bytes of an entry file; the size follows as 20 decimal digits.
pub(super) const MAGIC: &[u8; 8] = b"ESMTPQ1 ";
pub(super) const SIZE_DIGITS: usize = 20;
pub(super) const PREFIX_LEN: usize = MAGIC.len() + SIZE_DIGITS + 1;

/// The longest metadata line of an entry (thousands of recipients fit).
const META_LIMIT: u64 = 16 << 20;

/// Everything needed to deliver an entry again, later, maybe with a changed
/// configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub version: u32,
    /// Seconds since the epoch when it was queued.
    pub created: u64,
    /// The identity's address (`None` = the unnamed section), so that a
    /// reordered configuration still finds it.
    pub identity: Option<String>,
    /// The identity's index when queued (used when the address is `None`).
    pub identity_index: usize,
    pub sender: String,
    pub recipients: Vec<String>,
    #[serde(default)]
    pub notify: Option<Notify>,
    #[serde(default)]
    pub ret: Option<Ret>,
    #[serde(default)]
    pub envid: Option<String>,
    /// `7BIT` or `8BITMIME` when `-B` was given.
    #[serde(default)]
    pub body_type: Option<BodyType>,
    #[serde(default)]
    pub eight_bit: bool,
    /// See `MessageOptions::utf8_headers` (absent when false, so that
    /// entries of ASCII mail keep their bytes).
    #[serde(default, skip_serializing_if = "is_false")]
    pub utf8_headers: bool,
    /// See `MessageOptions::utf8_added_header`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utf8_added_header: Option<String>,
    /// The message's Message-ID, for the delivery log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Size of the message in bytes (kept in the entry's first line).
    #[serde(skip)]
    pub size: u64,
}

/// Delivery history of an entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryHistory {
    pub attempts: u32,
    pub last_attempt: Option<u64>,
    /// Not before this time (seconds since the epoch); 0 = at once.
    pub next_attempt: u64,
    pub last_error: Option<String>,
}

impl DeliveryHistory {
    /// Exponential backoff: 1 min, 2, 4, ... capped at 1 hour.
    pub fn backoff_secs(attempts: u32) -> u64 {
        let exp = attempts.saturating_sub(1).min(6);
        (60u64 << exp).min(3600)
    }
}

/// An empty envelope in the current format (`version` 1): what an
/// unreadable entry lists as, and the base for partly known ones.
impl Default for Meta {
    fn default() -> Meta {
        Meta {
            version: 1,
            created: 0,
            identity: None,
            identity_index: 0,
            sender: String::new(),
            recipients: Vec::new(),
            notify: None,
            ret: None,
            envid: None,
            body_type: None,
            eight_bit: false,
            utf8_headers: false,
            utf8_added_header: None,
            message_id: None,
            size: 0,
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn bad_data(why: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why)
}

/// Read and check an entry's header: (meta with its size, message offset).
pub(super) fn read_header(file: &File) -> io::Result<(Meta, u64)> {
    let len = file.metadata()?.len();
    let mut r = BufReader::with_capacity(4096, file);
    r.seek(SeekFrom::Start(0))?;
    decode_header(&mut r, len)
}

/// [`read_header`] on any reader: `r` at the start of an entry of `len`
/// bytes. Public for the fuzz target (tests/fuzz); not an API.
#[doc(hidden)]
pub fn decode_header(r: &mut dyn BufRead, len: u64) -> io::Result<(Meta, u64)> {
    let mut prefix = [0u8; PREFIX_LEN];
    r.read_exact(&mut prefix)
        .map_err(|_| bad_data("no entry header (the file is too short)".into()))?;
    if &prefix[..MAGIC.len()] != MAGIC || prefix[PREFIX_LEN - 1] != b'\n' {
        return Err(bad_data("not a queue entry (bad magic)".into()));
    }
    let size: u64 = std::str::from_utf8(&prefix[MAGIC.len()..PREFIX_LEN - 1])
        .ok()
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| bad_data("bad size in the entry header".into()))?;
    let mut line = Vec::new();
    (&mut *r).take(META_LIMIT).read_until(b'\n', &mut line)?;
    if line.last() != Some(&b'\n') {
        return Err(bad_data(if line.len() as u64 == META_LIMIT {
            format!("the entry's metadata line is longer than {META_LIMIT} bytes")
        } else {
            "the entry's metadata line is cut short".into()
        }));
    }
    let mut meta: Meta =
        serde_json::from_slice(&line).map_err(|e| bad_data(format!("bad entry metadata: {e}")))?;
    let offset = (PREFIX_LEN + line.len()) as u64;
    if offset.checked_add(size) != Some(len) {
        return Err(bad_data(format!(
            "the entry holds {} message bytes, {size} expected",
            len.saturating_sub(offset)
        )));
    }
    meta.size = size;
    Ok((meta, offset))
}
