//! Handler adapters: the event handler (Tcl's callback model) sees each event of a
//! connection's life in order and can reply; byte streams (Seastar's handlers) carry decoded
//! payloads in and turn writes into messages. A handler's failure closes with 1011.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};
use weft::handler::{
    EventHandler, HandlerError, Session, Transport, byte_streams, run_byte_handler, run_events,
};
use weft::proto::Role;
use weft::{
    CloseCode, CloseFrame, DataKind, Error, Event, Info, Keepalive, Message, Text, Timeout,
    WebSocket, WebSocketConfig,
};

/// A client-role peer and a server-role connection for the handler.
fn pair(server: WebSocketConfig) -> (WebSocket<DuplexStream>, WebSocket<DuplexStream>) {
    let (a, b) = duplex(64 << 10);
    (
        WebSocket::new(a, Role::Client, WebSocketConfig::default()),
        WebSocket::new(b, Role::Server, server),
    )
}

/// Reads the peer's events until its connection is over; returns the close frame it got.
async fn close_seen_by(peer: &mut WebSocket<DuplexStream>) -> Option<CloseFrame> {
    let mut close = None;
    while let Some(event) = peer.next_event().await {
        if let Ok(Event::Close(frame)) = event {
            close = Some(frame);
        }
    }
    close
}

/// Writes down every call, and fails on text if asked to.
#[derive(Default)]
struct Recorder {
    seen: Vec<String>,
    fail_on_text: bool,
}

impl<S: Transport> EventHandler<S> for Recorder {
    async fn on_connect(&mut self, _session: &mut Session<'_, S>) -> Result<(), HandlerError> {
        self.seen.push("connect".into());
        Ok(())
    }

    async fn on_text(
        &mut self,
        _session: &mut Session<'_, S>,
        text: Text,
    ) -> Result<(), HandlerError> {
        self.seen.push(format!("text {text}"));
        if self.fail_on_text {
            return Err("boom".into());
        }
        Ok(())
    }

    async fn on_binary(
        &mut self,
        _session: &mut Session<'_, S>,
        data: Bytes,
    ) -> Result<(), HandlerError> {
        self.seen.push(format!("binary {:?}", &data[..]));
        Ok(())
    }

    async fn on_ping(
        &mut self,
        _session: &mut Session<'_, S>,
        payload: Bytes,
    ) -> Result<(), HandlerError> {
        self.seen
            .push(format!("ping {}", String::from_utf8_lossy(&payload)));
        Ok(())
    }

    async fn on_pong(
        &mut self,
        _session: &mut Session<'_, S>,
        payload: Bytes,
    ) -> Result<(), HandlerError> {
        self.seen
            .push(format!("pong {}", String::from_utf8_lossy(&payload)));
        Ok(())
    }

    async fn on_close(
        &mut self,
        _session: &mut Session<'_, S>,
        frame: &CloseFrame,
    ) -> Result<(), HandlerError> {
        self.seen
            .push(format!("close {} {}", frame.code.as_u16(), frame.reason));
        Ok(())
    }

    async fn on_timeout(&mut self, which: Timeout) -> Result<(), HandlerError> {
        self.seen.push(format!("timeout {which:?}"));
        Ok(())
    }

    async fn on_error(&mut self, error: &Error) -> Result<(), HandlerError> {
        self.seen.push(format!("error {error}"));
        Ok(())
    }

    async fn on_disconnect(&mut self, info: &Info) -> Result<(), HandlerError> {
        self.seen.push(format!("disconnect {:?}", info.state));
        Ok(())
    }
}

/// Runs `handler` on `server` in a task; yields the outcome as text and what it saw.
fn serve(
    server: WebSocket<DuplexStream>,
    mut handler: Recorder,
) -> tokio::task::JoinHandle<(Result<(), String>, Vec<String>)> {
    tokio::spawn(async move {
        let result = run_events(server, &mut handler).await;
        (result.map_err(|e| e.to_string()), handler.seen)
    })
}

// Events (Tcl's callback model)

#[tokio::test]
async fn event_handler_sees_connect_text_binary_ping_close_disconnect_in_order() {
    let (mut client, server) = pair(WebSocketConfig::default());
    let serving = serve(server, Recorder::default());

    client.send(Message::text("hello")).await.unwrap();
    client.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    client.send(Message::Ping("p".into())).await.unwrap();
    client.close(CloseCode::NORMAL, "bye").await.unwrap();

    let (result, seen) = serving.await.unwrap();
    assert_eq!(result, Ok(()));
    assert_eq!(
        seen,
        [
            "connect",
            "text hello",
            "binary [1, 2, 3]",
            "ping p",
            "close 1000 bye",
            "disconnect Closed",
        ]
    );
}

