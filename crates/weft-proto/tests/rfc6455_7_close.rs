//! RFC 6455 §5.5.1 and §7: close frames and the close handshake.

mod common;

use common::*;
use weft_proto::frame::OpCode;
use weft_proto::{CloseCode, Event, Message, ProtocolError, State, UsageError};

fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason);
    payload
}

#[test]
fn close_codes_not_allowed_on_the_wire_fail_with_1002() {
    let invalid = [
        0u16, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535,
    ];
    for code in invalid {
        let mut conn = server();
        let frame = client_frame(true, OpCode::Close, &close_payload(code, b""));
        assert_eq!(
            feed(&mut conn, &frame),
            Err(ProtocolError::InvalidCloseCode(code))
        );
        assert_eq!(close_code_sent(&mut conn), Some(1002), "code {code}");
    }
}

#[test]
fn allowed_close_codes_are_accepted() {
    for code in [
        1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
    ] {
        let mut conn = server();
        feed(
            &mut conn,
            &client_frame(true, OpCode::Close, &close_payload(code, b"")),
        )
        .expect("valid");
        assert_eq!(close_code_sent(&mut conn), Some(code));
    }
}

#[test]
fn one_byte_close_payload_fails_with_1002() {
    let mut conn = server();
    let err = feed(&mut conn, &client_frame(true, OpCode::Close, &[0x03])).unwrap_err();
    assert_eq!(err, ProtocolError::InvalidClosePayload);
    assert_eq!(close_code_sent(&mut conn), Some(1002));
}

#[test]
fn close_reason_that_is_not_utf8_fails_with_1007() {
    let mut conn = server();
    let frame = client_frame(
        true,
        OpCode::Close,
        &close_payload(1000, &[0xCE, 0xBA, 0xFF]),
    );
    assert_eq!(feed(&mut conn, &frame), Err(ProtocolError::InvalidUtf8));
    assert_eq!(close_code_sent(&mut conn), Some(1007));
}

#[test]
fn close_reason_over_123_bytes_is_refused_when_sending() {
    let mut conn = client();
    assert_eq!(
        conn.close(CloseCode::NORMAL, &"r".repeat(124)),
        Err(UsageError::CloseReasonTooLong(124))
    );
    assert_eq!(conn.state(), State::Open);
}

#[test]
fn sending_a_reserved_close_code_is_refused() {
    let mut conn = client();
    assert_eq!(
        conn.close(CloseCode::ABNORMAL, ""),
        Err(UsageError::InvalidCloseCode(1006))
    );
}

#[test]
fn peer_close_is_reported_and_echoed_with_its_code() {
    let mut conn = server();
    feed(
        &mut conn,
        &client_frame(true, OpCode::Close, &close_payload(4001, b"done")),
    )
    .expect("valid");
    let events = events(&mut conn);
    assert!(
        matches!(&events[..], [Event::Close(f)] if f.code.as_u16() == 4001 && f.reason == "done")
    );
    assert_eq!(conn.state(), State::CloseReceived);
    assert_eq!(close_code_sent(&mut conn), Some(4001));
    assert_eq!(conn.state(), State::Closed);
}

#[test]
fn empty_close_is_reported_as_1005_and_echoed_empty() {
    let mut conn = server();
    feed(&mut conn, &client_frame(true, OpCode::Close, b"")).expect("valid");
    assert!(matches!(&events(&mut conn)[..], [Event::Close(f)] if f.code == CloseCode::NO_STATUS));
    let (bytes, _) = transmit(&mut conn);
    let frames = parse_frames(&bytes);
    assert_eq!(frames[0].0.opcode, OpCode::Close);
    assert!(frames[0].1.is_empty());
}

#[test]
fn initiated_close_goes_open_close_sent_closed() {
    let mut conn = client();
    assert_eq!(conn.state(), State::Open);
    conn.close(CloseCode::NORMAL, "bye").expect("open");
    assert_eq!(conn.state(), State::CloseSent);
    let (bytes, _) = transmit(&mut conn);
    assert_eq!(
        written_close(&bytes).map(|f| f.reason),
        Some("bye".to_owned())
    );
    feed(
        &mut conn,
        &server_frame(true, OpCode::Close, &close_payload(1000, b"")),
    )
    .expect("valid");
    assert_eq!(conn.state(), State::Closed);
}

#[test]
fn no_data_may_be_sent_after_our_close() {
    let mut conn = client();
    conn.close(CloseCode::NORMAL, "").expect("open");
    assert_eq!(conn.send(Message::text("late")), Err(UsageError::Closed));
    assert_eq!(
        conn.send(Message::Ping("p".into())),
        Err(UsageError::Closed)
    );
}

