//! `weft`: nc for WebSocket, and a WebSocket server, on the command line.

fn main() {
    println!("weft {}", env!("CARGO_PKG_VERSION"));
}
