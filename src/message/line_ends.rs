//! The one line-end state machine (SPEC §4, RFC 5321 §2.3.8).
//!
//! A line ends at CRLF, at a bare LF, or at a bare CR; each of them is
//! written as exactly one line end of the chosen form (CRLF for SMTP and
//! the queue, LF for the MDA), so no CR or LF ever leaves esmtp except as
//! part of a line end of that form. A bare CR kept as it is would let a
//! message end the data early on a lenient server (`\r.\r` read as the
//! end-of-data marker) and smuggle commands into the session.
//!
//! Every conversion of the message goes through [`Normaliser`]: the spool's
//! writers (headers and body), its converting views ([`Reader`]) and the
//! SMTP dot-stuffing of the body ([`Stuffer`]). State carries across
//! chunks, so where the input is cut never matters.

use std::io::{self, BufRead, Read, Write};

/// The form line ends are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEnds {
    Crlf,
    Lf,
}

impl LineEnds {
    fn bytes(self) -> &'static [u8] {
        match self {
            LineEnds::Crlf => b"\r\n",
            LineEnds::Lf => b"\n",
        }
    }
}

/// Rewrites every line end (CRLF, bare LF, bare CR) into one form, and
/// optionally dot-stuffs (a line starting with `.` gets another). Bytes
/// between line ends are copied in runs as long as possible: input already
/// in the target form is written in one piece per chunk.
///
/// Also notes, on the same pass, whether a NUL byte went through (when
/// asked to: [`Normaliser::watching_nul`]).
#[derive(Debug, Clone)]
pub struct Normaliser {
    form: LineEnds,
    stuff: bool,
    watch_nul: bool,
    /// The previous chunk ended in a CR: its line end is written, and an LF
    /// starting this chunk belongs to it.
    after_cr: bool,
    /// Something was written since the last line end.
    mid_line: bool,
    /// Bytes written.
    pub written: u64,
    /// Line ends written.
    pub lines: u64,
    /// A NUL byte went through (noted only when watching for it).
    pub nul: bool,
}

impl Normaliser {
    pub fn new(form: LineEnds) -> Self {
        Normaliser {
            form,
            stuff: false,
            watch_nul: false,
            after_cr: false,
            mid_line: false,
            written: 0,
            lines: 0,
            nul: false,
        }
    }

    /// Note NUL bytes in [`Normaliser::nul`] (a third byte to look for).
    pub fn watching_nul(self) -> Self {
        Normaliser {
            watch_nul: true,
            ..self
        }
    }

    pub fn form(&self) -> LineEnds {
        self.form
    }

    /// CRLF line ends and SMTP dot-stuffing.
    pub fn smtp() -> Self {
        Normaliser {
            stuff: true,
            ..Normaliser::new(LineEnds::Crlf)
        }
    }

    fn put<W: Write + ?Sized>(&mut self, out: &mut W, bytes: &[u8]) -> io::Result<()> {
        if !bytes.is_empty() {
            out.write_all(bytes)?;
            self.written += bytes.len() as u64;
        }
        Ok(())
    }

