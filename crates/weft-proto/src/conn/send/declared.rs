//! One frame sent in parts, its length declared up front (curl's `CURLWS_OFFSET`).

use bytes::Bytes;

use super::{SendState, Sender, State};
use crate::error::UsageError;
use crate::frame::{FrameHeader, new_mask_key};
use crate::message::DataKind;

impl Sender {
    /// Starts a frame of `payload_len` bytes whose payload follows in parts through
    /// [`send_frame_data`](Self::send_frame_data) (curl's `CURLWS_OFFSET`): a frame of any
    /// size streams out without being held in memory. Frame sequencing is as for
    /// [`send_frame`](Self::send_frame).
    ///
    /// # Errors
    ///
    /// As for [`send_frame`](Self::send_frame).
    pub fn start_frame(
        &mut self,
        kind: DataKind,
        payload_len: u64,
        is_final: bool,
    ) -> Result<(), UsageError> {
        self.check_can_send()?;
        let (opcode, kind) = self.next_data_opcode(kind)?;
        if let SendState::Message {
            compressed: true, ..
        } = self.send
        {
            // A compressed message's frames must all be compressed, and a declared length
            // cannot be known before compressing.
            return Err(UsageError::WrongMode);
        }
        let mask = self.role.masks_outgoing().then(new_mask_key);
        let header = FrameHeader {
            fin: is_final,
            rsv: 0,
            opcode,
            mask,
            payload_len,
        };
        self.out.push_header(&header);
        self.send = SendState::Frame {
            remaining: payload_len,
            mask,
            offset: 0,
            fin: is_final,
            kind,
        };
        self.finish_declared_frame_if_done();
        Ok(())
    }

    /// Sends the next part of the frame opened by [`start_frame`](Self::start_frame).
    ///
    /// # Errors
    ///
    /// [`UsageError::FrameOverrun`] if `data` goes past the declared length (nothing is sent),
    /// [`UsageError::NoMessageInProgress`] if no frame is open.
    pub fn send_frame_data(&mut self, data: Bytes) -> Result<(), UsageError> {
        let SendState::Frame {
            remaining,
            mask,
            offset,
            fin,
            kind,
        } = self.send
        else {
            return Err(UsageError::NoMessageInProgress);
        };
        if self.state() == State::Closed {
            return Err(UsageError::Closed);
        }
        let len = data.len() as u64;
        if len > remaining {
            return Err(UsageError::FrameOverrun(len - remaining));
        }
        self.queue_payload(data, mask, offset);
        self.send = SendState::Frame {
            remaining: remaining - len,
            mask,
            offset: offset + len,
            fin,
            kind,
        };
        self.finish_declared_frame_if_done();
        Ok(())
    }

    /// After the last byte of a declared frame: move on, and send the replies it held up.
    pub(super) fn finish_declared_frame_if_done(&mut self) {
        if let SendState::Frame {
            remaining: 0,
            fin,
            kind,
            ..
        } = self.send
        {
            self.send = if fin {
                SendState::Idle
            } else {
                SendState::Message {
                    kind,
                    compressed: false,
                }
            };
            self.release_pongs(0);
            if let Some(frame) = self.deferred_close.take() {
                self.queue_close(&frame);
            }
        }
    }
}
