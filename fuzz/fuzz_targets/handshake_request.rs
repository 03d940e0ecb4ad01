//! The server's reading of an upgrade request, fed in two chunks: only request errors (4xx),
//! a rejection or an acceptance can always be written, and a finished handshake stays
//! finished.
//!
//! Input layout: byte 0 picks where the rest is cut in two.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use weft_proto::Limits;
use weft_proto::handshake::server::{Accept, ServerHandshake, reject};
use weft_proto::handshake::{HandshakeError, accept_key};

fuzz_target!(|data: &[u8]| {
    let [cut, wire @ ..] = data else {
        return;
    };
    let cut = usize::from(*cut) * wire.len() / 255;
    let mut handshake = ServerHandshake::new(&Limits::default());
    let mut buf = BytesMut::new();
    let mut outcome = Ok(None);
    for chunk in [&wire[..cut], &wire[cut..]] {
        buf.extend_from_slice(chunk);
        let before = buf.clone();
        outcome = handshake.handle_request(&mut buf);
        match &outcome {
            Ok(None) => assert_eq!(buf, before, "need-more must leave the buffer alone"),
            Ok(Some(_)) => {
                // The head is removed and only what followed it stays.
                assert!(before.ends_with(&buf), "bytes after the head were lost");
                break;
            }
            Err(_) => {
                assert_eq!(
                    buf, before,
                    "a rejected request must leave the buffer alone"
                );
                break;
            }
        }
    }
    match outcome {
        Ok(None) => return,
        Ok(Some(request)) => {
            let protocol = request.protocols().first().map(String::as_str);
            if let Some(offered) = protocol {
                assert_eq!(request.choose_protocol(&["\0", offered]), Some(offered));
            }
            let response = request.accept(Accept::new().protocol(protocol));
            assert!(response.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
            assert!(response.ends_with(b"\r\n\r\n"));
            let accept = format!("Sec-WebSocket-Accept: {}\r\n", accept_key(request.key()));
            assert!(
                response
                    .windows(accept.len())
                    .any(|w| w == accept.as_bytes()),
                "response lacks {accept:?}"
            );
        }
        Err(error) => {
            let status = error.status().as_u16();
            assert!(
                matches!(status, 400 | 426 | 431),
                "not a request error: {error:?} ({status})"
            );
            let response = reject(&error);
            assert!(response.starts_with(format!("HTTP/1.1 {status} ").as_bytes()));
        }
    }
    assert_eq!(
        handshake.handle_request(&mut buf).err(),
        Some(HandshakeError::Finished),
        "a finished handshake read again"
    );
});
