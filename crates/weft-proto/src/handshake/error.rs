//! Why an opening handshake failed, and the HTTP status that reports it.

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Version};
use thiserror::Error;

use crate::extensions::ExtensionHeaderError;

/// An opening handshake that failed (RFC 6455 §4), mapped to an HTTP status by
/// [`HandshakeError::status`].
///
/// The variants fall into groups by who is at fault:
///
/// - **The client's request**, found by [`ServerHandshake`](super::server::ServerHandshake):
///   400 for a missing or malformed field, 426 for an unsupported `Sec-WebSocket-Version`, 431
///   for a head over [`Limits`](crate::Limits). Pass the error to
///   [`server::reject`](super::server::reject) for the response to send.
/// - **The server's policy**, which this crate never checks but the layer above may:
///   [`OriginRefused`](Self::OriginRefused), [`SecureRequired`](Self::SecureRequired) (403) and
///   [`PathNotFound`](Self::PathNotFound) (404).
/// - **The server's response**, found by [`ClientHandshake`](super::client::ClientHandshake).
///   No response is sent for these; [`status`](Self::status) gives the status the server
///   answered with for [`UnexpectedStatus`](Self::UnexpectedStatus), and 502 Bad Gateway (what a
///   gateway relaying the handshake would report) for the rest.
/// - **The caller**: [`Finished`](Self::Finished), 500.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The request head is not HTTP/1.x syntax (§4.2.1 item 1); the text names the part that
    /// broke. 400.
    #[error("request is not valid HTTP: {0}")]
    MalformedRequest(&'static str),
    /// The request head did not end within
    /// [`Limits::max_header_bytes`](crate::Limits::max_header_bytes). 431.
    #[error("request head exceeds {limit} bytes")]
    RequestTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// The request has more than [`Limits::max_headers`](crate::Limits::max_headers) header
    /// fields. 431.
    #[error("request has more than {limit} header fields")]
    TooManyHeaders {
        /// The configured limit.
        limit: usize,
    },
    /// The method is not GET (§4.2.1 item 1). 400.
    #[error("method {0} is not GET")]
    MethodNotGet(Method),
    /// An extended CONNECT was expected (RFC 8441 §4), and the method is another. 400.
    #[error("method {0} is not CONNECT")]
    MethodNotConnect(Method),
    /// An extended CONNECT's `:protocol` pseudo-header is missing (a plain CONNECT, a proxy
    /// tunnel) or names another protocol than `websocket` (RFC 8441 §4). 400.
    #[error(":protocol is not websocket")]
    ProtocolNotWebSocket,
    /// An extended CONNECT arrived over HTTP/1.x, where a CONNECT opens a plain tunnel (RFC
    /// 8441 is HTTP/2's). 400.
    #[error("extended CONNECT over {0:?}, not HTTP/2")]
    ConnectNotHttp2(Version),
    /// The request is older than HTTP/1.1 (§4.2.1 item 1). 400.
    #[error("{0:?} is older than HTTP/1.1")]
    HttpVersionTooOld(Version),
    /// The request target is neither an absolute path nor an absolute URI (§4.1 item 3). 400.
    #[error("request target is not an absolute path or URI")]
    InvalidTarget,
    /// No `Host` header (§4.2.1 item 2). 400.
    #[error("no Host header")]
    MissingHost,
    /// `Host` is empty, repeated, or not visible ASCII (RFC 9112 §3.2). 400.
    #[error("Host header is empty, repeated or not visible ASCII")]
    InvalidHost,
    /// `Upgrade` is missing or does not list `websocket` (§4.2.1 item 3). 400.
    #[error("Upgrade header does not list websocket")]
    UpgradeNotWebSocket,
    /// `Connection` is missing or does not list the `upgrade` token (§4.2.1 item 4). 400.
    #[error("Connection header does not list upgrade")]
    ConnectionNotUpgrade,
    /// No `Sec-WebSocket-Key` header (§4.2.1 item 5). 400.
    #[error("no Sec-WebSocket-Key header")]
    MissingKey,
    /// No `Sec-WebSocket-Version` header (§4.2.1 item 6): a malformed upgrade, not a version
    /// this server lacks. 400.
    #[error("no Sec-WebSocket-Version header")]
    MissingVersion,
    /// `Sec-WebSocket-Key` is repeated or is not the base64 of exactly 16 bytes (§4.2.1 item 5).
    /// 400.
    #[error("Sec-WebSocket-Key is not the base64 of 16 bytes")]
    InvalidKey,
    /// `Sec-WebSocket-Version` is repeated or not 13 (§4.2.1 item 6). 426, and the
    /// rejection carries `Sec-WebSocket-Version: 13` (§4.4).
    #[error("Sec-WebSocket-Version is not 13")]
    UnsupportedVersion,
    /// `Sec-WebSocket-Protocol` holds something other than a list of tokens (§4.1 item 10). 400.
    #[error("Sec-WebSocket-Protocol is not a list of tokens")]
    InvalidProtocols,
    /// `Sec-WebSocket-Extensions` in the request breaks the grammar of §9.1. 400.
    #[error("Sec-WebSocket-Extensions in the request is malformed")]
    InvalidExtensions(#[source] ExtensionHeaderError),
    /// The server refuses the request's `Origin` (§4.2.2, §10.2). Never produced by this crate:
    /// the server's policy constructs it. 403.
    #[error("origin not allowed")]
    OriginRefused,
    /// The server only serves this resource over TLS (`wss`). Never produced by this crate: the
    /// server's policy constructs it. 403.
    #[error("a secure connection is required")]
    SecureRequired,
    /// The server serves no WebSocket at this path. Never produced by this crate: the server's
    /// routing constructs it. 404.
    #[error("no WebSocket endpoint at this path")]
    PathNotFound,
    /// The server answered with a status other than 101, including any 2xx (§4.1: "any status
    /// code other than 101 ... per HTTP procedures"). [`status`](Self::status) returns it.
    #[error("server answered {status} instead of 101 Switching Protocols")]
    UnexpectedStatus {
        /// The status the server sent.
        status: StatusCode,
        /// The response's header fields, for redirects (`Location`) and authentication
        /// (`WWW-Authenticate`). Boxed to keep every `Result` carrying this error small.
        headers: Box<HeaderMap>,
        /// The bytes after the head that had already arrived, at most 1 KiB: the start of the
        /// body, which usually says why.
        body_start: Bytes,
    },
    /// The response head is not HTTP/1.x syntax; the text names the part that broke. 502.
    #[error("response is not valid HTTP: {0}")]
    MalformedResponse(&'static str),
    /// The response head exceeded [`Limits::max_header_bytes`](crate::Limits::max_header_bytes)
    /// or [`Limits::max_headers`](crate::Limits::max_headers). 502.
    #[error("response head exceeds the configured limits")]
    ResponseTooLarge,
    /// The 101 response's `Upgrade` does not list `websocket` (§4.1, server response item 2).
    /// 502.
    #[error("response Upgrade header does not list websocket")]
    MissingUpgrade,
    /// The 101 response's `Connection` does not list `upgrade` (§4.1, server response item 3).
    /// 502.
    #[error("response Connection header does not list upgrade")]
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Accept` is missing, repeated, or not derived from the key sent (§4.1,
    /// server response item 4). 502.
    #[error("Sec-WebSocket-Accept does not match the key sent")]
    AcceptMismatch,
    /// The response names more than one subprotocol (§4.1, server response item 6). 502.
    #[error("response names more than one subprotocol")]
    MultipleSubprotocols,
    /// The response names a subprotocol the client did not offer (§4.1, server response item 6).
    /// 502.
    #[error("server chose subprotocol {0:?}, which was not offered")]
    UnofferedSubprotocol(String),
    /// `Sec-WebSocket-Extensions` in the response breaks the grammar of §9.1. 502.
    #[error("Sec-WebSocket-Extensions in the response is malformed")]
    InvalidResponseExtensions(#[source] ExtensionHeaderError),
    /// The response accepts an extension the client did not offer (§4.1, server response
    /// item 5). 502.
    #[error("server accepted extension {0:?}, which was not offered")]
    UnofferedExtension(String),
    /// A `handle_*` method was called again after the handshake had succeeded or failed. 500.
    #[error("the handshake has already finished")]
    Finished,
}

impl HandshakeError {
    /// The HTTP status for this error: what a server answers with for request and policy
    /// errors, and for response errors the status a gateway would report (see the type's
    /// documentation).
    ///
    /// ```
    /// use http::StatusCode;
    /// use weft_proto::HandshakeError;
    ///
    /// assert_eq!(HandshakeError::UnsupportedVersion.status(), StatusCode::UPGRADE_REQUIRED);
    /// assert_eq!(HandshakeError::InvalidKey.status(), StatusCode::BAD_REQUEST);
    /// assert_eq!(HandshakeError::AcceptMismatch.status(), StatusCode::BAD_GATEWAY);
    /// ```
    pub fn status(&self) -> StatusCode {
        match self {
            HandshakeError::MalformedRequest(_)
            | HandshakeError::MethodNotGet(_)
            | HandshakeError::MethodNotConnect(_)
            | HandshakeError::ProtocolNotWebSocket
            | HandshakeError::ConnectNotHttp2(_)
            | HandshakeError::HttpVersionTooOld(_)
            | HandshakeError::InvalidTarget
            | HandshakeError::MissingHost
            | HandshakeError::InvalidHost
            | HandshakeError::UpgradeNotWebSocket
            | HandshakeError::ConnectionNotUpgrade
            | HandshakeError::MissingKey
            | HandshakeError::MissingVersion
            | HandshakeError::InvalidKey
            | HandshakeError::InvalidProtocols
            | HandshakeError::InvalidExtensions(_) => StatusCode::BAD_REQUEST,
            HandshakeError::RequestTooLarge { .. } | HandshakeError::TooManyHeaders { .. } => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            HandshakeError::UnsupportedVersion => StatusCode::UPGRADE_REQUIRED,
            HandshakeError::OriginRefused | HandshakeError::SecureRequired => StatusCode::FORBIDDEN,
            HandshakeError::PathNotFound => StatusCode::NOT_FOUND,
            HandshakeError::UnexpectedStatus { status, .. } => *status,
            HandshakeError::MalformedResponse(_)
            | HandshakeError::ResponseTooLarge
            | HandshakeError::MissingUpgrade
            | HandshakeError::MissingConnectionUpgrade
            | HandshakeError::AcceptMismatch
            | HandshakeError::MultipleSubprotocols
            | HandshakeError::UnofferedSubprotocol(_)
            | HandshakeError::InvalidResponseExtensions(_)
            | HandshakeError::UnofferedExtension(_) => StatusCode::BAD_GATEWAY,
            HandshakeError::Finished => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_errors_map_to_4xx() {
        assert_eq!(
            HandshakeError::MethodNotGet(Method::POST).status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            HandshakeError::RequestTooLarge { limit: 1 }.status(),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
        assert_eq!(
            HandshakeError::TooManyHeaders { limit: 1 }.status(),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
        assert_eq!(
            HandshakeError::UnsupportedVersion.status(),
            StatusCode::UPGRADE_REQUIRED
        );
    }

    #[test]
    fn policy_errors_map_to_403_and_404() {
        assert_eq!(
            HandshakeError::OriginRefused.status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            HandshakeError::SecureRequired.status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(HandshakeError::PathNotFound.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn unexpected_status_reports_the_servers_status() {
        let error = HandshakeError::UnexpectedStatus {
            status: StatusCode::UNAUTHORIZED,
            headers: Box::default(),
            body_start: Bytes::new(),
        };
        assert_eq!(error.status(), StatusCode::UNAUTHORIZED);
    }
}
