//! `WebSocket` over an in-memory transport: messages, control frames, the close handshake,
//! keepalive and backpressure.
// Test helpers may unwrap: a failure there is the test's failure.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};
use weft::proto::{Config, Role};
use weft::{
    CloseCode, ConnState, DataKind, Error, Event, Keepalive, Message, Timeout, WebSocket,
    WebSocketConfig,
};

fn pair_with(
    client: WebSocketConfig,
    server: WebSocketConfig,
) -> (WebSocket<DuplexStream>, WebSocket<DuplexStream>) {
    let (a, b) = duplex(64 << 10);
    (
        WebSocket::new(a, Role::Client, client),
        WebSocket::new(b, Role::Server, server),
    )
}

fn pair() -> (WebSocket<DuplexStream>, WebSocket<DuplexStream>) {
    pair_with(WebSocketConfig::default(), WebSocketConfig::default())
}

#[tokio::test]
async fn text_binary_and_empty_messages_round_trip() {
    let (mut client, mut server) = pair();
    let sent = vec![
        Message::text("hello"),
        Message::binary(vec![0u8, 1, 2, 255]),
        Message::text(""),
        Message::binary(Vec::new()),
    ];
    for message in &sent {
        client.send(message.clone()).await.unwrap();
    }
    for message in sent {
        assert_eq!(server.recv().await.unwrap().unwrap(), message);
    }
}

#[tokio::test]
async fn sixteen_mib_message_crosses_both_ways() {
    let (mut client, mut server) = pair();
    let big = Bytes::from(vec![0x5Au8; 16 << 20]);
    let sender = tokio::spawn(async move {
        client.send(Message::Binary(big)).await.unwrap();
        let echoed = client.recv().await.unwrap().unwrap();
        assert_eq!(echoed.payload().len(), 16 << 20);
    });
    let got = server.recv().await.unwrap().unwrap();
    assert_eq!(got.payload().len(), 16 << 20);
    assert!(got.payload().iter().all(|&b| b == 0x5A));
    server.send(got).await.unwrap();
    sender.await.unwrap();
}

#[tokio::test]
async fn ping_is_answered_with_a_pong_without_the_receiver_doing_anything() {
    let (mut client, mut server) = pair();
    let server_task = tokio::spawn(async move {
        // The server only reads; its PONG goes out from the read path's queue.
        assert_eq!(
            server.recv().await.unwrap().unwrap(),
            Message::Ping("hb".into())
        );
        server
    });
    client.send(Message::Ping("hb".into())).await.unwrap();
    let pong = tokio::time::timeout(Duration::from_secs(2), client.recv())
        .await
        .expect("the PONG arrives while the server is not polled again");
    assert_eq!(pong.unwrap().unwrap(), Message::Pong("hb".into()));
    drop(server_task.await.unwrap());
}

#[tokio::test]
async fn client_close_ends_both_streams_with_none() {
    let (mut client, mut server) = pair();
    let server_task = tokio::spawn(async move {
        assert!(
            server.recv().await.is_none(),
            "a clean close ends the stream"
        );
        server.close_frame().map(|f| f.code)
    });
    client.close(CloseCode::NORMAL, "bye").await.unwrap();
    assert_eq!(server_task.await.unwrap(), Some(CloseCode::NORMAL));
    assert_eq!(
        client.close_frame().map(|f| f.code),
        Some(CloseCode::NORMAL)
    );
    assert!(client.recv().await.is_none());
    assert_eq!(client.info().state, ConnState::Closed);
}

#[tokio::test]
async fn server_close_is_echoed_and_reported() {
    let (mut client, mut server) = pair();
    let client_task = tokio::spawn(async move {
        assert!(client.recv().await.is_none());
        client.close_frame().cloned()
    });
    server
        .close(CloseCode::GOING_AWAY, "restart")
        .await
        .unwrap();
    let frame = client_task.await.unwrap().unwrap();
    assert_eq!(
        (frame.code, frame.reason.as_str()),
        (CloseCode::GOING_AWAY, "restart")
    );
    assert_eq!(
        server.close_frame().map(|f| f.code),
        Some(CloseCode::GOING_AWAY)
    );
}

#[tokio::test]
async fn simultaneous_close_completes_on_both_sides() {
    let (mut client, mut server) = pair();
    let (a, b) = tokio::join!(
        client.close(CloseCode::NORMAL, "c"),
        server.close(CloseCode::GOING_AWAY, "s"),
    );
    a.unwrap();
    b.unwrap();
    assert_eq!(
        client.close_frame().map(|f| f.code),
        Some(CloseCode::GOING_AWAY)
    );
    assert_eq!(
        server.close_frame().map(|f| f.code),
        Some(CloseCode::NORMAL)
    );
}

