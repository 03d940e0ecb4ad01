//! The PONGs a split reader hands its writer task, kept to a bound.
//!
//! The writer takes no commands while a write is stalled, so without a bound a peer that sends
//! PINGs and never reads would grow the channel between the two for as long as it likes. Past
//! [`MAX_UNSENT_PONGS`] in the channel only the latest PING waits, in one slot (RFC 6455
//! §5.5.3 lets an endpoint answer only the most recent one); the writer's core keeps its own
//! queue to the same bound.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use weft_proto::MAX_UNSENT_PONGS;

#[derive(Debug, Default)]
pub(super) struct PongGate {
    /// PONGs sent down the channel and not yet taken by the writer.
    in_channel: AtomicUsize,
    /// The latest PING's payload, once the channel holds the most PONGs it may.
    latest: Mutex<Option<Bytes>>,
}

/// What the reader sends the writer for a PONG it owes.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Admitted {
    /// This PONG, in its turn.
    Pong(Bytes),
    /// "Take the held PONG": sent once each time the slot fills.
    TakeLatest,
    /// Nothing: the PONG replaced one already held.
    Held,
}

impl PongGate {
    /// Called by the reader for each PONG it owes.
    pub(super) fn admit(&self, payload: Bytes) -> Admitted {
        if self.in_channel.load(Ordering::Acquire) < MAX_UNSENT_PONGS {
            self.in_channel.fetch_add(1, Ordering::AcqRel);
            return Admitted::Pong(payload);
        }
        match self.slot().replace(payload) {
            None => Admitted::TakeLatest,
            Some(_) => Admitted::Held,
        }
    }

    /// Called by the writer for each [`Admitted::Pong`] it takes.
    pub(super) fn taken(&self) {
        self.in_channel.fetch_sub(1, Ordering::AcqRel);
    }

    /// Called by the writer for [`Admitted::TakeLatest`].
    pub(super) fn take_latest(&self) -> Option<Bytes> {
        self.slot().take()
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Bytes>> {
        // The lock guards a plain value; a panic elsewhere cannot leave it half-written.
        self.latest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pong(n: usize) -> Bytes {
        Bytes::from(n.to_string())
    }

    #[test]
    fn pongs_pass_until_the_channel_holds_the_most_it_may() {
        let gate = PongGate::default();
        for n in 0..MAX_UNSENT_PONGS {
            assert_eq!(gate.admit(pong(n)), Admitted::Pong(pong(n)));
        }
        assert_eq!(gate.admit(pong(100)), Admitted::TakeLatest);
        assert_eq!(gate.admit(pong(101)), Admitted::Held);
        assert_eq!(gate.admit(pong(102)), Admitted::Held);
        assert_eq!(gate.take_latest(), Some(pong(102)));
        assert_eq!(gate.take_latest(), None);
    }

    #[test]
    fn a_taken_pong_makes_room_for_the_next() {
        let gate = PongGate::default();
        for n in 0..MAX_UNSENT_PONGS {
            gate.admit(pong(n));
        }
        gate.taken();
        assert_eq!(gate.admit(pong(7)), Admitted::Pong(pong(7)));
    }
}
