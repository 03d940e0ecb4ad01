#!/usr/bin/env bash
# Runs the Autobahn testsuite against weft in both directions, every case (1.* to 13.*):
#   server mode: the suite's fuzzing client against `weft serve --echo`;
#   client mode: examples/autobahn_client.rs against the suite's fuzzing server.
# Prints a per-category summary of each and exits non-zero if any case FAILED.
#
# Usage: scripts/autobahn.sh [server|client|both]   (default both)
#   AUTOBAHN_CASES / AUTOBAHN_EXCLUDE narrow the run (see ../shared/autobahn/README.md).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"
suite="$root/../shared/autobahn"
mode="${1:-both}"
# Where cargo puts binaries: CARGO_TARGET_DIR when set, else ./target.
bin="${CARGO_TARGET_DIR:-$root/target}/release"
reports="${AUTOBAHN_REPORTS_DIR:-$root/target/autobahn}"
export AUTOBAHN_VENV="${AUTOBAHN_VENV:-$root/.autobahn-venv}"

if [[ ! -x "$suite/run.sh" ]]; then
    echo "autobahn.sh: $suite/run.sh not found (the suite lives beside this checkout)" >&2
    exit 2
fi

cargo build --release -p weft-cli -p weft --bin weft --example autobahn_client

# Summarises run.sh's summary.tsv (case, behavior, behaviorClose, ...) by top-level category.
summarise() {
    local label="$1" tsv="$2"
    echo "### $label"
    echo
    echo "| category | cases | OK | NON-STRICT | INFORMATIONAL | UNIMPLEMENTED | FAILED |"
    echo "|---|---|---|---|---|---|---|"
    awk -F'\t' 'NR > 1 || $1 ~ /^[0-9]/ {
        if ($1 !~ /^[0-9]/) next;
        split($1, part, "."); cat = part[1];
        n[cat]++; b = $2;
        if (b == "OK") ok[cat]++;
        else if (b == "NON-STRICT") ns[cat]++;
        else if (b == "INFORMATIONAL") inf[cat]++;
        else if (b == "UNIMPLEMENTED") un[cat]++;
        else failed[cat]++;
    } END {
        for (c = 1; c <= 13; c++) if (n[c] > 0)
            printf "| %d | %d | %d | %d | %d | %d | %d |\n", c, n[c], ok[c], ns[c], inf[c], un[c], failed[c];
    }' "$tsv"
    echo
}

status=0
run_mode() {
    local which="$1"
    local dir="$reports/$which"
    mkdir -p "$dir"
    local out="$dir/run.out"
    if [[ "$which" == server ]]; then
        "$suite/run.sh" --reports "$dir" server \
            "$bin/weft" serve --echo --ping-interval 0 \
            --max-message-size 67108864 127.0.0.1:9002 | tee "$out" >/dev/null || status=1
    else
        "$suite/run.sh" --reports "$dir" client \
            "$bin/examples/autobahn_client" | tee "$out" >/dev/null || status=1
    fi
    tail -n 2 "$out"
    if [[ ! -f "$dir/summary.tsv" ]]; then
        # The suite stopped before it summarised: say so rather than fail in awk.
        echo "autobahn.sh: $which mode wrote no summary.tsv (see $out)" >&2
        status=1
        return
    fi
    summarise "$which mode" "$dir/summary.tsv"
    if grep -qE '[1-9][0-9]* FAILED' <(tail -n 1 "$out"); then
        grep -E $'\tFAILED|FAILED' "$dir/summary.tsv" | head -n 50 || true
        status=1
    fi
}

case "$mode" in
    server) run_mode server ;;
    client) run_mode client ;;
    both) run_mode server; run_mode client ;;
    *) echo "usage: $0 [server|client|both]" >&2; exit 2 ;;
esac
exit "$status"
