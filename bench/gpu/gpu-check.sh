#!/usr/bin/env bash
# The one script a lent GPU machine runs (bench/gpu/README.md has the call plan). It
#   0. stashes the bundle parts that arrived (.gpu-bundle/part*) in .gpu-stash/, and once all are there reassembles
#      them, checks every checksum (parts, archive, each file against the sha256 recorded from the npm tarball's
#      content by make-bundle.sh) and unpacks the self-contained CLI with its CUDA libraries;
#   1. finds libcudart.so.13 / libcublas.so.13 in Python's nvidia-* packages and puts them on LD_LIBRARY_PATH;
#   2. runs, each with its own time budget and its output under OUTDIR: system, parity (demo + bench models, all
#      layers offloaded against the CPU), compare --ladder demo --devices cpu,cuda, decode speed with token
#      statistics off/on, serve + one chat completion with logprobs and uncertainty.
# A failed step is reported loudly and the next one runs; OUTDIR/summary.json and summary.md say which passed, and
# the exit code is 0 only when every step passed.
#
#   gpu-check.sh [--dry-run] [--device cpu|cuda] [--steps 0,1,...] [--stash-only] OUTDIR
#
# --dry-run: tiny sizes (few prompts, items, rounds) so the whole check takes a few minutes on a CPU machine.
# --device cpu: the "device under test" is the CPU too (parity is then CPU against CPU and must be exact).
# --stash-only: only step 0's stashing (the calls that carry a part but not the last one).
# --steps: run only these steps (default 0,1,2,3,4,5; step 0 is quick once the bundle is unpacked and verified).
# UQENGINE_CLI: the CLI command to use instead of the bundle's (e.g. "dotnet /path/UQEngine.Cli.dll"); with it and
# no bundle parts present, step 0 is skipped.
set -uo pipefail

dry=0; device=cuda; stash_only=0; outdir=""; steps="0,1,2,3,4,5"
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry=1 ;;
    --device) device="${2:-}"; shift ;;
    --device=*) device="${1#*=}" ;;
    --stash-only) stash_only=1 ;;
    --steps) steps="${2:-}"; shift ;;
    --steps=*) steps="${1#*=}" ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    -*) echo "gpu-check.sh: error: unknown option $1" >&2; exit 2 ;;
    *) outdir="$1" ;;
  esac
  shift
done
case "$device" in cpu|cuda) ;; *) echo "gpu-check.sh: error: --device must be cpu or cuda, not '$device'" >&2; exit 2 ;; esac
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bundle="$root/.gpu-bundle"   # where carried parts arrive (git-ignored)
stash="$root/.gpu-stash"     # where they are kept between calls and unpacked (git-ignored)
mkdir -p "$stash"

log() { echo "gpu-check: $*" >&2; }

# --- step 0a: stash the parts that came with this call -----------------------------------------------------------
stash_parts() {
  [ -f "$bundle/SHA256SUMS" ] && cp "$bundle/SHA256SUMS" "$stash/SHA256SUMS"
  local p name
  for p in "$bundle"/part*; do
    [ -f "$p" ] || continue
    name="$(basename "$p")"
    # A dry run copies, so the parts stay in .gpu-bundle/ to be carried to the GPU machine afterwards.
    if [ "${dry:-0}" = 1 ]; then cp -f "$p" "$stash/$name"; else mv -f "$p" "$stash/$name"; fi
    # Check each part as it arrives, so a damaged transfer is known while the machine is still warm to resend it.
    if [ -f "$stash/SHA256SUMS" ] && grep -q " $name\$" "$stash/SHA256SUMS"; then
      if (cd "$stash" && grep " $name\$" SHA256SUMS | sha256sum -c --quiet -); then log "part $name arrived intact"
      else log "ERROR: part $name is damaged (sha256 mismatch); carry it again"; rm -f "$stash/$name"; return 1; fi
    fi
  done
  local have want
  have="$(ls "$stash"/part* 2>/dev/null | wc -l)"
  want="$( [ -f "$stash/SHA256SUMS" ] && grep -c ' part' "$stash/SHA256SUMS" || echo '?')"
  log "parts stashed: $have of $want"
  return 0
}

