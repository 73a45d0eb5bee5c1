#!/usr/bin/env bash
# The systemd cgroup driver where systemd is PID 1: the Debian guest booted twice,
# with the unified cgroup layout (systemd's default) and with the hybrid one
# (systemd.unified_cgroup_hierarchy=0), each running the systemd-driver spec-tests
# (spec-tests/tests/systemd.rs) and the podman and containerd end-to-end suites with
# their systemd cgroup driver.
#
#   test-systemd.sh RUNTIME PROBE SYSTEMD_TEST_EXECUTABLE ROOTFS
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# -eq 4 ] || { echo "usage: test-systemd.sh RUNTIME PROBE SYSTEMD_TEST_EXECUTABLE ROOTFS" >&2; exit 2; }

kit=$(mktemp -d "${TMPDIR:-/tmp}/anchor-systemd-kit.XXXXXX")
trap 'rm -rf "$kit"' EXIT
install -m 0755 "$1" "$kit/anchor-runtime"
install -m 0755 "$2" "$kit/probe"
install -m 0755 "$3" "$kit/systemd-tests"
cp -a "$4" "$kit/rootfs"
cp -a "$here/../../e2e" "$kit/e2e"
install -m 0755 "$here/systemd-guest.sh" "$kit/guest.sh"

rc=0
# LAYOUTS="unified" (or "hybrid") boots only that one, for a quicker round.
for boot in "unified:" "hybrid:systemd.unified_cgroup_hierarchy=0"; do
	layout=${boot%%:*}
	[[ " ${LAYOUTS:-unified hybrid} " == *" $layout "* ]] || continue
	echo "$layout" >"$kit/layout"
	echo "test-systemd.sh: ---- $layout cgroups ----"
	# shellcheck disable=SC2086
	if "$here/run.sh" "$kit" ${boot#*:}; then
		echo "test-systemd.sh: $layout: passed"
	else
		echo "test-systemd.sh: $layout: FAILED"
		rc=1
	fi
done
exit $rc
