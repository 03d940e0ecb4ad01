#!/usr/bin/env bash
# The side-by-side benchmark of issue 8 (see BENCHMARKS.md): weft's echo server (the library
# and `weft serve`), tokio-tungstenite, fastwebsockets and a raw TCP echo, driven by the same
# load generator; the library clients, async and blocking, against one fixed server; RSS per
# idle connection; the most connections weft holds. Everything on 127.0.0.1; load generator
# pinned to CPU 0, servers to CPU 1. Not part of `cargo test`.
#
#   scripts/bench.sh                 the full matrix, 3 rounds (about 35 minutes on 2 cores,
#                                    plus the LTO builds the first time)
#   BENCH_QUICK=1 scripts/bench.sh   a small subset: 6 server cells, 3 client cells
#
# Each server cell runs BENCH_ROUNDS times (3) and the report keeps each server's median
# round. In a round every server runs at once, each with its own connections, and one load
# generator loads them in turns of a quarter second, order rotated, until each had
# BENCH_SECS seconds: on a shared machine one run of a cell moves by 10-40 % from second to
# second, and servers measured in alternating slices share those moves (ratios between
# servers then hold within about 5 %). BENCH_INTERLEAVE=0 runs the servers one after
# another instead, each for BENCH_SECS seconds.
#
# Knobs: BENCH_ROUNDS (3), BENCH_SECS (measured seconds per server and cell, 2),
# BENCH_WARMUP (seconds of load on each server before counting, 1), BENCH_SLICE (0.25),
# BENCH_INTERLEAVE (1), BENCH_SERVERS (which servers, default all), BENCH_PARTS (servers
# clients memory maxconn), BENCH_IDLE (10000), BENCH_CELLS (server cells to run instead of the
# matrix, comma-separated, e.g. "100 16 1,1 1K 1 text"), BENCH_CLIENT_CELLS (the same for the
# clients, e.g. "1 64K 16,1 1M 1").
#
# Cells where the servers are within the round-to-round spread need more rounds to tell apart;
# the report then counts, round by round, how often each weft build was below fastwebsockets:
#   BENCH_PARTS=servers BENCH_SERVERS="raw fastwebsockets weft" BENCH_ROUNDS=11 \
#       BENCH_CELLS="100 16 1,1000 16 1" scripts/bench.sh
# The raw results go to bench/target/results-*.txt; the tables to stdout.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
secs=${BENCH_SECS:-2}
rounds=${BENCH_ROUNDS:-3}
warmup=${BENCH_WARMUP:-1}
interleave=${BENCH_INTERLEAVE:-1}
slice=${BENCH_SLICE:-0.25}
quick=${BENCH_QUICK:-0}
idle_conns=${BENCH_IDLE:-10000}
parts=${BENCH_PARTS:-servers clients memory maxconn}
servers=${BENCH_SERVERS:-raw fastwebsockets tungstenite weft weft-serve}
# Skip cells whose messages in flight (connections × payload × depth) exceed this.
max_inflight=$((1 << 30))

started=$(date +%s)
echo "building (release)..." >&2
cargo build --quiet --release --manifest-path bench/Cargo.toml
cargo build --quiet --profile release-lto -p weft-cli
# Where cargo puts binaries: CARGO_TARGET_DIR when set, else each workspace's ./target.
bin=${CARGO_TARGET_DIR:-$root/bench/target}/release
weft_cli=${CARGO_TARGET_DIR:-$root/target}/release-lto/weft

# Idle-connection runs need a descriptor per connection on each side.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
nofile=$(ulimit -n)

if [ "$(nproc)" -ge 2 ]; then
    gen_cpu=0 srv_cpu=1
else
    gen_cpu=0 srv_cpu=0
    echo "warning: one CPU: load generator and server share it" >&2
fi

mkdir -p bench/target
results=$root/bench/target/results-$(date +%Y%m%d-%H%M%S).txt
logs=$root/bench/target/logs
mkdir -p "$logs"
: > "$results"

server_pid=
server_addr=

# start_server NAME: starts it on a free port, pinned; sets server_pid and server_addr.
start_server() {
    local name=$1 out=$logs/$1.out
    local cmd
    case $name in
        raw) cmd=("$bin/echo_raw" 127.0.0.1:0) ;;
        fastwebsockets) cmd=("$bin/echo_fastwebsockets" 127.0.0.1:0) ;;
        tungstenite) cmd=("$bin/echo_tungstenite" 127.0.0.1:0) ;;
        weft) cmd=("$bin/echo_weft" 127.0.0.1:0) ;;
        weft-serve)
            cmd=("$weft_cli" serve --echo --ping-interval 0 --no-compress
                --max-connections 1000000 127.0.0.1:0) ;;
        *) echo "unknown server $name" >&2; exit 2 ;;
    esac
    # A fresh, empty file before the server starts: the previous run's address must not be
    # read, and the file must exist when first read (a missing file makes `sed` fail, which
    # under pipefail ended a whole run when the check won the race with the redirection).
    : > "$out"
    taskset -c "$srv_cpu" "${cmd[@]}" > "$out" 2> "$logs/$name.err" &
    server_pid=$!
    server_addr=
    for _ in $(seq 200); do
        server_addr=$(sed -n 's#^listening on ws://##p' "$out" 2>/dev/null | head -1)
        [ -n "$server_addr" ] && return 0
        sleep 0.05
    done
    echo "$name did not start; see $logs/$name.err" >&2
    exit 1
}

