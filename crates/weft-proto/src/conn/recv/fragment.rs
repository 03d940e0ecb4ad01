//! Fragment mode (curl's frame API): each part of a data frame is handed on as it arrives,
//! with its place in the frame and in the message.

use bytes::{Bytes, BytesMut};

use super::{RSV1, ReadState, Receiver, Step, inflate_error};
use crate::error::ProtocolError;
use crate::frame::{FrameHeader, apply_mask};
use crate::message::{Event, Fragment};

impl Receiver {
    /// Fragment mode: hand on whatever part of the payload has arrived, with curl's metadata.
    // Out of line: fragment mode is the rarer one, and inlined its body made the message
    // path's code around it slower (measured: about 60 instructions per message).
    #[inline(never)]
    pub(super) fn read_fragment(
        &mut self,
        header: FrameHeader,
        done: u64,
        buf: &mut BytesMut,
    ) -> Result<Step, ProtocolError> {
        let Some(incoming) = self.incoming.get_mut() else {
            return Err(ProtocolError::UnexpectedContinuation);
        };
        let remaining = header.payload_len - done;
        let take = remaining.min(buf.len() as u64) as usize;
        if take == 0 && remaining > 0 {
            return Ok(Step::Stalled);
        }
        let mut data = buf.split_to(take);
        if let Some(key) = header.mask {
            apply_mask(&mut data, key, (done % 4) as usize);
        }
        let bytes_left = remaining - take as u64;
        let compressed = incoming.compressed;
        let data = if compressed {
            // Fragment mode hands on inflated bytes; offset and bytes_left still describe the
            // compressed frame on the wire. The message limit holds for what the whole
            // message inflates to, so whether it is refused does not depend on how TCP split
            // its frames into reads.
            let limit = self.config.limits.max_message_size;
            let state = self
                .inflater
                .as_deref_mut()
                .ok_or(ProtocolError::ReservedBits(RSV1))?;
            let room = limit.saturating_sub(incoming.inflated_len);
            let mut out = Vec::new();
            state
                .inflater
                .decompress(&data, header.fin && bytes_left == 0, &mut out, room)
                .map_err(|e| inflate_error(e, limit))?;
            incoming.inflated_len += out.len();
            // The inflated bytes are handed on in their own allocation, without a copy.
            Bytes::from(out)
        } else {
            data.freeze()
        };
        if let Some(utf8) = incoming.utf8.as_mut() {
            utf8.feed(&data).map_err(|_| ProtocolError::InvalidUtf8)?;
            if bytes_left == 0 && header.fin {
                utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
            }
        }
        let fragment = Fragment {
            kind: incoming.kind,
            data,
            offset: done,
            bytes_left,
            is_final_frame: header.fin,
            is_first_frame: incoming.frames == 1,
        };
        self.read = if bytes_left == 0 {
            if header.fin {
                self.incoming.finish();
            }
            ReadState::Header
        } else {
            ReadState::Payload {
                header,
                done: done + take as u64,
            }
        };
        if compressed {
            self.count_inflated(fragment.data.len(), buf);
        }
        Ok(Step::Event(Event::Fragment(fragment)))
    }
}
