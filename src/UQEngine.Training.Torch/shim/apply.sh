#!/usr/bin/env bash
# Makes TorchSharp 0.107.0 load on a system whose libstdc++ predates GCC 13 (e.g. Debian 12).
# Usage: apply.sh <build output dir>; then run with LD_PRELOAD=<dir>/glibcxx_shim.so
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"; out="$1"
g++ -shared -fPIC -O2 -o "$out/glibcxx_shim.so" "$here/glibcxx_shim.cpp"
for f in "$out/cpu/libLibTorchSharp.so" "$out/runtimes/linux-x64/native/libLibTorchSharp.so"; do
  [ -f "$f" ] && python3 "$here/patch_verneed.py" "$f"
done
