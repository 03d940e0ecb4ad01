//! The read path: frame headers checked against the connection's state, payloads unmasked in
//! place, messages assembled or streamed as fragments. It never writes; replies are queued.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

mod fragment;
mod incoming;
mod message;
mod whole;

use incoming::OpenMessage;

use super::Reply;
use super::events::EventQueue;
use crate::close::{CloseCode, CloseFrame, MAX_REASON_BYTES};
use crate::config::{Config, Limits};
use crate::error::ProtocolError;
use crate::extensions::deflate::{DeflateError, Inflater};
use crate::frame::{FrameHeader, OpCode, apply_mask};
use crate::message::{Event, Message};
use crate::role::Role;

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
    /// Payloads shorter than this may take the whole-message shortcut: within both size
    /// limits, and 0 (never) in fragment mode or when no fragment is allowed. The limits as
    /// one comparison, since the configuration never changes.
    whole_below: usize,
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
/// `handle_data` (or `poll_event_from`) has inflated (only compressed messages can make a
/// read grow a thousandfold, so the count lives here, off the path of connections without
/// deflate).
#[derive(Debug)]
struct Inflating {
    inflater: Inflater,
    /// Bytes inflated by this call of `handle_data` or `poll_event_from`.
    inflated: usize,
    /// Whether this call stopped with whole frames left in the buffer (see
    /// [`Receiver::has_backlog`]).
    backlog: bool,
}

