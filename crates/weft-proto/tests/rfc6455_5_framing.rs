//! RFC 6455 §5.1-§5.4: framing, masking and fragmentation rules, through the public API.

mod common;

use common::*;
use weft_proto::frame::{FrameHeader, OpCode};
use weft_proto::{Config, Connection, Event, Message, ProtocolError, Role, State};

#[test]
fn server_rejects_unmasked_client_frame_with_1002() {
    let mut conn = server();
    let err = feed(&mut conn, &server_frame(true, OpCode::Text, b"hi")).unwrap_err();
    assert_eq!(err, ProtocolError::UnmaskedFrame);
    assert_eq!(close_code_sent(&mut conn), Some(1002));
}

#[test]
fn client_rejects_masked_server_frame_with_1002() {
    let mut conn = client();
    let err = feed(&mut conn, &client_frame(true, OpCode::Text, b"hi")).unwrap_err();
    assert_eq!(err, ProtocolError::MaskedFrame);
    assert_eq!(close_code_sent(&mut conn), Some(1002));
}

#[test]
fn reserved_opcodes_fail_with_1002() {
    for opcode in (0x3u8..=0x7).chain(0xB..=0xF) {
        let mut conn = server();
        let frame = [0x80 | opcode, 0x80, 1, 2, 3, 4];
        assert_eq!(
            feed(&mut conn, &frame),
            Err(ProtocolError::ReservedOpCode(opcode))
        );
        assert_eq!(close_code_sent(&mut conn), Some(1002), "opcode {opcode:#x}");
    }
}

#[test]
fn rsv_bits_without_a_negotiated_extension_fail_with_1002() {
    for rsv in 1..=7u8 {
        let mut conn = server();
        let frame = raw_frame(true, rsv, OpCode::Binary, Some([1, 2, 3, 4]), b"x");
        assert_eq!(
            feed(&mut conn, &frame),
            Err(ProtocolError::ReservedBits(rsv))
        );
        assert_eq!(close_code_sent(&mut conn), Some(1002));
    }
}

#[test]
fn rsv_bit_owned_by_an_extension_is_accepted() {
    let mut conn = Connection::new(Role::Server, Config::default()).with_reserved_bits(0b100);
    let frame = raw_frame(true, 0b100, OpCode::Binary, Some([1, 2, 3, 4]), b"x");
    assert_eq!(feed(&mut conn, &frame), Ok(()));
    let other = raw_frame(true, 0b010, OpCode::Binary, Some([1, 2, 3, 4]), b"x");
    assert_eq!(
        feed(&mut conn, &other),
        Err(ProtocolError::ReservedBits(0b010))
    );
}

#[test]
fn length_with_most_significant_bit_set_fails_with_1002() {
    let mut frame = vec![0x82, 0xFF];
    frame.extend_from_slice(&(u64::MAX).to_be_bytes());
    frame.extend_from_slice(&[1, 2, 3, 4]);
    let mut conn = server();
    assert_eq!(feed(&mut conn, &frame), Err(ProtocolError::InvalidLength));
    assert_eq!(close_code_sent(&mut conn), Some(1002));
}

#[test]
fn sixteen_and_sixty_four_bit_lengths_deliver_whole_payloads() {
    for len in [126usize, 65_535, 65_536, 200_000] {
        let payload = vec![7u8; len];
        let mut conn = server();
        feed(&mut conn, &client_frame(true, OpCode::Binary, &payload)).expect("valid frame");
        assert_eq!(
            events(&mut conn),
            vec![Event::Message(Message::binary(payload))],
            "len {len}"
        );
    }
}

#[test]
fn continuation_without_an_open_message_fails_with_1002() {
    let mut conn = server();
    let err = feed(&mut conn, &client_frame(true, OpCode::Continuation, b"x")).unwrap_err();
    assert_eq!(err, ProtocolError::UnexpectedContinuation);
    assert_eq!(close_code_sent(&mut conn), Some(1002));
}

#[test]
fn new_data_frame_inside_an_open_message_fails_with_1002() {
    let mut conn = server();
    let mut bytes = client_frame(false, OpCode::Text, b"a");
    bytes.extend(client_frame(true, OpCode::Binary, b"b"));
    assert_eq!(
        feed(&mut conn, &bytes),
        Err(ProtocolError::ExpectedContinuation)
    );
    assert_eq!(close_code_sent(&mut conn), Some(1002));
}

