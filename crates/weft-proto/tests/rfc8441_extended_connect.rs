//! RFC 8441: a WebSocket on an HTTP/2 stream, opened by an extended CONNECT. The server's
//! checks of the request (§4–5) and its answer, over `http::Request` as an HTTP/2 server
//! hands it on; no sockets.

use http::{HeaderValue, Method, Request, StatusCode, Version};
use weft_proto::HandshakeError;
use weft_proto::Limits;
use weft_proto::extensions::deflate::{DeflateConfig, server_negotiate};
use weft_proto::handshake::server::{Accept, UpgradeRequest, reject_response};

/// A CONNECT as a browser sends it over HTTP/2: `:authority`, `:scheme` and `:path` in the
/// URI, `:protocol` beside the request, and the WebSocket's own fields.
fn connect() -> http::request::Builder {
    Request::connect("https://example.com/chat?room=1")
        .version(Version::HTTP_2)
        .header("sec-websocket-version", "13")
}

fn check(request: &Request<()>, protocol: Option<&str>) -> Result<UpgradeRequest, HandshakeError> {
    UpgradeRequest::from_extended_connect(request, protocol, &Limits::DEFAULT)
}

#[test]
fn section_5_request_without_key_upgrade_or_connection_is_accepted() {
    let request = connect().body(()).expect("request");
    let upgrade = check(&request, Some("websocket")).expect("a valid extended CONNECT");
    assert!(upgrade.is_extended_connect());
    assert_eq!(upgrade.path(), "/chat");
    assert_eq!(upgrade.query(), Some("room=1"));
    assert_eq!(upgrade.key(), "");
}

#[test]
fn section_5_host_is_the_authority_pseudo_header() {
    let request = connect().body(()).expect("request");
    let upgrade = check(&request, Some("websocket")).expect("valid");
    assert_eq!(upgrade.host(), "example.com");
}

#[test]
fn section_5_accept_is_200_without_upgrade_connection_or_accept_key() {
    let request = connect().body(()).expect("request");
    let response = check(&request, Some("websocket"))
        .expect("valid")
        .accept_response(Accept::new());
    assert_eq!(response.status(), StatusCode::OK);
    for absent in ["upgrade", "connection", "sec-websocket-accept"] {
        assert!(!response.headers().contains_key(absent), "{absent}");
    }
}

#[test]
fn section_5_accept_carries_the_chosen_subprotocol_and_extra_headers() {
    let request = connect()
        .header("sec-websocket-protocol", "v1.chat, v2.chat")
        .body(())
        .expect("request");
    let upgrade = check(&request, Some("websocket")).expect("valid");
    assert_eq!(upgrade.protocols(), ["v1.chat", "v2.chat"]);
    let chosen = upgrade.choose_protocol(&["v2.chat"]);
    let response = upgrade.accept_response(
        Accept::new()
            .protocol(chosen)
            .header(http::header::SET_COOKIE, HeaderValue::from_static("a=b")),
    );
    assert_eq!(response.headers()["sec-websocket-protocol"], "v2.chat");
    assert_eq!(response.headers()["set-cookie"], "a=b");
}

#[test]
fn section_5_offered_extensions_are_read_as_over_http1() {
    let request = connect()
        .header(
            "sec-websocket-extensions",
            "permessage-deflate; client_max_window_bits",
        )
        .body(())
        .expect("request");
    let upgrade = check(&request, Some("websocket")).expect("valid");
    let (_, answer) = server_negotiate(&DeflateConfig::default(), upgrade.extensions())
        .expect("permessage-deflate offered and agreed");
    assert!(answer.starts_with("permessage-deflate"), "{answer}");
}

