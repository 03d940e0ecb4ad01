//! Keepalive PINGs, their PONG deadline and the idle timeout as plain deadlines: the policy
//! without a clock. The caller says what time it is; the async connection sleeps until
//! [`Liveness::next_deadline`], the blocking one reads with a timeout that ends there.

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::config::{Keepalive, WebSocketConfig};
use crate::error::Timeout;

/// `now + wait`, or a time decades away for a wait too long to add (`Duration::MAX` as
/// "never"): a deadline that is never reached instead of a panic.
pub(crate) fn later(now: Instant, wait: Duration) -> Instant {
    const DECADES: Duration = Duration::from_secs(30 * 365 * 24 * 60 * 60);
    now.checked_add(wait)
        .or_else(|| now.checked_add(DECADES))
        .unwrap_or(now)
}

/// The earlier of two deadlines, either of which may be unset.
#[inline]
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The reason of the 1001 close frame a connection sends when `expired` ends it.
pub(crate) fn close_reason(expired: Timeout) -> &'static str {
    match expired {
        Timeout::Idle => "idle timeout",
        _ => "keepalive timeout",
    }
}

/// What a passed deadline asks the connection to do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Due {
    /// Send a keepalive PING with this payload.
    Ping(Bytes),
    /// A deadline passed: [`Timeout::Idle`], [`Timeout::Pong`], or (from the connection's own
    /// close deadline) [`Timeout::Close`].
    Expired(Timeout),
}

#[derive(Debug)]
pub(crate) struct Liveness {
    /// Boxed: it carries its configuration, and it sits beside fields touched per message.
    keepalive: Option<Box<Pinging>>,
    /// The idle timeout and when it runs out.
    idle: Option<(Duration, Instant)>,
    /// Round-trip time of the last answered keepalive PING.
    pub(crate) rtt: Option<Duration>,
}

#[derive(Debug)]
struct Pinging {
    config: Keepalive,
    /// When the next PING is due, or, while one is unanswered, its PONG deadline.
    at: Instant,
    ping_sent: Option<Instant>,
}

impl Liveness {
    /// The deadlines `config` asks for, counted from `now`. No keepalive in raw mode: the
    /// connection sends no frames of its own there, and PONGs reach the application as bytes.
    pub(crate) fn new(config: &WebSocketConfig, now: Instant) -> Self {
        let keepalive = config.keepalive.clone();
        Liveness {
            keepalive: keepalive
                .filter(|_| !config.proto.is_raw_mode())
                .map(|config| {
                    Box::new(Pinging {
                        at: later(now, config.interval),
                        config,
                        ping_sent: None,
                    })
                }),
            idle: config.idle_timeout.map(|t| (t, later(now, t))),
            rtt: None,
        }
    }

    /// Whether any deadline is set.
    #[inline]
    pub(crate) fn is_armed(&self) -> bool {
        self.keepalive.is_some() || self.idle.is_some()
    }

    /// Whether reads move a deadline (the idle timeout), so [`on_read`](Self::on_read) needs
    /// the time.
    #[inline]
    pub(crate) fn watches_reads(&self) -> bool {
        self.idle.is_some()
    }

