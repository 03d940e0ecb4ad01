//! The read path: frame headers checked against the connection's state, payloads unmasked in
//! place, messages assembled or streamed as fragments. It never writes; replies are queued.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

mod fragment;
mod incoming;

use incoming::OpenMessage;

use super::Reply;
use super::events::EventQueue;
use crate::close::{CloseCode, CloseFrame, MAX_REASON_BYTES};
use crate::config::{Config, Limits};
use crate::error::ProtocolError;
use crate::extensions::deflate::{DeflateError, Inflater};
use crate::frame::{FrameHeader, OpCode, apply_mask};
use crate::message::{DataKind, Event, Message, Text};
use crate::role::Role;
use crate::utf8::validate as validate_utf8;

/// What the decoder expects next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReadState {
    Header,
    /// Inside a frame's payload. `done` counts payload bytes already handled: in message mode
    /// they sit unmasked and validated at the front of the read buffer; in fragment mode they
    /// have been delivered.
    Payload {
        header: FrameHeader,
        done: u64,
    },
    /// Reading has ended (the peer closed, or the connection failed): input is discarded.
    Done,
}

impl ReadState {
    pub(super) fn bytes_wanted(&self) -> usize {
        match self {
            ReadState::Payload { header, done } => {
                usize::try_from(header.payload_len - done).unwrap_or(usize::MAX)
            }
            ReadState::Header | ReadState::Done => 0,
        }
    }
}

/// The receiving half of a connection: decodes frames into events, and says which replies
/// the sending half owes (see [`Reply`]).
///
/// [`Connection`](super::Connection) holds one and hands its replies to its
/// [`Sender`](super::Sender) itself; after [`Connection::into_split`](super::Connection::into_split)
/// the runtime carries them, which lets reading and writing run on different tasks without a
/// lock.
#[derive(Debug)]
pub struct Receiver {
    role: Role,
    config: Config,
    /// RSV bits that a negotiated extension owns; any other set bit fails the connection.
    reserved_bits: u8,
    read: ReadState,
    incoming: OpenMessage,
    events: EventQueue,
    replies: VecDeque<Reply>,
    /// Whether the application has caught up: its last look for an event found none. Until
    /// then a failure's close frame is held back.
    caught_up: bool,
    /// Whether the peer's close frame has arrived, after which the end of the stream is normal.
    peer_closed: bool,
    /// Set once, when the connection fails; boxed to keep the hot state small.
    error: Option<Box<ProtocolError>>,
    /// permessage-deflate's decompressor, once negotiated. Boxed: its 150 bytes would sit
    /// between the fields every frame touches, in every connection, negotiated or not.
    inflater: Option<Box<Inflating>>,
}

/// permessage-deflate's receiving state: the decompressor, and how much one call of
/// `handle_data` has inflated (only compressed messages can make a read grow a thousandfold,
/// so the count lives here, off the path of connections without deflate).
#[derive(Debug)]
struct Inflating {
    inflater: Inflater,
    /// Bytes inflated by this call of `handle_data`.
    inflated: usize,
    /// Whether this call stopped with whole frames left in the buffer (see
    /// [`Receiver::has_backlog`]).
    backlog: bool,
}

impl Receiver {
    pub(super) fn new(role: Role, config: Config) -> Self {
        Receiver {
            role,
            config,
            reserved_bits: 0,
            read: ReadState::Header,
            incoming: OpenMessage::default(),
            events: EventQueue::default(),
            replies: VecDeque::new(),
            caught_up: true,
            peer_closed: false,
            error: None,
            inflater: None,
        }
    }

    /// Reads permessage-deflate messages (RSV1 on their first frame) with `inflater`.
    pub(super) fn set_inflater(&mut self, inflater: Inflater) {
        self.reserved_bits |= RSV1;
        self.inflater = Some(Box::new(Inflating {
            inflater,
            inflated: 0,
            backlog: false,
        }));
    }

    pub(super) fn set_reserved_bits(&mut self, bits: u8) {
        self.reserved_bits = bits & 0b111;
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The next event, in the order the peer sent it.
    #[inline]
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.events.pop_front();
        self.caught_up = event.is_none();
        event
    }

