//! Upgrading inside an existing HTTP server (feature `hyper`): a hyper 1 server and an axum
//! 0.8 app that serve plain HTTP on some paths and hand `/ws` over to weft, over loopback.
#![cfg(feature = "hyper")]

mod hyper_support;

use std::net::SocketAddr;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_support::{axum_ws, route};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use weft::{ClientBuilder, CloseCode, Message};

async fn hyper_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("a bound address");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(
                http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service_fn(route))
                    .with_upgrades(),
            );
        }
    });
    addr
}

async fn axum_server() -> SocketAddr {
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "plain HTTP\n" }))
        .route("/ws", axum::routing::get(axum_ws));
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("a bound address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn client(addr: SocketAddr, path: &str) -> ClientBuilder {
    ClientBuilder::new(format!("ws://{addr}{path}")).no_proxy()
}

/// Sends `request` as is and reads the whole response (the server closes after it).
async fn raw_request(addr: SocketAddr, request: &str) -> String {
    let mut tcp = TcpStream::connect(addr)
        .await
        .expect("the server is listening");
    tcp.write_all(request.as_bytes())
        .await
        .expect("request sent");
    let mut response = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut response));
    read.await
        .expect("the server closes after answering")
        .expect("response read");
    String::from_utf8_lossy(&response).into_owned()
}

/// Sends text and a message larger than one read, expects both back, then closes cleanly.
async fn assert_echoes(addr: SocketAddr, path: &str) {
    let mut ws = client(addr, path).connect().await.expect("upgraded");
    for message in [Message::text("hi"), Message::binary(vec![7u8; 70_000])] {
        ws.send(message.clone()).await.expect("sent");
        let echoed = ws.recv().await.expect("an echo").expect("a message");
        assert_eq!(echoed, message);
    }
    ws.close(CloseCode::NORMAL, "")
        .await
        .expect("a clean close");
}

#[tokio::test]
async fn hyper_route_upgrades_and_echoes() {
    let addr = hyper_server().await;
    assert_echoes(addr, "/ws").await;
}

#[tokio::test]
async fn hyper_upgrade_with_answers_the_chosen_subprotocol() {
    let addr = hyper_server().await;
    let mut ws = client(addr, "/chat")
        .protocol("v2.chat")
        .protocol("v1.chat")
        .connect()
        .await
        .unwrap();
    assert_eq!(ws.subprotocol(), Some("v1.chat"));
    ws.close(CloseCode::NORMAL, "").await.unwrap();
}

#[tokio::test]
async fn hyper_upgrade_agrees_permessage_deflate_like_weft_server() {
    let addr = hyper_server().await;
    let mut ws = client(addr, "/ws").connect().await.expect("upgraded");
    let extensions = ws.info().extensions;
    assert!(
        extensions
            .iter()
            .any(|e| e.starts_with("permessage-deflate")),
        "{extensions:?}"
    );
    let message = Message::text("compressible ".repeat(10_000));
    ws.send(message.clone()).await.expect("sent");
    let echoed = ws.recv().await.expect("an echo").expect("a message");
    assert_eq!(echoed, message);
    ws.close(CloseCode::NORMAL, "")
        .await
        .expect("a clean close");
}

#[tokio::test]
async fn hyper_plain_request_is_served_normally() {
    let addr = hyper_server().await;
    let response = raw_request(
        addr,
        "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.ends_with("\r\n\r\nplain HTTP\n"), "{response}");
}

#[tokio::test]
async fn hyper_bad_version_gets_426_with_header() {
    let addr = hyper_server().await;
    let response = raw_request(
        addr,
        "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
    )
    .await;
    assert!(
        response.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
        "{response}"
    );
    let head = response.to_ascii_lowercase();
    assert!(
        head.contains("\r\nsec-websocket-version: 13\r\n"),
        "{response}"
    );
    assert!(head.contains("\r\nconnection: close\r\n"), "{response}");
}

#[tokio::test]
async fn hyper_request_without_upgrade_gets_400() {
    let addr = hyper_server().await;
    let response = raw_request(
        addr,
        "GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        response.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{response}"
    );
}

#[tokio::test]
async fn axum_route_upgrades() {
    let addr = axum_server().await;
    assert_echoes(addr, "/ws").await;
    let response = raw_request(
        addr,
        "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(response.ends_with("plain HTTP\n"), "{response}");
}
