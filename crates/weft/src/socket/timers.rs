//! The clock's part in a connection: one sleep for the keepalive and idle deadlines that
//! [`Liveness`] keeps, and the close-handshake deadline. The protocol core knows nothing of
//! time.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep, sleep, sleep_until};

use crate::config::WebSocketConfig;
use crate::error::Timeout;
pub(crate) use crate::liveness::Due;
use crate::liveness::Liveness;

#[derive(Debug)]
pub(crate) struct Timers {
    liveness: Liveness,
    /// Wakes the connection at the liveness deadline. Moving a deadline later (every read
    /// moves the idle one) leaves it alone: it fires early and is set again then.
    wake: Option<Pin<Box<Sleep>>>,
    close: Option<Pin<Box<Sleep>>>,
    close_timeout: Duration,
}

impl Timers {
    pub(crate) fn new(config: &WebSocketConfig) -> Self {
        Timers {
            liveness: Liveness::new(config, Instant::now().into_std()),
            wake: None,
            close: None,
            close_timeout: config.close_timeout,
        }
    }

    /// Round-trip time of the last answered keepalive PING.
    pub(crate) fn rtt(&self) -> Option<Duration> {
        self.liveness.rtt
    }

    /// Starts the close-handshake deadline, once.
    pub(crate) fn start_close(&mut self) {
        if self.close.is_none() {
            self.close = Some(Box::pin(sleep(self.close_timeout)));
        }
        // Keepalive and idle policing end with the connection.
        self.stop_liveness();
    }

    /// Starts the close-handshake deadline no later than `limit` from now: a peer that stopped
    /// answering PINGs is not given the full close timeout to answer a close frame.
    pub(crate) fn start_close_within(&mut self, limit: Duration) {
        let limit = limit.min(self.close_timeout);
        match self.close.as_mut() {
            Some(sleep) => {
                let at = Instant::now() + limit;
                if at < sleep.deadline() {
                    sleep.as_mut().reset(at);
                }
            }
            None => self.close = Some(Box::pin(sleep(limit))),
        }
        self.stop_liveness();
    }

    fn stop_liveness(&mut self) {
        self.liveness.stop();
        self.wake = None;
    }

    /// Something arrived from the peer.
    #[inline]
    pub(crate) fn on_read(&mut self) {
        if self.liveness.watches_reads() {
            self.liveness.on_read(Instant::now().into_std());
        }
    }

    /// The PING [`poll_due`](Self::poll_due) asked for could not be sent.
    pub(crate) fn ping_not_sent(&mut self) {
        self.liveness.ping_not_sent(Instant::now().into_std());
    }

    /// A PONG arrived.
    pub(crate) fn on_pong(&mut self) {
        if self.liveness.is_armed() {
            self.liveness.on_pong(Instant::now().into_std());
        }
    }

    /// Polls every timer, registering the waker on each. After `Ready` the caller must poll
    /// again before it waits (both connection loops do): that registers the waker for the
    /// deadline the answer set.
    #[inline]
    pub(crate) fn poll_due(&mut self, cx: &mut Context<'_>) -> Poll<Due> {
        if !self.liveness.is_armed() && self.close.is_none() {
            return Poll::Pending;
        }
        self.poll_armed(cx)
    }

    fn poll_armed(&mut self, cx: &mut Context<'_>) -> Poll<Due> {
        if let Some(close) = self.close.as_mut() {
            if close.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Due::Expired(Timeout::Close));
            }
        }
        loop {
            let Some(next) = self.liveness.next_deadline().map(Instant::from_std) else {
                return Poll::Pending;
            };
            let wake = self.wake.get_or_insert_with(|| Box::pin(sleep_until(next)));
            if wake.deadline() > next {
                wake.as_mut().reset(next);
            }
            if wake.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let grace = self.liveness.pong_timeout();
            match self.liveness.due(Instant::now().into_std()) {
                Some(due) => {
                    if due == Due::Expired(Timeout::Pong) {
                        self.start_close_within(grace.unwrap_or(self.close_timeout));
                    }
                    return Poll::Ready(due);
                }
                // Woken before a deadline that moved later: sleep on until it.
                None => {
                    if let (Some(wake), Some(next)) =
                        (self.wake.as_mut(), self.liveness.next_deadline())
                    {
                        wake.as_mut().reset(Instant::from_std(next));
                    }
                }
            }
        }
    }
}
