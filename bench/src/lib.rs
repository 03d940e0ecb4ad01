//! What the benchmark's binaries share: arguments, the hand-rolled server handshake of the
//! servers that have none of their own, client frames, a latency histogram, the measurement
//! window, and CPU readings from /proc.

pub mod blocking;
mod clients;

pub use clients::{client_main, drive_library};

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use base64::Engine;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// `--key value` and `--flag` arguments.
pub struct Args(HashMap<String, String>);

impl Args {
    /// The process's arguments; a bare first argument is taken as `--addr`.
    pub fn parse() -> Args {
        let mut map = HashMap::new();
        let mut it = std::env::args().skip(1).peekable();
        while let Some(arg) = it.next() {
            if let Some(key) = arg.strip_prefix("--") {
                let value = match it.peek() {
                    Some(next) if !next.starts_with("--") => it.next().unwrap_or_default(),
                    _ => "true".to_owned(),
                };
                map.insert(key.to_owned(), value);
            } else {
                map.insert("addr".to_owned(), arg);
            }
        }
        Args(map)
    }

    pub fn str(&self, key: &str, default: &str) -> String {
        self.0
            .get(key)
            .cloned()
            .unwrap_or_else(|| default.to_owned())
    }

    pub fn num(&self, key: &str, default: f64) -> f64 {
        match self.0.get(key) {
            Some(v) => parse_size(v).unwrap_or_else(|| panic!("--{key} {v}: not a number")),
            None => default,
        }
    }

    pub fn flag(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }
}

/// `16`, `1K`, `64K`, `1M`, `2.5`.
fn parse_size(text: &str) -> Option<f64> {
    let (num, mult) = match text.as_bytes().last()? {
        b'K' | b'k' => (&text[..text.len() - 1], 1024.0),
        b'M' | b'm' => (&text[..text.len() - 1], 1024.0 * 1024.0),
        _ => (text, 1.0),
    };
    num.parse::<f64>().ok().map(|n| n * mult)
}

/// A current_thread runtime: every server and load generator runs on one.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Prints the line the script waits for, as `weft serve` does.
pub fn announce(addr: SocketAddr) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on ws://{addr}");
    let _ = out.flush();
}

// ---- The server handshake of the servers without one of their own (fastwebsockets, raw) ----

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a key (RFC 6455 §4.2.2).
pub fn accept_key(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

/// Reads an upgrade request, answers 101, and returns the bytes read past the request.
pub async fn server_handshake(tcp: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(1024);
    loop {
        let mut chunk = [0u8; 1024];
        let n = tcp.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(end)) => {
                let key = req
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-key"))
                    .map(|h| h.value)
                    .ok_or_else(|| io::Error::other("no Sec-WebSocket-Key"))?;
                let response = format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                     Connection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                    accept_key(key)
                );
                tcp.write_all(response.as_bytes()).await?;
                return Ok(buf.split_off(end));
            }
            Ok(httparse::Status::Partial) if buf.len() < 16 << 10 => continue,
            _ => return Err(io::Error::other("bad upgrade request")),
        }
    }
}

// ---- The client side of the hand-built load generator ----

/// The key every load-generator connection sends, and the accept it expects.
pub const CLIENT_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// The source address of connection `i` of `total`: past 500 connections they spread over
/// 127.0.0.1–127.0.0.250 so that no address runs out of ephemeral ports.
pub fn source_ip(i: usize, total: usize) -> Option<Ipv4Addr> {
    (total > 500).then(|| Ipv4Addr::new(127, 0, 0, 1 + (i % 250) as u8))
}

/// Connects from `source` (port picked by the kernel) with TCP_NODELAY.
pub async fn connect_from(addr: SocketAddr, source: Option<Ipv4Addr>) -> io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    if let Some(ip) = source {
        socket.bind(SocketAddr::from((ip, 0)))?;
    }
    let tcp = socket.connect(addr).await?;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

