//! `weft [OPTIONS] URL`: connect, then pipe stdin to the server and the server to stdout.
//!
//! The connection is split: this task reads (and writes stdout) while a sender task writes
//! what stdin and `-d` provide. Reading and writing in one task would deadlock against an
//! echo server once both directions' buffers fill (we would wait to write while it waits for
//! us to read).

use std::future::pending;
use std::io;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep, sleep_until};
use weft::client::MaybeTlsStream;
use weft::client::proxy::Proxy;
use weft::client::tls::{Roots, TlsOptions};
use weft::proto::{Config, HandshakeError};
use weft::{
    ClientBuilder, CloseCode, CloseFrame, Event, Keepalive, Message, WebSocket, WebSocketConfig,
    WsWriter,
};

use crate::cli::{ClientArgs, Linger};
use crate::exit::{Failure, Status, refusal};
use crate::input::{self, Encoder, Framing, Piece};
use crate::output::{BinaryFormat, Output, print_head, response_head};

/// How long the close handshake may take once started; the library closes the transport
/// after its own close timeout (5 s), this only guards against a peer that keeps TCP open.
const CLOSE_GRACE: Duration = Duration::from_secs(6);

/// Runs the client to the end and returns how the process should exit.
pub(crate) async fn run(args: ClientArgs) -> Status {
    let output = Output::new(
        if args.hex {
            BinaryFormat::Hex
        } else if args.base64 {
            BinaryFormat::Base64
        } else {
            BinaryFormat::Raw
        },
        if args.null { b'\0' } else { b'\n' },
        args.jsonl,
        args.verbose,
        args.show_pings,
    );
    match session(&args, &output).await {
        Ok(()) => Status::Ok,
        Err(failure) => {
            output.error(&failure);
            failure.status
        }
    }
}

async fn session(args: &ClientArgs, output: &Output) -> Result<(), Failure> {
    // clap requires the URL when there is no subcommand; this only keeps a missing one from
    // panicking if that ever changes.
    let url = args
        .url
        .as_deref()
        .ok_or_else(|| Failure::usage("a URL is required"))?;
    // Everything that can be wrong with the options is found before connecting.
    let data = input::initial_data(&args.data)?;
    let mut encoder = Encoder::new(args.binary);
    // Raw mode sends the bytes as they are; otherwise each becomes a message now, so text
    // that is not UTF-8 is refused before connecting.
    let (raw_data, initial) = if args.raw {
        (data, Vec::new())
    } else {
        let messages = data
            .into_iter()
            .map(|data| encoder.whole(data, "-d argument"))
            .collect::<Result<Vec<_>, _>>()?;
        (Vec::new(), messages)
    };
    let builder = builder(args, url)?;

    let (ws, response) = builder.connect_with_response().await.map_err(|error| {
        if let Some(HandshakeError::UnexpectedStatus {
            status, headers, ..
        }) = refusal(&error)
        {
            if args.verbose {
                print_head("< ", &response_head(*status, headers));
            }
        }
        let mut failure = Failure::connecting(&error);
        if failure.status != Status::Refused {
            failure.message = format!("{url}: {}", failure.message);
        }
        failure
    })?;
    if args.verbose {
        print_head("< ", &response_head(response.status(), response.headers()));
    }
    output.open(url, ws.subprotocol()).map_err(stdout_failed)?;

    // -n with -d is a request and its replies: stdin is not part of it.
    let request_reply = args.count.is_some() && !args.data.is_empty();
    let read_stdin = !args.no_stdin && args.count != Some(0) && !request_reply;
    if args.raw {
        let stdin = read_stdin.then(|| input::spawn_stdin(Framing::Chunks));
        return raw_exchange(ws, raw_data, stdin, args, output).await;
    }
    let framing = if args.no_line {
        Framing::Chunks
    } else if args.null {
        Framing::Records(b'\0')
    } else {
        Framing::Records(b'\n')
    };
    let plan = Sending {
        initial,
        stdin: read_stdin.then(|| input::spawn_stdin(framing)),
        encoder,
        chunked: framing == Framing::Chunks,
        close_at_eof: args.count.is_none(),
        only_initial: args.count == Some(0),
        linger: args.linger,
    };
    exchange(ws, plan, args.count, output).await
}

