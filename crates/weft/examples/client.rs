//! A client: connects, sends each line of stdin as a text message, prints what comes back.
//!
//! ```sh
//! cargo run -p weft --example client -- ws://127.0.0.1:9001/echo
//! ```

use tokio::io::{AsyncBufReadExt, BufReader};
use weft::{CloseCode, Error, Message};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9001/".to_owned());
    let ws = weft::ClientBuilder::new(url)
        .protocol("chat")
        .connect()
        .await?;
    let (mut reader, mut writer) = ws.split();
    let printer = tokio::spawn(async move {
        while let Some(message) = reader.recv().await {
            match message {
                Ok(Message::Text(text)) => println!("{text}"),
                Ok(Message::Binary(data)) => println!("<{} bytes>", data.len()),
                Ok(_) => {}
                Err(e) => {
                    eprintln!("error: {e}");
                    break;
                }
            }
        }
    });
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        writer.send(Message::text(line)).await?;
    }
    writer.close(CloseCode::NORMAL, "stdin closed").await?;
    let _ = printer.await;
    Ok(())
}
