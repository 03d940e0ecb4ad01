//! The physical limit: the same handshake, then every byte read is written back untouched
//! (no WebSocket parsing, masking or framing). The load generator accepts its own masked
//! frames back.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
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

async fn echo(mut tcp: TcpStream) -> std::io::Result<()> {
    tcp.set_nodelay(true)?;
    let leftover = server_handshake(&mut tcp).await?;
    tcp.write_all(&leftover).await?;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = tcp.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        tcp.write_all(&buf[..n]).await?;
    }
}