if [ "$stash_only" = 1 ]; then stash_parts; exit $?; fi
[ -n "$outdir" ] || { echo "gpu-check.sh: error: give OUTDIR (e.g. \"\$OUT/gpu-check\")" >&2; exit 2; }
mkdir -p "$outdir"; outdir="$(cd "$outdir" && pwd)"
# Scratch (bench models: 60-320 MB) outside OUTDIR, whose files all travel back from the GPU machine.
work="$stash/work.$$"; mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
summary_tsv="$outdir/.steps.tsv"; : > "$summary_tsv"
started="$(date -u +%Y-%m-%dT%H:%M:%SZ)"

# Sizes: the GPU run's and the dry run's (dry run: a few minutes on 2 shared cores).
if [ "$dry" = 1 ]; then
  prompts=3; tokens=8; ladder="F16,Q4_K_M"; limit=4; rounds=3; bench_tokens=32
  b_bundle=120; b_system=60; b_parity=240; b_compare=240; b_decode=120; b_serve=120
  # A shared CPU: llama.cpp's spinning workers slow down by orders of magnitude when cores are busy.
  export UQENGINE_THREADS="${UQENGINE_THREADS:-1}"
else
  prompts=32; tokens=16; ladder="demo"; limit=50; rounds=20; bench_tokens=64
  # Step 1 includes the first CUDA kernel launches: the pinned package has no sm_90 cubins, only compute_90 PTX,
  # so on an H100/H200 the driver compiles kernels on first use (cached in $CUDA_CACHE_PATH for later processes).
  b_bundle=45; b_system=240; b_parity=120; b_compare=120; b_decode=60; b_serve=45
fi

# run_step NAME BUDGET_S COMMAND...: runs one step under a timeout, output to OUTDIR/NAME.log; never aborts the script.
run_step() {
  local name="$1" budget="$2"; shift 2
  case ",$steps," in *",${name%%-*},"*) ;; *) return 0 ;; esac
  local logf="$outdir/$name.log" t0 t1 rc status
  log "=== step $name (budget ${budget}s) ==="
  t0="$(date +%s.%N)"
  timeout --kill-after=10 "$budget" "$@" > "$logf" 2>&1; rc=$?
  t1="$(date +%s.%N)"
  if [ $rc -eq 0 ]; then status=passed; elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then status=timeout; elif [ $rc -eq 99 ]; then status=skipped; else status=failed; fi
  local secs; secs="$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')"
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$status" "$secs" "$budget" "$rc" >> "$summary_tsv"
  if [ "$status" = passed ] || [ "$status" = skipped ]; then log "step $name: $status in ${secs}s"
  else
    log "!!!!! step $name: $status (exit $rc) after ${secs}s; last lines of $logf:"
    tail -n 15 "$logf" | sed 's/^/    /' >&2
  fi
}

