//! A minimal WebSocket echo server for client tests, built from the protocol core's server
//! handshake so the client is tested against code it does not share.
// Test helpers may unwrap: a failure there is the test's failure.
#![allow(clippy::unwrap_used)]
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use weft::proto::handshake::server::{Accept, ServerHandshake, reject};
use weft::proto::{Limits, Role};
use weft::{Handshaken, Message, WebSocket, WebSocketConfig};

/// Accepts connections on 127.0.0.1:0 and echoes every data message; picks `protocols` in
/// order when offered.
pub async fn echo_server(protocols: &'static [&'static str]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(serve(tcp, protocols));
        }
    });
    addr
}

async fn serve(mut tcp: TcpStream, protocols: &'static [&'static str]) {
    let mut handshake = ServerHandshake::new(&Limits::default());
    let mut buf = BytesMut::with_capacity(4096);
    let request = loop {
        if tcp.read_buf(&mut buf).await.unwrap_or(0) == 0 {
            return;
        }
        match handshake.handle_request(&mut buf) {
            Ok(Some(request)) => break request,
            Ok(None) => continue,
            Err(e) => {
                let _ = tcp.write_all(&reject(&e)).await;
                return;
            }
        }
    };
    let protocol = request.choose_protocol(protocols);
    tcp.write_all(&request.accept(Accept::new().protocol(protocol)))
        .await
        .unwrap();
    let info = Handshaken {
        path: request.path().to_owned(),
        subprotocol: protocol.map(str::to_owned),
        ..Handshaken::default()
    };
    let mut ws = WebSocket::from_parts(tcp, Role::Server, WebSocketConfig::default(), info, buf);
    while let Some(Ok(message)) = ws.recv().await {
        if message.is_data() && ws.send(message).await.is_err() {
            return;
        }
    }
}

/// A server that answers every request with `response` and closes.
pub async fn canned_server(response: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = tcp.read(&mut buf).await;
                let _ = tcp.write_all(response).await;
                let _ = tcp.shutdown().await;
            });
        }
    });
    addr
}

pub fn text(s: &str) -> Message {
    Message::text(s)
}

/// A test CA and a server certificate for localhost, 127.0.0.1 and ::1, as PEM.
pub struct TestPki {
    pub ca: String,
    pub server_chain: String,
    pub server_key: String,
}

impl TestPki {
    pub fn generate() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "weft test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let names = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ];
        let leaf = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &ca, &ca_key)
            .unwrap();
        TestPki {
            ca: ca.pem(),
            server_chain: leaf.pem(),
            server_key: key.serialize_pem(),
        }
    }
}
