//! The library clients as load generators: each library's own connection, driven by the same
//! code for every library.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Instant;

use crate::{Args, CellSpec, Stats, measure, runtime};

/// One connection of a library client: its `Sink` fed `depth` messages and flushed, its
/// `Stream` read for the echoes; the same code for every library (split with
/// `futures_util::StreamExt::split`).
pub async fn drive_library<S, M, E>(
    ws: S,
    message: M,
    len: fn(&M) -> Option<usize>,
    size: usize,
    depth: usize,
    stats: Rc<Stats>,
) where
    S: futures_util::Stream<Item = Result<M, E>> + futures_util::Sink<M> + Unpin,
    M: Clone,
    E: std::fmt::Display,
    <S as futures_util::Sink<M>>::Error: std::fmt::Display,
{
    use futures_util::{SinkExt, StreamExt};
    use std::collections::VecDeque;
    let (mut sink, mut stream) = ws.split();
    let credits = Cell::new(depth);
    let sent: RefCell<VecDeque<Instant>> = RefCell::new(VecDeque::with_capacity(depth));
    let wake = tokio::sync::Notify::new();
    let writer = async {
        loop {
            if stats.stopped.get() {
                return;
            }
            let k = credits.replace(0);
            if k == 0 {
                wake.notified().await;
                continue;
            }
            let now = Instant::now();
            sent.borrow_mut().extend(std::iter::repeat_n(now, k));
            for _ in 0..k {
                if let Err(e) = sink.feed(message.clone()).await {
                    stats.error(&format!("send: {e}"));
                    return;
                }
            }
            if let Err(e) = sink.flush().await {
                stats.error(&format!("flush: {e}"));
                return;
            }
        }
    };
    let reader = async {
        while let Some(item) = stream.next().await {
            match item {
                Ok(m) => {
                    let Some(n) = len(&m) else { continue };
                    if n != size {
                        stats.error(&format!("echoed length {n}, sent {size}"));
                        return;
                    }
                    let now = Instant::now();
                    let t = sent.borrow_mut().pop_front().unwrap_or(now);
                    stats.echoed(n, now - t);
                    credits.set(credits.get() + 1);
                    wake.notify_one();
                }
                Err(e) => {
                    stats.error(&format!("recv: {e}"));
                    return;
                }
            }
        }
        if !stats.stopped.get() {
            stats.error("connection closed by the server");
        }
    };
    tokio::select! {
        () = writer => {}
        () = reader => {}
    }
}

/// What every client binary is told: `--url`, `--conns`, `--size`, `--depth`, `--secs`,
/// `--warmup`, `--server-pid`, `--label`, `--callgrind`.
pub(crate) struct ClientArgs {
    pub(crate) url: String,
    pub(crate) cell: CellSpec,
    pub(crate) server_pid: Option<u32>,
    /// Warm-up and measured seconds.
    pub(crate) window: (f64, f64),
    pub(crate) callgrind: bool,
}

impl ClientArgs {
    pub(crate) fn parse() -> ClientArgs {
        let args = Args::parse();
        ClientArgs {
            url: args.str("url", "ws://127.0.0.1:9001/"),
            cell: CellSpec {
                label: args.str("label", "?"),
                conns: args.num("conns", 1.0) as usize,
                size: args.num("size", 16.0) as usize,
                depth: (args.num("depth", 1.0) as usize).max(1),
                text: false,
            },
            server_pid: args
                .flag("server-pid")
                .then(|| args.num("server-pid", 0.0) as u32),
            window: (args.num("warmup", 1.0), args.num("secs", 3.0)),
            callgrind: args.flag("callgrind"),
        }
    }
}

/// The async client binaries' main (arguments as [`ClientArgs`]); `connect` opens one
/// connection and drives it.
pub fn client_main<F, Fut>(connect: F)
where
    F: Fn(String, usize, usize, Rc<Stats>) -> Fut + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + 'static,
{
    let ClientArgs {
        url,
        cell,
        server_pid,
        window,
        callgrind,
    } = ClientArgs::parse();
    let (conns, size, depth) = (cell.conns, cell.size, cell.depth);
    let rt = runtime();
    let local = tokio::task::LocalSet::new();
    let connect = Rc::new(connect);
    local.block_on(&rt, async move {
        let stats = Rc::new(Stats::default());
        for _ in 0..conns {
            let (connect, stats, url) = (Rc::clone(&connect), Rc::clone(&stats), url.clone());
            tokio::task::spawn_local(async move {
                if let Err(e) = connect(url, size, depth, Rc::clone(&stats)).await {
                    stats.error(&e);
                }
            });
        }
        measure(&stats, &cell, server_pid, window, callgrind).await;
    });
    std::process::exit(0);
}
