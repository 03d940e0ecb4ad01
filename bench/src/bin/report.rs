//! Renders the `RESULT`, `MEMORY` and `MAXCONN` lines of a benchmark run (stdin) as the
//! markdown tables of BENCHMARKS.md.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;

/// The servers' columns, in order, and the labels they run under.
const SERVERS: [&str; 5] = ["raw", "fastwebsockets", "tungstenite", "weft", "weft-serve"];
const CLIENTS: [&str; 5] = [
    "client:loadgen",
    "client:tungstenite",
    "client:weft",
    "client:tungstenite_sync",
    "client:weft_blocking",
];

type Row = HashMap<String, String>;

fn main() {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).expect("stdin");
    let mut results: Vec<Row> = Vec::new();
    let mut memory: Vec<Row> = Vec::new();
    let mut maxconn: Vec<Row> = Vec::new();
    for line in input.lines() {
        let (kind, rest) = line.split_once(' ').unwrap_or((line, ""));
        let row: Row = rest
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        match kind {
            "RESULT" => results.push(row),
            "MEMORY" => memory.push(row),
            "MAXCONN" => maxconn.push(row),
            _ => {}
        }
    }

    // Each (label, cell) ran in one or more rounds; the round with the median CPU per message
    // stands for it (whole, so its rate and latency are from the same run), and the spread of
    // the rounds is shown beside it.
    type Key = (u8, usize, usize, usize); // text?, size, conns, depth
    let mut runs: BTreeMap<Key, HashMap<String, Vec<Row>>> = BTreeMap::new();
    for row in results {
        let key = (
            u8::from(row["mode"] == "text"),
            num(&row, "size") as usize,
            num(&row, "conns") as usize,
            num(&row, "depth") as usize,
        );
        runs.entry(key)
            .or_default()
            .entry(row["label"].clone())
            .or_default()
            .push(row);
    }
    let paired: Vec<(Key, Vec<String>)> = runs
        .iter()
        .filter_map(|(key, by_label)| Some((*key, paired_row(by_label)?)))
        .collect();
    let mut rounds = 1;
    let mut cells: BTreeMap<Key, HashMap<String, Row>> = BTreeMap::new();
    for (key, by_label) in runs {
        let rows = cells.entry(key).or_default();
        for (label, mut all) in by_label {
            rounds = rounds.max(all.len());
            let field = if label.starts_with("client:") {
                "gen_cpu_us_per_msg"
            } else {
                "srv_cpu_us_per_msg"
            };
            all.sort_by(|a, b| num(a, field).total_cmp(&num(b, field)));
            let (low, high) = (num(&all[0], field), num(&all[all.len() - 1], field));
            let several = all.len() > 1;
            let mut median = all.swap_remove(all.len() / 2);
            if several {
                median.insert("cpu_low".to_owned(), low.to_string());
                median.insert("cpu_high".to_owned(), high.to_string());
            }
            rows.insert(label, median);
        }
    }
    if rounds > 1 {
        println!(
            "Each cell: the median of {rounds} rounds by CPU per message (servers interleaved \
             within a round); CPU cells show that round and, after it, the lowest–highest of all.\n"
        );
    }
    let server_cells: Vec<_> = cells
        .iter()
        .filter(|(_, rows)| SERVERS.iter().any(|s| rows.contains_key(*s)))
        .collect();
    let client_cells: Vec<_> = cells
        .iter()
        .filter(|(_, rows)| CLIENTS.iter().any(|s| rows.contains_key(*s)))
        .collect();

    if !server_cells.is_empty() {
        println!("### Servers: echoed msgs/s (÷ raw TCP / ÷ fastwebsockets)\n");
        header("connections × payload × in flight", &SERVERS);
        for (key, rows) in &server_cells {
            table_row(key, rows, &SERVERS, "msgs_per_s", fmt_rate);
        }
        println!(
            "\n### Servers: server CPU µs per echoed message (÷ raw TCP / ÷ fastwebsockets; lower is better)\n"
        );
        header("connections × payload × in flight", &SERVERS);
        for (key, rows) in &server_cells {
            table_row(key, rows, &SERVERS, "srv_cpu_us_per_msg", fmt_us);
        }
        println!(
            "\n### Servers: round-trip latency p50 / p99 µs, and the server's kernel share of its CPU\n"
        );
        header("connections × payload × in flight", &SERVERS);
        for (key, rows) in &server_cells {
            let mut line = format!("| {} |", describe(key));
            for s in SERVERS {
                match rows.get(s) {
                    Some(r) => {
                        line += &format!(
                            " {} / {} · {}% sys |",
                            fmt_lat(num(r, "p50_us")),
                            fmt_lat(num(r, "p99_us")),
                            num(r, "srv_sys_pct")
                        )
                    }
                    None => line += " – |",
                }
            }
            println!("{line}");
        }
    }
    if rounds > 1 && !paired.is_empty() {
        println!(
            "\n### Servers: round by round against fastwebsockets\n\n\
             Server CPU per message over fastwebsockets' in the same round: the rounds below it \
             of all rounds, and the median ratio [lowest–highest]. Raw TCP shows what the \
             spread alone does to a server that does less.\n"
        );
        header("connections × payload × in flight", &PAIRED);
        for (key, line) in &paired {
            println!("| {} | {} |", describe(key), line.join(" | "));
        }
    }
    if !client_cells.is_empty() {
        println!(
            "\n### Clients against echo_fastwebsockets: msgs/s, and client CPU µs per message (÷ hand-built load generator)\n"
        );
        header("connections × payload × in flight", &CLIENTS);
        for (key, rows) in &client_cells {
            let base = rows.get(CLIENTS[0]).map(|r| num(r, "gen_cpu_us_per_msg"));
            let mut line = format!("| {} |", describe(key));
            for c in CLIENTS {
                match rows.get(c) {
                    Some(r) => {
                        let cpu = num(r, "gen_cpu_us_per_msg");
                        let ratio = match base {
                            Some(b) if b > 0.0 && c != CLIENTS[0] => format!(" ({:.2})", cpu / b),
                            _ => String::new(),
                        };
                        line += &format!(
                            " {} · {} µs{ratio}{} |",
                            fmt_rate(num(r, "msgs_per_s")),
                            fmt_us(cpu),
                            marks(r)
                        );
                    }
                    None => line += " – |",
                }
            }
            println!("{line}");
        }
    }
    if !memory.is_empty() {
        println!("\n### Memory: server RSS per idle connection\n");
        println!("| server | connections | after the handshake | after one 16 B echo each |");
        println!("| --- | --- | --- | --- |");
        let mut by_label: BTreeMap<String, (String, String, String)> = BTreeMap::new();
        for r in &memory {
            let e = by_label.entry(r["label"].clone()).or_default();
            e.0 = r["conns"].clone();
            let v = format!("{:.1} KiB", num(r, "kib_per_conn"));
            if r.get("echo").is_some_and(|e| e == "1") {
                e.2 = v;
            } else {
                e.1 = v;
            }
        }
        for (label, (conns, hs, echo)) in by_label {
            println!("| {label} | {conns} | {hs} | {echo} |");
        }
    }
    for r in &maxconn {
        println!(
            "\nMost connections weft held: **{}** (tried {}; server RSS {:.0} MiB; open-files limit {}).",
            r["held"],
            r["tried"],
            num(r, "rss_kib") / 1024.0,
            r["nofile"]
        );
    }
    println!(
        "\n† the load generator used ≥ 90 % of its core (the cell may measure it, not the server); \
         ! errors (see the log)."
    );
}

