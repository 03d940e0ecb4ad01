//! The server side of the opening handshake (RFC 6455 §4.2): read the client's upgrade
//! request, check it, and answer with 101 Switching Protocols or a rejection.
//!
//! This layer checks only what RFC 6455 requires of every request. Policy (which origins,
//! which paths, whether TLS is required) belongs to the server above it, which reports a
//! refusal with [`HandshakeError::OriginRefused`], [`HandshakeError::SecureRequired`] or
//! [`HandshakeError::PathNotFound`] and [`reject`].
//!
//! An HTTP server that reads requests itself (hyper, axum) checks one with
//! [`UpgradeRequest::from_request`], the same checks as over bytes, and answers with
//! [`UpgradeRequest::accept_response`] or [`reject_response`] (Tcl's `test` and `upgrade`).
//! An HTTP/2 server checks a WebSocket's extended CONNECT (RFC 8441) with
//! [`UpgradeRequest::from_extended_connect`] and answers the same way, with 200.

use std::error::Error as _;

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{
    CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, ORIGIN, SEC_WEBSOCKET_ACCEPT,
    SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION,
    TRANSFER_ENCODING, UPGRADE,
};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};

use super::checks::{
    Offer, check_extended_connect, check_limits, check_upgrade, pseudo_header_bytes,
};
use super::http1::{self, HeadReader};
use super::{HandshakeError, accept_key};
use crate::Limits;
use crate::extensions::ExtensionOffer;

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
        let upgrade = UpgradeRequest::from_head(request)?;
        let _head = buf.split_to(len);
        Ok(Some(upgrade))
    }
}

/// A valid upgrade request (RFC 6455 §4.2.1), or a valid HTTP/2 extended CONNECT (RFC 8441),
/// waiting for the server to accept or refuse it.
#[derive(Debug, Clone)]
pub struct UpgradeRequest {
    request: Request<()>,
    key: String,
    protocols: Vec<String>,
    extensions: Vec<ExtensionOffer>,
    extended_connect: bool,
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

    /// The `Host` header, checked to be present, single and visible ASCII; for an
    /// [extended CONNECT](Self::from_extended_connect), its `:authority` (checked to be there,
    /// and to agree with `Host` where both are sent).
    pub fn host(&self) -> &str {
        let authority = self
            .request
            .uri()
            .authority()
            .filter(|_| self.extended_connect)
            .map(|authority| authority.as_str());
        authority
            .or_else(|| {
                self.headers()
                    .get(HOST)
                    .and_then(|value| value.to_str().ok())
            })
            .unwrap_or_default()
    }

