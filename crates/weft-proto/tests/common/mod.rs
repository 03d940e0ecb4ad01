//! Helpers shared by the black-box tests: raw frames built by hand, and draining a connection.
#![allow(dead_code, unreachable_pub)]

use bytes::{Bytes, BytesMut};
use weft_proto::frame::{FrameHeader, OpCode, apply_mask};
use weft_proto::{CloseFrame, Config, Connection, Event, Role, Transmit};

/// A frame as a client would send it: masked.
pub fn client_frame(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    raw_frame(fin, 0, opcode, Some([0x12, 0x34, 0x56, 0x78]), payload)
}

/// A frame as a server would send it: unmasked.
pub fn server_frame(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    raw_frame(fin, 0, opcode, None, payload)
}

pub fn raw_frame(
    fin: bool,
    rsv: u8,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) -> Vec<u8> {
    let header = FrameHeader {
        fin,
        rsv,
        opcode,
        mask,
        payload_len: payload.len() as u64,
    };
    let mut out = Vec::new();
    header.encode(&mut out);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key, 0);
    }
    out
}

pub fn server() -> Connection {
    Connection::new(Role::Server, Config::default())
}

pub fn client() -> Connection {
    Connection::new(Role::Client, Config::default())
}

/// Feeds `bytes` in one go and returns the result.
pub fn feed(conn: &mut Connection, bytes: &[u8]) -> Result<(), weft_proto::ProtocolError> {
    let mut buf = BytesMut::from(bytes);
    conn.handle_data(&mut buf)
}

pub fn events(conn: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

/// Everything the connection wants to write, and whether it asked for a shutdown.
pub fn transmit(conn: &mut Connection) -> (Vec<u8>, bool) {
    let mut bytes = Vec::new();
    let mut shutdown = false;
    while let Some(t) = conn.poll_transmit() {
        match t {
            Transmit::Data(data) => bytes.extend_from_slice(&data),
            Transmit::Shutdown => shutdown = true,
        }
    }
    (bytes, shutdown)
}

/// The frames in `bytes`, unmasked: (header, payload).
pub fn parse_frames(mut bytes: &[u8]) -> Vec<(FrameHeader, Bytes)> {
    let mut frames = Vec::new();
    while let Some((header, n)) = FrameHeader::decode(bytes).expect("our own output decodes") {
        let len = header.payload_len as usize;
        let mut payload = bytes[n..n + len].to_vec();
        if let Some(key) = header.mask {
            apply_mask(&mut payload, key, 0);
        }
        frames.push((header, Bytes::from(payload)));
        bytes = &bytes[n + len..];
    }
    assert!(bytes.is_empty(), "trailing partial frame in output");
    frames
}

/// The close frame a connection wrote, if its output holds one.
pub fn written_close(bytes: &[u8]) -> Option<CloseFrame> {
    parse_frames(bytes)
        .into_iter()
        .find(|(h, _)| h.opcode == OpCode::Close)
        .map(|(_, payload)| CloseFrame::parse(&payload).expect("our close frame is valid"))
}

/// The close code a failed connection sent.
pub fn close_code_sent(conn: &mut Connection) -> Option<u16> {
    let (bytes, _) = transmit(conn);
    written_close(&bytes).map(|f| f.code.as_u16())
}
