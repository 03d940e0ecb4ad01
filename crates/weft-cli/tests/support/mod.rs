//! Helpers for running the `weft` binary as a user would: a clean proxy environment, the
//! client against an in-process weft server, and `weft serve` started on 127.0.0.1:0.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use weft::server::{Request, Server, ServerHandle, ServerStream};
use weft::{ClientBuilder, CloseCode, Message, WebSocket};

/// Proxy variables that would otherwise send the binary's connections elsewhere.
pub const PROXY_VARS: &[&str] = &[
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "ws_proxy",
    "WS_PROXY",
    "wss_proxy",
    "WSS_PROXY",
    "all_proxy",
    "ALL_PROXY",
];

/// How long any one run of the binary may take before the test fails.
pub const RUN_LIMIT: Duration = Duration::from_secs(10);

/// The binary, with a clean proxy environment.
pub fn weft() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_weft"));
    for var in PROXY_VARS {
        command.env_remove(var);
    }
    command.env("NO_PROXY", "*").env("no_proxy", "*");
    command.kill_on_drop(true);
    command
}

/// Runs the client with `args`, feeding it `stdin`, and waits for it to exit.
pub async fn run_client(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = weft()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn weft");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin).await.expect("write stdin");
    drop(input);
    tokio::time::timeout(RUN_LIMIT, child.wait_with_output())
        .await
        .expect("weft exits in time")
        .expect("weft output")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A weft server in this process: `/echo` echoes, `/close4000` closes with 4000 at once;
/// other paths get 404.
pub async fn library_server() -> (String, ServerHandle) {
    let server = Server::builder()
        .bind("127.0.0.1:0")
        .route("/echo", echo)
        .route("/close4000", close_4000)
        .build()
        .await
        .expect("server");
    let addr = server.local_addrs()[0];
    let handle = server.handle();
    tokio::spawn(server.run());
    (format!("ws://{addr}"), handle)
}

pub async fn echo(mut ws: WebSocket<ServerStream>, _request: Request) -> Result<(), weft::Error> {
    while let Some(message) = ws.recv().await {
        let message = message?;
        if message.is_data() {
            ws.send(message).await?;
        }
    }
    Ok(())
}

pub async fn close_4000(
    mut ws: WebSocket<ServerStream>,
    _request: Request,
) -> Result<(), weft::Error> {
    ws.close(CloseCode::from(4000), "go away").await
}

/// A running `weft serve`, killed when dropped.
pub struct Served {
    pub child: Child,
    pub url: String,
    _stdout: Lines<BufReader<ChildStdout>>,
}

/// Starts `weft serve ARGS 127.0.0.1:0` and reads the address from its first line.
pub async fn weft_serve(args: &[&str]) -> Served {
    let mut child = weft()
        .arg("serve")
        .args(args)
        .arg("127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn weft serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = tokio::time::timeout(RUN_LIMIT, lines.next_line())
        .await
        .expect("weft serve starts in time")
        .expect("read stdout")
        .expect("a first line");
    let url = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();
    Served {
        child,
        url,
        _stdout: lines,
    }
}

pub async fn connect(url: &str) -> WebSocket<weft::client::MaybeTlsStream> {
    ClientBuilder::new(url)
        .no_proxy()
        .connect()
        .await
        .expect("connect")
}

pub async fn recv_text(ws: &mut WebSocket<weft::client::MaybeTlsStream>) -> String {
    match tokio::time::timeout(RUN_LIMIT, ws.recv()).await {
        Ok(Some(Ok(Message::Text(text)))) => text.as_str().to_owned(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// A file under the temp dir that no other test (or run) uses.
pub fn temp_path(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("weft-cli-test-{}-{n}-{name}", std::process::id()))
}
