#!/usr/bin/env bash
# Interop tests of weft against implementations it did not write (issue 7, tests/interop/):
#   Python websockets and Node ws, each as client of weft's server and as server of weft's
#   client; Node's http2 module as client of WebSockets over HTTP/2 on weft inside hyper;
#   headless Chromium as client of a weft HTTP + WebSocket server.
# Builds weft, installs the peers (pinned; idempotent), runs every peer x scenario, prints a
# markdown matrix (also written to target/interop/matrix.md) and exits non-zero on any failure,
# or on a pass of a scenario marked as an expected failure (remove its XFAIL line then).
#
# Usage: scripts/interop.sh [python] [node] [chromium]     (default: all three)
#   INTEROP_TIMEOUT  seconds each peer run may take (default 300)
# Everything runs on 127.0.0.1; every server binds port 0 and prints its address.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"
interop="$root/tests/interop"
work="$root/target/interop"
run="$work/run"
timeout_s="${INTEROP_TIMEOUT:-300}"
peers=("$@")
[[ ${#peers[@]} -gt 0 ]] || peers=(python node chromium)

# Pinned peers. Node's ws is pinned in tests/interop/package.json and package-lock.json.
websockets_version=17.4
protocol=weft.interop.v1

# Expected failures, keyed "peer|direction|scenario", each naming the weft bug it shows.
# None today.
declare -A xfail=()

started_at=$SECONDS
rm -rf "$run"
mkdir -p "$run"
results="$run/results.tsv"
: >"$results"
pids=()

log() { echo "interop: $*" >&2; }

cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    pids=()
}
trap cleanup EXIT

# --- build and install -----------------------------------------------------------------------

build_weft() {
    log "building weft (release): the CLI and the examples interop_client, browser_page"
    cargo build --release --quiet -p weft-cli -p weft --bin weft \
        --example interop_client --example browser_page
    # Its own build: feature http2 brings hyper and h2, which the others do without.
    cargo build --release --quiet -p weft --features http2 --example http2_echo
    # Where cargo puts binaries: CARGO_TARGET_DIR when set, else ./target.
    bin="${CARGO_TARGET_DIR:-$root/target}/release"
    weft="$bin/weft"
    interop_client="$bin/examples/interop_client"
    browser_page="$bin/examples/browser_page"
    http2_echo="$bin/examples/http2_echo"
}

install_python() {
    venv="$work/venv"
    python="$venv/bin/python"
    if [[ -x $python ]] && "$python" -c "import sys, websockets
sys.exit(websockets.__version__ != '$websockets_version')" 2>/dev/null; then
        return
    fi
    log "installing websockets==$websockets_version into $venv"
    python3 -m venv "$venv"
    "$python" -m pip install --quiet --disable-pip-version-check "websockets==$websockets_version"
}

install_node() {
    export INTEROP_NODE_DIR="$work/node"
    mkdir -p "$INTEROP_NODE_DIR"
    local want have
    want=$(node -p "require('$interop/package-lock.json').packages['node_modules/ws'].version")
    have=$(node -p "try { require('$INTEROP_NODE_DIR/node_modules/ws/package.json').version } catch { '' }")
    if [[ $want == "$have" ]] && cmp -s "$interop/package-lock.json" "$INTEROP_NODE_DIR/package-lock.json"; then
        return
    fi
    log "installing ws@$want into $INTEROP_NODE_DIR (npm ci)"
    cp "$interop/package.json" "$interop/package-lock.json" "$INTEROP_NODE_DIR/"
    (cd "$INTEROP_NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
}

install_chromium() {
    if command -v chromium >/dev/null && command -v certutil >/dev/null; then
        return
    fi
    log "installing Debian's chromium and libnss3-tools (certutil) with apt-get"
    if [[ $(id -u) != 0 ]]; then
        log "not root: install chromium and libnss3-tools, then run again"
        return 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium libnss3-tools >/dev/null
}

# A test CA and a server certificate for 127.0.0.1 signed by it, fresh for every run.
make_certs() {
    certs="$run/certs"
    mkdir -p "$certs"
    (
        cd "$certs"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
            -keyout ca.key -out ca.pem -subj "/CN=weft interop test CA" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -keyout server.key -out server.csr -subj "/CN=127.0.0.1" 2>/dev/null
        printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" \
            "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
            "extendedKeyUsage=serverAuth" >server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
            -out server.pem -extfile server.ext 2>/dev/null
    )
}

# --- servers ---------------------------------------------------------------------------------

# start_server NAME COMMAND...: runs COMMAND in the background and sets `url` to what it
# prints after `listening on ` on its first line.
start_server() {
    local name="$1"
    shift
    # The file exists before its first read: `sed` on a missing file fails, and `set -e`
    # would end the run if the read won the race with the background redirection.
    : >"$run/$name.out"
    "$@" >"$run/$name.out" 2>"$run/$name.err" &
    local pid=$!
    pids+=("$pid")
    url=""
    for _ in $(seq 100); do
        url=$(sed -n '1s/^listening on //p' "$run/$name.out")
        [[ -n $url ]] && return
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    log "$name did not start: $(tail -3 "$run/$name.err")"
    return 1
}

# --- results ---------------------------------------------------------------------------------

# record PEER DIRECTION SIDE SCENARIO ok|FAIL WHY
record() {
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$results"
}

# run_scenarios PEER DIRECTION SIDE VARIANT COMMAND... -- SCENARIO...: runs COMMAND with the
# scenarios appended, under the timeout, and records a result for every scenario (a scenario
# without an `ok`/`FAIL` line failed). VARIANT, if not empty, is added to the scenario names.
run_scenarios() {
    local peer="$1" direction="$2" side="$3" variant="$4"
    shift 4
    local command=() scenarios=()
    while [[ $1 != -- ]]; do
        command+=("$1")
        shift
    done
    shift
    scenarios=("$@")
    local out="$run/$peer.$RANDOM.out" status=0
    log "$peer: ${direction}, $side: ${scenarios[*]}"
    timeout "$timeout_s" "${command[@]}" "${scenarios[@]}" >"$out" 2>>"$run/$peer.clients.err" ||
        status=$?
    local scenario line label
    for scenario in "${scenarios[@]}"; do
        label="$scenario${variant:+, $variant}"
        line=$(grep -m1 -E "^(ok|FAIL) $scenario(:|$)" "$out" || true)
        if [[ $line == "ok $scenario" ]]; then
            record "$peer" "$direction" "$side" "$label" ok ""
        elif [[ -n $line ]]; then
            record "$peer" "$direction" "$side" "$label" FAIL "${line#FAIL "$scenario": }"
        else
            record "$peer" "$direction" "$side" "$label" FAIL "no result (exit $status)"
        fi
    done
}

# The weft CLI as a client (`weft -n 1 -d`): one message and its echo, over ws:// and wss://.
run_cli_client() {
    local peer="$1" ws_url="$2" wss_url="$3"
    local message="hello from the weft CLI ✓" got
    got=$(timeout 20 "$weft" -n 1 -d "$message" "$ws_url" 2>&1) || true
    if [[ $got == "$message" ]]; then
        record "$peer" "weft client → peer server" "weft CLI" "cli-text" ok ""
    else
        record "$peer" "weft client → peer server" "weft CLI" "cli-text" FAIL "got: ${got:0:200}"
    fi
    got=$(timeout 20 "$weft" --cacert "$certs/ca.pem" -n 1 -d "$message" "$wss_url" 2>&1) || true
    if [[ $got == "$message" ]]; then
        record "$peer" "weft client → peer server" "weft CLI" "cli-wss" ok ""
    else
        record "$peer" "weft client → peer server" "weft CLI" "cli-wss" FAIL "got: ${got:0:200}"
    fi
}

# --- peers -----------------------------------------------------------------------------------

# peer_vs_weft PEER CLIENT-COMMAND...: the peer's client against weft's servers.
peer_vs_weft() {
    local peer="$1"
    shift
    local client=("$@") d="peer client → weft server"
    local echo_url nocompress_url protocol_url tls_url page_url
    start_server "$peer.weft-serve" "$weft" serve --ping-interval 0 127.0.0.1:0
    echo_url=$url
    start_server "$peer.weft-serve-nocompress" "$weft" serve --no-compress --ping-interval 0 \
        127.0.0.1:0
    nocompress_url=$url
    start_server "$peer.weft-serve-protocol" "$weft" serve --protocol "$protocol" \
        --ping-interval 0 127.0.0.1:0
    protocol_url=$url
    start_server "$peer.weft-serve-tls" "$weft" serve --tls-cert "$certs/server.pem" \
        --tls-key "$certs/server.key" --protocol "$protocol" --ping-interval 0 127.0.0.1:0
    tls_url=$url
    start_server "$peer.browser_page" "$browser_page"
    page_url="ws://${url#http://}/ws"

    run_scenarios "$peer" "$d" "weft serve" "" "${client[@]}" "$echo_url" -- \
        text binary empty 16mib-text 16mib-binary fragmented ping close-4000 close-1000 \
        deflate no-deflate-client
    run_scenarios "$peer" "$d" "weft serve --no-compress" "" "${client[@]}" "$nocompress_url" -- \
        no-deflate
    run_scenarios "$peer" "$d" "weft serve --no-compress" "no deflate" \
        "${client[@]}" "$nocompress_url" -- 16mib-binary
    run_scenarios "$peer" "$d" "weft serve --protocol" "" "${client[@]}" "$protocol_url" -- \
        subprotocol subprotocol-required
    run_scenarios "$peer" "$d" "weft serve --tls-cert --protocol" "" \
        "${client[@]}" --cacert "$certs/ca.pem" "$tls_url" -- wss
    run_scenarios "$peer" "$d" "examples/browser_page" "" "${client[@]}" "$page_url" -- \
        server-close-4001 server-close-1000 server-fragmented server-ping close-4000 close-1000
    cleanup
}

# weft_vs_peer PEER SERVER-COMMAND...: weft's client against the peer's servers.
weft_vs_peer() {
    local peer="$1"
    shift
    local server=("$@") d="weft client → peer server"
    local plain_url nocompress_url tls_url
    start_server "$peer.server" "${server[@]}"
    plain_url=$url
    start_server "$peer.server-nocompress" "${server[@]}" --no-compress
    nocompress_url=$url
    start_server "$peer.server-tls" "${server[@]}" --tls-cert "$certs/server.pem" \
        --tls-key "$certs/server.key"
    tls_url=$url

    run_scenarios "$peer" "$d" "examples/interop_client" "" "$interop_client" "$plain_url" -- \
        text binary empty 16mib-text 16mib-binary fragmented ping close-4000 close-1000 \
        server-close-4001 server-close-1000 server-fragmented server-ping subprotocol deflate \
        no-deflate-client
    run_scenarios "$peer" "$d" "examples/interop_client" "" "$interop_client" "$nocompress_url" -- \
        no-deflate
    run_scenarios "$peer" "$d" "examples/interop_client" "no deflate" \
        "$interop_client" "$nocompress_url" -- 16mib-binary
    run_scenarios "$peer" "$d" "examples/interop_client" "" \
        "$interop_client" --cacert "$certs/ca.pem" "$tls_url" -- wss
    run_cli_client "$peer" "$plain_url" "$tls_url"
    cleanup
}

run_python() {
    install_python
    peer_vs_weft python "$python" "$interop/py_client.py"
    weft_vs_peer python "$python" "$interop/py_server.py"
}

run_node() {
    install_node
    peer_vs_weft node node "$interop/node_client.mjs"
    weft_vs_peer node node "$interop/node_server.mjs"
    # Node's own http2 module: WebSockets over HTTP/2 (RFC 8441) on weft inside hyper.
    start_server node.http2_echo "$http2_echo" 127.0.0.1:0
    run_scenarios node "peer client → weft server" "examples/http2_echo (HTTP/2)" "" \
        node "$interop/node_h2_client.mjs" "$url" -- \
        h2-settings h2-text h2-binary h2-two-streams h2-close-1000
    cleanup
}

run_chromium() {
    install_chromium
    local d="peer client → weft server" side="examples/browser_page"
    local scenarios=(text binary empty 16mib-text 16mib-binary server-fragmented server-ping
        close-4000 close-1000 server-close-4001 server-close-1000 subprotocol deflate no-deflate
        wss)
    local dir="$run/chromium" http_addr https_port
    # Chromium trusts the test CA through the NSS database in its $HOME.
    mkdir -p "$dir/home/.pki/nssdb"
    certutil -N -d "sql:$dir/home/.pki/nssdb" --empty-password
    certutil -A -d "sql:$dir/home/.pki/nssdb" -t "C,," -n weft-interop-ca -i "$certs/ca.pem"

    start_server chromium.browser_page "$browser_page" --page "$interop/browser_page.html" \
        --tls-cert "$certs/server.pem" --tls-key "$certs/server.key"
    http_addr=${url#http://}
    for _ in $(seq 50); do
        https_port=$(sed -n 's/^listening on https:\/\/127.0.0.1://p' "$run/chromium.browser_page.out")
        [[ -n $https_port ]] && break
        sleep 0.1
    done
    log "chromium: $d, $side: ${scenarios[*]}"
    # Its own session, so that the whole process tree is ended by its id.
    HOME="$dir/home" setsid chromium --headless --no-sandbox --disable-gpu --disable-quic \
        --no-first-run --disable-background-networking --disable-component-update \
        --disable-sync --user-data-dir="$dir/profile" \
        "http://$http_addr/?wss=$https_port" >"$dir/chromium.out" 2>"$dir/chromium.err" &
    local chromium_pid=$!
    local deadline=$((SECONDS + timeout_s))
    while ((SECONDS < deadline)) && ! grep -qx done "$run/chromium.browser_page.out"; do
        kill -0 "$chromium_pid" 2>/dev/null || break
        sleep 0.2
    done
    kill -- "-$chromium_pid" 2>/dev/null || true
    wait "$chromium_pid" 2>/dev/null || true

    local scenario line
    for scenario in "${scenarios[@]}"; do
        line=$(grep -m1 -E "^(ok|FAIL) $scenario(:|$)" "$run/chromium.browser_page.out" || true)
        if [[ $line == "ok $scenario" ]]; then
            record chromium "$d" "$side" "$scenario" ok ""
        elif [[ -n $line ]]; then
            record chromium "$d" "$side" "$scenario" FAIL "${line#FAIL "$scenario": }"
        else
            record chromium "$d" "$side" "$scenario" FAIL "no result (page did not report)"
        fi
    done
    cleanup
}

# --- main ------------------------------------------------------------------------------------

build_weft
make_certs
for peer in "${peers[@]}"; do
    case "$peer" in
        python | node | chromium) "run_$peer" ;;
        *)
            log "unknown peer $peer (python, node, chromium)"
            exit 2
            ;;
    esac
done

# The matrix, and the verdict.
passed=0 failures=0 expected=0
matrix="$work/matrix.md"
{
    echo "| peer | direction | weft side | scenario | result |"
    echo "|---|---|---|---|---|"
    while IFS=$'\t' read -r peer direction side scenario result why; do
        reason="${xfail["$peer|$direction|$scenario"]:-}"
        case "$result:${reason:+x}" in
            ok:)
                cell="pass"
                passed=$((passed + 1))
                ;;
            ok:x)
                cell="**XPASS** (marked: $reason; remove the XFAIL)"
                failures=$((failures + 1))
                ;;
            FAIL:x)
                cell="xfail ($reason): ${why//|/\\|}"
                expected=$((expected + 1))
                ;;
            *)
                cell="**FAIL**: ${why//|/\\|}"
                failures=$((failures + 1))
                ;;
        esac
        echo "| $peer | $direction | $side | $scenario | $cell |"
    done <"$results"
} >"$matrix"
cat "$matrix"
echo
echo "interop: $expected expected failures (xfail), $((SECONDS - started_at)) s"
echo "interop: $passed passed, $failures failed"
[[ $failures -eq 0 ]]
