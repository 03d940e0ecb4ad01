//! What the application sends and receives: messages, frame fragments, and events.

use std::fmt;

use bytes::Bytes;

use crate::close::CloseFrame;
use crate::utf8::{self, Utf8Error};

/// The payload of a text message: bytes that are known to be UTF-8.
///
/// Holding [`Bytes`] keeps a received message zero-copy; the UTF-8 guarantee is checked once,
/// when the value is made.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Text(Bytes);

impl Text {
    /// Text from bytes already checked or to be checked now.
    ///
    /// # Errors
    ///
    /// [`Utf8Error`] if `bytes` is not UTF-8.
    pub fn from_utf8(bytes: Bytes) -> Result<Self, Utf8Error> {
        utf8::validate(&bytes)?;
        Ok(Text(bytes))
    }

    /// Text from a static string, without copying.
    pub const fn from_static(text: &'static str) -> Self {
        Text(Bytes::from_static(text.as_bytes()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Every constructor checked the bytes, so this cannot fail; an empty string would be
        // the answer if that invariant were ever broken.
        utf8::validate(&self.0).unwrap_or_default()
    }

    /// The UTF-8 bytes, sharing the buffer.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// The UTF-8 bytes, sharing the buffer.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Wraps bytes that the caller has just validated.
    pub(crate) fn from_validated(bytes: Bytes) -> Self {
        Text(bytes)
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text(Bytes::from(s))
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A whole message, or a control frame's payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(Text),
    /// A binary message.
    Binary(Bytes),
    /// A PING, at most 125 bytes. Received pings are answered for you unless auto-PONG is off.
    Ping(Bytes),
    /// A PONG, at most 125 bytes.
    Pong(Bytes),
}

impl Message {
    /// A text message.
    pub fn text(text: impl Into<Text>) -> Self {
        Message::Text(text.into())
    }

    /// A binary message.
    pub fn binary(data: impl Into<Bytes>) -> Self {
        Message::Binary(data.into())
    }

    /// The payload bytes, whatever the kind.
    pub fn payload(&self) -> &Bytes {
        match self {
            Message::Text(t) => t.as_bytes(),
            Message::Binary(b) | Message::Ping(b) | Message::Pong(b) => b,
        }
    }

    /// Whether this is a text or binary message (not a control frame).
    pub fn is_data(&self) -> bool {
        matches!(self, Message::Text(_) | Message::Binary(_))
    }
}

/// The kind of a data message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataKind {
    /// UTF-8 text.
    Text,
    /// Binary data.
    Binary,
}

/// A part of a data frame, with curl's metadata (`curl_ws_frame`): which message kind, where
/// in the frame the part sits, how much of the frame is left, and whether the frame ends the
/// message. Delivered in fragment mode as bytes arrive, so frames of any size stream through
/// bounded memory.
///
/// A message is over when a fragment has `is_final_frame` set and `bytes_left == 0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// The kind of the message this frame belongs to (continuations keep the first frame's).
    pub kind: DataKind,
    /// The bytes, unmasked. Text is validated as it streams; a part may end inside a character.
    pub data: Bytes,
    /// Where `data` starts within the frame's payload.
    pub offset: u64,
    /// Payload bytes of this frame still to come after `data`.
    pub bytes_left: u64,
    /// Whether this frame is the last of its message (FIN).
    pub is_final_frame: bool,
    /// Whether this frame is the first of its message.
    pub is_first_frame: bool,
}

impl Fragment {
    /// Whether this part completes its message.
    pub fn is_message_end(&self) -> bool {
        self.is_final_frame && self.bytes_left == 0
    }
}

/// What the connection reports after reading.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A whole message, or a PING or PONG.
    Message(Message),
    /// Part of a data frame, in fragment mode.
    Fragment(Fragment),
    /// The peer's close frame; or, with [`CloseCode::ABNORMAL`](crate::CloseCode::ABNORMAL),
    /// the stream ended without one. A clean close is an event, never an error.
    Close(CloseFrame),
    /// Bytes read in raw mode, untouched.
    Raw(Bytes),
}