#[tokio::test]
async fn dropped_handle_still_completes_the_close_handshake() {
    let (client, mut server) = pair();
    drop(client);
    assert!(server.recv().await.is_none());
    assert_eq!(
        server.close_frame().map(|f| f.code),
        Some(CloseCode::NORMAL)
    );
}

#[tokio::test]
async fn messages_sent_before_close_arrive_before_the_end() {
    let (mut client, mut server) = pair();
    client.feed(Message::text("one")).await.unwrap();
    client.feed(Message::text("two")).await.unwrap();
    let closer = tokio::spawn(async move { client.close(CloseCode::NORMAL, "").await });
    assert_eq!(server.recv().await.unwrap().unwrap(), Message::text("one"));
    assert_eq!(server.recv().await.unwrap().unwrap(), Message::text("two"));
    assert!(server.recv().await.is_none());
    closer.await.unwrap().unwrap();
}

#[tokio::test]
async fn lost_transport_is_an_error_not_a_clean_end() {
    let (a, mut b) = duplex(1024);
    let mut client = WebSocket::new(a, Role::Client, WebSocketConfig::default());
    b.shutdown().await.unwrap();
    drop(b);
    assert!(matches!(
        client.recv().await,
        Some(Err(Error::ConnectionLost))
    ));
}

#[tokio::test]
async fn failed_write_is_reported_once_then_the_stream_ends() {
    let (a, mut raw) = duplex(1024);
    let mut server = WebSocket::new(a, Role::Server, WebSocketConfig::default());
    // A masked PING ("hb") whose PONG cannot be written: the peer is gone.
    raw.write_all(&[0x89, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'b' ^ 2])
        .await
        .unwrap();
    drop(raw);
    let mut errors = 0;
    let mut items = 0;
    while let Some(item) = tokio::time::timeout(Duration::from_secs(2), server.next_event())
        .await
        .expect("the stream ends instead of waiting")
    {
        items += 1;
        errors += usize::from(item.is_err());
        assert!(
            items < 10,
            "a dead transport must end the stream, not repeat its error"
        );
    }
    assert!(
        errors <= 1,
        "the write failure is reported once, got {errors}"
    );
}

#[tokio::test]
async fn protocol_error_from_peer_is_reported_and_closed_with_its_code() {
    let (a, mut raw) = duplex(1024);
    let mut server = WebSocket::new(a, Role::Server, WebSocketConfig::default());
    // An unmasked frame from a client.
    raw.write_all(&[0x81, 0x02, b'h', b'i']).await.unwrap();
    let err = server.recv().await.unwrap().unwrap_err();
    assert!(matches!(
        err,
        Error::Protocol(weft::proto::ProtocolError::UnmaskedFrame)
    ));
    drop(server);
    let mut reply = Vec::new();
    raw.read_to_end(&mut reply).await.unwrap();
    assert_eq!(reply[0], 0x88, "a close frame");
    assert_eq!(&reply[2..4], &1002u16.to_be_bytes());
}

#[tokio::test(start_paused = true)]
async fn keepalive_closes_a_peer_that_never_answers() {
    let (a, _silent) = duplex(64 << 10);
    let config = WebSocketConfig::default()
        .keepalive(Keepalive::every(Duration::from_secs(10)).timeout(Duration::from_secs(5)));
    let mut client = WebSocket::new(a, Role::Client, config);
    let err = client.recv().await.unwrap().unwrap_err();
    assert!(matches!(err, Error::Timeout(Timeout::Pong)), "{err:?}");
}

#[tokio::test(start_paused = true)]
async fn keepalive_awaits_no_pong_for_a_ping_it_could_not_send() {
    let (a, _peer) = duplex(64 << 10);
    let config = WebSocketConfig::default()
        .keepalive(Keepalive::every(Duration::from_secs(1)).timeout(Duration::from_secs(1)));
    let mut client = WebSocket::new(a, Role::Client, config);
    // Half of a declared frame is out: no PING can go until the rest follows.
    client
        .start_frame(DataKind::Binary, 10, true)
        .await
        .unwrap();
    client
        .send_fragment(Bytes::from_static(b"12345"))
        .await
        .unwrap();
    let waited = tokio::time::timeout(Duration::from_secs(10), client.next_event()).await;
    assert!(waited.is_err(), "no event, no PONG timeout: {waited:?}");
}

