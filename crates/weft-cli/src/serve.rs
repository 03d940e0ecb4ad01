//! `weft serve [OPTIONS] ADDR`: an echo, broadcast or exec server on the library's
//! [`Server`], with logging and a graceful shutdown on SIGINT and SIGTERM.

use std::io::{IsTerminal, Write};
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tracing::{info, warn};
use weft::client::tls::ServerTlsOptions;
use weft::proto::Config;
use weft::server::{
    ConnId, Handler, OriginPolicy, Registry, Request, Server, ServerBuilder, ServerStream,
};
use weft::{CloseCode, CloseFrame, Keepalive, Message, WebSocket, WebSocketConfig};

use crate::cli::{LogLevel, ServeArgs};
use crate::exit::{Failure, Status};

/// How long connections get to finish their close handshakes at shutdown.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(5);

/// How long a connection that failed, or whose program exited, may take to finish closing.
const CLOSE_GRACE: Duration = Duration::from_secs(6);

/// Runs the server until a signal, and returns how the process should exit.
pub(crate) async fn run(args: ServeArgs) -> Status {
    init_logging(args.log_level);
    match serve(args).await {
        Ok(()) => Status::Ok,
        Err(error) => {
            eprintln!("weft serve: {error:#}");
            error
                .downcast_ref::<Failure>()
                .map_or(Status::Local, |failure| failure.status)
        }
    }
}

/// What each connection does.
#[derive(Debug, Clone)]
enum Mode {
    Echo,
    Broadcast,
    Exec(Arc<str>),
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let addr = listen_addr(&args.addr)?;
    let mode = match (&args.exec, args.broadcast) {
        (Some(command), _) => Mode::Exec(command.as_str().into()),
        (None, true) => Mode::Broadcast,
        (None, false) => Mode::Echo,
    };

    let mut proto = Config::default();
    if let Some(size) = args.max_message_size {
        proto = proto
            .max_message_size(size)
            .max_frame_size(u64::try_from(size).unwrap_or(u64::MAX));
    }
    let keepalive = (!args.ping_interval.is_zero()).then(|| Keepalive::every(args.ping_interval));
    let config = WebSocketConfig::default()
        .protocol(proto)
        .keepalive(keepalive)
        .write_timeout((!args.write_timeout.is_zero()).then_some(args.write_timeout))
        .deflate(args.compress.deflate());
    let mut builder = Server::builder()
        .bind(addr.clone())
        .config(config)
        .max_connections(args.max_connections);
    if !args.origins.is_empty() {
        builder = builder.origin_policy(OriginPolicy::allow(args.origins.clone()));
    }
    let secure = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let tls = ServerTlsOptions::from_pem_files(cert, key);
            // Checked now so a bad file is a usage error rather than a failure to listen.
            tls.server_config()
                .map_err(|e| Failure::usage(format!("--tls-cert/--tls-key: {e}")))?;
            builder = builder.tls(tls);
            true
        }
        _ => false,
    };
    let paths = if args.paths.is_empty() {
        vec!["/*".to_owned()]
    } else {
        args.paths.clone()
    };
    // Each mode's handler is its own type, so the server holds each connection's future in
    // its task, not behind one more box.
    builder = match &mode {
        Mode::Echo => routes(builder, &paths, &args.protocols, logged(|ws, _| echo(ws))),
        Mode::Broadcast => routes(
            builder,
            &paths,
            &args.protocols,
            logged(|ws, request: Request| broadcast(ws, request.id, request.registry)),
        ),
        Mode::Exec(command) => {
            let command = Arc::clone(command);
            routes(
                builder,
                &paths,
                &args.protocols,
                logged(move |ws, request: Request| {
                    let command = Arc::clone(&command);
                    async move { exec(ws, &request, &command).await }
                }),
            )
        }
    };

    // Signals are caught before the address is announced: whoever reads that line may signal
    // at once, and an uncaught SIGTERM would kill the process instead of shutting it down.
    let signals = Signals::new().context("cannot catch signals")?;
    let server = builder.build().await.map_err(|e| match e {
        weft::Error::Tls(e) => Failure::usage(format!("--tls-cert/--tls-key: {e}")),
        e => Failure::new(Status::Connect, format!("cannot listen on {addr}: {e}")),
    })?;
    let scheme = if secure { "wss" } else { "ws" };
    {
        let mut stdout = std::io::stdout().lock();
        for local in server.local_addrs() {
            writeln!(stdout, "listening on {scheme}://{local}").context("writing stdout")?;
        }
        stdout.flush().context("writing stdout")?;
    }
    info!(addrs = ?server.local_addrs(), ?mode, "listening");

    let handle = server.handle();
    let mut running = tokio::spawn(server.run());
    tokio::select! {
        joined = &mut running => {
            return match joined {
                Ok(result) => result.context("the server stopped"),
                Err(e) => Err(anyhow::anyhow!("the server stopped: {e}")),
            };
        }
        signal = signals.wait() => info!(signal, "shutting down: closing every connection with 1001"),
    }
    if !handle.shutdown(SHUTDOWN_DEADLINE).await {
        warn!(
            left = handle.active(),
            "connections still open after {SHUTDOWN_DEADLINE:?}"
        );
    }
    Ok(())
}

