use super::*;
use crate::exit::DATAERR;
use std::io::{self, Read};

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
    let (h, rest) = headers(b"From me@x.org Thu Jan  1 00:00:00 2026\nSubject: a\n\nFrom here\n");
    assert_eq!(h.fields.len(), 1);
    assert_eq!(rest, b"From here\n");
}

proptest::proptest! {
    #[test]
    fn spool_views_agree(input in proptest::collection::vec(
        proptest::sample::select(vec![b'a', b'\r', b'\n', b'.', 0xe9]), 0..200)) {
        let s = Spooled::write(b"", b"", &mut &input[..]).unwrap();
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

fn spool(head: &[u8], prefix: &[u8], body: &[u8]) -> (Spooled, Vec<u8>, Vec<u8>) {
    let s = Spooled::write(head, prefix, &mut &body[..]).unwrap();
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
    let err = Spooled::write(b"", b"", &mut &b"a\0b"[..]).unwrap_err();
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

fn views(s: &Spooled) -> (Vec<u8>, Vec<u8>) {
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
            let s = Spooled::write_with(&head, &prefix, &mut &input[..], form, limit).unwrap();
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
            let s = Spooled::write(head, b"", &mut &body[..]).unwrap();
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
        Spooled::write(b"A: b\r\n\r\n", prefix, &mut &body[..])
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
                    Spooled::write_with(b"", b"", &mut &body[..], Some(form), limit).unwrap_err();
                assert_eq!(err.status, DATAERR);
            }
        }
    }
}

#[test]
fn the_kernel_copy_to_the_mda_gives_the_lf_view() {
    let body: Vec<u8> = b"line one\nline two\r\n\rend".repeat(50_000);
    let s = Spooled::write_with(
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

/// RFC 6532 headers (raw UTF-8) and RFC 2047 encoded words in display
/// names: the addresses come out as written, UTF-8 intact, and a name
/// that decodes to something address-like changes nothing.
#[test]
fn utf8_headers_give_their_addresses() {
    let raw = "From: \"Müller, Jörg\" <jörg@bücher.example>\n\
               To: Jörg <jörg@bücher.example>, =?UTF-8?B?ZXZlQGV2aWwuZXhhbXBsZSwgPHg+?= <ana@例え.テスト>\n\
               Cc: =?UTF-8?Q?Ren=C3=A9_<rene@evil.example>?= <rené@example.org>, plain@xn--bcher-kva.example\n\
               Bcc: 用户@例子.广告\n\
               Subject: Grüße\n\n";
    let (h, _) = headers(raw.as_bytes());
    assert_eq!(
        h.recipients().unwrap(),
        [
            "jörg@bücher.example",
            "ana@例え.テスト",
            "rené@example.org",
            "plain@xn--bcher-kva.example",
            "用户@例子.广告"
        ]
    );
    let from = h.from().unwrap().unwrap();
    assert_eq!(from.addr, "jörg@bücher.example");
    assert_eq!(from.name.as_deref(), Some("Müller, Jörg"));
}