#[test]
fn section_4_plain_connect_without_protocol_is_refused_with_400() {
    let request = connect().body(()).expect("request");
    let error = check(&request, None).expect_err("a proxy tunnel, not a WebSocket");
    assert_eq!(error, HandshakeError::ProtocolNotWebSocket);
    assert_eq!(error.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn section_4_another_protocol_is_refused_with_400() {
    let request = connect().body(()).expect("request");
    let error = check(&request, Some("webtransport")).expect_err("not a WebSocket");
    assert_eq!(error, HandshakeError::ProtocolNotWebSocket);
    assert_eq!(error.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn section_4_protocol_token_matches_without_regard_to_case() {
    let request = connect().body(()).expect("request");
    assert!(check(&request, Some("WebSocket")).is_ok());
}

#[test]
fn section_4_method_other_than_connect_is_refused_with_400() {
    let request = Request::get("https://example.com/chat")
        .version(Version::HTTP_2)
        .header("sec-websocket-version", "13")
        .body(())
        .expect("request");
    let error = check(&request, Some("websocket")).expect_err("not a CONNECT");
    assert_eq!(error, HandshakeError::MethodNotConnect(Method::GET));
    assert_eq!(error.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn section_5_missing_version_is_refused_with_400() {
    let request = Request::connect("https://example.com/chat")
        .version(Version::HTTP_2)
        .body(())
        .expect("request");
    let error = check(&request, Some("websocket")).expect_err("no version");
    assert_eq!(error, HandshakeError::MissingVersion);
    assert_eq!(error.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn section_5_other_version_is_refused_with_426_naming_13() {
    let request = Request::connect("https://example.com/chat")
        .version(Version::HTTP_2)
        .header("sec-websocket-version", "8")
        .body(())
        .expect("request");
    let error = check(&request, Some("websocket")).expect_err("version 8");
    assert_eq!(error, HandshakeError::UnsupportedVersion);
    let response = reject_response(&error);
    assert_eq!(response.status(), StatusCode::UPGRADE_REQUIRED);
    assert_eq!(response.headers()["sec-websocket-version"], "13");
}

#[test]
fn section_5_malformed_subprotocol_list_is_refused_with_400() {
    let request = connect()
        .header("sec-websocket-protocol", "a b")
        .body(())
        .expect("request");
    let error = check(&request, Some("websocket")).expect_err("not a token list");
    assert_eq!(error, HandshakeError::InvalidProtocols);
    assert_eq!(error.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn section_4_connect_over_http1_is_refused_with_400() {
    let request = connect()
        .version(Version::HTTP_11)
        .body(())
        .expect("request");
    let error = check(&request, Some("websocket")).expect_err("a tunnel over HTTP/1.1");
    assert_eq!(error, HandshakeError::ConnectNotHttp2(Version::HTTP_11));
    assert_eq!(error.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn section_5_scheme_other_than_http_or_https_is_refused_with_400() {
    let request = Request::connect("ftp://example.com/chat")
        .version(Version::HTTP_2)
        .header("sec-websocket-version", "13")
        .body(())
        .expect("request");
    let error = check(&request, Some("websocket")).expect_err("ftp");
    assert_eq!(error, HandshakeError::InvalidTarget);
    assert_eq!(error.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn section_4_host_field_without_authority_is_refused_with_400() {
    let request = Request::connect("/chat")
        .version(Version::HTTP_2)
        .header("host", "example.com")
        .header("sec-websocket-version", "13")
        .body(())
        .expect("request");
    let error = check(&request, Some("websocket")).expect_err("no :authority");
    assert_eq!(error, HandshakeError::MissingHost);
    assert_eq!(error.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn host_field_that_disagrees_with_the_authority_is_refused_with_400() {
    let request = connect()
        .header("host", "other.example")
        .body(())
        .expect("request");
    let error = check(&request, Some("websocket")).expect_err("two hosts");
    assert_eq!(error, HandshakeError::InvalidHost);
    assert_eq!(error.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn host_field_that_repeats_the_authority_in_another_case_is_accepted() {
    let request = connect()
        .header("host", "EXAMPLE.com")
        .body(())
        .expect("request");
    assert!(check(&request, Some("websocket")).is_ok());
}

#[test]
fn authority_counts_toward_the_header_limit() {
    let host = format!("{}.example", "a".repeat(Limits::DEFAULT.max_header_bytes));
    let request = Request::connect(format!("https://{host}/chat"))
        .version(Version::HTTP_2)
        .header("sec-websocket-version", "13")
        .body(())
        .expect("request");
    let error = check(&request, Some("websocket")).expect_err("too large");
    assert_eq!(error.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
}

#[test]
fn head_over_the_header_limit_is_refused_with_431() {
    let request = connect()
        .header("x-filler", "x".repeat(Limits::DEFAULT.max_header_bytes))
        .body(())
        .expect("request");
    let error = check(&request, Some("websocket")).expect_err("too large");
    assert_eq!(error.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
}

#[test]
fn an_http1_upgrade_is_not_an_extended_connect() {
    let request = Request::get("/chat")
        .header("host", "example.com")
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("sec-websocket-version", "13")
        .body(())
        .expect("request");
    let upgrade = UpgradeRequest::from_request(&request, &Limits::DEFAULT).expect("valid");
    assert!(!upgrade.is_extended_connect());
    assert_eq!(
        upgrade.accept_response(Accept::new()).status(),
        StatusCode::SWITCHING_PROTOCOLS
    );
}