/// `HOST:PORT`, or a bare port for 127.0.0.1.
fn listen_addr(text: &str) -> Result<String, Failure> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(format!("127.0.0.1:{port}"));
    }
    match text.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
            Ok(text.to_owned())
        }
        _ => Err(Failure::usage(format!(
            "ADDR {text:?}: expected HOST:PORT (127.0.0.1:9001, [::]:9001) or PORT"
        ))),
    }
}

fn init_logging(level: LogLevel) {
    let filter = tracing_subscriber::EnvFilter::new(level.directive());
    // Fails only if a subscriber is already set, which then logs for us.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// `handler` on every path, for every subprotocol if any are given.
fn routes<H: Handler + Clone>(
    mut builder: ServerBuilder,
    paths: &[String],
    protocols: &[String],
    handler: H,
) -> ServerBuilder {
    for path in paths {
        if protocols.is_empty() {
            builder = builder.route(path, handler.clone());
        }
        // Routes added first are preferred, so the protocols' order is the server's choice.
        for protocol in protocols {
            builder = builder.route_protocol(path, protocol, handler.clone());
        }
    }
    builder
}

/// A handler that runs `connection` and logs its opening and end.
fn logged<F, Fut>(connection: F) -> impl Handler + Clone
where
    F: Fn(WebSocket<ServerStream>, Request) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = End> + Send + 'static,
{
    move |ws: WebSocket<ServerStream>, request: Request| {
        let log = ConnLog::opened(&request);
        Logged {
            log,
            connection: connection(ws, request),
        }
    }
}

pin_project_lite::pin_project! {
    /// A connection's future and its log lines. Not `async move { log(fut.await) }`, which
    /// would hold the connection's future twice for its whole life.
    struct Logged<F> {
        log: ConnLog,
        #[pin]
        connection: F,
    }
}

impl<F: Future<Output = End>> Future for Logged<F> {
    type Output = Result<(), weft::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let end = std::task::ready!(this.connection.poll(cx));
        this.log.closed(end);
        Poll::Ready(Ok(()))
    }
}

/// How a connection ended: the peer's close frame, and the failure if there was one.
struct End {
    close: Option<CloseFrame>,
    error: Option<weft::Error>,
}

/// What the log lines of one connection carry.
struct ConnLog {
    id: u64,
    peer: std::net::SocketAddr,
}

impl ConnLog {
    fn opened(request: &Request) -> Self {
        let log = ConnLog {
            id: request.id.0,
            peer: request.peer_addr,
        };
        info!(
            id = log.id,
            peer = %log.peer,
            path = %request.path,
            protocol = request.subprotocol.as_deref().unwrap_or("-"),
            "connection opened"
        );
        log
    }

    fn closed(&self, end: End) {
        let (id, peer) = (self.id, self.peer);
        match (end.close, end.error) {
            (_, Some(error)) => info!(id, %peer, %error, "connection failed"),
            (Some(frame), None) => info!(
                id,
                %peer,
                code = frame.code.as_u16(),
                reason = %frame.reason,
                "connection closed"
            ),
            (None, None) => info!(id, %peer, "connection closed"),
        }
    }
}

/// Echoes every text and binary message exactly, nothing else: what the Autobahn testsuite
/// expects of an echo server.
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn would hold its arguments twice"
)]
fn echo(mut ws: WebSocket<ServerStream>) -> impl Future<Output = End> + Send {
    async move {
        let result = loop {
            let message = match ws.recv().await {
                Some(Ok(message)) => message,
                Some(Err(e)) => break Err(e),
                None => break Ok(()),
            };
            if message.is_data() {
                // Queued, not flushed: echoes of messages that arrived together leave in one
                // write when `recv` finds nothing more to hand out.
                if let Err(e) = ws.feed(message).await {
                    break Err(e);
                }
            }
        };
        finish(&mut ws, result).await
    }
}

