#!/usr/bin/env bash
# The LSM spec-tests (spec-tests/tests/lsm.rs) and podman's default AppArmor
# profile, in the Debian guest booted twice: with AppArmor (Debian's default) and
# with SELinux (permissive: see build-image.sh).
#
#   test-lsm.sh RUNTIME PROBE LSM_TEST_EXECUTABLE ROOTFS
#
# ROOTFS: the busybox rootfs podman runs (make bundle).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# -eq 4 ] || { echo "usage: test-lsm.sh RUNTIME PROBE LSM_TEST_EXECUTABLE ROOTFS" >&2; exit 2; }

kit=$(mktemp -d "${TMPDIR:-/tmp}/anchor-lsm-kit.XXXXXX")
trap 'rm -rf "$kit"' EXIT
install -m 0755 "$1" "$kit/anchor-runtime"
install -m 0755 "$2" "$kit/probe"
install -m 0755 "$3" "$kit/lsm-tests"
cp -a "$4" "$kit/rootfs"
install -m 0755 "$here/lsm-guest.sh" "$kit/guest.sh"

rc=0
for boot in "apparmor:apparmor=1 security=apparmor" "selinux:security=selinux selinux=1 enforcing=0"; do
	mode=${boot%%:*}
	echo "$mode" >"$kit/expect-lsm"
	echo "test-lsm.sh: ---- $mode ----"
	# shellcheck disable=SC2086
	if "$here/run.sh" "$kit" ${boot#*:}; then
		echo "test-lsm.sh: $mode: passed"
	else
		echo "test-lsm.sh: $mode: FAILED"
		rc=1
	fi
done
exit $rc
