//! [`WebSocket`]: one connection over any `AsyncRead + AsyncWrite`, driving the sans-I/O core.

mod io;
mod mail;
mod orphan;
mod pong_gate;
mod split;
mod stall;
mod stream;
mod timers;

pub use split::{WsReader, WsWriter};

use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite};
use weft_proto::{
    CloseCode, CloseFrame, Connection, DataKind, Event, Fragment, Message, Role, State, UsageError,
};

use crate::config::WebSocketConfig;
use crate::error::{Error, Result, Timeout};
use crate::info::{ConnState, Handshaken, Info};
use crate::liveness::close_reason;
use crate::server::registry::Link;
use io::{WriteQueue, poll_read_into};
use timers::{Due, Timers};

/// A WebSocket connection after the opening handshake, over any transport.
///
/// It is a [`Stream`](futures_core::Stream) of [`Message`]s (PINGs and PONGs included; they
/// are answered for you) and a [`Sink`](futures_sink::Sink) of them, with `send`/`recv`
/// conveniences, curl's fragment model ([`recv_fragment`](Self::recv_fragment),
/// [`start_frame`](Self::start_frame) + [`send_fragment`](Self::send_fragment)), raw mode,
/// and events ([`next_event`](Self::next_event)).
///
/// A clean close ends the stream with `None`. A dropped handle still completes the close
/// handshake in the background, bounded by the close timeout.
///
/// ```
/// use weft::{Message, WebSocket, WebSocketConfig};
/// use weft::proto::Role;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), weft::Error> {
/// let (a, b) = tokio::io::duplex(4096);
/// let mut client = WebSocket::new(a, Role::Client, WebSocketConfig::default());
/// let mut server = WebSocket::new(b, Role::Server, WebSocketConfig::default());
///
/// client.send(Message::text("ping?")).await?;
/// let got = server.recv().await.expect("a message")?;
/// assert_eq!(got, Message::text("ping?"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[repr(C)]
pub struct WebSocket<S> {
    // In the order a message touches them, the rarely used last: with thousands of
    // connections every cache line a message touches is a likely miss (`repr(C)` keeps the
    // order; the compiler would sort by alignment).
    /// `None` only after the transport moved to the background close of a dropped handle.
    io: Option<S>,
    read_buf: BytesMut,
    writes: WriteQueue,
    eof: bool,
    finished: bool,
    /// Rare, so boxed: the fields touched per message stay on fewer cache lines.
    pending_error: Option<Box<Error>>,
    /// The server registry's way in: messages for this connection, and its counters.
    link: Option<Link>,
    /// Shared by every connection of a server.
    config: Arc<WebSocketConfig>,
    conn: Connection,
    timers: Timers,
    peer_close: Option<Box<CloseFrame>>,
    handshaken: Box<Handshaken>,
    /// Set by the constructor, where the bounds for spawning are known.
    on_drop: Option<fn(WebSocket<S>)>,
}

