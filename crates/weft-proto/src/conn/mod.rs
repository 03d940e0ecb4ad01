//! The connection state machine: bytes in, events out; commands in, bytes out.

mod events;
mod outbound;
mod pongs;
mod recv;
mod send;

use bytes::{Bytes, BytesMut};

use crate::close::{CloseCode, CloseFrame};
use crate::config::Config;
use crate::error::{ProtocolError, UsageError};
use crate::message::{DataKind, Event, Message};
use crate::role::Role;

pub use pongs::MAX_UNSENT_PONGS;
pub use recv::Receiver;
pub use send::Sender;

/// Where the connection is in its life (RFC 6455 §7): `Open`, then `CloseSent` or
/// `CloseReceived` depending on who closed first, then `Closed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Data flows both ways.
    Open,
    /// This side sent a close frame and waits for the peer's; received data is still delivered,
    /// nothing more may be sent.
    CloseSent,
    /// The peer's close frame arrived; this side's echo is queued but not yet written.
    CloseReceived,
    /// Both close frames have passed, or the connection failed or its stream ended.
    Closed,
}

/// A chunk of output for the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// Bytes to write to the peer, in order.
    Data(Bytes),
    /// Everything owed has been handed out: close the TCP connection now. Emitted by a server
    /// after the close handshake (§7.1.1: the server closes first), by either side after
    /// failing the connection (§7.1.7), and after the peer's stream ended.
    Shutdown,
}

impl Transmit {
    /// The bytes, if this is [`Transmit::Data`].
    pub fn as_data(&self) -> Option<&Bytes> {
        match self {
            Transmit::Data(bytes) => Some(bytes),
            Transmit::Shutdown => None,
        }
    }
}

/// What the receiving half owes the sending half. [`Connection`] passes these on by itself;
/// after [`Connection::into_split`] the runtime carries them from
/// [`Receiver::poll_reply`] to [`Sender::handle_reply`], in order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    /// A PING arrived with this payload and auto-PONG is on: send a PONG (§5.5.2).
    Pong(Bytes),
    /// The peer's close frame arrived: echo it, or complete the handshake this side began.
    Close(CloseFrame),
    /// The peer broke the protocol: send this close frame if none was sent, then shut down.
    Fail(CloseFrame),
    /// The peer's stream ended.
    Eof,
}

/// One WebSocket connection after the opening handshake, without I/O.
///
/// See the [crate docs](crate) for the order of calls. A connection never blocks, never reads
/// a clock, and never writes from its read path: replies it owes come out of
/// [`poll_transmit`](Self::poll_transmit). It is a [`Receiver`] and a [`Sender`] joined;
/// [`into_split`](Self::into_split) separates them for runtimes that read and write on
/// different tasks.
#[derive(Debug)]
pub struct Connection {
    rx: Receiver,
    tx: Sender,
}

impl Connection {
    /// A connection in the open state, as after a successful handshake.
    pub fn new(role: Role, config: Config) -> Self {
        Connection {
            rx: Receiver::new(role, config.clone()),
            tx: Sender::new(role, config),
        }
    }

    /// Lets frames carry the given RSV bits (`0b100` = RSV1), which a negotiated extension owns
    /// (§5.2, §9). Without this, any set RSV bit fails the connection with 1002.
    pub fn with_reserved_bits(mut self, bits: u8) -> Self {
        self.rx.set_reserved_bits(bits);
        self
    }

    /// Runs permessage-deflate (RFC 7692) as negotiated: RSV1 becomes the "compressed" bit,
    /// received compressed messages are inflated within the message limit, and messages from
    /// the threshold up are sent compressed.
    pub fn with_deflate(mut self, deflate: crate::extensions::deflate::Deflate) -> Self {
        let (deflater, inflater) = deflate.into_parts();
        self.rx.set_inflater(inflater);
        self.tx.set_deflater(deflater);
        self
    }

