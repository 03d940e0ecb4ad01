//! The opening handshake (RFC 6455 §4): the client's HTTP/1.1 upgrade request and the server's
//! 101 response, as state machines over byte buffers.
//!
//! Both sides read a head with bounded memory and linear time: bytes arriving one at a time
//! cost no more than arriving at once, and a head over
//! [`Limits::max_header_bytes`](crate::Limits::max_header_bytes) is refused as soon as the
//! limit is passed. When a head is complete it is removed from the caller's buffer and
//! whatever followed it (frames the peer sent early) stays there for the connection.
//!
//! ```
//! use bytes::BytesMut;
//! use weft_proto::Limits;
//! use weft_proto::handshake::client::{ClientHandshake, ClientRequest};
//! use weft_proto::handshake::server::{Accept, ServerHandshake};
//!
//! let request = ClientRequest::new("example.com", None, "/chat", false).protocol("chat");
//! let mut client = ClientHandshake::new(request, &Limits::DEFAULT)?;
//!
//! let mut server = ServerHandshake::new(&Limits::DEFAULT);
//! let mut wire = BytesMut::from(&client.request_bytes()[..]);
//! let upgrade = server.handle_request(&mut wire)?.expect("whole request arrived");
//! let protocol = upgrade.choose_protocol(&["chat"]);
//!
//! let mut wire = BytesMut::from(&upgrade.accept(Accept::new().protocol(protocol))[..]);
//! let accepted = client.handle_response(&mut wire)?.expect("whole response arrived");
//! assert_eq!(accepted.subprotocol.as_deref(), Some("chat"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod checks;
pub mod client;
mod error;
mod http1;
pub mod server;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest as _, Sha1};

pub use error::HandshakeError;

/// Appended to the key before hashing (§1.3, §4.2.2 item 5.4).
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key`: the base64 of the SHA-1 of the
/// key followed by the RFC's GUID (§4.2.2 item 5.4).
///
/// ```
/// use weft_proto::handshake::accept_key;
/// assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &str) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key.as_bytes());
    sha1.update(GUID.as_bytes());
    STANDARD.encode(sha1.finalize())
}

/// A fresh `Sec-WebSocket-Key`: the base64 of 16 bytes from a cryptographically secure
/// generator (§4.1 item 7 asks for a nonce "randomly selected for each connection").
pub fn generate_key() -> String {
    // rand's thread generator is a CSPRNG seeded from the operating system.
    STANDARD.encode(rand::random::<[u8; 16]>())
}

/// Whether a `Sec-WebSocket-Key` value is the base64 of exactly 16 bytes (§4.2.1 item 5).
fn is_valid_key(key: &[u8]) -> bool {
    // 16 bytes always encode to 24 characters; checking first keeps a long value from being
    // decoded at all.
    key.len() == 24
        && STANDARD
            .decode(key)
            .is_ok_and(|decoded| decoded.len() == 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_example_key_gives_rfc_example_accept() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn generated_keys_are_valid_and_differ() {
        let a = generate_key();
        let b = generate_key();
        assert!(is_valid_key(a.as_bytes()));
        assert_ne!(a, b);
    }

    #[test]
    fn keys_must_decode_to_16_bytes() {
        assert!(is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ"));
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZT=="));
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZSE="));
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25j!Q=="));
    }
}
