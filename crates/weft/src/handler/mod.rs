//! Handler adapters: two ways to hand an open connection to application code.
//!
//! - **Events** (Tcl's callback model): implement [`EventHandler`] and let [`run_events`]
//!   call it for each event of the connection's life: connect, text, binary, ping, pong,
//!   close, timeout, error, and disconnect last.
//! - **Byte streams** (Seastar's handlers): [`byte_streams`] turns a connection into an
//!   [`AsyncRead`] of decoded, unmasked payload bytes and an
//!   [`AsyncWrite`] whose writes become messages, so code written for
//!   a TCP stream runs unchanged; [`run_byte_handler`] runs such code and closes the
//!   connection after it.
//!
//! In both, a handler's own failure is a [`HandlerError`]: it closes the connection with
//! 1011 (internal error), is logged with `tracing::warn!`, and is returned to the caller.
//! Failures of the connection itself are not handler failures.
//!
//! ```
//! use weft::handler::{EventHandler, HandlerError, Session, Transport, run_events};
//! use weft::proto::Role;
//! use weft::{Message, Text, WebSocket, WebSocketConfig};
//!
//! /// Answers each text message with its length.
//! struct Count;
//!
//! impl<S: Transport> EventHandler<S> for Count {
//!     async fn on_text(
//!         &mut self,
//!         session: &mut Session<'_, S>,
//!         text: Text,
//!     ) -> Result<(), HandlerError> {
//!         session.send_text(&text.len().to_string()).await?;
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), HandlerError> {
//! let (a, b) = tokio::io::duplex(4096);
//! let server = WebSocket::new(b, Role::Server, WebSocketConfig::default());
//! let serving = tokio::spawn(run_events(server, Count));
//!
//! let mut client = WebSocket::new(a, Role::Client, WebSocketConfig::default());
//! client.send(Message::text("hello")).await?;
//! assert_eq!(client.recv().await.transpose()?, Some(Message::text("5")));
//! client.close(weft::CloseCode::NORMAL, "").await?;
//! serving.await??;
//! # Ok(())
//! # }
//! ```

mod bytes;
mod events;

pub use self::bytes::{ByteReader, ByteWriter, byte_streams, run_byte_handler};
pub use self::events::{EventHandler, Session, run_events};

use tokio::io::{AsyncRead, AsyncWrite};

/// A handler's own failure. Boxed, so a handler can use `?` on any error.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A transport a handler can run over: what [`run_events`] and [`byte_streams`] need of `S`.
/// Implemented for every type that qualifies; it only shortens handler impls
/// (`impl<S: Transport> EventHandler<S> for MyHandler`).
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Transport for T {}
