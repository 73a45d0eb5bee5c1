#!/bin/bash
# guest.sh of the LSM kit (test.sh lsm puts it there): runs in the Debian guest,
# booted with the LSM named in /kit/boot enabled. The lsm spec-tests, then,
# with AppArmor, podman with its own default profile.
set -u
mode=$(cat /kit/boot)
echo "lsm-guest: kernel $(uname -r), LSMs: $(cat /sys/kernel/security/lsm), expected: $mode"
export ANCHOR_RUNTIME=/kit/anchor-runtime PROBE=/kit/probe ANCHOR_EXPECT_LSM=$mode
rc=0
/kit/tests-lsm --test-threads=2 || rc=1

if [ "$mode" = apparmor ]; then
	# podman generates and loads its containers-default-<version> profile and puts
	# it in every config; the container must run under it. cgroupfs: the systemd
	# cgroup driver is another issue's.
	cp -a /kit/rootfs /tmp/podman-rootfs
	podman_run() {
		podman --runtime /kit/anchor-runtime --cgroup-manager cgroupfs run --rm --network none \
			"$@" --rootfs /tmp/podman-rootfs cat /proc/self/attr/current 2>&1 | tr -d '\0'
	}
	profile=$(podman_run)
	echo "lsm-guest: podman run reports: $profile"
	case $profile in
	"containers-default-"*" (enforce)") echo "lsm-guest: ok: podman's default profile" ;;
	*) echo "lsm-guest: FAILED: podman's container does not run under containers-default-*" && rc=1 ;;
	esac
	unconfined=$(podman_run --security-opt apparmor=unconfined)
	echo "lsm-guest: podman run --security-opt apparmor=unconfined reports: $unconfined"
	[ "$unconfined" = unconfined ] || { echo "lsm-guest: FAILED: expected unconfined" && rc=1; }
fi
exit $rc