impl Receiver {
    pub(super) fn new(role: Role, config: Config) -> Self {
        let limits = &config.limits;
        let whole_below = if config.is_fragment_mode() || limits.max_fragments == 0 {
            0
        } else {
            usize::try_from(limits.max_frame_size)
                .unwrap_or(usize::MAX)
                .min(limits.max_message_size)
                .saturating_add(1)
        };
        Receiver {
            role,
            config,
            whole_below,
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

    /// The next event: one already queued, or else the next one decoded from `buf`, which
    /// is decoded no further than the frame that made it. [`handle_data`](Self::handle_data)
    /// and [`poll_event`](Self::poll_event) in one call, for a runtime that reads more only
    /// when this finds nothing (`Ok(None)`): a message goes from the read buffer to the
    /// application without passing through the queue, and a read of many frames is decoded
    /// as the application takes them, not all at once.
    ///
    /// Bytes it cannot use yet stay in `buf`, as with `handle_data`; after an error, as
    /// there, the connection has failed and later input is ignored. Replies are owed as
    /// frames are decoded, so a PING behind messages not yet taken is answered once the
    /// application reaches it: a reader whose writer runs on its own, and should answer
    /// PINGs while the application works through a backlog, decodes with `handle_data`. An
    /// example is on [`Connection::poll_event_from`](super::Connection::poll_event_from).
    ///
    /// # Errors
    ///
    /// As for [`handle_data`](Self::handle_data).
    pub fn poll_event_from(&mut self, buf: &mut BytesMut) -> Result<Option<Event>, ProtocolError> {
        if let Some(event) = self.events.pop_front() {
            self.caught_up = false;
            return Ok(Some(event));
        }
        // No state makes an event out of no bytes (a frame's payload is taken with its
        // header), and asking with nothing new is most of the asking.
        if self.has_nothing_in(buf) {
            return Ok(None);
        }
        self.start_decoding();
        if self.config.is_raw_mode() {
            let event = take_raw(buf);
            self.caught_up = event.is_none();
            return Ok(event);
        }
        let decoded = match self.whole_message(buf) {
            Some(decoded) => decoded.map(Some),
            None => self.decode_one(buf),
        };
        match decoded {
            Ok(event) => {
                self.caught_up = event.is_none();
                Ok(event)
            }
            Err(e) => {
                self.caught_up = true;
                Err(self.fail(e))
            }
        }
    }

    /// Whether [`poll_event_from`](Self::poll_event_from) would find nothing: no event queued
    /// and no byte to decode. Asking counts as asking (see `poll_reply`).
    #[inline]
    pub(super) fn has_nothing_in(&mut self, buf: &BytesMut) -> bool {
        let nothing = buf.is_empty() && self.events.is_empty();
        if nothing {
            self.caught_up = true;
        }
        nothing
    }

    /// A new call's count of inflated bytes starts at zero.
    #[inline]
    fn start_decoding(&mut self) {
        if let Some(state) = self.inflater.as_deref_mut() {
            state.inflated = 0;
            state.backlog = false;
        }
    }

    /// The next reply the sending half owes: hand it to
    /// [`Sender::handle_reply`](super::Sender::handle_reply).
    ///
    /// A PONG or the close echo is ready as soon as its frame is decoded: with `handle_data`
    /// at once, so a PING is answered even while the application is busy with what arrived
    /// before it; with `poll_event_from` when the application reaches it. A failure's close
    /// frame waits until the application has caught up (it asked for an event and found
    /// none), so a message that arrived before a protocol error is answered before the close
    /// (Autobahn's strict behaviour, 3.2 and kin). Ask for replies after each
    /// [`poll_event`](Self::poll_event) and pass them on behind whatever the application
    /// sent meanwhile.
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
    /// and any replies for [`poll_reply`](Self::poll_reply).
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
        self.start_decoding();
        if self.config.is_raw_mode() {
            if let Some(raw) = take_raw(buf) {
                self.events.push_back(raw);
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

    /// Decodes every event `buf` holds into the queue (up to a backlog of inflated data).
    fn read_frames(&mut self, buf: &mut BytesMut) -> Result<(), ProtocolError> {
        loop {
            let step = match self.whole_message(buf) {
                Some(decoded) => Step::Event(decoded?),
                None => self.step(buf)?,
            };
            match step {
                Step::Stalled => return Ok(()),
                Step::Progress => {}
                Step::Event(event) => {
                    self.events.push_back(event);
                    if self.has_backlog() {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Decodes up to the next event, and no further.
    #[inline]
    fn decode_one(&mut self, buf: &mut BytesMut) -> Result<Option<Event>, ProtocolError> {
        loop {
            match self.step(buf)? {
                Step::Stalled => return Ok(None),
                Step::Progress => {}
                Step::Event(event) => return Ok(Some(event)),
            }
        }
    }

    /// One step of decoding: a frame header, or (part of) a payload.
    #[inline]
    fn step(&mut self, buf: &mut BytesMut) -> Result<Step, ProtocolError> {
        let (header, done) = match self.read {
            ReadState::Done => {
                buf.clear();
                return Ok(Step::Stalled);
            }
            // Most reads end exactly at a frame's end: no header to look at.
            ReadState::Header if buf.is_empty() => return Ok(Step::Stalled),
            ReadState::Header => match FrameHeader::decode(buf)? {
                Some((header, header_len)) => {
                    self.accept_header(&header)?;
                    buf.advance(header_len);
                    // The payload's step follows at once, with the header at hand; the state
                    // holds it in case the payload has not arrived yet.
                    self.read = ReadState::Payload { header, done: 0 };
                    (header, 0)
                }
                None => return Ok(Step::Stalled),
            },
            ReadState::Payload { header, done } => (header, done),
        };
        if header.opcode.is_control() {
            self.read_control(header, buf)
        } else if self.config.is_fragment_mode() {
            self.read_fragment(header, done, buf)
        } else {
            self.read_message_frame(header, done, buf)
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
    ) -> Result<Step, ProtocolError> {
        // A control payload is at most 125 bytes (checked at decode), so wait for all of it.
        let len = header.payload_len as usize;
        if buf.len() < len {
            return Ok(Step::Stalled);
        }
        let mut payload = buf.split_to(len);
        if let Some(key) = header.mask {
            apply_mask(&mut payload, key, 0);
        }
        let payload = payload.freeze();
        self.read = ReadState::Header;
        let event = match header.opcode {
            OpCode::Ping => {
                if self.config.is_auto_pong() {
                    self.replies.push_back(Reply::Pong(payload.clone()));
                }
                Event::Message(Message::Ping(payload))
            }
            OpCode::Pong => Event::Message(Message::Pong(payload)),
            _ => self.read_close(&payload)?,
        };
        Ok(Step::Event(event))
    }

    /// The peer's close frame (§5.5.1): reported, passed to the sender (to echo it or to
    /// complete the handshake), and the end of reading.
    fn read_close(&mut self, payload: &Bytes) -> Result<Event, ProtocolError> {
        let frame = CloseFrame::parse(payload)?;
        self.read = ReadState::Done;
        self.incoming.clear();
        self.peer_closed = true;
        self.replies.push_back(Reply::Close(frame.clone()));
        Ok(Event::Close(frame))
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

/// What one step of decoding came to.
pub(super) enum Step {
    /// Nothing more until more bytes arrive.
    Stalled,
    /// A header, or a frame that completes no event: decode on.
    Progress,
    Event(Event),
}

/// Raw mode: whatever arrived, untouched.
fn take_raw(buf: &mut BytesMut) -> Option<Event> {
    (!buf.is_empty()).then(|| Event::Raw(buf.split().freeze()))
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