#[tokio::test]
async fn event_handler_replies_through_the_session() {
    struct Shout;

    impl<S: Transport> EventHandler<S> for Shout {
        async fn on_text(
            &mut self,
            session: &mut Session<'_, S>,
            text: Text,
        ) -> Result<(), HandlerError> {
            session.send_text(&text.as_str().to_uppercase()).await?;
            Ok(())
        }

        async fn on_binary(
            &mut self,
            session: &mut Session<'_, S>,
            data: Bytes,
        ) -> Result<(), HandlerError> {
            session
                .send_binary(data.len().to_be_bytes().to_vec())
                .await?;
            Ok(())
        }
    }

    let (mut client, server) = pair(WebSocketConfig::default());
    let serving = tokio::spawn(run_events(server, Shout));

    client.send(Message::text("hi there")).await.unwrap();
    assert_eq!(
        client.recv().await.unwrap().unwrap(),
        Message::text("HI THERE")
    );
    client.send(Message::binary(vec![0; 3])).await.unwrap();
    assert_eq!(
        client.recv().await.unwrap().unwrap(),
        Message::binary(3usize.to_be_bytes().to_vec())
    );
    client.close(CloseCode::NORMAL, "").await.unwrap();
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn event_handler_error_closes_with_1011() {
    let (mut client, server) = pair(WebSocketConfig::default());
    let serving = serve(
        server,
        Recorder {
            fail_on_text: true,
            ..Recorder::default()
        },
    );

    client.send(Message::text("x")).await.unwrap();
    let close = close_seen_by(&mut client).await.unwrap();
    assert_eq!(close.code, CloseCode::INTERNAL_ERROR);

    let (result, seen) = serving.await.unwrap();
    assert_eq!(result, Err("boom".to_owned()));
    // Nothing but the disconnect after the failure.
    assert_eq!(seen, ["connect", "text x", "disconnect Closed"]);
}

#[tokio::test]
async fn event_handler_hears_the_peers_close_after_closing_itself() {
    struct Refuse(Vec<String>);

    impl<S: Transport> EventHandler<S> for Refuse {
        async fn on_connect(&mut self, session: &mut Session<'_, S>) -> Result<(), HandlerError> {
            session
                .close(CloseCode::POLICY_VIOLATION, "go away")
                .await?;
            Ok(())
        }

        async fn on_close(
            &mut self,
            _session: &mut Session<'_, S>,
            frame: &CloseFrame,
        ) -> Result<(), HandlerError> {
            self.0.push(format!("close {}", frame.code.as_u16()));
            Ok(())
        }

        async fn on_disconnect(&mut self, _info: &Info) -> Result<(), HandlerError> {
            self.0.push("disconnect".into());
            Ok(())
        }
    }

    let (mut client, server) = pair(WebSocketConfig::default());
    let serving = tokio::spawn(async move {
        let mut handler = Refuse(Vec::new());
        run_events(server, &mut handler).await.unwrap();
        handler.0
    });

    let close = close_seen_by(&mut client).await.unwrap();
    assert_eq!(close.code, CloseCode::POLICY_VIOLATION);
    assert_eq!(serving.await.unwrap(), ["close 1008", "disconnect"]);
}

#[tokio::test(start_paused = true)]
async fn timeout_event_for_silent_keepalive_peer() {
    let config = WebSocketConfig::default().keepalive(Keepalive::every(Duration::from_secs(1)));
    // The peer is kept open but never read, so no PONG ever comes back.
    let (_silent, server) = pair(config);

    let mut handler = Recorder::default();
    run_events(server, &mut handler).await.unwrap();

    assert_eq!(
        handler.seen,
        [
            "connect",
            "timeout Pong",
            "timeout Close",
            "disconnect Closed"
        ]
    );
}

// Byte streams (Seastar's handlers)

#[tokio::test]
async fn byte_reader_concatenates_payloads_and_ends_at_close() {
    let (mut client, server) = pair(WebSocketConfig::default());
    let (mut reader, _writer) = byte_streams(server, DataKind::Binary);
    let peer = tokio::spawn(async move {
        client.send(Message::text("hello ")).await.unwrap();
        client.send(Message::binary(&b"world"[..])).await.unwrap();
        client.send(Message::Ping("skipped".into())).await.unwrap();
        client.send(Message::binary(&b"!"[..])).await.unwrap();
        client.close(CloseCode::NORMAL, "done").await.unwrap();
    });

    let mut got = Vec::new();
    reader.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"hello world!");
    assert_eq!(
        reader.close_frame().map(|f| f.code),
        Some(CloseCode::NORMAL)
    );
    // Reads after the end stay at the end.
    assert_eq!(reader.read(&mut [0; 8]).await.unwrap(), 0);
    peer.await.unwrap();
}

