use std::net::{Ipv6Addr, SocketAddr};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// A CA, a server certificate for localhost / 127.0.0.1 / ::1 and a client certificate, all PEM.
struct Pki {
    ca: String,
    server_chain: String,
    server_key: String,
    client_chain: String,
    client_key: String,
}

impl Pki {
    fn generate() -> Self {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "weft test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = ca_params.self_signed(&ca_key).expect("CA certificate");

        let leaf = |names: Vec<String>| {
            let key = KeyPair::generate().expect("leaf key");
            let cert = CertificateParams::new(names)
                .expect("leaf params")
                .signed_by(&key, &ca, &ca_key)
                .expect("leaf certificate");
            (cert.pem(), key.serialize_pem())
        };
        let (server_chain, server_key) = leaf(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ]);
        let (client_chain, client_key) = leaf(vec!["client.weft.test".to_owned()]);
        Pki {
            ca: ca.pem(),
            server_chain,
            server_key,
            client_chain,
            client_key,
        }
    }

    fn server(&self) -> ServerTlsOptions {
        ServerTlsOptions::from_pem(self.server_chain.clone(), self.server_key.clone())
    }
}

/// Serves one TLS connection that echoes five bytes; the handle reports whether the client
/// presented a certificate, or the server's handshake error.
async fn spawn_echo_server(
    options: ServerTlsOptions,
) -> (SocketAddr, tokio::task::JoinHandle<io::Result<bool>>) {
    let acceptor = tokio_rustls::TlsAcceptor::from(options.server_config().expect("server config"));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await?;
        let mut tls = acceptor.accept(tcp).await?;
        let client_cert = tls.get_ref().1.peer_certificates().is_some();
        let mut buf = [0; 5];
        tls.read_exact(&mut buf).await?;
        tls.write_all(&buf).await?;
        tls.shutdown().await?;
        Ok(client_cert)
    });
    (addr, task)
}

async fn echo_through(options: &TlsOptions, addr: SocketAddr) -> Result<[u8; 5], TlsError> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let mut tls = connect_tls(tcp, "localhost", options).await?;
    tls.write_all(b"hello").await.expect("write");
    let mut buf = [0; 5];
    tls.read_exact(&mut buf).await.expect("read");
    Ok(buf)
}

#[tokio::test]
async fn connect_tls_trusts_extra_ca_pem() {
    let pki = Pki::generate();
    let (addr, server) = spawn_echo_server(pki.server()).await;
    let options = TlsOptions::new()
        .roots(Roots::None)
        .add_ca_pem(pki.ca.clone());

    assert_eq!(echo_through(&options, addr).await.expect("tls"), *b"hello");
    assert!(!server.await.expect("join").expect("server"));
}

#[tokio::test]
async fn connect_tls_rejects_unknown_ca() {
    let pki = Pki::generate();
    let (addr, _server) = spawn_echo_server(pki.server()).await;
    let options = TlsOptions::new().roots(Roots::WebPki);

    let err = echo_through(&options, addr).await.expect_err("unknown CA");
    let TlsError::Handshake(io) = err else {
        panic!("expected a handshake error, got {err:?}");
    };
    let rustls_error = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>());
    assert_eq!(
        rustls_error,
        Some(&rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer
        ))
    );
}

#[tokio::test]
async fn danger_accept_invalid_certs_connects_to_unknown_ca() {
    let pki = Pki::generate();
    let (addr, _server) = spawn_echo_server(pki.server()).await;
    let options = TlsOptions::new()
        .roots(Roots::None)
        .danger_accept_invalid_certs(true);

    assert_eq!(echo_through(&options, addr).await.expect("tls"), *b"hello");
}

#[tokio::test]
async fn mutual_tls_presents_client_certificate() {
    let pki = Pki::generate();
    let server = pki.server().client_auth_ca_pem(pki.ca.clone());
    let (addr, server) = spawn_echo_server(server).await;
    let options = TlsOptions::new()
        .roots(Roots::None)
        .add_ca_pem(pki.ca.clone())
        .client_auth_pem(pki.client_chain.clone(), pki.client_key.clone());

    assert_eq!(echo_through(&options, addr).await.expect("tls"), *b"hello");
    assert!(
        server
            .await
            .expect("join")
            .expect("server saw a client certificate")
    );
}

#[tokio::test]
async fn blocking_connect_tls_round_trip() {
    use std::io::{Read, Write};

    let pki = Pki::generate();
    let server_config = pki.server().server_config().expect("server config");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let server = std::thread::spawn(move || -> io::Result<()> {
        let (tcp, _) = listener.accept()?;
        let conn = rustls::ServerConnection::new(server_config).map_err(io::Error::other)?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut buf = [0; 5];
        tls.read_exact(&mut buf)?;
        tls.write_all(&buf)?;
        tls.flush()
    });
    let options = TlsOptions::new().roots(Roots::None).add_ca_pem(pki.ca);

    let echoed = tokio::task::spawn_blocking(move || {
        let tcp = std::net::TcpStream::connect(addr).expect("connect");
        let mut tls = connect_tls_blocking(tcp, "127.0.0.1", &options).expect("tls");
        assert!(!tls.conn.is_handshaking());
        tls.write_all(b"hello").expect("write");
        let mut buf = [0; 5];
        tls.read_exact(&mut buf).expect("read");
        buf
    })
    .await
    .expect("join");

    assert_eq!(echoed, *b"hello");
    server.join().expect("server thread").expect("server");
}

#[tokio::test]
async fn missing_pem_file_is_a_clear_error() {
    let path = std::env::temp_dir().join(format!("weft-missing-{}.pem", std::process::id()));
    let err = TlsOptions::new()
        .add_ca_pem_file(&path)
        .client_config()
        .expect_err("missing file");

    assert!(
        matches!(&err, TlsError::ReadPem { path: p, source } if *p == path && source.kind() == io::ErrorKind::NotFound),
        "{err:?}"
    );
    assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
}

#[tokio::test]
async fn ipv6_literal_server_name_is_an_ip_address() {
    let options = TlsOptions::new();
    let expected = ServerName::IpAddress(std::net::IpAddr::V6(Ipv6Addr::LOCALHOST).into());

    assert_eq!(options.server_name_for("::1").expect("bare"), expected);
    assert_eq!(
        options.server_name_for("[::1]").expect("bracketed"),
        expected
    );
}

#[tokio::test]
async fn server_name_override_replaces_host() {
    let options = TlsOptions::new().server_name("example.com");
    let name = options.server_name_for("10.0.0.1").expect("override");

    assert_eq!(name, ServerName::try_from("example.com").expect("dns name"));
}

#[tokio::test]
async fn roots_none_without_extra_cas_has_no_trust_anchors() {
    let err = TlsOptions::new().roots(Roots::None).client_config();

    assert!(matches!(err, Err(TlsError::NoTrustAnchors)), "{err:?}");
}

#[tokio::test]
async fn pem_without_certificates_is_rejected() {
    let err = TlsOptions::new()
        .add_ca_pem("not a certificate")
        .client_config();

    assert!(matches!(err, Err(TlsError::NoCertificates)), "{err:?}");
}

#[tokio::test]
async fn debug_does_not_print_private_keys() {
    let pki = Pki::generate();
    let options = TlsOptions::new().client_auth_pem(pki.client_chain, pki.client_key.clone());

    assert!(!format!("{options:?}").contains("PRIVATE KEY"));
}
