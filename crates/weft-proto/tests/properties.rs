//! Properties over arbitrary traffic: framing and byte boundaries never change what is
//! delivered.

mod common;

use bytes::{Bytes, BytesMut};
use common::*;
use proptest::prelude::*;
use weft_proto::message::DataKind;
use weft_proto::{Config, Connection, Event, Message, Role};

#[derive(Debug, Clone)]
enum Sent {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
}

fn sent() -> impl Strategy<Value = Sent> {
    prop_oneof![
        ".{0,40}".prop_map(Sent::Text),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(Sent::Binary),
        proptest::collection::vec(any::<u8>(), 0..125).prop_map(Sent::Ping),
    ]
}

/// Sends each message split into frames at `cuts`, and returns the wire bytes.
fn wire(role: Role, messages: &[Sent], cuts: &[usize]) -> Vec<u8> {
    let mut conn = Connection::new(role, Config::default());
    for (i, message) in messages.iter().enumerate() {
        let (kind, payload) = match message {
            Sent::Text(t) => (DataKind::Text, Bytes::copy_from_slice(t.as_bytes())),
            Sent::Binary(b) => (DataKind::Binary, Bytes::copy_from_slice(b)),
            Sent::Ping(p) => {
                conn.send(Message::Ping(Bytes::copy_from_slice(p)))
                    .expect("open");
                continue;
            }
        };
        let frames = 1 + cuts.get(i).copied().unwrap_or(0) % 4;
        let step = payload.len().div_ceil(frames).max(1);
        let mut start = 0;
        loop {
            let end = (start + step).min(payload.len());
            let last = end == payload.len();
            conn.send_frame(kind, payload.slice(start..end), last)
                .expect("open");
            if last {
                break;
            }
            start = end;
        }
    }
    transmit(&mut conn).0
}

fn expected(messages: &[Sent]) -> Vec<Event> {
    messages
        .iter()
        .map(|m| match m {
            Sent::Text(t) => Event::Message(Message::text(t.as_str())),
            Sent::Binary(b) => Event::Message(Message::binary(b.clone())),
            Sent::Ping(p) => Event::Message(Message::Ping(Bytes::copy_from_slice(p))),
        })
        .collect()
}

