//! The sans-I/O core of weft: RFC 6455 WebSocket framing, the close handshake, and the opening
//! HTTP/1.1 handshake, as state machines fed bytes and asked for bytes.
//!
//! This crate does no I/O and reads no clock. It never touches a socket, spawns a thread or
//! needs a runtime, so it is deterministic, fuzzable, and usable under any I/O model. The
//! `weft` crate drives it with tokio; anything else can drive it the same way.
//!
//! # The call-order contract
//!
//! 1. Bytes read from the peer go to [`Connection::handle_data`]; it consumes what it can and
//!    leaves the rest in the buffer for the next call.
//! 2. Then [`Connection::poll_event`] until it returns `None`: messages, fragments, pings, pongs,
//!    and the peer's close.
//!
//!    Or steps 1 and 2 in one: [`Connection::poll_event_from`] with the read buffer until it
//!    returns `None`, then read more. It decodes one event per call, as they are asked for, so
//!    a message goes from the buffer to the caller without a queue and the frames behind it
//!    wait in the buffer (weft's runtime reads this way).
//! 3. Commands ([`Connection::send`], [`Connection::close`], ...) queue frames.
//! 4. Then [`Connection::poll_transmit`] until it returns `None`, writing each chunk to the peer
//!    in order. Replies the read path owes (PONGs, the close echo) come out here too: reading
//!    never writes.
//! 5. When the peer's end of the stream ends, call [`Connection::handle_eof`].
//!
//! ```
//! use bytes::BytesMut;
//! use weft_proto::{Config, Connection, Event, Message, Role};
//!
//! let mut client = Connection::new(Role::Client, Config::default());
//! let mut server = Connection::new(Role::Server, Config::default());
//!
//! client.send(Message::text("hello"))?;
//! let mut wire = BytesMut::new();
//! while let Some(chunk) = client.poll_transmit() {
//!     wire.extend_from_slice(chunk.as_data().expect("data"));
//! }
//!
//! server.handle_data(&mut wire)?;
//! assert_eq!(server.poll_event(), Some(Event::Message(Message::text("hello"))));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod close;
mod close_code;
pub mod config;
mod conn;
pub mod copy;
pub mod error;
pub mod extensions;
pub mod frame;
pub mod handshake;
pub mod message;
pub mod role;
pub mod utf8;

pub use close::{CloseCode, CloseFrame};
pub use config::{Config, Limits};
pub use conn::{Connection, MAX_UNSENT_PONGS, Receiver, Reply, Sender, State, Transmit};
pub use error::{ProtocolError, UsageError};
pub use handshake::HandshakeError;
pub use message::{DataKind, Event, Fragment, Message, Text};
pub use role::Role;

#[cfg(test)]
mod tests;
