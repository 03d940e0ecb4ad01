use std::collections::HashMap;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use super::*;

/// A TCP server on 127.0.0.1 that echoes every connection.
async fn spawn_echo_target() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut read, mut write) = tcp.split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
            });
        }
    });
    addr
}

/// How a test proxy behaves.
#[derive(Clone, Default)]
struct Behaviour {
    /// Credentials the client must present.
    auth: Option<(&'static str, &'static str)>,
    /// Answer with this HTTP status or SOCKS5 reply code instead of connecting.
    fail_with: Option<u16>,
}

/// A one-connection HTTP CONNECT proxy. Sends the request head it received.
async fn spawn_http_proxy(behaviour: Behaviour) -> (SocketAddr, oneshot::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let (head_tx, head_rx) = oneshot::channel();
    tokio::spawn(async move {
        let (mut client, _) = listener.accept().await.expect("accept");
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(client.read_u8().await.expect("read head"));
        }
        let head = String::from_utf8(head).expect("ASCII head");
        let _ = head_tx.send(head.clone());
        let target = head
            .strip_prefix("CONNECT ")
            .and_then(|rest| rest.split(' ').next())
            .expect("CONNECT line")
            .to_owned();
        let authorized = behaviour.auth.is_none_or(|(user, password)| {
            use base64::Engine as _;
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            head.contains(&format!("\r\nProxy-Authorization: Basic {token}\r\n"))
        });
        let status = match behaviour.fail_with {
            Some(status) => status,
            None if !authorized => 407,
            None => 200,
        };
        let reply = format!("HTTP/1.1 {status} Test\r\nVia: test-proxy\r\n\r\n");
        client.write_all(reply.as_bytes()).await.expect("reply");
        if status == 200 {
            let mut upstream = TcpStream::connect(target).await.expect("connect target");
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        }
    });
    (addr, head_rx)
}

/// What a SOCKS5 client asked for.
#[derive(Debug, PartialEq, Eq)]
struct SocksRequest {
    methods: Vec<u8>,
    atyp: u8,
    host: String,
    port: u16,
}

/// A one-connection SOCKS5 proxy. Replies with a bound address of a different type per test
/// so the client must size each reply right.
async fn spawn_socks5_proxy(
    behaviour: Behaviour,
    bound: &'static [u8],
) -> (SocketAddr, oneshot::Receiver<SocksRequest>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let (request_tx, request_rx) = oneshot::channel();
    tokio::spawn(async move {
        let (mut client, _) = listener.accept().await.expect("accept");
        let mut greeting = [0; 2];
        client.read_exact(&mut greeting).await.expect("greeting");
        let mut methods = vec![0; usize::from(greeting[1])];
        client.read_exact(&mut methods).await.expect("methods");
        if let Some((user, password)) = behaviour.auth {
            if !methods.contains(&2) {
                client.write_all(&[5, 0xff]).await.expect("reply");
                return;
            }
            client.write_all(&[5, 2]).await.expect("method");
            let mut ver_ulen = [0; 2];
            client.read_exact(&mut ver_ulen).await.expect("ulen");
            let mut got_user = vec![0; usize::from(ver_ulen[1])];
            client.read_exact(&mut got_user).await.expect("user");
            let mut got_password = vec![0; usize::from(client.read_u8().await.expect("plen"))];
            client
                .read_exact(&mut got_password)
                .await
                .expect("password");
            let ok = got_user == user.as_bytes() && got_password == password.as_bytes();
            client.write_all(&[1, u8::from(!ok)]).await.expect("status");
            if !ok {
                return;
            }
        } else {
            client.write_all(&[5, 0]).await.expect("method");
        }
        let mut head = [0; 4];
        client.read_exact(&mut head).await.expect("request");
        let host = match head[3] {
            1 => {
                let mut ip = [0; 4];
                client.read_exact(&mut ip).await.expect("ipv4");
                std::net::Ipv4Addr::from(ip).to_string()
            }
            3 => {
                let mut name = vec![0; usize::from(client.read_u8().await.expect("len"))];
                client.read_exact(&mut name).await.expect("name");
                String::from_utf8(name).expect("ASCII name")
            }
            atyp => panic!("unexpected ATYP {atyp}"),
        };
        let port = client.read_u16().await.expect("port");
        let _ = request_tx.send(SocksRequest {
            methods,
            atyp: head[3],
            host: host.clone(),
            port,
        });
        if let Some(reply) = behaviour.fail_with {
            let code = u8::try_from(reply).expect("SOCKS reply code");
            let _ = client.write_all(&[5, code, 0, 1, 0, 0, 0, 0, 0, 0]).await;
            return;
        }
        let mut upstream = TcpStream::connect((host.as_str(), port))
            .await
            .expect("target");
        let mut reply = vec![5, 0, 0];
        reply.extend_from_slice(bound);
        client.write_all(&reply).await.expect("reply");
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    });
    (addr, request_rx)
}

