//! Tunnels through HTTP CONNECT (RFC 9110 §9.3.6) and SOCKS5 (RFC 1928, RFC 1929) proxies,
//! configured the way curl is: proxy URLs and the `*_proxy` / `no_proxy` environment variables.
//!
//! The protocols are written sans-I/O (request bytes out, response bytes in) and driven by two
//! thin loops, [`tunnel`] for tokio and [`tunnel_blocking`] for `std::io`.

use std::fmt;
use std::io;
use std::net::IpAddr;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

mod env;
mod http_connect;
mod socks5;

/// The protocol spoken to the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyKind {
    /// An HTTP proxy asked for a tunnel with `CONNECT host:port`.
    HttpConnect,
    /// A SOCKS5 proxy. The target's hostname is sent to the proxy to resolve (ATYP 3) for both
    /// `socks5://` and `socks5h://`, so DNS never leaks around the proxy; IP literals are sent
    /// as addresses.
    Socks5,
}

/// A proxy server and how to talk to it.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    /// The protocol.
    pub kind: ProxyKind,
    /// The proxy's host name or IP address; IPv6 without brackets.
    pub host: String,
    /// The proxy's port.
    pub port: u16,
    /// User name and password: HTTP Basic `Proxy-Authorization`, or SOCKS5 username/password
    /// authentication (RFC 1929).
    pub auth: Option<(String, String)>,
}

impl Proxy {
    /// Parses a proxy URL as curl does:
    ///
    /// * `http://user:pass@host:port`: HTTP CONNECT, port 80 by default;
    /// * `socks5://` and `socks5h://`: SOCKS5, port 1080 by default;
    /// * a bare `host:port` means `http://`.
    ///
    /// Credentials are percent-decoded; any path is ignored.
    ///
    /// ```
    /// use weft::client::proxy::{Proxy, ProxyKind};
    ///
    /// let proxy = Proxy::parse("socks5h://alice:p%40ss@[::1]").unwrap();
    /// assert_eq!(proxy.kind, ProxyKind::Socks5);
    /// assert_eq!((proxy.host.as_str(), proxy.port), ("::1", 1080));
    /// assert_eq!(proxy.auth, Some(("alice".into(), "p@ss".into())));
    /// ```
    ///
    /// # Errors
    ///
    /// [`ProxyError::InvalidUrl`], [`ProxyError::UnsupportedScheme`] (for example `https://`,
    /// `socks4://`), [`ProxyError::MissingHost`], or [`ProxyError::InvalidCredentials`] when
    /// they do not decode to UTF-8.
    pub fn parse(url: &str) -> Result<Proxy, ProxyError> {
        let url = if url.contains("://") {
            url::Url::parse(url)
        } else {
            url::Url::parse(&format!("http://{url}"))
        }
        .map_err(ProxyError::InvalidUrl)?;
        let (kind, default_port) = match url.scheme() {
            "http" => (ProxyKind::HttpConnect, 80),
            "socks5" | "socks5h" => (ProxyKind::Socks5, 1080),
            other => return Err(ProxyError::UnsupportedScheme(other.to_owned())),
        };
        let host = match url.host() {
            Some(url::Host::Domain(domain)) if !domain.is_empty() => domain.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err(ProxyError::MissingHost),
        };
        let auth = match (url.username(), url.password()) {
            ("", None) => None,
            (user, password) => Some((
                percent_decode(user)?,
                percent_decode(password.unwrap_or(""))?,
            )),
        };
        Ok(Proxy {
            kind,
            host,
            // The url crate hides a port equal to the scheme's default, and knows none for socks.
            port: url.port().unwrap_or(default_port),
            auth,
        })
    }

    /// The proxy for a connection to `host:port` from the process environment, or `None` for
    /// a direct connection.
    ///
    /// For `wss` (`secure`) it reads `wss_proxy`, then `https_proxy`; for `ws`, `ws_proxy`, then
    /// `http_proxy`; then `all_proxy`. Each lower-case name is tried before its upper-case form,
    /// except that `HTTP_PROXY` is ignored as curl does (CGI servers set it from the request's
    /// `Proxy:` header). Empty values count as unset; a value that does not parse is logged
    /// and skipped.
    ///
    /// `no_proxy` (or `NO_PROXY`) lists hosts that bypass the proxy, comma-separated: `*` for
    /// all, a domain (`example.com` or `.example.com`) for itself and its subdomains, an IP
    /// address for exactly that address, each optionally with `:port`.
    pub fn from_env(secure: bool, host: &str, port: u16) -> Option<Proxy> {
        Self::from_env_with(secure, host, port, |name| std::env::var(name).ok())
    }

