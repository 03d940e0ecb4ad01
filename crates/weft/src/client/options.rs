//! What the async and blocking clients share: the options a builder collects, and how they
//! become a handshake.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use weft_proto::HandshakeError;
use weft_proto::extensions::deflate;
use weft_proto::handshake::client::{ClientHandshake, ClientRequest};

use super::proxy::Proxy;
use super::target::Target;
use super::tls::TlsOptions;
use crate::config::WebSocketConfig;
use crate::error::Error;

/// What a client does after one attempt to connect.
pub(crate) enum Attempt<T> {
    /// Hand this back to the caller.
    Done(Result<T, Error>),
    /// Try again here: the server redirected.
    Follow(Target),
}

/// Whether and how to use a proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum ProxyChoice {
    /// `ws_proxy`, `wss_proxy`, `https_proxy`, `http_proxy`, `all_proxy`, `no_proxy` (curl's).
    #[default]
    FromEnv,
    /// Connect directly.
    Direct,
    /// This proxy.
    Use(Proxy),
}

#[derive(Debug, Clone)]
pub(crate) struct ClientOptions {
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) protocols: Vec<String>,
    pub(crate) origin: Option<String>,
    pub(crate) extensions: Vec<String>,
    pub(crate) connect_timeout: Duration,
    pub(crate) handshake_timeout: Duration,
    pub(crate) config: WebSocketConfig,
    pub(crate) tls: TlsOptions,
    pub(crate) proxy: ProxyChoice,
    pub(crate) max_redirects: usize,
    pub(crate) on_request: Option<RequestHook>,
}

/// A function shown each upgrade request's bytes just before they are sent.
#[derive(Clone)]
pub(crate) struct RequestHook(pub(crate) Arc<RequestFn>);

/// The function type behind [`RequestHook`].
pub(crate) type RequestFn = dyn Fn(&[u8]) + Send + Sync;

// A closure has no useful Debug; say only that one is set.
impl fmt::Debug for RequestHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RequestHook(..)")
    }
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            headers: Vec::new(),
            protocols: Vec::new(),
            origin: None,
            extensions: Vec::new(),
            connect_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(30),
            config: WebSocketConfig::default(),
            tls: TlsOptions::default(),
            proxy: ProxyChoice::FromEnv,
            max_redirects: 0,
            on_request: None,
        }
    }
}

impl ClientOptions {
    /// The opening handshake for `target`.
    pub(crate) fn handshake(&self, target: &Target) -> Result<ClientHandshake, Error> {
        let mut request = ClientRequest::new(
            target.host(),
            target.explicit_port(),
            &target.path_and_query(),
            target.is_secure(),
        );
        if let Some(origin) = &self.origin {
            request = request.origin(origin);
        }
        for protocol in &self.protocols {
            request = request.protocol(protocol);
        }
        for offer in &self.extensions {
            request = request.extension(offer);
        }
        if let Some(deflate) = &self.config.deflate {
            request = request.extension(&deflate::client_offer(deflate));
        }
        for (name, value) in &self.headers {
            let invalid = || Error::InvalidHeader { name: name.clone() };
            let header_name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
            let header_value = HeaderValue::from_str(value).map_err(|_| invalid())?;
            request = request.header(header_name, header_value);
        }
        Ok(ClientHandshake::new(request, self.config.proto.limits())?)
    }

    /// Where a redirect from `from` to `location` leads. A redirect out of TLS is refused
    /// ([`Error::Redirect`]); one to another host or port drops the credentials given for
    /// this one (`Authorization`, `Cookie`), as curl does unless told the redirect is trusted.
    pub(crate) fn follow(
        &mut self,
        from: &Target,
        status: u16,
        location: &str,
    ) -> Result<Target, Error> {
        let next = from.join(location)?;
        if from.is_secure() && !next.is_secure() {
            return Err(Error::Redirect {
                status,
                location: location.to_owned(),
            });
        }
        if next.host() != from.host() || next.port() != from.port() {
            self.headers.retain(|(name, _)| {
                !name.eq_ignore_ascii_case("authorization") && !name.eq_ignore_ascii_case("cookie")
            });
        }
        Ok(next)
    }

    /// What follows one attempt at `from`: a redirect to follow, or the outcome to hand
    /// back. `redirects` counts the redirects followed so far, across attempts.
    pub(crate) fn after_attempt<T>(
        &mut self,
        from: &Target,
        outcome: Result<T, Error>,
        redirects: &mut usize,
    ) -> Attempt<T> {
        let Err(Error::Handshake(refusal)) = &outcome else {
            return Attempt::Done(outcome);
        };
        let HandshakeError::UnexpectedStatus {
            status, headers, ..
        } = &**refusal
        else {
            return Attempt::Done(outcome);
        };
        if !status.is_redirection() || self.max_redirects == 0 {
            return Attempt::Done(outcome);
        }
        let status = status.as_u16();
        let Some(location) = headers
            .get(http::header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
        else {
            let missing = HandshakeError::MalformedResponse("redirect without Location");
            return Attempt::Done(Err(missing.into()));
        };
        *redirects += 1;
        if *redirects > self.max_redirects {
            return Attempt::Done(Err(Error::Redirect { status, location }));
        }
        match self.follow(from, status, &location) {
            Ok(next) => Attempt::Follow(next),
            Err(e) => Attempt::Done(Err(e)),
        }
    }

    /// The proxy to use for `target`, if any.
    pub(crate) fn proxy_for(&self, target: &Target) -> Option<Proxy> {
        match &self.proxy {
            ProxyChoice::FromEnv => {
                Proxy::from_env(target.is_secure(), target.host(), target.port())
            }
            ProxyChoice::Direct => None,
            ProxyChoice::Use(proxy) => Some(proxy.clone()),
        }
    }
}

/// Builder methods shared by the async and blocking `ClientBuilder`s, over their `options`.
macro_rules! client_builder_methods {
    () => {
        /// Adds a header to the upgrade request, such as `Authorization` or `Cookie`. Headers
        /// the handshake sets itself are refused when connecting.
        pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
            self.options.headers.push((name.into(), value.into()));
            self
        }

        /// Offers a subprotocol; call once per subprotocol, most preferred first.
        pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
            self.options.protocols.push(protocol.into());
            self
        }

