#!/usr/bin/env bash
# containerd's io.containerd.runc.v2 shim driving the runtime: a private
# containerd, and ctr with --runc-binary (ctr ignores BinaryName in config.toml,
# which only the CRI plugin reads). Run by run.sh, which provides RUNTIME,
# E2E_WORK and IMAGE_ARCHIVE.

set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

dir=$E2E_WORK/containerd
mkdir -p "$dir"
cat >"$dir/config.toml" <<EOF
version = 2
root = "$dir/root"
state = "$dir/state"
# The CRI plugin wants CNI and would only add noise; ctr does not use it.
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "$dir/containerd.sock"

[ttrpc]
  address = "$dir/containerd.sock.ttrpc"

[debug]
  address = "$dir/debug.sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/opt"
EOF

# ctr and the shim put IO fifos and shim sockets under /run/containerd whatever the
# config says; when this run is what made it, the (empty) directories go at the end.
[ -d /run/containerd ] && made_run_dir=false || made_run_dir=true
containerd --config "$dir/config.toml" >"$dir/containerd.log" 2>&1 &
containerd_pid=$!
stop_containerd() {
	kill "$containerd_pid" 2>/dev/null
	wait "$containerd_pid" 2>/dev/null
	# The shims outlive containerd by design; these are ours alone.
	pkill -KILL -f -- "-address $dir/containerd.sock" 2>/dev/null
	remove_cgroup anchor-e2e
	if $made_run_dir; then
		rmdir /run/containerd/fifo /run/containerd/s /run/containerd 2>/dev/null
	fi
	return 0
}
trap stop_containerd EXIT

ctr=(ctr --address "$dir/containerd.sock" --namespace anchor-e2e)
# The shim calls the runtime with --root <runc root>/<namespace>.
state_root=$dir/runtime-state
runtime=(--runc-binary "$RUNTIME" --runc-root "$state_root")
# The systemd driver (E2E_SYSTEMD_CGROUP): ctr wants the slice:prefix:name path
# for each container, from cg ID.
if [ -n "${E2E_SYSTEMD_CGROUP:-}" ]; then
	runtime+=(--runc-systemd-cgroup)
	cg() { echo "--cgroup system.slice:anchor-e2e:$1"; }
else
	cg() { :; }
fi

for _ in $(seq 100); do
	"${ctr[@]}" version >/dev/null 2>&1 && break
	sleep 0.1
done
check "containerd starts and imports the busybox image" 0 "" "${ctr[@]}" image import --base-name localhost/e2e-busybox "$IMAGE_ARCHIVE"
image=localhost/e2e-busybox:latest

check "ctr run --rm: echo" 0 "hello from containerd" "${ctr[@]}" run --rm "${runtime[@]}" $(cg echo-1) "$image" echo-1 echo hello from containerd
check "ctr run --rm: exit code 3 propagates" 3 "" "${ctr[@]}" run --rm "${runtime[@]}" $(cg exit-1) "$image" exit-1 sh -c 'exit 3'
check "ctr run: a create failure reports the runtime's own error (from --log json)" 1 "/nonexistent-source" \
	"${ctr[@]}" run --rm "${runtime[@]}" $(cg bad-1) --mount type=bind,src=/nonexistent-source,dst=/x,options=rbind "$image" bad-1 true
check_not "ctr run: the failure is not 'unable to retrieve OCI runtime error'" "unable to retrieve OCI runtime error"

# A detached container through its whole life.
check "ctr run -d: sleep" 0 "" "${ctr[@]}" run -d "${runtime[@]}" $(cg life-1) "$image" life-1 sleep 1000
wait_for "ctr task ls: RUNNING" RUNNING "${ctr[@]}" task ls
init_pid=$("${ctr[@]}" task ls | awk '$1 == "life-1" { print $2 }')
if [ -n "${E2E_SYSTEMD_CGROUP:-}" ]; then
	check "systemd driver: init is in the scope anchor-e2e-life-1.scope" 0 "/system.slice/anchor-e2e-life-1.scope" \
		cat "/proc/$init_pid/cgroup"
	check "systemd driver: systemd knows the scope, with Delegate=yes" 0 "Delegate=yes" \
		systemctl show -p Delegate anchor-e2e-life-1.scope
fi
check "ctr task exec: output comes back" 0 "from exec" "${ctr[@]}" task exec --exec-id e1 life-1 echo from exec
check "ctr task exec: exit code 5 propagates" 5 "" "${ctr[@]}" task exec --exec-id e2 life-1 sh -c 'exit 5'
check "ctr task ps: lists init" 0 "$init_pid" "${ctr[@]}" task ps life-1
check "ctr task pause" 0 "" "${ctr[@]}" task pause life-1
check "ctr task ls: PAUSED" 0 PAUSED "${ctr[@]}" task ls
check "ctr task exec into a paused container is refused" 1 "" "${ctr[@]}" task exec --exec-id e3 life-1 true
check "ctr task resume" 0 "" "${ctr[@]}" task resume life-1
check "ctr task ls: RUNNING again" 0 RUNNING "${ctr[@]}" task ls
check "ctr task kill -s SIGTERM" 0 "" "${ctr[@]}" task kill -s SIGTERM life-1
# sleep as PID 1 has no SIGTERM handler, so the kernel ignores the signal.
check "SIGTERM to a PID 1 without a handler leaves it running" 0 RUNNING "${ctr[@]}" task ls
check "ctr task kill -s SIGKILL" 0 "" "${ctr[@]}" task kill -s SIGKILL life-1
wait_for "ctr task ls: STOPPED" STOPPED "${ctr[@]}" task ls
check "ctr task rm" 0 "" "${ctr[@]}" task rm life-1
check "ctr container rm" 0 "" "${ctr[@]}" container rm life-1
check "the runtime keeps no state for a deleted container" 0 "" "$RUNTIME" --root "$state_root/anchor-e2e" list -q
check_not "the runtime's list no longer names it" life-1

