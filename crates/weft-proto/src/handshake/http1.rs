//! Reading an HTTP/1.1 head (RFC 9112 §2-5) in bounded memory and linear time, and the header
//! helpers both handshake sides share.
//!
//! httparse restarts from the first byte on every call, so calling it each time a few bytes
//! arrive costs time quadratic in the head's length. [`HeadReader`] instead scans only new
//! bytes for the blank line that ends the head and hands httparse the complete head once. It
//! also probes an unfinished head at doubling lengths, so garbage (a TLS hello on a plain port)
//! is refused early while the total work stays linear.

use std::mem;

use bytes::{BufMut, BytesMut};
use http::{
    HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri, Version,
};

use super::HandshakeError;
use crate::Limits;

/// Progress through one HTTP head, kept between calls so that each byte is scanned once.
#[derive(Debug)]
pub(crate) struct HeadReader {
    limits: Limits,
    /// Reused by every parse attempt so a handshake allocates them once.
    slots: Vec<httparse::Header<'static>>,
    slot_count: usize,
    /// Bytes already searched for the end of the head.
    scanned: usize,
    /// Leading CR and LF bytes, which httparse skips (RFC 9112 §2.2) and so cannot end a head.
    leading: usize,
    /// Buffer length at which the next probe of an unfinished head runs.
    next_probe: usize,
}

/// Why a head could not be read, before it is told apart as a request or response error.
enum HeadError {
    TooLarge,
    TooManyHeaders,
    Malformed(&'static str),
    InvalidTarget,
}

impl HeadReader {
    pub(crate) fn new(limits: &Limits) -> Self {
        // A header line takes at least three bytes ("a:\n"), so a head within max_header_bytes
        // never fills more slots than this however large max_headers is.
        let slot_count = limits.max_headers.min(limits.max_header_bytes / 3 + 1);
        HeadReader {
            limits: *limits,
            slots: vec![httparse::EMPTY_HEADER; slot_count],
            slot_count,
            scanned: 0,
            leading: 0,
            next_probe: 0,
        }
    }

    /// Reads a request head from the start of `buf`: `Ok(None)` until it is complete, then the
    /// request and the head's length in bytes. `buf` must be the same buffer on every call,
    /// only ever appended to.
    pub(crate) fn read_request(
        &mut self,
        buf: &[u8],
    ) -> Result<Option<(Request<()>, usize)>, HandshakeError> {
        let limits = self.limits;
        self.read(buf, parse_request).map_err(|error| match error {
            HeadError::TooLarge => HandshakeError::RequestTooLarge {
                limit: limits.max_header_bytes,
            },
            HeadError::TooManyHeaders => HandshakeError::TooManyHeaders {
                limit: limits.max_headers,
            },
            HeadError::Malformed(what) => HandshakeError::MalformedRequest(what),
            HeadError::InvalidTarget => HandshakeError::InvalidTarget,
        })
    }

    /// Reads a response head from the start of `buf`, like [`read_request`](Self::read_request).
    pub(crate) fn read_response(
        &mut self,
        buf: &[u8],
    ) -> Result<Option<(Response<()>, usize)>, HandshakeError> {
        self.read(buf, parse_response).map_err(|error| match error {
            HeadError::TooLarge | HeadError::TooManyHeaders => HandshakeError::ResponseTooLarge,
            HeadError::Malformed(what) => HandshakeError::MalformedResponse(what),
            HeadError::InvalidTarget => HandshakeError::MalformedResponse("request target"),
        })
    }

    fn read<T>(&mut self, buf: &[u8], parse: ParseFn<T>) -> Result<Option<(T, usize)>, HeadError> {
        let Some((len, complete)) = self.next_attempt(buf)? else {
            return Ok(None);
        };
        let mut slots = recycle(mem::take(&mut self.slots));
        slots.resize(self.slot_count, httparse::EMPTY_HEADER);
        let parsed = parse(&buf[..len], &mut slots);
        self.slots = recycle(slots);
        match parsed? {
            Parsed::Complete(head, len) => Ok(Some((head, len))),
            // Only a head made of blank lines ends in a blank line yet leaves httparse wanting
            // its start line.
            Parsed::Partial if complete => Err(HeadError::Malformed("no start line")),
            Parsed::Partial => Ok(None),
        }
    }

