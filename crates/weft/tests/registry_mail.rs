//! Registry mail and the handler's own sends: mail never cuts into a message the handler has
//! half sent, and is not lost for waiting.
// Test helpers may unwrap: a failure there is the test's failure.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bytes::Bytes;
use weft::server::{Request, Server, ServerStream};
use weft::{ClientBuilder, DataKind, Error, Message, WebSocket};

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

#[tokio::test]
async fn mail_during_a_half_sent_message_follows_it_whole() {
    let server = Server::builder()
        .bind("127.0.0.1:0")
        .route("/*", half_then_whole)
        .build()
        .await
        .unwrap();
    let addr = server.local_addrs()[0];
    let registry = server.registry();
    tokio::spawn(server.run());
    let mut client = ClientBuilder::new(format!("ws://{addr}/"))
        .no_proxy()
        .connect()
        .await
        .unwrap();
    while registry.is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
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
