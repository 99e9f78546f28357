//! The message: one scan of the header block, the header policy (SPEC §4),
//! and the spool that holds the normalised message while it is delivered.
//!
//! Only the header block is held in memory (bounded by [`MAX_HEADER_BYTES`]).
//! The body streams from standard input into the spool (memory up to
//! [`SPOOL_MEMORY_LIMIT`], then an anonymous temporary file), normalised on
//! the way; 8-bit bytes, NUL bytes and the size are noted as it passes. The
//! SMTP transport and the queue read the spool's CRLF view (not
//! dot-stuffed); the MDA reads its LF view. A large message that is already
//! a regular file and goes to the smarthost alone skips the spool: it is
//! sent as it is read, through [`Checked`].

use crate::exit::{Failure, DATAERR, SOFTWARE, TEMPFAIL, USAGE};
use crate::route::Mailbox;
use std::fs::File;
use std::io::{self, BufRead, BufWriter, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::FileExt;

pub mod line_ends;

use line_ends::Normaliser;
pub use line_ends::{LineEnds, Stuffer};

/// Largest header block accepted (the same default as Exim's `header_maxsize`).
pub const MAX_HEADER_BYTES: usize = 1 << 20;

/// One header field, as read: name, colon, value and its folded lines, with
/// the line ends of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    raw: Vec<u8>,
}

impl Field {
    pub fn new(raw: Vec<u8>) -> Self {
        Field { raw }
    }
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }
    /// The field name (before the colon, without trailing blanks).
    pub fn name(&self) -> &[u8] {
        let end = self.raw.iter().position(|&b| b == b':').unwrap_or(0);
        let mut name = &self.raw[..end];
        while let [rest @ .., b' ' | b'\t'] = name {
            name = rest;
        }
        name
    }
    pub fn is(&self, name: &str) -> bool {
        self.name().eq_ignore_ascii_case(name.as_bytes())
    }
}

/// The header block of the message and what was read past it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    pub fields: Vec<Field>,
    /// Bytes already read that belong to the body: the first line when it
    /// was not a header line (the message had no header block, or it was not
    /// ended by an empty line).
    pub body_prefix: Vec<u8>,
}

/// True for a byte allowed in a field name (RFC 5322 ftext).
fn is_ftext(b: u8) -> bool {
    (33..=126).contains(&b) && b != b':'
}

/// True when `line` starts a header field: a non-empty field name, optional
/// blanks (obsolete syntax), then a colon.
fn starts_field(line: &[u8]) -> bool {
    let name_len = line.iter().take_while(|&&b| is_ftext(b)).count();
    if name_len == 0 {
        return false;
    }
    let rest = &line[name_len..];
    let blanks = rest
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    rest.get(blanks) == Some(&b':')
}

fn is_blank_line(line: &[u8]) -> bool {
    line == b"\n" || line == b"\r\n" || line == b"\r"
}

/// Read one line into `line`, with its line end: LF, CRLF or a bare CR (a
/// line ends where the spool and SMTP end it, see [`line_ends`]), at most
/// `limit` bytes (one more for the LF of a CRLF). Returns the bytes read;
/// 0 at the end of the input.
fn read_line(input: &mut dyn BufRead, line: &mut Vec<u8>, limit: usize) -> io::Result<usize> {
    let mut n = 0;
    loop {
        let buf = match input.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(n);
        }
        if line.last() == Some(&b'\r') {
            // The line ended in a CR at the end of the last buffer.
            if buf[0] == b'\n' {
                line.push(b'\n');
                input.consume(1);
                n += 1;
            }
            return Ok(n);
        }
        let window = &buf[..buf.len().min(limit - n)];
        if window.is_empty() {
            return Ok(n);
        }
        let (take, done) = match memchr::memchr2(b'\r', b'\n', window) {
            None => (window.len(), false),
            Some(k) => match (window[k], window.get(k + 1)) {
                (b'\r', Some(b'\n')) => (k + 2, true),
                // A CR at the end of the buffer: the next byte decides.
                (b'\r', None) => (k + 1, false),
                _ => (k + 1, true),
            },
        };
        line.extend_from_slice(&window[..take]);
        input.consume(take);
        n += take;
        if done {
            return Ok(n);
        }
    }
}

/// Read the header block: up to the first empty line (consumed), or up to
/// the first line that is neither a header field nor a continuation (kept
/// as the start of the body), or to the end of the input.
pub fn read_headers(input: &mut dyn BufRead) -> Result<Headers, Failure> {
    let mut headers = Headers::default();
    let mut total = 0usize;
    loop {
        let mut line = Vec::new();
        let limit = MAX_HEADER_BYTES.saturating_sub(total) + 1;
        let n = read_line(input, &mut line, limit)
            .map_err(|e| Failure::new(SOFTWARE, format!("cannot read the message: {e}")))?;
        if n == 0 || is_blank_line(&line) {
            return Ok(headers);
        }
        if total == 0 && headers.fields.is_empty() && line.starts_with(b"From ") {
            // An mbox "From " line in front of the headers: not part of the
            // message (sendmail and Postfix drop it too).
            total += n;
            if total > MAX_HEADER_BYTES {
                return Err(header_too_large());
            }
            continue;
        }
        let continuation = matches!(line[0], b' ' | b'\t') && !headers.fields.is_empty();
        let header_line = continuation || starts_field(&line);
        if !header_line {
            headers.body_prefix = line;
            return Ok(headers);
        }
        total += n;
        if total > MAX_HEADER_BYTES {
            return Err(header_too_large());
        }
        if continuation {
            if let Some(last) = headers.fields.last_mut() {
                last.raw.extend_from_slice(&line);
            }
        } else {
            headers.fields.push(Field::new(line));
        }
    }
}

