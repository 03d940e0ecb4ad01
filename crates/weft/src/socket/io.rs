//! The poll machinery under [`WebSocket`](super::WebSocket): reading into the core, writing
//! what it hands out with vectored writes, timers, and the end of the transport.

use std::cell::Cell;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite};
use weft_proto::frame::MAX_HEADER_LEN;
use weft_proto::{Connection, Sender};

use super::stall::WriteStall;

thread_local! {
    /// A read buffer between uses. A connection whose read would block with nothing left over
    /// hands its buffer back here, and the next connection on this thread to read takes it:
    /// idle connections hold no read buffer, busy ones reuse one without allocating.
    static SPARE: Cell<Option<BytesMut>> = const { Cell::new(None) };

    /// The length of the last large frame on this thread, or 0 while frames are small: a
    /// frame in progress had to grow the buffer past the base size (its length is then
    /// known), or the last read that started on an empty buffer filled more than it.
    static LARGE: Cell<usize> = const { Cell::new(0) };

    /// The capacity the buffer starting a frame had when it last started at the front of its
    /// allocation: how far reads have walked into it since is this minus its capacity now.
    static FRONT: Cell<usize> = const { Cell::new(0) };

    /// Where small writes are gathered into one buffer; taken and put back around each use.
    static GATHERED: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Most chunks gathered into one vectored write.
const MAX_IOVECS: usize = 64;

/// Slices looked at first, before setting up `MAX_IOVECS` of them.
const FEW_IOVECS: usize = 4;

/// Queued bytes up to this size are copied into one buffer and written with a plain write.
const GATHER: usize = 2048;

// The gathering copies are short enough for `memcpy` to have no slow case (see
// `weft_proto::copy`).
const _: () = assert!(GATHER <= weft_proto::copy::PIECE);

/// How far small frames may walk a read buffer before the next one starts at its front again.
const WALK: usize = 4096;

/// The most one read reserves room for: a 1 MiB payload with the longest header, so a frame
/// of that size is read into one buffer. Longer frames grow the buffer as they arrive rather
/// than on what their header declares.
const MAX_RESERVE: usize = (1 << 20) + MAX_HEADER_LEN;

/// Whatever queues bytes to write: a whole connection, or the sending half of one. The
/// bytes are written from its queue in place and stay there until reported written.
pub(crate) trait TransmitSource {
    fn transmit_slices<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize;
    fn advance_transmit(&mut self, n: usize);
    fn pending_transmit(&self) -> usize;
    fn take_shutdown(&mut self) -> bool;
}

macro_rules! transmit_source {
    ($t:ty) => {
        impl TransmitSource for $t {
            fn transmit_slices<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
                <$t>::transmit_slices(self, dst)
            }
            fn advance_transmit(&mut self, n: usize) {
                <$t>::advance_transmit(self, n)
            }
            fn pending_transmit(&self) -> usize {
                <$t>::pending_transmit(self)
            }
            fn take_shutdown(&mut self) -> bool {
                <$t>::take_shutdown(self)
            }
        }
    };
}

transmit_source!(Connection);
transmit_source!(Sender);

/// The write side's progress over the core's queue.
#[derive(Debug, Default)]
pub(crate) struct WriteQueue {
    /// The core asked for the transport to be closed after what it queued.
    shutdown_owed: bool,
    /// The transport has been shut down for writing.
    pub(crate) shut_down: bool,
    /// Bytes written since the last flush.
    unflushed: bool,
    /// Bytes written in all.
    written: u64,
    /// The write timeout.
    stall: WriteStall,
}

impl WriteQueue {
    /// A queue whose writes fail once the transport takes nothing for `write_timeout`.
    pub(crate) fn new(write_timeout: Option<Duration>) -> Self {
        WriteQueue {
            stall: WriteStall::new(write_timeout),
            ..WriteQueue::default()
        }
    }

    /// Whether bytes were written since the last flush.
    pub(crate) fn has_unflushed(&self) -> bool {
        self.unflushed
    }

    /// Bytes the transport has accepted so far.
    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    /// Writes until everything is written and flushed, and the transport is shut down if the
    /// core asked for it.
    pub(crate) fn poll_drain<S: AsyncWrite + Unpin>(
        &mut self,
        io: &mut S,
        conn: &mut impl TransmitSource,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        if conn.pending_transmit() > 0 {
            ready!(self.poll_write_until(io, conn, cx, 0))?;
        }
        if self.unflushed {
            // A TLS stream's flush writes its buffered records: a wait like a write's.
            match Pin::new(&mut *io).poll_flush(cx) {
                Poll::Ready(flushed) => flushed?,
                Poll::Pending => return self.stall.poll_wait(cx).map(Err),
            }
            self.unflushed = false;
            self.stall.clear();
        }
        self.shutdown_owed |= conn.take_shutdown();
        if self.shutdown_owed && !self.shut_down {
            // A peer that already went away makes shutdown fail; the transport is over either way.
            let _ = ready!(Pin::new(&mut *io).poll_shutdown(cx));
            self.shut_down = true;
        }
        Poll::Ready(Ok(()))
    }

