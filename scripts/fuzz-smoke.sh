#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for a short while and fails if any of them finds a crash.
#
# Usage: scripts/fuzz-smoke.sh [TARGET...]
#   FUZZ_SECONDS     seconds per target (default 60)
#   FUZZ_SANITIZER   cargo fuzz sanitizer (default address; "none" runs faster)
#
# Each target starts from its committed seeds (fuzz/seeds/<target>) merged into the working
# corpus (fuzz/corpus/<target>, not committed), so repeated runs build on what earlier ones
# found. A crash leaves its input in fuzz/artifacts/<target>/.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${FUZZ_SECONDS:-60}"
sanitizer="${FUZZ_SANITIZER:-address}"

# cargo fuzz passes -Z flags (sanitizers, coverage instrumentation) that only nightly accepts.
# Only stable can be had on these machines; RUSTC_BOOTSTRAP lets stable take them.
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list --fuzz-dir fuzz)
fi

# One build for all targets, so the per-target time below is spent fuzzing.
cargo fuzz build --fuzz-dir fuzz --sanitizer "$sanitizer"

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
failed=()
summary=()
for target in "${targets[@]}"; do
    corpus="fuzz/corpus/$target"
    mkdir -p "$corpus"
    if [[ -d "fuzz/seeds/$target" ]]; then
        cp -n "fuzz/seeds/$target"/* "$corpus"/ 2>/dev/null || true
    fi
    echo "=== $target: ${seconds}s"
    status=0
    cargo fuzz run --fuzz-dir fuzz --sanitizer "$sanitizer" "$target" "$corpus" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$logs/$target" 2>&1 || status=$?
    done_line="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$logs/$target" | tail -n1 || true)"
    units="$(grep -E '^stat::number_of_executed_units' "$logs/$target" | tail -n1 || true)"
    echo "${done_line:-no DONE line}"
    echo "${units:-no stat line}"
    if [[ $status -ne 0 ]]; then
        # libFuzzer's report: the panic or sanitizer message and where the input was saved.
        grep -E -A4 'panicked at|==ERROR|^SUMMARY|Test unit written|^error' "$logs/$target" ||
            tail -n 40 "$logs/$target"
        failed+=("$target")
        summary+=("$target: FAILED (exit $status)")
    else
        summary+=("$target: ${units##* } execs")
    fi
done

echo "=== summary"
printf '%s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "crashed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
