//! Blocking clients as load generators: a thread per connection, each keeping `depth`
//! messages in flight with plain `send` and `recv` calls, counted over the same window and
//! printed in the same `RESULT` line as the async clients.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::clients::ClientArgs;
use crate::{Hist, Window, callgrind_control, payload, print_result, proc_cpu, self_cpu};

/// One open connection of a blocking client library.
pub trait RoundTrip {
    /// Sends the payload as one binary message and flushes it.
    fn send(&mut self) -> Result<(), String>;
    /// Waits for the next data message and returns its length.
    fn recv(&mut self) -> Result<usize, String>;
}

/// What the connections' threads share with the one that measures.
#[derive(Default)]
struct Shared {
    measuring: AtomicBool,
    stopped: AtomicBool,
    msgs: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
}

/// Parses the load generator's arguments, opens `--conns` connections with `connect` (given
/// the URL and the payload), drives each on its own thread, and prints the cell's `RESULT`.
pub fn blocking_client_main<C, T>(connect: C)
where
    C: Fn(&str, Vec<u8>) -> Result<T, String> + Send + Sync + 'static,
    T: RoundTrip,
{
    // Under --callgrind, zero the counters when the window opens and dump them when it
    // closes: the dump holds this client's instructions over the window only.
    let ClientArgs {
        url,
        cell,
        server_pid,
        window: (warmup, secs),
        callgrind,
    } = ClientArgs::parse();
    let (conns, size, depth) = (cell.conns, cell.size, cell.depth);

    let shared = Arc::new(Shared::default());
    let connect = Arc::new(connect);
    let (done, hists) = mpsc::channel();
    for _ in 0..conns {
        let (shared, connect, url, done) = (
            Arc::clone(&shared),
            Arc::clone(&connect),
            url.clone(),
            done.clone(),
        );
        std::thread::spawn(move || {
            let mut hist = Hist::default();
            let run = connect(&url, payload(size, false))
                .and_then(|conn| drive(conn, size, depth, &shared, &mut hist));
            if let Err(e) = run
                && shared.errors.fetch_add(1, Ordering::Relaxed) < 5
            {
                eprintln!("client: {e}");
            }
            let _ = done.send(hist);
        });
    }
    drop(done);

    std::thread::sleep(Duration::from_secs_f64(warmup));
    let srv0 = server_pid.and_then(proc_cpu);
    let me0 = self_cpu();
    if callgrind {
        callgrind_control("-z", std::process::id());
    }
    let t0 = Instant::now();
    shared.measuring.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_secs_f64(secs));
    shared.measuring.store(false, Ordering::Relaxed);
    if callgrind {
        callgrind_control("-d", std::process::id());
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let me1 = self_cpu();
    let srv1 = server_pid.and_then(proc_cpu);
    shared.stopped.store(true, Ordering::Relaxed);

    // Each thread ends after its next echo; one stuck on a dead connection is not waited for.
    let mut hist = Hist::default();
    let until = Instant::now() + Duration::from_secs(5);
    for _ in 0..conns {
        let left = until.saturating_duration_since(Instant::now());
        match hists.recv_timeout(left) {
            Ok(h) => hist.merge(&h),
            Err(_) => break,
        }
    }
    print_result(
        &cell,
        &Window {
            msgs: shared.msgs.load(Ordering::Relaxed),
            bytes: shared.bytes.load(Ordering::Relaxed),
            errors: shared.errors.load(Ordering::Relaxed),
            elapsed,
            server: srv0.zip(srv1),
            me: (me0, me1),
        },
        &hist,
    );
    std::process::exit(0);
}

/// Keeps `depth` messages in flight on `conn` until told to stop.
fn drive<T: RoundTrip>(
    mut conn: T,
    size: usize,
    depth: usize,
    shared: &Shared,
    hist: &mut Hist,
) -> Result<(), String> {
    let mut sent_at = VecDeque::with_capacity(depth);
    for _ in 0..depth {
        sent_at.push_back(Instant::now());
        conn.send()?;
    }
    while !shared.stopped.load(Ordering::Relaxed) {
        let len = conn.recv()?;
        let now = Instant::now();
        let sent = sent_at.pop_front().unwrap_or(now);
        if len != size {
            return Err(format!("echo of {len} bytes, sent {size}"));
        }
        if shared.measuring.load(Ordering::Relaxed) {
            shared.msgs.fetch_add(1, Ordering::Relaxed);
            shared.bytes.fetch_add(len as u64, Ordering::Relaxed);
            hist.record(now.duration_since(sent).as_nanos() as u64);
        }
        sent_at.push_back(Instant::now());
        conn.send()?;
    }
    Ok(())
}
