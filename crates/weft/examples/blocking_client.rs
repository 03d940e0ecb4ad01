//! A line-based WebSocket client on one thread, with no runtime: each line of stdin is sent as
//! a text message, and what the server sends back is printed.
//!
//! ```text
//! cargo run -p weft --example blocking_client -- ws://127.0.0.1:9001
//! ```
//!
//! One thread cannot wait on stdin and the socket at once, so after each line it reads replies
//! until the socket has been quiet for a moment. A read that times out loses nothing (the
//! connection keeps partial frames), which is what makes that safe.

use std::io::{self, BufRead};
use std::time::Duration;

use weft::blocking::ClientBuilder;
use weft::{CloseCode, Error, Message};

/// How long the server may stay quiet before the next line is read.
const QUIET: Duration = Duration::from_millis(300);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .ok_or("usage: blocking_client ws://host:port/path")?;
    let mut ws = ClientBuilder::new(url)
        .read_timeout(Some(QUIET))
        .connect()?;
    eprintln!("connected; type lines, end with Ctrl-D");

    for line in io::stdin().lock().lines() {
        ws.send(Message::text(line?))?;
        loop {
            match ws.recv() {
                Some(Ok(Message::Text(text))) => println!("{text}"),
                Some(Ok(Message::Binary(data))) => println!("<{} bytes>", data.len()),
                // PINGs are answered by the connection; PONGs need nothing.
                Some(Ok(_)) => {}
                Some(Err(Error::Io(e)))
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break;
                }
                Some(Err(e)) => return Err(e.into()),
                None => {
                    eprintln!("the server closed the connection");
                    return Ok(());
                }
            }
        }
    }
    ws.close(CloseCode::NORMAL, "")?;
    Ok(())
}
