//! The send side: whole messages, messages as several frames (Tcl's `send ... final`), and one
//! frame in parts with its length declared up front (curl's `CURLWS_OFFSET`).

use std::io::IoSlice;

use bytes::Bytes;

mod declared;

use super::outbound::Outbound;
use super::pongs::UnsentPongs;
use super::{Reply, State, Transmit};
use crate::close::{CloseCode, CloseFrame};
use crate::config::Config;
use crate::error::UsageError;
use crate::extensions::deflate::Deflater;
use crate::frame::{EncodedFrame, FrameHeader, MAX_CONTROL_PAYLOAD, OpCode, new_mask_key};
use crate::message::{DataKind, Message};
use crate::role::Role;

/// The sending half of a connection: encodes frames, runs the close handshake, and sends the
/// replies its [`Receiver`](super::Receiver) reports.
#[derive(Debug)]
pub struct Sender {
    role: Role,
    /// The one setting sending needs from the configuration (the receiver keeps the rest).
    raw: bool,
    life: Life,
    send: SendState,
    out: Outbound,
    /// A close frame owed while a declared frame is half sent (rare: boxed).
    deferred_close: Option<Box<CloseFrame>>,
    /// The automatic PONGs queued and not yet written, and a PING held unanswered; `None`
    /// while there are none.
    pongs: Option<Box<UnsentPongs>>,
    /// permessage-deflate's compressor, once negotiated. Boxed, like the receiver's
    /// decompressor, to keep the per-message fields close together.
    deflater: Option<Box<Deflater>>,
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

/// What the caller is in the middle of sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SendState {
    Idle,
    /// A message sent as several frames, not yet finished.
    Message {
        kind: DataKind,
        /// Whether the message is compressed (its first frame had RSV1).
        compressed: bool,
    },
    /// A frame whose header is out and whose payload is still coming.
    Frame {
        remaining: u64,
        mask: Option<[u8; 4]>,
        offset: u64,
        /// Whether the frame ends its message (then `Idle` follows), or `Message` follows.
        fin: bool,
        kind: DataKind,
    },
}

impl SendState {
    /// Control frames may go between frames, never inside one (§5.4).
    pub(super) fn can_interleave_control(self) -> bool {
        !matches!(self, SendState::Frame { .. })
    }
}

impl Sender {
    pub(super) fn new(role: Role, config: Config) -> Self {
        Sender {
            role,
            raw: config.is_raw_mode(),
            life: Life::Open,
            send: SendState::Idle,
            out: Outbound::default(),
            deferred_close: None,
            pongs: None,
            deflater: None,
        }
    }

    /// Compresses messages with `deflater` (permessage-deflate) from now on.
    pub(super) fn set_deflater(&mut self, deflater: Deflater) {
        self.deflater = Some(Box::new(deflater));
    }