    /// Convert the next chunk of input into `out`.
    pub fn feed<W: Write + ?Sized>(&mut self, input: &[u8], out: &mut W) -> io::Result<()> {
        let crlf = self.form == LineEnds::Crlf;
        let eol = self.form.bytes();
        // input[start..i] is scanned and not yet written.
        let (mut start, mut i) = (0, 0);
        if input.is_empty() {
            return Ok(());
        }
        if std::mem::take(&mut self.after_cr) && input[0] == b'\n' {
            // The LF of a CRLF cut by the chunk: its line end is written.
            (start, i) = (1, 1);
        }
        if self.form == LineEnds::Lf && !self.stuff {
            // The usual input of the LF form (a Unix mail program's) has
            // no CR at all: then it is already right, and only its lines
            // need counting (vectorised, rather than one search per line).
            let rest = &input[i..];
            let clean = if self.nul || !self.watch_nul {
                memchr::memchr(b'\r', rest).is_none()
            } else {
                memchr::memchr2(b'\r', 0, rest).is_none()
            };
            if clean {
                if let Some(&last) = rest.last() {
                    self.lines += memchr::memchr_iter(b'\n', rest).count() as u64;
                    self.mid_line = last != b'\n';
                }
                return self.put(out, &input[start..]);
            }
        }
        loop {
            if self.stuff && !self.mid_line && input.get(i) == Some(&b'.') {
                self.put(out, &input[start..i])?;
                self.put(out, b".")?;
                start = i;
            }
            let rest = &input[i..];
            let found = if self.nul || !self.watch_nul {
                memchr::memchr2(b'\r', b'\n', rest)
            } else {
                memchr::memchr3(b'\r', b'\n', 0, rest)
            };
            let Some(k) = found.map(|off| i + off) else {
                if i < input.len() {
                    self.mid_line = true;
                }
                break;
            };
            match (input[k], input.get(k + 1)) {
                (0, _) => {
                    self.nul = true;
                    self.mid_line = true;
                    i = k + 1;
                    continue;
                }
                (b'\n', _) => {
                    // A bare LF.
                    if crlf {
                        self.put(out, &input[start..k])?;
                        self.put(out, eol)?;
                        start = k + 1;
                    }
                    i = k + 1;
                }
                (_, Some(b'\n')) => {
                    // CRLF.
                    if !crlf {
                        self.put(out, &input[start..k])?;
                        start = k + 1;
                    }
                    i = k + 2;
                }
                (_, next) => {
                    // A bare CR, or a CR ending the chunk (an LF starting the
                    // next one then belongs to it).
                    self.put(out, &input[start..k])?;
                    self.put(out, eol)?;
                    start = k + 1;
                    i = k + 1;
                    self.after_cr = next.is_none();
                }
            }
            self.lines += 1;
            self.mid_line = false;
        }
        self.put(out, &input[start..])
    }

    /// End the data with a line end if the last line has none.
    pub fn finish<W: Write + ?Sized>(&mut self, out: &mut W) -> io::Result<()> {
        self.after_cr = false;
        if self.mid_line {
            self.mid_line = false;
            self.lines += 1;
            let eol = self.form.bytes();
            self.put(out, eol)?;
        }
        Ok(())
    }
}

/// SMTP transparency while streaming: every line end made CRLF, a line
/// that starts with `.` gets another, and [`Stuffer::finish`] ends the data
/// with `CRLF . CRLF` (adding the CRLF only when the message lacks a final
/// line end, so no empty line is added). The only end-of-data sequence in
/// the output is the one `finish` writes.
#[derive(Debug, Clone)]
pub struct Stuffer(Normaliser);

impl Default for Stuffer {
    fn default() -> Self {
        Stuffer(Normaliser::smtp())
    }
}

impl Stuffer {
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + input.len() / 32 + 8);
        // Writing to a Vec cannot fail.
        let _ = self.0.feed(input, out);
    }

    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let _ = self.0.finish(out);
        out.extend_from_slice(b".\r\n");
    }
}

/// Reads `inner` with every line end made `form`.
pub struct Reader<R: BufRead> {
    inner: R,
    machine: Normaliser,
    /// Converted bytes not yet returned: `buf[pos..]`.
    buf: Vec<u8>,
    pos: usize,
}

impl<R: BufRead> Reader<R> {
    pub fn new(inner: R, form: LineEnds) -> Self {
        Reader {
            inner,
            machine: Normaliser::new(form),
            buf: Vec::new(),
            pos: 0,
        }
    }
}

/// Input converted per call: at most this much (the output is at most
/// twice as large).
const READER_CHUNK: usize = 64 * 1024;

