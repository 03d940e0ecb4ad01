//! permessage-deflate inflation: arbitrary compressed payloads, split into frames any way,
//! through a server connection that negotiated the extension. Whatever the bytes, inflation
//! must stop at the message limit (1009), reject garbage (1007), and never panic.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use weft_proto::extensions::deflate::{Deflate, DeflateConfig, DeflateParams};
use weft_proto::frame::{FrameHeader, OpCode, apply_mask};
use weft_proto::{CloseCode, Config, Connection, Event, Message, ProtocolError, Role};

const LIMIT: usize = 64 << 10;

fuzz_target!(|data: &[u8]| {
    let [options, cuts, rest @ ..] = data else { return };
    let takeover = options & 1 == 0;
    let bits = 8 + (options >> 1) % 8;
    let text = options & 0x10 != 0;
    let params = DeflateParams {
        server_no_context_takeover: !takeover,
        client_no_context_takeover: !takeover,
        server_max_window_bits: bits,
        client_max_window_bits: bits,
    };
    let mut conn = Connection::new(Role::Server, Config::default().max_message_size(LIMIT))
        .with_deflate(Deflate::new(Role::Server, params, &DeflateConfig::default()));

    // The payload as one compressed message in up to four frames, masked as a client's are.
    let frames = 1 + usize::from(cuts % 4);
    let step = rest.len().div_ceil(frames).max(1);
    let mut wire = Vec::new();
    for (i, chunk) in rest.chunks(step).enumerate() {
        let last = (i + 1) * step >= rest.len();
        let opcode = match (i, text) {
            (0, true) => OpCode::Text,
            (0, false) => OpCode::Binary,
            _ => OpCode::Continuation,
        };
        let header = FrameHeader {
            fin: last,
            rsv: if i == 0 { 0b100 } else { 0 },
            opcode,
            mask: Some([0x11, 0x22, 0x33, 0x44]),
            payload_len: chunk.len() as u64,
        };
        header.encode(&mut wire);
        let start = wire.len();
        wire.extend_from_slice(chunk);
        apply_mask(&mut wire[start..], [0x11, 0x22, 0x33, 0x44], 0);
    }

    let mut buf = BytesMut::new();
    let mut result = Ok(());
    for piece in wire.chunks(1 + usize::from(cuts >> 2)) {
        buf.extend_from_slice(piece);
        if let Err(e) = conn.handle_data(&mut buf) {
            result = Err(e);
        }
    }
    match &result {
        Ok(()) => {}
        Err(ProtocolError::MessageTooLarge { limit }) => assert_eq!(*limit, LIMIT),
        Err(e) => assert!(
            matches!(
                e.close_code(),
                CloseCode::INVALID_PAYLOAD | CloseCode::PROTOCOL_ERROR
            ),
            "unexpected failure {e:?}"
        ),
    }
    while let Some(event) = conn.poll_event() {
        if let Event::Message(message) = event {
            assert!(message.payload().len() <= LIMIT, "inflated past the limit");
            if let Message::Text(t) = &message {
                assert!(std::str::from_utf8(t.as_bytes()).is_ok());
            }
        }
    }
    while conn.poll_transmit().is_some() {}
});
