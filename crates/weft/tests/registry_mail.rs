//! Registry mail and the handler's own sends: mail never cuts into a message the handler has
//! half sent, and is not lost for waiting.
// Test helpers may unwrap: a failure there is the test's failure.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bytes::Bytes;
use weft::client::MaybeTlsStream;
use weft::server::Registry;
use weft::server::{Request, Server, ServerStream};
use weft::{ClientBuilder, CloseCode, DataKind, Error, Message, WebSocket};

/// Sends the first frame of a two-frame message, waits for the client's word, then sends
/// the last frame and echoes until the end.
async fn half_then_whole(mut ws: WebSocket<ServerStream>, _req: Request) -> Result<(), Error> {
    ws.send_frame(DataKind::Text, Bytes::from_static(b"first half, "), false)
        .await?;
    ws.flush().await?;
    // Registry mail arrives while this waits, with the message half sent.
    let _go = ws.recv().await;
    ws.send_frame(DataKind::Text, Bytes::from_static(b"second half"), true)
        .await?;
    ws.flush().await?;
    while let Some(message) = ws.recv().await {
        let message = message?;
        if message.is_data() {
            ws.send(message).await?;
        }
    }
    Ok(())
}

/// The same through the split halves: the first frame, the client's word, the last frame,
/// then echoes.
async fn split_half_then_whole(ws: WebSocket<ServerStream>, _req: Request) -> Result<(), Error> {
    let (mut reader, mut writer) = ws.split();
    writer
        .send_frame(DataKind::Text, Bytes::from_static(b"first half, "), false)
        .await?;
    writer.flush().await?;
    let _go = reader.recv().await;
    writer
        .send_frame(DataKind::Text, Bytes::from_static(b"second half"), true)
        .await?;
    writer.flush().await?;
    while let Some(message) = reader.recv().await {
        let message = message?;
        if message.is_data() {
            writer.send(message).await?;
        }
    }
    Ok(())
}

/// A server on 127.0.0.1 with `handler` on every path, its registry, and a client connected
/// to it whose connection the registry lists.
async fn serve<H, F>(handler: H) -> (Registry, WebSocket<MaybeTlsStream>)
where
    H: Fn(WebSocket<ServerStream>, Request) -> F + Send + Sync + 'static,
    F: Future<Output = Result<(), Error>> + Send + 'static,
{
    let server = Server::builder()
        .bind("127.0.0.1:0")
        .route("/*", handler)
        .build()
        .await
        .unwrap();
    let addr = server.local_addrs()[0];
    let registry = server.registry();
    tokio::spawn(server.run());
    let client = ClientBuilder::new(format!("ws://{addr}/"))
        .no_proxy()
        .connect()
        .await
        .unwrap();
    while registry.is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (registry, client)
}

/// Posts `mail` while the handler's message is half sent, lets the handler finish it, and
/// checks the client gets the whole message and then the mail.
async fn mail_follows_the_whole_message(registry: Registry, mut client: WebSocket<MaybeTlsStream>) {
    let id = registry.list()[0].id;
    registry.send(id, Message::text("mail")).await.unwrap();
    // Give the handler's task the wake-up the mail brings, while its message is half sent.
    tokio::time::sleep(Duration::from_millis(50)).await;
    client.send(Message::text("go")).await.unwrap();
    let within = Duration::from_secs(5);
    let first = tokio::time::timeout(within, client.recv()).await.unwrap();
    assert_eq!(
        first.unwrap().unwrap(),
        Message::text("first half, second half")
    );
    let second = tokio::time::timeout(within, client.recv()).await;
    assert_eq!(
        second.expect("the mail was lost").unwrap().unwrap(),
        Message::text("mail")
    );
}

#[tokio::test]
async fn mail_during_a_half_sent_message_follows_it_whole() {
    let (registry, client) = serve(half_then_whole).await;
    mail_follows_the_whole_message(registry, client).await;
}

#[tokio::test]
async fn mail_during_a_split_writer_half_sent_message_follows_it_whole() {
    let (registry, client) = serve(split_half_then_whole).await;
    mail_follows_the_whole_message(registry, client).await;
}

#[tokio::test]
async fn a_registry_close_goes_out_between_the_frames_of_a_half_sent_message() {
    let (registry, mut client) = serve(half_then_whole).await;
    // RFC 6455 5.4: a control frame may come between the frames of a message.
    registry.close_all(CloseCode::GOING_AWAY, "shutting down");
    let end = tokio::time::timeout(Duration::from_secs(5), client.recv()).await;
    assert!(end.expect("no close arrived").is_none());
    assert_eq!(
        client.close_frame().map(|f| f.code),
        Some(CloseCode::GOING_AWAY)
    );
}