stop_server() {
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
}
# Servers of an interleaved cell, all running at once.
running=()
trap 'for p in $server_pid "${running[@]}"; do kill -KILL "$p" 2>/dev/null || true; done' EXIT

# run_cell SERVER CONNS SIZE DEPTH [text]
run_cell() {
    local server=$1 conns=$2 size=$3 depth=$4 text=${5:-}
    local extra=()
    [ "$text" = text ] && extra=(--text)
    start_server "$server"
    taskset -c "$gen_cpu" "$bin/loadgen" --addr "$server_addr" --conns "$conns" \
        --size "$size" --depth "$depth" "${extra[@]}" --secs "$secs" --warmup "$warmup" \
        --server-pid "$server_pid" --label "$server" 2>> "$logs/loadgen.err" \
        | tee -a "$results" >&2 || true
    stop_server
}

# run_interleaved CONNS SIZE DEPTH [text] [ROUND]: every server at once, loaded in turns of
# $slice seconds by one load generator (see loadgen.rs), so that a disturbance of the machine
# falls on all of them alike; one RESULT line per server.
run_interleaved() {
    local conns=$1 size=$2 depth=$3 text=${4:-} round=${5:-0}
    local extra=() addrs=() labels=()
    [ "$text" = text ] && extra=(--text)
    running=()
    for server in $(rotate "$round" $servers); do
        start_server "$server"
        running+=("$server_pid")
        addrs+=("$server_addr")
        labels+=("$server")
    done
    server_pid=
    taskset -c "$gen_cpu" "$bin/loadgen" --addrs "$(IFS=,; echo "${addrs[*]}")" \
        --server-pids "$(IFS=,; echo "${running[*]}")" --labels "$(IFS=,; echo "${labels[*]}")" \
        --conns "$conns" --size "$size" --depth "$depth" "${extra[@]}" --secs "$secs" \
        --warmup "$warmup" --slice "$slice" 2>> "$logs/loadgen.err" | tee -a "$results" >&2 || true
    for p in "${running[@]}"; do
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    running=()
}

# The words after the first, rotated left by the first: round r starts with the r-th.
rotate() {
    local by=$1
    shift
    local words=("$@") n=$#
    by=$((by % n))
    echo "${words[@]:by}" "${words[@]:0:by}"
}

bytes() {
    case $1 in
        *K) echo $(( ${1%K} << 10 )) ;;
        *M) echo $(( ${1%M} << 20 )) ;;
        *) echo "$1" ;;
    esac
}

# ---- Servers ----
if [[ " $parts " == *" servers "* ]]; then
    if [ -n "${BENCH_CELLS:-}" ]; then
        IFS=, read -r -a cells <<< "$BENCH_CELLS"
    elif [ "$quick" = 1 ]; then
        cells=("100 16 1" "100 1K 1" "100 16 16" "100 1K 1 text" "1 64K 1" "1 1M 1")
    else
        cells=()
        for size in 16 1K 64K 1M; do
            for conns in 1 100 1000; do
                for depth in 1 16; do
                    cells+=("$conns $size $depth")
                    [ "$size" = 1K ] && cells+=("$conns $size $depth text")
                done
            done
        done
        cells+=("1 64K 1 text" "100 64K 1 text")
    fi
    for cell in "${cells[@]}"; do
        # An empty entry (a doubled or trailing comma) is no cell.
        [ -n "${cell// /}" ] || continue
        read -r conns size depth text <<< "$cell"
        if (( conns * $(bytes "$size") * depth > max_inflight )); then
            echo "skip $cell: more than $((max_inflight >> 20)) MiB in flight" >&2
            continue
        fi
        for ((round = 0; round < rounds; round++)); do
            if [ "$interleave" = 1 ]; then
                run_interleaved "$conns" "$size" "$depth" "${text:-}" "$round"
            else
                # One server after another, in an order rotated from round to round.
                for server in $(rotate "$round" $servers); do
                    run_cell "$server" "$conns" "$size" "$depth" "${text:-}"
                done
            fi
        done
    done
fi

