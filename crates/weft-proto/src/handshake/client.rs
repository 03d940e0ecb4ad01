//! The client side of the opening handshake (RFC 6455 §4.1): build the upgrade request, then
//! read and check the server's response.

use std::fmt::Write as _;
use std::net::Ipv6Addr;

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{
    CONNECTION, CONTENT_LENGTH, HOST, ORIGIN, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_EXTENSIONS,
    SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION, TRANSFER_ENCODING, UPGRADE,
};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use thiserror::Error;

use super::http1::{self, HeadReader, Sole};
use super::{HandshakeError, accept_key, generate_key};
use crate::Limits;
use crate::extensions::{ExtensionHeaderError, ExtensionOffer, is_token, parse_extensions};

/// What a client asks for in its upgrade request (§4.1): where to connect, and what it offers.
///
/// Fields are checked when the request becomes a [`ClientHandshake`], so the builder methods
/// chain without `?`.
///
/// ```
/// use weft_proto::handshake::client::ClientRequest;
///
/// let request = ClientRequest::new("example.com", Some(8080), "/chat?room=1", true)
///     .origin("https://example.com")
///     .protocol("v2.chat")
///     .protocol("chat")
///     .extension("permessage-deflate; client_max_window_bits");
/// # let _ = request;
/// ```
#[derive(Debug, Clone)]
pub struct ClientRequest {
    host: String,
    port: Option<u16>,
    path_and_query: String,
    secure: bool,
    origin: Option<String>,
    protocols: Vec<String>,
    extensions: Vec<String>,
    headers: HeaderMap,
}

impl ClientRequest {
    /// A request for `path_and_query` on `host`.
    ///
    /// `host` is a name, an IPv4 address or an IPv6 address with or without brackets. `port`
    /// `None`, or the scheme's default (80, or 443 when `secure`), is left out of `Host`.
    /// `secure` says whether the connection runs over TLS (`wss`). `path_and_query` is sent as
    /// the request target: a missing leading `/` is added, and bytes a request target may not
    /// hold (spaces, controls, non-ASCII, `#`) are percent-encoded, as §3 asks for `#`.
    pub fn new(host: &str, port: Option<u16>, path_and_query: &str, secure: bool) -> Self {
        ClientRequest {
            host: host.to_owned(),
            port,
            path_and_query: path_and_query.to_owned(),
            secure,
            origin: None,
            protocols: Vec::new(),
            extensions: Vec::new(),
            headers: HeaderMap::new(),
        }
    }

    /// Sends `Origin` (§4.1 item 8), as browsers do.
    pub fn origin(mut self, origin: &str) -> Self {
        self.origin = Some(origin.to_owned());
        self
    }

    /// Offers a subprotocol, a token (§4.1 item 10). Call once per subprotocol, most preferred
    /// first; they are sent in one `Sec-WebSocket-Protocol` field in that order.
    pub fn protocol(mut self, protocol: &str) -> Self {
        self.protocols.push(protocol.to_owned());
        self
    }

    /// Offers extensions: `offer` is a `Sec-WebSocket-Extensions` value (§9.1), for example
    /// `permessage-deflate; client_max_window_bits`. Offers from several calls are joined in
    /// order into one field.
    pub fn extension(mut self, offer: &str) -> Self {
        self.extensions.push(offer.to_owned());
        self
    }

    /// An extra header, such as `Authorization` or `Cookie`, sent after the handshake's own.
    /// Headers the handshake sets itself (`Host`, `Upgrade`, `Connection`, `Origin`,
    /// `Sec-WebSocket-*`) and body framing headers are refused by [`ClientHandshake::new`].
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }
}

/// A [`ClientRequest`] field that cannot be sent. The caller is at fault; nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The host is empty, or neither a registered name, an IPv4 address nor an IPv6 address.
    #[error("{0:?} is not a host name or IP address")]
    InvalidHost(String),
    /// The origin holds bytes a header value may not.
    #[error("origin {0:?} is not a valid header value")]
    InvalidOrigin(String),
    /// A subprotocol is not an HTTP token (§4.1 item 10).
    #[error("subprotocol {0:?} is not a token")]
    InvalidProtocol(String),
    /// An extension offer breaks the grammar of §9.1.
    #[error("extension offer {offer:?} is malformed")]
    InvalidExtension {
        /// The offer as given.
        offer: String,
        /// Where it breaks the grammar.
        #[source]
        source: ExtensionHeaderError,
    },
    /// An extra header that the handshake sets itself or that would give the request a body.
    #[error("header {0} may not be set by hand")]
    ReservedHeader(HeaderName),
}

