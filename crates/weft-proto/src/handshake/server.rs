//! The server side of the opening handshake (RFC 6455 §4.2): read the client's upgrade
//! request, check it, and answer with 101 Switching Protocols or a rejection.
//!
//! This layer checks only what RFC 6455 requires of every request. Policy (which origins,
//! which paths, whether TLS is required) belongs to the server above it, which reports a
//! refusal with [`HandshakeError::OriginRefused`], [`HandshakeError::SecureRequired`] or
//! [`HandshakeError::PathNotFound`] and [`reject`].

use std::error::Error as _;

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{
    CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, ORIGIN, SEC_WEBSOCKET_ACCEPT,
    SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION,
    TRANSFER_ENCODING, UPGRADE,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Version};

use super::http1::{self, HeadReader, Sole};
use super::{HandshakeError, accept_key, is_valid_key};
use crate::Limits;
use crate::extensions::{ExtensionOffer, is_token, parse_extensions};

/// Reads one upgrade request, keeping partial progress between calls.
///
/// ```
/// use bytes::BytesMut;
/// use weft_proto::Limits;
/// use weft_proto::handshake::server::{Accept, ServerHandshake, reject};
///
/// let mut handshake = ServerHandshake::new(&Limits::DEFAULT);
/// let mut buf = BytesMut::from(
///     "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
///      Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
///      Sec-WebSocket-Version: 13\r\n\r\n",
/// );
/// let reply = match handshake.handle_request(&mut buf) {
///     Ok(Some(request)) => request.accept(Accept::new()),
///     Ok(None) => unreachable!("the whole request is in the buffer"),
///     Err(error) => reject(&error),
/// };
/// assert!(reply.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
/// ```
#[derive(Debug)]
pub struct ServerHandshake {
    state: State,
}

#[derive(Debug)]
enum State {
    Reading(HeadReader),
    Finished,
}

impl ServerHandshake {
    /// A handshake waiting for a request, bounded by `limits.max_header_bytes` and
    /// `limits.max_headers`.
    pub fn new(limits: &Limits) -> Self {
        ServerHandshake {
            state: State::Reading(HeadReader::new(limits)),
        }
    }

    /// Reads the request from the start of `buf`, which holds everything received so far.
    ///
    /// Returns `Ok(None)` when the head is not complete: append what arrives next to `buf` and
    /// call again. Returns `Ok(Some(request))` once the head is complete and valid, with the
    /// head removed from `buf`; bytes after it (frames sent early) stay in `buf` for the
    /// connection. Then decide: answer with [`UpgradeRequest::accept`] and start the connection
    /// as [`Role::Server`](crate::Role::Server), or refuse with [`reject`].
    ///
    /// # Errors
    ///
    /// A request [`HandshakeError`] when the request breaks RFC 6455 §4.2.1 or the limits: send
    /// [`reject`] of it and close. `buf` is left as it was. Any call after the handshake has
    /// succeeded or failed returns [`HandshakeError::Finished`].
    ///
    /// # Cancel safety
    ///
    /// Progress lives in `self` and `buf`, so the caller may stop between calls and resume.
    pub fn handle_request(
        &mut self,
        buf: &mut BytesMut,
    ) -> Result<Option<UpgradeRequest>, HandshakeError> {
        let State::Reading(reader) = &mut self.state else {
            return Err(HandshakeError::Finished);
        };
        let read = reader.read_request(buf);
        let (request, len) = match read {
            Ok(None) => return Ok(None),
            Ok(Some(head)) => head,
            Err(error) => {
                self.state = State::Finished;
                return Err(error);
            }
        };
        self.state = State::Finished;
        let upgrade = UpgradeRequest::from_request(request)?;
        let _head = buf.split_to(len);
        Ok(Some(upgrade))
    }
}

/// A valid upgrade request (RFC 6455 §4.2.1), waiting for the server to accept or refuse it.
#[derive(Debug, Clone)]
pub struct UpgradeRequest {
    request: Request<()>,
    key: String,
    protocols: Vec<String>,
    extensions: Vec<ExtensionOffer>,
}

impl UpgradeRequest {
    /// The request line and headers as received.
    pub fn request(&self) -> &Request<()> {
        &self.request
    }

    /// The path of the request target, for routing.
    pub fn path(&self) -> &str {
        self.request.uri().path()
    }

    /// The query of the request target, without the `?`.
    pub fn query(&self) -> Option<&str> {
        self.request.uri().query()
    }

    /// All header fields.
    pub fn headers(&self) -> &HeaderMap {
        self.request.headers()
    }

    /// The `Origin` header, which browsers send (§4.1 item 8, §10.2). Not checked here: a server
    /// that restricts origins refuses others with [`HandshakeError::OriginRefused`].
    pub fn origin(&self) -> Option<&str> {
        self.headers()
            .get(ORIGIN)
            .and_then(|value| value.to_str().ok())
    }