/// The connection's settings from the options.
fn builder(args: &ClientArgs, url: &str) -> Result<ClientBuilder, Failure> {
    let mut proto = Config::default()
        .auto_pong(!args.no_auto_pong)
        .raw_mode(args.raw);
    if let Some(size) = args.max_message_size {
        proto = proto
            .max_message_size(size)
            .max_frame_size(u64::try_from(size).unwrap_or(u64::MAX));
    }
    // Keepalive PINGs would be injected into a raw byte stream the user is building.
    let keepalive = (!args.ping_interval.is_zero() && !args.raw).then(|| {
        Keepalive::every(args.ping_interval)
            .timeout(args.ping_timeout.unwrap_or(args.ping_interval))
    });
    let config = WebSocketConfig::default()
        .protocol(proto)
        .keepalive(keepalive)
        .deflate(args.compress.deflate());

    let mut builder = ClientBuilder::new(url).config(config).tls(tls(args)?);
    for header in &args.headers {
        let (name, value) = header
            .split_once(':')
            .filter(|(name, _)| !name.trim().is_empty())
            .ok_or_else(|| Failure::usage(format!("-H {header:?}: expected `Name: value`")))?;
        builder = builder.header(name.trim(), value.trim());
    }
    for protocol in &args.protocols {
        builder = builder.protocol(protocol);
    }
    if let Some(origin) = &args.origin {
        builder = builder.origin(origin);
    }
    if let Some(timeout) = args.connect_timeout {
        builder = builder.connect_timeout(timeout).handshake_timeout(timeout);
    }
    if let Some(proxy) = &args.proxy {
        let proxy = Proxy::parse(proxy).map_err(|e| Failure::usage(format!("--proxy: {e}")))?;
        builder = builder.proxy(proxy);
    }
    if args.verbose {
        builder = builder.inspect_request(|request| {
            print_head("> ", &String::from_utf8_lossy(request));
        });
    }
    Ok(builder)
}

/// TLS settings; files named by options are read now so a bad one is a usage error (2), not
/// a connection failure (3).
fn tls(args: &ClientArgs) -> Result<TlsOptions, Failure> {
    let mut tls = TlsOptions::new();
    if let Some(ca) = &args.cacert {
        tls = tls.roots(Roots::None).add_ca_pem_file(ca);
    }
    if args.insecure {
        tls = tls.danger_accept_invalid_certs(true);
    }
    if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
        tls = tls.client_auth_pem_files(cert, key);
    }
    if args.cacert.is_some() || args.cert.is_some() {
        // The configuration is cached, so connecting does not read the files again.
        tls.client_config()
            .map_err(|e| Failure::usage(format!("TLS options: {e}")))?;
    }
    Ok(tls)
}

/// What the sender task sends, and when it closes.
struct Sending {
    initial: Vec<Message>,
    stdin: Option<mpsc::Receiver<Piece>>,
    encoder: Encoder,
    chunked: bool,
    /// Close (after the linger) when stdin ends; not with `-n`, which closes on its count.
    close_at_eof: bool,
    /// `-n 0`: close right after the initial data.
    only_initial: bool,
    linger: Linger,
}