    /// Writes until at most `target` bytes are queued.
    pub(crate) fn poll_write_until<S: AsyncWrite + Unpin>(
        &mut self,
        io: &mut S,
        conn: &mut impl TransmitSource,
        cx: &mut Context<'_>,
        target: usize,
    ) -> Poll<io::Result<()>> {
        loop {
            if conn.pending_transmit() <= target || self.shut_down {
                self.stall.clear();
                return Poll::Ready(Ok(()));
            }
            let n = match poll_write_once(io, conn, cx) {
                Poll::Ready(written) => written?,
                Poll::Pending => return self.stall.poll_wait(cx).map(Err),
            };
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.stall.progressed();
            self.unflushed = true;
            self.written += n as u64;
            conn.advance_transmit(n);
        }
    }
}

/// One write of what is queued: a plain write when it is one slice or small enough to
/// gather, a vectored write otherwise. On a TCP socket `send` costs less than `writev`
/// (no iovec import, no VFS layer) and small messages are most of the traffic; over TLS
/// one buffer makes one record instead of one per slice.
fn poll_write_once<S: AsyncWrite + Unpin>(
    io: &mut S,
    conn: &impl TransmitSource,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    let io = Pin::new(&mut *io);
    let queued = conn.pending_transmit();
    // A few slices cover almost every write (a header and its payload, or one tail of small
    // frames); the full array is only set up when they do not.
    let mut few = [IoSlice::new(&[]); FEW_IOVECS];
    let count = conn.transmit_slices(&mut few);
    if count == 1 {
        return io.poll_write(cx, &few[0]);
    }
    if queued <= GATHER {
        // Slices past the first few, if any, wait for the next write.
        let mut gathered = GATHERED.take();
        gathered.clear();
        for slice in &few[..count] {
            gathered.extend_from_slice(slice);
        }
        let polled = io.poll_write(cx, &gathered);
        GATHERED.set(gathered);
        return polled;
    }
    if count < FEW_IOVECS {
        return io.poll_write_vectored(cx, &few[..count]);
    }
    let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
    let count = conn.transmit_slices(&mut slices);
    io.poll_write_vectored(cx, &slices[..count])
}

/// Reads once into `buf`, growing it to what the frame in progress needs (the core's limits
/// bound that) and keeping it small otherwise. Returns the bytes read; 0 is the end.
///
/// An empty `buf` without room borrows the thread's spare buffer, and gives it back when the
/// read would block with nothing in it, so an idle connection keeps no buffer of its own.
pub(crate) fn poll_read_into<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
    wanted: usize,
    base: usize,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    let starts_frame = buf.is_empty();
    if starts_frame {
        if buf.capacity() == 0 {
            if let Some(spare) = SPARE.take() {
                *buf = spare;
            }
        }
        if grown(buf, base) {
            // Shrink back after a large message instead of pinning its memory.
            *buf = BytesMut::with_capacity(base);
        } else if buf.capacity() > 0 {
            reclaim(buf);
        }
    }
    // Between frames while large frames arrive: room for one like the last, so it is read
    // into one buffer rather than copied into a larger one once its length is known. Only
    // on an empty buffer: a connection holding a partial header keeps what it has while it
    // waits, and should not wait holding a large frame's room.
    let large = LARGE.get();
    // A frame's worth and the next frame's header: see the limit on the read below.
    let hinted = if starts_frame && large > 0 {
        large
    } else {
        wanted
    }
    .saturating_add(MAX_HEADER_LEN);
    let spare = buf.capacity() - buf.len();
    let want = hinted.clamp(base, MAX_RESERVE);
    if spare < want.min(base * 16) {
        // For a frame of up to 16 reads' worth, room past its end: a read that fills its
        // buffer leaves the socket marked readable, and the next read would only find it
        // empty (a 64 KiB message took 3 reads without it, 2 with it). Larger frames get what
        // they need: measured, the extra room made 1 MiB echoes take 13 reads instead of 8.
        let room = if want < base * 16 { base } else { 0 };
        buf.reserve(want + room);
        if wanted > base {
            // The payload so far and to come; the next such frame has a header too. From
            // the frame's own length, never from the hint, which would grow with each use.
            LARGE.set(
                buf.len()
                    .saturating_add(wanted)
                    .saturating_add(MAX_HEADER_LEN),
            );
        }
    }
    // While large frames arrive, a read stops at the end of the frame in progress and the
    // next frame's header. Bytes past that would begin the next large frame in the tail of
    // a buffer still shared with queued echoes, to be copied out once its length is known
    // (16 KiB of every 64 KiB message at 16 in flight). The header's worth matters too: with
    // one message in flight the read of a whole frame ends short of the limit, so the socket
    // is known drained; a read that filled the limit exactly would be followed by one that
    // finds nothing.
    // tokio-util reads into the spare capacity without zeroing it first.
    let polled = if hinted > base {
        poll_read_limited(io, buf, hinted, cx)
    } else {
        tokio_util::io::poll_read_buf(Pin::new(io), cx, buf)
    };
    if starts_frame {
        if let Poll::Ready(Ok(n)) = polled {
            if n > base {
                if LARGE.get() == 0 {
                    LARGE.set(n);
                }
            } else if n > 0 {
                LARGE.set(0);
            }
        }
    }
    if polled.is_pending() && buf.is_empty() {
        give_back(std::mem::take(buf), base);
    }
    polled
}

