//! SOCKS5 CONNECT (RFC 1928) with username/password authentication (RFC 1929), sans-I/O.

use std::net::IpAddr;

use super::{Host, ProxyError, Target};

const VERSION: u8 = 5;
const NO_AUTH: u8 = 0x00;
const USER_PASS: u8 = 0x02;
const NO_ACCEPTABLE_METHOD: u8 = 0xff;
/// RFC 1929 §2: the subnegotiation's own version number.
const USER_PASS_VERSION: u8 = 1;
const CMD_CONNECT: u8 = 1;
const ATYP_IPV4: u8 = 1;
const ATYP_DOMAIN: u8 = 3;
const ATYP_IPV6: u8 = 4;
const SUCCEEDED: u8 = 0;

/// A SOCKS5 handshake: greeting, optional authentication, CONNECT. Each reply is collected in
/// `buf` until it is complete, so any read size works.
pub(super) struct Socks5 {
    pending: Option<Vec<u8>>,
    state: State,
    buf: Vec<u8>,
}

enum State {
    /// Waiting for the method choice (§3), holding the messages that may follow it.
    Method {
        auth: Option<Vec<u8>>,
        connect: Vec<u8>,
    },
    /// Waiting for the RFC 1929 status.
    Auth { connect: Vec<u8> },
    /// Waiting for VER, REP, RSV, ATYP and the first address byte (§6), which for a domain is
    /// its length.
    Reply,
    /// Skipping the rest of BND.ADDR and BND.PORT.
    BoundAddress { len: usize },
    /// The stream is the tunnel.
    Done,
}

impl Socks5 {
    pub(super) fn new(target: &Target<'_>, auth: Option<(&str, &str)>) -> Result<Self, ProxyError> {
        let connect = connect_request(target)?;
        let auth = auth.map(auth_request).transpose()?;
        let greeting = match auth {
            Some(_) => vec![VERSION, 2, NO_AUTH, USER_PASS],
            None => vec![VERSION, 1, NO_AUTH],
        };
        Ok(Socks5 {
            pending: Some(greeting),
            state: State::Method { auth, connect },
            buf: Vec::new(),
        })
    }

    /// The next message to send, once.
    pub(super) fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.pending.take()
    }

    /// The bytes still missing from the reply being read; 0 when done.
    pub(super) fn read_limit(&self) -> usize {
        self.need().saturating_sub(self.buf.len())
    }

    /// Collects reply bytes, advancing (and queueing the next message) as each reply
    /// completes.
    pub(super) fn handle_data(&mut self, mut data: &[u8]) -> Result<(), ProxyError> {
        while !data.is_empty() {
            let take = self.read_limit().min(data.len());
            if take == 0 {
                // Past the handshake, bytes belong to the tunnel; the driver never reads them.
                return Err(ProxyError::MalformedResponse);
            }
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            // A failure reply may be cut short by a closing proxy; its code is all that counts.
            if let (State::Reply, [_, reply, ..]) = (&self.state, self.buf.as_slice()) {
                if *reply != SUCCEEDED {
                    return Err(ProxyError::Socks5 { reply: *reply });
                }
            }
            if self.read_limit() == 0 {
                self.advance()?;
            }
        }
        Ok(())
    }

    fn need(&self) -> usize {
        match self.state {
            State::Method { .. } | State::Auth { .. } => 2,
            State::Reply => 5,
            State::BoundAddress { len } => len,
            State::Done => 0,
        }
    }

    /// Acts on a complete reply in `buf`.
    fn advance(&mut self) -> Result<(), ProxyError> {
        let reply = std::mem::take(&mut self.buf);
        self.state = match (
            std::mem::replace(&mut self.state, State::Done),
            reply.as_slice(),
        ) {
            (State::Method { auth, connect }, [VERSION, method]) => match (*method, auth) {
                (NO_AUTH, _) => {
                    self.pending = Some(connect);
                    State::Reply
                }
                (USER_PASS, Some(auth)) => {
                    self.pending = Some(auth);
                    State::Auth { connect }
                }
                (NO_ACCEPTABLE_METHOD, _) => return Err(ProxyError::Socks5NoAcceptableMethod),
                // A method that was not offered.
                _ => return Err(ProxyError::MalformedResponse),
            },
            // Servers disagree on this version byte (RFC 1929 says 1, some send 5), so only
            // the status is checked, as curl does.
            (State::Auth { connect }, [_, status]) => {
                if *status != SUCCEEDED {
                    return Err(ProxyError::Socks5AuthRejected);
                }
                self.pending = Some(connect);
                State::Reply
            }
            (State::Reply, [VERSION, _, _, atyp, first]) => {
                // The remaining address bytes, then the two port bytes.
                let len = match *atyp {
                    ATYP_IPV4 => 3,
                    ATYP_DOMAIN => usize::from(*first),
                    ATYP_IPV6 => 15,
                    _ => return Err(ProxyError::MalformedResponse),
                };
                State::BoundAddress { len: len + 2 }
            }
            (State::BoundAddress { .. }, _) => State::Done,
            _ => return Err(ProxyError::MalformedResponse),
        };
        Ok(())
    }
}