# ---- Clients, against one fixed server: echo_fastwebsockets ----
if [[ " $parts " == *" clients "* ]]; then
    if [ -n "${BENCH_CLIENT_CELLS:-}" ]; then
        IFS=, read -r -a ccells <<< "$BENCH_CLIENT_CELLS"
    elif [ "$quick" = 1 ]; then
        ccells=("100 16 1" "100 16 16" "1 64K 1")
    else
        ccells=()
        for size in 16 1K 64K; do
            for conns in 1 100; do
                for depth in 1 16; do ccells+=("$conns $size $depth"); done
            done
        done
    fi
    for cell in "${ccells[@]}"; do
        [ -n "${cell// /}" ] || continue
        read -r conns size depth <<< "$cell"
        for ((round = 0; round < rounds; round++)); do
            for client in $(rotate "$round" loadgen tungstenite weft tungstenite_sync weft_blocking); do
                start_server fastwebsockets
                if [ "$client" = loadgen ]; then
                    cmd=("$bin/loadgen" --addr "$server_addr")
                else
                    cmd=("$bin/client_$client" --url "ws://$server_addr/")
                fi
                taskset -c "$gen_cpu" "${cmd[@]}" --conns "$conns" --size "$size" \
                    --depth "$depth" --secs "$secs" --warmup "$warmup" --server-pid "$server_pid" \
                    --label "client:$client" 2>> "$logs/client.err" | tee -a "$results" >&2 || true
                stop_server
            done
        done
    done
fi

# ---- Memory: server RSS per idle connection ----
if [[ " $parts " == *" memory "* ]]; then
    for server in weft weft-serve tungstenite fastwebsockets; do
        for echo in 0 1; do
            start_server "$server"
            sleep 0.3
            rss0=$(awk '/VmRSS/ {print $2}' "/proc/$server_pid/status")
            flag=()
            [ "$echo" = 1 ] && flag=(--echo-once)
            fifo=$logs/idle.out
            : > "$fifo"
            taskset -c "$gen_cpu" "$bin/loadgen" --addr "$server_addr" --idle "$idle_conns" \
                --hold 4 "${flag[@]}" > "$fifo" 2>> "$logs/loadgen.err" &
            gen=$!
            for _ in $(seq 600); do
                grep -qs '^IDLE' "$fifo" && break
                sleep 0.1
            done
            sleep 1.5
            rss1=$(awk '/VmRSS/ {print $2}' "/proc/$server_pid/status")
            connected=$(sed -n 's/^IDLE connected=\([0-9]*\).*/\1/p' "$fifo")
            wait "$gen" || true
            stop_server
            line="MEMORY label=$server conns=${connected:-0} echo=$echo rss0_kib=$rss0 rss1_kib=$rss1 kib_per_conn=$(awk -v a="$rss0" -v b="$rss1" -v n="${connected:-1}" 'BEGIN { printf "%.2f", (b - a) / (n > 0 ? n : 1) }')"
            echo "$line" | tee -a "$results" >&2
        done
    done
fi

# ---- The most connections weft holds ----
if [[ " $parts " == *" maxconn "* ]]; then
    # Load generators of 9,000 connections each (their own descriptor limit) until one fails
    # to open all of its connections, up to 100,000.
    start_server weft
    gens=() held=0 tried=0
    for i in $(seq 0 10); do
        out=$logs/maxconn-$i.out
        : > "$out"
        taskset -c "$gen_cpu" "$bin/loadgen" --addr "$server_addr" --idle 9000 --hold 600 \
            > "$out" 2>> "$logs/loadgen.err" &
        gens+=($!)
        for _ in $(seq 600); do
            grep -qs '^IDLE' "$out" && break
            sleep 0.1
        done
        ok=$(sed -n 's/^IDLE connected=\([0-9]*\).*/\1/p' "$out")
        tried=$((tried + 9000))
        held=$((held + ${ok:-0}))
        if [ "${ok:-0}" -lt 9000 ] || [ "$tried" -ge 100000 ]; then break; fi
    done
    sleep 1
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$server_pid/status")
    srv_nofile=$(awk '/Max open files/ {print $4}' "/proc/$server_pid/limits")
    for g in "${gens[@]}"; do kill "$g" 2>/dev/null || true; wait "$g" 2>/dev/null || true; done
    stop_server
    echo "MAXCONN held=$held tried=$tried rss_kib=$rss nofile=$srv_nofile" | tee -a "$results" >&2
fi

echo >&2
echo "raw results: $results ($(( ($(date +%s) - started) / 60 )) min)" >&2
# What was measured: the commit, and any uncommitted change to the library.
tree=$(git describe --always --dirty 2>/dev/null || echo unknown)
dirty=$(git status --porcelain -- crates 2>/dev/null | awk '{print $2}' | tr '\n' ' ')
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), Linux $(uname -r)"
if [ "$interleave" = 1 ]; then
    how="servers interleaved in turns of $slice s"
else
    how="servers one after another"
fi
echo "command: ${BENCH_QUICK:+BENCH_QUICK=$BENCH_QUICK }scripts/bench.sh ($rounds rounds of $secs s per server and cell after $warmup s warm-up; $how)"
echo "weft: $tree${dirty:+ (uncommitted changes in: $dirty)}"
echo
"$bin/report" < "$results"
