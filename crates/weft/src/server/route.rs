//! Routes: a path glob, an optional subprotocol glob, and a handler (Tcl's
//! `live sock path cb proto`; Seastar's handler per subprotocol).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use weft_proto::handshake::server::UpgradeRequest;

use super::glob::glob_match;
use super::serving::{self, Finish};
use super::{Request, ServerStream};
use crate::socket::WebSocket;

/// A handler's own failure: boxed, so handlers can use `?` on anything. The server logs it
/// and closes the connection with 1011.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The future a handler returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), HandlerError>> + Send>>;

/// Serves one connection. Implemented for every `Fn(WebSocket<ServerStream>, Request) -> Fut`
/// whose future is `Send` and returns `Result<(), E>` with `E` convertible to
/// [`HandlerError`].
///
/// The handler's future lives as long as its connection, so its size is most of what an idle
/// connection costs. An `async fn` handler keeps its arguments twice in its future (rustc
/// stores them as arguments and again as the body's locals) and keeps the `Request` even when
/// unused; a function returning `async move { .. }` that captures only what it uses holds the
/// `WebSocket` once (see `examples/echo_server.rs`).
pub trait Handler: Send + Sync + 'static {
    /// Runs the connection to its end.
    fn call(&self, ws: WebSocket<ServerStream>, request: Request) -> HandlerFuture;

    /// Starts the connection's task with [`call`](Self::call)'s future. The implementation
    /// for functions holds the handler's future in the task itself rather than in a box.
    #[doc(hidden)]
    fn spawn(&self, ws: WebSocket<ServerStream>, request: Request, finish: Finish) {
        serving::spawn(self.call(ws, request), finish);
    }
}

impl<F, Fut, E> Handler for F
where
    F: Fn(WebSocket<ServerStream>, Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<HandlerError>,
{
    fn call(&self, ws: WebSocket<ServerStream>, request: Request) -> HandlerFuture {
        // Not `async move { fut.await }`: that would hold the handler's future twice (as the
        // captured value and as the awaited one), doubling every idle connection's footprint.
        Box::pin(MapErr {
            inner: self(ws, request),
        })
    }

    fn spawn(&self, ws: WebSocket<ServerStream>, request: Request, finish: Finish) {
        serving::spawn(
            MapErr {
                inner: self(ws, request),
            },
            finish,
        );
    }
}

pin_project_lite::pin_project! {
    /// A handler's future with its error boxed, held inline.
    struct MapErr<F> {
        #[pin]
        inner: F,
    }
}

impl<F, E> Future for MapErr<F>
where
    F: Future<Output = Result<(), E>>,
    E: Into<HandlerError>,
{
    type Output = Result<(), HandlerError>;

    fn poll(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        self.project().inner.poll(cx).map_err(Into::into)
    }
}

#[derive(Clone)]
pub(crate) struct Route {
    pub(crate) path: String,
    pub(crate) protocol: Option<String>,
    pub(crate) handler: Arc<dyn Handler>,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("path", &self.path)
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

/// Why no route took a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoRoute {
    /// No route serves the path: 404.
    Path,
    /// Routes serve the path, but each needs a subprotocol the client did not offer.
    Protocol,
}

/// The route for `request` and the subprotocol chosen. Routes are tried in the order they were
/// added, which is the server's preference; within a route, the client's first offered
/// protocol that matches the glob wins.
pub(crate) fn select<'r>(
    routes: &'r [Route],
    request: &UpgradeRequest,
) -> Result<(&'r Route, Option<String>), NoRoute> {
    let mut path_matched = false;
    for route in routes {
        if !glob_match(&route.path, request.path()) {
            continue;
        }
        path_matched = true;
        match &route.protocol {
            None => return Ok((route, None)),
            Some(glob) => {
                if let Some(p) = request.protocols().iter().find(|p| glob_match(glob, p)) {
                    return Ok((route, Some(p.clone())));
                }
            }
        }
    }
    Err(if path_matched {
        NoRoute::Protocol
    } else {
        NoRoute::Path
    })
}
