//! Limits on every size a peer controls, refused at the limit before memory is committed.

mod common;

use bytes::BytesMut;
use common::*;
use weft_proto::frame::OpCode;
use weft_proto::{Config, Connection, Event, Message, ProtocolError, Role};

fn limited(config: Config) -> Connection {
    Connection::new(Role::Server, config)
}

#[test]
fn frame_over_the_limit_fails_with_1009_as_soon_as_its_header_arrives() {
    let mut conn = limited(Config::default().max_frame_size(1000));
    let frame = client_frame(true, OpCode::Binary, &[0; 1001]);
    let mut buf = BytesMut::from(&frame[..8]);
    assert_eq!(
        conn.handle_data(&mut buf),
        Err(ProtocolError::FrameTooLarge {
            size: 1001,
            limit: 1000
        })
    );
    assert_eq!(close_code_sent(&mut conn), Some(1009));
}

#[test]
fn message_over_the_limit_fails_with_1009_before_buffering_past_it() {
    let mut conn = limited(Config::default().max_message_size(10));
    feed(&mut conn, &client_frame(false, OpCode::Binary, &[0; 6])).expect("under the limit");
    // Only the header of the frame that would cross the limit has arrived.
    let next = client_frame(true, OpCode::Continuation, &[0; 5]);
    let mut buf = BytesMut::from(&next[..6]);
    assert_eq!(
        conn.handle_data(&mut buf),
        Err(ProtocolError::MessageTooLarge { limit: 10 })
    );
    assert_eq!(close_code_sent(&mut conn), Some(1009));
}

#[test]
fn single_frame_message_over_the_limit_fails_with_1009_at_its_header() {
    // The frame limit allows it; the message limit does not.
    let mut conn = limited(Config::default().max_message_size(10));
    let frame = client_frame(true, OpCode::Text, &[b'a'; 11]);
    let mut buf = BytesMut::from(&frame[..6]);
    assert_eq!(
        conn.handle_data(&mut buf),
        Err(ProtocolError::MessageTooLarge { limit: 10 })
    );
    assert_eq!(close_code_sent(&mut conn), Some(1009));
}

#[test]
fn message_exactly_at_the_limit_is_accepted() {
    let mut conn = limited(Config::default().max_message_size(10));
    let mut bytes = client_frame(false, OpCode::Binary, &[1; 6]);
    bytes.extend(client_frame(true, OpCode::Continuation, &[1; 4]));
    feed(&mut conn, &bytes).expect("at the limit");
    assert_eq!(
        events(&mut conn),
        vec![Event::Message(Message::binary(vec![1; 10]))]
    );
}

#[test]
fn too_many_fragments_fail_with_1009() {
    let mut conn = limited(Config::default().max_fragments(3));
    let mut bytes = Vec::new();
    bytes.extend(client_frame(false, OpCode::Binary, b""));
    bytes.extend(client_frame(false, OpCode::Continuation, b""));
    bytes.extend(client_frame(false, OpCode::Continuation, b""));
    bytes.extend(client_frame(false, OpCode::Continuation, b""));
    assert_eq!(
        feed(&mut conn, &bytes),
        Err(ProtocolError::TooManyFragments { limit: 3 })
    );
    assert_eq!(close_code_sent(&mut conn), Some(1009));
}

#[test]
fn defaults_are_bounded() {
    let limits = *Config::default().limits();
    assert!(limits.max_frame_size <= 64 << 20);
    assert!(limits.max_message_size <= 64 << 20);
    assert!(limits.max_fragments <= 1 << 20);
    assert!(limits.max_header_bytes <= 64 << 10);
    assert!(limits.max_headers <= 256);
}

#[test]
fn read_hint_reports_what_the_frame_still_needs() {
    let mut conn = server();
    let frame = client_frame(true, OpCode::Binary, &[0; 300]);
    let mut buf = BytesMut::from(&frame[..8 + 100]);
    conn.handle_data(&mut buf).expect("valid");
    assert_eq!(conn.read_hint(), 200);
    assert_eq!(buf.len(), 100, "the partial payload stays in the buffer");
}
