//! permessage-deflate (RFC 7692): negotiation of its four parameters, and the per-message
//! codec that runs once it is agreed.
//!
//! ```
//! use weft_proto::extensions::deflate::{DeflateConfig, client_offer, server_negotiate, client_accept};
//! use weft_proto::extensions::parse_extensions;
//!
//! let config = DeflateConfig::default();
//! let offer = client_offer(&config);
//! let (server_side, answer) =
//!     server_negotiate(&config, &parse_extensions(&offer)?).expect("accepted");
//! let client_side = client_accept(&config, &parse_extensions(&answer)?)?.expect("agreed");
//! assert_eq!(server_side.client_max_window_bits, client_side.client_max_window_bits);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod codec;
mod negotiate;
mod pool;

pub use codec::{Deflate, DeflateError, Deflater, Inflater};
pub use negotiate::{DeflateNegotiationError, client_accept, client_offer, server_negotiate};

/// The extension's name in `Sec-WebSocket-Extensions`.
pub const NAME: &str = "permessage-deflate";

/// What this endpoint wants from permessage-deflate, before negotiation.
///
/// Memory per connection, measured with `cargo run --release -p weft-proto --example
/// deflate_memory` (server side, 1 000 connections, each cell in a fresh process):
///
/// | window bits | compressing and inflating | the same, no context takeover | inflating only | negotiated, idle |
/// |---|---|---|---|---|
/// | 9 | 251 KiB | 1.8 KiB | 47 KiB | 0.8 KiB |
/// | 12 (default) | 265 KiB | 1.8 KiB | 47 KiB | 0.7 KiB |
/// | 15 | 377 KiB | 1.8 KiB | 47 KiB | 0.8 KiB |
///
/// Each codec half allocates its zlib state when it first has a message to process, so idle
/// connections and those that only send messages below `threshold` cost nothing. The
/// compressor's fixed ~245 KiB is zlib's hash and symbol buffers at its default memory level,
/// which the flate2 backend does not let us lower; the window adds `2^(bits+1)` bytes twice.
/// A half that resets its context after every message (ours with `no_context_takeover`, the
/// peer's when it agreed to `request_no_context_takeover`) holds its state only while a
/// message passes and then returns it to a few spares per thread, so connections that have
/// gone quiet hold none: the column without context takeover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeflateConfig {
    /// Window bits (8-15) this side's compressor may use, and asks the peer to use at most.
    /// Default: 12 (as Python's `websockets`).
    pub window_bits: u8,
    /// Whether to ask the peer to reset its compression context after every message; if it
    /// agrees, our decompressor's state is shared between messages too.
    pub request_no_context_takeover: bool,
    /// Whether this side resets its own compression context after every message: the
    /// compressor's ~250 KiB is then shared by the thread's connections between messages
    /// instead of held by each, at a cost in ratio.
    pub no_context_takeover: bool,
    /// zlib compression level, 0-9. Default: 1 (fast; most of the gain on text).
    pub level: u32,
    /// Messages shorter than this are sent uncompressed (RSV1 clear). Default: 128 bytes.
    pub threshold: usize,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            window_bits: 12,
            request_no_context_takeover: false,
            no_context_takeover: false,
            level: 1,
            threshold: 128,
        }
    }
}

/// The parameters both sides agreed on (RFC 7692 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server resets its compression context after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compression context after each message.
    pub client_no_context_takeover: bool,
    /// Most window bits the server's compressor uses.
    pub server_max_window_bits: u8,
    /// Most window bits the client's compressor uses.
    pub client_max_window_bits: u8,
}
