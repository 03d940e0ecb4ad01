//! The queue of decoded events, with the oldest kept inline.

use std::collections::VecDeque;

use crate::message::Event;

/// Events in arrival order. Most reads decode one event that is taken at once; keeping the
/// oldest inside the connection spares each message a visit to a separately allocated ring,
/// which with thousands of connections is a cache miss per message.
#[derive(Debug, Default)]
pub(super) struct EventQueue {
    /// The oldest event; `None` only when the queue is empty.
    head: Option<Event>,
    rest: VecDeque<Event>,
}

impl EventQueue {
    pub(super) fn push_back(&mut self, event: Event) {
        if self.head.is_none() {
            self.head = Some(event);
        } else {
            self.rest.push_back(event);
        }
    }

    pub(super) fn pop_front(&mut self) -> Option<Event> {
        // Asked on every poll, and most polls find nothing: then there is nothing to move.
        self.head.as_ref()?;
        let event = self.head.take();
        // Usually nothing waits behind it; then the head is left empty, not rewritten.
        if !self.rest.is_empty() {
            self.head = self.rest.pop_front();
        }
        event
    }

    pub(super) fn is_empty(&self) -> bool {
        self.head.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;

    fn text(s: &str) -> Event {
        Event::Message(Message::text(s))
    }

    #[test]
    fn events_leave_in_arrival_order() {
        let mut queue = EventQueue::default();
        for s in ["a", "b", "c"] {
            queue.push_back(text(s));
        }
        assert_eq!(queue.pop_front(), Some(text("a")));
        queue.push_back(text("d"));
        assert_eq!(queue.pop_front(), Some(text("b")));
        assert_eq!(queue.pop_front(), Some(text("c")));
        assert_eq!(queue.pop_front(), Some(text("d")));
        assert_eq!(queue.pop_front(), None);
        assert!(queue.is_empty());
    }

    #[test]
    fn one_event_at_a_time_never_allocates_the_ring() {
        let mut queue = EventQueue::default();
        for _ in 0..100 {
            queue.push_back(text("x"));
            assert!(queue.pop_front().is_some());
        }
        assert_eq!(queue.rest.capacity(), 0);
    }
}
