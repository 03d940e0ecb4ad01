//! The server registry's side of a connection: the mail it queued (messages, closes) taken
//! into the connection's send queue, and the connection's state reported back.

use std::sync::atomic::Ordering;
use std::task::Context;

use weft_proto::{State, UsageError};

use super::WebSocket;
use crate::info::ConnState;
use crate::server::registry::{Link, Outgoing};

impl<S> WebSocket<S> {
    /// Applies what the registry queued for this connection, while its write buffer has room.
    pub(super) fn take_outgoing(&mut self, cx: &mut Context<'_>) {
        let Some(link) = self.link.as_mut() else {
            return;
        };
        while self.conn.pending_transmit() < self.config.write_high {
            let Some(out) = link.poll_take(cx) else { break };
            let result = match &out {
                Outgoing::Encoded(frame) => self.conn.send_encoded(frame),
                Outgoing::Close(code, reason) => self.conn.close(*code, reason),
            };
            match result {
                Ok(()) if matches!(out, Outgoing::Close(..)) => self.timers.start_close(),
                Ok(()) => {}
                // Mail does not cut into a message the handler has half sent: it waits, in
                // order, until the message is whole.
                Err(UsageError::MessageInProgress | UsageError::FrameInProgress) => {
                    link.put_back(out);
                    break;
                }
                // A message for a connection already closing is dropped, as a send would fail.
                Err(_) => {}
            }
        }
        link.shared.set_state(match self.conn.state() {
            State::Open => ConnState::Open,
            State::Closed => ConnState::Closed,
            _ => ConnState::Closing,
        });
        link.shared
            .bytes_out
            .store(self.writes.written(), Ordering::Relaxed);
    }

    /// Connects this connection to a server registry.
    pub(crate) fn attach(&mut self, link: Link) {
        self.link = Some(link);
    }
}