    /// [`Proxy::from_env`] with the variables read through `lookup`.
    pub fn from_env_with(
        secure: bool,
        host: &str,
        port: u16,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Option<Proxy> {
        env::proxy_for(secure, host, port, lookup)
    }
}

// Passwords must not reach logs through `{:?}`.
impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("kind", &self.kind)
            .field("host", &self.host)
            .field("port", &self.port)
            .field(
                "auth",
                &self.auth.as_ref().map(|(user, _)| (user, "<redacted>")),
            )
            .finish()
    }
}

/// Asks the proxy at the other end of `stream` (a fresh connection to it) for a tunnel to
/// `host:port`. On success `stream` carries the tunnel.
///
/// The response is read without consuming any byte past its end, so nothing the target sends
/// is lost. Wrap the call in a timeout: a silent proxy is waited for forever.
///
/// # Errors
///
/// [`ProxyError`] naming what broke: I/O, a refusal, or a malformed reply.
///
/// # Cancel safety
///
/// Not cancel safe: dropping the future mid-handshake leaves `stream` unusable.
pub async fn tunnel<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    proxy: &Proxy,
    host: &str,
    port: u16,
) -> Result<(), ProxyError> {
    let mut handshake = Handshake::new(proxy, host, port)?;
    let mut buf = [0; READ_CHUNK];
    loop {
        if let Some(bytes) = handshake.poll_transmit() {
            stream.write_all(&bytes).await?;
            stream.flush().await?;
            continue;
        }
        let limit = handshake.read_limit().min(buf.len());
        if limit == 0 {
            return Ok(());
        }
        match stream.read(&mut buf[..limit]).await? {
            0 => return Err(ProxyError::Closed),
            n => handshake.handle_data(&buf[..n])?,
        }
    }
}

/// [`tunnel`] over a blocking stream.
///
/// # Errors
///
/// As for [`tunnel`].
pub fn tunnel_blocking<S: io::Read + io::Write>(
    stream: &mut S,
    proxy: &Proxy,
    host: &str,
    port: u16,
) -> Result<(), ProxyError> {
    let mut handshake = Handshake::new(proxy, host, port)?;
    let mut buf = [0; READ_CHUNK];
    loop {
        if let Some(bytes) = handshake.poll_transmit() {
            stream.write_all(&bytes)?;
            stream.flush()?;
            continue;
        }
        let limit = handshake.read_limit().min(buf.len());
        if limit == 0 {
            return Ok(());
        }
        match stream.read(&mut buf[..limit]) {
            Ok(0) => return Err(ProxyError::Closed),
            Ok(n) => handshake.handle_data(&buf[..n])?,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err.into()),
        }
    }
}

