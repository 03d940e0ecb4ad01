//! weft's echo on its `Server`, as crates/weft/examples/echo_server.rs writes it, on a
//! current_thread runtime: permessage-deflate off (the load generator does not compress
//! either), keepalive off, no connection cap.

use weft::server::{Request, Server, ServerStream};
use weft::{Error, WebSocket, WebSocketConfig};
use weft_bench::{Args, announce, runtime};

async fn echo(mut ws: WebSocket<ServerStream>, _request: Request) -> Result<(), Error> {
    while let Some(message) = ws.recv().await {
        let message = message?;
        if message.is_data() {
            ws.feed(message).await?;
        }
    }
    Ok(())
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
