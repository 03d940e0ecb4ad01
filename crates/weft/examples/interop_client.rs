//! weft's client against other implementations' servers, for `scripts/interop.sh`: runs each
//! named scenario against URL on fresh connections, prints `ok SCENARIO` or
//! `FAIL SCENARIO: why` (details on stderr), and exits 1 if any failed.
//!
//! ```sh
//! cargo run --release -p weft --example interop_client -- [--cacert FILE] URL SCENARIO...
//! ```
//!
//! The server speaks the scenario protocol of `browser_page.rs` (echo, and `!` commands), as
//! `tests/interop/py_server.py` and `node_server.mjs` do. Scenarios: text, binary, empty,
//! 16mib-text, 16mib-binary, fragmented, ping, close-4000, close-1000, server-close-4001,
//! server-close-1000, server-fragmented, server-ping, subprotocol, deflate, no-deflate (the
//! server declines), no-deflate-client (weft does not offer), wss.
//!
//! Limits are weft's defaults (16 MiB messages and frames): the scenarios test them.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::Rng;
use weft::client::MaybeTlsStream;
use weft::client::tls::{Roots, TlsOptions};
use weft::{ClientBuilder, CloseCode, DataKind, Message, WebSocket, WebSocketConfig};

type Ws = WebSocket<MaybeTlsStream>;
type Outcome = Result<(), Box<dyn std::error::Error>>;

const PROTOCOL: &str = "weft.interop.v1";
const MIB: usize = 1 << 20;
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(60);
const SCENARIOS: &[&str] = &[
    "text",
    "binary",
    "empty",
    "16mib-text",
    "16mib-binary",
    "fragmented",
    "ping",
    "close-4000",
    "close-1000",
    "server-close-4001",
    "server-close-1000",
    "server-fragmented",
    "server-ping",
    "subprotocol",
    "deflate",
    "no-deflate",
    "no-deflate-client",
    "wss",
];

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut cacert = None;
    if args.first().map(String::as_str) == Some("--cacert") && args.len() > 1 {
        cacert = Some(PathBuf::from(args.remove(1)));
        args.remove(0);
    }
    let unknown: Vec<&String> = args
        .iter()
        .skip(1)
        .filter(|name| !SCENARIOS.contains(&name.as_str()))
        .collect();
    if args.len() < 2 || !unknown.is_empty() {
        eprintln!("usage: interop_client [--cacert FILE] URL SCENARIO...\nunknown: {unknown:?}");
        std::process::exit(2);
    }
    let client = Client {
        url: args[0].clone(),
        cacert,
    };
    let mut failed = 0;
    for name in &args[1..] {
        eprintln!("{name}:");
        let outcome = match tokio::time::timeout(SCENARIO_TIMEOUT, client.run(name)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("no result in {} s", SCENARIO_TIMEOUT.as_secs()).into()),
        };
        match outcome {
            Ok(()) => println!("ok {name}"),
            Err(why) => {
                failed += 1;
                println!("FAIL {name}: {why}");
            }
        }
    }
    std::process::exit(i32::from(failed > 0));
}

/// Where to connect, and the CA to trust for wss://.
struct Client {
    url: String,
    cacert: Option<PathBuf>,
}

impl Client {
    async fn run(&self, name: &str) -> Outcome {
        match name {
            "text" => {
                let mut ws = self.open().await?;
                let texts = ["héllo wörld ✓ 🦀", &"x".repeat(125), &"y".repeat(126)];
                let mut messages: Vec<Message> = texts.iter().map(|t| Message::text(*t)).collect();
                messages.push(Message::text("z".repeat(65535)));
                messages.push(Message::text(text_of(65536)));
                roundtrip(&mut ws, messages).await?;
                close(&mut ws).await
            }
            "binary" => {
                let mut ws = self.open().await?;
                let messages = vec![
                    Message::binary((0..=255u8).collect::<Vec<u8>>()),
                    Message::binary(random(126)),
                    Message::binary(random(65535)),
                    Message::binary(random(65536)),
                ];
                roundtrip(&mut ws, messages).await?;
                close(&mut ws).await
            }
            "empty" => {
                let mut ws = self.open().await?;
                roundtrip(
                    &mut ws,
                    vec![Message::text(""), Message::binary(Bytes::new())],
                )
                .await?;
                close(&mut ws).await
            }
            "16mib-text" => self.big(Message::text(text_of(16 * MIB))).await,
            "16mib-binary" => self.big(Message::binary(random(16 * MIB))).await,
            "fragmented" => self.fragmented().await,
            "ping" => self.ping().await,
            "close-4000" => self.close_with(4000, "bye from weft").await,
            "close-1000" => self.close_with(1000, "done").await,
            "server-close-4001" => self.server_close(4001, "bye from peer").await,
            "server-close-1000" => self.server_close(1000, "done").await,
            "server-fragmented" => self.server_fragmented().await,
            "server-ping" => self.server_ping().await,
            "subprotocol" => self.subprotocol().await,
            "deflate" => self.deflate(self.builder(), true).await,
            "no-deflate" => self.deflate(self.builder(), false).await,
            "no-deflate-client" => {
                let builder = self
                    .builder()
                    .config(WebSocketConfig::default().deflate(None));
                self.deflate(builder, false).await
            }
            "wss" => self.wss().await,
            _ => Err(format!("unknown scenario {name}").into()),
        }
    }

