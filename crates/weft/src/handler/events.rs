//! Tcl's callback model: a handler is called once per event of the connection's life.

use std::future::Future;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use weft_proto::{CloseCode, CloseFrame, Event, Message, Text, UsageError};

use super::HandlerError;
use crate::error::{Error, Result, Timeout};
use crate::info::Info;
use crate::socket::WebSocket;

/// What a handler method may do with its connection while it runs.
///
/// Borrowed for the length of one call, so a handler can reply but cannot keep the connection.
#[derive(Debug)]
pub struct Session<'a, S> {
    ws: &'a mut WebSocket<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Session<'_, S> {
    /// Sends a message and waits until it is written.
    ///
    /// # Errors
    ///
    /// [`Error::Usage`] once the connection is closing, [`Error::Io`] if the write fails.
    pub async fn send(&mut self, message: Message) -> Result<()> {
        self.ws.send(message).await
    }

    /// Sends a text message.
    ///
    /// # Errors
    ///
    /// As for [`send`](Self::send).
    pub async fn send_text(&mut self, text: &str) -> Result<()> {
        self.ws.send(Message::text(text)).await
    }

    /// Sends a binary message.
    ///
    /// # Errors
    ///
    /// As for [`send`](Self::send).
    pub async fn send_binary(&mut self, data: impl Into<Bytes>) -> Result<()> {
        self.ws.send(Message::Binary(data.into())).await
    }

    /// Runs the close handshake to its end (see [`WebSocket::close`]). Events that arrive
    /// meanwhile are dropped, except the peer's close frame, which still reaches
    /// [`EventHandler::on_close`] once this call's handler method has returned.
    ///
    /// # Errors
    ///
    /// As for [`WebSocket::close`].
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<()> {
        self.ws.close(code, reason).await
    }

    /// A snapshot of the connection (Tcl's `conninfo`).
    pub fn info(&self) -> Info {
        self.ws.info()
    }
}

/// Application code called for each event of a connection (Tcl's handler command), driven by
/// [`run_events`].
///
/// Every method has a default that does nothing, so a handler implements only the events it
/// cares about, with `async fn`. A method that returns `Err` ends the connection: it is
/// closed with 1011 (internal error), no further method is called but
/// [`on_disconnect`](Self::on_disconnect), and [`run_events`] returns the error.
///
/// PINGs are answered and the close handshake is completed for the handler; `on_ping` and
/// `on_close` only report them.
///
/// Implement it for every transport with the [`Transport`](super::Transport) bound:
///
/// ```
/// use weft::Text;
/// use weft::handler::{EventHandler, HandlerError, Session, Transport};
///
/// struct Shout;
///
/// impl<S: Transport> EventHandler<S> for Shout {
///     async fn on_text(
///         &mut self,
///         session: &mut Session<'_, S>,
///         text: Text,
///     ) -> Result<(), HandlerError> {
///         session.send_text(&text.as_str().to_uppercase()).await?;
///         Ok(())
///     }
/// }
/// ```
pub trait EventHandler<S>: Send {
    /// The connection is open; called first, before any message.
    ///
    /// # Errors
    ///
    /// The handler's own failure, which closes the connection with 1011.
    fn on_connect(
        &mut self,
        session: &mut Session<'_, S>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = session;
        async { Ok(()) }
    }

    /// A whole text message arrived.
    ///
    /// # Errors
    ///
    /// The handler's own failure, which closes the connection with 1011.
    fn on_text(
        &mut self,
        session: &mut Session<'_, S>,
        text: Text,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = (session, text);
        async { Ok(()) }
    }

    /// A whole binary message arrived.
    ///
    /// # Errors
    ///
    /// The handler's own failure, which closes the connection with 1011.
    fn on_binary(
        &mut self,
        session: &mut Session<'_, S>,
        data: Bytes,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = (session, data);
        async { Ok(()) }
    }

    /// A PING arrived; its PONG is already on its way.
    ///
    /// # Errors
    ///
    /// The handler's own failure, which closes the connection with 1011.
    fn on_ping(
        &mut self,
        session: &mut Session<'_, S>,
        payload: Bytes,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = (session, payload);
        async { Ok(()) }
    }

    /// A PONG arrived (keepalive answers included).
    ///
    /// # Errors
    ///
    /// The handler's own failure, which closes the connection with 1011.
    fn on_pong(
        &mut self,
        session: &mut Session<'_, S>,
        payload: Bytes,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = (session, payload);
        async { Ok(()) }
    }

    /// The peer's close frame arrived (Tcl's `close`: closure is pending). Its echo is sent
    /// for the handler; messages can no longer be sent. Called at most once.
    ///
    /// # Errors
    ///
    /// The handler's own failure, which is logged and returned by [`run_events`].
    fn on_close(
        &mut self,
        session: &mut Session<'_, S>,
        frame: &CloseFrame,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = (session, frame);
        async { Ok(()) }
    }

    /// A deadline passed: [`Timeout::Pong`] or [`Timeout::Idle`] (the connection is then
    /// closed with 1001), or [`Timeout::Close`] (the peer did not finish the close handshake).
    ///
    /// # Errors
    ///
    /// The handler's own failure, which closes the connection with 1011 if it is still open.
    fn on_timeout(
        &mut self,
        which: Timeout,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = which;
        async { Ok(()) }
    }

