//! An axum 0.8 app that serves plain HTTP on `/` and a WebSocket echo on `/ws`, upgraded by
//! weft inside axum (Tcl's `test`, `upgrade` and `takeover`), with no axum WebSocket
//! extractor: the handler takes the request and calls `weft::hyper::upgrade`.
//!
//! Run it (the port defaults to 3000):
//!
//! ```text
//! cargo run -p weft --features hyper --example axum -- 3000
//! ```
//!
//! then, from another terminal:
//!
//! ```text
//! curl http://127.0.0.1:3000/                    # plain HTTP, still served by axum
//! curl -i http://127.0.0.1:3000/ws -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
//!     -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='
//!                                                # 101 Switching Protocols
//! websocat ws://127.0.0.1:3000/ws                # or any WebSocket client: lines echo back
//! ```

use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use weft::{Keepalive, WebSocketConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = match std::env::args().nth(1) {
        Some(port) => port.parse()?,
        None => 3000,
    };
    let app = Router::new()
        .route(
            "/",
            get(|| async { "Hello from axum; WebSocket echo on /ws\n" }),
        )
        .route("/ws", get(ws));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

/// Checks the upgrade request and answers it with the 101 (or the refusal: 400, 426 with
/// `Sec-WebSocket-Version: 13`, 431); the echo runs on its own task once axum hands the
/// connection over, which happens only after this handler has returned.
async fn ws(mut request: Request) -> Response {
    // Servers ping idle clients so that NATs and proxies keep the connection open.
    let config = WebSocketConfig::default().keepalive(Keepalive::every(Duration::from_secs(30)));
    let (response, websocket) = match weft::hyper::upgrade(&mut request, config) {
        Ok(upgrade) => upgrade,
        Err(error) => return weft::hyper::rejection(&error).into_response(),
    };
    tokio::spawn(async move {
        let mut ws = match websocket.await {
            Ok(ws) => ws,
            Err(error) => {
                eprintln!("upgrade failed: {error}");
                return;
            }
        };
        while let Some(message) = ws.recv().await {
            match message {
                Ok(message) if message.is_data() => {
                    if ws.send(message).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    eprintln!("connection ended: {error}");
                    return;
                }
            }
        }
    });
    response.into_response()
}
