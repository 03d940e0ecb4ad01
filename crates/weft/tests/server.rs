//! The server over loopback: routing, every rejection, the three outcomes of a handler, the
//! registry, limits, keepalive and graceful shutdown.
// Test helpers may unwrap: a failure there is the test's failure.
#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use weft::server::{Admit, OriginPolicy, Refuse, Request, Server, ServerHandle, ServerStream};
use weft::{ClientBuilder, CloseCode, Error, Message, WebSocket};

async fn echo(mut ws: WebSocket<ServerStream>, _req: Request) -> Result<(), Error> {
    while let Some(message) = ws.recv().await {
        let message = message?;
        if message.is_data() {
            ws.send(message).await?;
        }
    }
    Ok(())
}

async fn start(builder: weft::server::ServerBuilder) -> (SocketAddr, ServerHandle) {
    let server = builder.bind("127.0.0.1:0").build().await.unwrap();
    let addr = server.local_addrs()[0];
    let handle = server.handle();
    tokio::spawn(server.run());
    (addr, handle)
}

/// Sends a raw request and returns the response head.
async fn raw_request(addr: SocketAddr, request: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), tcp.read_to_end(&mut response)).await;
    String::from_utf8_lossy(&response).into_owned()
}

fn upgrade_request(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

fn client(addr: SocketAddr, path: &str) -> ClientBuilder {
    ClientBuilder::new(format!("ws://{addr}{path}")).no_proxy()
}

#[tokio::test]
async fn echo_route_serves_text_and_binary() {
    let (addr, _h) = start(Server::builder().route("/echo", echo)).await;
    let mut ws = client(addr, "/echo").connect().await.unwrap();
    for m in [Message::text("hi"), Message::binary(vec![7u8; 70_000])] {
        ws.send(m.clone()).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), m);
    }
    ws.close(CloseCode::NORMAL, "").await.unwrap();
}

#[tokio::test]
async fn path_with_no_route_gets_404() {
    let (addr, _h) = start(Server::builder().route("/echo", echo)).await;
    let response = raw_request(addr, &upgrade_request("/nope", "")).await;
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
}

