//! The clock's part in a connection: keepalive PINGs and their PONG deadline, the idle
//! timeout, and the close-handshake deadline. The protocol core knows nothing of time.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep, sleep};

use crate::config::{Keepalive, WebSocketConfig};
use crate::error::Timeout;

#[derive(Debug)]
pub(crate) struct Timers {
    /// Boxed: it carries its configuration, and it sits beside fields touched per message.
    keepalive: Option<Box<KeepaliveTimer>>,
    idle: Option<(Duration, Pin<Box<Sleep>>)>,
    close: Option<Pin<Box<Sleep>>>,
    close_timeout: Duration,
    /// Round-trip time of the last answered keepalive PING.
    pub(crate) rtt: Option<Duration>,
}

#[derive(Debug)]
struct KeepaliveTimer {
    config: Keepalive,
    /// Fires when the next PING is due, or, while one is unanswered, at its deadline.
    sleep: Pin<Box<Sleep>>,
    ping_sent: Option<Instant>,
}

/// What the timers ask the connection to do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Due {
    /// Send a keepalive PING with this payload.
    Ping(bytes::Bytes),
    /// A deadline passed.
    Expired(Timeout),
}

impl Timers {
    pub(crate) fn new(config: &WebSocketConfig) -> Self {
        let now = Instant::now();
        Timers {
            keepalive: config.keepalive.clone().map(|ka| {
                Box::new(KeepaliveTimer {
                    sleep: Box::pin(tokio::time::sleep_until(now + ka.interval)),
                    config: ka,
                    ping_sent: None,
                })
            }),
            idle: config
                .idle_timeout
                .map(|t| (t, Box::pin(tokio::time::sleep_until(now + t)))),
            close: None,
            close_timeout: config.close_timeout,
            rtt: None,
        }
    }

    /// Starts the close-handshake deadline, once.
    pub(crate) fn start_close(&mut self) {
        if self.close.is_none() {
            self.close = Some(Box::pin(sleep(self.close_timeout)));
        }
        // Keepalive and idle policing end with the connection.
        self.keepalive = None;
        self.idle = None;
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
        self.keepalive = None;
        self.idle = None;
    }

    /// Something arrived from the peer.
    #[inline]
    pub(crate) fn on_read(&mut self) {
        if let Some((timeout, sleep)) = self.idle.as_mut() {
            sleep.as_mut().reset(Instant::now() + *timeout);
        }
    }

    /// A PONG arrived: if it answers the keepalive PING, note the round trip and schedule the
    /// next PING one interval after the last.
    pub(crate) fn on_pong(&mut self) {
        if let Some(ka) = self.keepalive.as_mut() {
            if let Some(sent) = ka.ping_sent.take() {
                self.rtt = Some(sent.elapsed());
                ka.sleep.as_mut().reset(sent + ka.config.interval);
            }
        }
    }

    /// Polls every timer, registering the waker on each.
    #[inline]
    pub(crate) fn poll_due(&mut self, cx: &mut Context<'_>) -> Poll<Due> {
        if self.keepalive.is_none() && self.idle.is_none() && self.close.is_none() {
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
        if let Some((_, idle)) = self.idle.as_mut() {
            if idle.as_mut().poll(cx).is_ready() {
                self.idle = None;
                return Poll::Ready(Due::Expired(Timeout::Idle));
            }
        }
        if let Some(ka) = self.keepalive.as_mut() {
            if ka.sleep.as_mut().poll(cx).is_ready() {
                if ka.ping_sent.is_some() {
                    let grace = ka.config.timeout;
                    self.start_close_within(grace);
                    return Poll::Ready(Due::Expired(Timeout::Pong));
                }
                let now = Instant::now();
                ka.ping_sent = Some(now);
                ka.sleep.as_mut().reset(now + ka.config.timeout);
                // Register the waker for the deadline just set.
                let _ = ka.sleep.as_mut().poll(cx);
                return Poll::Ready(Due::Ping(ka.config.payload.clone()));
            }
        }
        Poll::Pending
    }
}
