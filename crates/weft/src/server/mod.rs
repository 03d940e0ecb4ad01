//! The server: listeners, routes by path and subprotocol, Origin policy, a pre-upgrade hook,
//! limits, keepalive, a connection registry, and graceful shutdown.
//!
//! ```no_run
//! use weft::server::{Request, Server, ServerStream};
//! use weft::WebSocket;
//!
//! async fn echo(mut ws: WebSocket<ServerStream>, _req: Request) -> Result<(), weft::Error> {
//!     while let Some(message) = ws.recv().await {
//!         let message = message?;
//!         if message.is_data() {
//!             ws.send(message).await?;
//!         }
//!     }
//!     Ok(())
//! }
//!
//! # async fn demo() -> Result<(), weft::Error> {
//! let server = Server::builder().bind("127.0.0.1:9001").route("/echo", echo).build().await?;
//! println!("listening on {:?}", server.local_addrs());
//! server.run().await
//! # }
//! ```

mod accept;
mod glob;
mod origin;
pub(crate) mod registry;
mod route;
mod serving;
mod stream;
mod upgrade;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::{HeaderMap, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use weft_proto::handshake::server::UpgradeRequest;
use weft_proto::{CloseCode, Limits};

pub use glob::glob_match;
pub use origin::{OriginCheck, OriginPolicy};
pub use registry::{ConnId, ConnInfo, Registry, SendError, SlowConsumer};
pub use route::{Handler, HandlerError, HandlerFuture};
pub use stream::ServerStream;
pub use upgrade::check_request;

use crate::client::tls::ServerTlsOptions;
use crate::config::{Keepalive, WebSocketConfig};
use crate::error::Result;
use route::Route;

/// What a handler learns about its connection: the upgrade request, the peer, what the
/// pre-upgrade hook attached, and the server's registry.
#[derive(Debug)]
pub struct Request {
    /// The connection's number in the registry.
    pub id: ConnId,
    /// The request path, without the query.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// The request headers.
    pub headers: HeaderMap,
    /// The peer's address.
    pub peer_addr: SocketAddr,
    /// The server's address for this connection.
    pub local_addr: Option<SocketAddr>,
    /// The subprotocol chosen.
    pub subprotocol: Option<String>,
    /// Data the pre-upgrade hook attached.
    pub data: http::Extensions,
    /// Every connection of this server.
    pub registry: Registry,
}

/// The pre-upgrade hook's yes (Tcl's `test`): extra response headers and data for the handler.
#[derive(Debug, Default)]
pub struct Admit {
    /// Headers added to the 101 response.
    pub headers: HeaderMap,
    /// Data handed to the handler as [`Request::data`].
    pub data: http::Extensions,
}

/// The pre-upgrade hook's no: the status to answer with, and a short body.
#[derive(Debug, Clone)]
pub struct Refuse {
    /// The HTTP status, such as 401 or 403.
    pub status: StatusCode,
    /// A text body.
    pub body: String,
}

type Hook = Arc<dyn Fn(&UpgradeRequest, SocketAddr) -> Result<Admit, Refuse> + Send + Sync>;

/// Settings of a [`Server`].
pub struct ServerBuilder {
    addrs: Vec<String>,
    listeners: Vec<std::net::TcpListener>,
    tls: Option<ServerTlsOptions>,
    routes: Vec<Route>,
    origin: OriginPolicy,
    require_tls: bool,
    hook: Option<Hook>,
    config: WebSocketConfig,
    max_connections: usize,
    handshake_timeout: Duration,
    write_cap: usize,
    slow_consumer: SlowConsumer,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("addrs", &self.addrs)
            .field("routes", &self.routes)
            .field("origin", &self.origin)
            .field("max_connections", &self.max_connections)
            .finish_non_exhaustive()
    }
}

