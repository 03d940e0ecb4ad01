//! Close codes and the close frame payload (RFC 6455 §5.5.1, §7.4).

use bytes::{BufMut, Bytes, BytesMut};

pub use crate::close_code::CloseCode;
use crate::error::{ProtocolError, UsageError};
use crate::utf8;

/// The most bytes a close reason may take: a control frame carries at most 125 bytes, two of
/// which are the code (§5.5).
pub const MAX_REASON_BYTES: usize = 123;

/// What a close frame said, or what ended the connection.
///
/// A close frame with no payload is reported with [`CloseCode::NO_STATUS`] (1005), and a
/// connection that ended without one with [`CloseCode::ABNORMAL`] (1006), as browsers do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code.
    pub code: CloseCode,
    /// The reason, valid UTF-8 of at most [`MAX_REASON_BYTES`] bytes.
    pub reason: String,
}

impl CloseFrame {
    /// A close frame with `code` and `reason`.
    ///
    /// # Errors
    ///
    /// [`UsageError::InvalidCloseCode`] if `code` may not be sent, and
    /// [`UsageError::CloseReasonTooLong`] if `reason` is longer than [`MAX_REASON_BYTES`].
    pub fn new(code: CloseCode, reason: &str) -> Result<Self, UsageError> {
        if !code.is_sendable() {
            return Err(UsageError::InvalidCloseCode(code.as_u16()));
        }
        if reason.len() > MAX_REASON_BYTES {
            return Err(UsageError::CloseReasonTooLong(reason.len()));
        }
        Ok(CloseFrame {
            code,
            reason: reason.to_owned(),
        })
    }

    /// Parses a received close frame payload (§5.5.1).
    ///
    /// # Errors
    ///
    /// [`ProtocolError::InvalidClosePayload`] for a 1-byte payload,
    /// [`ProtocolError::InvalidCloseCode`] for a code that may not be sent, and
    /// [`ProtocolError::InvalidUtf8`] for a reason that is not UTF-8.
    pub fn parse(payload: &[u8]) -> Result<Self, ProtocolError> {
        match payload {
            [] => Ok(CloseFrame {
                code: CloseCode::NO_STATUS,
                reason: String::new(),
            }),
            [_] => Err(ProtocolError::InvalidClosePayload),
            [hi, lo, reason @ ..] => {
                let code = CloseCode::from(u16::from_be_bytes([*hi, *lo]));
                if !code.is_sendable() {
                    return Err(ProtocolError::InvalidCloseCode(code.as_u16()));
                }
                let reason = utf8::validate(reason).map_err(|_| ProtocolError::InvalidUtf8)?;
                Ok(CloseFrame {
                    code,
                    reason: reason.to_owned(),
                })
            }
        }
    }

    /// The payload of a close frame carrying this code and reason. A code that may not be sent
    /// (1005, 1006, 1015) yields an empty payload.
    pub(crate) fn to_payload(&self) -> Bytes {
        if !self.code.is_sendable() {
            return Bytes::new();
        }
        let mut buf = BytesMut::with_capacity(2 + self.reason.len());
        buf.put_u16(self.code.as_u16());
        buf.put_slice(self.reason.as_bytes());
        buf.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_payload_reads_as_no_status_1005() {
        let frame = CloseFrame::parse(&[]).expect("empty close payload is valid");
        assert_eq!(frame.code, CloseCode::NO_STATUS);
    }

    #[test]
    fn one_byte_payload_is_a_protocol_error() {
        assert_eq!(
            CloseFrame::parse(&[3]),
            Err(ProtocolError::InvalidClosePayload)
        );
    }

    #[test]
    fn codes_reserved_or_out_of_range_are_not_sendable() {
        for code in [
            0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2999, 5000, 65535,
        ] {
            assert!(!CloseCode::from(code).is_sendable(), "{code}");
            let payload = code.to_be_bytes();
            assert_eq!(
                CloseFrame::parse(&payload),
                Err(ProtocolError::InvalidCloseCode(code))
            );
        }
        for code in [1000u16, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4999] {
            assert!(CloseCode::from(code).is_sendable(), "{code}");
        }
    }

    #[test]
    fn reason_must_be_utf8() {
        assert_eq!(
            CloseFrame::parse(&[0x03, 0xe8, 0xff]),
            Err(ProtocolError::InvalidUtf8)
        );
    }

    #[test]
    fn reason_longer_than_123_bytes_is_refused() {
        let long = "x".repeat(124);
        assert_eq!(
            CloseFrame::new(CloseCode::NORMAL, &long),
            Err(UsageError::CloseReasonTooLong(124))
        );
        assert!(CloseFrame::new(CloseCode::NORMAL, &long[..123]).is_ok());
    }

    #[test]
    fn payload_round_trips() {
        let frame = CloseFrame::new(CloseCode::GOING_AWAY, "bye").expect("valid");
        assert_eq!(CloseFrame::parse(&frame.to_payload()), Ok(frame));
    }
}
