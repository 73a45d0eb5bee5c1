#!/usr/bin/env bash
# End-to-end suites: the real tools, from Debian's packages, drive the runtime the
# way they drive runc. containerd (ctr, through the io.containerd.runc.v2 shim), Docker,
# podman (through conmon), and podman build / buildah.
#
# Usage: run.sh RUNTIME ROOTFS [SUITE...]
#   RUNTIME  the runtime binary (anchor-runtime; runc or crun to check the tests)
#   ROOTFS   a busybox root filesystem (make bundle builds bundles/busybox/rootfs)
#   SUITE    containerd, podman, build, docker (default: all four)
#
# E2E_SYSTEMD_CGROUP=1 runs podman and containerd with their systemd cgroup driver.
# E2E_CRIU=1 (where CRIU works: the Debian guest) checkpoints and restores through
# containerd; elsewhere the suite checks that the runtime's CRIU error comes back.
#
# Nothing of the host's own setup is used or touched: containerd is a private
# instance with its own root, state, sockets and config.toml, and podman runs with
# its own storage.conf and containers.conf (CONTAINERS_STORAGE_CONF,
# CONTAINERS_CONF). No registry is reachable, so the busybox image is imported
# from ROOTFS. Everything lives under one temporary directory, which is removed,
# with its daemons, its containers and its mounts, however the run ends.

set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# -ge 2 ] || { echo "usage: $0 RUNTIME ROOTFS [SUITE...]" >&2; exit 2; }
RUNTIME=$(realpath "$1")
rootfs=$2
shift 2
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(containerd podman build docker)
[ -x "$RUNTIME" ] || { echo "$0: $RUNTIME is not executable" >&2; exit 2; }
[ -x "$rootfs/bin/busybox" ] || { echo "$0: no busybox rootfs at $rootfs (make bundle)" >&2; exit 2; }

E2E_WORK=$(mktemp -d /tmp/anchor-e2e.XXXXXX)
export RUNTIME E2E_WORK
# shellcheck source=lib.sh
source "$here/lib.sh"

# podman: private storage and configuration. The runtime is registered under its
# file name, and listed in runtime_supports_json so that conmon passes
# --log-format=json (podman's default list names only crun, runc and a few more).
# These machines lack CAP_SYS_RESOURCE, so the ulimits are explicit.
runtime_name=$(basename "$RUNTIME")
# E2E_SYSTEMD_CGROUP=1 (where systemd is PID 1): the engines' systemd cgroup driver,
# as podman and Kubernetes nodes use it by default: podman's cgroup_manager, the
# runc shim's SystemdCgroup.
export E2E_SYSTEMD_CGROUP=${E2E_SYSTEMD_CGROUP:-}
export E2E_CRIU=${E2E_CRIU:-}
cgroup_manager=cgroupfs
[ -z "$E2E_SYSTEMD_CGROUP" ] || cgroup_manager=systemd
export CONTAINERS_STORAGE_CONF=$E2E_WORK/storage.conf
export CONTAINERS_CONF=$E2E_WORK/containers.conf
cat >"$CONTAINERS_STORAGE_CONF" <<EOF
[storage]
driver = "overlay"
graphroot = "$E2E_WORK/podman/storage"
runroot = "$E2E_WORK/podman/run"
EOF
cat >"$CONTAINERS_CONF" <<EOF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
netns = "none"

[engine]
cgroup_manager = "$cgroup_manager"
events_logger = "file"
tmp_dir = "$E2E_WORK/podman/tmp"
volume_path = "$E2E_WORK/podman/volumes"
runtime = "$runtime_name"
runtime_supports_json = ["crun", "runc", "$runtime_name"]

[engine.runtimes]
"$runtime_name" = ["$RUNTIME"]
EOF
export IMAGE=localhost/e2e-busybox:latest
export IMAGE_ARCHIVE=$E2E_WORK/busybox-oci.tar

cleanup() {
	# Containers first (podman stops them through the runtime), then any process
	# still using the work directory (conmon, containerd, shims), then mounts.
	timeout 60 podman rm --all --force --time 0 >/dev/null 2>&1
	pkill -KILL -f -- "$E2E_WORK" 2>/dev/null
	sleep 0.2
	unmount_under "$E2E_WORK"
	rm -rf "$E2E_WORK"
	remove_cgroup libpod_parent
}
trap cleanup EXIT
# Killed or interrupted: exit, so that the EXIT trap cleans up.
trap 'exit 130' INT TERM

echo "runtime: $RUNTIME ($("$RUNTIME" --version | head -n 1))"
tar -C "$rootfs" -cf "$E2E_WORK/rootfs.tar" .
if ! podman import -q "$E2E_WORK/rootfs.tar" "$IMAGE" >"$E2E_WORK/import.log" 2>&1 ||
	! podman save -q --format oci-archive -o "$IMAGE_ARCHIVE" "$IMAGE" >>"$E2E_WORK/import.log" 2>&1; then
	echo "could not make the busybox image:" >&2
	cat "$E2E_WORK/import.log" >&2
	exit 1
fi

status=0
total_passed=0
total_failed=0
for suite in "${suites[@]}"; do
	echo "== $suite"
	bash "$here/$suite.sh" | tee "$E2E_WORK/$suite.log"
	[ "${PIPESTATUS[0]}" = 0 ] || status=1
	line=$(tail -n 1 "$E2E_WORK/$suite.log")
	if [[ "$line" =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
		total_passed=$((total_passed + BASH_REMATCH[1]))
		total_failed=$((total_failed + BASH_REMATCH[2]))
	else
		echo "$suite: ended without its summary line"
		status=1
	fi
done
echo "end-to-end ($runtime_name): $total_passed passed, $total_failed failed"
exit $status