proptest! {
    #[test]
    fn any_framing_and_any_byte_splits_yield_the_same_messages(
        messages in proptest::collection::vec(sent(), 0..8),
        frame_cuts in proptest::collection::vec(any::<usize>(), 8),
        read_sizes in proptest::collection::vec(1usize..64, 1..16),
        client_sends in any::<bool>(),
    ) {
        let (from, to) = if client_sends { (Role::Client, Role::Server) } else { (Role::Server, Role::Client) };
        let bytes = wire(from, &messages, &frame_cuts);
        let mut receiver = Connection::new(to, Config::default());
        let mut buf = BytesMut::new();
        let mut rest = &bytes[..];
        let mut sizes = read_sizes.iter().cycle();
        while !rest.is_empty() {
            let n = (*sizes.next().unwrap_or(&1)).min(rest.len());
            buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            receiver.handle_data(&mut buf).expect("valid traffic");
        }
        prop_assert_eq!(events(&mut receiver), expected(&messages));
    }

    #[test]
    fn decoding_on_demand_yields_what_handle_data_queues(
        messages in proptest::collection::vec(sent(), 0..8),
        frame_cuts in proptest::collection::vec(any::<usize>(), 8),
        read_sizes in proptest::collection::vec(1usize..64, 1..16),
        takes in proptest::collection::vec(0usize..3, 1..16),
    ) {
        // Message mode: in fragment mode the parts handed on follow the reads, by design.
        let bytes = wire(Role::Client, &messages, &frame_cuts);
        let config = Config::default();
        let mut queued = Connection::new(Role::Server, config.clone());
        let mut buf = BytesMut::from(&bytes[..]);
        queued.handle_data(&mut buf).expect("valid traffic");
        let want = events(&mut queued);

        // Reads of arbitrary sizes, and between them the application takes 0-2 events: what
        // it has not taken stays in the buffer, undecoded, until it asks.
        let mut on_demand = Connection::new(Role::Server, config);
        let mut buf = BytesMut::new();
        let mut rest = &bytes[..];
        let mut sizes = read_sizes.iter().cycle();
        let mut takes = takes.iter().cycle();
        let mut got = Vec::new();
        while !rest.is_empty() {
            let n = (*sizes.next().unwrap_or(&1)).min(rest.len());
            buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            for _ in 0..*takes.next().unwrap_or(&1) {
                match on_demand.poll_event_from(&mut buf).expect("valid traffic") {
                    Some(event) => got.push(event),
                    None => break,
                }
            }
        }
        while let Some(event) = on_demand.poll_event_from(&mut buf).expect("valid traffic") {
            got.push(event);
        }
        prop_assert_eq!(got, want);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn decoding_on_demand_fails_where_handle_data_fails(
        data in proptest::collection::vec(any::<u8>(), 0..512),
        fragment_mode in any::<bool>(),
    ) {
        for role in [Role::Client, Role::Server] {
            let config = Config::default().fragment_mode(fragment_mode).max_message_size(256);
            let mut queued = Connection::new(role, config.clone());
            let result = queued.handle_data(&mut BytesMut::from(&data[..]));
            let want = events(&mut queued);

            let mut on_demand = Connection::new(role, config);
            let mut buf = BytesMut::from(&data[..]);
            let mut got = Vec::new();
            let error = loop {
                match on_demand.poll_event_from(&mut buf) {
                    Ok(Some(event)) => got.push(event),
                    Ok(None) => break None,
                    Err(e) => break Some(e),
                }
            };
            prop_assert_eq!(got, want, "the events before a bad frame are all delivered");
            prop_assert_eq!(error, result.err());
            let (sent, shutdown) = transmit(&mut on_demand);
            let (sent_queued, shutdown_queued) = transmit(&mut queued);
            prop_assert_eq!(written_close(&sent), written_close(&sent_queued), "the same close frame");
            prop_assert_eq!(shutdown, shutdown_queued);
        }
    }

    #[test]
    fn fragment_mode_reassembles_to_the_same_payloads(
        messages in proptest::collection::vec(sent(), 0..8),
        frame_cuts in proptest::collection::vec(any::<usize>(), 8),
        read_size in 1usize..64,
    ) {
        let bytes = wire(Role::Client, &messages, &frame_cuts);
        let mut receiver = Connection::new(Role::Server, Config::default().fragment_mode(true));
        let mut buf = BytesMut::new();
        for chunk in bytes.chunks(read_size) {
            buf.extend_from_slice(chunk);
            receiver.handle_data(&mut buf).expect("valid traffic");
        }
        let mut got = Vec::new();
        let mut current = Vec::new();
        for event in events(&mut receiver) {
            match event {
                Event::Fragment(f) => {
                    current.extend_from_slice(&f.data);
                    if f.is_message_end() {
                        got.push(std::mem::take(&mut current));
                    }
                }
                Event::Message(Message::Ping(_)) => {}
                other => prop_assert!(false, "unexpected {:?}", other),
            }
        }
        let want: Vec<Vec<u8>> = messages.iter().filter_map(|m| match m {
            Sent::Text(t) => Some(t.as_bytes().to_vec()),
            Sent::Binary(b) => Some(b.clone()),
            Sent::Ping(_) => None,
        }).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn arbitrary_bytes_never_panic_either_role(
        data in proptest::collection::vec(any::<u8>(), 0..512),
        split in any::<usize>(),
        fragment_mode in any::<bool>(),
    ) {
        for role in [Role::Client, Role::Server] {
            let mut conn = Connection::new(role, Config::default().fragment_mode(fragment_mode).max_message_size(256));
            let cut = split % (data.len() + 1);
            let mut buf = BytesMut::from(&data[..cut]);
            let first = conn.handle_data(&mut buf);
            buf.extend_from_slice(&data[cut..]);
            let second = conn.handle_data(&mut buf);
            while let Some(event) = conn.poll_event() {
                if let Event::Message(Message::Text(t)) = event {
                    prop_assert!(std::str::from_utf8(t.as_bytes()).is_ok());
                }
            }
            if first.is_err() || second.is_err() {
                // Closed once the events decoded before the bad frame have been taken.
                prop_assert!(conn.error().is_some());
                prop_assert_eq!(conn.state(), weft_proto::State::Closed);
            }
            transmit(&mut conn);
        }
    }
}
