//! Masking (RFC 6455 §5.3): XOR with a 4-byte key, at any offset into the payload.

/// A fresh masking key from the thread-local CSPRNG, as §5.3 requires ("unpredictable").
pub fn new_mask_key() -> [u8; 4] {
    rand::random()
}

/// XORs `buf` with `key` in place, as the bytes at `offset` onwards of a masked payload.
///
/// Masking and unmasking are the same operation. `offset` lets a payload be processed in
/// parts: call it for each part with the number of payload bytes before that part.
///
/// ```
/// use weft_proto::frame::apply_mask;
/// let key = [1, 2, 3, 4];
/// let mut whole = *b"hello world";
/// apply_mask(&mut whole, key, 0);
/// let mut parts = *b"hello world";
/// let (a, b) = parts.split_at_mut(5);
/// apply_mask(a, key, 0);
/// apply_mask(b, key, 5);
/// assert_eq!(whole, parts);
/// ```
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let key = rotate(key, offset % 4);
    // Eight words per step: the compiler turns this loop into wide vector XORs, which keeps
    // masking close to memcpy speed without `unsafe`.
    let wide = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut blocks = buf.chunks_exact_mut(64);
    for block in &mut blocks {
        for word in block.chunks_exact_mut(8) {
            xor_word(word, wide);
        }
    }
    let rest = blocks.into_remainder();
    let mut words = rest.chunks_exact_mut(8);
    for word in &mut words {
        xor_word(word, wide);
    }
    for (byte, k) in words.into_remainder().iter_mut().zip(key.iter().cycle()) {
        *byte ^= k;
    }
}

fn xor_word(word: &mut [u8], key: u64) {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(word);
    word.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ key).to_ne_bytes());
}

/// The key as seen from `shift` bytes into the payload.
fn rotate(key: [u8; 4], shift: usize) -> [u8; 4] {
    [
        key[shift % 4],
        key[(shift + 1) % 4],
        key[(shift + 2) % 4],
        key[(shift + 3) % 4],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, byte) in buf.iter_mut().enumerate() {
            *byte ^= key[(offset + i) % 4];
        }
    }

    #[test]
    fn matches_bytewise_definition_at_every_length_and_offset() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        for len in 0..200 {
            for offset in 0..8 {
                let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
                let mut fast = data.clone();
                let mut slow = data.clone();
                apply_mask(&mut fast, key, offset);
                naive(&mut slow, key, offset);
                assert_eq!(fast, slow, "len {len} offset {offset}");
            }
        }
    }

    #[test]
    fn rfc6455_5_7_masked_hello() {
        let mut payload = *b"Hello";
        apply_mask(&mut payload, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(payload, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    }

    #[test]
    fn keys_differ_between_calls() {
        let keys: std::collections::HashSet<[u8; 4]> = (0..64).map(|_| new_mask_key()).collect();
        assert!(keys.len() > 60, "CSPRNG keys collided: {}", keys.len());
    }
}
