//! RFC 7692 permessage-deflate: negotiation of every parameter, the codec on the wire, and
//! the limits that keep decompression bombs out.

mod common;

use bytes::{Bytes, BytesMut};
use common::*;
use weft_proto::extensions::deflate::{
    Deflate, DeflateConfig, DeflateNegotiationError, DeflateParams, client_accept, client_offer,
    server_negotiate,
};
use weft_proto::extensions::parse_extensions;
use weft_proto::frame::OpCode;
use weft_proto::message::DataKind;
use weft_proto::{Config, Connection, Event, Message, ProtocolError, Role};

fn params(takeover: bool, bits: u8) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: !takeover,
        client_no_context_takeover: !takeover,
        server_max_window_bits: bits,
        client_max_window_bits: bits,
    }
}

fn deflating(role: Role, p: DeflateParams, config: Config) -> Connection {
    let deflate = DeflateConfig {
        threshold: 16,
        ..DeflateConfig::default()
    };
    Connection::new(role, config).with_deflate(Deflate::new(role, p, &deflate))
}

fn negotiate(server: &DeflateConfig, offer: &str) -> Option<(DeflateParams, String)> {
    server_negotiate(server, &parse_extensions(offer).expect("valid header"))
}

// --- §7.1 negotiation ---------------------------------------------------------------------

#[test]
fn default_client_offer_is_the_plain_browser_offer() {
    assert_eq!(
        client_offer(&DeflateConfig::default()),
        "permessage-deflate; client_max_window_bits"
    );
}

#[test]
fn server_accepts_plain_offer_and_limits_its_own_and_the_clients_window() {
    let (p, answer) = negotiate(
        &DeflateConfig::default(),
        "permessage-deflate; client_max_window_bits",
    )
    .expect("accepted");
    assert_eq!(p.server_max_window_bits, 12);
    assert_eq!(p.client_max_window_bits, 12);
    assert_eq!(
        answer,
        "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
    );
}

#[test]
fn client_max_window_bits_is_not_answered_unless_offered() {
    let (p, answer) = negotiate(&DeflateConfig::default(), "permessage-deflate").expect("accepted");
    assert_eq!(
        p.client_max_window_bits, 15,
        "the client may use its full window"
    );
    assert!(!answer.contains("client_max_window_bits"));
}

#[test]
fn server_max_window_bits_request_is_honoured() {
    for bits in 8..=15u8 {
        let offer = format!("permessage-deflate; server_max_window_bits={bits}");
        let (p, _) = negotiate(&DeflateConfig::default(), &offer).expect("accepted");
        assert_eq!(p.server_max_window_bits, bits.min(12), "bits {bits}");
    }
}

#[test]
fn client_max_window_bits_value_is_honoured() {
    for bits in 8..=15u8 {
        let offer = format!("permessage-deflate; client_max_window_bits={bits}");
        let (p, answer) = negotiate(&DeflateConfig::default(), &offer).expect("accepted");
        assert_eq!(p.client_max_window_bits, bits.min(12));
        assert!(answer.contains(&format!("client_max_window_bits={}", bits.min(12))));
    }
}

#[test]
fn no_context_takeover_requests_are_granted() {
    let (p, answer) = negotiate(
        &DeflateConfig::default(),
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    )
    .expect("accepted");
    assert!(p.server_no_context_takeover && p.client_no_context_takeover);
    assert!(answer.contains("server_no_context_takeover"));
    assert!(answer.contains("client_no_context_takeover"));
}

#[test]
fn invalid_offers_are_declined_and_the_next_is_taken() {
    for bad in [
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; client_max_window_bits=abc",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; unknown_param",
    ] {
        assert_eq!(negotiate(&DeflateConfig::default(), bad), None, "{bad}");
        let with_fallback = format!("{bad}, permessage-deflate");
        assert!(
            negotiate(&DeflateConfig::default(), &with_fallback).is_some(),
            "{bad}"
        );
    }
}

#[test]
fn other_extensions_are_ignored() {
    assert_eq!(
        negotiate(&DeflateConfig::default(), "x-webkit-deflate-frame"),
        None
    );
    assert!(negotiate(&DeflateConfig::default(), "foo, permessage-deflate").is_some());
}