    /// The earliest deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        earliest(
            self.keepalive.as_ref().map(|k| k.at),
            self.idle.map(|(_, at)| at),
        )
    }

    /// How long an unanswered PING waits for its PONG.
    pub(crate) fn pong_timeout(&self) -> Option<Duration> {
        self.keepalive.as_ref().map(|k| k.config.timeout)
    }

    /// Something arrived from the peer.
    pub(crate) fn on_read(&mut self, now: Instant) {
        if let Some((timeout, at)) = self.idle.as_mut() {
            *at = later(now, *timeout);
        }
    }

    /// A PONG arrived: if it answers the keepalive PING, note the round trip and schedule the
    /// next PING one interval after the last.
    pub(crate) fn on_pong(&mut self, now: Instant) {
        if let Some(k) = self.keepalive.as_mut() {
            if let Some(sent) = k.ping_sent.take() {
                self.rtt = Some(now.saturating_duration_since(sent));
                k.at = later(sent, k.config.interval);
            }
        }
    }

    /// What is due at `now`, if anything. A PING is sent once per interval; a PING still
    /// unanswered at its deadline, or the idle timeout running out, ends the policing (the
    /// connection closes).
    pub(crate) fn due(&mut self, now: Instant) -> Option<Due> {
        if self.idle.is_some_and(|(_, at)| now >= at) {
            self.stop();
            return Some(Due::Expired(Timeout::Idle));
        }
        let k = self.keepalive.as_mut().filter(|k| now >= k.at)?;
        if k.ping_sent.is_some() {
            self.stop();
            return Some(Due::Expired(Timeout::Pong));
        }
        k.ping_sent = Some(now);
        k.at = later(now, k.config.timeout);
        Some(Due::Ping(k.config.payload.clone()))
    }

    /// The PING [`due`](Self::due) asked for could not be sent (a frame of ours is half
    /// sent, or the connection is in raw mode): no PONG is awaited; the next PING is due an
    /// interval from now.
    pub(crate) fn ping_not_sent(&mut self, now: Instant) {
        if let Some(k) = self.keepalive.as_mut() {
            k.ping_sent = None;
            k.at = later(now, k.config.interval);
        }
    }

    /// Ends keepalive and idle policing: the connection is closing.
    pub(crate) fn stop(&mut self) {
        self.keepalive = None;
        self.idle = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn pinging(interval: Duration, timeout: Duration) -> (Liveness, Instant) {
        let config = WebSocketConfig::default()
            .keepalive(Keepalive::every(interval).timeout(timeout).payload("hb"));
        let start = Instant::now();
        (Liveness::new(&config, start), start)
    }

    #[test]
    fn nothing_configured_has_no_deadline() {
        let live = Liveness::new(&WebSocketConfig::default(), Instant::now());
        assert!(!live.is_armed());
        assert_eq!(live.next_deadline(), None);
    }

    #[test]
    fn a_ping_is_due_one_interval_after_the_start() {
        let (mut live, start) = pinging(10 * SECOND, 5 * SECOND);
        assert_eq!(live.next_deadline(), Some(start + 10 * SECOND));
        assert_eq!(live.due(start + 9 * SECOND), None);
        assert_eq!(
            live.due(start + 10 * SECOND),
            Some(Due::Ping(Bytes::from_static(b"hb")))
        );
        assert_eq!(
            live.next_deadline(),
            Some(start + 15 * SECOND),
            "now the PONG deadline"
        );
    }

    #[test]
    fn a_pong_notes_the_round_trip_and_schedules_the_next_ping_an_interval_after_the_last() {
        let (mut live, start) = pinging(10 * SECOND, 5 * SECOND);
        live.due(start + 10 * SECOND);
        live.on_pong(start + 12 * SECOND);
        assert_eq!(live.rtt, Some(2 * SECOND));
        assert_eq!(live.next_deadline(), Some(start + 20 * SECOND));
    }

    #[test]
    fn an_unanswered_ping_expires_at_its_pong_deadline_and_ends_policing() {
        let (mut live, start) = pinging(10 * SECOND, 5 * SECOND);
        live.due(start + 10 * SECOND);
        assert_eq!(live.due(start + 14 * SECOND), None);
        assert_eq!(
            live.due(start + 15 * SECOND),
            Some(Due::Expired(Timeout::Pong))
        );
        assert!(!live.is_armed());
    }

    #[test]
    fn a_pong_nobody_asked_for_changes_nothing() {
        let (mut live, start) = pinging(10 * SECOND, 5 * SECOND);
        live.on_pong(start + SECOND);
        assert_eq!(live.rtt, None);
        assert_eq!(live.next_deadline(), Some(start + 10 * SECOND));
    }

    #[test]
    fn reads_push_the_idle_deadline_back() {
        let config = WebSocketConfig::default().idle_timeout(3 * SECOND);
        let start = Instant::now();
        let mut live = Liveness::new(&config, start);
        assert!(live.watches_reads());
        live.on_read(start + 2 * SECOND);
        assert_eq!(live.due(start + 4 * SECOND), None);
        assert_eq!(
            live.due(start + 5 * SECOND),
            Some(Due::Expired(Timeout::Idle))
        );
        assert!(!live.is_armed());
    }

    #[test]
    fn a_ping_that_could_not_be_sent_awaits_no_pong() {
        let (mut live, start) = pinging(10 * SECOND, 5 * SECOND);
        live.due(start + 10 * SECOND);
        live.ping_not_sent(start + 10 * SECOND);
        assert_eq!(live.due(start + 15 * SECOND), None, "no PONG deadline");
        assert_eq!(
            live.due(start + 20 * SECOND),
            Some(Due::Ping(Bytes::from_static(b"hb")))
        );
    }

    #[test]
    fn durations_too_long_to_add_mean_never_not_a_panic() {
        let config = WebSocketConfig::default()
            .keepalive(Keepalive::every(Duration::MAX))
            .idle_timeout(Duration::MAX);
        let start = Instant::now();
        let mut live = Liveness::new(&config, start);
        live.on_read(start);
        assert!(live.next_deadline().is_some_and(|at| at > start));
        assert_eq!(live.due(start + 1000 * SECOND), None);
    }

    #[test]
    fn raw_mode_runs_no_keepalive_but_still_the_idle_timeout() {
        let config = WebSocketConfig::default()
            .protocol(weft_proto::Config::default().raw_mode(true))
            .keepalive(Keepalive::every(10 * SECOND))
            .idle_timeout(30 * SECOND);
        let start = Instant::now();
        let live = Liveness::new(&config, start);
        assert_eq!(live.next_deadline(), Some(start + 30 * SECOND));
        assert_eq!(live.pong_timeout(), None);
    }

    #[test]
    fn the_earliest_deadline_is_next() {
        let config = WebSocketConfig::default()
            .keepalive(Keepalive::every(10 * SECOND))
            .idle_timeout(3 * SECOND);
        let start = Instant::now();
        let live = Liveness::new(&config, start);
        assert_eq!(live.next_deadline(), Some(start + 3 * SECOND));
    }
}
