//! Frames on the wire (RFC 6455 §5.2): the header codec, opcodes and masking.
//!
//! Decoding never copies a payload: [`FrameHeader::decode`] reads only the header, and the
//! payload stays in the caller's buffer.

mod encoded;
mod header;
mod mask;
mod opcode;

pub use encoded::EncodedFrame;
pub use header::{FrameHeader, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
pub use mask::{apply_mask, extend_masked, new_mask_key};
pub use opcode::OpCode;
