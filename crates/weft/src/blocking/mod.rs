//! The client and connection over `std::net`, with no runtime: curl's connect-only model
//! (`CURLOPT_CONNECT_ONLY` = 2, then `curl_ws_recv` / `curl_ws_send`).
//!
//! [`connect`] runs TCP, the proxy tunnel, TLS and the opening handshake on the calling thread
//! and returns an open [`WebSocket`]; from then on every call reads or writes the socket
//! directly and returns when that is done. Options, errors and behaviour are the async
//! client's ([`crate::ClientBuilder`]): the same [`Error`], the same redirect rule, the same
//! RFC 6455 §4.1 limit of one connection CONNECTING per host and port.
//!
//! ```no_run
//! use std::time::Duration;
//! use weft::Message;
//! use weft::blocking::ClientBuilder;
//!
//! # fn main() -> Result<(), weft::Error> {
//! let mut ws = ClientBuilder::new("ws://127.0.0.1:9001/chat")
//!     .read_timeout(Some(Duration::from_secs(30)))
//!     .connect()?;
//! ws.send(Message::text("hello"))?;
//! while let Some(message) = ws.recv() {
//!     println!("{:?}", message?);
//! }
//! # Ok(()) }
//! ```

mod reads;
mod socket;
mod stream;

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rustls::StreamOwned;
use weft_proto::extensions::deflate;
use weft_proto::handshake::client::{ClientAccepted, ClientHandshake};
use weft_proto::{HandshakeError, Role};

use crate::client::Target;
use crate::client::gate;
use crate::client::options::{Attempt, ClientOptions, RequestHook, client_builder_methods};
use crate::client::proxy::{self, ProxyError};
use crate::client::tls::{self, TlsError};
use crate::error::{Error, Result, Timeout};
use crate::info::Handshaken;
use stream::{Deadline, is_timeout};

pub use socket::WebSocket;
pub use stream::Stream;

/// Opens a WebSocket to `url` (`ws://` or `wss://`) with default settings, blocking until the
/// opening handshake is done.
///
/// # Errors
///
/// See [`ClientBuilder::connect`].
///
/// ```no_run
/// # fn main() -> Result<(), weft::Error> {
/// let mut ws = weft::blocking::connect("ws://127.0.0.1:9001/")?;
/// ws.send(weft::Message::text("hello"))?;
/// # Ok(()) }
/// ```
pub fn connect(url: &str) -> Result<WebSocket<Stream>> {
    ClientBuilder::new(url).connect()
}

/// Settings for opening a blocking client connection: those of the async
/// [`ClientBuilder`](crate::ClientBuilder), plus the socket's read and write timeouts.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    url: String,
    options: ClientOptions,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

