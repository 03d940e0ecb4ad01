//! What the client sends: `-d` data, and stdin cut into messages (lines, NUL-separated
//! records, or reads as they come).

use std::io::{self, BufRead, Read};

use tokio::sync::mpsc;
use weft::Message;
use weft::proto::copy;

use crate::exit::{Failure, Status};

/// How stdin is cut into messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// Records ending with this byte (newline, or NUL for `--null`); the byte is not sent.
    Records(u8),
    /// Each read as it comes (`--no-line`, `--raw`).
    Chunks,
}

/// A piece of stdin: a record without its separator, or a chunk.
pub(crate) type Piece = io::Result<Vec<u8>>;

/// Reads stdin on a thread of its own and hands over pieces; the channel closes at the end of
/// stdin.
///
/// A plain thread rather than the runtime's blocking pool: a read blocked on a terminal must
/// not keep the runtime from shutting down when the connection ends first. The channel is
/// bounded, so a fast stdin waits for the connection instead of filling memory.
pub(crate) fn spawn_stdin(framing: Framing) -> mpsc::Receiver<Piece> {
    let (tx, rx) = mpsc::channel(16);
    let spawned = std::thread::Builder::new()
        .name("weft-stdin".into())
        .spawn(move || read_stdin(framing, &tx));
    if let Err(error) = spawned {
        // Without a thread there is no stdin; the receiver sees one error and the end.
        let (tx, rx) = mpsc::channel(1);
        let _ = tx.try_send(Err(error));
        return rx;
    }
    rx
}

/// The `-d` arguments: each is one message's bytes, `@FILE` read from FILE.
///
/// # Errors
///
/// A usage failure when a file cannot be read.
pub(crate) fn initial_data(args: &[String]) -> Result<Vec<Vec<u8>>, Failure> {
    args.iter()
        .map(|arg| match arg.strip_prefix('@') {
            Some(path) => std::fs::read(path)
                .map_err(|e| Failure::usage(format!("-d @{path}: cannot read the file: {e}"))),
            None => Ok(arg.clone().into_bytes()),
        })
        .collect()
}

/// Turns input bytes into messages: text (checked to be UTF-8) or binary.
#[derive(Debug)]
pub(crate) struct Encoder {
    binary: bool,
    /// With `--no-line`, the start of a UTF-8 character cut by the end of a read, kept for the
    /// next read.
    carry: Vec<u8>,
    /// Pieces taken so far, to name the bad one in errors.
    pieces: u64,
}

impl Encoder {
    /// An encoder making binary messages if `binary`, else text.
    pub(crate) fn new(binary: bool) -> Self {
        Encoder {
            binary,
            carry: Vec::new(),
            pieces: 0,
        }
    }

    /// One whole message: a `-d` argument or a stdin record.
    ///
    /// # Errors
    ///
    /// A usage failure for text that is not UTF-8.
    pub(crate) fn whole(&mut self, bytes: Vec<u8>, what: &str) -> Result<Message, Failure> {
        self.pieces += 1;
        if self.binary {
            return Ok(Message::binary(bytes));
        }
        String::from_utf8(bytes)
            .map(Message::text)
            .map_err(|_| not_utf8(what, self.pieces))
    }

    /// A read of `--no-line` stdin: the message to send now, if any. A character cut by the
    /// end of the read goes out with the next one.
    ///
    /// # Errors
    ///
    /// A usage failure for text that is not UTF-8.
    pub(crate) fn chunk(&mut self, bytes: Vec<u8>) -> Result<Option<Message>, Failure> {
        self.pieces += 1;
        if self.binary {
            return Ok(Some(Message::binary(bytes)));
        }
        let mut bytes = if self.carry.is_empty() {
            bytes
        } else {
            let mut joined = std::mem::take(&mut self.carry);
            joined.extend_from_slice(&bytes);
            joined
        };
        let valid = match std::str::from_utf8(&bytes) {
            Ok(_) => bytes.len(),
            // `error_len` is `None` only when the bytes end inside a character that may
            // still be completed by the next read.
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => return Err(not_utf8("stdin read", self.pieces)),
        };
        self.carry = bytes.split_off(valid);
        if bytes.is_empty() {
            return Ok(None);
        }
        // Checked above: `bytes` is exactly the valid prefix.
        String::from_utf8(bytes)
            .map(|text| Some(Message::text(text)))
            .map_err(|_| not_utf8("stdin read", self.pieces))
    }

    /// The end of stdin.
    ///
    /// # Errors
    ///
    /// A usage failure if stdin ended inside a UTF-8 character.
    pub(crate) fn finish(&mut self) -> Result<(), Failure> {
        if self.carry.is_empty() {
            Ok(())
        } else {
            Err(not_utf8("the end of stdin", self.pieces))
        }
    }
}

fn not_utf8(what: &str, number: u64) -> Failure {
    Failure::new(
        Status::Usage,
        format!("{what} {number} is not UTF-8 text; use --binary to send bytes"),
    )
}

fn read_stdin(framing: Framing, tx: &mpsc::Sender<Piece>) {
    let stdin = io::stdin();
    let mut stdin = stdin.lock();
    // One buffer for every chunk read; each message gets an exact-size copy, so a queued
    // message of a few bytes does not hold 64 KiB.
    let mut chunk = Vec::new();
    loop {
        let piece = match framing {
            Framing::Records(separator) => {
                let mut record = Vec::new();
                match stdin.read_until(separator, &mut record) {
                    Ok(0) => return,
                    Ok(_) => {
                        if record.last() == Some(&separator) {
                            record.pop();
                        }
                        Ok(record)
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => Err(e),
                }
            }
            Framing::Chunks => {
                if chunk.is_empty() {
                    chunk = vec![0; 64 << 10];
                }
                match stdin.read(&mut chunk) {
                    Ok(0) => return,
                    // From one reused buffer into the allocator's reused block, read after
                    // read: see `weft::proto::copy` for why not one long `memcpy`.
                    Ok(n) => {
                        let read = &chunk[..n.min(chunk.len())];
                        let mut piece = Vec::with_capacity(read.len());
                        copy::append(&mut piece, read);
                        Ok(piece)
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => Err(e),
                }
            }
        };
        let failed = piece.is_err();
        // A closed channel means the connection is over: nothing more to read for.
        if tx.blocking_send(piece).is_err() || failed {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_chunks_carry_a_cut_character_to_the_next_read() {
        let mut encoder = Encoder::new(false);
        let snowman = "☃".as_bytes();
        let first = encoder.chunk([b"a".as_slice(), &snowman[..1]].concat());
        assert_eq!(first, Ok(Some(Message::text("a"))));
        let second = encoder.chunk(snowman[1..].to_vec());
        assert_eq!(second, Ok(Some(Message::text("☃"))));
        assert_eq!(encoder.finish(), Ok(()));
    }

    #[test]
    fn text_that_is_not_utf8_is_a_usage_error() {
        let mut encoder = Encoder::new(false);
        let failure = encoder
            .whole(vec![0xff], "stdin line")
            .expect_err("not UTF-8");
        assert_eq!(failure.status, Status::Usage);
        assert!(failure.message.contains("stdin line 1"));
    }

    #[test]
    fn binary_takes_any_bytes() {
        let mut encoder = Encoder::new(true);
        assert_eq!(
            encoder.whole(vec![0xff], "stdin line"),
            Ok(Message::binary(vec![0xff]))
        );
    }

    #[test]
    fn data_from_a_missing_file_is_a_usage_error() {
        let failure = initial_data(&["@/nonexistent/weft-test".to_owned()]).expect_err("no file");
        assert_eq!(failure.status, Status::Usage);
    }
}
