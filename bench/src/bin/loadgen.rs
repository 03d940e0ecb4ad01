//! The load generator, in the shape of uWebSockets' load_test: C connections, each sending a
//! pre-built masked frame of S bytes and awaiting its echo, D frames in flight, for a fixed
//! time. Raw tokio TcpStream, hand-built frames, a current_thread runtime and minimal parsing
//! of the server's frames, so that it costs less than any server it measures.
//!
//! ```sh
//! loadgen --addr 127.0.0.1:9001 --conns 100 --size 1K --depth 1 [--text] --secs 3 \
//!         --warmup 1 --server-pid PID --label weft
//! loadgen --addr 127.0.0.1:9001 --idle 10000 --hold 5 [--echo-once]   # idle connections
//! loadgen --addrs A,B,C --server-pids PA,PB,PC --labels a,b,c --conns 100 --size 16 \
//!         --secs 2 --slice 0.25                                       # interleaved
//! ```
//!
//! Prints one `RESULT key=value ...` line (or `IDLE ...` in idle mode).
//!
//! Interleaved, it holds `--conns` connections to each of several servers and loads one
//! server at a time in turns of `--slice` seconds (the order rotated each turn), waiting for
//! every echo of a turn before the next begins, until each server had `--secs` seconds; each
//! server's CPU is counted over its own turns only, and one `RESULT` line is printed per
//! server. On a shared machine the rate of a whole process moves by tens of percent from one
//! second to the next; servers measured in alternating quarter seconds share those moves,
//! so their ratio holds still where back-to-back runs of seconds each do not.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use weft_bench::{
    Args, CellSpec, Stats, Window, client_frame, client_handshake, connect_from, measure, payload,
    print_result, proc_cpu, proc_runtime_ns, runtime, self_cpu, source_ip,
};

/// How many connections handshake at once.
const CONNECT_PARALLEL: usize = 128;

struct Plan {
    size: usize,
    depth: usize,
    text: bool,
    /// `depth` copies of the frame, back to back: k frames are written as one slice.
    batch: Vec<u8>,
    frame_len: usize,
    /// What the first bytes of an echoed payload must be: unmasked for a WebSocket server,
    /// masked for the raw TCP echo that returns our own frame.
    expect_plain: Vec<u8>,
    expect_masked: Vec<u8>,
}

fn main() {
    let args = Args::parse();
    let addr: SocketAddr = args.str("addr", "127.0.0.1:9001").parse().expect("--addr");
    let path = args.str("path", "/");
    let rt = runtime();
    let local = tokio::task::LocalSet::new();
    if args.flag("idle") {
        local.block_on(&rt, idle(addr, &path, &args));
        return;
    }
    let conns = args.num("conns", 1.0) as usize;
    let size = args.num("size", 16.0) as usize;
    let depth = (args.num("depth", 1.0) as usize).max(1);
    let text = args.flag("text");
    let body = payload(size, text);
    let frame = client_frame(&body, text);
    let frame_len = frame.len();
    let header_len = frame_len - size;
    let prefix = size.min(16);
    let plan = Rc::new(Plan {
        size,
        depth,
        text,
        batch: frame.repeat(depth),
        frame_len,
        expect_plain: body[..prefix].to_vec(),
        expect_masked: frame[header_len..header_len + prefix].to_vec(),
    });
    let cell = CellSpec {
        label: args.str("label", "?"),
        conns,
        size,
        depth,
        text,
    };
    let server_pid = args
        .flag("server-pid")
        .then(|| args.num("server-pid", 0.0) as u32);
    let window = (args.num("warmup", 1.0), args.num("secs", 3.0));
    let callgrind = args.flag("callgrind");
    if args.flag("addrs") {
        local.block_on(&rt, interleaved(&args, &plan, cell, window));
        std::process::exit(0);
    }
    local.block_on(&rt, async move {
        let host = addr.to_string();
        let streams = connect_all(addr, conns, &host, &path).await;
        let stats = Rc::new(Stats::default());
        if streams.len() < conns {
            eprintln!("loadgen: only {} of {conns} connections", streams.len());
            stats.errors.set((conns - streams.len()) as u64);
        }
        let gate = Rc::new(Gate::open());
        for tcp in streams {
            let (plan, stats, gate) = (Rc::clone(&plan), Rc::clone(&stats), Rc::clone(&gate));
            tokio::task::spawn_local(drive(tcp, plan, stats, gate));
        }
        measure(&stats, &cell, server_pid, window, callgrind).await;
    });
    // Connections end with the process; no close handshake is measured.
    std::process::exit(0);
}

