//! Seastar's model: the handler reads and writes plain byte streams while the connection does
//! the framing, masking and control frames.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Mutex;
use weft_proto::{CloseCode, CloseFrame, DataKind, Event, Message, Text, UsageError, copy};

use super::HandlerError;
use crate::error::Error;
use crate::socket::{WebSocket, WsReader, WsWriter};

/// The decoded, unmasked payloads of incoming data messages, concatenated, as an
/// [`AsyncRead`] (and [`AsyncBufRead`]): read it as if it were the TCP stream.
///
/// Text and binary messages both contribute their bytes; message boundaries are not kept. In
/// fragment mode each fragment's bytes come as they arrive. PINGs are answered and skipped.
/// The stream ends (a read of 0 bytes) at the peer's close frame.
///
/// Reading errors are the connection's, as [`io::Error`]s: a transport ended without a close
/// frame is [`UnexpectedEof`](io::ErrorKind::UnexpectedEof), a missed deadline
/// [`TimedOut`](io::ErrorKind::TimedOut), a protocol violation
/// [`InvalidData`](io::ErrorKind::InvalidData); the [`Error`] is the source.
#[derive(Debug)]
pub struct ByteReader<S> {
    reader: WsReader<S>,
    /// What is left of the payload being read.
    current: Bytes,
    /// The peer's close frame was seen: nothing more will be read.
    ended: bool,
}

/// Bytes written become messages the connection frames and sends: each write sends one
/// message of the bytes given, binary or text as chosen in [`byte_streams`].
///
/// A write completes once its message is queued for the connection's writer task, and waits
/// while the write buffer is above its high watermark, so a slow peer slows the writer.
/// [`poll_flush`](AsyncWrite::poll_flush) waits until everything queued is written;
/// [`poll_shutdown`](AsyncWrite::poll_shutdown) closes the connection with 1000. Dropping
/// the last handle closes with 1000 too.
///
/// For text, the bytes must be UTF-8, but a write may end inside a character: its start is
/// kept and sent with the next write, so copying a text stream in arbitrary chunks works.
/// Bytes that are not UTF-8 fail the write with [`InvalidData`](io::ErrorKind::InvalidData).
pub struct ByteWriter {
    /// Shared so that [`run_byte_handler`] can choose the close code after the handler has
    /// dropped its writer.
    writer: Shared,
    kind: DataKind,
    /// The start of a character cut by the end of the last write (text only).
    carry: Bytes,
    state: WriteState,
}

/// Splits `ws` into a byte reader and a byte writer (Seastar's input and output streams).
/// Writes become messages of `kind`.
///
/// # Panics
///
/// Outside a tokio runtime, as [`WebSocket::split`].
pub fn byte_streams<S>(ws: WebSocket<S>, kind: DataKind) -> (ByteReader<S>, ByteWriter)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (reader, writer) = ws.split();
    let reader = ByteReader {
        reader,
        current: Bytes::new(),
        ended: false,
    };
    let writer = ByteWriter {
        writer: Arc::new(Mutex::new(writer)),
        kind,
        carry: Bytes::new(),
        state: WriteState::Idle,
    };
    (reader, writer)
}

/// Runs `handler` on the byte streams of `ws` (Seastar's `register_handler`), then closes
/// the connection: with 1000 if the handler returned `Ok`, with 1011 (internal error) if it
/// returned `Err`, which is also logged with `tracing::warn!`.
///
/// ```
/// use weft::handler::run_byte_handler;
/// use weft::proto::Role;
/// use weft::{DataKind, Message, WebSocket, WebSocketConfig};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let (a, b) = tokio::io::duplex(4096);
/// let server = WebSocket::new(b, Role::Server, WebSocketConfig::default());
/// let echo = tokio::spawn(run_byte_handler(server, DataKind::Binary, |mut r, mut w| async move {
///     tokio::io::copy(&mut r, &mut w).await?;
///     Ok(())
/// }));
///
/// let mut client = WebSocket::new(a, Role::Client, WebSocketConfig::default());
/// client.send(Message::binary(&b"echo"[..])).await?;
/// assert_eq!(client.recv().await.transpose()?, Some(Message::binary(&b"echo"[..])));
/// client.close(weft::CloseCode::NORMAL, "").await?;
/// echo.await??;
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// The handler's error. Closing errors are not reported: the connection may already be
/// closed, by the peer or by the handler's shutdown.
///
/// # Panics
///
/// Outside a tokio runtime, as [`WebSocket::split`].
pub async fn run_byte_handler<S, F, Fut>(
    ws: WebSocket<S>,
    kind: DataKind,
    handler: F,
) -> Result<(), HandlerError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: FnOnce(ByteReader<S>, ByteWriter) -> Fut,
    Fut: Future<Output = Result<(), HandlerError>> + Send,
{
    let (reader, writer) = byte_streams(ws, kind);
    let shared = Arc::clone(&writer.writer);
    let outcome = handler(reader, writer).await;
    let (code, reason) = match &outcome {
        Ok(()) => (CloseCode::NORMAL, ""),
        Err(error) => {
            tracing::warn!(%error, "websocket byte handler failed; closing with 1011");
            // The error text is for the log, not for the peer.
            (CloseCode::INTERNAL_ERROR, "internal error")
        }
    };
    // If the handler handed its writer to a task that is still writing, this waits for that
    // task's write in progress, and the close follows what it queued.
    let _ = shared.lock().await.close(code, reason).await;
    outcome
}

