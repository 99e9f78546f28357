//! The fuzz targets: one function per parser of untrusted bytes.
//!
//! Each takes the fuzzer's bytes and must return without panicking, in
//! bounded time and memory, whatever they are; where a parser promises
//! more (a round trip, a bound), the target checks that too. The binaries
//! in `fuzz_targets/` hand each function to libFuzzer; `tests/it/fuzz/corpus.rs`
//! (in `cargo test`) replays every file of `corpus/<target>/` and
//! `artifacts/<target>/` through the same functions without the fuzzer.
//! See ARCHITECTURE.md ("Fuzzing") for how to run them.

use esmtp::address;
use esmtp::config::{self, Options};
use esmtp::message::Mailbox;
use esmtp::message::{self, HeaderPolicy};
use esmtp::plan::Plan;
use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::OsStringExt;
use std::sync::OnceLock;

/// A target: the fuzzer's bytes in, a panic on any failure.
pub type Target = fn(&[u8]);

/// Every target by name (the name of its binary and corpus directory).
pub const TARGETS: &[(&str, Target)] = &[
    ("config", config),
    ("cache", cache),
    ("queue", queue),
    ("reply", reply),
    ("headers", headers),
    ("addresses", addresses),
    ("getopt", getopt),
    ("legacy", legacy),
    ("scram", scram),
    ("http", http),
];

/// The configuration compiler (`esmtprc` bytes): compile with every lint
/// on, render the diagnostics in every format `check` has, and dump the
/// plan; a plan must come back unchanged through the cache's encoding.
pub fn config(data: &[u8]) {
    let options = Options {
        compat: true,
        lint_programs: false,
        file_mode: Some(0o644),
        system_file: false,
        client_certs: None,
    };
    let c = config::compile("fuzz.esmtprc", data, &options);
    let _ = config::diag::render_human(&c.name, &c.text, &c.diagnostics);
    let _ = config::diag::render_short(&c.name, &c.text, &c.diagnostics);
    let _ = config::diag::render_github(&c.name, &c.text, &c.diagnostics);
    let _ = config::diag::to_json(&c.text, &c.diagnostics);
    let _ = c.render_errors();
    for d in &c.diagnostics {
        let _ = config::codes::explain(d.code.as_str());
    }
    if let Some(plan) = &c.plan {
        let _ = config::dump::text(&c.name, plan);
        let _ = config::dump::json(plan);
        round_trip(plan);
    }
}

/// A plan encoded as the cache writes it decodes to the same plan.
fn round_trip(plan: &Plan) {
    let Ok(bytes) = esmtp::cache::fuzzing::encode(plan) else {
        return;
    };
    match esmtp::cache::fuzzing::decode(&bytes, None) {
        Ok(back) => assert_eq!(&back, plan, "the cache changed the plan"),
        Err(e) => panic!("the cache cannot read back what it wrote: {e}"),
    }
}

/// The compiled plan decoder (a cache file's bytes): as they are, then
/// with every check recomputed so that the decoders behind the checks see
/// the mutated bytes. A plan that decodes must survive a round trip.
pub fn cache(data: &[u8]) {
    use esmtp::cache::fuzzing::{decode, reseal};
    let _ = decode(data, Some("b@y.org"));
    let mut sealed = data.to_vec();
    reseal(&mut sealed);
    if let Ok(plan) = decode(&sealed, Some("Someone <A@X.ORG>")) {
        round_trip(&plan);
    }
}

/// The queue entry decoder (`msg/ID`: the "ESMTPQ1" line and the JSON
/// metadata line) and the `.state` JSON.
pub fn queue(data: &[u8]) {
    use esmtp::queue::store::{decode_header, DeliveryHistory, Meta};
    let len = data.len() as u64;
    if let Ok((meta, offset)) = decode_header(&mut &data[..], len) {
        assert_eq!(offset.checked_add(meta.size), Some(len), "size not checked");
    }
    let _ = serde_json::from_slice::<DeliveryHistory>(data);
    let _ = serde_json::from_slice::<Meta>(data);
}