async fn connect_all(addr: SocketAddr, conns: usize, host: &str, path: &str) -> Vec<TcpStream> {
    futures_util::stream::iter(0..conns)
        .map(|i| async move {
            let attempt = async {
                let mut tcp = connect_from(addr, source_ip(i, conns)).await?;
                client_handshake(&mut tcp, host, path).await?;
                Ok::<_, std::io::Error>(tcp)
            };
            match tokio::time::timeout(Duration::from_secs(10), attempt).await {
                Ok(Ok(tcp)) => Some(tcp),
                Ok(Err(e)) => {
                    eprintln!("loadgen: connection {i}: {e}");
                    None
                }
                Err(_) => {
                    eprintln!("loadgen: connection {i}: handshake timed out");
                    None
                }
            }
        })
        .buffer_unordered(CONNECT_PARALLEL)
        .filter_map(|tcp| async move { tcp })
        .collect()
        .await
}

/// Whether a group of connections (those to one server) may send, and how many of the
/// group's frames await their echo.
struct Gate {
    open: Cell<bool>,
    opened: Notify,
    in_flight: Cell<usize>,
    drained: Notify,
}

impl Gate {
    fn open() -> Gate {
        Gate {
            open: Cell::new(true),
            opened: Notify::new(),
            in_flight: Cell::new(0),
            drained: Notify::new(),
        }
    }

    fn set(&self, open: bool) {
        self.open.set(open);
        if open {
            self.opened.notify_waiters();
        }
    }

    /// Waits until every frame the group sent has come back, or `limit` passed.
    async fn drain(&self, limit: Duration) -> bool {
        let until = tokio::time::Instant::now() + limit;
        while self.in_flight.get() > 0 {
            if tokio::time::timeout_at(until, self.drained.notified())
                .await
                .is_err()
            {
                return false;
            }
        }
        true
    }
}

/// One connection: a writer keeping `depth` frames in flight while its gate is open, and a
/// reader counting echoes.
async fn drive(mut tcp: TcpStream, plan: Rc<Plan>, stats: Rc<Stats>, gate: Rc<Gate>) {
    let (mut rd, mut wr) = tcp.split();
    let credits = Cell::new(plan.depth);
    let sent: RefCell<VecDeque<Instant>> = RefCell::new(VecDeque::with_capacity(plan.depth));
    let wake = Notify::new();
    let writer = async {
        loop {
            if stats.stopped.get() {
                return;
            }
            // One task at a time on this thread: nothing opens the gate between the check and
            // the wait, which registers before the task yields.
            if !gate.open.get() {
                gate.opened.notified().await;
                continue;
            }
            let k = credits.replace(0);
            if k == 0 {
                wake.notified().await;
                continue;
            }
            gate.in_flight.set(gate.in_flight.get() + k);
            let now = Instant::now();
            sent.borrow_mut().extend(std::iter::repeat_n(now, k));
            if wr
                .write_all(&plan.batch[..k * plan.frame_len])
                .await
                .is_err()
            {
                if !stats.stopped.get() {
                    stats.error("write failed");
                }
                return;
            }
        }
    };
    let reader = async {
        let mut buf = vec![0u8; 64 << 10];
        let mut parser = Parser::default();
        loop {
            let n = match rd.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    if !stats.stopped.get() {
                        stats.error("connection closed by the server");
                    }
                    return;
                }
                Ok(n) => n,
            };
            let now = Instant::now();
            let mut done = 0;
            if let Err(e) = parser.feed(&buf[..n], &plan, &mut |len| {
                done += 1;
                let t = sent.borrow_mut().pop_front().unwrap_or(now);
                stats.echoed(len, now - t);
            }) {
                stats.error(&e);
                return;
            }
            if done > 0 {
                credits.set(credits.get() + done);
                wake.notify_one();
                gate.in_flight
                    .set(gate.in_flight.get().saturating_sub(done));
                if gate.in_flight.get() == 0 {
                    gate.drained.notify_one();
                }
            }
        }
    };
    tokio::select! {
        () = writer => {}
        () = reader => {}
    }
    // A connection that ended owes no more echoes: its group's turns must not wait for them.
    let owed = sent.borrow().len();
    gate.in_flight
        .set(gate.in_flight.get().saturating_sub(owed));
    if gate.in_flight.get() == 0 {
        gate.drained.notify_one();
    }
}