impl ServerBuilder {
    fn new() -> Self {
        ServerBuilder {
            addrs: Vec::new(),
            listeners: Vec::new(),
            tls: None,
            routes: Vec::new(),
            origin: OriginPolicy::Any,
            require_tls: false,
            hook: None,
            config: WebSocketConfig::default()
                .keepalive(Keepalive::every(Duration::from_secs(30)))
                .write_timeout(Duration::from_secs(60)),
            max_connections: 10_000,
            handshake_timeout: Duration::from_secs(10),
            write_cap: 4 << 20,
            slow_consumer: SlowConsumer::Close,
        }
    }

    /// Listens on `addr` (`127.0.0.1:9001`, `[::1]:0`, ...); call again for more addresses.
    pub fn bind(mut self, addr: impl Into<String>) -> Self {
        self.addrs.push(addr.into());
        self
    }

    /// Serves a listener made elsewhere (it is switched to non-blocking).
    pub fn listener(mut self, listener: std::net::TcpListener) -> Self {
        self.listeners.push(listener);
        self
    }

    /// Serves `wss://` with this certificate and key (and optional client-certificate checks).
    pub fn tls(mut self, tls: ServerTlsOptions) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Serves `path_glob` with `handler` for requests offering no subprotocol, or none that
    /// another route takes.
    pub fn route(self, path_glob: &str, handler: impl Handler) -> Self {
        self.add(path_glob, None, Arc::new(handler))
    }

    /// Serves `path_glob` with `handler` for requests offering a subprotocol that matches
    /// `protocol_glob`; that subprotocol is chosen. Routes added earlier are preferred.
    pub fn route_protocol(
        self,
        path_glob: &str,
        protocol_glob: &str,
        handler: impl Handler,
    ) -> Self {
        self.add(path_glob, Some(protocol_glob.to_owned()), Arc::new(handler))
    }

    fn add(mut self, path: &str, protocol: Option<String>, handler: Arc<dyn Handler>) -> Self {
        self.routes.push(Route {
            path: path.to_owned(),
            protocol,
            handler,
        });
        self
    }

    /// Which origins may connect; see [`OriginPolicy`] on cross-site WebSocket hijacking.
    pub fn origin_policy(mut self, policy: OriginPolicy) -> Self {
        self.origin = policy;
        self
    }

    /// Refuses plain `ws://` connections with 403.
    pub fn require_tls(mut self, yes: bool) -> Self {
        self.require_tls = yes;
        self
    }

    /// Runs `hook` on each request before upgrading (Tcl's `test`): it admits with extra
    /// headers and data for the handler, or refuses with a status.
    pub fn before_upgrade(
        mut self,
        hook: impl Fn(&UpgradeRequest, SocketAddr) -> Result<Admit, Refuse> + Send + Sync + 'static,
    ) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// Settings of each connection: limits, close timeout, watermarks. Servers ping every
    /// 30 s and give up on a peer that takes no bytes for 60 s by default;
    /// [`WebSocketConfig::keepalive`] and [`WebSocketConfig::write_timeout`] change that (a
    /// config given here replaces both defaults).
    pub fn config(mut self, config: WebSocketConfig) -> Self {
        self.config = config;
        self
    }

