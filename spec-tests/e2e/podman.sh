#!/usr/bin/env bash
# podman (4.3, with conmon) driving the runtime as its OCI runtime. Run by run.sh,
# which provides RUNTIME, E2E_WORK, IMAGE and podman's private configuration.

set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

run=(podman run --rm)

check "podman run --rm: echo" 0 "hello from podman" "${run[@]}" "$IMAGE" echo hello from podman
check "podman run: exit code 7 propagates" 7 "" "${run[@]}" "$IMAGE" sh -c 'exit 7'
check "podman run: a missing program exits 127, with the runtime's error" 127 '"/nonexistent"' "${run[@]}" "$IMAGE" /nonexistent
check "podman run: a file that is not executable exits 126" 126 "ermission denied" "${run[@]}" "$IMAGE" /etc/passwd
check "podman run -t: the process has a terminal (conmon's console socket)" 0 /dev/pts/0 \
	script -qec "$(tty_command "${run[@]}" -t "$IMAGE" tty)" /dev/null

# A detached container through its whole life.
check "podman run -d" 0 "" podman run -d --name life "$IMAGE" sleep 1000
if [ -n "${E2E_SYSTEMD_CGROUP:-}" ]; then
	# podman's default cgroupsPath for the systemd driver: machine.slice:libpod:<id>.
	life_id=$(podman inspect --format '{{.Id}}' life)
	check "systemd driver: init is in machine.slice/libpod-<id>.scope" 0 "/machine.slice/libpod-$life_id.scope" \
		sh -c "cat /proc/\$(podman inspect --format '{{.State.Pid}}' life)/cgroup"
	check "systemd driver: systemd has the scope active, with Delegate=yes" 0 "Delegate=yes" \
		systemctl show -p ActiveState -p Delegate "libpod-$life_id.scope"
fi
check "podman exec: output comes back" 0 "from exec" podman exec life echo from exec
check "podman exec: exit code 4 propagates" 4 "" podman exec life sh -c 'exit 4'
check "podman exec -t: the exec has a terminal" 0 /dev/pts/ script -qec "$(tty_command podman exec -t life tty)" /dev/null
check "podman exec -e -w -u: the process settings arrive" 0 "1000 /tmp E2E=yes" \
	podman exec -e E2E=yes -w /tmp -u 1000 life sh -c 'echo $(id -u) $(pwd) E2E=$E2E'
check "podman ps: lists it" 0 life podman ps --format '{{.Names}} {{.Status}}'
check "podman top: shows sleep (through the runtime's ps)" 0 "sleep 1000" podman top life
check "podman pause" 0 "" podman pause life
check "podman inspect: paused" 0 paused podman inspect --format '{{.State.Status}}' life
check "podman exec into a paused container is refused" 255 "" podman exec life true
check "podman unpause" 0 "" podman unpause life
check "podman inspect: running" 0 running podman inspect --format '{{.State.Status}}' life
check "podman update --memory" 0 "" podman update --memory 64m life
check "podman update: the new limit is visible inside" 0 67108864 \
	podman exec life sh -c "$(cgroup_read memory/memory.limit_in_bytes memory.max)"
check "podman stop: SIGTERM, then SIGKILL after the timeout" 0 life podman stop --time 1 life
check "podman inspect: exited" 0 exited podman inspect --format '{{.State.Status}}' life
check "podman rm" 0 "" podman rm life

# One option each, read back from inside the container.
check "--memory" 0 33554432 "${run[@]}" --memory 32m "$IMAGE" \
	sh -c "$(cgroup_read memory/memory.limit_in_bytes memory.max)"
check "--pids-limit" 0 42 "${run[@]}" --pids-limit 42 "$IMAGE" sh -c "$(cgroup_read pids/pids.max pids.max)"
check "--read-only: / refuses writes" 1 "Read-only file system" "${run[@]}" --read-only "$IMAGE" touch /new-file
check "--read-only: /tmp is a writable tmpfs (tmpcopyup)" 0 "tmpfs /tmp" "${run[@]}" --read-only "$IMAGE" \
	sh -c 'touch /tmp/new-file && grep " /tmp " /proc/mounts'
check "--user 1000:1000" 0 "1000:1000" "${run[@]}" --user 1000:1000 "$IMAGE" sh -c 'echo $(id -u):$(id -g)'
check "--cap-drop ALL: no capabilities" 0 "CapEff:	0000000000000000" "${run[@]}" --cap-drop ALL "$IMAGE" \
	grep CapEff /proc/self/status
check "default capabilities: podman 4.3's eleven (0xa80425fb)" 0 "CapEff:	00000000a80425fb" \
	"${run[@]}" "$IMAGE" grep CapEff /proc/self/status
check "-e" 0 "FOO=bar" "${run[@]}" -e FOO=bar "$IMAGE" sh -c 'echo FOO=$FOO'
check "-w" 0 /tmp "${run[@]}" -w /tmp "$IMAGE" pwd
host_dir=$E2E_WORK/volume
mkdir -p "$host_dir"
check "-v hostdir:/data: a write inside" 0 "" "${run[@]}" -v "$host_dir:/data" "$IMAGE" sh -c 'echo written inside > /data/file'
check "-v hostdir:/data: the file is on the host" 0 "written inside" cat "$host_dir/file"
check "--tmpfs" 0 "tmpfs /scratch tmpfs" "${run[@]}" --tmpfs /scratch "$IMAGE" grep /scratch /proc/mounts
check "--device /dev/null:/dev/mynull: the node, usable" 0 "1,   3" "${run[@]}" --device /dev/null:/dev/mynull "$IMAGE" \
	sh -c 'echo x > /dev/mynull && ls -l /dev/mynull'
check "--security-opt seccomp=unconfined: no filter" 0 "Seccomp:	0" \
	"${run[@]}" --security-opt seccomp=unconfined "$IMAGE" grep Seccomp: /proc/self/status
check "default seccomp profile: filtered" 0 "Seccomp:	2" "${run[@]}" "$IMAGE" grep Seccomp: /proc/self/status
# A profile of our own: everything allowed but mkdir, which fails with EPERM.
cat >"$E2E_WORK/no-mkdir.json" <<EOF
{"defaultAction": "SCMP_ACT_ALLOW",
 "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
EOF
check "--security-opt seccomp=FILE: the profile's rule applies" 1 "Operation not permitted" \
	"${run[@]}" --security-opt seccomp="$E2E_WORK/no-mkdir.json" "$IMAGE" mkdir /tmp/refused

# podman deletes every container with the runtime after it exits: nothing remains.
ids=$(podman ps --all --quiet --no-trunc)
check "podman rm --all" 0 "" podman rm --all --force --time 0
check "the runtime lists none of podman's containers" 0 "" "$RUNTIME" list -q
for id in $ids; do
	check_not "the runtime's list no longer names ${id:0:12}" "$id"
done

summary podman