/// The client's side of one opening handshake: the request to send and the check of the
/// response.
///
/// Send [`request_bytes`](Self::request_bytes), then feed what the server sends to
/// [`handle_response`](Self::handle_response) until it returns the accepted response.
#[derive(Debug)]
pub struct ClientHandshake {
    key: String,
    request: Bytes,
    protocols: Vec<String>,
    extension_names: Vec<String>,
    state: State,
}

#[derive(Debug)]
enum State {
    Reading(HeadReader),
    Finished,
}

/// A server's 101 response that passed every check of §4.1.
#[derive(Debug, Clone)]
pub struct ClientAccepted {
    /// The status line and headers as received.
    pub response: Response<()>,
    /// The subprotocol the server chose, one the client offered.
    pub subprotocol: Option<String>,
    /// The extensions the server accepted, with their parameters, all offered by the client.
    pub extensions: Vec<ExtensionOffer>,
}

/// The most body bytes kept in [`HandshakeError::UnexpectedStatus`].
const BODY_START_LIMIT: usize = 1024;

impl ClientHandshake {
    /// Checks `request`, draws a fresh `Sec-WebSocket-Key` (see
    /// [`generate_key`]) and renders the request. The response will be
    /// bounded by `limits.max_header_bytes` and `limits.max_headers`.
    ///
    /// # Errors
    ///
    /// A [`RequestError`] naming the first field of `request` that cannot be sent.
    pub fn new(request: ClientRequest, limits: &Limits) -> Result<Self, RequestError> {
        let key = generate_key();
        let host = host_field(&request.host, request.port, request.secure)?;
        let origin = request
            .origin
            .as_deref()
            .map(|origin| {
                HeaderValue::from_str(origin)
                    .map_err(|_| RequestError::InvalidOrigin(origin.to_owned()))
            })
            .transpose()?;
        if let Some(protocol) = request.protocols.iter().find(|p| !is_token(p)) {
            return Err(RequestError::InvalidProtocol(protocol.clone()));
        }
        let mut extension_names = Vec::new();
        for offer in &request.extensions {
            let parsed =
                parse_extensions(offer).map_err(|source| RequestError::InvalidExtension {
                    offer: offer.clone(),
                    source,
                })?;
            extension_names.extend(parsed.into_iter().map(|parsed| parsed.name));
        }
        if let Some(name) = request.headers.keys().find(|name| is_reserved(name)) {
            return Err(RequestError::ReservedHeader(name.clone()));
        }

        let mut out = BytesMut::with_capacity(256);
        out.put_slice(b"GET ");
        out.put_slice(request_target(&request.path_and_query).as_bytes());
        out.put_slice(b" HTTP/1.1\r\n");
        http1::put_header(&mut out, "Host", host.as_bytes());
        http1::put_header(&mut out, "Upgrade", b"websocket");
        http1::put_header(&mut out, "Connection", b"Upgrade");
        http1::put_header(&mut out, "Sec-WebSocket-Key", key.as_bytes());
        http1::put_header(&mut out, "Sec-WebSocket-Version", b"13");
        if let Some(origin) = origin {
            http1::put_header(&mut out, "Origin", origin.as_bytes());
        }
        if !request.protocols.is_empty() {
            let protocols = request.protocols.join(", ");
            http1::put_header(&mut out, "Sec-WebSocket-Protocol", protocols.as_bytes());
        }
        let offers: Vec<&str> = request
            .extensions
            .iter()
            .map(|offer| offer.trim_matches([' ', '\t']))
            .filter(|offer| !offer.is_empty())
            .collect();
        if !offers.is_empty() {
            let offers = offers.join(", ");
            http1::put_header(&mut out, "Sec-WebSocket-Extensions", offers.as_bytes());
        }
        for (name, value) in &request.headers {
            http1::put_header(&mut out, name.as_str(), value.as_bytes());
        }
        out.put_slice(b"\r\n");

        Ok(ClientHandshake {
            key,
            request: out.freeze(),
            protocols: request.protocols,
            extension_names,
            state: State::Reading(HeadReader::new(limits)),
        })
    }

    /// The request to send, whole.
    pub fn request_bytes(&self) -> Bytes {
        self.request.clone()
    }