fn header_too_large() -> Failure {
    Failure::new(
        DATAERR,
        format!(
            "the message header is larger than {} KiB; is a blank line missing after the headers?",
            MAX_HEADER_BYTES / 1024
        ),
    )
}

impl Headers {
    pub fn has(&self, name: &str) -> bool {
        self.fields.iter().any(|f| f.is(name))
    }

    /// The addresses of `To:`, `Cc:` and `Bcc:`, in order (for `-t`).
    pub fn recipients(&self) -> Result<Vec<String>, Failure> {
        let mut out = Vec::new();
        for field in &self.fields {
            if field.is("To") || field.is("Cc") || field.is("Bcc") {
                let list = field_addresses(field).map_err(|e| {
                    Failure::new(
                        DATAERR,
                        format!(
                            "cannot read the addresses in {}: {e}",
                            String::from_utf8_lossy(field.name())
                        ),
                    )
                })?;
                out.extend(list.into_iter().map(|m| m.addr));
            }
        }
        Ok(out)
    }

    /// The first mailbox of the first `From:` field.
    pub fn from(&self) -> Result<Option<Mailbox>, Failure> {
        let Some(field) = self.fields.iter().find(|f| f.is("From")) else {
            return Ok(None);
        };
        let list = field_addresses(field)
            .map_err(|e| Failure::new(DATAERR, format!("cannot read the address in From: {e}")))?;
        Ok(list.into_iter().next())
    }
}

/// Parse the addresses of one header field.
fn field_addresses(field: &Field) -> Result<Vec<Mailbox>, String> {
    let (header, _) = mailparse::parse_header(field.raw()).map_err(|e| e.to_string())?;
    match mailparse::addrparse_header(&header) {
        Ok(list) => Ok(flatten(&list)),
        Err(_) => parse_local_list(&header.get_value()),
    }
}

/// Parse an address list as written on a command line or in a header
/// (`a@b, Name <c@d>`, groups, comments; local names such as `root`).
pub fn parse_address_list(text: &str) -> Result<Vec<Mailbox>, String> {
    match mailparse::addrparse(text) {
        Ok(list) => Ok(flatten(&list)),
        Err(_) => parse_local_list(text),
    }
}

fn flatten(list: &mailparse::MailAddrList) -> Vec<Mailbox> {
    let mut out = Vec::new();
    for addr in list.iter() {
        match addr {
            mailparse::MailAddr::Single(s) => out.push(Mailbox {
                name: s.display_name.clone(),
                addr: s.addr.clone(),
            }),
            mailparse::MailAddr::Group(g) => out.extend(g.addrs.iter().map(|s| Mailbox {
                name: s.display_name.clone(),
                addr: s.addr.clone(),
            })),
        }
    }
    out
}

/// mailparse insists on an `@` in every address; mail to local users
/// (`To: root`, cron's habit) has none. Split the list at top-level commas
/// and parse each element on its own: elements with `@` through mailparse,
/// local names by hand (angle brackets, comments and a group name removed).
fn parse_local_list(text: &str) -> Result<Vec<Mailbox>, String> {
    let mut out = Vec::new();
    for element in split_top_level(text) {
        let element = element.trim();
        if element.is_empty() {
            continue;
        }
        if element.contains('@') {
            // mailparse reads a bare quoted local part ("a b"@c) only
            // inside angle brackets.
            let list = mailparse::addrparse(element)
                .or_else(|e| match element.contains('<') {
                    true => Err(e),
                    false => mailparse::addrparse(&format!("<{}>", strip_comments(element).trim())),
                })
                .map_err(|e| e.to_string())?;
            out.extend(flatten(&list));
            continue;
        }
        let mut s = strip_comments(element);
        // A group: "name: member, member;"
        if let Some(colon) = s.find(':') {
            if !s[..colon].contains('<') {
                s = s[colon + 1..].to_string();
            }
        }
        let s = s.trim().trim_end_matches(';').trim();
        let (name, addr) = match (s.find('<'), s.rfind('>')) {
            (Some(l), Some(r)) if l < r => {
                let name = s[..l].trim().trim_matches('"').trim();
                (
                    (!name.is_empty()).then(|| name.to_string()),
                    s[l + 1..r].trim().to_string(),
                )
            }
            (None, None) => (None, s.to_string()),
            _ => return Err(format!("unbalanced angle brackets in {element:?}")),
        };
        if addr.is_empty() {
            continue;
        }
        if addr.chars().any(char::is_whitespace) {
            return Err(format!("{addr:?} is not an address"));
        }
        out.push(Mailbox { name, addr });
    }
    Ok(out)
}

