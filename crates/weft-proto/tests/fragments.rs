//! curl's fragment model: frames delivered in parts with their metadata, and frames sent in
//! parts with their length declared up front; Tcl's `send ... final`; raw mode.

mod common;

use bytes::{Bytes, BytesMut};
use common::*;
use weft_proto::frame::{FrameHeader, OpCode};
use weft_proto::message::DataKind;
use weft_proto::{Config, Connection, Event, Fragment, Message, Role, UsageError};

fn fragment_server() -> Connection {
    Connection::new(Role::Server, Config::default().fragment_mode(true))
}

fn fragments(conn: &mut Connection) -> Vec<Fragment> {
    events(conn)
        .into_iter()
        .map(|e| match e {
            Event::Fragment(f) => f,
            other => panic!("expected a fragment, got {other:?}"),
        })
        .collect()
}

#[test]
fn frame_parts_carry_offset_and_bytes_left() {
    let frame = client_frame(true, OpCode::Binary, b"0123456789");
    let mut conn = fragment_server();
    let mut buf = BytesMut::from(&frame[..6 + 4]);
    conn.handle_data(&mut buf).expect("valid");
    buf.extend_from_slice(&frame[10..]);
    conn.handle_data(&mut buf).expect("valid");
    let parts = fragments(&mut conn);
    assert_eq!(parts.len(), 2);
    assert_eq!((parts[0].offset, parts[0].bytes_left), (0, 6));
    assert_eq!(parts[0].data, "0123");
    assert_eq!((parts[1].offset, parts[1].bytes_left), (4, 0));
    assert_eq!(parts[1].data, "456789");
    assert!(parts[1].is_message_end());
    assert!(!parts[0].is_message_end());
}

#[test]
fn last_frame_of_a_message_is_marked() {
    let mut conn = fragment_server();
    let mut bytes = client_frame(false, OpCode::Text, b"a");
    bytes.extend(client_frame(true, OpCode::Continuation, b"b"));
    feed(&mut conn, &bytes).expect("valid");
    let parts = fragments(&mut conn);
    assert_eq!(parts[0].kind, DataKind::Text);
    assert!(parts[0].is_first_frame && !parts[0].is_final_frame);
    assert_eq!(
        parts[1].kind,
        DataKind::Text,
        "continuations keep the message kind"
    );
    assert!(!parts[1].is_first_frame && parts[1].is_final_frame);
}

#[test]
fn frame_near_2_pow_63_streams_through_bounded_memory() {
    let len = (1u64 << 63) - 1;
    let mut conn = Connection::new(
        Role::Client,
        Config::default()
            .fragment_mode(true)
            .max_frame_size(u64::MAX),
    );
    let mut head = Vec::new();
    FrameHeader {
        fin: true,
        rsv: 0,
        opcode: OpCode::Binary,
        mask: None,
        payload_len: len,
    }
    .encode(&mut head);
    let mut buf = BytesMut::from(&head[..]);
    conn.handle_data(&mut buf).expect("header");
    let chunk = vec![0xAB; 64 << 10];
    let mut seen = 0u64;
    for _ in 0..64 {
        buf.extend_from_slice(&chunk);
        conn.handle_data(&mut buf).expect("payload");
        assert!(buf.is_empty(), "every byte is handed on at once");
        for part in fragments(&mut conn) {
            assert_eq!(part.offset, seen);
            seen += part.data.len() as u64;
            assert_eq!(part.bytes_left, len - seen);
        }
    }
    assert_eq!(seen, 64 * (64 << 10));
}

#[test]
fn fragment_mode_ignores_the_message_limit_but_not_the_frame_limit() {
    let mut conn = Connection::new(
        Role::Server,
        Config::default()
            .fragment_mode(true)
            .max_message_size(4)
            .max_frame_size(8),
    );
    feed(&mut conn, &client_frame(true, OpCode::Binary, b"12345678")).expect("under frame limit");
    assert!(feed(&mut conn, &client_frame(true, OpCode::Binary, b"123456789")).is_err());
}

