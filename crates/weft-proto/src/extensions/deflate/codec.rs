//! The per-message codec: a compressor for what this side sends and a decompressor for what
//! it receives, each keeping or dropping its context between messages as negotiated.

use flate2::{Compress, Decompress, FlushCompress, FlushDecompress, Status};
use thiserror::Error;

use super::pool::{self, CompressKey};
use super::{DeflateConfig, DeflateParams};
use crate::role::Role;

/// The empty stored block a sync flush ends with; RFC 7692 §7.2.1 drops it from each message
/// and the receiver puts it back.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Output is produced at most this much at a time, so the size limit is checked before more
/// memory is committed.
const CHUNK: usize = 64 << 10;

/// A compressed message could not be processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DeflateError {
    /// The data is not a valid deflate stream (1007).
    #[error("invalid compressed data")]
    Corrupt,
    /// Inflating passed the size limit (1009).
    #[error("inflated message exceeds the limit")]
    TooLarge,
}

/// permessage-deflate for one connection, as negotiated: split into its halves with
/// [`into_parts`](Self::into_parts) for the sender and the receiver.
#[derive(Debug)]
pub struct Deflate {
    deflater: Deflater,
    inflater: Inflater,
}

impl Deflate {
    /// The codec for `role` under the agreed `params`, with this side's `config` for level,
    /// threshold and its own (smaller) window preference.
    pub fn new(role: Role, params: DeflateParams, config: &DeflateConfig) -> Self {
        let (ours, theirs, our_reset, their_reset) = match role {
            Role::Server => (
                params.server_max_window_bits,
                params.client_max_window_bits,
                params.server_no_context_takeover,
                params.client_no_context_takeover,
            ),
            Role::Client => (
                params.client_max_window_bits,
                params.server_max_window_bits,
                params.client_no_context_takeover,
                params.server_no_context_takeover,
            ),
        };
        let bits = ours.min(config.window_bits.clamp(8, 15));
        Deflate {
            deflater: Deflater {
                compress: None,
                // zlib cannot compress with an 8-bit window (it silently uses 9, which a peer
                // holding us to 8 could not read): under that limit messages are sent
                // uncompressed, which permessage-deflate allows message by message.
                window_bits: (bits >= 9).then_some(bits),
                level: config.level.min(9),
                reset: our_reset,
                threshold: config.threshold,
                scratch: Vec::new(),
            },
            inflater: Inflater {
                decompress: None,
                // A larger window than the peer's reads its stream just as well; 9 is zlib's
                // least.
                window_bits: theirs.clamp(9, 15),
                reset: their_reset,
            },
        }
    }

    /// The compressor and the decompressor.
    pub fn into_parts(self) -> (Deflater, Inflater) {
        (self.deflater, self.inflater)
    }
}

/// The sending half: compresses messages.
///
/// zlib's state (about 250 KiB at its fixed memory level, with the window) is allocated by the
/// first message compressed, so idle connections and those that only send small messages pay
/// nothing for it. Without context takeover the state is held only while a message is being
/// compressed and shared with the thread's other connections between messages.
#[derive(Debug)]
pub struct Deflater {
    compress: Option<Compress>,
    /// `None` when the negotiated window is too small for zlib to compress with.
    window_bits: Option<u8>,
    level: u32,
    reset: bool,
    threshold: usize,
    /// Reused output buffer.
    scratch: Vec<u8>,
}

impl Deflater {
    /// Whether a message (or its first frame) of `len` bytes should be compressed.
    pub(crate) fn wants(&self, len: usize) -> bool {
        self.window_bits.is_some() && len >= self.threshold
    }

    /// Whether this side can compress at all (not under an 8-bit window limit).
    pub fn can_compress(&self) -> bool {
        self.window_bits.is_some()
    }

