//! `weft serve`, run as a user would, against the library's client (and wss:// with a test
//! CA). Every server listens on 127.0.0.1:0.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use tokio::io::AsyncWriteExt;
use weft::{CloseCode, Message};

use support::*;

// --- weft serve ----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_echoes_text_and_binary_messages() {
    let served = weft_serve(&[]).await;
    let mut ws = connect(&format!("{}/any/path", served.url)).await;
    ws.send(Message::text("hello")).await.expect("send");
    assert_eq!(recv_text(&mut ws).await, "hello");
    ws.send(Message::binary(vec![0, 1, 2])).await.expect("send");
    let echoed = tokio::time::timeout(RUN_LIMIT, ws.recv())
        .await
        .expect("in time");
    assert_eq!(
        echoed.transpose().expect("ok"),
        Some(Message::binary(vec![0, 1, 2]))
    );
    ws.close(CloseCode::NORMAL, "").await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_paths_outside_its_routes_with_404() {
    let served = weft_serve(&["--path", "/only"]).await;
    let output = run_client(&["-n", "0", &format!("{}/other", served.url)], b"").await;
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    let output = run_client(&["-n", "0", &format!("{}/only", served.url)], b"").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_requires_a_protocol_and_prefers_the_order_given() {
    let served = weft_serve(&["--protocol", "chat.v2", "--protocol", "chat.v1"]).await;
    let url = format!("{}/", served.url);
    let output = run_client(
        &[
            "--jsonl",
            "-n",
            "0",
            "--protocol",
            "chat.v1",
            "--protocol",
            "chat.v2",
            &url,
        ],
        b"",
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let open: serde_json::Value =
        serde_json::from_str(stdout(&output).lines().next().expect("open event")).expect("JSON");
    assert_eq!(open["subprotocol"], "chat.v2");

    let output = run_client(&["-n", "0", &url], b"").await;
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_origin_allowlist_refuses_other_origins_with_403() {
    let served = weft_serve(&["--origin", "https://app.example"]).await;
    let url = format!("{}/", served.url);
    let output = run_client(&["-n", "0", "--origin", "https://evil.example", &url], b"").await;
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("HTTP 403 Forbidden"),
        "{}",
        stderr(&output)
    );
    let output = run_client(&["-n", "0", "--origin", "https://app.example", &url], b"").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_exec_cat_turns_messages_into_lines_and_back() {
    let served = weft_serve(&["--exec", "cat"]).await;
    let mut ws = connect(&format!("{}/", served.url)).await;
    ws.send(Message::text("one")).await.expect("send");
    ws.send(Message::text("two")).await.expect("send");
    assert_eq!(recv_text(&mut ws).await, "one");
    assert_eq!(recv_text(&mut ws).await, "two");
    ws.close(CloseCode::NORMAL, "").await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_exec_closes_with_1000_when_the_program_exits() {
    let served = weft_serve(&["--exec", "echo done"]).await;
    let mut ws = connect(&format!("{}/", served.url)).await;
    assert_eq!(recv_text(&mut ws).await, "done");
    let end = tokio::time::timeout(RUN_LIMIT, ws.recv())
        .await
        .expect("in time");
    assert!(end.is_none(), "expected a clean close, got {end:?}");
    assert_eq!(ws.close_frame().map(|f| f.code), Some(CloseCode::NORMAL));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_broadcast_sends_each_message_to_every_other_client() {
    let served = weft_serve(&["--broadcast"]).await;
    let mut alice = connect(&format!("{}/chat", served.url)).await;
    let mut bob = connect(&format!("{}/chat", served.url)).await;
    // Both are registered once each has completed a round trip through the server.
    alice.send(Message::Ping("a".into())).await.expect("ping");
    bob.send(Message::Ping("b".into())).await.expect("ping");
    assert!(matches!(alice.recv().await, Some(Ok(Message::Pong(_)))));
    assert!(matches!(bob.recv().await, Some(Ok(Message::Pong(_)))));

    alice.send(Message::text("hi bob")).await.expect("send");
    assert_eq!(recv_text(&mut bob).await, "hi bob");
    bob.send(Message::text("hi alice")).await.expect("send");
    // Alice's next message is Bob's: her own was not sent back to her.
    assert_eq!(recv_text(&mut alice).await, "hi alice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_sigterm_closes_clients_with_1001_and_exits_0() {
    let mut served = weft_serve(&[]).await;
    let mut ws = connect(&format!("{}/", served.url)).await;
    ws.send(Message::text("ready?")).await.expect("send");
    assert_eq!(recv_text(&mut ws).await, "ready?");

    let pid = served.child.id().expect("pid").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(killed.success());

    let end = tokio::time::timeout(RUN_LIMIT, ws.recv())
        .await
        .expect("in time");
    assert!(end.is_none(), "expected a clean close, got {end:?}");
    assert_eq!(
        ws.close_frame().map(|f| f.code),
        Some(CloseCode::GOING_AWAY)
    );
    let status = tokio::time::timeout(RUN_LIMIT, served.child.wait())
        .await
        .expect("exits in time")
        .expect("status");
    assert_eq!(status.code(), Some(0));
}

// --- TLS -----------------------------------------------------------------------------------

/// A test CA and a server certificate for 127.0.0.1 and localhost, written as PEM files.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Pki {
    fn generate() -> Self {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "weft-cli test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
        let key = KeyPair::generate().expect("server key");
        let cert = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("server params")
            .signed_by(&key, &ca, &ca_key)
            .expect("server certificate");
        let pki = Pki {
            ca: temp_path("ca.pem"),
            cert: temp_path("cert.pem"),
            key: temp_path("key.pem"),
        };
        std::fs::write(&pki.ca, ca.pem()).expect("write CA");
        std::fs::write(&pki.cert, cert.pem()).expect("write cert");
        std::fs::write(&pki.key, key.serialize_pem()).expect("write key");
        pki
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        for path in [&self.ca, &self.cert, &self.key] {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serve_and_client_with_a_test_ca() {
    let pki = Pki::generate();
    let cert = pki.cert.to_string_lossy().into_owned();
    let key = pki.key.to_string_lossy().into_owned();
    let served = weft_serve(&["--tls-cert", &cert, "--tls-key", &key]).await;
    assert!(served.url.starts_with("wss://127.0.0.1:"), "{}", served.url);
    let url = format!("{}/secure", served.url);

    let ca = pki.ca.to_string_lossy().into_owned();
    let output = run_client(&["--cacert", &ca, "-n", "1", "-d", "over TLS", &url], b"").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "over TLS\n");

    // Without the CA the certificate is not trusted: a connection failure.
    let output = run_client(&["-n", "0", &url], b"").await;
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_compresses_by_default_and_not_with_no_compress() {
    let served = weft_serve(&[]).await;
    let mut ws = connect(&served.url).await;
    assert!(
        ws.info()
            .extensions
            .iter()
            .any(|e| e.starts_with("permessage-deflate")),
        "{:?}",
        ws.info().extensions
    );
    let json = "{\"k\":\"value\"}".repeat(200);
    ws.send(Message::text(json.as_str())).await.expect("send");
    assert_eq!(recv_text(&mut ws).await, json);
    let plain = weft_serve(&["--no-compress"]).await;
    let ws = connect(&plain.url).await;
    assert!(ws.info().extensions.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_no_compress_offers_nothing() {
    let served = weft_serve(&[]).await;
    let output = run_client(&["-v", "--no-compress", "-n", "0", &served.url], b"").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        !stderr(&output)
            .to_ascii_lowercase()
            .contains("sec-websocket-extensions")
    );
    let output = run_client(&["-v", "-n", "0", &served.url], b"").await;
    assert!(
        stderr(&output)
            .to_ascii_lowercase()
            .contains("permessage-deflate")
    );
}

#[tokio::test]
async fn serve_drops_a_client_that_stops_reading_after_the_write_timeout() {
    use tokio::io::AsyncReadExt;

    let served = weft_serve(&["--write-timeout", "1", "--ping-interval", "0"]).await;
    let addr = served.url.trim_start_matches("ws://").trim_end_matches('/');
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    // A small receive window, so the echoes back up quickly.
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mut tcp = socket
        .connect(addr.parse().expect("address"))
        .await
        .expect("connect");
    tcp.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .expect("request");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        tcp.read_exact(&mut byte).await.expect("response head");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{head:?}");
    // 64 KiB binary messages under an all-zero mask (the payload as it is), never reading
    // the echoes, until the server stops taking them.
    let mut frame = vec![0x82, 0x80 | 127];
    frame.extend_from_slice(&(64u64 << 10).to_be_bytes());
    frame.extend_from_slice(&[0; 4]);
    frame.resize(frame.len() + (64 << 10), b'x');
    for _ in 0..1000 {
        let sent = tokio::time::timeout(Duration::from_millis(500), tcp.write_all(&frame)).await;
        if !matches!(sent, Ok(Ok(()))) {
            break;
        }
    }
    // Past the write timeout the server has let the connection go: reading now finds what
    // was echoed and then the end, instead of unblocking an echo loop that stays open.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut rest = Vec::new();
    let read = tokio::time::timeout(RUN_LIMIT, tcp.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the server still holds the connection");
}
