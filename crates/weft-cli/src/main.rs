//! `weft`: nc for WebSocket, and a WebSocket server, on the command line.
//!
//! `weft [OPTIONS] URL` pipes stdin and stdout through a WebSocket; `weft serve [OPTIONS]
//! ADDR` runs an echo, broadcast or exec server. Built on the `weft` library's public API
//! only. `weft --help` is the manual; exit statuses are in [`exit`].

mod cli;
mod client;
mod exit;
mod input;
mod output;
mod serve;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::exit::Status;

fn main() -> ExitCode {
    // clap prints usage errors and exits with 2 itself; --help and --version exit 0.
    let cli = Cli::parse();
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("weft: cannot start the runtime: {e}");
            return Status::Local.into();
        }
    };
    let status = match cli.command {
        Some(Command::Serve(args)) => runtime.block_on(serve::run(args)),
        None => runtime.block_on(client::run(cli.client)),
    };
    // Tasks still running (a connection's background close, a program being reaped) get a
    // moment; the stdin thread may be blocked on a terminal and is simply left behind.
    runtime.shutdown_timeout(Duration::from_millis(200));
    status.into()
}

/// One worker per core the process may run on: more workers than cores only hand work back
/// and forth. On one core (or pinned to one with taskset) a current_thread runtime: the
/// multi-thread scheduler with a single worker costs context switches and, by running the
/// most recently woken connection first, a long latency tail under many connections.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    if workers == 1 {
        return tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
}
