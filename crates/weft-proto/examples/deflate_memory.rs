//! Memory per connection of permessage-deflate, by window size: opens 1 000 server-side
//! connections with the extension, sends one message each way through each (so the compressor
//! and decompressor have allocated their state), and reports the growth of the resident set;
//! with context takeover, and without it in both directions (where the states go back to the
//! thread's spares when each message ends).
//!
//! ```sh
//! cargo run --release -p weft-proto --example deflate_memory
//! ```

use bytes::BytesMut;
use weft_proto::extensions::deflate::{Deflate, DeflateConfig, DeflateParams};
use weft_proto::{Config, Connection, Message, Role};

const CONNECTIONS: usize = 1000;

fn rss_bytes() -> usize {
    // Linux: the second field of /proc/self/statm is resident pages.
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// What a connection has done before it is measured: (received, sent, without context takeover).
const CASES: [(bool, bool, bool); 4] = [
    (true, true, false),
    (true, true, true),
    (true, false, false),
    (false, false, false),
];

fn main() {
    // Each cell is measured in a process of its own: memory one case freed stays resident
    // and would be reused, unseen, by the next.
    let mut args = std::env::args().skip(1);
    if let (Some(bits), Some(case)) = (args.next(), args.next()) {
        if let (Ok(bits), Ok(case)) = (bits.parse::<u8>(), case.parse::<usize>()) {
            let (receive, send, reset) = CASES[case % CASES.len()];
            println!("{:.1}", per_connection(bits, receive, send, reset));
        }
        return;
    }
    println!(
        "| window bits | KiB per connection: compressing and inflating | the same, no context takeover | inflating only | negotiated, idle |"
    );
    println!("|---|---|---|---|---|");
    let Ok(me) = std::env::current_exe() else {
        return;
    };
    for bits in [9u8, 10, 12, 15] {
        let mut row = format!("| {bits} |");
        for case in 0..CASES.len() {
            let Ok(out) = std::process::Command::new(&me)
                .args([bits.to_string(), case.to_string()])
                .output()
            else {
                return;
            };
            row.push_str(&format!(
                " {} |",
                String::from_utf8_lossy(&out.stdout).trim()
            ));
        }
        println!("{row}");
    }
}

/// KiB of resident memory per server connection that received (`receive`) and sent (`send`)
/// one compressed message, with both sides resetting their context after every message
/// (`reset`) or keeping it.
fn per_connection(bits: u8, receive: bool, send: bool, reset: bool) -> f64 {
    let message = "{\"id\":1,\"name\":\"weft\",\"tags\":[\"a\",\"b\"]}".repeat(30);
    {
        let params = DeflateParams {
            server_no_context_takeover: reset,
            client_no_context_takeover: reset,
            server_max_window_bits: bits,
            client_max_window_bits: bits,
        };
        let config = DeflateConfig {
            window_bits: bits,
            no_context_takeover: reset,
            ..DeflateConfig::default()
        };
        // One client's first message serves as every server's first message.
        let mut client = Connection::new(Role::Client, Config::default())
            .with_deflate(Deflate::new(Role::Client, params, &config));
        client.send(Message::text(message.as_str())).expect("open");
        let mut first = BytesMut::new();
        while let Some(t) = client.poll_transmit() {
            first.extend_from_slice(t.as_data().expect("data"));
        }
        drop(client);
        let before = rss_bytes();
        let mut held = Vec::with_capacity(CONNECTIONS);
        for _ in 0..CONNECTIONS {
            let mut server = Connection::new(Role::Server, Config::default())
                .with_deflate(Deflate::new(Role::Server, params, &config));
            if receive {
                let mut wire = first.clone();
                server.handle_data(&mut wire).expect("valid");
            }
            if send {
                server.send(Message::text(message.as_str())).expect("open");
            }
            while server.poll_transmit().is_some() {}
            while server.poll_event().is_some() {}
            held.push(server);
        }
        let grown = rss_bytes().saturating_sub(before);
        drop(held);
        grown as f64 / CONNECTIONS as f64 / 1024.0
    }
}