    /// The `Sec-WebSocket-Key` sent.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Reads the response from the start of `buf`, which holds everything received so far.
    ///
    /// Returns `Ok(None)` when the head is not complete: append what arrives next to `buf` and
    /// call again. Returns `Ok(Some(accepted))` when the server accepted, with the head removed
    /// from `buf`; bytes after it (frames the server sent at once) stay in `buf`, to be passed
    /// to the connection started as [`Role::Client`](crate::Role::Client).
    ///
    /// # Errors
    ///
    /// [`HandshakeError::UnexpectedStatus`] for any status but 101; the head is then removed
    /// from `buf` and the body follows there. A response error ([`HandshakeError`]'s third
    /// group) when the response breaks §4.1 or the limits; `buf` is left as it was. Fail the
    /// connection in either case. Any call after the handshake has succeeded or failed returns
    /// [`HandshakeError::Finished`].
    ///
    /// # Cancel safety
    ///
    /// Progress lives in `self` and `buf`, so the caller may stop between calls and resume.
    pub fn handle_response(
        &mut self,
        buf: &mut BytesMut,
    ) -> Result<Option<ClientAccepted>, HandshakeError> {
        let State::Reading(reader) = &mut self.state else {
            return Err(HandshakeError::Finished);
        };
        let read = reader.read_response(buf);
        let (response, len) = match read {
            Ok(None) => return Ok(None),
            Ok(Some(head)) => head,
            Err(error) => {
                self.state = State::Finished;
                return Err(error);
            }
        };
        self.state = State::Finished;
        if response.status() != StatusCode::SWITCHING_PROTOCOLS {
            let _head = buf.split_to(len);
            let body_start = Bytes::copy_from_slice(&buf[..buf.len().min(BODY_START_LIMIT)]);
            let (parts, ()) = response.into_parts();
            return Err(HandshakeError::UnexpectedStatus {
                status: parts.status,
                headers: Box::new(parts.headers),
                body_start,
            });
        }
        let accepted = self.check(response)?;
        let _head = buf.split_to(len);
        Ok(Some(accepted))
    }

    /// The checks of §4.1 on a 101 response, in the RFC's order.
    fn check(&self, response: Response<()>) -> Result<ClientAccepted, HandshakeError> {
        let headers = response.headers();
        if !http1::has_token(headers, &UPGRADE, "websocket") {
            return Err(HandshakeError::MissingUpgrade);
        }
        if !http1::has_token(headers, &CONNECTION, "upgrade") {
            return Err(HandshakeError::MissingConnectionUpgrade);
        }
        match http1::sole(headers, &SEC_WEBSOCKET_ACCEPT) {
            Sole::One(accept) if accept.as_bytes() == accept_key(&self.key).as_bytes() => {}
            _ => return Err(HandshakeError::AcceptMismatch),
        }
        let extensions = parse_extensions(&http1::joined(headers, &SEC_WEBSOCKET_EXTENSIONS))
            .map_err(HandshakeError::InvalidResponseExtensions)?;
        if let Some(unoffered) = extensions.iter().find(|accepted| {
            !self
                .extension_names
                .iter()
                .any(|offered| offered.eq_ignore_ascii_case(&accepted.name))
        }) {
            return Err(HandshakeError::UnofferedExtension(unoffered.name.clone()));
        }
        let subprotocol = match http1::sole(headers, &SEC_WEBSOCKET_PROTOCOL) {
            Sole::Absent => None,
            Sole::Repeated => return Err(HandshakeError::MultipleSubprotocols),
            Sole::One(value) => {
                let value = String::from_utf8_lossy(value.as_bytes());
                if value.contains(',') {
                    return Err(HandshakeError::MultipleSubprotocols);
                }
                if !self.protocols.iter().any(|offered| *offered == value) {
                    return Err(HandshakeError::UnofferedSubprotocol(value.into_owned()));
                }
                Some(value.into_owned())
            }
        };
        Ok(ClientAccepted {
            response,
            subprotocol,
            extensions,
        })
    }
}

/// Whether [`ClientRequest::header`] may not add `name`.
fn is_reserved(name: &HeaderName) -> bool {
    [
        HOST,
        UPGRADE,
        CONNECTION,
        ORIGIN,
        SEC_WEBSOCKET_KEY,
        SEC_WEBSOCKET_VERSION,
        SEC_WEBSOCKET_PROTOCOL,
        SEC_WEBSOCKET_EXTENSIONS,
        SEC_WEBSOCKET_ACCEPT,
        CONTENT_LENGTH,
        TRANSFER_ENCODING,
    ]
    .contains(name)
}

