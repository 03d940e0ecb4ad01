//! `weft::blocking` over loopback with std threads: the client against a small echo server
//! built from the protocol core's server handshake, plus raw TCP servers for the failures.

use std::any::Any;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::HeaderValue;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use weft::blocking::{ClientBuilder, WebSocket};
use weft::client::tls::{Roots, ServerTlsOptions, TlsOptions};
use weft::proto::extensions::deflate::{self, DeflateConfig};
use weft::proto::handshake::server::{Accept, ServerHandshake};
use weft::proto::{Config, HandshakeError, Limits, Role, UsageError};
use weft::{
    CloseCode, ConnState, DataKind, Error, Event, Handshaken, Keepalive, Message, Timeout,
    UrlError, WebSocketConfig,
};

/// Runs the server side of the opening handshake on `io`, choosing from `protocols` and
/// accepting permessage-deflate if `compress`; returns what it learned and the bytes read past
/// the request.
fn accept_upgrade<S: Read + Write>(
    io: &mut S,
    protocols: &[&str],
    compress: bool,
) -> (Handshaken, BytesMut) {
    let mut handshake = ServerHandshake::new(&Limits::DEFAULT);
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 4096];
    let request = loop {
        let n = io.read(&mut chunk).expect("read the request");
        assert!(n > 0, "client left during the handshake");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(request) = handshake.handle_request(&mut buf).expect("a valid request") {
            break request;
        }
    };
    let protocol = request.choose_protocol(protocols);
    let mut accept = Accept::new().protocol(protocol);
    let mut agreed = None;
    if compress {
        let settings = DeflateConfig::default();
        if let Some((params, answer)) = deflate::server_negotiate(&settings, request.extensions()) {
            accept = accept.extensions(HeaderValue::from_str(&answer).expect("a header value"));
            agreed = Some(params);
        }
    }
    io.write_all(&request.accept(accept))
        .expect("write the response");
    let handshaken = Handshaken {
        path: request.path().to_owned(),
        subprotocol: protocol.map(str::to_owned),
        deflate: agreed,
        ..Handshaken::default()
    };
    (handshaken, buf)
}

/// Echoes data messages until the connection ends; returns the connection for inspection.
fn echo<S: Read + Write + Any>(mut ws: WebSocket<S>) -> WebSocket<S> {
    while let Some(message) = ws.recv() {
        let message = message.expect("the echo server's connection failed");
        if message.is_data() {
            ws.send(message).expect("echo");
        }
    }
    ws
}

/// A one-connection echo server on 127.0.0.1:0: its `ws://` URL and its thread.
fn echo_server(protocols: &'static [&'static str]) -> (String, JoinHandle<WebSocket<TcpStream>>) {
    echo_server_with(protocols, false)
}

fn echo_server_with(
    protocols: &'static [&'static str],
    compress: bool,
) -> (String, JoinHandle<WebSocket<TcpStream>>) {
    serve_one(move |mut tcp| {
        let (handshaken, buffered) = accept_upgrade(&mut tcp, protocols, compress);
        let config = WebSocketConfig::default();
        echo(WebSocket::from_parts(
            tcp,
            Role::Server,
            config,
            handshaken,
            buffered,
        ))
    })
}

/// Accepts one TCP connection on 127.0.0.1:0 and hands it to `serve` on a thread.
fn serve_one<T: Send + 'static>(
    serve: impl FnOnce(TcpStream) -> T + Send + 'static,
) -> (String, JoinHandle<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("ws://{}/", listener.local_addr().expect("address"));
    let server = thread::spawn(move || serve(listener.accept().expect("accept").0));
    (url, server)
}

/// Reads an HTTP request head byte by byte, so nothing after it is consumed.
fn read_head(tcp: &mut TcpStream) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tcp.read_exact(&mut byte).expect("read the request head");
        head.push(byte[0]);
    }
}

/// A connected client with `config` whose every read is bounded (5 s), so a test whose
/// deadline never fires fails instead of waiting forever.
fn bounded_client(url: &str, config: WebSocketConfig) -> WebSocket<weft::blocking::Stream> {
    client(url)
        .config(config)
        .read_timeout(Some(Duration::from_secs(5)))
        .connect()
        .expect("connect")
}

