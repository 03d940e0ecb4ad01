//! How the blocking connection sizes its reads, over a transport that records each read.

use std::collections::VecDeque;

use weft_proto::frame::MAX_HEADER_LEN;

use super::*;
use crate::blocking::reads::READ_CHUNK;

/// A transport that hands out its chunks one read at a time (a read never spans two chunks,
/// as a socket's never spans data that has not arrived) and records the room each read had.
#[derive(Default)]
struct Chunks {
    chunks: VecDeque<Vec<u8>>,
    asked: Vec<usize>,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.asked.push(buf.len());
        let Some(chunk) = self.chunks.front_mut() else {
            return Ok(0);
        };
        let n = chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        chunk.drain(..n);
        if chunk.is_empty() {
            self.chunks.pop_front();
        }
        Ok(n)
    }
}

impl Write for Chunks {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An unmasked binary frame of `len` bytes, as a server sends it.
fn server_frame(len: usize) -> Vec<u8> {
    let mut frame = vec![0x82];
    match len {
        0..=125 => frame.push(len as u8),
        126..=0xffff => {
            frame.push(126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            frame.push(127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    frame.resize(frame.len() + len, 0xab);
    frame
}

fn client_over(frames: &[usize]) -> WebSocket<Chunks> {
    let io = Chunks {
        chunks: frames.iter().map(|&len| server_frame(len)).collect(),
        asked: Vec::new(),
    };
    WebSocket::new(io, Role::Client, WebSocketConfig::default())
}

fn recv_len(ws: &mut WebSocket<Chunks>) -> usize {
    match ws.recv() {
        Some(Ok(message)) => message.payload().len(),
        other => panic!("expected a message, got {other:?}"),
    }
}

#[test]
fn a_large_frame_is_read_in_place_after_its_first_chunk() {
    let mut ws = client_over(&[64 << 10]);
    assert_eq!(recv_len(&mut ws), 64 << 10);
    // The first read cannot know the frame; the rest of it (and room for the next header)
    // is the second.
    // 64 KiB takes the 8-byte length: a 10-byte header.
    let rest = (64 << 10) + 10 - READ_CHUNK;
    assert_eq!(ws.io.asked, [READ_CHUNK, rest + MAX_HEADER_LEN]);
}

#[test]
fn a_read_between_large_frames_takes_a_whole_frame_like_the_last() {
    let mut ws = client_over(&[64 << 10, 64 << 10, 64 << 10]);
    for _ in 0..3 {
        assert_eq!(recv_len(&mut ws), 64 << 10);
    }
    // After the first frame, each frame arrives in one read with room for itself, its
    // header and the next one's, instead of a 16 KiB read and then the rest.
    let like_the_last = (64 << 10) + 2 * MAX_HEADER_LEN;
    assert_eq!(&ws.io.asked[2..], [like_the_last, like_the_last]);
}

#[test]
fn a_small_frame_after_large_ones_goes_back_to_small_reads() {
    let mut ws = client_over(&[64 << 10, 64 << 10, 16, 16]);
    for expected in [64 << 10, 64 << 10, 16, 16] {
        assert_eq!(recv_len(&mut ws), expected);
    }
    let asked = &ws.io.asked;
    assert_eq!(asked.len(), 5, "reads: {asked:?}");
    // The read that found a small frame still expected a large one; the next is small.
    assert_eq!(asked[3], (64 << 10) + 2 * MAX_HEADER_LEN);
    assert_eq!(asked[4], READ_CHUNK);
}
