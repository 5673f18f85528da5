#!/usr/bin/env bash
# Makes what a lent GPU machine needs and cannot build itself (it has no .NET SDK and reaches no package registry):
# a self-contained linux-x64 publish of the CLI plus llama.cpp's CUDA libraries, as one xz archive split into parts
# that each fit one device call (64 MiB per call, the working tree included). Run on the CPU machine, from anywhere:
#
#   bench/gpu/make-bundle.sh [--reuse-publish]
#
# Writes (git-ignored) .gpu-bundle/: part00, part01, ... + SHA256SUMS (the parts and the whole archive), and prints
# the carry list of each call. Inside the archive, CONTENTS.sha256 lists every file, the CUDA libraries with the
# sha256 of the files unpacked from the npm tarball that native/fetch.sh checked against the pinned integrity hash.
# --reuse-publish: keep an existing .gpu-bundle/work/app (skips the 1-2 minute publish).
# XZ_LEVEL (default 6): -9 saves little on these binaries and took over 10 minutes on 2 shared cores.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="$root/.gpu-bundle"
work="$out/work"
reuse=0
[ "${1:-}" = "--reuse-publish" ] && reuse=1
die() { echo "make-bundle.sh: error: $*" >&2; exit 1; }
say() { echo "make-bundle.sh: $*" >&2; }
command -v xz >/dev/null || die "xz is not installed"
command -v dotnet >/dev/null || die "the .NET SDK is needed to publish the CLI"

# 1. llama.cpp's CUDA build, through the same pinned, integrity-checked npm pack as the CPU build.
bash "$root/native/fetch.sh" cuda >&2
bash "$root/native/fetch.sh" cpu >&2
[ -f "$root/native/cuda/libggml-cuda.so" ] || die "native/cuda/libggml-cuda.so is missing after native/fetch.sh cuda"

# 2. Self-contained publish. Not trimmed: a trimmed publish (PublishTrimmed, TrimMode=partial) was tried and broke
#    the demo dataset (System.Text.Json lost ImmutableArray<int>'s CreateRange), and every product path would need
#    re-testing under trimming; the untrimmed app costs about one more call.
mkdir -p "$work"
if [ "$reuse" = 0 ] || [ ! -x "$work/app/UQEngine.Cli" ]; then
  rm -rf "$work/app"
  say "dotnet publish (linux-x64, self-contained, Release)"
  dotnet publish "$root/src/UQEngine.Cli/UQEngine.Cli.csproj" -c Release -r linux-x64 --self-contained \
    -p:DebugType=none -p:UQENGINE_SKIP_NATIVE_FETCH=1 -o "$work/app" >&2 || die "dotnet publish failed"
fi
[ -x "$work/app/UQEngine.Cli" ] || die "the publish has no UQEngine.Cli executable"

