//! A chat room: every message a client sends goes to every other client, through the server's
//! registry (the frame is encoded once for all of them).
//!
//! ```sh
//! cargo run -p weft --example chat_server -- 127.0.0.1:9002
//! # then, in two other terminals: weft ws://127.0.0.1:9002/chat
//! ```

use weft::server::{Request, Server, ServerStream};
use weft::{Error, Message, WebSocket};

async fn chat(mut ws: WebSocket<ServerStream>, request: Request) -> Result<(), Error> {
    let me = request.id;
    let name = request.peer_addr.to_string();
    request
        .registry
        .broadcast_filter(Message::text(format!("{name} joined")), |c| c.id != me)
        .await;
    while let Some(message) = ws.recv().await {
        if let Message::Text(text) = message? {
            let line = Message::text(format!("{name}: {text}"));
            request
                .registry
                .broadcast_filter(line, |c| c.id != me)
                .await;
        }
    }
    request
        .registry
        .broadcast_filter(Message::text(format!("{name} left")), |c| c.id != me)
        .await;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9002".to_owned());
    let server = Server::builder()
        .bind(addr)
        .route("/chat", chat)
        .build()
        .await?;
    for addr in server.local_addrs() {
        println!("chat on ws://{addr}/chat");
    }
    server.run().await
}