fn client(url: &str) -> ClientBuilder {
    // Proxy variables in the test environment must not reroute loopback.
    ClientBuilder::new(url).no_proxy()
}

// RFC 6455 §5.6: data frames.

#[test]
fn blocking_client_round_trips_text_and_binary() {
    let (url, server) = echo_server(&[]);
    let mut ws = client(&url).connect().unwrap();

    for message in [
        Message::text("hello"),
        Message::binary(vec![0u8, 1, 2, 255]),
        Message::text(""),
    ] {
        ws.send(message.clone()).unwrap();
        assert_eq!(ws.recv().unwrap().unwrap(), message);
    }
    ws.close(CloseCode::NORMAL, "").unwrap();
    server.join().unwrap();
}

#[test]
fn blocking_client_sends_and_receives_16_mib() {
    let (url, server) = echo_server(&[]);
    let mut ws = client(&url).connect().unwrap();
    let big = Bytes::from(vec![0x5Au8; 16 << 20]);

    ws.send(Message::Binary(big.clone())).unwrap();
    let echoed = ws.recv().unwrap().unwrap();

    assert_eq!(echoed, Message::Binary(big));
    ws.close(CloseCode::NORMAL, "").unwrap();
    server.join().unwrap();
}

// RFC 7692: permessage-deflate, offered by default.

#[test]
fn blocking_permessage_deflate_round_trips() {
    let (url, server) = echo_server_with(&[], true);
    let mut ws = client(&url).connect().unwrap();
    let text = "compressible ".repeat(1000);

    ws.send(Message::text(text.as_str())).unwrap();

    assert_eq!(ws.recv().unwrap().unwrap(), Message::text(text.as_str()));
    assert!(ws.info().extensions[0].starts_with("permessage-deflate"));
    ws.close(CloseCode::NORMAL, "").unwrap();
    server.join().unwrap();
}

// RFC 6455 §5.5.2: PINGs are answered from the read path.

#[test]
fn blocking_ping_is_answered_before_recv_returns_it() {
    let (url, server) = echo_server(&[]);
    let mut ws = client(&url).connect().unwrap();

    ws.send(Message::Ping("hb".into())).unwrap();

    assert_eq!(ws.recv().unwrap().unwrap(), Message::Pong("hb".into()));
    ws.close(CloseCode::NORMAL, "").unwrap();
    server.join().unwrap();
}

#[test]
fn blocking_ping_handed_out_has_its_pong_sent_without_another_call() {
    let (url, server) = serve_one(|mut tcp| {
        accept_upgrade(&mut tcp, &[], false);
        // A PING, then a message behind it in the same write.
        tcp.write_all(b"\x89\x02hb\x82\x01x").unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut frame = [0u8; 8];
        tcp.read_exact(&mut frame)
            .expect("the PONG, before the client asks again");
        let mask = [frame[2], frame[3], frame[4], frame[5]];
        let payload = [frame[6] ^ mask[0], frame[7] ^ mask[1]];
        (frame[0], frame[1] & 0x7f, payload)
    });
    let mut ws = client(&url).connect().unwrap();

    assert_eq!(ws.recv().unwrap().unwrap(), Message::Ping("hb".into()));

    // The client does not call again until the server has seen the PONG.
    let (first, len, payload) = server.join().unwrap();
    assert_eq!((first, len, &payload), (0x8a, 2, b"hb"));
    assert_eq!(ws.recv().unwrap().unwrap(), Message::binary("x"));
}

// RFC 6455 §7.1.2: the close handshake.

#[test]
fn blocking_close_completes_handshake() {
    let (url, server) = echo_server(&[]);
    let mut ws = client(&url).connect().unwrap();

    ws.close(CloseCode::NORMAL, "bye").unwrap();

    let server = server.join().unwrap();
    assert_eq!(
        server.close_frame().map(|f| f.code),
        Some(CloseCode::NORMAL)
    );
    assert_eq!(server.info().state, ConnState::Closed);
    assert_eq!(ws.close_frame().map(|f| f.code), Some(CloseCode::NORMAL));
    assert_eq!(ws.info().state, ConnState::Closed);
    assert!(ws.recv().is_none());
}

