#!/usr/bin/env bash
# Runs runc's bats suite (prepared by prepare.sh) against RUNTIME in the Debian test
# guest (spec-tests/guest/debian), where this host's limits are not: systemd as PID 1,
# the unified cgroup layout, Debian's criu on a kernel it knows, root with every
# capability (CAP_SYS_RESOURCE for rlimits.bats). The suite uses the systemd cgroup
# driver there (RUNC_USE_SYSTEMD=1), as on a distribution's host.
#
#   in-guest.sh RUNTIME [FILE.bats...]
#
# About 40 minutes for the whole suite under TCG. Prints each test's outcome and the
# counts; the TAP output stays in the kit's out/ directory (named at the end).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# -ge 1 ] || { echo "usage: in-guest.sh RUNTIME [FILE.bats...]" >&2; exit 2; }
runtime=$(realpath "$1")
shift
suite=${SUITE:-/var/cache/anchor-runtime/runc-bats-v1.3.6}
[ -d "$suite/tests/integration" ] || { echo "$0: no prepared suite at $suite (prepare.sh)" >&2; exit 2; }
kit=$(mktemp -d "${TMPDIR:-/tmp}/anchor-bats-kit.XXXXXX")
install -m 0755 "$runtime" "$kit/anchor-runtime"
install -m 0755 "$here/run.sh" "$kit/run.sh"
install -m 0755 "$here/guest.sh" "$kit/guest.sh"
tar -C "$(dirname "$suite")" -cf "$kit/suite.tar" "$(basename "$suite")"
echo "$(basename "$suite")" >"$kit/suite"
echo "$*" >"$kit/files"
rc=0
GUEST_MEM=${GUEST_MEM:-6G} GUEST_TIMEOUT=${GUEST_TIMEOUT:-5400} "$here/../guest/debian/run.sh" "$kit" || rc=$?
echo "in-guest.sh: TAP output in $kit/out"
exit $rc