    /// How many bytes httparse should look at now, and whether they end in a blank line;
    /// `None` when it is not worth running yet.
    fn next_attempt(&mut self, buf: &[u8]) -> Result<Option<(usize, bool)>, HeadError> {
        let window = &buf[..buf.len().min(self.limits.max_header_bytes)];
        while let Some(b'\r' | b'\n') = window.get(self.leading) {
            self.leading += 1;
        }
        // A blank line is "\n\n" or "\n\r\n": back up over the bytes of one that the last
        // scan may have cut short.
        let from = self
            .scanned
            .saturating_sub(2)
            .max(self.leading)
            .min(window.len());
        if let Some(end) = find_head_end(window, from) {
            return Ok(Some((end, true)));
        }
        self.scanned = window.len();
        if buf.len() > self.limits.max_header_bytes {
            return Err(HeadError::TooLarge);
        }
        if !buf.is_empty() && buf.len() >= self.next_probe {
            self.next_probe = buf.len().saturating_mul(2);
            return Ok(Some((buf.len(), false)));
        }
        Ok(None)
    }
}

/// The length of the head ending at the first blank line at or after `from`.
fn find_head_end(window: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(offset) = window.get(at..)?.iter().position(|&b| b == b'\n') {
        let newline = at + offset;
        match window.get(newline + 1..)? {
            [b'\n', ..] => return Some(newline + 2),
            [b'\r', b'\n', ..] => return Some(newline + 3),
            _ => at = newline + 1,
        }
    }
    None
}

/// Carries a vector's allocation over to a new header lifetime. The vector is emptied first,
/// and collecting a `vec::IntoIter` into a vector of a same-sized type reuses its buffer.
fn recycle<'a>(mut slots: Vec<httparse::Header<'_>>) -> Vec<httparse::Header<'a>> {
    slots.clear();
    slots.into_iter().map(|_| httparse::EMPTY_HEADER).collect()
}

/// httparse over a head, borrowing `slots` for its header fields.
type ParseFn<T> = for<'b> fn(&'b [u8], &mut [httparse::Header<'b>]) -> Result<Parsed<T>, HeadError>;

enum Parsed<T> {
    Complete(T, usize),
    Partial,
}

fn parse_request<'b>(
    head: &'b [u8],
    slots: &mut [httparse::Header<'b>],
) -> Result<Parsed<Request<()>>, HeadError> {
    let mut parsed = httparse::Request::new(slots);
    let len = match parsed.parse(head).map_err(HeadError::from)? {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => return Ok(Parsed::Partial),
    };
    let (Some(method), Some(target), Some(version)) = (parsed.method, parsed.path, parsed.version)
    else {
        return Err(HeadError::Malformed("request line"));
    };
    let mut request = Request::new(());
    *request.method_mut() =
        Method::from_bytes(method.as_bytes()).map_err(|_| HeadError::Malformed("method"))?;
    *request.uri_mut() = Uri::try_from(target).map_err(|_| HeadError::InvalidTarget)?;
    *request.version_mut() = version_of(version)?;
    *request.headers_mut() = header_map(parsed.headers)?;
    Ok(Parsed::Complete(request, len))
}

fn parse_response<'b>(
    head: &'b [u8],
    slots: &mut [httparse::Header<'b>],
) -> Result<Parsed<Response<()>>, HeadError> {
    let mut parsed = httparse::Response::new(slots);
    let len = match parsed.parse(head).map_err(HeadError::from)? {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => return Ok(Parsed::Partial),
    };
    let (Some(code), Some(version)) = (parsed.code, parsed.version) else {
        return Err(HeadError::Malformed("status line"));
    };
    let mut response = Response::new(());
    *response.status_mut() =
        StatusCode::from_u16(code).map_err(|_| HeadError::Malformed("status code"))?;
    *response.version_mut() = version_of(version)?;
    *response.headers_mut() = header_map(parsed.headers)?;
    Ok(Parsed::Complete(response, len))
}

fn version_of(minor: u8) -> Result<Version, HeadError> {
    match minor {
        0 => Ok(Version::HTTP_10),
        1 => Ok(Version::HTTP_11),
        _ => Err(HeadError::Malformed("HTTP version")),
    }
}

fn header_map(fields: &[httparse::Header<'_>]) -> Result<HeaderMap, HeadError> {
    let mut map =
        HeaderMap::try_with_capacity(fields.len()).map_err(|_| HeadError::TooManyHeaders)?;
    for field in fields {
        let name = HeaderName::from_bytes(field.name.as_bytes())
            .map_err(|_| HeadError::Malformed("header name"))?;
        let value = HeaderValue::from_bytes(field.value)
            .map_err(|_| HeadError::Malformed("header value"))?;
        map.try_append(name, value)
            .map_err(|_| HeadError::TooManyHeaders)?;
    }
    Ok(map)
}

impl From<httparse::Error> for HeadError {
    fn from(error: httparse::Error) -> Self {
        HeadError::Malformed(match error {
            httparse::Error::TooManyHeaders => return HeadError::TooManyHeaders,
            httparse::Error::HeaderName => "header name",
            httparse::Error::HeaderValue => "header value",
            httparse::Error::NewLine => "line ending",
            httparse::Error::Status => "status code",
            httparse::Error::Token => "method or token",
            httparse::Error::Version => "HTTP version",
        })
    }
}

/// The elements of a comma-separated list header over all its fields, trimmed, with empty
/// elements skipped (RFC 9110 §5.6.1). A field that is not visible ASCII contributes nothing.
pub(crate) fn list_elements<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|element| element.trim_matches([' ', '\t']))
        .filter(|element| !element.is_empty())
}