#[test]
fn blocking_close_times_out_when_the_peer_never_answers() {
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let (url, server) = serve_one(move |mut tcp| {
        accept_upgrade(&mut tcp, &[], false);
        // Reads nothing and answers nothing until the client has given up.
        done_rx.recv().unwrap();
    });
    let config = WebSocketConfig::default().close_timeout(Duration::from_millis(100));
    let mut ws = client(&url).config(config).connect().unwrap();

    let result = ws.close(CloseCode::NORMAL, "");

    assert!(
        matches!(result, Err(Error::Timeout(Timeout::Close))),
        "{result:?}"
    );
    assert_eq!(ws.info().state, ConnState::Closed);
    done_tx.send(()).unwrap();
    server.join().unwrap();
}

/// A one-connection server that answers PINGs only if `pong`, sends nothing, and returns the
/// code of the close frame it receives.
fn close_code_server(pong: bool) -> (String, JoinHandle<CloseCode>) {
    serve_one(move |mut tcp| {
        let (handshaken, buffered) = accept_upgrade(&mut tcp, &[], false);
        let config = WebSocketConfig::default().protocol(Config::default().auto_pong(pong));
        let mut ws = WebSocket::from_parts(tcp, Role::Server, config, handshaken, buffered);
        loop {
            match ws.next_event() {
                Some(Ok(Event::Close(frame))) => return frame.code,
                Some(Ok(_)) => {}
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    })
}

#[test]
fn blocking_keepalive_pings_while_recv_waits() {
    let (url, server) = serve_one(|mut tcp| {
        let (handshaken, buffered) = accept_upgrade(&mut tcp, &[], false);
        let config = WebSocketConfig::default();
        let mut ws = WebSocket::from_parts(tcp, Role::Server, config, handshaken, buffered);
        let mut pings = 0;
        while pings < 3 {
            match ws.recv() {
                Some(Ok(Message::Ping(_))) => pings += 1,
                other => panic!("expected only PINGs, got {other:?}"),
            }
        }
        ws.send(Message::text("done")).unwrap();
        ws
    });
    let config = WebSocketConfig::default().keepalive(Keepalive::every(Duration::from_millis(50)));
    let mut ws = bounded_client(&url, config);

    let mut pongs = 0;
    loop {
        match ws.recv() {
            Some(Ok(Message::Pong(_))) => pongs += 1,
            Some(Ok(message)) => {
                assert_eq!(message, Message::text("done"));
                break;
            }
            other => panic!("expected PONGs then the message, got {other:?}"),
        }
    }
    // Each PONG is written before its PING is handed out, so all three came first.
    assert_eq!(pongs, 3);
    assert!(ws.rtt().is_some());
    drop(server.join().unwrap());
}

#[test]
fn blocking_pong_that_arrived_while_the_application_was_busy_is_read_before_the_deadline_fails() {
    let (url, server) = serve_one(|mut tcp| {
        let (handshaken, buffered) = accept_upgrade(&mut tcp, &[], false);
        let config = WebSocketConfig::default().protocol(Config::default().auto_pong(false));
        let mut ws = WebSocket::from_parts(tcp, Role::Server, config, handshaken, buffered);
        let Some(Ok(Message::Ping(payload))) = ws.recv() else {
            panic!("expected the keepalive PING");
        };
        // A message first, then the PONG while the client is busy with it.
        ws.send(Message::text("tick")).unwrap();
        thread::sleep(Duration::from_millis(20));
        ws.send(Message::Pong(payload)).unwrap();
        ws
    });
    let config = WebSocketConfig::default()
        .keepalive(Keepalive::every(Duration::from_millis(50)).timeout(Duration::from_millis(50)));
    let mut ws = bounded_client(&url, config);

    assert_eq!(ws.recv().unwrap().unwrap(), Message::text("tick"));
    // Busy past the PONG deadline; the PONG is in the socket meanwhile.
    thread::sleep(Duration::from_millis(200));
    let next = ws.recv();

    assert!(matches!(next, Some(Ok(Message::Pong(_)))), "{next:?}");
    assert!(ws.rtt().is_some());
    drop(server.join().unwrap());
}

#[test]
fn blocking_keepalive_closes_with_1001_when_pings_go_unanswered() {
    let (url, server) = close_code_server(false);
    let config = WebSocketConfig::default()
        .keepalive(Keepalive::every(Duration::from_millis(50)).timeout(Duration::from_millis(50)));
    let mut ws = bounded_client(&url, config);

    let result = ws.recv();

    assert!(
        matches!(result, Some(Err(Error::Timeout(Timeout::Pong)))),
        "{result:?}"
    );
    assert_eq!(server.join().unwrap(), CloseCode::GOING_AWAY);
}

#[test]
fn blocking_idle_timeout_closes_with_1001() {
    let (url, server) = close_code_server(true);
    let config = WebSocketConfig::default().idle_timeout(Duration::from_millis(100));
    let mut ws = bounded_client(&url, config);
    let started = std::time::Instant::now();

    let result = ws.recv();

    assert!(
        matches!(result, Some(Err(Error::Timeout(Timeout::Idle)))),
        "{result:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert_eq!(server.join().unwrap(), CloseCode::GOING_AWAY);
}

#[test]
fn blocking_recv_times_out_and_resumes() {
    let (resume_tx, resume_rx) = mpsc::channel::<()>();
    let (url, server) = serve_one(move |mut tcp| {
        accept_upgrade(&mut tcp, &[], false);
        // An unmasked text frame of 11 bytes, sent in two parts.
        tcp.write_all(b"\x81\x0bhello").unwrap();
        resume_rx.recv().unwrap();
        tcp.write_all(b" world").unwrap();
        tcp
    });
    let mut ws = client(&url)
        .read_timeout(Some(Duration::from_millis(50)))
        .connect()
        .unwrap();

    let Some(Err(Error::Io(timeout))) = ws.recv() else {
        panic!("expected a read timeout");
    };
    assert!(matches!(
        timeout.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    ));
    resume_tx.send(()).unwrap();

    assert_eq!(ws.recv().unwrap().unwrap(), Message::text("hello world"));
    drop(server.join().unwrap());
}

// RFC 6455 §4.1: the opening handshake.

#[test]
fn blocking_non_101_is_handshake_error_with_status() {
    let (url, server) = serve_one(|mut tcp| {
        read_head(&mut tcp);
        tcp.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
            .unwrap();
    });

    let err = client(&url).connect().unwrap_err();

    let Error::Handshake(refusal) = err else {
        panic!("expected a handshake error, got {err:?}");
    };
    let HandshakeError::UnexpectedStatus {
        status, body_start, ..
    } = *refusal
    else {
        panic!("expected UnexpectedStatus, got {refusal:?}");
    };
    assert_eq!(status, 200);
    assert_eq!(&body_start[..], b"hi");
    server.join().unwrap();
}

#[test]
fn blocking_client_follows_redirects_within_the_limit() {
    let (echo_url, echo) = echo_server(&[]);
    let (url, redirect) = serve_one(move |mut tcp| {
        read_head(&mut tcp);
        let moved = format!(
            "HTTP/1.1 301 Moved Permanently\r\nLocation: {echo_url}chat\r\n\
             Content-Length: 0\r\n\r\n"
        );
        tcp.write_all(moved.as_bytes()).unwrap();
    });

    let mut ws = client(&url).follow_redirects(1).connect().unwrap();

    assert_eq!(ws.info().path, "/chat");
    ws.close(CloseCode::NORMAL, "").unwrap();
    redirect.join().unwrap();
    assert_eq!(echo.join().unwrap().info().path, "/chat");
}

#[test]
fn blocking_subprotocol_is_negotiated() {
    let (url, server) = echo_server(&["chat"]);

    let mut ws = client(&url)
        .protocol("v2")
        .protocol("chat")
        .connect()
        .unwrap();

    assert_eq!(ws.subprotocol(), Some("chat"));
    assert_eq!(ws.info().subprotocol.as_deref(), Some("chat"));
    assert_eq!(ws.info().path, "/");
    ws.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(server.join().unwrap().subprotocol(), Some("chat"));
}

#[test]
fn blocking_bad_url_is_a_url_error() {
    assert!(matches!(
        client("not a url").connect(),
        Err(Error::Url(UrlError::Parse(_)))
    ));
    assert!(matches!(
        client("ftp://example.com/").connect(),
        Err(Error::Url(UrlError::UnsupportedScheme(_)))
    ));
}

#[test]
fn blocking_connect_refused_is_io_error() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    drop(listener);

    let err = client(&url).connect().unwrap_err();

    assert!(
        matches!(&err, Error::Io(e) if e.kind() == io::ErrorKind::ConnectionRefused),
        "{err:?}"
    );
}

// curl's fragment model (curl_ws_recv): parts of frames with their metadata.

#[test]
fn blocking_fragment_mode_streams_parts() {
    let (url, server) = serve_one(|mut tcp| {
        let (handshaken, buffered) = accept_upgrade(&mut tcp, &[], false);
        let config = WebSocketConfig::default();
        let mut ws = WebSocket::from_parts(tcp, Role::Server, config, handshaken, buffered);
        ws.send_frame(DataKind::Text, "hello".into(), false)
            .unwrap();
        ws.start_frame(DataKind::Text, 6, true).unwrap();
        ws.send_fragment(" wo".into()).unwrap();
        ws.send_fragment("rld".into()).unwrap();
        echo(ws)
    });
    let config = WebSocketConfig::default().protocol(Config::default().fragment_mode(true));
    let mut ws = client(&url).config(config).connect().unwrap();

    let mut text = Vec::new();
    let mut first = None;
    loop {
        let fragment = ws.recv_fragment().unwrap().unwrap();
        assert_eq!(fragment.kind, DataKind::Text);
        first.get_or_insert(fragment.is_first_frame);
        text.extend_from_slice(&fragment.data);
        if fragment.is_message_end() {
            break;
        }
    }

    assert_eq!(first, Some(true));
    assert_eq!(text, b"hello world");
    ws.close(CloseCode::NORMAL, "").unwrap();
    server.join().unwrap();
}

#[test]
fn blocking_recv_fragment_outside_fragment_mode_is_a_usage_error() {
    let (url, server) = echo_server(&[]);
    let mut ws = client(&url).connect().unwrap();

    assert!(matches!(
        ws.recv_fragment(),
        Some(Err(Error::Usage(UsageError::WrongMode)))
    ));
    ws.close(CloseCode::NORMAL, "").unwrap();
    server.join().unwrap();
}

// wss: TLS with a CA the test makes.

/// A CA and a server certificate for 127.0.0.1, PEM: (CA, chain, key).
fn test_pki() -> (String, String, String) {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "weft blocking test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
    let key = KeyPair::generate().expect("server key");
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .expect("server params")
        .signed_by(&key, &ca, &ca_key)
        .expect("server certificate");
    (ca.pem(), cert.pem(), key.serialize_pem())
}

#[test]
fn blocking_wss_with_test_ca() {
    let (ca, chain, key) = test_pki();
    let server_config = ServerTlsOptions::from_pem(chain, key)
        .server_config()
        .unwrap();
    let (url, server) = serve_one(move |tcp| {
        let session = rustls::ServerConnection::new(server_config).unwrap();
        let mut tls = rustls::StreamOwned::new(session, tcp);
        let (handshaken, buffered) = accept_upgrade(&mut tls, &[], true);
        let config = WebSocketConfig::default();
        echo(WebSocket::from_parts(
            tls,
            Role::Server,
            config,
            handshaken,
            buffered,
        ))
    });
    let url = url.replace("ws://", "wss://");
    let tls = TlsOptions::new().roots(Roots::None).add_ca_pem(ca);

    let mut ws = client(&url).tls(tls).connect().unwrap();
    ws.send(Message::text("over TLS")).unwrap();

    assert!(matches!(ws.get_ref(), weft::blocking::Stream::Tls(_)));
    assert_eq!(ws.recv().unwrap().unwrap(), Message::text("over TLS"));
    ws.close(CloseCode::NORMAL, "").unwrap();
    let server = server.join().unwrap();
    assert_eq!(
        server.close_frame().map(|f| f.code),
        Some(CloseCode::NORMAL)
    );
}