/// The `Host` value (RFC 9110 §7.2): an IPv6 address in brackets, the port only when it is
/// not the scheme's default.
fn host_field(host: &str, port: Option<u16>, secure: bool) -> Result<String, RequestError> {
    let invalid = || RequestError::InvalidHost(host.to_owned());
    let bracketed = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    let mut field = match bracketed {
        Some(address) => {
            address.parse::<Ipv6Addr>().map_err(|_| invalid())?;
            host.to_owned()
        }
        None if host.contains(':') => {
            host.parse::<Ipv6Addr>().map_err(|_| invalid())?;
            format!("[{host}]")
        }
        None if !host.is_empty() && host.bytes().all(is_reg_name_byte) => host.to_owned(),
        None => return Err(invalid()),
    };
    let default = if secure { 443 } else { 80 };
    if let Some(port) = port.filter(|&port| port != default) {
        // Writing to a String cannot fail.
        let _ = write!(field, ":{port}");
    }
    Ok(field)
}

/// Bytes of an RFC 3986 reg-name: unreserved, sub-delims and `%` of pct-encoded.
fn is_reg_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(&byte)
}

/// `path_and_query` as an origin-form request target: rooted at `/`, with every byte a target
/// may not hold percent-encoded, so nothing the caller passes can break the request line.
fn request_target(path_and_query: &str) -> String {
    let mut target = String::with_capacity(path_and_query.len() + 1);
    if !path_and_query.starts_with('/') {
        target.push('/');
    }
    for byte in path_and_query.bytes() {
        if byte.is_ascii_graphic() && !b"\"#<>\\^`{|}".contains(&byte) {
            target.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(target, "%{byte:02X}");
        }
    }
    target
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_ports_are_left_out_of_host() {
        assert_eq!(
            host_field("a.example", Some(80), false).ok(),
            Some("a.example".into())
        );
        assert_eq!(
            host_field("a.example", Some(443), true).ok(),
            Some("a.example".into())
        );
        assert_eq!(
            host_field("a.example", Some(443), false).ok(),
            Some("a.example:443".into())
        );
        assert_eq!(
            host_field("a.example", None, true).ok(),
            Some("a.example".into())
        );
    }

    #[test]
    fn ipv6_hosts_are_bracketed_once() {
        assert_eq!(
            host_field("::1", Some(9001), false).ok(),
            Some("[::1]:9001".into())
        );
        assert_eq!(host_field("[::1]", None, false).ok(), Some("[::1]".into()));
    }

    #[test]
    fn hosts_that_could_break_the_head_are_refused() {
        for host in ["", "a b", "a\r\nX: y", "a/b", "[a.example]", "a:b", "[::1"] {
            assert!(host_field(host, None, false).is_err(), "{host:?}");
        }
    }

    #[test]
    fn request_target_is_rooted_and_encoded() {
        assert_eq!(request_target(""), "/");
        assert_eq!(request_target("?a=1"), "/?a=1");
        assert_eq!(request_target("/a b#c"), "/a%20b%23c");
        assert_eq!(request_target("/\r\n"), "/%0D%0A");
        assert_eq!(request_target("/é"), "/%C3%A9");
        assert_eq!(request_target("/a%20b?x=[1]"), "/a%20b?x=[1]");
    }

    #[test]
    fn invalid_origin_and_protocol_are_refused() {
        let request = ClientRequest::new("a", None, "/", false).origin("x\r\ny");
        assert!(matches!(
            ClientHandshake::new(request, &Limits::DEFAULT),
            Err(RequestError::InvalidOrigin(_))
        ));
        let request = ClientRequest::new("a", None, "/", false).protocol("a b");
        assert!(matches!(
            ClientHandshake::new(request, &Limits::DEFAULT),
            Err(RequestError::InvalidProtocol(_))
        ));
    }

    #[test]
    fn malformed_extension_offer_is_refused() {
        let request = ClientRequest::new("a", None, "/", false).extension("x; =1");
        assert!(matches!(
            ClientHandshake::new(request, &Limits::DEFAULT),
            Err(RequestError::InvalidExtension { .. })
        ));
    }

    #[test]
    fn second_call_after_failure_is_finished() {
        let request = ClientRequest::new("a", None, "/", false);
        let mut handshake = ClientHandshake::new(request, &Limits::DEFAULT).expect("valid");
        let mut buf = BytesMut::from("HTTP/1.1 200 OK\r\n\r\n");
        assert!(handshake.handle_response(&mut buf).is_err());
        assert_eq!(
            handshake.handle_response(&mut buf).err(),
            Some(HandshakeError::Finished)
        );
    }
}
