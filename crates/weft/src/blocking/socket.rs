//! [`WebSocket`]: one connection over a blocking `Read + Write`, driving the sans-I/O core.

use std::any::Any;
use std::io::{self, IoSlice, Read, Write};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use weft_proto::{
    CloseCode, CloseFrame, Connection, DataKind, Event, Fragment, Message, Role, State, UsageError,
};

use super::reads::Reads;
use super::stream::{ReadTimeout, extras, is_timeout};
use crate::config::WebSocketConfig;
use crate::error::{Error, Result, Timeout};
use crate::info::{ConnState, Handshaken, Info};
use crate::liveness::{Due, Liveness, close_reason, earliest, later};

/// Most chunks gathered into one vectored write.
const MAX_IOVECS: usize = 64;

/// A WebSocket connection after the opening handshake, over a blocking transport: curl's
/// `curl_ws_recv` / `curl_ws_send` after a `CONNECT_ONLY` transfer.
///
/// Every call runs on the caller's thread and returns when its I/O is done. PINGs are answered
/// from the read path (the PONG is written before the PING is handed out); a clean close ends
/// [`recv`](Self::recv) with `None`.
///
/// # Timeouts and resuming
///
/// Read and write timeouts are the transport's own (`TcpStream::set_read_timeout`, or
/// [`ClientBuilder::read_timeout`](super::ClientBuilder::read_timeout)). A call that times
/// out returns [`Error::Io`] with [`io::ErrorKind::WouldBlock`] or
/// [`io::ErrorKind::TimedOut`] and loses nothing: a partial frame stays buffered and
/// half-written bytes stay queued, so the same call made again carries on where it stopped.
///
/// # Transports
///
/// Any `Read + Write` works. For `TcpStream`, [`Stream`](super::Stream) and rustls'
/// `StreamOwned<_, TcpStream>` the connection also bounds the close handshake by
/// [`WebSocketConfig::close_timeout`] (through the read timeout), runs the
/// [keepalive](WebSocketConfig::keepalive) and the [idle timeout](WebSocketConfig::idle_timeout),
/// and shuts down writing when the protocol closes TCP (RFC 6455 §7.1.1). Over other
/// transports the close handshake waits as long as the peer does, keepalive and idle timeout
/// are not run, and the transport closes when it is dropped. The transport should be in
/// blocking mode.
///
/// # Keepalive
///
/// With no thread of its own, the connection keeps time while a call reads
/// ([`recv`](Self::recv), [`next_event`](Self::next_event), [`close`](Self::close)...): a
/// read waits at most until the next PING is due, sends it, and reads on. A PING unanswered
/// within its timeout, or nothing arriving within the idle timeout, closes the connection
/// with 1001 and the read returns [`Error::Timeout`] ([`Timeout::Pong`] or
/// [`Timeout::Idle`]); what had already arrived when a deadline passed is read first, so an
/// application that was busy between reads is not failed for the PONG waiting in its socket.
/// An application that does not read for a while sends no PINGs then, and a write blocked on
/// a peer that stopped reading is bounded by the write timeout alone.
///
/// While deadlines run, the connection manages the socket's read timeout (it sets a coarse
/// one, so that reads cost no extra system calls): set your own with
/// [`set_read_timeout`](Self::set_read_timeout) rather than on the socket, and read it back
/// with [`read_timeout`](Self::read_timeout). A call waiting that long for data returns the
/// timeout error, PINGs sent meanwhile notwithstanding.
///
/// ```
/// use std::net::{TcpListener, TcpStream};
/// use weft::blocking::WebSocket;
/// use weft::proto::Role;
/// use weft::{Message, WebSocketConfig};
///
/// # fn main() -> Result<(), weft::Error> {
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let client = TcpStream::connect(listener.local_addr()?)?;
/// let (server, _) = listener.accept()?;
/// // Both ends take the handshake as done: only the framing runs here.
/// let mut client = WebSocket::new(client, Role::Client, WebSocketConfig::default());
/// let mut server = WebSocket::new(server, Role::Server, WebSocketConfig::default());
///
/// client.send(Message::text("hello"))?;
/// assert_eq!(server.recv().transpose()?, Some(Message::text("hello")));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct WebSocket<S> {
    io: S,
    conn: Connection,
    read_buf: BytesMut,
    /// How reads are sized, and the buffer small ones go through.
    reads: Reads,
    unflushed: bool,
    config: WebSocketConfig,
    handshaken: Handshaken,
    peer_close: Option<CloseFrame>,
    pending_error: Option<Error>,
    /// When the close handshake must be over: set by [`close`](Self::close) or the peer's
    /// close frame.
    close_deadline: Option<Instant>,
    /// Keepalive PINGs and the idle timeout, kept while a call reads.
    liveness: Liveness,
    /// The transport's read timeout while deadlines run.
    read_timeout: ReadTimeout,
    end: End,
}