#[tokio::test(start_paused = true)]
async fn a_pong_that_arrived_while_the_application_was_busy_is_read_before_the_deadline_fails() {
    let client_config = WebSocketConfig::default()
        .keepalive(Keepalive::every(Duration::from_secs(1)).timeout(Duration::from_secs(1)));
    let server_config = WebSocketConfig::default().protocol(Config::default().auto_pong(false));
    let (mut client, mut server) = pair_with(client_config, server_config);
    let server_task = tokio::spawn(async move {
        let Some(Ok(Message::Ping(payload))) = server.recv().await else {
            panic!("expected the keepalive PING");
        };
        // A message first, then the PONG while the client is busy with it.
        server.send(Message::text("tick")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        server.send(Message::Pong(payload)).await.unwrap();
        server
    });
    assert_eq!(client.recv().await.unwrap().unwrap(), Message::text("tick"));
    // Busy past the PONG deadline; the PONG is in the transport meanwhile.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let next = client.recv().await;
    assert!(matches!(next, Some(Ok(Message::Pong(_)))), "{next:?}");
    assert!(client.rtt().is_some());
    drop(server_task.await.unwrap());
}

#[tokio::test(start_paused = true)]
async fn idle_timeout_closes_with_1001_when_nothing_arrives() {
    let (a, mut raw) = duplex(1024);
    let config = WebSocketConfig::default().idle_timeout(Duration::from_secs(5));
    let mut server = WebSocket::new(a, Role::Server, config);
    let started = tokio::time::Instant::now();
    let err = server.recv().await.unwrap().unwrap_err();
    assert!(matches!(err, Error::Timeout(Timeout::Idle)), "{err:?}");
    assert_eq!(started.elapsed().as_secs(), 5);
    let mut head = [0u8; 4];
    raw.read_exact(&mut head).await.unwrap();
    assert_eq!(head[0], 0x88, "a close frame");
    assert_eq!(&head[2..4], &1001u16.to_be_bytes());
}

#[tokio::test(start_paused = true)]
async fn reads_keep_an_idle_timeout_from_running_out() {
    let (a, mut raw) = duplex(1024);
    let config = WebSocketConfig::default().idle_timeout(Duration::from_secs(3));
    let mut server = WebSocket::new(a, Role::Server, config);
    let peer = tokio::spawn(async move {
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_secs(2)).await;
            // A masked, empty binary frame.
            raw.write_all(&[0x82, 0x80, 1, 2, 3, 4]).await.unwrap();
        }
        raw
    });
    for _ in 0..4 {
        let message = server.recv().await.unwrap().unwrap();
        assert_eq!(message, Message::binary(Vec::new()));
    }
    let _raw = peer.await.unwrap();
    // Now nothing arrives: the timeout runs out 3 s after the last read.
    let started = tokio::time::Instant::now();
    let err = server.recv().await.unwrap().unwrap_err();
    assert!(matches!(err, Error::Timeout(Timeout::Idle)), "{err:?}");
    assert_eq!(started.elapsed().as_secs(), 3);
}

#[tokio::test(start_paused = true)]
async fn keepalive_measures_round_trip_time() {
    let config = WebSocketConfig::default().keepalive(Keepalive::every(Duration::from_secs(1)));
    let (mut client, mut server) = pair_with(config, WebSocketConfig::default());
    let server_task = tokio::spawn(async move { while let Some(Ok(_)) = server.recv().await {} });
    let only_pongs = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            match client.recv().await {
                Some(Ok(Message::Pong(_))) => continue,
                other => panic!("expected only PONGs, got {other:?}"),
            }
        }
    })
    .await;
    assert!(only_pongs.is_err(), "PONGs keep arriving until the timeout");
    assert!(client.rtt().is_some());
    drop(client);
    server_task.await.unwrap();
}

#[tokio::test]
async fn sending_waits_while_the_peer_does_not_read() {
    let (a, _never_read) = duplex(16 << 10);
    let config = WebSocketConfig::default().write_watermarks(32 << 10, 64 << 10);
    let mut client = WebSocket::new(a, Role::Client, config);
    let chunk = Bytes::from(vec![1u8; 8 << 10]);
    let mut queued = 0usize;
    let stalled = tokio::time::timeout(Duration::from_millis(300), async {
        loop {
            client.feed(Message::Binary(chunk.clone())).await.unwrap();
            queued += chunk.len();
        }
    })
    .await;
    assert!(stalled.is_err(), "feed must wait once the buffer is full");
    // The transport holds 16 KiB; the connection may hold at most the high watermark plus one
    // message beyond it.
    assert!(
        queued <= (16 << 10) + (64 << 10) + (8 << 10) + 64,
        "queued {queued}"
    );
}

