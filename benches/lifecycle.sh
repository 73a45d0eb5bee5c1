#!/usr/bin/env bash
# Side-by-side lifecycle benchmark: anchor-runtime against runc and crun (those of
# them that are installed), on two bundles, in one run on this machine. `make bench`
# runs it after a release build.
#
#   benches/lifecycle.sh [-n RUNS] [-s SCALE] [-d DD_COUNT] ANCHOR [OTHER_RUNTIME...]
#
# Bundles: "minimal" is bundles/busybox/config.json (what `runc spec` writes, no
# seccomp) and "podman" is bundles/podman-default/config.json (what podman generates
# for `podman run busybox`: its default seccomp profile, 11 capabilities, masked and
# read-only paths, a pids limit). Both get ociVersion 1.0.2, which crun accepts.
#
# For every bundle and runtime (medians of RUNS, spread over 5 rounds of all
# commands, since this machine drifts):
#   run      `run` of /bin/true in the foreground, next to the floor (unshare(1) +
#            chroot + exec of the same /bin/true: the namespaces, nothing else)
#   split    create, start and delete --force as three invocations
#   scale    SCALE containers started detached one after another, then deleted
#   rss      peak RSS of one `run` (GNU time's %M)
# and, on the podman bundle, the filter's cost per syscall: busybox dd doing
# 2*DD_COUNT one-byte syscalls with and without the profile, the difference per call.
# Ratios are anchor's value over the other runtime's (below 1: anchor is faster).
# Needs root, hyperfine, jq, bc, GNU time and /bin/busybox (Debian: busybox-static).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=30 scale=100 dd_count=500000
while getopts n:s:d: o; do
  case $o in n) runs=$OPTARG ;; s) scale=$OPTARG ;; d) dd_count=$OPTARG ;; *) exit 2 ;; esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { echo "usage: $0 [-n RUNS] [-s SCALE] [-d DD_COUNT] ANCHOR [RUNTIME...]" >&2; exit 2; }
for t in hyperfine jq bc /usr/bin/time /bin/busybox; do
  command -v "$t" >/dev/null || { echo "missing $t (Debian: hyperfine jq bc time busybox-static)" >&2; exit 2; }
done
rts=()
for r in "$@"; do rts+=("$(command -v "$r" || echo "$r")"); done
name() { basename "$1"; }

