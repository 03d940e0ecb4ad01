//! The close handshake end to end (RFC 6455 §7.1).

use super::Pair;
use crate::{CloseCode, Event, Message, State};

fn close_codes(events: &[Event]) -> Vec<u16> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Close(f) => Some(f.code.as_u16()),
            _ => None,
        })
        .collect()
}

#[test]
fn client_initiated_close_completes_and_server_closes_tcp_first() {
    let mut pair = Pair::new();
    pair.client.close(CloseCode::NORMAL, "done").expect("open");
    pair.client_to_server();
    assert_eq!(close_codes(&pair.server_events()), vec![1000]);
    pair.server_to_client();
    assert_eq!(close_codes(&pair.client_events()), vec![1000]);
    assert_eq!(pair.server.state(), State::Closed);
    assert_eq!(pair.client.state(), State::Closed);
    assert!(pair.server_shutdown, "the server closes TCP first");
    pair.client_to_server();
    assert!(
        !pair.client_shutdown,
        "the client waits for the server's TCP close"
    );
    pair.deliver_shutdowns();
    pair.client_to_server();
    assert!(pair.client_shutdown);
    assert!(
        pair.client_events().is_empty(),
        "a clean close reports nothing more"
    );
}

#[test]
fn server_initiated_close_echoes_the_code() {
    let mut pair = Pair::new();
    pair.server
        .close(CloseCode::GOING_AWAY, "shutdown")
        .expect("open");
    pair.server_to_client();
    let events = pair.client_events();
    assert!(
        matches!(&events[..], [Event::Close(f)] if f.code == CloseCode::GOING_AWAY && f.reason == "shutdown")
    );
    pair.client_to_server();
    assert_eq!(close_codes(&pair.server_events()), vec![1001]);
    assert_eq!(pair.server.state(), State::Closed);
    pair.server_to_client();
    assert!(pair.server_shutdown);
}

#[test]
fn simultaneous_close_completes_on_both_sides() {
    let mut pair = Pair::new();
    pair.client.close(CloseCode::NORMAL, "c").expect("open");
    pair.server.close(CloseCode::GOING_AWAY, "s").expect("open");
    pair.client_to_server();
    pair.server_to_client();
    assert_eq!(close_codes(&pair.server_events()), vec![1000]);
    assert_eq!(close_codes(&pair.client_events()), vec![1001]);
    assert_eq!(pair.client.state(), State::Closed);
    assert_eq!(pair.server.state(), State::Closed);
}

#[test]
fn messages_queued_before_close_are_delivered_before_it() {
    let mut pair = Pair::new();
    pair.server.send(Message::text("last words")).expect("open");
    pair.server.close(CloseCode::NORMAL, "").expect("open");
    pair.server_to_client();
    let events = pair.client_events();
    assert_eq!(events[0], Event::Message(Message::text("last words")));
    assert_eq!(close_codes(&events[1..]), vec![1000]);
}

#[test]
fn ping_round_trip_between_the_pair() {
    let mut pair = Pair::new();
    pair.client.send(Message::Ping("rtt".into())).expect("open");
    pair.client_to_server();
    pair.server_to_client();
    assert_eq!(
        pair.client_events(),
        vec![Event::Message(Message::Pong("rtt".into()))]
    );
}

#[test]
fn lost_connection_is_reported_as_1006_on_both_sides() {
    let mut pair = Pair::new();
    pair.client.handle_eof();
    pair.server.handle_eof();
    assert_eq!(close_codes(&pair.client_events()), vec![1006]);
    assert_eq!(close_codes(&pair.server_events()), vec![1006]);
}
