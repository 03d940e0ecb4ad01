//! What becomes of a connection dropped before its end: a handle finishes the close handshake
//! in the background; a server's connection goes back to the server, which closes it with the
//! code the handler's outcome calls for.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use weft_proto::{CloseCode, Connection};

use super::WebSocket;
use super::timers::Timers;
use crate::config::WebSocketConfig;

impl<S> WebSocket<S> {
    /// Makes a drop without closing leave the connection with the server (through its
    /// registry link) instead of closing it in the background, so the server can close it
    /// with the code the handler's outcome calls for (1000, or 1011 after an error or panic).
    pub(crate) fn park_on_drop(&mut self)
    where
        S: Send + 'static,
    {
        self.on_drop = Some(park::<S>);
    }
}

impl<S> Drop for WebSocket<S> {
    fn drop(&mut self) {
        let Some(hook) = self.on_drop.take() else {
            return;
        };
        if self.finished || self.io.is_none() || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let role = self.conn.role();
        let orphan = WebSocket {
            io: self.io.take(),
            conn: std::mem::replace(&mut self.conn, Connection::new(role, Default::default())),
            read_buf: std::mem::take(&mut self.read_buf),
            writes: std::mem::take(&mut self.writes),
            config: Arc::clone(&self.config),
            handshaken: Box::default(),
            timers: std::mem::replace(&mut self.timers, Timers::new(&WebSocketConfig::new())),
            peer_close: self.peer_close.take(),
            pending_error: None,
            eof: self.eof,
            finished: false,
            on_drop: None,
            link: self.link.take(),
        };
        hook(orphan);
    }
}

/// Leaves a dropped connection with the server that owns its registry link.
fn park<S: Send + 'static>(ws: WebSocket<S>) {
    if let Some(shared) = ws.link.as_ref().map(|l| std::sync::Arc::clone(&l.shared)) {
        shared.park(Box::new(ws));
    }
}

/// Finishes the close handshake of a dropped handle on the runtime, bounded by the close
/// timeout: the peer gets a 1000 close (or its own code echoed) instead of a reset.
pub(super) fn close_in_background<S>(mut ws: WebSocket<S>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let _ = ws.close(CloseCode::NORMAL, "").await;
    });
}
