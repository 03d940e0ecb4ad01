//! The client: URLs, TLS, proxies, and the connection handshake.

mod connect;
pub(crate) mod gate;
pub(crate) mod options;
pub mod proxy;
mod stream;
mod target;
pub mod tls;

pub use connect::{ClientBuilder, connect};
pub use stream::MaybeTlsStream;
pub use target::Target;