/// The SMTP reply reader: a whole session's replies from a hostile server.
pub fn reply(data: &[u8]) {
    esmtp::transport::fuzzing::replies(data);
}

/// The header scanner (a message on standard input): the header block, the
/// addresses `-t` and the identity selection read from it, the rendered
/// header block and the normalised spool.
pub fn headers(data: &[u8]) {
    let mut input = data;
    let Ok(headers) = message::read_headers(&mut input) else {
        return;
    };
    let _ = headers.recipients();
    let _ = headers.from();
    let policy = HeaderPolicy {
        remove_bcc: true,
        sender: Some("Sender <s@example.org>".into()),
        date: "Thu, 1 Jan 1970 00:00:00 +0000".into(),
        from: Mailbox::new("user@example.org"),
        message_id: Some("<1@example.org>".into()),
    };
    let head = message::render_headers(&headers, &policy);
    assert!(crlf_only(&head), "a rendered header has a bare LF");
    let Ok(spool) = message::Spooled::write(&head, &headers.body_prefix, &mut input) else {
        return;
    };
    let mut crlf = Vec::new();
    let _ = spool.crlf().read_to_end(&mut crlf);
    assert!(crlf_only(&crlf), "the CRLF view has a bare LF");
    assert_eq!(spool.size, crlf.len() as u64, "size is not the CRLF size");
    let mut lf = Vec::new();
    let _ = spool.lf().read_to_end(&mut lf);
}

/// Every LF is preceded by CR.
fn crlf_only(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .enumerate()
        .all(|(i, &b)| b != b'\n' || (i > 0 && bytes[i - 1] == b'\r'))
}

/// Address lists (`-t` headers, recipient operands, `-f`).
pub fn addresses(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(list) = message::parse_address_list(text) {
        for m in &list {
            let _ = message::format_mailbox(m);
            international(&m.addr);
        }
        for pair in list.windows(2) {
            let (a, b) = (&pair[0].addr, &pair[1].addr);
            let same = address::same(a, b);
            assert_eq!(same, address::normalized(a) == address::normalized(b));
            if same {
                assert_eq!(address::index_key(a), address::index_key(b));
            }
        }
    }
    international(text);
    let _ = esmtp::cli::parse_recipient_arg(text);
    let _ = esmtp::cli::parse_sender(text);
}

/// The conversion of an address for a server without SMTPUTF8 (IDNA):
/// what it gives is ASCII and the same address; an address routing
/// accepts always has an ASCII domain.
fn international(addr: &str) {
    use esmtp::address;
    match address::ascii_address(addr) {
        Ok(ascii) => {
            assert!(ascii.is_ascii(), "{addr:?} -> {ascii:?}");
            assert!(address::same(addr, &ascii), "{addr:?} -> {ascii:?}");
            assert_eq!(address::index_key(addr), address::index_key(&ascii));
        }
        Err(address::NotAscii::LocalPart) => assert!(!addr.is_ascii()),
        Err(address::NotAscii::Domain(_)) => {
            assert!(esmtp::route::check_remote(addr).is_err(), "{addr:?}")
        }
    }
}

/// The command line: NUL-separated arguments, the first one argv[0]
/// (`sendmail`, `mailq`, `esmtp`, ...), through the getopt pre-pass and
/// the whole parser.
pub fn getopt(data: &[u8]) {
    let mut argv: Vec<OsString> = data
        .split(|&b| b == 0)
        .map(|a| OsString::from_vec(a.to_vec()))
        .collect();
    if argv.len() > 1 {
        let name = argv[0].to_string_lossy().into_owned();
        let _ = esmtp::cli::getopt::canonicalize(&name, &argv[1..]);
    }
    if argv.first().is_some_and(|a| a.is_empty()) {
        argv[0] = "sendmail".into();
    }
    let _ = esmtp::cli::parse(argv);
}

