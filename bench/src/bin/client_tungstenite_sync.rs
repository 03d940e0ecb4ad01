//! tungstenite's blocking client as the load generator: `tungstenite::connect` (default
//! config, TCP_NODELAY), one thread per connection, `send` and `read`.

use std::net::TcpStream;

use bytes::Bytes;
use tokio_tungstenite::tungstenite::stream::MaybeTlsStream;
use tokio_tungstenite::tungstenite::{Message, WebSocket, connect};
use weft_bench::blocking::{RoundTrip, blocking_client_main};

struct Conn {
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
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
            match self.ws.read().map_err(|e| format!("read: {e}"))? {
                Message::Binary(b) => return Ok(b.len()),
                Message::Text(t) => return Ok(t.len()),
                _ => continue,
            }
        }
    }
}

fn main() {
    blocking_client_main(|url, payload| {
        let (mut ws, _) = connect(url).map_err(|e| format!("connect: {e}"))?;
        if let MaybeTlsStream::Plain(tcp) = ws.get_mut() {
            tcp.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
        }
        Ok(Conn {
            ws,
            payload: Bytes::from(payload),
        })
    });
}
