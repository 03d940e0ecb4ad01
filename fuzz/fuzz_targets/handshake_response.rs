//! The client's reading of the server's answer, fed in two chunks: only response errors, the
//! buffer handled as documented, and an accepted response holds only what was offered.
//!
//! Input layout: byte 0 picks where the rest is cut in two. Every `@ACCEPT@` in the rest is
//! replaced by the `Sec-WebSocket-Accept` value for this run's key: the key is random, and
//! without this no input could get past the accept check to the extension and subprotocol
//! checks behind it.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use weft_proto::Limits;
use weft_proto::handshake::client::{ClientHandshake, ClientRequest};
use weft_proto::handshake::{HandshakeError, accept_key};

const MARKER: &[u8] = b"@ACCEPT@";

fuzz_target!(|data: &[u8]| {
    let [cut, wire @ ..] = data else {
        return;
    };
    let request = ClientRequest::new("example.com", None, "/", false)
        .protocol("chat")
        .extension("permessage-deflate; client_max_window_bits");
    let mut handshake =
        ClientHandshake::new(request, &Limits::default()).expect("a constant, valid request");
    let wire = substitute(wire, accept_key(handshake.key()).as_bytes());
    let cut = usize::from(*cut) * wire.len() / 255;

    let mut buf = BytesMut::new();
    let mut outcome = Ok(None);
    for chunk in [&wire[..cut], &wire[cut..]] {
        buf.extend_from_slice(chunk);
        let before = buf.clone();
        outcome = handshake.handle_response(&mut buf);
        match &outcome {
            Ok(None) => assert_eq!(buf, before, "need-more must leave the buffer alone"),
            Ok(Some(_)) | Err(HandshakeError::UnexpectedStatus { .. }) => {
                // The head is removed and what followed it stays.
                assert!(before.ends_with(&buf), "bytes after the head were lost");
                break;
            }
            Err(_) => {
                assert_eq!(
                    buf, before,
                    "a refused response must leave the buffer alone"
                );
                break;
            }
        }
    }
    match outcome {
        Ok(None) => return,
        Ok(Some(accepted)) => {
            assert_eq!(accepted.response.status().as_u16(), 101);
            assert!(matches!(
                accepted.subprotocol.as_deref(),
                None | Some("chat")
            ));
            for extension in &accepted.extensions {
                assert!(
                    extension.name.eq_ignore_ascii_case("permessage-deflate"),
                    "accepted unoffered extension {extension:?}"
                );
            }
        }
        Err(HandshakeError::UnexpectedStatus {
            status, body_start, ..
        }) => {
            assert_ne!(status.as_u16(), 101);
            assert!(body_start.len() <= 1024 && buf.starts_with(&body_start));
        }
        Err(error) => {
            assert_eq!(
                error.status().as_u16(),
                502,
                "not a response error: {error:?}"
            );
        }
    }
    assert_eq!(
        handshake.handle_response(&mut buf).err(),
        Some(HandshakeError::Finished),
        "a finished handshake read again"
    );
});

fn substitute(wire: &[u8], accept: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(wire.len() + accept.len());
    let mut rest = wire;
    while let Some(at) = rest.windows(MARKER.len()).position(|w| w == MARKER) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(accept);
        rest = &rest[at + MARKER.len()..];
    }
    out.extend_from_slice(rest);
    out
}
