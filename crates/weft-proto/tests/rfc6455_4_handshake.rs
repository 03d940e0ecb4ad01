//! RFC 6455 §4, the opening handshake, and §9.1, the extension header grammar, tested through
//! the public API only.

use bytes::BytesMut;
use http::{HeaderName, HeaderValue, StatusCode};
use weft_proto::extensions::{ExtensionHeaderError, ExtensionOffer, parse_extensions};
use weft_proto::handshake::client::{ClientAccepted, ClientHandshake, ClientRequest, RequestError};
use weft_proto::handshake::server::{
    Accept, ServerHandshake, UpgradeRequest, reject, reject_response,
};
use weft_proto::handshake::{accept_key, generate_key};
use weft_proto::{HandshakeError, Limits};

/// The key of the RFC's example handshake (§1.3).
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// A valid request head without its final blank line, so tests can add fields.
const REQUEST: &str = "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\n";

fn serve_with(head: &str, limits: &Limits) -> Result<Option<UpgradeRequest>, HandshakeError> {
    ServerHandshake::new(limits).handle_request(&mut BytesMut::from(head))
}

fn serve(head: &str) -> Result<Option<UpgradeRequest>, HandshakeError> {
    serve_with(head, &Limits::DEFAULT)
}

fn accepted(head: &str) -> UpgradeRequest {
    match serve(head) {
        Ok(Some(request)) => request,
        other => panic!("expected a valid request, got {other:?}"),
    }
}

fn refused(head: &str) -> HandshakeError {
    match serve(head) {
        Err(error) => error,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The refusal of [`REQUEST`] with `from` replaced by `to`.
fn refused_replacing(from: &str, to: &str) -> HandshakeError {
    refused(&format!("{}\r\n", REQUEST.replacen(from, to, 1)))
}

fn request_error(request: ClientRequest) -> RequestError {
    ClientHandshake::new(request, &Limits::DEFAULT).expect_err("an invalid client request")
}

fn client(request: ClientRequest) -> ClientHandshake {
    ClientHandshake::new(request, &Limits::DEFAULT).expect("valid client request")
}

fn request_text(request: ClientRequest) -> String {
    String::from_utf8(client(request).request_bytes().to_vec()).expect("ASCII request")
}

fn plain_client() -> ClientHandshake {
    client(ClientRequest::new(
        "server.example.com",
        None,
        "/chat",
        false,
    ))
}

/// A 101 response for `client`'s key, without its final blank line.
fn switching(client: &ClientHandshake) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n",
        accept_key(client.key())
    )
}

fn client_accepted(client: &mut ClientHandshake, response: &str) -> ClientAccepted {
    match client.handle_response(&mut BytesMut::from(response)) {
        Ok(Some(accepted)) => accepted,
        other => panic!("expected an accepted response, got {other:?}"),
    }
}

fn client_error(client: &mut ClientHandshake, response: &str) -> HandshakeError {
    match client.handle_response(&mut BytesMut::from(response)) {
        Err(error) => error,
        other => panic!("expected a client error, got {other:?}"),
    }
}

// §1.3 and §4.2.2: the accept key.

