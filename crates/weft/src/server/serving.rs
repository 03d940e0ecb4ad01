//! A connection's task once its upgrade is done: the handler's future under a panic guard,
//! then the close of whatever connection the handler left unclosed.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use weft_proto::CloseCode;

use super::registry::Shared as Parked;
use super::{ServerStream, Shared};
use crate::socket::WebSocket;

/// What a connection's task does after its handler: close the connection the handler left
/// unclosed, then free the connection's place in the server's count.
///
/// Public only to appear in [`Handler::spawn`](super::Handler::spawn); nothing outside the
/// crate can name or make one.
#[allow(unreachable_pub, reason = "sealed: in a public trait's hidden method")]
pub struct Finish {
    pub(crate) parked: Arc<Parked>,
    pub(crate) peer: SocketAddr,
    pub(crate) slot: Slot,
}

impl std::fmt::Debug for Finish {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Finish")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

/// A connection's place in the count, freed when dropped: by the accept task if the connection
/// never reaches its handler, else by the handler's task once the connection is closed.
pub(crate) struct Slot(pub(crate) Arc<Shared>);

impl Drop for Slot {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// What a handler's future ended with: its own result, or the payload of its panic. (The
/// error is [`HandlerError`](super::HandlerError), spelled out so this module needs nothing
/// from the routes.)
type Outcome = Result<Result<(), BoxError>, Box<dyn std::any::Any + Send>>;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl Finish {
    async fn close(self, outcome: Outcome) {
        let peer = self.peer;
        let code = match outcome {
            Ok(Ok(())) => CloseCode::NORMAL,
            Ok(Err(e)) => {
                tracing::warn!(%peer, error = %e, "handler failed; closing with 1011");
                CloseCode::INTERNAL_ERROR
            }
            Err(_) => {
                tracing::error!(%peer, "handler panicked; closing with 1011");
                CloseCode::INTERNAL_ERROR
            }
        };
        if let Some(mut orphan) = self.parked.take_orphan::<WebSocket<ServerStream>>() {
            let reason = if code == CloseCode::NORMAL {
                ""
            } else {
                "internal error"
            };
            let _ = orphan.close(code, reason).await;
        }
        drop(self.slot);
    }
}

/// Spawns the task that runs `handler` for its connection, then `finish`.
pub(crate) fn spawn<F>(handler: F, finish: Finish)
where
    F: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    tokio::spawn(Serving {
        handler: Some(handler),
        closing: None,
        finish: Some(finish),
    });
}

pin_project_lite::pin_project! {
    /// The handler's future held inline in the task: a box of its own would put one more
    /// pointer, and one more likely cache miss, between the task and the connection on every
    /// poll.
    struct Serving<F> {
        #[pin]
        handler: Option<F>,
        closing: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
        finish: Option<Finish>,
    }
}

impl<F> Future for Serving<F>
where
    F: Future<Output = Result<(), BoxError>>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        if let Some(handler) = this.handler.as_mut().as_pin_mut() {
            // The future is never polled again after a panic (it is dropped just below), so
            // whatever state the panic left inside it is not observed.
            let polled =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler.poll(cx)));
            let outcome = match polled {
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready(outcome)) => Ok(outcome),
                Err(panic) => Err(panic),
            };
            // Dropped here, outside any panic: a connection the handler still held is parked
            // in its registry entry for the close below.
            this.handler.set(None);
            if let Some(finish) = this.finish.take() {
                *this.closing = Some(Box::pin(finish.close(outcome)));
            }
        }
        match this.closing.as_mut() {
            Some(closing) => closing.as_mut().poll(cx),
            None => Poll::Ready(()),
        }
    }
}