#[test]
fn fragmented_message_is_reassembled() {
    let mut conn = server();
    let mut bytes = client_frame(false, OpCode::Text, b"Hel");
    bytes.extend(client_frame(false, OpCode::Continuation, b""));
    bytes.extend(client_frame(true, OpCode::Continuation, b"lo"));
    feed(&mut conn, &bytes).expect("valid fragments");
    assert_eq!(
        events(&mut conn),
        vec![Event::Message(Message::text("Hello"))]
    );
}

#[test]
fn fragments_longer_than_one_copy_piece_are_reassembled_byte_for_byte() {
    let mut conn = server();
    let payload: Vec<u8> = (0..3 * weft_proto::copy::PIECE + 5)
        .map(|i| (i % 251) as u8)
        .collect();
    let (first, rest) = payload.split_at(weft_proto::copy::PIECE + 1);
    let (second, third) = rest.split_at(weft_proto::copy::PIECE + 2);
    let mut bytes = client_frame(false, OpCode::Binary, first);
    bytes.extend(client_frame(false, OpCode::Continuation, second));
    bytes.extend(client_frame(true, OpCode::Continuation, third));
    feed(&mut conn, &bytes).expect("valid fragments");
    assert_eq!(
        events(&mut conn),
        vec![Event::Message(Message::Binary(payload.into()))]
    );
}

#[test]
fn control_frames_between_fragments_are_delivered_at_once() {
    let mut conn = server();
    let mut bytes = client_frame(false, OpCode::Text, b"Hel");
    bytes.extend(client_frame(true, OpCode::Ping, b"p"));
    feed(&mut conn, &bytes).expect("valid");
    // The ping arrives before the message it interrupts is complete.
    assert_eq!(
        events(&mut conn),
        vec![Event::Message(Message::Ping("p".into()))]
    );
    feed(&mut conn, &client_frame(true, OpCode::Continuation, b"lo")).expect("valid");
    assert_eq!(
        events(&mut conn),
        vec![Event::Message(Message::text("Hello"))]
    );
}

#[test]
fn frame_split_at_every_byte_yields_the_same_message() {
    let frame = client_frame(true, OpCode::Text, "split κόσμε here".as_bytes());
    for cut in 0..=frame.len() {
        let mut conn = server();
        let mut buf = bytes::BytesMut::from(&frame[..cut]);
        conn.handle_data(&mut buf).expect("valid prefix");
        buf.extend_from_slice(&frame[cut..]);
        conn.handle_data(&mut buf).expect("valid rest");
        assert_eq!(
            events(&mut conn),
            vec![Event::Message(Message::text("split κόσμε here"))],
            "cut {cut}"
        );
    }
}

#[test]
fn events_before_a_bad_frame_are_still_delivered() {
    let mut conn = server();
    let mut bytes = client_frame(true, OpCode::Text, b"kept");
    bytes.extend(server_frame(true, OpCode::Text, b"unmasked"));
    assert!(feed(&mut conn, &bytes).is_err());
    assert_eq!(
        events(&mut conn),
        vec![Event::Message(Message::text("kept"))]
    );
}

#[test]
fn input_after_failure_is_ignored() {
    let mut conn = server();
    assert!(feed(&mut conn, &[0x83, 0x80, 0, 0, 0, 0]).is_err());
    assert_eq!(
        feed(&mut conn, &client_frame(true, OpCode::Text, b"late")),
        Ok(())
    );
    assert!(events(&mut conn).is_empty());
    assert_eq!(conn.state(), State::Closed);
}

#[test]
fn failing_the_connection_sends_close_then_shutdown_in_both_roles() {
    for mut conn in [server(), client()] {
        let bad = [0x83, 0x00];
        let bad = if conn.role() == Role::Server {
            vec![0x83, 0x80, 0, 0, 0, 0]
        } else {
            bad.to_vec()
        };
        assert!(feed(&mut conn, &bad).is_err());
        let (bytes, shutdown) = transmit(&mut conn);
        assert_eq!(written_close(&bytes).map(|f| f.code.as_u16()), Some(1002));
        assert!(shutdown, "{:?} must close TCP after failing", conn.role());
    }
}