# --- step 0b: reassemble, verify, unpack ---------------------------------------------------------------------------
cli_dir="$stash/uqengine"
step_bundle() {
  # UQENGINE_CLI names the CLI to test (the test suite's build): no bundle is touched.
  if [ -n "${UQENGINE_CLI:-}" ]; then echo "UQENGINE_CLI is set: using $UQENGINE_CLI, no bundle"; return 99; fi
  stash_parts || return 1
  if ! ls "$stash"/part* >/dev/null 2>&1 && [ ! -f "$cli_dir/.verified" ]; then
    echo "ERROR: no bundle in $stash and no UQENGINE_CLI: run bench/gpu/make-bundle.sh and carry its parts"; return 1
  fi
  if [ -f "$cli_dir/.verified" ] && [ "$(cat "$cli_dir/.verified")" = "$(sha256sum "$stash/SHA256SUMS" | cut -d' ' -f1)" ]; then
    echo "bundle already unpacked and verified in $cli_dir"; return 0
  fi
  [ -f "$stash/SHA256SUMS" ] || { echo "ERROR: SHA256SUMS did not arrive"; return 1; }
  local missing
  missing="$(grep ' part' "$stash/SHA256SUMS" | awk '{print $2}' | while read -r p; do [ -f "$stash/$p" ] || echo "$p"; done)"
  [ -z "$missing" ] || { echo "ERROR: parts missing: $missing (carry them, in back-to-back calls, before this one)"; return 1; }
  (cd "$stash" && grep ' part' SHA256SUMS | sha256sum -c -) || { echo "ERROR: a part is damaged"; return 1; }
  local archive; archive="$(grep -v ' part' "$stash/SHA256SUMS" | awk '{print $2}' | head -n 1)"
  grep ' part' "$stash/SHA256SUMS" | awk '{print $2}' | sort | (cd "$stash" && xargs cat) > "$stash/$archive"
  (cd "$stash" && grep " $archive\$" SHA256SUMS | sha256sum -c -) || { echo "ERROR: the reassembled $archive does not match its checksum"; return 1; }
  rm -rf "$cli_dir" && mkdir -p "$cli_dir"
  if command -v xz >/dev/null 2>&1; then tar -xJf "$stash/$archive" -C "$cli_dir" || { echo "ERROR: unpacking $archive failed"; return 1; }
  else
    # No xz on the machine: Python's lzma and tarfile read the same archive (hard links included).
    python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2])' "$stash/$archive" "$cli_dir" || { echo "ERROR: unpacking $archive failed"; return 1; }
  fi
  # Every file, the CUDA libraries included, against the sha256 make-bundle.sh recorded from the npm tarball's content.
  (cd "$cli_dir" && sha256sum -c --quiet CONTENTS.sha256) || { echo "ERROR: unpacked files do not match CONTENTS.sha256"; return 1; }
  echo "verified $(wc -l < "$cli_dir/CONTENTS.sha256") files"; cat "$cli_dir/BUNDLE.txt" 2>/dev/null
  rm -f "$stash/$archive"
  sha256sum "$stash/SHA256SUMS" | cut -d' ' -f1 > "$cli_dir/.verified"
}
run_step 0-bundle "$b_bundle" bash -c "$(declare -f log stash_parts step_bundle); bundle='$bundle' stash='$stash' cli_dir='$cli_dir' dry='$dry' UQENGINE_CLI='${UQENGINE_CLI:-}'; step_bundle"

if [ -n "${UQENGINE_CLI:-}" ]; then read -r -a cli <<< "$UQENGINE_CLI"
elif [ -x "$cli_dir/UQEngine.Cli" ]; then cli=("$cli_dir/UQEngine.Cli")
else cli=(false); log "ERROR: no CLI: the bundle did not unpack and UQENGINE_CLI is not set"; fi
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

# --- CUDA runtime libraries ----------------------------------------------------------------------------------------
if [ "$device" = cuda ]; then
  {
    # Python's nvidia-* wheels (nvidia-cuda-runtime, nvidia-cublas) keep the CUDA 13 runtime in site-packages/nvidia/*/lib.
    for py in python3 python; do
      command -v "$py" >/dev/null 2>&1 || continue
      "$py" -c 'import site, sys; print("\n".join(site.getsitepackages() + [site.getusersitepackages()] + sys.path))' 2>/dev/null
    done
    echo /usr/local/lib/python3*/dist-packages /usr/lib/python3/dist-packages /opt/conda/lib/python3*/site-packages | tr ' ' '\n'
  } | sort -u > "$work/site-dirs.txt"
  libdirs=""
  while read -r d; do
    [ -d "$d/nvidia" ] || continue
    # cudart and cublas come in separate wheels (nvidia/cuda_runtime/lib, nvidia/cublas/lib), or together in one
    # folder (nvidia/cu13/lib): a folder counts when it holds either.
    for lib in "$d"/nvidia/*/lib "$d"/nvidia/*/lib64; do
      compgen -G "$lib/libcudart.so.13*" >/dev/null || compgen -G "$lib/libcublas.so.13*" >/dev/null && libdirs="$libdirs:$lib"
    done
  done < "$work/site-dirs.txt"
  have_lib() { local IFS=:; for d in $libdirs; do compgen -G "$d/$1" >/dev/null && return 0; done; return 1; }
  if ! have_lib 'libcudart.so.13*' || ! have_lib 'libcublas.so.13*'; then
    # Not where expected: a bounded search of the whole file system before giving up.
    for f in $(timeout 30 find / \( -path /proc -o -path /sys -o -path /dev \) -prune -o \( -name 'libcudart.so.13*' -o -name 'libcublas.so.13*' \) -print 2>/dev/null); do
      libdirs="$libdirs:$(dirname "$f")"
    done
  fi
  libdirs="$(echo "$libdirs" | tr ':' '\n' | awk 'NF && !seen[$0]++' | paste -sd: -)"
  have_lib 'libcudart.so.13*' || log "ERROR: libcudart.so.13 not found"
  have_lib 'libcublas.so.13*' || log "ERROR: libcublas.so.13 not found"
  export LD_LIBRARY_PATH="${libdirs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  # The PTX the driver compiles for sm_90 is cached here, kept between calls while the machine is warm; lazy loading
  # compiles only the kernels that are launched, not all of ggml-cuda's modules.
  export CUDA_CACHE_PATH="$stash/cuda-cache" CUDA_CACHE_MAXSIZE=4294967296 CUDA_MODULE_LOADING=LAZY
  mkdir -p "$CUDA_CACHE_PATH"
  log "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  { echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"; command -v nvidia-smi >/dev/null && nvidia-smi; } > "$outdir/cuda-env.txt" 2>&1
  [ -n "$libdirs" ] || log "ERROR: the CUDA 13 runtime (libcudart.so.13, libcublas.so.13) was not found; the CUDA steps will fail"
