#!/usr/bin/env bash
# Docker driving the runtime, as a Docker user would: Debian's dockerd (which starts
# its own containerd) with private directories, its own socket, no bridge and no
# iptables, and the runtime registered with --add-runtime and made the default. Run
# by run.sh, which provides RUNTIME, E2E_WORK and the busybox rootfs tarball.

set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

dir=$E2E_WORK/docker
mkdir -p "$dir/data" "$dir/exec"
echo '{}' >"$dir/daemon.json"
# Debian's client, of the daemon's version (a newer one may be first in PATH).
docker_cli=/usr/bin/docker
export DOCKER_HOST=unix://$dir/docker.sock

start_dockerd() {
	dockerd --config-file "$dir/daemon.json" --data-root "$dir/data" --exec-root "$dir/exec" \
		--pidfile "$dir/dockerd.pid" -H "$DOCKER_HOST" --bridge=none --iptables=false \
		--ip-masq=false --userland-proxy=false --storage-driver "$1" \
		--add-runtime "anchor=$RUNTIME" --default-runtime anchor >"$dir/dockerd-$1.log" 2>&1 &
	dockerd_pid=$!
	local i
	for i in $(seq 150); do
		"$docker_cli" version >/dev/null 2>&1 && return 0
		kill -0 "$dockerd_pid" 2>/dev/null || return 1
		sleep 0.2
	done
	return 1
}

stop_dockerd() {
	timeout 60 "$docker_cli" rm --force $("$docker_cli" ps -aq 2>/dev/null) >/dev/null 2>&1
	kill "$dockerd_pid" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$dockerd_pid" 2>/dev/null
	wait "$dockerd_pid" 2>/dev/null
	# Its containerd and the shims are started with paths under $dir.
	pkill -KILL -f -- "$dir/" 2>/dev/null
	sleep 0.2
	unmount_under "$dir"
	remove_cgroup docker
	return 0
}
trap stop_dockerd EXIT

# overlay2 where the filesystem under E2E_WORK takes it, else vfs.
if ! start_dockerd overlay2; then
	stop_dockerd
	start_dockerd vfs || { echo "dockerd did not start:"; tail -n 20 "$dir"/dockerd-*.log; echo "docker: 0 passed, 1 failed"; exit 1; }
fi
docker=("$docker_cli")
image=localhost/e2e-busybox:latest

check "dockerd starts with the runtime as its default" 0 "anchor" "${docker[@]}" info --format '{{.DefaultRuntime}}'
check "docker import of the busybox image" 0 "sha256:" "${docker[@]}" import -c 'CMD ["sh"]' "$E2E_WORK/rootfs.tar" "$image"

run=("${docker[@]}" run --rm)
check "docker run: echo" 0 "hello from docker" "${run[@]}" "$image" echo hello from docker
check "docker run: exit code 3 propagates" 3 "" "${run[@]}" "$image" sh -c 'exit 3'
check "docker run: a missing program exits 127" 127 "" "${run[@]}" "$image" /no/such/program
check "docker run --user" 0 "uid=1000 gid=1000" "${run[@]}" --user 1000:1000 "$image" id
check "docker run --read-only" 0 "Read-only file system" "${run[@]}" --read-only "$image" sh -c 'touch /x 2>&1; true'
check "docker run -e" 0 "FOO=bar" "${run[@]}" -e FOO=bar "$image" env
mkdir -p "$dir/volume"
echo from-the-host >"$dir/volume/file"
check "docker run -v (bind)" 0 "from-the-host" "${run[@]}" -v "$dir/volume:/data:ro" "$image" cat /data/file
check "docker run -v (named volume): write" 0 "" "${run[@]}" -v e2e-vol:/data "$image" sh -c 'echo kept > /data/f'
check "docker run -v (named volume): read in another container" 0 "kept" "${run[@]}" -v e2e-vol:/data "$image" cat /data/f
check "docker run --tmpfs" 0 "tmpfs /scratch" "${run[@]}" --tmpfs /scratch "$image" sh -c 'grep " /scratch " /proc/mounts'
check "docker run --hostname" 0 "e2e-host" "${run[@]}" --hostname e2e-host "$image" hostname
check "docker run --memory" 0 "67108864" "${run[@]}" --memory 64m "$image" \
	sh -c "$(cgroup_read memory/memory.limit_in_bytes memory.max)"
