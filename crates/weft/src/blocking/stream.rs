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

    fn set_nonblocking(&self, on: bool) -> io::Result<()>;

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

    fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        TcpStream::set_nonblocking(self, on)
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

    fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        self.sock.set_nonblocking(on)
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

    fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        self.tcp().set_nonblocking(on)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(tcp) => tcp.shutdown_write(),
            Stream::Tls(tls) => tls.shutdown_write(),
        }
    }
}

/// Looks `$io` (a `dyn Any` reference) up among the transports with extras, by `$cast`
/// (`downcast_ref` or `downcast_mut`), returning it as `$as`. One list for both lookups.
macro_rules! find_extras {
    ($io:ident, $cast:ident, $as:ty) => {{
        if $io.is::<TcpStream>() {
            return $io.$cast::<TcpStream>().map(|s| s as $as);
        }
        if $io.is::<Stream>() {
            return $io.$cast::<Stream>().map(|s| s as $as);
        }
        if $io.is::<StreamOwned<ServerConnection, TcpStream>>() {
            return $io
                .$cast::<StreamOwned<ServerConnection, TcpStream>>()
                .map(|s| s as $as);
        }
        $io.$cast::<StreamOwned<ClientConnection, TcpStream>>()
            .map(|s| s as $as)
    }};
}

/// The extras of `io` if its type is one that has them: `TcpStream`, [`Stream`], or rustls
/// over `TcpStream` on either side.
pub(super) fn extras<S: Any>(io: &mut S) -> Option<&mut dyn Extras> {
    let io: &mut dyn Any = io;
    find_extras!(io, downcast_mut, &mut dyn Extras)
}

/// [`extras`] for a shared reference, for the calls that only look.
pub(super) fn extras_ref<S: Any>(io: &S) -> Option<&dyn Extras> {
    let io: &dyn Any = io;
    find_extras!(io, downcast_ref, &dyn Extras)
}

/// What a connection knows of its transport's read timeout while it has deadlines to keep:
/// the timeout it put on the socket (as the socket reports it back) and the user's timeout
/// that one stands in for. Remembering both lets a read under a deadline cost one
/// `getsockopt` instead of a get, a set and a set back.
#[derive(Debug, Default)]
pub(super) struct ReadTimeout {
    applied: Option<Applied>,
    /// Since when reads under deadlines have found nothing: the user's timeout counts from
    /// here, across calls that end at one of the connection's deadlines.
    waiting_since: Option<Instant>,
}

impl ReadTimeout {
    /// The user's read timeout: the one the connection's stands in for, else the socket's.
    pub(super) fn user<S: Any>(&self, io: &S) -> io::Result<Option<Duration>> {
        let x = extras_ref(io).ok_or(io::ErrorKind::Unsupported)?;
        let current = x.read_timeout()?;
        Ok(match self.applied {
            Some(applied) if applied.reported == current => applied.user,
            _ => current,
        })
    }

