//! What the client writes: messages to stdout (text, binary as bytes, hex or base64, or
//! `--jsonl` events), and the handshake, pings and failures to stderr.
//!
//! stdout is flushed after every event, so a pipeline sees each message as it arrives.

use std::io::{self, Write};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use serde_json::{Value, json};
use weft::{CloseFrame, Message};

use crate::exit::Failure;

/// How binary messages are written to stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinaryFormat {
    /// The bytes as they are.
    Raw,
    /// Lowercase hexadecimal, then the separator.
    Hex,
    /// Standard base64 with padding, then the separator.
    Base64,
}

/// The client's writer of events.
#[derive(Debug)]
pub(crate) struct Output {
    binary: BinaryFormat,
    /// Ends each text message (and hex or base64 line): `\n`, or NUL with `--null`.
    separator: u8,
    jsonl: bool,
    verbose: bool,
    show_pings: bool,
}

impl Output {
    /// A writer with the client's output options.
    pub(crate) fn new(
        binary: BinaryFormat,
        separator: u8,
        jsonl: bool,
        verbose: bool,
        show_pings: bool,
    ) -> Self {
        Output {
            binary,
            separator,
            jsonl,
            verbose,
            show_pings,
        }
    }

    /// The connection is open.
    pub(crate) fn open(&self, url: &str, subprotocol: Option<&str>) -> io::Result<()> {
        if self.jsonl {
            return json_line(json!({"event": "open", "url": url, "subprotocol": subprotocol}));
        }
        if self.verbose {
            match subprotocol {
                Some(protocol) => info(&format!("connected to {url}, subprotocol {protocol}")),
                None => info(&format!("connected to {url}")),
            }
        }
        Ok(())
    }

    /// A text or binary message; PINGs and PONGs go to [`ping`](Self::ping) and
    /// [`pong`](Self::pong).
    ///
    /// # Errors
    ///
    /// Writing stdout failed (a closed pipe, a full disk).
    pub(crate) fn message(&self, message: &Message) -> io::Result<()> {
        match message {
            Message::Text(text) if self.jsonl => {
                json_line(json!({"event": "message", "type": "text", "data": text.as_str()}))
            }
            Message::Binary(data) if self.jsonl => json_line(json!({
                "event": "message",
                "type": "binary",
                "data": BASE64.encode(data),
            })),
            Message::Text(text) => self.record(text.as_str().as_bytes()),
            Message::Binary(data) => match self.binary {
                BinaryFormat::Raw => write_stdout(&[data]),
                BinaryFormat::Hex => self.record(hex(data).as_bytes()),
                BinaryFormat::Base64 => self.record(BASE64.encode(data).as_bytes()),
            },
            Message::Ping(data) => self.ping(data),
            Message::Pong(data) => self.pong(data, None),
        }
    }

    /// A PING from the peer.
    pub(crate) fn ping(&self, data: &Bytes) -> io::Result<()> {
        if self.jsonl {
            return json_line(json!({"event": "ping", "data": BASE64.encode(data)}));
        }
        if self.show_pings {
            info(&format!("PING received{}", payload_note(data)));
        }
        Ok(())
    }

    /// A PONG from the peer, with the keepalive round trip it completed, if any.
    pub(crate) fn pong(&self, data: &Bytes, rtt: Option<Duration>) -> io::Result<()> {
        let rtt_ms = rtt.map(|rtt| rtt.as_secs_f64() * 1000.0);
        if self.jsonl {
            let mut event = json!({"event": "pong", "data": BASE64.encode(data)});
            if let (Some(ms), Value::Object(fields)) = (rtt_ms, &mut event) {
                fields.insert("rtt_ms".into(), json!(ms));
            }
            return json_line(event);
        }
        if self.show_pings {
            let rtt = rtt_ms
                .map(|ms| format!(", rtt {ms:.3} ms"))
                .unwrap_or_default();
            info(&format!("PONG received{}{rtt}", payload_note(data)));
        }
        Ok(())
    }

    /// The close frame the peer sent (or 1006 when the connection ended without one). On
    /// stderr only with `-v`: a close that fails the client is reported as its error.
    pub(crate) fn close(&self, frame: &CloseFrame) -> io::Result<()> {
        let code = frame.code.as_u16();
        if self.jsonl {
            return json_line(json!({"event": "close", "code": code, "reason": frame.reason}));
        }
        if self.verbose {
            let reason = if frame.reason.is_empty() {
                frame.code.default_reason()
            } else {
                &frame.reason
            };
            info(format!("close {code} {reason}").trim_end());
        }
        Ok(())
    }

    /// A failure that ends the client.
    pub(crate) fn error(&self, failure: &Failure) {
        if self.jsonl {
            let event = json!({
                "event": "error",
                "kind": failure.status.kind(),
                "message": failure.message,
            });
            // If stdout is gone, stderr is the only place left to say why we stop.
            if json_line(event).is_ok() {
                return;
            }
        }
        eprintln!("weft: {}", failure.message);
    }

    /// A note for `-v`.
    pub(crate) fn verbose(&self, text: &str) {
        if self.verbose && !self.jsonl {
            info(text);
        }
    }

    /// Bytes received in raw mode, written as they are.
    pub(crate) fn raw(&self, data: &[u8]) -> io::Result<()> {
        write_stdout(&[data])
    }

    fn record(&self, body: &[u8]) -> io::Result<()> {
        write_stdout(&[body, &[self.separator]])
    }
}

/// Prints an HTTP head to stderr the way `curl -v` does: each line after `prefix` (`> ` for
/// the request, `< ` for the response), then a line with the prefix alone.
pub(crate) fn print_head(prefix: &str, head: &str) {
    let mut err = io::stderr().lock();
    for line in head.split("\r\n").filter(|line| !line.is_empty()) {
        // stderr failing leaves nowhere to report it; the connection goes on regardless.
        let _ = writeln!(err, "{prefix}{line}");
    }
    let _ = writeln!(err, "{}", prefix.trim_end());
}

/// A response head in HTTP/1.1 text: status line and headers.
pub(crate) fn response_head(status: http::StatusCode, headers: &http::HeaderMap) -> String {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    for (name, value) in headers {
        head.push_str(name.as_str());
        head.push_str(": ");
        head.push_str(&String::from_utf8_lossy(value.as_bytes()));
        head.push_str("\r\n");
    }
    head
}

/// An informational line on stderr, curl's `* ` style.
fn info(text: &str) {
    eprintln!("* {text}");
}

fn json_line(value: Value) -> io::Result<()> {
    let mut line = value.to_string().into_bytes();
    line.push(b'\n');
    write_stdout(&[&line])
}

fn write_stdout(parts: &[&[u8]]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    for part in parts {
        out.write_all(part)?;
    }
    out.flush()
}

fn hex(data: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(data.len() * 2);
    for byte in data {
        // Writing to a String cannot fail.
        let _ = write!(text, "{byte:02x}");
    }
    text
}

/// `: "payload"` for a PING or PONG that carries one.
fn payload_note(data: &[u8]) -> String {
    if data.is_empty() {
        String::new()
    } else {
        format!(": {:?}", String::from_utf8_lossy(data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lowercase_pairs() {
        assert_eq!(hex(&[0x00, 0xab, 0x10]), "00ab10");
    }

    #[test]
    fn response_head_has_status_line_and_headers() {
        let mut headers = http::HeaderMap::new();
        headers.insert("upgrade", http::HeaderValue::from_static("websocket"));
        let head = response_head(http::StatusCode::SWITCHING_PROTOCOLS, &headers);
        assert_eq!(
            head,
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n"
        );
    }
}