/// Why a proxy could not be configured or refused the tunnel.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The proxy URL does not parse.
    #[error("invalid proxy URL: {0}")]
    InvalidUrl(#[source] url::ParseError),
    /// The proxy URL's scheme is none of `http`, `socks5`, `socks5h`.
    #[error("unsupported proxy scheme {0:?}")]
    UnsupportedScheme(String),
    /// The proxy URL has no host.
    #[error("proxy URL has no host")]
    MissingHost,
    /// The proxy URL's user name or password is not valid percent-encoded UTF-8.
    #[error("proxy credentials are not valid percent-encoded UTF-8")]
    InvalidCredentials,
    /// Reading from or writing to the proxy failed.
    #[error("I/O error talking to the proxy: {0}")]
    Io(#[from] io::Error),
    /// The proxy closed the connection before the tunnel was set up.
    #[error("proxy closed the connection during the handshake")]
    Closed,
    /// The HTTP proxy answered CONNECT with a status other than 2xx or 407.
    #[error("proxy refused CONNECT with status {status}")]
    Refused {
        /// The HTTP status code.
        status: u16,
    },
    /// The HTTP proxy answered 407: credentials are missing or wrong.
    #[error("proxy requires authentication (407)")]
    AuthRequired,
    /// The proxy's reply does not follow the protocol.
    #[error("malformed reply from the proxy")]
    MalformedResponse,
    /// The HTTP proxy's response head exceeds 8 KiB.
    #[error("proxy response head exceeds 8 KiB")]
    ResponseTooLarge,
    /// The SOCKS5 proxy failed the request (RFC 1928 §6).
    #[error("SOCKS5 proxy failed the request: {} ({reply:#04x})", socks5::reply_text(*.reply))]
    Socks5 {
        /// The reply code, 0x01 to 0x08 defined by RFC 1928.
        reply: u8,
    },
    /// The SOCKS5 proxy rejected the user name and password (RFC 1929).
    #[error("SOCKS5 proxy rejected the user name and password")]
    Socks5AuthRejected,
    /// The SOCKS5 proxy accepts none of the offered authentication methods.
    #[error("SOCKS5 proxy accepts none of the offered authentication methods")]
    Socks5NoAcceptableMethod,
    /// The target host name exceeds the 255 bytes SOCKS5 can carry.
    #[error("host name longer than 255 bytes")]
    HostTooLong,
    /// A SOCKS5 user name or password exceeds 255 bytes (RFC 1929).
    #[error("SOCKS5 user name or password longer than 255 bytes")]
    CredentialsTooLong,
    /// The target host is empty or holds characters that cannot appear in a request.
    #[error("invalid target host {0:?}")]
    InvalidHost(String),
}

/// The largest single read; SOCKS5's longest reply part is 257 bytes.
const READ_CHUNK: usize = 512;

/// A tunnel handshake in progress, for either protocol.
enum Handshake {
    Http(http_connect::Connect),
    Socks5(socks5::Socks5),
}

impl Handshake {
    fn new(proxy: &Proxy, host: &str, port: u16) -> Result<Self, ProxyError> {
        let target = Target::new(host, port)?;
        let auth = proxy
            .auth
            .as_ref()
            .map(|(user, password)| (user.as_str(), password.as_str()));
        Ok(match proxy.kind {
            ProxyKind::HttpConnect => Handshake::Http(http_connect::Connect::new(&target, auth)),
            ProxyKind::Socks5 => Handshake::Socks5(socks5::Socks5::new(&target, auth)?),
        })
    }

    /// Bytes to write to the proxy before reading again.
    fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        match self {
            Handshake::Http(h) => h.poll_transmit(),
            Handshake::Socks5(h) => h.poll_transmit(),
        }
    }

    /// How many bytes may be read without reading past the handshake; 0 once the tunnel is up.
    fn read_limit(&self) -> usize {
        match self {
            Handshake::Http(h) => h.read_limit(),
            Handshake::Socks5(h) => h.read_limit(),
        }
    }

    /// Feeds bytes read from the proxy, at most [`Handshake::read_limit`]; call
    /// [`Handshake::poll_transmit`] next.
    fn handle_data(&mut self, data: &[u8]) -> Result<(), ProxyError> {
        match self {
            Handshake::Http(h) => h.handle_data(data),
            Handshake::Socks5(h) => h.handle_data(data),
        }
    }
}

/// The tunnel's far end, checked once for both protocols.
struct Target<'a> {
    host: Host<'a>,
    port: u16,
}

enum Host<'a> {
    Ip(IpAddr),
    Name(&'a str),
}

impl<'a> Target<'a> {
    fn new(host: &'a str, port: u16) -> Result<Self, ProxyError> {
        let bare = host
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
            .unwrap_or(host);
        if let Ok(ip) = bare.parse() {
            return Ok(Target {
                host: Host::Ip(ip),
                port,
            });
        }
        // Anything outside visible ASCII could split the CONNECT request or corrupt SOCKS.
        let valid = !bare.is_empty() && bare.bytes().all(|b| b.is_ascii_graphic() && b != b'/');
        if !valid {
            return Err(ProxyError::InvalidHost(host.to_owned()));
        }
        Ok(Target {
            host: Host::Name(bare),
            port,
        })
    }
}

/// Decodes `%XX` escapes; other bytes pass through, as the url crate already rejected bad
/// characters.
fn percent_decode(s: &str) -> Result<String, ProxyError> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b != b'%' {
            out.push(b);
            continue;
        }
        let hex = |b: Option<u8>| b.and_then(|b| char::from(b).to_digit(16));
        match (hex(bytes.next()), hex(bytes.next())) {
            // Two hex digits are below 256, so the cast is exact.
            (Some(high), Some(low)) => out.push((high * 16 + low) as u8),
            _ => return Err(ProxyError::InvalidCredentials),
        }
    }
    String::from_utf8(out).map_err(|_| ProxyError::InvalidCredentials)
}

#[cfg(test)]
mod tests;