#[test]
fn client_accepts_every_answer_that_fits_its_offer() {
    let config = DeflateConfig::default();
    for answer in [
        "permessage-deflate",
        "permessage-deflate; server_no_context_takeover",
        "permessage-deflate; client_no_context_takeover",
        "permessage-deflate; server_max_window_bits=9",
        "permessage-deflate; client_max_window_bits=10",
    ] {
        let agreed = client_accept(&config, &parse_extensions(answer).expect("valid"));
        assert!(matches!(agreed, Ok(Some(_))), "{answer}: {agreed:?}");
    }
    let p = client_accept(
        &config,
        &parse_extensions("permessage-deflate; client_max_window_bits=10").expect("valid"),
    )
    .expect("fits")
    .expect("agreed");
    assert_eq!(p.client_max_window_bits, 10);
}

#[test]
fn client_rejects_answers_that_do_not_fit() {
    let config = DeflateConfig {
        request_no_context_takeover: true,
        ..DeflateConfig::default()
    };
    let kept = client_accept(
        &config,
        &parse_extensions("permessage-deflate").expect("valid"),
    );
    assert_eq!(kept, Err(DeflateNegotiationError::ContextTakeoverKept));
    let bare = client_accept(
        &DeflateConfig::default(),
        &parse_extensions("permessage-deflate; client_max_window_bits").expect("valid"),
    );
    assert!(matches!(
        bare,
        Err(DeflateNegotiationError::InvalidParameter(_))
    ));
    let twice = client_accept(
        &DeflateConfig::default(),
        &parse_extensions("permessage-deflate, permessage-deflate").expect("valid"),
    );
    assert_eq!(twice, Err(DeflateNegotiationError::Repeated));
}

#[test]
fn server_absent_answer_means_no_compression() {
    assert_eq!(client_accept(&DeflateConfig::default(), &[]), Ok(None));
}

// --- §6 and §7.2 on the wire ----------------------------------------------------------------

fn relay(from: &mut Connection, to: &mut Connection) -> Vec<Event> {
    let (bytes, _) = transmit(from);
    let mut buf = BytesMut::from(&bytes[..]);
    to.handle_data(&mut buf).expect("valid traffic");
    events(to)
}

#[test]
fn messages_round_trip_with_context_takeover_on_and_off() {
    for takeover in [true, false] {
        for bits in [9u8, 12, 15] {
            let p = params(takeover, bits);
            let mut client = deflating(Role::Client, p, Config::default());
            let mut server = deflating(Role::Server, p, Config::default());
            for i in 0..5 {
                let text = format!("{{\"seq\":{i},\"body\":\"{}\"}}", "lorem ipsum ".repeat(50));
                client.send(Message::text(text.as_str())).expect("open");
                assert_eq!(
                    relay(&mut client, &mut server),
                    vec![Event::Message(Message::text(text.as_str()))]
                );
                server
                    .send(Message::binary(text.clone().into_bytes()))
                    .expect("open");
                assert_eq!(
                    relay(&mut server, &mut client),
                    vec![Event::Message(Message::binary(text.into_bytes()))]
                );
            }
        }
    }
}

#[test]
fn compressed_message_has_rsv1_on_its_first_frame_only_and_is_smaller() {
    let p = params(true, 15);
    let mut server = deflating(Role::Server, p, Config::default());
    let payload = Bytes::from("abcabcabc".repeat(100));
    server
        .send_frame(DataKind::Text, payload.clone(), false)
        .expect("open");
    server
        .send_frame(DataKind::Text, payload.clone(), true)
        .expect("open");
    let (bytes, _) = transmit(&mut server);
    let frames = parse_frames(&bytes);
    assert_eq!(frames[0].0.rsv, 0b100);
    assert_eq!(frames[1].0.rsv, 0);
    assert!(bytes.len() < payload.len());
    let mut client = deflating(Role::Client, p, Config::default());
    let mut buf = BytesMut::from(&bytes[..]);
    client.handle_data(&mut buf).expect("valid");
    let whole = "abcabcabc".repeat(200);
    assert_eq!(
        events(&mut client),
        vec![Event::Message(Message::text(whole.as_str()))]
    );
}

