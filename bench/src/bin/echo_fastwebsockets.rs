//! fastwebsockets' echo with its recommended settings: `WebSocket::after_handshake`,
//! auto_close, auto_pong, vectored writes, and a `FragmentCollector` for whole messages.
//! The handshake is the same hand-rolled one as the raw echo's.

use fastwebsockets::{FragmentCollector, OpCode, Role, WebSocket};
use tokio::net::{TcpListener, TcpStream};
use weft_bench::{Args, announce, runtime, server_handshake};

fn main() {
    let args = Args::parse();
    let addr = args.str("addr", "127.0.0.1:9001");
    runtime().block_on(async {
        let listener = TcpListener::bind(&addr).await.expect("bind");
        announce(listener.local_addr().expect("local addr"));
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(echo(tcp));
        }
    });
}

async fn echo(mut tcp: TcpStream) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tcp.set_nodelay(true)?;
    let leftover = server_handshake(&mut tcp).await?;
    if !leftover.is_empty() {
        return Err("frames before the 101".into());
    }
    let mut ws = WebSocket::after_handshake(tcp, Role::Server);
    ws.set_writev(true);
    ws.set_auto_close(true);
    ws.set_auto_pong(true);
    let mut ws = FragmentCollector::new(ws);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => return Ok(()),
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
}