/// Reads at most `limit` bytes into `buf`. Out of line: only large frames take it, and the
/// small-message path stays as short as one unlimited read.
#[inline(never)]
fn poll_read_limited<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
    limit: usize,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    tokio_util::io::poll_read_buf(Pin::new(io), cx, &mut buf.limit(limit))
}

/// Starts the next frame at the front of `buf`'s allocation when that is worth it. What is
/// left after earlier frames split off is the tail of the allocation; once they are gone, the
/// whole of it can be taken back (nothing to copy).
///
/// While large frames arrive, always: otherwise a frame longer than the tail is copied to the
/// front when its length is read (16 KiB of every 64 KiB message on one connection). For small
/// frames, once they have walked [`WALK`] bytes into it: reads into memory touched a moment
/// ago instead of a fresh part of a 32 KiB buffer (callgrind, 100 x 1 KiB echoes: 28.5 -> 15.4
/// L1d read misses per message), while the reclaim's ~90 instructions are paid once every
/// 4 KiB rather than on every message.
#[inline]
fn reclaim(buf: &mut BytesMut) {
    let cap = buf.capacity();
    let front = FRONT.get();
    if cap > front {
        // A buffer roomier than the one last seen: a new one, at its front already.
        FRONT.set(cap);
        if LARGE.get() == 0 {
            return;
        }
    } else if LARGE.get() == 0 && front - cap < WALK {
        return;
    }
    // Still shared with a message not yet written: try again once it walked further.
    let _ = buf.try_reclaim(cap + 1);
    FRONT.set(buf.capacity());
}

/// Keeps the roomier of `buf` and the thread's spare for the next reader and frees the other;
/// a buffer grown for a large message is freed rather than parked.
#[inline]
fn give_back(buf: BytesMut, base: usize) {
    if grown(&buf, base) {
        return;
    }
    SPARE.with(|spare| {
        let kept = match spare.take() {
            Some(held) if held.capacity() >= buf.capacity() => held,
            _ => buf,
        };
        spare.set(Some(kept));
    });
}

