//! Appending bytes without `memcpy`'s slow case for long copies.
//!
//! glibc's `memcpy` copies more than a threshold with `rep movsb`: 2112 bytes on x86
//! processors with fast short `rep movsb` (FSRM, as AMD Zen 3 and later), 4 KiB with AVX2
//! alone. On AMD processors `rep movsb` runs twenty to thirty times slower when the destination
//! lies 1 to 31 bytes past the source modulo 4 KiB (measured on a Zen host with glibc 2.36:
//! 2113 bytes in 1.2 µs instead of 44 ns, 16 KiB in 9.1 µs instead of 0.37, 256 KiB in
//! 134 µs instead of 7.2). A buffer that is copied into again and again from the same place,
//! such as a read stage or a send queue, can sit just that way and then pays on every copy.
//! Copies of up to 2 KiB take glibc's vector loop, which has no such case, so [`append`]
//! makes a long copy as a run of them: as fast as one long copy elsewhere, and free of the
//! slow case.

use bytes::BufMut;

/// The longest single copy [`append`] makes: under every `rep movsb` threshold of glibc.
pub const PIECE: usize = 2048;

/// Appends `src` to `dst` in copies of at most [`PIECE`] bytes.
///
/// It grows `dst` one piece at a time as needed, so reserve room for all of `src` first
/// when `dst` may be short of it.
///
/// ```
/// use bytes::BytesMut;
/// use weft_proto::copy::append;
///
/// let src = vec![7u8; 10_000];
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
    use bytes::BytesMut;

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
