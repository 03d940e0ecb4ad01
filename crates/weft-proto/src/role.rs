//! Which end of the connection this side is.

/// The side of a WebSocket connection, which decides the masking rules (RFC 6455 §5.1) and who
/// closes the TCP connection first (§7.1.1).
///
/// ```
/// use weft_proto::Role;
/// assert!(Role::Client.masks_outgoing());
/// assert!(!Role::Server.masks_outgoing());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The side that opened the connection and sent the upgrade request.
    Client,
    /// The side that accepted the upgrade request.
    Server,
}

impl Role {
    /// Whether frames this side sends carry a mask (only a client's do, §5.3).
    pub fn masks_outgoing(self) -> bool {
        self == Role::Client
    }

    /// Whether frames this side receives must carry a mask (only a server's do, §5.1).
    pub fn expects_masked(self) -> bool {
        self == Role::Server
    }
}