/// A readable name for a SOCKS5 reply code (RFC 1928 §6).
pub(super) fn reply_text(reply: u8) -> &'static str {
    match reply {
        0x01 => "general SOCKS server failure",
        0x02 => "connection not allowed by ruleset",
        0x03 => "network unreachable",
        0x04 => "host unreachable",
        0x05 => "connection refused",
        0x06 => "TTL expired",
        0x07 => "command not supported",
        0x08 => "address type not supported",
        _ => "unassigned reply code",
    }
}

fn connect_request(target: &Target<'_>) -> Result<Vec<u8>, ProxyError> {
    let mut request = vec![VERSION, CMD_CONNECT, 0];
    match target.host {
        Host::Ip(IpAddr::V4(ip)) => {
            request.push(ATYP_IPV4);
            request.extend_from_slice(&ip.octets());
        }
        Host::Ip(IpAddr::V6(ip)) => {
            request.push(ATYP_IPV6);
            request.extend_from_slice(&ip.octets());
        }
        Host::Name(name) => {
            let len = u8::try_from(name.len()).map_err(|_| ProxyError::HostTooLong)?;
            request.extend_from_slice(&[ATYP_DOMAIN, len]);
            request.extend_from_slice(name.as_bytes());
        }
    }
    request.extend_from_slice(&target.port.to_be_bytes());
    Ok(request)
}

/// RFC 1929 §2: VER, ULEN, UNAME, PLEN, PASSWD.
fn auth_request((user, password): (&str, &str)) -> Result<Vec<u8>, ProxyError> {
    let user_len = u8::try_from(user.len()).map_err(|_| ProxyError::CredentialsTooLong)?;
    let password_len = u8::try_from(password.len()).map_err(|_| ProxyError::CredentialsTooLong)?;
    let mut request = vec![USER_PASS_VERSION, user_len];
    request.extend_from_slice(user.as_bytes());
    request.push(password_len);
    request.extend_from_slice(password.as_bytes());
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socks5(host: &str, auth: Option<(&str, &str)>) -> Socks5 {
        Socks5::new(&Target::new(host, 443).expect("valid target"), auth).expect("handshake")
    }

    #[test]
    fn connect_request_carries_each_address_type() {
        let request = |host| connect_request(&Target::new(host, 0x1bb).expect("target"));

        assert_eq!(
            request("10.0.0.1").expect("v4"),
            [5, 1, 0, 1, 10, 0, 0, 1, 1, 0xbb]
        );
        assert_eq!(request("example.com").expect("name")[3..5], [3, 11]);
        let v6 = request("[::1]").expect("v6");
        assert_eq!((v6[3], v6.len()), (4, 4 + 16 + 2));
    }

    #[test]
    fn bound_address_is_sized_by_its_type() {
        for bound in [&b"\x01\0\0\0\0\0\0"[..], b"\x03\x02ab\0\0", &[4; 19]] {
            let mut socks = socks5("example.com", None);
            socks.poll_transmit();
            socks.handle_data(&[5, 0]).expect("method");
            assert!(socks.poll_transmit().is_some(), "CONNECT queued");
            let mut reply = vec![5, 0, 0];
            reply.extend_from_slice(bound);
            // One byte at a time, as a slow proxy would deliver it.
            for byte in &reply {
                assert!(socks.read_limit() > 0, "{bound:?}");
                socks
                    .handle_data(std::slice::from_ref(byte))
                    .expect("reply");
            }
            assert_eq!(socks.read_limit(), 0, "{bound:?}");
        }
    }

    #[test]
    fn failure_reply_cut_short_still_reports_its_code() {
        let mut socks = socks5("example.com", None);
        socks.handle_data(&[5, 0]).expect("method");

        let result = socks.handle_data(&[5, 0x02]);
        assert!(
            matches!(result, Err(ProxyError::Socks5 { reply: 0x02 })),
            "{result:?}"
        );
    }

    #[test]
    fn unoffered_method_is_malformed() {
        let result = socks5("example.com", None).handle_data(&[5, USER_PASS]);
        assert!(
            matches!(result, Err(ProxyError::MalformedResponse)),
            "{result:?}"
        );
    }

    #[test]
    fn no_acceptable_method_is_reported() {
        let result = socks5("example.com", Some(("u", "p"))).handle_data(&[5, 0xff]);
        assert!(
            matches!(result, Err(ProxyError::Socks5NoAcceptableMethod)),
            "{result:?}"
        );
    }

    #[test]
    fn credentials_longer_than_255_bytes_are_rejected() {
        let long = "x".repeat(256);
        let target = Target::new("example.com", 443).expect("target");
        let result = Socks5::new(&target, Some((&long, "p")));
        assert!(matches!(result, Err(ProxyError::CredentialsTooLong)));
    }
}