#[test]
fn rfc_example_key_yields_rfc_example_accept() {
    assert_eq!(accept_key(KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

#[test]
fn generated_keys_are_fresh_base64_of_16_bytes() {
    let key = generate_key();
    assert_eq!(key.len(), 24);
    assert!(key.ends_with("=="));
    assert_ne!(key, generate_key());
}

// §4.1: the client's request.

#[test]
fn client_request_carries_every_required_field_in_order() {
    let handshake = plain_client();
    let expected = format!(
        "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n\r\n",
        handshake.key()
    );
    assert_eq!(&handshake.request_bytes()[..], expected.as_bytes());
}

#[test]
fn client_request_puts_non_default_port_in_host() {
    assert!(
        request_text(ClientRequest::new("example.com", Some(8443), "/", true))
            .starts_with("GET / HTTP/1.1\r\nHost: example.com:8443\r\n")
    );
}

#[test]
fn client_request_omits_default_port_from_host() {
    assert!(
        request_text(ClientRequest::new("example.com", Some(443), "/", true))
            .starts_with("GET / HTTP/1.1\r\nHost: example.com\r\n")
    );
}

#[test]
fn client_request_brackets_ipv6_literal_host() {
    assert!(
        request_text(ClientRequest::new("::1", Some(9001), "/", false))
            .starts_with("GET / HTTP/1.1\r\nHost: [::1]:9001\r\n")
    );
}

#[test]
fn client_request_lists_origin_protocols_and_extensions() {
    let request = ClientRequest::new("example.com", None, "/chat?x=1", false)
        .origin("http://example.com")
        .protocol("superchat")
        .protocol("chat")
        .extension("permessage-deflate; client_max_window_bits")
        .extension("x-other")
        .header(
            HeaderName::from_static("authorization"),
            HeaderValue::from_static("Bearer t"),
        );
    let text = request_text(request);
    assert!(text.starts_with("GET /chat?x=1 HTTP/1.1\r\n"));
    assert!(text.contains("\r\nOrigin: http://example.com\r\n"));
    assert!(text.contains("\r\nSec-WebSocket-Protocol: superchat, chat\r\n"));
    assert!(text.contains(
        "\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-other\r\n"
    ));
    assert!(text.ends_with("\r\nauthorization: Bearer t\r\n\r\n"));
}

#[test]
fn client_request_refuses_extra_header_that_overrides_a_handshake_field() {
    let request = ClientRequest::new("example.com", None, "/", false).header(
        HeaderName::from_static("sec-websocket-key"),
        HeaderValue::from_static("x"),
    );
    assert!(matches!(
        request_error(request),
        RequestError::ReservedHeader(_)
    ));
}

#[test]
fn client_request_refuses_host_that_could_inject_headers() {
    let request = ClientRequest::new("example.com\r\nX-Evil: 1", None, "/", false);
    assert!(matches!(
        request_error(request),
        RequestError::InvalidHost(_)
    ));
}

#[test]
fn client_request_percent_encodes_path_bytes_that_would_break_the_request_line() {
    assert!(
        request_text(ClientRequest::new("a", None, "/a b\r\nX: y#f", false))
            .starts_with("GET /a%20b%0D%0AX:%20y%23f HTTP/1.1\r\n")
    );
}

// §4.2.1: the server reads the client's request.

#[test]
fn server_accepts_rfc_example_request_and_exposes_its_fields() {
    let request = accepted(&format!(
        "{REQUEST}Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n\r\n"
    ));
    assert_eq!(request.path(), "/chat");
    assert_eq!(request.query(), None);
    assert_eq!(request.host(), "server.example.com");
    assert_eq!(request.origin(), Some("http://example.com"));
    assert_eq!(request.key(), KEY);
    assert_eq!(request.protocols(), ["chat", "superchat"]);
    assert!(request.extensions().is_empty());
}

#[test]
fn server_matches_upgrade_and_connection_tokens_case_insensitively() {
    let head = REQUEST
        .replace("Upgrade: websocket", "upgrade: WebSocket")
        .replace("Connection: Upgrade", "Connection: keep-alive, UPGRADE");
    assert!(matches!(serve(&format!("{head}\r\n")), Ok(Some(_))));
}

#[test]
fn server_rejects_non_get_with_400() {
    let error = refused_replacing("GET", "POST");
    assert!(matches!(error, HandshakeError::MethodNotGet(_)));
    assert_eq!(error.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn server_rejects_http_1_0_with_400() {
    let error = refused_replacing("HTTP/1.1", "HTTP/1.0");
    assert!(matches!(error, HandshakeError::HttpVersionTooOld(_)));
    assert_eq!(error.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn server_rejects_missing_host_with_400() {
    let error = refused_replacing("Host: server.example.com\r\n", "");
    assert_eq!(error, HandshakeError::MissingHost);
    assert_eq!(error.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn server_rejects_upgrade_other_than_websocket_with_400() {
    let error = refused_replacing("websocket", "h2c");
    assert_eq!(error, HandshakeError::UpgradeNotWebSocket);
    assert_eq!(error.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn server_rejects_connection_without_upgrade_token_with_400() {
    let error = refused_replacing("Connection: Upgrade", "Connection: keep-alive, upgraded");
    assert_eq!(error, HandshakeError::ConnectionNotUpgrade);
    assert_eq!(error.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn server_rejects_missing_key_with_400() {
    let error = refused_replacing(&format!("Sec-WebSocket-Key: {KEY}\r\n"), "");
    assert_eq!(error, HandshakeError::MissingKey);
    assert_eq!(error.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn server_rejects_key_not_16_bytes_with_400() {
    // 15 bytes, 17 bytes, and something that is not base64 at all.
    for key in [
        "dGhlIHNhbXBsZSBub25j",
        "dGhlIHNhbXBsZSBub25jZSE=",
        "not base64 at all!!!!!!=",
    ] {
        let error = refused_replacing(KEY, key);
        assert_eq!(error, HandshakeError::InvalidKey, "{key}");
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
    }
}

#[test]
fn server_rejects_wrong_version_with_426_and_version_header() {
    let error = refused_replacing("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8");
    assert_eq!(error, HandshakeError::UnsupportedVersion);
    assert_eq!(error.status(), StatusCode::UPGRADE_REQUIRED);
    let response = reject(&error);
    let text = std::str::from_utf8(&response).expect("ASCII response");
    assert!(text.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
    assert!(
        text.to_ascii_lowercase()
            .contains("\r\nsec-websocket-version: 13\r\n")
    );
}

#[test]
fn server_answers_another_version_with_426_whatever_its_key() {
    let head = REQUEST
        .replacen("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8", 1)
        .replacen(KEY, "a key of another version's form", 1);
    let error = refused(&format!("{head}\r\n"));
    assert_eq!(error, HandshakeError::UnsupportedVersion);
    assert_eq!(error.status(), StatusCode::UPGRADE_REQUIRED);
}

#[test]
fn server_rejects_missing_version_with_400() {
    let error = refused_replacing("Sec-WebSocket-Version: 13\r\n", "");
    assert_eq!(error, HandshakeError::MissingVersion);
    assert_eq!(error.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn server_rejects_repeated_version_with_426() {
    let error = refused_replacing(
        "Sec-WebSocket-Version: 13\r\n",
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 8\r\n",
    );
    assert_eq!(error, HandshakeError::UnsupportedVersion);
}

#[test]
fn server_rejects_malformed_http_with_400() {
    let error = refused("GET /chat HTTP/1.1\r\nHost example.com\r\n\r\n");
    assert!(matches!(error, HandshakeError::MalformedRequest(_)));
    assert_eq!(error.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn server_rejects_oversized_head_with_431() {
    let padding = "x".repeat(Limits::DEFAULT.max_header_bytes);
    let error = refused(&format!("{REQUEST}X-Padding: {padding}\r\n\r\n"));
    assert!(matches!(error, HandshakeError::RequestTooLarge { .. }));
    assert_eq!(error.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
}

#[test]
fn server_refuses_unfinished_head_as_soon_as_it_passes_the_limit() {
    let limits = Limits::DEFAULT;
    let mut handshake = ServerHandshake::new(&limits);
    let mut buf = BytesMut::from(REQUEST);
    buf.resize(limits.max_header_bytes, b'x');
    assert!(matches!(handshake.handle_request(&mut buf), Ok(None)));
    buf.extend_from_slice(b"x");
    assert!(matches!(
        handshake.handle_request(&mut buf),
        Err(HandshakeError::RequestTooLarge { .. })
    ));
}

#[test]
fn server_rejects_too_many_headers_with_431() {
    let limits = Limits::DEFAULT;
    let extra: String = (0..limits.max_headers)
        .map(|i| format!("X-{i}: 1\r\n"))
        .collect();
    let error = refused(&format!("{REQUEST}{extra}\r\n"));
    assert!(matches!(error, HandshakeError::TooManyHeaders { .. }));
    assert_eq!(error.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
}

#[test]
fn server_reads_protocols_from_comma_lists_and_repeated_fields() {
    let request = accepted(&format!(
        "{REQUEST}Sec-WebSocket-Protocol: a, b\r\nSec-WebSocket-Protocol: c\r\n\r\n"
    ));
    assert_eq!(request.protocols(), ["a", "b", "c"]);
}

#[test]
fn server_chooses_protocol_in_its_own_order_matching_exactly() {
    let request = accepted(&format!(
        "{REQUEST}Sec-WebSocket-Protocol: chat, superchat\r\n\r\n"
    ));
    assert_eq!(
        request.choose_protocol(&["superchat", "chat"]),
        Some("superchat")
    );
    assert_eq!(request.choose_protocol(&["CHAT", "other"]), None);
}

#[test]
fn server_reads_extension_offers_from_every_field() {
    let request = accepted(&format!(
        "{REQUEST}Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
         Sec-WebSocket-Extensions: x-unknown\r\n\r\n"
    ));
    let names: Vec<&str> = request
        .extensions()
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(names, ["permessage-deflate", "x-unknown"]);
}

#[test]
fn server_leaves_origin_policy_to_the_layer_above() {
    let request = accepted(&format!("{REQUEST}Origin: https://evil.example\r\n\r\n"));
    assert_eq!(request.origin(), Some("https://evil.example"));
}

// §4.2.2: the server's answer.

#[test]
fn server_accept_answers_101_with_accept_key_and_chosen_protocol() {
    let request = accepted(&format!(
        "{REQUEST}Sec-WebSocket-Protocol: chat, superchat\r\n\r\n"
    ));
    let response = request.accept(Accept::new().protocol(request.choose_protocol(&["chat"])));
    assert_eq!(
        &response[..],
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
    );
}

#[test]
fn policy_refusals_map_to_403_and_404() {
    assert_eq!(
        HandshakeError::OriginRefused.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        HandshakeError::SecureRequired.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(HandshakeError::PathNotFound.status(), StatusCode::NOT_FOUND);
    assert!(reject(&HandshakeError::PathNotFound).starts_with(b"HTTP/1.1 404 Not Found\r\n"));
}

#[test]
fn rejection_closes_the_connection_and_frames_a_text_body() {
    let response = reject(&HandshakeError::MissingKey);
    let text = std::str::from_utf8(&response).expect("ASCII response");
    let (head, body) = text.split_once("\r\n\r\n").expect("complete response");
    assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"));
    assert!(head.contains("\r\nConnection: close"));
    assert!(head.contains("\r\nContent-Type: text/plain"));
    assert!(head.contains(&format!("\r\nContent-Length: {}", body.len())));
    assert!(body.contains("Sec-WebSocket-Key"));
}

// §4.1: the client checks the server's response.

#[test]
fn client_accepts_matching_101() {
    let mut handshake = plain_client();
    let response = format!("{}\r\n", switching(&handshake));
    let accepted = client_accepted(&mut handshake, &response);
    assert_eq!(accepted.response.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(accepted.subprotocol, None);
    assert!(accepted.extensions.is_empty());
}

#[test]
fn client_rejects_non_101_even_2xx() {
    let mut handshake = plain_client();
    let mut buf = BytesMut::from("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Why: no\r\n\r\nhello");
    match handshake.handle_response(&mut buf) {
        Err(HandshakeError::UnexpectedStatus {
            status,
            headers,
            body_start,
        }) => {
            assert_eq!(status, StatusCode::OK);
            assert_eq!(headers.get("x-why").map(|v| v.as_bytes()), Some(&b"no"[..]));
            assert_eq!(&body_start[..], b"hello");
        }
        other => panic!("expected UnexpectedStatus, got {other:?}"),
    }
    assert_eq!(&buf[..], b"hello", "the body stays in the buffer");
}

#[test]
fn client_keeps_at_most_1_kib_of_an_unexpected_body() {
    let mut handshake = plain_client();
    let response = format!(
        "HTTP/1.1 500 Internal Server Error\r\n\r\n{}",
        "e".repeat(4096)
    );
    match client_error(&mut handshake, &response) {
        HandshakeError::UnexpectedStatus { body_start, .. } => assert_eq!(body_start.len(), 1024),
        other => panic!("expected UnexpectedStatus, got {other:?}"),
    }
}

#[test]
fn client_rejects_bad_accept() {
    let mut handshake = plain_client();
    let response = format!(
        "{}\r\n",
        switching(&handshake).replace(&accept_key(handshake.key()), &accept_key(KEY))
    );
    assert_eq!(
        client_error(&mut handshake, &response),
        HandshakeError::AcceptMismatch
    );
}

#[test]
fn client_rejects_missing_accept() {
    let mut handshake = plain_client();
    let response =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    assert_eq!(
        client_error(&mut handshake, response),
        HandshakeError::AcceptMismatch
    );
}

#[test]
fn client_rejects_101_without_websocket_upgrade() {
    let mut handshake = plain_client();
    let response = format!(
        "{}\r\n",
        switching(&handshake).replace("Upgrade: websocket\r\n", "")
    );
    assert_eq!(
        client_error(&mut handshake, &response),
        HandshakeError::MissingUpgrade
    );
}

#[test]
fn client_rejects_101_without_connection_upgrade() {
    let mut handshake = plain_client();
    let response = format!(
        "{}\r\n",
        switching(&handshake).replace("Connection: Upgrade", "Connection: close")
    );
    assert_eq!(
        client_error(&mut handshake, &response),
        HandshakeError::MissingConnectionUpgrade
    );
}

#[test]
fn client_accepts_offered_subprotocol() {
    let mut handshake = client(ClientRequest::new("a", None, "/", false).protocol("chat"));
    let response = format!(
        "{}Sec-WebSocket-Protocol: chat\r\n\r\n",
        switching(&handshake)
    );
    let accepted = client_accepted(&mut handshake, &response);
    assert_eq!(accepted.subprotocol.as_deref(), Some("chat"));
}

#[test]
fn client_rejects_unoffered_subprotocol() {
    let mut handshake = client(ClientRequest::new("a", None, "/", false).protocol("chat"));
    let response = format!(
        "{}Sec-WebSocket-Protocol: Chat\r\n\r\n",
        switching(&handshake)
    );
    assert_eq!(
        client_error(&mut handshake, &response),
        HandshakeError::UnofferedSubprotocol("Chat".into())
    );
}

#[test]
fn client_rejects_more_than_one_subprotocol() {
    let mut handshake = client(
        ClientRequest::new("a", None, "/", false)
            .protocol("a")
            .protocol("b"),
    );
    let response = format!(
        "{}Sec-WebSocket-Protocol: a, b\r\n\r\n",
        switching(&handshake)
    );
    assert_eq!(
        client_error(&mut handshake, &response),
        HandshakeError::MultipleSubprotocols
    );
}

#[test]
fn client_accepts_offered_extension_with_its_parameters() {
    let mut handshake =
        client(ClientRequest::new("a", None, "/", false).extension("permessage-deflate"));
    let response = format!(
        "{}Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n\r\n",
        switching(&handshake)
    );
    let accepted = client_accepted(&mut handshake, &response);
    assert_eq!(
        accepted.extensions,
        [
            ExtensionOffer::new("permessage-deflate")
                .with_param("server_no_context_takeover", None)
        ]
    );
}

#[test]
fn client_rejects_unoffered_extension() {
    let mut handshake = plain_client();
    let response = format!(
        "{}Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
        switching(&handshake)
    );
    assert_eq!(
        client_error(&mut handshake, &response),
        HandshakeError::UnofferedExtension("permessage-deflate".into())
    );
}

#[test]
fn client_rejects_oversized_response() {
    let limits = Limits::DEFAULT;
    let mut handshake = ClientHandshake::new(ClientRequest::new("a", None, "/", false), &limits)
        .expect("valid request");
    let response = format!(
        "{}X-Padding: {}\r\n\r\n",
        switching(&handshake),
        "x".repeat(limits.max_header_bytes)
    );
    assert_eq!(
        client_error(&mut handshake, &response),
        HandshakeError::ResponseTooLarge
    );
}

// Both sides: buffering.

#[test]
fn leftover_bytes_after_head_stay_in_buffer() {
    let frame = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
    let mut buf = BytesMut::from(format!("{REQUEST}\r\n").as_str());
    buf.extend_from_slice(frame);
    let request = ServerHandshake::new(&Limits::DEFAULT).handle_request(&mut buf);
    assert!(matches!(request, Ok(Some(_))));
    assert_eq!(&buf[..], frame);

    let mut handshake = plain_client();
    let mut buf = BytesMut::from(format!("{}\r\n", switching(&handshake)).as_str());
    buf.extend_from_slice(b"\x81\x05hello");
    assert!(matches!(handshake.handle_response(&mut buf), Ok(Some(_))));
    assert_eq!(&buf[..], b"\x81\x05hello");
}

#[test]
fn head_split_at_every_byte_parses_the_same() {
    let whole = format!("{REQUEST}Sec-WebSocket-Protocol: chat\r\n\r\nrest");
    let expected = accepted(&whole);
    for split in 0..whole.len() {
        let mut handshake = ServerHandshake::new(&Limits::DEFAULT);
        let mut buf = BytesMut::from(&whole.as_bytes()[..split]);
        let first = handshake.handle_request(&mut buf).expect("valid prefix");
        let request = match first {
            Some(request) => {
                buf.extend_from_slice(&whole.as_bytes()[split..]);
                request
            }
            None => {
                buf.extend_from_slice(&whole.as_bytes()[split..]);
                handshake
                    .handle_request(&mut buf)
                    .expect("valid")
                    .expect("complete")
            }
        };
        assert_eq!(
            request.request().headers(),
            expected.request().headers(),
            "split at {split}"
        );
        assert_eq!(request.protocols(), expected.protocols());
        assert_eq!(&buf[..], b"rest", "split at {split}");
    }
}

#[test]
fn head_fed_one_byte_at_a_time_parses_the_same() {
    let mut handshake = plain_client();
    let response = format!("{}\r\n", switching(&handshake));
    let mut buf = BytesMut::new();
    let mut accepted = None;
    for &byte in response.as_bytes() {
        assert!(accepted.is_none(), "completed before the last byte");
        buf.extend_from_slice(&[byte]);
        accepted = handshake.handle_response(&mut buf).expect("valid prefix");
    }
    assert!(accepted.is_some());
    assert!(buf.is_empty());
}

#[test]
fn client_and_server_complete_a_handshake_together() {
    let mut client = client(
        ClientRequest::new("example.com", None, "/chat", false)
            .protocol("v2")
            .protocol("v1")
            .extension("x-webkit-deflate-frame"),
    );
    let mut wire = BytesMut::from(&client.request_bytes()[..]);
    let request = ServerHandshake::new(&Limits::DEFAULT)
        .handle_request(&mut wire)
        .expect("valid request")
        .expect("complete request");
    let extensions = HeaderValue::from_str(&request.extensions()[0].to_string()).expect("token");
    let response = request.accept(
        Accept::new()
            .protocol(request.choose_protocol(&["v1", "v2"]))
            .extensions(extensions),
    );
    let accepted = client
        .handle_response(&mut BytesMut::from(&response[..]))
        .expect("valid response")
        .expect("complete response");
    assert_eq!(accepted.subprotocol.as_deref(), Some("v1"));
    assert_eq!(accepted.extensions[0].name, "x-webkit-deflate-frame");
}

// §9.1: the Sec-WebSocket-Extensions grammar.

#[test]
fn extension_grammar_reads_quoted_values() {
    let offers = parse_extensions("permessage-deflate; client_max_window_bits=\"15\"")
        .expect("valid header");
    assert_eq!(offers[0].param("client_max_window_bits"), Some(Some("15")));
}

#[test]
fn extension_grammar_reads_several_offers_in_order() {
    let offers = parse_extensions(
        "permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate",
    )
    .expect("valid header");
    assert_eq!(offers.len(), 2);
    assert_eq!(offers[0].params.len(), 2);
    assert!(offers[1].params.is_empty());
}

#[test]
fn extension_grammar_keeps_unknown_extensions_as_offers() {
    let offers = parse_extensions("x-foo; bar=baz").expect("valid header");
    assert_eq!(
        offers,
        [ExtensionOffer::new("x-foo").with_param("bar", Some("baz"))]
    );
}

#[test]
fn extension_grammar_refuses_quoted_value_that_is_not_a_token() {
    assert!(matches!(
        parse_extensions("foo; bar=\"a,b\""),
        Err(ExtensionHeaderError::QuotedValueNotToken { .. })
    ));
}

#[test]
fn extension_display_round_trips() {
    let text = "foo; a; b=1, bar";
    let offers = parse_extensions(text).expect("valid header");
    let shown: Vec<String> = offers.iter().map(ToString::to_string).collect();
    assert_eq!(shown.join(", "), text);
}

// Any input: the parsers are total.

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn feed_server(bytes: &[u8], split: usize) {
        let mut handshake = ServerHandshake::new(&Limits::DEFAULT);
        let mut buf = BytesMut::from(&bytes[..split]);
        if let Ok(None) = handshake.handle_request(&mut buf) {
            buf.extend_from_slice(&bytes[split..]);
            let _ = handshake.handle_request(&mut buf);
        }
    }

    fn feed_client(bytes: &[u8], split: usize) {
        let mut handshake = plain_client();
        let mut buf = BytesMut::from(&bytes[..split]);
        if let Ok(None) = handshake.handle_response(&mut buf) {
            buf.extend_from_slice(&bytes[split..]);
            let _ = handshake.handle_response(&mut buf);
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_the_parsers(
            bytes in proptest::collection::vec(any::<u8>(), 0..2048),
            split in any::<prop::sample::Index>(),
        ) {
            let split = split.index(bytes.len() + 1);
            feed_server(&bytes, split);
            feed_client(&bytes, split);
        }

        #[test]
        fn arbitrary_header_lines_never_panic_the_parsers(
            lines in "([ -~]{0,40}(\r\n|\n)){0,20}",
            split in any::<prop::sample::Index>(),
        ) {
            let request = format!("{REQUEST}{lines}\r\n");
            feed_server(request.as_bytes(), split.index(request.len() + 1));
            let response = format!("HTTP/1.1 101 Switching Protocols\r\n{lines}\r\n");
            feed_client(response.as_bytes(), split.index(response.len() + 1));
        }

        #[test]
        fn arbitrary_strings_never_panic_the_extension_parser(value in "\\PC{0,200}") {
            let _ = parse_extensions(&value);
        }

        #[test]
        fn parsed_extensions_round_trip_through_display(
            value in "[a-z;=, \"\\\\]{0,60}",
        ) {
            if let Ok(offers) = parse_extensions(&value) {
                let shown: Vec<String> = offers.iter().map(ToString::to_string).collect();
                prop_assert_eq!(parse_extensions(&shown.join(", ")), Ok(offers));
            }
        }
    }
}

// §4.2.1 and §4.2.2 on a request an HTTP server has already parsed (Tcl's `test` and
// `upgrade`): the same checks and the same answers as over bytes.

/// `head` (a request head without its final blank line) as an HTTP server would hand it over.
fn parsed(head: &str) -> http::Request<()> {
    let mut lines = head.split("\r\n").filter(|line| !line.is_empty());
    let start = lines.next().expect("a request line");
    let mut parts = start.split(' ');
    let (method, target, version) = (parts.next(), parts.next(), parts.next());
    let mut builder = http::Request::builder()
        .method(method.expect("a method"))
        .uri(target.expect("a target"))
        .version(match version {
            Some("HTTP/1.0") => http::Version::HTTP_10,
            _ => http::Version::HTTP_11,
        });
    for line in lines {
        let (name, value) = line.split_once(':').expect("a header field");
        builder = builder.header(name, value.trim());
    }
    builder.body(()).expect("a valid test request")
}

fn from_request(head: &str) -> Result<UpgradeRequest, HandshakeError> {
    UpgradeRequest::from_request(&parsed(head), &Limits::DEFAULT)
}

#[test]
fn from_request_accepts_rfc_example_request_and_exposes_its_fields() {
    let request = from_request(&format!(
        "{REQUEST}Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
         Sec-WebSocket-Extensions: permessage-deflate\r\n"
    ))
    .expect("a valid request");
    assert_eq!(request.path(), "/chat");
    assert_eq!(request.host(), "server.example.com");
    assert_eq!(request.origin(), Some("http://example.com"));
    assert_eq!(request.key(), KEY);
    assert_eq!(request.protocols(), ["chat", "superchat"]);
    assert_eq!(request.extensions()[0].name, "permessage-deflate");
}

#[test]
fn from_request_ignores_the_body() {
    let request = parsed(REQUEST).map(|()| "a body the handshake never reads".to_owned());
    assert!(UpgradeRequest::from_request(&request, &Limits::DEFAULT).is_ok());
}

#[test]
fn from_request_refuses_exactly_what_the_byte_parser_refuses() {
    let broken = [
        ("GET", "POST"),
        ("HTTP/1.1", "HTTP/1.0"),
        ("Host: server.example.com\r\n", ""),
        ("Host: server.example.com", "Host: a\r\nHost: b"),
        ("websocket", "h2c"),
        ("Connection: Upgrade", "Connection: keep-alive"),
        ("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""),
        (KEY, "dGhlIHNhbXBsZSBub25j"),
        ("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8"),
        ("Sec-WebSocket-Version: 13\r\n", ""),
        ("Upgrade:", "Sec-WebSocket-Protocol: a b\r\nUpgrade:"),
        ("Upgrade:", "Sec-WebSocket-Extensions: ;\r\nUpgrade:"),
    ];
    for (from, to) in broken {
        let head = REQUEST.replacen(from, to, 1);
        let over_bytes = refused(&format!("{head}\r\n"));
        assert_eq!(
            from_request(&head).err(),
            Some(over_bytes),
            "{from} -> {to}"
        );
    }
}

#[test]
fn from_request_rejects_wrong_version_with_426() {
    let error = from_request(&REQUEST.replace("Version: 13", "Version: 8"))
        .expect_err("an unsupported version");
    assert_eq!(error, HandshakeError::UnsupportedVersion);
    assert_eq!(error.status(), StatusCode::UPGRADE_REQUIRED);
}

#[test]
fn from_request_rejects_too_many_headers_with_431() {
    let limits = Limits::DEFAULT;
    let extra: String = (0..limits.max_headers)
        .map(|i| format!("X-{i}: 1\r\n"))
        .collect();
    let error = from_request(&format!("{REQUEST}{extra}")).expect_err("too many fields");
    assert_eq!(
        error,
        HandshakeError::TooManyHeaders {
            limit: limits.max_headers
        }
    );
    assert_eq!(error.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
}

#[test]
fn from_request_rejects_head_over_the_byte_limit_with_431() {
    let padding = "x".repeat(Limits::DEFAULT.max_header_bytes);
    let error = from_request(&format!("{REQUEST}X-Padding: {padding}\r\n")).expect_err("too big");
    assert!(matches!(error, HandshakeError::RequestTooLarge { .. }));
    assert_eq!(error.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
}

#[test]
fn from_request_accepts_head_of_exactly_the_byte_limit() {
    let head = format!("{REQUEST}\r\n");
    let mut limits = Limits::DEFAULT;
    limits.max_header_bytes = head.len();
    assert!(UpgradeRequest::from_request(&parsed(REQUEST), &limits).is_ok());
    limits.max_header_bytes -= 1;
    assert!(matches!(
        UpgradeRequest::from_request(&parsed(REQUEST), &limits),
        Err(HandshakeError::RequestTooLarge { .. })
    ));
}

#[test]
fn accept_response_is_101_with_the_fields_accept_writes() {
    let request = accepted(&format!(
        "{REQUEST}Sec-WebSocket-Protocol: chat, superchat\r\n\r\n"
    ));
    let answer = || {
        Accept::new()
            .protocol(request.choose_protocol(&["chat"]))
            .extensions(HeaderValue::from_static("x-ext"))
            .header(
                HeaderName::from_static("set-cookie"),
                HeaderValue::from_static("a=1"),
            )
    };
    let response = request.accept_response(answer());
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    let fields: Vec<(String, String)> = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.to_string(),
                String::from_utf8_lossy(value.as_bytes()).into(),
            )
        })
        .collect();
    let bytes = request.accept(answer());
    let text = std::str::from_utf8(&bytes).expect("ASCII response");
    let (status, head) = text.split_once("\r\n").expect("a status line");
    assert_eq!(status, "HTTP/1.1 101 Switching Protocols");
    let written: Vec<(String, String)> = head
        .lines()
        .filter(|line| !line.is_empty())
        .filter_map(|line| line.split_once(": "))
        .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
        .collect();
    assert_eq!(fields, written);
    assert_eq!(
        response.headers()["sec-websocket-accept"],
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

#[test]
fn reject_response_carries_the_status_headers_and_body_of_reject() {
    let error = HandshakeError::UnsupportedVersion;
    let response = reject_response(&error);
    assert_eq!(response.status(), StatusCode::UPGRADE_REQUIRED);
    assert_eq!(response.headers()["sec-websocket-version"], "13");
    assert_eq!(response.headers()["connection"], "close");
    let bytes = reject(&error);
    let text = std::str::from_utf8(&bytes).expect("ASCII response");
    assert!(text.ends_with(&format!("\r\n\r\n{}", response.body())));
}
