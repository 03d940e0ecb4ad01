//! weft: WebSocket client and server for tokio, built on the [`weft_proto`] sans-I/O core.
//!
//! This crate owns everything that touches a socket, a clock or a runtime: connections over
//! any `AsyncRead + AsyncWrite` ([`WebSocket`]), the client (ws://, wss://, proxies), and the
//! blocking API. The protocol itself lives in [`proto`].

pub mod blocking;
pub mod client;
mod config;
mod error;
pub mod handler;
#[cfg(feature = "hyper")]
pub mod hyper;
mod info;
mod liveness;
pub mod server;
mod socket;

pub use client::{ClientBuilder, connect};
pub use config::{Keepalive, WebSocketConfig};
pub use error::{Error, Result, Timeout, UrlError};
pub use info::{ConnState, Handshaken, Info};
pub use socket::{WebSocket, WsReader, WsWriter};
pub use weft_proto as proto;
pub use weft_proto::{CloseCode, CloseFrame, DataKind, Event, Fragment, Message, Text};

/// The README's examples, compiled (and run where they need no network) as doctests so they
/// stay true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