/// Split at commas outside quotes, comments and angle brackets.
fn split_top_level(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut escaped, mut comment, mut angle) = (false, false, 0u32, false);
    for c in text.chars() {
        if escaped {
            escaped = false;
            cur.push(c);
            continue;
        }
        match c {
            '\\' => escaped = true,
            '"' if comment == 0 => quoted = !quoted,
            '(' if !quoted => comment += 1,
            ')' if !quoted && comment > 0 => comment -= 1,
            '<' if !quoted && comment == 0 => angle = true,
            '>' if !quoted && comment == 0 => angle = false,
            ',' if !quoted && comment == 0 && !angle => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    parts.push(cur);
    parts
}

fn strip_comments(text: &str) -> String {
    let mut out = String::new();
    let (mut depth, mut quoted) = (0u32, false);
    for c in text.chars() {
        match c {
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// What to change in the header block (SPEC §4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderPolicy {
    /// `-t`: remove `Bcc:`.
    pub remove_bcc: bool,
    /// `force sender`: the `Sender:` value replacing any in the message.
    pub sender: Option<String>,
    /// `Date:` value to add when missing.
    pub date: String,
    /// `From:` to add when missing.
    pub from: Mailbox,
    /// `Message-ID:` to add when missing (`None`: `message_id disabled`).
    pub message_id: Option<String>,
}

/// Render the final header block with CRLF line ends, ending in the empty
/// line. Existing fields keep their order and bytes (line ends normalised);
/// added fields follow them, as libESMTP adds them.
pub fn render_headers(headers: &Headers, policy: &HeaderPolicy) -> Vec<u8> {
    let mut out = Vec::new();
    for field in &headers.fields {
        if field.is("Return-Path")
            || (policy.remove_bcc && field.is("Bcc"))
            || (policy.sender.is_some() && field.is("Sender"))
        {
            continue;
        }
        let mut crlf = Normaliser::new(LineEnds::Crlf);
        // Writing to a Vec cannot fail.
        let _ = crlf.feed(field.raw(), &mut out);
        let _ = crlf.finish(&mut out);
    }
    let mut add = |name: &str, value: &str| {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    };
    if let Some(sender) = &policy.sender {
        add("Sender", sender);
    }
    if !headers.has("Date") {
        add("Date", &policy.date);
    }
    if !headers.has("From") {
        add("From", &format_mailbox(&policy.from));
    }
    if let Some(id) = &policy.message_id {
        if !headers.has("Message-ID") {
            add("Message-ID", id);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// A mailbox as a header value: the display name quoted, or encoded
/// (RFC 2047) when it is not ASCII.
pub fn format_mailbox(m: &Mailbox) -> String {
    let Some(name) = m.name.as_deref().filter(|n| !n.trim().is_empty()) else {
        return m.addr.clone();
    };
    let name = if !name.is_ascii() {
        use base64::Engine;
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(name.as_bytes())
        )
    } else if name
        .chars()
        .any(|c| "()<>[]:;@\\,.\"".contains(c) || c.is_ascii_control())
    {
        format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        name.to_string()
    };
    format!("{name} <{}>", m.addr)
}

/// Reject text that would break out of a header or an SMTP command line.
pub fn check_header_text(what: &str, text: &str) -> Result<(), Failure> {
    if text.chars().any(|c| c.is_control()) {
        return Err(Failure::new(
            USAGE,
            format!("{what} contains a control character (CR, LF, NUL or similar): {text:?}"),
        ));
    }
    Ok(())
}

/// Writes bytes with every line end (CRLF, bare LF, bare CR) made `form`
/// ([`Normaliser`]), noting the size, 8-bit bytes and NUL bytes.
struct NormWriter<W: Write> {
    inner: W,
    machine: Normaliser,
    eight_bit: bool,
}

impl<W: Write> NormWriter<W> {
    fn new(inner: W, form: LineEnds) -> Self {
        NormWriter {
            inner,
            machine: Normaliser::new(form).watching_nul(),
            eight_bit: false,
        }
    }

    /// End the data with a line end if it does not have one.
    fn finish(&mut self) -> io::Result<()> {
        self.machine.finish(&mut self.inner)
    }

    /// The size of the CRLF form of what was written.
    fn crlf_size(&self) -> u64 {
        match self.machine.form() {
            LineEnds::Crlf => self.machine.written,
            LineEnds::Lf => self.machine.written + self.machine.lines,
        }
    }
}

impl<W: Write> Write for NormWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.eight_bit && !buf.is_ascii() {
            self.eight_bit = true;
        }
        self.machine.feed(buf, &mut self.inner)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Bodies up to this size stay in memory; a larger message spills to an
/// anonymous temporary file as it passes this size (so memory stays
/// bounded whatever the message's size, and a small message costs no file).
pub const SPOOL_MEMORY_LIMIT: usize = 256 * 1024;

/// Where the stored message lives.
#[derive(Debug)]
enum Store {
    Memory(Vec<u8>),
    File(File),
}

/// The writing end of the spool: memory up to `limit`, then a temporary
/// file (what was in memory is moved there and freed).
enum Sink {
    Memory(Vec<u8>, usize),
    File(BufWriter<File>),
}

impl Sink {
    fn into_store(self) -> io::Result<Store> {
        match self {
            Sink::Memory(v, _) => Ok(Store::Memory(v)),
            Sink::File(w) => w.into_inner().map(Store::File).map_err(|e| e.into_error()),
        }
    }
}

/// The spool file could not be created (a condition, such as a full or
/// missing temporary directory, that a later attempt may not meet).
#[derive(Debug)]
struct NoTempFile(io::Error);

impl std::fmt::Display for NoTempFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot create a temporary file for the message in {}: {}",
            std::env::temp_dir().display(),
            self.0
        )
    }
}

impl std::error::Error for NoTempFile {}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Sink::Memory(v, limit) = self {
            if v.len() + buf.len() <= *limit {
                v.extend_from_slice(buf);
                return Ok(buf.len());
            }
            let file = tempfile::tempfile().map_err(|e| io::Error::other(NoTempFile(e)))?;
            let mut w = BufWriter::with_capacity(64 * 1024, file);
            w.write_all(v)?;
            *self = Sink::File(w);
        }
        match self {
            Sink::File(w) => w.write(buf),
            Sink::Memory(..) => Ok(0),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::File(w) => w.flush(),
            Sink::Memory(..) => Ok(()),
        }
    }
}

/// The form to store a message in: that of the first line end of its
/// body (the head, rendered by us, is always CRLF). CRLF when unknown.
fn choose_line_ends(body: &[u8]) -> LineEnds {
    match memchr::memchr2(b'\r', b'\n', body).map(|k| body[k]) {
        Some(b'\n') => LineEnds::Lf,
        _ => LineEnds::Crlf,
    }
}

