//! Owned read and write halves of a [`WebSocket`], usable from different tasks.
//!
//! The protocol core splits into a [`Receiver`] and a [`Sender`] that share nothing; the reader
//! owns the first, and a writer task owns the second and the transport's write half. Messages
//! and the reader's replies (PONGs, the close echo) reach the writer through one channel, so
//! no lock is taken per message and replies go out even while the application sends nothing.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadHalf};
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};
use weft_proto::{
    CloseCode, CloseFrame, Connection, DataKind, Event, Fragment, Message, Receiver, Reply,
    UsageError,
};

use super::WebSocket;
use super::io::poll_read_into;
use super::pong_gate::{Admitted, PongGate};
use super::timers::{Due, Timers};
use crate::error::{Error, Result};

mod writer_task;

use writer_task::{Shared, WriteFailure, write_loop};

/// What the writer task is asked to do, in order.
#[derive(Debug)]
enum Command {
    Reply(Reply),
    /// Take the PONG held in the [`PongGate`].
    LatestPong,
    Send(Message, u32),
    /// The reader's keepalive PING and its number; if it cannot be sent, the reader is told
    /// so through [`Shared::ping_unsent`] instead of awaiting a PONG that cannot come.
    KeepalivePing(Bytes, u64),
    Frame(DataKind, Bytes, bool, u32),
    StartFrame(DataKind, u64, bool),
    FrameData(Bytes, u32),
    Close(CloseCode, String),
    Flush(oneshot::Sender<Result<()>>),
}

impl<S> WebSocket<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    /// Splits the connection into a reader and a writer that can live on different tasks.
    /// A writer task is spawned on the current runtime; it also sends the PONGs and the
    /// close echo the reader owes.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn split(mut self) -> (WsReader<S>, WsWriter) {
        self.on_drop = None;
        let role = self.conn.role();
        let mut conn = std::mem::replace(
            &mut self.conn,
            Connection::new(role, weft_proto::Config::default()),
        );
        // The whole connection decodes on demand, so whole frames may wait in its buffer;
        // the reader decodes as it reads, and would leave them until the peer sent more.
        let pending_error = conn
            .handle_data(&mut self.read_buf)
            .err()
            .map(|e| Box::new(e.into()));
        let (rx, tx) = conn.into_split();
        // `io` is only `None` after a drop moved it away, which cannot have happened here.
        let io = self.io.take().map(tokio::io::split);
        let (commands, queue) = mpsc::unbounded_channel();
        let high = self.config.write_high.min(Semaphore::MAX_PERMITS);
        let permits = Arc::new(Semaphore::new(high));
        let pongs = Arc::new(PongGate::default());
        let ping_unsent = Arc::new(AtomicU64::new(0));
        let failure = Arc::new(OnceLock::new());
        let closing = Arc::new(Notify::new());
        let (read_io, write_io) = match io {
            Some(halves) => (Some(halves.0), Some(halves.1)),
            None => (None, None),
        };
        if let Some(write_io) = write_io {
            let writes = std::mem::take(&mut self.writes);
            tokio::spawn(write_loop(
                write_io,
                tx,
                writes,
                queue,
                self.link.take(),
                Shared {
                    permits: Arc::clone(&permits),
                    pongs: Arc::clone(&pongs),
                    ping_unsent: Arc::clone(&ping_unsent),
                    failure: Arc::clone(&failure),
                    closing: Arc::clone(&closing),
                },
                self.config.close_timeout,
            ));
        }
        let reader = WsReader {
            io: read_io,
            rx,
            read_buf: std::mem::take(&mut self.read_buf),
            read_base: self.config.read_buffer,
            commands: commands.clone(),
            pongs,
            ping_unsent,
            pings: 0,
            closing: Arc::clone(&closing),
            timers: std::mem::replace(&mut self.timers, Timers::new(&self.config)),
            peer_close: None,
            pending_error,
            finished: false,
            fragment_mode: self.config.proto.is_fragment_mode(),
        };
        let writer = WsWriter {
            commands,
            permits,
            high,
            closed: false,
            failure,
            closing: Arc::clone(&closing),
        };
        (reader, writer)
    }
}

