//! weft's echo on its `Server`, as crates/weft/examples/echo_server.rs writes it, on a
//! current_thread runtime: permessage-deflate off (the load generator does not compress
//! either), keepalive off, no connection cap.

use weft::server::{Request, Server, ServerStream};
use weft::{Error, WebSocket, WebSocketConfig};
use weft_bench::{Args, announce, runtime};

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

fn main() {
    let args = Args::parse();
    let addr = args.str("addr", "127.0.0.1:9001");
    runtime().block_on(async {
        let server = Server::builder()
            .bind(addr)
            .config(WebSocketConfig::default().deflate(None))
            .ping_interval(std::time::Duration::ZERO)
            .max_connections(usize::MAX)
            .route("/*", echo)
            .build()
            .await
            .expect("bind");
        for addr in server.local_addrs() {
            announce(addr);
        }
        server.run().await.expect("server");
    });
}
