//! Exit statuses: one number per kind of failure, so scripts can tell a refused handshake from
//! a dropped connection without parsing messages.

use std::fmt;
use std::process::ExitCode;

use weft::Error;
use weft::proto::HandshakeError;

/// What the process reports when it ends. The numbers are part of the interface: they are
/// documented in `--help` (`exit_status_help!`) and in the README, so never renumber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// The connection closed normally (1000 or 1001), or the server shut down on a signal.
    Ok,
    /// A local failure: reading stdin or writing stdout failed, or the runtime did not start.
    Local,
    /// A bad URL, option, file named by an option, or input that cannot be sent as text.
    Usage,
    /// TCP, the proxy or TLS failed; or `weft serve` could not listen.
    Connect,
    /// The server answered the upgrade with something other than 101.
    Refused,
    /// The peer broke the WebSocket protocol, in the handshake or after it.
    Protocol,
    /// A deadline passed: connect, handshake, keepalive PONG, or the close handshake.
    Timeout,
    /// The connection ended without a close frame, or the peer closed with a code other than
    /// 1000 or 1001.
    Abnormal,
}

/// The EXIT STATUS section of `--help` (a macro so `concat!` can splice it into the help
/// text at compile time); README-cli.md repeats it.
macro_rules! exit_status_help {
    () => {
        "EXIT STATUS:
    0  the connection closed normally (close code 1000 or 1001, or a close frame without
       a code); for `weft serve`, shut down by SIGINT or SIGTERM
    1  local failure: reading stdin or writing stdout failed
    2  bad URL, option or input (a file named by -d, --cacert or --tls-cert that cannot be
       read, a malformed -H header, a stdin line that is not UTF-8 without --binary);
       also clap's usage errors
    3  connection failure: DNS, TCP, the proxy or TLS (certificate not trusted, ...);
       for `weft serve`, the address cannot be listened on
    4  handshake refused: the server answered with an HTTP status other than 101
       (printed as `HTTP <status> <reason>`)
    5  protocol error: the server broke RFC 6455 (in the handshake or after it)
    6  timeout: --connect-timeout, --ping-timeout, or the close handshake
    7  abnormal close: the connection was lost without a close frame, or the server closed
       with a code other than 1000 or 1001 (the code and reason go to stderr)"
    };
}
pub(crate) use exit_status_help;

impl Status {
    /// The process exit code.
    pub(crate) fn code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Local => 1,
            Status::Usage => 2,
            Status::Connect => 3,
            Status::Refused => 4,
            Status::Protocol => 5,
            Status::Timeout => 6,
            Status::Abnormal => 7,
        }
    }

    /// A short name for the `kind` field of `--jsonl` error events.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Local => "local",
            Status::Usage => "usage",
            Status::Connect => "connect",
            Status::Refused => "handshake",
            Status::Protocol => "protocol",
            Status::Timeout => "timeout",
            Status::Abnormal => "abnormal",
        }
    }
}

impl From<Status> for ExitCode {
    fn from(status: Status) -> Self {
        ExitCode::from(status.code())
    }
}

/// A failure with the exit status it ends the process with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// How the process ends.
    pub(crate) status: Status,
    /// What to tell the user.
    pub(crate) message: String,
}

impl Failure {
    /// A failure of `status` saying `message`.
    pub(crate) fn new(status: Status, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
        }
    }

    /// A bad option or input.
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Failure::new(Status::Usage, message)
    }

    /// A failure to open the connection: before or during the opening handshake.
    pub(crate) fn connecting(error: &Error) -> Self {
        let status = match error {
            Error::Url(_) | Error::InvalidHeader { .. } | Error::Request(_) | Error::Usage(_) => {
                Status::Usage
            }
            Error::Io(_) | Error::Tls(_) | Error::Proxy(_) => Status::Connect,
            Error::Handshake(e) if matches!(**e, HandshakeError::UnexpectedStatus { .. }) => {
                Status::Refused
            }
            Error::Redirect { .. } => Status::Refused,
            Error::Handshake(_) | Error::Protocol(_) => Status::Protocol,
            Error::Timeout(_) => Status::Timeout,
            Error::ConnectionLost => Status::Abnormal,
            // `Error` is non-exhaustive; a kind added later is at least a connection failure.
            _ => Status::Connect,
        };
        let message = match (error, refusal(error)) {
            (_, Some(HandshakeError::UnexpectedStatus { status, .. })) => format!(
                "HTTP {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            )
            .trim_end()
            .to_owned(),
            (Error::Redirect { status, location }, _) => {
                format!("HTTP {status} redirect to {location} (not followed)")
            }
            (other, _) => other.to_string(),
        };
        Failure::new(status, message)
    }

    /// A failure of an open connection.
    pub(crate) fn open(error: &Error) -> Self {
        let status = match error {
            Error::Protocol(_) | Error::Handshake(_) => Status::Protocol,
            Error::Timeout(_) => Status::Timeout,
            // A reset, a write to a connection the peer dropped, or a loss without a close
            // frame: the connection ended abnormally.
            _ => Status::Abnormal,
        };
        Failure::new(status, error.to_string())
    }
}

/// The handshake error behind `error`, if it is one.
pub(crate) fn refusal(error: &Error) -> Option<&HandshakeError> {
    match error {
        Error::Handshake(e) => Some(e),
        _ => None,
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_stable() {
        let all = [
            Status::Ok,
            Status::Local,
            Status::Usage,
            Status::Connect,
            Status::Refused,
            Status::Protocol,
            Status::Timeout,
            Status::Abnormal,
        ];
        let codes: Vec<u8> = all.iter().map(|s| s.code()).collect();
        assert_eq!(codes, [0, 1, 2, 3, 4, 5, 6, 7]);
    }

    #[test]
    fn bad_url_is_a_usage_error() {
        let error = weft::ClientBuilder::new("ftp://example.com");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let error = runtime
            .block_on(error.no_proxy().connect())
            .expect_err("ftp is refused");
        assert_eq!(Failure::connecting(&error).status, Status::Usage);
    }
}