# 3. Stage: the app, its CPU libraries (from the publish), the CUDA set beside them. The checkout the machine gets
#    already holds models/demo, which the app finds in a parent folder, so the app's copy is left out (7.7 MiB).
stage="$work/stage"
rm -rf "$stage" && mkdir -p "$stage"
cp -a "$work/app/." "$stage/"
rm -rf "$stage/models"
mkdir -p "$stage/native/cuda"
for f in "$root"/native/cuda/*; do
  b="$(basename "$f")"
  # Files identical to the CPU package's (libggml-base.so, the CPU variants) become hard links: tar stores them once.
  if [ -f "$stage/native/cpu/$b" ] && cmp -s "$f" "$stage/native/cpu/$b"; then ln "$stage/native/cpu/$b" "$stage/native/cuda/$b"
  else cp "$f" "$stage/native/cuda/$b"; fi
done
commit="$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)"
dirty="$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null | wc -l)"
{
  echo "uqengine GPU bundle"
  echo "made: $(date -u +%Y-%m-%dT%H:%M:%SZ) from commit $commit$([ "$dirty" != 0 ] && echo " (+$dirty uncommitted changes)")"
  echo "cuda libraries: $(node -e "const m=require(process.argv[1]);process.stdout.write(m.package+'@'+m.version+' '+m.integrity)" "$root/native/cuda/manifest.json")"
  echo "libggml-cuda.so sha256 (as unpacked from that tarball): $(sha256sum "$root/native/cuda/libggml-cuda.so" | cut -d' ' -f1)"
} > "$stage/BUNDLE.txt"
(cd "$stage" && find . -type f ! -name CONTENTS.sha256 | sort | xargs sha256sum > CONTENTS.sha256)
# The CUDA files' recorded hashes must be those of native/cuda (the npm tarball's content), not of a copy.
(cd "$root/native/cuda" && sha256sum -- *.so) | while read -r h f; do
  grep -q "^$h  ./native/cuda/$f\$" "$stage/CONTENTS.sha256" || die "CONTENTS.sha256 disagrees with native/cuda/$f"
done

# 4. One archive, split to fill each call. Budget per call: 64 MiB less the working tree (tracked and untracked
#    files git does not ignore travel every call), SHA256SUMS and a 2 MiB margin.
tree_bytes="$(cd "$root" && git ls-files -co --exclude-standard -z | du -cb --files0-from=- 2>/dev/null | tail -n 1 | cut -f1)"
limit=$((64 * 1024 * 1024))
part_mib=$(( (limit - tree_bytes - 2 * 1024 * 1024) / 1024 / 1024 ))
[ "$part_mib" -ge 8 ] || die "the working tree ($((tree_bytes / 1024 / 1024)) MiB) leaves no room for parts under 64 MiB"
rm -f "$out"/part* "$out/SHA256SUMS" "$out/uqengine-gpu.tar.xz"
say "compressing (xz -${XZ_LEVEL:-6}, 2 threads)"
tar -C "$stage" -cf - . | xz "-${XZ_LEVEL:-6}" -T2 > "$out/uqengine-gpu.tar.xz"
(cd "$out" && split -b "${part_mib}M" -d -a 2 uqengine-gpu.tar.xz part)
(cd "$out" && sha256sum part* uqengine-gpu.tar.xz > SHA256SUMS)
rm -f "$out/uqengine-gpu.tar.xz" # the parts are the bundle; the machine reassembles and checks it against SHA256SUMS

# 5. The call plan.
parts=("$out"/part*)
n=${#parts[@]}
mib() { awk -v b="$1" 'BEGIN{printf "%.1f", b/1048576}'; }
plan="$out/CALLS.txt"
{
  echo "working tree: $(mib "$tree_bytes") MiB per call; parts of at most $part_mib MiB; $n call(s), back to back (the machine keeps ignored files only while warm)"
  i=0
  for p in "${parts[@]}"; do
    i=$((i + 1))
    name="$(basename "$p")"
    size=$(( tree_bytes + $(stat -c %s "$p") + $(stat -c %s "$out/SHA256SUMS") ))
    # The last part's call unpacks and runs step 1 only (CUDA seen, first kernels compiled): if CUDA does not work,
    # the machine goes back before the longer steps spend device time.
    if [ "$i" -lt "$n" ]; then cmd='bash bench/gpu/gpu-check.sh --stash-only'; timeout=120
    else cmd='bash bench/gpu/gpu-check.sh --device cuda --steps 0,1 "$OUT/gpu-check-1"'; timeout=300; fi
    echo "call $i: carry [\".gpu-bundle/SHA256SUMS\", \".gpu-bundle/$name\"]  ($(mib "$size") MiB with the working tree)  timeout_s $timeout"
    echo "        command: $cmd"
  done
  echo "call $((n + 1)): carry []  ($(mib "$tree_bytes") MiB)  timeout_s 480, only if call $n's step 1 passed"
  echo "        command: bash bench/gpu/gpu-check.sh --device cuda --steps 0,2,3,4,5 \"\$OUT/gpu-check-2\""
  echo "then give_back (idle time counts against the device budget)"
} > "$plan"
cat "$plan"
