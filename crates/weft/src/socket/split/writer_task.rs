//! The writer task of a split connection: it owns the transport's write half and the core's
//! sending half, applies the halves' commands in order, and writes in batches.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::Poll;
use std::time::Duration;

use tokio::io::{AsyncWrite, WriteHalf};
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};
use weft_proto::{Message, Reply, Sender, State, UsageError};

use super::Command;
use crate::error::{Error, Result, Timeout};
use crate::server::registry::{Link, Outgoing};
use crate::socket::io::WriteQueue;
use crate::socket::pong_gate::PongGate;

/// Owns the write half and the core's sending half; writes in batches.
pub(super) async fn write_loop<S: AsyncWrite>(
    mut io: WriteHalf<S>,
    mut tx: Sender,
    mut writes: WriteQueue,
    mut commands: mpsc::UnboundedReceiver<Command>,
    mut link: Option<Link>,
    shared: Shared,
    close_timeout: Duration,
) {
    let mut deadline: Option<tokio::time::Instant> = None;
    let mut flushes: Vec<oneshot::Sender<Result<()>>> = Vec::new();
    // Registry mail went back to wait for a message of the handler's to be whole: none is
    // taken again until the handler's next command.
    let mut mail_waits = false;
    loop {
        let next = next_command(&mut commands, link.as_mut().filter(|_| !mail_waits));
        let next = match deadline {
            Some(at) => match tokio::time::timeout_at(at, next).await {
                Ok(next) => next,
                Err(_) => break,
            },
            None => next.await,
        };
        let mut released = 0usize;
        let mut command = match next {
            Some(Next::Command(command)) => Some(command),
            Some(Next::Mail(out)) => {
                if let Some(out) = apply_mail(&mut tx, out) {
                    if let Some(link) = link.as_mut() {
                        link.put_back(out);
                    }
                    mail_waits = true;
                }
                None
            }
            None => break,
        };
        // Take everything already queued, so one vectored write carries many messages.
        while let Some(c) = command.take() {
            released += apply(&mut tx, c, &mut flushes, &shared);
            mail_waits = false;
            command = commands.try_recv().ok();
        }
        // Once closing, the handshake (and a client's wait for the server to close TCP, which
        // the reader reports as EOF) gets the close timeout, then the transport is closed:
        // writing the close frame to a peer that stopped reading included.
        if tx.state() != State::Open && deadline.is_none() {
            deadline = Some(tokio::time::Instant::now() + close_timeout);
        }
        let written = loop {
            let drain = poll_fn(|cx| writes.poll_drain(&mut io, &mut tx, cx));
            match deadline {
                Some(at) => match tokio::time::timeout_at(at, drain).await {
                    Ok(written) => break Some(written),
                    Err(_) => break None,
                },
                None => tokio::select! {
                    biased;
                    written = drain => break Some(written),
                    // The halves were dropped or closed while this waits on the peer: the
                    // close they queued behind it gets the close timeout from now.
                    () = shared.closing.notified() => {
                        deadline = Some(tokio::time::Instant::now() + close_timeout);
                    }
                },
            }
        };
        let Some(written) = written else { break };
        shared.permits.add_permits(released);
        let failed = written.is_err();
        for ack in flushes.drain(..) {
            let _ = ack.send(match &written {
                Ok(()) => Ok(()),
                Err(e) => Err(WriteFailure::from(e).error()),
            });
        }
        if let Err(e) = &written {
            let _ = shared.failure.set(WriteFailure::from(e));
        }
        if failed || writes.shut_down {
            break;
        }
    }
    shared.permits.close();
    // Bounded, by what is left of the close timeout if one runs: a TLS shutdown writes its
    // close_notify, which a peer that stopped reading would never take. (Polled at least
    // once however late: a TCP shutdown is done at once.)
    let shutdown = poll_fn(|cx| Pin::new(&mut io).poll_shutdown(cx));
    let until = deadline.unwrap_or_else(|| tokio::time::Instant::now() + close_timeout);
    let _ = tokio::time::timeout_at(until, shutdown).await;
}

/// What the writer task does next.
enum Next {
    /// What the halves asked.
    Command(Command),
    /// What the server registry queued for this connection.
    Mail(Outgoing),
}