#[tokio::test]
async fn byte_writer_sends_each_write_as_a_message() {
    let (mut client, server) = pair(WebSocketConfig::default());
    let (_reader, mut writer) = byte_streams(server, DataKind::Binary);

    writer.write_all(b"one").await.unwrap();
    writer.write_all(b"two").await.unwrap();
    writer.flush().await.unwrap();
    assert_eq!(
        client.recv().await.unwrap().unwrap(),
        Message::binary(&b"one"[..])
    );
    assert_eq!(
        client.recv().await.unwrap().unwrap(),
        Message::binary(&b"two"[..])
    );

    writer.shutdown().await.unwrap();
    let Some(Ok(Event::Close(frame))) = client.next_event().await else {
        panic!("expected the close frame");
    };
    assert_eq!(frame.code, CloseCode::NORMAL);
    assert!(writer.write(b"late").await.is_err());
}

#[tokio::test]
async fn byte_writer_text_rejects_invalid_utf8() {
    let (mut client, server) = pair(WebSocketConfig::default());
    let (_reader, mut writer) = byte_streams(server, DataKind::Text);

    let error = writer.write(b"f\xFFf").await.unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);

    // Nothing was sent, and the writer is still usable.
    writer.write_all(b"ok").await.unwrap();
    writer.flush().await.unwrap();
    assert_eq!(client.recv().await.unwrap().unwrap(), Message::text("ok"));
}

#[tokio::test]
async fn byte_writer_text_carries_a_cut_character_to_the_next_write() {
    let (mut client, server) = pair(WebSocketConfig::default());
    let (_reader, mut writer) = byte_streams(server, DataKind::Text);
    let euro = "€".as_bytes();

    writer.write_all(b"price: ").await.unwrap();
    writer.write_all(&euro[..1]).await.unwrap();
    writer.write_all(&euro[1..]).await.unwrap();
    writer.flush().await.unwrap();

    assert_eq!(
        client.recv().await.unwrap().unwrap(),
        Message::text("price: ")
    );
    assert_eq!(client.recv().await.unwrap().unwrap(), Message::text("€"));
}

#[tokio::test(start_paused = true)]
async fn byte_writer_waits_while_the_write_buffer_is_full() {
    let (a, b) = duplex(1024);
    let mut client = WebSocket::new(a, Role::Client, WebSocketConfig::default());
    let config = WebSocketConfig::default().write_watermarks(1024, 4096);
    let server = WebSocket::new(b, Role::Server, config);
    let (_reader, mut writer) = byte_streams(server, DataKind::Binary);

    let mut writing = tokio::spawn(async move {
        for i in 0..64u8 {
            writer.write_all(&[i; 1024]).await.unwrap();
        }
        writer.flush().await.unwrap();
        writer
    });
    // 64 KiB cannot fit in 1 KiB of transport and 4 KiB of write buffer.
    assert!(
        tokio::time::timeout(Duration::from_secs(5), &mut writing)
            .await
            .is_err()
    );

    for i in 0..64u8 {
        let message = client.recv().await.unwrap().unwrap();
        assert_eq!(message, Message::binary(vec![i; 1024]));
    }
    drop(writing.await.unwrap());
}

#[tokio::test]
async fn byte_handler_echo_with_tokio_copy() {
    let (mut client, server) = pair(WebSocketConfig::default());
    let serving = tokio::spawn(run_byte_handler(
        server,
        DataKind::Binary,
        |mut reader, mut writer| async move {
            tokio::io::copy(&mut reader, &mut writer).await?;
            Ok(())
        },
    ));

    client.send(Message::binary(&b"hello "[..])).await.unwrap();
    client.send(Message::text("world")).await.unwrap();
    let mut echoed = Vec::new();
    while echoed.len() < 11 {
        match client.recv().await.unwrap().unwrap() {
            Message::Binary(data) => echoed.extend_from_slice(&data),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(echoed, b"hello world");

    client.close(CloseCode::NORMAL, "").await.unwrap();
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn byte_handler_error_closes_with_1011() {
    let (mut client, server) = pair(WebSocketConfig::default());
    let serving = tokio::spawn(run_byte_handler(
        server,
        DataKind::Binary,
        |mut reader, _writer| async move {
            let mut buf = [0; 16];
            let n = reader.read(&mut buf).await?;
            Err(format!("bad input {:?}", &buf[..n]).into())
        },
    ));

    client.send(Message::binary(&b"x"[..])).await.unwrap();
    let close = close_seen_by(&mut client).await.unwrap();
    assert_eq!(close.code, CloseCode::INTERNAL_ERROR);

    let error = serving.await.unwrap().unwrap_err();
    assert_eq!(error.to_string(), "bad input [120]");
}
