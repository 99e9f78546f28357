//! Servers that fail the relay: they never answer, stop answering, close
//! the connection, stop the transfer, speak garbage, cannot be reached,
//! refuse a message of unknown size after its data, or do not know EHLO;
//! what the relay reports for each.

use super::*;

#[test]
fn a_server_that_never_answers_times_out() {
    let server = FakeServer::start(|r, _w| support::drain(r));
    let mut id = identity(server.port);
    id.timeout_secs = 1;
    let start = Instant::now();
    let err = transport::relay(
        &id,
        &envelope("a@example.org", &["b@example.net"]),
        &MessageOptions::default(),
        &SessionOptions::default(),
        &mut &b"Subject: x\r\n\r\nx\r\n"[..],
    )
    .expect_err("must time out");
    assert_eq!(err.status, exit::TEMPFAIL, "{err}");
    assert!(err.message.contains("within 1 s"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_server_that_stops_answering_after_data_times_out() {
    let server = FakeServer::start(|r, w| {
        support::fake_handshake(r, w);
        support::drain(r)
    });
    let mut id = identity(server.port);
    id.timeout_secs = 1;
    let err = transport::relay(
        &id,
        &envelope("a@example.org", &["b@example.net"]),
        &MessageOptions::default(),
        &SessionOptions::default(),
        &mut &b"Subject: x\r\n\r\nx\r\n"[..],
    )
    .expect_err("must time out");
    assert_eq!(err.status, exit::TEMPFAIL, "{err}");
    // The peer saw the whole message, ended once.
    let seen = server.join();
    assert!(
        seen.starts_with(b"Subject: x\r\n\r\nx\r\n.\r\n"),
        "{:?}",
        String::from_utf8_lossy(&seen)
    );
}

#[test]
fn a_server_closing_during_data_is_reported() {
    let server = FakeServer::start(|r, w| {
        support::fake_handshake(r, w);
        let mut buf = [0u8; 100];
        let _ = r.read(&mut buf);
        let _ = w.shutdown(std::net::Shutdown::Both);
        Vec::new()
    });
    let big = message("close", &"body line\r\n".repeat(200_000));
    let err = send(
        server.port,
        &envelope("a@example.org", &["b@example.net"]),
        &MessageOptions::default(),
        &big,
    )
    .expect_err("must fail");
    assert_eq!(err.status, exit::TEMPFAIL, "{err}");
    server.join();
}

#[test]
fn an_unreachable_server_is_unavailable() {
    let port = support::free_port();
    let err = send(
        port,
        &envelope("a@example.org", &["b@example.net"]),
        &MessageOptions::default(),
        b"x\r\n",
    )
    .expect_err("nothing listens");
    assert_eq!(err.status, exit::UNAVAILABLE, "{err}");
    assert!(err.message.contains(&format!("127.0.0.1:{port}")), "{err}");
}

#[test]
fn a_garbage_speaking_server_is_a_protocol_error() {
    let server = FakeServer::start(|r, w| {
        let _ = w.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        support::drain(r)
    });
    let err = send(
        server.port,
        &envelope("a@example.org", &["b@example.net"]),
        &MessageOptions::default(),
        b"x\r\n",
    )
    .expect_err("not SMTP");
    assert_eq!(err.status, exit::PROTOCOL, "{err}");
}

#[test]
fn a_connection_that_cannot_be_established_times_out() {
    // A listener with a full accept queue: the kernel drops further SYNs,
    // so connecting hangs as it does towards a filtered port.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let port = listener.local_addr().unwrap().port();
    let _first = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut id = identity(port);
    id.timeout_secs = 1;
    let start = Instant::now();
    let err = transport::relay(
        &id,
        &envelope("a@example.org", &["b@example.net"]),
        &MessageOptions::default(),
        &SessionOptions::default(),
        &mut &b"x\r\n"[..],
    )
    .expect_err("cannot connect");
    assert_eq!(err.status, exit::TEMPFAIL, "{err}");
    assert!(
        err.message.contains("cannot connect") && err.message.contains("within 1 s"),
        "{err}"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    drop(listener);
}

#[test]
fn a_server_that_stops_the_transfer_with_a_reason_is_quoted() {
    let server = FakeServer::start(|r, w| {
        support::fake_handshake(r, w);
        let mut buf = [0u8; 4096];
        let _ = r.read(&mut buf);
        let _ = w.write_all(b"552 5.3.4 message too big for us\r\n");
        let _ = w.shutdown(std::net::Shutdown::Both);
        Vec::new()
    });
    let big = message("stop", &"body line\r\n".repeat(300_000));
    let err = send(
        server.port,
        &envelope("a@example.org", &["b@example.net"]),
        &MessageOptions::default(),
        &big,
    )
    .expect_err("must fail");
    assert_eq!(err.status, exit::SOFTWARE, "{err}");
    assert!(err.message.contains("552 5.3.4 message too big"), "{err}");
    server.join();
}

#[test]
fn a_message_over_the_limit_with_unknown_size_is_refused_after_data() {
    let exim = Exim::with(EximOptions {
        size_limit: 10_000,
        ..Default::default()
    });
    let msg = message("big2", &"y".repeat(50_000));
    let env = support::to_bob();
    let err = send(exim.port(), &env, &MessageOptions::default(), &msg).expect_err("too big");
    assert_eq!(err.status, exit::SOFTWARE, "{err}");
    assert!(err.message.contains("552"), "{err}");
    assert_eq!(exim.accepted(), 0);
}

#[test]
fn a_server_that_does_not_know_ehlo_gets_helo() {
    let server = FakeServer::start(|r, _w| {
        let seen = support::hostile::converse(r, b"220 old server\r\n", |l: &str| {
            if l.starts_with("EHLO") {
                b"502 5.5.2 command not recognized\r\n".to_vec()
            } else {
                support::hostile::usual("")(l)
            }
        });
        seen.into_bytes()
    });
    let id = identity(server.port);
    support::relay_message(&id, "helo", "x\r\n").expect("relay over HELO");
    let seen = support::hostile::Seen::from_bytes(&server.join());
    assert_eq!(
        seen.lines[..3],
        [
            "EHLO client.test\r\n",
            "HELO client.test\r\n",
            "MAIL FROM:<sender@example.org>\r\n"
        ]
    );
    assert!(seen.marker, "{seen:?}");
}