/// Whether a list header names `token`, ASCII case-insensitively (RFC 9110 §7.6.1, §7.8).
pub(crate) fn has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    list_elements(headers, name).any(|element| element.eq_ignore_ascii_case(token))
}

/// A header that may appear at most once.
pub(crate) enum Sole<'a> {
    Absent,
    One(&'a HeaderValue),
    Repeated,
}

pub(crate) fn sole<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Sole<'a> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (None, _) => Sole::Absent,
        (Some(value), None) => Sole::One(value),
        (Some(_), Some(_)) => Sole::Repeated,
    }
}

/// Joins every field of `name` with ", ", the form RFC 9110 §5.3 makes equivalent. Bytes
/// that are not UTF-8 become U+FFFD, which no list grammar accepts, so they still fail the parse.
pub(crate) fn joined(headers: &HeaderMap, name: &HeaderName) -> String {
    let mut joined = String::new();
    for value in headers.get_all(name) {
        if !joined.is_empty() {
            joined.push_str(", ");
        }
        joined.push_str(&String::from_utf8_lossy(value.as_bytes()));
    }
    joined
}

/// Appends one `name: value` line.
pub(crate) fn put_header(out: &mut BytesMut, name: &str, value: &[u8]) {
    out.put_slice(name.as_bytes());
    out.put_slice(b": ");
    out.put_slice(value);
    out.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: &[u8] = b"GET /chat?x=1 HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nx-a: 2\r\n\r\nrest";

    fn limits(max_header_bytes: usize, max_headers: usize) -> Limits {
        Limits {
            max_header_bytes,
            max_headers,
            ..Limits::DEFAULT
        }
    }

    #[test]
    fn complete_request_is_read_with_its_length() {
        let mut reader = HeadReader::new(&Limits::DEFAULT);
        let (request, len) = reader
            .read_request(REQUEST)
            .ok()
            .flatten()
            .expect("complete head");
        assert_eq!(len, REQUEST.len() - 4);
        assert_eq!(request.uri().path(), "/chat");
        assert_eq!(request.headers().get_all("x-a").iter().count(), 2);
    }

    #[test]
    fn bare_lf_line_endings_end_the_head() {
        let mut reader = HeadReader::new(&Limits::DEFAULT);
        let head = b"GET / HTTP/1.1\nHost: a\n\nrest";
        let (_, len) = reader
            .read_request(head)
            .ok()
            .flatten()
            .expect("complete head");
        assert_eq!(len, head.len() - 4);
    }

    #[test]
    fn head_of_exactly_the_limit_is_read_and_one_more_byte_is_refused() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let mut reader = HeadReader::new(&limits(head.len(), 8));
        assert!(matches!(reader.read_request(head), Ok(Some(_))));
        let mut reader = HeadReader::new(&limits(head.len() - 1, 8));
        assert!(matches!(
            reader.read_request(head),
            Err(HandshakeError::RequestTooLarge { .. })
        ));
    }

    #[test]
    fn unfinished_head_within_limit_waits() {
        let mut reader = HeadReader::new(&Limits::DEFAULT);
        assert!(matches!(
            reader.read_request(b"GET / HTTP/1.1\r\nHost: a\r\n"),
            Ok(None)
        ));
    }

    #[test]
    fn garbage_is_refused_before_the_head_ends() {
        let mut reader = HeadReader::new(&Limits::DEFAULT);
        assert!(matches!(
            reader.read_request(b"\x16\x03\x01\x02\x00"),
            Err(HandshakeError::MalformedRequest(_))
        ));
    }

    #[test]
    fn blank_lines_alone_are_not_a_head() {
        let mut reader = HeadReader::new(&Limits::DEFAULT);
        assert!(matches!(reader.read_request(b"\r\n\r\n\r\n"), Ok(None)));
        assert!(matches!(
            reader.read_request(b"\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n"),
            Ok(Some(_))
        ));
    }

    #[test]
    fn too_many_headers_is_its_own_error() {
        let mut reader = HeadReader::new(&limits(1024, 1));
        assert!(matches!(
            reader.read_request(REQUEST),
            Err(HandshakeError::TooManyHeaders { limit: 1 })
        ));
    }

    #[test]
    fn slots_survive_a_parse() {
        let mut reader = HeadReader::new(&Limits::DEFAULT);
        let capacity = reader.slots.capacity();
        assert!(reader.read_request(REQUEST).is_ok());
        assert_eq!(reader.slots.capacity(), capacity);
    }

    #[test]
    fn huge_max_headers_does_not_allocate_beyond_the_byte_limit() {
        let reader = HeadReader::new(&limits(300, usize::MAX));
        assert_eq!(reader.slot_count, 101);
    }

    #[test]
    fn list_tokens_are_split_trimmed_and_case_insensitive() {
        let mut headers = HeaderMap::new();
        headers.append(
            "connection",
            HeaderValue::from_static("keep-alive, ,Upgrade "),
        );
        assert!(has_token(&headers, &http::header::CONNECTION, "upgrade"));
        assert!(!has_token(&headers, &http::header::CONNECTION, "close"));
    }
}