#[test]
fn small_messages_below_the_threshold_go_uncompressed() {
    let mut server = deflating(Role::Server, params(true, 15), Config::default());
    server.send(Message::text("tiny")).expect("open");
    let (bytes, _) = transmit(&mut server);
    assert_eq!(parse_frames(&bytes)[0].0.rsv, 0);
}

#[test]
fn control_frames_are_never_compressed() {
    let mut server = deflating(Role::Server, params(true, 15), Config::default());
    server
        .send(Message::Ping(Bytes::from(vec![b'p'; 100])))
        .expect("open");
    let (bytes, _) = transmit(&mut server);
    assert_eq!(parse_frames(&bytes)[0].0.rsv, 0);
}

#[test]
fn rsv1_on_a_control_frame_fails_with_1002() {
    let mut server = deflating(Role::Server, params(true, 15), Config::default());
    let frame = raw_frame(true, 0b100, OpCode::Ping, Some([1, 2, 3, 4]), b"");
    assert_eq!(
        feed(&mut server, &frame),
        Err(ProtocolError::ReservedBits(0b100))
    );
    assert_eq!(close_code_sent(&mut server), Some(1002));
}

#[test]
fn rsv1_on_a_continuation_frame_fails_with_1002() {
    let mut server = deflating(Role::Server, params(true, 15), Config::default());
    let mut bytes = raw_frame(false, 0, OpCode::Text, Some([1, 2, 3, 4]), b"a");
    bytes.extend(raw_frame(
        true,
        0b100,
        OpCode::Continuation,
        Some([1, 2, 3, 4]),
        b"b",
    ));
    assert_eq!(
        feed(&mut server, &bytes),
        Err(ProtocolError::ReservedBits(0b100))
    );
}

#[test]
fn rsv1_without_negotiation_fails_with_1002() {
    let mut server = server();
    let frame = raw_frame(
        true,
        0b100,
        OpCode::Text,
        Some([1, 2, 3, 4]),
        &[0xf2, 0x48, 0x05, 0],
    );
    assert_eq!(
        feed(&mut server, &frame),
        Err(ProtocolError::ReservedBits(0b100))
    );
}

