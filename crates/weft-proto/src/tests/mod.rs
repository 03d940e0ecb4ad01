//! Scenario tests: a client and a server driven against each other in memory, no sockets.

mod close;

use bytes::BytesMut;

use crate::{Config, Connection, Event, Role, Transmit};

/// Both ends of a connection, with the bytes in flight between them.
struct Pair {
    client: Connection,
    server: Connection,
    to_server: BytesMut,
    to_client: BytesMut,
    client_shutdown: bool,
    server_shutdown: bool,
}

impl Pair {
    fn new() -> Self {
        Self::with(Config::default(), Config::default())
    }

    fn with(client: Config, server: Config) -> Self {
        Pair {
            client: Connection::new(Role::Client, client),
            server: Connection::new(Role::Server, server),
            to_server: BytesMut::new(),
            to_client: BytesMut::new(),
            client_shutdown: false,
            server_shutdown: false,
        }
    }

    /// Moves the client's output to the server and feeds it.
    fn client_to_server(&mut self) {
        while let Some(t) = self.client.poll_transmit() {
            match t {
                Transmit::Data(d) => self.to_server.extend_from_slice(&d),
                Transmit::Shutdown => self.client_shutdown = true,
            }
        }
        self.server
            .handle_data(&mut self.to_server)
            .expect("client output is valid");
    }

    /// Moves the server's output to the client and feeds it.
    fn server_to_client(&mut self) {
        while let Some(t) = self.server.poll_transmit() {
            match t {
                Transmit::Data(d) => self.to_client.extend_from_slice(&d),
                Transmit::Shutdown => self.server_shutdown = true,
            }
        }
        self.client
            .handle_data(&mut self.to_client)
            .expect("server output is valid");
    }

    /// Delivers the TCP close of whichever side shut down to the other.
    fn deliver_shutdowns(&mut self) {
        if self.server_shutdown {
            self.client.handle_eof();
        }
        if self.client_shutdown {
            self.server.handle_eof();
        }
    }

    fn client_events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.client.poll_event()).collect()
    }

    fn server_events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.server.poll_event()).collect()
    }
}
