//! The async client over loopback: connecting, handshake failures, the CONNECTING rule,
//! redirects and proxies.
// Test helpers may unwrap: a failure there is the test's failure.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use weft::proto::HandshakeError;
use weft::{ClientBuilder, CloseCode, Error, Message, Timeout, UrlError};

#[tokio::test]
async fn connects_and_echoes_text_binary_and_empty() {
    let addr = support::echo_server(&[]).await;
    let mut ws = ClientBuilder::new(format!("ws://{addr}/echo"))
        .no_proxy()
        .connect()
        .await
        .unwrap();
    for message in [
        Message::text("hi"),
        Message::binary(vec![1u8, 2, 3]),
        Message::text(""),
    ] {
        ws.send(message.clone()).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), message);
    }
    assert_eq!(ws.info().path, "/echo");
    assert_eq!(ws.info().peer_addr, Some(addr));
    ws.close(CloseCode::NORMAL, "").await.unwrap();
}

#[tokio::test]
async fn subprotocol_is_chosen_by_the_server_among_those_offered() {
    let addr = support::echo_server(&["v2", "v1"]).await;
    let ws = ClientBuilder::new(format!("ws://{addr}/"))
        .no_proxy()
        .protocol("v1")
        .protocol("v2")
        .connect()
        .await
        .unwrap();
    assert_eq!(ws.subprotocol(), Some("v2"));
}

#[tokio::test]
async fn ipv6_loopback_literal_connects() {
    let Ok(listener) = TcpListener::bind("[::1]:0").await else {
        return; // no IPv6 on this machine
    };
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let err = ClientBuilder::new(format!("ws://[::1]:{port}/"))
        .no_proxy()
        .connect()
        .await;
    // Nothing listens there now: the point is that the URL parses and TCP is attempted.
    assert!(matches!(err, Err(Error::Io(_))), "{err:?}");
}

#[tokio::test]
async fn non_101_answer_is_an_error_with_status_headers_and_body() {
    let addr = support::canned_server(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
    )
    .await;
    let err = ClientBuilder::new(format!("ws://{addr}/"))
        .no_proxy()
        .connect()
        .await
        .unwrap_err();
    let Error::Handshake(refusal) = err else {
        panic!("expected a handshake error, got {err:?}");
    };
    match *refusal {
        HandshakeError::UnexpectedStatus {
            status,
            headers,
            body_start,
        } => {
            assert_eq!(status.as_u16(), 200);
            assert_eq!(headers.get("content-type").unwrap(), "text/plain");
            assert_eq!(&body_start[..], b"hello");
        }
        other => panic!("expected UnexpectedStatus, got {other:?}"),
    }
}

#[tokio::test]
async fn redirect_is_an_error_unless_following_is_asked() {
    let target = support::echo_server(&[]).await;
    let response: &'static [u8] = Box::leak(
        format!(
            "HTTP/1.1 302 Found\r\nLocation: http://{target}/moved\r\nContent-Length: 0\r\n\r\n"
        )
        .into_bytes()
        .into_boxed_slice(),
    );
    let redirecting = support::canned_server(response).await;
    let url = format!("ws://{redirecting}/old");
    let err = ClientBuilder::new(&url)
        .no_proxy()
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Handshake(e) if matches!(*e, HandshakeError::UnexpectedStatus { status, .. } if status.as_u16() == 302))
    );
    let ws = ClientBuilder::new(&url)
        .no_proxy()
        .follow_redirects(3)
        .connect()
        .await
        .unwrap();
    assert_eq!(ws.info().path, "/moved");
}

#[tokio::test]
async fn bad_url_and_scheme_are_clear_errors() {
    assert!(matches!(
        weft::connect("not a url").await,
        Err(Error::Url(UrlError::Parse(_)))
    ));
    assert!(matches!(
        weft::connect("ftp://127.0.0.1/").await,
        Err(Error::Url(UrlError::UnsupportedScheme(s))) if s == "ftp"
    ));
}

#[tokio::test]
async fn handshake_timeout_bounds_a_silent_server() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _hold = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(tcp);
    });
    let err = ClientBuilder::new(format!("ws://{addr}/"))
        .no_proxy()
        .handshake_timeout(Duration::from_millis(200))
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout(Timeout::Handshake)), "{err:?}");
}

#[tokio::test]
async fn only_one_connection_per_host_and_port_is_connecting_at_a_time() {
    // A server that counts how many upgrade requests it holds unanswered at once.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        for _ in 0..2 {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let _ = tcp.read(&mut buf).await;
                tx.send(()).unwrap();
                tokio::time::sleep(Duration::from_millis(300)).await;
                let _ = tcp
                    .write_all(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n")
                    .await;
            });
        }
    });
    let url = format!("ws://{addr}/");
    let first = tokio::spawn(ClientBuilder::new(url.clone()).no_proxy().connect());
    let second = tokio::spawn(ClientBuilder::new(url).no_proxy().connect());
    rx.recv().await.unwrap();
    // While the first handshake is pending, the second must not have sent its request.
    let early = tokio::time::timeout(Duration::from_millis(150), rx.recv()).await;
    assert!(
        early.is_err(),
        "a second request arrived while the first was CONNECTING"
    );
    assert!(first.await.unwrap().is_err());
    rx.recv().await.unwrap();
    assert!(second.await.unwrap().is_err());
}

#[tokio::test]
async fn connects_through_an_http_connect_proxy() {
    let target = support::echo_server(&[]).await;
    let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_addr = proxy.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut client, _) = proxy.accept().await.unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            client.read_exact(&mut byte).await.unwrap();
            head.push(byte[0]);
        }
        let text = String::from_utf8(head).unwrap();
        assert!(
            text.starts_with(&format!("CONNECT {target} HTTP/1.1")),
            "{text}"
        );
        let mut upstream = tokio::net::TcpStream::connect(target).await.unwrap();
        client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await
            .unwrap();
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    });
    let proxy = weft::client::proxy::Proxy::parse(&format!("http://{proxy_addr}")).unwrap();
    let mut ws = ClientBuilder::new(format!("ws://{target}/"))
        .proxy(proxy)
        .connect()
        .await
        .unwrap();
    ws.send(Message::text("via proxy")).await.unwrap();
    assert_eq!(
        ws.recv().await.unwrap().unwrap(),
        Message::text("via proxy")
    );
}
