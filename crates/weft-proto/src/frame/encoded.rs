//! A frame encoded once and sent on many connections (a server's broadcast).

use bytes::{Bytes, BytesMut};

use super::{FrameHeader, OpCode};
use crate::message::Message;

/// A whole, unmasked data or control frame, encoded once. Servers send unmasked frames, so the
/// same bytes serve every connection: a broadcast costs one encoding, not one per peer.
///
/// ```
/// use weft_proto::frame::EncodedFrame;
/// use weft_proto::Message;
/// let frame = EncodedFrame::server(&Message::text("hi"));
/// assert_eq!(frame.len(), 4);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedFrame {
    pub(crate) header: Bytes,
    pub(crate) payload: Bytes,
}

impl EncodedFrame {
    /// Encodes `message` as a server sends it: one final, unmasked frame. The payload is
    /// shared, not copied. A PING or PONG payload longer than 125 bytes is cut to 125.
    pub fn server(message: &Message) -> EncodedFrame {
        let (opcode, mut payload) = match message {
            Message::Text(t) => (OpCode::Text, t.as_bytes().clone()),
            Message::Binary(b) => (OpCode::Binary, b.clone()),
            Message::Ping(p) => (OpCode::Ping, p.clone()),
            Message::Pong(p) => (OpCode::Pong, p.clone()),
        };
        if opcode.is_control() {
            payload.truncate(super::MAX_CONTROL_PAYLOAD);
        }
        let header = FrameHeader {
            fin: true,
            rsv: 0,
            opcode,
            mask: None,
            payload_len: payload.len() as u64,
        };
        let mut buf = BytesMut::with_capacity(header.encoded_len());
        header.encode(&mut buf);
        EncodedFrame {
            header: buf.freeze(),
            payload,
        }
    }

    /// Bytes on the wire.
    pub fn len(&self) -> usize {
        self.header.len() + self.payload.len()
    }

    /// Whether the frame has no bytes (never: a header is at least two).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Whether this is a data frame (not a PING or PONG).
    pub(crate) fn is_data(&self) -> bool {
        self.header.first().is_some_and(|b0| b0 & 0x08 == 0)
    }
}
