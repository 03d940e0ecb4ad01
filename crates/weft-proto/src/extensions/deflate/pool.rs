//! zlib states shared by the connections of a thread between messages.
//!
//! Without context takeover a codec half starts every message from a fresh state, so the state
//! it used for the last message is of no further use to its connection. Holding it anyway costs
//! a compressing connection ~250 KiB for as long as it lives; 10 000 such connections would hold
//! 2.5 GiB of zlib state of which only the few mid-message at any moment are in use. Instead,
//! a half without context takeover takes a state when a message starts and gives it back, reset,
//! when the message ends. A thread runs one connection at a time, so a few spares per thread
//! serve all of its connections.
//!
//! A state given back to a full pool is freed, so no thread holds more than
//! [`SPARES`] of each kind however many connections it has run.

use std::cell::RefCell;
use std::thread::LocalKey;

use flate2::{Compress, Compression, Decompress};

/// Spare states a thread keeps of each kind. More than one, so a connection that holds a state
/// across calls (a fragmented message sent frame by frame) does not make every other message
/// on the thread allocate a fresh one.
pub(crate) const SPARES: usize = 2;

/// A compressor's settings: only a state made with the same ones may be reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CompressKey {
    pub(crate) level: u32,
    pub(crate) window_bits: u8,
}

impl CompressKey {
    /// A fresh compressor with these settings.
    pub(crate) fn new_state(self) -> Compress {
        Compress::new_with_window_bits(Compression::new(self.level), false, self.window_bits)
    }
}

/// A thread's spare states of one kind, each with the settings it was made with.
type Spares<K, T> = LocalKey<RefCell<Vec<(K, T)>>>;

thread_local! {
    static COMPRESSORS: RefCell<Vec<(CompressKey, Compress)>> = const { RefCell::new(Vec::new()) };
    static DECOMPRESSORS: RefCell<Vec<(u8, Decompress)>> = const { RefCell::new(Vec::new()) };
}

/// A spare made with `key`, if the thread has one. (`try_with`: a thread tearing down its
/// locals has none.)
fn take<K: PartialEq + 'static, T: 'static>(spares: &'static Spares<K, T>, key: &K) -> Option<T> {
    spares
        .try_with(|spares| {
            let mut spares = spares.borrow_mut();
            let at = spares.iter().rposition(|(k, _)| k == key)?;
            Some(spares.swap_remove(at).1)
        })
        .ok()
        .flatten()
}

/// Keeps `state` as a spare unless the thread has enough; then it is freed.
fn give<K: 'static, T: 'static>(spares: &'static Spares<K, T>, key: K, state: T) {
    let _ = spares.try_with(|spares| {
        let mut spares = spares.borrow_mut();
        if spares.len() < SPARES {
            spares.push((key, state));
        }
    });
}

/// A compressor for `key`: a spare of this thread's if one matches, else a new one.
pub(crate) fn take_compress(key: CompressKey) -> Compress {
    take(&COMPRESSORS, &key).unwrap_or_else(|| key.new_state())
}

/// Returns a compressor whose message has ended; it is reset before anyone reuses it.
pub(crate) fn give_compress(key: CompressKey, mut state: Compress) {
    state.reset();
    give(&COMPRESSORS, key, state);
}

/// A decompressor for a `window_bits` window: a spare of this thread's if one matches.
pub(crate) fn take_decompress(window_bits: u8) -> Decompress {
    take(&DECOMPRESSORS, &window_bits)
        .unwrap_or_else(|| Decompress::new_with_window_bits(false, window_bits))
}

/// Returns a decompressor whose message has ended; it is reset before anyone reuses it.
pub(crate) fn give_decompress(window_bits: u8, mut state: Decompress) {
    state.reset(false);
    give(&DECOMPRESSORS, window_bits, state);
}

/// How many spare compressors and decompressors this thread holds.
#[cfg(test)]
pub(crate) fn spares() -> (usize, usize) {
    (
        COMPRESSORS.with_borrow(Vec::len),
        DECOMPRESSORS.with_borrow(Vec::len),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: CompressKey = CompressKey {
        level: 1,
        window_bits: 12,
    };

    #[test]
    fn a_returned_compressor_is_reused_reset() {
        let mut state = take_compress(KEY);
        let mut out = Vec::with_capacity(256);
        state
            .compress_vec(b"hello hello", &mut out, flate2::FlushCompress::Sync)
            .expect("compress");
        assert!(state.total_in() > 0);
        give_compress(KEY, state);
        assert_eq!(spares().0, 1);
        let again = take_compress(KEY);
        assert_eq!(again.total_in(), 0, "given back reset");
        assert_eq!(spares().0, 0, "taken from the spares");
    }

    #[test]
    fn a_compressor_is_reused_only_with_its_settings() {
        give_compress(KEY, take_compress(KEY));
        let other = CompressKey {
            level: 9,
            window_bits: 12,
        };
        let _fresh = take_compress(other);
        assert_eq!(spares().0, 1, "the level-1 spare stays for a level-1 taker");
    }

    #[test]
    fn a_thread_keeps_at_most_its_spares() {
        let states: Vec<_> = (0..SPARES + 3).map(|_| take_decompress(15)).collect();
        for state in states {
            give_decompress(15, state);
        }
        assert_eq!(spares().1, SPARES);
    }
}
