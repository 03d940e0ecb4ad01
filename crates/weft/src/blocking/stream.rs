//! The transport of a blocking client (plain TCP or TLS over it), and the two things a
//! connection needs from a transport beyond `Read + Write`: a read timeout, to bound the close
//! handshake, and a half-close, to end it (RFC 6455 §7.1.1).

use std::any::Any;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use rustls::{ClientConnection, ConnectionCommon, ServerConnection, SideData, StreamOwned};

/// A `ws://` (plain TCP) or `wss://` (TLS) stream over `std::net`, as
/// [`connect`](super::connect) returns it.
#[derive(Debug)]
#[non_exhaustive]
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    /// The TCP stream underneath, for its addresses and socket options (timeouts set here
    /// apply to the WebSocket's reads and writes).
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => tls.get_ref(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.read(buf),
            Stream::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.write(buf),
            Stream::Tls(tls) => tls.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.write_vectored(bufs),
            // StreamOwned keeps io::Write's one-buffer default; the borrowed Stream gathers
            // all of them into the TLS records.
            Stream::Tls(tls) => {
                let StreamOwned { conn, sock } = &mut **tls;
                rustls::Stream::new(conn, sock).write_vectored(bufs)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(tcp) => tcp.flush(),
            Stream::Tls(tls) => tls.flush(),
        }
    }
}

/// The extras of the transports that have them. Found by type at run time (see [`extras`]),
/// so a `WebSocket` over any other `Read + Write` still works, without them.
pub(super) trait Extras {
    fn read_timeout(&self) -> io::Result<Option<Duration>>;

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;

    /// Ends this side's writing once everything written has gone out: TLS `close_notify`,
    /// then TCP FIN.
    fn shutdown_write(&mut self) -> io::Result<()>;
}

impl Extras for TcpStream {
    fn read_timeout(&self) -> io::Result<Option<Duration>> {
        TcpStream::read_timeout(self)
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

impl<C, D> Extras for StreamOwned<C, TcpStream>
where
    C: DerefMut + Deref<Target = ConnectionCommon<D>>,
    D: SideData,
{
    fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.sock.read_timeout()
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_read_timeout(timeout)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.conn.send_close_notify();
        self.flush()?;
        self.sock.shutdown(Shutdown::Write)
    }
}

impl Extras for Stream {
    fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.tcp().read_timeout()
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp().set_read_timeout(timeout)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(tcp) => tcp.shutdown_write(),
            Stream::Tls(tls) => tls.shutdown_write(),
        }
    }
}

/// The extras of `io` if its type is one that has them: `TcpStream`, [`Stream`], or rustls
/// over `TcpStream` on either side.
pub(super) fn extras<S: Any>(io: &mut S) -> Option<&mut dyn Extras> {
    let io: &mut dyn Any = io;
    if io.is::<TcpStream>() {
        return io.downcast_mut::<TcpStream>().map(|s| s as &mut dyn Extras);
    }
    if io.is::<Stream>() {
        return io.downcast_mut::<Stream>().map(|s| s as &mut dyn Extras);
    }
    if io.is::<StreamOwned<ServerConnection, TcpStream>>() {
        return io
            .downcast_mut::<StreamOwned<ServerConnection, TcpStream>>()
            .map(|s| s as &mut dyn Extras);
    }
    io.downcast_mut::<StreamOwned<ClientConnection, TcpStream>>()
        .map(|s| s as &mut dyn Extras)
}

/// Reads once, waiting no later than `deadline` when the transport can time out. The user's
/// own read timeout is kept (the shorter of the two applies) and put back afterwards.
///
/// `Ok(None)` means the deadline passed.
pub(super) fn read_until<S: Read + Any>(
    io: &mut S,
    buf: &mut [u8],
    deadline: Option<Instant>,
) -> io::Result<Option<usize>> {
    let Some(deadline) = deadline else {
        return io.read(buf).map(Some);
    };
    let Some(user) = extras(io).map(|x| x.read_timeout()).transpose()? else {
        return io.read(buf).map(Some);
    };
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Ok(None);
    }
    let wait = user.map_or(left, |user| user.min(left));
    if let Some(x) = extras(io) {
        x.set_read_timeout(Some(wait))?;
    }
    let read = io.read(buf);
    if let Some(x) = extras(io) {
        x.set_read_timeout(user)?;
    }
    match read {
        Err(e) if is_timeout(&e) && Instant::now() >= deadline => Ok(None),
        other => other.map(Some),
    }
}

/// Whether `error` is a read or write timeout (`WouldBlock` on Unix, `TimedOut` on Windows),
/// after which the call may be repeated.
pub(super) fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// A borrowed TCP stream whose every read and write ends by `deadline`: the socket's timeouts
/// are set to the time left before each call. The client's connect and handshake steps run
/// over it, so each step is bounded as a whole rather than per read.
pub(super) struct Deadline<'a> {
    tcp: &'a TcpStream,
    deadline: Instant,
}

impl<'a> Deadline<'a> {
    pub(super) fn new(tcp: &'a TcpStream, deadline: Instant) -> Self {
        Deadline { tcp, deadline }
    }

    fn left(&self) -> io::Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"))
        } else {
            Ok(left)
        }
    }
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.tcp.set_read_timeout(Some(self.left()?))?;
        let mut tcp = self.tcp;
        tcp.read(buf)
    }
}

impl Write for Deadline<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tcp.set_write_timeout(Some(self.left()?))?;
        let mut tcp = self.tcp;
        tcp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