/// The normalised message: in memory when small, else in an anonymous
/// temporary file (deleted when dropped, and by the kernel if the process
/// dies). It can be read any number of times, with CRLF line ends (SMTP,
/// the queue) or LF line ends (the MDA).
#[derive(Debug)]
pub struct Spool {
    store: Store,
    form: LineEnds,
    /// Size in bytes, CRLF line ends.
    pub size: u64,
    /// The message holds bytes >= 0x80.
    pub eight_bit: bool,
}

impl Spool {
    /// Write `head` (already rendered), then the body: `body_prefix` and the
    /// rest of `input`, normalised to CRLF with a final line end.
    pub fn write(head: &[u8], body_prefix: &[u8], input: &mut dyn Read) -> Result<Spool, Failure> {
        Self::write_with(head, body_prefix, input, None, SPOOL_MEMORY_LIMIT)
    }

    /// [`Spool::write`] with the stored form forced (else chosen from the
    /// body) and the memory limit given.
    pub fn write_with(
        head: &[u8],
        body_prefix: &[u8],
        input: &mut dyn Read,
        form: Option<LineEnds>,
        memory_limit: usize,
    ) -> Result<Spool, Failure> {
        let read_err =
            |e: io::Error| Failure::new(SOFTWARE, format!("cannot read the message: {e}"));
        let io_err = |e: io::Error| {
            if e.get_ref().is_some_and(|i| i.is::<NoTempFile>()) {
                Failure::new(TEMPFAIL, e.to_string())
            } else {
                Failure::new(TEMPFAIL, format!("cannot spool the message: {e}"))
            }
        };
        // A small first buffer (most messages are small: zeroing 64 KiB
        // costs more than reading them), grown once the input fills it.
        let mut buf = vec![0u8; 8 * 1024];
        let mut first = 0;
        if body_prefix.is_empty() {
            first = read_some(input, &mut buf).map_err(read_err)?;
        }
        let form = form.unwrap_or_else(|| {
            choose_line_ends(if body_prefix.is_empty() {
                &buf[..first]
            } else {
                body_prefix
            })
        });
        // The head, what is already read, then the rest of the input into
        // `out`: the same loop for the CRLF and the LF writer. The buffer
        // grows once the input fills it.
        let mut pump = |out: &mut dyn Write| -> Result<(), Failure> {
            out.write_all(head).map_err(io_err)?;
            out.write_all(body_prefix).map_err(io_err)?;
            let mut n = first;
            loop {
                out.write_all(&buf[..n]).map_err(io_err)?;
                if n == buf.len() && buf.len() < 64 * 1024 {
                    buf.resize(64 * 1024, 0);
                }
                n = read_some(input, &mut buf).map_err(read_err)?;
                if n == 0 {
                    return Ok(());
                }
            }
        };
        let sink = Sink::Memory(Vec::new(), memory_limit);
        let mut out = NormWriter::new(sink, form);
        pump(&mut out)?;
        out.finish().map_err(io_err)?;
        let (size, eight_bit, nul) = (out.crlf_size(), out.eight_bit, out.machine.nul);
        let sink = out.inner;
        if nul {
            return Err(nul_refused());
        }
        let store = sink.into_store().map_err(io_err)?;
        Ok(Spool {
            store,
            form,
            size,
            eight_bit,
        })
    }

    /// The form the message is stored in.
    pub fn line_ends(&self) -> LineEnds {
        self.form
    }

    /// True when the message spilled to a temporary file.
    pub fn on_disk(&self) -> bool {
        matches!(self.store, Store::File(_))
    }

    /// The message as stored.
    fn stored(&self) -> Stored<'_> {
        match &self.store {
            Store::Memory(v) => Stored::Memory(v),
            Store::File(f) => Stored::File(io::BufReader::with_capacity(
                64 * 1024,
                ReadAt { file: f, pos: 0 },
            )),
        }
    }

    /// The message as stored, for the SMTP transport: its dot-stuffing
    /// ([`Stuffer`]) makes every line end CRLF on the way, so a message
    /// stored with LF line ends is converted in that one pass.
    pub fn wire(&self) -> SpoolReader<'_> {
        SpoolReader::Plain(self.stored())
    }

    /// The message with CRLF line ends (for SMTP and the queue).
    pub fn crlf(&self) -> SpoolReader<'_> {
        match self.form {
            LineEnds::Crlf => SpoolReader::Plain(self.stored()),
            LineEnds::Lf => SpoolReader::ToCrlf(CrlfReader::new(self.stored())),
        }
    }

    /// The message with LF line ends (for the MDA).
    pub fn lf(&self) -> SpoolReader<'_> {
        match self.form {
            LineEnds::Lf => SpoolReader::Plain(self.stored()),
            LineEnds::Crlf => SpoolReader::ToLf(LfReader::new(self.stored())),
        }
    }

    /// Write the LF view to `out` (the MDA's pipe). A message stored in LF
    /// form is written as it is: from memory in one piece, from the spool
    /// file by `sendfile(2)` (the kernel moves the pages; std's `io::copy`
    /// does not do this for a file into a pipe and falls back to 8 KiB
    /// reads and writes).
    pub fn write_lf<W: Write + AsFd>(&self, out: &mut W) -> io::Result<u64> {
        match (&self.store, self.form) {
            (Store::Memory(v), LineEnds::Lf) => {
                out.write_all(v)?;
                Ok(v.len() as u64)
            }
            (Store::File(file), LineEnds::Lf) => match sendfile_all(file, out.as_fd())? {
                Some(n) => Ok(n),
                None => io::copy(&mut self.lf(), out),
            },
            _ => io::copy(&mut self.lf(), out),
        }
    }
}

