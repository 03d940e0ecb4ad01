#!/usr/bin/env bash
# Counts what one echoed message costs a server in user space, deterministically: instructions,
# data reads and writes, and simulated L1 data-cache misses per message, from callgrind. On a
# shared machine CPU time per message moves by ±10 % between runs; these counts move by well
# under 1 %, so they show a change to the per-message path that a timed A/B run cannot. They
# do not see the kernel (most of the CPU for small messages) nor real cache latency.
#
#   scripts/instructions.sh [SERVER] [CONNS] [SIZE] [DEPTH] [text]
#   scripts/instructions.sh echo_weft 1000 16 1          (the defaults)
#   scripts/instructions.sh echo_fastwebsockets 1000 16 1
#
# SERVER is a binary of bench/ (echo_weft, echo_fastwebsockets, echo_tungstenite, echo_raw).
# Needs valgrind. The load generator zeroes the server's counters when its measured window
# opens and dumps them when it closes (`loadgen --callgrind`), so connection set-up is not
# counted. Then the functions that cost most, instructions per message (TOP of them, 25).
# Not part of `cargo test` or CI.
set -euo pipefail

cd "$(dirname "$0")/.."
server=${1:-echo_weft}
conns=${2:-1000}
size=${3:-16}
depth=${4:-1}
mode=()
[ "${5:-}" = text ] && mode=(--text)

command -v valgrind > /dev/null || {
    echo "instructions.sh: needs valgrind (apt-get install valgrind)" >&2
    exit 1
}
cargo build --quiet --release --manifest-path bench/Cargo.toml
bin=${CARGO_TARGET_DIR:-$PWD/bench/target}/release
work=$PWD/bench/target/callgrind/$server-$conns-$size-$depth
rm -rf "$work"
mkdir -p "$work"
pid=
trap '[ -z "$pid" ] || kill "$pid" 2> /dev/null || true' EXIT

ulimit -n "$(ulimit -Hn)" 2> /dev/null || true
# Exists before its first read (a missing file fails `sed`, which ends the script).
: > "$work/server.out"
# Names uncompressed: the measured window's dump is a second file, and names compressed in
# the first are numbers in it that no reader can resolve.
taskset -c 1 valgrind --tool=callgrind --cache-sim=yes --compress-strings=no \
    --callgrind-out-file="$work/callgrind.out" \
    "$bin/$server" 127.0.0.1:0 > "$work/server.out" 2> "$work/valgrind.err" &
pid=$!
addr=
for _ in $(seq 600); do
    addr=$(sed -n 's#^listening on ws://##p' "$work/server.out" | head -1)
    [ -n "$addr" ] && break
    sleep 0.05
done
[ -n "$addr" ] || { echo "instructions.sh: $server did not start" >&2; exit 1; }

taskset -c 0 "$bin/loadgen" --addr "$addr" --conns "$conns" --size "$size" --depth "$depth" "${mode[@]}" \
    --secs 8 --warmup 3 --server-pid "$pid" --callgrind --label "$server" > "$work/gen.out"
msgs=$(sed -n 's/.* msgs=\([0-9]*\) .*/\1/p' "$work/gen.out")
dump=$(ls "$work"/callgrind.out.* 2> /dev/null | tail -1 || true)
[ -n "$dump" ] && [ "${msgs:-0}" -gt 0 ] || { echo "instructions.sh: no dump or no messages" >&2; exit 1; }

# The dump's summary line: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw.
sed -n 's/^summary: //p' "$dump" | awk -v m="$msgs" -v s="$server" -v c="$conns x $size x $depth ${5:-}" '{
    printf "%s, %s: %d messages; per message: %.0f instructions, %.0f data reads, %.0f data writes, %.1f L1d read misses, %.1f L1d write misses\n",
        s, c, m, $1 / m, $2 / m, $3 / m, $5 / m, $6 / m
}'
# Self cost per message of the functions that cost most (inlined code counts where it was
# inlined). callgrind_annotate gives the dump of a window opened mid-run to one function.
awk -v m="$msgs" '
    /^fn=/ { fn = substr($0, 4); next }
    /^calls=/ { skip = 1; next }
    /^[0-9+*-]/ { if (skip) skip = 0; else cost[fn] += $2; next }
    END {
        for (f in cost) printf "%8.1f  %s\n", cost[f] / m, f
    }' "$dump" | sort -rn | head -n "${TOP:-25}"
echo "dump: $dump" >&2
