//! The client: URLs, TLS, proxies, and the connection handshake.

pub mod proxy;
pub mod tls;
