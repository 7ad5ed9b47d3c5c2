#!/usr/bin/env bash
# make bench: every benchmark, side by side on this machine; results in bench/.
# Long: about 10-20 minutes. Not part of make test or CI.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench
stamp=$(date -u +%Y-%m-%dT%H:%MZ)

# Peers: redis-server and redis-benchmark (redis-tools), wrk (the HTTP load
# generator; without it the HTTP figures come from Go's client only), sipp.
for bin in redis-server redis-benchmark wrk sipp; do
  command -v "$bin" >/dev/null || echo "bench: $bin not found (apt-get install redis-server redis-tools wrk sip-tester)" >&2
done

echo "== case core (hcpbench: casecore vs raw Lua, HTTP API, memory, deadlines)"
go run ./cmd/hcpbench -haochaping bin/haochaping -o bench/casecore.md "$@"

echo "== Go micro-benchmarks (calendar, DTMF, G.711, SMS parser, SMPP submit window)"
{
  echo "# Go benchmarks, $stamp"
  echo
  echo '```'
  go test -run '^$' -bench . -benchmem -count 3 \
    ./casecore/ ./sip/ ./sms/ ./sms/smpp/ ./internal/web/ 2>&1 | grep -E '^(Benchmark|goos|goarch|cpu|pkg|ok)'
  echo '```'
} > bench/go-bench.txt.md
echo "wrote bench/go-bench.txt.md"

if [ -x scripts/bench-sip.sh ]; then
  echo "== IVR load (loadcall at 250, 500, 1000, 2000 concurrent calls)"
  scripts/bench-sip.sh
fi
