#!/usr/bin/env bash
# bench-sip.sh: the SIP/RTP load benchmark of issue 3. Starts `haochaping
# serve` with SIP on loopback (Redis: a redis-server it starts on a free
# port, as in production; REDIS_URL=embedded for the in-process development
# Redis, or REDIS_URL=redis://... for another), runs cmd/loadcall at 250, 500, 1000 and 2000
# concurrent calls (each held about HOLD, default 30s) and writes
# bench/sip-results.md. Usage: scripts/bench-sip.sh [CALLS...]
set -euo pipefail
cd "$(dirname "$0")/.."
LEVELS=("${@:-250 500 1000 2000}")
LEVELS=(${LEVELS[@]})
HOLD=${HOLD:-30s}
RATE=${RATE:-100}
SHARDS=${SHARDS:-8} # RTP scheduler shards of the server (sip.shards); loadcall uses 4 per CPU
SIP_PORT=${SIP_PORT:-25060}
HTTP_PORT=${HTTP_PORT:-28080}
TOKEN=bench-admin-token-000000
OUT=${OUT:-bench/sip-results.md}
work=$(mktemp -d)
trap 'if [[ -n "${spid:-}" ]]; then kill "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true; fi
  if [[ -n "${rpid:-}" ]]; then kill "$rpid" 2>/dev/null || true; wait "$rpid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
REDIS_URL=${REDIS_URL:-local}
if [[ $REDIS_URL == local ]]; then
  rport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
  rpid=$!
  for _ in $(seq 50); do redis-cli -p "$rport" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
  REDIS_URL=redis://127.0.0.1:$rport/0
  REDIS_DESC="redis-server $(redis-server --version | grep -o 'v=[0-9.]*' | cut -c3-) on loopback, started by the script (its CPU is in other CPU)"
fi
REDIS_DESC=${REDIS_DESC:-$REDIS_URL}

go build -o "$work/haochaping" ./cmd/haochaping
go build -o "$work/loadcall" ./cmd/loadcall
cat > "$work/bench.yaml" <<YAML
log: {level: warn}
http: {addr: "127.0.0.1:$HTTP_PORT"}
redis: {url: "$REDIS_URL", namespace: bench}
sip:
  enabled: true
  addr: "127.0.0.1:$SIP_PORT"
  allow: [127.0.0.0/8]
  rtp_ports: 20000-39999
  max_calls: 5000
  shards: $SHARDS
YAML
HAOCHAPING_ADMIN_TOKEN=$TOKEN "$work/haochaping" serve -config "$work/bench.yaml" >"$work/serve.out" 2>"$work/serve.err" &
spid=$!
for _ in $(seq 100); do grep -q "serving http" "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
grep -q "serving http" "$work/serve.out" || { cat "$work/serve.err"; exit 1; }

rows=()
for n in "${LEVELS[@]}"; do
  echo "bench-sip: $n calls, held $HOLD" >&2
  j=$("$work/loadcall" -sip "127.0.0.1:$SIP_PORT" -api "http://127.0.0.1:$HTTP_PORT" -token "$TOKEN" \
      -calls "$n" -rate "$RATE" -hold "$HOLD" -server-pid "$spid" -json)
  echo "$j" >&2
  rows+=("$(python3 -c 'import json,sys; r=json.load(sys.stdin); print("| %d | %d | %d | %d | %.1f / %.1f | %.1f | %.1f | %.1f | %.0f%% | %.0f%% | %.0f%% | %s |" % (r["calls"], r["held_max"], r["rated"], r["lost"]+r["failed"], r["answer_p50_ms"], r["answer_p99_ms"], r["gap_p50_ms"], r["gap_p99_ms"], r["gap_max_ms"], r["server_cpu_percent"], r["loadcall_cpu_percent"], max(0, r.get("machine_cpu_percent", 0)-r["server_cpu_percent"]-r["loadcall_cpu_percent"]), "; ".join(r.get("errors") or []) or "-"))' <<<"$j")")
  sleep 3
done
metrics=$(curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | grep -E '^haochaping_rtp_(packets_sent_total|packets_sent_late_total|packets_received_total)' || true)

{
  echo "# SIP/RTP load benchmark (issue 3)"
  echo
  echo "Run by \`scripts/bench-sip.sh\` on $(date -u +%Y-%m-%dT%H:%MZ) at commit $(git rev-parse --short HEAD)."
  echo "Machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr), $(go version | cut -d' ' -f3)."
  echo "Server (sip.shards: $SHARDS) and load tool on the same machine over loopback; Redis: $REDIS_DESC; calls ramp up at $RATE/s and"
  echo "each is held about $HOLD (the key, RFC 4733, is pressed 6 s before the end; the server then announces, thanks and hangs up)."
  echo
  echo "| calls | held at once | rated | lost+failed | answer p50 / p99 ms | gap p50 ms | gap p99 ms | gap max ms | server CPU | loadcall CPU | other CPU | errors |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Gap: time between two RTP packets of one call as received by the load tool (goal p99 <= 25 ms). CPU: percent of one"
  echo "core over the level's run, from /proc/PID/stat (200% = both cores of a 2-CPU machine); other CPU: every other"
  echo "process of the machine over the same time (/proc/stat), which competes with the server and load tool for the cores."
  echo
  echo "Server counters after the run:"
  echo '```'
  echo "$metrics"
  echo '```'
} > "$OUT"
echo "bench-sip: wrote $OUT" >&2
