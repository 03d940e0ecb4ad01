//! An HTTP + WebSocket server on one port, for browser tests: `GET /` serves an HTML page over
//! plain HTTP, and `/ws` (permessage-deflate accepted) and `/ws-nocompress` (declined) upgrade
//! to a WebSocket that echoes and obeys the commands below. With `--tls-cert` and `--tls-key`
//! it serves the same on a second port over TLS (https:// and wss://).
//!
//! It uses no HTTP framework: it reads the request head itself, serves the page when the head
//! asks for no upgrade, and otherwise hands the head to weft-proto's `ServerHandshake` (the
//! RFC 6455 §4.2.1 checks that `weft::server::check_request` runs on an `http::Request`),
//! answers with `UpgradeRequest::accept`, and runs the connection with
//! `WebSocket::from_parts`, which, unlike `from_upgraded`, takes the agreed subprotocol and
//! permessage-deflate parameters.
//!
//! ```sh
//! cargo run -p weft --example browser_page -- --page tests/interop/browser_page.html
//! ```
//!
//! It prints `listening on http://ADDR` (then `listening on https://ADDR` with TLS) and picks
//! free ports. On the WebSocket, text and binary messages come back as they were sent, except
//! text messages starting with `!`, which are commands:
//!
//! | command | answer |
//! | --- | --- |
//! | `!close CODE REASON` | closes the connection with CODE and REASON |
//! | `!ping PAYLOAD` | sends a PING; its PONG is answered with the text `pong PAYLOAD` |
//! | `!fragments text\|binary N` | one message in N frames: `part0\|part1\|...` |
//! | `!info` | `info protocol=NAME deflate=yes\|no` (`-` for no subprotocol) |
//! | `!lastclose` | `lastclose CODE REASON`: the close frame last received from any client |
//! | `!frames` | `frames ?`: this server does not count the frames of received messages |
//! | `!result LINE` | prints LINE on stdout (a browser's verdict for its test) |
//! | `!done` | prints `done` on stdout |

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::HeaderValue;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use weft::client::tls::ServerTlsOptions;
use weft::proto::Role;
use weft::proto::extensions::deflate;
use weft::proto::handshake::server::{Accept, ServerHandshake, reject};
use weft::{
    CloseCode, CloseFrame, DataKind, Event, Handshaken, Message, WebSocket, WebSocketConfig,
};

/// The subprotocols this server speaks, most preferred first.
const PROTOCOLS: &[&str] = &["weft.interop.v1"];
/// The longest request head read before giving up on a connection.
const MAX_HEAD: usize = 16 << 10;
/// The page served when none is given with `--page`.
const DEFAULT_PAGE: &str = "<!doctype html><title>weft</title>\
<p>An echo WebSocket is on <code>/ws</code>; pass <code>--page FILE</code> to serve a page.";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse()?;
    let page = match &args.page {
        Some(path) => Bytes::from(std::fs::read(path)?),
        None => Bytes::from_static(DEFAULT_PAGE.as_bytes()),
    };
    let shared = Arc::new(Shared {
        page,
        last_close: Mutex::new(None),
    });

    let plain = TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on http://{}", plain.local_addr()?);
    let secure = match &args.tls {
        Some((cert, key)) => {
            let config = ServerTlsOptions::from_pem_files(cert, key).server_config()?;
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            println!("listening on https://{}", listener.local_addr()?);
            Some((listener, TlsAcceptor::from(config)))
        }
        None => None,
    };

    if let Some((listener, acceptor)) = secure {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, shared) = (acceptor.clone(), Arc::clone(&shared));
                tokio::spawn(async move {
                    match acceptor.accept(tcp).await {
                        Ok(tls) => serve(tls, shared).await,
                        Err(e) => eprintln!("TLS handshake failed: {e}"),
                    }
                });
            }
        });
    }
    loop {
        let (tcp, _) = plain.accept().await?;
        tokio::spawn(serve(tcp, Arc::clone(&shared)));
    }
}

/// The command line: `[--page FILE] [--tls-cert FILE --tls-key FILE]`.
struct Args {
    page: Option<PathBuf>,
    tls: Option<(PathBuf, PathBuf)>,
}

/// What every connection sees: the page, and the last close frame a client sent.
struct Shared {
    page: Bytes,
    last_close: Mutex<Option<CloseFrame>>,
}

/// Whether the connection goes on after a command.
enum Flow {
    Continue,
    Closed,
}

impl Args {
    fn parse() -> Result<Args, String> {
        let (mut page, mut cert, mut key) = (None, None, None);
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let slot = match arg.as_str() {
                "--page" => &mut page,
                "--tls-cert" => &mut cert,
                "--tls-key" => &mut key,
                _ => return Err(format!("unknown argument {arg:?}")),
            };
            *slot = Some(PathBuf::from(
                args.next().ok_or_else(|| format!("{arg} needs a value"))?,
            ));
        }
        let tls = match (cert, key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => return Err("--tls-cert and --tls-key go together".to_owned()),
        };
        Ok(Args { page, tls })
    }
}