/// Sends the upgrade request (no extensions offered) and reads the 101.
pub async fn client_handshake(tcp: &mut TcpStream, host: &str, path: &str) -> io::Result<()> {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {CLIENT_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await?;
    let mut buf = Vec::with_capacity(256);
    loop {
        // One byte at a time past the first read would be slow; the 101 is small and the
        // server sends nothing after it until we send, so reading until "\r\n\r\n" is exact.
        let mut chunk = [0u8; 512];
        let n = tcp.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
        if buf.len() > 16 << 10 {
            return Err(io::Error::other("response too long"));
        }
    }
    if !buf.starts_with(b"HTTP/1.1 101") {
        let line = String::from_utf8_lossy(&buf[..buf.len().min(80)]).into_owned();
        return Err(io::Error::other(format!("handshake refused: {line}")));
    }
    if !buf.ends_with(b"\r\n\r\n") {
        return Err(io::Error::other("bytes after the 101"));
    }
    Ok(())
}

/// The payload of the benchmark's messages: pseudo-random bytes, or for text a mix of 1- to
/// 4-byte UTF-8 sequences (about a third non-ASCII by characters), exactly `size` bytes.
pub fn payload(size: usize, text: bool) -> Vec<u8> {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    if !text {
        return (0..size).map(|_| next() as u8).collect();
    }
    const CHARS: [&str; 8] = ["a", "b", "z", " ", "é", "ж", "€", "𝄞"];
    let mut out = String::with_capacity(size);
    while out.len() < size {
        let c = CHARS[(next() % 8) as usize];
        if out.len() + c.len() > size {
            out.push('.');
        } else {
            out.push_str(c);
        }
    }
    out.into_bytes()
}

/// A masked client frame (RFC 6455 §5.2) carrying `payload`, FIN set.
pub fn client_frame(payload: &[u8], text: bool) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = Vec::with_capacity(payload.len() + 14);
    frame.push(0x80 | if text { 0x1 } else { 0x2 });
    let len = payload.len();
    if len < 126 {
        frame.push(0x80 | len as u8);
    } else if len <= 0xffff {
        frame.push(0x80 | 126);
        frame.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        frame.push(0x80 | 127);
        frame.extend_from_slice(&(len as u64).to_be_bytes());
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

// ---- Measurement ----

/// Latencies in nanoseconds, log-linear buckets (32 per power of two: ≤ 3 % error).
pub struct Hist {
    counts: Vec<u64>,
    total: u64,
}

impl Default for Hist {
    fn default() -> Self {
        Hist {
            counts: vec![0; 64 + 58 * 32],
            total: 0,
        }
    }
}

impl Hist {
    pub fn record(&mut self, ns: u64) {
        self.counts[Self::index(ns)] += 1;
        self.total += 1;
    }

    fn index(v: u64) -> usize {
        if v < 64 {
            return v as usize;
        }
        let e = 63 - v.leading_zeros() as usize; // ≥ 6
        let sub = ((v >> (e - 5)) & 31) as usize;
        64 + (e - 6) * 32 + sub
    }

    fn value(i: usize) -> u64 {
        if i < 64 {
            return i as u64;
        }
        let e = (i - 64) / 32 + 6;
        let sub = ((i - 64) % 32) as u64;
        (32 + sub) << (e - 5)
    }

    /// The `q` quantile (0..=1) in nanoseconds.
    pub fn quantile(&self, q: f64) -> u64 {
        let rank = ((self.total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::value(i);
            }
        }
        0
    }

    /// Adds `other`'s samples to these.
    pub fn merge(&mut self, other: &Hist) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
    }
}

/// The counters every connection of a load generator shares (one thread, so no atomics).
#[derive(Default)]
pub struct Stats {
    /// Counting and recording only inside the window.
    pub measuring: Cell<bool>,
    /// Every connection stops sending once set.
    pub stopped: Cell<bool>,
    pub msgs: Cell<u64>,
    pub bytes: Cell<u64>,
    pub errors: Cell<u64>,
    pub hist: RefCell<Hist>,
}

impl Stats {
    /// An echo of `len` payload bytes came back `rtt` after it was sent.
    #[inline]
    pub fn echoed(&self, len: usize, rtt: Duration) {
        if self.measuring.get() {
            self.msgs.set(self.msgs.get() + 1);
            self.bytes.set(self.bytes.get() + len as u64);
            self.hist.borrow_mut().record(rtt.as_nanos() as u64);
        }
    }

    pub fn error(&self, what: &str) {
        if self.errors.get() < 5 {
            eprintln!("loadgen: {what}");
        }
        self.errors.set(self.errors.get() + 1);
    }
}

/// CPU time of a process (all its threads) in microseconds: user, system.
pub fn proc_cpu(pid: u32) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the comm: state is field 3, utime 14, stime 15 (1-based over the whole line).
    let ticks = clock_ticks();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime * 1_000_000 / ticks, stime * 1_000_000 / ticks))
}

/// CPU time of a process (all its threads) in nanoseconds, from the scheduler's own count
/// (`/proc/PID/task/*/schedstat`): exact, where `/proc/PID/stat` counts clock ticks of 10 ms,
/// too coarse for the quarter-second slices of an interleaved run.
pub fn proc_runtime_ns(pid: u32) -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let path = task.ok()?.path().join("schedstat");
        // A thread that ended between the listing and the read has nothing more to add.
        if let Ok(stat) = std::fs::read_to_string(path) {
            total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
        }
    }
    Some(total)
}

/// Resident set size of a process in KiB.
pub fn proc_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as u64 } else { 100 }
}

