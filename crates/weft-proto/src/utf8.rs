//! UTF-8 validation that runs incrementally across fragments and fails at the first invalid
//! byte, not at the end of the message (RFC 6455 §8.1; Autobahn 6.4.x "fail fast").

use thiserror::Error;

/// The bytes were not UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("invalid UTF-8")]
pub struct Utf8Error;

/// Validates a whole buffer.
///
/// # Errors
///
/// [`Utf8Error`] if `bytes` is not UTF-8.
pub fn validate(bytes: &[u8]) -> Result<&str, Utf8Error> {
    simdutf8::basic::from_utf8(bytes).map_err(|_| Utf8Error)
}

/// Validates a text message fed in pieces split anywhere, even inside a character.
///
/// ```
/// use weft_proto::utf8::Utf8Validator;
/// let euro = "€".as_bytes(); // three bytes
/// let mut v = Utf8Validator::new();
/// v.feed(&euro[..1])?;
/// v.feed(&euro[1..])?;
/// v.finish()?;
///
/// // An impossible byte fails at once, long before the message ends.
/// assert!(Utf8Validator::new().feed(&[b'a', 0xFF]).is_err());
/// # Ok::<(), weft_proto::utf8::Utf8Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Utf8Validator {
    /// The start of a character split across pieces.
    pending: [u8; 4],
    pending_len: u8,
}

impl Utf8Validator {
    /// A validator at the start of a message.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks the next piece. A character cut at the end of `data` is kept and finished by the
    /// next piece; a prefix that no continuation could make valid fails now.
    ///
    /// # Errors
    ///
    /// [`Utf8Error`] at the first byte that cannot be part of valid UTF-8.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), Utf8Error> {
        if self.pending_len > 0 {
            data = self.complete_pending(data)?;
        }
        match simdutf8::compat::from_utf8(data) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(Utf8Error),
            Err(e) => {
                // A truncated but so far valid character: at most 3 bytes, kept for later.
                let tail = &data[e.valid_up_to()..];
                self.pending[..tail.len()].copy_from_slice(tail);
                self.pending_len = tail.len() as u8;
                Ok(())
            }
        }
    }

    /// Ends the message.
    ///
    /// # Errors
    ///
    /// [`Utf8Error`] if the message ended inside a character.
    pub fn finish(&mut self) -> Result<(), Utf8Error> {
        let incomplete = self.pending_len > 0;
        self.pending_len = 0;
        if incomplete { Err(Utf8Error) } else { Ok(()) }
    }

    /// Whether the last piece ended inside a character.
    pub fn is_mid_character(&self) -> bool {
        self.pending_len > 0
    }

    /// Feeds bytes into the pending character until it is complete, returning the rest.
    fn complete_pending<'a>(&mut self, data: &'a [u8]) -> Result<&'a [u8], Utf8Error> {
        let have = usize::from(self.pending_len);
        let need = char_width(self.pending[0]).ok_or(Utf8Error)?;
        let take = (need - have).min(data.len());
        self.pending[have..have + take].copy_from_slice(&data[..take]);
        let filled = have + take;
        match simdutf8::compat::from_utf8(&self.pending[..filled]) {
            Ok(_) => {
                self.pending_len = 0;
                Ok(&data[take..])
            }
            Err(e) if e.error_len().is_none() => {
                self.pending_len = filled as u8;
                Ok(&data[take..])
            }
            Err(_) => Err(Utf8Error),
        }
    }
}

/// The length of the character a lead byte starts, if it can start one.
fn char_width(lead: u8) -> Option<usize> {
    match lead {
        0x00..=0x7F => Some(1),
        0xC2..=0xDF => Some(2),
        0xE0..=0xEF => Some(3),
        0xF0..=0xF4 => Some(4),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_split(bytes: &[u8], at: &[usize]) -> Result<(), Utf8Error> {
        let mut v = Utf8Validator::new();
        let mut start = 0;
        for &cut in at {
            v.feed(&bytes[start..cut])?;
            start = cut;
        }
        v.feed(&bytes[start..])?;
        v.finish()
    }

    #[test]
    fn valid_text_passes_split_at_every_pair_of_points() {
        let text = "κόσμε €𝄞 ascii".as_bytes();
        for i in 0..=text.len() {
            for j in i..=text.len() {
                assert_eq!(feed_split(text, &[i, j]), Ok(()), "cuts {i} {j}");
            }
        }
    }

    #[test]
    fn invalid_byte_fails_in_the_piece_that_holds_it() {
        let mut v = Utf8Validator::new();
        v.feed("κόσμε".as_bytes()).expect("valid start");
        // 0xED 0xA0 is the start of a surrogate: invalid as soon as the second byte arrives.
        v.feed(&[0xED]).expect("could still be valid");
        assert_eq!(v.feed(&[0xA0]), Err(Utf8Error));
    }

    #[test]
    fn truncated_character_fails_at_finish() {
        let mut v = Utf8Validator::new();
        v.feed(&[0xE2, 0x82]).expect("valid prefix");
        assert!(v.is_mid_character());
        assert_eq!(v.finish(), Err(Utf8Error));
    }

    #[test]
    fn code_points_above_u10ffff_fail_on_the_lead_byte() {
        assert_eq!(Utf8Validator::new().feed(&[0xF5]), Err(Utf8Error));
        let mut v = Utf8Validator::new();
        v.feed(&[0xF4]).expect("could be valid");
        assert_eq!(v.feed(&[0x90]), Err(Utf8Error));
    }

    #[test]
    fn agrees_with_std_on_every_two_byte_sequence() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let bytes = [a, b];
                let expected = std::str::from_utf8(&bytes).is_ok();
                assert_eq!(feed_split(&bytes, &[1]).is_ok(), expected, "{a:#x} {b:#x}");
            }
        }
    }
}
