//! One connection from accept to handler: the limits, TLS, the upgrade request and its
//! checks, the 101 or the rejection, then the handler on a task of its own (`serving`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::BytesMut;
use http::{HeaderMap, HeaderValue, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use weft_proto::extensions::deflate::{self, DeflateParams};
use weft_proto::handshake::server::{
    Accept, ServerHandshake, UpgradeRequest, reject, reject_status,
};
use weft_proto::{HandshakeError, Role};

use super::route::{NoRoute, select};
use super::serving::{Finish, Slot};
use super::{Admit, Request, ServerStream, Shared};
use crate::error::{Error, Result};
use crate::info::Handshaken;
use crate::socket::WebSocket;

pub(crate) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) -> Result<()> {
    let mut stop = shared.stop.subscribe();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stopped| *stopped) => return Ok(()),
        };
        let (tcp, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of descriptors or a connection reset before accept: keep serving the
                // others after a short pause rather than spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let active = shared.active.fetch_add(1, Ordering::AcqRel) + 1;
        // Made before the spawn: a task dropped before it first runs still gives its place back.
        let slot = Slot(Arc::clone(&shared));
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            if active > shared.max_connections {
                refuse_busy(tcp).await;
                return;
            }
            if let Err(e) = serve(tcp, peer, &shared, slot).await {
                tracing::debug!(%peer, error = %e, "connection ended before its handler");
            }
        });
    }
}

async fn refuse_busy(mut tcp: TcpStream) {
    let response = reject_status(
        StatusCode::SERVICE_UNAVAILABLE,
        &HeaderMap::new(),
        "too many connections\n",
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), tcp.write_all(&response)).await;
}

/// Upgrades the connection, then hands it to its handler's own task.
async fn serve(tcp: TcpStream, peer: SocketAddr, shared: &Shared, slot: Slot) -> Result<()> {
    tcp.set_nodelay(true)?;
    let local = tcp.local_addr().ok();
    // This task ends here: the handshake's state lives only as long as the handshake.
    let upgrade = tokio::time::timeout(shared.handshake_timeout, upgrade(tcp, peer, shared));
    let Ok(outcome) = upgrade.await else {
        return Err(Error::Timeout(crate::error::Timeout::Handshake));
    };
    let Some(upgraded) = outcome? else {
        return Ok(());
    };
    start(upgraded, peer, local, shared, slot);
    Ok(())
}

/// Registers the upgraded connection and starts its route's handler on a task of its own.
fn start(
    (stream, request, route, protocol, admit, deflate, leftover): Upgraded,
    peer: SocketAddr,
    local: Option<SocketAddr>,
    shared: &Shared,
    slot: Slot,
) {
    let (id, link) = shared.registry.register(
        Some(peer),
        local,
        request.path().to_owned(),
        protocol.clone(),
    );
    let handshaken = Handshaken {
        peer_addr: Some(peer),
        local_addr: local,
        path: request.request().uri().to_string(),
        subprotocol: protocol.clone(),
        extensions: deflate.iter().map(|(_, answer)| answer.clone()).collect(),
        deflate: deflate.map(|(params, _)| params),
    };
    let mut ws = WebSocket::from_shared(
        stream,
        Role::Server,
        Arc::clone(&shared.config),
        handshaken,
        leftover,
    );
    let parked = Arc::clone(&link.shared);
    ws.attach(link);
    ws.park_on_drop();
    let handler_request = Request {
        id,
        path: request.path().to_owned(),
        query: request.query().map(str::to_owned),
        headers: request.headers().clone(),
        peer_addr: peer,
        local_addr: local,
        subprotocol: protocol,
        data: admit.data,
        registry: shared.registry.clone(),
    };
    let finish = Finish { parked, peer, slot };
    route.handler.spawn(ws, handler_request, finish);
}

type Upgraded = (
    ServerStream,
    UpgradeRequest,
    super::route::Route,
    Option<String>,
    Admit,
    Option<(DeflateParams, String)>,
    BytesMut,
);

/// TLS and the upgrade request. `Ok(None)` when the request was answered with a rejection.
async fn upgrade(tcp: TcpStream, peer: SocketAddr, shared: &Shared) -> Result<Option<Upgraded>> {
    let mut stream = match &shared.tls {
        Some(acceptor) => ServerStream::Tls(Box::new(acceptor.accept(tcp).await?)),
        None => ServerStream::Plain(tcp),
    };
    let mut handshake = ServerHandshake::new(shared.config.protocol_config().limits());
    let mut buf = BytesMut::with_capacity(2048);
    let request = loop {
        if stream.read_buf(&mut buf).await? == 0 {
            return Ok(None);
        }
        match handshake.handle_request(&mut buf) {
            Ok(Some(request)) => break request,
            Ok(None) => continue,
            Err(e) => {
                refuse(&mut stream, &reject(&e)).await;
                return Err(e.into());
            }
        }
    };
    let refusal = |e: HandshakeError| (reject(&e), e);
    let checked = if shared.require_tls && !stream.is_tls() {
        Err(refusal(HandshakeError::SecureRequired))
    } else if !shared.origin.permits(request.origin()) {
        Err(refusal(HandshakeError::OriginRefused))
    } else {
        match select(&shared.routes, &request) {
            Ok((route, protocol)) => Ok((route.clone(), protocol)),
            Err(NoRoute::Path) => Err(refusal(HandshakeError::PathNotFound)),
            Err(NoRoute::Protocol) => Err((
                reject_status(
                    StatusCode::BAD_REQUEST,
                    &HeaderMap::new(),
                    "no subprotocol offered that this path serves\n",
                ),
                HandshakeError::InvalidProtocols,
            )),
        }
    };
    let (route, protocol) = match checked {
        Ok(found) => found,
        Err((response, error)) => {
            refuse(&mut stream, &response).await;
            return Err(error.into());
        }
    };
    let admit = match &shared.hook {
        None => Admit::default(),
        Some(hook) => match hook(&request, peer) {
            Ok(admit) => admit,
            Err(refused) => {
                let response = reject_status(refused.status, &HeaderMap::new(), &refused.body);
                refuse(&mut stream, &response).await;
                return Ok(None);
            }
        },
    };
    let mut accept = Accept::new().protocol(protocol.as_deref());
    let deflate = shared
        .config
        .deflate_value()
        .and_then(|settings| deflate::server_negotiate(settings, request.extensions()));
    let deflate = match deflate {
        Some((params, answer)) => match HeaderValue::from_str(&answer) {
            Ok(value) => {
                accept = accept.extensions(value);
                Some((params, answer))
            }
            Err(_) => None,
        },
        None => None,
    };
    for (name, value) in &admit.headers {
        accept = accept.header(name.clone(), value.clone());
    }
    stream.write_all(&request.accept(accept)).await?;
    stream.flush().await?;
    Ok(Some((
        stream, request, route, protocol, admit, deflate, buf,
    )))
}

async fn refuse(stream: &mut ServerStream, response: &[u8]) {
    let _ = stream.write_all(response).await;
    let _ = stream.shutdown().await;
}
