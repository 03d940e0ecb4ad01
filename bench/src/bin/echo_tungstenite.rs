//! tokio-tungstenite's echo as its own example writes it: `accept_async` with the default
//! config, then the data messages forwarded into the sink (which feeds while messages are
//! ready and flushes when none is: its write batching).

use futures_util::{StreamExt, TryStreamExt, future};
use tokio::net::{TcpListener, TcpStream};
use weft_bench::{Args, announce, runtime};

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

async fn echo(tcp: TcpStream) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tcp.set_nodelay(true)?;
    let ws = tokio_tungstenite::accept_async(tcp).await?;
    let (write, read) = ws.split();
    read.try_filter(|m| future::ready(m.is_text() || m.is_binary()))
        .forward(write)
        .await?;
    Ok(())
}