/// Copy all of `file` (from its start; its own offset is not moved) to
/// `out` with `sendfile(2)`. `None` when the kernel cannot do it for these
/// descriptors and nothing was written (the caller copies in user space).
fn sendfile_all(file: &File, out: BorrowedFd<'_>) -> io::Result<Option<u64>> {
    use nix::libc;
    let mut offset: libc::off_t = 0;
    loop {
        // SAFETY: both descriptors are open for the duration of the call
        // (borrowed), and `offset` is a valid off_t the kernel updates.
        let n =
            unsafe { libc::sendfile(out.as_raw_fd(), file.as_raw_fd(), &mut offset, 0x4000_0000) };
        if n > 0 {
            continue;
        }
        if n == 0 {
            return Ok(Some(offset as u64));
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EINVAL | libc::ENOSYS | libc::EPERM) if offset == 0 => return Ok(None),
            _ => return Err(e),
        }
    }
}

/// Why a message with a NUL byte is refused.
fn nul_refused() -> Failure {
    Failure::new(
        DATAERR,
        "the message contains a NUL byte, which mail cannot carry",
    )
}

/// The bytes left to read from standard input when it is a regular file
/// (`input` is the buffered reader on it, whose buffer counts as unread);
/// `None` for a pipe, a terminal or a socket.
///
/// Such input can be sent as it is read ([`Checked`]) instead of being
/// copied to a spool first: all of it is already there, so reading it
/// cannot hold a connection open while a slow writer (a cron job's output)
/// trickles in, and the time the copy takes (about 15 ms for 20 MB) is not
/// spent while the server waits.
pub fn stdin_file_remaining(input: &mut dyn BufRead) -> Option<u64> {
    use nix::sys::stat::{fstat, SFlag};
    use nix::unistd::{lseek, Whence};
    let stdin = io::stdin();
    let st = fstat(stdin.as_fd()).ok()?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
        return None;
    }
    let buffered = input.fill_buf().ok()?.len() as u64;
    let pos = lseek(stdin.as_fd(), 0, Whence::SeekCur).ok()?;
    Some((st.st_size as u64).saturating_sub(pos as u64) + buffered)
}

/// A message read while it is sent: each chunk is checked on its way
/// through. A NUL byte ends the reading with an error that carries the
/// [`Failure`] (the transport then drops the connection before the
/// end-of-data marker, so nothing is delivered). Line ends are left to the
/// transport, which makes them CRLF as it dot-stuffs.
pub struct Checked<R: Read>(pub R);

impl<R: Read> Read for Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.0.read(buf)?;
        if memchr::memchr(0, &buf[..n]).is_some() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, nul_refused()));
        }
        Ok(n)
    }
}

/// Read into `buf`, retrying when interrupted; 0 at the end.
fn read_some(input: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match input.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// The stored message, buffered.
pub enum Stored<'a> {
    Memory(&'a [u8]),
    File(io::BufReader<ReadAt<'a>>),
}

impl Read for Stored<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stored::Memory(s) => s.read(buf),
            Stored::File(r) => r.read(buf),
        }
    }
}

impl BufRead for Stored<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match self {
            Stored::Memory(s) => Ok(s),
            Stored::File(r) => r.fill_buf(),
        }
    }
    fn consume(&mut self, n: usize) {
        match self {
            Stored::Memory(s) => s.consume(n),
            Stored::File(r) => r.consume(n),
        }
    }
}

/// One view of the spool: as stored, or converted on the way out.
pub enum SpoolReader<'a> {
    Plain(Stored<'a>),
    ToCrlf(CrlfReader<Stored<'a>>),
    ToLf(LfReader<Stored<'a>>),
}

impl Read for SpoolReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            SpoolReader::Plain(r) => r.read(buf),
            SpoolReader::ToCrlf(r) => r.read(buf),
            SpoolReader::ToLf(r) => r.read(buf),
        }
    }
}

/// Reads a file from the start without moving the file's own offset.
pub struct ReadAt<'a> {
    file: &'a File,
    pos: u64,
}

impl Read for ReadAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// The CRLF view of a message: every line end (LF, bare CR, CRLF) made
/// CRLF.
pub struct CrlfReader<R: BufRead>(line_ends::Reader<R>);

impl<R: BufRead> CrlfReader<R> {
    pub fn new(inner: R) -> Self {
        CrlfReader(line_ends::Reader::new(inner, LineEnds::Crlf))
    }
}

impl<R: BufRead> Read for CrlfReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.0.read(out)
    }
}

/// The LF view of a message: every line end (CRLF, bare CR, LF) made LF.
pub struct LfReader<R: BufRead>(line_ends::Reader<R>);

impl<R: BufRead> LfReader<R> {
    pub fn new(inner: R) -> Self {
        LfReader(line_ends::Reader::new(inner, LineEnds::Lf))
    }
}

