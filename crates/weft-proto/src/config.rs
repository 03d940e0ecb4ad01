//! Limits and switches for a connection and its handshake.

/// Settings for a [`Connection`](crate::Connection) and the handshake that opens it.
///
/// Every size a peer controls has a limit here. The defaults are safe for a public server: a peer
/// can make a connection hold at most about `max_message_size` bytes, and no more than
/// `max_fragments` frames make up one message.
///
/// ```
/// use weft_proto::Config;
/// let config = Config::default()
///     .max_message_size(1 << 20)
///     .auto_pong(false);
/// assert_eq!(config.limits().max_message_size, 1 << 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub(crate) limits: Limits,
    pub(crate) auto_pong: bool,
    pub(crate) fragments: bool,
    pub(crate) raw: bool,
}

/// Size limits, each checked before memory is committed to what it bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest payload of one frame, in bytes. A larger frame closes the connection with 1009
    /// as soon as its header arrives. In fragment mode frames are streamed, so this may be as
    /// large as 2^63-1 without costing memory. Default: 16 MiB.
    pub max_frame_size: u64,
    /// Largest message, in bytes, summed over its frames. Exceeding it closes with 1009 before
    /// anything past the limit is buffered. Default: 16 MiB.
    pub max_message_size: usize,
    /// Most frames one message may be split into; guards against floods of tiny fragments.
    /// No memory is kept per fragment, so this bounds work, not memory. Default: 131 072
    /// (a 4 MiB message in 64-byte frames, as Autobahn 9.3 and 9.4 send, fits twice).
    pub max_fragments: usize,
    /// Largest HTTP head (request or response line plus headers) in a handshake, in bytes.
    /// Default: 8 KiB.
    pub max_header_bytes: usize,
    /// Most header fields in a handshake head. Default: 64.
    pub max_headers: usize,
}

impl Limits {
    /// The defaults described on each field.
    pub const DEFAULT: Limits = Limits {
        max_frame_size: 16 << 20,
        max_message_size: 16 << 20,
        max_fragments: 131_072,
        max_header_bytes: 8 << 10,
        max_headers: 64,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

impl Config {
    /// The defaults: [`Limits::DEFAULT`], automatic PONG replies on, whole-message delivery.
    pub fn new() -> Self {
        Config {
            limits: Limits::DEFAULT,
            auto_pong: true,
            fragments: false,
            raw: false,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether PINGs are answered automatically.
    pub fn is_auto_pong(&self) -> bool {
        self.auto_pong
    }

    /// Whether data arrives as frame fragments rather than whole messages.
    pub fn is_fragment_mode(&self) -> bool {
        self.fragments
    }

    /// Whether bytes pass untouched both ways.
    pub fn is_raw_mode(&self) -> bool {
        self.raw
    }

    /// Replaces all limits at once.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets [`Limits::max_frame_size`].
    pub fn max_frame_size(mut self, bytes: u64) -> Self {
        self.limits.max_frame_size = bytes;
        self
    }

    /// Sets [`Limits::max_message_size`].
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.limits.max_message_size = bytes;
        self
    }

    /// Sets [`Limits::max_fragments`].
    pub fn max_fragments(mut self, count: usize) -> Self {
        self.limits.max_fragments = count;
        self
    }

    /// Sets [`Limits::max_header_bytes`].
    pub fn max_header_bytes(mut self, bytes: usize) -> Self {
        self.limits.max_header_bytes = bytes;
        self
    }

    /// Sets [`Limits::max_headers`].
    pub fn max_headers(mut self, count: usize) -> Self {
        self.limits.max_headers = count;
        self
    }

    /// Answers each PING with a PONG of the same payload (the default). When off (curl's
    /// `CURLWS_NOAUTOPONG`), PINGs are only delivered as events and the caller replies.
    pub fn auto_pong(mut self, on: bool) -> Self {
        self.auto_pong = on;
        self
    }

    /// Delivers data as [`Fragment`](crate::Fragment)s as bytes arrive (curl's model) instead of
    /// whole messages. A frame of any size then passes through bounded memory, and
    /// `max_message_size` does not apply; `max_frame_size` still does.
    pub fn fragment_mode(mut self, on: bool) -> Self {
        self.fragments = on;
        self
    }

    /// Raw mode (curl's `CURLWS_RAW_MODE`): after the handshake, bytes pass untouched both
    /// ways. Received bytes arrive as [`Event::Raw`](crate::Event::Raw) and
    /// [`Connection::send_raw`](crate::Connection::send_raw) writes bytes as they are; no frame
    /// is parsed or built.
    pub fn raw_mode(mut self, on: bool) -> Self {
        self.raw = on;
        self
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}
