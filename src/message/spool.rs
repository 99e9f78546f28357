//! The spool: the normalised message held while it is delivered (memory,
//! then an anonymous temporary file), and its CRLF and LF views.

use super::line_ends::{self, LineEnds, Normaliser};
use crate::exit::{Failure, DATAERR, SOFTWARE, TEMPFAIL};
use std::fs::File;
use std::io::{self, BufRead, BufWriter, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::FileExt;

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
enum Held {
    Memory(Vec<u8>),
    File(File),
}

/// The writing end of the spool: memory up to `limit`, then a temporary
/// file (what was in memory is moved there and freed).
enum SpillWriter {
    Memory(Vec<u8>, usize),
    File(BufWriter<File>),
}

impl SpillWriter {
    fn into_held(self) -> io::Result<Held> {
        match self {
            SpillWriter::Memory(v, _) => Ok(Held::Memory(v)),
            SpillWriter::File(w) => w.into_inner().map(Held::File).map_err(|e| e.into_error()),
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

impl Write for SpillWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let SpillWriter::Memory(v, limit) = self {
            if v.len() + buf.len() <= *limit {
                v.extend_from_slice(buf);
                return Ok(buf.len());
            }
            let file = tempfile::tempfile().map_err(|e| io::Error::other(NoTempFile(e)))?;
            let mut w = BufWriter::with_capacity(64 * 1024, file);
            w.write_all(v)?;
            *self = SpillWriter::File(w);
        }
        match self {
            SpillWriter::File(w) => w.write(buf),
            SpillWriter::Memory(..) => Ok(0),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            SpillWriter::File(w) => w.flush(),
            SpillWriter::Memory(..) => Ok(()),
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
pub struct Spooled {
    held: Held,
    form: LineEnds,
    /// Size in bytes, CRLF line ends.
    pub size: u64,
    /// The message holds bytes >= 0x80.
    pub eight_bit: bool,
}

impl Spooled {
    /// Write `head` (already rendered), then the body: `body_prefix` and the
    /// rest of `input`, normalised to CRLF with a final line end.
    pub fn write(
        head: &[u8],
        body_prefix: &[u8],
        input: &mut dyn Read,
    ) -> Result<Spooled, Failure> {
        Self::write_with(head, body_prefix, input, None, SPOOL_MEMORY_LIMIT)
    }

    /// [`Spooled::write`] with the stored form forced (else chosen from the
    /// body) and the memory limit given.
    pub fn write_with(
        head: &[u8],
        body_prefix: &[u8],
        input: &mut dyn Read,
        form: Option<LineEnds>,
        memory_limit: usize,
    ) -> Result<Spooled, Failure> {
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
        let mut copy_input = |out: &mut dyn Write| -> Result<(), Failure> {
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
        let spill = SpillWriter::Memory(Vec::new(), memory_limit);
        let mut out = NormWriter::new(spill, form);
        copy_input(&mut out)?;
        out.finish().map_err(io_err)?;
        let (size, eight_bit, nul) = (out.crlf_size(), out.eight_bit, out.machine.nul);
        let spill = out.inner;
        if nul {
            return Err(nul_refused());
        }
        let held = spill.into_held().map_err(io_err)?;
        Ok(Spooled {
            held,
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
        matches!(self.held, Held::File(_))
    }

    /// The message as stored.
    fn stored(&self) -> StoredReader<'_> {
        match &self.held {
            Held::Memory(v) => StoredReader::Memory(v),
            Held::File(f) => StoredReader::File(io::BufReader::with_capacity(
                64 * 1024,
                ReadAt { file: f, pos: 0 },
            )),
        }
    }

    /// The message as stored, for the SMTP transport: its dot-stuffing
    /// ([`Stuffer`]) makes every line end CRLF on the way, so a message
    /// stored with LF line ends is converted in that one pass.
    pub fn wire(&self) -> SpooledReader<'_> {
        SpooledReader::Plain(self.stored())
    }

    /// The message with CRLF line ends (for SMTP and the queue).
    pub fn crlf(&self) -> SpooledReader<'_> {
        match self.form {
            LineEnds::Crlf => SpooledReader::Plain(self.stored()),
            LineEnds::Lf => SpooledReader::ToCrlf(CrlfReader::new(self.stored())),
        }
    }

    /// The message with LF line ends (for the MDA).
    pub fn lf(&self) -> SpooledReader<'_> {
        match self.form {
            LineEnds::Lf => SpooledReader::Plain(self.stored()),
            LineEnds::Crlf => SpooledReader::ToLf(LfReader::new(self.stored())),
        }
    }

    /// Write the LF view to `out` (the MDA's pipe). A message stored in LF
    /// form is written as it is: from memory in one piece, from the spool
    /// file by `sendfile(2)` (the kernel moves the pages; std's `io::copy`
    /// does not do this for a file into a pipe and falls back to 8 KiB
    /// reads and writes).
    pub fn write_lf<W: Write + AsFd>(&self, out: &mut W) -> io::Result<u64> {
        match (&self.held, self.form) {
            (Held::Memory(v), LineEnds::Lf) => {
                out.write_all(v)?;
                Ok(v.len() as u64)
            }
            (Held::File(file), LineEnds::Lf) => match sendfile_all(file, out.as_fd())? {
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
/// Such input can be sent as it is read ([`NulChecked`]) instead of being
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
pub struct NulChecked<R: Read>(pub R);

impl<R: Read> Read for NulChecked<R> {
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
pub enum StoredReader<'a> {
    Memory(&'a [u8]),
    File(io::BufReader<ReadAt<'a>>),
}

impl Read for StoredReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            StoredReader::Memory(s) => s.read(buf),
            StoredReader::File(r) => r.read(buf),
        }
    }
}

impl BufRead for StoredReader<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match self {
            StoredReader::Memory(s) => Ok(s),
            StoredReader::File(r) => r.fill_buf(),
        }
    }
    fn consume(&mut self, n: usize) {
        match self {
            StoredReader::Memory(s) => s.consume(n),
            StoredReader::File(r) => r.consume(n),
        }
    }
}

/// One view of the spool: as stored, or converted on the way out.
pub enum SpooledReader<'a> {
    Plain(StoredReader<'a>),
    ToCrlf(CrlfReader<StoredReader<'a>>),
    ToLf(LfReader<StoredReader<'a>>),
}

impl Read for SpooledReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            SpooledReader::Plain(r) => r.read(buf),
            SpooledReader::ToCrlf(r) => r.read(buf),
            SpooledReader::ToLf(r) => r.read(buf),
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
