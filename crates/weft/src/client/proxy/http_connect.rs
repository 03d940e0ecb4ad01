//! HTTP CONNECT (RFC 9110 §9.3.6), sans-I/O: one request out, one response head in.

use base64::Engine as _;

use super::{Host, ProxyError, Target};

/// The largest response head accepted, terminator included.
const MAX_HEAD: usize = 8 * 1024;

/// A CONNECT exchange: the request waits in `request` until written, then the response head
/// is collected.
pub(super) struct Connect {
    request: Option<Vec<u8>>,
    state: State,
}

enum State {
    /// Collecting the response head.
    Head(Vec<u8>),
    /// A 2xx arrived; the stream is the tunnel.
    Done,
}

impl Connect {
    pub(super) fn new(target: &Target<'_>, auth: Option<(&str, &str)>) -> Self {
        let authority = match target.host {
            Host::Ip(ip) if ip.is_ipv6() => format!("[{ip}]:{}", target.port),
            Host::Ip(ip) => format!("{ip}:{}", target.port),
            // An IPv6 literal with a zone does not parse as IpAddr but still needs brackets.
            Host::Name(name) if name.contains(':') => format!("[{name}]:{}", target.port),
            Host::Name(name) => format!("{name}:{}", target.port),
        };
        let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
        if let Some((user, password)) = auth {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            request.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
        }
        request.push_str("\r\n");
        Connect {
            request: Some(request.into_bytes()),
            state: State::Head(Vec::new()),
        }
    }

    /// The request, once.
    pub(super) fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.request.take()
    }

    /// At most the bytes that cannot run past the blank line: the shortest ending left is
    /// "\n\n" (RFC 9112 §2.2 lets a recipient accept a bare LF), or one byte after a line
    /// break.
    pub(super) fn read_limit(&self) -> usize {
        match &self.state {
            State::Head(head) if head.ends_with(b"\n") || head.ends_with(b"\n\r") => 1,
            State::Head(_) => 2,
            State::Done => 0,
        }
    }

    /// Collects response bytes; on the blank line, judges the status.
    pub(super) fn handle_data(&mut self, data: &[u8]) -> Result<(), ProxyError> {
        let State::Head(head) = &mut self.state else {
            return Err(ProxyError::MalformedResponse);
        };
        for (i, &byte) in data.iter().enumerate() {
            head.push(byte);
            if head.ends_with(b"\n\n") || head.ends_with(b"\n\r\n") {
                // Bytes past the head belong to the tunnel; read_limit keeps the driver from
                // reading them, so getting any means the caller broke that contract.
                if i + 1 != data.len() {
                    return Err(ProxyError::MalformedResponse);
                }
                let status = status(head)?;
                return match status {
                    200..=299 => {
                        self.state = State::Done;
                        Ok(())
                    }
                    407 => Err(ProxyError::AuthRequired),
                    status => Err(ProxyError::Refused { status }),
                };
            }
            if head.len() >= MAX_HEAD {
                return Err(ProxyError::ResponseTooLarge);
            }
        }
        Ok(())
    }
}

/// The status code from `HTTP/1.x NNN reason`.
fn status(head: &[u8]) -> Result<u16, ProxyError> {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut parts = line.splitn(3, |&b| b == b' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    if !version.starts_with(b"HTTP/1.") {
        return Err(ProxyError::MalformedResponse);
    }
    match *code {
        [a, b, c] if [a, b, c].iter().all(u8::is_ascii_digit) && a != b'0' => {
            Ok(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => Err(ProxyError::MalformedResponse),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect(host: &str, port: u16, auth: Option<(&str, &str)>) -> Connect {
        Connect::new(&Target::new(host, port).expect("valid target"), auth)
    }

    fn request(host: &str, port: u16) -> String {
        let bytes = connect(host, port, None).poll_transmit().expect("request");
        String::from_utf8(bytes).expect("ASCII")
    }

    /// Feeds `response` in the chunk sizes the driver would read.
    fn respond(connect: &mut Connect, response: &[u8]) -> Result<usize, ProxyError> {
        let mut fed = 0;
        while fed < response.len() && connect.read_limit() > 0 {
            let n = connect.read_limit().min(response.len() - fed);
            connect.handle_data(&response[fed..fed + n])?;
            fed += n;
        }
        Ok(fed)
    }

    #[test]
    fn request_brackets_ipv6_targets() {
        assert_eq!(
            request("::1", 443),
            "CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n"
        );
        assert!(request("[::1]", 80).starts_with("CONNECT [::1]:80 "));
        assert!(request("example.com", 80).starts_with("CONNECT example.com:80 "));
    }

    #[test]
    fn response_is_not_read_past_the_blank_line() {
        for response in [
            &b"HTTP/1.1 200 Connection established\r\n\r\ntunnel data"[..],
            b"HTTP/1.0 200 OK\nVia: x\n\ntunnel data",
            b"HTTP/1.1 204 No Content\r\nA: b\r\n\r\ntunnel data",
        ] {
            let mut connect = connect("example.com", 443, None);
            let fed = respond(&mut connect, response).expect("2xx");
            assert_eq!(&response[fed..], b"tunnel data");
            assert_eq!(connect.read_limit(), 0);
        }
    }

    #[test]
    fn garbage_status_line_is_malformed() {
        for response in [
            &b"SSH-2.0-OpenSSH\r\n\r\n"[..],
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"\r\n\r\n",
        ] {
            let result = respond(&mut connect("example.com", 443, None), response);
            assert!(
                matches!(result, Err(ProxyError::MalformedResponse)),
                "{response:?}"
            );
        }
    }

    #[test]
    fn endless_head_is_too_large() {
        let response = vec![b'a'; MAX_HEAD + 10];
        let result = respond(&mut connect("example.com", 443, None), &response);
        assert!(matches!(result, Err(ProxyError::ResponseTooLarge)));
    }
}