#[test]
fn rfc7692_7_2_3_1_frame_is_read_as_hello() {
    let mut client = deflating(Role::Client, params(true, 15), Config::default());
    let frame = [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    feed(&mut client, &frame).expect("valid");
    assert_eq!(
        events(&mut client),
        vec![Event::Message(Message::text("Hello"))]
    );
}

#[test]
fn rfc7692_7_2_3_1_fragmented_frames_are_read_as_hello() {
    // §7.2.3.1's second example: the compressed data split over two frames.
    let mut client = deflating(Role::Client, params(true, 15), Config::default());
    let bytes = [
        0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00,
    ];
    feed(&mut client, &bytes).expect("valid");
    assert_eq!(
        events(&mut client),
        vec![Event::Message(Message::text("Hello"))]
    );
}

#[test]
fn decompression_bomb_fails_with_1009_at_the_limit() {
    let p = params(true, 15);
    let limit = 1 << 20;
    let mut server = deflating(Role::Server, p, Config::default().max_message_size(limit));
    let mut sender = Connection::new(Role::Client, Config::default()).with_deflate(Deflate::new(
        Role::Client,
        p,
        &DeflateConfig {
            level: 9,
            threshold: 0,
            ..DeflateConfig::default()
        },
    ));
    sender
        .send(Message::binary(vec![0u8; 16 << 20]))
        .expect("open");
    let (bytes, _) = transmit(&mut sender);
    assert!(
        bytes.len() < 64 << 10,
        "a 16 MiB message fits in {} bytes",
        bytes.len()
    );
    let mut buf = BytesMut::from(&bytes[..]);
    assert_eq!(
        server.handle_data(&mut buf),
        Err(ProtocolError::MessageTooLarge { limit })
    );
    assert_eq!(close_code_sent(&mut server), Some(1009));
}

#[test]
fn corrupt_compressed_data_fails_with_1007() {
    let mut server = deflating(Role::Server, params(true, 15), Config::default());
    let frame = raw_frame(true, 0b100, OpCode::Binary, Some([1, 2, 3, 4]), &[0xff; 8]);
    assert!(matches!(
        feed(&mut server, &frame),
        Err(ProtocolError::Extension(_))
    ));
    assert_eq!(close_code_sent(&mut server), Some(1007));
}

#[test]
fn invalid_utf8_inside_compressed_text_fails_with_1007() {
    let p = params(true, 15);
    let mut sender = deflating(Role::Client, p, Config::default());
    sender
        .send_frame(DataKind::Text, Bytes::from(vec![0xffu8; 64]), true)
        .expect("open");
    let (bytes, _) = transmit(&mut sender);
    let mut server = deflating(Role::Server, p, Config::default());
    let mut buf = BytesMut::from(&bytes[..]);
    assert_eq!(
        server.handle_data(&mut buf),
        Err(ProtocolError::InvalidUtf8)
    );
}

#[test]
fn window_of_8_bits_is_negotiated_but_messages_go_uncompressed() {
    let p = params(true, 8);
    let mut server = deflating(Role::Server, p, Config::default());
    server
        .send(Message::text("x".repeat(500).as_str()))
        .expect("open");
    let (bytes, _) = transmit(&mut server);
    assert_eq!(parse_frames(&bytes)[0].0.rsv, 0);
    let mut client = deflating(Role::Client, p, Config::default());
    let mut buf = BytesMut::from(&bytes[..]);
    client.handle_data(&mut buf).expect("valid");
    assert_eq!(events(&mut client).len(), 1);
}

#[test]
fn fragment_mode_delivers_inflated_bytes() {
    let p = params(true, 15);
    let mut sender = deflating(Role::Server, p, Config::default());
    let text = "fragment ".repeat(100);
    sender.send(Message::text(text.as_str())).expect("open");
    let (bytes, _) = transmit(&mut sender);
    let mut client = deflating(Role::Client, p, Config::default().fragment_mode(true));
    let mut got = Vec::new();
    for chunk in bytes.chunks(7) {
        let mut buf = BytesMut::from(chunk);
        client.handle_data(&mut buf).expect("valid");
        for event in events(&mut client) {
            if let Event::Fragment(f) = event {
                got.extend_from_slice(&f.data);
            }
        }
    }
    assert_eq!(got, text.as_bytes());
}

fn noise(len: usize) -> Vec<u8> {
    // A cheap deterministic generator whose output deflate cannot shrink.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

#[test]
fn incompressible_message_is_sent_uncompressed() {
    let p = params(false, 15);
    let mut sender = deflating(Role::Server, p, Config::default());
    let data = noise(64 << 10);
    sender.send(Message::binary(data.clone())).expect("open");
    let (bytes, _) = transmit(&mut sender);
    assert_eq!(parse_frames(&bytes)[0].0.rsv, 0, "sent as it is");
    // The context stays usable: the next, compressible message still reads back.
    let text = "compress me ".repeat(100);
    sender.send(Message::text(text.as_str())).expect("open");
    let (more, _) = transmit(&mut sender);
    assert_eq!(parse_frames(&more)[0].0.rsv, 0b100);
    let mut receiver = deflating(Role::Client, p, Config::default());
    let mut buf = BytesMut::from(&bytes[..]);
    buf.extend_from_slice(&more);
    receiver.handle_data(&mut buf).expect("valid");
    assert_eq!(
        events(&mut receiver),
        vec![
            Event::Message(Message::binary(data)),
            Event::Message(Message::text(text.as_str()))
        ]
    );
}

#[test]
fn compressed_frame_a_little_over_the_frame_limit_is_accepted() {
    // Another implementation's deflate may grow incompressible data: a message within the
    // limits uncompressed is accepted although its compressed frame is larger.
    let p = params(true, 15);
    let limit = 1 << 20;
    let data = noise(limit);
    // Stored deflate blocks carry the data as it is, plus 5 bytes every 65 535.
    let mut compressed = Vec::new();
    for (i, block) in data.chunks(65_535).enumerate() {
        let last = (i + 1) * 65_535 >= data.len();
        compressed.push(u8::from(last));
        let len = block.len() as u16;
        compressed.extend_from_slice(&len.to_le_bytes());
        compressed.extend_from_slice(&(!len).to_le_bytes());
        compressed.extend_from_slice(block);
    }
    assert!(compressed.len() > limit);
    let frame = raw_frame(true, 0b100, OpCode::Binary, Some([1, 2, 3, 4]), &compressed);
    let config = Config::default()
        .max_message_size(limit)
        .max_frame_size(limit as u64);
    let mut receiver = deflating(Role::Server, p, config);
    feed(&mut receiver, &frame).expect("within the limits once inflated");
    assert_eq!(
        events(&mut receiver),
        vec![Event::Message(Message::binary(data))]
    );
}

/// Three messages of 48 KiB of zeros, compressed to a few hundred bytes together.
fn three_compressed_zero_messages(p: DeflateParams) -> Vec<u8> {
    let mut sender = deflating(Role::Client, p, Config::default());
    for _ in 0..3 {
        sender
            .send(Message::binary(vec![0u8; 48 << 10]))
            .expect("open");
    }
    let (bytes, _) = transmit(&mut sender);
    assert!(bytes.len() < 4 << 10, "{} bytes on the wire", bytes.len());
    bytes
}

#[test]
fn one_call_inflates_no_more_than_a_message_limit_and_leaves_the_rest_queued() {
    let p = params(true, 15);
    let mut server = deflating(
        Role::Server,
        p,
        Config::default().max_message_size(64 << 10),
    );
    let mut buf = BytesMut::from(&three_compressed_zero_messages(p)[..]);
    server.handle_data(&mut buf).expect("valid");
    assert_eq!(events(&mut server).len(), 2, "stops past 64 KiB inflated");
    assert!(server.has_backlog());
    assert!(!buf.is_empty(), "the third message is still in the buffer");

    server.handle_data(&mut buf).expect("valid");
    assert_eq!(
        events(&mut server),
        vec![Event::Message(Message::binary(vec![0u8; 48 << 10]))]
    );
    assert!(!server.has_backlog());
    assert!(buf.is_empty());
}

#[test]
fn fragment_mode_also_stops_after_a_message_limit_of_inflated_bytes() {
    let p = params(true, 15);
    let config = Config::default()
        .max_message_size(64 << 10)
        .fragment_mode(true);
    let mut server = deflating(Role::Server, p, config);
    let mut buf = BytesMut::from(&three_compressed_zero_messages(p)[..]);
    server.handle_data(&mut buf).expect("valid");
    let first: usize = fragment_bytes(&mut server);
    assert_eq!(first, 96 << 10);
    assert!(server.has_backlog());
    server.handle_data(&mut buf).expect("valid");
    assert_eq!(fragment_bytes(&mut server), 48 << 10);
    assert!(!server.has_backlog());
}

#[test]
fn fragment_mode_refuses_a_message_inflating_past_the_limit_however_it_is_split() {
    let p = params(true, 15);
    let limit = 64 << 10;
    let config = Config::default()
        .max_message_size(limit)
        .fragment_mode(true);
    let mut sender = deflating(Role::Client, p, Config::default());
    sender
        .send(Message::binary(vec![0u8; 256 << 10]))
        .expect("open");
    let (bytes, _) = transmit(&mut sender);
    for piece in [bytes.len(), 64, 7] {
        let mut server = deflating(Role::Server, p, config.clone());
        let mut result = Ok(());
        let mut buf = BytesMut::new();
        for chunk in bytes.chunks(piece) {
            buf.extend_from_slice(chunk);
            result = server.handle_data(&mut buf);
            while server.has_backlog() && result.is_ok() {
                result = server.handle_data(&mut buf);
            }
            if result.is_err() {
                break;
            }
        }
        assert_eq!(
            result,
            Err(ProtocolError::MessageTooLarge { limit }),
            "read in pieces of {piece} bytes"
        );
    }
}

fn fragment_bytes(conn: &mut Connection) -> usize {
    events(conn)
        .iter()
        .map(|event| match event {
            Event::Fragment(f) => f.data.len(),
            other => panic!("expected fragments, got {other:?}"),
        })
        .sum()
}

#[test]
fn small_compressed_messages_in_one_read_are_all_decoded_at_once() {
    let p = params(true, 15);
    let mut server = deflating(Role::Server, p, Config::default());
    let mut buf = BytesMut::from(&three_compressed_zero_messages(p)[..]);
    server.handle_data(&mut buf).expect("valid");
    assert_eq!(events(&mut server).len(), 3);
    assert!(!server.has_backlog());
}
