//! An echo server: every text and binary message comes back as it was sent.
//!
//! ```sh
//! cargo run -p weft --example echo_server -- 127.0.0.1:9001
//! ```

use weft::server::{Request, Server, ServerStream};
use weft::{Error, WebSocket, WebSocketConfig};

async fn echo(mut ws: WebSocket<ServerStream>, _request: Request) -> Result<(), Error> {
    while let Some(message) = ws.recv().await {
        let message = message?;
        if message.is_data() {
            // Queued: `recv` writes it, with any other echoes, before it waits again.
            ws.feed(message).await?;
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".to_owned());
    // Large enough for the 16 MiB messages of conformance suites.
    let limits = weft::proto::Config::default()
        .max_message_size(64 << 20)
        .max_frame_size(64 << 20);
    let server = Server::builder()
        .bind(addr)
        .config(WebSocketConfig::default().protocol(limits))
        .ping_interval(std::time::Duration::ZERO)
        .route("/*", echo)
        .build()
        .await?;
    for addr in server.local_addrs() {
        println!("listening on ws://{addr}");
    }
    server.run().await
}