    /// The connection failed: the peer broke the protocol, the transport failed, or it ended
    /// without a close frame ([`Error::ConnectionLost`]). May be called more than once as the
    /// connection winds down.
    ///
    /// # Errors
    ///
    /// The handler's own failure, which closes the connection with 1011 if it is still open.
    fn on_error(&mut self, error: &Error) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = error;
        async { Ok(()) }
    }

    /// The connection is over; called exactly once, last, whatever happened before.
    ///
    /// # Errors
    ///
    /// The handler's own failure, which is logged and returned by [`run_events`].
    fn on_disconnect(
        &mut self,
        info: &Info,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = info;
        async { Ok(()) }
    }
}

/// Lends a handler to [`run_events`], so its state can be read once the connection is over.
impl<S, H: EventHandler<S>> EventHandler<S> for &mut H {
    fn on_connect(
        &mut self,
        session: &mut Session<'_, S>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).on_connect(session)
    }

    fn on_text(
        &mut self,
        session: &mut Session<'_, S>,
        text: Text,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).on_text(session, text)
    }

    fn on_binary(
        &mut self,
        session: &mut Session<'_, S>,
        data: Bytes,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).on_binary(session, data)
    }

    fn on_ping(
        &mut self,
        session: &mut Session<'_, S>,
        payload: Bytes,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).on_ping(session, payload)
    }

    fn on_pong(
        &mut self,
        session: &mut Session<'_, S>,
        payload: Bytes,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).on_pong(session, payload)
    }

    fn on_close(
        &mut self,
        session: &mut Session<'_, S>,
        frame: &CloseFrame,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).on_close(session, frame)
    }

    fn on_timeout(
        &mut self,
        which: Timeout,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).on_timeout(which)
    }

    fn on_error(&mut self, error: &Error) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).on_error(error)
    }

    fn on_disconnect(
        &mut self,
        info: &Info,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).on_disconnect(info)
    }
}

/// Drives `ws` to its end, calling `handler` for each event (Tcl's `takeover`).
///
/// [`on_connect`](EventHandler::on_connect) comes first; then each message, the peer's close
/// frame, timeouts ([`Error::Timeout`]) and other errors as they happen;
/// [`on_disconnect`](EventHandler::on_disconnect) comes last, exactly once. Errors of the
/// connection go to the handler and do not make this call fail.
///
/// Needs message mode: fragment and raw mode events are reported to
/// [`on_error`](EventHandler::on_error) as [`UsageError::WrongMode`] and end the connection.
///
/// # Errors
///
/// The first error a handler method returned (logged with `tracing::warn!`); the connection
/// was then closed with 1011 (internal error) if it was still open. An error from
/// `on_disconnect` is returned if nothing failed before.
///
/// # Cancel safety
///
/// Not cancel safe: dropping the future drops the connection, which then closes with 1000 in
/// the background, and `on_disconnect` is not called.
pub async fn run_events<S, H>(mut ws: WebSocket<S>, mut handler: H) -> Result<(), HandlerError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: EventHandler<S>,
{
    let outcome = dispatch(&mut ws, &mut handler).await;
    if let Err(error) = &outcome {
        tracing::warn!(%error, "websocket event handler failed; closing with 1011");
        close_after_failure(&mut ws).await;
    }
    let last = handler.on_disconnect(&ws.info()).await;
    if let Err(error) = &last {
        tracing::warn!(%error, "websocket event handler failed in on_disconnect");
    }
    outcome.and(last)
}

/// Calls the handler for each event until the connection is over or a handler method fails.
async fn dispatch<S, H>(ws: &mut WebSocket<S>, handler: &mut H) -> Result<(), HandlerError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: EventHandler<S>,
{
    handler.on_connect(&mut Session { ws: &mut *ws }).await?;
    let mut close_reported = false;
    while let Some(event) = ws.next_event().await {
        let mut session = Session { ws: &mut *ws };
        match event {
            Ok(Event::Message(Message::Text(text))) => handler.on_text(&mut session, text).await?,
            Ok(Event::Message(Message::Binary(data))) => {
                handler.on_binary(&mut session, data).await?;
            }
            Ok(Event::Message(Message::Ping(payload))) => {
                handler.on_ping(&mut session, payload).await?;
            }
            Ok(Event::Message(Message::Pong(payload))) => {
                handler.on_pong(&mut session, payload).await?;
            }
            // The core reports a transport that ended without a close frame as a close with
            // 1006; to a handler that is a failure, as `recv` makes it.
            Ok(Event::Close(frame)) if frame.code == CloseCode::ABNORMAL => {
                handler.on_error(&Error::ConnectionLost).await?;
            }
            Ok(Event::Close(frame)) => {
                close_reported = true;
                handler.on_close(&mut session, &frame).await?;
            }
            Ok(_) => {
                let error = Error::Usage(UsageError::WrongMode);
                handler.on_error(&error).await?;
                return Err(error.into());
            }
            Err(Error::Timeout(which)) => handler.on_timeout(which).await?,
            Err(error) => handler.on_error(&error).await?,
        }
    }
    // A handler that ran the close handshake itself through `Session::close` consumed the
    // peer's close frame inside that call; it is reported now, so `on_close` does not depend
    // on who closed first.
    if !close_reported {
        if let Some(frame) = ws.close_frame().cloned() {
            if frame.code != CloseCode::ABNORMAL {
                handler.on_close(&mut Session { ws }, &frame).await?;
            }
        }
    }
    Ok(())
}

/// Closes with 1011 after a handler failed, or finishes the close already under way.
async fn close_after_failure<S>(ws: &mut WebSocket<S>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // The reason is fixed: the handler's error text is for the log, not for the peer.
    if ws
        .close(CloseCode::INTERNAL_ERROR, "internal error")
        .await
        .is_err()
    {
        // Closing was refused because a close is already under way (or the connection is
        // over); drive it to its end, bounded by the close timeout.
        while ws.next_event().await.is_some() {}
    }
}