/// The servers compared with fastwebsockets round by round.
const PAIRED: [&str; 3] = ["raw", "weft", "weft-serve"];

/// One cell's round-by-round comparison with fastwebsockets, or `None` without it. A
/// server's i-th result in a cell ran in round i, beside fastwebsockets' i-th: the script
/// runs every server once per round and appends results in order.
fn paired_row(by_label: &HashMap<String, Vec<Row>>) -> Option<Vec<String>> {
    let field = "srv_cpu_us_per_msg";
    let fws = by_label.get("fastwebsockets")?;
    let line = PAIRED
        .iter()
        .map(|label| {
            let Some(runs) = by_label.get(*label) else {
                return "–".to_owned();
            };
            let mut ratios: Vec<f64> = runs
                .iter()
                .zip(fws)
                .filter(|(_, f)| num(f, field) > 0.0)
                .map(|(r, f)| num(r, field) / num(f, field))
                .collect();
            if ratios.is_empty() {
                return "–".to_owned();
            }
            ratios.sort_by(f64::total_cmp);
            let below = ratios.iter().filter(|&&r| r < 1.0).count();
            format!(
                "{below}/{} · {:.2} [{:.2}–{:.2}]",
                ratios.len(),
                ratios[ratios.len() / 2],
                ratios[0],
                ratios[ratios.len() - 1]
            )
        })
        .collect();
    Some(line)
}

fn header(first: &str, cols: &[&str]) {
    println!("| {first} | {} |", cols.join(" | "));
    println!("| --- |{}", " --- |".repeat(cols.len()));
}

fn table_row(
    key: &(u8, usize, usize, usize),
    rows: &HashMap<String, Row>,
    cols: &[&str],
    field: &str,
    fmt: fn(f64) -> String,
) {
    let raw = rows.get("raw").map(|r| num(r, field));
    let fws = rows.get("fastwebsockets").map(|r| num(r, field));
    let mut line = format!("| {} |", describe(key));
    for c in cols {
        let Some(r) = rows.get(*c) else {
            line += " – |";
            continue;
        };
        let v = num(r, field);
        let ratio = |base: Option<f64>| match base {
            Some(b) if b > 0.0 => format!("{:.2}", v / b),
            _ => "–".to_owned(),
        };
        let ratios = match *c {
            "raw" => String::new(),
            "fastwebsockets" => format!(" ({})", ratio(raw)),
            _ => format!(" ({} / {})", ratio(raw), ratio(fws)),
        };
        let spread = match (r.get("cpu_low"), field.starts_with("srv_cpu")) {
            (Some(_), true) => format!(" [{}–{}]", fmt(num(r, "cpu_low")), fmt(num(r, "cpu_high"))),
            _ => String::new(),
        };
        line += &format!(" {}{ratios}{}{spread} |", fmt(v), marks(r));
    }
    println!("{line}");
}

fn marks(r: &Row) -> String {
    let mut m = String::new();
    if num(r, "gen_cpu_pct") >= 90.0 {
        m.push('†');
    }
    if num(r, "errors") > 0.0 {
        m.push('!');
    }
    m
}

fn describe(&(text, size, conns, depth): &(u8, usize, usize, usize)) -> String {
    let size = match size {
        s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{} MiB", s >> 20),
        s if s >= 1024 && s % 1024 == 0 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    };
    let mode = if text == 1 { " text" } else { "" };
    format!("{conns} × {size} × {depth}{mode}")
}

fn num(row: &Row, key: &str) -> f64 {
    row.get(key).and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

fn fmt_rate(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn fmt_us(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn fmt_lat(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.1}ms", v / 1000.0)
    } else {
        format!("{v:.0}")
    }
}
