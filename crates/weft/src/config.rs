//! Settings for a connection in the runtime: the protocol core's [`Config`] plus the policies
//! that need a clock or buffers (timeouts, keepalive, watermarks).

use std::time::Duration;

use bytes::Bytes;
use weft_proto::Config;
use weft_proto::extensions::deflate::DeflateConfig;

/// Settings for a [`WebSocket`](crate::WebSocket).
///
/// ```
/// use std::time::Duration;
/// use weft::{Keepalive, WebSocketConfig};
///
/// let config = WebSocketConfig::default()
///     .keepalive(Keepalive::every(Duration::from_secs(20)))
///     .close_timeout(Duration::from_secs(2))
///     .write_watermarks(64 << 10, 256 << 10);
/// assert_eq!(config.close_timeout_value(), Duration::from_secs(2));
/// ```
#[derive(Debug, Clone)]
pub struct WebSocketConfig {
    pub(crate) proto: Config,
    pub(crate) close_timeout: Duration,
    pub(crate) keepalive: Option<Keepalive>,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) write_timeout: Option<Duration>,
    pub(crate) write_low: usize,
    pub(crate) write_high: usize,
    pub(crate) read_buffer: usize,
    pub(crate) deflate: Option<DeflateConfig>,
}

/// Keepalive PINGs (Tcl's `configure -keepalive -ping`): one every `interval`, and the
/// connection is closed if no PONG comes back within `timeout`. A PING that cannot go out when
/// due (a frame of ours half sent) is skipped, not waited for; in raw mode there is no
/// keepalive, as the connection sends no frames of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keepalive {
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
    pub(crate) payload: Bytes,
}

impl Keepalive {
    /// A PING every `interval`, an empty payload, and a PONG deadline equal to the interval.
    pub fn every(interval: Duration) -> Self {
        Keepalive {
            interval,
            timeout: interval,
            payload: Bytes::new(),
        }
    }

    /// How long to wait for the PONG before closing the connection.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The PING payload, at most 125 bytes (longer payloads are cut).
    pub fn payload(mut self, payload: impl Into<Bytes>) -> Self {
        let mut payload: Bytes = payload.into();
        payload.truncate(weft_proto::frame::MAX_CONTROL_PAYLOAD);
        self.payload = payload;
        self
    }

    /// The interval between PINGs.
    pub fn interval(&self) -> Duration {
        self.interval
    }
}

impl WebSocketConfig {
    /// Defaults for a client: no keepalive, 5 s close timeout, write watermarks 128 KiB /
    /// 1 MiB, a 16 KiB initial read buffer, permessage-deflate offered (clients) and accepted
    /// (servers) with [`DeflateConfig::default`].
    pub fn new() -> Self {
        WebSocketConfig {
            proto: Config::default(),
            close_timeout: Duration::from_secs(5),
            keepalive: None,
            idle_timeout: None,
            write_timeout: None,
            write_low: 128 << 10,
            write_high: 1 << 20,
            read_buffer: 16 << 10,
            deflate: Some(DeflateConfig::default()),
        }
    }

    /// The protocol core's settings (limits, auto-PONG, fragment and raw mode).
    pub fn protocol(mut self, config: Config) -> Self {
        self.proto = config;
        self
    }

    /// The protocol core's settings in force.
    pub fn protocol_config(&self) -> &Config {
        &self.proto
    }

    /// How long the close handshake may take before the transport is closed anyway.
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// The close timeout in force.
    pub fn close_timeout_value(&self) -> Duration {
        self.close_timeout
    }

    /// Sends keepalive PINGs; `None` turns them off.
    pub fn keepalive(mut self, keepalive: impl Into<Option<Keepalive>>) -> Self {
        self.keepalive = keepalive.into();
        self
    }

    /// The keepalive in force.
    pub fn keepalive_value(&self) -> Option<&Keepalive> {
        self.keepalive.as_ref()
    }

    /// Closes the connection (1001) when nothing arrives for this long; `None` turns it off.
    pub fn idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.idle_timeout = timeout.into();
        self
    }

    /// Fails the connection when the peer takes none of the bytes waiting to be written for
    /// this long (it has stopped reading): the waiting call returns
    /// [`Error::Timeout`](crate::Error::Timeout)([`Timeout::Write`](crate::Timeout::Write)) and
    /// nothing more is written. `None` (the default for clients; servers use 60 s) waits as
    /// long as the peer does. A slow reader is not a stalled one: each write the transport
    /// accepts starts the period again (over TLS, one flush of buffered records is one wait).
    /// Async connections only, on a runtime with the time driver. A blocking connection has
    /// its transport's per-call write timeout instead
    /// ([`blocking::ClientBuilder::write_timeout`](crate::blocking::ClientBuilder::write_timeout)),
    /// which fails a write with [`Error::Io`](crate::Error::Io) of kind `TimedOut`.
    pub fn write_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.write_timeout = timeout.into();
        self
    }

    /// The write timeout in force.
    pub fn write_timeout_value(&self) -> Option<Duration> {
        self.write_timeout
    }

    /// Write-buffer watermarks: once `high` bytes wait to be written, sending waits until
    /// fewer than `low` do. A slow reader thus slows the sender instead of growing memory.
    pub fn write_watermarks(mut self, low: usize, high: usize) -> Self {
        self.write_low = low.min(high);
        self.write_high = high.max(1);
        self
    }

    /// permessage-deflate (RFC 7692) settings; `None` neither offers nor accepts it.
    pub fn deflate(mut self, deflate: impl Into<Option<DeflateConfig>>) -> Self {
        self.deflate = deflate.into();
        self
    }

    /// The permessage-deflate settings in force.
    pub fn deflate_value(&self) -> Option<&DeflateConfig> {
        self.deflate.as_ref()
    }

    /// The size a read buffer starts at (64 B to 1 MiB); it grows for a large message and
    /// shrinks back.
    ///
    /// Idle connections hold none: a connection borrows its thread's spare buffer while it has
    /// bytes to read and hands it back when its read would block with nothing left over. So
    /// the size costs memory only for connections caught mid-frame, and the default (16 KiB)
    /// is sized for throughput: a peer with many small messages in flight has a batch of them
    /// taken in one read (with 16 × 1 KiB in flight, 4 KiB took twice the reads and 1.6× the
    /// server CPU per message).
    pub fn read_buffer(mut self, bytes: usize) -> Self {
        // Reads never ask for more than 1 MiB at once, so a larger start would not be used.
        self.read_buffer = bytes.clamp(64, 1 << 20);
        self
    }
}

impl WebSocketConfig {
    /// The protocol core for a connection whose handshake learned `handshaken`, with the bytes
    /// that came after the handshake already decoded: the next read may wait for bytes the peer
    /// never sends, since it sent them already. Returns the error those bytes caused, if any.
    pub(crate) fn open_connection(
        &self,
        role: weft_proto::Role,
        handshaken: &crate::info::Handshaken,
        buffered: &mut bytes::BytesMut,
    ) -> (weft_proto::Connection, Option<crate::Error>) {
        let mut conn = weft_proto::Connection::new(role, self.proto.clone());
        if let (Some(params), Some(settings)) = (handshaken.deflate, self.deflate.as_ref()) {
            conn = conn.with_deflate(weft_proto::extensions::deflate::Deflate::new(
                role, params, settings,
            ));
        }
        let error = if buffered.is_empty() {
            None
        } else {
            conn.handle_data(buffered).err().map(crate::Error::from)
        };
        (conn, error)
    }
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        WebSocketConfig::new()
    }
}