    /// Compresses `data`, a whole message or one frame's share of it; `last` marks the end of
    /// the message. Returns the compressed bytes, valid until the next call.
    pub(crate) fn compress(&mut self, data: &[u8], last: bool) -> Result<&[u8], DeflateError> {
        let Some(bits) = self.window_bits else {
            return Err(DeflateError::Corrupt);
        };
        let key = CompressKey {
            level: self.level,
            window_bits: bits,
        };
        let reset = self.reset;
        let c = self.compress.get_or_insert_with(|| {
            if reset {
                pool::take_compress(key)
            } else {
                key.new_state()
            }
        });
        self.scratch.clear();
        let mut consumed = 0;
        loop {
            if self.scratch.capacity() - self.scratch.len() < 64 {
                self.scratch.reserve((data.len() - consumed) / 2 + 256);
            }
            let before = c.total_in();
            c.compress_vec(&data[consumed..], &mut self.scratch, FlushCompress::Sync)
                .map_err(|_| DeflateError::Corrupt)?;
            consumed += (c.total_in() - before) as usize;
            // A sync flush is complete once all input is in and the output did not fill up.
            if consumed == data.len() && self.scratch.len() < self.scratch.capacity() {
                break;
            }
        }
        if last {
            if self.scratch.ends_with(&TAIL) {
                self.scratch.truncate(self.scratch.len() - TAIL.len());
            }
            if self.reset {
                if let Some(state) = self.compress.take() {
                    pool::give_compress(key, state);
                }
            }
        }
        Ok(&self.scratch)
    }

    /// Forgets a message compressed but not sent (it came out larger than it went in): the
    /// peer never sees it, so our window must not refer back into it. A fresh context is
    /// always readable by the peer's decompressor. (Without context takeover the state went
    /// back reset when the message ended; nothing is held.)
    pub(crate) fn discard(&mut self) {
        if let Some(c) = self.compress.as_mut() {
            c.reset();
        }
    }
}

/// The receiving half: inflates messages, never past a limit. Its state is allocated by the
/// first compressed message received; when the peer resets its context after every message,
/// the state is held only while a message is inflated and shared with the thread's other
/// connections between messages.
#[derive(Debug)]
pub struct Inflater {
    decompress: Option<Decompress>,
    window_bits: u8,
    reset: bool,
}

impl Inflater {
    /// Inflates `data` (a frame's payload of a compressed message) onto `out`; `last` marks
    /// the message's final frame. Stops with [`DeflateError::TooLarge`] as soon as `out` would
    /// pass `limit` bytes, having committed at most one chunk beyond what it produced.
    pub(crate) fn decompress(
        &mut self,
        data: &[u8],
        last: bool,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), DeflateError> {
        let bits = self.window_bits;
        let reset = self.reset;
        let d = self.decompress.get_or_insert_with(|| {
            if reset {
                pool::take_decompress(bits)
            } else {
                Decompress::new_with_window_bits(false, bits)
            }
        });
        // A failed message keeps its state out of the pool: the connection is closing, and
        // the state goes with it.
        feed(d, data, out, limit)?;
        if last {
            feed(d, &TAIL, out, limit)?;
            if reset {
                if let Some(state) = self.decompress.take() {
                    pool::give_decompress(bits, state);
                }
            }
        }
        Ok(())
    }
}

