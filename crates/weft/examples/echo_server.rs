//! An echo server: every text and binary message comes back as it was sent.
//!
//! ```sh
//! cargo run -p weft --example echo_server -- 127.0.0.1:9001
//! ```

use weft::server::{Request, Server, ServerStream};
use weft::{Error, WebSocket, WebSocketConfig};

/// Echoes every text and binary message. A function returning `async move` rather than an
/// `async fn`: rustc keeps an `async fn`'s arguments twice in its future (as arguments and
/// as the body's locals), and this future lives as long as the connection.
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn would hold its arguments twice"
)]
fn echo(
    mut ws: WebSocket<ServerStream>,
    _request: Request,
) -> impl Future<Output = Result<(), Error>> {
    async move {
        while let Some(message) = ws.recv().await {
            let message = message?;
            if message.is_data() {
                // Queued: `recv` writes it, with any other echoes, before it waits again.
                ws.feed(message).await?;
            }
        }
        Ok(())
    }
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