#[test]
fn declared_frame_is_sent_in_parts() {
    let mut sender = Connection::new(Role::Client, Config::default());
    sender.start_frame(DataKind::Binary, 6, true).expect("open");
    sender
        .send_frame_data(Bytes::from_static(b"abc"))
        .expect("part");
    sender
        .send_frame_data(Bytes::from_static(b"def"))
        .expect("part");
    let (bytes, _) = transmit(&mut sender);
    let mut receiver = server();
    feed(&mut receiver, &bytes).expect("valid");
    assert_eq!(
        events(&mut receiver),
        vec![Event::Message(Message::binary("abcdef"))]
    );
}

#[test]
fn declared_frame_refuses_bytes_past_its_length() {
    let mut conn = client();
    conn.start_frame(DataKind::Binary, 2, true).expect("open");
    assert_eq!(
        conn.send_frame_data(Bytes::from_static(b"abc")),
        Err(UsageError::FrameOverrun(1))
    );
    assert_eq!(
        conn.send(Message::text("x")),
        Err(UsageError::FrameInProgress)
    );
}

#[test]
fn message_sent_as_several_frames_uses_continuations() {
    let mut conn = server();
    conn.send_frame(DataKind::Text, Bytes::from_static(b"He"), false)
        .expect("first");
    conn.send(Message::Ping(Bytes::from_static(b"p")))
        .expect("control between frames");
    assert_eq!(
        conn.send(Message::text("x")),
        Err(UsageError::MessageInProgress)
    );
    conn.send_frame(DataKind::Text, Bytes::from_static(b"llo"), true)
        .expect("last");
    let (bytes, _) = transmit(&mut conn);
    let opcodes: Vec<(OpCode, bool)> = parse_frames(&bytes)
        .iter()
        .map(|(h, _)| (h.opcode, h.fin))
        .collect();
    assert_eq!(
        opcodes,
        vec![
            (OpCode::Text, false),
            (OpCode::Ping, true),
            (OpCode::Continuation, true)
        ]
    );
    let mut receiver = client();
    feed(&mut receiver, &bytes).expect("valid");
    assert_eq!(
        events(&mut receiver),
        vec![
            Event::Message(Message::Ping("p".into())),
            Event::Message(Message::text("Hello"))
        ]
    );
}

#[test]
fn raw_mode_passes_bytes_untouched_both_ways() {
    let mut conn = Connection::new(Role::Client, Config::default().raw_mode(true));
    let wire = [0x81u8, 0x02, b'h', b'i', 0xFF];
    feed(&mut conn, &wire).expect("raw");
    assert_eq!(
        events(&mut conn),
        vec![Event::Raw(Bytes::copy_from_slice(&wire))]
    );
    conn.send_raw(Bytes::from_static(b"\x00\x01anything"))
        .expect("raw");
    assert_eq!(transmit(&mut conn).0, b"\x00\x01anything");
    assert_eq!(conn.send(Message::text("x")), Err(UsageError::WrongMode));
}

#[test]
fn encoded_frame_is_sent_as_is_by_a_server() {
    let frame = weft_proto::frame::EncodedFrame::server(&Message::text("to all"));
    let mut a = server();
    let mut b = server();
    a.send_encoded(&frame).expect("open");
    b.send_encoded(&frame).expect("open");
    let (bytes_a, _) = transmit(&mut a);
    assert_eq!(bytes_a, transmit(&mut b).0);
    let mut receiver = client();
    feed(&mut receiver, &bytes_a).expect("valid");
    assert_eq!(
        events(&mut receiver),
        vec![Event::Message(Message::text("to all"))]
    );
}

#[test]
fn a_client_cannot_send_an_unmasked_encoded_frame() {
    let frame = weft_proto::frame::EncodedFrame::server(&Message::text("x"));
    assert_eq!(client().send_encoded(&frame), Err(UsageError::WrongMode));
}