    /// Keepalive PINGs every `interval` with a PONG deadline of the same length; zero turns
    /// them off.
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        let keepalive = (!interval.is_zero()).then(|| Keepalive::every(interval));
        self.config = self.config.keepalive(keepalive);
        self
    }

    /// The protocol limits for handshakes and messages.
    pub fn limits(mut self, limits: Limits) -> Self {
        let proto = self.config.protocol_config().clone().with_limits(limits);
        self.config = self.config.protocol(proto);
        self
    }

    /// Most connections at once; more are answered 503. Default: 10 000.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// How long a client may take to finish TLS and its upgrade request (slow-loris guard).
    /// Default: 10 s.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Most bytes the registry may queue for one connection, and what happens beyond.
    /// Default: 4 MiB, [`SlowConsumer::Close`].
    pub fn write_cap(mut self, bytes: usize, policy: SlowConsumer) -> Self {
        self.write_cap = bytes;
        self.slow_consumer = policy;
        self
    }

    /// Binds the listeners.
    ///
    /// # Errors
    ///
    /// [`Error::Io`](crate::Error::Io) if an address cannot be bound,
    /// [`Error::Tls`](crate::Error::Tls) for a bad certificate.
    pub async fn build(self) -> Result<Server> {
        let mut listeners = Vec::new();
        for addr in &self.addrs {
            listeners.push(TcpListener::bind(addr.as_str()).await?);
        }
        for listener in self.listeners {
            listener.set_nonblocking(true)?;
            listeners.push(TcpListener::from_std(listener)?);
        }
        let tls = match &self.tls {
            Some(options) => Some(tokio_rustls::TlsAcceptor::from(options.server_config()?)),
            None => None,
        };
        let (stop, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            routes: self.routes,
            origin: self.origin,
            require_tls: self.require_tls,
            hook: self.hook,
            config: Arc::new(self.config),
            max_connections: self.max_connections,
            handshake_timeout: self.handshake_timeout,
            tls,
            registry: Registry::new(self.write_cap, self.slow_consumer),
            active: AtomicUsize::new(0),
            idle: Notify::new(),
            stop,
        });
        Ok(Server { listeners, shared })
    }
}

/// What every connection task of a server shares.
pub(crate) struct Shared {
    routes: Vec<Route>,
    origin: OriginPolicy,
    require_tls: bool,
    hook: Option<Hook>,
    config: Arc<WebSocketConfig>,
    max_connections: usize,
    handshake_timeout: Duration,
    tls: Option<tokio_rustls::TlsAcceptor>,
    registry: Registry,
    /// Connection tasks alive, handshakes included.
    active: AtomicUsize,
    /// Woken when `active` drops to zero.
    idle: Notify,
    stop: watch::Sender<bool>,
}

/// A WebSocket server. Build it with [`Server::builder`], then [`run`](Self::run) it.
pub struct Server {
    listeners: Vec<TcpListener>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addrs", &self.local_addrs())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A builder with the defaults: no routes, any origin, keepalive every 30 s, a 60 s write
    /// timeout, 10 000 connections, 10 s handshake timeout.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::new()
    }

    /// The addresses listened on (port 0 resolved to the port picked).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// Every open connection.
    pub fn registry(&self) -> Registry {
        self.shared.registry.clone()
    }

    /// A handle that shuts the server down from elsewhere.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Accepts and serves connections until [`ServerHandle::shutdown`] is called.
    ///
    /// # Errors
    ///
    /// Never for a single connection's failure (those are logged); only if accepting fails
    /// in a way that cannot be retried.
    pub async fn run(self) -> Result<()> {
        let mut tasks = tokio::task::JoinSet::new();
        for listener in self.listeners {
            tasks.spawn(accept::accept_loop(listener, Arc::clone(&self.shared)));
        }
        while let Some(done) = tasks.join_next().await {
            if let Ok(Err(e)) = done {
                return Err(e);
            }
        }
        Ok(())
    }
}

/// Stops a running server.
#[derive(Clone)]
pub struct ServerHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle").finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// Graceful shutdown: stop accepting, close every connection with 1001 (after what was
    /// already queued for it), wait for their close handshakes up to `deadline`, then return.
    /// Returns whether every connection finished in time.
    pub async fn shutdown(&self, deadline: Duration) -> bool {
        self.shared.stop.send_replace(true);
        self.shared
            .registry
            .close_all(CloseCode::GOING_AWAY, "server shutting down");
        let drained = async {
            loop {
                let idle = self.shared.idle.notified();
                tokio::pin!(idle);
                idle.as_mut().enable();
                if self.shared.active.load(Ordering::Acquire) == 0 {
                    return;
                }
                idle.await;
            }
        };
        tokio::time::timeout(deadline, drained).await.is_ok()
    }

    /// Every open connection.
    pub fn registry(&self) -> Registry {
        self.shared.registry.clone()
    }

    /// Connection tasks alive, handshakes included.
    pub fn active(&self) -> usize {
        self.shared.active.load(Ordering::Acquire)
    }
}
