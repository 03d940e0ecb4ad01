//! Where a WebSocket URL points: scheme, host, port, and the request target.

use url::{Host, Url};

use crate::error::UrlError;

/// A parsed `ws://` or `wss://` URL (`http://` and `https://` are accepted as aliases).
///
/// ```
/// use weft::client::Target;
/// let t = Target::parse("wss://[::1]/chat?room=1")?;
/// assert_eq!((t.host(), t.port(), t.is_secure()), ("::1", 443, true));
/// assert_eq!(t.path_and_query(), "/chat?room=1");
/// # Ok::<(), weft::UrlError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    url: Url,
    host: String,
    port: u16,
    secure: bool,
}

impl Target {
    /// Parses and checks a WebSocket URL (RFC 6455 §3).
    ///
    /// # Errors
    ///
    /// [`UrlError::Parse`] for text that is not a URL, [`UrlError::UnsupportedScheme`],
    /// [`UrlError::MissingHost`], and [`UrlError::Fragment`] (§3 forbids fragments).
    pub fn parse(text: &str) -> Result<Target, UrlError> {
        let url = Url::parse(text)?;
        Target::from_url(url)
    }

    /// Checks an already parsed URL.
    ///
    /// # Errors
    ///
    /// As for [`parse`](Self::parse).
    pub fn from_url(url: Url) -> Result<Target, UrlError> {
        let secure = match url.scheme() {
            "ws" | "http" => false,
            "wss" | "https" => true,
            other => return Err(UrlError::UnsupportedScheme(other.to_owned())),
        };
        if url.fragment().is_some() {
            return Err(UrlError::Fragment);
        }
        let host = match url.host() {
            Some(Host::Domain(d)) => d.to_owned(),
            Some(Host::Ipv4(ip)) => ip.to_string(),
            Some(Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(UrlError::MissingHost),
        };
        if host.is_empty() {
            return Err(UrlError::MissingHost);
        }
        let port = url.port().unwrap_or(if secure { 443 } else { 80 });
        Ok(Target {
            url,
            host,
            port,
            secure,
        })
    }

    /// The host, IPv6 literals without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, 80 or 443 when the URL names none.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the scheme asks for TLS.
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The port as the URL gave it: `None` when it is the scheme's default.
    pub fn explicit_port(&self) -> Option<u16> {
        self.url.port()
    }

    /// The path and query for the request line.
    pub fn path_and_query(&self) -> String {
        match self.url.query() {
            Some(q) => format!("{}?{q}", self.url.path()),
            None => self.url.path().to_owned(),
        }
    }

    /// The URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// `host:port`, with IPv6 literals in brackets: the key of the CONNECTING rule.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Resolves a redirect's `Location` against this target, keeping to the same scheme family.
    ///
    /// # Errors
    ///
    /// As for [`parse`](Self::parse).
    pub fn join(&self, location: &str) -> Result<Target, UrlError> {
        let mut url = self.url.join(location)?;
        // A redirect to http(s) of a ws(s) upgrade means the same resource over ws(s).
        let scheme = match url.scheme() {
            "http" => Some("ws"),
            "https" => Some("wss"),
            _ => None,
        };
        if let Some(scheme) = scheme {
            // Switching between these special schemes always succeeds.
            let _ = url.set_scheme(scheme);
        }
        Target::from_url(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_ports_follow_the_scheme() {
        assert_eq!(Target::parse("ws://example.com").unwrap().port(), 80);
        assert_eq!(Target::parse("wss://example.com").unwrap().port(), 443);
        assert_eq!(
            Target::parse("ws://example.com:8080/").unwrap().port(),
            8080
        );
    }

    #[test]
    fn empty_path_becomes_slash() {
        assert_eq!(
            Target::parse("ws://example.com").unwrap().path_and_query(),
            "/"
        );
    }

    #[test]
    fn unsupported_scheme_is_a_clear_error() {
        assert_eq!(
            Target::parse("ftp://example.com"),
            Err(UrlError::UnsupportedScheme("ftp".into()))
        );
    }

    #[test]
    fn fragment_is_refused() {
        assert_eq!(
            Target::parse("ws://example.com/#x"),
            Err(UrlError::Fragment)
        );
    }

    #[test]
    fn not_a_url_is_a_parse_error() {
        assert!(matches!(
            Target::parse("not a url"),
            Err(UrlError::Parse(_))
        ));
    }

    #[test]
    fn ipv6_literal_keeps_brackets_only_in_the_authority() {
        let t = Target::parse("ws://[::1]:9001/x").unwrap();
        assert_eq!(t.host(), "::1");
        assert_eq!(t.authority(), "[::1]:9001");
    }

    #[test]
    fn redirect_to_https_stays_in_the_websocket_family() {
        let t = Target::parse("ws://a.example/x").unwrap();
        let next = t.join("https://b.example/y").unwrap();
        assert!(next.is_secure());
        assert_eq!(next.url().scheme(), "wss");
        assert_eq!(t.join("/z").unwrap().path_and_query(), "/z");
    }
}