/// How far the transport has got towards its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Open,
    /// The core asked for the transport to be closed once what is queued is written.
    ShutdownOwed,
    /// Reading is over: the stream ended, was shut down, failed, or timed out closing.
    Finished,
}

impl<S: Read + Write + Any> WebSocket<S> {
    /// Wraps a transport whose opening handshake is done elsewhere.
    ///
    /// `S: Any` (no borrowed transports) lets the connection recognise the transports whose
    /// timeouts and shutdown it can use.
    pub fn new(io: S, role: Role, config: WebSocketConfig) -> Self {
        Self::from_parts(io, role, config, Handshaken::default(), BytesMut::new())
    }

    /// Wraps a transport whose opening handshake is done, with what the handshake learned and
    /// the bytes read past its end (frames the peer sent at once).
    pub fn from_parts(
        io: S,
        role: Role,
        config: WebSocketConfig,
        handshaken: Handshaken,
        buffered: BytesMut,
    ) -> Self {
        let mut read_buf = buffered;
        let (conn, pending_error) = config.open_connection(role, &handshaken, &mut read_buf);
        read_buf.reserve(config.read_buffer);
        let liveness = Liveness::new(&config, Instant::now());
        WebSocket {
            io,
            conn,
            read_buf,
            reads: Reads::default(),
            unflushed: false,
            config,
            handshaken,
            peer_close: None,
            pending_error,
            close_deadline: None,
            liveness,
            read_timeout: ReadTimeout::default(),
            end: End::Open,
        }
    }

    /// The next message, PINGs and PONGs included; `None` after a clean close. Resumable after
    /// a read timeout (see [the type docs](Self#timeouts-and-resuming)).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if reading or writing fails (a timeout may be retried),
    /// [`Error::Protocol`] if the peer broke the protocol (the connection is then failed with
    /// the error's close code), [`Error::ConnectionLost`] if the stream ended without a close
    /// frame, [`UsageError::WrongMode`] in fragment or raw mode, and [`Error::Timeout`] with
    /// [`Timeout::Close`] if the peer left the close handshake unfinished.
    pub fn recv(&mut self) -> Option<Result<Message>> {
        loop {
            match self.next_event()? {
                Ok(Event::Message(message)) => return Some(Ok(message)),
                Ok(Event::Close(frame)) if frame.code == CloseCode::ABNORMAL => {
                    return Some(Err(Error::ConnectionLost));
                }
                Ok(Event::Close(_)) => continue,
                // Fragments and raw bytes have their own calls.
                Ok(_) => return Some(Err(UsageError::WrongMode.into())),
                Err(e) => return Some(Err(e)),
            }
        }
    }

