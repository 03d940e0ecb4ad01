//! What a connection is (Tcl's `conninfo`).

use std::net::SocketAddr;

use weft_proto::Role;

/// The connection's place in its life, as a registry or a user sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnState {
    /// The opening handshake is under way.
    Connecting,
    /// Messages flow both ways.
    Open,
    /// A close frame has been sent or received.
    Closing,
    /// The connection is over.
    Closed,
}

/// A snapshot of a connection's identity and state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// Client or server.
    pub role: Role,
    /// The peer's address, when the transport has one.
    pub peer_addr: Option<SocketAddr>,
    /// This side's address, when the transport has one.
    pub local_addr: Option<SocketAddr>,
    /// Where the connection is in its life.
    pub state: ConnState,
    /// The request path (with query) of the upgrade.
    pub path: String,
    /// The negotiated subprotocol.
    pub subprotocol: Option<String>,
    /// The negotiated extensions, as their header values.
    pub extensions: Vec<String>,
}

/// The parts of [`Info`] fixed by the handshake.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Handshaken {
    /// The peer's address.
    pub peer_addr: Option<SocketAddr>,
    /// This side's address.
    pub local_addr: Option<SocketAddr>,
    /// The request path (with query).
    pub path: String,
    /// The negotiated subprotocol.
    pub subprotocol: Option<String>,
    /// The negotiated extensions.
    pub extensions: Vec<String>,
    /// The permessage-deflate parameters agreed, if it was.
    pub deflate: Option<weft_proto::extensions::deflate::DeflateParams>,
}