/// The client's life after the handshake, in normal (message) mode.
async fn exchange(
    ws: WebSocket<MaybeTlsStream>,
    plan: Sending,
    count: Option<u64>,
    output: &Output,
) -> Result<(), Failure> {
    let (mut reader, writer) = ws.split();
    let (stop, stopped) = oneshot::channel();
    let mut stop = Some(stop);
    let mut sender = tokio::spawn(send_all(writer, plan, stopped));
    let mut sender_done = false;

    let mut received = 0u64;
    let mut receiving = count != Some(0);
    // Set once this side has started closing (or the end is otherwise near): how long the
    // rest may take.
    let mut deadline: Option<Instant> = None;
    let mut we_closed = false;
    let mut failure: Option<Failure> = None;
    let mut peer_close: Option<CloseFrame> = None;

    loop {
        tokio::select! {
            event = reader.next_event() => match event {
                None => break,
                Some(Ok(Event::Message(message))) => {
                    let written = match &message {
                        Message::Ping(data) => output.ping(data),
                        Message::Pong(data) => output.pong(data, reader.rtt()),
                        _ if !receiving => Ok(()),
                        _ => {
                            received += 1;
                            if Some(received) == count {
                                receiving = false;
                                we_closed = true;
                                signal(&mut stop, Stop::Close);
                            }
                            output.message(&message)
                        }
                    };
                    if let Err(e) = written {
                        // Nobody reads our output any more: close, and say why on exit.
                        receiving = false;
                        we_closed = true;
                        signal(&mut stop, Stop::Close);
                        failure.get_or_insert(stdout_failed(e));
                    }
                }
                Some(Ok(Event::Close(frame))) => {
                    // A failure to report this on stdout changes nothing: the end is here.
                    let _ = output.close(&frame);
                    if frame.code == CloseCode::ABNORMAL {
                        // Even after our close: the server never answered it, and replies
                        // still on their way may be lost.
                        failure.get_or_insert(Failure::new(
                            Status::Abnormal,
                            "connection lost without a close frame",
                        ));
                    } else if !we_closed && !is_normal(frame.code) {
                        failure.get_or_insert(Failure::new(
                            Status::Abnormal,
                            format!("closed by the server: {} {}", frame.code.as_u16(), frame.reason)
                                .trim_end()
                                .to_owned(),
                        ));
                    } else {
                        output.verbose("close handshake complete");
                    }
                    peer_close = Some(frame);
                    // The server is done; nothing more of ours will be read. The sender
                    // writes out what the reader owes (the close echo), then stops.
                    signal(&mut stop, Stop::Flush);
                    deadline.get_or_insert(Instant::now() + CLOSE_GRACE);
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => {
                    failure.get_or_insert(Failure::open(&error));
                    signal(&mut stop, Stop::Flush);
                    deadline.get_or_insert(Instant::now() + Duration::from_secs(1));
                }
            },
            joined = &mut sender, if !sender_done => {
                sender_done = true;
                match joined {
                    Ok(Ok(Sent::Done)) => {
                        we_closed = true;
                        deadline.get_or_insert(Instant::now() + CLOSE_GRACE);
                    }
                    // The sender closed after a failure of our own input.
                    Ok(Err(input_failure)) => {
                        we_closed = true;
                        failure.get_or_insert(input_failure);
                        deadline.get_or_insert(Instant::now() + CLOSE_GRACE);
                    }
                    // The connection is ending for another reason, which the reader reports.
                    Ok(Ok(Sent::Flush | Sent::Gone)) | Err(_) => {}
                }
            }
            () = sleep_until_opt(deadline) => {
                if peer_close.is_none() && failure.is_none() {
                    failure = Some(Failure::new(
                        Status::Timeout,
                        "the server did not finish the close handshake in time",
                    ));
                }
                break;
            }
        }
    }
    if !sender_done {
        // The connection is over; the sender may still be writing the close echo out.
        signal(&mut stop, Stop::Flush);
        match tokio::time::timeout(Duration::from_secs(1), &mut sender).await {
            // The sender may have failed on our input just before the end was read.
            Ok(Ok(Err(input_failure))) => {
                failure.get_or_insert(input_failure);
            }
            Ok(_) => {}
            Err(_) => sender.abort(),
        }
    }
    if let Some(failure) = failure {
        return Err(failure);
    }
    if peer_close.is_none() && !we_closed {
        return Err(Failure::new(
            Status::Abnormal,
            "connection ended without a close frame",
        ));
    }
    Ok(())
}

/// The sender task: `-d` messages, then stdin, then the close. Returns after sending the
/// close frame, or when the connection can take no more.
async fn send_all(
    mut writer: WsWriter,
    plan: Sending,
    mut stop: oneshot::Receiver<Stop>,
) -> Result<Sent, Failure> {
    let Sending {
        initial,
        stdin,
        mut encoder,
        chunked,
        close_at_eof,
        only_initial,
        linger,
    } = plan;
    let work = async {
        for message in initial {
            if writer.send(message).await.is_err() {
                return Ok(Sent::Gone);
            }
        }
        if only_initial {
            return Ok(Sent::Done);
        }
        if let Some(mut stdin) = stdin {
            while let Some(piece) = stdin.recv().await {
                let bytes = piece
                    .map_err(|e| Failure::new(Status::Local, format!("cannot read stdin: {e}")))?;
                let message = if chunked {
                    encoder.chunk(bytes)?
                } else {
                    Some(encoder.whole(bytes, "stdin line")?)
                };
                if let Some(message) = message {
                    if writer.send(message).await.is_err() {
                        return Ok(Sent::Gone);
                    }
                }
            }
            encoder.finish()?;
            if close_at_eof {
                match linger {
                    Linger::For(time) => sleep(time).await,
                    Linger::Forever => pending().await,
                }
                return Ok(Sent::Done);
            }
        }
        // Nothing more to send: wait for -n's count or the server's close.
        pending().await
    };
    let outcome = tokio::select! {
        outcome = work => outcome,
        // Asked to stop: -n was reached (close), or the server closed (flush). A reader
        // that is gone without a word means the same as the latter.
        stop = &mut stop => match stop {
            Ok(Stop::Close) => Ok(Sent::Done),
            Ok(Stop::Flush) | Err(_) => Ok(Sent::Flush),
        },
    };
    match outcome {
        // Our close, after the data and the linger, or after a failure of our own input; a
        // connection already closing refuses it, which is fine.
        Ok(Sent::Done) | Err(_) => {
            let _ = writer.close(CloseCode::NORMAL, "").await;
        }
        Ok(Sent::Flush) => {
            let _ = writer.flush().await;
        }
        Ok(Sent::Gone) => {}
    }
    outcome
}

/// Why the reader stops the sender.
#[derive(Debug, Clone, Copy)]
enum Stop {
    /// Close the connection with 1000.
    Close,
    /// The connection is ending anyway: write out what is queued, the close echo included.
    Flush,
}

/// How the sender's work ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    /// Everything was sent; close.
    Done,
    /// Stopped because the connection is ending; write out what is queued.
    Flush,
    /// The connection refused more data: it is closing or lost, which the reader reports.
    Gone,
}