    /// The two halves, for reading and writing from different tasks. The runtime must pass
    /// every [`Receiver::poll_reply`] to [`Sender::handle_reply`].
    pub fn into_split(self) -> (Receiver, Sender) {
        (self.rx, self.tx)
    }

    /// Joins halves split from the same connection.
    pub fn from_split(rx: Receiver, tx: Sender) -> Self {
        Connection { rx, tx }
    }

    /// This side's role.
    pub fn role(&self) -> Role {
        self.tx.role()
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        self.rx.config()
    }

    /// Where the connection is in the close handshake.
    pub fn state(&self) -> State {
        self.tx.state()
    }

    /// Whether the close handshake has finished or the connection ended.
    pub fn is_closed(&self) -> bool {
        self.state() == State::Closed
    }

    /// The protocol error that failed the connection, if one did.
    pub fn error(&self) -> Option<&ProtocolError> {
        self.rx.error()
    }

    /// Consumes bytes read from the peer; see [`Receiver::handle_data`]. Replies the bytes call
    /// for (PONGs, the close echo, the close frame of a failure) are queued for
    /// [`poll_transmit`](Self::poll_transmit).
    ///
    /// # Errors
    ///
    /// A [`ProtocolError`] fails the connection (§7.1.7): a close frame with the error's code
    /// is queued, a [`Transmit::Shutdown`] follows it, and later input is ignored. Events
    /// decoded before the bad frame stay queued; nothing already accepted is lost.
    pub fn handle_data(&mut self, buf: &mut BytesMut) -> Result<(), ProtocolError> {
        let result = self.rx.handle_data(buf);
        self.pass_replies();
        result
    }

    /// Reports that the peer's stream ended (read returned 0); see [`Receiver::handle_eof`].
    /// A [`Transmit::Shutdown`] follows so the runtime closes its side.
    pub fn handle_eof(&mut self) {
        self.rx.handle_eof();
        self.pass_replies();
    }

