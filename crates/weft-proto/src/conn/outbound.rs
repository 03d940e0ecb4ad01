//! The queue of bytes waiting to be written: small frames coalesced into one buffer, large
//! unmasked payloads kept as their own chunks so they are never copied.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

/// Payloads at most this long are copied next to their header: one write of a few hundred
/// bytes is cheaper than an extra iovec.
const INLINE_PAYLOAD: usize = 512;

/// The room below which the tail takes a new block: the longest frame header.
const HEADER_ROOM: usize = 14;

/// How much the tail takes at a time: the headers of many messages in flight.
const TAIL_BLOCK: usize = 256;

#[derive(Debug, Default)]
pub(crate) struct Outbound {
    /// Headers and small or masked payloads not yet moved to `chunks`.
    tail: BytesMut,
    /// Chunks in write order, all before `tail`.
    chunks: VecDeque<Bytes>,
    /// Bytes in `chunks` plus `tail`.
    len: usize,
}

impl Outbound {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The buffer to encode into; the caller reports what it wrote with [`Self::wrote`].
    pub(crate) fn tail(&mut self) -> &mut BytesMut {
        if self.tail.capacity() - self.tail.len() < HEADER_ROOM {
            // Headers are sealed into chunks one by one while payloads are shared; without a
            // block to carve them from, each would cost an allocation while earlier chunks are
            // still being written. Once those are written the block is reclaimed in place.
            self.tail.reserve(TAIL_BLOCK);
        }
        &mut self.tail
    }

    pub(crate) fn wrote(&mut self, n: usize) {
        self.len += n;
    }

    /// Queues a payload: copied if small, shared as its own chunk if not.
    pub(crate) fn push_payload(&mut self, payload: Bytes) {
        self.len += payload.len();
        if payload.len() <= INLINE_PAYLOAD {
            self.tail.extend_from_slice(&payload);
        } else {
            self.seal_tail();
            self.chunks.push_back(payload);
        }
    }

    pub(crate) fn pop(&mut self) -> Option<Bytes> {
        let chunk = match self.chunks.pop_front() {
            Some(chunk) => chunk,
            None if !self.tail.is_empty() => self.tail.split().freeze(),
            None => return None,
        };
        self.len -= chunk.len();
        Some(chunk)
    }

    /// Fills `dst` with the queued bytes in write order, leaving them queued; returns how
    /// many slices it filled.
    pub(crate) fn slices<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let tail = (!self.tail.is_empty()).then_some(&self.tail[..]);
        let queued = self.chunks.iter().map(|chunk| &chunk[..]).chain(tail);
        let mut filled = 0;
        for (slot, bytes) in dst.iter_mut().zip(queued) {
            *slot = IoSlice::new(bytes);
            filled += 1;
        }
        filled
    }

    /// Drops the first `n` queued bytes, which have been written. The tail's space is
    /// reclaimed in place by the next header once it is all written.
    pub(crate) fn advance(&mut self, n: usize) {
        let mut n = n.min(self.len);
        self.len -= n;
        while n > 0 {
            match self.chunks.front_mut() {
                Some(front) if n >= front.len() => {
                    n -= front.len();
                    self.chunks.pop_front();
                }
                Some(front) => {
                    front.advance(n);
                    n = 0;
                }
                None => {
                    self.tail.advance(n.min(self.tail.len()));
                    n = 0;
                }
            }
        }
    }

    fn seal_tail(&mut self) {
        if !self.tail.is_empty() {
            self.chunks.push_back(self.tail.split().freeze());
        }
    }
}