#[tokio::test]
async fn missing_upgrade_gets_400() {
    let (addr, _h) = start(Server::builder().route("/*", echo)).await;
    let response = raw_request(addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
}

#[tokio::test]
async fn wrong_version_gets_426_with_the_supported_version() {
    let (addr, _h) = start(Server::builder().route("/*", echo)).await;
    let request = upgrade_request("/", "").replace("Version: 13", "Version: 8");
    let response = raw_request(addr, &request).await;
    assert!(response.starts_with("HTTP/1.1 426"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("sec-websocket-version: 13")
    );
}

#[tokio::test]
async fn refused_origin_gets_403_and_allowed_origin_connects() {
    let policy = OriginPolicy::allow(["https://good.example"]);
    let (addr, _h) = start(Server::builder().route("/*", echo).origin_policy(policy)).await;
    let bad = raw_request(
        addr,
        &upgrade_request("/", "Origin: https://evil.example\r\n"),
    )
    .await;
    assert!(bad.starts_with("HTTP/1.1 403"), "{bad}");
    client(addr, "/")
        .origin("https://good.example")
        .connect()
        .await
        .unwrap();
}

#[tokio::test]
async fn plain_ws_gets_403_when_tls_is_required() {
    let (addr, _h) = start(Server::builder().route("/*", echo).require_tls(true)).await;
    let response = raw_request(addr, &upgrade_request("/", "")).await;
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
}

#[tokio::test]
async fn routes_by_subprotocol_with_server_preference() {
    async fn tag(mut ws: WebSocket<ServerStream>, req: Request) -> Result<(), Error> {
        let proto = req.subprotocol.unwrap_or_default();
        ws.send(Message::text(proto)).await?;
        ws.close(CloseCode::NORMAL, "").await
    }
    let builder = Server::builder()
        .route_protocol("/chat", "chat.v2", tag)
        .route_protocol("/chat", "chat.*", tag);
    let (addr, _h) = start(builder).await;
    let mut ws = client(addr, "/chat")
        .protocol("chat.v1")
        .protocol("chat.v2")
        .connect()
        .await
        .unwrap();
    assert_eq!(
        ws.subprotocol(),
        Some("chat.v2"),
        "the server's preference wins"
    );
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("chat.v2"));
    let mut other = client(addr, "/chat")
        .protocol("chat.v1")
        .connect()
        .await
        .unwrap();
    assert_eq!(
        other.recv().await.unwrap().unwrap(),
        Message::text("chat.v1")
    );
}

#[tokio::test]
async fn route_requiring_a_subprotocol_refuses_a_request_without_one() {
    let (addr, _h) = start(Server::builder().route_protocol("/chat", "chat", echo)).await;
    let response = raw_request(addr, &upgrade_request("/chat", "")).await;
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(response.contains("subprotocol"));
}

#[tokio::test]
async fn hook_refuses_with_its_status_and_admits_with_headers_and_data() {
    #[derive(Clone, Debug, PartialEq)]
    struct User(String);
    async fn greet(mut ws: WebSocket<ServerStream>, req: Request) -> Result<(), Error> {
        let user = req
            .data
            .get::<User>()
            .cloned()
            .map(|u| u.0)
            .unwrap_or_default();
        ws.send(Message::text(format!("hello {user}"))).await?;
        ws.close(CloseCode::NORMAL, "").await
    }
    let builder = Server::builder()
        .route("/*", greet)
        .before_upgrade(|req, _peer| {
            match req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
            {
                Some("Bearer ok") => {
                    let mut admit = Admit::default();
                    admit.headers.insert("x-weft-user", "ann".parse().unwrap());
                    admit.data.insert(User("ann".into()));
                    Ok(admit)
                }
                _ => Err(Refuse {
                    status: http::StatusCode::UNAUTHORIZED,
                    body: "token required\n".into(),
                }),
            }
        });
    let (addr, _h) = start(builder).await;
    let refused = raw_request(addr, &upgrade_request("/", "")).await;
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    let (mut ws, response) = client(addr, "/")
        .header("Authorization", "Bearer ok")
        .connect_with_response()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-weft-user"], "ann");
    assert_eq!(
        ws.recv().await.unwrap().unwrap(),
        Message::text("hello ann")
    );
}

#[tokio::test]
async fn handler_error_closes_with_1011() {
    async fn fails(_ws: WebSocket<ServerStream>, _req: Request) -> Result<(), Error> {
        Err(Error::ConnectionLost)
    }
    let (addr, _h) = start(Server::builder().route("/*", fails)).await;
    let mut ws = client(addr, "/").connect().await.unwrap();
    assert!(ws.recv().await.is_none());
    assert_eq!(
        ws.close_frame().map(|f| f.code),
        Some(CloseCode::INTERNAL_ERROR)
    );
}

#[tokio::test]
async fn handler_panic_closes_with_1011_and_others_are_served() {
    async fn panics(_ws: WebSocket<ServerStream>, req: Request) -> Result<(), Error> {
        if req.path == "/boom" {
            panic!("handler bug");
        }
        Ok(())
    }
    let builder = Server::builder()
        .route("/boom", panics)
        .route("/echo", echo);
    let (addr, _h) = start(builder).await;
    let mut survivor = client(addr, "/echo").connect().await.unwrap();
    let mut victim = client(addr, "/boom").connect().await.unwrap();
    assert!(victim.recv().await.is_none());
    assert_eq!(
        victim.close_frame().map(|f| f.code),
        Some(CloseCode::INTERNAL_ERROR)
    );
    survivor.send(Message::text("still here")).await.unwrap();
    assert_eq!(
        survivor.recv().await.unwrap().unwrap(),
        Message::text("still here")
    );
}

#[tokio::test]
async fn handler_returning_without_closing_closes_with_1000() {
    async fn leaves(_ws: WebSocket<ServerStream>, _req: Request) -> Result<(), Error> {
        Ok(())
    }
    let (addr, _h) = start(Server::builder().route("/*", leaves)).await;
    let mut ws = client(addr, "/").connect().await.unwrap();
    let got = ws.recv().await;
    assert!(got.is_none(), "{got:?}");
    assert_eq!(ws.close_frame().map(|f| f.code), Some(CloseCode::NORMAL));
}

#[tokio::test]
async fn registry_lists_finds_and_broadcasts() {
    let server = Server::builder()
        .bind("127.0.0.1:0")
        .route("/*", echo)
        .build()
        .await
        .unwrap();
    let addr = server.local_addrs()[0];
    let registry = server.registry();
    tokio::spawn(server.run());
    let mut a = client(addr, "/room").connect().await.unwrap();
    let mut b = client(addr, "/room").connect().await.unwrap();
    // The registry learns of a connection as its handler starts.
    while registry.len() < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let list = registry.list();
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|c| c.path == "/room"));
    let local_port = a.info().local_addr.unwrap().port();
    let found = registry.find("127.0.0.*", &local_port.to_string());
    assert_eq!(found.len(), 1);
    assert_eq!(
        registry.info(found[0]).unwrap().peer_addr.unwrap().port(),
        local_port
    );
    assert_eq!(registry.broadcast(Message::text("to all")).await, 2);
    assert_eq!(a.recv().await.unwrap().unwrap(), Message::text("to all"));
    assert_eq!(b.recv().await.unwrap().unwrap(), Message::text("to all"));
    registry
        .send(found[0], Message::text("just you"))
        .await
        .unwrap();
    assert_eq!(a.recv().await.unwrap().unwrap(), Message::text("just you"));
    a.send(Message::text("count me")).await.unwrap();
    a.recv().await.unwrap().unwrap();
    assert!(registry.info(found[0]).unwrap().bytes_in > 0);
}

