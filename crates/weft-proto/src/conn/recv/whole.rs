//! The shortcut for the common frame: a whole message in one frame, all of it read. Small
//! messages are most of the traffic, and the general path's states (a header decoded, then
//! accepted, then its payload stepped through) cost about a hundred instructions a message
//! more than this.

use bytes::{Buf, BytesMut};

use super::{ReadState, Receiver};
use crate::error::ProtocolError;
use crate::frame::{FrameHeader, OpCode};
use crate::message::Event;
use crate::role::Role;

impl Receiver {
    /// Decodes one final text or binary frame with a 7- or 16-bit length, masked as the
    /// role requires, within the limits, all of it in `buf`, with no message open. `None`
    /// when `buf` does not start with one: the general path then decodes it, and reports
    /// whatever is wrong with it.
    // Always inlined: both decoding loops call it for every frame, and as a call it costs a
    // tenth of what it saves.
    #[inline(always)]
    pub(super) fn whole_message(
        &mut self,
        buf: &mut BytesMut,
    ) -> Option<Result<Event, ProtocolError>> {
        // Between frames: otherwise `buf` starts inside a payload.
        if self.read != ReadState::Header {
            return None;
        }
        let [b0, b1, ref rest @ ..] = buf[..] else {
            return None;
        };
        let opcode = match b0 {
            0x81 => OpCode::Text,
            0x82 => OpCode::Binary,
            // Not final, an RSV bit, or another opcode.
            _ => return None,
        };
        let (len, rest) = match (b1 & 0x7F, rest) {
            (126, [a, b, rest @ ..]) => (usize::from(u16::from_be_bytes([*a, *b])), rest),
            (126 | 127, _) => return None,
            (short, rest) => (usize::from(short), rest),
        };
        // A server's peer masks every frame, a client's none (§5.1).
        let (mask, payload) = match (self.role, b1 & 0x80 != 0, rest) {
            (Role::Server, true, [a, b, c, d, payload @ ..]) => (Some([*a, *b, *c, *d]), payload),
            (Role::Client, false, payload) => (None, payload),
            _ => return None,
        };
        let header_len = buf.len() - payload.len();
        let limits = &self.config.limits;
        if payload.len() < len
            || len as u64 > limits.max_frame_size
            || len > limits.max_message_size
            || limits.max_fragments == 0
            || self.incoming.is_open()
            || self.config.is_fragment_mode()
        {
            return None;
        }
        buf.advance(header_len);
        let header = FrameHeader {
            fin: true,
            rsv: 0,
            opcode,
            mask,
            payload_len: len as u64,
        };
        Some(self.read_whole_message(header, len, buf))
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use proptest::prelude::*;

    use super::super::Receiver;
    use crate::config::Config;
    use crate::role::Role;

    fn config(max_frame: u64, max_message: usize, max_fragments: usize, fragments: bool) -> Config {
        Config::default()
            .max_frame_size(max_frame)
            .max_message_size(max_message)
            .max_fragments(max_fragments)
            .fragment_mode(fragments)
    }

    fn bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..400),
            // Printable ASCII, so text frames are valid UTF-8 too.
            proptest::collection::vec(0x20u8..0x7F, 0..400),
        ]
    }

    proptest! {
        /// Wherever the shortcut decodes a frame, the general path decodes it the same way:
        /// the same event or the same error, and the same bytes left.
        #[test]
        fn the_shortcut_decodes_as_the_general_path(
            server: bool,
            b0 in prop_oneof![Just(0x81u8), Just(0x82), any::<u8>()],
            b1 in prop_oneof![0u8..=126, 0x80u8..=0xFE, any::<u8>()],
            rest in bytes(),
            max_frame in prop_oneof![0u64..300, Just(u64::MAX)],
            max_message in prop_oneof![0usize..300, Just(usize::MAX)],
            max_fragments in 0usize..3,
            fragments: bool,
            open_first: bool,
        ) {
            let role = if server { Role::Server } else { Role::Client };
            let config = config(max_frame, max_message, max_fragments, fragments);
            let mut shortcut = Receiver::new(role, config.clone());
            let mut general = Receiver::new(role, config);
            // A message left open by a first frame (empty, not final), on both.
            if open_first {
                let first: &[u8] = if server { &[0x01, 0x80, 0, 0, 0, 0] } else { &[0x01, 0x00] };
                let a = shortcut.decode_one(&mut BytesMut::from(first));
                let b = general.decode_one(&mut BytesMut::from(first));
                prop_assert_eq!(&a, &b);
                // A first frame over the limits fails the connection: nothing more to compare.
                prop_assume!(a.is_ok());
            }
            let mut frame = vec![b0, b1];
            frame.extend_from_slice(&rest);
            let mut fast_buf = BytesMut::from(&frame[..]);
            let mut general_buf = fast_buf.clone();
            if let Some(fast) = shortcut.whole_message(&mut fast_buf) {
                let slow = general.decode_one(&mut general_buf);
                prop_assert_eq!(fast.map(Some), slow);
                prop_assert_eq!(fast_buf, general_buf);
            }
        }
    }

    /// The shortcut takes the frames it exists for: without this the property above would
    /// hold of a shortcut that never decodes anything.
    #[test]
    fn the_shortcut_takes_short_and_16_bit_frames_in_both_roles() {
        let masked_16 = [&[0x82, 0xFE, 0x01, 0x00, 1, 2, 3, 4][..], &[0u8; 256]].concat();
        let cases: [(Role, &[u8]); 3] = [
            (Role::Server, &[0x81, 0x82, 0, 0, 0, 0, b'h', b'i']),
            (Role::Client, &[0x82, 0x02, 7, 8]),
            (Role::Server, &masked_16),
        ];
        for (role, frame) in cases {
            let mut rx = Receiver::new(role, Config::default());
            let mut buf = BytesMut::from(frame);
            let decoded = rx.whole_message(&mut buf);
            assert!(
                matches!(decoded, Some(Ok(_))),
                "{role:?} {:x?}",
                &frame[..4]
            );
            assert!(buf.is_empty());
        }
    }
}