# Forced removal of a running task: the shim sends kill --all 9, then delete.
check "ctr run -d: a second sleep" 0 "" "${ctr[@]}" run -d "${runtime[@]}" $(cg force-1) "$image" force-1 sleep 1000
wait_for "ctr task ls: RUNNING" RUNNING "${ctr[@]}" task ls
force_pid=$("${ctr[@]}" task ls | awk '$1 == "force-1" { print $2 }')
check "ctr task rm --force on a running task" 0 "" "${ctr[@]}" task rm --force force-1
check "its init is gone" 1 "" kill -0 "$force_pid"
check "ctr container rm" 0 "" "${ctr[@]}" container rm force-1

# Limits: ctr does not mount /sys/fs/cgroup by default, hence the cgroup mount.
check "ctr run --memory-limit: visible inside" 0 33554432 \
	"${ctr[@]}" run --rm "${runtime[@]}" $(cg mem-1) --memory-limit 33554432 \
	--mount type=cgroup,src=cgroup,dst=/sys/fs/cgroup,options=ro "$image" mem-1 \
	sh -c "$(cgroup_read memory/memory.limit_in_bytes memory.max)"

# Terminals: the shim passes --console-socket and relays the pty master.
check "ctr run -t: the process has a terminal" 0 /dev/pts/0 \
	script -qec "$(tty_command "${ctr[@]}" run --rm -t "${runtime[@]}" $(cg tty-1) "$image" tty-1 tty)" /dev/null
check "ctr run -d: a sleep to exec into" 0 "" "${ctr[@]}" run -d "${runtime[@]}" $(cg tty-2) "$image" tty-2 sleep 1000
wait_for "ctr task ls: RUNNING" RUNNING "${ctr[@]}" task ls
check "ctr task exec -t: the exec has a terminal" 0 /dev/pts/ \
	script -qec "$(tty_command "${ctr[@]}" task exec -t --exec-id t1 tty-2 tty)" /dev/null
check "ctr task rm --force" 0 "" "${ctr[@]}" task rm --force tty-2
check "ctr container rm" 0 "" "${ctr[@]}" container rm tty-2

# Checkpoint and restore through the shim (runtime checkpoint, then runtime restore
# --detach from the checkpoint image in containerd's content store). E2E_CRIU=1 where
# CRIU works (the Debian guest): a counter goes on from where it was. Elsewhere the
# runtime's CRIU error must come back through the shim, the task untouched.
# (Renamed into place: a reader never sees the file truncated and not yet written.)
counter='i=0; while :; do echo $i > /tmp/count.new; mv /tmp/count.new /tmp/count; i=$((i+1)); sleep 0.1; done'
check "ctr run -d: a counter to checkpoint" 0 "" "${ctr[@]}" run -d "${runtime[@]}" $(cg cr-1) "$image" cr-1 sh -c "$counter"
wait_for "ctr task ls: RUNNING" RUNNING "${ctr[@]}" task ls
sleep 3
if [ -n "${E2E_CRIU:-}" ]; then
	at_checkpoint=$("${ctr[@]}" task exec --exec-id c1 cr-1 cat /tmp/count)
	check "ctr container checkpoint --task" 0 "" "${ctr[@]}" container checkpoint --task cr-1 localhost/cr-1-checkpoint:1
	check "ctr task rm --force" 0 "" "${ctr[@]}" task rm --force cr-1
	check "ctr container rm" 0 "" "${ctr[@]}" container rm cr-1
	check "ctr container restore --live" 0 "" "${ctr[@]}" container restore --live cr-1 localhost/cr-1-checkpoint:1
	wait_for "ctr task ls: RUNNING after the restore" RUNNING "${ctr[@]}" task ls
	sleep 0.5
	# Restarted, it would count from 0 again (to about 5 by now); restored, it goes on
	# from where it was at the checkpoint, past $at_checkpoint (about 30).
	check "the restored counter went on from the checkpoint ($at_checkpoint)" 0 "" \
		sh -c "n=\$(${ctr[*]} task exec --exec-id c2 cr-1 cat /tmp/count) && echo \$n && [ \$n -gt $at_checkpoint ]"
else
	check "ctr task checkpoint: the runtime's CRIU error comes back" 1 "criu" "${ctr[@]}" task checkpoint cr-1
	wait_for "ctr task ls: still RUNNING" RUNNING "${ctr[@]}" task ls
fi
check "ctr task rm --force" 0 "" "${ctr[@]}" task rm --force cr-1
check "ctr container rm" 0 "" "${ctr[@]}" container rm cr-1

summary containerd
