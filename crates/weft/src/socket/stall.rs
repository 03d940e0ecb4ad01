//! The write timeout: how long the transport may take none of the bytes waiting to be
//! written. A peer that stops reading fills its receive window and then ours; TCP keeps such
//! a connection open for as long as the peer acknowledges with a zero window, and a sender
//! waiting for room would wait with it. Keepalive cannot tell: its PING waits in the same
//! queue, and a task blocked in a send does not read the PONG.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep, sleep};

use crate::error::WriteStalled;

/// The deadline of a write that is waiting. No timer exists until a write first waits, so a
/// connection whose writes never wait (most of them) holds none.
#[derive(Debug, Default)]
pub(crate) struct WriteStall {
    timeout: Option<Duration>,
    timer: Option<Pin<Box<Sleep>>>,
    /// Bytes were written since the timer was last set: the next wait starts a new period.
    progressed: bool,
}

impl WriteStall {
    pub(crate) fn new(timeout: Option<Duration>) -> Self {
        WriteStall {
            timeout,
            timer: None,
            progressed: false,
        }
    }

    /// The transport took bytes.
    #[inline]
    pub(crate) fn progressed(&mut self) {
        self.progressed = true;
    }

    /// Nothing is waiting to be written any more.
    #[inline]
    pub(crate) fn clear(&mut self) {
        if self.timer.is_some() {
            self.timer = None;
        }
    }

    /// A write is waiting for the transport: `Pending` while within the timeout (the waker
    /// is registered for its end too), the timeout error once it has passed with no byte
    /// written.
    #[cold]
    pub(crate) fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let Some(timeout) = self.timeout else {
            return Poll::Pending;
        };
        let timer = match &mut self.timer {
            Some(timer) => {
                if self.progressed {
                    timer.as_mut().reset(Instant::now() + timeout);
                }
                timer
            }
            None => self.timer.insert(Box::pin(sleep(timeout))),
        };
        self.progressed = false;
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(io::Error::new(io::ErrorKind::TimedOut, WriteStalled)),
            Poll::Pending => Poll::Pending,
        }
    }
}