/// The next command, or what the server registry queued for this connection.
async fn next_command(
    commands: &mut mpsc::UnboundedReceiver<Command>,
    link: Option<&mut Link>,
) -> Option<Next> {
    let Some(link) = link else {
        return commands.recv().await.map(Next::Command);
    };
    let from_registry = poll_fn(|cx| match link.poll_take(cx) {
        Some(out) => Poll::Ready(out),
        None => Poll::Pending,
    });
    tokio::select! {
        biased;
        command = commands.recv() => command.map(Next::Command),
        out = from_registry => Some(Next::Mail(out)),
    }
}

/// What the writer task shares with the halves: the write-buffer permits the writer's
/// callers take, the PONGs the reader hands over, and which of the reader's keepalive PINGs
/// could not be sent.
pub(super) struct Shared {
    pub(super) permits: Arc<Semaphore>,
    pub(super) pongs: Arc<PongGate>,
    pub(super) ping_unsent: Arc<AtomicU64>,
    pub(super) failure: Arc<OnceLock<WriteFailure>>,
    /// Told when the writer half closes or is dropped.
    pub(super) closing: Arc<Notify>,
}

/// A failed write of the writer task, kept for every caller that asks after it.
#[derive(Debug)]
pub(super) enum WriteFailure {
    /// The write timeout passed.
    Stalled,
    /// The transport failed.
    Io(std::io::ErrorKind, String),
}

impl From<&std::io::Error> for WriteFailure {
    fn from(error: &std::io::Error) -> Self {
        if crate::error::is_write_stall(error) {
            WriteFailure::Stalled
        } else {
            WriteFailure::Io(error.kind(), error.to_string())
        }
    }
}

impl WriteFailure {
    pub(super) fn error(&self) -> Error {
        match self {
            WriteFailure::Stalled => Error::Timeout(Timeout::Write),
            WriteFailure::Io(kind, message) => {
                Error::Io(std::io::Error::new(*kind, message.clone()))
            }
        }
    }
}

/// Applies registry mail; returns it when it must wait for a message the handler has half
/// sent. Mail for a connection already closing is dropped, as a send would fail.
fn apply_mail(tx: &mut Sender, out: Outgoing) -> Option<Outgoing> {
    let result = match &out {
        Outgoing::Encoded(frame) => tx.send_encoded(frame),
        Outgoing::Close(code, reason) => tx.close(*code, reason),
    };
    match result {
        Err(UsageError::MessageInProgress | UsageError::FrameInProgress) => Some(out),
        _ => None,
    }
}

/// Applies one command to the core; returns the write-buffer permits it held.
fn apply(
    tx: &mut Sender,
    command: Command,
    flushes: &mut Vec<oneshot::Sender<Result<()>>>,
    shared: &Shared,
) -> usize {
    let (result, permits) = match command {
        Command::Reply(reply) => {
            if matches!(reply, Reply::Pong(_)) {
                shared.pongs.taken();
            }
            tx.handle_reply(reply);
            (Ok(()), 0)
        }
        Command::LatestPong => {
            if let Some(payload) = shared.pongs.take_latest() {
                tx.handle_reply(Reply::Pong(payload));
            }
            (Ok(()), 0)
        }
        Command::Send(message, permits) => (tx.send(message), permits),
        Command::KeepalivePing(payload, number) => {
            // Closing, or a declared frame of ours half sent: no PING can go now.
            let sent = tx.send(Message::Ping(payload));
            if sent.is_err() {
                shared.ping_unsent.store(number, Ordering::Release);
            }
            (sent, 0)
        }
        Command::Frame(kind, data, fin, permits) => (tx.send_frame(kind, data, fin), permits),
        Command::StartFrame(kind, len, fin) => (tx.start_frame(kind, len, fin), 0),
        Command::FrameData(data, permits) => (tx.send_frame_data(data), permits),
        Command::Close(code, reason) => (tx.close(code, &reason), 0),
        Command::Flush(ack) => {
            flushes.push(ack);
            (Ok(()), 0)
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "split writer dropped a command");
    }
    permits as usize
}