/// Inflates `data` onto `out`, at most to `limit` bytes.
fn feed(
    d: &mut Decompress,
    data: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), DeflateError> {
    let mut consumed = 0;
    loop {
        if out.len() > limit {
            return Err(DeflateError::TooLarge);
        }
        let room = (limit - out.len()).saturating_add(1).min(CHUNK);
        if out.capacity() - out.len() < room {
            // Grow by doubling for speed, but never past the limit plus the one byte that
            // proves it was passed.
            let target = (out.len() * 2)
                .max(out.len() + room)
                .min(limit.saturating_add(1));
            out.reserve_exact(target - out.len());
        }
        let before_in = d.total_in();
        let before_out = out.len();
        let status = d
            .decompress_vec(&data[consumed..], out, FlushDecompress::Sync)
            .map_err(|_| DeflateError::Corrupt)?;
        consumed += (d.total_in() - before_in) as usize;
        if out.len() > limit {
            return Err(DeflateError::TooLarge);
        }
        let full = out.len() == out.capacity();
        let progressed = out.len() > before_out || d.total_in() > before_in;
        match status {
            // A final block ends the stream; RFC 7692 allows it, and the next message
            // starts a fresh one.
            Status::StreamEnd => {
                d.reset(false);
                if consumed == data.len() {
                    return Ok(());
                }
            }
            _ if consumed == data.len() && !full => return Ok(()),
            _ if !progressed && !full => return Err(DeflateError::Corrupt),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(config: &DeflateConfig) -> (Deflate, Deflate) {
        let params = DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        };
        (
            Deflate::new(Role::Client, params, config),
            Deflate::new(Role::Server, params, config),
        )
    }

    #[test]
    fn rfc7692_7_2_3_1_hello_compresses_to_the_spec_bytes() {
        // "A message compressed using 1 compressed DEFLATE block", §7.2.3.1.
        let (_, server) = pair(&DeflateConfig::default());
        let (_, mut inflater) = server.into_parts();
        let mut out = Vec::new();
        inflater
            .decompress(
                &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
                true,
                &mut out,
                1024,
            )
            .expect("valid");
        assert_eq!(out, b"Hello");
    }

    #[test]
    fn rfc7692_7_2_3_2_sharing_lz77_window_across_messages() {
        // The second "Hello" refers back into the first message's window (§7.2.3.2).
        let (_, server) = pair(&DeflateConfig::default());
        let (_, mut inflater) = server.into_parts();
        let mut first = Vec::new();
        inflater
            .decompress(
                &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
                true,
                &mut first,
                1024,
            )
            .expect("first");
        let mut second = Vec::new();
        inflater
            .decompress(&[0xf2, 0x00, 0x11, 0x00, 0x00], true, &mut second, 1024)
            .expect("second");
        assert_eq!(second, b"Hello");
    }

    #[test]
    fn rfc7692_7_2_3_3_uncompressed_block_is_read() {
        let (_, server) = pair(&DeflateConfig::default());
        let (_, mut inflater) = server.into_parts();
        let mut out = Vec::new();
        inflater
            .decompress(
                &[
                    0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
                ],
                true,
                &mut out,
                1024,
            )
            .expect("valid");
        assert_eq!(out, b"Hello");
    }

    #[test]
    fn round_trip_keeps_and_drops_context_as_negotiated() {
        for reset in [false, true] {
            let config = DeflateConfig {
                no_context_takeover: reset,
                threshold: 0,
                ..DeflateConfig::default()
            };
            let params = DeflateParams {
                server_no_context_takeover: reset,
                client_no_context_takeover: reset,
                server_max_window_bits: 12,
                client_max_window_bits: 12,
            };
            let (mut deflater, _) = Deflate::new(Role::Client, params, &config).into_parts();
            let (_, mut inflater) = Deflate::new(Role::Server, params, &config).into_parts();
            let message = b"{\"type\":\"update\",\"value\":42,\"tags\":[\"a\",\"b\"]}".repeat(20);
            for _ in 0..3 {
                let wire = deflater
                    .compress(&message, true)
                    .expect("compress")
                    .to_vec();
                assert!(wire.len() < message.len() / 4);
                let mut out = Vec::new();
                inflater
                    .decompress(&wire, true, &mut out, 1 << 20)
                    .expect("inflate");
                assert_eq!(out, message);
            }
        }
    }

    #[test]
    fn bomb_is_refused_at_the_limit_without_allocating_its_size() {
        let (mut deflater, _) = pair(&DeflateConfig {
            threshold: 0,
            level: 9,
            ..DeflateConfig::default()
        })
        .0
        .into_parts();
        // 32 MiB of zeros deflates to about 32 KiB: a thousandfold bomb.
        let zeros = vec![0u8; 32 << 20];
        let wire = deflater.compress(&zeros, true).expect("compress").to_vec();
        assert!(wire.len() < 64 << 10, "{}", wire.len());
        let (_, mut inflater) = pair(&DeflateConfig::default()).1.into_parts();
        let mut out = Vec::new();
        let limit = 1 << 20;
        assert_eq!(
            inflater.decompress(&wire, true, &mut out, limit),
            Err(DeflateError::TooLarge)
        );
        assert!(out.capacity() <= limit + 1, "capacity {}", out.capacity());
    }

    #[test]
    fn garbage_is_corrupt() {
        let (_, mut inflater) = pair(&DeflateConfig::default()).1.into_parts();
        let mut out = Vec::new();
        assert_eq!(
            inflater.decompress(&[0xff, 0xff, 0xff, 0xff, 0xff], true, &mut out, 1024),
            Err(DeflateError::Corrupt)
        );
    }

    fn halves(role: Role, reset: bool) -> (Deflater, Inflater) {
        let params = DeflateParams {
            server_no_context_takeover: reset,
            client_no_context_takeover: reset,
            server_max_window_bits: 12,
            client_max_window_bits: 12,
        };
        let config = DeflateConfig {
            no_context_takeover: reset,
            threshold: 0,
            ..DeflateConfig::default()
        };
        Deflate::new(role, params, &config).into_parts()
    }

    #[test]
    fn without_context_takeover_a_compressor_is_held_only_during_a_message() {
        let (mut deflater, _) = halves(Role::Server, true);
        deflater.compress(b"first half, ", false).expect("compress");
        assert!(
            deflater.compress.is_some(),
            "held while the message goes on"
        );
        deflater.compress(b"second half", true).expect("compress");
        assert!(deflater.compress.is_none(), "given back at its end");
        assert_eq!(super::pool::spares().0, 1);
    }

    #[test]
    fn with_context_takeover_the_compressor_stays_with_its_connection() {
        let (mut deflater, _) = halves(Role::Server, false);
        deflater
            .compress(b"a whole message", true)
            .expect("compress");
        assert!(deflater.compress.is_some());
        assert_eq!(super::pool::spares().0, 0);
    }

    #[test]
    fn without_context_takeover_a_decompressor_is_held_only_during_a_message() {
        let (mut deflater, _) = halves(Role::Client, true);
        let (_, mut inflater) = halves(Role::Server, true);
        let wire = deflater.compress(b"hello there", true).expect("c").to_vec();
        let mut out = Vec::new();
        inflater
            .decompress(&wire, true, &mut out, 1024)
            .expect("inflate");
        assert_eq!(out, b"hello there");
        assert!(inflater.decompress.is_none());
        assert_eq!(super::pool::spares().1, 1);
    }

    #[test]
    fn connections_sharing_a_thread_state_each_send_a_readable_stream() {
        // Two connections take turns with one shared compressor; each peer's decompressor
        // keeps its context (it may), so any reference one message made into another
        // connection's data would corrupt what it reads.
        let (mut a, _) = halves(Role::Server, true);
        let (mut b, _) = halves(Role::Server, true);
        let (_, mut peer_a) = halves(Role::Client, false);
        let (_, mut peer_b) = halves(Role::Client, false);
        for round in 0..4 {
            for (name, deflater, peer) in [("a", &mut a, &mut peer_a), ("b", &mut b, &mut peer_b)] {
                let message = format!("{{\"conn\":\"{name}\",\"round\":{round}}}").repeat(8);
                let wire = deflater
                    .compress(message.as_bytes(), true)
                    .expect("c")
                    .to_vec();
                let mut out = Vec::new();
                peer.decompress(&wire, true, &mut out, 1 << 16)
                    .expect("inflate");
                assert_eq!(out, message.as_bytes());
            }
        }
        assert_eq!(super::pool::spares().0, 1, "one state served both");
    }

    #[test]
    fn window_8_sends_uncompressed() {
        let params = DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 8,
            client_max_window_bits: 8,
        };
        let (deflater, _) =
            Deflate::new(Role::Server, params, &DeflateConfig::default()).into_parts();
        assert!(!deflater.can_compress());
    }
}
