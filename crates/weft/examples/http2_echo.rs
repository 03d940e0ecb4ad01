//! WebSockets over HTTP/2 (RFC 8441) inside a hyper 1 server: an HTTP/2 server without TLS
//! (prior knowledge, "h2c") that announces extended CONNECT and hands `/ws` over to weft, which
//! echoes every message. Many WebSockets share one HTTP/2 connection, each on its own stream,
//! beside plain requests: `GET /` answers with text.
//!
//! ```text
//! cargo run -p weft --features http2 --example http2_echo -- 127.0.0.1:3000
//! ```
//!
//! It prints `listening on http://ADDR` first (port 0 picks a free one). Browsers speak
//! HTTP/2 only over TLS; put this service behind rustls with ALPN `h2` for them. Node's
//! `http2` module speaks h2c: `tests/interop/node_h2_client.mjs` is a client.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use weft::WebSocketConfig;

async fn route(mut request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.uri().path() != "/ws" {
        // Any 2xx to a CONNECT opens a tunnel, so a WebSocket asked for elsewhere gets 404.
        let status = if request.method() == hyper::Method::CONNECT {
            hyper::StatusCode::NOT_FOUND
        } else {
            hyper::StatusCode::OK
        };
        let mut response = Response::new(Full::new(Bytes::from_static(
            b"HTTP/2 here; WebSocket echo on /ws\n",
        )));
        *response.status_mut() = status;
        return Ok(response);
    }
    let (response, websocket) = match weft::hyper::upgrade(&mut request, WebSocketConfig::default())
    {
        Ok(upgrade) => upgrade,
        Err(error) => return Ok(weft::hyper::rejection(&error)),
    };
    // The stream is handed over only after this service call has returned the 200.
    tokio::spawn(async move {
        let Ok(mut ws) = websocket.await else { return };
        while let Some(Ok(message)) = ws.recv().await {
            if message.is_data() && ws.send(message).await.is_err() {
                break;
            }
        }
    });
    Ok(response.map(|_| Full::default()))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    loop {
        let (tcp, _) = listener.accept().await?;
        tokio::spawn(
            http2::Builder::new(TokioExecutor::new())
                // SETTINGS_ENABLE_CONNECT_PROTOCOL: without it clients never send the CONNECT.
                .enable_connect_protocol()
                .serve_connection(TokioIo::new(tcp), service_fn(route)),
        );
    }
}