impl<S: AsyncRead + AsyncWrite> ByteReader<S> {
    /// The close frame the peer sent, once it has.
    pub fn close_frame(&self) -> Option<&CloseFrame> {
        self.reader.close_frame()
    }
}

impl<S: AsyncRead + AsyncWrite> AsyncBufRead for ByteReader<S> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        while this.current.is_empty() && !this.ended {
            match ready!(this.reader.poll_event(cx)) {
                Some(Ok(Event::Message(Message::Text(text)))) => this.current = text.into_bytes(),
                Some(Ok(Event::Message(Message::Binary(data)))) => this.current = data,
                Some(Ok(Event::Message(_))) => {}
                Some(Ok(Event::Fragment(fragment))) => this.current = fragment.data,
                Some(Ok(Event::Close(frame))) if frame.code == CloseCode::ABNORMAL => {
                    this.ended = true;
                    return Poll::Ready(Err(into_io(Error::ConnectionLost)));
                }
                Some(Ok(Event::Close(_))) | None => this.ended = true,
                // Raw mode bytes are not payloads; there is nothing to decode them into.
                Some(Ok(_)) => {
                    return Poll::Ready(Err(into_io(Error::Usage(UsageError::WrongMode))));
                }
                Some(Err(error)) => return Poll::Ready(Err(into_io(error))),
            }
        }
        Poll::Ready(Ok(&this.current))
    }

    fn consume(self: Pin<&mut Self>, amount: usize) {
        let current = &mut self.get_mut().current;
        current.advance(amount.min(current.len()));
    }
}

impl<S: AsyncRead + AsyncWrite> AsyncRead for ByteReader<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let available = ready!(self.as_mut().poll_fill_buf(cx))?;
        let n = available.len().min(buf.remaining());
        // The caller's buffer is mostly one reused buffer, and the message's bytes mostly
        // start at the read buffer's front: see `weft_proto::copy` for why that placement
        // must not get one long `memcpy`.
        copy::append(buf, &available[..n]);
        self.consume(n);
        Poll::Ready(Ok(()))
    }
}

impl ByteWriter {
    /// The message for a write of `input`, and the cut character to keep for the next one.
    /// `None` when the write holds only the start of a character.
    fn message(&self, input: &Bytes) -> io::Result<(Option<Message>, Bytes)> {
        let DataKind::Text = self.kind else {
            return Ok((Some(Message::Binary(input.clone())), Bytes::new()));
        };
        let whole = if self.carry.is_empty() {
            input.clone()
        } else {
            let mut joined = BytesMut::with_capacity(self.carry.len() + input.len());
            joined.extend_from_slice(&self.carry);
            joined.extend_from_slice(input);
            joined.freeze()
        };
        let valid = match std::str::from_utf8(&whole) {
            Ok(_) => whole.len(),
            // No error length means the bytes end inside a character that may yet be valid.
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => return Err(not_utf8()),
        };
        let cut = whole.slice(valid..);
        if valid == 0 {
            return Ok((None, cut));
        }
        let text = Text::from_utf8(whole.slice(..valid)).map_err(|_| not_utf8())?;
        Ok((Some(Message::Text(text)), cut))
    }

    /// Drives the flush or close under way; `None` if neither is.
    fn poll_op(&mut self, cx: &mut Context<'_>) -> Option<Poll<io::Result<()>>> {
        let (op, next) = match &mut self.state {
            WriteState::Flushing(op) => (op, WriteState::Idle),
            WriteState::Closing(op) => (op, WriteState::Closed),
            _ => return None,
        };
        let result = match op.as_mut().poll(cx) {
            Poll::Ready(result) => result,
            Poll::Pending => return Some(Poll::Pending),
        };
        self.state = next;
        Some(Poll::Ready(result.map_err(into_io)))
    }
}