    /// The next event: messages, fragments, raw bytes, and the peer's close frame (code 1006
    /// when the stream ended without one). `None` once the connection is over.
    ///
    /// # Errors
    ///
    /// As for [`recv`](Self::recv), except that the end of the stream is an
    /// [`Event::Close`] rather than an error.
    pub fn next_event(&mut self) -> Option<Result<Event>> {
        loop {
            if self.end != End::Finished {
                // What the core owes (PONGs, the close echo) goes out before what caused it
                // is handed out.
                if let Err(e) = self.write_out() {
                    if !is_timeout(&e) {
                        self.end = End::Finished;
                    }
                    return Some(Err(e.into()));
                }
            }
            if let Some(event) = self.conn.poll_event() {
                match &event {
                    Event::Close(frame) => {
                        self.peer_close = Some(frame.clone());
                        self.start_close_timer();
                    }
                    Event::Message(Message::Pong(_)) => self.liveness.on_pong(Instant::now()),
                    _ => {}
                }
                return Some(Ok(event));
            }
            if let Some(error) = self.pending_error.take() {
                return Some(Err(error));
            }
            if self.end == End::Finished {
                return None;
            }
            // Frames the core left in the buffer come before anything new from the socket.
            if self.conn.has_backlog() {
                if let Err(e) = self.conn.handle_data(&mut self.read_buf) {
                    self.pending_error = Some(e.into());
                }
                continue;
            }
            match self.read_more() {
                Ok(Some(0)) => self.conn.handle_eof(),
                Ok(Some(_)) => {
                    if self.liveness.watches_reads() {
                        self.liveness.on_read(Instant::now());
                    }
                    if let Err(e) = self.conn.handle_data(&mut self.read_buf) {
                        self.pending_error = Some(e.into());
                    }
                }
                Ok(None) => {
                    let now = Instant::now();
                    if self.close_deadline.is_some_and(|d| now >= d) {
                        return self.expire_close().err().map(Err);
                    }
                    self.on_liveness_due(now);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => return Some(Err(e.into())),
                Err(e) => {
                    self.conn.handle_eof();
                    if self.peer_close.is_none() {
                        self.pending_error = Some(e.into());
                    }
                }
            }
        }
    }

    /// The next part of a data frame (curl's `curl_ws_recv`), in fragment mode
    /// ([`weft_proto::Config::fragment_mode`]): frames of any size stream through without
    /// being held whole. PINGs are answered and skipped. `None` after a clean close.
    ///
    /// # Errors
    ///
    /// [`UsageError::WrongMode`] outside fragment mode, and as for [`recv`](Self::recv).
    pub fn recv_fragment(&mut self) -> Option<Result<Fragment>> {
        if !self.config.proto.is_fragment_mode() {
            return Some(Err(UsageError::WrongMode.into()));
        }
        loop {
            match self.next_event()? {
                Ok(Event::Fragment(fragment)) => return Some(Ok(fragment)),
                Ok(Event::Close(frame)) if frame.code == CloseCode::ABNORMAL => {
                    return Some(Err(Error::ConnectionLost));
                }
                Ok(_) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }

    /// Sends a message (curl's `curl_ws_send`) and returns once the transport has taken and
    /// flushed it.
    ///
    /// # Errors
    ///
    /// [`Error::Usage`] if the connection is closing or the message is not allowed now (see
    /// [`weft_proto::Sender::send`]); nothing is sent then. [`Error::Io`] if the write fails;
    /// after a write timeout the rest of the message is still queued and goes out first on the
    /// next call that writes.
    pub fn send(&mut self, message: Message) -> Result<()> {
        self.conn.send(message)?;
        Ok(self.write_out()?)
    }

    /// Sends one frame of a message (Tcl's `send ... final`); see
    /// [`Connection::send_frame`](weft_proto::Connection::send_frame).
    ///
    /// # Errors
    ///
    /// As for [`send`](Self::send).
    pub fn send_frame(&mut self, kind: DataKind, data: Bytes, is_final: bool) -> Result<()> {
        self.conn.send_frame(kind, data, is_final)?;
        Ok(self.write_out()?)
    }

    /// Starts a frame of `len` bytes whose payload follows through
    /// [`send_fragment`](Self::send_fragment) (curl's `CURLWS_OFFSET`). The header goes out
    /// with the first part.
    ///
    /// # Errors
    ///
    /// As for [`send`](Self::send).
    pub fn start_frame(&mut self, kind: DataKind, len: u64, is_final: bool) -> Result<()> {
        self.conn.start_frame(kind, len, is_final)?;
        if len == 0 {
            // No part follows to carry the header.
            self.write_out()?;
        }
        Ok(())
    }

    /// Sends the next part of the frame opened by [`start_frame`](Self::start_frame).
    ///
    /// # Errors
    ///
    /// [`UsageError::FrameOverrun`] past the declared length (nothing is sent), and as for
    /// [`send`](Self::send).
    pub fn send_fragment(&mut self, data: Bytes) -> Result<()> {
        self.conn.send_frame_data(data)?;
        Ok(self.write_out()?)
    }

    /// Writes bytes untouched, in raw mode.
    ///
    /// # Errors
    ///
    /// [`UsageError::WrongMode`] outside raw mode, [`Error::Io`] if the write fails.
    pub fn send_raw(&mut self, data: Bytes) -> Result<()> {
        self.conn.send_raw(data)?;
        Ok(self.write_out()?)
    }

    /// Runs the close handshake (RFC 6455 §7.1.2): sends a close frame, reads until the
    /// peer's close frame arrives (discarding data that comes first) and, on a client, until
    /// the server closes TCP (§7.1.1), then returns. A server shuts down its writing once the
    /// handshake is over. Bounded by [`WebSocketConfig::close_timeout`] on the transports that
    /// can time out (see [the type docs](Self#transports)). Calling it when the connection is
    /// already closing finishes the handshake.
    ///
    /// # Errors
    ///
    /// [`Error::Usage`] for a code that may not be sent or a reason over 123 bytes (nothing is
    /// sent), [`Error::Timeout`] with [`Timeout::Close`] if the peer did not finish in time
    /// (writing is shut down anyway), [`Error::Io`] if the transport fails first.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<()> {
        self.conn.close(code, reason)?;
        self.start_close_timer();
        loop {
            match self.next_event() {
                None => return Ok(()),
                // A stream cut after our close frame still ends the connection.
                Some(Err(Error::ConnectionLost)) => return Ok(()),
                // A user's timeout shorter than the close deadline: wait on, up to it.
                Some(Err(Error::Io(e))) if is_timeout(&e) && self.has_close_deadline() => {
                    if self.close_deadline.is_some_and(|d| Instant::now() >= d) {
                        return self.expire_close();
                    }
                }
                Some(Err(e)) => return Err(e),
                Some(Ok(_)) => {}
            }
        }
    }

    /// Your read timeout (see [Keepalive](Self#keepalive)); for transports other than
    /// `TcpStream`, [`Stream`](super::Stream) and rustls over `TcpStream`, an
    /// [`io::ErrorKind::Unsupported`] error.
    ///
    /// # Errors
    ///
    /// As `TcpStream::read_timeout`.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.read_timeout.user(&self.io)
    }

    /// Sets how long a reading call waits for data before it returns the timeout error
    /// ([`Error::Io`], resumable); `None` waits as long as the connection's own deadlines
    /// allow. Kept apart from the timeout the connection sets on the socket while keepalive,
    /// idle or close deadlines run.
    ///
    /// # Errors
    ///
    /// As `TcpStream::set_read_timeout` (a zero duration is refused), and
    /// [`io::ErrorKind::Unsupported`] for transports without a read timeout.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.read_timeout.set_user(&self.io, timeout)
    }