/// `--raw`: bytes both ways, no frames. The peer closing TCP is the normal end.
async fn raw_exchange(
    mut ws: WebSocket<MaybeTlsStream>,
    initial: Vec<Vec<u8>>,
    mut stdin: Option<mpsc::Receiver<Piece>>,
    args: &ClientArgs,
    output: &Output,
) -> Result<(), Failure> {
    for data in initial {
        ws.send_raw(Bytes::from(data))
            .await
            .map_err(|e| Failure::open(&e))?;
    }
    if args.count == Some(0) {
        return Ok(());
    }
    let mut reads = 0u64;
    let mut deadline: Option<Instant> = None;
    loop {
        tokio::select! {
            event = ws.next_event() => match event {
                // In raw mode the end of the stream is reported as a 1006 close: it is the
                // only way a raw connection ends.
                None | Some(Ok(Event::Close(_))) => return Ok(()),
                Some(Ok(Event::Raw(bytes))) => {
                    output.raw(&bytes).map_err(stdout_failed)?;
                    reads += 1;
                    if Some(reads) == args.count {
                        return Ok(());
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(Failure::open(&error)),
            },
            piece = recv_opt(&mut stdin) => match piece {
                Some(Ok(bytes)) => ws
                    .send_raw(Bytes::from(bytes))
                    .await
                    .map_err(|e| Failure::open(&e))?,
                Some(Err(e)) => {
                    return Err(Failure::new(Status::Local, format!("cannot read stdin: {e}")));
                }
                None => {
                    stdin = None;
                    if let (Linger::For(time), None) = (args.linger, args.count) {
                        deadline = Some(Instant::now() + time);
                    }
                }
            },
            () = sleep_until_opt(deadline) => return Ok(()),
        }
    }
}

/// Close codes that end the process with 0: 1000, 1001, and a close frame without a code.
fn is_normal(code: CloseCode) -> bool {
    code == CloseCode::NORMAL || code == CloseCode::GOING_AWAY || code == CloseCode::NO_STATUS
}

/// Tells the sender to stop, once.
fn signal(stop: &mut Option<oneshot::Sender<Stop>>, how: Stop) {
    if let Some(stop) = stop.take() {
        // A sender that already finished needs no telling.
        let _ = stop.send(how);
    }
}

fn stdout_failed(error: io::Error) -> Failure {
    Failure::new(Status::Local, format!("cannot write stdout: {error}"))
}

async fn recv_opt(stdin: &mut Option<mpsc::Receiver<Piece>>) -> Option<Piece> {
    match stdin {
        Some(stdin) => stdin.recv().await,
        None => pending().await,
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(at) => sleep_until(at).await,
        None => pending().await,
    }
}
