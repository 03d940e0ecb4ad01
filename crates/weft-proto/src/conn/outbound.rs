//! The queue of bytes waiting to be written: frame headers and small or masked payloads
//! appended to one buffer, large unmasked payloads kept as their own chunks so they are never
//! copied.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes};

use crate::copy;
use crate::frame::{FrameHeader, MAX_HEADER_LEN, apply_mask, extend_masked};

/// Payloads at most this long are copied next to their header: one write of a few hundred
/// bytes is cheaper than an extra iovec.
const INLINE_PAYLOAD: usize = 512;

/// Payloads at least this long are masked on their way into the buffer, in one pass, rather
/// than copied in and masked there. Below it the one pass's partial last block costs more
/// than it saves (16-128 B: 13-25 ns against 7-15); from it the one pass is faster (256 B:
/// 14 against 17 ns; 1 KiB: 31 against 41; 64 KiB: 2.2 against 3.1 µs).
const MASK_WHILE_COPYING: usize = 256;

/// The least the buffer grows by: the headers of many messages in flight.
const MIN_GROWTH: usize = 256;

/// The most capacity the buffer keeps once everything is written. A client copies (to mask)
/// every payload here; a connection that once sent a large message should not hold its size
/// while idle.
const RETAINED: usize = 64 * 1024;

/// Written bytes at the front of the buffer are moved out (by shifting the rest down) once
/// there are at least this many and they are at least half of it: a writer that never quite
/// catches up must not grow the buffer without bound.
const COMPACT_AT: usize = 4096;

#[derive(Debug, Default)]
pub(crate) struct Outbound {
    /// Headers and copied payloads, appended in write order; `buf[..head]` is written.
    ///
    /// A plain vector and a cursor rather than a reference-counted buffer: queueing a frame
    /// is an append, and reporting a write moves the cursor, with no atomic operation and no
    /// allocation per frame.
    buf: Vec<u8>,
    head: usize,
    /// Shared payloads, each with the offset in `buf` it is written at: after `buf[..at]`
    /// and before the rest of `buf`. Offsets never decrease and are never below `head`.
    chunks: VecDeque<(usize, Bytes)>,
    /// Bytes not yet written, in `buf` and in `chunks`.
    len: usize,
}

impl Outbound {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queues a frame header.
    pub(crate) fn push_header(&mut self, header: &FrameHeader) {
        let mut bytes = [0; MAX_HEADER_LEN];
        let n = header.encode_into(&mut bytes);
        self.push_copy(&bytes[..n]);
    }

    /// Queues an unmasked frame: its header, and its payload copied beside it if small or
    /// shared as its own chunk if not. One append for a small frame.
    pub(crate) fn push_frame(&mut self, header: &FrameHeader, payload: Bytes) {
        if payload.len() > INLINE_PAYLOAD {
            self.push_header(header);
            self.push_payload(payload);
            return;
        }
        let mut bytes = [0; MAX_HEADER_LEN];
        let n = header.encode_into(&mut bytes);
        let len = n + payload.len();
        self.make_room(len);
        if n == 2 {
            // A payload of up to 125 bytes has a two-byte header: a copy of known length,
            // with no call to `memcpy` (19 instructions a small message).
            self.buf.extend_from_slice(&bytes[..2]);
        } else {
            self.buf.extend_from_slice(&bytes[..n]);
        }
        self.buf.extend_from_slice(&payload);
        self.len += len;
    }

    /// Queues a copy of `bytes`.
    pub(crate) fn push_copy(&mut self, bytes: &[u8]) {
        self.make_room(bytes.len());
        // A server's compressed payloads come from the deflater's one reused buffer into
        // this one, at much the same places message after message: a long copy must not
        // meet `memcpy`'s slow case there (see `crate::copy`).
        copy::append(&mut self.buf, bytes);
        self.len += bytes.len();
    }

    /// Queues `bytes` masked with `key`, as the bytes at `offset` onwards of a payload.
    pub(crate) fn push_masked(&mut self, bytes: &[u8], key: [u8; 4], offset: usize) {
        if bytes.len() < MASK_WHILE_COPYING {
            let start = self.buf.len();
            self.push_copy(bytes);
            apply_mask(&mut self.buf[start..], key, offset);
            return;
        }
        self.make_room(bytes.len());
        extend_masked(&mut self.buf, bytes, key, offset);
        self.len += bytes.len();
    }