/// One connection: reads the request head, then serves the page or upgrades.
async fn serve<S>(mut io: S, shared: Arc<Shared>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut buf = BytesMut::with_capacity(4096);
    let head_len = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if buf.len() > MAX_HEAD {
            return;
        }
        // Browsers open spare connections that may never send a request.
        match tokio::time::timeout(Duration::from_secs(30), io.read_buf(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return,
        }
    };
    let Ok(head) = std::str::from_utf8(&buf[..head_len]) else {
        return;
    };
    let mut lines = head.split("\r\n");
    let target = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .unwrap_or("/")
        .to_owned();
    let path = target.split('?').next().unwrap_or("/").to_owned();
    let is_upgrade = lines.any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("upgrade")
                && value.to_ascii_lowercase().contains("websocket")
        })
    });

    if !is_upgrade {
        let response = match path.as_str() {
            "/" => http_response("200 OK", "text/html; charset=utf-8", &shared.page),
            _ => http_response("404 Not Found", "text/plain", b"not found\n"),
        };
        let _ = io.write_all(&response).await;
        let _ = io.shutdown().await;
        return;
    }

    let config = match path.as_str() {
        "/ws" => WebSocketConfig::default(),
        "/ws-nocompress" => WebSocketConfig::default().deflate(None),
        _ => {
            let _ = io
                .write_all(&http_response(
                    "404 Not Found",
                    "text/plain",
                    b"no such WebSocket\n",
                ))
                .await;
            return;
        }
    };
    let mut handshake = ServerHandshake::new(config.protocol_config().limits());
    let request = match handshake.handle_request(&mut buf) {
        Ok(Some(request)) => request,
        // The whole head is in `buf`, so the handshake cannot ask for more.
        Ok(None) => return,
        Err(error) => {
            let _ = io.write_all(&reject(&error)).await;
            return;
        }
    };
    let protocol = request.choose_protocol(PROTOCOLS);
    // permessage-deflate is agreed as weft's own server agrees it.
    let agreed = config
        .deflate_value()
        .and_then(|settings| deflate::server_negotiate(settings, request.extensions()));
    let mut accept = Accept::new().protocol(protocol);
    let mut extensions = Vec::new();
    if let Some((_, answer)) = &agreed {
        if let Ok(value) = HeaderValue::from_str(answer) {
            accept = accept.extensions(value);
            extensions.push(answer.clone());
        }
    }
    if io.write_all(&request.accept(accept)).await.is_err() {
        return;
    }
    let handshaken = Handshaken {
        path: target,
        subprotocol: protocol.map(str::to_owned),
        extensions,
        deflate: agreed.map(|(params, _)| params),
        ..Handshaken::default()
    };
    // `buf` now holds what the client sent after its request, if anything.
    let ws = WebSocket::from_parts(io, Role::Server, config, handshaken, buf);
    run(ws, &shared).await;
}

/// Echoes data messages and runs commands until the connection ends.
async fn run<S>(mut ws: WebSocket<S>, shared: &Shared)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    while let Some(event) = ws.next_event().await {
        let result = match event {
            Ok(Event::Message(Message::Text(text))) if text.as_str().starts_with('!') => {
                match command(&mut ws, text.as_str(), shared).await {
                    Ok(Flow::Continue) => Ok(()),
                    Ok(Flow::Closed) => return,
                    Err(e) => Err(e),
                }
            }
            Ok(Event::Message(Message::Pong(payload))) => {
                let payload = String::from_utf8_lossy(&payload).into_owned();
                ws.send(Message::text(format!("pong {payload}"))).await
            }
            Ok(Event::Message(message)) if message.is_data() => ws.send(message).await,
            Ok(Event::Close(frame)) => {
                if frame.code != CloseCode::ABNORMAL {
                    *lock(&shared.last_close) = Some(frame);
                }
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            eprintln!("connection ended: {e}");
            return;
        }
    }
}

/// Runs one `!` command.
async fn command<S>(ws: &mut WebSocket<S>, line: &str, shared: &Shared) -> weft::Result<Flow>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (name, rest) = line.split_once(' ').unwrap_or((line, ""));
    let reply = match name {
        "!close" => {
            let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
            let code = code.parse::<u16>().unwrap_or(1000);
            ws.close(CloseCode::from(code), reason).await?;
            return Ok(Flow::Closed);
        }
        "!ping" => {
            ws.send(Message::Ping(Bytes::copy_from_slice(rest.as_bytes())))
                .await?;
            return Ok(Flow::Continue);
        }
        "!fragments" => {
            let (kind, count) = rest.split_once(' ').unwrap_or((rest, "3"));
            let kind = if kind == "binary" {
                DataKind::Binary
            } else {
                DataKind::Text
            };
            let count = count.parse::<usize>().unwrap_or(3).max(1);
            for i in 0..count {
                let part = Bytes::from(format!("part{i}|"));
                ws.send_frame(kind, part, i + 1 == count).await?;
            }
            return Ok(Flow::Continue);
        }
        "!info" => {
            let info = ws.info();
            let protocol = info.subprotocol.as_deref().unwrap_or("-");
            let deflate = info.extensions.iter().any(|e| e.starts_with(deflate::NAME));
            let deflate = if deflate { "yes" } else { "no" };
            format!("info protocol={protocol} deflate={deflate}")
        }
        "!lastclose" => match &*lock(&shared.last_close) {
            Some(frame) => format!("lastclose {} {}", frame.code.as_u16(), frame.reason),
            None => "lastclose none".to_owned(),
        },
        "!frames" => "frames ?".to_owned(),
        "!result" => {
            println!("{rest}");
            return Ok(Flow::Continue);
        }
        "!done" => {
            println!("done");
            return Ok(Flow::Continue);
        }
        _ => format!("error unknown command {name}"),
    };
    ws.send(Message::text(reply)).await?;
    Ok(Flow::Continue)
}

/// A whole HTTP/1.1 response that closes the connection.
fn http_response(status: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// Locks `mutex`, also after a panic elsewhere: the data is a plain value, valid either way.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