    /// The `Host` header, checked to be present, single and visible ASCII.
    pub fn host(&self) -> &str {
        self.headers()
            .get(HOST)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
    }

    /// The `Sec-WebSocket-Key`, checked to be the base64 of 16 bytes.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The subprotocols the client offered, in its order of preference, from every
    /// `Sec-WebSocket-Protocol` field (§4.1 item 10).
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// The extensions the client offered, in order, from every `Sec-WebSocket-Extensions`
    /// field (§9.1). Unknown ones are included.
    pub fn extensions(&self) -> &[ExtensionOffer] {
        &self.extensions
    }

    /// The first of `supported`, which is in the server's order of preference, that the client
    /// offered. Names match exactly, case included (§4.1 item 10 and §11.3.4 make them
    /// case-sensitive).
    pub fn choose_protocol<'a>(&self, supported: &[&'a str]) -> Option<&'a str> {
        supported
            .iter()
            .copied()
            .find(|candidate| self.protocols.iter().any(|offered| offered == candidate))
    }

    /// The 101 Switching Protocols response accepting this request (§4.2.2 item 5): `Upgrade`,
    /// `Connection`, `Sec-WebSocket-Accept`, then what `response` adds.
    ///
    /// # Panics
    ///
    /// In debug builds, if `response` names a subprotocol the client did not offer. Release
    /// builds leave such a subprotocol out of the response rather than send a choice the client
    /// must fail the connection over (§4.1).
    pub fn accept(&self, response: Accept) -> Bytes {
        let mut out = BytesMut::with_capacity(256);
        out.put_slice(b"HTTP/1.1 101 Switching Protocols\r\n");
        http1::put_header(&mut out, "Upgrade", b"websocket");
        http1::put_header(&mut out, "Connection", b"Upgrade");
        http1::put_header(
            &mut out,
            "Sec-WebSocket-Accept",
            accept_key(&self.key).as_bytes(),
        );
        if let Some(protocol) = &response.protocol {
            let offered = self.protocols.iter().any(|offered| offered == protocol);
            debug_assert!(offered, "subprotocol {protocol:?} was not offered");
            if offered {
                http1::put_header(&mut out, "Sec-WebSocket-Protocol", protocol.as_bytes());
            }
        }
        if let Some(extensions) = &response.extensions {
            http1::put_header(&mut out, "Sec-WebSocket-Extensions", extensions.as_bytes());
        }
        for (name, value) in &response.headers {
            if !is_reserved_in_accept(name) {
                http1::put_header(&mut out, name.as_str(), value.as_bytes());
            }
        }
        out.put_slice(b"\r\n");
        out.freeze()
    }

    fn from_request(request: Request<()>) -> Result<Self, HandshakeError> {
        if request.method() != Method::GET {
            return Err(HandshakeError::MethodNotGet(request.method().clone()));
        }
        if request.version() < Version::HTTP_11 {
            return Err(HandshakeError::HttpVersionTooOld(request.version()));
        }
        let uri = request.uri();
        if uri.scheme().is_none() && !uri.path().starts_with('/') {
            return Err(HandshakeError::InvalidTarget);
        }
        let headers = request.headers();
        match http1::sole(headers, &HOST) {
            Sole::Absent => return Err(HandshakeError::MissingHost),
            Sole::Repeated => return Err(HandshakeError::InvalidHost),
            Sole::One(host) if host.is_empty() || host.to_str().is_err() => {
                return Err(HandshakeError::InvalidHost);
            }
            Sole::One(_) => {}
        }
        if !http1::has_token(headers, &UPGRADE, "websocket") {
            return Err(HandshakeError::UpgradeNotWebSocket);
        }
        if !http1::has_token(headers, &CONNECTION, "upgrade") {
            return Err(HandshakeError::ConnectionNotUpgrade);
        }
        let key = match http1::sole(headers, &SEC_WEBSOCKET_KEY) {
            Sole::Absent => return Err(HandshakeError::MissingKey),
            Sole::One(key) if is_valid_key(key.as_bytes()) => {
                // Valid base64 is ASCII, so the conversion cannot lose anything.
                String::from_utf8_lossy(key.as_bytes()).into_owned()
            }
            Sole::One(_) | Sole::Repeated => return Err(HandshakeError::InvalidKey),
        };
        match http1::sole(headers, &SEC_WEBSOCKET_VERSION) {
            Sole::One(version) if version.as_bytes() == b"13" => {}
            _ => return Err(HandshakeError::UnsupportedVersion),
        }
        let protocols = offered_protocols(headers)?;
        let extensions = parse_extensions(&http1::joined(headers, &SEC_WEBSOCKET_EXTENSIONS))
            .map_err(HandshakeError::InvalidExtensions)?;
        Ok(UpgradeRequest {
            request,
            key,
            protocols,
            extensions,
        })
    }
}