#[tokio::test]
async fn stream_and_sink_traits_carry_messages() {
    let (mut client, mut server) = pair();
    client
        .send_all(&mut futures_util::stream::iter(vec![
            Ok(Message::text("a")),
            Ok(Message::text("b")),
        ]))
        .await
        .unwrap();
    let (closed, got) = tokio::join!(
        SinkExt::close(&mut client),
        (&mut server).map(|m| m.unwrap()).collect::<Vec<Message>>()
    );
    closed.unwrap();
    assert_eq!(got, vec![Message::text("a"), Message::text("b")]);
}

#[tokio::test]
async fn fragments_stream_with_curl_metadata() {
    let config = WebSocketConfig::default().protocol(Config::default().fragment_mode(true));
    let (mut client, mut server) = pair_with(WebSocketConfig::default(), config);
    client
        .start_frame(DataKind::Binary, 10, true)
        .await
        .unwrap();
    client
        .send_fragment(Bytes::from_static(b"01234"))
        .await
        .unwrap();
    client
        .send_fragment(Bytes::from_static(b"56789"))
        .await
        .unwrap();
    let mut data = Vec::new();
    loop {
        let part = server.recv_fragment().await.unwrap().unwrap();
        assert_eq!(part.offset as usize, data.len());
        data.extend_from_slice(&part.data);
        assert_eq!(part.bytes_left as usize, 10 - data.len());
        if part.is_message_end() {
            break;
        }
    }
    assert_eq!(data, b"0123456789");
}

#[tokio::test]
async fn message_sent_as_frames_arrives_whole() {
    let (mut client, mut server) = pair();
    client
        .send_frame(DataKind::Text, Bytes::from_static(b"Hel"), false)
        .await
        .unwrap();
    client
        .send_frame(DataKind::Text, Bytes::from_static(b"lo"), true)
        .await
        .unwrap();
    assert_eq!(
        server.recv().await.unwrap().unwrap(),
        Message::text("Hello")
    );
}

#[tokio::test]
async fn raw_mode_passes_bytes_untouched() {
    let (a, mut raw) = duplex(1024);
    let config = WebSocketConfig::default().protocol(Config::default().raw_mode(true));
    let mut ws = WebSocket::new(a, Role::Client, config);
    raw.write_all(b"\x81\x02hi").await.unwrap();
    match ws.next_event().await.unwrap().unwrap() {
        Event::Raw(bytes) => assert_eq!(&bytes[..], b"\x81\x02hi"),
        other => panic!("expected raw bytes, got {other:?}"),
    }
    ws.send_raw(Bytes::from_static(b"anything")).await.unwrap();
    let mut got = [0u8; 8];
    raw.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"anything");
}

#[tokio::test]
async fn info_reports_role_and_state() {
    let (client, server) = pair();
    assert_eq!(client.info().role, Role::Client);
    assert_eq!(server.info().role, Role::Server);
    assert_eq!(client.info().state, ConnState::Open);
}

#[tokio::test]
async fn interoperates_with_tokio_tungstenite() {
    use tokio_tungstenite::tungstenite::Message as TMessage;
    use tokio_tungstenite::tungstenite::protocol::Role as TRole;
    let (a, b) = duplex(64 << 10);
    let mut ours = WebSocket::new(a, Role::Client, WebSocketConfig::default());
    let mut theirs =
        tokio_tungstenite::WebSocketStream::from_raw_socket(b, TRole::Server, None).await;
    ours.send(Message::text("from weft")).await.unwrap();
    let got = theirs.next().await.unwrap().unwrap();
    assert_eq!(got, TMessage::text("from weft"));
    let (sent, got) = tokio::join!(
        theirs.send(TMessage::binary(vec![9u8; 70_000])),
        ours.recv()
    );
    sent.unwrap();
    assert_eq!(got.unwrap().unwrap(), Message::binary(vec![9u8; 70_000]));
    let (closed, _) = tokio::join!(ours.close(CloseCode::NORMAL, "done"), async move {
        // tungstenite, as the server, ends the stream after the close handshake; dropping it
        // closes the transport as a server does (§7.1.1).
        while let Some(Ok(_)) = theirs.next().await {}
    });
    closed.unwrap();
}