    fn builder(&self) -> ClientBuilder {
        let builder = ClientBuilder::new(self.url.clone()).no_proxy();
        match &self.cacert {
            Some(ca) => builder.tls(TlsOptions::new().roots(Roots::None).add_ca_pem_file(ca)),
            None => builder,
        }
    }

    async fn open(&self) -> Result<Ws, weft::Error> {
        self.builder().connect().await
    }

    async fn big(&self, message: Message) -> Outcome {
        let mut ws = self.open().await?;
        let started = Instant::now();
        roundtrip(&mut ws, vec![message]).await?;
        note(format!(
            "16 MiB both ways in {:.1} s",
            started.elapsed().as_secs_f64()
        ));
        close(&mut ws).await
    }

    async fn fragmented(&self) -> Outcome {
        let mut ws = self.open().await?;
        let messages: [(DataKind, &[&[u8]]); 2] = [
            (DataKind::Text, &[b"frag", b"men", b"", "ted ✓".as_bytes()]),
            (DataKind::Binary, &[b"\x00\x01", b"", &[2; 70000]]),
        ];
        for (kind, parts) in messages {
            for (i, part) in parts.iter().enumerate() {
                let data = Bytes::copy_from_slice(part);
                ws.send_frame(kind, data, i + 1 == parts.len()).await?;
            }
            let whole = parts.concat();
            let got = next_data(&mut ws).await?;
            check(
                got.payload()[..] == whole[..] && is_kind(&got, kind),
                format!(
                    "sent {} in {} frames, got {}",
                    describe_parts(kind, &whole),
                    parts.len(),
                    describe(&got)
                ),
            )?;
            let frames = ask(&mut ws, "!frames").await?;
            let want = format!("frames {}", parts.len());
            check(
                frames == want || frames == "frames ?",
                format!("server counted {frames:?}"),
            )?;
            note(format!(
                "sent {} in {} frames; server: {frames:?}",
                describe_parts(kind, &whole),
                parts.len()
            ));
        }
        close(&mut ws).await
    }

    async fn ping(&self) -> Outcome {
        let mut ws = self.open().await?;
        let payloads = [
            Bytes::from_static(b"weft-interop"),
            Bytes::new(),
            (0..125u8).collect::<Bytes>(),
        ];
        for payload in &payloads {
            ws.send(Message::Ping(payload.clone())).await?;
        }
        for payload in &payloads {
            match ws.recv().await {
                Some(Ok(Message::Pong(got))) if got == *payload => {}
                other => return Err(format!("want the PONG of {payload:?}, got {other:?}").into()),
            }
        }
        note("3 PINGs (12, 0, 125 bytes) answered by PONGs with the same payload");
        roundtrip(&mut ws, vec![Message::text("after pings")]).await?;
        close(&mut ws).await
    }

