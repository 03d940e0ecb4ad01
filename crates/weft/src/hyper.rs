//! Upgrading requests of a hyper 1 server, or an axum 0.8 app, to WebSockets (feature
//! `hyper`): Tcl's `test`, `upgrade` and `takeover` in one call.
//!
//! [`upgrade`] checks the request (RFC 6455 §4.2.1, exactly as weft's own server does) and
//! returns the 101 response (200 over HTTP/2) for the service to return, and an
//! [`UpgradeFut`] that resolves to the [`WebSocket`] once hyper has sent it and handed the
//! connection over. Spawn the future: it cannot resolve before the service has returned the
//! response. On a failed check, answer with [`rejection`].
//!
//! The connection must be served with upgrades enabled: `http1::Builder::serve_connection(..)
//! .with_upgrades()` in hyper, which `axum::serve` already does.
//!
//! With feature `http2`, a WebSocket over HTTP/2 (RFC 8441) is taken the same way: an
//! extended CONNECT whose `:protocol` is `websocket` gets a 200 instead of the 101, and the
//! WebSocket runs on the request's stream beside the connection's other requests. The
//! server must announce that it takes such requests, or clients never send them:
//! `http2::Builder::enable_connect_protocol()` in hyper; `axum::serve` does it when axum's
//! own `http2` feature is on. An axum route that takes them is routed for CONNECT as well as
//! GET (`any(..)`). Every WebSocket on a connection is a stream of it, so hyper's
//! `max_concurrent_streams` bounds how many one client opens at once, and its
//! `max_header_list_size` how large a head it reads before the checks here.
//!
//! ```no_run
//! use std::convert::Infallible;
//!
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use hyper::{Request, Response};
//! use weft::WebSocketConfig;
//!
//! async fn serve(mut request: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
//!     let (response, websocket) = match weft::hyper::upgrade(&mut request, WebSocketConfig::default()) {
//!         Ok(upgrade) => upgrade,
//!         Err(error) => return Ok(weft::hyper::rejection(&error)),
//!     };
//!     tokio::spawn(async move {
//!         let Ok(mut ws) = websocket.await else { return };
//!         while let Some(Ok(message)) = ws.recv().await {
//!             if message.is_data() && ws.send(message).await.is_err() {
//!                 break;
//!             }
//!         }
//!     });
//!     Ok(response.map(|_| Full::default()))
//! }
//! ```

use std::future::Future;
use std::io;
use std::mem;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use http::HeaderValue;
use http::header::{SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_PROTOCOL};
use http_body_util::{Empty, Full};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use weft_proto::extensions::deflate;
use weft_proto::handshake::server::{Accept, UpgradeRequest, reject_response};
use weft_proto::{HandshakeError, Limits, Role};

use crate::config::WebSocketConfig;
use crate::error::{Error, Result};
use crate::info::Handshaken;
use crate::server::check_request;
use crate::socket::WebSocket;

/// Upgrades a hyper request: checks it, returns the 101 response (or 200) to send back, and a
/// future that resolves to the WebSocket once hyper hands over the connection. No subprotocol is
/// chosen ([`upgrade_with`] chooses one); permessage-deflate is agreed as `config` says.
///
/// The request's body is not read, and its hand-over slot (hyper's `OnUpgrade` extension) is
/// taken, so call this once per request. `config` applies to the WebSocket; its limits also
/// bound the request's header fields. With feature `http2`, an HTTP/2 extended CONNECT is
/// checked as [`check`] says and answered with 200.
///
/// # Errors
///
/// A [`HandshakeError`] when the request is not a valid upgrade request (400, 426 or 431);
/// answer with [`rejection`] of it. The request is left as it was.
pub fn upgrade<B>(
    request: &mut Request<B>,
    config: WebSocketConfig,
) -> Result<(Response<Empty<Bytes>>, UpgradeFut), HandshakeError> {
    upgrade_with(request, config, Accept::new())
}

/// [`upgrade`], answering with what `accept` adds to the 101 or 200: the subprotocol chosen,
/// extensions, extra headers such as `Set-Cookie`. Pick the subprotocol from what
/// [`check`] returns, for example with
/// [`UpgradeRequest::choose_protocol`](weft_proto::handshake::server::UpgradeRequest::choose_protocol);
/// one the client did not offer is left out of the response (and fails a debug assertion).
/// The WebSocket's [`subprotocol`](WebSocket::subprotocol) and [`info`](WebSocket::info)
/// report what the answer says.
///
/// permessage-deflate (RFC 7692) is agreed as `config` says
/// ([`WebSocketConfig::deflate`], on by default), exactly as weft's own server agrees it, and
/// its answer replaces any extensions in `accept`. Other extensions in `accept` are announced
/// as given but not run by the WebSocket.
///
/// ```
/// use weft::WebSocketConfig;
/// use weft::proto::handshake::server::Accept;
///
/// let mut request = http::Request::get("/chat")
///     .header("Host", "example.com")
///     .header("Upgrade", "websocket")
///     .header("Connection", "Upgrade")
///     .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
///     .header("Sec-WebSocket-Version", "13")
///     .header("Sec-WebSocket-Protocol", "v2.chat, v1.chat")
///     .body(())?;
/// let config = WebSocketConfig::default();
/// let offered = weft::hyper::check(&request, config.protocol_config().limits())?;
/// let protocol = offered.choose_protocol(&["v1.chat", "v2.chat"]);
/// let (response, _websocket) =
///     weft::hyper::upgrade_with(&mut request, config, Accept::new().protocol(protocol))?;
/// assert_eq!(response.headers()["sec-websocket-protocol"], "v1.chat");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// As for [`upgrade`].
pub fn upgrade_with<B>(
    request: &mut Request<B>,
    config: WebSocketConfig,
    accept: Accept,
) -> Result<(Response<Empty<Bytes>>, UpgradeFut), HandshakeError> {
    let checked = check(request, config.protocol_config().limits())?;
    // permessage-deflate is agreed as weft's own server agrees it, so that a route moved
    // into hyper compresses as before.
    let deflate = config
        .deflate_value()
        .and_then(|settings| deflate::server_negotiate(settings, checked.extensions()))
        .and_then(|(params, answer)| Some((params, HeaderValue::from_str(&answer).ok()?)));
    let accept = match &deflate {
        Some((_, answer)) => accept.extensions(answer.clone()),
        None => accept,
    };
    let response = checked.accept_response(accept);
    // What the answer says is what was negotiated: accept_response leaves out an unoffered
    // subprotocol, so reading it back cannot disagree with the client.
    let headers = response.headers();
    let handshaken = Handshaken {
        path: checked
            .request()
            .uri()
            .path_and_query()
            .map_or_else(|| checked.path().to_owned(), ToString::to_string),
        subprotocol: headers
            .get(SEC_WEBSOCKET_PROTOCOL)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned),
        extensions: headers
            .get_all(SEC_WEBSOCKET_EXTENSIONS)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .map(str::to_owned)
            .collect(),
        deflate: deflate.map(|(params, _)| params),
        // The addresses are the HTTP server's to know.
        ..Handshaken::default()
    };
    let on = hyper::upgrade::on(request);
    let future = UpgradeFut {
        state: State::Waiting(Box::new(Waiting {
            on,
            config,
            handshaken,
        })),
    };
    Ok((response.map(|()| Empty::new()), future))
}