    /// The next reply the sending half owes: hand it to
    /// [`Sender::handle_reply`](super::Sender::handle_reply).
    ///
    /// A PONG or the close echo is ready at once, so a PING is answered even while the
    /// application is busy with what arrived before it. A failure's close frame waits until
    /// the application has caught up (it asked for an event and found none), so a message that
    /// arrived before a protocol error is answered before the close (Autobahn's strict
    /// behaviour, 3.2 and kin). Ask for replies after each [`poll_event`](Self::poll_event)
    /// and pass them on behind whatever the application sent meanwhile.
    pub fn poll_reply(&mut self) -> Option<Reply> {
        let fails = matches!(self.replies.front(), Some(Reply::Fail(_)));
        if fails && !(self.caught_up && self.events.is_empty()) {
            return None;
        }
        self.replies.pop_front()
    }

    /// Whether any reply is queued (one may still be held back; see `poll_reply`).
    pub(super) fn has_replies(&self) -> bool {
        !self.replies.is_empty()
    }

    /// The protocol error that failed the connection, if one did.
    pub fn error(&self) -> Option<&ProtocolError> {
        self.error.as_deref()
    }

    /// Whether reading has ended: the peer closed, the connection failed, or the stream ended.
    pub fn is_done(&self) -> bool {
        self.read == ReadState::Done
    }

