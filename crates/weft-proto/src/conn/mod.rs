//! The connection state machine: bytes in, events out; commands in, bytes out.

mod outbound;
mod recv;
mod send;

use std::collections::VecDeque;

use bytes::Bytes;

use crate::close::{CloseCode, CloseFrame};
use crate::config::Config;
use crate::error::ProtocolError;
use crate::message::Event;
use crate::role::Role;
use outbound::Outbound;
use recv::{Incoming, ReadState};
use send::SendState;

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

/// One WebSocket connection after the opening handshake, without I/O.
///
/// See the [crate docs](crate) for the order of calls. A connection never blocks, never reads
/// a clock, and never writes from its read path: replies it owes come out of
/// [`poll_transmit`](Self::poll_transmit).
#[derive(Debug)]
pub struct Connection {
    role: Role,
    config: Config,
    /// RSV bits that a negotiated extension owns; any other set bit fails the connection.
    reserved_bits: u8,
    life: Life,
    read: ReadState,
    incoming: Option<Incoming>,
    events: VecDeque<Event>,
    send: SendState,
    out: Outbound,
    /// A PONG owed while a declared frame is half sent; only the latest is kept (§5.5.3).
    deferred_pong: Option<Bytes>,
    /// Our close echo, owed while a declared frame is half sent.
    deferred_close: Option<CloseFrame>,
    error: Option<ProtocolError>,
}

/// The close handshake's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Life {
    Open,
    CloseSent,
    CloseReceived,
    /// `shutdown` is whether a [`Transmit::Shutdown`] is still owed once the queue drains.
    Closed {
        shutdown: bool,
    },
}

impl Connection {
    /// A connection in the open state, as after a successful handshake.
    pub fn new(role: Role, config: Config) -> Self {
        Connection {
            role,
            config,
            reserved_bits: 0,
            life: Life::Open,
            read: ReadState::Header,
            incoming: None,
            events: VecDeque::new(),
            send: SendState::Idle,
            out: Outbound::default(),
            deferred_pong: None,
            deferred_close: None,
            error: None,
        }
    }

    /// Lets frames carry the given RSV bits (`0b100` = RSV1), which a negotiated extension owns
    /// (§5.2, §9). Without this, any set RSV bit fails the connection with 1002.
    pub fn with_reserved_bits(mut self, bits: u8) -> Self {
        self.reserved_bits = bits & 0b111;
        self
    }

    /// This side's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Where the connection is in the close handshake.
    pub fn state(&self) -> State {
        match self.life {
            Life::Open => State::Open,
            Life::CloseSent => State::CloseSent,
            Life::CloseReceived => State::CloseReceived,
            Life::Closed { .. } => State::Closed,
        }
    }

    /// Whether the close handshake has finished or the connection ended.
    pub fn is_closed(&self) -> bool {
        matches!(self.life, Life::Closed { .. })
    }

    /// The protocol error that failed the connection, if one did.
    pub fn error(&self) -> Option<&ProtocolError> {
        self.error.as_ref()
    }

    /// The next event, in the order the peer sent it.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next chunk to write, or `None` when nothing is owed.
    ///
    /// Call it until `None` after every `handle_*` and command; several chunks may be gathered
    /// into one vectored write.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if let Some(chunk) = self.out.pop() {
            if self.out.is_empty() && self.life == Life::CloseReceived {
                // Our echo was the last thing queued: the handshake is complete.
                self.life = Life::Closed {
                    shutdown: self.role == Role::Server,
                };
            }
            return Some(Transmit::Data(chunk));
        }
        if let Life::Closed { shutdown: true } = self.life {
            self.life = Life::Closed { shutdown: false };
            return Some(Transmit::Shutdown);
        }
        None
    }

    /// Bytes queued for writing and not yet handed out by `poll_transmit`. A runtime compares
    /// this against its write-buffer watermarks.
    pub fn pending_transmit(&self) -> usize {
        self.out.len()
    }

    /// Payload bytes the frame being read still needs, so a runtime can size its next read.
    /// Zero when between frames.
    pub fn read_hint(&self) -> usize {
        self.read.bytes_wanted()
    }

    /// Reports that the peer's stream ended (read returned 0).
    ///
    /// After a completed close handshake this is the expected end. Otherwise the connection
    /// ended abnormally: an [`Event::Close`] with [`CloseCode::ABNORMAL`] (1006) is queued.
    /// Either way a [`Transmit::Shutdown`] follows so the runtime closes its side.
    pub fn handle_eof(&mut self) {
        if !self.is_closed() {
            self.events.push_back(Event::Close(CloseFrame {
                code: CloseCode::ABNORMAL,
                reason: String::new(),
            }));
        }
        self.read = ReadState::Done;
        self.incoming = None;
        self.life = Life::Closed { shutdown: true };
    }

    /// Fails the connection (§7.1.7): queue a close frame with the error's code if this side has
    /// not sent one, stop reading, and owe a shutdown.
    fn fail(&mut self, error: ProtocolError) -> ProtocolError {
        if self.life == Life::Open && self.send.can_interleave_control() {
            let reason = error_reason(&error);
            let frame = CloseFrame {
                code: error.close_code(),
                reason,
            };
            self.queue_close(&frame);
        }
        self.read = ReadState::Done;
        self.incoming = None;
        self.life = Life::Closed { shutdown: true };
        self.error = Some(error.clone());
        error
    }
}

/// The error's description, cut to fit a close frame.
fn error_reason(error: &ProtocolError) -> String {
    let mut reason = error.to_string();
    let mut cut = reason.len().min(crate::close::MAX_REASON_BYTES);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    reason.truncate(cut);
    reason
}