    /// Sets the user's read timeout: kept here while the connection's is on the socket.
    pub(super) fn set_user<S: Any>(&mut self, io: &S, timeout: Option<Duration>) -> io::Result<()> {
        let x = extras_ref(io).ok_or(io::ErrorKind::Unsupported)?;
        if timeout == Some(Duration::ZERO) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a zero read timeout",
            ));
        }
        let current = x.read_timeout()?;
        match self.applied.as_mut() {
            Some(applied) if applied.reported == current => applied.user = timeout,
            _ => {
                self.applied = None;
                x.set_read_timeout(timeout)?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
struct Applied {
    /// The timeout set.
    requested: Duration,
    /// What the socket reports for it (the kernel keeps its own units).
    reported: Option<Duration>,
    /// The user's timeout it stands in for.
    user: Option<Duration>,
}

/// Reads once, waiting no later than `deadline` when the transport can time out; `Ok(None)`
/// means the deadline passed. Once it has passed, what has already arrived is still read
/// (without waiting) before `Ok(None)`: it may be what the deadline was waiting for. The
/// user's own read timeout still applies, counted from when reads began finding nothing: it
/// ends the call with a timeout error if it runs out first.
///
/// While deadlines come one after another (keepalive), the socket keeps a timeout of this
/// connection's choosing, a power of two of milliseconds no longer than the time left, so it
/// rarely has to change; a read that times out before the deadline simply reads again. Once no
/// deadline is left, the user's timeout goes back on the socket. A timeout the user sets on
/// the socket in between is noticed and respected.
pub(super) fn read_until<S: Read + Any>(
    io: &mut S,
    buf: &mut [u8],
    deadline: Option<Instant>,
    state: &mut ReadTimeout,
) -> io::Result<Option<usize>> {
    let Some(x) = extras(io) else {
        return io.read(buf).map(Some);
    };
    let Some(deadline) = deadline else {
        state.waiting_since = None;
        if let Some(applied) = state.applied.take() {
            if x.read_timeout()? == applied.reported {
                x.set_read_timeout(applied.user)?;
            }
        }
        return io.read(buf).map(Some);
    };
    let current = x.read_timeout()?;
    let (user, mut on_socket) = match state.applied {
        Some(applied) if applied.reported == current => (applied.user, Some(applied.requested)),
        _ => (current, None),
    };
    let since = *state.waiting_since.get_or_insert_with(Instant::now);
    let result = loop {
        let now = Instant::now();
        let left = deadline.saturating_duration_since(now);
        if left.is_zero() {
            break read_now(io, buf);
        }
        let user_left = match user {
            Some(u) => match u.checked_sub(now.saturating_duration_since(since)) {
                Some(rest) if !rest.is_zero() => Some(rest),
                _ => break Err(io::Error::new(io::ErrorKind::TimedOut, "read timed out")),
            },
            None => None,
        };
        let wait = match user_left {
            Some(u) if u < left => u,
            _ => coarse(left),
        };
        if on_socket != Some(wait) {
            if let Some(x) = extras(io) {
                x.set_read_timeout(Some(wait))?;
                state.applied = Some(Applied {
                    requested: wait,
                    reported: x.read_timeout()?,
                    user,
                });
            }
            on_socket = Some(wait);
        }
        let started = Instant::now();
        match io.read(buf) {
            // A transport that does not wait (a non-blocking socket) reports at once; retrying
            // would spin.
            Err(e) if is_timeout(&e) && started.elapsed() < wait / 2 => break Err(e),
            Err(e) if is_timeout(&e) => {
                if Instant::now() >= deadline {
                    break Ok(None);
                }
                // Woken before the deadline: the user's timeout (checked above) or a coarse
                // step towards the deadline.
            }
            other => break other.map(Some),
        }
    };
    if !matches!(result, Ok(None)) {
        state.waiting_since = None;
    }
    result
}

/// Reads what has arrived, without waiting; `Ok(None)` if nothing has.
fn read_now<S: Read + Any>(io: &mut S, buf: &mut [u8]) -> io::Result<Option<usize>> {
    if let Some(x) = extras(io) {
        x.set_nonblocking(true)?;
    }
    let read = io.read(buf);
    if let Some(x) = extras(io) {
        x.set_nonblocking(false)?;
    }
    match read {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        other => other.map(Some),
    }
}

/// The largest power of two of milliseconds not above `left` (or `left` itself under 1 ms):
/// a timeout that stays the same across many reads of a long wait.
fn coarse(left: Duration) -> Duration {
    let ms = u64::try_from(left.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return left;
    }
    Duration::from_millis(1 << (63 - ms.leading_zeros()))
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

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// A connected pair over loopback: (reader, writer).
    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let writer = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (reader, _) = listener.accept().expect("accept");
        (reader, writer)
    }

    #[test]
    fn coarse_timeouts_are_powers_of_two_milliseconds_not_above_the_time_left() {
        assert_eq!(coarse(29_999 * MS), 16_384 * MS);
        assert_eq!(coarse(16_384 * MS), 16_384 * MS);
        assert_eq!(coarse(3 * MS), 2 * MS);
        assert_eq!(
            coarse(Duration::from_micros(300)),
            Duration::from_micros(300)
        );
    }

    #[test]
    fn a_read_ends_with_none_when_its_deadline_passes() {
        let (mut reader, _writer) = pair();
        let mut state = ReadTimeout::default();
        let started = Instant::now();
        let read = read_until(
            &mut reader,
            &mut [0; 16],
            Some(started + 60 * MS),
            &mut state,
        );
        assert!(matches!(read, Ok(None)), "{read:?}");
        assert!(started.elapsed() >= 60 * MS);
    }

    #[test]
    fn the_users_shorter_timeout_ends_the_read_with_its_error() {
        let (mut reader, _writer) = pair();
        reader.set_read_timeout(Some(40 * MS)).expect("set");
        let mut state = ReadTimeout::default();
        let started = Instant::now();
        let far = Some(started + Duration::from_secs(30));
        let read = read_until(&mut reader, &mut [0; 16], far, &mut state);
        assert!(matches!(&read, Err(e) if is_timeout(e)), "{read:?}");
        let waited = started.elapsed();
        assert!(
            waited >= 40 * MS && waited < Duration::from_secs(5),
            "{waited:?}"
        );
    }

    #[test]
    fn the_users_timeout_is_back_on_the_socket_once_no_deadline_is_left() {
        let (mut reader, mut writer) = pair();
        reader
            .set_read_timeout(Some(Duration::from_secs(7)))
            .expect("set");
        let users = reader.read_timeout().expect("get");
        let mut state = ReadTimeout::default();
        writer.write_all(b"one").expect("write");
        let soon = Some(Instant::now() + Duration::from_secs(3));
        let read = read_until(&mut reader, &mut [0; 16], soon, &mut state);
        assert_eq!(read.expect("read"), Some(3));
        assert_ne!(
            reader.read_timeout().expect("get"),
            users,
            "ours while deadlines run"
        );
        writer.write_all(b"two").expect("write");
        let read = read_until(&mut reader, &mut [0; 16], None, &mut state);
        assert_eq!(read.expect("read"), Some(3));
        assert_eq!(reader.read_timeout().expect("get"), users);
    }

    #[test]
    fn a_passed_deadline_still_reads_what_has_arrived() {
        let (mut reader, mut writer) = pair();
        writer.write_all(b"pong").expect("write");
        std::thread::sleep(20 * MS);
        let mut state = ReadTimeout::default();
        let past = Some(Instant::now());
        let read = read_until(&mut reader, &mut [0; 16], past, &mut state);
        assert_eq!(read.expect("read"), Some(4));
        let read = read_until(&mut reader, &mut [0; 16], past, &mut state);
        assert!(matches!(read, Ok(None)), "{read:?}");
    }

    #[test]
    fn a_transport_that_does_not_wait_is_not_spun_on() {
        let (mut reader, _writer) = pair();
        reader.set_nonblocking(true).expect("nonblocking");
        let mut state = ReadTimeout::default();
        let started = Instant::now();
        let far = Some(started + Duration::from_secs(10));
        let read = read_until(&mut reader, &mut [0; 16], far, &mut state);
        assert!(matches!(&read, Err(e) if is_timeout(e)), "{read:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn the_users_timeout_counts_across_calls_that_end_at_deadlines() {
        let (mut reader, _writer) = pair();
        reader.set_read_timeout(Some(150 * MS)).expect("set");
        let mut state = ReadTimeout::default();
        let started = Instant::now();
        let read = read_until(
            &mut reader,
            &mut [0; 16],
            Some(started + 60 * MS),
            &mut state,
        );
        assert!(matches!(read, Ok(None)), "{read:?}");
        // A PING would go out here; the user's 150 ms keep running.
        let again = Instant::now();
        let far = Some(again + Duration::from_secs(10));
        let read = read_until(&mut reader, &mut [0; 16], far, &mut state);
        assert!(matches!(&read, Err(e) if is_timeout(e)), "{read:?}");
        assert!(started.elapsed() >= 150 * MS);
        assert!(again.elapsed() < 140 * MS, "{:?}", again.elapsed());
    }

    #[test]
    fn a_user_timeout_set_while_ours_is_on_the_socket_is_kept_apart() {
        let (mut reader, mut writer) = pair();
        let mut state = ReadTimeout::default();
        writer.write_all(b"x").expect("write");
        let deadline = Some(Instant::now() + Duration::from_secs(20));
        read_until(&mut reader, &mut [0; 16], deadline, &mut state).expect("read");
        state
            .set_user(&reader, Some(Duration::from_secs(3)))
            .expect("set");
        assert_eq!(
            state.user(&reader).expect("get"),
            Some(Duration::from_secs(3))
        );
        assert_ne!(
            reader.read_timeout().expect("get"),
            Some(Duration::from_secs(3)),
            "the socket keeps the connection's"
        );
        writer.write_all(b"y").expect("write");
        read_until(&mut reader, &mut [0; 16], None, &mut state).expect("read");
        assert_eq!(
            reader.read_timeout().expect("get"),
            Some(Duration::from_secs(3))
        );
    }

    #[test]
    fn reads_under_one_long_deadline_use_one_coarse_timeout() {
        let (mut reader, mut writer) = pair();
        let mut state = ReadTimeout::default();
        let deadline = Some(Instant::now() + Duration::from_secs(20));
        let mut set = Vec::new();
        for _ in 0..3 {
            writer.write_all(b"x").expect("write");
            let read = read_until(&mut reader, &mut [0; 16], deadline, &mut state);
            assert_eq!(read.expect("read"), Some(1));
            set.push(state.applied.map(|a| a.requested));
        }
        assert_eq!(set, vec![Some(16_384 * MS); 3]);
    }
}
