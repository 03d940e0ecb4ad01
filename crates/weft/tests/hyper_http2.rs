//! WebSockets over HTTP/2 (RFC 8441, feature `http2`): a hyper 1 server announcing extended
//! CONNECT hands `/ws` and `/chat` over to weft, and a hyper HTTP/2 client opens WebSockets
//! on streams of one connection, over loopback.
#![cfg(feature = "http2")]

mod hyper_support;

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::client::conn::http2::SendRequest;
use hyper::ext::Protocol;
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper::{Request, StatusCode, Version};
use hyper_support::{axum_ws, route};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};
use weft::proto::Role;
use weft::{CloseCode, Message, WebSocket, WebSocketConfig};

/// An HTTP/2 server (prior knowledge, no TLS) that takes extended CONNECT.
async fn server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("a bound address");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(
                http2::Builder::new(TokioExecutor::new())
                    .enable_connect_protocol()
                    .serve_connection(TokioIo::new(tcp), service_fn(route)),
            );
        }
    });
    addr
}

/// An axum app: `axum::serve` announces extended CONNECT on HTTP/2, and the route takes
/// CONNECT as well as GET.
async fn axum_server() -> SocketAddr {
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "plain HTTP\n" }))
        .route("/ws", axum::routing::any(axum_ws));
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("a bound address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// One HTTP/2 connection to `addr`, ready for requests once the server's SETTINGS (which
/// allow extended CONNECT) have arrived.
async fn connect(addr: SocketAddr) -> SendRequest<Empty<Bytes>> {
    let tcp = TcpStream::connect(addr)
        .await
        .expect("the server is listening");
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("an HTTP/2 connection");
    tokio::spawn(connection);
    // A plain request round trip: by its answer the server's SETTINGS have been read.
    let plain = Request::get(format!("http://{addr}/"))
        .version(Version::HTTP_2)
        .body(Empty::new())
        .expect("request");
    sender.ready().await.expect("ready");
    let answer = sender.send_request(plain).await.expect("an answer");
    assert_eq!(answer.status(), StatusCode::OK);
    sender
}

/// An extended CONNECT for a WebSocket at `path`, with `headers` added.
fn websocket_request(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Request<Empty<Bytes>> {
    let mut request = Request::connect(format!("http://{addr}{path}"))
        .version(Version::HTTP_2)
        .header("sec-websocket-version", "13");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut request = request.body(Empty::new()).expect("request");
    request
        .extensions_mut()
        .insert(Protocol::from_static("websocket"));
    request
}

/// Opens a WebSocket on a new stream of `sender`'s connection.
async fn open(
    sender: &mut SendRequest<Empty<Bytes>>,
    addr: SocketAddr,
    path: &str,
) -> WebSocket<TokioIo<hyper::upgrade::Upgraded>> {
    sender.ready().await.expect("ready");
    let response = sender
        .send_request(websocket_request(addr, path, &[]))
        .await
        .expect("an answer");
    assert_eq!(response.status(), StatusCode::OK);
    let stream = hyper::upgrade::on(response).await.expect("the stream");
    WebSocket::from_upgraded(
        TokioIo::new(stream),
        Role::Client,
        WebSocketConfig::default(),
    )
}

async fn assert_echoes(ws: &mut WebSocket<TokioIo<hyper::upgrade::Upgraded>>, message: Message) {
    ws.send(message.clone()).await.expect("sent");
    let echoed = ws.recv().await.expect("an echo").expect("a message");
    assert_eq!(echoed, message);
}

#[tokio::test]
async fn extended_connect_opens_a_websocket_that_echoes() {
    let addr = server().await;
    let mut sender = connect(addr).await;
    let mut ws = open(&mut sender, addr, "/ws").await;
    assert_echoes(&mut ws, Message::text("over HTTP/2")).await;
}

#[tokio::test]
async fn a_message_larger_than_the_stream_window_is_echoed_whole() {
    let addr = server().await;
    let mut sender = connect(addr).await;
    let mut ws = open(&mut sender, addr, "/ws").await;
    // The stream's initial flow-control window is 64 KiB: the echo needs WINDOW_UPDATEs both
    // ways.
    assert_echoes(&mut ws, Message::binary(vec![7u8; 200_000])).await;
}

#[tokio::test]
async fn close_handshake_over_a_stream_is_clean() {
    let addr = server().await;
    let mut sender = connect(addr).await;
    let mut ws = open(&mut sender, addr, "/ws").await;
    ws.close(CloseCode::NORMAL, "done")
        .await
        .expect("a clean close");
    let echoed = ws.close_frame().expect("the server's close");
    assert_eq!(echoed.code, CloseCode::NORMAL);
}

#[tokio::test]
async fn websockets_on_two_streams_of_one_connection_stay_apart() {
    let addr = server().await;
    let mut sender = connect(addr).await;
    let mut first = open(&mut sender, addr, "/ws").await;
    let mut second = open(&mut sender, addr, "/ws").await;
    first.send(Message::text("one")).await.expect("sent");
    second.send(Message::text("two")).await.expect("sent");
    let two = second.recv().await.expect("an echo").expect("a message");
    let one = first.recv().await.expect("an echo").expect("a message");
    assert_eq!((one, two), (Message::text("one"), Message::text("two")));
    first.close(CloseCode::NORMAL, "").await.expect("closed");
    // The other stream, and the connection, outlive the first WebSocket.
    assert_echoes(&mut second, Message::text("still here")).await;
    second.close(CloseCode::NORMAL, "").await.expect("closed");
}

#[tokio::test]
async fn the_200_names_the_subprotocol_the_route_chose() {
    let addr = server().await;
    let mut sender = connect(addr).await;
    sender.ready().await.expect("ready");
    let request = websocket_request(
        addr,
        "/chat",
        &[("sec-websocket-protocol", "v2.chat, v1.chat")],
    );
    let response = sender.send_request(request).await.expect("an answer");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["sec-websocket-protocol"], "v1.chat");
    assert!(!response.headers().contains_key("sec-websocket-accept"));
}

#[tokio::test]
async fn the_200_agrees_permessage_deflate_as_over_http1() {
    let addr = server().await;
    let mut sender = connect(addr).await;
    sender.ready().await.expect("ready");
    let request = websocket_request(
        addr,
        "/ws",
        &[("sec-websocket-extensions", "permessage-deflate")],
    );
    let response = sender.send_request(request).await.expect("an answer");
    assert_eq!(response.status(), StatusCode::OK);
    let agreed = response.headers()["sec-websocket-extensions"]
        .to_str()
        .expect("ASCII");
    assert!(agreed.starts_with("permessage-deflate"), "{agreed}");
}

#[tokio::test]
async fn another_websocket_version_is_answered_426_naming_13() {
    let addr = server().await;
    let mut sender = connect(addr).await;
    sender.ready().await.expect("ready");
    let mut request = websocket_request(addr, "/ws", &[]);
    request
        .headers_mut()
        .insert("sec-websocket-version", http::HeaderValue::from_static("8"));
    let response = sender.send_request(request).await.expect("an answer");
    assert_eq!(response.status(), StatusCode::UPGRADE_REQUIRED);
    assert_eq!(response.headers()["sec-websocket-version"], "13");
}

#[tokio::test]
async fn a_connect_for_another_protocol_is_answered_400() {
    let addr = server().await;
    let mut sender = connect(addr).await;
    sender.ready().await.expect("ready");
    let mut request = websocket_request(addr, "/ws", &[]);
    request
        .extensions_mut()
        .insert(Protocol::from_static("webtransport"));
    let response = sender.send_request(request).await.expect("an answer");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_axum_route_takes_a_websocket_over_http2() {
    let addr = axum_server().await;
    let mut sender = connect(addr).await;
    let mut ws = open(&mut sender, addr, "/ws").await;
    assert_echoes(&mut ws, Message::text("via axum")).await;
    ws.close(CloseCode::NORMAL, "").await.expect("closed");
}

#[test]
fn a_connect_over_http1_is_refused_like_any_method_but_get() {
    let mut request = Request::connect("http://example.com/ws")
        .version(Version::HTTP_11)
        .header("sec-websocket-version", "13")
        .body(())
        .expect("request");
    request
        .extensions_mut()
        .insert(Protocol::from_static("websocket"));
    let error = weft::hyper::check(&request, &weft::proto::Limits::DEFAULT)
        .expect_err("a CONNECT over HTTP/1.1 is a tunnel");
    assert_eq!(
        error,
        weft::proto::HandshakeError::MethodNotGet(http::Method::CONNECT)
    );
}

#[tokio::test]
async fn a_websocket_asked_for_at_an_unserved_path_is_answered_404() {
    let addr = server().await;
    let mut sender = connect(addr).await;
    sender.ready().await.expect("ready");
    let request = websocket_request(addr, "/elsewhere", &[]);
    let response = sender.send_request(request).await.expect("an answer");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
