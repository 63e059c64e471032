#!/usr/bin/env bash
# HTTP throughput and latency of `deltastream serve`, measured with wrk (64 connections).
#
#   bash bench/http.sh [seconds-per-route]     (SERVE_ARGS="..." passes options to serve;
#                                              ACCEPT_ENCODING=gzip asks for compressed bodies)
#
# Starts a server on a free loopback port, waits for /api/health, then prints req/s, p50/p99
# latency and the bytes of one response body as sent (compressed when ACCEPT_ENCODING asks)
# for /api/health and /api/data/chain/NIFTY?strikes=41 in the same run.
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

printf '%-40s %10s %9s %9s %9s\n' route 'req/s' 'p50 ms' 'p99 ms' 'bytes'
for route in /api/health '/api/data/chain/NIFTY?strikes=41'; do
    out="$(wrk -t2 -c64 -d"${DURATION}s" --latency ${ACCEPT_ENCODING:+-H "Accept-Encoding: $ACCEPT_ENCODING"} \
        "http://127.0.0.1:$PORT$route")"
    rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
    p50="$(awk '$1=="50%" {print $2}' <<<"$out")"
    p99="$(awk '$1=="99%" {print $2}' <<<"$out")"
    errors="$(awk '/Non-2xx|Socket errors/' <<<"$out")"
    to_ms() { awk -v v="$1" 'BEGIN { n=v+0; if (v ~ /us$/) n/=1000; else if (v ~ /ms$/) n=n; else if (v ~ /s$/) n*=1000; printf "%.2f", n }'; }
    size="$(curl -s -o /dev/null -w '%{size_download}' \
        ${ACCEPT_ENCODING:+-H "Accept-Encoding: $ACCEPT_ENCODING"} "http://127.0.0.1:$PORT$route")"
    printf '%-40s %10s %9s %9s %9s %s\n' "$route" "$rps" "$(to_ms "$p50")" "$(to_ms "$p99")" \
        "$size" "$errors"
done