/// Connects to `proxy_addr`, tunnels to `host:port`, and checks bytes come back.
async fn tunnel_and_echo(proxy: &Proxy, host: &str, port: u16) -> Result<(), ProxyError> {
    let mut tcp = TcpStream::connect((proxy.host.as_str(), proxy.port))
        .await
        .expect("connect proxy");
    tunnel(&mut tcp, proxy, host, port).await?;
    tcp.write_all(b"ping").await.expect("write");
    let mut buf = [0; 4];
    tcp.read_exact(&mut buf).await.expect("read echo");
    assert_eq!(&buf, b"ping");
    Ok(())
}

fn proxy(kind: ProxyKind, addr: SocketAddr, auth: Option<(&str, &str)>) -> Proxy {
    Proxy {
        kind,
        host: addr.ip().to_string(),
        port: addr.port(),
        auth: auth.map(|(user, password)| (user.to_owned(), password.to_owned())),
    }
}

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| vars.get(name).cloned()
}

// HTTP CONNECT, RFC 9110 §9.3.6.

#[tokio::test]
async fn http_connect_tunnels_to_target() {
    let target = spawn_echo_target().await;
    let (addr, head) = spawn_http_proxy(Behaviour::default()).await;
    let proxy = proxy(ProxyKind::HttpConnect, addr, None);

    tunnel_and_echo(&proxy, "127.0.0.1", target.port())
        .await
        .expect("tunnel");
    let authority = format!("127.0.0.1:{}", target.port());
    assert_eq!(
        head.await.expect("head"),
        format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n")
    );
}

#[tokio::test]
async fn http_connect_sends_basic_auth() {
    let target = spawn_echo_target().await;
    let behaviour = Behaviour {
        auth: Some(("alice", "s3cret:!")),
        ..Behaviour::default()
    };
    let (addr, _) = spawn_http_proxy(behaviour).await;
    let proxy = proxy(ProxyKind::HttpConnect, addr, Some(("alice", "s3cret:!")));

    tunnel_and_echo(&proxy, "127.0.0.1", target.port())
        .await
        .expect("tunnel");
}

#[tokio::test]
async fn http_connect_without_credentials_is_auth_required() {
    let behaviour = Behaviour {
        auth: Some(("alice", "secret")),
        ..Behaviour::default()
    };
    let (addr, _) = spawn_http_proxy(behaviour).await;
    let proxy = proxy(ProxyKind::HttpConnect, addr, None);

    let result = tunnel_and_echo(&proxy, "127.0.0.1", 9).await;
    assert!(
        matches!(result, Err(ProxyError::AuthRequired)),
        "{result:?}"
    );
}

#[tokio::test]
async fn http_connect_non_2xx_is_refused_with_status() {
    let behaviour = Behaviour {
        fail_with: Some(403),
        ..Behaviour::default()
    };
    let (addr, _) = spawn_http_proxy(behaviour).await;
    let proxy = proxy(ProxyKind::HttpConnect, addr, None);

    let result = tunnel_and_echo(&proxy, "127.0.0.1", 9).await;
    assert!(
        matches!(result, Err(ProxyError::Refused { status: 403 })),
        "{result:?}"
    );
}

#[tokio::test]
async fn blocking_http_connect_tunnels() {
    use std::io::{Read, Write};

    let target = spawn_echo_target().await;
    let (addr, _) = spawn_http_proxy(Behaviour::default()).await;
    let proxy = proxy(ProxyKind::HttpConnect, addr, None);

    let echoed = tokio::task::spawn_blocking(move || {
        let mut tcp = std::net::TcpStream::connect(addr).expect("connect proxy");
        tunnel_blocking(&mut tcp, &proxy, "127.0.0.1", target.port()).expect("tunnel");
        tcp.write_all(b"ping").expect("write");
        let mut buf = [0; 4];
        tcp.read_exact(&mut buf).expect("read echo");
        buf
    })
    .await
    .expect("join");
    assert_eq!(&echoed, b"ping");
}

