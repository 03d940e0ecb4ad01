//! The write timeout: a peer that stops reading fails a waiting send instead of holding the
//! connection forever; a slow reader does not.
// Test helpers may unwrap: a failure there is the test's failure.
#![allow(clippy::unwrap_used)]

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf, duplex};
use tokio::time::Instant;
use weft::proto::Role;
use weft::{Error, Message, Timeout, WebSocket, WebSocketConfig};

const TIMEOUT: Duration = Duration::from_secs(5);

fn config(write_timeout: Option<Duration>) -> WebSocketConfig {
    WebSocketConfig::default()
        .write_watermarks(16 << 10, 32 << 10)
        .write_timeout(write_timeout)
}

/// `failed` is the write timeout, reported no earlier than the timeout after `start`.
fn assert_write_timeout(failed: &Error, start: Instant) {
    assert!(
        matches!(failed, Error::Timeout(Timeout::Write)),
        "{failed:?}"
    );
    assert!(
        start.elapsed() >= TIMEOUT,
        "failed after {:?}",
        start.elapsed()
    );
}

fn chunk() -> Message {
    Message::Binary(Bytes::from(vec![7u8; 4 << 10]))
}

#[tokio::test(start_paused = true)]
async fn a_send_to_a_peer_that_never_reads_fails_with_timeout_write() {
    let (a, _never_read) = duplex(8 << 10);
    let mut ws = WebSocket::new(a, Role::Client, config(Some(TIMEOUT)));
    let start = Instant::now();
    let failed = loop {
        if let Err(e) = ws.send(chunk()).await {
            break e;
        }
    };
    assert_write_timeout(&failed, start);
    assert!(
        start.elapsed() < TIMEOUT * 2,
        "failed after {:?}",
        start.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn a_slow_reader_is_not_a_stalled_one() {
    let (a, mut peer) = duplex(8 << 10);
    let mut ws = WebSocket::new(a, Role::Client, config(Some(TIMEOUT)));
    // The peer takes 4 KiB every 3 s: slower than the sender by far, but never stalled for
    // the 5 s timeout.
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; 4 << 10];
        let mut total = 0usize;
        loop {
            tokio::time::sleep(Duration::from_secs(3)).await;
            match peer.read(&mut buf).await {
                Ok(0) | Err(_) => return total,
                Ok(n) => total += n,
            }
        }
    });
    let start = Instant::now();
    for _ in 0..32 {
        ws.send(chunk()).await.unwrap();
    }
    // 128 KiB at 4 KiB per 3 s: far longer than the timeout in all.
    assert!(start.elapsed() > TIMEOUT * 10, "took {:?}", start.elapsed());
    drop(ws);
    reader.abort();
}

#[tokio::test(start_paused = true)]
async fn without_a_write_timeout_a_send_waits_as_long_as_the_peer() {
    let (a, _never_read) = duplex(8 << 10);
    let mut ws = WebSocket::new(a, Role::Client, config(None));
    let waited = tokio::time::timeout(Duration::from_secs(3600), async {
        loop {
            ws.send(chunk()).await.unwrap();
        }
    })
    .await;
    assert!(waited.is_err(), "the send must still be waiting");
}

#[tokio::test(start_paused = true)]
async fn a_split_writer_reports_timeout_write_and_ends() {
    let (a, _never_read) = duplex(8 << 10);
    let (_reader, mut writer) = WebSocket::new(a, Role::Client, config(Some(TIMEOUT))).split();
    let start = Instant::now();
    // Queue until the write buffer is full, then wait for it to be written.
    while let Ok(sent) = tokio::time::timeout(Duration::from_millis(10), writer.send(chunk())).await
    {
        sent.unwrap();
    }
    let failed = writer.flush().await.unwrap_err();
    assert_write_timeout(&failed, start);
    // The writer's task is gone: later sends are refused with the reason rather than queued
    // forever.
    let later = writer.send(chunk()).await.unwrap_err();
    assert!(matches!(later, Error::Timeout(Timeout::Write)), "{later:?}");
}

/// A transport that takes no byte and never delivers one, and says when it is dropped.
struct Stuck(Arc<AtomicBool>);

impl Drop for Stuck {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl AsyncRead for Stuck {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        _buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Poll::Pending
    }
}

impl AsyncWrite for Stuck {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        _buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Pending
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[tokio::test(start_paused = true)]
async fn dropped_split_halves_let_go_of_a_peer_that_never_reads_after_the_close_timeout() {
    let dropped = Arc::new(AtomicBool::new(false));
    // No write timeout: only the close timeout bounds the close frame's wait.
    let config = config(None).close_timeout(Duration::from_secs(2));
    let (reader, mut writer) =
        WebSocket::new(Stuck(Arc::clone(&dropped)), Role::Client, config).split();
    writer.send(chunk()).await.unwrap();
    // The writer task is waiting on the transport before the halves go.
    tokio::time::sleep(Duration::from_millis(10)).await;
    // Dropped with a message unwritten: the writer task owes it and a close frame.
    drop(reader);
    drop(writer);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !dropped.load(Ordering::SeqCst),
        "let go before the close timeout"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        dropped.load(Ordering::SeqCst),
        "the transport is still held"
    );
}
