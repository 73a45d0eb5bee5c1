#!/usr/bin/env bash
# Regenerates benches/hot-functions.txt: the functions a container's lifecycle runs,
# which the linker places together at the start of the code (lld's
# --symbol-ordering-file, in the Makefile's STATIC_RUSTFLAGS).
#
# Why: a run executes about 0.9 MiB of the runtime's 2.8 MiB of code, spread all over
# it, and the kernel maps code in blocks of 64 KiB or more around each page fault, so
# a run used to map nearly all of it. Placed together, the same code costs about
# 0.5 MiB less peak RSS and fewer page faults.
#
# How: benches/trace-text.c single-steps (ptrace) an unstripped build of the runtime
# through `run` of both example bundles, then create, start, state, list, kill and
# delete, and the instructions it executed are mapped to function names with nm.
# A function missing from the list (new code) works the same, only outside the block:
# rerun this after larger changes (`make hot-functions`, about 4 minutes).
#
# Needs root, gcc, nm (binutils), jq, and the busybox bundle (`make bundle`).
# RUSTFLAGS: the Makefile's, without the ordering file.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=$here/benches/hot-functions.txt
target=$here/target/hot-functions
work=$(mktemp -d /tmp/anchor-hot.XXXXXX)
trap 'rm -rf "$work"' EXIT

CARGO_PROFILE_RELEASE_STRIP=false CARGO_TARGET_DIR=$target \
  cargo build --release --bin anchor-runtime --target x86_64-unknown-linux-gnu
runtime=$target/x86_64-unknown-linux-gnu/release/anchor-runtime
gcc -O2 -Wall -o "$work/trace-text" "$here/benches/trace-text.c"

# Both bundles on the busybox rootfs, /bin/true in the foreground and a short sleep
# (killed by the traced kill) for the detached lifecycle.
for b in busybox podman-default; do
  mkdir -p "$work/$b"
  jq --arg root "$here/bundles/busybox/rootfs" '.root.path=$root | .process.args=["true"] | .process.terminal=false' \
    "$here/bundles/$b/config.json" > "$work/$b/config.json"
done
mkdir -p "$work/sleep"
jq '.process.args=["sleep","300"]' "$work/busybox/config.json" > "$work/sleep/config.json"

trace() { # name dir runtime-args...
  local name=$1 dir=$2; shift 2
  (cd "$dir" && "$work/trace-text" "$work/$name.hits" "$runtime" --root "$work/state" "$@" </dev/null >/dev/null)
}
trace run-minimal "$work/busybox" run hot-minimal
trace run-podman "$work/podman-default" run hot-podman
trace create "$work/sleep" create hot-sleep
trace start "$work/sleep" start hot-sleep
trace state "$work/sleep" state hot-sleep
trace list "$work/sleep" list
trace kill "$work/sleep" kill hot-sleep KILL
sleep 0.2
trace delete "$work/sleep" delete --force hot-sleep

# Instruction offsets to the functions holding them: nm's code symbols (address and
# size in decimal) merged with each sorted list of offsets; each name once, in the
# order of the commands above.
nm -n -S -t d --defined-only "$runtime" | awk '$3 ~ /^[tTwW]$/' > "$work/symbols"
awk 'FILENAME == ARGV[1] { n++; addr[n] = $1 + 0; size[n] = $2 + 0; name[n] = $4; next }
     FNR == 1 { i = 0 }
     { x = $1 + 0
       while (i < n && addr[i + 1] <= x) i++
       if (i && x < addr[i] + (size[i] ? size[i] : 1) && !(name[i] in seen)) { seen[name[i]] = 1; print name[i] } }' \
  "$work/symbols" "$work"/run-minimal.hits "$work"/run-podman.hits "$work"/{create,start,state,list,kill,delete}.hits > "$out"
echo "$(wc -l < "$out") functions in $out"
