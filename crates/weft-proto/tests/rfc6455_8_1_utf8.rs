//! RFC 6455 §8.1: text must be UTF-8, checked as it arrives (Autobahn 6.x fail-fast).

mod common;

use bytes::BytesMut;
use common::*;
use weft_proto::frame::OpCode;
use weft_proto::{Config, Connection, Event, Message, ProtocolError, Role};

#[test]
fn invalid_utf8_in_text_fails_with_1007() {
    let mut conn = server();
    let err = feed(&mut conn, &client_frame(true, OpCode::Text, &[b'a', 0xFF])).unwrap_err();
    assert_eq!(err, ProtocolError::InvalidUtf8);
    assert_eq!(close_code_sent(&mut conn), Some(1007));
}

#[test]
fn invalid_byte_fails_before_the_rest_of_its_frame_arrives() {
    let mut payload = b"valid start ".to_vec();
    payload.push(0xC0); // can never start a character
    payload.extend_from_slice(&[b'x'; 1000]);
    let frame = client_frame(true, OpCode::Text, &payload);
    let mut conn = server();
    // Only the header and the first 20 payload bytes have arrived.
    let mut buf = BytesMut::from(&frame[..8 + 20]);
    assert_eq!(conn.handle_data(&mut buf), Err(ProtocolError::InvalidUtf8));
}

#[test]
fn invalid_byte_in_a_fragment_fails_before_the_message_ends() {
    let mut conn = server();
    feed(
        &mut conn,
        &client_frame(false, OpCode::Text, "κόσμε".as_bytes()),
    )
    .expect("valid");
    let err = feed(
        &mut conn,
        &client_frame(false, OpCode::Continuation, &[0xED, 0xA0, 0x80]),
    );
    assert_eq!(err, Err(ProtocolError::InvalidUtf8));
}

#[test]
fn character_split_across_frames_is_valid() {
    let euro = "€".as_bytes();
    let mut conn = server();
    let mut bytes = client_frame(false, OpCode::Text, &euro[..1]);
    bytes.extend(client_frame(false, OpCode::Continuation, &euro[1..2]));
    bytes.extend(client_frame(true, OpCode::Continuation, &euro[2..]));
    feed(&mut conn, &bytes).expect("valid");
    assert_eq!(events(&mut conn), vec![Event::Message(Message::text("€"))]);
}

#[test]
fn message_ending_inside_a_character_fails_with_1007() {
    let mut conn = server();
    let err = feed(
        &mut conn,
        &client_frame(true, OpCode::Text, &"€".as_bytes()[..2]),
    );
    assert_eq!(err, Err(ProtocolError::InvalidUtf8));
    assert_eq!(close_code_sent(&mut conn), Some(1007));
}

#[test]
fn fragment_mode_validates_text_as_it_streams() {
    let mut conn = Connection::new(Role::Server, Config::default().fragment_mode(true));
    let frame = client_frame(true, OpCode::Text, &[b'o', b'k', 0xFF, b'!']);
    let mut buf = BytesMut::from(&frame[..6 + 2]);
    conn.handle_data(&mut buf).expect("valid so far");
    buf.extend_from_slice(&frame[8..9]);
    assert_eq!(conn.handle_data(&mut buf), Err(ProtocolError::InvalidUtf8));
}

#[test]
fn binary_messages_are_not_checked() {
    let mut conn = server();
    feed(
        &mut conn,
        &client_frame(true, OpCode::Binary, &[0xFF, 0xFE]),
    )
    .expect("binary");
    assert_eq!(
        events(&mut conn),
        vec![Event::Message(Message::binary(vec![0xFF, 0xFE]))]
    );
}