/// Sends every message to every other connection.
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn would hold its arguments twice"
)]
fn broadcast(
    mut ws: WebSocket<ServerStream>,
    me: ConnId,
    registry: Registry,
) -> impl Future<Output = End> + Send {
    async move {
        let result = async {
            while let Some(message) = ws.recv().await {
                let message = message?;
                if message.is_data() {
                    registry
                        .broadcast_filter(message, |other| other.id != me)
                        .await;
                }
            }
            Ok(())
        }
        .await;
        finish(&mut ws, result).await
    }
}

/// After a failure the library has queued the close frame the error calls for; reading on
/// writes it out and waits for the end, bounded in time.
async fn finish(ws: &mut WebSocket<ServerStream>, result: Result<(), weft::Error>) -> End {
    if result.is_err() {
        let _ = tokio::time::timeout(CLOSE_GRACE, async {
            while ws.next_event().await.is_some() {}
        })
        .await;
    }
    End {
        close: ws.close_frame().cloned(),
        error: result.err(),
    }
}

/// Runs `command` for the connection: its stdout lines become messages, messages become its
/// stdin lines. The connection is split so that neither direction waits for the other: a
/// program blocked writing its output must not stop us from reading the client, and the
/// other way round.
async fn exec(ws: WebSocket<ServerStream>, request: &Request, command: &str) -> End {
    let spawned = Command::new("sh")
        .arg("-c")
        .arg(command)
        .env("WEFT_PEER", request.peer_addr.to_string())
        .env("WEFT_PATH", &request.path)
        .env("WEFT_QUERY", request.query.as_deref().unwrap_or(""))
        .env(
            "WEFT_PROTOCOL",
            request.subprotocol.as_deref().unwrap_or(""),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            warn!(id = request.id.0, error = %e, "cannot run the --exec command");
            let mut ws = ws;
            let _ = ws
                .close(CloseCode::INTERNAL_ERROR, "cannot run the program")
                .await;
            return End {
                close: ws.close_frame().cloned(),
                error: None,
            };
        }
    };
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        // Both were asked for as pipes above, so tokio provides them.
        return End {
            close: None,
            error: None,
        };
    };
    let (mut reader, mut writer) = ws.split();
    let result = {
        let to_client = async {
            let mut lines = BufReader::new(stdout).split(b'\n');
            while let Ok(Some(line)) = lines.next_segment().await {
                let message = match String::from_utf8(line) {
                    Ok(text) => Message::text(text),
                    Err(e) => Message::binary(e.into_bytes()),
                };
                if writer.send(message).await.is_err() {
                    return;
                }
            }
            // The program closed its output (it exited): close normally.
            let _ = writer.close(CloseCode::NORMAL, "").await;
        };
        let from_client = async {
            let mut stdin = Some(stdin);
            while let Some(message) = reader.recv().await {
                let message = message?;
                if !message.is_data() {
                    continue;
                }
                if let Some(pipe) = stdin.as_mut() {
                    let written = async {
                        pipe.write_all(message.payload()).await?;
                        pipe.write_all(b"\n").await
                    };
                    // A program that stopped reading still gets to send; drop its input.
                    if written.await.is_err() {
                        stdin = None;
                    }
                }
            }
            Ok::<(), weft::Error>(())
        };
        tokio::pin!(to_client, from_client);
        tokio::select! {
            () = &mut to_client => {
                // Our close is sent; reading on completes the handshake.
                tokio::time::timeout(CLOSE_GRACE, &mut from_client)
                    .await
                    .unwrap_or(Ok(()))
            }
            result = &mut from_client => result,
        }
    };
    // The connection is over, so is the program.
    let _ = child.start_kill();
    let _ = tokio::time::timeout(Duration::from_secs(1), child.wait()).await;
    End {
        close: reader.close_frame().cloned(),
        error: result.err(),
    }
}

/// SIGINT and SIGTERM, caught from creation on.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// The name of the first signal to arrive.
    async fn wait(mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => "SIGINT",
                _ = self.terminate.recv() => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
            "Ctrl-C"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_port_listens_on_loopback() {
        assert_eq!(listen_addr("9001"), Ok("127.0.0.1:9001".to_owned()));
        assert_eq!(listen_addr("[::1]:0"), Ok("[::1]:0".to_owned()));
        assert_eq!(listen_addr("localhost:80"), Ok("localhost:80".to_owned()));
        assert_eq!(
            listen_addr("nonsense").map_err(|f| f.status),
            Err(Status::Usage)
        );
    }
}