    async fn close_with(&self, code: u16, reason: &str) -> Outcome {
        let mut ws = self.open().await?;
        roundtrip(&mut ws, vec![Message::text("before close")]).await?;
        ws.close(CloseCode::from(code), reason).await?;
        let echo = ws.close_frame().ok_or("no close frame from the server")?;
        check(
            echo.code.as_u16() == code,
            format!("closed with {code}, server answered {echo:?}"),
        )?;
        note(format!("server echoed {} {:?}", echo.code, echo.reason));
        // The server reports what it received on another connection.
        let want = format!("lastclose {code} {reason}");
        let mut reply = String::new();
        for _ in 0..50 {
            let mut probe = self.open().await?;
            reply = ask(&mut probe, "!lastclose").await?;
            close(&mut probe).await?;
            if reply == want {
                note(format!("server reports {reply:?}"));
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!("server reports {reply:?}, want {want:?}").into())
    }

    async fn server_close(&self, code: u16, reason: &str) -> Outcome {
        let mut ws = self.open().await?;
        ws.send(Message::text(format!("!close {code} {reason}")))
            .await?;
        match ws.recv().await {
            None => {}
            Some(other) => return Err(format!("want the close, got {other:?}").into()),
        }
        let frame = ws.close_frame().ok_or("no close frame")?;
        check(
            frame.code.as_u16() == code && frame.reason == reason,
            format!("want {code} {reason:?}, got {frame:?}"),
        )?;
        note(format!(
            "server closed with {} {:?}",
            frame.code, frame.reason
        ));
        Ok(())
    }

    async fn server_fragmented(&self) -> Outcome {
        // Fragment mode hands out each frame, so the frames can be counted.
        let config =
            WebSocketConfig::default().protocol(weft::proto::Config::default().fragment_mode(true));
        let mut ws = self.builder().config(config).connect().await?;
        let want: String = (0..5).map(|i| format!("part{i}|")).collect();
        for (kind, name) in [(DataKind::Text, "text"), (DataKind::Binary, "binary")] {
            ws.send(Message::text(format!("!fragments {name} 5")))
                .await?;
            let (mut whole, mut frames) = (Vec::new(), 0);
            loop {
                let fragment = ws.recv_fragment().await.ok_or("closed")??;
                check(
                    fragment.kind == kind,
                    format!("{name}: got a {:?} frame", fragment.kind),
                )?;
                whole.extend_from_slice(&fragment.data);
                if fragment.bytes_left == 0 {
                    frames += 1;
                }
                if fragment.is_message_end() {
                    break;
                }
            }
            check(
                whole == want.as_bytes(),
                format!("{name}: got {:?}", String::from_utf8_lossy(&whole)),
            )?;
            // Python's websockets ends a message sent from an iterable with an empty frame.
            check(
                frames >= 5,
                format!("{name}: {frames} frames, want 5 or more"),
            )?;
            note(format!("server sent {name} in {frames} frames"));
        }
        ws.close(CloseCode::NORMAL, "").await?;
        Ok(())
    }

    async fn server_ping(&self) -> Outcome {
        let mut ws = self.open().await?;
        ws.send(Message::text("!ping from-peer")).await?;
        match ws.recv().await {
            Some(Ok(Message::Ping(payload))) if payload == "from-peer" => {}
            other => return Err(format!("want the server's PING, got {other:?}").into()),
        }
        let reply = next_data(&mut ws).await?;
        check(
            reply == Message::text("pong from-peer"),
            format!("got {}", describe(&reply)),
        )?;
        note("server's PING seen and answered; the server saw the PONG");
        close(&mut ws).await
    }

    async fn subprotocol(&self) -> Outcome {
        let mut ws = self
            .builder()
            .protocol("weft.interop.v9")
            .protocol(PROTOCOL)
            .connect()
            .await?;
        check(
            ws.subprotocol() == Some(PROTOCOL),
            format!("negotiated {:?}", ws.subprotocol()),
        )?;
        let info = ask(&mut ws, "!info").await?;
        check(
            info.starts_with(&format!("info protocol={PROTOCOL} ")),
            format!("server: {info:?}"),
        )?;
        note(format!(
            "offered weft.interop.v9, {PROTOCOL}; server: {info:?}"
        ));
        close(&mut ws).await
    }

    async fn deflate(&self, builder: ClientBuilder, want: bool) -> Outcome {
        let mut ws = builder.connect().await?;
        let extensions = ws.info().extensions;
        let agreed = extensions
            .iter()
            .any(|e| e.starts_with("permessage-deflate"));
        check(agreed == want, format!("negotiated {extensions:?}"))?;
        let info = ask(&mut ws, "!info").await?;
        let yes = if want { "yes" } else { "no" };
        check(
            info.ends_with(&format!("deflate={yes}")),
            format!("server: {info:?}"),
        )?;
        let messages = vec![
            Message::text(text_of(MIB)),
            Message::binary(random(64 << 10)),
            Message::text("short"),
            Message::binary(vec![0; 200]),
        ];
        roundtrip(&mut ws, messages).await?;
        note(format!("negotiated {extensions:?}; server: {info:?}"));
        close(&mut ws).await
    }

    async fn wss(&self) -> Outcome {
        check(
            self.url.starts_with("wss://"),
            "needs a wss:// URL".to_owned(),
        )?;
        let mut ws = self.builder().protocol(PROTOCOL).connect().await?;
        check(
            ws.subprotocol() == Some(PROTOCOL),
            format!("negotiated {:?}", ws.subprotocol()),
        )?;
        let messages = vec![
            Message::text("over TLS ✓"),
            Message::binary((0..=255u8).collect::<Vec<u8>>()),
            Message::text(text_of(MIB)),
        ];
        roundtrip(&mut ws, messages).await?;
        note("over TLS, trusting only the CA given with --cacert");
        ws.close(CloseCode::NORMAL, "done").await?;
        let echo = ws.close_frame().ok_or("no close frame from the server")?;
        check(
            echo.code == CloseCode::NORMAL,
            format!("close answered with {echo:?}"),
        )
    }
}

/// Sends each message and expects it back unchanged.
async fn roundtrip(ws: &mut Ws, messages: Vec<Message>) -> Outcome {
    let mut sent = Vec::new();
    for message in messages {
        ws.send(message.clone()).await?;
        let got = next_data(ws).await?;
        check(
            got == message,
            format!("sent {}, got {}", describe(&message), describe(&got)),
        )?;
        sent.push(describe(&message));
    }
    note(format!("echoed {}", sent.join(", ")));
    Ok(())
}

/// Sends a command and returns the text answer.
async fn ask(ws: &mut Ws, command: &str) -> Result<String, Box<dyn std::error::Error>> {
    ws.send(Message::text(command)).await?;
    match next_data(ws).await? {
        Message::Text(text) => Ok(text.as_str().to_owned()),
        other => Err(format!("{command}: got {}", describe(&other)).into()),
    }
}

/// The next text or binary message; the close, with its code, is an error.
async fn next_data(ws: &mut Ws) -> Result<Message, Box<dyn std::error::Error>> {
    loop {
        match ws.recv().await {
            Some(Ok(message)) if message.is_data() => return Ok(message),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => {
                let frame = ws.close_frame();
                return Err(format!("closed by the server: {frame:?}").into());
            }
        }
    }
}

/// A clean close with 1000.
async fn close(ws: &mut Ws) -> Outcome {
    ws.close(CloseCode::NORMAL, "").await?;
    Ok(())
}

fn check(condition: bool, why: impl Into<String>) -> Outcome {
    if condition {
        Ok(())
    } else {
        Err(why.into().into())
    }
}

fn note(text: impl std::fmt::Display) {
    eprintln!("  {text}");
}

fn is_kind(message: &Message, kind: DataKind) -> bool {
    matches!(
        (message, kind),
        (Message::Text(_), DataKind::Text) | (Message::Binary(_), DataKind::Binary)
    )
}

fn describe(message: &Message) -> String {
    let kind = match message {
        Message::Text(_) => "text",
        Message::Binary(_) => "binary",
        Message::Ping(_) => "PING",
        Message::Pong(_) => "PONG",
    };
    format!("{kind} of {} bytes", message.payload().len())
}

fn describe_parts(kind: DataKind, whole: &[u8]) -> String {
    let kind = if kind == DataKind::Text {
        "text"
    } else {
        "binary"
    };
    format!("{kind} of {} bytes", whole.len())
}

fn random(len: usize) -> Bytes {
    let mut data = vec![0; len];
    rand::rng().fill(&mut data[..]);
    Bytes::from(data)
}

/// Compressible but not uniform text of `size` UTF-8 bytes, with non-ASCII characters.
fn text_of(size: usize) -> String {
    let unit = "weft ✓ interop — ünïcödé 🦀 0123456789 abcdefghijklmnopqrstuvwxyz\n";
    let mut text = unit.repeat(size / unit.len() + 1);
    let mut end = size;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str(&".".repeat(size - end));
    text
}
