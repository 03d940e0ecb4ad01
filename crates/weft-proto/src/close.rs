//! Close codes and the close frame payload (RFC 6455 §5.5.1, §7.4).

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{ProtocolError, UsageError};
use crate::utf8;

/// A close status code (RFC 6455 §7.4): an open number space with named constants, like
/// `http::StatusCode`.
///
/// ```
/// use weft_proto::CloseCode;
/// assert_eq!(CloseCode::NORMAL.as_u16(), 1000);
/// assert!(CloseCode::from(4000).is_sendable());
/// assert!(!CloseCode::ABNORMAL.is_sendable());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(u16);

impl CloseCode {
    /// 1000: the purpose of the connection is fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a data type this endpoint cannot accept.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: local only: the close frame carried no status code.
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: local only: the connection ended without a close frame.
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: a message's data did not match its type (invalid UTF-8 in text).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: a message violated the endpoint's policy.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: a message was too big to process.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: the server met an unexpected condition.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1012: the service is restarting.
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013: try again later.
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 1014: a gateway got an invalid response upstream.
    pub const BAD_GATEWAY: CloseCode = CloseCode(1014);
    /// 1015: local only: the TLS handshake failed.
    pub const TLS_HANDSHAKE: CloseCode = CloseCode(1015);

    /// The numeric code.
    pub fn as_u16(self) -> u16 {
        self.0
    }

    /// Whether this code may appear in a close frame on the wire (§7.4.1, §7.4.2): 1000-1003,
    /// 1007-1014, and 3000-4999. 1004-1006, 1015, 1016-2999 and anything below 1000 or from
    /// 5000 up are not.
    pub fn is_sendable(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }

    /// A short English phrase for the code, used as the reason when none is given.
    pub fn default_reason(self) -> &'static str {
        match self.0 {
            1000 => "normal closure",
            1001 => "going away",
            1002 => "protocol error",
            1003 => "unsupported data",
            1005 => "no status received",
            1006 => "abnormal closure",
            1007 => "invalid payload data",
            1008 => "policy violation",
            1009 => "message too big",
            1010 => "mandatory extension",
            1011 => "internal error",
            1012 => "service restart",
            1013 => "try again later",
            1014 => "bad gateway",
            1015 => "TLS handshake failure",
            _ => "",
        }
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        CloseCode(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> Self {
        code.0
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = self.default_reason();
        if reason.is_empty() {
            write!(f, "{}", self.0)
        } else {
            write!(f, "{} ({reason})", self.0)
        }
    }
}

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
                let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
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
            assert!(!CloseCode(code).is_sendable(), "{code}");
            let payload = code.to_be_bytes();
            assert_eq!(
                CloseFrame::parse(&payload),
                Err(ProtocolError::InvalidCloseCode(code))
            );
        }
        for code in [1000u16, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4999] {
            assert!(CloseCode(code).is_sendable(), "{code}");
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
