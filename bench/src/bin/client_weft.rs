//! weft's client as the load generator: `ClientBuilder` (permessage-deflate off), its
//! `Sink`/`Stream` split, `depth` binary messages in flight.

use std::rc::Rc;

use bytes::Bytes;
use weft::{ClientBuilder, Message, WebSocketConfig};
use weft_bench::{Stats, client_main, drive_library, payload};

fn main() {
    client_main(|url, size, depth, stats: Rc<Stats>| async move {
        let ws = ClientBuilder::new(url)
            .config(WebSocketConfig::default().deflate(None))
            .connect()
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let message = Message::binary(Bytes::from(payload(size, false)));
        let len = |m: &Message| m.is_data().then(|| m.payload().len());
        drive_library(ws, message, len, size, depth, stats).await;
        Ok(())
    });
}