/// What one server's turns added up to.
#[derive(Default)]
struct Turns {
    elapsed: f64,
    runtime_ns: u64,
    ticks: (u64, u64),
    me: (u64, u64),
}

/// The interleaved run: `--conns` connections to each of `--addrs`, loaded in turns.
async fn interleaved(args: &Args, plan: &Rc<Plan>, cell: CellSpec, (warmup, secs): (f64, f64)) {
    let list = |key: &str| -> Vec<String> {
        args.str(key, "")
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let addrs: Vec<SocketAddr> = list("addrs")
        .iter()
        .map(|a| a.parse().expect("--addrs"))
        .collect();
    let pids: Vec<u32> = list("server-pids")
        .iter()
        .map(|p| p.parse().expect("--server-pids"))
        .collect();
    let labels = list("labels");
    assert!(
        pids.len() == addrs.len() && labels.len() == addrs.len(),
        "--addrs, --server-pids and --labels name the same servers"
    );
    let slice = Duration::from_secs_f64(args.num("slice", 0.25));
    let drain_limit = Duration::from_secs(10);
    let path = args.str("path", "/");

    let mut groups = Vec::new();
    for &addr in &addrs {
        let stats = Rc::new(Stats::default());
        let gate = Rc::new(Gate::open());
        gate.set(false);
        let streams = connect_all(addr, cell.conns, &addr.to_string(), &path).await;
        if streams.len() < cell.conns {
            eprintln!(
                "loadgen: {addr}: only {} of {} connections",
                streams.len(),
                cell.conns
            );
            stats.errors.set((cell.conns - streams.len()) as u64);
        }
        for tcp in streams {
            let (plan, stats, gate) = (Rc::clone(plan), Rc::clone(&stats), Rc::clone(&gate));
            tokio::task::spawn_local(drive(tcp, plan, stats, gate));
        }
        groups.push((stats, gate));
    }

    // Warm-up: each server loaded for `warmup` seconds once, uncounted.
    for (stats, gate) in &groups {
        gate.set(true);
        tokio::time::sleep(Duration::from_secs_f64(warmup)).await;
        gate.set(false);
        if !gate.drain(drain_limit).await {
            stats.error("echoes missing after the warm-up");
        }
    }

    let n = groups.len();
    let mut turns: Vec<Turns> = (0..n).map(|_| Turns::default()).collect();
    let rounds = (secs / slice.as_secs_f64()).ceil().max(1.0) as usize;
    for round in 0..rounds {
        for k in 0..n {
            let i = (round + k) % n;
            let (stats, gate) = &groups[i];
            let (pid, t) = (pids[i], &mut turns[i]);
            let (r0, c0, m0) = (proc_runtime_ns(pid), proc_cpu(pid), self_cpu());
            let t0 = Instant::now();
            stats.measuring.set(true);
            gate.set(true);
            tokio::time::sleep(slice).await;
            gate.set(false);
            // Echoes of this turn still on their way are this server's work: counted in.
            if !gate.drain(drain_limit).await {
                stats.error("echoes missing after a turn");
            }
            stats.measuring.set(false);
            t.elapsed += t0.elapsed().as_secs_f64();
            let (r1, c1, m1) = (proc_runtime_ns(pid), proc_cpu(pid), self_cpu());
            if let (Some(r0), Some(r1)) = (r0, r1) {
                t.runtime_ns += r1.saturating_sub(r0);
            }
            if let (Some(c0), Some(c1)) = (c0, c1) {
                t.ticks.0 += c1.0.saturating_sub(c0.0);
                t.ticks.1 += c1.1.saturating_sub(c0.1);
            }
            t.me.0 += m1.0 - m0.0;
            t.me.1 += m1.1 - m0.1;
        }
    }
    for (stats, _) in &groups {
        stats.stopped.set(true);
    }
    for (i, (stats, _)) in groups.iter().enumerate() {
        let t = &turns[i];
        // The scheduler's exact runtime, split into user and system time by the ticks' shares.
        // Without the scheduler's count (no schedstat here) the ticks' total stands in.
        let total_us = if t.runtime_ns > 0 {
            t.runtime_ns / 1000
        } else {
            t.ticks.0 + t.ticks.1
        };
        let ticked = t.ticks.0 + t.ticks.1;
        let sys_us = (total_us * t.ticks.1).checked_div(ticked).unwrap_or(0);
        print_result(
            &CellSpec {
                label: labels[i].clone(),
                ..cell
            },
            &Window {
                msgs: stats.msgs.get(),
                bytes: stats.bytes.get(),
                errors: stats.errors.get(),
                elapsed: t.elapsed,
                server: Some(((0, 0), (total_us - sys_us, sys_us))),
                me: ((0, 0), t.me),
            },
            &stats.hist.borrow(),
        );
    }
}

/// The server's frames, parsed just enough to find their ends and check them.
#[derive(Default)]
struct Parser {
    header: [u8; 14],
    have: usize,
    need: usize,
    masked: bool,
    /// Payload bytes of the current frame still to come, and how many came already.
    remaining: u64,
    offset: u64,
    len: u64,
}

impl Parser {
    fn feed(
        &mut self,
        mut data: &[u8],
        plan: &Plan,
        done: &mut impl FnMut(usize),
    ) -> Result<(), String> {
        while !data.is_empty() {
            if self.remaining > 0 {
                let take = (self.remaining as usize).min(data.len());
                let expect = if self.masked {
                    &plan.expect_masked
                } else {
                    &plan.expect_plain
                };
                if (self.offset as usize) < expect.len() {
                    let from = self.offset as usize;
                    let upto = expect.len().min(from + take);
                    if data[..upto - from] != expect[from..upto] {
                        return Err("echoed payload differs".into());
                    }
                }
                data = &data[take..];
                self.remaining -= take as u64;
                self.offset += take as u64;
                if self.remaining == 0 {
                    done(self.len as usize);
                }
                continue;
            }
            if self.need == 0 {
                self.need = 2;
            }
            self.header[self.have] = data[0];
            self.have += 1;
            data = &data[1..];
            if self.have == 2 {
                self.masked = self.header[1] & 0x80 != 0;
                let ext = match self.header[1] & 0x7f {
                    126 => 2,
                    127 => 8,
                    _ => 0,
                };
                self.need = 2 + ext + if self.masked { 4 } else { 0 };
            }
            if self.have == self.need {
                let h = &self.header;
                let len = match h[1] & 0x7f {
                    126 => u16::from_be_bytes([h[2], h[3]]) as u64,
                    127 => u64::from_be_bytes(h[2..10].try_into().unwrap_or([0; 8])),
                    n => n as u64,
                };
                let opcode = h[0] & 0x0f;
                let want = if plan.text { 1 } else { 2 };
                if h[0] & 0x80 == 0 || opcode != want {
                    return Err(format!("unexpected frame: byte0 {:#04x}", h[0]));
                }
                if len != plan.size as u64 {
                    return Err(format!("echoed length {len}, sent {}", plan.size));
                }
                self.len = len;
                self.remaining = len;
                self.offset = 0;
                self.have = 0;
                self.need = 2;
                if len == 0 {
                    done(0);
                }
            }
        }
        Ok(())
    }
}

/// Opens `--idle N` connections and holds them `--hold` seconds; with `--echo-once` each
/// first echoes one 16-byte message, so that the server has read and written on it.
async fn idle(addr: SocketAddr, path: &str, args: &Args) {
    let n = args.num("idle", 1000.0) as usize;
    let hold = args.num("hold", 5.0);
    let echo_once = args.flag("echo-once");
    let host = addr.to_string();
    let frame = client_frame(&payload(16, false), false);
    let started = Instant::now();
    // Past this many failures the server is full: stop trying rather than time out on each.
    let failures = Cell::new(0usize);
    let streams: Vec<TcpStream> = futures_util::stream::iter(0..n)
        .map(|i| {
            let (host, frame, failures) = (&host, &frame, &failures);
            async move {
                if failures.get() >= CONNECT_PARALLEL {
                    return None;
                }
                let attempt = async {
                    let mut tcp = connect_from(addr, source_ip(i, n.max(501))).await?;
                    client_handshake(&mut tcp, host, path).await?;
                    if echo_once {
                        tcp.write_all(frame).await?;
                        let mut echo = [0u8; 18];
                        tcp.read_exact(&mut echo).await?;
                    }
                    Ok::<_, std::io::Error>(tcp)
                };
                match tokio::time::timeout(Duration::from_secs(5), attempt).await {
                    Ok(Ok(tcp)) => Some(tcp),
                    _ => {
                        failures.set(failures.get() + 1);
                        None
                    }
                }
            }
        })
        .buffer_unordered(CONNECT_PARALLEL)
        .filter_map(|tcp| async move { tcp })
        .collect()
        .await;
    println!(
        "IDLE connected={} failed={} secs={:.1}",
        streams.len(),
        n - streams.len(),
        started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs_f64(hold)).await;
    drop(streams);
}