#[tokio::test]
async fn graceful_shutdown_delivers_queued_messages_then_closes_with_1001() {
    async fn talk(mut ws: WebSocket<ServerStream>, _req: Request) -> Result<(), Error> {
        ws.feed(Message::text("queued before shutdown")).await?;
        while let Some(m) = ws.recv().await {
            m?;
        }
        Ok(())
    }
    let (addr, handle) = start(Server::builder().route("/*", talk)).await;
    let mut ws = client(addr, "/").connect().await.unwrap();
    while handle.registry().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let shutdown = tokio::spawn({
        let handle = handle.clone();
        async move { handle.shutdown(Duration::from_secs(5)).await }
    });
    assert_eq!(
        ws.recv().await.unwrap().unwrap(),
        Message::text("queued before shutdown")
    );
    assert!(ws.recv().await.is_none());
    assert_eq!(
        ws.close_frame().map(|f| f.code),
        Some(CloseCode::GOING_AWAY)
    );
    assert!(shutdown.await.unwrap(), "every connection finished in time");
    assert!(TcpStream::connect(addr).await.is_err() || handle.active() == 0);
}

#[tokio::test]
async fn connections_beyond_the_limit_get_503() {
    let (addr, _h) = start(Server::builder().route("/*", echo).max_connections(1)).await;
    let _first = client(addr, "/").connect().await.unwrap();
    let response = raw_request(addr, &upgrade_request("/", "")).await;
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
}

#[tokio::test]
async fn slow_loris_handshake_times_out_while_others_are_served() {
    let builder = Server::builder()
        .route("/*", echo)
        .handshake_timeout(Duration::from_millis(300));
    let (addr, _h) = start(builder).await;
    let mut loris = TcpStream::connect(addr).await.unwrap();
    loris
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut ws = client(addr, "/").connect().await.unwrap();
    ws.send(Message::text("fast")).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("fast"));
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(3), loris.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the slow handshake was cut off");
}