/// What a 101 response adds to the fields [`UpgradeRequest::accept`] always sends.
#[derive(Debug, Clone, Default)]
pub struct Accept {
    protocol: Option<String>,
    extensions: Option<HeaderValue>,
    headers: HeaderMap,
}

impl Accept {
    /// A response with no subprotocol, no extensions and no extra headers.
    pub fn new() -> Self {
        Accept::default()
    }

    /// The subprotocol chosen, one the client offered (see
    /// [`UpgradeRequest::choose_protocol`]); `None` sends no `Sec-WebSocket-Protocol`.
    pub fn protocol(mut self, protocol: Option<&str>) -> Self {
        self.protocol = protocol.map(str::to_owned);
        self
    }

    /// The `Sec-WebSocket-Extensions` value naming the extensions accepted and their
    /// parameters, for example built from [`ExtensionOffer`]s with `to_string`.
    pub fn extensions(mut self, value: HeaderValue) -> Self {
        self.extensions = Some(value);
        self
    }

    /// An extra header, such as `Set-Cookie`. Headers the handshake sends itself (`Upgrade`,
    /// `Connection`, `Sec-WebSocket-*`) and body framing headers (`Content-Length`,
    /// `Transfer-Encoding`, which a 101 must not carry) are dropped.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }
}

/// The response refusing a handshake that failed with `error`: its status, `Connection:
/// close`, and a short text body saying why. A 426 also carries `Sec-WebSocket-Version: 13`,
/// the version this server speaks (§4.4).
///
/// ```
/// use weft_proto::HandshakeError;
/// use weft_proto::handshake::server::reject;
///
/// let response = reject(&HandshakeError::UnsupportedVersion);
/// assert!(response.starts_with(b"HTTP/1.1 426 Upgrade Required\r\n"));
/// ```
pub fn reject(error: &HandshakeError) -> Bytes {
    let mut headers = HeaderMap::new();
    if error.status() == StatusCode::UPGRADE_REQUIRED {
        headers.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
    }
    let mut body = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        body.push_str(": ");
        body.push_str(&cause.to_string());
        source = cause.source();
    }
    body.push('\n');
    reject_status(error.status(), &headers, &body)
}

/// A complete response with `status`, `headers`, `Connection: close` and `body`, framed by
/// `Content-Length` and typed `text/plain` unless `headers` names a `Content-Type`. Meant for
/// 4xx and 5xx statuses; `Connection`, `Content-Length` and `Transfer-Encoding` in `headers`
/// are replaced.
pub fn reject_status(status: StatusCode, headers: &HeaderMap, body: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(128 + body.len());
    out.put_slice(b"HTTP/1.1 ");
    out.put_slice(status.as_str().as_bytes());
    out.put_u8(b' ');
    out.put_slice(status.canonical_reason().unwrap_or_default().as_bytes());
    out.put_slice(b"\r\n");
    for (name, value) in headers {
        if ![CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING].contains(name) {
            http1::put_header(&mut out, name.as_str(), value.as_bytes());
        }
    }
    if !headers.contains_key(CONTENT_TYPE) {
        http1::put_header(&mut out, "Content-Type", b"text/plain; charset=utf-8");
    }
    http1::put_header(&mut out, "Connection", b"close");
    http1::put_header(
        &mut out,
        "Content-Length",
        body.len().to_string().as_bytes(),
    );
    out.put_slice(b"\r\n");
    out.put_slice(body.as_bytes());
    out.freeze()
}

/// Whether [`Accept::header`] may not add `name` to a 101 response.
fn is_reserved_in_accept(name: &HeaderName) -> bool {
    [
        UPGRADE,
        CONNECTION,
        SEC_WEBSOCKET_ACCEPT,
        SEC_WEBSOCKET_PROTOCOL,
        SEC_WEBSOCKET_EXTENSIONS,
        SEC_WEBSOCKET_KEY,
        SEC_WEBSOCKET_VERSION,
        CONTENT_LENGTH,
        TRANSFER_ENCODING,
    ]
    .contains(name)
}

/// Every subprotocol offered, over all fields and comma lists (§4.1 item 10, §11.3.4).
fn offered_protocols(headers: &HeaderMap) -> Result<Vec<String>, HandshakeError> {
    let mut protocols = Vec::new();
    for value in headers.get_all(SEC_WEBSOCKET_PROTOCOL) {
        let value = value
            .to_str()
            .map_err(|_| HandshakeError::InvalidProtocols)?;
        for element in value
            .split(',')
            .map(|element| element.trim_matches([' ', '\t']))
        {
            if element.is_empty() {
                continue;
            }
            if !is_token(element) {
                return Err(HandshakeError::InvalidProtocols);
            }
            protocols.push(element.to_owned());
        }
    }
    Ok(protocols)
}

#[cfg(test)]
mod tests {
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
}
