#!/usr/bin/env bash
# HTTP throughput and latency of `deltastream serve`, measured with wrk (64 connections).
#
#   bash bench/http.sh [seconds-per-route]     (SERVE_ARGS="..." passes options to serve;
#                                              ACCEPT_ENCODING=gzip asks for compressed bodies)
#
# The server keeps the exchange hours by default: outside them (nights, weekends) the engine
# only re-announces standing quotes. SERVE_ARGS="--hours always" keeps it ticking beside the
# requests, the worst case and the one to compare runs on.
#
# Starts a server on a free loopback port, waits for /api/health, then prints req/s, p50/p99
# latency and the bytes of one response body as sent (compressed when ACCEPT_ENCODING asks)
# for /api/health and /api/data/chain/NIFTY?strikes=41 in the same run, each alone, then both
# at once (32 connections each: how health fares beside busy routes, as a load balancer's
# probe does).
# wrk comes from Debian's packages (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-15}"
PYTHON="${PYTHON:-python3}"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
PORT="$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
DATA="$(mktemp -d)"
"$PYTHON" -m deltastream serve --port "$PORT" --data-dir "$DATA" ${SERVE_ARGS:-} \
    >"$DATA/server.log" 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 1 240); do
    curl -fs "http://127.0.0.1:$PORT/api/health" >/dev/null 2>&1 && break
    sleep 0.5
done
curl -fs "http://127.0.0.1:$PORT/api/health" >/dev/null || { cat "$DATA/server.log"; exit 1; }

ROUTES=(/api/health '/api/data/chain/NIFTY?strikes=41')
to_ms() { awk -v v="$1" 'BEGIN { n=v+0; if (v ~ /us$/) n/=1000; else if (v ~ /ms$/) n=n; else if (v ~ /s$/) n*=1000; printf "%.2f", n }'; }
load() {  # load <connections> <route>: wrk's report (a thread per 32 connections)
    wrk -t$(( $1 / 32 )) -c"$1" -d"${DURATION}s" --latency \
        ${ACCEPT_ENCODING:+-H "Accept-Encoding: $ACCEPT_ENCODING"} "http://127.0.0.1:$PORT$2"
}
report() {  # report <label> <route> <wrk report>
    local rps p50 p99 errors size
    rps="$(awk '/Requests\/sec/ {print $2}' <<<"$3")"
    p50="$(awk '$1=="50%" {print $2}' <<<"$3")"
    p99="$(awk '$1=="99%" {print $2}' <<<"$3")"
    errors="$(awk '/Non-2xx|Socket errors/' <<<"$3")"
    size="$(curl -s -o /dev/null -w '%{size_download}' \
        ${ACCEPT_ENCODING:+-H "Accept-Encoding: $ACCEPT_ENCODING"} "http://127.0.0.1:$PORT$2")"
    printf '%-48s %10s %9s %9s %9s %s\n' "$1" "$rps" "$(to_ms "$p50")" "$(to_ms "$p99")" \
        "$size" "$errors"
}

echo "serve ${SERVE_ARGS:-(defaults)}; load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
printf '%-48s %10s %9s %9s %9s\n' route 'req/s' 'p50 ms' 'p99 ms' 'bytes'
for route in "${ROUTES[@]}"; do
    report "$route" "$route" "$(load 64 "$route")"
done
MIXED="$(mktemp -d)"
LOADS=()
for i in "${!ROUTES[@]}"; do
    load 32 "${ROUTES[$i]}" >"$MIXED/$i" &
    LOADS+=($!)
done
wait "${LOADS[@]}"
for i in "${!ROUTES[@]}"; do
    report "${ROUTES[$i]} (mixed)" "${ROUTES[$i]}" "$(cat "$MIXED/$i")"
done
rm -rf "$MIXED"