impl<R: BufRead> Read for LfReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.0.read(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(input: &[u8]) -> (Headers, Vec<u8>) {
        let mut r = io::BufReader::new(input);
        let h = read_headers(&mut r).unwrap();
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).unwrap();
        (h, rest)
    }

    fn policy() -> HeaderPolicy {
        HeaderPolicy {
            remove_bcc: false,
            sender: None,
            date: "Thu, 1 Jan 2026 00:00:00 +0000".into(),
            from: Mailbox {
                name: None,
                addr: "me@example.org".into(),
            },
            message_id: Some("<1@h>".into()),
        }
    }

    #[test]
    fn header_block_ends_at_the_empty_line() {
        let (h, rest) = headers(b"Subject: a\n b\nTo: x@y\n\nbody\n");
        assert_eq!(h.fields.len(), 2);
        assert_eq!(h.fields[0].raw(), b"Subject: a\n b\n");
        assert!(h.body_prefix.is_empty());
        assert_eq!(rest, b"body\n");
    }

    #[test]
    fn a_non_header_line_starts_the_body() {
        let (h, rest) = headers(b"hello world\nmore\n");
        assert!(h.fields.is_empty());
        assert_eq!(h.body_prefix, b"hello world\n");
        assert_eq!(rest, b"more\n");
        let (h, _) = headers(b"Subject: x\nnot a header\n");
        assert_eq!(h.fields.len(), 1);
        assert_eq!(h.body_prefix, b"not a header\n");
    }

    #[test]
    fn a_bare_cr_ends_a_header_line_as_it_ends_a_line_on_the_wire() {
        // What the server sees as header lines is what was read as such:
        // a Bcc: hidden behind a bare CR is a field (removed with -t).
        let (h, rest) = headers(b"Subject: x\rBcc: hidden@x.org\r\n folded\rTo: a@b\r\rbody\r");
        let raw: Vec<&[u8]> = h.fields.iter().map(Field::raw).collect();
        assert_eq!(
            raw,
            [
                &b"Subject: x\r"[..],
                b"Bcc: hidden@x.org\r\n folded\r",
                b"To: a@b\r"
            ]
        );
        assert_eq!(rest, b"body\r");
        let mut p = policy();
        p.remove_bcc = true;
        let out = render_headers(&h, &p);
        assert!(
            out.starts_with(b"Subject: x\r\nTo: a@b\r\nDate: "),
            "{out:?}"
        );
        // The same across buffer boundaries of every size.
        let input = b"A: 1\rB: 2\r\n\t3\nC: 4\r\rbody";
        for cap in 1..8 {
            let mut r = io::BufReader::with_capacity(cap, &input[..]);
            let h = read_headers(&mut r).unwrap();
            assert_eq!(h.fields.len(), 3, "capacity {cap}");
            assert_eq!(h.fields[1].raw(), b"B: 2\r\n\t3\n");
            let mut rest = Vec::new();
            r.read_to_end(&mut rest).unwrap();
            assert_eq!(rest, b"body", "capacity {cap}");
        }
    }

    #[test]
    fn a_leading_mbox_from_line_is_dropped() {
        let (h, rest) =
            headers(b"From me@x.org Thu Jan  1 00:00:00 2026\nSubject: a\n\nFrom here\n");
        assert_eq!(h.fields.len(), 1);
        assert_eq!(rest, b"From here\n");
    }

    proptest::proptest! {
        #[test]
        fn spool_views_agree(input in proptest::collection::vec(
            proptest::sample::select(vec![b'a', b'\r', b'\n', b'.', 0xe9]), 0..200)) {
            let s = Spool::write(b"", b"", &mut &input[..]).unwrap();
            let mut crlf = Vec::new();
            s.crlf().read_to_end(&mut crlf).unwrap();
            let mut lf = Vec::new();
            s.lf().read_to_end(&mut lf).unwrap();
            // Every CR and LF on the wire is part of a CRLF; the size is exact.
            for (i, &b) in crlf.iter().enumerate() {
                match b {
                    b'\n' => proptest::prop_assert!(i > 0 && crlf[i - 1] == b'\r'),
                    b'\r' => proptest::prop_assert_eq!(crlf.get(i + 1), Some(&b'\n')),
                    _ => {}
                }
            }
            proptest::prop_assert!(!lf.contains(&b'\r'));
            proptest::prop_assert_eq!(s.size, crlf.len() as u64);
            // The LF view is the wire form with each CRLF made LF.
            let mut expect = Vec::new();
            let mut i = 0;
            while i < crlf.len() {
                if crlf[i] == b'\r' && crlf.get(i + 1) == Some(&b'\n') {
                    i += 1;
                    continue;
                }
                expect.push(crlf[i]);
                i += 1;
            }
            proptest::prop_assert_eq!(&lf, &expect);
            // Nothing but line ends changed, and the message ends in one.
            let strip = |v: &[u8]| v.iter().copied().filter(|&b| b != b'\r' && b != b'\n').collect::<Vec<_>>();
            proptest::prop_assert_eq!(strip(&crlf), strip(&input));
            proptest::prop_assert!(crlf.is_empty() || crlf.ends_with(b"\n"));
            proptest::prop_assert_eq!(s.eight_bit, input.contains(&0xe9));
        }
    }

    #[test]
    fn headers_only_and_empty() {
        let (h, _) = headers(b"Subject: x");
        assert_eq!(h.fields[0].raw(), b"Subject: x");
        let (h, _) = headers(b"");
        assert!(h.fields.is_empty() && h.body_prefix.is_empty());
    }

    #[test]
    fn a_huge_mbox_from_line_is_refused_too() {
        // Found while writing the header fuzz target: a "From " line counted past the limit made
        // the next read's limit wrap around (a panic with overflow checks).
        for extra in [0, 1, 100] {
            let mut big = b"From ".to_vec();
            big.extend(std::iter::repeat_n(b'x', MAX_HEADER_BYTES + extra));
            big.extend_from_slice(b"\nSubject: hi\n\nbody\n");
            let err = read_headers(&mut io::BufReader::new(&big[..])).unwrap_err();
            assert_eq!(err.status, DATAERR, "{extra}");
        }
    }

    #[test]
    fn huge_header_is_refused() {
        let mut big = b"Subject: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', 2 << 20));
        let err = read_headers(&mut io::BufReader::new(&big[..])).unwrap_err();
        assert_eq!(err.status, DATAERR);
        // A huge first line that is no header is body.
        let big = vec![b'a'; 2 << 20];
        let (h, rest) = headers(&big);
        assert_eq!(h.body_prefix.len() + rest.len(), 2 << 20);
    }

    #[test]
    fn recipients_from_headers() {
        let (h, _) = headers(
            b"To: \"Doe, John\" <jd@x.org>, undisclosed:;\nCc: team: a@b.c, (c) d@e.f;\n\
              Bcc: =?UTF-8?Q?B=C3=A9a?= <bea@x.org>\nSubject: s\n\n",
        );
        assert_eq!(
            h.recipients().unwrap(),
            ["jd@x.org", "a@b.c", "d@e.f", "bea@x.org"]
        );
        let (h, _) = headers(b"To: root, Admin <admin>\ncc: \"q u\"@x.org\n\n");
        assert_eq!(h.recipients().unwrap(), ["root", "admin", "\"q u\"@x.org"]);
        let (h, _) = headers(b"From: Me <me@x.org>\n\n");
        assert_eq!(h.from().unwrap().unwrap().addr, "me@x.org");
    }

    #[test]
    fn rendering_adds_and_removes() {
        let (h, _) = headers(b"Return-Path: <x@y>\nBcc: b@c\nSender: s@t\nSubject: hi\n\n");
        let mut p = policy();
        p.remove_bcc = true;
        p.sender = Some("forced@x".into());
        let out = String::from_utf8(render_headers(&h, &p)).unwrap();
        assert_eq!(
            out,
            "Subject: hi\r\nSender: forced@x\r\nDate: Thu, 1 Jan 2026 00:00:00 +0000\r\n\
             From: me@example.org\r\nMessage-ID: <1@h>\r\n\r\n"
        );
        let (h, _) = headers(b"date: x\nFROM: a@b\nMessage-Id: <2@h>\n\n");
        let out = String::from_utf8(render_headers(&h, &policy())).unwrap();
        assert_eq!(out, "date: x\r\nFROM: a@b\r\nMessage-Id: <2@h>\r\n\r\n");
        let mut p = policy();
        p.message_id = None;
        let out = String::from_utf8(render_headers(&Headers::default(), &p)).unwrap();
        assert!(!out.contains("Message-ID"));
    }

    #[test]
    fn mailbox_formatting() {
        let m = |n: &str| Mailbox {
            name: Some(n.into()),
            addr: "a@b".into(),
        };
        assert_eq!(format_mailbox(&m("John Doe")), "John Doe <a@b>");
        assert_eq!(format_mailbox(&m("Doe, J.")), "\"Doe, J.\" <a@b>");
        assert_eq!(format_mailbox(&m("Jöhn")), "=?UTF-8?B?SsO2aG4=?= <a@b>");
    }

    fn spool(head: &[u8], prefix: &[u8], body: &[u8]) -> (Spool, Vec<u8>, Vec<u8>) {
        let s = Spool::write(head, prefix, &mut &body[..]).unwrap();
        let mut crlf = Vec::new();
        s.crlf().read_to_end(&mut crlf).unwrap();
        let mut lf = Vec::new();
        s.lf().read_to_end(&mut lf).unwrap();
        (s, crlf, lf)
    }

    #[test]
    fn spool_normalises_line_ends() {
        let (s, crlf, lf) = spool(b"A: b\r\n\r\n", b"x\n", b"y\r\nz\rw\nlast");
        assert_eq!(crlf, b"A: b\r\n\r\nx\r\ny\r\nz\r\nw\r\nlast\r\n");
        assert_eq!(lf, b"A: b\n\nx\ny\nz\nw\nlast\n");
        assert_eq!(s.size, crlf.len() as u64);
        assert!(!s.eight_bit);
        // A bare CR cannot end the data early: it is a line end.
        let (s, crlf, lf) = spool(b"", b"", b"before\r.\rMAIL FROM:<e@x>\r");
        assert_eq!(crlf, b"before\r\n.\r\nMAIL FROM:<e@x>\r\n");
        assert_eq!(lf, b"before\n.\nMAIL FROM:<e@x>\n");
        assert_eq!(s.size, crlf.len() as u64);
        let (s, _, _) = spool(b"", b"", "é\n".as_bytes());
        assert!(s.eight_bit);
        let err = Spool::write(b"", b"", &mut &b"a\0b"[..]).unwrap_err();
        assert_eq!(err.status, DATAERR);
    }

    /// The views of a message, computed the plain way: split into lines at
    /// CRLF, bare CR and bare LF; each line then ends in CRLF (or LF).
    fn reference(parts: &[&[u8]]) -> (Vec<u8>, Vec<u8>) {
        let input = parts.concat();
        let mut lines = Vec::new();
        let (mut start, mut i) = (0, 0);
        while i < input.len() {
            match input[i] {
                b'\r' | b'\n' => {
                    lines.push(&input[start..i]);
                    i += if input[i..].starts_with(b"\r\n") {
                        2
                    } else {
                        1
                    };
                    start = i;
                }
                _ => i += 1,
            }
        }
        if start < input.len() {
            lines.push(&input[start..]);
        }
        let join = |eol: &[u8]| lines.iter().flat_map(|l| [*l, eol].concat()).collect();
        (join(b"\r\n"), join(b"\n"))
    }

    fn views(s: &Spool) -> (Vec<u8>, Vec<u8>) {
        use std::io::Seek;
        let (mut crlf, mut lf) = (Vec::new(), Vec::new());
        s.crlf().read_to_end(&mut crlf).unwrap();
        s.lf().read_to_end(&mut lf).unwrap();
        // Through a file descriptor, as to the MDA.
        let mut file = tempfile::tempfile().unwrap();
        let n = s.write_lf(&mut file).unwrap();
        let mut written = Vec::new();
        file.seek(io::SeekFrom::Start(0)).unwrap();
        file.read_to_end(&mut written).unwrap();
        assert_eq!((n, &written), (lf.len() as u64, &lf));
        (crlf, lf)
    }

    proptest::proptest! {
        #[test]
        fn every_form_and_limit_gives_the_same_views(
            head in proptest::collection::vec(
                proptest::sample::select(vec![b'h', b'\r', b'\n']), 0..12),
            prefix in proptest::collection::vec(
                proptest::sample::select(vec![b'p', b'\r', b'\n']), 0..12),
            input in proptest::collection::vec(
                proptest::sample::select(vec![b'a', b'\r', b'\n', b'.', 0xe9]), 0..300),
            limit in 0usize..400,
        ) {
            let (crlf, lf) = reference(&[&head, &prefix, &input]);
            for form in [None, Some(LineEnds::Crlf), Some(LineEnds::Lf)] {
                let s = Spool::write_with(&head, &prefix, &mut &input[..], form, limit).unwrap();
                // Twice: a view never consumes the spool.
                for _ in 0..2 {
                    let (c, l) = views(&s);
                    proptest::prop_assert_eq!(&c, &crlf, "{:?} {}", form, limit);
                    proptest::prop_assert_eq!(&l, &lf, "{:?} {}", form, limit);
                }
                proptest::prop_assert_eq!(s.size, crlf.len() as u64);
                proptest::prop_assert_eq!(s.eight_bit, input.contains(&0xe9));
            }
        }
    }

    #[test]
    fn small_messages_stay_in_memory_and_large_ones_spill() {
        let head = b"Subject: s\r\n\r\n";
        for form in [LineEnds::Crlf, LineEnds::Lf] {
            let (eol, head_stored): (&[u8], usize) = match form {
                LineEnds::Crlf => (b"\r\n", head.len()),
                LineEnds::Lf => (b"\n", head.len() - 2),
            };
            // Stored: the head, "y" and a line end, a line of x, its line end.
            let limit = SPOOL_MEMORY_LIMIT;
            for stored in [limit - 1, limit, limit + 1] {
                let xs = stored - head_stored - 2 * eol.len() - 1;
                let body = [&b"y"[..], eol, &vec![b'x'; xs][..], eol].concat();
                let (crlf, lf) = reference(&[head, &body]);
                let s = Spool::write(head, b"", &mut &body[..]).unwrap();
                assert_eq!(s.line_ends(), form);
                let kept = if form == LineEnds::Crlf { &crlf } else { &lf };
                assert_eq!(kept.len(), stored);
                assert_eq!(s.on_disk(), stored > limit, "{form:?} {stored}");
                for _ in 0..2 {
                    assert_eq!(views(&s), (crlf.clone(), lf.clone()), "{form:?} {stored}");
                }
                assert_eq!(s.size, crlf.len() as u64);
            }
        }
    }

    #[test]
    fn the_first_line_end_of_the_body_chooses_the_form() {
        let s = |prefix: &[u8], body: &[u8]| {
            Spool::write(b"A: b\r\n\r\n", prefix, &mut &body[..])
                .unwrap()
                .line_ends()
        };
        assert_eq!(s(b"", b"x\ny\r\n"), LineEnds::Lf);
        assert_eq!(s(b"", b"x\r\ny\n"), LineEnds::Crlf);
        assert_eq!(s(b"", b"no line end"), LineEnds::Crlf);
        assert_eq!(s(b"", b""), LineEnds::Crlf);
        assert_eq!(s(b"first\n", b"x\r\n"), LineEnds::Lf);
        assert_eq!(s(b"first\r\n", b"x\n"), LineEnds::Crlf);
    }

    #[test]
    fn a_nul_byte_is_refused_in_every_form_and_place() {
        for form in [LineEnds::Crlf, LineEnds::Lf] {
            for limit in [0, 8, SPOOL_MEMORY_LIMIT] {
                let mut big = vec![b'a'; 100_000];
                big[99_999] = 0;
                for body in [&b"a\0b\n"[..], &big] {
                    let err =
                        Spool::write_with(b"", b"", &mut &body[..], Some(form), limit).unwrap_err();
                    assert_eq!(err.status, DATAERR);
                }
            }
        }
    }

    #[test]
    fn the_kernel_copy_to_the_mda_gives_the_lf_view() {
        let body: Vec<u8> = b"line one\nline two\r\n\rend".repeat(50_000);
        let s = Spool::write_with(
            b"A: b\r\n\r\n",
            b"",
            &mut &body[..],
            Some(LineEnds::Lf),
            1024,
        )
        .unwrap();
        assert!(s.on_disk());
        let (_, lf) = reference(&[b"A: b\r\n\r\n", &body]);
        // Into a pipe, as to the MDA, twice.
        for _ in 0..2 {
            let mut child = std::process::Command::new("cat")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let mut stdout = child.stdout.take().unwrap();
            let reader = std::thread::spawn(move || {
                let mut out = Vec::new();
                stdout.read_to_end(&mut out).unwrap();
                out
            });
            assert_eq!(s.write_lf(&mut stdin).unwrap(), lf.len() as u64);
            drop(stdin);
            assert_eq!(reader.join().unwrap(), lf);
            child.wait().unwrap();
        }
    }

    #[test]
    fn lf_reader_across_chunk_boundaries() {
        let data = b"a\r\nb\r\r\nc\r\r\r\n\r".to_vec();
        for cap in 1..8 {
            let mut r = LfReader::new(io::BufReader::with_capacity(cap, &data[..]));
            let mut out = Vec::new();
            r.read_to_end(&mut out).unwrap();
            assert_eq!(out, b"a\nb\n\nc\n\n\n\n", "capacity {cap}");
            // And with the smallest output buffers.
            let mut r = LfReader::new(io::BufReader::with_capacity(cap, &data[..]));
            let (mut out, mut one) = (Vec::new(), [0u8; 1]);
            while r.read(&mut one).unwrap() == 1 {
                out.push(one[0]);
            }
            assert_eq!(out, b"a\nb\n\nc\n\n\n\n", "capacity {cap}, 1-byte reads");
        }
    }
}