    /// Whether [`handle_data`](Self::handle_data) stopped early and left frames in the buffer:
    /// once the messages it decompressed reach the message size limit together, it decodes
    /// no further, because deflate expands data by up to about a thousand times and one read
    /// could otherwise turn into that many full-size messages at once. Take the events, then
    /// call `handle_data` again with the same buffer (and no new bytes) before reading more:
    /// the peer may send nothing else.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use weft_proto::Receiver;
    ///
    /// # fn drive(rx: &mut Receiver, buf: &mut BytesMut) -> Result<(), weft_proto::ProtocolError> {
    /// rx.handle_data(buf)?;
    /// loop {
    ///     while let Some(event) = rx.poll_event() {
    ///         // hand the event on
    ///     }
    ///     if !rx.has_backlog() {
    ///         break; // read more from the socket
    ///     }
    ///     rx.handle_data(buf)?;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn has_backlog(&self) -> bool {
        self.inflater.as_ref().is_some_and(|state| state.backlog)
    }

    /// Payload bytes the frame being read still needs, so a runtime can size its next read.
    /// Zero when between frames.
    pub fn read_hint(&self) -> usize {
        self.read.bytes_wanted()
    }

    /// Reports that the peer's stream ended (read returned 0).
    ///
    /// After the peer's close frame this is the expected end. Otherwise the connection ended
    /// abnormally: an [`Event::Close`] with [`CloseCode::ABNORMAL`] (1006) is queued.
    pub fn handle_eof(&mut self) {
        if !self.peer_closed && self.error.is_none() {
            self.events.push_back(Event::Close(CloseFrame {
                code: CloseCode::ABNORMAL,
                reason: String::new(),
            }));
        }
        self.read = ReadState::Done;
        self.incoming.clear();
        self.replies.push_back(Reply::Eof);
    }

    /// Consumes bytes read from the peer, queuing events for [`poll_event`](Self::poll_event)
    /// and any replies for [`poll_transmit`](Self::poll_transmit).
    ///
    /// Bytes it cannot use yet (a partial frame) stay at the front of `buf`: pass the same
    /// buffer again with new bytes appended. A partial payload may already be unmasked in
    /// place, so the buffer must not be rewound or edited in between.
    ///
    /// # Errors
    ///
    /// A [`ProtocolError`] fails the connection (§7.1.7): a [`Reply::Fail`] asks the sender
    /// for a close frame with the error's code and a shutdown, and later input is ignored.
    /// Events decoded before the bad frame stay queued and are still delivered; nothing
    /// already accepted is lost.
    pub fn handle_data(&mut self, buf: &mut BytesMut) -> Result<(), ProtocolError> {
        if let Some(state) = self.inflater.as_deref_mut() {
            state.inflated = 0;
            state.backlog = false;
        }
        if self.config.is_raw_mode() {
            if !buf.is_empty() {
                self.events.push_back(Event::Raw(buf.split().freeze()));
            }
            return Ok(());
        }
        self.read_frames(buf).map_err(|e| self.fail(e))
    }

    /// Fails the connection (§7.1.7): stop reading, and tell the sender to close with the
    /// error's code.
    #[cold]
    #[inline(never)]
    fn fail(&mut self, error: ProtocolError) -> ProtocolError {
        self.read = ReadState::Done;
        self.incoming.clear();
        self.error = Some(Box::new(error.clone()));
        self.replies.push_back(Reply::Fail(CloseFrame {
            code: error.close_code(),
            reason: error_reason(&error),
        }));
        error
    }

    fn read_frames(&mut self, buf: &mut BytesMut) -> Result<(), ProtocolError> {
        loop {
            let progressed = match self.read {
                ReadState::Done => {
                    buf.clear();
                    false
                }
                // Most reads end exactly at a frame's end: no header to look at.
                ReadState::Header if buf.is_empty() => false,
                ReadState::Header => match FrameHeader::decode(buf)? {
                    Some((header, header_len)) => {
                        self.accept_header(&header)?;
                        buf.advance(header_len);
                        self.read = ReadState::Payload { header, done: 0 };
                        true
                    }
                    None => false,
                },
                ReadState::Payload { header, done } => {
                    if header.opcode.is_control() {
                        self.read_control(header, buf)?
                    } else if self.config.is_fragment_mode() {
                        self.read_fragment(header, done, buf)?
                    } else {
                        self.read_message_frame(header, done, buf)?
                    }
                }
            };
            if !progressed {
                return Ok(());
            }
        }
    }

    /// The checks that need the connection's state (§5.1-§5.4 and the limits), and the start
    /// of a message for a text or binary frame.
    fn accept_header(&mut self, header: &FrameHeader) -> Result<(), ProtocolError> {
        if header.rsv & !self.reserved_bits != 0 {
            return Err(ProtocolError::ReservedBits(header.rsv));
        }
        match (self.role, header.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        let rsv1 = header.rsv & RSV1 != 0;
        // RFC 7692 §6.1: RSV1 marks a compressed message on its first frame only.
        if rsv1
            && self.inflater.is_some()
            && (header.opcode.is_control() || header.opcode == OpCode::Continuation)
        {
            return Err(ProtocolError::ReservedBits(header.rsv));
        }
        if header.opcode.is_control() {
            return Ok(());
        }
        // §5.4 before the sizes: a frame out of order is a protocol error (1002) whatever
        // length it declares.
        match (header.opcode, self.incoming.is_open()) {
            (OpCode::Continuation, false) => return Err(ProtocolError::UnexpectedContinuation),
            (OpCode::Continuation, true) => {}
            (_, true) => return Err(ProtocolError::ExpectedContinuation),
            (_, false) => {}
        }
        let limits = self.config.limits;
        // With no inflater, RSV1 belongs to an extension of the caller's, which gets the
        // payload as it came.
        let starts_compressed = rsv1 && self.inflater.is_some();
        let compressed = match self.incoming.get() {
            Some(incoming) => incoming.compressed,
            None => starts_compressed,
        };
        // Deflate can make incompressible data larger (by up to an eighth with fixed Huffman
        // codes), so a message within the limits uncompressed may arrive in frames a little
        // over them. The slack is bounded; what the frame inflates to is held to the message
        // limit.
        let frame_limit = if compressed {
            limits
                .max_frame_size
                .saturating_add(limits.max_frame_size / 8 + 1024)
        } else {
            limits.max_frame_size
        };
        if header.payload_len > frame_limit {
            return Err(ProtocolError::FrameTooLarge {
                size: header.payload_len,
                limit: frame_limit,
            });
        }
        let fragment_mode = self.config.is_fragment_mode();
        if !self.incoming.is_open() && header.fin && !starts_compressed && !fragment_mode {
            // A whole message in one frame, the common case: it needs no assembly state
            // unless its payload arrives in pieces (see `read_message_frame`).
            return check_message(&limits, 1, header.payload_len, true);
        }
        // The order check above leaves a continuation with its message, or a first frame.
        let incoming = self.incoming.get_or_start(header.opcode, starts_compressed);
        incoming.add_frame(header.payload_len);
        // A compressed message is held to the limit as it inflates instead.
        let sized = !fragment_mode && !incoming.compressed;
        check_message(&limits, incoming.frames, incoming.len, sized)
    }

    // Out of line, like the inflating and fragment paths: control frames are rare next to
    // data, and the message path runs faster without their code inlined around it.
    #[inline(never)]
    fn read_control(
        &mut self,
        header: FrameHeader,
        buf: &mut BytesMut,
    ) -> Result<bool, ProtocolError> {
        // A control payload is at most 125 bytes (checked at decode), so wait for all of it.
        let len = header.payload_len as usize;
        if buf.len() < len {
            return Ok(false);
        }
        let mut payload = buf.split_to(len);
        if let Some(key) = header.mask {
            apply_mask(&mut payload, key, 0);
        }
        let payload = payload.freeze();
        self.read = ReadState::Header;
        match header.opcode {
            OpCode::Ping => {
                if self.config.is_auto_pong() {
                    self.replies.push_back(Reply::Pong(payload.clone()));
                }
                self.events
                    .push_back(Event::Message(Message::Ping(payload)));
            }
            OpCode::Pong => self
                .events
                .push_back(Event::Message(Message::Pong(payload))),
            _ => self.read_close(&payload)?,
        }
        Ok(true)
    }

    /// The peer's close frame (§5.5.1): reported, passed to the sender (to echo it or to
    /// complete the handshake), and the end of reading.
    fn read_close(&mut self, payload: &Bytes) -> Result<(), ProtocolError> {
        let frame = CloseFrame::parse(payload)?;
        self.read = ReadState::Done;
        self.incoming.clear();
        self.peer_closed = true;
        self.replies.push_back(Reply::Close(frame.clone()));
        self.events.push_back(Event::Close(frame));
        Ok(())
    }

    /// Message mode: unmask and validate payload bytes as they arrive, so invalid text fails at
    /// the first bad byte; hand the frame on once all of it is in the buffer.
    fn read_message_frame(
        &mut self,
        header: FrameHeader,
        done: u64,
        buf: &mut BytesMut,
    ) -> Result<bool, ProtocolError> {
        // Fits: the message limit (a usize) bounds the frame in message mode.
        let len = usize::try_from(header.payload_len).map_err(|_| ProtocolError::InvalidLength)?;
        // No message open: `accept_header` found this frame to be a whole message.
        if !self.incoming.is_open() && buf.len() >= len {
            return self.read_whole_message(header, len, buf);
        }
        // A whole message arriving in pieces is checked piece by piece like a longer one.
        let starting = !self.incoming.is_open();
        let incoming = self.incoming.get_or_start(header.opcode, false);
        if starting {
            incoming.add_frame(header.payload_len);
        }
        let done = done as usize;
        let available = buf.len().min(len);
        if available > done {
            let fresh = &mut buf[done..available];
            if let Some(key) = header.mask {
                apply_mask(fresh, key, done);
            }
            if let (Some(utf8), false) = (incoming.utf8.as_mut(), incoming.compressed) {
                utf8.feed(fresh).map_err(|_| ProtocolError::InvalidUtf8)?;
            }
        }
        if available < len {
            self.read = ReadState::Payload {
                header,
                done: available as u64,
            };
            return Ok(false);
        }
        let payload = buf.split_to(len);
        self.read = ReadState::Header;
        if incoming.compressed {
            return self.inflate_message_frame(header.fin, &payload, buf);
        }
        if !header.fin {
            incoming.assembled.extend_from_slice(&payload);
            return Ok(true);
        }
        if let Some(utf8) = incoming.utf8.as_mut() {
            utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        let data = if incoming.assembled.is_empty() {
            payload.freeze()
        } else {
            incoming.assembled.extend_from_slice(&payload);
            incoming.assembled.split().freeze()
        };
        let message = match incoming.kind {
            DataKind::Text => Message::Text(Text::from_validated(data)),
            DataKind::Binary => Message::Binary(data),
        };
        self.incoming.finish();
        self.events.push_back(Event::Message(message));
        Ok(true)
    }

    /// A message of one frame, all of it in `buf`: unmasked, checked and queued with no
    /// assembly state. Nothing of its payload has been looked at yet (a frame whose payload
    /// arrived in pieces has a message open and goes the longer way).
    fn read_whole_message(
        &mut self,
        header: FrameHeader,
        len: usize,
        buf: &mut BytesMut,
    ) -> Result<bool, ProtocolError> {
        let mut payload = buf.split_to(len);
        if let Some(key) = header.mask {
            apply_mask(&mut payload, key, 0);
        }
        self.read = ReadState::Header;
        let data = payload.freeze();
        let message = if header.opcode == OpCode::Text {
            validate_utf8(&data).map_err(|_| ProtocolError::InvalidUtf8)?;
            Message::Text(Text::from_validated(data))
        } else {
            Message::Binary(data)
        };
        self.events.push_back(Event::Message(message));
        Ok(true)
    }

    /// A compressed message's frame, whole: inflated onto the message so far, and the
    /// message queued at its last frame. Out of line: it keeps the plain path small enough
    /// to be inlined where every frame goes through it.
    #[inline(never)]
    fn inflate_message_frame(
        &mut self,
        fin: bool,
        payload: &[u8],
        buf: &BytesMut,
    ) -> Result<bool, ProtocolError> {
        let limit = self.config.limits.max_message_size;
        let (Some(incoming), Some(Inflating { inflater, .. })) =
            (self.incoming.get_mut(), self.inflater.as_deref_mut())
        else {
            return Err(ProtocolError::ReservedBits(RSV1));
        };
        let start = incoming.inflated.len();
        inflater
            .decompress(payload, fin, &mut incoming.inflated, limit)
            .map_err(|e| inflate_error(e, limit))?;
        if let Some(utf8) = incoming.utf8.as_mut() {
            utf8.feed(&incoming.inflated[start..])
                .map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        if !fin {
            return Ok(true);
        }
        if let Some(utf8) = incoming.utf8.as_mut() {
            utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        let data = Bytes::from(std::mem::take(&mut incoming.inflated));
        let inflated = data.len();
        let message = match incoming.kind {
            DataKind::Text => Message::Text(Text::from_validated(data)),
            DataKind::Binary => Message::Binary(data),
        };
        self.incoming.finish();
        self.events.push_back(Event::Message(message));
        Ok(self.continue_after_inflating(inflated, buf))
    }

    /// After an event of `inflated` bytes: whether to decode on. Not once this call has
    /// inflated a message limit's worth with bytes still left; they wait for the next call
    /// (see [`has_backlog`](Self::has_backlog)).
    fn continue_after_inflating(&mut self, inflated: usize, buf: &BytesMut) -> bool {
        let limit = self.config.limits.max_message_size;
        let Some(state) = self.inflater.as_deref_mut() else {
            return true;
        };
        state.inflated = state.inflated.saturating_add(inflated);
        state.backlog = state.inflated >= limit && !buf.is_empty();
        !state.backlog
    }
}

/// The limits on a message of `frames` frames and `len` payload bytes so far; its size only
/// when `sized` (message mode, uncompressed).
fn check_message(
    limits: &Limits,
    frames: usize,
    len: u64,
    sized: bool,
) -> Result<(), ProtocolError> {
    if frames > limits.max_fragments {
        return Err(ProtocolError::TooManyFragments {
            limit: limits.max_fragments,
        });
    }
    if sized && len > limits.max_message_size as u64 {
        return Err(ProtocolError::MessageTooLarge {
            limit: limits.max_message_size,
        });
    }
    Ok(())
}

/// RSV1: permessage-deflate's "this message is compressed" bit.
const RSV1: u8 = 0b100;

fn inflate_error(error: DeflateError, limit: usize) -> ProtocolError {
    match error {
        DeflateError::TooLarge => ProtocolError::MessageTooLarge { limit },
        _ => ProtocolError::Extension("invalid compressed data"),
    }
}

/// The error's description, cut to fit a close frame.
fn error_reason(error: &ProtocolError) -> String {
    let mut reason = error.to_string();
    let mut cut = reason.len().min(MAX_REASON_BYTES);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    reason.truncate(cut);
    reason
}
