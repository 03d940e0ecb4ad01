//! The client side of the Autobahn testsuite: asks the fuzzing server for the case count, runs
//! every case echoing each message, then asks it to write the reports.
//!
//! ```sh
//! cargo run --release -p weft --example autobahn_client -- ws://127.0.0.1:9001 weft
//! ```
//! Without arguments it reads `AUTOBAHN_URL` and `AUTOBAHN_AGENT` (as `run.sh client` sets them).

use weft::{ClientBuilder, Error, Message, WebSocketConfig};

fn config() -> WebSocketConfig {
    // The suite sends messages of 16 MiB and frames as large.
    let limits = weft::proto::Config::default()
        .max_message_size(64 << 20)
        .max_frame_size(64 << 20);
    WebSocketConfig::default().protocol(limits)
}

async fn run_case(url: &str) -> Result<(), Error> {
    let mut ws = ClientBuilder::new(url)
        .no_proxy()
        .config(config())
        .connect()
        .await?;
    while let Some(message) = ws.recv().await {
        let message = message?;
        if message.is_data() {
            ws.send(message).await?;
        }
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .or_else(|| std::env::var("AUTOBAHN_URL").ok())
        .unwrap_or_else(|| "ws://127.0.0.1:9001".to_owned());
    let agent = args
        .next()
        .or_else(|| std::env::var("AUTOBAHN_AGENT").ok())
        .unwrap_or_else(|| "weft".to_owned());

    let mut ws = ClientBuilder::new(format!("{base}/getCaseCount"))
        .no_proxy()
        .connect()
        .await?;
    let count: u32 = match ws.recv().await {
        Some(Ok(Message::Text(text))) => text.as_str().trim().parse().unwrap_or(0),
        _ => 0,
    };
    while ws.recv().await.is_some() {}
    println!("{count} cases");

    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={agent}");
        // A case failing on our side is the suite's finding to report, not a reason to stop.
        if let Err(e) = run_case(&url).await {
            println!("case {case}: {e}");
        }
    }

    let mut ws = ClientBuilder::new(format!("{base}/updateReports?agent={agent}"))
        .no_proxy()
        .connect()
        .await?;
    while ws.recv().await.is_some() {}
    Ok(())
}