#[test]
fn data_arriving_after_our_close_is_still_delivered() {
    let mut conn = client();
    conn.close(CloseCode::NORMAL, "").expect("open");
    feed(&mut conn, &server_frame(true, OpCode::Text, b"in flight")).expect("valid");
    assert_eq!(
        events(&mut conn),
        vec![Event::Message(Message::text("in flight"))]
    );
}

#[test]
fn ping_after_our_close_is_not_answered() {
    let mut conn = client();
    conn.close(CloseCode::NORMAL, "").expect("open");
    transmit(&mut conn);
    feed(&mut conn, &server_frame(true, OpCode::Ping, b"p")).expect("valid");
    assert_eq!(transmit(&mut conn), (Vec::new(), false));
}

#[test]
fn close_in_the_middle_of_a_fragmented_message_is_answered_normally() {
    // Autobahn 7.1.5: fragment, close, fragment: the close is echoed with 1000 and the
    // dangling fragment afterwards is ignored.
    let mut conn = server();
    let mut bytes = client_frame(false, OpCode::Text, b"frag1");
    bytes.extend(client_frame(true, OpCode::Close, &close_payload(1000, b"")));
    bytes.extend(client_frame(true, OpCode::Continuation, b"frag2"));
    feed(&mut conn, &bytes).expect("valid");
    assert!(matches!(&events(&mut conn)[..], [Event::Close(f)] if f.code == CloseCode::NORMAL));
    assert_eq!(close_code_sent(&mut conn), Some(1000));
}

#[test]
fn server_is_told_to_close_tcp_first() {
    let mut conn = server();
    feed(
        &mut conn,
        &client_frame(true, OpCode::Close, &close_payload(1000, b"")),
    )
    .expect("valid");
    let (_, shutdown) = transmit(&mut conn);
    assert!(shutdown);
}

#[test]
fn client_waits_for_the_server_to_close_tcp() {
    let mut conn = client();
    feed(
        &mut conn,
        &server_frame(true, OpCode::Close, &close_payload(1000, b"")),
    )
    .expect("valid");
    let (bytes, shutdown) = transmit(&mut conn);
    assert!(written_close(&bytes).is_some());
    assert!(!shutdown);
    assert_eq!(events(&mut conn).len(), 1, "the server's close");
    conn.handle_eof();
    assert!(
        events(&mut conn).is_empty(),
        "TCP closing after the handshake is no news"
    );
    assert_eq!(transmit(&mut conn), (Vec::new(), true));
}

#[test]
fn stream_ending_without_close_is_reported_as_1006() {
    let mut conn = server();
    feed(&mut conn, &client_frame(false, OpCode::Text, b"half")).expect("valid");
    conn.handle_eof();
    assert!(matches!(&events(&mut conn)[..], [Event::Close(f)] if f.code == CloseCode::ABNORMAL));
    assert_eq!(conn.state(), State::Closed);
}

#[test]
fn input_after_the_peer_close_is_ignored() {
    let mut conn = server();
    let mut bytes = client_frame(true, OpCode::Close, &close_payload(1000, b""));
    bytes.extend(client_frame(true, OpCode::Text, b"after"));
    feed(&mut conn, &bytes).expect("valid");
    assert_eq!(events(&mut conn).len(), 1);
}

#[test]
fn close_twice_is_a_no_op() {
    let mut conn = client();
    conn.close(CloseCode::NORMAL, "").expect("open");
    conn.close(CloseCode::GOING_AWAY, "").expect("idempotent");
    let (bytes, _) = transmit(&mut conn);
    assert_eq!(parse_frames(&bytes).len(), 1);
}

#[test]
fn peer_close_during_a_half_sent_frame_is_echoed_after_that_frame() {
    // §5.4: a control frame cannot go inside a frame; the echo waits for the frame's end,
    // even when everything queued before it has been written meanwhile.
    let mut conn = server();
    conn.start_frame(weft_proto::DataKind::Binary, 4, true)
        .expect("open");
    conn.send_frame_data(bytes::Bytes::from_static(b"ab"))
        .expect("part");
    let (first, _) = transmit(&mut conn);
    feed(
        &mut conn,
        &client_frame(true, OpCode::Close, &close_payload(1000, b"")),
    )
    .expect("valid");
    let (nothing, shutdown) = transmit(&mut conn);
    assert!(nothing.is_empty() && !shutdown, "no echo inside the frame");
    assert_ne!(conn.state(), State::Closed);
    conn.send_frame_data(bytes::Bytes::from_static(b"cd"))
        .expect("the frame may be finished");
    let (rest, shutdown) = transmit(&mut conn);
    let mut wire = first;
    wire.extend(rest);
    let frames = parse_frames(&wire);
    assert_eq!(frames[0].1, "abcd");
    assert_eq!(
        written_close(&wire).map(|f| f.code),
        Some(CloseCode::NORMAL)
    );
    assert!(shutdown);
    assert_eq!(conn.state(), State::Closed);
}