    /// The round-trip time of the last answered keepalive PING.
    pub fn rtt(&self) -> Option<Duration> {
        self.liveness.rtt
    }

    /// A snapshot of the connection (Tcl's `conninfo`).
    pub fn info(&self) -> Info {
        Info {
            role: self.conn.role(),
            peer_addr: self.handshaken.peer_addr,
            local_addr: self.handshaken.local_addr,
            state: match (self.end, self.conn.state()) {
                (End::Finished, _) | (_, State::Closed) => ConnState::Closed,
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
        self.peer_close.as_ref()
    }

    /// The negotiated subprotocol.
    pub fn subprotocol(&self) -> Option<&str> {
        self.handshaken.subprotocol.as_deref()
    }

    /// The core's connection state.
    pub fn state(&self) -> State {
        self.conn.state()
    }

    /// The transport.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// The transport, for socket options. Reading or writing it directly corrupts the
    /// connection.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.io
    }

    fn start_close_timer(&mut self) {
        if self.close_deadline.is_none() {
            self.close_deadline = Some(later(Instant::now(), self.config.close_timeout));
        }
        // Keepalive and idle policing end with the connection.
        self.liveness.stop();
    }

    /// Acts on a keepalive or idle deadline that passed while reading, as the async
    /// connection does: a PING goes out; a PING unanswered or the idle timeout closes with
    /// 1001 and reports [`Error::Timeout`] (the close handshake then gets at most the PONG
    /// timeout, or the close timeout).
    fn on_liveness_due(&mut self, now: Instant) {
        let grace = self.liveness.pong_timeout();
        match self.liveness.due(now) {
            Some(Due::Ping(payload)) => {
                // A PING that cannot be sent now (closing, a frame of ours half sent, raw
                // mode) is not sent, and no PONG is awaited for it.
                let sent = self.conn.send(Message::Ping(payload));
                if sent.is_err() {
                    self.liveness.ping_not_sent(now);
                }
            }
            Some(Due::Expired(which)) => {
                let _ = self.conn.close(CloseCode::GOING_AWAY, close_reason(which));
                let limit = match which {
                    Timeout::Pong => grace.unwrap_or(Duration::MAX),
                    _ => Duration::MAX,
                };
                let at = later(now, limit.min(self.config.close_timeout));
                self.close_deadline = Some(self.close_deadline.map_or(at, |d| d.min(at)));
                self.pending_error = Some(Error::Timeout(which));
            }
            None => {}
        }
    }

    /// How long a read may wait: until the close deadline or the next keepalive or idle
    /// deadline, whichever comes first.
    fn read_deadline(&self) -> Option<Instant> {
        earliest(self.close_deadline, self.liveness.next_deadline())
    }

    /// The close deadline passed: closes the transport without waiting longer. `Ok` if the
    /// handshake itself had finished and only the server's TCP close was missing.
    fn expire_close(&mut self) -> Result<()> {
        self.end = End::Finished;
        if let Some(x) = extras(&mut self.io) {
            // The peer is gone or stuck; its refusal changes nothing.
            let _ = x.shutdown_write();
        }
        if self.peer_close.is_some() && self.conn.is_closed() {
            Ok(())
        } else {
            Err(Error::Timeout(Timeout::Close))
        }
    }

    /// Whether the close handshake is bounded here, so a read timeout may be waited out.
    fn has_close_deadline(&mut self) -> bool {
        self.close_deadline.is_some() && extras(&mut self.io).is_some()
    }

    /// Reads once into the buffer (see [`Reads`]). `Ok(Some(0))` is the end of the stream,
    /// `Ok(None)` the close deadline.
    fn read_more(&mut self) -> io::Result<Option<usize>> {
        let base = self.config.read_buffer;
        if self.read_buf.is_empty() && self.read_buf.capacity() > base.saturating_mul(64) {
            // Shrink back after a large message instead of pinning its memory.
            self.read_buf = BytesMut::with_capacity(base);
        }
        let hint = self.conn.read_hint();
        let deadline = self.read_deadline();
        self.reads.read(
            &mut self.io,
            &mut self.read_buf,
            hint,
            deadline,
            &mut self.read_timeout,
        )
    }

    /// Writes and flushes everything the core has handed out, then shuts the transport down if
    /// the core asked for it.
    fn write_out(&mut self) -> io::Result<()> {
        while self.conn.pending_transmit() > 0 {
            let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
            let count = self.conn.transmit_slices(&mut slices);
            let written = if count == 1 {
                self.io.write(&slices[0])
            } else {
                self.io.write_vectored(&slices[..count])
            };
            match written {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.unflushed = true;
                    self.conn.advance_transmit(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.conn.take_shutdown() {
            self.end = End::ShutdownOwed;
        }
        if self.unflushed {
            self.io.flush()?;
            self.unflushed = false;
        }
        if self.end == End::ShutdownOwed {
            self.end = End::Finished;
            if let Some(x) = extras(&mut self.io) {
                // A peer that already went away makes shutdown fail; the transport is over
                // either way.
                let _ = x.shutdown_write();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
