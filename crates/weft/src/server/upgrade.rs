//! Upgrading inside an HTTP server that is not weft's (Tcl's `test`, `upgrade` and
//! `takeover`): check a request the server parsed, answer it, then take the connection over.
//!
//! The three steps, for any HTTP server that parses requests into [`http::Request`] and can
//! hand over the connection after answering:
//!
//! 1. [`check_request`] (Tcl's `test`) runs the checks of RFC 6455 §4.2.1 on the request.
//!    On an error, answer with [`reject_response`](weft_proto::handshake::server::reject_response) of it (its status is
//!    [`HandshakeError::status`]).
//! 2. [`UpgradeRequest::accept_response`] (Tcl's `upgrade`) is the 101 to send, with the
//!    subprotocol picked from [`UpgradeRequest::protocols`].
//! 3. Once the server has sent the 101 and let go of the connection,
//!    [`WebSocket::from_upgraded`] (Tcl's `takeover`) runs the WebSocket on it.
//!
//! The `hyper` feature does all three for hyper 1 and axum 0.8: see `weft::hyper`.

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite};
use weft_proto::handshake::server::UpgradeRequest;
use weft_proto::{HandshakeError, Limits, Role};

use crate::config::WebSocketConfig;
use crate::info::Handshaken;
use crate::socket::WebSocket;

/// Checks that `request`, parsed by another HTTP server, is a valid WebSocket upgrade request
/// within `limits` (Tcl's `test`): RFC 6455 §4.2.1, exactly as weft's own server checks the
/// bytes it reads. The body is not looked at.
///
/// The result names the path, the offered subprotocols and extensions for the caller's own
/// routing, and builds the 101 with [`UpgradeRequest::accept_response`].
///
/// ```
/// use weft::proto::Limits;
/// use weft::proto::handshake::server::Accept;
///
/// let request = http::Request::get("/chat")
///     .header("Host", "example.com")
///     .header("Upgrade", "websocket")
///     .header("Connection", "Upgrade")
///     .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
///     .header("Sec-WebSocket-Version", "13")
///     .header("Sec-WebSocket-Protocol", "chat")
///     .body(())?;
/// let upgrade = weft::server::check_request(&request, &Limits::DEFAULT)?;
/// let protocol = upgrade.choose_protocol(&["chat"]);
/// let response = upgrade.accept_response(Accept::new().protocol(protocol));
/// assert_eq!(response.status(), http::StatusCode::SWITCHING_PROTOCOLS);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// A [`HandshakeError`] when the request is not a valid upgrade request: 400 for a missing or
/// malformed field, 426 for a `Sec-WebSocket-Version` other than 13, 431 past `limits`.
/// Answer with [`reject_response`](weft_proto::handshake::server::reject_response), which carries [`HandshakeError::status`] and, on a 426,
/// `Sec-WebSocket-Version: 13`.
pub fn check_request<B>(
    request: &http::Request<B>,
    limits: &Limits,
) -> Result<UpgradeRequest, HandshakeError> {
    UpgradeRequest::from_request(request, limits)
}

impl<S> WebSocket<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    /// Takes over a connection that another HTTP server has upgraded (Tcl's `takeover`): the
    /// 101 has been sent, and `io` reads what the client sends after its request.
    ///
    /// Use [`Role::Server`] for the accepting side; a client that ran its own handshake uses
    /// [`Role::Client`]. The connection has no address, path or subprotocol in its
    /// [`info`](Self::info); [`WebSocket::from_parts`] takes them, and any bytes the server
    /// read past the request. Server-side keepalive (Tcl pings every 30 s from servers) is
    /// whatever `config` says: see [`WebSocketConfig::keepalive`].
    ///
    /// # Panics
    ///
    /// Not itself, but keepalive and timeouts need a tokio runtime with time enabled, like
    /// every other call of this type.
    pub fn from_upgraded(io: S, role: Role, config: WebSocketConfig) -> Self {
        WebSocket::from_parts(io, role, config, Handshaken::default(), BytesMut::new())
    }
}
