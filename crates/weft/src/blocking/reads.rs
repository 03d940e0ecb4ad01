//! How large each read of a blocking connection is, and where it goes.
//!
//! `Read` takes initialised memory, and without unsafe code the only way to lend it spare
//! capacity of a `BytesMut` is to zero it first. So small reads go through a staging buffer,
//! zeroed once and reused, and only the bytes read are copied on (zeroing 16 KiB per read was
//! 91 % of a small round trip's instructions). The rest of a large frame is read in place,
//! zeroed first: one read as large as the frame still needs drains the socket fastest
//! (capping it at 128 or 256 KiB made 1 MiB round trips ~1.5x slower).
//!
//! While large frames arrive, a read between frames expects one like the last and reads it
//! in place too, rather than its first 16 KiB through the staging buffer and the rest in a
//! second read (two reads per 64 KiB message, the second mostly waiting). A large read stops
//! at the frame's end and the next frame's header: bytes past it would start the next frame
//! in a buffer whose front is handed out with this one, and the header's worth lets a read
//! that ends short of the limit say the socket is drained.

use std::any::Any;
use std::io::{self, Read};
use std::time::Instant;

use bytes::BytesMut;
use weft_proto::copy;
use weft_proto::frame::MAX_HEADER_LEN;

use super::stream::{ReadTimeout, read_until};

/// Bytes read at least per call, whatever the frame in progress still needs.
pub(super) const READ_CHUNK: usize = 16 << 10;

/// Bytes read at most per call, however large the frame in progress.
const MAX_READ: usize = 1 << 20;

#[derive(Debug, Default)]
pub(super) struct Reads {
    /// Zeroed once, the target of small reads.
    stage: Option<Box<[u8]>>,
    /// While large frames arrive, the last one's length with a header: a read between
    /// frames expects one like it. Zero otherwise.
    large: usize,
}

impl Reads {
    /// Reads once from `io` onto the end of `buf`, for a frame that still needs `hint` payload
    /// bytes (0 between frames). `Ok(Some(0))` is the end of the stream, `Ok(None)` the
    /// deadline.
    pub(super) fn read<S: Read + Any>(
        &mut self,
        io: &mut S,
        buf: &mut BytesMut,
        hint: usize,
        deadline: Option<Instant>,
        timeout: &mut ReadTimeout,
    ) -> io::Result<Option<usize>> {
        let starts_frame = hint == 0 && buf.is_empty();
        let expected = if starts_frame && self.large > 0 {
            self.large
        } else {
            hint
        };
        if expected <= READ_CHUNK {
            let stage = self
                .stage
                .get_or_insert_with(|| vec![0; READ_CHUNK].into_boxed_slice());
            let read = read_until(io, stage, deadline, timeout);
            // A Read that claims more than the buffer held is broken; trust only the buffer.
            let read = read.map(|n| n.map(|n| n.min(READ_CHUNK)));
            if let Ok(Some(n)) = read {
                // The stage stays put and `buf` mostly does too, so one unlucky placement
                // would meet `memcpy`'s slow case on every read (see `weft_proto::copy`).
                buf.reserve(n);
                copy::append(buf, &stage[..n]);
            }
            return read;
        }
        let start = buf.len();
        if hint > READ_CHUNK {
            // The frame's payload so far and to come, and its header: from the frame's own
            // length, never from `large`, which would grow with each use. (In fragment mode
            // the part handed out is no longer in `buf`, so this is what is left of it.)
            self.large = start.saturating_add(hint).saturating_add(MAX_HEADER_LEN);
        }
        let want = expected.saturating_add(MAX_HEADER_LEN).min(MAX_READ);
        buf.resize(start + want, 0);
        let read = read_until(io, &mut buf[start..], deadline, timeout);
        let read = read.map(|n| n.map(|n| n.min(want)));
        let got = match read {
            Ok(Some(n)) => n,
            _ => 0,
        };
        buf.truncate(start + got);
        if starts_frame && got <= READ_CHUNK {
            // Small frames again, a large one arriving slowly, or a read that timed out or
            // ended: back to the staging buffer until a frame's header says otherwise (a
            // reader polling with a short timeout would otherwise zero a large frame's room
            // on every try).
            self.large = 0;
        }
        read
    }
}
