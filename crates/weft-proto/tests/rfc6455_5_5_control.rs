//! RFC 6455 §5.5.2-§5.5.3: PING and PONG.

mod common;

use bytes::Bytes;
use common::*;
use weft_proto::frame::OpCode;
use weft_proto::message::DataKind;
use weft_proto::{Config, Connection, Event, MAX_UNSENT_PONGS, Message, Role, UsageError};

#[test]
fn ping_is_answered_with_a_pong_of_the_same_payload() {
    let mut conn = server();
    feed(
        &mut conn,
        &client_frame(true, OpCode::Ping, b"are you there"),
    )
    .expect("valid");
    let (bytes, _) = transmit(&mut conn);
    let frames = parse_frames(&bytes);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].0.opcode, OpCode::Pong);
    assert_eq!(frames[0].1, "are you there");
}

#[test]
fn ping_is_still_delivered_as_an_event() {
    let mut conn = server();
    feed(&mut conn, &client_frame(true, OpCode::Ping, b"x")).expect("valid");
    assert_eq!(
        events(&mut conn),
        vec![Event::Message(Message::Ping("x".into()))]
    );
}

#[test]
fn auto_pong_off_delivers_pings_and_sends_nothing() {
    let mut conn = Connection::new(Role::Server, Config::default().auto_pong(false));
    feed(&mut conn, &client_frame(true, OpCode::Ping, b"x")).expect("valid");
    assert_eq!(transmit(&mut conn), (Vec::new(), false));
    assert_eq!(
        events(&mut conn),
        vec![Event::Message(Message::Ping("x".into()))]
    );
    conn.send(Message::Pong("x".into()))
        .expect("caller replies itself");
    let (bytes, _) = transmit(&mut conn);
    assert_eq!(parse_frames(&bytes)[0].0.opcode, OpCode::Pong);
}

#[test]
fn unsolicited_pong_is_delivered_without_error() {
    let mut conn = client();
    feed(&mut conn, &server_frame(true, OpCode::Pong, b"beat")).expect("valid");
    assert_eq!(
        events(&mut conn),
        vec![Event::Message(Message::Pong("beat".into()))]
    );
    assert_eq!(transmit(&mut conn), (Vec::new(), false));
}

#[test]
fn sending_a_ping_over_125_bytes_is_refused() {
    let mut conn = client();
    assert_eq!(
        conn.send(Message::Ping(Bytes::from(vec![0; 126]))),
        Err(UsageError::ControlPayloadTooLong(126))
    );
    assert_eq!(transmit(&mut conn), (Vec::new(), false));
}

#[test]
fn pong_owed_during_a_half_sent_frame_follows_that_frame() {
    let mut conn = server();
    conn.start_frame(DataKind::Binary, 4, true).expect("open");
    conn.send_frame_data(Bytes::from_static(b"ab"))
        .expect("part");
    feed(&mut conn, &client_frame(true, OpCode::Ping, b"p")).expect("valid");
    conn.send_frame_data(Bytes::from_static(b"cd"))
        .expect("rest");
    let (bytes, _) = transmit(&mut conn);
    let frames = parse_frames(&bytes);
    assert_eq!(frames[0].1, "abcd");
    assert_eq!(frames[1].0.opcode, OpCode::Pong);
}

#[test]
fn split_receiver_owes_a_pong_before_earlier_events_are_taken() {
    // §5.5.2: a PONG goes out "as soon as is practical"; a message still waiting to be taken
    // must not hold it back.
    let (mut rx, _tx) = server().into_split();
    let mut bytes = client_frame(true, OpCode::Text, b"first");
    bytes.extend(client_frame(true, OpCode::Ping, b"hb"));
    rx.handle_data(&mut bytes::BytesMut::from(&bytes[..]))
        .expect("valid");
    assert!(matches!(
        rx.poll_reply(),
        Some(weft_proto::Reply::Pong(payload)) if payload == "hb"
    ));
}

#[test]
fn split_receiver_holds_a_failure_until_the_application_catches_up() {
    // The message before the bad frame may still be answered; the 1002 goes out after.
    let (mut rx, _tx) = server().into_split();
    let mut bytes = client_frame(true, OpCode::Text, b"first");
    bytes.extend(client_frame(true, OpCode::Continuation, b"stray"));
    assert!(
        rx.handle_data(&mut bytes::BytesMut::from(&bytes[..]))
            .is_err()
    );
    assert!(rx.poll_event().is_some());
    assert!(
        rx.poll_reply().is_none(),
        "the answer to `first` comes first"
    );
    assert!(rx.poll_event().is_none());
    assert!(
        matches!(rx.poll_reply(), Some(weft_proto::Reply::Fail(f)) if f.code == weft_proto::CloseCode::PROTOCOL_ERROR)
    );
}

fn pings(count: usize) -> Vec<u8> {
    (0..count)
        .flat_map(|n| client_frame(true, OpCode::Ping, n.to_string().as_bytes()))
        .collect()
}

fn pong_payloads(bytes: &[u8]) -> Vec<String> {
    parse_frames(bytes)
        .into_iter()
        .map(|(header, payload)| {
            assert_eq!(header.opcode, OpCode::Pong);
            String::from_utf8(payload.to_vec()).expect("ascii")
        })
        .collect()
}

#[test]
fn pings_past_the_unsent_pong_bound_get_one_pong_for_the_latest() {
    // §5.5.3: an endpoint may answer only the most recent of the PINGs it has not answered.
    let mut conn = server();
    feed(&mut conn, &pings(MAX_UNSENT_PONGS + 10)).expect("valid");
    assert_eq!(events(&mut conn).len(), MAX_UNSENT_PONGS + 10);
    let (bytes, _) = transmit(&mut conn);
    let mut expected: Vec<String> = (0..MAX_UNSENT_PONGS).map(|n| n.to_string()).collect();
    expected.push((MAX_UNSENT_PONGS + 9).to_string());
    assert_eq!(pong_payloads(&bytes), expected);
}

#[test]
fn a_peer_that_pings_and_never_reads_cannot_grow_the_write_queue() {
    let mut conn = server();
    let ping = client_frame(true, OpCode::Ping, &[7; 125]);
    for _ in 0..10_000 {
        feed(&mut conn, &ping).expect("valid");
        let _ = events(&mut conn);
    }
    // A PONG of 125 bytes is 127 on the wire.
    assert_eq!(conn.pending_transmit(), MAX_UNSENT_PONGS * 127);
}

#[test]
fn the_held_pong_is_queued_once_a_written_pong_makes_room() {
    let mut conn = server();
    feed(&mut conn, &pings(MAX_UNSENT_PONGS + 3)).expect("valid");
    let _ = events(&mut conn);
    let before = conn.pending_transmit();
    // The first PONG ("0") is 3 bytes on the wire.
    conn.advance_transmit(3);
    let mut slices = [std::io::IoSlice::new(&[]); 4];
    let filled = conn.transmit_slices(&mut slices);
    let queued: Vec<u8> = slices[..filled]
        .iter()
        .flat_map(|s| s.iter().copied())
        .collect();
    assert_eq!(
        queued.len(),
        before - 3 + 4,
        "PONG \"66\" queued in its place"
    );
    let payloads = pong_payloads(&queued);
    assert_eq!(payloads.first().map(String::as_str), Some("1"));
    assert_eq!(payloads.last(), Some(&(MAX_UNSENT_PONGS + 2).to_string()));
}