        /// Sends `Origin`, as a browser would.
        pub fn origin(mut self, origin: impl Into<String>) -> Self {
            self.options.origin = Some(origin.into());
            self
        }

        /// Offers an extension: a `Sec-WebSocket-Extensions` value.
        pub fn extension(mut self, offer: impl Into<String>) -> Self {
            self.options.extensions.push(offer.into());
            self
        }

        /// How long TCP connect (and the proxy tunnel) may take. Default: 30 s.
        pub fn connect_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.options.connect_timeout = timeout;
            self
        }

        /// How long TLS and the opening handshake may take. Default: 30 s.
        pub fn handshake_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.options.handshake_timeout = timeout;
            self
        }

        /// Settings of the connection once open: limits, keepalive, close timeout, buffers.
        pub fn config(mut self, config: $crate::WebSocketConfig) -> Self {
            self.options.config = config;
            self
        }

        /// TLS settings for `wss://`: roots, extra CAs, client certificates.
        pub fn tls(mut self, tls: $crate::client::tls::TlsOptions) -> Self {
            self.options.tls = tls;
            self
        }

        /// Connects through this proxy instead of the one the environment names.
        pub fn proxy(mut self, proxy: $crate::client::proxy::Proxy) -> Self {
            self.options.proxy = $crate::client::options::ProxyChoice::Use(proxy);
            self
        }

        /// Connects directly, ignoring proxy environment variables.
        pub fn no_proxy(mut self) -> Self {
            self.options.proxy = $crate::client::options::ProxyChoice::Direct;
            self
        }

        /// Follows up to `max` redirects (3xx with `Location`) within ws/wss. Default: none;
        /// a redirect is then an [`Error::Handshake`]($crate::Error::Handshake) carrying the
        /// status and headers. A redirect from wss to ws is refused
        /// ([`Error::Redirect`]($crate::Error::Redirect)), and one to another host or port
        /// goes without the `Authorization` and `Cookie` headers given here.
        pub fn follow_redirects(mut self, max: usize) -> Self {
            self.options.max_redirects = max;
            self
        }
    };
}
pub(crate) use client_builder_methods;

#[cfg(test)]
mod tests {
    use super::*;

    fn with_credentials() -> ClientOptions {
        let mut options = ClientOptions::default();
        for (name, value) in [
            ("Authorization", "Bearer secret"),
            ("cookie", "session=1"),
            ("X-Trace", "abc"),
        ] {
            options.headers.push((name.into(), value.into()));
        }
        options
    }

    fn names(options: &ClientOptions) -> Vec<&str> {
        options.headers.iter().map(|(n, _)| n.as_str()).collect()
    }

    fn target(url: &str) -> Target {
        Target::parse(url).expect("valid url")
    }

    #[test]
    fn redirect_out_of_tls_is_refused() {
        let mut options = with_credentials();
        let err = options
            .follow(&target("wss://a.example/"), 302, "ws://a.example/plain")
            .unwrap_err();
        assert!(
            matches!(&err, Error::Redirect { status: 302, location } if location == "ws://a.example/plain"),
            "{err:?}"
        );
        let err = options
            .follow(&target("wss://a.example/"), 301, "http://a.example/")
            .unwrap_err();
        assert!(matches!(err, Error::Redirect { status: 301, .. }));
    }

    #[test]
    fn redirect_within_the_same_host_keeps_every_header() {
        let mut options = with_credentials();
        let next = options
            .follow(&target("ws://a.example/old"), 302, "/new")
            .expect("followed");
        assert_eq!(next.path_and_query(), "/new");
        assert_eq!(names(&options), ["Authorization", "cookie", "X-Trace"]);
    }

    #[test]
    fn redirect_to_another_host_or_port_drops_the_credentials() {
        for location in [
            "ws://b.example/",
            "ws://a.example:8080/",
            "https://b.example/",
        ] {
            let mut options = with_credentials();
            options
                .follow(&target("ws://a.example/"), 307, location)
                .expect("followed");
            assert_eq!(names(&options), ["X-Trace"], "to {location}");
        }
    }

    #[test]
    fn redirect_from_ws_up_to_wss_is_followed() {
        let mut options = with_credentials();
        let next = options
            .follow(&target("ws://a.example/"), 302, "wss://a.example/")
            .expect("followed");
        assert!(next.is_secure());
    }
}
