#!/usr/bin/env bash
# Items/s of `uqengine eval --endpoint` against one and two `uqengine serve` replicas of the demo model,
# with 1, 2 and 4 requests in flight. Usage: bench/remote/throughput.sh [ITEMS] (default 40).
# Each replica decodes with one thread; the client runs the catalog's msp, mean_entropy and semantic_entropy
# (K = 5 samples with n = 5, ROUGE-L), so every item is two requests.
set -euo pipefail
items=${1:-40}
root=$(cd "$(dirname "$0")/../.." && pwd)
dotnet build "$root/src/UQEngine.Cli" -c Release -v q -nologo >/dev/null
cli=(dotnet "$root/src/UQEngine.Cli/bin/Release/net10.0/UQEngine.Cli.dll")
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
for port in 18441 18442; do
  UQENGINE_THREADS=1 "${cli[@]}" serve --port $port --threads 1 --ctx 1024 --max-sequences 16 >"$work/serve-$port.log" 2>&1 &
  pids+=($!)
done
for port in 18441 18442; do
  until grep -q "serving at" "$work/serve-$port.log"; do sleep 0.5; done
done
echo "| replicas | concurrency | items | seconds | items/s |"
echo "| --- | --- | --- | --- | --- |"
for replicas in 1 2; do
  endpoint=http://127.0.0.1:18441/v1
  [ "$replicas" = 2 ] && endpoint=$endpoint,http://127.0.0.1:18442/v1
  for c in 1 2 4; do
    out="$work/r$replicas-c$c"
    start=$(date +%s.%N)
    "${cli[@]}" eval -d demo:open:eval --limit "$items" --methods msp,mean_entropy,semantic_entropy \
      --endpoint "$endpoint" --concurrency "$c" -o "$out" --bootstrap 0 >/dev/null
    end=$(date +%s.%N)
    python3 -c "s=$end-$start; print(f'| $replicas | $c | $items | {s:.1f} | {$items/s:.2f} |')"
  done
done
