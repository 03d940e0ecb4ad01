//! The checks a server runs on a parsed opening request, before anything is answered: RFC 6455
//! §4.2.1 for an HTTP/1.1 upgrade, RFC 8441 §4–5 for an HTTP/2 extended CONNECT, and the
//! head's limits. Shared by the byte parser and by callers holding an [`http::Request`], so
//! that an upgrade is refused alike whichever way its head arrived.

use http::header::{
    CONNECTION, HOST, SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{HeaderMap, Method, Request, Version};

use super::http1::{self, Sole};
use super::{HandshakeError, is_valid_key};
use crate::Limits;
use crate::extensions::{ExtensionOffer, is_token, parse_extensions};

/// The value of the `:protocol` pseudo-header that asks for a WebSocket (RFC 8441 §4).
const WEBSOCKET_PROTOCOL: &str = "websocket";

/// What a valid request offers.
pub(super) struct Offer {
    /// The `Sec-WebSocket-Key`; empty for an extended CONNECT, which has none (RFC 8441 §5).
    pub(super) key: String,
    pub(super) protocols: Vec<String>,
    pub(super) extensions: Vec<ExtensionOffer>,
}

/// The checks of RFC 6455 §4.2.1 on an HTTP/1.1 upgrade request.
pub(super) fn check_upgrade<B>(request: &Request<B>) -> Result<Offer, HandshakeError> {
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
    if host_field(headers)?.is_none() {
        return Err(HandshakeError::MissingHost);
    }
    if !http1::has_token(headers, &UPGRADE, "websocket") {
        return Err(HandshakeError::UpgradeNotWebSocket);
    }
    if !http1::has_token(headers, &CONNECTION, "upgrade") {
        return Err(HandshakeError::ConnectionNotUpgrade);
    }
    check_version(headers)?;
    let key = match http1::sole(headers, &SEC_WEBSOCKET_KEY) {
        Sole::Absent => return Err(HandshakeError::MissingKey),
        Sole::One(key) if is_valid_key(key.as_bytes()) => {
            // Valid base64 is ASCII, so the conversion cannot lose anything.
            String::from_utf8_lossy(key.as_bytes()).into_owned()
        }
        Sole::One(_) | Sole::Repeated => return Err(HandshakeError::InvalidKey),
    };
    offer(headers, key)
}

/// The checks of RFC 8441 §4–5 on an HTTP/2 extended CONNECT request, whose `:protocol`
/// pseudo-header (not a header field; HTTP/2 servers hand it on beside the request) is
/// `protocol`: the request is HTTP/2, `:protocol` is `websocket`, `:scheme` is `http` or
/// `https`, `:path` is absolute, `:authority` is there (and a `Host` field, if sent too,
/// agrees with it), `Sec-WebSocket-Version` is 13, and the subprotocols and extensions are as
/// in RFC 6455. No `Upgrade`, `Connection` or `Sec-WebSocket-Key` is looked for: RFC 8441 §5
/// drops them. HTTP/2 servers differ in which pseudo-headers they insist on (h2 hands on a
/// CONNECT without `:authority`, and then without `:scheme`), so none is taken as checked.
pub(super) fn check_extended_connect<B>(
    request: &Request<B>,
    protocol: Option<&str>,
) -> Result<Offer, HandshakeError> {
    if request.method() != Method::CONNECT {
        return Err(HandshakeError::MethodNotConnect(request.method().clone()));
    }
    // Over HTTP/1.1 a CONNECT that succeeds opens a plain tunnel, never a WebSocket.
    if request.version() < Version::HTTP_2 {
        return Err(HandshakeError::ConnectNotHttp2(request.version()));
    }
    // The value is the token the HTTP/1.1 `Upgrade` field would carry (RFC 8441 §4), and is
    // matched the way that field's token is.
    if !protocol.is_some_and(|protocol| protocol.eq_ignore_ascii_case(WEBSOCKET_PROTOCOL)) {
        return Err(HandshakeError::ProtocolNotWebSocket);
    }
    let uri = request.uri();
    let headers = request.headers();
    // An `http::Uri` has a scheme only beside an authority: the missing host is the finding.
    check_authority(uri.authority().map(|authority| authority.as_str()), headers)?;
    // RFC 8441 §4 makes `:scheme` and `:path` part of an extended CONNECT, and §5 names
    // the two schemes a WebSocket has over HTTP/2.
    let scheme_allowed = uri.scheme_str().is_some_and(|scheme| {
        scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")
    });
    if !scheme_allowed || !uri.path().starts_with('/') {
        return Err(HandshakeError::InvalidTarget);
    }
    check_version(headers)?;
    offer(headers, String::new())
}

/// A CONNECT names its host in `:authority` (RFC 9113 §8.5, which RFC 8441 §4 keeps), and a
/// `Host` field sent beside it must name the same (RFC 9113 §8.3.1).
fn check_authority(authority: Option<&str>, headers: &HeaderMap) -> Result<(), HandshakeError> {
    match (authority, host_field(headers)?) {
        (None, _) => Err(HandshakeError::MissingHost),
        (Some(authority), Some(host)) if !authority.as_bytes().eq_ignore_ascii_case(host) => {
            Err(HandshakeError::InvalidHost)
        }
        (Some(_), _) => Ok(()),
    }
}

/// The `Host` field if there is one, checked to be single, not empty and visible ASCII.
fn host_field(headers: &HeaderMap) -> Result<Option<&[u8]>, HandshakeError> {
    match http1::sole(headers, &HOST) {
        Sole::Absent => Ok(None),
        Sole::One(host) if !host.is_empty() && host.to_str().is_ok() => Ok(Some(host.as_bytes())),
        Sole::One(_) | Sole::Repeated => Err(HandshakeError::InvalidHost),
    }
}

/// What an extended CONNECT's head carries outside its fields, as the HTTP/1.1 lines it
/// would take: `host: …` for `:authority`, and the protocol's name.
pub(super) fn pseudo_header_bytes<B>(request: &Request<B>, protocol: Option<&str>) -> usize {
    let authority = request
        .uri()
        .authority()
        .map_or(0, |authority| "host: \r\n".len() + authority.as_str().len());
    authority + protocol.map_or(0, str::len)
}

/// `Sec-WebSocket-Version` is present, single and 13.
fn check_version(headers: &HeaderMap) -> Result<(), HandshakeError> {
    match http1::sole(headers, &SEC_WEBSOCKET_VERSION) {
        Sole::One(version) if version.as_bytes() == b"13" => Ok(()),
        Sole::Absent => Err(HandshakeError::MissingVersion),
        // Another version, or several: answered with the one this server speaks (§4.4).
        // Checked before the key, whose form another version may define differently: the
        // client learns what to speak instead of only that its request was bad.
        Sole::One(_) | Sole::Repeated => Err(HandshakeError::UnsupportedVersion),
    }
}

/// The subprotocols and extensions offered, with the key already checked.
fn offer(headers: &HeaderMap, key: String) -> Result<Offer, HandshakeError> {
    let protocols = offered_protocols(headers)?;
    let extensions = parse_extensions(&http1::joined(headers, &SEC_WEBSOCKET_EXTENSIONS))
        .map_err(HandshakeError::InvalidExtensions)?;
    Ok(Offer {
        key,
        protocols,
        extensions,
    })
}

/// The limits [`HeadReader`](super::http1::HeadReader) enforces while reading bytes, applied
/// to a head parsed elsewhere. Its size is counted in HTTP/1.1 form ("GET /path
/// HTTP/1.1\r\n", "name: value\r\n" per field, the final "\r\n"), the fewest bytes it could
/// have arrived in; `extra` counts what an HTTP/2 head carries outside its fields
/// (`:authority`, `:protocol`).
pub(super) fn check_limits<B>(
    request: &Request<B>,
    limits: &Limits,
    extra: usize,
) -> Result<(), HandshakeError> {
    let headers = request.headers();
    if headers.len() > limits.max_headers {
        return Err(HandshakeError::TooManyHeaders {
            limit: limits.max_headers,
        });
    }
    let target = request
        .uri()
        .path_and_query()
        .map_or(1, |target| target.as_str().len());
    let line = request.method().as_str().len() + 1 + target + " HTTP/1.1\r\n".len();
    let fields: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + 2 + value.len() + 2)
        .sum();
    if line + fields + 2 + extra > limits.max_header_bytes {
        return Err(HandshakeError::RequestTooLarge {
            limit: limits.max_header_bytes,
        });
    }
    Ok(())
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
