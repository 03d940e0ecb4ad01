//! The `weft` binary, run as a user would: the client against an in-process weft server, and
//! `weft serve` against the library's client. Every server listens on 127.0.0.1:0.

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use weft::server::{Request, Server, ServerHandle, ServerStream};
use weft::{ClientBuilder, CloseCode, Message, WebSocket};

/// Proxy variables that would otherwise send the binary's connections elsewhere.
const PROXY_VARS: &[&str] = &[
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
const RUN_LIMIT: Duration = Duration::from_secs(10);

// --- helpers -------------------------------------------------------------------------------

/// The binary, with a clean proxy environment.
fn weft() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_weft"));
    for var in PROXY_VARS {
        command.env_remove(var);
    }
    command.env("NO_PROXY", "*").env("no_proxy", "*");
    command.kill_on_drop(true);
    command
}

/// Runs the client with `args`, feeding it `stdin`, and waits for it to exit.
async fn run_client(args: &[&str], stdin: &[u8]) -> Output {
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

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A weft server in this process: `/echo` echoes, `/close4000` closes with 4000 at once;
/// other paths get 404.
async fn library_server() -> (String, ServerHandle) {
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

async fn echo(mut ws: WebSocket<ServerStream>, _request: Request) -> Result<(), weft::Error> {
    while let Some(message) = ws.recv().await {
        let message = message?;
        if message.is_data() {
            ws.send(message).await?;
        }
    }
    Ok(())
}

async fn close_4000(mut ws: WebSocket<ServerStream>, _request: Request) -> Result<(), weft::Error> {
    ws.close(CloseCode::from(4000), "go away").await
}

/// A running `weft serve`, killed when dropped.
struct Served {
    child: Child,
    url: String,
    _stdout: Lines<BufReader<ChildStdout>>,
}

/// Starts `weft serve ARGS 127.0.0.1:0` and reads the address from its first line.
async fn weft_serve(args: &[&str]) -> Served {
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

async fn connect(url: &str) -> WebSocket<weft::client::MaybeTlsStream> {
    ClientBuilder::new(url)
        .no_proxy()
        .connect()
        .await
        .expect("connect")
}

async fn recv_text(ws: &mut WebSocket<weft::client::MaybeTlsStream>) -> String {
    match tokio::time::timeout(RUN_LIMIT, ws.recv()).await {
        Ok(Some(Ok(Message::Text(text)))) => text.as_str().to_owned(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// A file under the temp dir that no other test (or run) uses.
fn temp_path(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("weft-cli-test-{}-{n}-{name}", std::process::id()))
}

// --- client: stdin, stdout, -d, -n ---------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_sends_stdin_lines_and_prints_each_reply_on_a_line() {
    let (url, _server) = library_server().await;
    let output = run_client(&["-q", "2", &format!("{url}/echo")], b"hello\nworld\n").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "hello\nworld\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_no_line_sends_stdin_in_reads_that_together_are_the_input() {
    let (url, _server) = library_server().await;
    // Larger than one 64 KiB read, so it arrives as several messages.
    let input = "abcdefgh".repeat(40_000);
    let output = run_client(
        &["--no-line", "-q", "2", &format!("{url}/echo")],
        input.as_bytes(),
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let replies = stdout(&output);
    assert!(replies.lines().count() >= 2, "one message per read");
    assert_eq!(replies.replace('\n', ""), input);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_count_1_exits_after_the_first_message() {
    let (url, _server) = library_server().await;
    let output = run_client(
        &["-n", "1", "-d", "one", "-d", "two", &format!("{url}/echo")],
        b"",
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "one\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_count_0_exits_right_after_the_handshake() {
    let (url, _server) = library_server().await;
    // stdin stays open: -n 0 must not wait for it.
    let mut child = weft()
        .args(["-n", "0", &format!("{url}/echo")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let _stdin = child.stdin.take();
    let output = tokio::time::timeout(RUN_LIMIT, child.wait_with_output())
        .await
        .expect("exits without stdin ending")
        .expect("output");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_sends_data_arguments_and_file_contents_before_stdin() {
    let (url, _server) = library_server().await;
    let file = temp_path("data.txt");
    std::fs::write(&file, "from a file").expect("write data file");
    let at_file = format!("@{}", file.display());
    let output = run_client(
        &[
            "-q",
            "0.5",
            "-d",
            "first",
            "-d",
            &at_file,
            &format!("{url}/echo"),
        ],
        b"from stdin\n",
    )
    .await;
    let _ = std::fs::remove_file(&file);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "first\nfrom a file\nfrom stdin\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_writes_binary_messages_as_hex_when_asked() {
    let (url, _server) = library_server().await;
    let output = run_client(
        &[
            "--binary",
            "--hex",
            "-n",
            "1",
            "-d",
            "AB",
            &format!("{url}/echo"),
        ],
        b"",
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "4142\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_jsonl_reports_open_message_and_close_events() {
    let (url, _server) = library_server().await;
    let target = format!("{url}/echo");
    let output = run_client(
        &[
            "--jsonl", "-n", "2", "-d", "hi", "--binary", "-d", "hi", &target,
        ],
        b"",
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let events: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect();
    assert_eq!(events[0]["event"], "open");
    assert_eq!(events[0]["url"], target.as_str());
    assert!(events[0]["subprotocol"].is_null());
    assert_eq!(events[1]["event"], "message");
    assert_eq!(events[1]["type"], "binary");
    assert_eq!(events[1]["data"], "aGk=");
    assert_eq!(events[2]["event"], "message");
    assert_eq!(events[2]["data"], "aGk=");
    let close = events.last().expect("a close event");
    assert_eq!(close["event"], "close");
    assert_eq!(close["code"], 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_verbose_prints_request_and_response_heads_to_stderr() {
    let (url, _server) = library_server().await;
    let output = run_client(&["-v", "-n", "0", &format!("{url}/echo")], b"").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(err.contains("> GET /echo HTTP/1.1"), "{err}");
    assert!(err.contains("> Sec-WebSocket-Key: "), "{err}");
    assert!(err.contains("< HTTP/1.1 101 Switching Protocols"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_raw_mode_passes_bytes_untouched() {
    let (url, _server) = library_server().await;
    // A masked text frame "hi" with the mask 1 2 3 4, as a client must send it.
    let frame = [0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2];
    let file = temp_path("frame.bin");
    std::fs::write(&file, frame).expect("write frame");
    let at_file = format!("@{}", file.display());
    let output = run_client(
        &["--raw", "-n", "1", "-d", &at_file, &format!("{url}/echo")],
        b"",
    )
    .await;
    let _ = std::fs::remove_file(&file);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // The echo comes back as an unmasked server frame.
    assert_eq!(output.stdout, [0x81, 0x02, b'h', b'i']);
}

// --- client: exit statuses -----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_exits_2_on_a_bad_url() {
    for url in ["ftp://example.com/", "not a url"] {
        let output = run_client(&[url], b"").await;
        assert_eq!(output.status.code(), Some(2), "{url}: {}", stderr(&output));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_exits_2_on_a_stdin_line_that_is_not_utf8() {
    let (url, _server) = library_server().await;
    let output = run_client(&[&format!("{url}/echo")], b"\xff\n").await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("--binary"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_exits_3_when_the_connection_is_refused() {
    // A port that was free a moment ago and has no listener now.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let output = run_client(&[&format!("ws://127.0.0.1:{port}/")], b"").await;
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_exits_4_and_prints_the_status_when_the_handshake_is_refused() {
    let (url, _server) = library_server().await;
    let output = run_client(&[&format!("{url}/no-such-route")], b"").await;
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("HTTP 404 Not Found"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_exits_5_when_a_message_exceeds_max_message_size() {
    let (url, _server) = library_server().await;
    let output = run_client(
        &[
            "--max-message-size",
            "4",
            "-n",
            "1",
            "-d",
            "far too long",
            &format!("{url}/echo"),
        ],
        b"",
    )
    .await;
    assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_exits_7_when_the_server_closes_with_an_error_code() {
    let (url, _server) = library_server().await;
    let output = run_client(&["--no-stdin", &format!("{url}/close4000")], b"").await;
    assert_eq!(output.status.code(), Some(7), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("4000 go away"),
        "{}",
        stderr(&output)
    );
}

// --- weft serve ----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_echoes_text_and_binary_messages() {
    let served = weft_serve(&[]).await;
    let mut ws = connect(&format!("{}/any/path", served.url)).await;
    ws.send(Message::text("hello")).await.expect("send");
    assert_eq!(recv_text(&mut ws).await, "hello");
    ws.send(Message::binary(vec![0, 1, 2])).await.expect("send");
    let echoed = tokio::time::timeout(RUN_LIMIT, ws.recv())
        .await
        .expect("in time");
    assert_eq!(
        echoed.transpose().expect("ok"),
        Some(Message::binary(vec![0, 1, 2]))
    );
    ws.close(CloseCode::NORMAL, "").await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_paths_outside_its_routes_with_404() {
    let served = weft_serve(&["--path", "/only"]).await;
    let output = run_client(&["-n", "0", &format!("{}/other", served.url)], b"").await;
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    let output = run_client(&["-n", "0", &format!("{}/only", served.url)], b"").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_requires_a_protocol_and_prefers_the_order_given() {
    let served = weft_serve(&["--protocol", "chat.v2", "--protocol", "chat.v1"]).await;
    let url = format!("{}/", served.url);
    let output = run_client(
        &[
            "--jsonl",
            "-n",
            "0",
            "--protocol",
            "chat.v1",
            "--protocol",
            "chat.v2",
            &url,
        ],
        b"",
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let open: serde_json::Value =
        serde_json::from_str(stdout(&output).lines().next().expect("open event")).expect("JSON");
    assert_eq!(open["subprotocol"], "chat.v2");

    let output = run_client(&["-n", "0", &url], b"").await;
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_origin_allowlist_refuses_other_origins_with_403() {
    let served = weft_serve(&["--origin", "https://app.example"]).await;
    let url = format!("{}/", served.url);
    let output = run_client(&["-n", "0", "--origin", "https://evil.example", &url], b"").await;
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("HTTP 403 Forbidden"),
        "{}",
        stderr(&output)
    );
    let output = run_client(&["-n", "0", "--origin", "https://app.example", &url], b"").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_exec_cat_turns_messages_into_lines_and_back() {
    let served = weft_serve(&["--exec", "cat"]).await;
    let mut ws = connect(&format!("{}/", served.url)).await;
    ws.send(Message::text("one")).await.expect("send");
    ws.send(Message::text("two")).await.expect("send");
    assert_eq!(recv_text(&mut ws).await, "one");
    assert_eq!(recv_text(&mut ws).await, "two");
    ws.close(CloseCode::NORMAL, "").await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_exec_closes_with_1000_when_the_program_exits() {
    let served = weft_serve(&["--exec", "echo done"]).await;
    let mut ws = connect(&format!("{}/", served.url)).await;
    assert_eq!(recv_text(&mut ws).await, "done");
    let end = tokio::time::timeout(RUN_LIMIT, ws.recv())
        .await
        .expect("in time");
    assert!(end.is_none(), "expected a clean close, got {end:?}");
    assert_eq!(ws.close_frame().map(|f| f.code), Some(CloseCode::NORMAL));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_broadcast_sends_each_message_to_every_other_client() {
    let served = weft_serve(&["--broadcast"]).await;
    let mut alice = connect(&format!("{}/chat", served.url)).await;
    let mut bob = connect(&format!("{}/chat", served.url)).await;
    // Both are registered once each has completed a round trip through the server.
    alice.send(Message::Ping("a".into())).await.expect("ping");
    bob.send(Message::Ping("b".into())).await.expect("ping");
    assert!(matches!(alice.recv().await, Some(Ok(Message::Pong(_)))));
    assert!(matches!(bob.recv().await, Some(Ok(Message::Pong(_)))));

    alice.send(Message::text("hi bob")).await.expect("send");
    assert_eq!(recv_text(&mut bob).await, "hi bob");
    bob.send(Message::text("hi alice")).await.expect("send");
    // Alice's next message is Bob's: her own was not sent back to her.
    assert_eq!(recv_text(&mut alice).await, "hi alice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_sigterm_closes_clients_with_1001_and_exits_0() {
    let mut served = weft_serve(&[]).await;
    let mut ws = connect(&format!("{}/", served.url)).await;
    ws.send(Message::text("ready?")).await.expect("send");
    assert_eq!(recv_text(&mut ws).await, "ready?");

    let pid = served.child.id().expect("pid").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(killed.success());

    let end = tokio::time::timeout(RUN_LIMIT, ws.recv())
        .await
        .expect("in time");
    assert!(end.is_none(), "expected a clean close, got {end:?}");
    assert_eq!(
        ws.close_frame().map(|f| f.code),
        Some(CloseCode::GOING_AWAY)
    );
    let status = tokio::time::timeout(RUN_LIMIT, served.child.wait())
        .await
        .expect("exits in time")
        .expect("status");
    assert_eq!(status.code(), Some(0));
}

// --- TLS -----------------------------------------------------------------------------------

/// A test CA and a server certificate for 127.0.0.1 and localhost, written as PEM files.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Pki {
    fn generate() -> Self {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "weft-cli test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
        let key = KeyPair::generate().expect("server key");
        let cert = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("server params")
            .signed_by(&key, &ca, &ca_key)
            .expect("server certificate");
        let pki = Pki {
            ca: temp_path("ca.pem"),
            cert: temp_path("cert.pem"),
            key: temp_path("key.pem"),
        };
        std::fs::write(&pki.ca, ca.pem()).expect("write CA");
        std::fs::write(&pki.cert, cert.pem()).expect("write cert");
        std::fs::write(&pki.key, key.serialize_pem()).expect("write key");
        pki
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        for path in [&self.ca, &self.cert, &self.key] {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serve_and_client_with_a_test_ca() {
    let pki = Pki::generate();
    let cert = pki.cert.to_string_lossy().into_owned();
    let key = pki.key.to_string_lossy().into_owned();
    let served = weft_serve(&["--tls-cert", &cert, "--tls-key", &key]).await;
    assert!(served.url.starts_with("wss://127.0.0.1:"), "{}", served.url);
    let url = format!("{}/secure", served.url);

    let ca = pki.ca.to_string_lossy().into_owned();
    let output = run_client(&["--cacert", &ca, "-n", "1", "-d", "over TLS", &url], b"").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "over TLS\n");

    // Without the CA the certificate is not trusted: a connection failure.
    let output = run_client(&["-n", "0", &url], b"").await;
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_compresses_by_default_and_not_with_no_compress() {
    let served = weft_serve(&[]).await;
    let mut ws = connect(&served.url).await;
    assert!(
        ws.info()
            .extensions
            .iter()
            .any(|e| e.starts_with("permessage-deflate")),
        "{:?}",
        ws.info().extensions
    );
    let json = "{\"k\":\"value\"}".repeat(200);
    ws.send(Message::text(json.as_str())).await.expect("send");
    assert_eq!(recv_text(&mut ws).await, json);
    let plain = weft_serve(&["--no-compress"]).await;
    let ws = connect(&plain.url).await;
    assert!(ws.info().extensions.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_no_compress_offers_nothing() {
    let served = weft_serve(&[]).await;
    let output = run_client(&["-v", "--no-compress", "-n", "0", &served.url], b"").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        !stderr(&output)
            .to_ascii_lowercase()
            .contains("sec-websocket-extensions")
    );
    let output = run_client(&["-v", "-n", "0", &served.url], b"").await;
    assert!(
        stderr(&output)
            .to_ascii_lowercase()
            .contains("permessage-deflate")
    );
}

#[tokio::test]
async fn serve_drops_a_client_that_stops_reading_after_the_write_timeout() {
    use tokio::io::AsyncReadExt;

    let served = weft_serve(&["--write-timeout", "1", "--ping-interval", "0"]).await;
    let addr = served.url.trim_start_matches("ws://").trim_end_matches('/');
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    // A small receive window, so the echoes back up quickly.
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mut tcp = socket
        .connect(addr.parse().expect("address"))
        .await
        .expect("connect");
    tcp.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .expect("request");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        tcp.read_exact(&mut byte).await.expect("response head");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{head:?}");
    // 64 KiB binary messages under an all-zero mask (the payload as it is), never reading
    // the echoes, until the server stops taking them.
    let mut frame = vec![0x82, 0x80 | 127];
    frame.extend_from_slice(&(64u64 << 10).to_be_bytes());
    frame.extend_from_slice(&[0; 4]);
    frame.resize(frame.len() + (64 << 10), b'x');
    for _ in 0..1000 {
        let sent = tokio::time::timeout(Duration::from_millis(500), tcp.write_all(&frame)).await;
        if !matches!(sent, Ok(Ok(()))) {
            break;
        }
    }
    // Past the write timeout the server has let the connection go: reading now finds what
    // was echoed and then the end, instead of unblocking an echo loop that stays open.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut rest = Vec::new();
    let read = tokio::time::timeout(RUN_LIMIT, tcp.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the server still holds the connection");
}
