//! tokio-tungstenite's client as the load generator: `connect_async_with_config` (default
//! config, TCP_NODELAY), its `Sink`/`Stream` split, `depth` binary messages in flight.

use std::rc::Rc;

use bytes::Bytes;
use tokio_tungstenite::tungstenite::Message;
use weft_bench::{Stats, client_main, drive_library, payload};

fn main() {
    client_main(|url, size, depth, stats: Rc<Stats>| async move {
        let (ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let message = Message::Binary(Bytes::from(payload(size, false)));
        let len = |m: &Message| match m {
            Message::Binary(b) => Some(b.len()),
            Message::Text(t) => Some(t.len()),
            _ => None,
        };
        drive_library(ws, message, len, size, depth, stats).await;
        Ok(())
    });
}
