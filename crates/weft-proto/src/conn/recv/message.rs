//! Message mode: payloads unmasked and checked as they arrive, frames assembled into messages,
//! compressed messages inflated.

use bytes::{Buf, Bytes, BytesMut};

use super::{Inflating, RSV1, ReadState, Receiver, Step, inflate_error};
use crate::copy;
use crate::error::ProtocolError;
use crate::frame::{FrameHeader, OpCode, apply_mask};
use crate::message::{DataKind, Event, Message, Text};
use crate::utf8::validate as validate_utf8;

/// Adds a frame's payload to the message assembled so far. Where fragments and the read
/// buffer keep in step (fragments of a multiple of 4 KiB, or a read buffer that starts over
/// at its front), each copy meets the same placement as the last: a long copy must not meet
/// `memcpy`'s slow case there (see [`crate::copy`]).
fn append_fragment(assembled: &mut BytesMut, payload: &[u8]) {
    assembled.reserve(payload.len());
    copy::append(assembled, payload);
}

impl Receiver {
    /// Message mode: unmask and validate payload bytes as they arrive, so invalid text fails at
    /// the first bad byte; hand the frame on once all of it is in the buffer.
    pub(super) fn read_message_frame(
        &mut self,
        header: FrameHeader,
        done: u64,
        buf: &mut BytesMut,
    ) -> Result<Step, ProtocolError> {
        // Fits: the message limit (a usize) bounds the frame in message mode.
        let len = usize::try_from(header.payload_len).map_err(|_| ProtocolError::InvalidLength)?;
        // No message open: `accept_header` found this frame to be a whole message.
        if !self.incoming.is_open() && buf.len() >= len {
            return self
                .read_whole_message(header, 0, len, buf)
                .map(Step::Event);
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
            return Ok(Step::Stalled);
        }
        let payload = buf.split_to(len);
        self.read = ReadState::Header;
        if incoming.compressed {
            return self.inflate_message_frame(header.fin, &payload, buf);
        }
        if !header.fin {
            append_fragment(&mut incoming.assembled, &payload);
            return Ok(Step::Progress);
        }
        if let Some(utf8) = incoming.utf8.as_mut() {
            utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        let data = if incoming.assembled.is_empty() {
            payload.freeze()
        } else {
            append_fragment(&mut incoming.assembled, &payload);
            incoming.assembled.split().freeze()
        };
        let message = match incoming.kind {
            DataKind::Text => Message::Text(Text::from_validated(data)),
            DataKind::Binary => Message::Binary(data),
        };
        self.incoming.finish();
        Ok(Step::Event(Event::Message(message)))
    }

    /// A message of one frame, all of it in `buf`: unmasked, checked and queued with no
    /// assembly state. Nothing of its payload has been looked at yet (a frame whose payload
    /// arrived in pieces has a message open and goes the longer way). `buf` starts with
    /// `header_len` bytes of the frame's header when the caller has not consumed them.
    pub(super) fn read_whole_message(
        &mut self,
        header: FrameHeader,
        header_len: usize,
        len: usize,
        buf: &mut BytesMut,
    ) -> Result<Event, ProtocolError> {
        // Header and payload leave the buffer in one split, and the header is dropped from
        // the shared bytes: moving a shared pointer, where dropping it from the buffer
        // first costs a second adjustment of the buffer's own bookkeeping.
        let mut frame = buf.split_to(header_len + len);
        if let Some(key) = header.mask {
            apply_mask(&mut frame[header_len..], key, 0);
        }
        self.read = ReadState::Header;
        let mut data = frame.freeze();
        data.advance(header_len);
        let message = if header.opcode == OpCode::Text {
            validate_utf8(&data).map_err(|_| ProtocolError::InvalidUtf8)?;
            Message::Text(Text::from_validated(data))
        } else {
            Message::Binary(data)
        };
        Ok(Event::Message(message))
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
    ) -> Result<Step, ProtocolError> {
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
            return Ok(Step::Progress);
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
        self.count_inflated(inflated, buf);
        Ok(Step::Event(Event::Message(message)))
    }

    /// After an event of `inflated` bytes: once this call has inflated a message limit's
    /// worth with bytes still left, they wait for the next call (see
    /// [`has_backlog`](Self::has_backlog)).
    pub(super) fn count_inflated(&mut self, inflated: usize, buf: &BytesMut) {
        let limit = self.config.limits.max_message_size;
        if let Some(state) = self.inflater.as_deref_mut() {
            state.inflated = state.inflated.saturating_add(inflated);
            state.backlog = state.inflated >= limit && !buf.is_empty();
        }
    }
}