    /// Queues a payload: copied if small, shared as its own chunk if not.
    pub(crate) fn push_payload(&mut self, payload: Bytes) {
        if payload.len() <= INLINE_PAYLOAD {
            self.push_copy(&payload);
        } else {
            self.len += payload.len();
            self.chunks.push_back((self.buf.len(), payload));
        }
    }

    /// Takes the next run of queued bytes: the buffered bytes up to the next chunk, or that
    /// chunk. The buffer is handed over whole when it is all one run (no copy); a part of it
    /// is copied out.
    pub(crate) fn pop(&mut self) -> Option<Bytes> {
        let end = self.next_chunk_at();
        let bytes = if self.chunks.is_empty() && self.head == 0 && !self.buf.is_empty() {
            Bytes::from(std::mem::take(&mut self.buf))
        } else if end > self.head {
            let bytes = copy::to_bytes(&self.buf[self.head..end]);
            self.head = end;
            bytes
        } else {
            self.chunks.pop_front()?.1
        };
        self.len -= bytes.len();
        self.reclaim();
        Some(bytes)
    }

    /// Fills `dst` with the queued bytes in write order, leaving them queued; returns how
    /// many slices it filled.
    #[inline]
    pub(crate) fn slices<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        if self.chunks.is_empty() {
            // The common case: small frames only, one run.
            return match dst.first_mut() {
                Some(slot) if self.buf.len() > self.head => {
                    *slot = IoSlice::new(&self.buf[self.head..]);
                    1
                }
                _ => 0,
            };
        }
        self.slices_with_chunks(dst)
    }

    /// [`slices`](Self::slices) when shared payloads are queued: out of line, so the
    /// one-run case is inlined where the writer asks.
    #[inline(never)]
    fn slices_with_chunks<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut slots = dst.iter_mut();
        let mut filled = 0;
        let mut pos = self.head;
        for (at, chunk) in &self.chunks {
            for bytes in [&self.buf[pos..*at], &chunk[..]] {
                if bytes.is_empty() {
                    continue;
                }
                let Some(slot) = slots.next() else {
                    return filled;
                };
                *slot = IoSlice::new(bytes);
                filled += 1;
            }
            pos = *at;
        }
        if self.buf.len() > pos {
            if let Some(slot) = slots.next() {
                *slot = IoSlice::new(&self.buf[pos..]);
                filled += 1;
            }
        }
        filled
    }

    /// Drops the first `n` queued bytes, which have been written.
    #[inline]
    pub(crate) fn advance(&mut self, n: usize) {
        if n >= self.len && self.chunks.is_empty() {
            // All of it written and all of it buffered, the common case.
            self.len = 0;
            self.start_over();
            return;
        }
        self.advance_slow(n);
    }

    /// [`advance`](Self::advance) past shared payloads or short of the end. Out of line:
    /// the common case is inlined where the writer reports.
    #[inline(never)]
    fn advance_slow(&mut self, n: usize) {
        if n >= self.len {
            // All of it written: the chunks are dropped unwalked.
            self.len = 0;
            self.chunks.clear();
            self.head = self.buf.len();
            self.reclaim();
            return;
        }
        let mut n = n;
        self.len -= n;
        if self.chunks.is_empty() {
            self.head += n;
            self.reclaim();
            return;
        }
        while n > 0 {
            let take = (self.next_chunk_at() - self.head).min(n);
            self.head += take;
            n -= take;
            let Some((_, front)) = self.chunks.front_mut().filter(|_| n > 0) else {
                break;
            };
            if n >= front.len() {
                n -= front.len();
                self.chunks.pop_front();
            } else {
                front.advance(n);
                n = 0;
            }
        }
        self.reclaim();
    }

    /// Where the buffered run that is written next ends: at the next chunk, or the end.
    fn next_chunk_at(&self) -> usize {
        self.chunks.front().map_or(self.buf.len(), |(at, _)| *at)
    }

    /// Once every buffered byte is written the buffer starts over (the chunks still queued
    /// all come after it).
    fn reclaim(&mut self) {
        if self.head < self.buf.len() {
            return;
        }
        for (at, _) in &mut self.chunks {
            *at = 0;
        }
        self.start_over();
    }

    /// Empties the buffer, keeping its room unless a large message grew it past
    /// [`RETAINED`].
    #[inline]
    fn start_over(&mut self) {
        self.head = 0;
        if self.buf.capacity() > RETAINED {
            self.buf = Vec::new();
        } else {
            self.buf.clear();
        }
    }

    /// Makes room for `len` more bytes: first by moving written bytes out, then by growing.
    #[inline]
    fn make_room(&mut self, len: usize) {
        if self.buf.capacity() - self.buf.len() < len {
            self.compact();
            self.buf.reserve(len.max(MIN_GROWTH));
        }
    }

    /// Moves the written bytes out of the front of the buffer when they are most of it.
    fn compact(&mut self) {
        if self.head < COMPACT_AT || self.head < self.buf.len() / 2 {
            return;
        }
        self.buf.drain(..self.head);
        for (at, _) in &mut self.chunks {
            debug_assert!(*at >= self.head, "a chunk before the written mark");
            *at -= self.head;
        }
        self.head = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(out: &Outbound) -> Vec<u8> {
        let mut slices = [IoSlice::new(&[]); 16];
        let n = out.slices(&mut slices);
        slices[..n].iter().flat_map(|s| s.iter().copied()).collect()
    }

    fn large(byte: u8) -> Bytes {
        Bytes::from(vec![byte; INLINE_PAYLOAD + 1])
    }

    /// "ab", a large shared payload of `x`, then "cd".
    fn chunk_between_copies() -> Outbound {
        let mut out = Outbound::default();
        out.push_copy(b"ab");
        out.push_payload(large(b'x'));
        out.push_copy(b"cd");
        out
    }

    #[test]
    fn a_masked_payload_queues_what_apply_mask_makes_on_both_sides_of_the_one_pass_size() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        for len in [
            MASK_WHILE_COPYING - 1,
            MASK_WHILE_COPYING,
            MASK_WHILE_COPYING + 5,
        ] {
            for offset in 0..4 {
                let payload: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
                let mut out = Outbound::default();
                out.push_copy(b"hd");
                out.push_masked(&payload, key, offset);
                let mut want = payload.clone();
                apply_mask(&mut want, key, offset);
                want.splice(0..0, *b"hd");
                assert_eq!(queued(&out), want, "len {len} offset {offset}");
                assert_eq!(out.len(), want.len());
            }
        }
    }

    #[test]
    fn chunks_are_written_between_the_bytes_buffered_around_them() {
        let out = chunk_between_copies();
        let mut want = b"ab".to_vec();
        want.extend_from_slice(&large(b'x'));
        want.extend_from_slice(b"cd");
        assert_eq!(queued(&out), want);
        assert_eq!(out.len(), want.len());
    }

    #[test]
    fn partial_advances_across_chunk_boundaries_keep_the_order() {
        let mut out = chunk_between_copies();
        let mut want = queued(&out);
        for step in [1, 2, INLINE_PAYLOAD, 1] {
            out.advance(step);
            want.drain(..step);
            assert_eq!(queued(&out), want, "after advancing {step}");
        }
        out.advance(want.len());
        assert!(out.is_empty());
        assert_eq!(queued(&out), b"");
    }

    #[test]
    fn a_queue_written_whole_starts_over_for_what_comes_next() {
        let mut out = chunk_between_copies();
        out.advance(out.len());
        assert!(out.is_empty());
        assert!(out.chunks.is_empty(), "the written chunk is let go");
        assert_eq!((out.head, out.buf.len()), (0, 0), "the buffer starts over");
        out.push_copy(b"ef");
        out.push_payload(large(b'y'));
        let mut want = b"ef".to_vec();
        want.extend_from_slice(&large(b'y'));
        assert_eq!(queued(&out), want);
        assert_eq!(out.len(), want.len());
    }

    #[test]
    fn buffered_bytes_written_whole_start_over_and_keep_their_room() {
        let mut out = Outbound::default();
        out.push_copy(b"abcd");
        out.advance(1);
        out.push_copy(b"ef");
        out.advance(out.len());
        assert!(out.is_empty());
        assert_eq!((out.head, out.buf.len()), (0, 0), "the buffer starts over");
        let room = out.buf.capacity();
        assert!(
            room >= MIN_GROWTH,
            "a small buffer is kept for the next frames"
        );
        out.push_copy(b"gh");
        assert_eq!(queued(&out), b"gh");
        assert_eq!(out.buf.capacity(), room);
    }

    #[test]
    fn a_write_reported_longer_than_the_queue_empties_it_and_nothing_more() {
        let mut out = Outbound::default();
        out.advance(0);
        assert!(out.is_empty());
        out.push_copy(b"abc");
        out.advance(10);
        assert!(out.is_empty());
        assert_eq!((out.head, out.buf.len()), (0, 0));
        let mut chunked = chunk_between_copies();
        chunked.advance(chunked.len() + 10);
        assert!(chunked.is_empty());
        assert!(chunked.chunks.is_empty());
        assert_eq!((chunked.head, chunked.buf.len()), (0, 0));
        chunked.push_copy(b"z");
        assert_eq!(queued(&chunked), b"z");
    }

    #[test]
    fn a_frame_is_its_header_then_its_payload_small_or_large() {
        let header = |len: usize| FrameHeader {
            fin: true,
            rsv: 0,
            opcode: crate::frame::OpCode::Binary,
            mask: None,
            payload_len: len as u64,
        };
        let mut out = Outbound::default();
        out.push_frame(&header(3), Bytes::from_static(b"abc"));
        out.push_frame(&header(INLINE_PAYLOAD + 1), large(b'x'));
        let mut want = vec![0x82, 3];
        want.extend_from_slice(b"abc");
        want.extend_from_slice(&[0x82, 126, 0x02, 0x01]);
        want.extend_from_slice(&large(b'x'));
        assert_eq!(queued(&out), want);
        assert_eq!(out.len(), want.len());
        assert_eq!(
            out.chunks.len(),
            1,
            "the large payload is shared, not copied"
        );
    }

    #[test]
    fn pop_hands_out_the_same_bytes_in_the_same_order() {
        let mut out = chunk_between_copies();
        let want = queued(&out);
        let mut got = Vec::new();
        while let Some(bytes) = out.pop() {
            got.extend_from_slice(&bytes);
        }
        assert_eq!(got, want);
        assert!(out.is_empty());
    }

    #[test]
    fn a_writer_that_never_catches_up_does_not_grow_the_buffer_without_bound() {
        let mut out = Outbound::default();
        out.push_copy(&[7; 100]);
        for _ in 0..100_000 {
            out.push_copy(&[7; 100]);
            // Always one frame behind.
            out.advance(100);
        }
        out.push_copy(&[7; 100]);
        assert!(
            out.buf.capacity() < 4 * COMPACT_AT,
            "{}",
            out.buf.capacity()
        );
        assert_eq!(out.len(), 200);
    }

    #[test]
    fn compacting_keeps_queued_chunks_in_place() {
        let mut out = Outbound::default();
        out.push_copy(&[1; 5000]);
        out.push_payload(large(b'x'));
        out.push_copy(&[2; 100]);
        out.advance(4900);
        let mut want = queued(&out);
        // Does not fit in the spare capacity: the written 4900 bytes are moved out first.
        let extra = vec![3; out.buf.capacity()];
        out.push_copy(&extra);
        want.extend_from_slice(&extra);
        assert_eq!(out.head, 0, "compacted");
        assert_eq!(queued(&out), want);
        assert_eq!(out.len(), want.len());
    }

    #[test]
    fn pop_hands_over_a_buffer_that_is_one_run_without_copying() {
        let mut out = Outbound::default();
        out.push_copy(b"abc");
        let data = out.buf.as_ptr();
        let bytes = out.pop().expect("queued");
        assert_eq!(&bytes[..], b"abc");
        assert_eq!(bytes.as_ptr(), data, "the same memory");
        assert!(out.is_empty());
    }

    #[test]
    fn a_large_copied_payload_is_not_retained_once_written() {
        let mut out = Outbound::default();
        out.push_copy(&vec![1; RETAINED * 2]);
        out.advance(RETAINED * 2);
        assert!(out.is_empty());
        assert!(out.buf.capacity() <= RETAINED);
    }
}
