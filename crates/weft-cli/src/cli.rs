//! The command line: `weft [OPTIONS] URL` and `weft serve [OPTIONS] ADDR`, parsed by clap.
//!
//! Every option's doc comment is its `--help` text, so the help reads like a man page.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::exit::exit_status_help;

const ABOUT: &str = "nc for WebSocket: pipe stdin and stdout through a WebSocket, or serve one";

const LONG_ABOUT: &str = "\
weft connects to a WebSocket server and works like nc: each line read from stdin is sent as a
text message, and each message received is written to stdout, text one per line. When stdin
ends, weft waits a moment for replies (-q), closes the connection normally (1000) and exits.

`weft serve ADDR` runs a server instead: an echo server by default, a chat (--broadcast), or a
program per connection whose stdin and stdout are the connection's messages (--exec).";

/// `after_long_help`: EXAMPLES and EXIT STATUS, man-page style.
const AFTER_LONG_HELP: &str = concat!(
    "\
EXAMPLES:
    Send two messages, print the replies, close after one second without input:
        printf 'hello\\nworld\\n' | weft ws://127.0.0.1:9001/echo

    Health check: exit 0 if the handshake succeeds, 4 if it is refused:
        weft -n 0 wss://example.com/socket

    Send a request, print the first reply, exit:
        weft -n 1 -d '{\"op\":\"subscribe\"}' wss://example.com/feed

    Every event as JSON, one object a line, for scripts:
        weft --jsonl --no-stdin wss://example.com/feed | jq -c 'select(.event == \"message\")'

    Show the handshake and keepalive round trips:
        weft -v --show-pings --ping-interval 5 ws://127.0.0.1:9001/

    A chat server, and two clients talking through it:
        weft serve --broadcast 127.0.0.1:9001
        weft ws://127.0.0.1:9001/room

    Every connection runs its own `cat` (websocketd style):
        weft serve --exec 'cat' 127.0.0.1:9001

    A TLS echo server, and a client that trusts its CA:
        weft serve --tls-cert cert.pem --tls-key key.pem 127.0.0.1:9443
        weft --cacert ca.pem wss://localhost:9443/

",
    exit_status_help!()
);

/// The whole command line.
#[derive(Debug, Parser)]
#[command(
    name = "weft",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_long_help = AFTER_LONG_HELP,
    after_help = "See --help for examples and exit statuses.",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub(crate) struct Cli {
    /// A server instead of a client.
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
    /// The client's options, used when no subcommand is given.
    #[command(flatten)]
    pub(crate) client: ClientArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Runs a WebSocket server: echo (the default), broadcast, or a program per connection.
    ///
    /// Prints `listening on ws://ADDR` (wss:// with TLS) as its first line of stdout, logs
    /// connections and closes to stderr, and on SIGINT or SIGTERM closes every connection
    /// with 1001 (going away), waits up to 5 seconds for them, and exits 0.
    #[command(after_long_help = SERVE_AFTER_LONG_HELP)]
    Serve(ServeArgs),
}

