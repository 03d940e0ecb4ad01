//! The error type of the tokio layer: one enum, each variant naming what broke.

use std::io;

use thiserror::Error;
use weft_proto::handshake::client::RequestError;
use weft_proto::{HandshakeError, ProtocolError, UsageError};

use crate::client::proxy::ProxyError;
use crate::client::tls::TlsError;

/// What went wrong with a connection, its handshake, or a call.
///
/// A clean close is never an error: a connection's stream of messages simply ends.
///
/// The variants for setting a connection up hold their details boxed, which keeps the
/// type at 32 bytes on 64-bit targets: every `Result` of a receive carries one, and an
/// error's size is copied with each message however rarely it is an error.
///
/// ```
/// use weft::Error;
/// use weft::proto::HandshakeError;
///
/// fn refused_with(error: &Error) -> Option<u16> {
///     match error {
///         Error::Handshake(e) => match &**e {
///             HandshakeError::UnexpectedStatus { status, .. } => Some(status.as_u16()),
///             _ => None,
///         },
///         _ => None,
///     }
/// }
/// # if cfg!(target_pointer_width = "64") {
/// #     assert_eq!(std::mem::size_of::<Error>(), 32);
/// # }
/// # assert_eq!(refused_with(&Error::ConnectionLost), None);
/// ```
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing the transport failed.
    #[error("I/O error: {0}")]
    Io(#[source] io::Error),
    /// The peer broke the protocol; the connection was closed with the error's close code.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// The opening handshake failed.
    #[error("handshake failed: {0}")]
    Handshake(Box<HandshakeError>),
    /// The call is not allowed in the connection's state.
    #[error("{0}")]
    Usage(#[from] UsageError),
    /// The client's request could not be built from what the caller gave.
    #[error("bad request: {0}")]
    Request(Box<RequestError>),
    /// An extra header whose name or value is not valid HTTP.
    #[error("invalid header {name:?}")]
    InvalidHeader {
        /// The header's name as given.
        name: String,
    },
    /// The server's permessage-deflate answer does not fit the offer (RFC 7692 §5).
    #[error("permessage-deflate negotiation: {0}")]
    Deflate(#[from] weft_proto::extensions::deflate::DeflateNegotiationError),
    /// The URL could not be used.
    #[error("bad URL: {0}")]
    Url(#[from] UrlError),
    /// TLS could not be set up or its handshake failed.
    #[error("TLS: {0}")]
    Tls(Box<TlsError>),
    /// The proxy refused or broke the tunnel.
    #[error("proxy: {0}")]
    Proxy(Box<ProxyError>),
    /// A deadline passed.
    #[error("timed out: {0}")]
    Timeout(Timeout),
    /// The connection ended without a close frame (close code 1006).
    #[error("connection lost without a close frame")]
    ConnectionLost,
    /// The server answered the upgrade with a redirect past the limit of redirects to follow,
    /// or from wss to ws (a redirect never leaves TLS).
    #[error("redirected to {location} (status {status})")]
    Redirect {
        /// The HTTP status.
        status: u16,
        /// Where the server pointed.
        location: String,
    },
}

/// The marker inside the `io::Error` of a write that timed out, which the connection reports
/// as [`Timeout::Write`].
#[derive(Debug)]
pub(crate) struct WriteStalled;

impl std::fmt::Display for WriteStalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the peer took no bytes for the write timeout")
    }
}

impl std::error::Error for WriteStalled {}

/// Whether `error` is a write timeout.
pub(crate) fn is_write_stall(error: &io::Error) -> bool {
    error
        .get_ref()
        .is_some_and(|inner| inner.is::<WriteStalled>())
}

/// A write that timed out is reported as the timeout it is; any other I/O error as itself.
impl From<io::Error> for Error {
    fn from(error: io::Error) -> Self {
        if is_write_stall(&error) {
            Error::Timeout(Timeout::Write)
        } else {
            Error::Io(error)
        }
    }
}

/// The boxed variants convert from their unboxed errors, so `?` works on either.
macro_rules! boxed_from {
    ($($variant:ident($error:ty)),*) => {$(
        impl From<$error> for Error {
            fn from(error: $error) -> Self {
                Error::$variant(Box::new(error))
            }
        }
    )*};
}

boxed_from!(
    Handshake(HandshakeError),
    Request(RequestError),
    Tls(TlsError),
    Proxy(ProxyError)
);

/// Which deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Timeout {
    /// Establishing TCP (and the proxy tunnel).
    Connect,
    /// The opening handshake, TLS included.
    Handshake,
    /// The close handshake; the transport was closed without waiting longer.
    Close,
    /// A keepalive PING got no PONG in time.
    Pong,
    /// Nothing arrived from the peer for the idle timeout.
    Idle,
    /// The peer took none of the bytes waiting to be written for the write timeout.
    Write,
}

impl std::fmt::Display for Timeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Timeout::Connect => "connect",
            Timeout::Handshake => "opening handshake",
            Timeout::Close => "close handshake",
            Timeout::Pong => "no PONG to keepalive PING",
            Timeout::Idle => "idle",
            Timeout::Write => "peer not reading (write)",
        })
    }
}

/// A URL that cannot be used to open a WebSocket.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum UrlError {
    /// The text is not a URL.
    #[error("{0}")]
    Parse(#[from] url::ParseError),
    /// The scheme is not ws, wss, http or https.
    #[error("unsupported scheme {0:?} (use ws:// or wss://)")]
    UnsupportedScheme(String),
    /// The URL has no host.
    #[error("URL has no host")]
    MissingHost,
    /// The URL has a fragment, which WebSocket URLs may not (RFC 6455 §3).
    #[error("WebSocket URLs may not have a fragment")]
    Fragment,
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_io_error_keeps_its_source() {
        let error = Error::from(io::Error::new(io::ErrorKind::BrokenPipe, "gone"));
        assert!(matches!(error, Error::Io(_)));
        let source = std::error::Error::source(&error).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("gone"));
    }

    #[test]
    fn a_stalled_write_is_reported_as_timeout_write() {
        let stalled = io::Error::new(io::ErrorKind::TimedOut, WriteStalled);
        assert!(matches!(
            Error::from(stalled),
            Error::Timeout(Timeout::Write)
        ));
        // Any other timeout of the transport stays an I/O error.
        let other = io::Error::new(io::ErrorKind::TimedOut, "slow");
        assert!(matches!(Error::from(other), Error::Io(_)));
    }
}