/// Whether `buf` grew for a large message past what is worth keeping between reads.
fn grown(buf: &BytesMut, base: usize) -> bool {
    buf.capacity() > base * 64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_once(src: &[u8], buf: &mut BytesMut, wanted: usize, base: usize) -> usize {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut reader = src;
        match poll_read_into(&mut reader, buf, wanted, base, &mut cx) {
            Poll::Ready(Ok(n)) => n,
            other => panic!("read did not complete: {other:?}"),
        }
    }

    #[test]
    fn emptied_tail_takes_its_allocation_back_while_large_frames_arrive() {
        let base = 16 * 1024;
        // A 96 KiB buffer whose first 64 KiB (a large message) was split off and dropped.
        let mut buf = BytesMut::with_capacity(96 * 1024);
        buf.resize(64 * 1024, 0);
        drop(buf.split_to(64 * 1024));
        assert!(buf.capacity() < 40 * 1024);
        // A frame in progress (its first bytes in hand) wanted more than the base size:
        // large frames are arriving.
        let mut probe = BytesMut::from(&[0x82, 0x7f][..]);
        read_once(&[0; 8], &mut probe, 64 * 1024, base);

        // The next frame starts at the front of the whole allocation, in one read.
        let next = vec![7u8; 40 * 1024];
        assert_eq!(read_once(&next, &mut buf, 0, base), next.len());
        assert_eq!(&buf[..], &next[..]);
    }

    /// Marks large frames as arriving on this thread, as a 64 KiB frame's first bytes do.
    fn large_frame_seen(base: usize) {
        let mut probe = BytesMut::from(&[0x82, 0x7f][..]);
        read_once(&[0; 8], &mut probe, 64 * 1024, base);
    }

    #[test]
    fn a_frame_starting_while_large_frames_arrive_is_read_in_one_go() {
        let base = 16 * 1024;
        large_frame_seen(base);
        // Still shared with an earlier message, so it cannot be grown in place: without the
        // hint it would get room for a base-sized read, and the rest of the frame would come
        // after its first part was copied into a larger buffer.
        let mut buf = BytesMut::with_capacity(base);
        buf.resize(100, 0);
        let _earlier = buf.split_to(100).freeze();

        let frame = vec![7u8; 64 * 1024 + 4];
        assert_eq!(read_once(&frame, &mut buf, 0, base), frame.len());
        assert_eq!(&buf[..], &frame[..]);
    }

    #[test]
    fn a_read_stops_at_the_large_frame_end_and_the_next_header() {
        let base = 16 * 1024;
        // A 64 KiB frame's header in hand, its payload and a second frame waiting behind it.
        let mut buf = BytesMut::from(&[0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0][..]);
        let waiting = vec![7u8; 2 * 64 * 1024];
        let n = read_once(&waiting, &mut buf, 64 * 1024, base);
        assert_eq!(n, 64 * 1024 + MAX_HEADER_LEN);
    }

    #[test]
    fn a_read_starting_a_frame_while_large_frames_arrive_stops_at_one_and_a_header() {
        let base = 16 * 1024;
        large_frame_seen(base);
        let frame = LARGE.get();
        let mut buf = BytesMut::new();
        let waiting = vec![7u8; 3 * frame];
        let n = read_once(&waiting, &mut buf, 0, base);
        assert_eq!(n, frame + MAX_HEADER_LEN);
    }

    #[test]
    fn a_read_of_small_frames_is_not_limited() {
        let base = 16 * 1024;
        let mut buf = BytesMut::from(&[0x82][..]);
        let waiting = vec![7u8; 64 * 1024];
        let n = read_once(&waiting, &mut buf, 0, base);
        assert_eq!(n, buf.capacity() - 1, "filled all the room it had");
    }

    #[test]
    fn small_frames_end_the_large_frame_hint() {
        let base = 16 * 1024;
        large_frame_seen(base);
        let mut buf = BytesMut::new();
        read_once(&[1; 100], &mut buf, 0, base);
        drop(buf.split());

        let mut next = BytesMut::new();
        let n = read_once(&vec![7u8; 64 * 1024], &mut next, 0, base);
        assert!(n <= 2 * base, "a base-sized read again, got {n}");
    }

    /// A 32 KiB buffer seen at its front, then `walked` bytes of small frames split off it
    /// and dropped (their echoes written).
    fn walked(walked: usize) -> BytesMut {
        let base = 16 * 1024;
        let mut buf = BytesMut::with_capacity(2 * base);
        read_once(&[0; 8], &mut buf, 0, base);
        buf.resize(walked, 0);
        drop(buf.split_to(walked));
        buf
    }

    #[test]
    fn small_frames_leave_a_short_walk_in_place() {
        let mut buf = walked(WALK / 2);
        let tail = buf.capacity();
        read_once(&[7; 100], &mut buf, 0, 16 * 1024);
        assert_eq!(buf.capacity(), tail, "read into the tail, not reclaimed");
    }

    #[test]
    fn small_frames_start_at_the_front_again_after_walking_4_kib() {
        let mut buf = walked(WALK + 1000);
        let tail = buf.capacity();
        read_once(&[7; 100], &mut buf, 0, 16 * 1024);
        assert_eq!(
            buf.capacity(),
            tail + WALK + 1000,
            "the whole allocation again"
        );
        assert_eq!(&buf[..], &[7; 100][..]);
    }

    #[test]
    fn a_buffer_still_shared_with_a_message_is_read_into_its_tail() {
        let base = 16 * 1024;
        let mut buf = BytesMut::with_capacity(2 * base);
        read_once(&[0; 8], &mut buf, 0, base);
        buf.resize(WALK + 1000, 0);
        let unwritten = buf.split_to(WALK + 1000).freeze();
        let tail = buf.capacity();
        read_once(&[7; 100], &mut buf, 0, base);
        assert_eq!(
            buf.capacity(),
            tail,
            "the message's bytes are not overwritten"
        );
        assert!(unwritten.iter().all(|&b| b == 0));
    }
}