/// Checks a request for [`upgrade_with`], to route on and to choose its subprotocol from:
/// [`check_request`] for an HTTP/1.1 upgrade and, with feature `http2`, an HTTP/2 extended
/// CONNECT (RFC 8441) checked by
/// [`UpgradeRequest::from_extended_connect`] with the `:protocol` that hyper hands on as
/// its `hyper::ext::Protocol` extension. A CONNECT over HTTP/1.1 (a proxy tunnel), or any
/// CONNECT without feature `http2`, is refused like any other method than GET
/// ([`HandshakeError::MethodNotGet`], 400).
///
/// # Errors
///
/// A [`HandshakeError`] when the request is not a valid upgrade request; answer with
/// [`rejection`] of it.
pub fn check<B>(request: &Request<B>, limits: &Limits) -> Result<UpgradeRequest, HandshakeError> {
    #[cfg(feature = "http2")]
    if request.method() == http::Method::CONNECT && request.version() >= http::Version::HTTP_2 {
        let protocol = request
            .extensions()
            .get::<hyper::ext::Protocol>()
            .map(hyper::ext::Protocol::as_str);
        return UpgradeRequest::from_extended_connect(request, protocol, limits);
    }
    check_request(request, limits)
}

/// The response refusing a request that [`upgrade`] or [`check_request`] failed:
/// [`HandshakeError::status`], `Sec-WebSocket-Version: 13` on a 426 (RFC 6455 §4.4),
/// `Connection: close`, and a short text body saying why. The same status, headers and body
/// as weft's own server sends. Over HTTP/2, where connection fields have no place, hyper
/// leaves `Connection` out and the stream ends with the body.
pub fn rejection(error: &HandshakeError) -> Response<Full<Bytes>> {
    reject_response(error).map(|body| Full::new(Bytes::from(body)))
}

/// Resolves to the [`WebSocket`] once hyper has sent the 101 response and handed over the
/// connection (Tcl's `takeover`), or, for an HTTP/2 extended CONNECT, sent the 200 and
/// handed over the request's stream. Returned by [`upgrade`].
///
/// Spawn it, or await it anywhere but in the service call that returns the response: hyper
/// hands the connection over only after that call has returned.
///
/// # Errors
///
/// [`Error::Io`] when hyper cannot hand the connection over: the client went away before the
/// answer was sent, the connection is not served with upgrades enabled, or the request did not
/// come from a hyper server. Also [`Error::Io`] when polled again after it has resolved.
///
/// # Cancel safety
///
/// Dropping it drops the connection, once hyper hands it over.
#[derive(Debug)]
#[must_use = "the WebSocket arrives only through this future; spawn it"]
pub struct UpgradeFut {
    state: State,
}

#[derive(Debug)]
enum State {
    /// Boxed so the future stays small while it waits, which is most of its life.
    Waiting(Box<Waiting>),
    Done,
}

#[derive(Debug)]
struct Waiting {
    on: OnUpgrade,
    config: WebSocketConfig,
    handshaken: Handshaken,
}

impl Future for UpgradeFut {
    type Output = Result<WebSocket<TokioIo<Upgraded>>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let State::Waiting(waiting) = &mut this.state else {
            return Poll::Ready(Err(already_resolved()));
        };
        let upgraded = ready!(Pin::new(&mut waiting.on).poll(cx));
        // The match above found Waiting and nothing has changed it since.
        let State::Waiting(waiting) = mem::replace(&mut this.state, State::Done) else {
            return Poll::Ready(Err(already_resolved()));
        };
        let upgraded = upgraded.map_err(|e| Error::Io(io::Error::other(e)))?;
        // hyper's Upgraded replays the bytes it read past the request before reading the
        // socket, so nothing is left over to hand in here.
        Poll::Ready(Ok(WebSocket::from_parts(
            TokioIo::new(upgraded),
            Role::Server,
            waiting.config,
            waiting.handshaken,
            BytesMut::new(),
        )))
    }
}

fn already_resolved() -> Error {
    Error::Io(io::Error::other("UpgradeFut polled after it resolved"))
}