// SOCKS5, RFC 1928 and RFC 1929.

#[tokio::test]
async fn socks5_tunnels_with_hostname() {
    let target = spawn_echo_target().await;
    // BND.ADDR as a 9-byte domain, then the port.
    let bound = b"\x03\x09proxy.lan\x04\x38";
    let (addr, request) = spawn_socks5_proxy(Behaviour::default(), bound).await;
    let proxy = proxy(ProxyKind::Socks5, addr, None);

    tunnel_and_echo(&proxy, "localhost", target.port())
        .await
        .expect("tunnel");
    assert_eq!(
        request.await.expect("request"),
        SocksRequest {
            methods: vec![0],
            atyp: 3,
            host: "localhost".to_owned(),
            port: target.port(),
        }
    );
}

#[tokio::test]
async fn socks5_sends_ip_literals_as_addresses() {
    let target = spawn_echo_target().await;
    let (addr, request) =
        spawn_socks5_proxy(Behaviour::default(), b"\x01\x7f\0\0\x01\x04\x38").await;
    let proxy = proxy(ProxyKind::Socks5, addr, None);

    tunnel_and_echo(&proxy, "127.0.0.1", target.port())
        .await
        .expect("tunnel");
    assert_eq!(request.await.expect("request").atyp, 1);
}

#[tokio::test]
async fn socks5_user_password_auth() {
    let target = spawn_echo_target().await;
    let behaviour = Behaviour {
        auth: Some(("bob", "hunter2")),
        ..Behaviour::default()
    };
    // BND.ADDR as IPv6 ::1, then the port.
    let bound = b"\x04\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01\x04\x38";
    let (addr, request) = spawn_socks5_proxy(behaviour, bound).await;
    let proxy = proxy(ProxyKind::Socks5, addr, Some(("bob", "hunter2")));

    tunnel_and_echo(&proxy, "localhost", target.port())
        .await
        .expect("tunnel");
    assert_eq!(request.await.expect("request").methods, vec![0, 2]);
}

#[tokio::test]
async fn socks5_wrong_password_is_rejected() {
    let behaviour = Behaviour {
        auth: Some(("bob", "hunter2")),
        ..Behaviour::default()
    };
    let (addr, _) = spawn_socks5_proxy(behaviour, b"").await;
    let proxy = proxy(ProxyKind::Socks5, addr, Some(("bob", "wrong")));

    let result = tunnel_and_echo(&proxy, "localhost", 9).await;
    assert!(
        matches!(result, Err(ProxyError::Socks5AuthRejected)),
        "{result:?}"
    );
}

#[tokio::test]
async fn socks5_failure_reply_is_reported() {
    let behaviour = Behaviour {
        fail_with: Some(0x05),
        ..Behaviour::default()
    };
    let (addr, _) = spawn_socks5_proxy(behaviour, b"").await;
    let proxy = proxy(ProxyKind::Socks5, addr, None);

    let err = tunnel_and_echo(&proxy, "localhost", 9)
        .await
        .expect_err("refused");
    assert!(matches!(err, ProxyError::Socks5 { reply: 0x05 }), "{err:?}");
    assert!(err.to_string().contains("connection refused"), "{err}");
}

#[tokio::test]
async fn socks5_host_longer_than_255_bytes_is_rejected_before_io() {
    let proxy = Proxy::parse("socks5://127.0.0.1:1").expect("proxy");
    let mut stream = tokio::io::duplex(64).0;

    let result = tunnel(&mut stream, &proxy, &"a".repeat(256), 80).await;
    assert!(matches!(result, Err(ProxyError::HostTooLong)), "{result:?}");
}

// Proxy URLs and the environment, as curl reads them.