#[tokio::test]
async fn keepalive_closes_a_silent_client() {
    let builder = Server::builder()
        .route("/*", echo)
        .ping_interval(Duration::from_millis(200));
    let (addr, handle) = start(builder).await;
    // A raw client that completes the handshake and then never answers a PING.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(upgrade_request("/", "").as_bytes())
        .await
        .unwrap();
    let mut seen = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut seen)).await;
    assert!(ended.is_ok(), "the server closed the silent connection");
    assert!(
        seen.windows(2).any(|w| w == [0x89, 0x00]),
        "a PING was sent first"
    );
    assert_eq!(handle.active(), 0);
}

#[tokio::test]
async fn a_thousand_connections_each_echo_a_hundred_messages() {
    let (addr, _h) = start(Server::builder().route("/*", echo)).await;
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..1000 {
        tasks.spawn(async move {
            let mut ws = client(addr, "/").connect().await.unwrap();
            for i in 0..100 {
                ws.feed(Message::text(format!("{c}:{i}"))).await.unwrap();
            }
            ws.flush().await.unwrap();
            for i in 0..100 {
                assert_eq!(
                    ws.recv().await.unwrap().unwrap(),
                    Message::text(format!("{c}:{i}"))
                );
            }
            ws.close(CloseCode::NORMAL, "").await.unwrap();
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

#[tokio::test]
async fn tokio_tungstenite_client_talks_to_the_weft_server() {
    use tokio_tungstenite::tungstenite::Message as TMessage;
    let (addr, _h) = start(Server::builder().route("/*", echo)).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
        .await
        .unwrap();
    ws.send(TMessage::text("hello weft")).await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        TMessage::text("hello weft")
    );
    ws.send(TMessage::binary(vec![3u8; 100_000])).await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        TMessage::binary(vec![3u8; 100_000])
    );
    ws.close(None).await.unwrap();
}

#[tokio::test]
async fn permessage_deflate_is_negotiated_by_default_and_carries_messages() {
    let (addr, _h) = start(Server::builder().route("/*", echo)).await;
    let mut ws = client(addr, "/").connect().await.unwrap();
    let extensions = ws.info().extensions;
    assert_eq!(extensions.len(), 1, "{extensions:?}");
    assert!(extensions[0].starts_with("permessage-deflate"));
    let json = "{\"id\":1,\"name\":\"weft\",\"tags\":[\"a\",\"b\",\"c\"]}".repeat(400);
    for _ in 0..3 {
        ws.send(Message::text(json.as_str())).await.unwrap();
        assert_eq!(
            ws.recv().await.unwrap().unwrap(),
            Message::text(json.as_str())
        );
    }
}

#[tokio::test]
async fn deflate_off_on_either_side_means_plain_frames() {
    let config = weft::WebSocketConfig::default().deflate(None);
    let (addr, _h) = start(Server::builder().route("/*", echo).config(config)).await;
    let mut ws = client(addr, "/").connect().await.unwrap();
    assert!(ws.info().extensions.is_empty());
    ws.send(Message::text("x".repeat(1000).as_str()))
        .await
        .unwrap();
    assert_eq!(
        ws.recv().await.unwrap().unwrap(),
        Message::text("x".repeat(1000).as_str())
    );
}

#[tokio::test]
async fn wss_server_and_client_with_a_test_ca() {
    use weft::client::tls::{Roots, ServerTlsOptions, TlsOptions};
    let pki = support::TestPki::generate();
    let tls = ServerTlsOptions::from_pem(pki.server_chain.clone(), pki.server_key.clone());
    let builder = Server::builder()
        .route("/*", echo)
        .tls(tls)
        .require_tls(true);
    let (addr, _h) = start(builder).await;
    let trusted = TlsOptions::new()
        .roots(Roots::None)
        .add_ca_pem(pki.ca.clone());
    let mut ws = ClientBuilder::new(format!("wss://localhost:{}/secure", addr.port()))
        .no_proxy()
        .tls(trusted)
        .connect()
        .await
        .unwrap();
    ws.send(Message::binary(vec![9u8; 200_000])).await.unwrap();
    assert_eq!(
        ws.recv().await.unwrap().unwrap(),
        Message::binary(vec![9u8; 200_000])
    );
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    // Without the CA the certificate is refused.
    let untrusted = ClientBuilder::new(format!("wss://localhost:{}/", addr.port()))
        .no_proxy()
        .tls(TlsOptions::new().roots(Roots::WebPki))
        .connect()
        .await;
    assert!(
        matches!(untrusted, Err(Error::Tls(_)) | Err(Error::Io(_))),
        "{untrusted:?}"
    );
}

#[tokio::test]
async fn binds_ipv6_loopback_too() {
    let Ok(probe) = std::net::TcpListener::bind("[::1]:0") else {
        return; // no IPv6 loopback on this machine
    };
    drop(probe);
    let server = Server::builder()
        .bind("127.0.0.1:0")
        .bind("[::1]:0")
        .route("/*", echo)
        .build()
        .await
        .unwrap();
    let addrs = server.local_addrs();
    tokio::spawn(server.run());
    for addr in addrs {
        let mut ws = client(addr, "/").connect().await.unwrap();
        ws.send(Message::text("both families")).await.unwrap();
        assert_eq!(
            ws.recv().await.unwrap().unwrap(),
            Message::text("both families")
        );
    }
}

/// Counts the messages it receives; after three, answers with their total size.
async fn count_three(mut ws: WebSocket<ServerStream>, _req: Request) -> Result<(), Error> {
    let mut total = 0;
    for _ in 0..3 {
        total += ws
            .recv()
            .await
            .ok_or(Error::ConnectionLost)??
            .payload()
            .len();
    }
    ws.send(Message::text(total.to_string())).await
}

/// The same, through the split reader.
async fn count_three_split(ws: WebSocket<ServerStream>, _req: Request) -> Result<(), Error> {
    let (mut reader, mut writer) = ws.split();
    let mut total = 0;
    for _ in 0..3 {
        total += reader
            .recv()
            .await
            .ok_or(Error::ConnectionLost)??
            .payload()
            .len();
    }
    writer.send(Message::text(total.to_string())).await
}

/// Three messages of 48 KiB of zeros, compressed into one small write: the server inflates
/// at most a message limit (64 KiB here) per read, and must decode the rest from its buffer
/// without waiting for the socket, which has nothing more to give.
async fn three_compressed_messages_in_one_write_all_arrive(
    handler: fn(WebSocket<ServerStream>, Request) -> BoxedHandler,
) {
    let proto = weft::proto::Config::default().max_message_size(64 << 10);
    let config = weft::WebSocketConfig::default().protocol(proto);
    let (addr, _h) = start(Server::builder().route("/*", handler).config(config)).await;
    let mut ws = client(addr, "/").connect().await.unwrap();
    assert!(!ws.info().extensions.is_empty(), "deflate agreed");
    for _ in 0..3 {
        ws.feed(Message::binary(vec![0u8; 48 << 10])).await.unwrap();
    }
    ws.flush().await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), ws.recv())
        .await
        .expect("the server decoded all three without more input")
        .unwrap()
        .unwrap();
    assert_eq!(answer, Message::text((3 * (48 << 10)).to_string()));
}

type BoxedHandler = std::pin::Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;

#[tokio::test]
async fn compressed_messages_past_the_limit_in_one_read_are_all_delivered() {
    three_compressed_messages_in_one_write_all_arrive(|ws, req| Box::pin(count_three(ws, req)))
        .await;
}

#[tokio::test]
async fn compressed_messages_past_the_limit_in_one_read_reach_a_split_reader() {
    three_compressed_messages_in_one_write_all_arrive(|ws, req| {
        Box::pin(count_three_split(ws, req))
    })
    .await;
}
