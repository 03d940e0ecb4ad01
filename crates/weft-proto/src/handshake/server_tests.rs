//! Unit tests of the server handshake.
use super::*;

const VALID: &str = "GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\n\
    Upgrade: websocket\r\nConnection: Upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

fn handle(head: &str) -> Result<Option<UpgradeRequest>, HandshakeError> {
    let mut buf = BytesMut::from(head);
    ServerHandshake::new(&Limits::DEFAULT).handle_request(&mut buf)
}

fn request(extra: &str) -> UpgradeRequest {
    handle(&format!("{VALID}{extra}\r\n"))
        .ok()
        .flatten()
        .expect("valid request")
}

#[test]
fn valid_request_exposes_its_parts() {
    let request = request("Origin: https://example.com\r\n");
    assert_eq!(request.path(), "/chat");
    assert_eq!(request.query(), Some("room=1"));
    assert_eq!(request.host(), "example.com");
    assert_eq!(request.origin(), Some("https://example.com"));
    assert_eq!(request.key(), "dGhlIHNhbXBsZSBub25jZQ==");
}

#[test]
fn absolute_form_target_is_accepted() {
    let head = VALID.replace("/chat?room=1", "ws://example.com/chat");
    let request = handle(&format!("{head}\r\n"))
        .ok()
        .flatten()
        .expect("valid");
    assert_eq!(request.path(), "/chat");
}

#[test]
fn asterisk_and_authority_targets_are_refused() {
    for target in ["*", "example.com:80"] {
        let head = VALID.replace("/chat?room=1", target);
        assert_eq!(
            handle(&format!("{head}\r\n")).err(),
            Some(HandshakeError::InvalidTarget),
            "{target}"
        );
    }
}

#[test]
fn repeated_key_is_invalid() {
    let error = handle(&format!(
        "{VALID}Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    ))
    .err();
    assert_eq!(error, Some(HandshakeError::InvalidKey));
}

#[test]
fn repeated_host_is_invalid() {
    let error = handle(&format!("{VALID}Host: other.example\r\n\r\n")).err();
    assert_eq!(error, Some(HandshakeError::InvalidHost));
}

#[test]
fn protocol_that_is_not_a_token_is_refused() {
    let error = handle(&format!("{VALID}Sec-WebSocket-Protocol: a b\r\n\r\n")).err();
    assert_eq!(error, Some(HandshakeError::InvalidProtocols));
}

#[test]
fn malformed_extensions_are_refused_with_400() {
    let error =
        handle(&format!("{VALID}Sec-WebSocket-Extensions: ;\r\n\r\n")).expect_err("malformed");
    assert!(matches!(error, HandshakeError::InvalidExtensions(_)));
    assert_eq!(error.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn second_call_after_success_is_finished() {
    let mut handshake = ServerHandshake::new(&Limits::DEFAULT);
    let mut buf = BytesMut::from(format!("{VALID}\r\n").as_str());
    assert!(matches!(handshake.handle_request(&mut buf), Ok(Some(_))));
    assert_eq!(
        handshake.handle_request(&mut buf).err(),
        Some(HandshakeError::Finished)
    );
}

#[test]
fn accept_drops_reserved_extra_headers() {
    let response = request("").accept(
        Accept::new()
            .header(CONTENT_LENGTH, HeaderValue::from_static("0"))
            .header(
                HeaderName::from_static("x-extra"),
                HeaderValue::from_static("1"),
            ),
    );
    let text = String::from_utf8_lossy(&response);
    assert!(!text.to_ascii_lowercase().contains("content-length"));
    assert!(text.contains("x-extra: 1\r\n"));
    assert!(text.ends_with("\r\n\r\n"));
}

#[test]
fn reject_status_keeps_a_given_content_type() {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
    let response = reject_status(StatusCode::NOT_FOUND, &headers, "<p>no</p>");
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"));
    assert!(text.contains("content-type: text/html\r\n"));
    assert!(!text.contains("text/plain"));
    assert!(text.ends_with("Content-Length: 9\r\n\r\n<p>no</p>"));
}
