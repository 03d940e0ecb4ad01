//! The frame header codec (RFC 6455 §5.2).

use bytes::BufMut;

use super::OpCode;
use crate::error::ProtocolError;

/// The longest header: 2 bytes, an 8-byte length and a 4-byte mask key.
pub const MAX_HEADER_LEN: usize = 14;

/// The most payload a control frame (close, ping, pong) may carry (§5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// A decoded frame header. The payload follows it on the wire and is not part of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Whether this is the final frame of its message.
    pub fin: bool,
    /// The three RSV bits, in the low bits (RSV1 = 0b100).
    pub rsv: u8,
    /// What the frame carries.
    pub opcode: OpCode,
    /// The masking key, present on every frame a client sends.
    pub mask: Option<[u8; 4]>,
    /// The payload length in bytes, at most 2^63-1.
    pub payload_len: u64,
}

impl FrameHeader {
    /// Decodes a header from the start of `buf`, returning it and the number of bytes it took,
    /// or `Ok(None)` if `buf` does not hold a whole header yet.
    ///
    /// Checks the rules that need no connection state: reserved opcodes, the most significant
    /// bit of a 64-bit length, and that a control frame is final and at most 125 bytes (§5.5).
    /// RSV bits and masking depend on the connection and are checked there.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::ReservedOpCode`], [`ProtocolError::InvalidLength`],
    /// [`ProtocolError::FragmentedControlFrame`], [`ProtocolError::ControlFrameTooLong`].
    ///
    /// ```
    /// use weft_proto::frame::{FrameHeader, OpCode};
    /// let (header, len) = FrameHeader::decode(&[0x81, 0x05, b'H'])?.expect("complete header");
    /// assert_eq!((header.opcode, header.payload_len, len), (OpCode::Text, 5, 2));
    /// assert_eq!(FrameHeader::decode(&[0x81])?, None);
    /// # Ok::<(), weft_proto::ProtocolError>(())
    /// ```
    pub fn decode(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
        let [b0, b1, rest @ ..] = buf else {
            return Ok(None);
        };
        let fin = b0 & 0x80 != 0;
        let rsv = (b0 >> 4) & 0x7;
        let opcode = OpCode::from_u8(b0 & 0x0F)?;
        let masked = b1 & 0x80 != 0;
        let (payload_len, len_bytes) = match b1 & 0x7F {
            126 => match rest {
                [a, b, ..] => (u64::from(u16::from_be_bytes([*a, *b])), 2),
                _ => return Ok(None),
            },
            127 => match rest.first_chunk::<8>() {
                Some(bytes) => {
                    let len = u64::from_be_bytes(*bytes);
                    if len >> 63 != 0 {
                        return Err(ProtocolError::InvalidLength);
                    }
                    (len, 8)
                }
                None => return Ok(None),
            },
            short => (u64::from(short), 0),
        };
        if opcode.is_control() {
            if !fin {
                return Err(ProtocolError::FragmentedControlFrame);
            }
            if payload_len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(ProtocolError::ControlFrameTooLong(payload_len));
            }
        }
        let mut header_len = 2 + len_bytes;
        let mask = if masked {
            let Some(key) = rest[len_bytes..].first_chunk::<4>() else {
                return Ok(None);
            };
            header_len += 4;
            Some(*key)
        } else {
            None
        };
        let header = FrameHeader {
            fin,
            rsv,
            opcode,
            mask,
            payload_len,
        };
        Ok(Some((header, header_len)))
    }

    /// The number of bytes [`encode`](Self::encode) writes: the minimal length form.
    pub fn encoded_len(&self) -> usize {
        let len_bytes = match self.payload_len {
            0..=125 => 0,
            126..=0xFFFF => 2,
            _ => 8,
        };
        2 + len_bytes + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Writes the header with the minimal length form (§5.2: "the minimal number of bytes MUST
    /// be used to encode the length").
    pub fn encode(&self, dst: &mut impl BufMut) {
        let mut bytes = [0; MAX_HEADER_LEN];
        let n = self.encode_into(&mut bytes);
        dst.put_slice(&bytes[..n]);
    }

    /// [`encode`](Self::encode) into a fixed array, returning how many bytes it used: one
    /// append of the whole header instead of a capacity check per byte.
    ///
    /// ```
    /// use weft_proto::frame::{FrameHeader, OpCode, MAX_HEADER_LEN};
    /// let header = FrameHeader { fin: true, rsv: 0, opcode: OpCode::Text, mask: None, payload_len: 5 };
    /// let mut bytes = [0; MAX_HEADER_LEN];
    /// let n = header.encode_into(&mut bytes);
    /// assert_eq!(&bytes[..n], &[0x81, 0x05]);
    /// ```
    pub fn encode_into(&self, dst: &mut [u8; MAX_HEADER_LEN]) -> usize {
        dst[0] = (u8::from(self.fin) << 7) | ((self.rsv & 0x7) << 4) | self.opcode.as_u8();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let mut n = match self.payload_len {
            len @ 0..=125 => {
                dst[1] = mask_bit | len as u8;
                2
            }
            len @ 126..=0xFFFF => {
                dst[1] = mask_bit | 126;
                dst[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                4
            }
            len => {
                dst[1] = mask_bit | 127;
                dst[2..10].copy_from_slice(&len.to_be_bytes());
                10
            }
        };
        if let Some(key) = self.mask {
            dst[n..n + 4].copy_from_slice(&key);
            n += 4;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(opcode: OpCode, payload_len: u64, mask: Option<[u8; 4]>) -> FrameHeader {
        FrameHeader {
            fin: true,
            rsv: 0,
            opcode,
            mask,
            payload_len,
        }
    }

    fn round_trip(h: FrameHeader) -> (FrameHeader, usize, Vec<u8>) {
        let mut buf = Vec::new();
        h.encode(&mut buf);
        let (decoded, len) = FrameHeader::decode(&buf)
            .expect("valid header")
            .expect("complete header");
        (decoded, len, buf)
    }

    #[test]
    fn lengths_use_7_16_and_64_bit_forms_minimally() {
        for (len, expected_header) in [
            (0u64, 2usize),
            (125, 2),
            (126, 4),
            (0xFFFF, 4),
            (0x1_0000, 10),
            ((1 << 63) - 1, 10),
        ] {
            let h = header(OpCode::Binary, len, None);
            let (decoded, used, bytes) = round_trip(h);
            assert_eq!(decoded, h);
            assert_eq!(used, expected_header, "len {len}");
            assert_eq!(bytes.len(), h.encoded_len());
        }
    }

    #[test]
    fn mask_key_follows_the_length() {
        let h = header(OpCode::Text, 300, Some([9, 8, 7, 6]));
        let (decoded, used, bytes) = round_trip(h);
        assert_eq!(decoded.mask, Some([9, 8, 7, 6]));
        assert_eq!(used, 8);
        assert_eq!(&bytes[4..], &[9, 8, 7, 6]);
    }

    #[test]
    fn incomplete_header_needs_more_bytes_at_every_cut() {
        let mut buf = Vec::new();
        header(OpCode::Binary, 70_000, Some([1, 2, 3, 4])).encode(&mut buf);
        for cut in 0..buf.len() {
            assert_eq!(FrameHeader::decode(&buf[..cut]), Ok(None), "cut {cut}");
        }
    }

    #[test]
    fn length_with_top_bit_set_is_a_protocol_error() {
        let mut buf = vec![0x82, 127];
        buf.extend_from_slice(&(1u64 << 63).to_be_bytes());
        assert_eq!(FrameHeader::decode(&buf), Err(ProtocolError::InvalidLength));
    }

    #[test]
    fn control_frame_over_125_bytes_is_a_protocol_error() {
        assert_eq!(
            FrameHeader::decode(&[0x89, 126, 0, 126]),
            Err(ProtocolError::ControlFrameTooLong(126))
        );
    }

    #[test]
    fn control_frame_without_fin_is_a_protocol_error() {
        assert_eq!(
            FrameHeader::decode(&[0x09, 0]),
            Err(ProtocolError::FragmentedControlFrame)
        );
    }

    #[test]
    fn rsv_bits_are_reported_not_judged() {
        let (h, _) = FrameHeader::decode(&[0xC1, 0])
            .expect("valid")
            .expect("complete");
        assert_eq!(h.rsv, 0b100);
    }
}