work=$(mktemp -d /tmp/anchor-bench.XXXXXX)
hugetlb_mounted=
cleanup() {
  for rt in "${rts[@]}"; do
    st="$work/state-$(name "$rt")"
    for id in $("$rt" --root "$st" list -q 2>/dev/null); do "$rt" --root "$st" delete --force "$id" >/dev/null 2>&1 || true; done
  done
  [ -z "$hugetlb_mounted" ] || umount /sys/fs/cgroup/hugetlb 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# crun refuses a hybrid host whose cgroup2 tree holds a controller (here: hugetlb).
# Bound to a v1 hierarchy for the run, the v2 tree is empty and every runtime sees
# the same layout; it is unmounted again at the end.
if [ -f /sys/fs/cgroup/unified/cgroup.controllers ] && grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers; then
  mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
  hugetlb_mounted=1
  echo "note: hugetlb sits in this hybrid host's cgroup2 tree, which crun refuses; mounted it as a v1 hierarchy at /sys/fs/cgroup/hugetlb for the benchmark" >&2
fi

mkdir -p "$work/rootfs/bin" "$work/rootfs/"{proc,sys,dev,tmp,etc}
cp /bin/busybox "$work/rootfs/bin/busybox"
for applet in sh true sleep dd; do ln -s busybox "$work/rootfs/bin/$applet"; done
# bundle DIR CONFIG ARGS-JSON [JQ-FILTER]: the shared rootfs, bound in by path.
bundle() {
  mkdir -p "$1"
  jq --argjson a "$3" --arg root "$work/rootfs" \
    ".ociVersion=\"1.0.2\" | .process.args=\$a | .process.terminal=false | .root.path=\$root | ${4:-.}" \
    "$2" >"$1/config.json"
}

# rounds OUT.json HYPERFINE-ARGS...: 5 rounds of all the commands, pooled, medians.
rounds() {
  local out=$1 per=$(((runs + 4) / 5))
  shift
  for r in 1 2 3 4 5; do
    timeout 900 hyperfine "$@" --warmup 2 --runs "$per" --export-json "$work/round$r.json" --style none >"$work/hf.log" 2>&1 ||
      { tail -5 "$work/hf.log" >&2; echo "a runtime failed or hung" >&2; exit 1; }
  done
  jq -s '[.[].results] | transpose
         | map({command: .[0].command, median: (map(.times) | add | sort | .[length / 2 | floor] * 1000)})' \
    "$work"/round[1-5].json >"$out"
}
median_of() { jq -r --arg c "$2" '.[] | select(.command == $c) | .median' "$1"; }

# results: one line per (bundle, metric, runtime, value), printed as tables at the end.
results="$work/results.tsv"
: >"$results"
record() { printf '%s\t%s\t%s\t%s\n' "$@" >>"$results"; }

measure_bundle() { # LABEL CONFIG
  local label=$1 config=$2 b="$work/$1"
  bundle "$b/true" "$config" '["/bin/true"]'
  bundle "$b/sleep" "$config" '["/bin/sleep","1000"]'
  local args=(-N -n floor "unshare -mpfnuiC chroot $work/rootfs /bin/true")
  for rt in "${rts[@]}"; do
    args+=(-n "$(name "$rt")" "$rt --root $work/state-$(name "$rt") run --bundle $b/true b-run")
  done
  rounds "$b/run.json" "${args[@]}"
  record "$label" "run (ms)" floor "$(median_of "$b/run.json" floor)"
  args=()
  for rt in "${rts[@]}"; do
    local st="$work/state-$(name "$rt")"
    args+=(-n "$(name "$rt")" "$rt --root $st create --bundle $b/true b-split && $rt --root $st start b-split && $rt --root $st delete --force b-split")
  done
  rounds "$b/split.json" "${args[@]}"
  for rt in "${rts[@]}"; do
    local n st
    n=$(name "$rt") st="$work/state-$(name "$rt")"
    record "$label" "run (ms)" "$n" "$(median_of "$b/run.json" "$n")"
    record "$label" "create+start+delete (ms)" "$n" "$(median_of "$b/split.json" "$n")"
    local t0 t1
    t0=$(date +%s%N)
    for i in $(seq 1 "$scale"); do
      "$rt" --root "$st" run --detach --bundle "$b/sleep" "s$i" >/dev/null 2>&1 </dev/null ||
        { echo "$n: run --detach failed at container $i" >&2; exit 1; }
    done
    for i in $(seq 1 "$scale"); do "$rt" --root "$st" delete --force "s$i" >/dev/null; done
    t1=$(date +%s%N)
    record "$label" "$scale containers (ms each)" "$n" "$(echo "($t1 - $t0) / 1000000 / $scale" | bc -l)"
    record "$label" "peak RSS of run (KiB)" "$n" \
      "$(/usr/bin/time -f %M "$rt" --root "$st" run --bundle "$b/true" b-rss 2>&1 >/dev/null | tail -1)"
  done
}

# The filter's cost per syscall: dd's reads and writes with and without the profile.
measure_seccomp() { # CONFIG
  local b="$work/seccomp" dd="[\"/bin/dd\",\"if=/dev/zero\",\"of=/dev/null\",\"bs=1\",\"count=$dd_count\"]"
  bundle "$b/with" "$1" "$dd"
  bundle "$b/without" "$1" "$dd" 'del(.linux.seccomp)'
  local args=(-N)
  for rt in "${rts[@]}"; do
    for v in with without; do
      args+=(-n "$(name "$rt") $v" "$rt --root $work/state-$(name "$rt") run --bundle $b/$v b-dd")
    done
  done
  local saved=$runs
  runs=10
  rounds "$b/dd.json" "${args[@]}"
  runs=$saved
  for rt in "${rts[@]}"; do
    local n with without
    n=$(name "$rt")
    with=$(median_of "$b/dd.json" "$n with") without=$(median_of "$b/dd.json" "$n without")
    record podman "seccomp cost per syscall (ns)" "$n" "$(echo "($with - $without) * 1000000 / (2 * $dd_count)" | bc -l)"
  done
}

echo "anchor-runtime benchmark: $runs runs per command, $scale containers, $(nproc) CPUs, kernel $(uname -r), $(date -u +%F)" >&2
measure_bundle minimal "$here/bundles/busybox/config.json"
measure_bundle podman "$here/bundles/podman-default/config.json"
measure_seccomp "$here/bundles/podman-default/config.json"

# One table per bundle: a column per runtime, then anchor's ratio to each other one.
anchor=$(name "${rts[0]}")
others=()
for rt in "${rts[@]:1}"; do others+=("$(name "$rt")"); done
for label in minimal podman; do
  echo
  echo "### $label bundle"
  header="| | $(printf '%s | ' "${rts[@]##*/}")"
  for o in "${others[@]}"; do header+="$anchor / $o | "; done
  echo "$header"
  echo "|$(printf -- '---|%.0s' $(seq 0 $((${#rts[@]} + ${#others[@]}))))"
  awk -F'\t' -v l="$label" '$1 == l && !seen[$2]++ {print $2}' "$results" | while read -r metric; do
    value() { awk -F'\t' -v l="$label" -v m="$metric" -v r="$1" '$1 == l && $2 == m && $3 == r {print $4}' "$results"; }
    row="| $metric | "
    [ "$metric" = "run (ms)" ] && row="| run (ms; floor $(printf '%.2f' "$(value floor)")) | "
    for rt in "${rts[@]}"; do row+="$(printf '%.2f' "$(value "$(name "$rt")")") | "; done
    a=$(value "$anchor")
    for o in "${others[@]}"; do row+="$(echo "$a / $(value "$o")" | bc -l | xargs printf '%.2f') | "; done
    echo "$row"
  done
done
