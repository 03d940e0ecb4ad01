//! Errors, split by who is at fault: the peer ([`ProtocolError`], mapped to a close code), the
//! handshake ([`HandshakeError`](crate::HandshakeError), mapped to an HTTP status) and the caller
//! ([`UsageError`]).

use thiserror::Error;

use crate::close_code::CloseCode;

/// The peer broke RFC 6455 or a configured limit. Each variant maps to the close code sent to
/// the peer when the connection is failed (§7.1.7), see [`ProtocolError::close_code`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// An opcode reserved for future use (0x3-0x7, 0xB-0xF), §5.2.
    #[error("reserved opcode {0:#x}")]
    ReservedOpCode(u8),
    /// RSV bits set that no negotiated extension owns, §5.2.
    #[error("reserved bits {0:#05b} set without an extension that defines them")]
    ReservedBits(u8),
    /// A 64-bit payload length with the most significant bit set, §5.2.
    #[error("payload length has its most significant bit set")]
    InvalidLength,
    /// A control frame with more than 125 bytes of payload, §5.5.
    #[error("control frame payload of {0} bytes exceeds 125")]
    ControlFrameTooLong(u64),
    /// A control frame without FIN, §5.5.
    #[error("fragmented control frame")]
    FragmentedControlFrame,
    /// A client sent a frame without a mask, §5.1.
    #[error("client frame is not masked")]
    UnmaskedFrame,
    /// A server sent a frame with a mask, §5.1.
    #[error("server frame is masked")]
    MaskedFrame,
    /// A continuation frame arrived with no fragmented message open, §5.4.
    #[error("continuation frame without a message in progress")]
    UnexpectedContinuation,
    /// A new text or binary frame arrived while a fragmented message was open, §5.4.
    #[error("new data frame while a fragmented message is in progress")]
    ExpectedContinuation,
    /// Text or a close reason that is not UTF-8, §8.1.
    #[error("invalid UTF-8 in text")]
    InvalidUtf8,
    /// A close frame with a 1-byte payload, §5.5.1.
    #[error("close frame payload of 1 byte")]
    InvalidClosePayload,
    /// A close code that may not appear on the wire, §7.4.
    #[error("close code {0} is not allowed on the wire")]
    InvalidCloseCode(u16),
    /// A frame larger than [`Limits::max_frame_size`](crate::Limits::max_frame_size).
    #[error("frame of {size} bytes exceeds the limit of {limit}")]
    FrameTooLarge {
        /// The declared payload length.
        size: u64,
        /// The configured limit.
        limit: u64,
    },
    /// A message larger than [`Limits::max_message_size`](crate::Limits::max_message_size).
    #[error("message exceeds the limit of {limit} bytes")]
    MessageTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// A message split into more frames than [`Limits::max_fragments`](crate::Limits::max_fragments).
    #[error("message split into more than {limit} frames")]
    TooManyFragments {
        /// The configured limit.
        limit: usize,
    },
    /// A negotiated extension could not process a message (for example a compressed message
    /// that does not inflate).
    #[error("extension failed to process a message: {0}")]
    Extension(&'static str),
}

impl ProtocolError {
    /// The close code sent to the peer for this error.
    ///
    /// ```
    /// use weft_proto::{CloseCode, ProtocolError};
    /// assert_eq!(ProtocolError::InvalidUtf8.close_code(), CloseCode::INVALID_PAYLOAD);
    /// assert_eq!(ProtocolError::UnmaskedFrame.close_code(), CloseCode::PROTOCOL_ERROR);
    /// ```
    pub fn close_code(&self) -> CloseCode {
        match self {
            ProtocolError::InvalidUtf8 | ProtocolError::Extension(_) => CloseCode::INVALID_PAYLOAD,
            ProtocolError::FrameTooLarge { .. }
            | ProtocolError::MessageTooLarge { .. }
            | ProtocolError::TooManyFragments { .. } => CloseCode::MESSAGE_TOO_BIG,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

/// The caller asked for something the protocol or the connection's state does not allow.
/// Nothing is sent when a call fails with one of these.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum UsageError {
    /// The connection has sent its close frame or is closed: no more data may be sent (§5.5.1).
    #[error("the connection is closing or closed")]
    Closed,
    /// A close code that may not be sent (§7.4).
    #[error("close code {0} may not be sent")]
    InvalidCloseCode(u16),
    /// A close reason longer than 123 bytes.
    #[error("close reason of {0} bytes exceeds 123")]
    CloseReasonTooLong(usize),
    /// A PING or PONG payload longer than 125 bytes (§5.5).
    #[error("control payload of {0} bytes exceeds 125")]
    ControlPayloadTooLong(usize),
    /// A whole message or a new message was sent while a fragmented one is still open.
    #[error("a fragmented message is still being sent")]
    MessageInProgress,
    /// A continuation was sent with no fragmented message open.
    #[error("no fragmented message is being sent")]
    NoMessageInProgress,
    /// Something other than the rest of the declared frame was sent while a frame is open.
    #[error("a frame declared up front is still being sent")]
    FrameInProgress,
    /// More bytes than the frame declared, or frame data with no frame open.
    #[error("{0} bytes more than the open frame declared")]
    FrameOverrun(u64),
    /// The connection is in raw mode, or not in raw mode, and the call needs the other; or a
    /// declared-length frame was started inside a compressed message.
    #[error("call not available in this mode")]
    WrongMode,
    /// The compressor failed (it never should; nothing was sent).
    #[error("compression failed")]
    Compression,
}
