#!/bin/bash
# podman container checkpoint / restore with RUNTIME as podman's OCI runtime, in the
# Debian guest (podman-checkpoint.sh RUNTIME ROOTFS): a counter that must go on from
# where it was, in podman's own logs, and podman's view of the container after each
# step.
set -u
runtime=$1
rootfs=$(mktemp -d /tmp/podman-cr.XXXXXX)
cp -a "$2/." "$rootfs"
name=anchor-cr-$$
say() { echo "podman-checkpoint: $*"; }
podman_() { podman --runtime "$runtime" "$@"; }
fail() {
	say "FAILED: $*"
	podman_ rm -f -t 0 "$name" >/dev/null 2>&1
	exit 1
}
counter='i=0; while :; do echo $i; i=$((i+1)); sleep 0.1; done'
podman_ run -d --name "$name" --network none --rootfs "$rootfs" sh -c "$counter" >/dev/null || fail "podman run"
sleep 1
podman_ container checkpoint "$name" || fail "podman container checkpoint"
[ "$(podman_ inspect -f '{{.State.Status}}' "$name")" = exited ] || fail "not exited after the checkpoint"
before=$(podman_ logs "$name" | tail -n 1)
podman_ container restore "$name" || fail "podman container restore"
sleep 1
[ "$(podman_ inspect -f '{{.State.Status}}' "$name")" = running ] || fail "not running after the restore"
# Every number once and in order: the restored counter went on from $before, it did
# not start again.
podman_ logs "$name" | awk -v before="$before" '
	NR > 1 && $1 != prev + 1 { print "podman-checkpoint: gap or restart: " prev " then " $1; bad = 1 }
	{ prev = $1 }
	END { if (prev <= before + 3) { print "podman-checkpoint: no progress after " before ": " prev; bad = 1 }; exit bad }' ||
	fail "the log does not count on"
say "ok: checkpointed at $before, counting on after the restore ($(podman_ logs "$name" | tail -n 1))"
podman_ rm -f -t 0 "$name" >/dev/null || fail "podman rm"