const SERVE_AFTER_LONG_HELP: &str = "\
EXAMPLES:
    An echo server on a port the system picks (the first line of stdout names it):
        weft serve 127.0.0.1:0

    A chat on /chat/*, requiring the `chat.v1` subprotocol and a known Origin:
        weft serve --broadcast --path '/chat/*' --protocol chat.v1 \\
            --origin https://app.example.com 0.0.0.0:9001

    Each connection runs `cat`; its stdout lines come back as messages:
        weft serve --exec 'cat' 127.0.0.1:9001

EXIT STATUS:
    0  shut down by SIGINT or SIGTERM
    2  bad address or option (including TLS files that cannot be used)
    3  the address cannot be listened on";

/// `weft [OPTIONS] URL`.
#[derive(Debug, Args)]
pub(crate) struct ClientArgs {
    /// The ws:// or wss:// URL to connect to (http:// and https:// mean the same).
    #[arg(value_name = "URL", required = true)]
    pub(crate) url: Option<String>,

    /// Sends DATA as a message right after the handshake; repeat for more messages.
    ///
    /// `@FILE` sends the contents of FILE as one message. The messages go before anything
    /// read from stdin. Text unless --binary; with --raw, the bytes are sent as they are.
    #[arg(
        short = 'd',
        long = "data",
        value_name = "DATA",
        help_heading = "Input"
    )]
    pub(crate) data: Vec<String>,

    /// Sends binary messages instead of text.
    #[arg(long, help_heading = "Input")]
    pub(crate) binary: bool,

    /// Splits stdin on NUL bytes instead of newlines, and ends each text message written to
    /// stdout with a NUL instead of a newline (like `find -print0`).
    #[arg(long, conflicts_with = "no_line", help_heading = "Input")]
    pub(crate) null: bool,

    /// Sends each read from stdin as a message as it comes, without waiting for a newline.
    #[arg(long, help_heading = "Input")]
    pub(crate) no_line: bool,

    /// Does not read stdin: only -d data is sent, and the connection stays open until the
    /// server closes it (or -n is reached).
    #[arg(long, help_heading = "Input")]
    pub(crate) no_stdin: bool,

    /// Exits after N messages are received (closing with 1000); 0 exits right after the
    /// handshake and the -d data.
    ///
    /// With -n, the end of stdin does not close the connection, and stdin is not read at all
    /// when -d is given: `weft -n 1 -d REQUEST URL` is a request and its reply. With --raw,
    /// N counts reads of raw bytes.
    #[arg(short = 'n', long = "count", value_name = "N", help_heading = "Input")]
    pub(crate) count: Option<u64>,

    /// After stdin ends, waits SECS for replies before closing with 1000 (like nc -q);
    /// a negative value waits until the server closes.
    #[arg(
        short = 'q',
        long = "linger",
        value_name = "SECS",
        default_value = "1",
        allow_negative_numbers = true,
        value_parser = parse_linger,
        help_heading = "Input"
    )]
    pub(crate) linger: Linger,

    /// Writes binary messages as hexadecimal, one message a line.
    #[arg(long, conflicts_with = "base64", help_heading = "Output")]
    pub(crate) hex: bool,

    /// Writes binary messages as base64, one message a line.
    #[arg(long, help_heading = "Output")]
    pub(crate) base64: bool,

    /// Writes every event to stdout as one JSON object a line: open (url, subprotocol),
    /// message (type text or binary, data; binary data in base64), ping and pong (data in
    /// base64; a pong also has rtt_ms when it answers a keepalive PING), close (code, reason),
    /// and error (kind, message).
    #[arg(long, conflicts_with_all = ["hex", "base64"], help_heading = "Output")]
    pub(crate) jsonl: bool,

    /// After the handshake, stdin and stdout carry raw WebSocket bytes: what is read is sent
    /// as it is, what arrives is written as it is, no frame is built or parsed. For debugging
    /// and negative tests; you build the (masked) frames.
    #[arg(long, conflicts_with_all = ["jsonl", "hex", "base64", "binary", "null"], help_heading = "Output")]
    pub(crate) raw: bool,

    /// Prints the handshake request (`> `) and response (`< `) heads to stderr, like curl -v,
    /// and the close (`* `).
    #[arg(short = 'v', long, help_heading = "Output")]
    pub(crate) verbose: bool,

    /// Prints PINGs and PONGs received, with the keepalive round-trip time, to stderr.
    #[arg(long, help_heading = "Output")]
    pub(crate) show_pings: bool,

    /// Sends a keepalive PING every SECS; 0 turns keepalive off.
    #[arg(
        long,
        value_name = "SECS",
        default_value = "30",
        value_parser = parse_secs,
        help_heading = "Keepalive"
    )]
    pub(crate) ping_interval: Duration,

    /// Closes the connection (exit 6) when a keepalive PING gets no PONG within SECS.
    /// Default: the ping interval.
    #[arg(long, value_name = "SECS", value_parser = parse_secs, help_heading = "Keepalive")]
    pub(crate) ping_timeout: Option<Duration>,

    /// Does not answer the server's PINGs (they are still shown by --show-pings and --jsonl).
    #[arg(long, help_heading = "Keepalive")]
    pub(crate) no_auto_pong: bool,

    /// Adds a header to the upgrade request, as `Name: value`; repeatable.
    #[arg(
        short = 'H',
        long = "header",
        value_name = "HEADER",
        help_heading = "Handshake"
    )]
    pub(crate) headers: Vec<String>,

    /// Offers a subprotocol (Sec-WebSocket-Protocol); repeat for more, most preferred first.
    #[arg(long = "protocol", value_name = "PROTOCOL", help_heading = "Handshake")]
    pub(crate) protocols: Vec<String>,

    /// Sends this Origin header, as a browser would.
    #[arg(long, value_name = "ORIGIN", help_heading = "Handshake")]
    pub(crate) origin: Option<String>,

    /// The largest message (and frame) accepted, in bytes; K, M and G suffixes multiply by
    /// 1024. A larger one closes the connection with 1009 (exit 5). Default: 16M.
    #[arg(long, value_name = "BYTES", value_parser = parse_size, help_heading = "Handshake")]
    pub(crate) max_message_size: Option<usize>,

    #[command(flatten)]
    pub(crate) compress: CompressArgs,

    /// How long TCP, the proxy, TLS and the opening handshake may each take. Default: 30.
    #[arg(long, value_name = "SECS", value_parser = parse_secs, help_heading = "Connection")]
    pub(crate) connect_timeout: Option<Duration>,

    /// Connects through this proxy: http://[user:pass@]host:port (HTTP CONNECT), or
    /// socks5://, socks5h://. Without it, ws_proxy, wss_proxy, https_proxy, http_proxy,
    /// all_proxy and no_proxy are read from the environment, as curl does.
    #[arg(long, value_name = "URL", help_heading = "Connection")]
    pub(crate) proxy: Option<String>,

    /// Trusts only the CA certificates in this PEM file for wss:// (instead of the built-in
    /// Mozilla roots).
    #[arg(long, value_name = "FILE", help_heading = "TLS")]
    pub(crate) cacert: Option<PathBuf>,

    /// Accepts any server certificate. Dangerous: anyone on the path can read and change the
    /// traffic. For test servers only.
    #[arg(short = 'k', long, help_heading = "TLS")]
    pub(crate) insecure: bool,

    /// Presents this client certificate chain (PEM, leaf first); needs --key.
    #[arg(long, value_name = "FILE", requires = "key", help_heading = "TLS")]
    pub(crate) cert: Option<PathBuf>,

    /// The private key of --cert (PEM).
    #[arg(long, value_name = "FILE", requires = "cert", help_heading = "TLS")]
    pub(crate) key: Option<PathBuf>,
}

/// How long to wait for replies after stdin ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Linger {
    /// This long, then close.
    For(Duration),
    /// Until the server closes.
    Forever,
}

/// `weft serve [OPTIONS] ADDR`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("mode").args(["echo", "broadcast", "exec"])))]
pub(crate) struct ServeArgs {
    /// The address to listen on: HOST:PORT (`127.0.0.1:9001`, `[::]:9001`, `localhost:0`),
    /// or a bare PORT for 127.0.0.1. Port 0 picks a free port.
    #[arg(value_name = "ADDR")]
    pub(crate) addr: String,

    /// Echoes every text and binary message back as it came (the default).
    #[arg(long, help_heading = "Mode")]
    pub(crate) echo: bool,

    /// Sends every message to every other client: a chat.
    #[arg(long, help_heading = "Mode")]
    pub(crate) broadcast: bool,

    /// Runs CMD (with `sh -c`) for each connection: each line it writes to stdout becomes a
    /// text message (binary if not UTF-8), each message received becomes a line of its stdin.
    /// When it exits the connection closes with 1000; when the connection closes it is
    /// killed. Its stderr is the server's. It gets WEFT_PEER, WEFT_PATH, WEFT_QUERY and
    /// WEFT_PROTOCOL in its environment.
    #[arg(long, value_name = "CMD", help_heading = "Mode")]
    pub(crate) exec: Option<String>,

    /// Serves paths matching GLOB (`*` any run of characters, `?` one); repeatable. Other
    /// paths get 404. Default: `/*`, every path.
    #[arg(long = "path", value_name = "GLOB", help_heading = "Routing")]
    pub(crate) paths: Vec<String>,

    /// Requires the client to offer one of these subprotocols (repeatable; the first given
    /// that the client offers is chosen). A client offering none of them gets 400.
    #[arg(long = "protocol", value_name = "PROTOCOL", help_heading = "Routing")]
    pub(crate) protocols: Vec<String>,

    /// Accepts only browsers from this origin (e.g. https://app.example.com); repeatable.
    /// Other origins get 403; clients that send no Origin are accepted.
    #[arg(long = "origin", value_name = "ORIGIN", help_heading = "Routing")]
    pub(crate) origins: Vec<String>,

    /// Serves wss:// with this certificate chain (PEM, leaf first); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key", help_heading = "TLS")]
    pub(crate) tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert", help_heading = "TLS")]
    pub(crate) tls_key: Option<PathBuf>,

    /// Most connections at once; more are answered 503.
    #[arg(
        long,
        value_name = "N",
        default_value = "10000",
        help_heading = "Limits"
    )]
    pub(crate) max_connections: usize,

    /// The largest message and frame accepted, in bytes (K, M, G suffixes); larger ones
    /// close the connection with 1009. Default: 16M.
    #[arg(long, value_name = "BYTES", value_parser = parse_size, help_heading = "Limits")]
    pub(crate) max_message_size: Option<usize>,

    #[command(flatten)]
    pub(crate) compress: CompressArgs,

    /// Sends a keepalive PING to each client every SECS and closes connections whose PONG
    /// does not come back within that time; 0 turns keepalive off.
    #[arg(
        long,
        value_name = "SECS",
        default_value = "30",
        value_parser = parse_secs,
        help_heading = "Limits"
    )]
    pub(crate) ping_interval: Duration,

    /// Drops a client that takes none of the bytes waiting for it for SECS (it stopped
    /// reading), so it cannot hold a connection forever; 0 waits as long as the client does.
    #[arg(
        long,
        value_name = "SECS",
        default_value = "60",
        value_parser = parse_secs,
        help_heading = "Limits"
    )]
    pub(crate) write_timeout: Duration,

    /// How much to log to stderr.
    #[arg(
        long,
        value_name = "LEVEL",
        default_value = "info",
        help_heading = "Logging"
    )]
    pub(crate) log_level: LogLevel,
}

/// `--log-level` values, Tcl's `loglevel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogLevel {
    /// Failures only.
    Error,
    /// Failures and suspicious events.
    Warn,
    /// Listening, connections and closes.
    Info,
    /// Handshake failures and library details.
    Debug,
    /// Everything.
    Trace,
}

impl LogLevel {
    /// The tracing filter directive.
    pub(crate) fn directive(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

/// Seconds, fractions allowed: `30`, `0.5`.
fn parse_secs(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs)
        .map_err(|_| format!("{text:?} is not a non-negative duration"))
}

/// `-q`: seconds, or a negative number for "until the server closes".
fn parse_linger(text: &str) -> Result<Linger, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if secs < 0.0 {
        return Ok(Linger::Forever);
    }
    parse_secs(text).map(Linger::For)
}

/// Bytes with an optional K, M or G suffix (powers of 1024).
fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let (digits, shift) = match text.char_indices().last() {
        Some((i, 'k' | 'K')) => (&text[..i], 10),
        Some((i, 'm' | 'M')) => (&text[..i], 20),
        Some((i, 'g' | 'G')) => (&text[..i], 30),
        _ => (text, 0),
    };
    let number: usize = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size in bytes (e.g. 65536, 64K, 16M)"))?;
    number
        .checked_mul(1usize << shift)
        .filter(|&bytes| bytes > 0)
        .ok_or_else(|| format!("{text:?} is not a usable size"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("16m"), Ok(16 << 20));
        assert!(parse_size("0").is_err());
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn negative_linger_waits_for_the_server() {
        assert_eq!(parse_linger("-1"), Ok(Linger::Forever));
        assert_eq!(
            parse_linger("0.5"),
            Ok(Linger::For(Duration::from_millis(500)))
        );
    }
}

/// permessage-deflate (RFC 7692) options, shared by the client and the server.
#[derive(Debug, Clone, Args)]
pub(crate) struct CompressArgs {
    /// Offers (client) or accepts (server) permessage-deflate compression (the default).
    #[arg(long, overrides_with = "no_compress", help_heading = "Compression")]
    pub(crate) compress: bool,

    /// Neither offers nor accepts compression.
    #[arg(long, overrides_with = "compress", help_heading = "Compression")]
    pub(crate) no_compress: bool,

    /// Compression window, 8-15 bits: memory per connection against ratio. Default: 12.
    #[arg(
        long,
        value_name = "BITS",
        default_value = "12",
        value_parser = clap::value_parser!(u8).range(8..=15),
        help_heading = "Compression"
    )]
    pub(crate) compress_window_bits: u8,

    /// zlib compression level, 0-9. Default: 1.
    #[arg(
        long,
        value_name = "LEVEL",
        default_value = "1",
        value_parser = clap::value_parser!(u32).range(0..=9),
        help_heading = "Compression"
    )]
    pub(crate) compress_level: u32,

    /// Messages shorter than this many bytes are sent uncompressed. Default: 128.
    #[arg(
        long,
        value_name = "BYTES",
        default_value = "128",
        help_heading = "Compression"
    )]
    pub(crate) compress_threshold: usize,

    /// Resets the compression context after every message (less memory, worse ratio), and
    /// asks the peer to do the same.
    #[arg(long, help_heading = "Compression")]
    pub(crate) compress_no_context_takeover: bool,
}

impl CompressArgs {
    /// The library's settings for these options; `None` when compression is off.
    pub(crate) fn deflate(&self) -> Option<weft::proto::extensions::deflate::DeflateConfig> {
        if self.no_compress {
            return None;
        }
        Some(weft::proto::extensions::deflate::DeflateConfig {
            window_bits: self.compress_window_bits,
            request_no_context_takeover: self.compress_no_context_takeover,
            no_context_takeover: self.compress_no_context_takeover,
            level: self.compress_level,
            threshold: self.compress_threshold,
        })
    }
}
