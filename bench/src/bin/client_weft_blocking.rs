//! weft's blocking client as the load generator: `weft::blocking::ClientBuilder`
//! (permessage-deflate off), one thread per connection, `send` and `recv`.

use bytes::Bytes;
use weft::blocking::{ClientBuilder, Stream, WebSocket};
use weft::{Message, WebSocketConfig};
use weft_bench::blocking::{RoundTrip, blocking_client_main};

struct Conn {
    ws: WebSocket<Stream>,
    payload: Bytes,
}

impl RoundTrip for Conn {
    fn send(&mut self) -> Result<(), String> {
        self.ws
            .send(Message::Binary(self.payload.clone()))
            .map_err(|e| format!("send: {e}"))
    }

    fn recv(&mut self) -> Result<usize, String> {
        loop {
            match self.ws.recv() {
                Some(Ok(m)) if m.is_data() => return Ok(m.payload().len()),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(format!("recv: {e}")),
                None => return Err("closed".into()),
            }
        }
    }
}

fn main() {
    blocking_client_main(|url, payload| {
        let ws = ClientBuilder::new(url)
            .config(WebSocketConfig::default().deflate(None))
            .connect()
            .map_err(|e| format!("connect: {e}"))?;
        Ok(Conn {
            ws,
            payload: Bytes::from(payload),
        })
    });
}
