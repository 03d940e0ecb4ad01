//! The shortcut for the common frame: a whole message in one frame, all of it read. Small
//! messages are most of the traffic, and the general path's states (a header decoded, then
//! accepted, then its payload stepped through) cost about a hundred instructions a message
//! more than this.

use bytes::BytesMut;

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
        if payload.len() < len || len >= self.whole_below || self.incoming.is_open() {
            return None;
        }
        let header = FrameHeader {
            fin: true,
            rsv: 0,
            opcode,
            mask,
            payload_len: len as u64,
        };
        Some(self.read_whole_message(header, header_len, len, buf))
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

    fn payload() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..1200),
            // Printable ASCII, so text frames are valid UTF-8 too.
            proptest::collection::vec(0x20u8..0x7F, 0..1200),
        ]
    }

    /// A frame's bytes: `first`, then the length in the minimal form (`form` 0), in 16 bits
    /// (1) or in 64 bits (2), the mask key if any, and the payload as it is.
    fn frame(first: u8, form: u8, key: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
        let mask_bit = if key.is_some() { 0x80 } else { 0 };
        let len = payload.len();
        let mut frame = vec![first];
        match form {
            0 if len <= 125 => frame.push(mask_bit | len as u8),
            0 | 1 => {
                frame.push(mask_bit | 126);
                frame.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                frame.push(mask_bit | 127);
                frame.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        if let Some(key) = key {
            frame.extend_from_slice(&key);
        }
        frame.extend_from_slice(payload);
        frame
    }

    proptest! {
        // Weighted towards the frames the shortcut takes, so most cases reach the comparison.
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// Wherever the shortcut decodes a frame, the general path decodes it the same way:
        /// the same event or the same error, the same bytes left, the same state after.
        #[test]
        fn the_shortcut_decodes_as_the_general_path(
            server: bool,
            first in prop_oneof![2 => Just(0x81u8), 2 => Just(0x82), 1 => any::<u8>()],
            form in prop_oneof![4 => Just(0u8), 4 => Just(1), 1 => Just(2)],
            // Masked as the role requires, mostly.
            masked_as_required in proptest::bool::weighted(0.9),
            key: [u8; 4],
            payload in payload(),
            // Frames cut short, or with a second byte of any value.
            cut in proptest::option::weighted(0.2, any::<proptest::sample::Index>()),
            second in proptest::option::weighted(0.1, any::<u8>()),
            max_frame in prop_oneof![0u64..1300, Just(u64::MAX)],
            max_message in prop_oneof![0usize..1300, Just(usize::MAX)],
            max_fragments in prop_oneof![1 => Just(0usize), 4 => 1usize..3],
            fragments in proptest::bool::weighted(0.1),
            before in prop_oneof![8 => Just(0u8), 1 => Just(1), 1 => Just(2)],
            // The start of whatever follows, which must stay in the buffer.
            tail in proptest::collection::vec(any::<u8>(), 0..9),
        ) {
            let role = if server { Role::Server } else { Role::Client };
            let config = config(max_frame, max_message, max_fragments, fragments);
            let mut shortcut = Receiver::new(role, config.clone());
            let mut general = Receiver::new(role, config);
            match before {
                // A message left open by a first frame (empty, not final), on both.
                1 => {
                    let opening: &[u8] =
                        if server { &[0x01, 0x80, 0, 0, 0, 0] } else { &[0x01, 0x00] };
                    let a = shortcut.decode_one(&mut BytesMut::from(opening));
                    let b = general.decode_one(&mut BytesMut::from(opening));
                    prop_assert_eq!(&a, &b);
                    // A first frame over the limits fails the connection: nothing to compare.
                    prop_assume!(a.is_ok());
                }
                // Reading has ended: nothing is decoded any more.
                2 => shortcut.handle_eof(),
                _ => {}
            }
            let key = (server == masked_as_required).then_some(key);
            let mut bytes = frame(first, form, key, &payload);
            if let Some(b) = second {
                bytes[1] = b;
            }
            if let Some(cut) = cut {
                bytes.truncate(cut.index(bytes.len() + 1));
            }
            bytes.extend_from_slice(&tail);
            let mut fast_buf = BytesMut::from(&bytes[..]);
            let mut general_buf = fast_buf.clone();
            let fast = shortcut.whole_message(&mut fast_buf);
            if before == 2 {
                prop_assert!(fast.is_none());
            }
            if let Some(fast) = fast {
                let slow = general.decode_one(&mut general_buf);
                prop_assert_eq!(fast.map(Some), slow);
                prop_assert_eq!(fast_buf, general_buf);
                prop_assert_eq!(shortcut.read, general.read);
                prop_assert_eq!(shortcut.incoming.is_open(), general.incoming.is_open());
            }
        }
    }

    /// The shortcut takes the frames it exists for: without this the property above would
    /// hold of a shortcut that never decodes anything.
    #[test]
    fn the_shortcut_takes_short_and_16_bit_frames_in_both_roles() {
        let masked_16 = [&[0x82, 0xFE, 0x01, 0x00, 1, 2, 3, 4][..], &[0u8; 256]].concat();
        let plain_16 = [&[0x81, 0x7E, 0x00, 0x80][..], &[b'a'; 128]].concat();
        let cases: [(Role, &[u8]); 4] = [
            (Role::Server, &[0x81, 0x82, 0, 0, 0, 0, b'h', b'i']),
            (Role::Client, &[0x82, 0x02, 7, 8]),
            (Role::Server, &masked_16),
            (Role::Client, &plain_16),
        ];
        for (role, frame) in cases {
            let mut rx = Receiver::new(role, Config::default());
            // The next frame's first byte follows; it stays for the next decode.
            let mut buf = BytesMut::from(frame);
            buf.extend_from_slice(&[0x89]);
            let decoded = rx.whole_message(&mut buf);
            assert!(
                matches!(decoded, Some(Ok(_))),
                "{role:?} {:x?}",
                &frame[..4]
            );
            assert_eq!(&buf[..], [0x89]);
        }
    }

    /// Whether the shortcut takes a final binary frame of `len` bytes (a client's, so
    /// unmasked) under `config`.
    fn takes(config: Config, len: u8) -> bool {
        let mut rx = Receiver::new(Role::Client, config);
        let mut buf = BytesMut::from(&[0x82, len][..]);
        buf.extend_from_slice(&vec![0; usize::from(len)]);
        rx.whole_message(&mut buf).is_some()
    }

    /// The size limits are inclusive: a frame of exactly the limit is within it (the
    /// property above would hold of a shortcut that also left those to the general path).
    #[test]
    fn the_shortcut_takes_frames_up_to_and_at_the_size_limits() {
        assert!(takes(config(5, 9, 1, false), 5));
        assert!(!takes(config(5, 9, 1, false), 6));
        assert!(takes(config(9, 5, 1, false), 5));
        assert!(!takes(config(9, 5, 1, false), 6));
        assert!(takes(config(0, 0, 1, false), 0));
        assert!(takes(config(u64::MAX, usize::MAX, 1, false), 125));
    }

    /// With no fragment allowed, or fragments handed out as they come, the general path
    /// decides, even for an empty frame.
    #[test]
    fn the_shortcut_leaves_every_frame_to_the_general_path_without_fragments_or_in_fragment_mode() {
        assert!(!takes(config(u64::MAX, usize::MAX, 0, false), 0));
        assert!(!takes(config(u64::MAX, usize::MAX, 1, true), 0));
    }
}