impl ClientBuilder {
    /// A builder for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        ClientBuilder {
            url: url.into(),
            options: ClientOptions::default(),
            read_timeout: None,
            write_timeout: None,
        }
    }

    client_builder_methods!();

    /// How long a read of the open connection may block (`TcpStream::set_read_timeout`);
    /// `None`, the default, waits forever. A [`WebSocket::recv`] that times out returns
    /// [`Error::Io`] and may be called again without losing data. The opening handshake has
    /// its own deadline ([`handshake_timeout`](Self::handshake_timeout)).
    pub fn read_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// How long a write of the open connection may block (`TcpStream::set_write_timeout`);
    /// `None`, the default, waits forever. A send that times out keeps the unwritten rest
    /// queued for the next call that writes.
    pub fn write_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// Calls `hook` with the bytes of each upgrade request just before they are sent, as
    /// [`crate::ClientBuilder::inspect_request`] does.
    pub fn inspect_request(mut self, hook: impl Fn(&[u8]) + Send + Sync + 'static) -> Self {
        self.options.on_request = Some(RequestHook(Arc::new(hook)));
        self
    }

    /// Connects and runs the opening handshake.
    ///
    /// # Errors
    ///
    /// [`Error::Url`] for a bad URL, [`Error::Request`] or [`Error::InvalidHeader`] for a
    /// request that cannot be sent, [`Error::Io`] if TCP fails (or a zero read or write
    /// timeout is set), [`Error::Proxy`] and [`Error::Tls`] for those layers,
    /// [`Error::Timeout`] past the connect or handshake deadline, [`Error::Redirect`] past the
    /// redirect limit, [`Error::Deflate`] for a permessage-deflate answer that does not fit
    /// the offer, and [`Error::Handshake`] when the server does not accept: a non-101 answer
    /// (even a 2xx) carries the status, headers and the first bytes of the body.
    pub fn connect(self) -> Result<WebSocket<Stream>> {
        Ok(self.connect_with_response()?.0)
    }

    /// As [`connect`](Self::connect), also returning the server's 101 response.
    ///
    /// # Errors
    ///
    /// As for [`connect`](Self::connect).
    pub fn connect_with_response(mut self) -> Result<(WebSocket<Stream>, http::Response<()>)> {
        let mut target = Target::parse(&self.url)?;
        let mut redirects = 0;
        loop {
            let outcome = self.open(&target);
            match self.options.after_attempt(&target, outcome, &mut redirects) {
                Attempt::Follow(next) => target = next,
                Attempt::Done(outcome) => return outcome,
            }
        }
    }

    /// One attempt at `target`: no redirects.
    fn open(&self, target: &Target) -> Result<(WebSocket<Stream>, http::Response<()>)> {
        let options = &self.options;
        let mut handshake = options.handshake(target)?;
        let _connecting = gate::blocking::enter(&target.authority());

        let tcp = connect_tcp(target, options)?;
        // Small frames go out at once; a blocking send writes whole frames anyway.
        tcp.set_nodelay(true)?;
        let peer_addr = tcp.peer_addr().ok();
        let local_addr = tcp.local_addr().ok();

        let deadline = Instant::now() + options.handshake_timeout;
        let hook = options.on_request.as_ref();
        let (stream, accepted, leftover) = if target.is_secure() {
            let mut tls = tls::connect_tls_blocking(
                Deadline::new(&tcp, deadline),
                target.host(),
                &options.tls,
            )
            .map_err(|e| match e {
                TlsError::Handshake(io) if is_timeout(&io) => Error::Timeout(Timeout::Handshake),
                e => e.into(),
            })?;
            let (accepted, leftover) = exchange(&mut tls, &mut handshake, hook)?;
            // The session (and any plaintext it already decrypted) moves onto the owned
            // socket, leaving the deadline behind.
            let (session, _) = tls.into_parts();
            let stream = Stream::Tls(Box::new(StreamOwned::new(session, tcp)));
            (stream, accepted, leftover)
        } else {
            let (accepted, leftover) =
                exchange(&mut Deadline::new(&tcp, deadline), &mut handshake, hook)?;
            (Stream::Plain(tcp), accepted, leftover)
        };
        stream.tcp().set_read_timeout(self.read_timeout)?;
        stream.tcp().set_write_timeout(self.write_timeout)?;

        let ClientAccepted {
            response,
            subprotocol,
            extensions,
        } = accepted;
        let deflate = match &options.config.deflate {
            Some(settings) => deflate::client_accept(settings, &extensions)?,
            None => None,
        };
        let handshaken = Handshaken {
            peer_addr,
            local_addr,
            path: target.path_and_query(),
            subprotocol,
            extensions: extensions.iter().map(ToString::to_string).collect(),
            deflate,
        };
        let ws = WebSocket::from_parts(
            stream,
            Role::Client,
            options.config.clone(),
            handshaken,
            leftover,
        );
        Ok((ws, response))
    }
}

/// TCP to the target, or to the proxy and through its tunnel, within the connect timeout.
fn connect_tcp(target: &Target, options: &ClientOptions) -> Result<TcpStream> {
    let deadline = Instant::now() + options.connect_timeout;
    let Some(via) = options.proxy_for(target) else {
        return dial(target.host(), target.port(), deadline);
    };
    let tcp = dial(&via.host, via.port, deadline)?;
    proxy::tunnel_blocking(
        &mut Deadline::new(&tcp, deadline),
        &via,
        target.host(),
        target.port(),
    )
    .map_err(|e| match e {
        ProxyError::Io(io) if is_timeout(&io) => Error::Timeout(Timeout::Connect),
        e => e.into(),
    })?;
    Ok(tcp)
}

/// Tries each address `host` resolves to, in order, sharing the time left between them.
fn dial(host: &str, port: u16, deadline: Instant) -> Result<TcpStream> {
    let mut last = None;
    for addr in (host, port).to_socket_addrs()? {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::Timeout(Timeout::Connect));
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(tcp) => return Ok(tcp),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) if is_timeout(&e) => Error::Timeout(Timeout::Connect),
        Some(e) => Error::Io(e),
        None => Error::Io(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{host} resolved to no address"),
        )),
    })
}

/// Sends the upgrade request and reads until the response head is complete. Returns the
/// accepted response and the bytes that followed it.
fn exchange<T: Read + Write>(
    stream: &mut T,
    handshake: &mut ClientHandshake,
    hook: Option<&RequestHook>,
) -> Result<(ClientAccepted, BytesMut)> {
    let deadline_passed = |e: io::Error| {
        if is_timeout(&e) {
            // Every read and write here runs over a Deadline, so a timeout is the deadline.
            Error::Timeout(Timeout::Handshake)
        } else {
            Error::Io(e)
        }
    };
    let request = handshake.request_bytes();
    if let Some(hook) = hook {
        (hook.0)(&request);
    }
    stream
        .write_all(&request)
        .and_then(|()| stream.flush())
        .map_err(deadline_passed)?;
    let mut buf = BytesMut::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) => {
                return Err(HandshakeError::MalformedResponse(
                    "connection closed before the response ended",
                )
                .into());
            }
            Ok(n) => n.min(chunk.len()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(deadline_passed(e)),
        };
        buf.extend_from_slice(&chunk[..n]);
        if let Some(accepted) = handshake.handle_response(&mut buf)? {
            return Ok((accepted, buf));
        }
    }
}