/// The reading half of a split [`WebSocket`]: a [`Stream`] of messages.
#[derive(Debug)]
pub struct WsReader<S> {
    io: Option<ReadHalf<S>>,
    rx: Receiver,
    read_buf: BytesMut,
    read_base: usize,
    commands: mpsc::UnboundedSender<Command>,
    pongs: Arc<PongGate>,
    /// The number of the keepalive PING the writer task could not send (0: none), stored by
    /// the writer and taken by the reader.
    ping_unsent: Arc<AtomicU64>,
    /// Keepalive PINGs handed to the writer so far; the last is the one awaiting a PONG.
    pings: u64,
    /// Tells the writer task a close is queued (see [`WsWriter`]'s).
    closing: Arc<Notify>,
    timers: Timers,
    /// Both rare, so boxed: the fields touched per message stay on fewer cache lines.
    peer_close: Option<Box<CloseFrame>>,
    pending_error: Option<Box<Error>>,
    finished: bool,
    fragment_mode: bool,
}

impl<S: AsyncRead + AsyncWrite> WsReader<S> {
    /// The next message; `None` after a clean close.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub fn recv(&mut self) -> impl Future<Output = Option<Result<Message>>> + '_ {
        // A plain future rather than an `async fn`: no state machine around the poll.
        poll_fn(move |cx| self.poll_next_message(cx))
    }

    /// The next event; `None` once reading is over.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub fn next_event(&mut self) -> impl Future<Output = Option<Result<Event>>> + '_ {
        poll_fn(move |cx| self.poll_event(cx))
    }

    /// The next part of a data frame, in fragment mode.
    ///
    /// # Errors
    ///
    /// [`UsageError::WrongMode`] outside fragment mode.
    pub async fn recv_fragment(&mut self) -> Option<Result<Fragment>> {
        if !self.fragment_mode {
            return Some(Err(UsageError::WrongMode.into()));
        }
        loop {
            match self.next_event().await? {
                Ok(Event::Fragment(f)) => return Some(Ok(f)),
                Ok(Event::Close(f)) if f.code == CloseCode::ABNORMAL => {
                    return Some(Err(Error::ConnectionLost));
                }
                Ok(_) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }

    /// The close frame the peer sent, once it has.
    pub fn close_frame(&self) -> Option<&CloseFrame> {
        self.peer_close.as_deref()
    }

    /// The round-trip time of the last answered keepalive PING.
    pub fn rtt(&self) -> Option<Duration> {
        self.timers.rtt()
    }

    fn pass_replies(&mut self) {
        while let Some(reply) = self.rx.poll_reply() {
            let command = match reply {
                Reply::Pong(payload) => match self.pongs.admit(payload) {
                    Admitted::Pong(payload) => Command::Reply(Reply::Pong(payload)),
                    Admitted::TakeLatest => Command::LatestPong,
                    Admitted::Held => continue,
                },
                reply => Command::Reply(reply),
            };
            // The writer task outlives the connection's useful life; if it is gone, there is
            // nobody left to reply to.
            let _ = self.commands.send(command);
        }
    }

    /// Polls for the next event.
    pub fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Event>>> {
        loop {
            let next = self.rx.poll_event();
            // Replies go out behind what the application sent in answer to earlier events;
            // the core holds a failure's close frame back until the application caught up.
            self.pass_replies();
            if let Some(event) = next {
                match &event {
                    Event::Message(Message::Pong(_)) => self.timers.on_pong(),
                    Event::Close(frame) => {
                        self.peer_close = Some(Box::new(frame.clone()));
                        self.timers.start_close();
                    }
                    _ => {}
                }
                return Poll::Ready(Some(Ok(event)));
            }
            if let Some(error) = self.pending_error.take() {
                return Poll::Ready(Some(Err(*error)));
            }
            if self.finished || self.rx.is_done() {
                self.finished = true;
                return Poll::Ready(None);
            }
            // Frames the core left in the buffer come before anything new from the socket.
            if self.rx.has_backlog() {
                if let Err(e) = self.rx.handle_data(&mut self.read_buf) {
                    self.pending_error = Some(Box::new(e.into()));
                }
                continue;
            }
            let Some(io) = self.io.as_mut() else {
                return Poll::Ready(None);
            };
            let wanted = self.rx.read_hint();
            let read = poll_read_into(io, &mut self.read_buf, wanted, self.read_base, cx);
            let Poll::Ready(read) = read else {
                // The clock is consulted once nothing more has arrived: a deadline that
                // passed while the application was busy does not fail a connection whose
                // answer is already waiting in the socket.
                // A failure reported for an earlier PING says nothing of the one awaited now.
                if self.ping_unsent.load(Ordering::Relaxed) != 0
                    && self.ping_unsent.swap(0, Ordering::AcqRel) == self.pings
                {
                    self.timers.ping_not_sent();
                }
                match ready!(self.timers.poll_due(cx)) {
                    Due::Ping(payload) => {
                        self.pings += 1;
                        let ping = Command::KeepalivePing(payload, self.pings);
                        let _ = self.commands.send(ping);
                    }
                    Due::Expired(which) => {
                        let reason = which.to_string();
                        queue_close(&self.commands, &self.closing, CloseCode::GOING_AWAY, reason);
                        self.finished = true;
                        return Poll::Ready(Some(Err(Error::Timeout(which))));
                    }
                }
                continue;
            };
            match read {
                Err(e) => {
                    self.rx.handle_eof();
                    self.pending_error = Some(Box::new(e.into()));
                }
                Ok(0) => self.rx.handle_eof(),
                Ok(_) => {
                    self.timers.on_read();
                    if let Err(e) = self.rx.handle_data(&mut self.read_buf) {
                        self.pending_error = Some(Box::new(e.into()));
                    }
                }
            }
            // PONGs and the close echo go at once; a failure's close waits for its events.
            self.pass_replies();
        }
    }

    /// Polls for the next message.
    pub fn poll_next_message(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message>>> {
        loop {
            match ready!(self.poll_event(cx)) {
                Some(Ok(Event::Message(m))) => return Poll::Ready(Some(Ok(m))),
                Some(Ok(Event::Close(f))) if f.code == CloseCode::ABNORMAL => {
                    return Poll::Ready(Some(Err(Error::ConnectionLost)));
                }
                Some(Ok(Event::Close(_))) => continue,
                Some(Ok(_)) => return Poll::Ready(Some(Err(UsageError::WrongMode.into()))),
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => return Poll::Ready(None),
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite> Stream for WsReader<S> {
    type Item = Result<Message>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_message(cx)
    }
}

/// The writing half of a split [`WebSocket`]. Cheap to move between tasks; sends wait while
/// the write buffer is above its high watermark.
#[derive(Debug)]
pub struct WsWriter {
    commands: mpsc::UnboundedSender<Command>,
    permits: Arc<Semaphore>,
    high: usize,
    closed: bool,
    /// Why the writer task stopped writing, if a write failed.
    failure: Arc<OnceLock<WriteFailure>>,
    /// Tells the writer task a close is queued: if it is waiting on a peer that does not
    /// read, the close timeout starts then rather than after the wait.
    closing: Arc<Notify>,
}

impl WsWriter {
    /// Queues a message for the writer task, waiting while the write buffer is full.
    ///
    /// # Errors
    ///
    /// [`UsageError::Closed`] once the connection is over; the write failure that ended it
    /// ([`Error::Io`], or [`Error::Timeout`] with `Timeout::Write`) if a write failed.
    pub async fn send(&mut self, message: Message) -> Result<()> {
        let permits = self.reserve(message.payload().len()).await?;
        self.command(Command::Send(message, permits))
    }

    /// Queues one frame of a message (Tcl's `send ... final`).
    ///
    /// # Errors
    ///
    /// [`UsageError::Closed`] once the connection is over; the write failure that ended it
    /// ([`Error::Io`], or [`Error::Timeout`] with `Timeout::Write`) if a write failed.
    pub async fn send_frame(&mut self, kind: DataKind, data: Bytes, is_final: bool) -> Result<()> {
        let permits = self.reserve(data.len()).await?;
        self.command(Command::Frame(kind, data, is_final, permits))
    }

    /// Starts a frame of `len` bytes sent in parts by [`send_fragment`](Self::send_fragment).
    ///
    /// # Errors
    ///
    /// [`UsageError::Closed`] once the connection is over; the write failure that ended it
    /// ([`Error::Io`], or [`Error::Timeout`] with `Timeout::Write`) if a write failed.
    pub fn start_frame(&mut self, kind: DataKind, len: u64, is_final: bool) -> Result<()> {
        self.command(Command::StartFrame(kind, len, is_final))
    }

    /// Sends the next part of a declared frame.
    ///
    /// # Errors
    ///
    /// [`UsageError::Closed`] once the connection is over; the write failure that ended it
    /// ([`Error::Io`], or [`Error::Timeout`] with `Timeout::Write`) if a write failed.
    pub async fn send_fragment(&mut self, data: Bytes) -> Result<()> {
        let permits = self.reserve(data.len()).await?;
        self.command(Command::FrameData(data, permits))
    }

    /// Waits until everything queued so far is written.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if writing failed, [`Error::Timeout`] with `Timeout::Write` if the peer
    /// took no bytes for the write timeout, [`UsageError::Closed`] if the writer task is gone
    /// without a write failing.
    pub async fn flush(&mut self) -> Result<()> {
        let (ack, done) = oneshot::channel();
        self.command(Command::Flush(ack))?;
        done.await.map_err(|_| self.ended())?
    }

    /// Starts the close handshake. The writer task finishes it when the reader sees the
    /// peer's close, or after the close timeout.
    ///
    /// # Errors
    ///
    /// [`UsageError::InvalidCloseCode`] or [`UsageError::CloseReasonTooLong`].
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<()> {
        CloseFrame::new(code, reason)?;
        self.closed = true;
        if !queue_close(&self.commands, &self.closing, code, reason.to_owned()) {
            return Err(self.ended());
        }
        let _ = self.flush().await;
        Ok(())
    }

    async fn reserve(&self, len: usize) -> Result<u32> {
        let want = u32::try_from(len.min(self.high)).unwrap_or(u32::MAX);
        let permit = self
            .permits
            .acquire_many(want)
            .await
            .map_err(|_| self.ended())?;
        permit.forget();
        Ok(want)
    }

    fn command(&self, command: Command) -> Result<()> {
        self.commands.send(command).map_err(|_| self.ended())
    }

    /// The error for a call after the writer task ended: the write failure that ended it, so
    /// it reaches the application even when no flush was waiting at the time.
    fn ended(&self) -> Error {
        match self.failure.get() {
            Some(failure) => failure.error(),
            None => Error::Usage(UsageError::Closed),
        }
    }
}

impl Drop for WsWriter {
    fn drop(&mut self) {
        if !self.closed {
            // Like a dropped `WebSocket`: the writer task completes the close handshake.
            queue_close(
                &self.commands,
                &self.closing,
                CloseCode::NORMAL,
                String::new(),
            );
        }
    }
}

/// Queues a close for the writer task and tells it so: if it is waiting on a peer that does
/// not read, the close timeout starts now rather than after the wait. `false` if the task is
/// gone.
fn queue_close(
    commands: &mpsc::UnboundedSender<Command>,
    closing: &Notify,
    code: CloseCode,
    reason: String,
) -> bool {
    let queued = commands.send(Command::Close(code, reason)).is_ok();
    closing.notify_one();
    queued
}
