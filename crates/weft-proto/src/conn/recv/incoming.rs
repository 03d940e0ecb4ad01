//! The state of a data message being received, kept out of line: a message of one frame
//! whose payload arrives in one read (most messages) never needs it, and every connection
//! would otherwise carry its 80 bytes among the fields each frame touches.

use bytes::BytesMut;

use crate::frame::OpCode;
use crate::message::DataKind;
use crate::utf8::Utf8Validator;

/// A data message being received.
#[derive(Debug)]
pub(super) struct Incoming {
    pub(super) kind: DataKind,
    /// The frames so far, in message mode. Empty until a second frame arrives, so a message of
    /// one frame is handed out straight from the read buffer without a copy.
    pub(super) assembled: BytesMut,
    /// Payload bytes so far, the current frame included.
    pub(super) len: u64,
    /// Frames so far, the current one included.
    pub(super) frames: usize,
    pub(super) utf8: Option<Utf8Validator>,
    /// Whether the message is compressed (RSV1 on its first frame, RFC 7692 §6).
    pub(super) compressed: bool,
    /// The inflated message so far, for a compressed message in message mode.
    pub(super) inflated: Vec<u8>,
    /// Bytes inflated so far, for a compressed message in fragment mode (which keeps none).
    pub(super) inflated_len: usize,
}

impl Incoming {
    /// Counts a frame of `payload_len` bytes into the message.
    pub(super) fn add_frame(&mut self, payload_len: u64) {
        self.frames += 1;
        self.len = self.len.saturating_add(payload_len);
    }

    /// The state of a message whose first frame has `opcode` (Text or Binary).
    fn first(opcode: OpCode, compressed: bool) -> Self {
        let kind = if opcode == OpCode::Text {
            DataKind::Text
        } else {
            DataKind::Binary
        };
        Incoming {
            kind,
            assembled: BytesMut::new(),
            len: 0,
            frames: 0,
            utf8: (kind == DataKind::Text).then(Utf8Validator::new),
            compressed,
            inflated: Vec::new(),
            inflated_len: 0,
        }
    }
}

/// The open message, if any. Its box is allocated by the first message that needs one and
/// reused by the next, so fragment mode and multi-frame messages allocate nothing per frame.
#[derive(Debug, Default)]
pub(super) struct OpenMessage {
    slot: Option<Box<Incoming>>,
    open: bool,
}

impl OpenMessage {
    /// Whether a message is open; no visit to the box.
    pub(super) fn is_open(&self) -> bool {
        self.open
    }

    pub(super) fn get(&self) -> Option<&Incoming> {
        self.slot.as_deref().filter(|_| self.open)
    }

    pub(super) fn get_mut(&mut self) -> Option<&mut Incoming> {
        self.slot.as_deref_mut().filter(|_| self.open)
    }

    /// The open message, or a new one started by a first frame with `opcode`.
    pub(super) fn get_or_start(&mut self, opcode: OpCode, compressed: bool) -> &mut Incoming {
        let starting = !self.open;
        self.open = true;
        match &mut self.slot {
            Some(incoming) => {
                if starting {
                    **incoming = Incoming::first(opcode, compressed);
                }
                incoming
            }
            slot @ None => slot.insert(Box::new(Incoming::first(opcode, compressed))),
        }
    }

    /// The message is complete; its box waits for the next, without its buffers: they may
    /// share the allocation of the message just handed out, which must not outlive it here.
    pub(super) fn finish(&mut self) {
        self.open = false;
        if let Some(incoming) = self.slot.as_deref_mut() {
            incoming.assembled = BytesMut::new();
            incoming.inflated = Vec::new();
        }
    }

    /// Reading has ended: nothing more will be assembled.
    pub(super) fn clear(&mut self) {
        *self = OpenMessage::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_message_is_not_open_and_its_box_is_reused() {
        let mut message = OpenMessage::default();
        assert!(message.get().is_none());
        message.get_or_start(OpCode::Text, false).frames = 3;
        assert!(message.is_open());
        let first = message.get().map(|m| m as *const Incoming);
        message.finish();
        assert!(!message.is_open());
        assert!(message.get().is_none());
        let second = message.get_or_start(OpCode::Binary, false);
        // A fresh state for the new message, in the same allocation.
        assert_eq!(second.frames, 0);
        assert_eq!(second.kind, DataKind::Binary);
        assert_eq!(Some(second as *const Incoming), first);
    }

    #[test]
    fn a_finished_message_keeps_no_buffer() {
        let mut message = OpenMessage::default();
        let incoming = message.get_or_start(OpCode::Binary, false);
        incoming.assembled.extend_from_slice(&[7; 4096]);
        let handed_out = incoming.assembled.split().freeze();
        message.finish();
        let kept = message.slot.as_deref().map(|m| m.assembled.capacity());
        assert_eq!(kept, Some(0));
        assert_eq!(handed_out.len(), 4096);
    }

    #[test]
    fn an_open_message_is_continued_not_restarted() {
        let mut message = OpenMessage::default();
        message.get_or_start(OpCode::Text, true).frames = 1;
        let again = message.get_or_start(OpCode::Binary, false);
        assert_eq!(
            (again.frames, again.kind, again.compressed),
            (1, DataKind::Text, true)
        );
    }
}