/// An esmtp-wrapper queue entry: the `cmd` file (first line: the stored
/// sendmail arguments) and the `mail` file (the rest), made ready as a
/// flush imports it (arguments, headers, routing, spool).
pub fn legacy(data: &[u8]) {
    let (cmd, mail) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    // The import reads `cmd` as text (read_to_string).
    let Ok(cmd) = std::str::from_utf8(cmd) else {
        return;
    };
    let _ = esmtp::queue::legacy::wrapper_entry(
        legacy_plan(),
        cmd,
        mail,
        esmtp::cli::convert_wrapper_entry,
    );
}

/// Two identities, a local MDA, a forced sender and a qualify domain: the
/// routing and header rules all have something to do.
fn legacy_plan() -> &'static Plan {
    static PLAN: OnceLock<Plan> = OnceLock::new();
    PLAN.get_or_init(|| {
        let rc = b"identity a@example.org\n  hostname mx.example.org:587\n  qualifydomain example.org\n  default\n\
identity b@example.net\n  hostname mx.example.net\n  force sender \"B <b@example.net>\"\n\
mda \"/usr/bin/procmail -d %T\"\n";
        let c = config::compile("legacy.esmtprc", rc, &Options::default());
        match c.plan {
            Some(plan) => plan,
            None => panic!("the fuzz plan does not compile: {}", c.render_errors()),
        }
    })
}

/// The SCRAM client: a hostile server's first and final messages.
pub fn scram(data: &[u8]) {
    esmtp::transport::fuzzing::scram(data);
}

/// The OAuth 2 client's HTTP answers, every byte from a hostile token
/// endpoint: the framing of the answer (length, chunks, the end of the
/// connection) and where the client stops reading it, the JSON made of the
/// body (grants, refusals, device answers), the same bytes as a stored
/// token file, and as an endpoint's URL.
pub fn http(data: &[u8]) {
    use esmtp::transport::oauth::http::{complete, parse_response, MAX_ANSWER};
    let whole = parse_response(data);
    if let Some((status, body)) = &whole {
        assert!(
            body.len() <= data.len(),
            "the body is larger than the answer"
        );
        json_answers(*status, body);
    }
    // As the client reads: it stops at the first complete prefix, which
    // must read as the whole would (at most 256 prefixes: bounded time).
    if data.len() <= MAX_ANSWER {
        let step = (data.len() / 256).max(1);
        let mut end = step.min(data.len());
        while end < data.len() {
            if complete(&data[..end]) {
                assert_eq!(
                    parse_response(&data[..end]),
                    whole,
                    "the client stops reading at {end} and reads another answer"
                );
                break;
            }
            end += step;
        }
    }
    if complete(data) {
        assert!(whole.is_some(), "a complete answer that does not parse");
    }
    framed(data);
    for status in [200, 400, 401, 429, 503] {
        json_answers(status, data);
    }
    stored_file(data);
    if let Ok(url) = std::str::from_utf8(data) {
        if let Some(u) = esmtp::transport::oauth::http::parse_url(url) {
            assert!(u.target.starts_with(['/', '?']), "target {:?}", u.target);
            assert!(!u.host.contains(['/', '@']), "host {:?}", u.host);
        }
    }
}

