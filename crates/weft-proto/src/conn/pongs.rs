//! The PONGs a sender has queued and not yet written, kept to a bound.

use std::collections::VecDeque;

use bytes::Bytes;

/// The most automatic PONGs queued and not yet written. Past it only the latest PING waits
/// for an answer (RFC 6455 §5.5.3 lets an endpoint answer only the most recent one), so a
/// peer that sends PINGs and never reads cannot grow the write queue without bound.
pub const MAX_UNSENT_PONGS: usize = 64;

/// Kept boxed by the sender, and only while it holds something, so a connection that is not
/// pinged carries one empty pointer and no counting on its write path.
#[derive(Debug, Default)]
pub(super) struct UnsentPongs {
    /// Bytes written since this bookkeeping began.
    written: u64,
    /// Where each queued PONG ends, on the same count; oldest first.
    ends: VecDeque<u64>,
    /// The latest PING's payload: held while the queue is full of PONGs, or while a
    /// half-sent frame keeps control frames out (§5.4).
    held: Option<Bytes>,
}

impl UnsentPongs {
    /// Counts `n` more bytes written, and forgets the PONGs that are now out.
    pub(super) fn wrote(&mut self, n: usize) {
        self.written += n as u64;
        while self.ends.front().is_some_and(|&end| end <= self.written) {
            self.ends.pop_front();
        }
    }

    pub(super) fn is_full(&self) -> bool {
        self.ends.len() >= MAX_UNSENT_PONGS
    }

    /// Notes a PONG just queued, the last of `queue_len` unwritten bytes.
    pub(super) fn queued(&mut self, queue_len: usize) {
        self.ends.push_back(self.written + queue_len as u64);
    }

    /// Keeps `payload` to answer later, in place of any PING held before it.
    pub(super) fn hold(&mut self, payload: Bytes) {
        self.held = Some(payload);
    }

    /// The held PING's payload, once there is room to queue its PONG.
    pub(super) fn take_held(&mut self) -> Option<Bytes> {
        if self.is_full() {
            return None;
        }
        self.held.take()
    }

    pub(super) fn is_idle(&self) -> bool {
        self.ends.is_empty() && self.held.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_pongs_are_forgotten_in_order() {
        let mut pongs = UnsentPongs::default();
        pongs.queued(10);
        pongs.queued(20);
        pongs.wrote(15);
        assert_eq!(pongs.ends, [20]);
        pongs.queued(10);
        assert_eq!(pongs.ends, [20, 25]);
        pongs.wrote(10);
        assert!(pongs.is_idle());
    }

    #[test]
    fn a_held_ping_waits_for_room_and_only_the_latest_is_kept() {
        let mut pongs = UnsentPongs::default();
        for len in 1..=MAX_UNSENT_PONGS {
            pongs.queued(len);
        }
        pongs.hold(Bytes::from_static(b"old"));
        pongs.hold(Bytes::from_static(b"new"));
        assert_eq!(pongs.take_held(), None);
        pongs.wrote(1);
        assert_eq!(pongs.take_held(), Some(Bytes::from_static(b"new")));
        assert_eq!(pongs.take_held(), None);
    }
}
