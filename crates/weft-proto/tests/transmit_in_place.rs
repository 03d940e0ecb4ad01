//! Writing from the send queue in place: `transmit_slices` shows the queued bytes,
//! `advance_transmit` reports what the transport took, `take_shutdown` says when to close TCP.
//! The bytes on the wire must be exactly those `poll_transmit` would have handed out.

mod common;

use std::io::IoSlice;

use bytes::Bytes;
use common::*;
use weft_proto::frame::OpCode;
use weft_proto::{Connection, Message, State};

/// One write that takes at most `step` of the queued bytes, as a slow transport would.
fn write_once(conn: &mut Connection, step: usize) -> Vec<u8> {
    let mut slices = [IoSlice::new(&[]); 4];
    let filled = conn.transmit_slices(&mut slices);
    let taken: Vec<u8> = slices[..filled]
        .iter()
        .flat_map(|s| s.iter().copied())
        .take(step)
        .collect();
    conn.advance_transmit(taken.len());
    taken
}

/// Writes everything queued, at most `step` bytes per write.
fn write_in_steps(conn: &mut Connection, step: usize) -> Vec<u8> {
    let mut wire = Vec::new();
    while conn.pending_transmit() > 0 {
        wire.extend(write_once(conn, step));
    }
    wire
}

/// Feeds the peer's close `frame` and takes the event it makes.
fn receive_close(conn: &mut Connection, frame: Vec<u8>) {
    feed(conn, &frame).expect("a valid close frame");
    let _ = events(conn);
}

/// Small messages (copied next to their headers) and large ones (kept as their own chunks).
fn queue_mixed_messages(conn: &mut Connection) {
    for len in [3, 2000, 16, 600, 1] {
        conn.send(Message::binary(Bytes::from(vec![len as u8; len])))
            .expect("open connection takes messages");
    }
}

#[test]
fn queued_bytes_stay_until_reported_written() {
    let mut conn = server();
    conn.send(Message::text("hello")).unwrap();
    let first: Vec<u8> = {
        let mut slices = [IoSlice::new(&[]); 4];
        let filled = conn.transmit_slices(&mut slices);
        slices[..filled].iter().flat_map(|s| s.to_vec()).collect()
    };
    let again: Vec<u8> = {
        let mut slices = [IoSlice::new(&[]); 4];
        let filled = conn.transmit_slices(&mut slices);
        slices[..filled].iter().flat_map(|s| s.to_vec()).collect()
    };
    assert_eq!(first, b"\x81\x05hello");
    assert_eq!(again, first);
    assert_eq!(conn.pending_transmit(), 7);
}

#[test]
fn partial_writes_put_the_same_bytes_on_the_wire_as_poll_transmit() {
    let mut reference = server();
    queue_mixed_messages(&mut reference);
    let (expected, _) = transmit(&mut reference);
    for step in [1, 7, 512, 1 << 20] {
        let mut conn = server();
        queue_mixed_messages(&mut conn);
        assert_eq!(write_in_steps(&mut conn, step), expected, "step {step}");
    }
}

#[test]
fn frames_queued_between_partial_writes_follow_what_was_already_queued() {
    let mut reference = server();
    queue_mixed_messages(&mut reference);
    queue_mixed_messages(&mut reference);
    let (expected, _) = transmit(&mut reference);

    let mut conn = server();
    queue_mixed_messages(&mut conn);
    // Take 5 bytes (mid-frame), then queue more behind them.
    let mut wire = write_once(&mut conn, 5);
    queue_mixed_messages(&mut conn);
    wire.extend(write_in_steps(&mut conn, 300));
    assert_eq!(wire, expected);
}

#[test]
fn slices_past_the_callers_array_wait_for_the_next_write() {
    let mut conn = server();
    queue_mixed_messages(&mut conn);
    let mut two = [IoSlice::new(&[]); 2];
    assert_eq!(conn.transmit_slices(&mut two), 2);
    let shown: usize = two.iter().map(|s| s.len()).sum();
    assert!(shown < conn.pending_transmit());
}

#[test]
fn server_owes_the_tcp_shutdown_only_once_its_close_echo_is_written_7_1_1() {
    let mut conn = server();
    receive_close(
        &mut conn,
        client_frame(true, OpCode::Close, &1000u16.to_be_bytes()),
    );
    assert!(conn.pending_transmit() > 0, "the close echo is queued");
    assert!(!conn.take_shutdown(), "not before the echo is written");
    assert_eq!(conn.state(), State::CloseReceived);

    let echo = write_in_steps(&mut conn, 1);
    assert_eq!(
        echo,
        server_frame(true, OpCode::Close, &1000u16.to_be_bytes())
    );
    assert_eq!(conn.state(), State::Closed);
    assert!(conn.take_shutdown());
    assert!(!conn.take_shutdown(), "owed once");
}

#[test]
fn client_leaves_the_tcp_shutdown_to_the_server_7_1_1() {
    let mut conn = client();
    receive_close(
        &mut conn,
        server_frame(true, OpCode::Close, &1000u16.to_be_bytes()),
    );
    write_in_steps(&mut conn, 1 << 20);
    assert_eq!(conn.state(), State::Closed);
    assert!(!conn.take_shutdown());
}