check "docker run --pids-limit" 0 "50" "${run[@]}" --pids-limit 50 "$image" \
	sh -c "$(cgroup_read pids/pids.max pids.max)"
check "docker run --cap-drop ALL" 0 "CapEff:	0000000000000000" "${run[@]}" --cap-drop ALL "$image" grep CapEff /proc/self/status
check "docker run --cap-add SYS_TIME" 0 "" "${run[@]}" --cap-add SYS_TIME "$image" \
	sh -c 'grep CapEff /proc/self/status | grep -v 00000000a80425fb'
check "docker run --security-opt no-new-privileges" 0 "NoNewPrivs:	1" "${run[@]}" \
	--security-opt no-new-privileges "$image" grep NoNewPrivs /proc/self/status
check "docker run: the default seccomp profile is loaded" 0 "Seccomp:	2" "${run[@]}" "$image" grep 'Seccomp:' /proc/self/status
check "docker run -i: stdin reaches the container" 0 "piped in" \
	sh -c "echo piped in | ${docker[*]} run --rm -i $image cat"
check "docker run -t: a terminal" 0 "/dev/pts/" script -qec "$(tty_command "${run[@]}" -t "$image" tty)" /dev/null
check "docker run --init: docker-init is PID 1" 0 "docker-init" "${run[@]}" --init "$image" sh -c 'tr "\\0" " " < /proc/1/cmdline'

# A detached container through its whole life.
check "docker run -d" 0 "" "${docker[@]}" run -d --name life "$image" sh -c 'echo started; exec sleep 1000'
wait_for "docker ps: running" "life" "${docker[@]}" ps --format '{{.Names}}'
check "docker logs" 0 "started" "${docker[@]}" logs life
check "docker exec" 0 "from exec" "${docker[@]}" exec life echo from exec
check "docker exec: exit code 5 propagates" 5 "" "${docker[@]}" exec life sh -c 'exit 5'
check "docker exec -t: a terminal" 0 "/dev/pts/" script -qec "$(tty_command "${docker[@]}" exec -t life tty)" /dev/null
check "docker top" 0 "sleep 1000" "${docker[@]}" top life
check "docker pause" 0 "" "${docker[@]}" pause life
check "docker inspect: paused" 0 "paused" "${docker[@]}" inspect -f '{{.State.Status}}' life
check "docker unpause" 0 "" "${docker[@]}" unpause life
check "docker update --memory" 0 "" "${docker[@]}" update --memory 96m --memory-swap 192m life
check "docker update: seen inside" 0 "100663296" "${docker[@]}" exec life \
	sh -c "$(cgroup_read memory/memory.limit_in_bytes memory.max)"
check "docker restart" 0 "" "${docker[@]}" restart -t 1 life
check "docker inspect: running after restart" 0 "running" "${docker[@]}" inspect -f '{{.State.Status}}' life
check "docker kill" 0 "" "${docker[@]}" kill life
check "docker inspect: exited after kill" 0 "exited" "${docker[@]}" inspect -f '{{.State.Status}}' life
check "docker start" 0 "" "${docker[@]}" start life
check "docker stop" 0 "" "${docker[@]}" stop -t 1 life
check "docker rm -f" 0 "" "${docker[@]}" rm -f life

# docker build (the classic builder runs each RUN step through the runtime), then
# its result.
mkdir -p "$dir/build"
echo "copied in" >"$dir/build/file.txt"
cat >"$dir/build/Dockerfile" <<EOF
FROM $image
ENV GREETING=built
WORKDIR /app
COPY file.txt /app/
RUN echo "\$GREETING by RUN" > /app/run.txt && echo 'builder:x:1234:1234::/app:/bin/sh' >> /etc/passwd
USER builder
CMD ["sh", "-c", "cat /app/file.txt /app/run.txt; id -u; pwd"]
EOF
check "docker build: RUN, COPY, ENV, WORKDIR, USER" 0 "" env DOCKER_BUILDKIT=0 "${docker[@]}" build -q -t localhost/e2e-built "$dir/build"
check "docker run of the built image" 0 "copied in
built by RUN
1234
/app" "${run[@]}" localhost/e2e-built

summary docker