    /// This side's role.
    pub fn role(&self) -> Role {
        self.role
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

    /// The next chunk to write, or `None` when nothing is owed.
    ///
    /// Call it until `None` after every command and reply; several chunks may be gathered into
    /// one vectored write. [`transmit_slices`](Self::transmit_slices) is the alternative
    /// that writes from the queue in place.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if let Some(chunk) = self.out.pop() {
            self.note_written(chunk.len());
            return Some(Transmit::Data(chunk));
        }
        self.take_shutdown().then_some(Transmit::Shutdown)
    }

    /// The bytes waiting to be written, as slices in write order for one (vectored) write:
    /// fills `dst` and returns how many slices it filled. The bytes stay queued until
    /// [`advance_transmit`](Self::advance_transmit) reports them written, so a writer that
    /// takes part of them loses nothing, and no chunk is handed out (or reference-counted)
    /// per write. Use either this pair or [`poll_transmit`](Self::poll_transmit), not both.
    ///
    /// ```
    /// use std::io::IoSlice;
    /// use weft_proto::{Config, Connection, Message, Role};
    ///
    /// let mut conn = Connection::new(Role::Server, Config::default());
    /// conn.send(Message::text("hi")).unwrap();
    /// let mut slices = [IoSlice::new(&[]); 8];
    /// let filled = conn.transmit_slices(&mut slices);
    /// let wire: Vec<u8> = slices[..filled].iter().flat_map(|s| s.iter().copied()).collect();
    /// assert_eq!(wire, b"\x81\x02hi");
    /// conn.advance_transmit(wire.len());
    /// assert_eq!(conn.pending_transmit(), 0);
    /// ```
    #[inline]
    pub fn transmit_slices<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        self.out.slices(dst)
    }

    /// Reports that the first `n` bytes of [`transmit_slices`](Self::transmit_slices) were
    /// written. Once everything is written, [`take_shutdown`](Self::take_shutdown) says
    /// whether the transport should now be shut down.
    #[inline]
    pub fn advance_transmit(&mut self, n: usize) {
        self.out.advance(n);
        self.note_written(n);
    }

    /// Whether the transport should be shut down now: the close handshake is over, everything
    /// queued is written, and this side is the server, which closes TCP first (RFC 6455
    /// §7.1.1). True once; [`poll_transmit`](Self::poll_transmit) reports the same as
    /// [`Transmit::Shutdown`].
    pub fn take_shutdown(&mut self) -> bool {
        if !self.out.is_empty() {
            return false;
        }
        if let Life::Closed { shutdown: true } = self.life {
            self.life = Life::Closed { shutdown: false };
            return true;
        }
        false
    }

    /// After bytes leave the queue: once our close echo is among them, the handshake is over
    /// (not before: an echo deferred behind a half-sent frame has not been queued yet).
    #[inline]
    fn note_written(&mut self, n: usize) {
        if self.pongs.is_none() && self.life == Life::Open {
            // Nothing waits on the bytes written: the common case, inlined.
            return;
        }
        self.note_written_slow(n);
    }

    #[inline(never)]
    fn note_written_slow(&mut self, n: usize) {
        if self.pongs.is_some() {
            self.release_pongs(n);
        }
        if self.out.is_empty() && self.life == Life::CloseReceived && self.deferred_close.is_none()
        {
            self.life = Life::Closed {
                shutdown: self.role == Role::Server,
            };
        }
    }

    /// Bytes queued for writing and not yet handed out by `poll_transmit` (or reported
    /// written with `advance_transmit`). A runtime compares this against its write-buffer
    /// watermarks.
    pub fn pending_transmit(&self) -> usize {
        self.out.len()
    }

    /// Acts on a reply the [`Receiver`](super::Receiver) reported: answers a PING, echoes the
    /// peer's close or completes the handshake, fails the connection, or notes the end of the
    /// peer's stream.
    pub fn handle_reply(&mut self, reply: Reply) {
        match reply {
            Reply::Pong(payload) => {
                if self.life == Life::Open {
                    self.queue_pong(payload);
                }
            }
            Reply::Close(frame) => match self.life {
                Life::Open => {
                    let echo = CloseFrame {
                        code: frame.code,
                        reason: String::new(),
                    };
                    self.queue_close(&echo);
                    self.life = Life::CloseReceived;
                }
                Life::CloseSent => {
                    self.life = Life::Closed {
                        shutdown: self.role == Role::Server,
                    };
                }
                Life::CloseReceived | Life::Closed { .. } => {}
            },
            Reply::Fail(frame) => {
                if self.life == Life::Open {
                    self.queue_close(&frame);
                }
                self.life = Life::Closed { shutdown: true };
            }
            Reply::Eof => self.life = Life::Closed { shutdown: true },
        }
    }

    /// Queues a whole message as one frame, or a PING or PONG.
    ///
    /// # Errors
    ///
    /// [`UsageError::Closed`] once this side has sent its close frame,
    /// [`UsageError::MessageInProgress`] for a data message while a fragmented one is open,
    /// [`UsageError::FrameInProgress`] while a declared frame is half sent,
    /// [`UsageError::ControlPayloadTooLong`] for a PING or PONG over 125 bytes.
    pub fn send(&mut self, message: Message) -> Result<(), UsageError> {
        self.check_can_send()?;
        match message {
            Message::Text(text) => {
                self.check_idle()?;
                self.queue_data(true, OpCode::Text, text.into_bytes(), None)?;
            }
            Message::Binary(data) => {
                self.check_idle()?;
                self.queue_data(true, OpCode::Binary, data, None)?;
            }
            Message::Ping(data) => self.send_control(OpCode::Ping, data)?,
            Message::Pong(data) => self.send_control(OpCode::Pong, data)?,
        }
        Ok(())
    }

    /// Queues a frame encoded once for many connections (a server's broadcast).
    ///
    /// # Errors
    ///
    /// [`UsageError::WrongMode`] on a client (its frames must be masked, each its own way),
    /// and as for [`send`](Self::send).
    pub fn send_encoded(&mut self, frame: &EncodedFrame) -> Result<(), UsageError> {
        if self.role.masks_outgoing() {
            return Err(UsageError::WrongMode);
        }
        self.check_can_send()?;
        if frame.is_data() {
            self.check_idle()?;
        } else if !self.send.can_interleave_control() {
            return Err(UsageError::FrameInProgress);
        }
        self.out.push_payload(frame.header.clone());
        self.out.push_payload(frame.payload.clone());
        Ok(())
    }

    /// Queues one frame of a message (Tcl's `send $sock $type $msg $final`). The first call
    /// opens a message of `kind`; later calls continue it whatever `kind` says; the call with
    /// `is_final` ends it. PINGs and PONGs may be sent between the frames.
    ///
    /// Text sent this way is not validated: a frame may end inside a character, and the caller
    /// vouches for the whole message.
    ///
    /// # Errors
    ///
    /// [`UsageError::Closed`] once this side has sent its close frame,
    /// [`UsageError::FrameInProgress`] while a declared frame is half sent.
    pub fn send_frame(
        &mut self,
        kind: DataKind,
        data: Bytes,
        is_final: bool,
    ) -> Result<(), UsageError> {
        self.check_can_send()?;
        let (opcode, kind) = self.next_data_opcode(kind)?;
        let continuing = match self.send {
            SendState::Message { compressed, .. } => Some(compressed),
            _ => None,
        };
        let compressed = self.queue_data(is_final, opcode, data, continuing)?;
        self.send = if is_final {
            SendState::Idle
        } else {
            SendState::Message { kind, compressed }
        };
        Ok(())
    }

    /// Starts the close handshake (§5.5.1, §7.1.2): queues a close frame with `code` and
    /// `reason`. [`CloseCode::NO_STATUS`] sends a close frame with no payload. Calling it again,
    /// or after the peer's close, does nothing.
    ///
    /// # Errors
    ///
    /// [`UsageError::InvalidCloseCode`] for a code that may not be sent,
    /// [`UsageError::CloseReasonTooLong`] for a reason over 123 bytes,
    /// [`UsageError::FrameInProgress`] while a declared frame is half sent.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), UsageError> {
        let frame = if code == CloseCode::NO_STATUS && reason.is_empty() {
            CloseFrame {
                code,
                reason: String::new(),
            }
        } else {
            CloseFrame::new(code, reason)?
        };
        if self.life != Life::Open {
            return Ok(());
        }
        if !self.send.can_interleave_control() {
            return Err(UsageError::FrameInProgress);
        }
        self.queue_close(&frame);
        self.life = Life::CloseSent;
        Ok(())
    }

    /// Queues bytes to write untouched, in raw mode.
    ///
    /// # Errors
    ///
    /// [`UsageError::WrongMode`] unless the connection is in raw mode.
    pub fn send_raw(&mut self, data: Bytes) -> Result<(), UsageError> {
        if !self.raw {
            return Err(UsageError::WrongMode);
        }
        self.out.push_payload(data);
        Ok(())
    }

    /// Queues the reply to a PING; or, while a half-sent frame keeps control frames out or
    /// [`MAX_UNSENT_PONGS`](super::MAX_UNSENT_PONGS) wait to be written, holds it until it
    /// may go (only the latest PING held is answered, §5.5.3).
    fn queue_pong(&mut self, payload: Bytes) {
        let can_queue = self.send.can_interleave_control();
        let pongs = self.pongs.get_or_insert_with(Box::default);
        if !can_queue || pongs.is_full() {
            pongs.hold(payload);
            return;
        }
        self.queue_frame(true, OpCode::Pong, payload);
        let queued = self.out.len();
        if let Some(pongs) = self.pongs.as_mut() {
            pongs.queued(queued);
        }
    }

    /// After `n` more bytes are written (or a half-sent frame is done, `n` = 0): forgets the
    /// PONGs that are out, queues a held one if it may go now, and drops the bookkeeping once
    /// nothing is left in it.
    pub(super) fn release_pongs(&mut self, n: usize) {
        let can_queue = self.send.can_interleave_control();
        let Some(pongs) = self.pongs.as_mut() else {
            return;
        };
        pongs.wrote(n);
        let held = if can_queue { pongs.take_held() } else { None };
        let idle = pongs.is_idle();
        if let Some(payload) = held {
            if self.life == Life::Open {
                self.queue_pong(payload);
            }
        } else if idle {
            self.pongs = None;
        }
    }

    /// Queues a close frame, or defers it until a half-sent frame is done.
    fn queue_close(&mut self, frame: &CloseFrame) {
        if self.send.can_interleave_control() {
            self.queue_frame(true, OpCode::Close, frame.to_payload());
        } else {
            self.deferred_close = Some(Box::new(frame.clone()));
        }
    }

    fn check_can_send(&self) -> Result<(), UsageError> {
        if self.raw {
            return Err(UsageError::WrongMode);
        }
        match self.life {
            Life::Open => Ok(()),
            _ => Err(UsageError::Closed),
        }
    }

    fn check_idle(&self) -> Result<(), UsageError> {
        match self.send {
            SendState::Idle => Ok(()),
            SendState::Message { .. } => Err(UsageError::MessageInProgress),
            SendState::Frame { .. } => Err(UsageError::FrameInProgress),
        }
    }

    fn send_control(&mut self, opcode: OpCode, payload: Bytes) -> Result<(), UsageError> {
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(UsageError::ControlPayloadTooLong(payload.len()));
        }
        if !self.send.can_interleave_control() {
            return Err(UsageError::FrameInProgress);
        }
        self.queue_frame(true, opcode, payload);
        Ok(())
    }

    /// The opcode for the next data frame, and the kind of the message it belongs to.
    fn next_data_opcode(&self, kind: DataKind) -> Result<(OpCode, DataKind), UsageError> {
        match self.send {
            SendState::Idle => Ok((
                match kind {
                    DataKind::Text => OpCode::Text,
                    DataKind::Binary => OpCode::Binary,
                },
                kind,
            )),
            SendState::Message { kind, .. } => Ok((OpCode::Continuation, kind)),
            SendState::Frame { .. } => Err(UsageError::FrameInProgress),
        }
    }

    /// Queues a data frame, compressed if the message is (`continuing`) or, for a first
    /// frame, if permessage-deflate is on and the payload reaches the threshold. Returns
    /// whether it was compressed.
    fn queue_data(
        &mut self,
        fin: bool,
        opcode: OpCode,
        payload: Bytes,
        continuing: Option<bool>,
    ) -> Result<bool, UsageError> {
        let compress = match (continuing, self.deflater.as_ref()) {
            (Some(compressed), _) => compressed,
            (None, Some(deflater)) => deflater.wants(payload.len()),
            (None, None) => false,
        };
        let Some(deflater) = self.deflater.as_mut().filter(|_| compress) else {
            self.queue_frame(fin, opcode, payload);
            return Ok(false);
        };
        let compressed = deflater
            .compress(&payload, fin)
            .map_err(|_| UsageError::Compression)?;
        if continuing.is_none() && fin && compressed.len() >= payload.len() {
            // A whole message that deflate made larger goes out as it is.
            deflater.discard();
            self.queue_frame(fin, opcode, payload);
            return Ok(false);
        }
        let mask = self.role.masks_outgoing().then(new_mask_key);
        let header = FrameHeader {
            fin,
            // RSV1 on the first frame only (RFC 7692 §6).
            rsv: if opcode == OpCode::Continuation {
                0
            } else {
                0b100
            },
            opcode,
            mask,
            payload_len: compressed.len() as u64,
        };
        self.out.push_header(&header);
        match mask {
            Some(key) => self.out.push_masked(compressed, key, 0),
            None => self.out.push_copy(compressed),
        }
        Ok(true)
    }

    fn queue_frame(&mut self, fin: bool, opcode: OpCode, payload: Bytes) {
        let mask = self.role.masks_outgoing().then(new_mask_key);
        let header = FrameHeader {
            fin,
            rsv: 0,
            opcode,
            mask,
            payload_len: payload.len() as u64,
        };
        match mask {
            None => self.out.push_frame(&header, payload),
            Some(_) => {
                self.out.push_header(&header);
                self.queue_payload(payload, mask, 0);
            }
        }
    }

    /// A client's payload is masked on its way into the queue (see `Outbound::push_masked`:
    /// in one pass from 256 B, copied and masked in place below); an unmasked payload is
    /// queued without a copy.
    fn queue_payload(&mut self, payload: Bytes, mask: Option<[u8; 4]>, offset: u64) {
        match mask {
            Some(key) => self.out.push_masked(&payload, key, (offset % 4) as usize),
            None => self.out.push_payload(payload),
        }
    }
}
