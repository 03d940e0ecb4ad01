//! The async client: TCP (through a proxy if one applies), TLS for wss, the opening
//! handshake, each under its deadline.

use bytes::BytesMut;
use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use weft_proto::extensions::deflate;
use weft_proto::handshake::client::ClientAccepted;
use weft_proto::{HandshakeError, Role};

use super::gate;
use super::options::{Attempt, ClientOptions, client_builder_methods};
use super::stream::MaybeTlsStream;
use super::target::Target;
use super::{proxy, tls};
use crate::error::{Error, Result, Timeout};
use crate::info::Handshaken;
use crate::socket::WebSocket;

/// Opens a WebSocket to `url` (`ws://` or `wss://`) with default settings.
///
/// # Errors
///
/// See [`ClientBuilder::connect`].
///
/// ```no_run
/// # async fn demo() -> Result<(), weft::Error> {
/// use weft::Message;
/// let mut ws = weft::connect("ws://127.0.0.1:9001/chat").await?;
/// ws.send(Message::text("hello")).await?;
/// while let Some(message) = ws.recv().await {
///     println!("{:?}", message?);
/// }
/// # Ok(()) }
/// ```
pub async fn connect(url: &str) -> Result<WebSocket<MaybeTlsStream>> {
    ClientBuilder::new(url).connect().await
}

/// Settings for opening a client connection.
///
/// ```no_run
/// # async fn demo() -> Result<(), weft::Error> {
/// use std::time::Duration;
/// use weft::{ClientBuilder, Keepalive, WebSocketConfig};
///
/// let ws = ClientBuilder::new("wss://example.com/feed")
///     .protocol("v2.feed")
///     .header("Authorization", "Bearer t0k3n")
///     .connect_timeout(Duration::from_secs(5))
///     .config(WebSocketConfig::default().keepalive(Keepalive::every(Duration::from_secs(20))))
///     .connect()
///     .await?;
/// assert_eq!(ws.subprotocol(), Some("v2.feed"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    url: String,
    options: ClientOptions,
}

impl ClientBuilder {
    /// A builder for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        ClientBuilder {
            url: url.into(),
            options: ClientOptions::default(),
        }
    }

    client_builder_methods!();

    /// Calls `hook` with the bytes of each upgrade request (request line and headers, the
    /// real `Sec-WebSocket-Key` included) just before they are sent: once per attempt, so
    /// once per redirect followed. For logging the handshake the way `curl -v` does; the
    /// response is in [`connect_with_response`](Self::connect_with_response)'s result, or in
    /// the [`Error::Handshake`] of a refusal.
    pub fn inspect_request(mut self, hook: impl Fn(&[u8]) + Send + Sync + 'static) -> Self {
        self.options.on_request = Some(super::options::RequestHook(std::sync::Arc::new(hook)));
        self
    }

    /// Connects and runs the opening handshake.
    ///
    /// # Errors
    ///
    /// [`Error::Url`] for a bad URL, [`Error::Io`] if TCP fails, [`Error::Proxy`] and
    /// [`Error::Tls`] for those layers, [`Error::Timeout`] past a deadline, and
    /// [`Error::Handshake`] when the server does not accept: a non-101 answer (even a 2xx)
    /// carries the status, headers and the first bytes of the body.
    pub async fn connect(self) -> Result<WebSocket<MaybeTlsStream>> {
        Ok(self.connect_with_response().await?.0)
    }

    /// As [`connect`](Self::connect), also returning the server's 101 response.
    ///
    /// # Errors
    ///
    /// As for [`connect`](Self::connect).
    pub async fn connect_with_response(
        self,
    ) -> Result<(WebSocket<MaybeTlsStream>, http::Response<()>)> {
        let mut target = Target::parse(&self.url)?;
        let mut options = self.options;
        let mut redirects = 0;
        loop {
            let outcome = open(&target, &options).await;
            match options.after_attempt(&target, outcome, &mut redirects) {
                Attempt::Follow(next) => target = next,
                Attempt::Done(outcome) => return outcome,
            }
        }
    }
}

/// One attempt at `target`: no redirects.
async fn open(
    target: &Target,
    options: &ClientOptions,
) -> Result<(WebSocket<MaybeTlsStream>, http::Response<()>)> {
    let mut handshake = options.handshake(target)?;
    let _connecting = gate::enter(&target.authority()).await;

    let tcp = timeout(options.connect_timeout, connect_tcp(target, options))
        .await
        .map_err(|_| Error::Timeout(Timeout::Connect))??;
    // Small frames go out at once; batching is the write queue's job.
    tcp.set_nodelay(true)?;
    let handshaken_addrs = (tcp.peer_addr().ok(), tcp.local_addr().ok());

    let exchange = async {
        let mut stream = if target.is_secure() {
            MaybeTlsStream::Tls(Box::new(
                tls::connect_tls(tcp, target.host(), &options.tls).await?,
            ))
        } else {
            MaybeTlsStream::Plain(tcp)
        };
        let request = handshake.request_bytes();
        if let Some(hook) = &options.on_request {
            (hook.0)(&request);
        }
        stream.write_all(&request).await?;
        stream.flush().await?;
        let mut buf = BytesMut::with_capacity(1024);
        loop {
            if stream.read_buf(&mut buf).await? == 0 {
                return Err(HandshakeError::MalformedResponse(
                    "connection closed before the response ended",
                )
                .into());
            }
            if let Some(accepted) = handshake.handle_response(&mut buf)? {
                return Ok::<_, Error>((stream, accepted, buf));
            }
        }
    };
    let (stream, accepted, leftover) = timeout(options.handshake_timeout, exchange)
        .await
        .map_err(|_| Error::Timeout(Timeout::Handshake))??;
    let ClientAccepted {
        response,
        subprotocol,
        extensions,
    } = accepted;
    debug_assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    let deflate = match &options.config.deflate {
        Some(settings) => deflate::client_accept(settings, &extensions)?,
        None => None,
    };
    let handshaken = Handshaken {
        peer_addr: handshaken_addrs.0,
        local_addr: handshaken_addrs.1,
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

async fn connect_tcp(target: &Target, options: &ClientOptions) -> Result<TcpStream> {
    match options.proxy_for(target) {
        None => Ok(TcpStream::connect((target.host(), target.port())).await?),
        Some(via) => {
            let mut tcp = TcpStream::connect((via.host.as_str(), via.port)).await?;
            proxy::tunnel(&mut tcp, &via, target.host(), target.port()).await?;
            Ok(tcp)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    #[tokio::test]
    async fn inspect_request_sees_the_request_that_is_sent() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.expect("accept");
            let mut received = Vec::new();
            let mut buf = [0u8; 1024];
            while !received.ends_with(b"\r\n\r\n") {
                let n = tcp.read(&mut buf).await.expect("read");
                assert!(n > 0, "request ended early");
                received.extend_from_slice(&buf[..n]);
            }
            tcp.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                .await
                .expect("write");
            received
        });
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let result = ClientBuilder::new(format!("ws://{addr}/inspect"))
            .no_proxy()
            .inspect_request(move |bytes| sink.lock().expect("lock").extend_from_slice(bytes))
            .connect()
            .await;

        assert!(matches!(result, Err(Error::Handshake(_))));
        let sent = server.await.expect("server");
        let seen = seen.lock().expect("lock").clone();
        assert_eq!(seen, sent);
        assert!(seen.starts_with(b"GET /inspect HTTP/1.1\r\n"));
    }
}
