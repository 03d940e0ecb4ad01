//! The hyper service and axum handler that the hyper and HTTP/2 upgrade tests serve: `/ws`
//! upgrades, `/chat` upgrades choosing a subprotocol, anything else is plain HTTP; every
//! WebSocket echoes.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;

use axum::response::IntoResponse;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use weft::WebSocketConfig;
use weft::hyper::UpgradeFut;
use weft::proto::handshake::server::Accept;

/// Echoes every data message of the WebSocket `websocket` resolves to.
pub async fn echo(websocket: UpgradeFut) {
    let Ok(mut ws) = websocket.await else {
        return;
    };
    while let Some(Ok(message)) = ws.recv().await {
        if message.is_data() && ws.send(message).await.is_err() {
            return;
        }
    }
}

/// The hyper service.
pub async fn route(mut request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let config = WebSocketConfig::default();
    let upgraded = match request.uri().path() {
        "/ws" => weft::hyper::upgrade(&mut request, config),
        "/chat" => match weft::hyper::check(&request, config.protocol_config().limits()) {
            Ok(offered) => {
                let protocol = offered.choose_protocol(&["v1.chat", "v2.chat"]);
                weft::hyper::upgrade_with(&mut request, config, Accept::new().protocol(protocol))
            }
            Err(error) => Err(error),
        },
        // A 2xx to a CONNECT would open a tunnel; a CONNECT off the WebSocket paths is lost.
        _ if request.method() == http::Method::CONNECT => {
            let mut response = Response::new(Full::default());
            *response.status_mut() = http::StatusCode::NOT_FOUND;
            return Ok(response);
        }
        _ => {
            return Ok(Response::new(Full::new(Bytes::from_static(
                b"plain HTTP\n",
            ))));
        }
    };
    match upgraded {
        Ok((response, websocket)) => {
            tokio::spawn(echo(websocket));
            Ok(response.map(|_| Full::default()))
        }
        Err(error) => Ok(weft::hyper::rejection(&error)),
    }
}

/// The axum handler of `/ws`.
pub async fn axum_ws(mut request: axum::extract::Request) -> axum::response::Response {
    match weft::hyper::upgrade(&mut request, WebSocketConfig::default()) {
        Ok((response, websocket)) => {
            tokio::spawn(echo(websocket));
            response.into_response()
        }
        Err(error) => weft::hyper::rejection(&error).into_response(),
    }
}
