//! Split halves: reading and writing on different tasks, replies from the reader reaching the
//! peer through the writer task, and the close handshake across the halves.
// Test helpers may unwrap: a failure there is the test's failure.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::duplex;
use weft::proto::Role;
use weft::{CloseCode, Message, WebSocket, WebSocketConfig};

fn pair() -> (
    WebSocket<tokio::io::DuplexStream>,
    WebSocket<tokio::io::DuplexStream>,
) {
    let (a, b) = duplex(64 << 10);
    (
        WebSocket::new(a, Role::Client, WebSocketConfig::default()),
        WebSocket::new(b, Role::Server, WebSocketConfig::default()),
    )
}

#[tokio::test]
async fn halves_send_and_receive_from_different_tasks() {
    let (client, mut server) = pair();
    let (mut reader, mut writer) = client.split();
    let sending = tokio::spawn(async move {
        for i in 0..100 {
            writer.send(Message::text(format!("m{i}"))).await.unwrap();
        }
        writer
    });
    for i in 0..100 {
        let got = server.recv().await.unwrap().unwrap();
        assert_eq!(got, Message::text(format!("m{i}")));
        server.send(got).await.unwrap();
    }
    for i in 0..100 {
        assert_eq!(
            reader.recv().await.unwrap().unwrap(),
            Message::text(format!("m{i}"))
        );
    }
    drop(sending.await.unwrap());
}

#[tokio::test]
async fn reader_replies_to_pings_while_the_writer_is_idle() {
    let (client, mut server) = pair();
    let (mut reader, _writer) = client.split();
    let reading = tokio::spawn(async move { reader.recv().await });
    server
        .send(Message::Ping("are you there".into()))
        .await
        .unwrap();
    let pong = tokio::time::timeout(Duration::from_secs(2), server.recv())
        .await
        .unwrap();
    assert_eq!(
        pong.unwrap().unwrap(),
        Message::Pong("are you there".into())
    );
    reading.abort();
}

#[tokio::test]
async fn reader_that_returned_a_ping_has_already_sent_the_pong() {
    let (client, mut server) = pair();
    let (mut reader, _writer) = client.split();
    server.send(Message::Ping("hb".into())).await.unwrap();
    assert_eq!(
        reader.recv().await.unwrap().unwrap(),
        Message::Ping("hb".into())
    );
    // The reader is kept but not polled again: the PONG must not wait for it.
    let pong = tokio::time::timeout(Duration::from_secs(2), server.recv())
        .await
        .expect("the PONG arrives while the reader is not polled");
    assert_eq!(pong.unwrap().unwrap(), Message::Pong("hb".into()));
    drop(reader);
}

#[tokio::test]
async fn writer_close_completes_with_the_reader_seeing_the_end() {
    let (client, mut server) = pair();
    let (mut reader, mut writer) = client.split();
    writer.close(CloseCode::NORMAL, "done").await.unwrap();
    assert!(server.recv().await.is_none());
    assert_eq!(
        server.close_frame().map(|f| f.code),
        Some(CloseCode::NORMAL)
    );
    assert!(reader.recv().await.is_none());
    assert_eq!(
        reader.close_frame().map(|f| f.code),
        Some(CloseCode::NORMAL)
    );
}

#[tokio::test]
async fn peer_close_ends_the_reader_and_the_writer_echoes_it() {
    let (client, mut server) = pair();
    let (mut reader, writer) = client.split();
    let closing = tokio::spawn(async move { server.close(CloseCode::GOING_AWAY, "bye").await });
    assert!(reader.next().await.is_none());
    assert_eq!(
        reader.close_frame().map(|f| f.code),
        Some(CloseCode::GOING_AWAY)
    );
    closing.await.unwrap().unwrap();
    drop(writer);
}

#[tokio::test]
async fn writer_waits_when_the_peer_does_not_read() {
    let (a, _never_read) = duplex(8 << 10);
    let config = WebSocketConfig::default().write_watermarks(16 << 10, 32 << 10);
    let ws = WebSocket::new(a, Role::Client, config);
    let (_reader, mut writer) = ws.split();
    let chunk = bytes::Bytes::from(vec![0u8; 4 << 10]);
    let mut sent = 0usize;
    let stalled = tokio::time::timeout(Duration::from_millis(300), async {
        loop {
            writer.send(Message::Binary(chunk.clone())).await.unwrap();
            sent += chunk.len();
        }
    })
    .await;
    assert!(stalled.is_err());
    assert!(
        sent <= (8 << 10) + (32 << 10) + (4 << 10) * 2,
        "sent {sent}"
    );
}

#[tokio::test(start_paused = true)]
async fn reader_awaits_no_pong_for_a_keepalive_ping_the_writer_could_not_send() {
    let (a, _peer) = duplex(64 << 10);
    let config = WebSocketConfig::default()
        .keepalive(weft::Keepalive::every(Duration::from_secs(1)).timeout(Duration::from_secs(1)));
    let (mut reader, mut writer) = WebSocket::new(a, Role::Client, config).split();
    // Half of a declared frame is out: the writer can send no PING until the rest follows.
    writer
        .start_frame(weft::DataKind::Binary, 10, true)
        .unwrap();
    writer
        .send_fragment(bytes::Bytes::from_static(b"12345"))
        .await
        .unwrap();
    writer.flush().await.unwrap();
    let waited = tokio::time::timeout(Duration::from_secs(10), reader.recv()).await;
    assert!(waited.is_err(), "no message, no PONG timeout: {waited:?}");
    // The frame finished, PINGs go out again, and a peer that never answers still times out.
    writer
        .send_fragment(bytes::Bytes::from_static(b"67890"))
        .await
        .unwrap();
    let next = tokio::time::timeout(Duration::from_secs(10), reader.recv()).await;
    assert!(
        matches!(
            next,
            Ok(Some(Err(weft::Error::Timeout(weft::Timeout::Pong))))
        ),
        "{next:?}"
    );
}

#[tokio::test]
async fn messages_read_before_the_split_reach_the_reader() {
    let (mut client, mut server) = pair();
    // Both in one write, so one read brings them; the first is taken before the split.
    server.feed(Message::text("first")).await.unwrap();
    server.feed(Message::text("second")).await.unwrap();
    server.flush().await.unwrap();
    assert_eq!(
        client.recv().await.unwrap().unwrap(),
        Message::text("first")
    );

    let (mut reader, _writer) = client.split();

    // The peer sends nothing more: the second must come from what was already read.
    let second = tokio::time::timeout(Duration::from_secs(2), reader.recv())
        .await
        .expect("the second message, without more traffic");
    assert_eq!(second.unwrap().unwrap(), Message::text("second"));
}
