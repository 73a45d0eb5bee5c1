#!/usr/bin/env bash
# Runs one suite of spec-tests in the Debian guest, booted once per setting the suite
# needs (run.sh boots, build-image.sh builds the image once):
#   lsm      spec-tests/tests/lsm.rs and podman's default AppArmor profile, booted
#            with AppArmor (Debian's default) and with SELinux (permissive: see
#            build-image.sh); the guest runs lsm-guest.sh
#   systemd  spec-tests/tests/systemd.rs, cgroups.rs's rdma test (with a soft-RoCE
#            device: no machine here has RDMA), checkpoint.rs with Debian's criu and
#            podman's checkpoint/restore (podman-checkpoint.sh), and the podman and containerd
#            end-to-end suites with their systemd cgroup drivers, booted with the unified
#            cgroup layout (systemd's default) and the hybrid one; systemd-guest.sh
#
#   test.sh SUITE RUNTIME PROBE ROOTFS TEST_EXECUTABLE...
#
# ROOTFS: the busybox rootfs podman runs (make bundle). TEST_EXECUTABLE: spec-test
# executables (static-test-bins.sh), each in the kit as tests-NAME (tests-systemd for
# spec-tests/tests/systemd.rs). The kit the guest gets holds
# the binaries, ROOTFS, spec-tests/e2e and the suite's guest script, and in /kit/boot
# the name of the boot (apparmor, selinux, unified, hybrid), which the guest script
# checks against what the kernel really enabled. BOOTS="hybrid" (say) boots only the
# named ones, for a quicker round.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
usage="usage: test.sh lsm|systemd RUNTIME PROBE ROOTFS TEST_EXECUTABLE..."
[ $# -ge 5 ] || { echo "$usage" >&2; exit 2; }
suite=$1
case $suite in
lsm) boots=("apparmor:apparmor=1 security=apparmor" "selinux:security=selinux selinux=1 enforcing=0") ;;
systemd) boots=("unified:" "hybrid:systemd.unified_cgroup_hierarchy=0") ;;
*) echo "$usage" >&2; exit 2 ;;
esac

kit=$(mktemp -d "${TMPDIR:-/tmp}/anchor-$suite-kit.XXXXXX")
trap 'rm -rf "$kit"' EXIT
install -m 0755 "$2" "$kit/anchor-runtime"
install -m 0755 "$3" "$kit/probe"
cp -a "$4" "$kit/rootfs"
for exe in "${@:5}"; do
	name=$(basename "$exe")
	install -m 0755 "$exe" "$kit/tests-${name%-*}"
done
cp -a "$here/../../e2e" "$kit/e2e"
install -m 0755 "$here/$suite-guest.sh" "$kit/guest.sh"
install -m 0755 "$here/podman-checkpoint.sh" "$kit/podman-checkpoint.sh"

rc=0
for boot in "${boots[@]}"; do
	name=${boot%%:*}
	[[ " ${BOOTS:-$name} " == *" $name "* ]] || continue
	echo "$name" >"$kit/boot"
	echo "test.sh: ---- $suite: $name ----"
	# shellcheck disable=SC2086
	if "$here/run.sh" "$kit" ${boot#*:}; then
		echo "test.sh: $suite: $name: passed"
	else
		echo "test.sh: $suite: $name: FAILED"
		rc=1
	fi
done
exit $rc