fi

# --- step 1: system ------------------------------------------------------------------------------------------------
step_system() {
  uq system --device "$device" | tee "$outdir/system.txt" || return 1
  if [ "$device" = cuda ]; then
    # The CUDA build must have loaded (GPU offload yes) and ggml must list a GPU device.
    if ! grep -Eq 'GPU offload[^a-z]*yes' "$outdir/system.txt" || ! grep -Eiq 'device.*(cuda|gpu)' "$outdir/system.txt"; then
      echo "ERROR: the CUDA build loaded but ggml registered no CUDA device (GPU offload: no). Why, as far as visible:"
      # ggml loads libggml-cuda.so itself and only logs a failure: show what the loader and ggml say.
      local lib; lib="$(ls "${cli_dir:-/nonexistent}"/native/cuda/libggml-cuda.so 2>/dev/null || true)"
      [ -n "$lib" ] && { echo "--- ldd $lib"; ldd "$lib" 2>&1 | grep -Ei 'not found|cuda|cublas' ; }
      echo "--- llama.cpp's log (generate --verbose)"
      uq generate hi -n 1 --device cuda --verbose 2>&1 | grep -Ei 'load_backend|cuda|failed|error' | head -n 20
      return 1
    fi
  fi
  # First decodes on the device, timed: on a GPU this is where kernels are compiled from PTX (see b_system).
  local t0 t1
  uq parity bench-model -o "$work/bench.gguf" || return 1
  for m in demo bench; do
    local args=(); [ "$m" = bench ] && args=(-m "$work/bench.gguf")
    t0="$(date +%s.%N)"
    uq generate "Where does Mira live?" "${args[@]}" --device "$device" --gpu-layers -1 -n 8 --json > "$outdir/warmup-$m.json" || { echo "ERROR: first decode of $m on $device failed"; return 1; }
    t1="$(date +%s.%N)"
    echo "first decode of $m on $device (process start to exit): $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s" | tee -a "$outdir/warmup.txt"
  done
}

# --- step 2: parity ------------------------------------------------------------------------------------------------
step_parity() {
  local rc=0 m args
  [ -f "$work/bench.gguf" ] || uq parity bench-model -o "$work/bench.gguf" || return 1
  for m in demo bench; do
    if [ "$m" = demo ]; then args=(); else args=(-m "$work/bench.gguf"); fi
    uq parity run "${args[@]}" --device cpu --prompts "$prompts" -n "$tokens" --samples 5 -o "$outdir/parity-$m-cpu.json" || { echo "ERROR: $m on cpu failed"; rc=1; continue; }
    # The device under test, every layer offloaded (--gpu-layers -1); in a CPU dry run a second CPU process, which
    # must then agree exactly.
    local cand="$outdir/parity-$m-$device.json" exact=()
    if [ "$device" = cpu ]; then cand="$outdir/parity-$m-cpu-again.json"; exact=(--exact); fi
    uq parity run "${args[@]}" --device "$device" --gpu-layers -1 --prompts "$prompts" -n "$tokens" --samples 5 -o "$cand" || { echo "ERROR: $m on $device failed"; rc=1; continue; }
    if [ "$device" = cuda ]; then
      # llama.cpp's own count ("offloaded N/N layers to GPU"), kept by parity run: every layer must be on the GPU.
      python3 - "$cand" <<'EOF' || rc=1
import json, re, sys
log = json.load(open(sys.argv[1]))["offload_log"]
print(*log, sep="\n")
m = [re.search(r"offloaded (\d+)/(\d+) layers", l) for l in log]
m = [x for x in m if x]
if not m or m[-1].group(1) != m[-1].group(2): print("ERROR: not every layer was offloaded"); sys.exit(1)
EOF
    fi
    uq parity compare "$outdir/parity-$m-cpu.json" "$cand" "${exact[@]}" -o "$outdir/parity-$m-compare.json" || rc=1
  done
  return $rc
}