impl AsyncWrite for ByteWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                WriteState::Closing(_) | WriteState::Closed => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        "the byte writer is shut down",
                    )));
                }
                WriteState::Writing { input, cut, op } if input[..] == *buf => {
                    let result = ready!(op.as_mut().poll(cx));
                    let cut = std::mem::take(cut);
                    this.state = WriteState::Idle;
                    result.map_err(into_io)?;
                    this.carry = cut;
                    return Poll::Ready(Ok(buf.len()));
                }
                _ if buf.is_empty() => return Poll::Ready(Ok(0)),
                // Idle, or the caller moved on from a flush or from a write it was told is
                // pending: those bytes were never accepted, so their send is dropped, which
                // is sound because a pending send has queued nothing yet.
                _ => {
                    // The caller's reused buffer into the allocator's reused block: see
                    // `weft_proto::copy`.
                    let input = copy::to_bytes(buf);
                    let (message, cut) = this.message(&input)?;
                    let Some(message) = message else {
                        this.carry = cut;
                        this.state = WriteState::Idle;
                        return Poll::Ready(Ok(buf.len()));
                    };
                    let writer = Arc::clone(&this.writer);
                    let op: Op =
                        Box::pin(async move { writer.lock_owned().await.send(message).await });
                    this.state = WriteState::Writing { input, cut, op };
                }
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(done) = this.poll_op(cx) {
            return done;
        }
        match this.state {
            WriteState::Closed => Poll::Ready(Ok(())),
            // A write left pending was never accepted; flushing drops it.
            _ => {
                let writer = Arc::clone(&this.writer);
                this.state = WriteState::Flushing(Box::pin(async move {
                    writer.lock_owned().await.flush().await
                }));
                this.poll_op(cx).unwrap_or(Poll::Ready(Ok(())))
            }
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let WriteState::Closed | WriteState::Closing(_) = this.state {
            return this.poll_op(cx).unwrap_or(Poll::Ready(Ok(())));
        }
        if !this.carry.is_empty() {
            // Reported once; the next shutdown closes without the cut character.
            this.carry = Bytes::new();
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the text ended inside a UTF-8 character",
            )));
        }
        let writer = Arc::clone(&this.writer);
        this.state = WriteState::Closing(Box::pin(async move {
            writer.lock_owned().await.close(CloseCode::NORMAL, "").await
        }));
        this.poll_op(cx).unwrap_or(Poll::Ready(Ok(())))
    }
}

impl fmt::Debug for ByteWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByteWriter")
            .field("kind", &self.kind)
            .field("carry", &self.carry)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// The writer, shared between a [`ByteWriter`] (and its operation in flight) and
/// [`run_byte_handler`]. Only one of them uses it at a time, so the lock is uncontended.
type Shared = Arc<Mutex<WsWriter>>;

/// A send, flush or close in flight. It owns a handle to the writer rather than borrowing
/// the `ByteWriter`, as `AsyncWrite`'s polls cannot keep a borrow between calls; dropping it
/// releases the lock without dropping the writer.
type Op = Pin<Box<dyn Future<Output = crate::Result<()>> + Send>>;

/// What the writer is doing between polls.
enum WriteState {
    Idle,
    /// A write of `input` whose message is not queued yet; `cut` becomes the carry once it is.
    Writing {
        input: Bytes,
        cut: Bytes,
        op: Op,
    },
    Flushing(Op),
    Closing(Op),
    Closed,
}

impl fmt::Debug for WriteState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WriteState::Idle => "Idle",
            WriteState::Writing { .. } => "Writing",
            WriteState::Flushing(_) => "Flushing",
            WriteState::Closing(_) => "Closing",
            WriteState::Closed => "Closed",
        })
    }
}

fn not_utf8() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "text written is not UTF-8")
}

/// The connection's error as an I/O error of the kind a byte-stream reader expects.
fn into_io(error: Error) -> io::Error {
    let kind = match error {
        Error::Io(e) => return e,
        Error::ConnectionLost => io::ErrorKind::UnexpectedEof,
        Error::Timeout(_) => io::ErrorKind::TimedOut,
        Error::Protocol(_) => io::ErrorKind::InvalidData,
        Error::Usage(UsageError::Closed) => io::ErrorKind::BrokenPipe,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, error)
}