impl<S> WebSocket<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    /// Wraps a transport whose opening handshake is done.
    ///
    /// # Panics
    ///
    /// Not itself, but keepalive and timeouts need a tokio runtime with time enabled, like
    /// every other call of this type.
    pub fn new(io: S, role: Role, config: WebSocketConfig) -> Self {
        Self::from_parts(io, role, config, Handshaken::default(), BytesMut::new())
    }

    /// Wraps a transport whose opening handshake is done, with what the handshake learned and
    /// the bytes read past its end.
    pub fn from_parts(
        io: S,
        role: Role,
        config: WebSocketConfig,
        handshaken: Handshaken,
        buffered: BytesMut,
    ) -> Self {
        Self::from_shared(io, role, Arc::new(config), handshaken, buffered)
    }

    /// [`from_parts`](Self::from_parts) with a configuration shared with other connections.
    pub(crate) fn from_shared(
        io: S,
        role: Role,
        config: Arc<WebSocketConfig>,
        handshaken: Handshaken,
        buffered: BytesMut,
    ) -> Self {
        let mut read_buf = buffered;
        let (conn, pending_error) = config.open_connection(role, &handshaken, &mut read_buf);
        if read_buf.is_empty() {
            // Reads borrow a buffer when they need one; the handshake's is not kept.
            read_buf = BytesMut::new();
        }
        WebSocket {
            io: Some(io),
            conn,
            read_buf,
            writes: WriteQueue::new(config.write_timeout),
            timers: Timers::new(&config),
            config,
            handshaken: Box::new(handshaken),
            peer_close: None,
            pending_error: pending_error.map(Box::new),
            eof: false,
            finished: false,
            on_drop: Some(orphan::close_in_background::<S>),
            link: None,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    /// The next message; `None` after a clean close.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a message is either returned or still queued.
    pub fn recv(&mut self) -> impl Future<Output = Option<Result<Message>>> + '_ {
        // A plain future rather than an `async fn`: no state machine around the poll.
        poll_fn(move |cx| self.poll_next_message(cx))
    }

    /// The next event: messages, fragments, raw bytes, and the peer's close frame. `None`
    /// once the connection is over.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub fn next_event(&mut self) -> impl Future<Output = Option<Result<Event>>> + '_ {
        poll_fn(move |cx| self.poll_event(cx))
    }

    /// The next part of a data frame (curl's `curl_ws_recv`), in fragment mode
    /// ([`weft_proto::Config::fragment_mode`]). PINGs are answered and skipped.
    ///
    /// # Errors
    ///
    /// [`UsageError::WrongMode`] outside fragment mode, and any error of the connection.
    pub async fn recv_fragment(&mut self) -> Option<Result<Fragment>> {
        if !self.config.proto.is_fragment_mode() {
            return Some(Err(UsageError::WrongMode.into()));
        }
        loop {
            match self.next_event().await? {
                Ok(Event::Fragment(fragment)) => return Some(Ok(fragment)),
                Ok(Event::Close(frame)) if frame.code == CloseCode::ABNORMAL => {
                    return Some(Err(Error::ConnectionLost));
                }
                Ok(_) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }

    /// Sends a message and waits until it is written to the transport.
    ///
    /// # Errors
    ///
    /// [`Error::Usage`] if the connection is closing, [`Error::Io`] if the write fails,
    /// [`Error::Timeout`]([`Timeout::Write`]) if the peer takes no bytes for the
    /// [write timeout](WebSocketConfig::write_timeout).
    pub async fn send(&mut self, message: Message) -> Result<()> {
        self.feed(message).await?;
        self.flush().await
    }

    /// Queues a message, waiting only while the write buffer is above its high watermark.
    /// It is written by the next [`flush`](Self::flush), [`send`](Self::send), or receiving
    /// call that finds nothing left to hand out.
    ///
    /// In a loop that answers what it receives, `feed` lets the answers to messages that arrived
    /// together leave in one write: [`recv`](Self::recv) writes whatever is queued before it
    /// waits for the peer.
    ///
    /// # Errors
    ///
    /// As for [`send`](Self::send).
    pub fn feed(&mut self, message: Message) -> impl Future<Output = Result<()>> + '_ {
        let mut message = Some(message);
        poll_fn(move |cx| {
            std::task::ready!(self.poll_write_room(cx))?;
            if let Some(message) = message.take() {
                self.conn.send(message)?;
            }
            Poll::Ready(Ok(()))
        })
    }

    /// Writes everything queued.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the write fails, [`Error::Timeout`]([`Timeout::Write`]) if the peer
    /// takes no bytes for the [write timeout](WebSocketConfig::write_timeout).
    pub fn flush(&mut self) -> impl Future<Output = Result<()>> + '_ {
        poll_fn(move |cx| self.poll_flush_all(cx))
    }

    /// Sends one frame of a message (Tcl's `send ... final`); see
    /// [`Connection::send_frame`](weft_proto::Connection::send_frame).
    ///
    /// # Errors
    ///
    /// As for [`send`](Self::send).
    pub async fn send_frame(&mut self, kind: DataKind, data: Bytes, is_final: bool) -> Result<()> {
        poll_fn(|cx| self.poll_write_room(cx)).await?;
        self.conn.send_frame(kind, data, is_final)?;
        self.flush().await
    }

    /// Starts a frame of `len` bytes whose payload follows through
    /// [`send_fragment`](Self::send_fragment) (curl's `CURLWS_OFFSET`).
    ///
    /// # Errors
    ///
    /// As for [`send`](Self::send).
    pub async fn start_frame(&mut self, kind: DataKind, len: u64, is_final: bool) -> Result<()> {
        poll_fn(|cx| self.poll_write_room(cx)).await?;
        self.conn.start_frame(kind, len, is_final)?;
        Ok(())
    }

    /// Sends the next part of the frame opened by [`start_frame`](Self::start_frame).
    ///
    /// # Errors
    ///
    /// [`UsageError::FrameOverrun`] past the declared length, and as for [`send`](Self::send).
    pub async fn send_fragment(&mut self, data: Bytes) -> Result<()> {
        poll_fn(|cx| self.poll_write_room(cx)).await?;
        self.conn.send_frame_data(data)?;
        self.flush().await
    }

    /// Writes bytes untouched, in raw mode.
    ///
    /// # Errors
    ///
    /// [`UsageError::WrongMode`] outside raw mode, [`Error::Io`] if the write fails.
    pub async fn send_raw(&mut self, data: Bytes) -> Result<()> {
        self.conn.send_raw(data)?;
        self.flush().await
    }

    /// Runs the close handshake: sends a close frame, waits for the peer's (discarding data
    /// that arrives meanwhile) and for the transport to close, then returns. The server side
    /// closes TCP first (RFC 6455 §7.1.1). Bounded by the close timeout.
    ///
    /// # Errors
    ///
    /// [`Error::Usage`] for a code that may not be sent or a reason over 123 bytes,
    /// [`Error::Timeout`] if the peer did not finish the handshake in time (the transport is
    /// closed anyway).
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<()> {
        self.conn.close(code, reason)?;
        self.timers.start_close();
        poll_fn(|cx| self.poll_close_handshake(cx)).await
    }

    /// A snapshot of the connection (Tcl's `conninfo`).
    pub fn info(&self) -> Info {
        Info {
            role: self.conn.role(),
            peer_addr: self.handshaken.peer_addr,
            local_addr: self.handshaken.local_addr,
            state: match (self.finished, self.conn.state()) {
                (true, _) | (_, State::Closed) => ConnState::Closed,
                (_, State::Open) => ConnState::Open,
                _ => ConnState::Closing,
            },
            path: self.handshaken.path.clone(),
            subprotocol: self.handshaken.subprotocol.clone(),
            extensions: self.handshaken.extensions.clone(),
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

    /// The negotiated subprotocol.
    pub fn subprotocol(&self) -> Option<&str> {
        self.handshaken.subprotocol.as_deref()
    }

    /// The transport, for inspection.
    pub fn get_ref(&self) -> Option<&S> {
        self.io.as_ref()
    }

    /// The core's connection state.
    pub fn state(&self) -> State {
        self.conn.state()
    }

    /// Polls for the next event; the engine under every receiving call.
    pub fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Event>>> {
        loop {
            if self.io.is_none() {
                return Poll::Ready(None);
            }
            // Decoded as the application asks: a message goes from the read buffer straight
            // to it, and the frames read after it wait in the buffer until their turn.
            match self.conn.poll_event_from(&mut self.read_buf) {
                Ok(Some(event)) => {
                    if !matches!(event, Event::Message(Message::Text(_) | Message::Binary(_))) {
                        self.on_other_event(&event, cx);
                    }
                    return Poll::Ready(Some(Ok(event)));
                }
                Ok(None) => {}
                // Everything before the bad frame has been handed out; the failure's close
                // frame goes out below, then the error.
                Err(e) => self.pending_error = Some(Box::new(e.into())),
            }
            // Nothing decoded is left to hand out: write what is queued (answers to the events
            // just handed out, PONGs, the close echo, the registry's messages) in one go before
            // waiting for more, without making reads wait on a slow writer.
            // Once finished (a failed write, the close done or timed out) nothing more is
            // written: retrying a dead socket would hand out the same error forever.
            if !self.finished {
                self.take_outgoing(cx);
                // Woken to read, there is mostly nothing to write: no call for it then.
                if self.has_writing_to_do() {
                    if let Err(e) = self.write_queued(cx) {
                        return Poll::Ready(Some(Err(e)));
                    }
                }
            }
            if let Some(error) = self.pending_error.take() {
                return Poll::Ready(Some(Err(*error)));
            }
            if self.finished || self.writes.shut_down {
                self.finished = true;
                return Poll::Ready(None);
            }
            if !self.eof {
                let Some(io) = self.io.as_mut() else {
                    return Poll::Ready(None);
                };
                let wanted = self.conn.read_hint();
                match poll_read_into(io, &mut self.read_buf, wanted, self.config.read_buffer, cx) {
                    Poll::Pending => {}
                    Poll::Ready(Err(e)) => {
                        self.on_read_end(Some(e));
                        continue;
                    }
                    Poll::Ready(Ok(0)) => {
                        self.on_read_end(None);
                        continue;
                    }
                    Poll::Ready(Ok(n)) => {
                        if let Some(link) = &self.link {
                            link.shared.add_bytes_in(n as u64);
                        }
                        self.timers.on_read();
                        continue;
                    }
                }
            }
            // Nothing more has arrived: now the clock. A deadline that passed while the
            // application was busy does not fail a connection whose answer (the PONG, any
            // data) was already waiting in the socket.
            let Poll::Ready(due) = self.timers.poll_due(cx) else {
                return Poll::Pending;
            };
            if let Some(end) = self.on_due(due) {
                return end;
            }
        }
    }

    /// What a control event (or a fragment, or raw bytes) asks of the connection before it
    /// is handed out. Out of line: data messages are the per-message path.
    #[inline(never)]
    fn on_other_event(&mut self, event: &Event, cx: &mut Context<'_>) {
        match event {
            Event::Message(Message::Pong(_)) => self.timers.on_pong(),
            Event::Message(Message::Ping(_)) => self.push_replies(cx),
            Event::Close(frame) => {
                self.peer_close = Some(Box::new(frame.clone()));
                self.timers.start_close();
                self.push_replies(cx);
            }
            _ => {}
        }
    }

    /// The transport's read side ended, cleanly or with `error`.
    #[cold]
    #[inline(never)]
    fn on_read_end(&mut self, error: Option<std::io::Error>) {
        self.eof = true;
        self.conn.handle_eof();
        if let (Some(e), None) = (error, &self.peer_close) {
            self.pending_error = Some(Box::new(e.into()));
        }
    }

    /// Acts on a deadline: sends the PING, or ends or fails the connection. `Some` is what
    /// [`poll_event`](Self::poll_event) returns now; `None`, go on. Out of line, so the
    /// per-message loop stays small (callgrind, 100 x 16 B echo: 2458 instructions per
    /// message; inlined 2490, marked cold 2494).
    #[inline(never)]
    fn on_due(&mut self, due: Due) -> Option<Poll<Option<Result<Event>>>> {
        match due {
            Due::Ping(payload) => {
                // A PING that cannot be sent now (closing, a frame of ours half sent, raw
                // mode) is not sent, and no PONG is awaited for it.
                let sent = self.conn.send(Message::Ping(payload));
                if sent.is_err() {
                    self.timers.ping_not_sent();
                }
            }
            Due::Expired(Timeout::Close) => {
                self.finished = true;
                if self.peer_close.is_some() && self.conn.is_closed() {
                    return Some(Poll::Ready(None));
                }
                return Some(Poll::Ready(Some(Err(Error::Timeout(Timeout::Close)))));
            }
            Due::Expired(which) => {
                let _ = self.conn.close(CloseCode::GOING_AWAY, close_reason(which));
                if which == Timeout::Idle {
                    self.timers.start_close();
                }
                self.pending_error = Some(Box::new(Error::Timeout(which)));
            }
        }
        None
    }

    /// Writes what is queued as far as the transport takes it now, so the PONG or close echo
    /// an event owes the peer leaves even if the application does not poll again soon (best
    /// effort: what the transport cannot take yet waits for the next poll). Other events
    /// leave their answers queued, to go out together once nothing decoded is left.
    fn push_replies(&mut self, cx: &mut Context<'_>) {
        if self.finished {
            return;
        }
        if let Err(e) = self.write_queued(cx) {
            self.pending_error = Some(Box::new(e));
        }
    }

    /// Whether [`write_queued`](Self::write_queued) has anything to do: bytes queued or not
    /// yet flushed, or the close handshake under way (its end shuts the transport down).
    #[inline]
    fn has_writing_to_do(&self) -> bool {
        self.conn.pending_transmit() > 0
            || self.writes.has_unflushed()
            || self.conn.state() != State::Open
    }

    /// Writes what is queued as far as the transport takes it now. A write error finishes the
    /// connection: nothing more is written to a dead transport.
    fn write_queued(&mut self, cx: &mut Context<'_>) -> Result<()> {
        let Some(io) = self.io.as_mut() else {
            return Ok(());
        };
        if let Poll::Ready(Err(e)) = self.writes.poll_drain(io, &mut self.conn, cx) {
            self.finished = true;
            return Err(e.into());
        }
        Ok(())
    }

    /// Polls for the next message, the engine under [`Stream`](futures_core::Stream).
    pub fn poll_next_message(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message>>> {
        loop {
            let event = match std::task::ready!(self.poll_event(cx)) {
                Some(Ok(event)) => event,
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => return Poll::Ready(None),
            };
            match event {
                Event::Message(message) => return Poll::Ready(Some(Ok(message))),
                Event::Close(frame) if frame.code == CloseCode::ABNORMAL => {
                    return Poll::Ready(Some(Err(Error::ConnectionLost)));
                }
                Event::Close(_) => continue,
                // Fragments and raw bytes have their own calls; the message stream has no
                // place for them.
                _ => return Poll::Ready(Some(Err(UsageError::WrongMode.into()))),
            }
        }
    }

    /// Ready when the write buffer is below its high watermark (after writing down to the low
    /// one if it was above).
    fn poll_write_room(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let queued = self.conn.pending_transmit();
        if queued < self.config.write_high {
            return Poll::Ready(Ok(()));
        }
        let Some(io) = self.io.as_mut() else {
            return Poll::Ready(Err(UsageError::Closed.into()));
        };
        let low = self.config.write_low;
        std::task::ready!(self.writes.poll_write_until(io, &mut self.conn, cx, low))?;
        Poll::Ready(Ok(()))
    }

    fn poll_flush_all(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let Some(io) = self.io.as_mut() else {
            return Poll::Ready(Err(UsageError::Closed.into()));
        };
        std::task::ready!(self.writes.poll_drain(io, &mut self.conn, cx))?;
        Poll::Ready(Ok(()))
    }

    /// Drives the connection to its end, discarding what arrives.
    fn poll_close_handshake(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        loop {
            match std::task::ready!(self.poll_event(cx)) {
                None => return Poll::Ready(Ok(())),
                Some(Err(Error::Timeout(Timeout::Close))) => {
                    return Poll::Ready(Err(Error::Timeout(Timeout::Close)));
                }
                Some(Err(Error::ConnectionLost)) => return Poll::Ready(Ok(())),
                Some(Err(e)) => return Poll::Ready(Err(e)),
                Some(Ok(_)) => continue,
            }
        }
    }
}
