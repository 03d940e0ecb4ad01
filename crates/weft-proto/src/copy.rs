//! Appending bytes without `memcpy`'s slow case for long copies.
//!
//! glibc's `memcpy` copies more than a threshold with `rep movsb`: 2112 bytes on x86
//! processors with fast short `rep movsb` (FSRM, as AMD Zen 3 and later), 4 KiB with AVX2
//! alone. On AMD processors `rep movsb` runs many times slower when the destination lies 1
//! to 31 bytes past the source modulo 4 KiB: 17 to 31 times in the `copy` benchmark of
//! `benches/proto.rs` on a Zen host with glibc 2.36 (16 KiB in 7.98 µs instead of 0.26). A
//! buffer that is copied into again and again from the same place, such as a read stage or
//! the deflater's output, can sit just that way and then pays on every copy. Copies of up to
//! 2 KiB take glibc's vector loop, which has no such case, so [`append`] makes a long copy
//! as a run of them: free of the slow case, and within 15 % of one long copy elsewhere.
//!
//! No test can see the piece sizes (they are what the code does, not what it returns); the
//! `copy` benchmark is what guards them.

use bytes::{BufMut, Bytes, BytesMut};

/// The longest single copy [`append`] makes: glibc's lowest default `rep movsb` threshold
/// (SSE2 alone), which it uses only for copies longer than that.
pub const PIECE: usize = 2048;

/// Appends `src` to `dst` in copies of at most [`PIECE`] bytes.
///
/// A growable `dst` grows as one `put_slice` would grow it, possibly more than once over
/// the pieces: reserve room for all of `src` first to grow it once.
///
/// # Panics
///
/// If `dst` cannot grow and has less room than `src` holds (a `&mut [u8]`, say), as
/// `put_slice` does; the pieces that fit are written first.
///
/// ```
/// use bytes::BytesMut;
/// use weft_proto::copy::append;
///
/// let src: Vec<u8> = (0..10_000).map(|i| (i % 251) as u8).collect();
/// let mut dst = BytesMut::with_capacity(src.len() + 2);
/// dst.extend_from_slice(b"hd");
/// append(&mut dst, &src);
/// assert_eq!(&dst[..2], b"hd");
/// assert_eq!(&dst[2..], &src[..]);
/// ```
#[inline]
pub fn append<B: BufMut + ?Sized>(dst: &mut B, src: &[u8]) {
    if src.len() <= PIECE {
        dst.put_slice(src);
        return;
    }
    append_in_pieces(dst, src);
}

/// A copy of `src` as [`Bytes`], made as [`append`] makes it: `Bytes::copy_from_slice`
/// without `memcpy`'s slow case.
///
/// ```
/// use weft_proto::copy::to_bytes;
///
/// let src: Vec<u8> = (0..5_000).map(|i| (i % 251) as u8).collect();
/// assert_eq!(to_bytes(&src), src);
/// ```
pub fn to_bytes(src: &[u8]) -> Bytes {
    let mut bytes = BytesMut::with_capacity(src.len());
    append(&mut bytes, src);
    bytes.freeze()
}

/// [`append`] past one piece: out of line, so the short case stays small where it is
/// inlined.
#[inline(never)]
fn append_in_pieces<B: BufMut + ?Sized>(dst: &mut B, src: &[u8]) {
    for piece in src.chunks(PIECE) {
        dst.put_slice(piece);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn appends_every_byte_in_order_on_both_sides_of_a_piece() {
        for len in [0, 1, PIECE - 1, PIECE, PIECE + 1, 2 * PIECE, 5 * PIECE + 3] {
            let src = numbered(len);
            let mut dst = vec![0xee];
            append(&mut dst, &src);
            assert_eq!(dst.len(), len + 1, "length {len}");
            assert_eq!(dst[0], 0xee, "length {len}");
            assert_eq!(&dst[1..], &src[..], "length {len}");
        }
    }

    #[test]
    fn appends_to_a_bytes_buffer_and_grows_it_when_short_of_room() {
        let src = numbered(3 * PIECE + 17);
        let mut dst = BytesMut::new();
        append(&mut dst, &src);
        assert_eq!(&dst[..], &src[..]);
    }
}