/// `data` as the body of well-formed answers: with a `Content-Length` (of
/// all of it or a part), and chunked (the chunk sizes taken from the data),
/// each read back exactly.
fn framed(data: &[u8]) {
    use esmtp::transport::oauth::http::{complete, parse_response};
    let n = data
        .first()
        .map_or(0, |&b| data.len() * usize::from(b) / 255);
    let mut answer = format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n").into_bytes();
    let head = answer.len();
    answer.extend_from_slice(data);
    assert!(complete(&answer), "Content-Length {n} of {}", data.len());
    assert_eq!(
        parse_response(&answer),
        Some((200, data[..n].to_vec())),
        "not the Content-Length bytes"
    );
    if n > 0 {
        assert!(
            !complete(&answer[..head + n - 1]),
            "complete before its length"
        );
        assert_eq!(parse_response(&answer[..head + n - 1]), None);
    }
    let mut chunked = b"HTTP/1.1 400 Bad Request\r\ntransfer-encoding: Chunked\r\n\r\n".to_vec();
    let mut rest = data;
    let mut sizes = data.iter().cycle();
    while !rest.is_empty() {
        let size = sizes
            .next()
            .map_or(1, |&b| usize::from(b) * 7 + 1)
            .min(rest.len());
        let line = match size % 3 {
            0 => format!("{size:x}\r\n"),
            1 => format!("{size:X};ext=\"a;b\"\r\n"),
            _ => format!("{size:04x} \r\n"),
        };
        chunked.extend_from_slice(line.as_bytes());
        chunked.extend_from_slice(&rest[..size]);
        chunked.extend_from_slice(b"\r\n");
        rest = &rest[size..];
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    assert!(complete(&chunked), "a whole chunked answer is not complete");
    assert_eq!(
        parse_response(&chunked),
        Some((400, data.to_vec())),
        "chunked encoding does not round-trip"
    );
    let cut = &chunked[..chunked.len() - 3];
    assert!(!complete(cut), "complete before the last chunk");
    assert_eq!(parse_response(cut), None, "a body without its last chunk");
}

/// What the client makes of a `status` and `body`: the tokens of a grant,
/// a device answer, the text of a refusal (shown: no controls, bounded).
fn json_answers(status: u16, body: &[u8]) {
    use esmtp::transport::oauth::flow::{device_grant, DEVICE_WAIT_MAX};
    use esmtp::transport::oauth::http::{answer, Answer};
    use esmtp::transport::oauth::store::Tokens;
    match answer(status, body) {
        Ok(Answer::Granted(map)) => {
            assert!((200..300).contains(&status), "granted with {status}");
            let mut tokens = Tokens {
                refresh_token: Some("r0".into()),
                ..Tokens::default()
            };
            if tokens.update(&map) {
                assert!(tokens.access_token.as_ref().is_some_and(|t| !t.is_empty()));
                assert!(tokens.refresh_token.as_ref().is_some_and(|t| !t.is_empty()));
                assert!(tokens.expires_at.is_some());
                let _ = tokens.fresh_access_token(60);
                let _ = tokens.expires_in();
            } else {
                assert_eq!(tokens.access_token, None);
                assert_eq!(tokens.refresh_token.as_deref(), Some("r0"));
            }
            if let Some(d) = device_grant(&map) {
                assert!((1..=60).contains(&d.interval), "interval {}", d.interval);
                assert!(d.wait <= DEVICE_WAIT_MAX, "wait {:?}", d.wait);
            }
        }
        Ok(Answer::Refused {
            status: s,
            error,
            description,
        }) => {
            assert_eq!(s, status);
            assert!(
                (400..500).contains(&status) && status != 429,
                "refused with {status}"
            );
            for text in [&error, &description] {
                assert!(
                    text.chars().count() <= 300,
                    "{} characters shown",
                    text.len()
                );
                assert!(
                    !text.chars().any(char::is_control),
                    "a control shown: {text:?}"
                );
            }
        }
        Err(_) => {}
    }
}

/// A stored token file: what decodes is written back the same.
fn stored_file(data: &[u8]) {
    use esmtp::transport::oauth::store::Tokens;
    if let Some(tokens) = Tokens::decode(data) {
        let _ = tokens.fresh_access_token(60);
        let _ = tokens.expires_in();
        let bytes = serde_json::to_vec_pretty(&tokens).unwrap();
        assert_eq!(
            Tokens::decode(&bytes),
            Some(tokens),
            "a token file round trip"
        );
    }
}