    /// The `Sec-WebSocket-Key`, checked to be the base64 of 16 bytes; empty for an extended
    /// CONNECT, which has none (RFC 8441 §5).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether this is an HTTP/2 extended CONNECT (RFC 8441), from
    /// [`from_extended_connect`](Self::from_extended_connect): it is accepted with 200
    /// rather than 101, and the WebSocket then runs on the request's HTTP/2 stream.
    pub fn is_extended_connect(&self) -> bool {
        self.extended_connect
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

    /// Checks a request that an HTTP server has already parsed (hyper, axum, or any other
    /// producer of [`http::Request`]) with the rules [`ServerHandshake::handle_request`]
    /// applies to bytes: this is Tcl's `test`, for upgrading inside an existing HTTP server.
    /// The body is not looked at, and the request's extensions are not copied.
    ///
    /// The head is held to `limits` as if it had been read here: at most
    /// `limits.max_headers` fields, and at most `limits.max_header_bytes` in its HTTP/1.1
    /// form (request line and `name: value` lines), which is the least it can have taken on
    /// the wire.
    ///
    /// ```
    /// use weft_proto::Limits;
    /// use weft_proto::handshake::server::{Accept, UpgradeRequest};
    ///
    /// let request = http::Request::get("/chat")
    ///     .header("Host", "example.com")
    ///     .header("Upgrade", "websocket")
    ///     .header("Connection", "Upgrade")
    ///     .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
    ///     .header("Sec-WebSocket-Version", "13")
    ///     .body(())?;
    /// let upgrade = UpgradeRequest::from_request(&request, &Limits::DEFAULT)?;
    /// let response = upgrade.accept_response(Accept::new());
    /// assert_eq!(response.status(), http::StatusCode::SWITCHING_PROTOCOLS);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The same [`HandshakeError`]s as [`ServerHandshake::handle_request`] for a request
    /// that breaks RFC 6455 §4.2.1 or the limits; answer with [`reject_response`] (or
    /// [`reject`] when writing bytes yourself).
    pub fn from_request<B>(request: &Request<B>, limits: &Limits) -> Result<Self, HandshakeError> {
        check_limits(request, limits, 0)?;
        let offer = check_upgrade(request)?;
        Ok(UpgradeRequest::new(head_of(request), offer, false))
    }

    /// Checks an HTTP/2 extended CONNECT request (RFC 8441 §4–5), a WebSocket on one stream
    /// of an HTTP/2 connection, as an HTTP/2 server has parsed it. `protocol` is the value
    /// of its `:protocol` pseudo-header, which [`http::Request`] has no field for: HTTP/2
    /// servers hand it on beside the request (hyper as the `hyper::ext::Protocol`
    /// extension). The server must have announced `SETTINGS_ENABLE_CONNECT_PROTOCOL`, or
    /// clients do not send such requests.
    ///
    /// Checked: the method is CONNECT over HTTP/2, `:protocol` is `websocket`, `:scheme` is
    /// `http` or `https`, the path is absolute, `:authority` is there (and agrees with `Host`
    /// if that is sent too), `Sec-WebSocket-Version` is 13, and the subprotocols and
    /// extensions offered are well-formed, as for [`from_request`](Self::from_request); the
    /// head, `:authority` and `:protocol` included, is held to `limits` the same way. There is
    /// no key, `Upgrade` or `Connection` to check (§5).
    /// [`accept_response`](Self::accept_response) then answers 200, and the WebSocket runs
    /// on the stream, framed and masked exactly as over HTTP/1.1.
    ///
    /// ```
    /// use weft_proto::Limits;
    /// use weft_proto::handshake::server::{Accept, UpgradeRequest};
    ///
    /// let request = http::Request::connect("https://example.com/chat")
    ///     .version(http::Version::HTTP_2)
    ///     .header("Sec-WebSocket-Version", "13")
    ///     .header("Sec-WebSocket-Protocol", "chat")
    ///     .body(())?;
    /// let upgrade = UpgradeRequest::from_extended_connect(&request, Some("websocket"), &Limits::DEFAULT)?;
    /// assert_eq!(upgrade.path(), "/chat");
    /// let protocol = upgrade.choose_protocol(&["chat"]);
    /// let response = upgrade.accept_response(Accept::new().protocol(protocol));
    /// assert_eq!(response.status(), http::StatusCode::OK);
    /// assert_eq!(response.headers()["sec-websocket-protocol"], "chat");
    /// assert!(!response.headers().contains_key("sec-websocket-accept"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// 400 for a request that is not an extended CONNECT for a WebSocket:
    /// [`HandshakeError::MethodNotConnect`], [`HandshakeError::ConnectNotHttp2`],
    /// [`HandshakeError::ProtocolNotWebSocket`]; 400 for a bad target, scheme or host
    /// ([`HandshakeError::InvalidTarget`], [`HandshakeError::MissingHost`],
    /// [`HandshakeError::InvalidHost`]); and the errors of [`from_request`](Self::from_request)
    /// for the fields both forms share (400 or 426 for `Sec-WebSocket-Version`, 400 for
    /// subprotocols and extensions, 431 past `limits`).
    pub fn from_extended_connect<B>(
        request: &Request<B>,
        protocol: Option<&str>,
        limits: &Limits,
    ) -> Result<Self, HandshakeError> {
        check_limits(request, limits, pseudo_header_bytes(request, protocol))?;
        let offer = check_extended_connect(request, protocol)?;
        Ok(UpgradeRequest::new(head_of(request), offer, true))
    }

    /// The 101 Switching Protocols response accepting this request (§4.2.2 item 5): `Upgrade`,
    /// `Connection`, `Sec-WebSocket-Accept`, then what `response` adds.
    ///
    /// An [extended CONNECT](Self::from_extended_connect) is answered on an HTTP/2 stream,
    /// which its server encodes from [`accept_response`](Self::accept_response); here it
    /// gets that answer written in HTTP/1.1 form (200 OK, no `Upgrade`, `Connection` or
    /// `Sec-WebSocket-Accept`), for logs and tests, not for a wire.
    ///
    /// # Panics
    ///
    /// In debug builds, if `response` names a subprotocol the client did not offer. Release
    /// builds leave such a subprotocol out of the response rather than send a choice the client
    /// must fail the connection over (§4.1).
    pub fn accept(&self, response: Accept) -> Bytes {
        let mut out = BytesMut::with_capacity(256);
        // An extended CONNECT is answered on an HTTP/2 stream, which its server encodes; this
        // is the same answer in HTTP/1.1 form, as `accept_response` gives it.
        out.put_slice(if self.extended_connect {
            b"HTTP/1.1 200 OK\r\n"
        } else {
            b"HTTP/1.1 101 Switching Protocols\r\n"
        });
        for (name, value) in self.accept_fields(response) {
            http1::put_header(&mut out, display_name(&name), value.as_bytes());
        }
        out.put_slice(b"\r\n");
        out.freeze()
    }

    /// The same answer as [`accept`](Self::accept), as an [`http::Response`] for an HTTP
    /// server that writes responses itself (hyper, axum): status 101 and the same header
    /// fields, in the same order. The server must then hand the connection over to a
    /// WebSocket in [`Role::Server`](crate::Role::Server).
    ///
    /// For an [extended CONNECT](Self::from_extended_connect) the answer is 200 OK with
    /// `Sec-WebSocket-Protocol`, `Sec-WebSocket-Extensions` and the extra headers, but no
    /// `Upgrade`, `Connection` or `Sec-WebSocket-Accept` (RFC 8441 §5); the WebSocket runs on
    /// the request's stream.
    ///
    /// # Panics
    ///
    /// As for [`accept`](Self::accept): in debug builds only, for an unoffered subprotocol.
    pub fn accept_response(&self, response: Accept) -> Response<()> {
        let mut answer = Response::new(());
        *answer.status_mut() = if self.extended_connect {
            StatusCode::OK
        } else {
            StatusCode::SWITCHING_PROTOCOLS
        };
        let headers = answer.headers_mut();
        for (name, value) in self.accept_fields(response) {
            headers.append(name, value);
        }
        answer
    }

    /// The header fields of a 101 answer, in the order they are sent; shared by
    /// [`accept`](Self::accept) and [`accept_response`](Self::accept_response) so the two
    /// cannot drift apart.
    fn accept_fields(&self, response: Accept) -> Vec<(HeaderName, HeaderValue)> {
        let mut fields = Vec::with_capacity(4);
        if !self.extended_connect {
            let accept = HeaderValue::from_str(&accept_key(&self.key))
                .expect("base64 is visible ASCII, which every header value may hold");
            fields.extend([
                (UPGRADE, HeaderValue::from_static("websocket")),
                (CONNECTION, HeaderValue::from_static("Upgrade")),
                (SEC_WEBSOCKET_ACCEPT, accept),
            ]);
        }
        if let Some(protocol) = &response.protocol {
            let offered = self.protocols.iter().any(|offered| offered == protocol);
            debug_assert!(offered, "subprotocol {protocol:?} was not offered");
            // An offered subprotocol came out of a header value as a token, so it converts
            // back; anything else is left out as documented.
            if let (true, Ok(value)) = (offered, HeaderValue::from_str(protocol)) {
                fields.push((SEC_WEBSOCKET_PROTOCOL, value));
            }
        }
        if let Some(extensions) = response.extensions {
            fields.push((SEC_WEBSOCKET_EXTENSIONS, extensions));
        }
        for (name, value) in &response.headers {
            if !is_reserved_in_accept(name) {
                fields.push((name.clone(), value.clone()));
            }
        }
        fields
    }

    /// A request read from bytes by [`ServerHandshake`], checked.
    fn from_head(request: Request<()>) -> Result<Self, HandshakeError> {
        let offer = check_upgrade(&request)?;
        Ok(UpgradeRequest::new(request, offer, false))
    }

    fn new(request: Request<()>, offer: Offer, extended_connect: bool) -> Self {
        UpgradeRequest {
            request,
            key: offer.key,
            protocols: offer.protocols,
            extensions: offer.extensions,
            extended_connect,
        }
    }
}

/// The head of a request parsed elsewhere, without its body or extensions.
fn head_of<B>(request: &Request<B>) -> Request<()> {
    let mut head = Request::new(());
    *head.method_mut() = request.method().clone();
    *head.uri_mut() = request.uri().clone();
    *head.version_mut() = request.version();
    *head.headers_mut() = request.headers().clone();
    head
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
    let (headers, body) = rejection_parts(error);
    reject_status(error.status(), &headers, &body)
}

/// The same refusal as [`reject`], as an [`http::Response`] for an HTTP server that writes
/// responses itself: the error's status, `Sec-WebSocket-Version: 13` on a 426, `Content-Type:
/// text/plain`, `Connection: close`, and the text body. The server frames the body
/// (`Content-Length`) itself.
///
/// ```
/// use weft_proto::HandshakeError;
/// use weft_proto::handshake::server::reject_response;
///
/// let response = reject_response(&HandshakeError::UnsupportedVersion);
/// assert_eq!(response.status(), http::StatusCode::UPGRADE_REQUIRED);
/// assert_eq!(response.headers()["sec-websocket-version"], "13");
/// ```
pub fn reject_response(error: &HandshakeError) -> Response<String> {
    let (mut headers, body) = rejection_parts(error);
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    let mut response = Response::new(body);
    *response.status_mut() = error.status();
    *response.headers_mut() = headers;
    response
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

/// The canonical spelling of the fields a 101 always sends, as [`accept`](UpgradeRequest::accept)
/// has always written them; other names go out as given (lowercase).
fn display_name(name: &HeaderName) -> &str {
    const SPELLINGS: [(HeaderName, &str); 5] = [
        (UPGRADE, "Upgrade"),
        (CONNECTION, "Connection"),
        (SEC_WEBSOCKET_ACCEPT, "Sec-WebSocket-Accept"),
        (SEC_WEBSOCKET_PROTOCOL, "Sec-WebSocket-Protocol"),
        (SEC_WEBSOCKET_EXTENSIONS, "Sec-WebSocket-Extensions"),
    ];
    SPELLINGS
        .iter()
        .find(|(known, _)| known == name)
        .map_or(name.as_str(), |(_, spelling)| spelling)
}

/// The headers beyond framing and the body of a refusal, shared by [`reject`] and
/// [`reject_response`].
fn rejection_parts(error: &HandshakeError) -> (HeaderMap, String) {
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
    (headers, body)
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