    /// The next event, in the order the peer sent it.
    ///
    /// PONGs and the close echo reach [`poll_transmit`](Self::poll_transmit) at once. After a
    /// protocol error, the call that finds no event left releases the failure's close frame:
    /// until then the application may still answer what arrived before the bad frame, and its
    /// answers go out first.
    #[inline]
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.rx.poll_event();
        self.pass_replies();
        event
    }

    /// The next event, queued or decoded from `buf`; see [`Receiver::poll_event_from`]. Its
    /// replies reach [`poll_transmit`](Self::poll_transmit) at once, as with
    /// [`poll_event`](Self::poll_event).
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use weft_proto::{Config, Event, Message, Connection, Role};
    ///
    /// let mut conn = Connection::new(Role::Client, Config::default());
    /// // Two unmasked text frames from a server, in one read.
    /// let mut buf = BytesMut::from(&b"\x81\x02hi\x81\x03you"[..]);
    /// assert_eq!(conn.poll_event_from(&mut buf)?, Some(Event::Message(Message::text("hi"))));
    /// assert_eq!(&buf[..], b"\x81\x03you", "the second frame waits in the buffer");
    /// assert_eq!(conn.poll_event_from(&mut buf)?, Some(Event::Message(Message::text("you"))));
    /// assert_eq!(conn.poll_event_from(&mut buf)?, None);
    /// # Ok::<(), weft_proto::ProtocolError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`handle_data`](Self::handle_data).
    #[inline]
    pub fn poll_event_from(&mut self, buf: &mut BytesMut) -> Result<Option<Event>, ProtocolError> {
        // Most asks find nothing; they are answered here, without the event's move that
        // holding a result across `pass_replies` costs.
        if self.rx.has_nothing_in(buf) {
            self.pass_replies();
            return Ok(None);
        }
        self.decode_event(buf)
    }

    #[inline(never)]
    fn decode_event(&mut self, buf: &mut BytesMut) -> Result<Option<Event>, ProtocolError> {
        let event = self.rx.poll_event_from(buf);
        self.pass_replies();
        event
    }

    /// The next chunk to write; see [`Sender::poll_transmit`].
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.tx.poll_transmit()
    }

    /// The queued bytes as slices for one write; see [`Sender::transmit_slices`].
    #[inline]
    pub fn transmit_slices<'a>(&'a self, dst: &mut [std::io::IoSlice<'a>]) -> usize {
        self.tx.transmit_slices(dst)
    }

    /// Reports bytes of [`transmit_slices`](Self::transmit_slices) written; see
    /// [`Sender::advance_transmit`].
    #[inline]
    pub fn advance_transmit(&mut self, n: usize) {
        self.tx.advance_transmit(n);
    }

    /// Whether the transport should be shut down now; see [`Sender::take_shutdown`].
    pub fn take_shutdown(&mut self) -> bool {
        self.tx.take_shutdown()
    }

    /// Bytes queued for writing and not yet handed out; see [`Sender::pending_transmit`].
    pub fn pending_transmit(&self) -> usize {
        self.tx.pending_transmit()
    }

    /// Payload bytes the frame being read still needs; see [`Receiver::read_hint`].
    pub fn read_hint(&self) -> usize {
        self.rx.read_hint()
    }

    /// Whether `handle_data` left whole frames in the buffer to decode once the events are
    /// taken; see [`Receiver::has_backlog`].
    pub fn has_backlog(&self) -> bool {
        self.rx.has_backlog()
    }

    /// Queues a message; see [`Sender::send`].
    ///
    /// # Errors
    ///
    /// As for [`Sender::send`].
    pub fn send(&mut self, message: Message) -> Result<(), UsageError> {
        self.tx.send(message)
    }

    /// Queues a frame encoded once for many connections; see [`Sender::send_encoded`].
    ///
    /// # Errors
    ///
    /// As for [`Sender::send_encoded`].
    pub fn send_encoded(&mut self, frame: &crate::frame::EncodedFrame) -> Result<(), UsageError> {
        self.tx.send_encoded(frame)
    }

    /// Queues one frame of a message; see [`Sender::send_frame`].
    ///
    /// # Errors
    ///
    /// As for [`Sender::send_frame`].
    pub fn send_frame(
        &mut self,
        kind: DataKind,
        data: Bytes,
        is_final: bool,
    ) -> Result<(), UsageError> {
        self.tx.send_frame(kind, data, is_final)
    }

    /// Starts a frame whose payload follows in parts; see [`Sender::start_frame`].
    ///
    /// # Errors
    ///
    /// As for [`Sender::start_frame`].
    pub fn start_frame(
        &mut self,
        kind: DataKind,
        payload_len: u64,
        is_final: bool,
    ) -> Result<(), UsageError> {
        self.tx.start_frame(kind, payload_len, is_final)
    }

    /// Sends the next part of a declared frame; see [`Sender::send_frame_data`].
    ///
    /// # Errors
    ///
    /// As for [`Sender::send_frame_data`].
    pub fn send_frame_data(&mut self, data: Bytes) -> Result<(), UsageError> {
        self.tx.send_frame_data(data)
    }

    /// Starts the close handshake; see [`Sender::close`].
    ///
    /// # Errors
    ///
    /// As for [`Sender::close`].
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), UsageError> {
        self.tx.close(code, reason)
    }

    /// Queues bytes to write untouched, in raw mode; see [`Sender::send_raw`].
    ///
    /// # Errors
    ///
    /// As for [`Sender::send_raw`].
    pub fn send_raw(&mut self, data: Bytes) -> Result<(), UsageError> {
        self.tx.send_raw(data)
    }

    /// Called after every read and every look for an event; most find no reply owed.
    #[inline]
    fn pass_replies(&mut self) {
        if self.rx.has_replies() {
            self.pass_replies_now();
        }
    }

    fn pass_replies_now(&mut self) {
        while let Some(reply) = self.rx.poll_reply() {
            self.tx.handle_reply(reply);
        }
    }
}