# --- step 3: compare over the quantization ladder ------------------------------------------------------------------
step_compare() {
  local devices="cpu"; [ "$device" = cuda ] && devices="cpu,cuda"
  uq compare --ladder "$ladder" --devices "$devices" -d demo:open:eval --limit "$limit" --bootstrap 200 --no-variant-figures -o "$outdir/compare" || return 1
  # compare exits 0 when a device is unusable (that row says why): every variant must be ok here.
  python3 - "$outdir/compare/summary.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
bad = [f"{v['label']}: {v['status']} {v.get('message') or ''}" for v in s["variants"] if v["status"] != "Ok"]
for v in s["variants"]:
    p = v.get("performance") or {}
    print(f"{v['label']:<20} {v['status']:<12} decode tok/s {p.get('decode_tokens_per_second')}")
if bad: print("ERROR: variants not ok:", *bad, sep="\n  "); sys.exit(1)
EOF
}

# --- step 4: decode speed with token statistics off / on -----------------------------------------------------------
step_decode() {
  local rc=0
  [ -f "$work/bench.gguf" ] || uq parity bench-model -o "$work/bench.gguf" || return 1
  uq parity decode-bench -m "$work/bench.gguf" --device "$device" --gpu-layers -1 --tokens "$bench_tokens" --rounds "$rounds" -o "$outdir/decode-bench-$device.json" || rc=1
  # (Not the demo model: its answers end after a token or two, too short to time.)
  if [ "$device" = cuda ]; then
    # A Qwen2-sized vocabulary (151936): the statistics kernel runs on the CPU over every logit, so its share of a
    # step grows as the GPU makes the rest of the step cheap. Not in the dry run: the F32 file is ~320 MB.
    uq parity bench-model --vocabulary 151936 -o "$work/bench-152k.gguf" || rc=1
    uq parity decode-bench -m "$work/bench-152k.gguf" --device cuda --gpu-layers -1 --tokens "$bench_tokens" --rounds "$rounds" -o "$outdir/decode-bench152k-cuda.json" || rc=1
    # The CPU figure on the same machine, for scale (fewer rounds: it is the slow one).
    uq parity decode-bench -m "$work/bench.gguf" --device cpu --tokens "$bench_tokens" --rounds 5 -o "$outdir/decode-bench-cpu.json" || rc=1
  fi
  return $rc
}