#[tokio::test]
async fn proxy_url_parsing() {
    let http = Proxy::parse("http://proxy.example").expect("http");
    assert_eq!(
        (http.kind, http.port, http.auth),
        (ProxyKind::HttpConnect, 80, None)
    );

    let bare = Proxy::parse("proxy.example:3128").expect("bare");
    assert_eq!(
        (bare.kind, bare.host.as_str(), bare.port),
        (ProxyKind::HttpConnect, "proxy.example", 3128)
    );

    let socks = Proxy::parse("socks5://u%20ser:p%40ss%3A@10.0.0.1").expect("socks5");
    assert_eq!((socks.kind, socks.port), (ProxyKind::Socks5, 1080));
    assert_eq!(socks.auth, Some(("u ser".to_owned(), "p@ss:".to_owned())));

    let socks_h = Proxy::parse("socks5h://[::1]:9050").expect("socks5h");
    assert_eq!((socks_h.host.as_str(), socks_h.port), ("::1", 9050));

    let user_only = Proxy::parse("http://user@proxy:8080").expect("user only");
    assert_eq!(user_only.auth, Some(("user".to_owned(), String::new())));

    assert!(
        matches!(Proxy::parse("https://proxy:443"), Err(ProxyError::UnsupportedScheme(s)) if s == "https")
    );
    assert!(matches!(
        Proxy::parse("socks4://proxy"),
        Err(ProxyError::UnsupportedScheme(_))
    ));
    assert!(matches!(
        Proxy::parse("http://proxy:99999"),
        Err(ProxyError::InvalidUrl(_))
    ));
    assert!(matches!(
        Proxy::parse("http://u:%ff@proxy"),
        Err(ProxyError::InvalidCredentials)
    ));
}

#[tokio::test]
async fn debug_redacts_the_password() {
    let proxy = Proxy::parse("http://alice:hunter2@proxy").expect("proxy");
    assert!(!format!("{proxy:?}").contains("hunter2"));
}

#[tokio::test]
async fn env_prefers_ws_proxy_then_https_proxy_for_wss() {
    let all = [
        ("wss_proxy", "socks5://wss-proxy"),
        ("https_proxy", "http://https-proxy"),
        ("all_proxy", "http://all-proxy"),
    ];
    let host = |vars: &[(&str, &str)]| {
        Proxy::from_env_with(true, "example.com", 443, env(vars)).map(|p| p.host)
    };

    assert_eq!(host(&all).as_deref(), Some("wss-proxy"));
    assert_eq!(host(&all[1..]).as_deref(), Some("https-proxy"));
    assert_eq!(host(&all[2..]).as_deref(), Some("all-proxy"));
    assert_eq!(
        host(&[("wss_proxy", ""), ("HTTPS_PROXY", "up")]).as_deref(),
        Some("up")
    );
    assert_eq!(host(&[]), None);
}

#[tokio::test]
async fn env_uses_ws_proxy_then_http_proxy_for_ws() {
    let vars = [("ws_proxy", "ws-proxy"), ("http_proxy", "http-proxy")];
    let host = |vars: &[(&str, &str)]| {
        Proxy::from_env_with(false, "example.com", 80, env(vars)).map(|p| p.host)
    };

    assert_eq!(host(&vars).as_deref(), Some("ws-proxy"));
    assert_eq!(host(&vars[1..]).as_deref(), Some("http-proxy"));
}

#[tokio::test]
async fn upper_case_http_proxy_is_ignored() {
    let vars = env(&[("HTTP_PROXY", "http://evil")]);
    assert_eq!(Proxy::from_env_with(false, "example.com", 80, vars), None);

    let vars = env(&[("HTTP_PROXY", "http://evil"), ("ALL_PROXY", "http://all")]);
    let proxy = Proxy::from_env_with(false, "example.com", 80, vars).expect("ALL_PROXY");
    assert_eq!(proxy.host, "all");
}

#[tokio::test]
async fn no_proxy_matches_suffixes_and_star() {
    let proxied = |no_proxy: &str, host: &str, port: u16| {
        let vars = env(&[("https_proxy", "http://proxy"), ("no_proxy", no_proxy)]);
        Proxy::from_env_with(true, host, port, vars).is_some()
    };

    assert!(!proxied("*", "anything.test", 443));
    assert!(!proxied("example.com", "example.com", 443));
    assert!(!proxied("example.com", "api.Example.COM", 443));
    assert!(!proxied(
        " other.org , .example.com",
        "api.example.com",
        443
    ));
    assert!(!proxied(".example.com", "example.com", 443));
    assert!(proxied("example.com", "notexample.com", 443));
    assert!(!proxied("example.com:443", "example.com", 443));
    assert!(proxied("example.com:8443", "example.com", 443));
    assert!(!proxied("10.0.0.1", "10.0.0.1", 443));
    assert!(proxied("10.0.0.1", "10.0.0.10", 443));
    assert!(!proxied("::1", "[::1]", 443));
    assert!(!proxied("[::1]:443", "::1", 443));
    assert!(proxied("", "example.com", 443));

    let upper = env(&[("https_proxy", "http://proxy"), ("NO_PROXY", "example.com")]);
    assert_eq!(Proxy::from_env_with(true, "example.com", 443, upper), None);
}