impl<R: BufRead> Read for Reader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            if self.pos < self.buf.len() {
                let n = out.len().min(self.buf.len() - self.pos);
                out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            let chunk = self.inner.fill_buf()?;
            if chunk.is_empty() {
                return Ok(0);
            }
            // Straight into `out` when it holds the worst case (every byte
            // a line end that doubles), else through `buf`.
            let direct = chunk.len().min(out.len() / 2).min(READER_CHUNK);
            if direct > 0 {
                let mut rest: &mut [u8] = out;
                let room = rest.len();
                self.machine.feed(&chunk[..direct], &mut rest)?;
                let n = room - rest.len();
                self.inner.consume(direct);
                if n > 0 {
                    return Ok(n);
                }
                // Only the LF of a CRLF cut by the last chunk: go on.
                continue;
            }
            let n = chunk.len().min(READER_CHUNK);
            self.buf.clear();
            self.pos = 0;
            self.machine.feed(&chunk[..n], &mut self.buf)?;
            self.inner.consume(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(form: LineEnds, stuff: bool, chunks: &[&[u8]]) -> Vec<u8> {
        let mut m = Normaliser {
            stuff,
            ..Normaliser::new(form).watching_nul()
        };
        let mut out = Vec::new();
        for c in chunks {
            m.feed(c, &mut out).unwrap();
        }
        m.finish(&mut out).unwrap();
        assert_eq!(m.written, out.len() as u64);
        assert_eq!(m.lines, memchr::memchr_iter(b'\n', &out).count() as u64);
        assert_eq!(m.nul, chunks.iter().any(|c| c.contains(&0)));
        out
    }

    /// Every CR and LF in `v` belongs to a CRLF pair.
    fn only_crlf_pairs(v: &[u8]) -> bool {
        v.iter().enumerate().all(|(i, &b)| match b {
            b'\r' => v.get(i + 1) == Some(&b'\n'),
            b'\n' => i > 0 && v[i - 1] == b'\r',
            _ => true,
        })
    }

    #[test]
    fn every_line_end_becomes_one_of_the_form() {
        let input: &[u8] = b"a\r\nb\nc\rd\r\re\n\rf";
        assert_eq!(
            convert(LineEnds::Crlf, false, &[input]),
            b"a\r\nb\r\nc\r\nd\r\n\r\ne\r\n\r\nf\r\n"
        );
        assert_eq!(
            convert(LineEnds::Lf, false, &[input]),
            b"a\nb\nc\nd\n\ne\n\nf\n"
        );
        // A CRLF cut between chunks is one line end.
        assert_eq!(
            convert(LineEnds::Crlf, false, &[b"a\r", b"\nb"]),
            b"a\r\nb\r\n"
        );
        assert_eq!(convert(LineEnds::Lf, false, &[b"a\r", b"\nb"]), b"a\nb\n");
        // A trailing CR is the last line end.
        assert_eq!(convert(LineEnds::Crlf, false, &[b"a\r"]), b"a\r\n");
        assert_eq!(convert(LineEnds::Lf, false, &[b"a\r"]), b"a\n");
    }

    #[test]
    fn smuggled_end_of_data_is_stuffed_away() {
        for (input, expect) in [
            (
                &b"x\r.\rMAIL FROM:<e@x>\r"[..],
                &b"x\r\n..\r\nMAIL FROM:<e@x>\r\n.\r\n"[..],
            ),
            (b"x\r\n.\rY", b"x\r\n..\r\nY\r\n.\r\n"),
            (b"x\r.\r\nY", b"x\r\n..\r\nY\r\n.\r\n"),
            (b"x\n.\r\nY", b"x\r\n..\r\nY\r\n.\r\n"),
            (b"a\rb", b"a\r\nb\r\n.\r\n"),
        ] {
            let mut s = Stuffer::default();
            let mut out = Vec::new();
            s.encode(input, &mut out);
            s.finish(&mut out);
            assert_eq!(out, expect, "{input:?}");
        }
    }

    #[test]
    fn nul_is_noted() {
        let mut m = Normaliser::new(LineEnds::Crlf).watching_nul();
        let mut out = Vec::new();
        m.feed(b"a\nb", &mut out).unwrap();
        assert!(!m.nul);
        m.feed(b"c\0d\n\0", &mut out).unwrap();
        assert!(m.nul);
        assert_eq!(out, b"a\r\nbc\0d\r\n\0");
    }

    fn bytes() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            proptest::sample::select(vec![b'a', b'\r', b'\n', b'.', 0, 0xe9]),
            0..200,
        )
    }

    proptest::proptest! {
        /// Random bytes cut anywhere: only CRLF pairs (or only LFs) come
        /// out, nothing but line ends changes, and the cut does not matter.
        #[test]
        fn random_bytes_give_only_line_ends_of_the_form(input in bytes(), cut in 0usize..200) {
            let cut = cut.min(input.len());
            let (a, b) = input.split_at(cut);
            let strip = |v: &[u8]| v.iter().copied().filter(|&c| c != b'\r' && c != b'\n').collect::<Vec<_>>();
            let crlf = convert(LineEnds::Crlf, false, &[a, b]);
            proptest::prop_assert!(only_crlf_pairs(&crlf));
            proptest::prop_assert_eq!(&crlf, &convert(LineEnds::Crlf, false, &[&input]));
            proptest::prop_assert_eq!(strip(&crlf), strip(&input));
            let lf = convert(LineEnds::Lf, false, &[a, b]);
            proptest::prop_assert!(!lf.contains(&b'\r'));
            proptest::prop_assert_eq!(&lf, &convert(LineEnds::Lf, false, &[&input]));
            // The two forms are the same lines.
            proptest::prop_assert_eq!(&crlf, &convert(LineEnds::Crlf, false, &[&lf]));
            proptest::prop_assert_eq!(&lf, &convert(LineEnds::Lf, false, &[&crlf]));
        }

        /// Input without CR (the LF form's short cut), cut anywhere.
        #[test]
        fn input_without_cr_is_counted_right(
            input in proptest::collection::vec(proptest::sample::select(vec![b'a', b'\n', 0]), 0..100),
            cuts in proptest::collection::vec(0usize..100, 0..4),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(input.len())).collect();
            cuts.sort();
            let mut pieces = Vec::new();
            let mut from = 0;
            for c in cuts.into_iter().chain([input.len()]) {
                pieces.push(&input[from..c]);
                from = c;
            }
            let mut expect = input.clone();
            if expect.last().is_some_and(|&b| b != b'\n') {
                expect.push(b'\n');
            }
            proptest::prop_assert_eq!(convert(LineEnds::Lf, false, &pieces), expect);
            // After a CR that ended a chunk, too.
            let mut with_cr = vec![&b"x\r"[..]];
            with_cr.extend(pieces);
            let whole = [&b"x\r"[..], &input].concat();
            let expect = convert(LineEnds::Lf, false, &[&whole]);
            proptest::prop_assert_eq!(convert(LineEnds::Lf, false, &with_cr), expect);
        }

        /// Through the stuffer: only CRLF pairs, and the one end-of-data
        /// sequence (CRLF . CRLF, or `.` CRLF at the very start) is the last.
        #[test]
        fn the_stuffer_gives_one_end_of_data_at_the_end(input in bytes(), cuts in proptest::collection::vec(0usize..200, 0..4)) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(input.len())).collect();
            cuts.sort();
            let mut s = Stuffer::default();
            let mut out = Vec::new();
            let mut from = 0;
            for c in cuts.into_iter().chain([input.len()]) {
                s.encode(&input[from..c], &mut out);
                from = c;
            }
            s.finish(&mut out);
            proptest::prop_assert!(only_crlf_pairs(&out));
            let wire = [&b"\r\n"[..], &out].concat();
            let ends: Vec<usize> = wire.windows(5).enumerate()
                .filter(|(_, w)| *w == b"\r\n.\r\n").map(|(i, _)| i).collect();
            proptest::prop_assert_eq!(ends, vec![wire.len() - 5]);
        }

        /// A reader gives what the writer gives, whatever its buffers.
        #[test]
        fn readers_agree_with_the_machine(input in bytes(), cap in 1usize..16, out_len in 1usize..16) {
            for form in [LineEnds::Crlf, LineEnds::Lf] {
                let mut expect = Vec::new();
                Normaliser::new(form).feed(&input, &mut expect).unwrap();
                let mut r = Reader::new(io::BufReader::with_capacity(cap, &input[..]), form);
                let (mut got, mut buf) = (Vec::new(), vec![0u8; out_len]);
                loop {
                    let n = r.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
                proptest::prop_assert_eq!(&got, &expect);
            }
        }
    }
}