# --- step 5: serve + one chat completion ---------------------------------------------------------------------------
step_serve() {
  local port pid rc=1 i
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  # exec: $! is the server itself, not a subshell running the uq function (killing that would orphan the server).
  ( exec "${cli[@]}" serve --device "$device" --gpu-layers -1 --port "$port" --max-sequences 4 ) > "$outdir/serve-server.log" 2>&1 &
  pid=$!
  # The step's timeout sends TERM: take the server down with it.
  trap 'kill "$pid" 2>/dev/null; exit 143' TERM INT
  for i in $(seq 1 120); do
    kill -0 "$pid" 2>/dev/null || { echo "ERROR: the server exited"; tail -n 20 "$outdir/serve-server.log"; return 1; }
    python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/health', timeout=1)" 2>/dev/null && break
    sleep 0.5
  done
  local body='{"model":"uqengine-demo-f16","messages":[{"role":"user","content":"Where does Mira live?"}],"max_tokens":16,"n":3,"temperature":1,"seed":7,"logprobs":true,"top_logprobs":3,"uncertainty":{"methods":["semantic_entropy","num_sem_sets","degmat"]}}'
  if command -v curl >/dev/null 2>&1; then
    curl -sS --max-time 60 "http://127.0.0.1:$port/v1/chat/completions" -H 'Content-Type: application/json' -d "$body" -o "$outdir/serve-response.json"; rc=$?
  else
    # No curl on the machine: the same request through Python's standard library.
    python3 -c "import urllib.request,sys; r=urllib.request.urlopen(urllib.request.Request('http://127.0.0.1:$port/v1/chat/completions', data=sys.argv[1].encode(), headers={'Content-Type':'application/json'}), timeout=60); open(sys.argv[2],'wb').write(r.read())" "$body" "$outdir/serve-response.json"; rc=$?
  fi
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  [ $rc -eq 0 ] || { echo "ERROR: the request failed"; return 1; }
  python3 - "$outdir/serve-response.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
if "error" in r: print("ERROR:", r["error"]); sys.exit(1)
assert len(r["choices"]) == 3, "expected 3 choices"
for c in r["choices"]:
    content = c["logprobs"]["content"]
    assert content and all("entropy" in t and "logprob" in t and "rank" in t and len(t["top_logprobs"]) == 3 for t in content), "token entries lack logprob/entropy/rank/top_logprobs"
    u = c["uncertainty"]
    assert all(k in u for k in ("sequence_logprob", "mean_entropy", "max_entropy")), "choice lacks uncertainty"
    print(f"choice {c['index']}: {c['message']['content']!r} seq logprob {u['sequence_logprob']:.3f}, mean entropy {u['mean_entropy']:.3f}")
us = r["uncertainty_set"]
assert "semantic_entropy" in us and "num_sem_sets" in us, "uncertainty_set lacks the asked methods"
print("uncertainty_set:", us)
EOF
}

# cuda steps need the libraries on the path inside each step's own shell
export -f step_system step_parity step_compare step_decode step_serve
export outdir work device prompts tokens ladder limit rounds bench_tokens cli_dir
export UQENGINE_CLI_ARGS="${cli[*]}"
runner() { read -r -a cli <<< "$UQENGINE_CLI_ARGS"; uq() { "${cli[@]}" "$@"; }; "$@"; }
export -f runner

run_step 1-system "$b_system" bash -c 'runner step_system'
run_step 2-parity "$b_parity" bash -c 'runner step_parity'
run_step 3-compare "$b_compare" bash -c 'runner step_compare'
run_step 4-decode "$b_decode" bash -c 'runner step_decode'
run_step 5-serve "$b_serve" bash -c 'runner step_serve'

# --- summary -------------------------------------------------------------------------------------------------------
python3 - "$summary_tsv" "$outdir" "$started" "$dry" "$device" <<'EOF'
import json, sys, os
tsv, outdir, started, dry, device = sys.argv[1:6]
steps = []
for line in open(tsv):
    name, status, secs, budget, rc = line.rstrip("\n").split("\t")
    steps.append({"name": name, "status": status, "seconds": float(secs), "budget_seconds": int(budget), "exit_code": int(rc), "log": f"{name}.log"})
ok = all(s["status"] in ("passed", "skipped") for s in steps)
summary = {"dry_run": dry == "1", "device": device, "started_utc": started, "passed": ok,
           "total_seconds": round(sum(s["seconds"] for s in steps), 1), "steps": steps}
json.dump(summary, open(os.path.join(outdir, "summary.json"), "w"), indent=2)
with open(os.path.join(outdir, "summary.md"), "w") as f:
    f.write(f"# gpu-check {'dry run ' if dry == '1' else ''}on {device}: {'PASSED' if ok else 'FAILED'}\n\n")
    f.write("| step | status | seconds | budget |\n| --- | --- | ---: | ---: |\n")
    for s in steps: f.write(f"| {s['name']} | {s['status']} | {s['seconds']:.1f} | {s['budget_seconds']} |\n")
print(open(os.path.join(outdir, "summary.md")).read())
EOF
rm -f "$summary_tsv"
python3 -c "import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))['passed'] else 1)" "$outdir/summary.json"