#[test]
fn empty_text_and_binary_messages_are_delivered() {
    let mut conn = server();
    let mut bytes = client_frame(true, OpCode::Text, b"");
    bytes.extend(client_frame(true, OpCode::Binary, b""));
    feed(&mut conn, &bytes).expect("valid");
    assert_eq!(
        events(&mut conn),
        vec![
            Event::Message(Message::text("")),
            Event::Message(Message::binary(Vec::new()))
        ]
    );
}

#[test]
fn client_masks_every_frame_with_a_fresh_key() {
    let mut conn = client();
    conn.send(Message::text("one")).expect("open");
    conn.send(Message::text("two")).expect("open");
    let (bytes, _) = transmit(&mut conn);
    let frames = parse_frames(&bytes);
    assert_eq!(frames.len(), 2);
    assert!(frames.iter().all(|(h, _)| h.mask.is_some()));
    assert_eq!(frames[0].1, "one");
    assert_eq!(frames[1].1, "two");
}

#[test]
fn server_frames_are_unmasked_and_use_the_minimal_length_form() {
    for (len, header_len) in [(125usize, 2usize), (126, 4), (65_536, 10)] {
        let mut conn = server();
        conn.send(Message::binary(vec![1u8; len])).expect("open");
        let (bytes, _) = transmit(&mut conn);
        assert_eq!(bytes.len(), header_len + len, "len {len}");
        let frames = parse_frames(&bytes);
        assert_eq!(frames[0].0.mask, None);
    }
}

#[test]
fn message_before_a_protocol_error_is_answered_before_the_close() {
    // Autobahn 3.2: a valid message, then a frame with a reserved bit. The message's echo
    // goes out first, then the close with 1002.
    let mut conn = server();
    let mut bytes = client_frame(true, OpCode::Text, b"first");
    bytes.extend(raw_frame(
        true,
        0b010,
        OpCode::Text,
        Some([1, 2, 3, 4]),
        b"bad",
    ));
    assert!(feed(&mut conn, &bytes).is_err());
    assert_eq!(
        conn.state(),
        State::Open,
        "the close waits for the events before it"
    );
    let first = conn.poll_event().expect("the message before the error");
    let Event::Message(message) = first else {
        panic!("expected a message")
    };
    conn.send(message).expect("still open for the answer");
    assert_eq!(conn.poll_event(), None);
    let (out, shutdown) = transmit(&mut conn);
    let frames = parse_frames(&out);
    assert_eq!(frames[0].1, "first");
    assert_eq!(frames[1].0.opcode, OpCode::Close);
    assert!(shutdown);
    assert_eq!(conn.state(), State::Closed);
}

/// The header of a masked final frame declaring 1 TiB of payload.
fn oversized_header(opcode: OpCode) -> Vec<u8> {
    let header = FrameHeader {
        fin: true,
        rsv: 0,
        opcode,
        mask: Some([1, 2, 3, 4]),
        payload_len: 1 << 40,
    };
    let mut bytes = Vec::new();
    header.encode(&mut bytes);
    bytes
}

#[test]
fn oversized_continuation_without_an_open_message_fails_with_1002_not_1009() {
    let mut conn = Connection::new(Role::Server, Config::default().max_frame_size(1024));
    let bytes = oversized_header(OpCode::Continuation);
    assert_eq!(
        feed(&mut conn, &bytes),
        Err(ProtocolError::UnexpectedContinuation)
    );
    assert_eq!(close_code_sent(&mut conn), Some(1002));
}

#[test]
fn oversized_data_frame_inside_an_open_message_fails_with_1002_not_1009() {
    let mut conn = Connection::new(Role::Server, Config::default().max_frame_size(1024));
    let mut bytes = client_frame(false, OpCode::Text, b"a");
    bytes.extend(oversized_header(OpCode::Binary));
    assert_eq!(
        feed(&mut conn, &bytes),
        Err(ProtocolError::ExpectedContinuation)
    );
    assert_eq!(close_code_sent(&mut conn), Some(1002));
}