/// This process's CPU time in microseconds: user, system.
pub fn self_cpu() -> (u64, u64) {
    // SAFETY: getrusage writes into the struct we hand it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let us = |tv: libc::timeval| tv.tv_sec as u64 * 1_000_000 + tv.tv_usec as u64;
    (us(ru.ru_utime), us(ru.ru_stime))
}

/// Asks callgrind in process `pid` to zero (`-z`) or dump (`-d`) its counters, and waits.
pub(crate) fn callgrind_control(action: &str, pid: u32) {
    let done = std::process::Command::new("callgrind_control")
        .args([action, &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    if !done.is_ok_and(|status| status.success()) {
        eprintln!("loadgen: callgrind_control {action} {pid} failed");
    }
}

/// One measured cell's description, printed with its numbers.
pub struct CellSpec {
    pub label: String,
    pub conns: usize,
    pub size: usize,
    pub depth: usize,
    pub text: bool,
}

/// Runs the measurement window: `warmup`, then `secs` of counting, reading the server's and
/// our own CPU time at both ends; prints one `RESULT` line.
///
/// With `callgrind` (a server running under `valgrind --tool=callgrind`), the server's counters
/// are zeroed as the window opens and dumped as it closes, so the dump holds the window's
/// messages and nothing of the connection set-up (`scripts/instructions.sh`). The load stalls
/// while `callgrind_control` runs; at most one round of messages in flight is miscounted.
pub async fn measure(
    stats: &Rc<Stats>,
    cell: &CellSpec,
    server_pid: Option<u32>,
    (warmup, secs): (f64, f64),
    callgrind: bool,
) {
    tokio::time::sleep(Duration::from_secs_f64(warmup)).await;
    let callgrind_pid = server_pid.filter(|_| callgrind);
    if let Some(pid) = callgrind_pid {
        callgrind_control("-z", pid);
    }
    let srv0 = server_pid.and_then(proc_cpu);
    let me0 = self_cpu();
    let t0 = Instant::now();
    stats.measuring.set(true);
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stats.measuring.set(false);
    let elapsed = t0.elapsed().as_secs_f64();
    let me1 = self_cpu();
    let srv1 = server_pid.and_then(proc_cpu);
    if let Some(pid) = callgrind_pid {
        callgrind_control("-d", pid);
    }
    stats.stopped.set(true);

    print_result(
        cell,
        &Window {
            msgs: stats.msgs.get(),
            bytes: stats.bytes.get(),
            errors: stats.errors.get(),
            elapsed,
            server: srv0.zip(srv1),
            me: (me0, me1),
        },
        &stats.hist.borrow(),
    );
}

/// What a measurement window counted, and the CPU readings at both of its ends.
pub struct Window {
    pub msgs: u64,
    pub bytes: u64,
    pub errors: u64,
    pub elapsed: f64,
    /// The server's (user, system) µs at the window's start and end, if it was watched.
    pub server: Option<((u64, u64), (u64, u64))>,
    /// The same for this process.
    pub me: ((u64, u64), (u64, u64)),
}

/// Prints the one `RESULT` line of a cell that the report reads.
pub fn print_result(cell: &CellSpec, w: &Window, hist: &Hist) {
    let per_msg = |us: u64| {
        if w.msgs == 0 {
            0.0
        } else {
            us as f64 / w.msgs as f64
        }
    };
    let (srv_us, srv_sys_pct, srv_cpu_pct) = match w.server {
        Some(((u0, s0), (u1, s1))) => {
            let total = (u1 - u0) + (s1 - s0);
            let sys = if total == 0 {
                0.0
            } else {
                100.0 * (s1 - s0) as f64 / total as f64
            };
            (per_msg(total), sys, 100.0 * total as f64 / 1e6 / w.elapsed)
        }
        None => (0.0, 0.0, 0.0),
    };
    let (me0, me1) = w.me;
    let gen_total = (me1.0 - me0.0) + (me1.1 - me0.1);
    println!(
        "RESULT label={} conns={} size={} depth={} mode={} msgs={} secs={:.3} msgs_per_s={:.0} \
         mb_per_s={:.1} p50_us={:.1} p99_us={:.1} srv_cpu_us_per_msg={:.3} srv_sys_pct={:.0} \
         srv_cpu_pct={:.0} gen_cpu_us_per_msg={:.3} gen_cpu_pct={:.0} errors={}",
        cell.label,
        cell.conns,
        cell.size,
        cell.depth,
        if cell.text { "text" } else { "binary" },
        w.msgs,
        w.elapsed,
        w.msgs as f64 / w.elapsed,
        w.bytes as f64 / w.elapsed / 1e6,
        hist.quantile(0.5) as f64 / 1e3,
        hist.quantile(0.99) as f64 / 1e3,
        srv_us,
        srv_sys_pct,
        srv_cpu_pct,
        per_msg(gen_total),
        100.0 * gen_total as f64 / 1e6 / w.elapsed,
        w.errors,
    );
}
